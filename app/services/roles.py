"""Role templates per level. Permissions per role are regexes in config.FAB_ROLES; this module
says how high each role ranks and which kind of unit an account holding it must belong to."""
from app.models.org import OrgKind

RANK_PLATFORM, RANK_PROVINCE, RANK_CITY, RANK_COUNTY, RANK_SCHOOL, RANK_READONLY = 0, 1, 2, 3, 4, 5
RANK_NONE = 99

PLATFORM_ADMIN = "平台管理员"
PROVINCE_ADMIN = "省级管理员"
CITY_ADMIN = "市级管理员"
COUNTY_ADMIN = "县级管理员"
SCHOOL_ADMIN = "学校学籍管理员"
READONLY = "只读查询员"

# name -> (rank, kinds of unit it may be held at; None = any)
ROLE_TEMPLATES = {
    PLATFORM_ADMIN: (RANK_PLATFORM, {OrgKind.PROVINCE}),
    PROVINCE_ADMIN: (RANK_PROVINCE, {OrgKind.PROVINCE}),
    CITY_ADMIN: (RANK_CITY, {OrgKind.CITY}),
    COUNTY_ADMIN: (RANK_COUNTY, {OrgKind.COUNTY}),
    SCHOOL_ADMIN: (RANK_SCHOOL, {OrgKind.SCHOOL}),
    READONLY: (RANK_READONLY, None),
}

ADMIN_ROLE_FOR_KIND = {
    OrgKind.PROVINCE: PROVINCE_ADMIN,
    OrgKind.CITY: CITY_ADMIN,
    OrgKind.COUNTY: COUNTY_ADMIN,
    OrgKind.SCHOOL: SCHOOL_ADMIN,
}


def role_rank(name):
    return ROLE_TEMPLATES.get(name, (RANK_NONE, None))[0]


def actor_rank(actor):
    """The highest (numerically lowest) rank among the actor's roles."""
    roles = getattr(actor, "roles", None) or []
    return min((role_rank(r.name) for r in roles), default=RANK_NONE)


def role_fits_unit(name, kind):
    kinds = ROLE_TEMPLATES.get(name, (RANK_NONE, set()))[1]
    return kinds is None or kind in kinds


def grantable_roles(actor, kind=None):
    """Role names the actor may hand out (its own level or below), optionally for a unit kind."""
    rank = actor_rank(actor)
    names = [n for n, (r, _) in ROLE_TEMPLATES.items() if r >= rank and r != RANK_PLATFORM or (r == rank == RANK_PLATFORM)]
    if kind is not None:
        names = [n for n in names if role_fits_unit(n, kind)]
    return names
