"""Time-driven work: the 升级 at the province's time point.

The database is the truth (services.promotion.due_year); the scheduler only decides *when* to
look. `arm()` (at start-up and whenever a time point changes) schedules one `tick` at the nearest
time point: on Redis as an RQ scheduled job (`rq worker --with-scheduler` enqueues it when due;
the job id carries the time, so arming twice schedules it once), in the embedded mode as a timer
thread. `tick` runs whatever is due and arms the next one; running it early, late or twice is
harmless. `flask school-year promote --due` does the same from cron, as a fallback.
"""
import datetime
import logging
import threading

from flask import current_app, has_app_context

log = logging.getLogger(__name__)
_timer = None
_timer_lock = threading.Lock()


def _app():
    if has_app_context():
        return current_app._get_current_object()
    from app.jobs.runner import _get_app
    return _get_app()


def arm(session=None, app=None):
    """Schedule a tick at the next time point (if any). Returns that time point or None."""
    from app.extensions import db
    from app.services import clock, promotion
    app = app or _app()
    if not app.config.get("SCHEDULER_ENABLED", True):
        return None
    session = session or db.session
    now = clock.now()
    due = promotion.due_year(session, now)
    when = now if due is not None else promotion.next_time_point(session, now)
    if when is None:
        return None
    if app.config.get("REDIS_URL"):
        _arm_rq(app, when)
    else:
        _arm_timer(app, when, now)
    return when


def _job_id(when):
    return f"promotion-tick-{when:%Y%m%d%H%M}"


def _arm_rq(app, when):
    from app.jobs import queue
    q = queue(app)
    # RQ compares scheduled times in UTC; our time points are the province's local wall-clock time.
    at = when.astimezone(datetime.timezone.utc)
    q.enqueue_at(at, "app.jobs.schedule.tick", job_id=_job_id(when), result_ttl=86400)


def _arm_timer(app, when, now):
    global _timer
    delay = max(0.0, (when - now).total_seconds())
    with _timer_lock:
        if _timer is not None:
            _timer.cancel()
        _timer = threading.Timer(delay, _tick_in_thread, args=(app,))
        _timer.daemon = True
        _timer.name = "promotion-timer"
        _timer.start()


def armed_timer():
    return _timer


def _tick_in_thread(app):
    with app.app_context():
        tick()


def tick():
    """Run the promotion that is due (if any), commit, and arm the next time point."""
    from app.extensions import db
    from app.services import promotion
    app = _app()
    ctx = None if has_app_context() else app.app_context()
    if ctx is not None:
        ctx.push()
    try:
        session = db.session
        try:
            done = promotion.run_due(session)
            session.commit()
        except Exception:
            session.rollback()
            log.exception("scheduled promotion failed")
            raise
        if done is not None:
            log.warning("升级完成：%s，升级 %s 名，留在原年级 %s 名", done, done.promoted, done.held)
        arm(session, app)
        return done
    finally:
        if ctx is not None:
            ctx.pop()
