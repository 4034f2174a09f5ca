"""The one RQ entry point. It runs inside `rq worker` (production) or the in-process thread."""
import datetime
import logging
import traceback

from flask import current_app, has_app_context

log = logging.getLogger(__name__)
_app = None


def bind_app(app):
    global _app
    _app = app


def _get_app():
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:  # inside `rq worker`: build the app from the environment once per process
        from app import create_app
        _app = create_app()
    return _app


class Progress:
    """Reports progress into the RQ job's meta (cheap, no database transaction)."""

    def __init__(self, rq_job):
        self.rq_job = rq_job

    def __call__(self, percent, message=None):
        if self.rq_job is None:
            return
        self.rq_job.meta["progress"] = max(0, min(100, int(percent)))
        if message is not None:
            self.rq_job.meta["message"] = str(message)
        self.rq_job.save_meta()


def execute(job_id):
    from rq import get_current_job

    from app.extensions import db
    from app.jobs import JOB_KINDS
    from app.models.job import Job, JobState
    from app.services.context import acting_as
    from app.services.errors import DomainError

    app = _get_app()
    with app.app_context():
        session = db.session
        job = session.get(Job, job_id)
        if job is None or job.state != JobState.QUEUED:
            return  # exactly once: a re-delivered job does nothing
        job.state = JobState.RUNNING
        job.started_at = datetime.datetime.now()
        session.commit()
        progress = Progress(get_current_job())
        actor = job.actor
        spec = JOB_KINDS[job.kind]
        try:
            with acting_as(actor, reason=f"任务 #{job.id} {spec.label}"):
                result = spec.func(session, actor, job.params or {}, progress) or {}
            session.commit()
        except DomainError as exc:
            session.rollback()
            _finish(session, job_id, JobState.FAILED, exc.message)
            return
        except Exception:
            session.rollback()
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            _finish(session, job_id, JobState.FAILED, "任务执行出错，已全部回滚，请联系平台管理员")
            return
        _finish(session, job_id, JobState.FINISHED, result.get("message") or "已完成",
                result_file=result.get("result_file"))
        session.remove() if hasattr(session, "remove") else None


def _finish(session, job_id, state, message, result_file=None):
    from app.models.job import Job
    job = session.get(Job, job_id)
    job.state = state
    job.message = message
    job.progress = 100 if state.value == "finished" else job.progress
    job.result_file = result_file
    job.finished_at = datetime.datetime.now()
    session.commit()
