"""问题学籍 detection figures: the demo province + N students (default 1,000,000), a few thousand
problems of each kind planted with set-based UPDATEs, then app.services.problems.detect() timed and
its findings checked against what was planted. Prints figures and PASS/FAIL lines; never part of
the tests' pass/fail.

    .venv/bin/python bench/bench_problems.py                                  # PostgreSQL, 1,000,000 students
    .venv/bin/python bench/bench_problems.py --students 100000 --per-kind 3000 --explain
    .venv/bin/python bench/bench_problems.py --db sqlite --students 50000    # quick, temporary SQLite file
    .venv/bin/python bench/bench_problems.py --reuse --explain --try-indexes  # PostgreSQL, students already there

Target: detect() ≤ 10 s for the three rules on 1M students on PostgreSQL.

What it does:
- PostgreSQL: its own database `bench_problems` on 127.0.0.1:5432 (user postgres, trust auth),
  created if missing, schema public dropped and re-created (never the tests' database `test`).
  SQLite: a temporary file. Migrations + roles (app.cli.setup_database), the demo province
  (app.services.demo.load_demo), N students (app.services.demo_students.generate_students: COPY on
  PostgreSQL), VACUUM ANALYZE. With --reuse (PostgreSQL) the students of an earlier run are kept:
  the rows the earlier run spoiled are restored from its snapshot (bench_original) and its problem
  records deleted, so the registry is as generated again.
- Baseline: current_findings() on the registry as generated (the generator could produce findings
  by itself); the planted students are picked outside it, and expected = baseline ∪ planted.
- Planting (random students, a bench_pick table, one set-based UPDATE per sub-kind; the rows'
  originals are kept in bench_original):
    (a) 身份证号错误, --per-kind records over six sub-kinds: wrong check character; impossible date
        (Feb 30/31, Apr 31, month 13, …); future date; sex digit flipped; birth date ≠ the record's
        (+1 day); malformed (letters). Date, future, sex and birth get a recomputed check character,
        so only the intended thing is wrong, and a number that cannot clash with any other (region
        '9xxxxx' + sequence digits encoding the pick's index).
    (b) 身份证号重复, --per-kind groups (pairs, every 10th a triple): the others copy the first's
        ID number and person data (name, sex, birth date — so they are not also 身份证号错误);
        all members origin 'legacy' (outside uq_student_active_id_number).
    (c) 无身份证号重复, --per-kind groups (pairs, every 10th a triple): no ID number, id_type 其他/户口簿,
        the first's name, sex and birth date; origin 'legacy'. Keys kept distinct from one another.
    decoys that must NOT be found (--per-kind/10 each): an invalid number on a deleted / transferred
        record; a passport (id_type A) number; a duplicated number whose copy is deleted / transferred;
        a no-ID pair one of which is deleted.
  Every planted (a) number is also checked by an independent Python oracle (stdnum's check digit).
- Measured: each rule's query alone (execute + fetch), current_findings() alone, detect() first run
  (all new) and second run (idempotent: 0 new, 0 joined, 0 resolved, same open count), each in a
  fresh session like the job, with its commit, its phases (time in current_findings, _school_paths,
  _insert_new, … and the number of SQL statements) and peak RSS (VmHWM reset before it). Then a
  prototype run 3: run 2 with the open problems' sides eager-loaded first (what selectinload on
  detect()'s query would do). Findings — current_findings() and the open problem records + sides
  detect() wrote — compared per kind with the expected keys/student sets (and, for (a), reasons):
  PASS/FAIL lines.
- --explain (PostgreSQL): EXPLAIN (ANALYZE, BUFFERS) of the three queries.
- --try-indexes (PostgreSQL): in the bench database only, nothing in app/ or migrations/ changed:
  settings (work_mem, parallelism, jit), candidate indexes and rewrites per rule (each checked to
  return the app's rows, then dropped), the cost of the (a) indexes on writes, detect()'s write
  methods (rolled back), and finally detect() with all the proposed changes together (indexes
  created, the module's SQL and _school_paths swapped for the run) — checked like the real runs.
"""
import argparse
import datetime
import gc
import os
import random
import re
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql://postgres@127.0.0.1:5432/bench_problems"
INACTIVE_SQL = "('deleted', 'transferred_out')"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
INVALID_SUBKINDS = ("check", "date", "future", "sex", "birth", "format")
IMPOSSIBLE_MMDD = ("0230", "0231", "0431", "0631", "0931", "1131", "1301", "0015")
DECOYS = ("decoy_inactive_invalid", "decoy_other_type", "decoy_dup_inactive", "decoy_identity_inactive")


# ---------------------------------------------------------------- helpers

def peak_rss_mb():
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


def reset_peak_rss():
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS. False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def ensure_database(url):
    import psycopg
    name = url.rsplit("/", 1)[1]
    assert name != "test", "never the tests' database"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def make_app(url, tmp):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_DIR": tmp, "JOB_RESULT_DIR": tmp, "REDIS_URL": "",
                       "LOAD_DEMO": False, "SECRET_KEY": "bench-problems-secret-key-32-bytes-long!"})


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def check_char_sql(col):
    """SQL (PostgreSQL and SQLite): the GB 11643 check character of the first 17 characters of col."""
    total = " + ".join(f"CAST(substr({col}, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(WEIGHTS))
    return f"substr('10X98765432', (({total}) % 11) + 1, 1)"


def wrong_check_char_sql(col):
    """A check character that is certainly wrong: the next one in the table."""
    total = " + ".join(f"CAST(substr({col}, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(WEIGHTS))
    return f"substr('10X98765432', ((({total}) + 1) % 11) + 1, 1)"


def oracle_reason(number, gender, birth, today):
    """Independent of app/: why a 居民身份证 number is invalid for this record (None if valid)."""
    from stdnum.cn import ric
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number or ""):
        return "format"
    if ric.calc_check_digit(number) != number[17]:
        return "check"
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "date"
    if born.year < 1900:
        return "date"
    if born > today:
        return "future"
    if (int(number[16]) % 2 == 1) != (gender == "1"):
        return "sex"
    if born != birth:
        return "birth"
    return None


def table_exists(session, name):
    from sqlalchemy import inspect
    return inspect(session.connection()).has_table(name)


# ---------------------------------------------------------------- set-up

def load(args, s, url):
    from sqlalchemy import text
    from app.cli import setup_database
    from app.extensions import db
    from app.services import demo, demo_students

    if url.startswith("postgresql"):
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    t = time.perf_counter()
    setup_database()
    demo.load_demo(s)
    print(f"schema + demo province (江西, 3 schools per county): {time.perf_counter() - t:.1f} s", flush=True)

    t0 = time.perf_counter()
    step = max(args.students // 5, 1)

    def progress(done, total):
        if done % step < args.chunk or done == total:
            print(f"  {done:>9,} / {total:,}   {time.perf_counter() - t0:6.1f} s", flush=True)

    r = demo_students.generate_students(s, args.students, progress=progress, chunk_size=args.chunk)
    tc = time.perf_counter()
    s.commit()
    total_s = time.perf_counter() - t0
    print(f"GENERATED {r['students']:,} students (+ guardians, history) via {r['method'].upper()} in {total_s:.1f} s "
          f"(commit {time.perf_counter() - tc:.1f} s) = {r['students'] / total_s:,.0f} students/s", flush=True)
    vacuum(s)
    return total_s


def vacuum(s):
    from sqlalchemy import text
    from app.extensions import db
    t = time.perf_counter()
    s.commit()
    if s.get_bind().dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("student", "org_unit", "problem_record", "problem_side"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
    else:
        s.execute(text("ANALYZE"))
        s.commit()
    print(f"VACUUM ANALYZE: {time.perf_counter() - t:.1f} s", flush=True)


def restore(s):
    """--reuse: undo an earlier run's planting (from its snapshot) and drop its problem records."""
    from sqlalchemy import inspect, text
    from app.cli import setup_database
    from app.extensions import db
    setup_database()  # new migrations, if any
    have = inspect(db.engine)
    for table in ("student", "problem_record", "problem_side"):
        missing = set(db.metadata.tables[table].c.keys()) - {c["name"] for c in have.get_columns(table)}
        if missing:
            sys.exit(f"--reuse: table {table} lacks {sorted(missing)} (a migration changed in place since the bench "
                     "database was built): run without --reuse")
    t = time.perf_counter()
    n = 0
    if table_exists(s, "bench_original"):
        n = s.execute(text("""UPDATE student SET name = o.name, gender = o.gender, birth_date = o.birth_date,
                id_type = o.id_type, id_number = o.id_number, origin = o.origin, status = o.status
            FROM bench_original o WHERE o.id = student.id""")).rowcount
        s.execute(text("DROP TABLE bench_original"))
    if table_exists(s, "bench_pick"):
        s.execute(text("DROP TABLE bench_pick"))
    for (name,) in s.execute(text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'bench_ix_%'")).all():
        s.execute(text(f"DROP INDEX {name}"))
    for (name,) in s.execute(text("SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE 'bench_st_%'")).all():
        s.execute(text(f"DROP STATISTICS {name}"))
    sides = s.execute(text("DELETE FROM problem_side")).rowcount
    problems_n = s.execute(text("DELETE FROM problem_record")).rowcount
    s.commit()
    print(f"--reuse: {n:,} spoiled rows restored, {problems_n:,} problem records ({sides:,} sides) deleted: "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    vacuum(s)


# ---------------------------------------------------------------- planting

def plant(s, args, baseline, today):
    """Spoil random students; returns (expected findings {kind: {key: (ids, reason)}}, counts)."""
    from sqlalchemy import text
    from app.models.problems import ProblemKind
    from app.services.problems import identity_key
    dialect = s.get_bind().dialect.name
    rng = random.Random(args.seed)
    per = args.per_kind
    n_decoy = max(1, per // 10)

    t0 = time.perf_counter()
    in_baseline = {sid for kind in baseline.values() for ids, _d in kind.values() for sid in ids}
    pool = [sid for (sid,) in s.execute(text(
        f"SELECT id FROM student WHERE status NOT IN {INACTIVE_SQL} AND id_type = '1' AND origin = 'registry' "
        "AND id_number IS NOT NULL AND id_number <> '' ORDER BY id")) if sid not in in_baseline]

    def group_sizes(n):
        return [3 if g % 10 == 9 else 2 for g in range(n)]

    dup_sizes, ident_sizes = group_sizes(per), group_sizes(per)
    need = (per + sum(dup_sizes) + sum(ident_sizes) + 8 * n_decoy) * 21 // 20 + 200  # spares for (c) keys
    if need > len(pool):
        raise SystemExit(f"not enough students to plant {need:,} problems' records in {len(pool):,}")
    picked = rng.sample(pool, need)
    del pool
    it = iter(picked)
    rows = []  # (student_id, kind, k, grp, role, region6, seq2, extra)

    def add(sid, kind, grp=0, role=0, extra=None):
        k = len(rows)
        rows.append((sid, kind, k, grp, role, f"9{k // 100:05d}", f"{k % 100:02d}", extra))

    leap = next(y for y in range(today.year + 1, today.year + 9) if y % 4 == 0 and (y % 100 or y % 400 == 0))
    for i in range(per):
        sub = INVALID_SUBKINDS[i % len(INVALID_SUBKINDS)]
        extra = {"date": IMPOSSIBLE_MMDD[(i // 6) % len(IMPOSSIBLE_MMDD)], "future": str(leap + 4 * ((i // 6) % 3)),
                 "format": "JX" if (i // 6) % 2 == 0 else "J"}.get(sub)
        add(next(it), "inv_" + sub, extra=extra)
    for g, size in enumerate(dup_sizes):
        for role in range(size):
            add(next(it), "dup_id", g, role)
    # (c) sources: distinct (name, sex, birth) keys, none already a baseline (c) key
    taken = set(baseline[ProblemKind.DUPLICATE_IDENTITY])

    def identity_groups(sizes, kind, extra_of):
        sources = []
        while len(sources) < len(sizes):  # candidates in batches; a repeated key is skipped
            batch = [next(it) for _ in range(min(5000, len(sizes) - len(sources) + 5))]
            person = {sid: identity_key(n, gd, b) for sid, n, gd, b in s.execute(text(
                "SELECT id, name, gender, birth_date FROM student WHERE id IN (" + ",".join(map(str, batch)) + ")"))}
            for sid in batch:
                if person[sid] not in taken and len(sources) < len(sizes):
                    taken.add(person[sid])
                    sources.append(sid)
        for g, (src, size) in enumerate(zip(sources, sizes)):
            add(src, kind, g, 0, extra_of(g, 0))
            for role in range(1, size):
                add(next(it), kind, g, role, extra_of(g, role))

    identity_groups(ident_sizes, "dup_identity", lambda g, role: "Z" if (g + role) % 2 else "B")
    for i in range(n_decoy):
        add(next(it), "decoy_inactive_invalid", extra=("deleted", "transferred_out")[i % 2])
    for i in range(n_decoy):
        add(next(it), "decoy_other_type")
    for g in range(n_decoy):
        add(next(it), "decoy_dup_inactive", g, 0)
        add(next(it), "decoy_dup_inactive", g, 1, ("deleted", "transferred_out")[g % 2])
    identity_groups([2] * n_decoy, "decoy_identity_inactive", lambda g, role: "deleted" if role else "Z")

    # the pick table and the snapshot of the originals
    s.execute(text("""CREATE TABLE bench_pick (student_id INTEGER PRIMARY KEY, kind VARCHAR(30) NOT NULL,
        k INTEGER NOT NULL, grp INTEGER NOT NULL, role INTEGER NOT NULL, region6 VARCHAR(6), seq2 VARCHAR(2),
        extra VARCHAR(20))"""))
    s.execute(text("INSERT INTO bench_pick VALUES (:a, :b, :c, :d, :e, :f, :g, :h)"),
              [dict(zip("abcdefgh", r)) for r in rows])
    s.execute(text("CREATE INDEX bench_pick_kind ON bench_pick (kind, grp, role)"))
    s.execute(text("""CREATE TABLE bench_original AS SELECT id, name, gender, birth_date, id_type, id_number,
        origin, status FROM student WHERE id IN (SELECT student_id FROM bench_pick)"""))
    t_pick = time.perf_counter() - t0

    # ---- the set-based UPDATEs
    n = "student.id_number"
    if dialect == "postgresql":
        birth = "to_char(student.birth_date, 'YYYYMMDD')"
        birth_plus_1 = "to_char(student.birth_date + 1, 'YYYYMMDD')"
    else:
        birth = "strftime('%Y%m%d', student.birth_date)"
        birth_plus_1 = "strftime('%Y%m%d', student.birth_date, '+1 day')"
    sex_flipped = f"CAST((CAST(substr({n}, 17, 1) AS INTEGER) + 1) % 10 AS VARCHAR)"
    per_kind = {
        "inv_check": f"id_number = substr({n}, 1, 17) || {wrong_check_char_sql(n)}",
        "inv_date": f"id_number = p.region6 || substr({n}, 7, 4) || p.extra || p.seq2 || substr({n}, 17, 1) || '#'",
        "inv_future": f"id_number = p.region6 || p.extra || substr({birth}, 5, 4) || p.seq2 || substr({n}, 17, 1) || '#'",
        "inv_sex": f"id_number = p.region6 || {birth} || p.seq2 || {sex_flipped} || '#'",
        "inv_birth": f"id_number = p.region6 || {birth_plus_1} || p.seq2 || substr({n}, 17, 1) || '#'",
        "inv_format": f"id_number = CASE p.extra WHEN 'JX' THEN 'JX' || substr({n}, 3) ELSE 'J' || {n} END",
        "decoy_inactive_invalid": f"id_number = substr({n}, 1, 17) || {wrong_check_char_sql(n)}, status = p.extra",
        "decoy_other_type": "id_type = 'A', id_number = 'E' || p.region6 || p.seq2",
    }
    timings = {}
    for kind, assign in per_kind.items():
        t = time.perf_counter()
        s.execute(text(f"UPDATE student SET {assign} FROM bench_pick p WHERE p.student_id = student.id "
                       f"AND p.kind = '{kind}'"))
        timings[kind] = time.perf_counter() - t
    t = time.perf_counter()
    s.execute(text(f"UPDATE student SET id_number = substr(id_number, 1, 17) || {check_char_sql('id_number')} "
                   "WHERE id IN (SELECT student_id FROM bench_pick WHERE kind IN "
                   "('inv_date', 'inv_future', 'inv_sex', 'inv_birth'))"))
    timings["(recompute check characters)"] = time.perf_counter() - t
    copy_from_first = """FROM bench_pick p JOIN bench_pick q ON q.kind = p.kind AND q.grp = p.grp AND q.role = 0
        JOIN bench_original o ON o.id = q.student_id WHERE p.student_id = student.id AND p.kind = '{kind}'"""
    group_updates = {
        "dup_id": "id_number = o.id_number, id_type = o.id_type, name = o.name, gender = o.gender, "
                  "birth_date = o.birth_date, origin = 'legacy'",
        "decoy_dup_inactive": "id_number = o.id_number, id_type = o.id_type, name = o.name, gender = o.gender, "
                              "birth_date = o.birth_date, origin = 'legacy', "
                              "status = CASE WHEN p.role > 0 THEN p.extra ELSE student.status END",
        "dup_identity": "id_number = NULL, id_type = p.extra, name = o.name, gender = o.gender, "
                        "birth_date = o.birth_date, origin = 'legacy'",
        "decoy_identity_inactive": "id_number = NULL, id_type = 'Z', name = o.name, gender = o.gender, "
                                   "birth_date = o.birth_date, origin = 'legacy', "
                                   "status = CASE WHEN p.role > 0 THEN p.extra ELSE student.status END",
    }
    for kind, assign in group_updates.items():
        t = time.perf_counter()
        s.execute(text(f"UPDATE student SET {assign} " + copy_from_first.format(kind=kind)))
        timings[kind] = time.perf_counter() - t
    tc = time.perf_counter()
    s.commit()
    timings["commit"] = time.perf_counter() - tc
    t_update = sum(timings.values())

    # ---- expected findings, from the database as planted (what each pick now is)
    expected = {k: dict(v) for k, v in baseline.items()}
    planted = {k: {} for k in ProblemKind}
    counts = {}
    oracle_bad, decoys = [], {}
    q = s.execute(text("""SELECT p.kind, p.grp, p.role, s.id, s.id_number, s.gender, s.birth_date, s.name, s.status,
        s.id_type FROM bench_pick p JOIN student s ON s.id = p.student_id ORDER BY p.kind, p.grp, p.role""")).all()
    for kind, grp, role, sid, number, gender, born, name, status, id_type in q:
        counts[kind] = counts.get(kind, 0) + 1
        if isinstance(born, str):
            born = datetime.date.fromisoformat(born[:10])
        if kind.startswith("inv_"):
            reason = kind[4:]
            got = oracle_reason(number, gender, born, today)
            if got != reason:
                oracle_bad.append((sid, number, reason, got))
            planted[ProblemKind.INVALID_ID][str(sid)] = ({sid}, reason)
        elif kind == "dup_id":
            planted[ProblemKind.DUPLICATE_ID].setdefault(number, (set(), None))[0].add(sid)
        elif kind == "dup_identity":
            planted[ProblemKind.DUPLICATE_IDENTITY].setdefault(identity_key(name, gender, born), (set(), None))[0].add(sid)
        elif kind.startswith("decoy_"):
            decoys.setdefault((kind, grp), []).append((number, identity_key(name, gender, born), status, id_type,
                                                       oracle_reason(number, gender, born, today)))
    for kind, found in planted.items():
        for key, (ids, detail) in found.items():
            if key in expected[kind]:  # joins a baseline finding
                expected[kind][key] = (expected[kind][key][0] | ids, expected[kind][key][1])
            else:
                expected[kind][key] = (ids, detail)
    print(f"\nPLANTED in {t_pick + t_update:.1f} s (picking {t_pick:.1f} s; UPDATEs + commit {t_update:.1f} s: "
          + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()) + ")")
    print("  (a) 身份证号错误: " + ", ".join(f"{k[4:]} {counts.get(k, 0)}" for k in
                                         ("inv_" + x for x in INVALID_SUBKINDS))
          + f" = {len(planted[ProblemKind.INVALID_ID]):,} records/problems")
    for kind, label in ((ProblemKind.DUPLICATE_ID, "(b) 身份证号重复"), (ProblemKind.DUPLICATE_IDENTITY, "(c) 无身份证号重复")):
        groups = planted[kind]
        sizes = sorted({len(ids) for ids, _d in groups.values()})
        print(f"  {label}: {len(groups):,} groups ("
              + ", ".join(f"{sum(1 for ids, _d in groups.values() if len(ids) == z):,} of {z}" for z in sizes)
              + f") = {sum(len(ids) for ids, _d in groups.values()):,} records")
    print("  decoys (must not be found): " + ", ".join(f"{k[6:]} {counts.get(k, 0)}" for k in DECOYS))
    ok = not oracle_bad
    # the decoys are what they should be: real problems but for the inactive record / the id type
    inactive = {"deleted", "transferred_out"}
    decoy_bad = []
    for (kind, grp), members in decoys.items():
        if kind == "decoy_inactive_invalid":
            good = all(m[2] in inactive and m[4] == "check" for m in members)
        elif kind == "decoy_other_type":
            good = all(m[3] == "A" and m[2] not in inactive for m in members)
        elif kind == "decoy_dup_inactive":
            good = len({m[0] for m in members}) == 1 and sum(m[2] not in inactive for m in members) == 1 \
                and all(m[4] is None for m in members)
        else:
            good = all(m[0] is None for m in members) and len({m[1] for m in members}) == 1 \
                and sum(m[2] not in inactive for m in members) == 1
        if not good:
            decoy_bad.append((kind, grp, members))
    ok &= not decoy_bad
    print(f"{'PASS' if not decoy_bad else 'FAIL'}  decoys planted as intended: "
          f"{sum(len(m) for m in decoys.values()):,} records, {len(decoy_bad)} groups not" + (f" e.g. {decoy_bad[:2]}" if decoy_bad else ""))
    print(f"{'PASS' if not oracle_bad else 'FAIL'}  planted (a) numbers re-checked by an independent Python oracle: "
          f"{sum(counts.get('inv_' + x, 0) for x in INVALID_SUBKINDS):,} rows, {len(oracle_bad)} disagree"
          + (f" e.g. {oracle_bad[:3]}" if oracle_bad else ""), flush=True)
    return expected, planted, ok


# ---------------------------------------------------------------- checks

def compare(label, found, expected):
    """Per kind: keys and student sets (and (a) reasons) equal? Prints PASS/FAIL lines."""
    from app.models.problems import ProblemKind
    from app.services.problems import INVALID_REASONS
    reason_of = {v: k for k, v in INVALID_REASONS.items()}
    all_ok = True
    for kind in ProblemKind:
        f, e = found.get(kind, {}), expected.get(kind, {})
        missing = sorted(set(e) - set(f))
        extra = sorted(set(f) - set(e))
        wrong = []
        for key in set(e) & set(f):
            fid, fdet = f[key]
            eid, ereason = e[key]
            if set(fid) != set(eid):
                wrong.append((key, sorted(fid), sorted(eid)))
            elif kind == ProblemKind.INVALID_ID and ereason is not None and reason_of.get(fdet, fdet) != ereason \
                    and fdet != ereason:
                wrong.append((key, reason_of.get(fdet, fdet), ereason))
        ok = not (missing or extra or wrong)
        all_ok &= ok
        extra_txt = ""
        if not ok:
            extra_txt = (f"   missing e.g. {missing[:3]}" if missing else "") + \
                        (f"   extra e.g. {extra[:3]}" if extra else "") + (f"   wrong e.g. {wrong[:3]}" if wrong else "")
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {kind.value:<18} found {len(f):>6,} keys "
              f"({sum(len(v[0]) for v in f.values()):,} records), expected {len(e):>6,}; "
              f"missing {len(missing)}, extra {len(extra)}, wrong {len(wrong)}{extra_txt}", flush=True)
    return all_ok


def stored_problems(s):
    """The open problem records + sides detect() wrote, as {kind: {key: (student ids, detail)}}."""
    from sqlalchemy import select
    from app.models.problems import ProblemKind, ProblemRecord, ProblemSide, ProblemState
    out = {k: {} for k in ProblemKind}
    for kind, key, detail, sid in s.execute(
            select(ProblemRecord.kind, ProblemRecord.key, ProblemRecord.detail, ProblemSide.student_id)
            .join(ProblemSide, ProblemSide.problem_id == ProblemRecord.id)
            .where(ProblemRecord.state != ProblemState.RESOLVED)):
        out[kind].setdefault(key, (set(), detail))[0].add(sid)
    return out


# ---------------------------------------------------------------- the rules' queries

def rule_queries(dialect, today):
    from app.services import problems
    return {"(a) invalid ID": problems._invalid_sql(dialect, today),
            "(b) duplicate ID": problems.DUPLICATE_ID_SQL,
            "(c) duplicate identity": problems.DUPLICATE_IDENTITY_SQL}


def time_rules(s, today, label="", runs=1, queries=None):
    """Each rule's query alone (execute + fetch all); the best of `runs`."""
    queries = queries or rule_queries(s.get_bind().dialect.name, today)
    out = {}
    for name, q in queries.items():
        best, rows = None, 0
        for _ in range(runs):
            t = time.perf_counter()
            rows = len(s.execute(q).all())
            el = time.perf_counter() - t
            best = el if best is None else min(best, el)
        s.rollback()
        out[name] = best
        print(f"{label}{name:<28} {best:7.2f} s   ({rows:,} rows)", flush=True)
    return out


def explain(s, sql, label):
    from sqlalchemy import text
    plan = [r[0] for r in s.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + str(sql)))]
    s.rollback()
    joined = "\n".join(plan)
    used = sorted(set(re.findall(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)",
                                 joined)))
    seq = sorted(set(re.findall(r"Seq Scan on (\w+)", joined)))
    took = re.search(r"Execution Time: ([\d.]+) ms", joined)
    print(f"\n  EXPLAIN ANALYZE {label}: {float(took.group(1)):.0f} ms; indexes: {', '.join(used) or 'NONE'}; "
          f"seq scans: {', '.join(seq) or 'none'}")
    for line in plan:
        print("      " + line)
    return plan


# Rewrites of (b) measured by --try-indexes.
DUPLICATE_ID_WINDOW_SQL = f"""
    SELECT id_number, id FROM (
        SELECT id_number, id, count(*) OVER (PARTITION BY id_number) AS n FROM student
        WHERE id_number IS NOT NULL AND id_number <> '' AND status NOT IN {INACTIVE_SQL}) t
    WHERE n > 1"""
# Only legacy records can repeat a number among active records (uq_student_active_id_number keeps
# registry ones unique), so every group holds a legacy record: start from those. (At go-live,
# when every record is a legacy one, this is no faster than the original.)
DUPLICATE_ID_LEGACY_SQL = f"""
    SELECT s.id_number, s.id FROM student s
    JOIN (SELECT a.id_number FROM student a
          WHERE a.status NOT IN {INACTIVE_SQL} AND a.id_number IN (
              SELECT l.id_number FROM student l WHERE l.origin = 'legacy' AND l.id_number IS NOT NULL
                AND l.id_number <> '' AND l.status NOT IN {INACTIVE_SQL})
          GROUP BY a.id_number HAVING count(*) > 1) dup ON dup.id_number = s.id_number
    WHERE s.status NOT IN {INACTIVE_SQL}"""

# (label, DDL or None, {rule: SQL}) measured by --try-indexes, one after the other; each index is
# dropped again before the next experiment.
EXPERIMENTS = [
    ("(c): partial index on (name, gender, birth_date) of active records without a number",
     f"CREATE INDEX bench_ix_noid_identity ON student (name, gender, birth_date) "
     f"WHERE (id_number IS NULL OR id_number = '') AND status NOT IN {INACTIVE_SQL}",
     {"(c) duplicate identity": "DUPLICATE_IDENTITY_SQL"}),
    ("(b): rewrite as a window count(*) OVER (PARTITION BY id_number)", None,
     {"(b) window rewrite": DUPLICATE_ID_WINDOW_SQL}),
    ("(b): partial default-opclass index on id_number of active records",
     f"CREATE INDEX bench_ix_active_id_number ON student (id_number) "
     f"WHERE id_number IS NOT NULL AND id_number <> '' AND status NOT IN {INACTIVE_SQL}",
     {"(b) duplicate ID": "DUPLICATE_ID_SQL", "(b) window rewrite": DUPLICATE_ID_WINDOW_SQL}),
    ("(b): partial index on id_number INCLUDE (id) of active records (index-only scan)",
     f"CREATE INDEX bench_ix_active_id_number_incl ON student (id_number) INCLUDE (id) "
     f"WHERE id_number IS NOT NULL AND id_number <> '' AND status NOT IN {INACTIVE_SQL}",
     {"(b) duplicate ID": "DUPLICATE_ID_SQL", "(b) window rewrite": DUPLICATE_ID_WINDOW_SQL}),
    ("(b): start from the legacy records, no extra index", None,
     {"(b) legacy rewrite": DUPLICATE_ID_LEGACY_SQL}),
    ("(b): start from the legacy records + partial index on id_number WHERE origin = 'legacy'",
     "CREATE INDEX bench_ix_legacy_id_number ON student (id_number) WHERE origin = 'legacy'",
     {"(b) legacy rewrite": DUPLICATE_ID_LEGACY_SQL}),
]


def invalid_no_future_reason_sql():
    """(a)'s reason as the app computes it, minus 'future' (depends on today) and with the birth date
    compared by EXTRACT instead of to_char (not immutable): an expression a partial index can hold."""
    n = "id_number"
    digit = lambda i: f"CAST(substr({n}, {i}, 1) AS INTEGER)"  # noqa: E731
    total = " + ".join(f"{digit(i + 1)} * {w}" for i, w in enumerate(WEIGHTS))
    y, m, d = f"CAST(substr({n}, 7, 4) AS INTEGER)", f"CAST(substr({n}, 11, 2) AS INTEGER)", \
        f"CAST(substr({n}, 13, 2) AS INTEGER)"
    leap = f"(CASE WHEN ({y} % 4 = 0 AND {y} % 100 <> 0) OR {y} % 400 = 0 THEN 1 ELSE 0 END)"
    days = f"(CASE WHEN {m} = 2 THEN 28 + {leap} WHEN {m} IN (4, 6, 9, 11) THEN 30 ELSE 31 END)"
    born = ("CAST(EXTRACT(YEAR FROM birth_date) * 10000 + EXTRACT(MONTH FROM birth_date) * 100 "
            "+ EXTRACT(DAY FROM birth_date) AS INTEGER)")
    return f"""CASE
        WHEN NOT ({n} ~ '^[0-9]{{17}}[0-9X]$') THEN 'format'
        WHEN substr('10X98765432', (({total}) % 11) + 1, 1) <> substr({n}, 18, 1) THEN 'check'
        WHEN {y} < 1900 OR {m} < 1 OR {m} > 12 OR {d} < 1 OR {d} > {days} THEN 'date'
        WHEN ({digit(17)} % 2 = 1) <> (gender = '1') THEN 'sex'
        WHEN CAST(substr({n}, 7, 8) AS INTEGER) <> {born} THEN 'birth'
    END"""


INVALID_SCOPE = f"id_type = '1' AND id_number IS NOT NULL AND id_number <> '' AND status NOT IN {INACTIVE_SQL}"


def invalid_indexed_sqls(today):
    """(a) as two index-backed queries: the non-future reasons through a partial index whose
    predicate is that reason IS NOT NULL; 'future' through an expression index on the date part."""
    reason = invalid_no_future_reason_sql()
    main = f"SELECT id, {reason} AS reason FROM student WHERE {INVALID_SCOPE} AND ({reason}) IS NOT NULL"
    future = (f"SELECT id, 'future' AS reason FROM student WHERE id_type = '1' AND substr(id_number, 7, 8) > "
              f"'{today:%Y%m%d}' AND {INVALID_SCOPE} AND (({reason}) IS NULL OR ({reason}) IN ('sex', 'birth'))")
    return main, future


def invalid_index_ddls():
    """The (a) proposal's DDL: the partial index whose predicate is the non-future reason, the
    expression index for 'future', and statistics on both expressions. Without the statistics the
    planner cannot estimate either predicate (it guesses ~all rows, resp. a third), picks a parallel
    plan and JIT-compiles the big CASE with optimisation: seconds instead of milliseconds."""
    reason = invalid_no_future_reason_sql()
    return [
        ("INDEX", "bench_ix_invalid_id",
         f"CREATE INDEX bench_ix_invalid_id ON student (id) WHERE {INVALID_SCOPE} AND ({reason}) IS NOT NULL"),
        ("INDEX", "bench_ix_id_birth8",
         "CREATE INDEX bench_ix_id_birth8 ON student ((substr(id_number, 7, 8))) WHERE id_type = '1'"),
        ("STATISTICS", "bench_st_id_reason",
         f"CREATE STATISTICS bench_st_id_reason ON (({reason})), ((substr(id_number, 7, 8))) FROM student"),
    ]


def _best(s, sql, runs=3):
    from sqlalchemy import text
    q = text(sql) if isinstance(sql, str) else sql
    best, rows = None, []
    for _ in range(runs):
        t = time.perf_counter()
        rows = s.execute(q).all()
        el = time.perf_counter() - t
        best = el if best is None else min(best, el)
    s.rollback()
    return best, rows


def try_indexes(s, today, args):
    """Measure candidate indexes, settings and SQL rewrites; everything is dropped again."""
    from sqlalchemy import text
    from app.services import problems
    print("\nTRY: candidate indexes, settings and rewrites (bench database only; dropped afterwards; best of 3)")
    queries = rule_queries("postgresql", today)
    print(f"  server settings: work_mem {s.execute(text('SHOW work_mem')).scalar()}, "
          f"max_parallel_workers_per_gather {s.execute(text('SHOW max_parallel_workers_per_gather')).scalar()}, "
          f"shared_buffers {s.execute(text('SHOW shared_buffers')).scalar()}")
    s.rollback()
    print("  as is:")
    base = time_rules(s, today, "    ", runs=3, queries=queries)
    for setting in ("SET work_mem = '64MB'", "SET max_parallel_workers_per_gather = 0", "SET jit = off"):
        print(f"  with {setting} (this session only):")
        s.execute(text(setting))
        s.commit()
        time_rules(s, today, "    ", runs=3, queries=queries)
        s.execute(text("RESET " + setting.split()[1]))
        s.commit()
    reference = {
        "(b)": sorted(tuple(r) for r in s.execute(problems.DUPLICATE_ID_SQL).all()),
        "(c)": sorted(tuple(r) for r in s.execute(problems.DUPLICATE_IDENTITY_SQL).all()),
    }
    s.rollback()
    results = []
    # (a): the partial "invalid" index + the date-part expression index
    print("  (a): partial index on (id) WHERE <invalid reason except future> IS NOT NULL, expression index on "
          "substr(id_number, 7, 8) for 'future'; two queries merged:")
    main_sql, future_sql = invalid_indexed_sqls(today)
    app_rows = sorted(tuple(r) for r in s.execute(queries["(a) invalid ID"]).all())
    s.rollback()
    for what, name, ddl in invalid_index_ddls():
        t = time.perf_counter()
        s.execute(text(ddl))
        s.commit()
        if what == "INDEX":
            size = s.execute(text(f"SELECT pg_size_pretty(pg_relation_size('{name}'))")).scalar()
            s.rollback()
            print(f"    {name} built in {time.perf_counter() - t:.1f} s, {size}")
    t = time.perf_counter()
    s.execute(text("ANALYZE student"))
    s.commit()
    print(f"    + statistics bench_st_id_reason on both expressions; ANALYZE student {time.perf_counter() - t:.1f} s")
    best = None
    for _ in range(3):
        t = time.perf_counter()
        rows = dict(s.execute(text(main_sql)).all())
        rows.update(dict(s.execute(text(future_sql)).all()))
        el = time.perf_counter() - t
        best = el if best is None else min(best, el)
    s.rollback()
    same = sorted(rows.items()) == app_rows
    print(f"    (a) two indexed queries        {best:7.2f} s   ({len(rows):,} rows; "
          f"{'same rows as the app' if same else 'DIFFERENT ROWS from the app'})", flush=True)
    results.append(("(a) partial index", "(a) indexed", best, same))
    if args.explain:
        explain(s, main_sql, "(a) non-future reasons through bench_ix_invalid_id")
        explain(s, future_sql, "(a) future through bench_ix_id_birth8")
    # what the indexes cost a write: a key-data change (birth date) of 10,000 students, with and without
    # them (the birth date is in the partial index's predicate, so such an update is no longer HOT)
    for with_index in (True, False):
        if not with_index:
            for what, name, _ddl in invalid_index_ddls():
                s.execute(text(f"DROP {what} {name}"))
            s.commit()
        t = time.perf_counter()
        s.execute(text("UPDATE student SET birth_date = birth_date + 1 WHERE id IN "
                       "(SELECT id FROM student ORDER BY id LIMIT 10000)"))
        el = time.perf_counter() - t
        s.rollback()
        print(f"    cost on writes: UPDATE of 10,000 students' birth_date {'with' if with_index else 'without'} "
              f"the two indexes: {el:.2f} s")
    for label, ddl, qs in EXPERIMENTS:
        print(f"  {label}:")
        name = None
        if ddl:
            name = ddl.split()[2]
            t = time.perf_counter()
            s.execute(text(ddl))
            s.commit()
            built = time.perf_counter() - t
            s.execute(text("ANALYZE student"))
            s.commit()
            size = s.execute(text(f"SELECT pg_size_pretty(pg_relation_size('{name}'))")).scalar()
            s.rollback()
            print(f"    {name} built in {built:.1f} s, {size}")
        for qlabel, sql in qs.items():
            sql = getattr(problems, sql) if sql in ("DUPLICATE_ID_SQL", "DUPLICATE_IDENTITY_SQL") else sql
            took, rows = _best(s, sql)
            same = sorted(tuple(r) for r in rows) == reference[qlabel[:3]]
            print(f"    {qlabel:<28} {took:7.2f} s   ({len(rows):,} rows; "
                  f"{'same rows as the app' if same else 'DIFFERENT ROWS from the app'})", flush=True)
            results.append((label, qlabel, took, same))
            if args.explain:
                explain(s, sql, f"{qlabel} — {label}")
        if name:
            s.execute(text(f"DROP INDEX {name}"))
            s.commit()
    return base, results


def try_writes(s, today):
    """detect()'s writes when every finding is new (the first run): the app's way and alternatives,
    each inside a transaction that deletes the problem tables first and is rolled back after."""
    from sqlalchemy import insert, text
    from app.models.problems import ProblemRecord, ProblemSide, ProblemState, Treatment
    from app.services import problems
    print("\nTRY: detect()'s writes on a first run (all findings new; each rolled back)")
    findings = problems.current_findings(s, today)
    s.rollback()
    rows = [(kind, key, detail, ids) for kind, found in findings.items() for key, (ids, detail) in found.items()]
    student_ids = sorted({sid for *_x, ids in rows for sid in ids})
    now = datetime.datetime.now()

    def fresh():
        s.rollback()
        s.execute(text("DELETE FROM problem_side"))
        s.execute(text("DELETE FROM problem_record"))

    fresh()
    paths, t_app = timed(lambda: problems._school_paths(s, student_ids))
    any_sql = text("SELECT s.id, o.path FROM student s JOIN org_unit o ON o.id = s.school_id WHERE s.id = ANY(:ids)")
    paths2, t_any = timed(lambda: dict(s.execute(any_sql, {"ids": student_ids}).all()))
    print(f"  school paths of {len(student_ids):,} records: app (IN-lists of 5,000) {t_app:.2f} s; "
          f"one query with = ANY(:ids) {t_any:.2f} s ({'same' if paths2 == paths else 'DIFFERENT'})")

    def records():
        return [{"kind": kind, "key": key, "detail": detail, "state": ProblemState.UNTREATED, "detected_at": now,
                 "version": 1} for kind, key, detail, _ids in rows]

    def sides(ids):
        return [{"problem_id": pid, "student_id": sid, "school_path": paths[sid], "treatment": Treatment.NONE,
                 "updated_at": now} for pid, (_k, _key, _d, sids) in zip(ids, rows) for sid in sorted(sids)]

    def app_way():
        problems._insert_new(s, rows, paths, now)

    def returning_both():
        ids = s.execute(insert(ProblemRecord).returning(ProblemRecord.id, sort_by_parameter_order=True),
                        records()).scalars().all()
        s.execute(insert(ProblemSide).returning(ProblemSide.id), sides(ids)).all()

    def returning_copy():
        ids = s.execute(insert(ProblemRecord).returning(ProblemRecord.id, sort_by_parameter_order=True),
                        records()).scalars().all()
        cur = s.connection().connection.cursor()
        cols = ("problem_id", "student_id", "school_path", "treatment", "updated_at")
        with cur.copy(f"COPY problem_side ({', '.join(cols)}) FROM STDIN") as cp:
            for r in sides(ids):
                cp.write_row((r["problem_id"], r["student_id"], r["school_path"], r["treatment"].value,
                              r["updated_at"]))
        cur.close()

    out = {}
    for label, fn in (("app: ORM bulk insert (psycopg executemany, row by row) + read back ids", app_way),
                      ("INSERT … RETURNING id for both (insertmanyvalues, 1,000 rows a statement)", returning_both),
                      ("INSERT … RETURNING id for records, COPY for sides", returning_copy)):
        took = None
        for _ in range(2):  # best of 2
            fresh()
            _r, el = timed(fn)
            took = el if took is None else min(took, el)
            n_rec = s.scalar(text("SELECT count(*) FROM problem_record"))
            n_side = s.scalar(text("SELECT count(*) FROM problem_side"))
            s.rollback()
        out[label] = took
        print(f"  {label:<78} {took:6.2f} s   ({n_rec:,} records, {n_side:,} sides)", flush=True)
    return out


def try_proposed(s, today, expected):
    """detect() with the proposed changes together, app/ untouched: the module's SQL and
    _school_paths replaced for the run (monkeypatched), the indexes created in the bench database,
    the open problems' sides eager-loaded (selectinload); problems deleted first so run 1 is all new."""
    from sqlalchemy import text
    from app.services import problems
    print("\nPROPOSED detect(), all changes together (prototype: indexes in the bench database, the SQL and "
          "_school_paths of app.services.problems swapped for the run, sides eager-loaded):")
    main_sql, future_sql = invalid_indexed_sqls(today)
    reason = invalid_no_future_reason_sql()
    main_sql += f" AND NOT (substr(id_number, 7, 8) > '{today:%Y%m%d}' AND ({reason}) IN ('sex', 'birth'))"
    invalid_sql = text(f"{main_sql}\nUNION ALL\n{future_sql}")  # disjoint by construction
    ddls = invalid_index_ddls() + [
        ("INDEX", "bench_ix_active_id_number_incl",
         f"CREATE INDEX bench_ix_active_id_number_incl ON student (id_number) INCLUDE (id) "
         f"WHERE id_number IS NOT NULL AND id_number <> '' AND status NOT IN {INACTIVE_SQL}")]
    t = time.perf_counter()
    for _what, _name, ddl in ddls:
        s.execute(text(ddl))
    s.execute(text("DELETE FROM problem_side"))
    s.execute(text("DELETE FROM problem_record"))
    s.commit()
    s.execute(text("ANALYZE student"))
    s.commit()
    print(f"  3 indexes + the statistics built, problems deleted, ANALYZE: {time.perf_counter() - t:.1f} s")
    any_sql = text("SELECT s.id, o.path FROM student s JOIN org_unit o ON o.id = s.school_id WHERE s.id = ANY(:ids)")
    saved = {name: getattr(problems, name) for name in ("_invalid_sql", "DUPLICATE_ID_SQL", "_school_paths")}
    problems._invalid_sql = lambda dialect, today_: invalid_sql
    problems.DUPLICATE_ID_SQL = text(DUPLICATE_ID_WINDOW_SQL)
    problems._school_paths = lambda session, ids: dict(session.execute(any_sql, {"ids": sorted(ids)}).all())
    try:
        found, t_cf = timed(lambda: problems.current_findings(s, today))
        s.rollback()
        print(f"  current_findings() alone: {t_cf:.2f} s")
        ok = compare("proposed current_findings", found, expected)
        r1 = run_detect(s, today, "proposed detect() run 1")
        r2 = run_detect(s, today, "proposed detect() run 2", preload=True)
    finally:
        for name, value in saved.items():
            setattr(problems, name, value)
    n_expected = sum(len(v) for v in expected.values())
    good = r1[0]["new"] == n_expected and r2[0]["new"] == 0 and r2[0]["resolved"] == 0 and r2[0]["joined"] == 0 \
        and r2[0]["open"] == n_expected
    print(f"{'PASS' if good else 'FAIL'}  proposed runs: run 1 new {r1[0]['new']:,}, run 2 new {r2[0]['new']}, "
          f"joined {r2[0]['joined']}, resolved {r2[0]['resolved']}, open {r2[0]['open']:,}")
    stored = stored_problems(s)
    s.rollback()
    ok &= good and compare("proposed stored problems", stored, expected)
    for what, name, _ddl in ddls:
        s.execute(text(f"DROP {what} {name}"))
    s.commit()
    return t_cf, r1, r2, ok


# ---------------------------------------------------------------- detect(), timed by phase

class Probe:
    """Time spent in some functions of app.services.problems while detect() runs (their module
    attributes wrapped for the run), and the number of SQL statements sent."""

    PHASES = ("current_findings", "_drop_accepted", "_school_paths", "_insert_new", "reevaluate", "_resolve")

    def __init__(self, engine):
        from app.services import audit, problems
        self.engine, self.times, self.calls, self.statements = engine, {}, {}, 0
        self.saved = [(problems, name, getattr(problems, name)) for name in self.PHASES if hasattr(problems, name)]
        self.saved.append((audit, "record_bulk", audit.record_bulk))

    def _wrap(self, name, fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t
                self.calls[name] = self.calls.get(name, 0) + 1
        return wrapper

    def _count(self, *a, **kw):
        self.statements += 1

    def __enter__(self):
        from sqlalchemy import event
        for module, name, fn in self.saved:
            setattr(module, name, self._wrap(name, fn))
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event
        for module, name, fn in self.saved:
            setattr(module, name, fn)
        event.remove(self.engine, "before_cursor_execute", self._count)

    def line(self, total):
        parts = [f"{n} {self.times[n]:.2f} s" + (f" ({self.calls[n]:,}×)" if self.calls[n] > 1 else "")
                 for n in self.PHASES + ("record_bulk",) if n in self.times]
        rest = total - sum(self.times.values())
        return ", ".join(parts) + f", the rest (open problems + sides via the ORM, matching, flush) {rest:.2f} s; " \
                                  f"{self.statements:,} SQL statements"


def run_detect(s, today, label, preload=False):
    """One detect() as the job runs it: a fresh session (empty identity map), then commit."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload
    from app.extensions import db
    from app.models import Account
    from app.models.problems import ProblemRecord, ProblemState
    from app.services import problems
    from app.services.context import acting_as
    s.close()
    actor = s.scalar(select(Account).where(Account.username == "sheng_admin"))
    gc.collect()
    reset_peak_rss()
    rss0 = rss_now_mb()
    t = time.perf_counter()
    with Probe(db.engine) as probe:
        loaded = []  # kept referenced: the identity map holds objects weakly
        if preload:
            loaded = s.scalars(select(ProblemRecord).where(ProblemRecord.state != ProblemState.RESOLVED)
                               .options(selectinload(ProblemRecord.sides))).all()
        with acting_as(actor, reason="bench: 问题学籍检测"):
            counts = problems.detect(s, actor, today=today)
    t_detect = time.perf_counter() - t
    tc = time.perf_counter()
    s.commit()
    t_commit = time.perf_counter() - tc
    del loaded
    peak = peak_rss_mb()
    print(f"\n{label}: {t_detect:.2f} s + commit {t_commit:.2f} s = {t_detect + t_commit:.2f} s   "
          f"{counts}   (RSS {rss0:.0f} MB before, peak {peak:.0f} MB)", flush=True)
    print(f"      phases: {probe.line(t_detect)}", flush=True)
    return counts, t_detect, t_commit, rss0, peak


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=1_000_000)
    ap.add_argument("--per-kind", type=int, default=3000, help="problems planted per rule (a), (b), (c)")
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) the three queries (PostgreSQL)")
    ap.add_argument("--try-indexes", action="store_true",
                    help="measure candidate indexes / settings / rewrites / write methods in the bench database (PostgreSQL)")
    ap.add_argument("--reuse", action="store_true",
                    help="PostgreSQL: keep the students of an earlier run (restored to as generated)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chunk", type=int, default=20_000)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench_problems_")
    if args.db == "postgresql":
        url = PG_URL
        ensure_database(url)
    else:
        url = f"sqlite:///{tmp}/bench_problems.db"
        if args.reuse:
            sys.exit("--reuse needs PostgreSQL (the SQLite file is temporary)")
    os.environ["DATABASE_URL"] = url
    print(f"database {args.db} ({url}); students {args.students:,}; per kind {args.per_kind:,}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; tmp {tmp}", flush=True)

    from sqlalchemy import func, select, text
    from app.extensions import db
    from app.models.student import Student
    from app.services import problems

    app = make_app(url, tmp)
    today = datetime.date.today()
    summary = {}
    with app.app_context():
        s = db.session
        if args.reuse:
            restore(s)
            summary["generation"] = None
        else:
            summary["generation"] = load(args, s, url)
        total = s.scalar(select(func.count()).select_from(Student))
        active = s.scalar(text(f"SELECT count(*) FROM student WHERE status NOT IN {INACTIVE_SQL}"))
        s.rollback()
        print(f"student table: {total:,} rows ({active:,} active)", flush=True)
        dialect = s.get_bind().dialect.name
        if dialect == "postgresql":
            version = s.execute(text("SHOW server_version")).scalar()
            size = s.execute(text("SELECT pg_size_pretty(pg_total_relation_size('student'))")).scalar()
            print(f"PostgreSQL {version}; student table {size} (heap + indexes)")
            s.rollback()

        # ---- baseline
        baseline, t_base = timed(lambda: problems.current_findings(s, today))
        s.rollback()
        summary["baseline"] = {k: len(v) for k, v in baseline.items()}
        print(f"\nBASELINE (as generated, nothing planted): current_findings() {t_base:.2f} s; findings "
              + ", ".join(f"{k.value} {len(v):,}" for k, v in baseline.items()), flush=True)

        # ---- planting
        expected, planted, oracle_ok = plant(s, args, baseline, today)
        summary["planted"] = {k: len(v) for k, v in planted.items()}
        vacuum(s)
        ok = oracle_ok

        # ---- the rules alone, current_findings alone
        print("\nEACH RULE'S QUERY ALONE (execute + fetch):")
        summary["rules"] = time_rules(s, today, "  ")
        gc.collect()
        reset_peak_rss()
        rss0 = rss_now_mb()
        found, t_cf = timed(lambda: problems.current_findings(s, today))
        s.rollback()
        summary["current_findings"] = t_cf
        summary["cf_rss"] = (rss0, peak_rss_mb())
        print(f"\ncurrent_findings() alone: {t_cf:.2f} s   (RSS {rss0:.0f} MB before, peak {peak_rss_mb():.0f} MB)")
        ok &= compare("current_findings", found, expected)
        del found

        # ---- detect(): first run (all new), second run (idempotent)
        runs = []
        for run in (1, 2):
            runs.append(run_detect(s, today, f"detect() run {run}"))
        # Prototype (nothing in app/ changed): the open problems loaded with their sides in one
        # go, as detect() would with .options(selectinload(ProblemRecord.sides)) on its query; the
        # preload and detect() share one transaction, so detect() finds the sides already loaded.
        print("\nPROTOTYPE: run 2 again, the open problems' sides eager-loaded first "
              "(= detect() with selectinload(ProblemRecord.sides))")
        proto = run_detect(s, today, "detect() run 3 (prototype)", preload=True)
        c3 = proto[0]
        cond3 = c3["new"] == 0 and c3["joined"] == 0 and c3["resolved"] == 0 and c3["open"] == runs[0][0]["open"]
        print(f"{'PASS' if cond3 else 'FAIL'}  prototype run: new {c3['new']}, joined {c3['joined']}, "
              f"resolved {c3['resolved']}, open {c3['open']:,}")
        ok &= cond3
        summary["prototype"] = proto
        summary["detect"] = runs

        n_expected = sum(len(v) for v in expected.values())
        c1, c2 = runs[0][0], runs[1][0]
        cond1 = c1["new"] == n_expected and c1["found"] == n_expected and c1["open"] == n_expected \
            and c1["resolved"] == 0 and c1["joined"] == 0
        print(f"{'PASS' if cond1 else 'FAIL'}  detect run 1: found {c1['found']:,}, new {c1['new']:,}, "
              f"open {c1['open']:,} (expected {n_expected:,} each); joined {c1['joined']}, resolved {c1['resolved']}")
        cond2 = c2["new"] == 0 and c2["joined"] == 0 and c2["resolved"] == 0 and c2["open"] == c1["open"] \
            and c2["found"] == c1["found"]
        print(f"{'PASS' if cond2 else 'FAIL'}  detect run 2 (idempotent): new {c2['new']}, joined {c2['joined']}, "
              f"resolved {c2['resolved']}, open {c2['open']:,} (run 1: {c1['open']:,})")
        ok &= cond1 and cond2
        stored = stored_problems(s)
        s.rollback()
        ok &= compare("stored problems", stored, expected)
        sides = s.scalar(text("SELECT count(*) FROM problem_side"))
        s.rollback()
        print(f"      problem_record rows {sum(len(v) for v in stored.values()):,}, problem_side rows {sides:,}")

        # ---- plans and candidates
        if args.explain and dialect == "postgresql":
            print("\nEXPLAIN (ANALYZE, BUFFERS) of the three detection queries:")
            for name, q in rule_queries(dialect, today).items():
                explain(s, q, name)
        elif args.explain:
            print("\n--explain: PostgreSQL only")
        if args.try_indexes and dialect == "postgresql":
            try_indexes(s, today, args)
            summary["writes"] = try_writes(s, today)
            summary["proposed"] = try_proposed(s, today, expected)
            ok &= summary["proposed"][3]
        elif args.try_indexes:
            print("\n--try-indexes: PostgreSQL only")

    # ---- summary
    print("\n" + "=" * 100)
    print(f"SUMMARY  {args.db}, {total:,} students ({active:,} active), {os.cpu_count()} cores "
          f"(load average now {os.getloadavg()[0]:.2f}: other work on the machine makes figures noisy)")
    if summary["generation"] is not None:
        print(f"  generation (students + guardians + history, {args.db}): {summary['generation']:.1f} s")
    print("  baseline findings (as generated): " + ", ".join(f"{k.value} {n:,}" for k, n in summary["baseline"].items()))
    print("  planted problems: " + ", ".join(f"{k.value} {n:,}" for k, n in summary["planted"].items()))
    print("  rule queries alone: " + ", ".join(f"{k} {v:.2f} s" for k, v in summary["rules"].items())
          + f"  (sum {sum(summary['rules'].values()):.2f} s)")
    print(f"  current_findings() alone: {summary['current_findings']:.2f} s (peak RSS {summary['cf_rss'][1]:.0f} MB)")
    for i, (counts, t_detect, t_commit, rss0, peak) in enumerate(summary["detect"], 1):
        print(f"  detect() run {i}: {t_detect:.2f} s (+ commit {t_commit:.2f} s); new {counts['new']:,}, "
              f"found {counts['found']:,}, open {counts['open']:,}, resolved {counts['resolved']}; "
              f"peak RSS {peak:.0f} MB (from {rss0:.0f} MB)")
    counts, t_detect, t_commit, rss0, peak = summary["prototype"]
    print(f"  prototype, run 2 with the sides eager-loaded (selectinload): {t_detect:.2f} s (+ commit {t_commit:.2f} s)")
    if "proposed" in summary:
        t_cf, r1, r2, good = summary["proposed"]
        print(f"  PROPOSED (indexes + statistics for (a), index for (b), (a) as two indexed queries, (b) as a window count, paths by "
              f"= ANY, sides eager-loaded): current_findings() {t_cf:.2f} s; detect() run 1 {r1[1] + r1[2]:.2f} s, "
              f"run 2 {r2[1] + r2[2]:.2f} s (incl. commit) → {'PASS' if good else 'FAIL'}")
    worst = max(r[1] + r[2] for r in summary["detect"])
    if args.db == "postgresql":
        print(f"  TARGET detect() ≤ 10 s on PostgreSQL: slowest run {worst:.2f} s (incl. commit) → "
              f"{'MET' if worst <= 10 else 'NOT MET'}" + ("" if total >= 1_000_000 else f"  (at {total:,} students)"))
    print(f"  RESULT: {'PASS' if ok else 'FAIL'} (every planted problem and nothing else found)")
    print(f"  process peak RSS overall: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
