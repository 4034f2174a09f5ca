"""我的任务: the actor's own background jobs with live progress and result download."""
import os

from flask import abort, jsonify, send_file
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.jobs import job_status
from app.models.job import Job, JobState
from app.services import scope
from app.services.context import current_actor
from app.services.errors import NotFound
from app.views.base import ScopedModelView, enum_label, formatters


class JobView(ScopedModelView):
    datamodel = SQLAInterface(Job)
    label = _l("任务")
    list_title = _l("我的任务")
    list_template = "jobs/list.html"
    base_permissions = ["can_list", "can_show", "can_status", "can_download"]
    label_columns = {
        "id": _l("编号"), "kind_label": _l("任务"), "state": _l("状态"), "progress": _l("进度"),
        "message": _l("说明"), "created_at": _l("提交时间"), "started_at": _l("开始时间"),
        "finished_at": _l("完成时间"), "result_file": _l("结果文件"),
    }
    list_columns = ["id", "kind_label", "state", "progress", "message", "created_at", "finished_at", "result_file"]
    show_columns = ["id", "kind_label", "state", "progress", "message", "created_at", "started_at", "finished_at", "result_file"]
    search_columns = ["created_at"]
    base_order = ("id", "desc")
    formatters_columns = formatters(["message", "created_at", "started_at", "finished_at"],
                                    result_file=lambda v: os.path.basename(v) if v else "",
                                    progress=lambda v: f"{v or 0}%", state=enum_label(JobState))

    @expose("/status")
    @has_access
    def status(self):
        """Live progress of the actor's jobs (polled by the list page)."""
        jobs = db.session.query(Job).filter(scope.clause(current_actor(), Job)).order_by(Job.id.desc()).limit(50).all()
        return jsonify([job_status(job) for job in jobs])

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        try:
            job = scope.get(db.session, current_actor(), Job, pk)
        except NotFound:
            abort(404)
        if not job.result_file or not os.path.exists(job.result_file):
            abort(404)
        return send_file(job.result_file, as_attachment=True, download_name=os.path.basename(job.result_file))
