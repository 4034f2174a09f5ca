"""The organisation tree: who may create or change which unit, and what makes a unit valid."""
import re

from sqlalchemy import func, inspect, select

from app.services.context import with_actor
from app.models.account import Account
from app.models.org import OrgKind, OrgUnit, Region
from app.services import scope
from app.services.errors import DomainError, PermissionDenied
from app.services.roles import actor_rank, RANK_COUNTY

SCHOOL_CODE_RE = re.compile(r"^\d{10}$")
# Which kind of parent each kind hangs under. Counties of municipalities (北京, 上海…) hang
# directly under the province, so the region table decides between province and city.
PARENT_KINDS = {
    OrgKind.CITY: {OrgKind.PROVINCE},
    OrgKind.COUNTY: {OrgKind.CITY, OrgKind.PROVINCE},
    OrgKind.SCHOOL: {OrgKind.COUNTY},
}
REGION_LEVEL = {OrgKind.PROVINCE: 1, OrgKind.CITY: 2, OrgKind.COUNTY: 3}
IMMUTABLE_FIELDS = ("kind", "parent_id", "region_code")


def _clean(value):
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def require_unit_manager(actor):
    if actor_rank(actor) > RANK_COUNTY:
        raise PermissionDenied("只有省、市、县级管理员可以维护机构和学校")


def _as_kind(value):
    if isinstance(value, OrgKind) or value is None:
        return value
    try:
        return OrgKind(value)
    except ValueError:
        raise DomainError("机构类型无效", field="kind")


def validate_new(session, actor, unit):
    """Check a unit about to be created and fill in its path. Raises DomainError; writes nothing."""
    with session.no_autoflush:  # the half-built unit must not be flushed by our own checks
        return _validate_new(session, actor, unit)


def _validate_new(session, actor, unit):
    require_unit_manager(actor)
    unit.kind = _as_kind(unit.kind)
    unit.name = _clean(unit.name)
    if unit.kind is None:
        raise DomainError("请选择机构类型", field="kind")
    if unit.kind == OrgKind.PROVINCE:
        raise PermissionDenied("省级机构由平台初始化创建，不能在此新增")
    if not unit.name:
        raise DomainError("请填写机构名称", field="name")
    if len(unit.name) > 128:
        raise DomainError("机构名称不能超过 128 个字", field="name")

    parent = unit.parent
    if parent is None and unit.parent_id is not None:
        parent = session.get(OrgUnit, unit.parent_id)
    if parent is None or not scope.can_see_unit(actor, parent):
        raise DomainError("请选择您管辖范围内的上级机构", field="parent")
    if parent.kind not in PARENT_KINDS[unit.kind]:
        raise DomainError(
            f"{unit.kind.label}的上级机构必须是{'或'.join(str(k.label) for k in PARENT_KINDS[unit.kind])}，"
            f"不能是{parent.kind.label}（{parent.name}）",
            field="parent",
        )
    unit.parent = parent
    unit.parent_id = parent.id

    if unit.kind == OrgKind.SCHOOL:
        _validate_school_fields(session, unit, parent)
        key = unit.school_code
    else:
        _validate_region_unit(session, unit, parent)
        key = unit.region_code
    unit.path = f"{parent.path}{key}/"
    if session.scalar(select(func.count()).select_from(OrgUnit).where(OrgUnit.path == unit.path)):
        raise DomainError("该行政区划已有对应的教育行政机构", field="region")
    if unit.may_enroll is None:
        unit.may_enroll = True
    if unit.active is None:
        unit.active = True
    return unit


def _validate_region_unit(session, unit, parent):
    code = _clean(unit.region_code) or (unit.region.code if unit.region else None)
    region = session.get(Region, code) if code else None
    if region is None:
        raise DomainError("请选择有效的行政区划", field="region")
    if region.level != REGION_LEVEL[unit.kind]:
        raise DomainError(f"{unit.kind.label}级机构须对应{unit.kind.label}级行政区划", field="region")
    if region.parent_code != parent.region_code:
        raise DomainError(f"行政区划“{region.full_name}”不属于上级机构“{parent.name}”的辖区", field="region")
    unit.region_code = region.code
    unit.region = region
    for attr in ("school_code", "school_type", "ownership"):
        setattr(unit, attr, None)


def _validate_school_fields(session, unit, parent, existing_id=None):
    code = _clean(unit.school_code)
    if not code or not SCHOOL_CODE_RE.match(code):
        raise DomainError("学校标识码应为 10 位数字", field="school_code")
    clash = select(OrgUnit.id).where(OrgUnit.school_code == code)
    if existing_id is not None:
        clash = clash.where(OrgUnit.id != existing_id)
    if session.scalar(clash) is not None:
        # Do not name the other school: it may be outside the actor's scope.
        raise DomainError(f"学校标识码 {code} 已被其他学校使用，学校标识码全国唯一，请核对", field="school_code")
    unit.school_code = code
    region_code = _clean(unit.region_code) or (unit.region.code if unit.region else None) or parent.region_code
    if region_code != parent.region_code:
        region = session.get(Region, region_code)
        where = region.full_name if region else region_code
        raise DomainError(f"学校所在行政区划“{where}”不在所属县(区)“{parent.name}”的辖区内", field="region")
    unit.region_code = region_code
    unit.region = session.get(Region, region_code)
    if unit.school_type is None:
        raise DomainError("请选择办学类型", field="school_type")
    if unit.ownership is None:
        raise DomainError("请选择办学性质（公办/民办）", field="ownership")
    _validate_schooling(session, unit, existing_id)


def _validate_schooling(session, unit, existing_id):
    """学制: 6- or 5-year primary, 3- or 4-year junior; a change may not strand students in a grade the
    school would no longer have (a 5-year primary with 六年级 students)."""
    from app.models.student import Student, StudentStatus
    from app.services import grades
    for attr, allowed, label in (("primary_years", grades.PRIMARY_YEARS, "小学学制应为 6 年或 5 年"),
                                 ("junior_years", grades.JUNIOR_YEARS, "初中学制应为 3 年或 4 年")):
        value = getattr(unit, attr)
        if value in ("", None):
            setattr(unit, attr, None)
        elif int(value) not in allowed:
            raise DomainError(label, field=attr)
        else:
            setattr(unit, attr, int(value))
    if existing_id is None:
        return
    taught = grades.grades_of(unit)
    stranded = session.execute(
        select(Student.grade, func.count()).where(
            Student.school_id == existing_id, Student.grade.not_in(taught),
            Student.status.in_((StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED, StudentStatus.REGISTERING)))
        .group_by(Student.grade)).all()
    if stranded:
        names = "、".join(f"{grades.grade_label(g) or g} {n} 名" for g, n in stranded)
        raise DomainError(f"本校还有{names}学生，改为{grades.schooling_label(unit)}后将没有这些年级；"
                          f"请先办理毕业、转学或调整年级", field="primary_years")


@with_actor
def create_unit(session, actor, **fields):
    unit = OrgUnit(**fields)
    validate_new(session, actor, unit)
    session.add(unit)
    session.flush()
    return unit


def validate_update(session, actor, unit):
    """Check an edited unit (already in scope). Kind, parent and region do not change by edit."""
    with session.no_autoflush:
        return _validate_update(session, actor, unit)


def _validate_update(session, actor, unit):
    require_unit_manager(actor)
    state = inspect(unit)
    for attr in IMMUTABLE_FIELDS:
        if state.attrs[attr].history.has_changes():
            raise DomainError("机构类型、上级机构和行政区划不能直接修改", field=attr)
    if unit.path == scope.actor_path(actor):
        raise PermissionDenied("不能修改本人所在机构，请联系上级管理员")
    unit.name = _clean(unit.name)
    if not unit.name:
        raise DomainError("请填写机构名称", field="name")
    if unit.kind == OrgKind.SCHOOL:
        old_code = state.attrs["school_code"].history.deleted
        _validate_school_fields(session, unit, unit.parent, existing_id=unit.id)
        if old_code and old_code[0] != unit.school_code:
            unit.path = f"{unit.parent.path}{unit.school_code}/"
    else:
        for attr in ("school_code", "school_type", "ownership"):
            if getattr(unit, attr) is not None:
                raise DomainError("只有学校可以填写学校标识码、办学类型和办学性质", field=attr)
    return unit


@with_actor
def update_unit(session, actor, unit_id, **changes):
    unit = scope.get(session, actor, OrgUnit, unit_id)
    for key, value in changes.items():
        setattr(unit, key, value)
    validate_update(session, actor, unit)
    session.flush()
    return unit


def validate_delete(session, actor, unit):
    require_unit_manager(actor)
    if not scope.can_see_unit(actor, unit) or unit.path == scope.actor_path(actor):
        raise PermissionDenied("不能删除本人所在机构或管辖范围以外的机构")
    if session.scalar(select(func.count()).select_from(OrgUnit).where(OrgUnit.parent_id == unit.id)):
        raise DomainError(f"“{unit.name}”下仍有下级机构，不能删除")
    if session.scalar(select(func.count()).select_from(Account).where(Account.org_unit_id == unit.id)):
        raise DomainError(f"“{unit.name}”下仍有账号，请先转移或停用这些账号")


@with_actor
def delete_unit(session, actor, unit_id):
    unit = scope.get(session, actor, OrgUnit, unit_id)
    validate_delete(session, actor, unit)
    session.delete(unit)
    session.flush()


def subtree(session, actor, kind=None):
    stmt = select(OrgUnit).where(scope.clause(actor, OrgUnit)).order_by(OrgUnit.path)
    if kind is not None:
        stmt = stmt.where(OrgUnit.kind == kind)
    return session.scalars(stmt).all()


def parent_choices(session, actor):
    """Units an actor may hang a new unit under: inside the subtree and not schools."""
    stmt = (
        select(OrgUnit)
        .where(scope.clause(actor, OrgUnit), OrgUnit.kind != OrgKind.SCHOOL)
        .order_by(OrgUnit.path)
    )
    return session.scalars(stmt).all()
