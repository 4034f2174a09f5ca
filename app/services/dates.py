"""Dates as officers type them (2026-07-21, 2026/07/21, 20260721) or as forms and JSON hand them over."""
import datetime

from app.services.errors import DomainError

FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")


def parse_date(value, message, field):
    """A date, or DomainError(message, field) for anything else (empty included)."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value or "").strip()
    for fmt in FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise DomainError(message, field=field)
