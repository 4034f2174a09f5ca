"""Exports of list screens: small ones streamed in the response, large ones as a background job
('export_list'), every one audited. See app/exports/__init__.py for the overview."""
import contextlib
import datetime
import gc
import os
import tempfile
import threading
import uuid

from flask import current_app, flash, redirect, send_file, url_for
from flask_appbuilder.exceptions import ApplyFilterException
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import insert
from werkzeug.datastructures import MultiDict

from app.exports.sources import list_args
from app.exports.writer import XlsxListWriter
from app.models.audit import AuditLog
from app.services import scope
from app.services.context import current_actor
from app.services.errors import DomainError

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DEFAULT_SYNC_ROWS = 5000


def sync_limit(app=None):
    return int((app or current_app).config.get("EXPORT_SYNC_ROWS", DEFAULT_SYNC_ROWS))


def find_view(name):
    """The registered view instance of that class name that can export (the job keeps only the
    name: the worker, another thread or process, finds the same view in its own app)."""
    for view in current_app.appbuilder.baseviews:
        if view.__class__.__name__ == name and callable(getattr(view, "export_source", None)):
            return view
    raise DomainError("该列表不支持导出")


def file_name(title, actor=None, when=None):
    when = when or datetime.datetime.now()
    who = f"_{actor.username}" if actor is not None and getattr(actor, "username", None) else ""
    safe = "".join("_" if ch in '\\/:*?"<>|' else ch for ch in str(title)).strip() or "export"
    return f"{safe}{who}_{when:%Y%m%d%H%M%S}.xlsx"


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved = None


@contextlib.contextmanager
def fewer_gc_passes():
    """A large export makes millions of short-lived objects; with Python's default thresholds the
    cyclic GC then walks the whole application heap every few thousand rows (a third of the time
    of a 1M-row export, bench/bench_exports.py). Raise the thresholds while exports run (the setting
    is per process: the last export to end restores it). Memory is unaffected: rows are freed by
    reference counting; the GC only finds cycles, of which an export makes almost none."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], 50_000), max(_gc_saved[1], 50), max(_gc_saved[2], 1000))
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)


def write_workbook(source, target, progress=None, total=None):
    """Write the source's rows to `target` (a path). Returns the number of rows written."""
    def report(done):
        if progress is not None:
            progress(min(99, done * 100 // max(total or done, 1)), f"已写入 {done}/{total} 行")
    with fewer_gc_passes(), XlsxListWriter(target, source.title, source.headers) as writer:
        return writer.write_rows(source.rows(), progress=report)


def record_export(session, actor, source, count, job_id=None):
    """One audit entry per export: who, which list, which filters, how many rows, and whether
    full ID numbers went out (信息保密). Visible, like the export, from the actor's unit upwards."""
    with force_locale("zh"):  # stored data: Chinese, whatever the screen's language
        title = str(source.title)
        detail = f"{count} 行；筛选条件：{source.describe_filters()}"
    how = "导出 Excel" + (f"（后台任务 #{job_id}）" if job_id else "")
    if source.full_ids:
        how += "，含完整身份证件号"
    session.execute(insert(AuditLog), [{
        "created_at": datetime.datetime.now(), "actor_id": getattr(actor, "id", None),
        "actor_name": getattr(actor, "username", None) or "系统", "entity": source.entity,
        "entity_id": None, "entity_label": title[:255], "action": "export",
        "field": "id_number" if source.full_ids else None, "old_value": None, "new_value": detail,
        "reason": how[:255], "org_path": scope.actor_path(actor),
    }])


def export_response(view):
    """The export button of a list screen (a POST with the list's query string): the file itself
    when the list has at most EXPORT_SYNC_ROWS rows, else a background job and 我的任务."""
    from flask import request

    from app.extensions import db
    from app.jobs import enqueue

    actor = current_actor()
    args = list_args(request.args)
    try:
        source = view.export_source(MultiDict(args))
        total = source.count()
    except ApplyFilterException:  # e.g. a hand-made id that is not a number (PostgreSQL refuses it)
        db.session.rollback()
        flash(_("查询条件无效，请在列表页重新查询后再导出"), "danger")
        return redirect(url_for(f"{view.endpoint}.list"))
    limit = sync_limit()
    if total > limit:
        params = {"view": view.__class__.__name__, "args": args, "title": str(source.title),
                  "locale": str(get_locale() or current_app.config.get("BABEL_DEFAULT_LOCALE", "zh"))}
        try:
            job = enqueue(db.session, actor, "export_list", params)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for(f"{view.endpoint}.list"))
        flash(_("共 %(n)s 行，超过 %(limit)s 行，已转为后台导出（任务号 %(id)s），完成后请在“我的任务”中下载",
                n=total, limit=limit, id=job.id), "info")
        return redirect(url_for("JobView.list"))

    fd, path = tempfile.mkstemp(prefix="export-", suffix=".xlsx")
    os.close(fd)
    try:
        count = write_workbook(source, path)
        record_export(db.session, actor, source, count)
        db.session.commit()
        handle = open(path, "rb")
    finally:
        try:
            os.unlink(path)  # the open handle keeps the bytes until the response is sent
        except OSError:
            pass
    return send_file(handle, mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=file_name(source.title), max_age=0)


def result_path(name):
    folder = os.path.join(current_app.config["JOB_RESULT_DIR"], datetime.date.today().isoformat())
    os.makedirs(folder, exist_ok=True)
    stem, ext = os.path.splitext(name)
    path = os.path.join(folder, name)
    if os.path.exists(path):
        path = os.path.join(folder, f"{stem}_{uuid.uuid4().hex[:6]}{ext}")
    return path


def run_export_job(session, actor, params, progress, job_id=None):
    """The worker side: the same source, rebuilt from the saved arguments, as the job's actor
    (the runner sets services.context.acting_as, so scope and masking are the actor's)."""
    from app.services.context import acting_as, current_reason

    view = find_view(params.get("view") or "")
    locale = params.get("locale") or current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")
    with acting_as(actor, current_reason()), force_locale(locale):
        try:
            source = view.export_source(MultiDict(params.get("args") or []))
            total = source.count()
        except ApplyFilterException:
            raise DomainError("查询条件无效，请在列表页重新查询后再导出")
        progress(0, f"共 {total} 行，正在导出")
        path = result_path(file_name(source.title, actor))
        try:
            count = write_workbook(source, path, progress=progress, total=total)
        except BaseException:
            if os.path.exists(path):
                os.unlink(path)
            raise
        record_export(session, actor, source, count, job_id=job_id)
        title = str(source.title)
    progress(100, f"已写入 {count} 行")
    return {"result_file": path, "message": f"{title}：共导出 {count} 行", "count": count}
