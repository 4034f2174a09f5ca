"""Foundation figures: demo province build (bulk), scoped subtree queries on the materialized path,
and the scoped workbook export. Prints figures; never part of the tests' pass/fail.

    .venv/bin/python bench/bench_foundation.py [--schools-per-county 3] [--extra-schools 100000]
Uses DATABASE_URL if set (e.g. PostgreSQL), else a temporary SQLite file."""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(label, fn):
    t = time.perf_counter()
    result = fn()
    print(f"{label:<48}{time.perf_counter() - t:8.3f} s")
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schools-per-county", type=int, default=3)
    ap.add_argument("--extra-schools", type=int, default=100_000,
                    help="synthetic schools bulk-inserted to see path queries at scale")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"

    from sqlalchemy import func, insert, select, text
    from app import create_app
    from app.extensions import db
    from app.models import Account, OrgUnit
    from app.models.org import OrgKind, Ownership, SchoolType
    from app.services import demo, scope

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_DIR": tmp, "JOB_RESULT_DIR": tmp, "REDIS_URL": ""})
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE")); conn.execute(text("CREATE SCHEMA public"))
        from app.cli import setup_database
        timed("migrate + roles", setup_database)
        timed(f"demo province (江西, {args.schools_per_county}/county)", lambda: demo.load_demo(db.session, schools_per_county=args.schools_per_county))
        timed("demo again (idempotent, nothing added)", lambda: demo.load_demo(db.session, schools_per_county=args.schools_per_county))
        counties = db.session.execute(select(OrgUnit.id, OrgUnit.path, OrgUnit.region_code).where(OrgUnit.kind == OrgKind.COUNTY)).all()

        def synthetic():
            rows = []
            for i in range(args.extra_schools):
                cid, cpath, region = counties[i % len(counties)]
                code = f"9{i:09d}"
                rows.append({"kind": OrgKind.SCHOOL, "name": f"合成学校{i}", "region_code": region, "parent_id": cid,
                             "path": f"{cpath}{code}/", "school_code": code, "school_type": SchoolType.PRIMARY,
                             "ownership": Ownership.PUBLIC, "may_enroll": True, "active": True})
            for start in range(0, len(rows), 10_000):
                db.session.execute(insert(OrgUnit), rows[start:start + 10_000])
            db.session.commit()
        if args.extra_schools:
            timed(f"bulk insert {args.extra_schools} synthetic schools", synthetic)
        total = db.session.scalar(select(func.count()).select_from(OrgUnit))
        print(f"org units in database: {total}")
        county = db.session.scalar(select(Account).where(Account.username == "county_360102"))
        province = db.session.scalar(select(Account).where(Account.username == "sheng_admin"))
        for who, actor in (("county", county), ("province", province)):
            q = select(func.count()).select_from(OrgUnit).where(scope.clause(actor, OrgUnit))
            n = timed(f"scoped count as {who} officer (x20)", lambda: [db.session.scalar(q) for _ in range(20)])[0]
            print(f"  -> {n} units visible")
            page = select(OrgUnit).where(scope.clause(actor, OrgUnit)).order_by(OrgUnit.path).limit(20)
            timed(f"scoped first page as {who} officer (x20)", lambda: [db.session.scalars(page).all() for _ in range(20)])
        from app.jobs.exports import export_org_units
        timed("export workbook as province officer", lambda: export_org_units(db.session, province, {}, lambda *a: None))


if __name__ == "__main__":
    main()
