"""The audit trail, written in the same transaction as the change it describes.

Every flush of a model marked `__audit__ = True` (whichever entry point made it: a service, a
generated CRUD screen, the API, a job) records one row per changed field. Bulk SQL writes do not
pass through the ORM and must call `record_bulk`.
"""
import datetime
import enum

from sqlalchemy import event, inspect, insert, select
from sqlalchemy.orm import Session

from app.models.audit import AuditLog
from app.services.context import current_actor, current_reason
from app.services import scope

# Never copied into the log (the hash of a password is still a secret).
SECRET_FIELDS = {"password", "password_hash", "activation_code_hash"}  # candidates (中招) too
IGNORED_FIELDS = {"fail_login_count", "changed_on", "changed_by_fk", "last_login", "login_count", "created_on", "created_by_fk",
                  "failed_attempts", "last_login_at"}


def _fmt(value):
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, (list, tuple, set)):
        return "、".join(sorted(str(v) for v in value))
    return str(value)


def _entity_name(obj):
    return obj.__class__.__tablename__


def _pk(obj):
    # identity is not assigned yet in after_flush for new rows; the primary key attribute is.
    values = inspect(obj).mapper.primary_key_from_instance(obj)
    return "/".join(str(v) for v in values) if all(v is not None for v in values) else None


def _base_row(obj, action, now, actor, reason):
    return {
        "created_at": now,
        "actor_id": getattr(actor, "id", None),
        "actor_name": getattr(actor, "username", None) or "系统",
        "entity": _entity_name(obj),
        "entity_id": _pk(obj),
        "entity_label": str(obj)[:255],
        "action": action,
        "reason": (reason or None) and str(reason)[:255],
        "org_path": getattr(obj, "audit_org_path", None),
    }


def _changes(obj, creating):
    state = inspect(obj)
    changes = []
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in IGNORED_FIELDS:
            continue
        hist = state.attrs[key].history
        if creating:
            new = state.attrs[key].value
            if new is None or key == "id":
                continue
            changes.append((key, None, "******" if key in SECRET_FIELDS else _fmt(new)))
        elif hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if _fmt(old) == _fmt(new):
                continue
            if key in SECRET_FIELDS:
                changes.append((key, "******", "******（已修改）"))
            else:
                changes.append((key, _fmt(old), _fmt(new)))
    # Many-to-many role assignments of accounts.
    for rel in state.mapper.relationships:
        if rel.key != "roles":
            continue
        hist = state.attrs[rel.key].history
        if hist.has_changes() or (creating and hist.added):
            old = [r.name for r in hist.unchanged] + [r.name for r in hist.deleted]
            new = [r.name for r in hist.unchanged] + [r.name for r in hist.added]
            if sorted(old) != sorted(new):
                changes.append(("roles", None if creating else _fmt(old), _fmt(new)))
    return changes


def _after_flush(session, flush_context):
    rows = []
    now = datetime.datetime.now()
    actor = current_actor()
    reason = current_reason()
    for obj in session.new:
        if getattr(obj, "__audit__", False):
            base = _base_row(obj, "create", now, actor, reason)
            for field, old, new in _changes(obj, creating=True):
                rows.append({**base, "field": field, "old_value": old, "new_value": new})
    for obj in session.dirty:
        if getattr(obj, "__audit__", False) and session.is_modified(obj):
            base = _base_row(obj, "update", now, actor, reason)
            for field, old, new in _changes(obj, creating=False):
                rows.append({**base, "field": field, "old_value": old, "new_value": new})
    for obj in session.deleted:
        if getattr(obj, "__audit__", False):
            rows.append({**_base_row(obj, "delete", now, actor, reason), "field": None,
                         "old_value": str(obj)[:1000], "new_value": None})
    if rows:
        session.connection().execute(insert(AuditLog), rows)


def install():
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


def record_bulk(session, entity, count, org_path, reason, actor=None):
    """One summary entry for a set-based write (bulk insert/update) of `count` rows."""
    actor = actor or current_actor()
    session.execute(
        insert(AuditLog),
        [{
            "created_at": datetime.datetime.now(),
            "actor_id": getattr(actor, "id", None),
            "actor_name": getattr(actor, "username", None) or "系统",
            "entity": entity,
            "entity_id": None,
            "entity_label": f"{count} 条记录",
            "action": "bulk",
            "field": None,
            "old_value": None,
            "new_value": str(count),
            "reason": reason,
            "org_path": org_path,
        }],
    )


def query_log(session, actor, *, actor_name=None, entity=None, entity_id=None, since=None, until=None, limit=200):
    """Scoped audit query (the same filter the screen and API use)."""
    stmt = select(AuditLog).where(scope.clause(actor, AuditLog)).order_by(AuditLog.id.desc())
    if actor_name:
        stmt = stmt.where(AuditLog.actor_name == actor_name)
    if entity:
        stmt = stmt.where(AuditLog.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == str(entity_id))
    if since:
        stmt = stmt.where(AuditLog.created_at >= since)
    if until:
        stmt = stmt.where(AuditLog.created_at <= until)
    return session.scalars(stmt.limit(limit)).all()


def record_access(session, actor, entity, entity_id, label, field, where, org_path):
    """Reading a secret (a full ID number) is logged like a change: who, when, which record, where."""
    session.execute(insert(AuditLog), [{
        "created_at": datetime.datetime.now(), "actor_id": getattr(actor, "id", None),
        "actor_name": getattr(actor, "username", None) or "系统", "entity": entity, "entity_id": str(entity_id),
        "entity_label": label[:255], "action": "view", "field": field, "old_value": None, "new_value": None,
        "reason": where[:255], "org_path": org_path,
    }])
