"""Business calendars (业务日历): when a process may be started, and which days are not working days.

A province, city or county defines rules for its whole subtree:
- 暂停发起 (closed): no new requests of that process between two dates, e.g. 暂停转学发起业务
  7月21日零时至8月14日24时; requests started before continue (approvals are never blocked);
- 办理期限 (open): new requests only between the dates (if a unit up the tree defines any);
- 节假日 (holiday): days that do not count as working days for the inbox's deadlines.
The approval engine calls check() through requests.window_check when a request is started.
"""
import datetime

from sqlalchemy import select

from app.models.org import OrgKind, OrgUnit
from app.models.process import BusinessWindow, WindowMode
from app.services import requests, scope
from app.services.context import with_actor
from app.services.dates import parse_date
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_COUNTY, actor_rank
from app.services import clock

# Calendar keys the request types use, with the name an officer picks from.
PROCESSES = {
    "transfer": "转学（含跨省转学）",
    "suspend": "休学",
    "resume": "复学",
    "drop_out": "退学",
    "leave_other": "其他离校",
    "death": "死亡",
    "registration": "新生注册",
    "key_change": "关键数据变更",
    "graduation": "毕业",
}
ALL_PROCESSES = "*"  # a holiday applies to every process
DEFINING_KINDS = (OrgKind.PROVINCE, OrgKind.CITY, OrgKind.COUNTY)


def process_label(key):
    return "全部业务" if key == ALL_PROCESSES else PROCESSES.get(key, key)


def ancestor_paths(unit):
    """The paths of the unit and every unit above it: /36/, /36/3601/, …"""
    parts = unit.path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]


def rules_for(session, unit, process, modes):
    """The rules that apply at `unit`: its own and its superiors'."""
    return session.scalars(
        select(BusinessWindow).join(OrgUnit, OrgUnit.id == BusinessWindow.org_unit_id)
        .where(OrgUnit.path.in_(ancestor_paths(unit)), BusinessWindow.process == process,
               BusinessWindow.mode.in_(modes))
        .order_by(BusinessWindow.starts_on)).all()


def _span(rule):
    return f"{rule.starts_on.year}年{rule.starts_on.month}月{rule.starts_on.day}日至" \
           f"{rule.ends_on.year}年{rule.ends_on.month}月{rule.ends_on.day}日"


def check(session, process, label, school, today=None):
    """Raises a DomainError naming the window when `process` may not be started at `school` today."""
    today = today or clock.today()
    rules = rules_for(session, school, process, (WindowMode.CLOSED, WindowMode.OPEN))
    for rule in rules:
        if rule.mode == WindowMode.CLOSED and rule.starts_on <= today <= rule.ends_on:
            raise DomainError(f"{rule.org_unit.name}已暂停“{label}”业务的发起：{_span(rule)}（{rule.title}）。"
                              f"此前已发起的申请可继续办理")
    opens = [r for r in rules if r.mode == WindowMode.OPEN]
    if opens and not any(r.starts_on <= today <= r.ends_on for r in opens):
        spans = "；".join(f"{r.org_unit.name}：{_span(r)}" for r in opens)
        raise DomainError(f"“{label}”只能在办理期限内发起（{spans}），今天不在期限内")


def _window_check(session, process, label, school):
    check(session, process, str(label), school)


requests.window_check = _window_check


# ---------------------------------------------------------------- working days

def holidays(session, unit, first, last):
    """Dates between first and last (inclusive) that a holiday rule up the tree covers."""
    out = set()
    for rule in rules_for(session, unit, ALL_PROCESSES, (WindowMode.HOLIDAY,)):
        day = max(rule.starts_on, first)
        while day <= min(rule.ends_on, last):
            out.add(day)
            day += datetime.timedelta(days=1)
    return out


def working_days_between(start, end, off_days=frozenset()):
    """Whole working days (Monday–Friday, not a holiday) after `start`'s day up to `end`'s day."""
    if start is None or end is None:
        return 0
    # Days, not moments (a step's arrival may be compared with today's date).
    count, day = 0, start.date() if isinstance(start, datetime.datetime) else start
    last = end.date() if isinstance(end, datetime.datetime) else end
    while day < last:
        day += datetime.timedelta(days=1)
        if day.weekday() < 5 and day not in off_days:
            count += 1
    return count


def overdue_cutoff(days, today=None, off_days=frozenset()):
    """The latest arrival moment that is more than `days` working days before today: a step that
    arrived before it is overdue. Set-based queries compare arrived_at with it.

    A step that arrived on day A has waited working_days_between(A, today) working days: those in
    (A, today]. That is more than `days` exactly when A is before the (days + 1)-th working day
    counted back from today (today included), so that day's midnight is the cutoff."""
    today = today or clock.today()
    day, counted = today, 0
    while True:
        if day.weekday() < 5 and day not in off_days:
            counted += 1
            if counted > days:
                return datetime.datetime.combine(day, datetime.time.min)
        day -= datetime.timedelta(days=1)


# ---------------------------------------------------------------- defining rules

def _defining_unit(actor):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind not in DEFINING_KINDS or actor_rank(actor) > RANK_COUNTY:
        raise PermissionDenied("只有省、市、县（区）教育行政部门的管理员可以设置业务日历")
    return unit


def _clean(data):
    process = (data.get("process") or "").strip()
    try:
        mode = WindowMode(data.get("mode"))
    except ValueError:
        raise DomainError("请选择规则类型（暂停发起、办理期限或节假日）", field="mode")
    if mode == WindowMode.HOLIDAY:
        process = ALL_PROCESSES
    elif process not in PROCESSES:
        raise DomainError("请选择业务", field="process")
    starts = parse_date(data.get("starts_on"), "开始日期格式应为 年-月-日（如 2026-07-21）", "starts_on")
    ends = parse_date(data.get("ends_on"), "结束日期格式应为 年-月-日（如 2026-07-21）", "ends_on")
    if ends < starts:
        raise DomainError("结束日期不能早于开始日期", field="ends_on")
    if (ends - starts).days > 366:
        raise DomainError("一条规则最长一年，请分年设置", field="ends_on")
    title = (data.get("title") or "").strip()
    if not title:
        raise DomainError("请填写名称或依据（如 暂停转学发起业务）", field="title")
    return {"process": process, "mode": mode, "starts_on": starts, "ends_on": ends, "title": title[:128]}


@with_actor
def add_window(session, actor, data):
    unit = _defining_unit(actor)
    rule = BusinessWindow(org_unit=unit, org_unit_id=unit.id, created_by_id=actor.id, **_clean(data))
    session.add(rule)
    session.flush()
    return rule


def _own_rule(session, actor, rule_id):
    unit = _defining_unit(actor)
    rule = session.get(BusinessWindow, rule_id)
    visible = rule is not None and (scope.path_within(rule.org_unit.path, unit.path)
                                    or rule.org_unit.path in ancestor_paths(unit))
    if not visible:
        raise NotFound("记录不存在或不在您的管辖范围内")
    check_may_change(actor, rule)
    return rule


def check_may_change(actor, rule):
    """A rule is changed or deleted only by the unit that set it; superiors' rules bind, not belong."""
    if rule.org_unit_id != getattr(actor, "org_unit_id", None):
        raise PermissionDenied(f"该规则由{rule.org_unit.name}设置，本单位只能查看，不能修改或删除")


@with_actor
def update_window(session, actor, rule_id, data):
    rule = _own_rule(session, actor, rule_id)
    for k, v in _clean(data).items():
        setattr(rule, k, v)
    session.flush()
    return rule


@with_actor
def delete_window(session, actor, rule_id):
    rule = _own_rule(session, actor, rule_id)
    session.delete(rule)
    session.flush()


def visible_clause(actor):
    """Rules an actor sees: those of its subtree and those of its superiors (which bind it)."""
    unit = getattr(actor, "org_unit", None)
    if unit is None:
        from sqlalchemy import false
        return false()
    units = select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path) | OrgUnit.path.in_(ancestor_paths(unit)))
    return BusinessWindow.org_unit_id.in_(units)


scope.register(BusinessWindow, visible_clause)
