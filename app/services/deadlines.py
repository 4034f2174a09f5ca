"""Deadlines of the approval steps (学籍异动 item 5): a step that has waited more than
OVERDUE_WORKING_DAYS working days (Monday–Friday, minus the 节假日 of the business calendar) is
overdue — highlighted in 审批待办 and counted for the supervisor."""
import datetime

from flask import current_app, has_app_context
from sqlalchemy import func, select

from app.models.requests import Request, RequestState, RequestStep
from app.services import calendars, requests, scope
from app.services.roles import RANK_SCHOOL, actor_rank
from app.services import clock

DEFAULT_DAYS = 5
LOOKBACK_DAYS = 120  # holidays are read for this window before today (longer waits are overdue anyway)


def limit_days():
    if has_app_context():
        return int(current_app.config.get("OVERDUE_WORKING_DAYS", DEFAULT_DAYS))
    return DEFAULT_DAYS


def off_days(session, unit, today=None):
    today = today or clock.today()
    if unit is None:
        return frozenset()
    return frozenset(calendars.holidays(session, unit, today - datetime.timedelta(days=LOOKBACK_DAYS), today))


def cutoff(session, unit, today=None):
    """Steps that arrived before this moment are overdue."""
    return calendars.overdue_cutoff(limit_days(), today, off_days(session, unit, today))


def waiting_days(arrived_at, off, now=None):
    """Working days a step has waited so far."""
    return calendars.working_days_between(arrived_at, now or datetime.datetime.now(), off)


def is_overdue(step, moment):
    return step is not None and step.arrived_at is not None and step.arrived_at < moment


def overdue_count(session, actor, today=None):
    """The actor's unit's pending steps that are overdue (one query)."""
    unit = getattr(actor, "org_unit", None)
    if unit is None or actor_rank(actor) > RANK_SCHOOL:
        return 0
    moment = cutoff(session, unit, today)
    stmt = requests.inbox_query(actor).where(RequestStep.arrived_at < moment).order_by(None)
    return session.scalar(select(func.count()).select_from(stmt.subquery()))


def overdue_in_subtree(session, actor, today=None):
    """Overdue pending steps anywhere in the actor's subtree (a supervisor's view of its counties)."""
    unit = getattr(actor, "org_unit", None)
    if unit is None:
        return 0
    moment = cutoff(session, unit, today)
    stmt = (select(func.count()).select_from(Request)
            .join(RequestStep, (RequestStep.request_id == Request.id) & (RequestStep.seq == Request.current_step))
            .where(Request.state == RequestState.PENDING, RequestStep.arrived_at < moment,
                   scope.clause(actor, Request)))
    return session.scalar(stmt)
