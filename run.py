"""`python run.py`: migrate, load the demo province on an empty database, serve.

Environment: HOST (default 127.0.0.1), PORT (5000), LOAD_DEMO=0 to skip the demo,
DATABASE_URL / REDIS_URL for the production components (see README)."""
import os
import sys

from sqlalchemy import func, select

from app import create_app
from app.cli import print_accounts, setup_database
from app.extensions import db


def prepare(app):
    with app.app_context():
        setup_database()
        from app.models.org import OrgUnit
        empty = not db.session.scalar(select(func.count()).select_from(OrgUnit))
        if empty and app.config["LOAD_DEMO"] and "--no-demo" not in sys.argv:
            from app.services import demo
            print("首次启动：正在建立演示省份（江西）…", flush=True)
            demo.load_demo(db.session)
            if app.config["DEMO_STUDENTS"]:
                from app.services.demo_students import generate_students
                result = generate_students(db.session, app.config["DEMO_STUDENTS"])
                db.session.commit()
                print(f"演示学生 {result['students']} 名已建立（{result['seconds']:.1f} 秒）", flush=True)
            from app.services import demo_movements
            if demo_movements.seed(db.session):
                print("演示学籍异动已建立（转学确认、跨县审批、仲裁、休学各一件）", flush=True)
            found = demo_movements.seed_problems(db.session)
            if found:
                print(f"演示问题学籍 {found} 个（原系统迁入的重复、错误身份证号）已检测出", flush=True)
            from app.services import demo_school_year
            school_year = demo_school_year.seed(db.session)
            if school_year:
                print(demo_school_year.describe(school_year), flush=True)
            from app.services import demo_admission
            demo_admission.seed(db.session)  # 招生入学: plans, graduates waiting for admission
            from app.services import demo_zhongkao
            zhongkao = demo_zhongkao.seed(db.session)  # 中考: exam, registration, sites, seating
            if zhongkao:
                print(demo_zhongkao.describe(zhongkao), flush=True)
            print_accounts(demo.sample_accounts(db.session))
        elif not empty and app.config["LOAD_DEMO"]:
            from app.services import demo
            print_accounts(demo.sample_accounts(db.session))


def main():
    app = create_app()
    prepare(app)
    with app.app_context():
        from app.jobs import schedule
        when = schedule.arm()
        if when is not None:
            print(f"下一次自动升级：{when:%Y年%m月%d日 %H:%M}", flush=True)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    print(f"平台已启动：http://{host}:{port}/", flush=True)
    app.run(host=host, port=port, debug=False, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
