"""信息保密: ID numbers are masked unless the actor's role needs them in full (the school's
registrar and the county officer who approves); every full view or full export is audited."""
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
