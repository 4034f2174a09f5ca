"""Production entry point: `gunicorn wsgi:app` (run `flask setup` once per release first)."""
from app import create_app

app = create_app()

with app.app_context():  # schedule the next 升级 time point (an RQ scheduled job: run `rq worker --with-scheduler`)
    from sqlalchemy.exc import DBAPIError
    from app.extensions import db
    from app.jobs import schedule
    try:
        schedule.arm()
    except DBAPIError:  # a database not set up yet (`flask setup` / `flask db upgrade` import this module too)
        db.session.rollback()
        app.logger.warning("升级定时任务未安排：数据库尚未初始化，请先运行 flask setup")
