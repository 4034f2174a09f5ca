"""Pure rules: password policy, region data, role levels."""
import pytest

from app.codes.regions import national_regions, source_metadata
from app.models.org import OrgKind
from app.services import passwords
from app.services.roles import (
    CITY_ADMIN, COUNTY_ADMIN, PROVINCE_ADMIN, READONLY, SCHOOL_ADMIN, grantable_roles, role_fits_unit,
)


@pytest.mark.parametrize("pw, ok", [
    ("Demo@2026", True), ("abcDEF12", True), ("abcdefgh", False), ("Ab1!", False), ("ABCD1234", False),
])
def test_password_policy(pw, ok):
    assert (passwords.problems(pw) == []) is ok


def test_password_must_not_contain_username():
    assert "密码不能包含用户名" in passwords.problems("Zhang3@san", "zhang3")


def test_temporary_passwords_meet_policy_and_differ():
    made = {passwords.generate_temporary() for _ in range(20)}
    assert len(made) == 20 and all(passwords.problems(p) == [] for p in made)


def test_regions_are_the_national_table():
    regions = {code: (name, full, level, parent) for code, name, full, level, parent in national_regions()}
    assert regions["360000"][0] == "江西省"
    assert regions["360102"] == ("东湖区", "江西省南昌市东湖区", 3, "360100")
    assert regions["110101"][1] == "北京市东城区"  # municipality: no "市辖区" in the full name
    assert sum(1 for v in regions.values() if v[2] == 1) >= 31
    assert sum(1 for v in regions.values() if v[2] == 3) > 2800
    assert source_metadata()["data_as_of"] >= "2025-12-31"


class _Role:
    def __init__(self, name):
        self.name = name


class _Actor:
    def __init__(self, *roles):
        self.roles = [_Role(r) for r in roles]


def test_grantable_roles_are_own_level_or_below():
    assert set(grantable_roles(_Actor(COUNTY_ADMIN))) == {COUNTY_ADMIN, SCHOOL_ADMIN, READONLY}
    assert set(grantable_roles(_Actor(SCHOOL_ADMIN), OrgKind.SCHOOL)) == {SCHOOL_ADMIN, READONLY}
    assert PROVINCE_ADMIN not in grantable_roles(_Actor(CITY_ADMIN))
    assert grantable_roles(_Actor(READONLY)) == [READONLY]


def test_roles_fit_their_level():
    assert role_fits_unit(COUNTY_ADMIN, OrgKind.COUNTY) and not role_fits_unit(COUNTY_ADMIN, OrgKind.SCHOOL)
    assert role_fits_unit(READONLY, OrgKind.SCHOOL) and role_fits_unit(READONLY, OrgKind.PROVINCE)


def test_region_codes_read_as_names():
    from app.codes.regions import region_label
    from app.services.students import display
    assert region_label("360102000000") == "江西省南昌市东湖区（360102）"
    assert display("hukou_code", "360102000000") == "江西省南昌市东湖区（360102）"
    assert display("ethnicity", "08") == "壮族" and display("only_child", True) == "是"


@pytest.mark.parametrize("name, expected", [("张小明", "zxm"), ("曾小明", "zxm"), ("单田芳", "stf"), ("解缙", "xj"),
                                            ("欧阳修", "oyx"), ("尉迟恭", "ycg")])
def test_pinyin_initials_read_surnames_right(name, expected):
    from app.services.students import initials
    assert initials(name) == expected


@pytest.mark.parametrize("name, expected", [
    ("张小明", "zxm"), ("曾小明", "zxm"), ("单田芳", "stf"), ("长孙无忌", "zswj"), ("王浩宇", "why"), ("李 Anna", "la"),
])
def test_name_initials(name, expected):
    from app.services.students import initials
    assert initials(name) == expected


def test_initials_fast_path_agrees_with_pypinyin():
    """The per-character shortcut must give what lazy_pinyin gives for any name it covers."""
    import random
    from pypinyin import Style, lazy_pinyin
    from pypinyin.pinyin_dict import pinyin_dict
    from app.services.students import _initials
    chars = [chr(c) for c in pinyin_dict if 0x4E00 <= c <= 0x9FFF]
    rng = random.Random(7)
    for _ in range(20000):
        text = "".join(rng.choice(chars) for _ in range(rng.choice((1, 2, 3))))
        expected = "".join(p[0] for p in lazy_pinyin(text, style=Style.FIRST_LETTER) if p and p[0].isalpha()).lower()
        assert _initials(text) == expected, text
