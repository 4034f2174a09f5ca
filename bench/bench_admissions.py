"""招生入学 figures for one county's admission season on PostgreSQL: the demo province, one county's
primary graduates (default 20,000), the county's unified list (统一招生名单) checked and stored as an
import would, stored again unchanged, admitted by each junior school in batches, approved by the
county in batches. Prints figures, statement counts, the statements that took the time and checks;
never asserts times and is no part of the tests.

    .venv/bin/python bench/bench_admissions.py                         # 20,000 graduates, county 360102
    .venv/bin/python bench/bench_admissions.py --graduates 2000 --background 0
    .venv/bin/python bench/bench_admissions.py --reuse --keep          # later runs start from a template copy

What it does:
- Its own database (`bench_admissions`, --dbname) on 127.0.0.1:5432 (user postgres, trust auth),
  dropped and created at the start, dropped at the end (--keep keeps it); never `test`. With
  --reuse the generated registry is kept as the template `<dbname>_base` and later runs with the
  same parameters start from a copy of it; --clean drops both.
- Set-up: migrations + roles, the demo province (app.services.demo.load_demo, 3 schools per county).
  The demo county has one primary school and two schools teaching 初中一年级 (第一初级中学, 第一中学),
  and a plan is at most admissions.MAX_QUOTA (5,000) seats, so the bench adds schools to the county
  (demo-like rows + accounts via demo.build_accounts): primary schools up to --primary-schools, junior
  schools until --junior-schools teach grade 21 (auto: enough for the graduates at ≤ 4,000 each).
  Students: --background province-wide (app.services.demo_students.generate_students), then the
  county's graduates: the generator restricted to the county's primary schools and to their final
  grade (16; `_load_schools` patched), exactly --graduates of them.
- The clock (app.services.clock.now; clock.today follows it) is frozen: 2027-07-10 09:00 for opening
  2026-2027 and 2027-2028 (sheng_admin) and for 毕业 (graduation.graduate per primary school as its
  account, all its final grade, timed) — the order of tests/integration/test_admissions.py's
  `season` fixture — then 2027-08-20 09:00, in the season, for everything else.
- 0. plans: admissions.set_plan as county_<county> for every school of the county teaching grade 21,
  quotas summing to ≥ the graduates (each ≤ MAX_QUOTA).
- 1. the unified list: one row per graduate (学籍号, every 10th by 个人标识码; name; 毕业学校标识码;
  初中; 录取学校标识码 round-robin over the junior schools; a score) → admissions.list_row_values per row,
  then admissions.save_list_rows once, then commit — as an import would. Again in a fresh session
  with the same rows: all must be unchanged.
- 2. each junior school admits its rows: admissions.admit_from_list as the school's account, --batch
  rows a call, commit after each call.
- 3. the county approves: requests.bulk_approve as county_<county>, --batch requests a call, commit
  after each call (also timed: the inbox count and its first page).
- 4. checks: plan.used = approved admissions; every graduate 在校 in grade 21 of a junior school of the
  county; their graduations' 去向 '09' (普通初中, by admission); no duplicate-admission cases; no row
  refused anywhere.
Each phase: time, rows/s, SQL statements (a before/after_cursor_execute counter on the engine) per
row, the statements by total time (grouped by shape), and the time in the services' inner functions
(inclusive, wrapped while the phase runs).
"""
import argparse
import datetime
import math
import os
import random
import re
import sys
import tempfile
import time
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PORT = 5432
DB_NAME = "bench_admissions"
TEMPLATE_NAME = f"{DB_NAME}_base"
ADMIN_URL = f"postgresql://postgres@127.0.0.1:{PORT}/postgres"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1:{PORT}/{DB_NAME}"
GRADUATION_AT = datetime.datetime(2027, 7, 10, 9, 0)
SEASON_AT = datetime.datetime(2027, 8, 20, 9, 0)
GENERATED_ON = datetime.date(2027, 6, 1)  # the students' ages/grades as of the 2026-2027 year
SEATS_PER_JUNIOR = 4000  # auto number of junior schools: graduates / this (a plan holds ≤ MAX_QUOTA)


# ---------------------------------------------------------------- helpers

def admin(sql, *params):
    import psycopg
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        cur = conn.execute(sql, params or None)
        return cur.fetchall() if sql.lstrip().upper().startswith("SELECT") else None


def db_exists(name):
    return bool(admin("SELECT 1 FROM pg_database WHERE datname = %s", name))


def drop_db(name):
    assert name != "test", "never the tests' database"
    if db_exists(name):
        admin(f'DROP DATABASE "{name}" WITH (FORCE)')


def make_app(tmp):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": PG_URL, "INSTANCE_DIR": tmp, "JOB_RESULT_DIR": tmp, "REDIS_URL": "",
                       "LOAD_DEMO": False, "SCHEDULER_ENABLED": False,
                       "SECRET_KEY": "bench-admissions-secret-key-32-bytes!!!"})


def account(s, username):
    from sqlalchemy import select
    from app.models.account import Account
    acct = s.scalar(select(Account).where(Account.username == username))
    if acct is None:
        sys.exit(f"no account {username}")
    return acct


def vacuum(tables):
    from sqlalchemy import text
    from app.extensions import db
    t = time.perf_counter()
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - t


class Statements:
    """Every SQL statement sent while active: count and time, grouped by shape (a SELECT by what
    follows its FROM, so that two queries of the same table with other conditions stay apart)."""

    def __init__(self, engine):
        self.engine, self.by_key, self._t = engine, {}, []

    @staticmethod
    def key(sql):
        sql = " ".join(sql.split())
        sql = re.sub(r"sa_savepoint_\d+", "sa_savepoint_N", sql)
        sql = re.sub(r"%\(\w+\)s(, %\(\w+\)s)+", "…", sql)
        sql = re.sub(r"%\((\w+?)_\d+\)s", r"%(\1)s", sql)
        if sql.upper().startswith("SELECT") and " FROM " in sql:
            sql = "SELECT … " + sql[sql.index(" FROM ") + 1:]
        return sql[:150]

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._t.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        took = time.perf_counter() - self._t.pop()
        k = self.key(statement)
        n, t = self.by_key.get(k, (0, 0.0))
        self.by_key[k] = (n + 1, t + took)

    def __enter__(self):
        from sqlalchemy import event
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    @property
    def count(self):
        return sum(n for n, _ in self.by_key.values())

    @property
    def seconds(self):
        return sum(t for _, t in self.by_key.values())

    def print_top(self, rows_done=None, indent="      ", top=12):
        items = sorted(self.by_key.items(), key=lambda kv: -kv[1][1])
        per = f"{'per row':>8}  " if rows_done else ""
        print(f"{indent}{'total':>8}    {'count':>8}  {per}statement (by total time)")
        for k, (n, t) in items[:top]:
            pr = f"{n / rows_done:8.2f}  " if rows_done else ""
            print(f"{indent}{t:8.2f} s  {n:>8,}× {pr}{k}")
        rest = items[top:]
        if rest:
            n_rest = sum(n for _, (n, t) in rest)
            pr = f"{n_rest / rows_done:8.2f}  " if rows_done else ""
            print(f"{indent}{sum(t for _, (n, t) in rest):8.2f} s  {n_rest:>8,}× {pr}({len(rest)} other shapes)")
        print(f"{indent}{self.seconds:8.2f} s  {self.count:>8,}× "
              + (f"{self.count / rows_done:8.2f}  " if rows_done else "") + "all statements (time in the driver + server)")


class Phases:
    """Inclusive time and calls of module functions while active (their module attributes wrapped;
    callers that look the name up at call time see the wrapper)."""

    def __init__(self, targets):
        self.targets, self.times, self.calls, self.saved = targets, {}, {}, []

    def __enter__(self):
        for module, name in self.targets:
            fn = getattr(module, name)
            label = f"{module.__name__.rsplit('.', 1)[-1]}.{name}"
            self.saved.append((module, name, fn))

            def wrapper(*a, _fn=fn, _label=label, **kw):
                t = time.perf_counter()
                try:
                    return _fn(*a, **kw)
                finally:
                    self.times[_label] = self.times.get(_label, 0.0) + time.perf_counter() - t
                    self.calls[_label] = self.calls.get(_label, 0) + 1
            setattr(module, name, wrapper)
        return self

    def __exit__(self, *exc):
        for module, name, fn in reversed(self.saved):
            setattr(module, name, fn)

    def print(self, indent="      "):
        for label, t in sorted(self.times.items(), key=lambda kv: -kv[1]):
            print(f"{indent}{t:8.2f} s  {self.calls[label]:>8,} calls  {label}  (inclusive)")


class Checks:
    def __init__(self):
        self.rows = []

    def __call__(self, ok, label):
        self.rows.append((bool(ok), label))
        print(f"  {'PASS' if ok else 'FAIL'}  {label}", flush=True)
        return ok

    @property
    def ok(self):
        return all(ok for ok, _ in self.rows)


def frozen(at):
    from app.services import clock
    return mock.patch.object(clock, "now", lambda: at)


def rate(n, t):
    return f"{n / t:,.0f}/s" if t else "—"


# ---------------------------------------------------------------- set-up (the template)

def county_unit(s, code):
    from sqlalchemy import select
    from app.models.org import OrgKind, OrgUnit
    unit = s.scalar(select(OrgUnit).where(OrgUnit.kind == OrgKind.COUNTY, OrgUnit.region_code == code))
    if unit is None:
        sys.exit(f"county {code} is not in the demo province")
    return unit


def schools_of(s, county):
    from sqlalchemy import select
    from app.models.org import OrgKind, OrgUnit
    return s.scalars(select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.path.startswith(county.path))
                     .order_by(OrgUnit.path)).all()


def primary_schools(schools):
    from app.services import grades
    return [sc for sc in schools if grades.teaches(sc, "16") and "21" not in grades.grades_of(sc)]


def junior_schools(schools):
    from app.services import grades
    return [sc for sc in schools if grades.teaches(sc, "21")]


def junior_target(args):
    return args.junior_schools or max(2, math.ceil(args.graduates / SEATS_PER_JUNIOR))


def add_schools(s, args, county):
    """Demo-like schools for the county until it has --primary-schools primary schools and enough
    schools teaching grade 21; then their accounts (demo.build_accounts only adds what is missing)."""
    from sqlalchemy import func, insert, select
    from app.models.org import OrgKind, OrgUnit, Ownership, SchoolType
    from app.services import demo
    schools = schools_of(s, county)
    short = demo._short(county.name.replace("教育体育局", ""))
    seq = max(int(sc.school_code[-4:]) for sc in schools) if schools else 0
    rows = []
    for kind, have, want, suffix in ((SchoolType.PRIMARY, len(primary_schools(schools)), args.primary_schools, "小学"),
                                     (SchoolType.JUNIOR, len(junior_schools(schools)), junior_target(args), "初级中学")):
        for k in range(have, want):
            seq += 1
            code = f"{county.region_code}{seq:04d}"
            rows.append({"kind": OrgKind.SCHOOL, "name": f"{short}第{k + 1}{suffix}（基准）", "region_code": county.region_code,
                         "parent_id": county.id, "path": f"{county.path}{code}/", "school_code": code,
                         "school_type": kind, "ownership": Ownership.PUBLIC, "address": f"学府路{seq}号",
                         "may_enroll": True, "active": True})
    if rows:
        s.execute(insert(OrgUnit), rows)
        demo.build_accounts(s)
    s.commit()
    return len(rows)


def load(args, s):
    from sqlalchemy import text
    from app.cli import setup_database
    from app.services import demo, demo_students

    t = time.perf_counter()
    setup_database()
    demo.load_demo(s)
    county = county_unit(s, args.county)
    added = add_schools(s, args, county)
    schools = schools_of(s, county)
    print(f"schema + demo province + {added} schools added to {county.name}: {time.perf_counter() - t:.1f} s "
          f"({len(primary_schools(schools))} primary, {len(junior_schools(schools))} teaching grade 21)", flush=True)
    t0 = time.perf_counter()
    if args.background:
        demo_students.generate_students(s, args.background, chunk_size=args.chunk, today=GENERATED_ON)
        print(f"  {args.background:,} students province-wide: {time.perf_counter() - t0:.1f} s", flush=True)
    original = demo_students._load_schools
    primary_ids = {sc.id for sc in primary_schools(schools)}

    def only_final_grade(session, root):
        out = [x for x in original(session, county.path) if x.id in primary_ids]
        for x in out:
            x.grades = ("16",)
        return out
    # the background put some grade-16 students into the county's primary schools too: top up to
    # exactly --graduates
    from sqlalchemy import func, select
    from app.models.student import Student, StudentStatus
    have = s.scalar(select(func.count()).select_from(Student).where(
        Student.school_id.in_(primary_ids), Student.status == StudentStatus.IN_SCHOOL, Student.grade == "16"))
    if have > args.graduates:
        sys.exit(f"the background alone gave the county {have:,} grade-16 students (> --graduates): lower --background")
    t1 = time.perf_counter()
    with mock.patch.object(demo_students, "_load_schools", only_final_grade):
        demo_students.generate_students(s, args.graduates - have, chunk_size=args.chunk, today=GENERATED_ON)
    print(f"  {args.graduates - have:,} grade-16 students in {county.name}'s {len(primary_ids)} primary schools "
          f"({have:,} from the background): {time.perf_counter() - t1:.1f} s", flush=True)
    s.commit()
    print(f"GENERATED {s.scalar(text('SELECT count(*) FROM student')):,} students in {time.perf_counter() - t0:.1f} s; "
          f"VACUUM ANALYZE {vacuum(('student', 'guardian', 'student_history', 'org_unit', 'ab_user')):.1f} s", flush=True)


def schema_fingerprint():
    import hashlib
    folder = os.path.join(ROOT, "migrations", "versions")
    digest = hashlib.sha1()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(name.encode() + f.read())
    return digest.hexdigest()[:10]


def prepare_database(args, tmp):
    """(app, set-up seconds or None when copied from the template)."""
    from sqlalchemy import text
    from app.extensions import db
    params = (f"v2 graduates={args.graduates} county={args.county} background={args.background} "
              f"primary={args.primary_schools} junior={junior_target(args)} schema={schema_fingerprint()}")
    if args.reuse and db_exists(TEMPLATE_NAME):
        import psycopg
        with psycopg.connect(ADMIN_URL.rsplit("/", 1)[0] + "/" + TEMPLATE_NAME, autocommit=True) as conn:
            row = conn.execute("SELECT obj_description('student'::regclass, 'pg_class')").fetchone()
        if not row or row[0] != params:
            print(f"--reuse: template {TEMPLATE_NAME} was made with {row[0] if row else '?'}, not {params}: "
                  "generating again", flush=True)
            drop_db(TEMPLATE_NAME)
    if args.reuse and db_exists(TEMPLATE_NAME):
        t = time.perf_counter()
        drop_db(DB_NAME)
        admin(f'CREATE DATABASE "{DB_NAME}" TEMPLATE "{TEMPLATE_NAME}"')
        print(f"--reuse: {DB_NAME} copied from {TEMPLATE_NAME} in {time.perf_counter() - t:.1f} s", flush=True)
        app = make_app(tmp)
        with app.app_context():
            from app.cli import setup_database
            setup_database()
            db.session.commit()
            print(f"VACUUM ANALYZE: {vacuum(('student', 'guardian', 'student_history', 'org_unit')):.1f} s")
        return app, None
    drop_db(DB_NAME)
    admin(f'CREATE DATABASE "{DB_NAME}"')
    print(f"created database {DB_NAME}", flush=True)
    app = make_app(tmp)
    t = time.perf_counter()
    with app.app_context():
        load(args, db.session)
        db.session.execute(text(f"COMMENT ON TABLE student IS '{params}'"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    took = time.perf_counter() - t
    if args.reuse:
        drop_db(TEMPLATE_NAME)
        t = time.perf_counter()
        admin(f'CREATE DATABASE "{TEMPLATE_NAME}" TEMPLATE "{DB_NAME}"')
        print(f"--reuse: saved as template {TEMPLATE_NAME} ({time.perf_counter() - t:.1f} s)", flush=True)
    return app, took


# ---------------------------------------------------------------- the season

def step_years_and_graduation(args, s, checks, summary):
    from sqlalchemy import func, select
    from app.extensions import db
    from app.models.student import Student, StudentStatus
    from app.services import graduation, school_years
    with frozen(GRADUATION_AT):
        t = time.perf_counter()
        for start in (2026, 2027):
            school_years.open_year(s, account(s, "sheng_admin"), {"start_year": start})
        s.commit()
        print(f"\nopened 2026-2027 and 2027-2028 as sheng_admin (clock {GRADUATION_AT:%Y-%m-%d %H:%M}): "
              f"{(time.perf_counter() - t) * 1000:.0f} ms", flush=True)
        county = county_unit(s, args.county)
        schools = primary_schools(schools_of(s, county))
        print(f"\n毕业: {len(schools)} primary schools of {county.name}, one graduation.graduate call per school as its "
              f"account (candidates → ids → graduate → commit)", flush=True)
        total, per = 0, []
        t_all = time.perf_counter()
        with Statements(db.engine) as st:
            for school in schools:
                acct = account(s, f"school_{school.school_code}")
                t0 = time.perf_counter()
                ids = s.scalars(graduation.candidates_query(school).with_only_columns(Student.id)).all()
                if not ids:
                    continue
                n = graduation.graduate(s, acct, student_ids=ids)
                s.commit()
                total += n
                per.append(time.perf_counter() - t0)
        t_total = time.perf_counter() - t_all
    print(f"  {total:,} graduated in {t_total:.2f} s ({rate(total, t_total)}; slowest school {max(per or [0]):.2f} s); "
          f"{st.count:,} statements", flush=True)
    st.print_top(top=6)
    summary["graduation"] = (total, t_total, st.count)
    graduates = s.scalar(select(func.count()).select_from(Student).where(
        Student.school_id.in_([sc.id for sc in schools]), Student.status == StudentStatus.GRADUATED))
    s.rollback()
    checks(total == args.graduates == graduates, f"graduation: {total:,} graduated = --graduates {args.graduates:,}")
    print(f"  VACUUM ANALYZE {vacuum(('student', 'student_history', 'graduation')):.1f} s", flush=True)


def step_plans(args, s, summary):
    from app.extensions import db
    from app.services import admissions
    county = county_unit(s, args.county)
    juniors = junior_schools(schools_of(s, county))
    k = len(juniors)
    share = math.ceil(args.graduates * (1 + args.slack) / k)
    if share > admissions.MAX_QUOTA:
        sys.exit(f"{k} junior schools × {admissions.MAX_QUOTA} seats < {args.graduates:,} graduates: raise --junior-schools")
    acct = account(s, f"county_{args.county}")
    t = time.perf_counter()
    with Statements(db.engine) as st:
        for sc in juniors:
            admissions.set_plan(s, acct, sc.id, "21", share)
        s.commit()
    took = time.perf_counter() - t
    print(f"\n0. plans: {k} schools × {share:,} seats (grade 21; {k * share:,} ≥ {args.graduates:,}) set as {acct.username}: "
          f"{took * 1000:.0f} ms, {st.count} statements", flush=True)
    summary["plans"] = (k, took, st.count)
    return juniors


def list_values(s, args, juniors):
    """The county's result file: one row per graduate of its primary schools."""
    from sqlalchemy import select
    from app.models.org import OrgUnit
    from app.models.school_year import Graduation, GraduationState
    from app.models.student import Student
    county = county_unit(s, args.county)
    rows = s.execute(select(Student.id, Student.xueji_no, Student.personal_id, Student.name, OrgUnit.school_code)
                     .join(Graduation, Graduation.student_id == Student.id)
                     .join(OrgUnit, OrgUnit.id == Graduation.school_id)
                     .where(Graduation.school_path.startswith(county.path), Graduation.stage == "1",
                            Graduation.state == GraduationState.GRADUATED)
                     .order_by(OrgUnit.school_code, Student.id)).all()
    s.rollback()
    rng = random.Random(2027)
    out = []
    for i, r in enumerate(rows):
        out.append({"number": r.personal_id if i % 10 == 9 else r.xueji_no, "name": r.name, "from_code": r.school_code,
                    "stage": "初中", "to_code": juniors[i % len(juniors)].school_code,
                    "score": round(rng.uniform(300, 700), 1)})
    return out


def import_list(s, args, values, label):
    """list_row_values per row, save_list_rows once, commit: ((added, changed, unchanged), figures)."""
    from app.extensions import db
    from app.services import admissions, identity
    from app.services.errors import DomainError
    acct = account(s, f"county_{args.county}")
    s.commit()
    checked, errors = [], {}
    targets = [(admissions, n) for n in ("find_graduate", "standing_graduation", "plan_of", "_school_by_code",
                                         "admission_year", "_county_actor", "stage_code")] + [(identity, "normalise")]
    with frozen(SEASON_AT), Statements(db.engine) as st_check, Phases(targets) as ph:
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            try:
                checked.append(admissions.list_row_values(s, acct, v))
            except DomainError as exc:
                errors[i] = exc.message
        t_check = time.perf_counter() - t0
    with frozen(SEASON_AT), Statements(db.engine) as st_save:
        t1 = time.perf_counter()
        result = admissions.save_list_rows(s, acct, checked)
        t_save = time.perf_counter() - t1
        t2 = time.perf_counter()
        s.commit()
        t_commit = time.perf_counter() - t2
    n = len(values)
    print(f"  list_row_values × {n:,}: {t_check:.2f} s ({rate(n, t_check)}), {st_check.count:,} statements "
          f"({st_check.count / max(n, 1):.2f} per row); {len(errors)} refused", flush=True)
    st_check.print_top(n, top=10)
    ph.print()
    print(f"  save_list_rows (once, {len(checked):,} rows): {t_save:.2f} s ({rate(len(checked), t_save)}), "
          f"{st_save.count:,} statements; commit {t_commit:.2f} s → added/changed/unchanged {result}", flush=True)
    st_save.print_top(n, top=6)
    if errors:
        for i, msg in list(errors.items())[:5]:
            print(f"    row {i}: {msg}")
    return result, {"check": (t_check, st_check.count), "save": (t_save + t_commit, st_save.count),
                    "errors": len(errors), "rows": n, "label": label}


def step_list(args, s, juniors, checks, summary):
    from app.extensions import db
    values = list_values(s, args, juniors)
    print(f"\n1. the unified list: {len(values):,} rows (1 per graduate, every 10th by 个人标识码) for "
          f"{len(juniors)} junior schools, checked and stored as county_{args.county} (clock {SEASON_AT:%Y-%m-%d %H:%M})",
          flush=True)
    result, fig = import_list(s, args, values, "first")
    checks(result == (len(values), 0, 0) and fig["errors"] == 0 and len(values) == args.graduates,
           f"list: {result[0]:,} added of {len(values):,} rows, {fig['errors']} refused")
    summary["list"] = fig
    print(f"  VACUUM ANALYZE {vacuum(('admission_list_row',)):.1f} s", flush=True)
    db.session.remove()  # a new import: a new request, a new session (its school cache gone)
    s = db.session
    print("\n1b. the same rows again (a re-upload, fresh session): all must be unchanged", flush=True)
    result, fig = import_list(s, args, values, "again")
    checks(result == (0, 0, len(values)) and fig["errors"] == 0, f"list again: added/changed/unchanged {result}")
    summary["list_again"] = fig
    return s


def step_admit(args, s, juniors, checks, summary):
    from sqlalchemy import select
    from app.extensions import db
    from app.models.admission import AdmissionListRow
    from app.services import admissions, calendars, requests
    print(f"\n2. 统一招生录取: each school admits its rows, admissions.admit_from_list as its account, "
          f"{args.batch:,} rows a call, commit after each", flush=True)
    year = admissions.admission_year(s, SEASON_AT.date())
    targets = [(admissions, n) for n in ("_admit", "admission_year", "_target", "plan_of", "_check_graduate",
                                         "standing_graduation", "_admitted_elsewhere", "pending_admissions",
                                         "_take_seat", "_detect_duplicate", "_admission_route", "_county_of")] + \
              [(requests, "start"), (requests, "ensure_unlocked"), (requests, "open_locking_request"),
               (calendars, "check"), (calendars, "rules_for")]
    total, failed, batches, t_commit = 0, {}, [], 0.0
    t_all = time.perf_counter()
    with frozen(SEASON_AT), Statements(db.engine) as st, Phases(targets) as ph:
        for school in juniors:
            acct = account(s, f"school_{school.school_code}")
            ids = s.scalars(select(AdmissionListRow.id).where(AdmissionListRow.to_school_id == school.id,
                                                              AdmissionListRow.year_id == year.id)
                            .order_by(AdmissionListRow.id)).all()
            t_school = time.perf_counter()
            for i in range(0, len(ids), args.batch):
                t0 = time.perf_counter()
                done, bad = admissions.admit_from_list(s, acct, ids[i:i + args.batch])
                t1 = time.perf_counter()
                s.commit()
                t_commit += time.perf_counter() - t1
                batches.append(t1 - t0)
                total += len(done)
                failed.update(bad)
            n_school = len(ids)
            took = time.perf_counter() - t_school
            print(f"  {school.name:<22} {n_school:>6,} rows in {took:7.2f} s ({rate(n_school, took)})", flush=True)
    t_total = time.perf_counter() - t_all
    print(f"  TOTAL {total:,} admitted in {t_total:.2f} s ({rate(total, t_total)}; per {args.batch:,}-row call: "
          f"min {min(batches):.2f} s, max {max(batches):.2f} s; commits {t_commit:.2f} s); {st.count:,} statements = "
          f"{st.count / max(total, 1):.1f} per row; {len(failed)} refused", flush=True)
    for rid, msg in list(failed.items())[:5]:
        print(f"    row {rid}: {msg}")
    st.print_top(total, top=25)
    ph.print()
    summary["admit"] = (total, t_total, st.count, len(failed))
    checks(total == args.graduates and not failed, f"admit: {total:,} admitted, {len(failed)} refused")
    print(f"  VACUUM ANALYZE {vacuum(('admission', 'request', 'request_step', 'enrollment_plan', 'admission_list_row')):.1f} s",
          flush=True)


def step_approve(args, s, checks, summary):
    from sqlalchemy import func, select
    from app.extensions import db
    from app.models.requests import Request, RequestState, RequestStep
    from app.services import admissions, graduation, requests, students
    county = county_unit(s, args.county)
    acct = account(s, f"county_{args.county}")
    print(f"\n3. 新生录取核办: {acct.username} approves with requests.bulk_approve, {args.batch:,} a call, "
          f"commit after each", flush=True)
    with frozen(SEASON_AT):
        t = time.perf_counter()
        pending = requests.pending_count(s, acct)
        t_count = time.perf_counter() - t
        t = time.perf_counter()
        first = s.scalars(requests.inbox_query(acct, type_name=admissions.ADMISSION).limit(50)).all()
        t_page = time.perf_counter() - t
        s.rollback()
        print(f"  inbox: pending_count {pending:,} in {t_count * 1000:.0f} ms; first page (50) in {t_page * 1000:.0f} ms "
              f"({len(first)} rows)", flush=True)
        ids = s.scalars(select(Request.id).join(RequestStep, (RequestStep.request_id == Request.id)
                                                & (RequestStep.seq == Request.current_step))
                        .where(Request.state == RequestState.PENDING, Request.type == admissions.ADMISSION,
                               RequestStep.org_unit_id == county.id).order_by(Request.id)).all()
        s.rollback()
        targets = [(requests, n) for n in ("approve", "_load_for_decision", "_claim", "_ended", "in_arbitration")] + \
                  [(admissions, n) for n in ("_on_approve", "_move_record", "_check_graduate", "_admitted_elsewhere",
                                             "_guard_contested")] + \
                  [(graduation, "record_admission"), (students, "_close_history")]
        total, failed, batches, t_commit = 0, {}, [], 0.0
        t_all = time.perf_counter()
        with Statements(db.engine) as st, Phases(targets) as ph:
            for i in range(0, len(ids), args.batch):
                t0 = time.perf_counter()
                done, bad = requests.bulk_approve(s, acct, ids[i:i + args.batch])
                t1 = time.perf_counter()
                s.commit()
                t_commit += time.perf_counter() - t1
                batches.append(t1 - t0)
                total += len(done)
                failed.update(bad)
                if (i // args.batch) % 5 == 4:
                    print(f"    {total:>7,} / {len(ids):,}  {time.perf_counter() - t_all:7.1f} s", flush=True)
        t_total = time.perf_counter() - t_all
    print(f"  TOTAL {total:,} approved in {t_total:.2f} s ({rate(total, t_total)}; per {args.batch:,}-request call: "
          f"min {min(batches or [0]):.2f} s, max {max(batches or [0]):.2f} s; commits {t_commit:.2f} s); "
          f"{st.count:,} statements = {st.count / max(total, 1):.1f} per request; {len(failed)} refused", flush=True)
    for rid, msg in list(failed.items())[:5]:
        print(f"    request {rid}: {msg}")
    st.print_top(total, top=25)
    ph.print()
    print("    (admissions._guard_contested is registered as the request type's guard before the wrap: not timed)")
    summary["approve"] = (total, t_total, st.count, len(failed))
    summary["inbox"] = (pending, t_count, t_page)
    checks(total == len(ids) == args.graduates and not failed,
           f"approve: {total:,} approved of {len(ids):,} pending, {len(failed)} refused")


def step_checks(args, s, juniors, checks):
    from sqlalchemy import func, select
    from app.models.admission import (Admission, AdmissionListRow, AdmissionState, DuplicateAdmission,
                                      EnrollmentPlan)
    from app.models.school_year import Graduation
    from app.models.student import Student, StudentStatus
    from app.services import admissions
    print("\n4. checks", flush=True)
    county = county_unit(s, args.county)
    year = admissions.admission_year(s, SEASON_AT.date())
    plans = s.scalars(select(EnrollmentPlan).where(EnrollmentPlan.year_id == year.id,
                                                   EnrollmentPlan.school_path.startswith(county.path))).all()
    bad = [(p.school.name, p.used, admissions.admitted_count(s, p.id)) for p in plans
           if p.used != admissions.admitted_count(s, p.id)]
    used = sum(p.used for p in plans)
    checks(not bad and used == args.graduates, f"plan.used = approved admissions for each of {len(plans)} plans "
                                               f"(Σ used {used:,}){'; differ: ' + str(bad[:3]) if bad else ''}")
    grads = select(Graduation.student_id).where(Graduation.school_path.startswith(county.path), Graduation.stage == "1")
    junior_ids = [sc.id for sc in juniors]
    n_grad = s.scalar(select(func.count()).select_from(grads.subquery()))
    placed = s.scalar(select(func.count()).select_from(Student).where(
        Student.id.in_(grads), Student.status == StudentStatus.IN_SCHOOL, Student.grade == "21",
        Student.school_id.in_(junior_ids)))
    checks(placed == n_grad == args.graduates, f"every graduate 在校 in grade 21 of a junior school: {placed:,} of {n_grad:,}")
    dest = dict(s.execute(select(func.coalesce(Graduation.destination, "(none)"), func.count())
                          .where(Graduation.school_path.startswith(county.path), Graduation.stage == "1")
                          .group_by(Graduation.destination)).all())
    by_adm = s.scalar(select(func.count()).select_from(Graduation).where(
        Graduation.school_path.startswith(county.path), Graduation.stage == "1",
        Graduation.destination_by_admission.is_(True)))
    checks(dest == {"09": args.graduates} and by_adm == args.graduates,
           f"graduations' 去向: {dest} ({by_adm:,} set by admission)")
    dups = s.scalar(select(func.count()).select_from(DuplicateAdmission))
    states = dict(s.execute(select(Admission.state, func.count()).group_by(Admission.state)).all())
    checks(dups == 0, f"duplicate-admission cases: {dups}; admissions by state: "
                      + ", ".join(f"{k.value} {v:,}" for k, v in states.items()))
    linked = s.scalar(select(func.count()).select_from(AdmissionListRow).where(AdmissionListRow.admission_id.is_not(None)))
    checks(linked == args.graduates, f"list rows linked to their admission: {linked:,}")
    s.rollback()


# ---------------------------------------------------------------- main

def print_summary(args, summary, checks, setup_s):
    print("\n" + "=" * 110)
    print(f"SUMMARY  county {args.county}, {args.graduates:,} graduates, background {args.background:,}; PostgreSQL; "
          f"{os.cpu_count()} cores, load average now {os.getloadavg()[0]:.2f} (other work on the machine makes "
          f"figures noisy)")
    if setup_s is not None:
        print(f"  set-up (schema, demo, students; the template with --reuse): {setup_s:.1f} s")
    rows = []
    n, t, c = summary["graduation"]
    rows.append(("毕业 (graduation.graduate per primary school)", n, t, c))
    k, t, c = summary["plans"]
    rows.append((f"plans (set_plan × {k})", k, t, c))
    for key, title in (("list", "list: list_row_values per row"), ("list_again", "list again: list_row_values")):
        f = summary[key]
        rows.append((title, f["rows"], *f["check"]))
        rows.append((title.split(":")[0] + ": save_list_rows once + commit", f["rows"], *f["save"]))
    n, t, c, _ = summary["admit"]
    rows.append((f"admit_from_list ({args.batch:,} a call)", n, t, c))
    pending, t_count, t_page = summary["inbox"]
    rows.append(("inbox pending_count + first page", pending, t_count + t_page, None))
    n, t, c, _ = summary["approve"]
    rows.append((f"bulk_approve ({args.batch:,} a call)", n, t, c))
    w = max(len(r[0]) for r in rows)
    print(f"  {'phase':<{w}}  {'rows':>7}  {'time':>9}  {'rows/s':>9}  {'statements':>10}  {'per row':>7}")
    for label, n, t, c in rows:
        print(f"  {label:<{w}}  {n:>7,}  {t:>7.2f} s  {(n / t if t else 0):>9,.0f}  "
              f"{(f'{c:,}' if c is not None else '—'):>10}  {(f'{c / n:.1f}' if c is not None and n else '—'):>7}")
    season = summary["list"]["check"][0] + summary["list"]["save"][0] + summary["admit"][1] + summary["approve"][1]
    print(f"  the season's writes (list + save + admit + approve): {season:.1f} s for {args.graduates:,} graduates")
    fails = [label for ok, label in checks.rows if not ok]
    print(f"  CHECKS: {len(checks.rows) - len(fails)}/{len(checks.rows)} passed"
          + ("" if not fails else " — FAILED: " + "; ".join(fails)))


def main():
    global DB_NAME, TEMPLATE_NAME, PG_URL, ADMIN_URL
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--graduates", type=int, default=20_000, help="primary graduates of the county")
    ap.add_argument("--county", default="360102", help="the county (region code; default 东湖区)")
    ap.add_argument("--background", type=int, default=100_000,
                    help="students generated province-wide besides the graduates (table sizes)")
    ap.add_argument("--primary-schools", type=int, default=10, help="primary schools in the county (added as needed)")
    ap.add_argument("--junior-schools", type=int, default=0,
                    help=f"schools teaching grade 21 in the county (added as needed; 0: graduates / {SEATS_PER_JUNIOR:,})")
    ap.add_argument("--slack", type=float, default=0.02, help="quotas sum to graduates × (1 + slack)")
    ap.add_argument("--batch", type=int, default=1000, help="rows (requests) per admit_from_list (bulk_approve) call")
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--reuse", action="store_true", help="keep the generated registry as <dbname>_base and start "
                                                         "from a copy of it when it exists")
    ap.add_argument("--keep", action="store_true", help="keep the database at the end")
    ap.add_argument("--clean", action="store_true", help="drop the database and its template, then exit")
    ap.add_argument("--dbname", default=DB_NAME)
    ap.add_argument("--port", type=int, default=PORT)
    args = ap.parse_args()
    if args.dbname == "test" or not re.fullmatch(r"[a-z_][a-z0-9_]*", args.dbname):
        sys.exit("--dbname: a lower-case name of its own (never the tests' database `test`)")
    DB_NAME, TEMPLATE_NAME = args.dbname, f"{args.dbname}_base"
    PG_URL = f"postgresql+psycopg://postgres@127.0.0.1:{args.port}/{DB_NAME}"
    ADMIN_URL = f"postgresql://postgres@127.0.0.1:{args.port}/postgres"
    if args.clean:
        drop_db(DB_NAME)
        drop_db(TEMPLATE_NAME)
        print(f"dropped {DB_NAME} and {TEMPLATE_NAME}")
        return
    tmp = tempfile.mkdtemp(prefix="bench_admissions_")
    os.environ["DATABASE_URL"] = PG_URL
    print(f"database {DB_NAME}; county {args.county}: {args.graduates:,} graduates; background {args.background:,}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    app, setup_s = prepare_database(args, tmp)

    from sqlalchemy import text
    from app.extensions import db
    checks, summary = Checks(), {}
    try:
        with app.app_context():
            s = db.session
            print(f"PostgreSQL {s.execute(text('SHOW server_version')).scalar()}", flush=True)
            s.rollback()
            step_years_and_graduation(args, s, checks, summary)
            with frozen(SEASON_AT):
                juniors = step_plans(args, s, summary)
            s = step_list(args, s, juniors, checks, summary)
            juniors = junior_schools(schools_of(s, county_unit(s, args.county)))
            step_admit(args, s, juniors, checks, summary)
            step_approve(args, s, checks, summary)
            step_checks(args, s, juniors, checks)
            print_summary(args, summary, checks, setup_s)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if not args.keep:
            drop_db(DB_NAME)
            print(f"dropped database {DB_NAME}" + (f" (template {TEMPLATE_NAME} kept)" if args.reuse else ""))
    sys.exit(0 if checks.ok else 1)


if __name__ == "__main__":
    main()
