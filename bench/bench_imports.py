"""Import figures (issue 5): a 100,000-row 新生注册 workbook through read → validate → write →
annotated error workbook, on SQLite and PostgreSQL. Prints figures; never part of the tests' pass/fail.

    .venv/bin/python bench/bench_imports.py                       # both databases, 100,000 rows
    .venv/bin/python bench/bench_imports.py --db postgresql --rows 20000 --profile

Targets (issue 5): ≥ 10,000 rows/s end-to-end on PostgreSQL, peak memory ≤ 600 MB, the annotated
workbook for 100k rows ≤ 15 s.

What it does, per database:
- PostgreSQL: its own database `bench_imports` on 127.0.0.1:5432 (user postgres, trust auth),
  created if missing, schema public dropped and re-created (never the tests' database). SQLite: a
  temporary file. Then migrations + roles (app.cli.setup_database) and the demo province
  (app.services.demo.load_demo).
- Two workbooks written with XlsxWriter for one school (东湖第一小学, county 360102): "mixed" — valid
  rows plus ~1% invalid rows spread over every kind of error the importer must catch (wrong check
  digit, future birth date, sex/ID mismatch, birth date/ID mismatch, unknown code name, duplicate ID
  inside the file, ID already registered in another county, ID stored as a number, ID in scientific
  notation, bad distance decimals, missing required cell) — and "valid" (all rows valid, the normal
  case). Some of the mixed file's ID numbers are registered first at a school of another county
  through the bulk service, so the database check has something to find.
- Each measured run is a fresh subprocess (so ru_maxrss is that run's peak, the app included):
    read         calamine (the app's reader) vs openpyxl read-only, read alone
    all-or-none  the mixed file as the default import: validated whole, nothing written, the
                 annotated workbook holds all 100k rows (the "≤ 15 s" figure)
    valid-only   the mixed file with "valid rows only": the 99% are written, the bad 1% come back
    all-valid    the valid file: everything written (the normal case)
  with the time of each phase (read, normalise + row rules, database check, write, annotated
  workbook, commit), rows/s end-to-end (rows read ÷ run_import + commit) and peak RSS.
- --writers: the annotated workbook's candidate writers on the same 100k rows (XlsxWriter
  constant-memory — the app's —, openpyxl write-only, rustpy-xlsxwriter if installed).
- --profile: cProfile (or pyinstrument, if installed) of the all-valid run, top functions printed.
"""
import argparse
import datetime
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql://postgres@127.0.0.1:5432/bench_imports"
SCHOOL_USER = "school_3601020001"      # 东湖区 东湖第一小学 (the demo's first school of 360102)
OTHER_SCHOOL_USER = "school_3601030001"  # 西湖区: holds the "already registered elsewhere" students
COUNTY = "360102"
KINDS = ("check_digit", "future_birth", "sex_mismatch", "birth_mismatch", "unknown_code", "duplicate_in_file",
         "registered_elsewhere", "id_as_number", "id_scientific", "bad_distance", "missing_required")


# ---------------------------------------------------------------- helpers

def peak_rss_mb():
    """This process's own peak (VmHWM). Not ru_maxrss: Linux carries the parent's RSS at fork time
    into a child's ru_maxrss across exec, so a big parent would inflate every child's figure."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ensure_database(url):
    import psycopg
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def make_app(url, tmp):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_DIR": tmp, "JOB_RESULT_DIR": tmp, "REDIS_URL": "",
                       "LOAD_DEMO": False, "SECRET_KEY": "bench-imports-secret-key-32-bytes-long!!"})


def account(session, username):
    from sqlalchemy import select
    from app.models import Account
    return session.scalar(select(Account).where(Account.username == username))


# ---------------------------------------------------------------- the workbooks

SURNAMES = "刘陈李王张黄胡吴罗徐杨曾熊周万邓彭朱肖钟赖余谢郭邹涂叶何潘江汪程舒付廖卢魏聂龚袁"
GIVEN = "浩宇轩子梓俊博文杰涛明辰睿泽昊然一皓阳鑫磊晨航铭凯鹏瑞嘉豪欣怡涵雨萱诗琪思佳妍悦可馨婷雪静晓梦"
ETHNICITIES = ["汉族"] * 40 + ["回族", "苗族", "畲族", "壮族", "满族", "土家族"]
PARENT_BORN = datetime.date(1980, 1, 1)


def _name(rng):
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _student(k, seq_base, rng, regions, spec_columns, county=COUNTY):
    """Row k (0-based) of a workbook: a valid 新生 with a unique ID number in COUNTY.
    ID numbers: birth date k % 366 days after 2019-09-01, sequence seq_base + 1 + k // 366."""
    from app.services.identity import build_id_number
    born = datetime.date(2019, 9, 1) + datetime.timedelta(days=k % 366)
    seq = seq_base + 1 + k // 366
    male = seq % 2 == 1
    guardian_born = PARENT_BORN + datetime.timedelta(days=rng.randrange(3650))
    v = {
        "name": _name(rng), "gender": "男" if male else "女", "birth_date": born.isoformat(), "id_type": "居民身份证",
        "id_number": build_id_number(county, born, seq), "ethnicity": rng.choice(ETHNICITIES), "grade": "小学一年级",
        "class_name": f"{k % 12 + 1}班", "enrollment_month": "2026-09",
        "enrollment_method": rng.choice(("就近入学", "就近入学", "相对就近入学")),
        "study_mode": rng.choice(("走读", "走读", "住校")),
        "birthplace_code": rng.choice(regions), "hukou_code": rng.choice(regions), "native_place": "江西南昌",
        "nationality": "中国", "hmt_overseas": "否", "political_status": "少先队员", "health_status": "健康或良好",
        "hukou_type": rng.choice(("非农业户口", "农业户口", "居民户口")),
        "only_child": rng.choice("是否"), "left_behind": "否", "migrant_child": rng.choice("否否是"), "orphan": "否",
        "martyr_child": "否", "commute_distance": rng.choice(("0.5", "1.5", "2", "3.2", 2.5, 1)),
        "commute_mode": rng.choice(("步行", "家长自行接送", "校车")),
        "needs_school_bus": "否", "guardian_name": _name(rng), "guardian_relation": rng.choice(("父亲", "母亲")),
        "guardian_id_type": "居民身份证",
        "guardian_id_number": build_id_number(COUNTY, guardian_born, 1 + rng.randrange(998)),
        "guardian_phone": f"139{rng.randrange(10 ** 8):08d}", "school_code": "3601020001",
    }
    # Excel shapes: some region codes as number cells, some birth dates as real date cells.
    if k % 5 == 0:
        v["hukou_code"] = int(v["hukou_code"])
    if k % 7 == 0:
        v["birth_date"] = born
    return v


def _spoil(kind, v, k, rng, first_ids, elsewhere):
    from app.services.identity import build_id_number
    if kind == "check_digit":
        last = v["id_number"][-1]
        v["id_number"] = v["id_number"][:-1] + ("0" if last != "0" else "1")
    elif kind == "future_birth":
        v["birth_date"] = "2030-01-01"
    elif kind == "sex_mismatch":
        v["gender"] = "女" if v["gender"] == "男" else "男"
    elif kind == "birth_mismatch":
        born = datetime.date.fromisoformat(str(v["birth_date"])[:10])
        v["birth_date"] = (born + datetime.timedelta(days=1)).isoformat()
    elif kind == "unknown_code":
        field = rng.choice(("ethnicity", "health_status", "commute_mode", "guardian_relation"))
        v[field] = {"ethnicity": "火星族", "health_status": "很好", "commute_mode": "飞行",
                    "guardian_relation": "邻居"}[field]
    elif kind == "duplicate_in_file":  # the same person twice (an earlier, valid row)
        v["id_number"], v["birth_date"], v["gender"] = rng.choice(first_ids)
    elif kind == "registered_elsewhere":
        v.update(elsewhere)
    elif kind == "id_as_number":
        v["id_number"] = float(v["id_number"][:15] + "000")  # what Excel keeps of an 18-digit number
    elif kind == "id_scientific":
        v["id_number"] = f"{float(v['id_number'][:17]):.5E}"
    elif kind == "bad_distance":
        v["commute_distance"] = rng.choice(("1.25", "3.14", "二公里"))
    elif kind == "missing_required":
        v[rng.choice(("name", "gender", "id_number", "ethnicity", "guardian_name", "guardian_relation"))] = None
    return v


def write_workbook(path, rows_n, *, seq_base, bad_rate, regions, elsewhere_rows=(), seed=5, county=COUNTY):
    """Returns {kind: count} of the spoiled rows."""
    import xlsxwriter
    from app.imports.specs import new_students
    columns = new_students.COLUMNS
    rng = random.Random(seed)
    wb = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("新生注册")
    text = wb.add_format({"num_format": "@"})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    for c, col in enumerate(columns):
        ws.write_string(0, c, col.header)
    bad_every = int(round(1 / bad_rate)) if bad_rate else 0
    kinds = {k: 0 for k in KINDS}
    first_ids, elsewhere = [], list(elsewhere_rows)
    n_bad = 0
    for k in range(rows_n):
        v = _student(k, seq_base, rng, regions, columns, county)
        if bad_every and k % bad_every == bad_every // 2 and k > 100:
            kind = KINDS[n_bad % len(KINDS)]
            if kind == "registered_elsewhere" and not elsewhere:
                kind = "check_digit"
            n_bad += 1
            _spoil(kind, v, k, rng, first_ids, elsewhere.pop() if kind == "registered_elsewhere" else None)
            kinds[kind] += 1
        elif len(first_ids) < 200:
            first_ids.append((v["id_number"], v["birth_date"], v["gender"]))
        for c, col in enumerate(columns):
            value = v.get(col.field)
            if value is None:
                continue
            if isinstance(value, datetime.date):
                ws.write_datetime(k + 1, c, datetime.datetime.combine(value, datetime.time()), date)
            elif isinstance(value, (int, float)):
                ws.write_number(k + 1, c, value)
            else:
                ws.write_string(k + 1, c, value, text if col.field.endswith("id_number") else None)
    wb.close()
    return kinds


def elsewhere_values(n, regions):
    """n students of the mixed file's ID space (sequences above the file's own rows) registered first
    at a school of another county. Returns their workbook values (for the mixed file's rows)."""
    rng = random.Random(11)
    out = []
    for k in range(n):
        v = _student(366 * 400 + k, 0, rng, regions, None)  # sequences 401+: outside the file's own range
        out.append(v)
    return out


# ---------------------------------------------------------------- set-up of a database

def setup(url, tmp, n_elsewhere, regions_out):
    from sqlalchemy import select, text
    from app.extensions import db
    from app.cli import setup_database
    from app.imports.normalise import normalise
    from app.imports.specs import new_students
    from app.models.org import Region
    from app.services import demo, students
    app = make_app(url, tmp)
    with app.app_context():
        t = time.perf_counter()
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        setup_database()
        demo.load_demo(db.session)
        print(f"  schema + demo province: {time.perf_counter() - t:.1f} s", flush=True)
        if not regions_out:
            regions_out.extend(db.session.scalars(
                select(Region.code).where(Region.level == 3, Region.code.like("36%")).order_by(Region.code)).all())
        values = elsewhere_values(n_elsewhere, regions_out)
        other = account(db.session, OTHER_SCHOOL_USER)
        records = []
        for v in values:
            row = {c.field: normalise(c, v.get(c.field)) for c in new_students.COLUMNS if c.field != "school_code"}
            records.append(new_students.clean_row(db.session, other, row))
        t = time.perf_counter()
        students.register_students_bulk(db.session, other, records)
        db.session.commit()
        print(f"  {len(records)} students pre-registered at {other.org_unit.name} (another county): "
              f"{time.perf_counter() - t:.2f} s", flush=True)
        return values


# ---------------------------------------------------------------- the measured runs (subprocesses)

def child_read(args):
    from openpyxl import load_workbook
    from app.imports.reader import read_sheet
    base = rss_now_mb()
    t = time.perf_counter()
    if args.child == "read-calamine":
        headers, rows = read_sheet(args.file, os.path.basename(args.file))
    else:
        wb = load_workbook(args.file, read_only=True, data_only=True)
        it = wb.worksheets[0].iter_rows(values_only=True)
        headers = next(it)
        rows = [list(r) for r in it]
        wb.close()
    return {"rows": len(rows), "seconds": time.perf_counter() - t, "base_rss_mb": base}


def child_import(args):
    from sqlalchemy import func, select
    from app.extensions import db
    from app.imports import annotate, engine, spec as specs
    from app.imports.specs import new_students  # noqa: F401
    app = make_app(args.url, args.tmp)
    phases, rss_after = {}, {}

    def timed(name, fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
                rss_after[name] = rss_now_mb()
        return wrapper

    sheet = specs.get("new_students")
    sheet.write = timed("write", sheet.write)
    sheet.check_rows = timed("db_check", sheet.check_rows)
    engine.read_sheet = timed("read", engine.read_sheet)
    engine.validate = timed("validate", engine.validate)
    annotate.write_annotated = timed("annotate", annotate.write_annotated)
    with app.app_context():
        from app.models import Student
        actor = account(db.session, SCHOOL_USER)
        before = db.session.scalar(select(func.count()).select_from(Student))
        db.session.commit()
        base = rss_now_mb()
        profiler = None
        if args.profile:
            try:
                from pyinstrument import Profiler
                profiler = Profiler(interval=0.002)
            except ImportError:
                import cProfile
                profiler = cProfile.Profile()
            profiler.enable() if not hasattr(profiler, "start") else profiler.start()
        t = time.perf_counter()
        summary = engine.run_import(db.session, actor, sheet, args.file, os.path.basename(args.file),
                                    valid_only=args.child == "valid-only",
                                    error_path=os.path.join(args.tmp, f"annotated-{args.child}.xlsx"))
        tc = time.perf_counter()
        db.session.commit()
        phases["commit"] = time.perf_counter() - tc
        total = time.perf_counter() - t
        if profiler is not None:
            if hasattr(profiler, "stop"):
                profiler.stop()
                out = profiler.output_text(unicode=True, color=False, show_all=bool(os.environ.get("BENCH_PROFILE_ALL")))
            else:
                import io
                import pstats
                profiler.disable()
                buf = io.StringIO()
                st = pstats.Stats(profiler, stream=buf)
                st.sort_stats("tottime").print_stats(35)
                st.sort_stats("cumulative").print_stats(45)
                out = buf.getvalue()
            with open(os.path.join(args.tmp, f"profile-{args.child}.txt"), "w") as fh:
                fh.write(out)
        after = db.session.scalar(select(func.count()).select_from(Student))
    phases["validate"] = phases.get("validate", 0) - phases.get("db_check", 0)  # rows' own rules
    size = os.path.getsize(summary["error_file"]) if summary["error_file"] else 0
    return {"read": summary["read"], "accepted": summary["accepted"], "rejected": summary["rejected"],
            "students_added": after - before, "phases": phases, "seconds": total, "base_rss_mb": base,
            "rss_after": rss_after,
            "error_file_mb": size / 1048576}


def child_writers(args):
    """The annotated workbook's candidate writers, on the same validated rows."""
    from app.extensions import db
    from app.imports import annotate, engine, spec as specs
    from app.imports.reader import read_sheet
    from app.imports.specs import new_students  # noqa: F401
    app = make_app(args.url, args.tmp)
    out = {}
    with app.app_context():
        actor = account(db.session, SCHOOL_USER)
        sheet = specs.get("new_students")
        headers, rows = read_sheet(args.file, "x.xlsx")
        mapping, results = engine.validate(db.session, actor, sheet, headers, rows)
        db.session.rollback()
        bad = sum(1 for r in results if not r.ok)
        out["rows"], out["bad"] = len(results), bad
        t = time.perf_counter()
        annotate.write_annotated(os.path.join(args.tmp, "w-xlsxwriter.xlsx"), headers, mapping, results)
        out["xlsxwriter constant_memory (the app's)"] = time.perf_counter() - t

        t = time.perf_counter()
        _openpyxl_annotated(os.path.join(args.tmp, "w-openpyxl.xlsx"), headers, mapping, results)
        out["openpyxl write-only"] = time.perf_counter() - t
        label = "rustpy-xlsxwriter (values + reasons only)"
        try:
            import rustpy_xlsxwriter  # noqa: F401
        except ImportError:
            out[label] = "not installed (pip install rustpy-xlsxwriter to compare; not a dependency)"
        else:
            t = time.perf_counter()
            try:
                _rustpy_annotated(os.path.join(args.tmp, "w-rustpy.xlsx"), headers, mapping, results)
                out[label] = time.perf_counter() - t
            except Exception as exc:  # noqa: BLE001
                out[label] = f"failed: {exc!r}"[:200]
    return out


def _openpyxl_annotated(path, headers, mapping, results):
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    field_col = {col.field: i for i, col in mapping.items()}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("数据")
    fill, red = PatternFill("solid", fgColor="FFC7CE"), Font(color="9C0006")
    ws.append(list(headers) + ["错误原因"])
    width = len(headers)
    for r in results:
        bad_cols = {field_col[f]: m for f, m in r.errors.items() if f in field_col}
        row = []
        for c in range(width):
            value = r.raw[c] if c < len(r.raw) else None
            if c in bad_cols:
                cell = WriteOnlyCell(ws, value=value)
                cell.fill, cell.font = fill, red
                cell.comment = Comment(bad_cols[c], "导入")
                row.append(cell)
            else:
                row.append(value)
        row.append("；".join(dict.fromkeys(r.errors.values())) if r.errors else None)
        ws.append(row)
    wb.save(path)


def _rustpy_annotated(path, headers, mapping, results):
    """rustpy-xlsxwriter 0.8 writes records (dicts) with per-column and per-row formats and notes on
    header cells only: no per-cell highlight or note, so this writes the values and the reason
    column — a lower bound for what the annotated workbook would cost with it, not a replacement."""
    import rustpy_xlsxwriter as rx
    rows = [list(headers) + ["错误原因"]]
    width = len(headers)
    for r in results:
        row = [("" if v is None else v) for v in (list(r.raw) + [None] * width)[:width]]
        row.append("；".join(dict.fromkeys(r.errors.values())) if r.errors else "")
        rows.append([v if isinstance(v, (int, float, str)) else str(v) for v in row])
    if hasattr(rx, "write_worksheet"):
        rx.write_worksheet([dict(zip(rows[0], r)) for r in rows[1:]], path, sheet_name="数据")
    else:
        raise RuntimeError("no write_worksheet in this version")


def run_child(kind, url, tmp, path, profile=False):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--url", url, "--tmp", tmp, "--file", path]
    if profile:
        cmd.append("--profile")
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        print(p.stdout[-3000:], p.stderr[-6000:])
        raise SystemExit(f"child {kind} failed")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report

def show_import(label, r):
    ph = r["phases"]
    order = ("read", "validate", "db_check", "write", "annotate", "commit")
    names = {"read": "read", "validate": "normalise+rules", "db_check": "db check", "write": "write",
             "annotate": "annotated wb", "commit": "commit"}
    parts = "  ".join(f"{names[k]} {ph[k]:5.2f}s" for k in order if k in ph)
    print(f"  {label:<12} {r['read']:>7,} rows ({r['accepted']:,} written, {r['rejected']:,} rejected, "
          f"+{r['students_added']:,} students)  total {r['seconds']:6.2f} s = {r['read'] / r['seconds']:>7,.0f} rows/s"
          f"   peak RSS {r['peak_rss_mb']:5.0f} MB (app alone {r['base_rss_mb']:.0f} MB)", flush=True)
    print(f"  {'':<12} {parts}" + (f"   error file {r['error_file_mb']:.1f} MB" if r["error_file_mb"] else ""),
          flush=True)
    ra = r["rss_after"]
    print(f"  {'':<12} RSS after: " + "  ".join(f"{names[k]} {ra[k]:.0f} MB" for k in order if k in ra and k != "db_check"),
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--bad", type=float, default=0.01, help="share of invalid rows in the mixed file (all kinds)")
    ap.add_argument("--db", default="sqlite,postgresql")
    ap.add_argument("--runs", default="read,all-or-none,valid-only,all-valid")
    ap.add_argument("--writers", action="store_true", help="compare annotated-workbook writers")
    ap.add_argument("--profile", action="store_true", help="profile the all-valid and all-or-none runs")
    ap.add_argument("--child"), ap.add_argument("--url"), ap.add_argument("--tmp"), ap.add_argument("--file")
    args = ap.parse_args()

    if args.child:
        if args.child.startswith("read-"):
            result = child_read(args)
        elif args.child == "writers":
            result = child_writers(args)
        else:
            result = child_import(args)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result, ensure_ascii=False))
        return

    tmp = tempfile.mkdtemp(prefix="bench_imports_")
    runs = args.runs.split(",")
    n_bad_total = int(args.rows * args.bad)
    n_elsewhere = max(1, n_bad_total // len(KINDS) + 1) if args.bad else 0
    regions = []
    generated = None
    print(f"rows {args.rows:,}; invalid share {args.bad:.1%} over {len(KINDS)} kinds; tmp {tmp}; "
          f"{os.cpu_count()} cores", flush=True)
    for db_name in args.db.split(","):
        url = PG_URL if db_name == "postgresql" else f"sqlite:///{tmp}/bench_imports.db"
        if db_name == "postgresql":
            ensure_database(PG_URL)
        print(f"\n=== {db_name} ===", flush=True)
        elsewhere = setup(url, tmp, n_elsewhere, regions)
        if generated is None:
            mixed, valid = os.path.join(tmp, "mixed.xlsx"), os.path.join(tmp, "valid.xlsx")
            t = time.perf_counter()
            kinds = write_workbook(mixed, args.rows, seq_base=0, bad_rate=args.bad, regions=regions,
                                   elsewhere_rows=elsewhere)
            t1 = time.perf_counter()
            write_workbook(valid, args.rows, seq_base=500, bad_rate=0, regions=regions, seed=7)
            print(f"  workbooks written with XlsxWriter: mixed {t1 - t:.1f} s ({os.path.getsize(mixed) / 1048576:.1f} MB), "
                  f"valid {time.perf_counter() - t1:.1f} s; spoiled rows: "
                  + ", ".join(f"{k} {n}" for k, n in kinds.items()), flush=True)
            generated = (mixed, valid)
        mixed, valid = generated
        if "read" in runs:
            for kind in ("read-calamine", "read-openpyxl"):
                r = run_child(kind, url, tmp, mixed)
                print(f"  {kind:<14} {r['rows']:,} rows in {r['seconds']:6.2f} s = {r['rows'] / r['seconds']:>8,.0f} rows/s"
                      f"   peak RSS {r['peak_rss_mb']:.0f} MB (before reading {r['base_rss_mb']:.0f} MB)", flush=True)
            runs_left = [x for x in runs if x != "read"]
        else:
            runs_left = runs
        if args.writers:
            r = run_child("writers", url, tmp, mixed)
            print(f"  annotated workbook writers, {r['rows']:,} rows ({r['bad']:,} bad):")
            for k, v in r.items():
                if k not in ("rows", "bad", "peak_rss_mb"):
                    print(f"      {k:<44} " + (f"{v:6.2f} s" if isinstance(v, float) else str(v)))
        for kind in runs_left:
            path = valid if kind == "all-valid" else mixed
            r = run_child(kind, url, tmp, path, profile=args.profile and kind in ("all-valid", "all-or-none"))
            show_import(kind, r)
            if args.profile and kind in ("all-valid", "all-or-none"):
                print(f"  profile: {tmp}/profile-{kind}.txt")
        # the error files come back in the same shape: a spot check
        if "all-or-none" in runs_left:
            from python_calamine import CalamineWorkbook
            rows = CalamineWorkbook.from_path(os.path.join(tmp, "annotated-all-or-none.xlsx")).get_sheet_by_index(0).to_python()
            reasons = [r[-1] for r in rows[1:] if r[-1]]
            print(f"  annotated workbook: {len(rows) - 1:,} rows, {len(reasons):,} with a reason; e.g. "
                  + " | ".join(sorted({str(x)[:40] for x in reasons})[:4]), flush=True)


if __name__ == "__main__":
    main()
