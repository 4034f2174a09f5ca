"""Import screens (批量导入): a page per sheet spec with the template download and the upload form.

Thin: the upload goes to app.jobs.imports.start_import (the one entry point the API uses too: size
limit, the actor's right to the spec, staging, queueing); the import itself runs as a background
job whose progress and result file (the annotated workbook) are on 我的任务 (JobView). The
template is generated from the spec (app/imports/template.py).
"""
import io

from flask import abort, current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.forms import DynamicForm
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField, FileField

from app.extensions import db
from app.imports import spec as specs
from app.imports import specs as _registered  # noqa: F401  (registers every spec)
from app.imports.reader import MAX_ROWS
from app.imports.template import write_template
from app.jobs import job_status
from app.jobs.imports import start_import
from app.models.job import Job
from app.services import scope
from app.services.context import current_actor
from app.services.errors import DomainError
from app.views.base import run_service

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACCEPT = ".xlsx,.xls,.csv"


# ---------------------------------------------------------------- shared with the API

def usable_specs(actor):
    """The registered specs the actor may use (spec.may_use raises for the others)."""
    out = []
    for sheet in specs.SPECS.values():
        try:
            if sheet.may_use:
                sheet.may_use(actor)
        except DomainError:
            continue
        out.append(sheet)
    return out


def template_bytes(sheet):
    out = io.BytesIO()
    write_template(out, sheet, max_bytes=current_app.config.get("IMPORT_MAX_BYTES"))
    out.seek(0)
    return out


def template_response(sheet):
    return send_file(template_bytes(sheet), mimetype=XLSX, as_attachment=True,
                     download_name=f"{sheet.label}模板.xlsx", max_age=0)


def too_large_message():
    limit = current_app.config.get("IMPORT_MAX_BYTES", 50 * 1024 * 1024)
    return _("上传的文件过大：每个文件不能超过 %(mb)s MB。请把数据拆分成几个文件分别上传。", mb=limit // 1048576)


def label_of(sheet):
    """The import's name in the page's language: the spec's Chinese label is a msgid of the
    catalogue when some screen translates it already (e.g. 新生注册); otherwise it stays as is."""
    return _(str(sheet.label))


def _flag(value):
    return str(value or "").strip().lower() in ("1", "true", "on", "yes", "y", "是")


# ---------------------------------------------------------------- the screen

class ImportForm(DynamicForm):
    file = FileField(_l("导入文件"))
    valid_only = BooleanField(_l("只导入正确的行（有误的行返回标注文件）"))
    dry_run = BooleanField(_l("仅校验，不写入"))


class ImportView(BaseView):
    """批量导入: one page per import (spec): template, upload, recent import jobs."""

    route_base = "/importview"
    default_view = "index"

    def create_blueprint(self, appbuilder, endpoint=None, static_folder=None):
        bp = super().create_blueprint(appbuilder, endpoint=endpoint, static_folder=static_folder)
        # A body over MAX_CONTENT_LENGTH is refused (413) while the form is parsed (by the CSRF
        # check, before the view runs): answer with the upload page and a Chinese message.
        bp.register_error_handler(RequestEntityTooLarge, self._too_large)
        return bp

    def _too_large(self, error):
        if getattr(g, "user", None) is None:
            g.user = current_user  # the CSRF check may run before FAB's own before_request
        name = (request.view_args or {}).get("spec")
        sheet = specs.SPECS.get(name)
        message = too_large_message()
        if sheet is None or not getattr(current_actor(), "is_authenticated", False) or not self._may(sheet):
            return render_template("error.html", appbuilder=self.appbuilder, base_template=self.appbuilder.base_template,
                                   code=413, title=_("文件过大"), message=message), 413
        flash(message, "danger")
        return self._page(sheet, ImportForm(formdata=None)), 413

    def _may(self, sheet):
        return (self.appbuilder.sm.has_access("can_upload", self.class_permission_name)
                and sheet in usable_specs(current_actor()))

    def _sheet(self, name):
        sheet = specs.SPECS.get(name)
        if sheet is None:
            abort(404)
        if sheet.may_use:
            try:
                sheet.may_use(current_actor())
            except DomainError:
                abort(403)
        return sheet

    @expose("/")
    @has_access
    def index(self):
        usable = usable_specs(current_actor())
        if len(usable) == 1:
            return redirect(url_for(".upload", spec=usable[0].name))
        return self.render_template("imports/index.html", title=_("批量导入"), sheets=usable)

    @expose("/<string:spec>/", methods=["GET", "POST"])
    @has_access
    def upload(self, spec):
        sheet = self._sheet(spec)
        if request.method == "GET":
            return self._page(sheet, ImportForm(formdata=None))
        form = ImportForm()
        upload = request.files.get("file")
        filename = upload.filename if upload is not None else ""
        data = upload.read() if upload is not None and filename else b""
        valid_only, dry_run = _flag(request.form.get("valid_only")), _flag(request.form.get("dry_run"))

        def submit(session, actor):
            return start_import(session, actor, sheet.name, filename, data, valid_only=valid_only, dry_run=dry_run)

        ok, job = run_service(submit)
        if not ok:
            return self._page(sheet, form, reselect=bool(filename))
        if dry_run:
            flash(_("已提交校验任务 #%(id)s（仅校验，不写入数据），可在“我的任务”查看结果", id=job.id), "success")
        else:
            flash(_("已提交导入任务 #%(id)s，可在“我的任务”查看进度", id=job.id), "success")
        return redirect(url_for("JobView.list"))

    @expose("/<string:spec>/template")
    @has_access
    def template(self, spec):
        return template_response(self._sheet(spec))

    # ------------------------------------------------------------ page

    def _page(self, sheet, form, reselect=False):
        actor = current_actor()
        sm = self.appbuilder.sm
        links = []
        if sheet.name == "new_students":
            if sm.has_access("can_register", "StudentView"):
                links.append((url_for("StudentView.register"), _("新生注册（逐个录入）"), "fa-user-plus"))
            if sm.has_access("can_lookup", "LookupView"):
                links.append((url_for("LookupView.lookup"), _("全省学籍查询"), "fa-search"))
        for endpoint, view, label, icon in (("MyRequestsView.list", "MyRequestsView", _("我的申请"), "fa-paper-plane"),
                                            ("InboxView.list", "InboxView", _("审批待办"), "fa-inbox")):
            if endpoint in current_app.view_functions and sm.has_access("can_list", view):
                links.append((url_for(endpoint), label, icon))
        jobs = (db.session.query(Job).filter(scope.clause(actor, Job), Job.kind == "import")
                .order_by(Job.id.desc()).limit(50).all())
        jobs = [j for j in jobs if (j.params or {}).get("spec") == sheet.name][:5]
        recent = [dict(job_status(j), state_label=str(j.state.label), dry_run=bool((j.params or {}).get("dry_run")),
                       valid_only=bool((j.params or {}).get("valid_only")), filename=(j.params or {}).get("filename"),
                       created_at=j.created_at.strftime("%Y-%m-%d %H:%M") if j.created_at else "")
                  for j in jobs]
        return self.render_template(
            "imports/upload.html", title=_("批量导入：%(label)s", label=label_of(sheet)), sheet=sheet, form=form,
            required=[c.header for c in sheet.columns if c.required],
            optional=[c.header for c in sheet.columns if not c.required],
            links=links, recent=recent, accept=ACCEPT, reselect=reselect, max_rows=MAX_ROWS,
            max_bytes=current_app.config.get("IMPORT_MAX_BYTES", 50 * 1024 * 1024),
            several=len(usable_specs(actor)) > 1, too_large=too_large_message(),
        )


def register(appbuilder):
    from app.api.imports import ImportApi
    appbuilder.add_view(ImportView, "Imports", label=_l("批量导入"), icon="fa-upload",
                        category="Registry", category_label=_l("学籍管理"), category_icon="fa-id-card")
    appbuilder.add_api(ImportApi)
