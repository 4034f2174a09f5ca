"""The four scopes of 转学 end to end from the outside — once through the HTML screens, once through
the REST API: started by the sending school, decided step by step by whoever the route names (the
other school, one or two counties, two cities, the province as the other province's stand-in), and
the record where it must be afterwards."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import OrgKind, Request, RequestState, Student, StudentStatus
from app.models.requests import RequestStep
from werkzeug.security import generate_password_hash

from tests.conftest import PASSWORD, account
from tests.integration.test_movement_api import call  # noqa: F401  (fixture)
from tests.integration.test_registry_services import enrolled
from tests.integration.test_transfers import new_school

SENDER = "school_3601020001"  # 东湖第一小学, 东湖区, 南昌
# target school code (None: another province) → the units the route must name, in order
SCOPES = {
    "within_county": ("3601020003", ["school_3601020003", "county_360102"]),
    "across_counties": ("3601030001", ["school_3601030001", "county_360102", "county_360103"]),
    "across_cities": ("3604020001", ["school_3604020001", "county_360102", "county_360402",
                                     "city_360100", "city_360400"]),
    "across_provinces": (None, ["county_360102", "sheng_admin"]),
}


def username(unit):
    if unit.kind == OrgKind.SCHOOL:
        return f"school_{unit.school_code}"
    if unit.kind == OrgKind.PROVINCE:
        return "sheng_admin"
    return f"{unit.kind.value}_{unit.region_code}"


def route_of(app, rid):
    with app.app_context():
        steps = db.session.scalars(select(RequestStep).where(RequestStep.request_id == rid)
                                   .order_by(RequestStep.seq)).all()
        names = [username(s.org_unit) for s in steps]
        db.session.remove()
    return names


def outcome(app, sid, rid):
    with app.app_context():
        s, req = db.session.get(Student, sid), db.session.get(Request, rid)
        out = (s.school.school_code, s.status, req.state)
        db.session.remove()
    return out


def setup(app, scope):
    with app.app_context():
        if scope == "within_county":
            new_school()  # 东湖第二小学 (3601020003), a primary school of the same county, with its account
            officer = account(db.session, "school_3601020003")  # as if its first password change were done
            officer.password, officer.must_change_password = generate_password_hash(PASSWORD), False
            db.session.commit()
        s = enrolled(SENDER)
        sid, version = s.id, s.version
        db.session.remove()
    return sid, version


@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_through_the_screens(app, as_user, scope):
    target, route = SCOPES[scope]
    sid, version = setup(app, scope)
    client = as_user(SENDER)
    if target:
        r = client.post(f"/studentview/transfer_out/{sid}", data={
            "to_school": target, "grade": "11", "class_name": "2班", "reason_code": "01", "version": version})
    else:
        r = client.post(f"/studentview/province_out/{sid}", data={
            "to_province": "440000", "to_school": "广州市天河区第一小学", "reason_code": "01", "version": version})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    with app.app_context():
        rid = db.session.scalar(select(Request.id).where(Request.student_id == sid, Request.type.like("transfer%")))
        db.session.remove()
    assert route_of(app, rid) == route
    for who in route:
        decider = as_user(who)
        page = decider.get(f"/inboxview/show/{rid}")
        assert page.status_code == 200 and "转" in page.get_data(as_text=True)
        r = decider.post(f"/inboxview/approve/{rid}", data={"comment": "同意"})
        assert r.status_code == 302
        assert outcome(app, sid, rid)[2] == (RequestState.APPROVED if who == route[-1] else RequestState.PENDING)
    school, status, _state = outcome(app, sid, rid)
    if target:
        assert (school, status) == (target, StudentStatus.IN_SCHOOL)
        assert as_user(SENDER).get(f"/studentview/show/{sid}").status_code == 404
        assert as_user(f"school_{target}").get(f"/studentview/history/{sid}").status_code == 200
    else:
        assert (school, status) == ("3601020001", StudentStatus.TRANSFERRED_OUT)


@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_through_the_api(app, call, scope):  # noqa: F811
    target, route = SCOPES[scope]
    sid, version = setup(app, scope)
    if target:
        r = call(SENDER, "post", f"/api/v1/movement/{sid}/transfer-out",
                 {"to_school_code": target, "grade": "11", "reason_code": "01", "expected_version": version})
    else:
        r = call(SENDER, "post", f"/api/v1/movement/{sid}/province-out",
                 {"to_province": "440000", "to_school": "广州市天河区第一小学", "reason_code": "01"})
    assert r.status_code == 201, r.json
    rid = r.json["request_id"]
    assert route_of(app, rid) == route
    for who in route:
        r = call(who, "post", f"/api/v1/request/{rid}/approve", {"comment": "同意"})
        assert r.status_code == 200, r.json
    school, status, state = outcome(app, sid, rid)
    assert state == RequestState.APPROVED
    if target:
        assert (school, status) == (target, StudentStatus.IN_SCHOOL)
        assert call(SENDER, "get", f"/api/v1/student/{sid}").status_code == 404
        history = call(f"school_{target}", "get", f"/api/v1/movement/{sid}/history")
        assert history.status_code == 200 and len(history.json["spans"]) >= 3
    else:
        assert (school, status) == ("3601020001", StudentStatus.TRANSFERRED_OUT)
