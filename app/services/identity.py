"""ID numbers (GB 11643) via python-stdnum, 学籍号 / 个人标识码 issuance, masking.

check_id_number() normalises what officers type or paste (full-width digits, spaces, a lowercase
x), upgrades a 15-digit number to 18 with a notice, and checks the check character and the birth
date. An unknown region prefix is only a warning: old numbers carry codes of abolished counties.
"""
import datetime
import unicodedata
from functools import lru_cache
from dataclasses import dataclass, field

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from app.services.errors import DomainError
from app.services import clock

MAINLAND_ID = "1"  # 身份证件类型: 居民身份证
GENDER_MALE, GENDER_FEMALE = "1", "2"
GENDER_NAMES = {GENDER_MALE: "男", GENDER_FEMALE: "女"}


@dataclass
class IdCheck:
    number: str
    birth_date: datetime.date
    gender: str
    notices: list = field(default_factory=list)   # informational (e.g. 15 → 18 upgrade)
    warnings: list = field(default_factory=list)   # suspicious but accepted (unknown region)


def normalise(raw):
    """Full-width → half-width, drop spaces and separators, upper-case X."""
    text = unicodedata.normalize("NFKC", str(raw or ""))
    return "".join(ch for ch in text if ch.isalnum()).upper()


@lru_cache(maxsize=16384)
def _region_known(prefix6, year):
    """stdnum's region table lookup, cached: it dominated bulk validation (bench/bench_imports.py)."""
    try:
        ric.get_birth_place(f"{prefix6}{year:04d}01010000")
        return True
    except (ValidationError, KeyError):  # stdnum raises KeyError for a prefix known only as a province
        return False


def upgrade_15(number15):
    """Old 15-digit numbers: insert the century (19) and append the check character."""
    body = number15[:6] + "19" + number15[6:]
    return body + ric.calc_check_digit(body + "0")


def check_id_number(raw, *, birth_date=None, gender=None, today=None, label="身份证号"):
    """Validate a mainland ID number, optionally against the record's birth date and sex.
    Returns an IdCheck; raises DomainError with a Chinese message."""
    today = today or clock.today()
    number = normalise(raw)
    notices = []
    if not number:
        raise DomainError(f"请填写{label}", field="id_number")
    if len(number) == 15 and number.isdigit():
        number = upgrade_15(number)
        notices.append(f"15 位{label}已自动升级为 18 位：{number}")
    if len(number) != 18:
        raise DomainError(f"{label}应为 18 位（现为 {len(number)} 位）", field="id_number")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise DomainError(f"{label}格式不正确：前 17 位应为数字，最后一位为数字或 X", field="id_number")
    if number[17] != ric.calc_check_digit(number):
        # The right check character is not shown: the number must be verified, not patched.
        raise DomainError(f"{label}校验位错误，请对照户口簿或身份证核对", field="id_number")
    try:  # parsed here, not by stdnum's get_birth_date: a third of bulk validation went there
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise DomainError(f"{label}中的出生日期 {number[6:14]} 不是有效日期", field="id_number")
    if born > today:
        raise DomainError(f"{label}中的出生日期 {born:%Y-%m-%d} 晚于今天", field="id_number")
    if born.year < 1900:
        raise DomainError(f"{label}中的出生日期 {born:%Y-%m-%d} 不合理", field="id_number")
    sex = GENDER_MALE if int(number[16]) % 2 else GENDER_FEMALE
    if birth_date is not None and born != birth_date:
        raise DomainError(f"{label}中的出生日期（{born:%Y-%m-%d}）与填写的出生日期（{birth_date:%Y-%m-%d}）不一致",
                          field="birth_date")
    if gender and str(gender) in GENDER_NAMES and str(gender) != sex:
        raise DomainError(f"{label}显示性别为{GENDER_NAMES[sex]}，与填写的性别（{GENDER_NAMES[str(gender)]}）不一致",
                          field="gender")
    warnings = []
    if not _region_known(number[:6], born.year):
        warnings.append(f"{label}前 6 位 {number[:6]} 不在行政区划代码表中（可能是已撤销的旧区划），请核对")
    return IdCheck(number, born, sex, notices, warnings)


def build_id_number(region6, birth_date, sequence):
    """A well-formed number (demo data, tests): region + birth date + 3-digit sequence + check."""
    body = f"{region6}{birth_date:%Y%m%d}{sequence % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def check_birth_date(value, today=None):
    today = today or clock.today()
    if value is None:
        raise DomainError("请填写出生日期", field="birth_date")
    if value > today:
        raise DomainError("出生日期不能晚于今天", field="birth_date")
    if value.year < 1900:
        raise DomainError("出生日期不合理", field="birth_date")
    return value


def mask(number):
    """360102********1234: region visible for the officer's orientation, the rest hidden."""
    if not number:
        return ""
    if len(number) <= 10:
        return number[:2] + "*" * (len(number) - 4) + number[-2:] if len(number) > 4 else "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def xueji_number(id_type, id_number, personal_id):
    """学籍号: 'G' + the 18-character mainland ID; otherwise a temporary 'L' number built from the
    unique 个人标识码 (replaced by the G number once an ID number is approved)."""
    if id_type == MAINLAND_ID and id_number:
        return "G" + id_number
    return "L" + personal_id.rjust(18, "0")[-18:]


def personal_identifier(province_code, student_id):
    """个人标识码: province (2 digits) + 12-digit serial; unique because the serial is the row id."""
    return f"{province_code[:2]}{student_id:012d}"
