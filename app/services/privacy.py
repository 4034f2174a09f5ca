"""信息保密: ID numbers are masked unless the actor's role needs them in full (the school's
registrar and the county officer who approves); every full view or full export is audited."""
import re

from app.services import audit, identity
from app.services.roles import COUNTY_ADMIN, PLATFORM_ADMIN, SCHOOL_ADMIN

FULL_ID_ROLES = {SCHOOL_ADMIN, COUNTY_ADMIN, PLATFORM_ADMIN}


def full_id_allowed(actor):
    return any(r.name in FULL_ID_ROLES for r in (getattr(actor, "roles", None) or []))


def shown_id(actor, number):
    return number if full_id_allowed(actor) else identity.mask(number)


def record_full_view(session, actor, student, where):
    """An audit entry for each time a full ID number is shown or exported."""
    if not full_id_allowed(actor) or not student.id_number:
        return
    audit.record_access(session, actor, "student", student.id, str(student), "id_number", where,
                        student.audit_org_path)


def shown_xueji(actor, number):
    """A national 学籍号 is 'G' + the ID number: it is masked exactly when the ID number is.
    Temporary L-numbers carry no ID number and are shown as they are."""
    if not number:
        return number
    if number.startswith("G") and not full_id_allowed(actor):
        return "G" + identity.mask(number[1:])
    return number


SECRET_FIELDS = {"id_number": shown_id, "xueji_no": shown_xueji, "former_xueji_no": shown_xueji}


_ID_IN_TEXT = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?![\dA-Za-z])")


def shown_field(actor, field, value):
    """Any stored value that may carry an ID number (audit log entries, request payloads): the
    known fields are masked as such, and ID-shaped numbers inside free text are masked too."""
    if not value:
        return value
    fn = SECRET_FIELDS.get(field)
    if fn:
        return fn(actor, value)
    if full_id_allowed(actor) or not isinstance(value, str):
        return value
    return _ID_IN_TEXT.sub(lambda m: m.group(1) + "********" + m.group(2)[-4:], value)
