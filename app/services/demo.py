"""The demo province: real region codes (default 江西 36), a few hundred schools of every type and
accounts for every level. Idempotent and set-based (bulk inserts), like later province-scale loads."""
from sqlalchemy import insert, select
from flask_appbuilder.security.sqla.models import Role, assoc_user_role

from app.codes.regions import load_regions
from app.models.account import Account
from app.models.org import OrgKind, OrgUnit, Ownership, Region, SchoolType
from app.services import audit
from app.services.accounts import hash_password
from app.services.roles import (
    CITY_ADMIN, COUNTY_ADMIN, PLATFORM_ADMIN, PROVINCE_ADMIN, READONLY, SCHOOL_ADMIN,
)
from app.services.setup import ensure_roles

DEMO_PASSWORD = "Demo@2026"

# (name suffix, type, ownership) per county; the third slot rotates through the senior kinds.
_BASE_SCHOOLS = [("第一小学", SchoolType.PRIMARY, Ownership.PUBLIC), ("第一初级中学", SchoolType.JUNIOR, Ownership.PUBLIC)]
_ROTATING = [
    ("第一中学", SchoolType.COMPLETE_MIDDLE, Ownership.PUBLIC),
    ("实验学校", SchoolType.NINE_YEAR, Ownership.PUBLIC),
    ("高级中学", SchoolType.SENIOR, Ownership.PUBLIC),
    ("职业中等专业学校", SchoolType.VOCATIONAL, Ownership.PUBLIC),
    ("育才学校", SchoolType.NINE_YEAR, Ownership.PRIVATE),
    ("特殊教育学校", SchoolType.SPECIAL, Ownership.PUBLIC),
]


def _short(name):
    for suffix in ("自治县", "区", "县", "市"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _insert_units(session, rows):
    if rows:
        session.execute(insert(OrgUnit), rows)


def _ids_by_path(session, prefix):
    return dict(session.execute(select(OrgUnit.path, OrgUnit.id).where(OrgUnit.path.startswith(prefix))).all())


def build_province(session, province_code="360000", schools_per_county=3, only_counties=None):
    """Create the org tree (optionally only some counties, for small test worlds). Returns units added."""
    load_regions(session)
    province = session.get(Region, province_code)
    if province is None or province.level != 1:
        raise ValueError(f"{province_code} is not a province-level region code")
    root_path = f"/{province_code}/"
    ids = _ids_by_path(session, root_path)
    added = 0
    if root_path not in ids:
        _insert_units(session, [{"kind": OrgKind.PROVINCE, "name": f"{province.name}教育厅", "region_code": province_code,
                                 "parent_id": None, "path": root_path, "may_enroll": False, "active": True}])
        added += 1
        ids = _ids_by_path(session, root_path)

    regions = session.scalars(select(Region).where(Region.code.startswith(province_code[:2]), Region.level > 1).order_by(Region.code)).all()
    if only_counties:
        keep = set(only_counties) | {c[:4] + "00" for c in only_counties}
        regions = [r for r in regions if r.code in keep]
    cities = [r for r in regions if r.level == 2]
    city_rows = []
    for r in cities:
        path = f"{root_path}{r.code}/"
        if path not in ids:
            city_rows.append({"kind": OrgKind.CITY, "name": f"{r.name}教育局", "region_code": r.code,
                              "parent_id": ids[root_path], "path": path, "may_enroll": False, "active": True})
    _insert_units(session, city_rows)
    added += len(city_rows)
    ids = _ids_by_path(session, root_path)

    county_rows, county_paths = [], []
    for r in (r for r in regions if r.level == 3):
        parent_path = f"{root_path}{r.parent_code}/" if r.parent_code != province_code else root_path
        path = f"{parent_path}{r.code}/"
        county_paths.append((r, path))
        if path not in ids and parent_path in ids:
            county_rows.append({"kind": OrgKind.COUNTY, "name": f"{r.name}教育体育局", "region_code": r.code,
                                "parent_id": ids[parent_path], "path": path, "may_enroll": False, "active": True})
    _insert_units(session, county_rows)
    added += len(county_rows)
    ids = _ids_by_path(session, root_path)

    school_rows = []
    for i, (r, county_path) in enumerate(county_paths):
        if county_path not in ids:
            continue
        plan = _BASE_SCHOOLS + [_ROTATING[(i + k) % len(_ROTATING)] for k in range(max(0, schools_per_county - 2))]
        for seq, (suffix, stype, owner) in enumerate(plan[:schools_per_county], start=1):
            code = f"{r.code}{seq:04d}"
            path = f"{county_path}{code}/"
            if path in ids:
                continue
            school_rows.append({
                "kind": OrgKind.SCHOOL, "name": f"{_short(r.name)}{suffix}", "region_code": r.code,
                "parent_id": ids[county_path], "path": path, "school_code": code, "school_type": stype,
                "ownership": owner, "address": f"{r.full_name}学府路{seq}号", "may_enroll": True, "active": True,
            })
    _insert_units(session, school_rows)
    added += len(school_rows)
    if added:
        audit.record_bulk(session, "org_unit", added, root_path, "演示数据：建立机构与学校")
    return added


def build_accounts(session, province_code="360000", password=DEMO_PASSWORD):
    """One account per unit (admin of its level) plus platform admin and a read-only viewer."""
    ensure_roles(session)
    roles = dict(session.execute(select(Role.name, Role.id)).all())
    root_path = f"/{province_code}/"
    units = session.execute(
        select(OrgUnit.id, OrgUnit.kind, OrgUnit.name, OrgUnit.region_code, OrgUnit.school_code, OrgUnit.path)
        .where(OrgUnit.path.startswith(root_path)).order_by(OrgUnit.path)
    ).all()
    prov = next(u for u in units if u.kind == OrgKind.PROVINCE)
    wanted = [("admin", "平台管理员", prov.id, PLATFORM_ADMIN),
              ("sheng_admin", "省级管理员（演示）", prov.id, PROVINCE_ADMIN),
              ("sheng_viewer", "省级查询员（演示）", prov.id, READONLY)]
    role_for = {OrgKind.CITY: CITY_ADMIN, OrgKind.COUNTY: COUNTY_ADMIN, OrgKind.SCHOOL: SCHOOL_ADMIN}
    label = {OrgKind.CITY: "市级管理员", OrgKind.COUNTY: "县级管理员", OrgKind.SCHOOL: "学籍管理员"}
    for u in units:
        if u.kind == OrgKind.PROVINCE:
            continue
        key = u.school_code if u.kind == OrgKind.SCHOOL else u.region_code
        wanted.append((f"{u.kind.value}_{key}", f"{u.name}{label[u.kind]}", u.id, role_for[u.kind]))
    existing = set(session.scalars(select(Account.username)))
    new = [w for w in wanted if w[0] not in existing]
    if not new:
        return 0
    hashed = hash_password(password)  # one hash for all demo accounts: demo only
    session.execute(insert(Account.__table__), [
        {"username": name, "first_name": real, "last_name": "", "real_name": real, "phone": f"1390000{i:04d}",
         "email": f"{name}@demo.invalid", "active": True, "password": hashed, "org_unit_id": unit_id,
         "must_change_password": False, "fail_login_count": 0, "login_count": 0}
        for i, (name, real, unit_id, _) in enumerate(new)
    ])
    user_ids = dict(session.execute(select(Account.username, Account.id).where(Account.username.in_([w[0] for w in new]))).all())
    session.execute(insert(assoc_user_role), [{"user_id": user_ids[name], "role_id": roles[role]} for name, _, _, role in new])
    audit.record_bulk(session, "ab_user", len(new), root_path, "演示数据：建立各级账号")
    return len(new)


def load_demo(session, province_code="360000", schools_per_county=3, only_counties=None):
    units = build_province(session, province_code, schools_per_county, only_counties)
    users = build_accounts(session, province_code)
    session.commit()
    return units, users


def sample_accounts(session, province_code="360000"):
    """Representative accounts to print: one per level, two sibling counties to try scoping."""
    root = f"/{province_code}/"
    def first(kind, extra=None):
        stmt = select(OrgUnit).where(OrgUnit.path.startswith(extra or root), OrgUnit.kind == kind).order_by(OrgUnit.path)
        return session.scalars(stmt).first()
    rows = [("平台管理员", "全省", "admin"), ("省级管理员", "全省", "sheng_admin"), ("只读查询员", "全省", "sheng_viewer")]
    city = first(OrgKind.CITY)
    if city:
        rows.append(("市级管理员", city.name, f"city_{city.region_code}"))
        counties = session.scalars(select(OrgUnit).where(OrgUnit.parent_id == city.id).order_by(OrgUnit.path).limit(2)).all()
        for c in counties:
            rows.append(("县级管理员", c.name, f"county_{c.region_code}"))
        if counties:
            school = first(OrgKind.SCHOOL, counties[0].path)
            if school:
                rows.append(("学校学籍管理员", school.name, f"school_{school.school_code}"))
    return [(lvl, unit, user, DEMO_PASSWORD) for lvl, unit, user in rows]
