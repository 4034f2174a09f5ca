"""Form values of the 中招 services, checked one way: text, phone numbers, bounded integers, choices
and the version a form was read at. Every message is Chinese and names the field."""
from app.services.errors import DomainError
from app.services.school_years import _check_version as check_version  # noqa: F401  one stale-form rule


def text(value, label, field, limit, required=False):
    value = str(value if value is not None else "").strip()
    if required and not value:
        raise DomainError(f"请填写{label}", field=field)
    if len(value) > limit:
        raise DomainError(f"{label}不能超过 {limit} 个字", field=field)
    return value or None


def phone(value, label, field):
    value = text(value, label, field, 20)
    if value and not (value.isdigit() and 7 <= len(value) <= 13):
        raise DomainError(f"{label}应为 7–13 位数字", field=field)
    return value


def integer(value, label, field, low, high):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainError(f"{label}应为整数", field=field)
    if not low <= number <= high:
        raise DomainError(f"{label}应在 {low}–{high} 之间", field=field)
    return number


def choice(value, enum_cls, label, field, default=None):
    """A member of a LabelledEnum by its code or its label; blank gives `default` (None: required)."""
    if value in (None, "") and default is not None:
        return default
    if isinstance(value, enum_cls):
        return value
    for member in enum_cls:
        if str(value or "").strip() in (member.value, str(member.label)):
            return member
    raise DomainError(f"请选择正确的{label}", field=field)
