"""The one answer to "which rows may this actor see or act on".

An actor sees its own OrgUnit and everything below it (materialized path prefix). Every list,
show, edit, delete, export, API call, bulk action and service write uses `clause()` or `get()`.
A model without a rule here is invisible (fail closed).
"""
from sqlalchemy import false, select, true

from app.models.account import Account
from app.models.audit import AuditLog
from app.models.job import Job
from app.models.org import OrgUnit, Region
from app.services.errors import NotFound


def actor_path(actor):
    unit = getattr(actor, "org_unit", None)
    return unit.path if unit is not None else None


def path_within(path, prefix):
    return bool(path) and bool(prefix) and path.startswith(prefix)


def _org_clause(actor):
    prefix = actor_path(actor)
    if not prefix:
        return false()
    return OrgUnit.path.startswith(prefix, autoescape=False)


def _account_clause(actor):
    prefix = actor_path(actor)
    if not prefix:
        return false()
    units = select(OrgUnit.id).where(OrgUnit.path.startswith(prefix))
    return Account.org_unit_id.in_(units)


def _audit_clause(actor):
    prefix = actor_path(actor)
    if not prefix:
        return false()
    return AuditLog.org_path.startswith(prefix)


def _job_clause(actor):
    actor_id = getattr(actor, "id", None)
    return Job.actor_id == actor_id if actor_id else false()


def _public(actor):
    return true()


RULES = {
    OrgUnit: _org_clause,
    Account: _account_clause,
    AuditLog: _audit_clause,
    Job: _job_clause,
    Region: _public,  # national reference data
}


def register(model, rule):
    """Later aggregates (students, requests…) add their own rule here."""
    RULES[model] = rule


def clause(actor, model):
    if actor is None:
        return false()
    for cls in model.__mro__:
        if cls in RULES:
            return RULES[cls](actor)
    return false()


def get(session, actor, model, pk):
    """Fetch one row inside the actor's scope, or raise NotFound (never reveal it exists)."""
    row = session.scalars(select(model).where(model.id == pk, clause(actor, model))).first() \
        if pk is not None else None
    if row is None:
        raise NotFound("记录不存在或不在您的管辖范围内")
    return row


def can_see_unit(actor, unit):
    return unit is not None and path_within(unit.path, actor_path(actor))
