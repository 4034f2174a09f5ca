"""Imports run as jobs: the upload is stored under the job results folder, the engine runs in the
job's one transaction (a crash rolls everything back), the annotated workbook is the result file."""
import os
import shutil
import uuid

from flask import current_app

from app.jobs import job_kind


def stage_upload(filename, data):
    """Keep the uploaded bytes for the worker (which may be another process or host)."""
    folder = os.path.join(current_app.config["JOB_RESULT_DIR"], "uploads", uuid.uuid4().hex)
    os.makedirs(folder, exist_ok=True)
    safe = os.path.basename(filename or "upload.xlsx").replace(os.sep, "_") or "upload.xlsx"
    path = os.path.join(folder, safe)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


@job_kind("import", "数据导入")
def run_import_job(session, actor, params, progress):
    from app.imports import engine, spec as specs
    from app.imports import specs as _registered  # noqa: F401  (the worker process registers the specs)
    sheet = specs.get(params["spec"])
    summary = engine.run_import(session, actor, sheet, params["path"], params["filename"],
                                valid_only=bool(params.get("valid_only")), dry_run=bool(params.get("dry_run")),
                                progress=progress)
    progress(100, summary["message"])
    return {"message": f"{sheet.label}：{summary['message']}（用时 {summary['seconds']} 秒）",
            "result_file": summary["error_file"]}


def start_import(session, actor, spec_name, filename, data, *, valid_only=False, dry_run=False):
    """The one entry point for screens and API: check the file's size and the actor's right, stage it,
    queue the job. Returns the Job."""
    from app.imports import spec as specs
    from app.imports import specs as _registered  # noqa: F401
    from app.jobs import enqueue
    from app.services.errors import DomainError
    sheet = specs.get(spec_name)
    if sheet.may_use:
        sheet.may_use(actor)
    if sheet.ready:  # e.g. outside its business-calendar window: refused before the upload is queued
        sheet.ready(session, actor)
    limit = current_app.config.get("IMPORT_MAX_BYTES", 50 * 1024 * 1024)
    if not filename or not data:
        raise DomainError("请选择要上传的文件")
    from app.imports.reader import file_kind
    file_kind(filename, data[:8])  # not a workbook/CSV: refused now, not after queueing
    if len(data) > limit:
        raise DomainError(f"文件过大（{len(data) / 1048576:.0f} MB），每个文件不能超过 {limit // 1048576} MB，请拆分后上传")
    path = stage_upload(filename, data)
    try:
        return enqueue(session, actor, "import", {"spec": spec_name, "path": path, "filename": filename,
                                                  "valid_only": valid_only, "dry_run": dry_run})
    except Exception:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
        raise
