"""Cell values as officers' workbooks hold them → the values the services expect."""
import datetime
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from app.codes import tables
from app.imports import spec as S
from app.services.errors import DomainError

EXCEL_EPOCH = datetime.date(1899, 12, 30)
SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")


def _text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, (int, float)):
        if 1 <= value <= 80000:  # an Excel date serial
            return EXCEL_EPOCH + datetime.timedelta(days=int(value))
        value = str(int(value))
    text = _text(value).replace("年", "-").replace("月", "-").replace("日", "").replace("/", "-").replace(".", "-")
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.datetime.strptime(text.strip("-"), fmt).date()
        except ValueError:
            continue
    raise DomainError("日期格式应为 年-月-日（如 2019-03-07）")


def _month(value):
    if isinstance(value, (datetime.date, datetime.datetime)) or (isinstance(value, (int, float)) and 1 <= value <= 80000):
        return f"{_date(value):%Y-%m}"
    text = _text(value).replace("年", "-").replace("月", "").replace("/", "-").replace(".", "-")
    m = re.match(r"^(\d{4})-?(\d{1,2})(-\d{1,2})?$", text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise DomainError("年月格式应为 年-月（如 2026-09）")
    return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}"


def _decimal1(value):
    if isinstance(value, float):
        value = repr(value)
    text = _text(value)
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise DomainError("应为数字")
    if d != d.quantize(Decimal("0.1")):
        raise DomainError("最多保留一位小数")
    return str(d.quantize(Decimal("0.1")))


def _id_number(value):
    if isinstance(value, (int, float)):
        raise DomainError("身份证件号被 Excel 存成了数字（末尾几位可能已丢失），请把该列设为“文本”格式后重新填写")
    text = _text(value)
    if SCIENTIFIC.match(text):
        raise DomainError("身份证件号显示为科学计数法（末尾几位已丢失），请把该列设为“文本”格式后重新填写")
    return "".join(ch for ch in text if ch.isalnum()).upper()


def _code(value, column):
    text = _text(value)
    code = tables.code_for(column.table, text)
    if code is None and text.isdigit():  # Excel dropped a leading zero: 1 → 01
        code = tables.code_for(column.table, text.zfill(2))
    if code is None:
        raise DomainError(f"“{text}”不是有效的{tables.title(column.table)}，请从下拉列表中选择")
    return code


def _bool(value):
    text = _text(value).lower()
    if text in ("是", "y", "yes", "true", "1", "有"):
        return True
    if text in ("否", "n", "no", "false", "0", "无"):
        return False
    raise DomainError("应填“是”或“否”")


def _digits(value, lengths, what):
    text = _text(value).replace(" ", "")
    if not text.isdigit() or len(text) not in lengths:
        raise DomainError(f"{what}格式不正确")
    return text


def normalise(column, value):
    """Returns the normalised value (None for an empty cell); raises DomainError for bad cells."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = column.kind
    if kind == S.TEXT:
        return re.sub(r"\s+", " ", _text(value))
    if kind == S.INTEGER:
        text = _text(value)
        if not re.fullmatch(r"-?\d+", text):
            raise DomainError("应为整数")
        return int(text)
    if kind == S.DECIMAL1:
        return _decimal1(value)
    if kind == S.DATE:
        return _date(value).isoformat()
    if kind == S.MONTH:
        return _month(value)
    if kind == S.BOOL:
        return _bool(value)
    if kind == S.CODE:
        return _code(value, column)
    if kind == S.REGION:
        return _digits(value, (6, 9, 12), "行政区划代码应为 6 位数字，")
    if kind == S.ID_NUMBER:
        return _id_number(value)
    if kind == S.SCHOOL_CODE:
        return _digits(value, (10,), "学校标识码应为 10 位数字，")
    return _text(value)
