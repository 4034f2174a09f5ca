"""Student figures at province scale on PostgreSQL: build the demo province + N students (default
1,000,000) with app.services.demo_students, then time the student list and ID-number lookups as a
county officer (and a province officer), and EXPLAIN ANALYZE the list queries.
Prints figures; never part of the tests' pass/fail.

    .venv/bin/python bench/bench_students.py [--students 1000000] [--runs 50] [--compare 100000]
    .venv/bin/python bench/bench_students.py --reuse      # queries only, on the database left by a full run

Uses a database of its own, `bench` on 127.0.0.1:5432 (user postgres, trust auth), created if
missing; schema public is dropped and re-created, so the tests' database is never touched.

Note on the data: students are written school by school in org-tree order (like a county-by-county
migration import), so row ids are clustered by county. 学籍号 and ID numbers are clustered by
county in any real data too (they start with the region code)."""
import argparse
import os
import random
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_URL = "postgresql://postgres@127.0.0.1:5432/bench"


def ensure_database(url):
    import psycopg
    dbname = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{dbname}"')
            print(f"created database {dbname}")


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def report(label, times):
    ms = [t * 1000 for t in times]
    print(f"  {label:<64} p50 {pct(ms, 50):8.1f} ms   p95 {pct(ms, 95):8.1f} ms   (n={len(ms)})", flush=True)


def timed_runs(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def explain(session, stmt, label, show_plan=True):
    """EXPLAIN ANALYZE a statement; print the plan, the indexes used and any sequential scan."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql
    sql = stmt if isinstance(stmt, str) else str(
        stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    plan = [r[0] for r in session.execute(text("EXPLAIN (ANALYZE, COSTS OFF) " + sql))]
    session.rollback()
    joined = "\n".join(plan)
    used = sorted(set(re.findall(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)", joined)))
    seq = sorted(set(re.findall(r"Seq Scan on (\w+)", joined)))
    took = re.search(r"Execution Time: ([\d.]+) ms", joined)
    print(f"\n  {label}: {float(took.group(1)):.1f} ms; indexes: {', '.join(used) or 'NONE'}; "
          f"seq scans: {', '.join(seq) or 'none'}")
    if show_plan:
        for line in plan:
            if not line.strip().startswith(("Planning", "Execution")):
                print("      " + line)
    return plan


def load(args, s):
    """Schema, demo province, generation rate, the N students, VACUUM ANALYZE."""
    from unittest import mock
    from sqlalchemy import text
    from app.cli import setup_database
    from app.extensions import db
    from app.services import demo, demo_students

    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    t = time.perf_counter()
    setup_database()
    demo.load_demo(s)
    print(f"schema + demo province (江西, 3 schools per county): {time.perf_counter() - t:.1f} s")
    print(f"PostgreSQL {s.execute(text('SHOW server_version')).scalar()}; "
          f"students to generate: {args.students:,}; chunk {args.chunk:,}")

    # Python row generation alone (rows built, nothing written), on a sample.
    sample = min(args.students, 100_000)
    with mock.patch.object(demo_students._CopyWriter, "write", lambda self, *a: None):
        r = demo_students.generate_students(s, sample, method="copy", chunk_size=args.chunk)
    s.rollback()
    print(f"\nPython row generation only ({sample:,} students × 3 rows, nothing written): "
          f"{r['seconds']:.1f} s = {sample / r['seconds']:,.0f} students/s")

    t0 = time.perf_counter()

    def progress(done, total):
        if done % 200_000 < args.chunk or done == total:
            print(f"  {done:>9,} / {total:,}   {time.perf_counter() - t0:6.1f} s", flush=True)

    r = demo_students.generate_students(s, args.students, progress=progress, chunk_size=args.chunk)
    tc = time.perf_counter()
    s.commit()
    commit_s = time.perf_counter() - tc
    total_s = time.perf_counter() - t0
    print(f"\nGENERATED {r['students']:,} students + {r['guardians']:,} guardians + {r['history']:,} history rows "
          f"via {r['method'].upper()} in {total_s:.1f} s (commit {commit_s:.1f} s): "
          f"{r['students'] / total_s:,.0f} students/s = {3 * r['students'] / total_s:,.0f} rows/s")
    t = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("student", "guardian", "student_history", "org_unit"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    print(f"VACUUM ANALYZE: {time.perf_counter() - t:.1f} s")


def http_pages(app, args, who, seen, own_ids, rnd):
    """The real list page through the Flask test client. Must run OUTSIDE an app context: a request
    reuses an app context that is already pushed, and with it flask.g (Flask-Login caches the user
    there), so every client would act as the first one logged in."""
    from app.services import demo
    # ---------------------------------------------------------------- (a) the list page
    has_view = any(rule.rule == "/studentview/list/" for rule in app.url_map.iter_rules())
    if has_view:
        print(f"\n(a) THE REAL PAGE /studentview/list/ through the Flask test client "
              f"({args.runs} runs; province {args.province_runs})")
        pages = [
            ("default order", lambda ids: ""),
            ("sorted by 学籍号 (xueji_no asc)", lambda ids: "?_oc_StudentView=xueji_no&_od_StudentView=asc"),
            ("sorted by name", lambda ids: "?_oc_StudentView=name&_od_StudentView=asc"),
            ("search id_number = (one of its own)", lambda ids: f"?_flt_3_id_number={rnd.choice(ids)}"),
            ("search name_initials starts with 'zx'", lambda ids: "?_flt_0_name_initials=zx"),
        ]
        for label, user in who:
            client = app.test_client()
            client.post("/login/", data={"username": user, "password": demo.DEMO_PASSWORD})
            first = client.get("/studentview/list/")
            assert first.status_code == 200, (user, first.status_code)
            shown = re.search(r"记录数:</strong>\s*(\d+)", first.get_data(as_text=True))
            assert shown and int(shown.group(1)) == seen[label], (user, shown and shown.group(1), seen[label])
            runs = args.province_runs if label == "province" else args.runs
            for pname, qs in pages:
                def get(qs=qs, ids=own_ids[label]):
                    r = client.get("/studentview/list/" + qs(ids))
                    assert r.status_code == 200, r.status_code
                report(f"{label}: {pname}", timed_runs(get, runs, warmup=1))
    else:
        print("\n(a) no /studentview/list/ route in this build: only the scoped SQL below")



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--province-runs", type=int, default=10, help="runs of the (slow) province-level HTTP pages")
    ap.add_argument("--compare", type=int, default=100_000,
                    help="at the end, time Core insert vs COPY on this many students each (rolled back); 0 = skip")
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--url", default=BENCH_URL)
    ap.add_argument("--reuse", action="store_true", help="keep the database as a full run left it; queries only")
    ap.add_argument("--plans", action="store_true", help="print the full EXPLAIN plans")
    args = ap.parse_args()
    if not args.url.startswith("postgresql"):
        sys.exit("bench_students needs PostgreSQL")
    if args.url == BENCH_URL:
        ensure_database(args.url)
    os.environ["DATABASE_URL"] = args.url
    tmp = tempfile.mkdtemp(prefix="bench-students-")

    from sqlalchemy import func, select, text
    from app import create_app
    from app.extensions import db
    from app.models import Account
    from app.models.org import OrgKind, OrgUnit
    from app.models.student import INACTIVE_STATUSES, Student, StudentStatus
    from app.services import demo, demo_students, scope, students

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.url, "INSTANCE_DIR": tmp, "JOB_RESULT_DIR": tmp,
                      "REDIS_URL": "", "LOAD_DEMO": False, "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": "bench-secret-key-with-at-least-32-bytes!!"})
    with app.app_context():
        s = db.session
        if not args.reuse:
            load(args, s)
        sizes = s.execute(text(
            "SELECT pg_size_pretty(pg_total_relation_size('student')), pg_size_pretty(pg_relation_size('student')),"
            " pg_size_pretty(pg_indexes_size('student'))")).one()
        print(f"student table: {s.scalar(select(func.count()).select_from(Student)):,} rows, total {sizes[0]} "
              f"(heap {sizes[1]}, indexes {sizes[2]})")

        last_county = s.scalar(select(OrgUnit.region_code).where(OrgUnit.kind == OrgKind.COUNTY)
                               .order_by(OrgUnit.path.desc()).limit(1))
        who = [("county_360102", "county_360102"), (f"county_{last_county}", f"county_{last_county}"),
               ("province", "sheng_admin")]
        actors = {label: s.scalar(select(Account).where(Account.username == user)) for label, user in who}
        seen = {label: s.scalar(select(func.count()).select_from(Student).where(scope.clause(a, Student)))
                for label, a in actors.items()}
        own_ids = {label: s.scalars(select(Student.id_number).where(scope.clause(a, Student))
                                    .order_by(func.random()).limit(200)).all() for label, a in actors.items()}
        s.rollback()
        rnd = random.Random(1)
        print("\nvisible students: " + ", ".join(f"{k} {v:,}" for k, v in seen.items()))

    http_pages(app, args, who, seen, own_ids, rnd)

    with app.app_context():
        s = db.session
        actors = {label: s.scalar(select(Account).where(Account.username == user)) for label, user in who}
        print(f"\n(a') THE SCOPED SQL: page of 20 (select with scope.clause, order, limit 20) + count ({args.runs} runs)")

        def page(actor, order):
            return select(Student).where(scope.clause(actor, Student)).order_by(*order).limit(20)

        school_path = select(OrgUnit.path).where(OrgUnit.id == Student.school_id).scalar_subquery()
        orders = {
            "school path (subquery), class, name, id": (school_path, Student.class_name, Student.name, Student.id),
            "school_id, grade, class, name, id": (Student.school_id, Student.grade, Student.class_name,
                                                  Student.name, Student.id),
            "school_id, id desc": (Student.school_id, Student.id.desc()),
            "id desc": (Student.id.desc(),),
            "xueji_no, id": (Student.xueji_no, Student.id),
            "name, id": (Student.name, Student.id),
        }
        for label, actor in actors.items():
            count_q = select(func.count()).select_from(Student).where(scope.clause(actor, Student))
            report(f"{label}: count only", timed_runs(lambda c=count_q: (s.scalar(c), s.rollback()), args.runs))
            for oname, order in orders.items():
                q = page(actor, order)
                runs = args.province_runs if label == "province" and "subquery" in oname else args.runs
                report(f"{label}: page by {oname} + count", timed_runs(
                    lambda q=q, c=count_q: (s.scalars(q).all(), s.scalar(c), s.rollback()), runs))

        # ---------------------------------------------------------------- (b) ID-number lookups
        print(f"\n(b) ID-NUMBER LOOKUPS ({args.runs} runs, random numbers)")
        county = actors["county_360102"]
        anywhere = own_ids["province"]

        def lookup():
            assert students.lookup_person(s, county, "张三", rnd.choice(anywhere)) is not None
            s.rollback()
        report("lookup_person (全省学籍查询) as county_360102, any ID in the province", timed_runs(lookup, args.runs))

        def search(pool):
            def run():
                s.scalars(select(Student).where(scope.clause(county, Student),
                                                Student.id_number == rnd.choice(pool))).all()
                s.rollback()
            return run
        report("scoped search by id_number as county_360102 (own county's ID)",
               timed_runs(search(own_ids["county_360102"]), args.runs))
        report("scoped search by id_number as county_360102 (other counties' IDs)", timed_runs(search(anywhere), args.runs))

        # ---------------------------------------------------------------- EXPLAIN
        print("\nEXPLAIN ANALYZE" + ("" if args.plans else " (full plans with --plans; shown here for the slow ones)"))
        c1, c2, prov = actors["county_360102"], actors[f"county_{last_county}"], actors["province"]
        slow_ms = 50.0

        def ex(stmt, label):
            plan = explain(s, stmt, label, show_plan=True if args.plans else False)
            took = float(re.search(r"Execution Time: ([\d.]+) ms", "\n".join(plan)).group(1))
            if not args.plans and took > slow_ms:
                for line in plan:
                    if not line.strip().startswith(("Planning", "Execution")):
                        print("      " + line)
        ex(select(func.count()).select_from(Student).where(scope.clause(c1, Student)), "county_360102 count")
        for oname in orders:
            ex(page(c1, orders[oname]), f"county_360102 page by {oname}")
        ex(page(c2, orders["xueji_no, id"]), f"county_{last_county} page by xueji_no, id")
        ex(page(c2, orders["id desc"]), f"county_{last_county} page by id desc")
        ex(page(prov, orders["school path (subquery), class, name, id"]),
           "province page by school path (subquery), class, name, id")
        ex(page(prov, orders["school_id, grade, class, name, id"]), "province page by school_id, grade, class, name, id")
        # FAB's count as StudentView issues it when its default order is applied to the count query too
        ordered = select(Student.id).where(scope.clause(prov, Student)).order_by(
            *orders["school path (subquery), class, name, id"]).subquery()
        ex(select(func.count()).select_from(ordered), "province count over the ORDERED subquery (FAB count + default order)")
        ex(select(func.count()).select_from(Student).where(scope.clause(prov, Student)), "province count (plain)")
        number = own_ids["county_360102"][0]
        ex(select(Student).where(scope.clause(c1, Student), Student.id_number == number), "scoped search by id_number")
        ex(select(Student).where(Student.id_number == number,
                                 Student.status.not_in([StudentStatus(x) for x in INACTIVE_STATUSES])),
           "holder_of (lookup_person)")
        ex(select(Student.id).where(scope.clause(prov, Student), Student.name_initials.startswith("zx")).limit(20),
           "province: name_initials LIKE 'zx%' limit 20")
        ex(select(func.count()).select_from(Student).where(scope.clause(prov, Student),
                                                           Student.name_initials.startswith("zx")),
           "province: count name_initials LIKE 'zx%'")
        ex(select(func.count()).select_from(Student).where(scope.clause(prov, Student), Student.name.startswith("张")),
           "province: count name LIKE '张%'")
        ex(select(func.count()).select_from(Student).where(Student.id_number.startswith(number[:10])),
           "id_number LIKE '<first 10>%'")

        # ---------------------------------------------------------------- write methods
        if args.compare and not args.reuse:
            print(f"\nWRITE METHODS ({args.compare:,} students each, on top of the {args.students:,}; rolled back)")
            for method in ("insert", "copy"):
                t = time.perf_counter()
                demo_students.generate_students(s, args.compare, method=method, chunk_size=args.chunk)
                s.flush()
                el = time.perf_counter() - t
                s.rollback()
                print(f"  {method:<7} {el:7.1f} s = {args.compare / el:>9,.0f} students/s "
                      f"({3 * args.compare / el:,.0f} rows/s incl. guardian + history)", flush=True)


if __name__ == "__main__":
    main()
