"""Export jobs: a list screen's export too large to stream in the response (app/exports/)."""
from flask_babel import lazy_gettext as _l

from app.jobs import job_kind


def _job_id():
    """Our Job id: the runner is enqueued as execute(job.id)."""
    try:
        from rq import get_current_job
        rq_job = get_current_job()
        return rq_job.args[0] if rq_job is not None and rq_job.args else None
    except Exception:  # outside a worker (CLI, bench)
        return None


@job_kind("export_list", _l("导出列表（Excel）"))
def export_list(session, actor, params, progress):
    """params: {"view": list view class name, "args": [[key, value], ...] of the list's query
    string, "locale": the screen's language}."""
    from app.exports.service import run_export_job
    return run_export_job(session, actor, params, progress, job_id=_job_id())


@job_kind("export_org_units", _l("导出机构与学校名录"))
def export_org_units(session, actor, params, progress):
    """The whole 机构与学校 list in the actor's scope (the former directory export, kept for
    POST /orgunitview/export and jobs already queued): the generic export of OrgUnitView."""
    from app.exports.service import run_export_job
    result = run_export_job(session, actor, {**(params or {}), "view": "OrgUnitView", "args": []},
                            progress, job_id=_job_id())
    result["message"] = f"共导出 {result['count']} 个机构"
    return result
