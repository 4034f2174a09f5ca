"""中考 at province scale on PostgreSQL: registering ~500,000 graduating juniors from the registry
(registration.register_graduating as the province admin, one INSERT … SELECT) and seating every
county (exam_admin.assign_seats as each county's officer). Prints figures and checks; the target
(≤ 60 s for both together) is reported as PASS/MISS, never asserted.

    .venv/bin/python bench/bench_zhongkao.py                     # ~500,000 candidates
    .venv/bin/python bench/bench_zhongkao.py --reuse             # keep/reuse the generated registry
    .venv/bin/python bench/bench_zhongkao.py --reuse --explain   # + plans of the largest county's re-run
    .venv/bin/python bench/bench_zhongkao.py --students 200000 --candidates 100000 --dbname bench_zk_small

Set-up (not timed against the target):
- Its own database (`bench_zk`, --dbname) on 127.0.0.1:5432, dropped and created at the start and
  dropped at the end (--keep keeps it); never `test`. --reuse keeps the generated registry as the
  template `<dbname>_base` and starts later runs with the same parameters from a copy of it.
- The demo province (3 schools per county) and --students students with
  demo_students.generate_students (COPY), dated 2027-03-01.
- The generator spreads students evenly over each school's grades, so the final junior grade holds
  only ~1/12 of them (500,000 would need ~6M students). Instead, after generating, junior-stage
  students of schools teaching the junior stage are moved into the school's final junior grade
  (`UPDATE student SET grade = <final>` for as many as needed, lowest ids first, set-based per final
  grade) until --candidates students are in the graduating class. Their history rows keep the old
  grade: registration reads only student.grade/status.
- The 2027 exam (exams.create_exam as sheng_admin; no registration window).
Timed:
- 1. register_graduating(sheng_admin, exam) over the province, commit.
- Sites and rooms per county, set-based (one INSERT of sites, one of rooms, as many 30-seat rooms as
  the county needs plus 5% spare, 40 rooms per site); ANALYZE. Timed, but not part of the target.
- 2. assign_seats(county officer, exam, seed) for every county (and city with 市直 candidates), one
  commit each; total, slowest county, and the statements' split.
- Checks: every candidate seated once, seats unique, 准考证号 unique, spread in the largest county.
- 3. 准考证 PDF for the school nearest to 500 seated candidates (time, pages, size).
"""
import argparse
import datetime
import math
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_school_year import (Statements, account, admin, db_exists, drop_db, explained,  # noqa: E402
                               print_plans, schema_fingerprint)

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_S = 60.0
TODAY = datetime.date(2027, 3, 1)
SEED = 20270620


def make_app(tmp, dbname):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}",
                       "INSTANCE_DIR": tmp, "JOB_RESULT_DIR": tmp, "REDIS_URL": "", "LOAD_DEMO": False,
                       "SCHEDULER_ENABLED": False, "SECRET_KEY": "bench-zhongkao-secret-key-32-bytes!!!!"})


def vacuum(tables):
    from sqlalchemy import text
    from app.extensions import db
    db.session.commit()
    t = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - t


def graduating_count(s, by_grade):
    from sqlalchemy import func, select
    from app.models.student import Student, StudentStatus
    from app.services.zhongkao import registration
    return s.scalar(select(func.count()).select_from(Student).where(
        Student.status == StudentStatus.IN_SCHOOL, registration._graduating_clause(by_grade)))


def generate(args, s):
    """The demo province, the students, and the graduating class topped up to --candidates."""
    from sqlalchemy import text
    from app.cli import setup_database
    from app.services import demo, demo_students
    from app.services.zhongkao import registration

    t = time.perf_counter()
    setup_database()
    demo.load_demo(s)
    print(f"schema + demo province: {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()

    def progress(done, total):
        if done % 250_000 < 50_000 or done == total:
            print(f"  {done:>9,} / {total:,} students  {time.perf_counter() - t:6.1f} s", flush=True)

    demo_students.generate_students(s, args.students, method="copy", today=TODAY, progress=progress)
    s.commit()
    print(f"GENERATED {args.students:,} students in {time.perf_counter() - t:.1f} s", flush=True)

    sheng = account(s, "sheng_admin")
    by_grade = registration._junior_schools(s, sheng)
    have = graduating_count(s, by_grade)
    need = args.candidates - have
    print(f"graduating junior class as generated: {have:,} (schools teaching junior stage: "
          f"{sum(len(v) for v in by_grade.values()):,})", flush=True)
    if need > 0:
        t = time.perf_counter()
        pool = {g: s.scalar(text("SELECT count(*) FROM student WHERE school_id = ANY(:ids) AND grade LIKE '2%' "
                                 "AND grade <> :g AND status = 'in_school'"), {"ids": ids, "g": g})
                for g, ids in by_grade.items()}
        total_pool = sum(pool.values())
        if total_pool < need:
            sys.exit(f"only {total_pool:,} junior students to move: raise --students")
        for g, ids in by_grade.items():
            k = math.ceil(need * pool[g] / total_pool)
            s.execute(text("UPDATE student SET grade = :g WHERE id IN (SELECT id FROM student WHERE school_id = "
                           "ANY(:ids) AND grade LIKE '2%' AND grade <> :g AND status = 'in_school' "
                           "ORDER BY id LIMIT :k)"), {"g": g, "ids": ids, "k": k})
        s.commit()
        print(f"moved {need:,}+ junior students into the final junior grade in {time.perf_counter() - t:.1f} s; "
              f"graduating class now {graduating_count(s, by_grade):,}", flush=True)
    print(f"VACUUM ANALYZE: {vacuum(('student', 'guardian', 'org_unit')):.1f} s", flush=True)


def prepare(args, tmp):
    from sqlalchemy import text
    from app.extensions import db
    template = f"{args.dbname}_base"
    params = f"zk v1 students={args.students} candidates={args.candidates} schema={schema_fingerprint()}"
    if args.reuse and db_exists(template):
        import psycopg
        with psycopg.connect(ADMIN_URL.rsplit("/", 1)[0] + "/" + template, autocommit=True) as conn:
            row = conn.execute("SELECT obj_description('student'::regclass, 'pg_class')").fetchone()
        if not row or row[0] != params:
            print(f"--reuse: template made with {row[0] if row else '?'}; generating again", flush=True)
            drop_db(template)
    drop_db(args.dbname)
    if args.reuse and db_exists(template):
        t = time.perf_counter()
        admin(f'CREATE DATABASE "{args.dbname}" TEMPLATE "{template}"')
        print(f"--reuse: {args.dbname} copied from {template} in {time.perf_counter() - t:.1f} s", flush=True)
        app = make_app(tmp, args.dbname)
        return app
    admin(f'CREATE DATABASE "{args.dbname}"')
    app = make_app(tmp, args.dbname)
    with app.app_context():
        generate(args, db.session)
        if args.reuse:
            db.session.execute(text(f"COMMENT ON TABLE student IS '{params}'"))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
            admin(f'CREATE DATABASE "{template}" TEMPLATE "{args.dbname}"')
            print(f"--reuse: kept as template {template}", flush=True)
        db.session.remove()
    return app


def build_sites(s, exam):
    """Sites and rooms for every unit with candidates: 30-seat rooms for all + 5%, 40 rooms per site."""
    from sqlalchemy import func, insert, select
    from app.models.org import OrgUnit
    from app.models.zhongkao import Candidate, ZkRoom, ZkSite
    need = s.execute(select(Candidate.county_id, OrgUnit.path, func.count())
                     .join(OrgUnit, OrgUnit.id == Candidate.county_id)
                     .where(Candidate.exam_id == exam.id).group_by(Candidate.county_id, OrgUnit.path)).all()
    site_rows, plan = [], []
    for county_id, path, n in need:
        rooms = math.ceil(n * 1.05 / exam.room_size)
        sites = math.ceil(rooms / 40)
        for k in range(sites):
            site_rows.append({"exam_id": exam.id, "county_id": county_id, "county_path": path, "number": k + 1,
                              "name": f"第{k + 1}考点学校", "address": f"考点路 {k + 1} 号", "version": 1})
            plan.append(min(40, rooms - 40 * k))
    ids = s.execute(insert(ZkSite).returning(ZkSite.id, sort_by_parameter_order=True), site_rows).scalars().all()
    room_rows = [{"site_id": sid, "number": r + 1, "capacity": exam.room_size, "location": f"教学楼{r + 1:03d}"}
                 for sid, count in zip(ids, plan) for r in range(count)]
    s.execute(insert(ZkRoom), room_rows)
    s.commit()
    return len(need), len(site_rows), len(room_rows)


def run(args, app):
    from sqlalchemy import func, select, text
    from app.extensions import db
    from app.models.org import OrgKind, OrgUnit
    from app.models.zhongkao import Candidate
    from app.services.context import acting_as
    from app.services.zhongkao import exam_admin, exams, registration, tickets

    with app.app_context():
        s = db.session
        sheng = account(s, "sheng_admin")
        exam = exams.create_exam(s, sheng, {"year": 2027})
        s.commit()
        print(f"\nexam {exam.name}: reg_no {exam.reg_no_pattern}, exam_no {exam.exam_no_pattern}, "
              f"room size {exam.room_size}", flush=True)

        # 1. registration
        with Statements(db.engine) as st:
            t = time.perf_counter()
            result = registration.register_graduating(s, sheng, exam, today=TODAY)
            s.commit()
            reg_s = time.perf_counter() - t
        print(f"\n1. REGISTRATION of the province: {result['added']:,} candidates "
              f"({result['duplicates']:,} left out: shared ID numbers) in {reg_s:.1f} s", flush=True)
        st.print_top()
        print(f"   VACUUM ANALYZE zk_candidate: {vacuum(('zk_candidate',)):.1f} s", flush=True)

        t = time.perf_counter()
        units, sites, rooms = build_sites(s, exam)
        print(f"\n   sites and rooms (set-based): {units} counties, {sites} sites, {rooms:,} rooms in "
              f"{time.perf_counter() - t:.1f} s (not part of the target)", flush=True)
        vacuum(("zk_site", "zk_room"))

        # 2. seating, county by county, as each county's officer
        units = s.execute(select(OrgUnit.id, OrgUnit.kind, OrgUnit.region_code, func.count(Candidate.id))
                          .join(Candidate, Candidate.county_id == OrgUnit.id)
                          .where(Candidate.exam_id == exam.id)
                          .group_by(OrgUnit.id, OrgUnit.kind, OrgUnit.region_code).order_by(OrgUnit.id)).all()
        times = []
        with Statements(db.engine) as st:
            t0 = time.perf_counter()
            for unit_id, kind, code, n in units:
                officer = account(s, f"{'county' if kind == OrgKind.COUNTY else 'city'}_{code}")
                t = time.perf_counter()
                with acting_as(officer):
                    out = exam_admin.assign_seats(s, officer, exam, seed=SEED)
                s.commit()
                times.append((time.perf_counter() - t, code, out["count"]))
            seat_s = time.perf_counter() - t0
        seated = sum(c for _, _, c in times)
        slow = max(times)
        print(f"\n2. SEATING of {len(units)} counties: {seated:,} candidates in {seat_s:.1f} s "
              f"(per county avg {seat_s / len(units):.2f} s, slowest {slow[1]} {slow[0]:.2f} s for {slow[2]:,})",
              flush=True)
        st.print_top()

        total = reg_s + seat_s
        print(f"\nTOTAL registration + seating: {total:.1f} s (target ≤ {TARGET_S:.0f} s: "
              f"{'PASS' if total <= TARGET_S else 'MISS'})", flush=True)

        # checks
        c = s.execute(text("SELECT count(*), count(room_id), count(DISTINCT exam_no), "
                           "count(DISTINCT (room_id, seat_no)) FROM zk_candidate WHERE exam_id = :e"),
                      {"e": exam.id}).one()
        over = s.scalar(text("SELECT count(*) FROM (SELECT r.id FROM zk_room r JOIN zk_candidate c ON c.room_id = r.id "
                             "GROUP BY r.id, r.capacity HAVING max(c.seat_no) > r.capacity) x"))
        print(f"\nchecks: candidates {c[0]:,}, seated {c[1]:,}, distinct 准考证号 {c[2]:,}, distinct seats {c[3]:,}, "
              f"rooms over capacity {over} -> {'OK' if c[0] == c[1] == c[2] == c[3] and not over else 'WRONG'}")
        big = max(units, key=lambda u: u[3])
        unit = s.get(OrgUnit, big[0])
        mix = exam_admin.room_mix(s, sheng, exam, unit)
        print(f"spread in the largest county {unit.name} ({big[3]:,} candidates, {len(mix)} rooms, "
              f"{len({k for r in mix for k in r['schools']})} schools): "
              f"{'OK' if exam_admin.spread_ok(mix) else 'WRONG'}; same seed again gives the same seating: ",
              end="", flush=True)
        officer = account(s, f"county_{unit.region_code}") if unit.kind == OrgKind.COUNTY else \
            account(s, f"city_{unit.region_code}")
        before = s.execute(text("SELECT md5(string_agg(id || ':' || room_id || ':' || seat_no, ',' ORDER BY id)) "
                                "FROM zk_candidate WHERE county_id = :c"), {"c": unit.id}).scalar()
        t = time.perf_counter()
        plans = []
        with acting_as(officer):
            if args.explain:  # the statements of this re-run as EXPLAIN (ANALYZE, BUFFERS); rolled back below
                with explained(db.engine, ("UPDATE",), plans):
                    exam_admin.assign_seats(s, officer, exam, seed=SEED)
            else:
                exam_admin.assign_seats(s, officer, exam, seed=SEED)
        again_s = time.perf_counter() - t
        after = s.execute(text("SELECT md5(string_agg(id || ':' || room_id || ':' || seat_no, ',' ORDER BY id)) "
                               "FROM zk_candidate WHERE county_id = :c"), {"c": unit.id}).scalar()
        s.rollback()
        if args.explain:
            print("(--explain: not compared)")
            print_plans(plans)
        else:
            print(f"{'OK' if before == after else 'WRONG'} (re-run replacing {big[3]:,} seats: {again_s:.2f} s)")

        # 3. a school's tickets (~500)
        school_id, n = s.execute(text(
            "SELECT school_id, count(*) FROM zk_candidate WHERE exam_id = :e GROUP BY school_id "
            "ORDER BY abs(count(*) - 500) LIMIT 1"), {"e": exam.id}).one()
        school = s.get(OrgUnit, school_id)
        county = s.get(OrgUnit, school.parent_id)
        viewer = account(s, f"{'county' if county.kind == OrgKind.COUNTY else 'city'}_{county.region_code}")
        t = time.perf_counter()
        name, data = tickets.admission_tickets(s, viewer, exam, school_id)
        took = time.perf_counter() - t
        print(f"\n3. 准考证 PDF of {school.name}: {n} tickets, {math.ceil(n / 2)} pages, {len(data) / 1e6:.1f} MB "
              f"in {took:.1f} s ({took / n * 1000:.1f} ms per ticket)", flush=True)
        s.rollback()
        db.session.remove()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=1_600_000)
    p.add_argument("--candidates", type=int, default=500_000, help="graduating juniors to reach")
    p.add_argument("--dbname", default="bench_zk")
    p.add_argument("--reuse", action="store_true", help="keep/reuse the generated registry as <dbname>_base")
    p.add_argument("--keep", action="store_true", help="keep the bench database at the end")
    p.add_argument("--clean", action="store_true", help="drop the database and its template, then exit")
    p.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the largest county's re-run")
    args = p.parse_args()
    assert args.dbname not in ("test", "zkmain"), "never the tests' or the main database"
    if args.clean:
        drop_db(args.dbname)
        drop_db(f"{args.dbname}_base")
        return
    with tempfile.TemporaryDirectory(prefix="bench-zk-") as tmp:
        t = time.perf_counter()
        app = prepare(args, tmp)
        print(f"set-up {time.perf_counter() - t:.1f} s", flush=True)
        try:
            run(args, app)
        finally:
            if not args.keep:
                from app.extensions import db
                with app.app_context():
                    db.session.remove()
                    db.engine.dispose()
                drop_db(args.dbname)


if __name__ == "__main__":
    main()
