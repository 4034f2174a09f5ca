"""Cell values as officers' workbooks hold them → the values the services expect."""
import datetime
import functools
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from app.codes import tables
from app.imports import spec as S
from app.services.errors import DomainError

EXCEL_EPOCH = datetime.date(1899, 12, 30)
SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")
SPACES = re.compile(r"\s+")
INTEGER = re.compile(r"-?\d+")
MONTH = re.compile(r"^(\d{4})-?(\d{1,2})(-\d{1,2})?$")


def _text(value):
    if isinstance(value, str):
        # ASCII is unchanged by NFKC: skip the normalisation for the most common cells.
        return (value if value.isascii() else unicodedata.normalize("NFKC", value)).strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


@functools.lru_cache(maxsize=8192)
def _date_text(value):
    """A date cell written as text → ISO text; remembered (a sheet's dates repeat a lot, and the
    shared result strings save memory). Errors are not cached."""
    if len(value) == 10 and value[4] == "-" and value[7] == "-" and value.isascii():
        y, m, d = value[:4], value[5:7], value[8:]
        if y.isdigit() and m.isdigit() and d.isdigit():
            try:
                return datetime.date(int(y), int(m), int(d)).isoformat()
            except ValueError:
                pass  # the general parser below gives the message
    return _date(value).isoformat()


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
    if isinstance(value, str):
        return _month_text(value)
    return _month_text(_text(value))


@functools.lru_cache(maxsize=4096)
def _month_text(value):
    text = _text(value).replace("年", "-").replace("月", "").replace("/", "-").replace(".", "-")
    m = MONTH.match(text)
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
    if text.isalnum():  # the usual cell: nothing to drop
        return text.upper()
    return "".join(ch for ch in text if ch.isalnum()).upper()


@functools.lru_cache(maxsize=None)
def _code_lookup(table):
    """{code or name: code} of a national code table: what tables.code_for answers (codes first,
    then the first item of that name), as one dict look-up instead of a scan of the names. Names
    are also found in their NFKC form, which is what _text makes of a cell: 上下学方式 has names
    with full-width brackets that would otherwise never match a normalised cell."""
    items = tables.table(table)
    lookup = {}
    for code, name in items.items():
        lookup.setdefault(name, code)
    for code, name in items.items():
        lookup.setdefault(unicodedata.normalize("NFKC", name).strip(), code)
    lookup.update((code, code) for code in items)
    return lookup


def _code(value, column):
    text = _text(value)
    lookup = _code_lookup(column.table)
    code = lookup.get(text)
    if code is None and text.isdigit():  # Excel dropped a leading zero: 1 → 01
        code = lookup.get(text.zfill(2))
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


def _plain_text(value):
    return SPACES.sub(" ", _text(value))


def _integer(value):
    text = _text(value)
    if not INTEGER.fullmatch(text):
        raise DomainError("应为整数")
    return int(text)


def _any_date(value):
    return _date_text(value) if isinstance(value, str) else _date(value).isoformat()


_BY_KIND = {
    S.TEXT: _plain_text,
    S.INTEGER: _integer,
    S.DECIMAL1: _decimal1,
    S.DATE: _any_date,
    S.MONTH: _month,
    S.BOOL: _bool,
    S.REGION: lambda value: _digits(value, (6, 9, 12), "行政区划代码应为 6 位数字，"),
    S.ID_NUMBER: _id_number,
    S.SCHOOL_CODE: lambda value: _digits(value, (10,), "学校标识码应为 10 位数字，"),
}


# Kinds whose result depends only on the cell's text (and a static code table): a sheet repeats
# the same few texts in every row (汉族, 否, 2019-09-01, 360102 …), so the result of a text is
# remembered per kind and table. Names and ID numbers are unique: not remembered. Errors are not
# remembered either (they are raised again, with the same message, each time).
_REMEMBERED = {S.CODE, S.BOOL, S.DATE, S.MONTH, S.REGION, S.SCHOOL_CODE, S.DECIMAL1, S.INTEGER}
_REMEMBER_MAX = 4096
_remembered = {}
_UNSEEN = object()


def normalise(column, value):
    """Returns the normalised value (None for an empty cell); raises DomainError for bad cells."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        kind = column.kind
        if kind in _REMEMBERED and value.__class__ is str:
            key = (kind, column.table)
            memo = _remembered.get(key)
            if memo is None:
                memo = _remembered[key] = {}
            result = memo.get(value, _UNSEEN)
            if result is _UNSEEN:
                result = _normalise(column, value)
                if len(memo) < _REMEMBER_MAX:
                    memo[value] = result
            return result
    return _normalise(column, value)


def _normalise(column, value):
    kind = column.kind
    if kind == S.CODE:
        return _code(value, column)
    return _BY_KIND.get(kind, _text)(value)


def normaliser(column):
    """normalise() bound to one column, for a loop over many rows: the same results and errors,
    without looking up the column's kind and memo again for every cell."""
    kind = column.kind
    convert = (lambda value: _code(value, column)) if kind == S.CODE else _BY_KIND.get(kind, _text)
    if kind not in _REMEMBERED:
        def plain(value):
            if value is None or (isinstance(value, str) and not value.strip()):
                return None
            return convert(value)
        return plain
    memo = _remembered.setdefault((kind, column.table), {})
    get = memo.get

    def remembered(value):
        if value.__class__ is str:
            result = get(value, _UNSEEN)
            if result is not _UNSEEN:
                return result
            if not value.strip():
                return None
            result = convert(value)
            if len(memo) < _REMEMBER_MAX:
                memo[value] = result
            return result
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return convert(value)
    return remembered
