"""问题学籍检测 as a job: on demand from the screen or API, and on a schedule (`flask problems detect`
from cron, see docs/设计说明.md)."""
from flask_babel import lazy_gettext as _l

from app.jobs import job_kind


@job_kind("detect_problems", _l("问题学籍检测（全省）"))
def detect_problems(session, actor, params, progress):
    from app.services import problems
    problems.check_may_run_detection(actor)
    progress(5, "正在检测全省学籍")
    counts = problems.detect(session, actor)
    progress(100, "检测完成")
    return {"message": f"问题学籍检测完成：当前发现 {counts['found']:,} 条问题记录；新增问题 {counts['new']:,} 个，"
                       f"新加入 {counts['joined']:,} 条记录，已解决 {counts['resolved']:,} 个，未解决共 {counts['open']:,} 个"}
