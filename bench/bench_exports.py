"""Export figures at province scale on PostgreSQL: the 学生学籍 list of 1,000,000 students exported
by a province officer through the generic list export (app/exports/, the same code as the
'export_list' job), with time, peak RSS and RSS along the way (constant memory); then XlsxWriter
constant-memory vs openpyxl write-only (and XlsxWriter's default in-memory mode) on the same
100,000 formatted rows. Prints figures; never part of the tests' pass/fail.

    .venv/bin/python bench/bench_exports.py [--user sheng_admin] [--compare 100000] [--no-full] [--breakdown]

Uses the database `bench` left by bench/bench_students.py (1M students); it only reads it and adds
a few audit rows. If it is missing: .venv/bin/python bench/bench_students.py --students 1000000 --runs 1
"""
import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BENCH_URL = "postgresql://postgres@127.0.0.1:5432/bench"


def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def full_export(app, args):
    """The 1M-row export as the job runs it: no request, the job's actor, progress callbacks."""
    from sqlalchemy import select

    from app.extensions import db
    from app.jobs import JOB_KINDS
    from app.models import Account

    with app.app_context():
        actor = db.session.scalar(select(Account).where(Account.username == args.user))
        samples = []
        t0 = time.perf_counter()
        start_rss = rss_mb()

        def progress(percent, message=None):
            samples.append((time.perf_counter() - t0, message, rss_mb()))
            if len(samples) % 20 == 0:
                print(f"  {time.perf_counter() - t0:6.1f} s  {message}  RSS {rss_mb():.0f} MB", flush=True)

        result = JOB_KINDS["export_list"].func(db.session, actor, {"view": "StudentView", "args": []}, progress)
        db.session.commit()
        total = time.perf_counter() - t0
        size = os.path.getsize(result["result_file"]) / 1048576
        rows = result["count"]
        print(f"\nFULL EXPORT as {args.user}: {rows:,} rows in {total:.1f} s ({rows / total:,.0f} rows/s), "
              f"file {size:.0f} MB")
        print(f"  RSS before {start_rss:.0f} MB; along the way: "
              + ", ".join(f"{m.split()[1] if m else '?'} → {r:.0f} MB" for _t, m, r in samples[1::max(len(samples) // 6, 1)]))
        print(f"  peak RSS of the process {peak_mb():.0f} MB (includes the app; growth during export "
              f"{max(r for _t, _m, r in samples) - start_rss:+.0f} MB)")
        os.unlink(result["result_file"])
        if args.breakdown:
            from app.exports.service import find_view
            from app.services.context import acting_as
            with acting_as(actor):
                source = find_view("StudentView").export_source({})
                t = time.perf_counter()
                n = sum(1 for _row in source.rows())
                read = time.perf_counter() - t
            print(f"  of which reading + formatting {n:,} rows alone: {read:.1f} s; writing ≈ {total - read:.1f} s")


def _collect(app, args):
    """The first N formatted rows of the same list (what the writers get)."""
    from sqlalchemy import select

    from app.exports.service import find_view
    from app.extensions import db
    from app.models import Account
    from app.services.context import acting_as

    with app.app_context():
        actor = db.session.scalar(select(Account).where(Account.username == args.user))
        with acting_as(actor):
            source = find_view("StudentView").export_source({})
            headers = [str(h) for h in source.headers]
            t = time.perf_counter()
            rows = []
            for row in source.rows():
                rows.append(row)
                if len(rows) >= args.compare:
                    break
            print(f"\nread + formatted {len(rows):,} rows in {time.perf_counter() - t:.1f} s")
            return headers, rows


def _xlsxwriter_constant(headers, rows, path):
    from app.exports.writer import XlsxListWriter
    with XlsxListWriter(path, "学生学籍", headers) as w:
        w.write_rows(rows)


def _xlsxwriter_in_memory(headers, rows, path):
    import xlsxwriter
    from app.exports.writer import cell_text
    wb = xlsxwriter.Workbook(path, {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False})
    ws = wb.add_worksheet("学生学籍")
    ws.write_row(0, 0, headers)
    for r, row in enumerate(rows, start=1):
        for c, v in enumerate(row):
            v = cell_text(v)
            ws.write_string(r, c, v) if isinstance(v, str) else ws.write_number(r, c, v)
    wb.close()


def _openpyxl_write_only(headers, rows, path):
    from openpyxl import Workbook
    from app.exports.writer import cell_text
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("学生学籍")
    ws.append(headers)
    for row in rows:
        ws.append([cell_text(v) for v in row])
    wb.save(path)


WRITERS = [
    ("XlsxWriter constant_memory (app/exports/writer.py)", _xlsxwriter_constant),
    ("openpyxl write_only", _openpyxl_write_only),
    ("XlsxWriter default (in-memory)", _xlsxwriter_in_memory),
]


def _child(fn, headers, rows, path, conn):
    base = rss_mb()
    t = time.perf_counter()
    fn(headers, rows, path)
    conn.send((time.perf_counter() - t, peak_mb() - base, os.path.getsize(path)))
    conn.close()


def compare(app, args):
    headers, rows = _collect(app, args)
    ctx = multiprocessing.get_context("fork")  # each writer in its own process: its own peak RSS
    print(f"writers on the same {len(rows):,} rows × {len(headers)} columns (each in a forked process):")
    with tempfile.TemporaryDirectory() as d:
        for label, fn in WRITERS:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_child, args=(fn, headers, rows, os.path.join(d, "x.xlsx"), child))
            p.start()
            seconds, grew, size = parent.recv()
            p.join()
            print(f"  {label:<52} {seconds:6.1f} s  {len(rows) / seconds:9,.0f} rows/s  "
                  f"RSS growth {grew:6.0f} MB  file {size / 1048576:5.1f} MB", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=BENCH_URL)
    ap.add_argument("--user", default="sheng_admin", help="who exports (default: the province officer)")
    ap.add_argument("--compare", type=int, default=100_000, help="rows for the writer comparison; 0 = skip")
    ap.add_argument("--no-full", action="store_true", help="skip the full export")
    ap.add_argument("--breakdown", action="store_true", help="also time reading + formatting alone (another pass)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-exports-")
    os.environ["DATABASE_URL"] = args.url

    from sqlalchemy import func, select, text

    from app import create_app
    from app.extensions import db
    from app.models.student import Student

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.url, "INSTANCE_DIR": tmp, "JOB_RESULT_DIR": tmp,
                      "REDIS_URL": "", "LOAD_DEMO": False, "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": "bench-secret-key-with-at-least-32-bytes!!"})
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(Student))
        version = db.session.execute(text("SHOW server_version")).scalar()
        db.session.remove()
    print(f"PostgreSQL {version}; students in `bench`: {n:,}; {os.cpu_count()} cores")
    if not n:
        sys.exit("no students: run bench/bench_students.py --students 1000000 --runs 1 first")
    if not args.no_full:
        full_export(app, args)
    if args.compare:
        compare(app, args)


if __name__ == "__main__":
    main()
