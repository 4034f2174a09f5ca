"""Evidence files (佐证, 无身份证号证明, 变更证明): checked, stored outside the database, scoped."""
import hashlib
import os
import uuid

from flask import current_app

from app.models.student import Attachment
from app.services import scope
from app.services.errors import DomainError

ALLOWED = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
MAX_BYTES = 10 * 1024 * 1024
KIND_LABELS = {"no_id_proof": "无身份证号证明", "evidence": "证明材料", "death_proof": "死亡证明",
               "written_request": "书面申请"}
# Magic numbers: the extension alone proves nothing.
_MAGIC = {".pdf": (b"%PDF",), ".png": (b"\x89PNG",), ".jpg": (b"\xff\xd8",), ".jpeg": (b"\xff\xd8",)}


_NEW_FILES = "attachment_files_written"


def _forget_files(session):
    session.info.pop(_NEW_FILES, None)


def _remove_files(session):
    for path in session.info.pop(_NEW_FILES, []):
        try:
            os.remove(path)
        except OSError:
            pass


def install():
    """Files are written before the transaction commits; a rollback must not leave them behind."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    if not event.contains(Session, "after_rollback", _remove_files):
        event.listen(Session, "after_commit", _forget_files)
        event.listen(Session, "after_rollback", _remove_files)


def _folder():
    path = os.path.join(current_app.config["INSTANCE_DIR"], "attachments")
    os.makedirs(path, exist_ok=True)
    return path


def save(session, actor, filename, data, kind, org_path):
    """Store one file for the actor's unit. `data` is bytes. Returns an unsaved-to-request Attachment."""
    filename = os.path.basename(filename or "").strip()
    ext = os.path.splitext(filename)[1].lower()
    label = KIND_LABELS.get(kind, "附件")
    if not filename or not data:
        raise DomainError(f"请选择要上传的{label}", field="attachments")
    if ext not in ALLOWED:
        raise DomainError(f"{label}只能是 PDF、JPG 或 PNG 文件（{filename}）", field="attachments")
    if len(data) > MAX_BYTES:
        raise DomainError(f"{label}不能超过 10 MB（{filename}）", field="attachments")
    if not any(data.startswith(m) for m in _MAGIC[ext]):
        raise DomainError(f"{filename} 的内容与文件类型不符，请上传真实的 PDF/JPG/PNG 文件", field="attachments")
    stored = f"{uuid.uuid4().hex}{ext}"
    path = os.path.join(_folder(), stored)
    with open(path, "wb") as fh:
        fh.write(data)
    session.info.setdefault(_NEW_FILES, []).append(path)  # removed again if the transaction rolls back
    att = Attachment(kind=kind, filename=filename, stored_name=stored, content_type=ALLOWED[ext], size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), org_path=org_path, uploaded_by_id=getattr(actor, "id", None))
    session.add(att)
    return att


def from_uploads(session, actor, files, kind):
    """werkzeug FileStorage objects from a form → Attachments for the actor's unit."""
    unit = getattr(actor, "org_unit", None)
    if unit is None:
        raise DomainError("请先登录")
    return [save(session, actor, f.filename, f.read(), kind, unit.path) for f in files if f and f.filename]


def open_for(session, actor, attachment_id):
    att = scope.get(session, actor, Attachment, attachment_id)
    return att, os.path.join(_folder(), att.stored_name)
