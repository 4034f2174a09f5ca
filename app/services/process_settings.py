"""Per-unit settings of the 学籍异动 routes (业务设置). A unit sets a value for its subtree; the
nearest unit up the tree that set it wins, else the default.

- transfer.county_order (city or province): which county approves a cross-county transfer first;
- transfer.city_approval (province): whether the two cities approve a cross-city transfer after
  the counties;
- status.route (county, city or province): who approves 休学, 复学, 退学, 其他离校 and 死亡.
"""
from dataclasses import dataclass

from sqlalchemy import select

from app.models.org import OrgKind, OrgUnit
from app.models.process import ProcessSetting
from app.services import scope
from app.services.context import with_actor
from app.services.errors import DomainError, PermissionDenied
from app.services.roles import RANK_COUNTY, actor_rank


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    choices: tuple        # ((value, label), …); the first is the default
    kinds: tuple          # kinds of unit that may set it
    help: str = ""

    @property
    def default(self):
        return self.choices[0][0]

    def choice_label(self, value):
        return dict(self.choices).get(value, value)


COUNTY_ORDER = Setting(
    "transfer.county_order", "跨县（区）转学的审批顺序",
    (("out_first", "先转出县（区）审批，后转入县（区）审批"), ("in_first", "先转入县（区）审批，后转出县（区）审批")),
    (OrgKind.PROVINCE, OrgKind.CITY), "市内跨县（区）转学由两个县（区）都审批；市可为本市设置顺序")
CITY_APPROVAL = Setting(
    "transfer.city_approval", "跨市转学是否由两市审批",
    (("both", "两个县（区）审批后，转出市、转入市依次审批"), ("none", "只需两个县（区）审批")),
    (OrgKind.PROVINCE,), "由省统一规定")
STATUS_ROUTE = Setting(
    "status.route", "休学、复学、退学、其他离校、死亡的审批",
    (("county", "学校申请，县（区）审批"), ("county_city", "学校申请，县（区）审批后报市审批")),
    (OrgKind.PROVINCE, OrgKind.CITY, OrgKind.COUNTY), "县（区）可为本县设置；未设置时沿用上级设置")
SETTINGS = {s.key: s for s in (COUNTY_ORDER, CITY_APPROVAL, STATUS_ROUTE)}


def _ancestors(unit):
    parts = unit.path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]


def effective(session, unit, setting):
    """(value, the unit that set it or None for the default) at `unit`."""
    rows = session.execute(
        select(ProcessSetting.value, OrgUnit).join(OrgUnit, OrgUnit.id == ProcessSetting.org_unit_id)
        .where(ProcessSetting.key == setting.key, OrgUnit.path.in_(_ancestors(unit)))).all()
    if not rows:
        return setting.default, None
    value, owner = max(rows, key=lambda r: len(r[1].path))  # the nearest unit up the tree
    return (value if value in dict(setting.choices) else setting.default), owner


def value(session, unit, setting):
    return effective(session, unit, setting)[0]


def settable(actor):
    unit = getattr(actor, "org_unit", None)
    if unit is None or actor_rank(actor) > RANK_COUNTY:
        return []
    return [s for s in SETTINGS.values() if unit.kind in s.kinds]


@with_actor
def set_value(session, actor, key, new_value):
    setting = SETTINGS.get(key)
    unit = getattr(actor, "org_unit", None)
    if setting is None:
        raise DomainError("未知的设置项")
    if setting not in settable(actor):
        raise PermissionDenied(f"“{setting.label}”只能由{'、'.join(str(k.label) for k in setting.kinds)}级管理员设置")
    if new_value not in dict(setting.choices):
        raise DomainError(f"“{setting.label}”的取值不正确", field=key)
    row = session.scalar(select(ProcessSetting).where(ProcessSetting.org_unit_id == unit.id, ProcessSetting.key == key))
    if row is None:
        row = ProcessSetting(org_unit=unit, org_unit_id=unit.id, key=key, value=new_value)
        session.add(row)
    else:
        row.value = new_value
    session.flush()
    return row


def _setting_scope(actor):
    unit = getattr(actor, "org_unit", None)
    if unit is None:
        from sqlalchemy import false
        return false()
    return ProcessSetting.org_unit_id.in_(select(OrgUnit.id).where(
        OrgUnit.path.startswith(unit.path) | OrgUnit.path.in_(_ancestors(unit))))


scope.register(ProcessSetting, _setting_scope)
