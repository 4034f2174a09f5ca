"""Background jobs on RQ. With REDIS_URL set, jobs go to Redis and `rq worker` runs them; without,
an in-process SimpleWorker thread runs them against a shared fakeredis server. Either way the job
function is `app.jobs.runner.execute(job_id)`, and live progress lives in the RQ job's meta."""
import datetime
import threading
from dataclasses import dataclass
from typing import Callable

from flask import current_app, url_for

from app.models.job import Job, JobState
from app.services.errors import DomainError


@dataclass
class JobKind:
    name: str
    label: str
    func: Callable  # func(session, actor, params, progress) -> dict(result_file=..., message=...)


JOB_KINDS: dict[str, JobKind] = {}


def job_kind(name, label):
    def register(func):
        JOB_KINDS[name] = JobKind(name, label, func)
        return func
    return register


_fake_server = None
_worker_thread = None
_lock = threading.Lock()


def redis_connection(app=None):
    app = app or current_app
    url = app.config.get("REDIS_URL")
    if url:
        from redis import Redis
        return Redis.from_url(url)
    global _fake_server
    import fakeredis
    with _lock:
        if _fake_server is None:
            _fake_server = fakeredis.FakeServer()
    return fakeredis.FakeStrictRedis(server=_fake_server)


def queue(app=None):
    from rq import Queue
    app = app or current_app
    return Queue(app.config["JOB_QUEUE"], connection=redis_connection(app))


def _ensure_inprocess_worker(app):
    """Start one daemon thread running an RQ SimpleWorker (embedded mode only)."""
    global _worker_thread
    with _lock:
        if _worker_thread is not None and _worker_thread.is_alive():
            return
        from rq import SimpleWorker
        from rq.timeouts import TimerDeathPenalty

        class ThreadWorker(SimpleWorker):
            death_penalty_class = TimerDeathPenalty

            def _install_signal_handlers(self):  # signals only work in the main thread
                pass

        def run():
            from app.jobs import runner
            runner.bind_app(app)
            worker = ThreadWorker([queue(app)], connection=redis_connection(app))
            worker.work(with_scheduler=False, logging_level="WARNING")

        _worker_thread = threading.Thread(target=run, name="inprocess-rq-worker", daemon=True)
        _worker_thread.start()


def enqueue(session, actor, kind, params=None):
    """Create the Job row (committed, so the worker can see it) and queue its execution."""
    if kind not in JOB_KINDS:
        raise DomainError("未知的任务类型")
    job = Job(kind=kind, actor_id=actor.id, params=params or {}, state=JobState.QUEUED, progress=0)
    session.add(job)
    session.commit()
    app = current_app._get_current_object()
    rq_job = queue(app).enqueue("app.jobs.runner.execute", job.id, job_timeout=3600, result_ttl=86400)
    job.rq_id = rq_job.id
    session.commit()
    if not app.config.get("REDIS_URL"):
        _ensure_inprocess_worker(app)
    return job


def live_progress(job):
    """Progress from the RQ job's meta while running (no DB writes in the middle of a job)."""
    if job.state != JobState.RUNNING or not job.rq_id:
        return job.progress, job.message
    try:
        from rq.job import Job as RQJob
        meta = RQJob.fetch(job.rq_id, connection=redis_connection()).get_meta(refresh=True)
        return meta.get("progress", job.progress), meta.get("message", job.message)
    except Exception:  # the queue may have expired the job; the row still has the last state
        return job.progress, job.message


def job_status(job):
    progress, message = live_progress(job)
    return {
        "id": job.id,
        "kind": job.kind,
        "kind_label": job.kind_label,
        "state": job.state.value,
        "progress": int(progress or 0),
        "message": message,
        "download_url": url_for("JobView.download", pk=job.id) if job.result_file and job.state == JobState.FINISHED else None,
        "finished_at": job.finished_at.isoformat(sep=" ", timespec="seconds") if job.finished_at else None,
    }


def wait_for(session, job_id, timeout=60.0, poll=0.1):
    """Block until a job has ended (tests, CLI)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.expire_all()
        job = session.get(Job, job_id)
        if job.state in (JobState.FINISHED, JobState.FAILED):
            return job
        time.sleep(poll)
    raise TimeoutError(f"job {job_id} still {job.state.value} after {timeout}s")


# Register the job kinds.
from app.jobs import exports, imports, problems  # noqa: E402,F401
