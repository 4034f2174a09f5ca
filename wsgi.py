"""Production entry point: `gunicorn wsgi:app` (run `flask setup` once per release first)."""
from app import create_app

app = create_app()

with app.app_context():  # schedule the next 升级 time point (an RQ scheduled job: run `rq worker --with-scheduler`)
    from app.jobs import schedule
    schedule.arm()
