"""The job runner: queue transport (in-process thread, or Redis + a real `rq worker`), exactly-once
execution, failure rolls back everything and reports in Chinese, live progress on 我的任务."""
import datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import JOB_KINDS, JobKind, enqueue, job_status, queue, redis_connection
from app.jobs import runner
from app.models import Job, JobState, OrgUnit
from app.models.org import OrgKind, Ownership, SchoolType
from app.services.errors import DomainError
from tests.conftest import account, finish_jobs, unit


@pytest.fixture
def test_kinds():
    def writes_then_fails(session, actor, params, progress):
        county = unit(session, "360102")
        session.add(OrgUnit(kind=OrgKind.SCHOOL, name="半途而废学校", region_code="360102", parent_id=county.id,
                            path=county.path + "3601029999/", school_code="3601029999",
                            school_type=SchoolType.PRIMARY, ownership=Ownership.PUBLIC))
        session.flush()
        if params.get("domain"):
            raise DomainError("第 3 行：身份证号校验位错误")
        raise RuntimeError("boom")

    def counts(session, actor, params, progress):
        progress(50, "一半")
        params_seen.append(actor.username)
        return {"message": "完成"}

    params_seen = []
    JOB_KINDS["t_fail"] = JobKind("t_fail", "测试失败任务", writes_then_fails)
    JOB_KINDS["t_ok"] = JobKind("t_ok", "测试任务", counts)
    yield params_seen
    JOB_KINDS.pop("t_fail")
    JOB_KINDS.pop("t_ok")


def _job(app, kind, actor_name="county_360102", params=None):
    with app.app_context():
        actor = account(db.session, actor_name)
        job = Job(kind=kind, actor_id=actor.id, params=params or {}, state=JobState.QUEUED)
        db.session.add(job)
        db.session.commit()
        return job.id


@pytest.mark.parametrize("params, message", [
    ({"domain": True}, "第 3 行：身份证号校验位错误"),
    ({}, "任务执行出错，已全部回滚"),
])
def test_failure_rolls_back_and_reports_in_chinese(app, test_kinds, params, message):
    job_id = _job(app, "t_fail", params=params)
    with app.app_context():
        runner.execute(job_id)
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.state == JobState.FAILED and message in job.message
        assert unit(db.session, "3601029999") is None


def test_runs_exactly_once_as_its_actor(app, test_kinds):
    job_id = _job(app, "t_ok")
    with app.app_context():
        runner.execute(job_id)
        runner.execute(job_id)  # a re-delivery does nothing
    assert test_kinds == ["county_360102"]
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.state == JobState.FINISHED and job.progress == 100 and job.message == "完成"
        assert job.started_at <= job.finished_at


def test_export_runs_through_the_configured_queue(app):
    """In-process thread on the embedded default; Redis + `rq worker` when REDIS_URL is set."""
    with app.app_context():
        actor = account(db.session, "city_360100")
        job_id = enqueue(db.session, actor, "export_org_units").id
    job = finish_jobs(app, job_id)
    assert job.state == JobState.FINISHED, job.message
    assert "共导出 7 个机构" in job.message  # 南昌市 + 东湖区, 西湖区 + their 4 schools


def test_live_progress_comes_from_the_queue(app):
    from rq import Queue
    with app.test_request_context():
        q = Queue(f"{app.config['JOB_QUEUE']}-idle", connection=redis_connection(app))  # no worker listens
        rq_job = q.enqueue("app.jobs.runner.execute", 0)
        rq_job.meta.update({"progress": 42, "message": "已写入 420/1000 行"})
        rq_job.save_meta()
        actor = account(db.session, "county_360102")
        job = Job(kind="export_org_units", actor_id=actor.id, state=JobState.RUNNING, rq_id=rq_job.id,
                  started_at=datetime.datetime.now())
        db.session.add(job)
        db.session.commit()
        status = job_status(job)
        assert status["progress"] == 42 and status["message"] == "已写入 420/1000 行"
        assert status["kind_label"] == "导出机构与学校名录"


def test_my_jobs_screen_lists_own_jobs(app, as_user):
    c = as_user("county_360102")
    c.post("/orgunitview/export")
    with app.app_context():
        job_id = db.session.scalars(select(Job)).one().id
    finish_jobs(app, job_id)
    html = c.get("/jobview/list/").get_data(as_text=True)
    assert "导出机构与学校名录" in html and "已完成" in html
    status = c.get("/jobview/status").json
    assert status[0]["state"] == "finished" and status[0]["download_url"]


def test_unknown_kind_is_refused(app):
    with app.app_context():
        with pytest.raises(DomainError, match="未知的任务类型"):
            enqueue(db.session, account(db.session, "county_360102"), "no_such_kind")
