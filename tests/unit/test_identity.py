"""Identity checks (GB 11643 via python-stdnum), normalisation, numbers, masking."""
import datetime

import pytest

from app.services import identity
from app.services.errors import DomainError

D = datetime.date
VALID = identity.build_id_number("360102", D(2015, 6, 1), 123)  # odd sequence → male


def test_built_numbers_validate_with_stdnum():
    from stdnum.cn import ric
    assert ric.is_valid(VALID)
    check = identity.check_id_number(VALID, birth_date=D(2015, 6, 1), gender="1")
    assert (check.number, check.birth_date, check.gender, check.warnings) == (VALID, D(2015, 6, 1), "1", [])


@pytest.mark.parametrize("typed", [
    VALID.lower(), " ".join(VALID[i:i + 6] for i in range(0, 18, 6)),
    VALID.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")), f"\t{VALID} ",
])
def test_normalises_what_officers_type(typed):
    assert identity.check_id_number(typed).number == VALID


def test_lowercase_x_check_character():
    x = next(identity.build_id_number("360102", D(2014, 1, 1), s) for s in range(1000)
             if identity.build_id_number("360102", D(2014, 1, 1), s).endswith("X"))
    assert identity.check_id_number(x.lower()).number == x


def test_15_digit_number_is_upgraded_with_a_notice():
    fifteen = "360426910101007"
    check = identity.check_id_number(fifteen)
    assert check.number == "360426199101010071"
    assert "15 位" in check.notices[0]


@pytest.mark.parametrize("number, message", [
    (VALID[:-1] + ("0" if VALID[-1] != "0" else "1"), "校验位错误"),
    ("36010220151301123", "应为 18 位"),
    ("3601022015A601123X", "格式不正确"),
])
def test_malformed_numbers(number, message):
    with pytest.raises(DomainError, match=message):
        identity.check_id_number(number)


def test_impossible_and_future_dates():
    bad_date = "360102201502301230"  # 30 Feb
    bad_date = bad_date[:17] + __import__("stdnum.cn.ric", fromlist=["x"]).calc_check_digit(bad_date)
    with pytest.raises(DomainError, match="不是有效日期"):
        identity.check_id_number(bad_date)
    future = identity.build_id_number("360102", D(2030, 1, 1), 11)
    with pytest.raises(DomainError, match="晚于今天"):
        identity.check_id_number(future, today=D(2026, 11, 24))


def test_record_must_agree_with_the_number():
    with pytest.raises(DomainError, match="出生日期.*不一致"):
        identity.check_id_number(VALID, birth_date=D(2015, 6, 2))
    with pytest.raises(DomainError, match="显示性别为男"):
        identity.check_id_number(VALID, gender="2")


def test_unknown_region_is_only_a_warning():
    odd = identity.build_id_number("369999", D(2015, 6, 1), 12)
    check = identity.check_id_number(odd)
    assert check.number == odd and "369999" in check.warnings[0]


def test_numbers_and_masking():
    assert identity.xueji_number("1", VALID, "36000000000007") == "G" + VALID
    temp = identity.xueji_number("A", None, "36000000000007")
    assert temp.startswith("L") and len(temp) == 19 and temp.endswith("36000000000007")
    assert identity.personal_identifier("360000", 42) == "36000000000042"
    assert identity.mask(VALID) == VALID[:6] + "********" + VALID[-4:]
    assert identity.mask(None) == ""
