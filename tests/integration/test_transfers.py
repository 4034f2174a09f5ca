"""转学 (学籍异动 item 1, 3, 6, 7) through the services: the four scopes end to end on the one
approval engine — steps, roles and parties, both initiators, the settings that shape the route —
籍随人走 on final approval (the old school keeps a DepartureTrace, not the record), arbitration by
the lowest common superior, locks, every bad input with nothing changed, exactly-once decisions."""
import datetime
import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Request, RequestState, Student, StudentStatus
from app.models.org import OrgKind, Ownership, SchoolType
from app.models.process import DepartureTrace
from app.models.requests import RequestStep
from app.models.student import Attachment, StudentHistory
from app.services import (
    accounts, attachments, calendars, history, orgs, process_settings, requests, scope, status_changes, students,
    transfers,
)
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.identity import build_id_number
from app.services.roles import SCHOOL_ADMIN
from tests.conftest import account, unit
from tests.integration.test_registry_services import GUARDIANS, PDF, approve, data, evidence, register

D = datetime.date
EAST, WEST, LIANXI = "360102", "360103", "360402"          # 东湖区, 西湖区 (南昌); 濂溪区 (九江)
EAST1, EAST2, WEST1, LIANXI1 = "3601020001", "3601020002", "3601030001", "3604020001"
EAST3 = "3601020003"                                         # a second primary school of 东湖区, made per test


# ---------------------------------------------------------------- helpers

def acc(username):
    return account(db.session, username)


def school_acc(code):
    return acc(f"school_{code}")


def new_school(county=EAST, seq=3, name="东湖第二小学", school_type=SchoolType.PRIMARY, username=None):
    """A school (and its registry operator) made by the county through the services."""
    officer = acc(f"county_{county}")
    school = orgs.create_unit(db.session, officer, kind=OrgKind.SCHOOL, name=name, parent_id=unit(db.session, county).id,
                              school_code=f"{county}{seq:04d}", school_type=school_type, ownership=Ownership.PUBLIC)
    accounts.create_account(db.session, officer, username=username or f"school_{school.school_code}",
                            real_name="王老师", phone=f"1380000{seq:04d}", org_unit_id=school.id,
                            role_names=[SCHOOL_ADMIN])
    db.session.commit()
    return school


def student_at(code=EAST1, seq=1, name="张小明", **over):
    """An enrolled (在校) student of school `code`, approved by its county."""
    s, req = register(f"school_{code}", seq=seq, name=name, **over)
    approve(req, f"county_{code[:6]}")
    return s


def transfer_out(s, to_code, who=None, **kw):
    kw.setdefault("reason_code", "01")
    who = who or f"school_{s.school.school_code}"
    req = transfers.start_transfer_out(db.session, acc(who), s.id, to_school_code=to_code, **kw)
    db.session.commit()
    return req


def transfer_in(s, who, number=None, **kw):
    kw.setdefault("reason_code", "03")
    req = transfers.start_transfer_in(db.session, acc(who), name=kw.pop("name", s.name),
                                      number=number or s.xueji_no, **kw)
    db.session.commit()
    return req


def decide(req, who, comment=None, expected_version=None):
    out = requests.approve(db.session, acc(who), req.id, comment, expected_version=expected_version)
    db.session.commit()
    return out


def refuse(req, who, comment="不同意"):
    out = requests.reject(db.session, acc(who), req.id, comment)
    db.session.commit()
    return out


def steps(req):
    """(unit key, role, party, decision) of each step in order, as stored."""
    db.session.expire_all()
    rows = db.session.scalars(select(RequestStep).where(RequestStep.request_id == req.id).order_by(RequestStep.seq)).all()
    return [(s.org_unit.path.strip("/").split("/")[-1], s.role.value, s.party.value if s.party else None, s.decision.value)
            for s in rows]


def world():
    """Everything a refused action must leave as it was."""
    db.session.expire_all()
    counts = tuple(db.session.scalar(select(func.count()).select_from(m))
                   for m in (Request, RequestStep, Student, StudentHistory, DepartureTrace))
    versions = tuple(db.session.execute(select(Request.id, Request.version, Request.state, Request.current_step)
                                        .order_by(Request.id)).all())
    decisions = tuple(db.session.execute(select(RequestStep.id, RequestStep.seq, RequestStep.decision)
                                         .order_by(RequestStep.id)).all())
    records = tuple(db.session.execute(select(Student.id, Student.school_id, Student.status, Student.grade,
                                              Student.version).order_by(Student.id)).all())
    return counts, versions, decisions, records


def refused(match, fn, *args, exc=DomainError, **kw):
    """The call raises `exc` with a message matching `match`, and (after the caller's rollback,
    as every screen and API does) nothing changed."""
    before = world()
    with pytest.raises(exc, match=match) as err:
        fn(db.session, *args, **kw)
    db.session.rollback()
    assert world() == before
    return err.value


def file_for(actor, kind="evidence", name="转学证明.pdf"):
    return attachments.save(db.session, actor, name, PDF, kind, actor.org_unit.path)


def audit_rows(entity="request_step", **where):
    stmt = select(AuditLog).where(AuditLog.entity == entity)
    for k, v in where.items():
        stmt = stmt.where(getattr(AuditLog, k) == v)
    return db.session.scalars(stmt).all()


# ---------------------------------------------------------------- within one county

def test_within_county_transfer_out_moves_the_record_with_its_history(app):
    with app.app_context():
        new_school()
        s = student_at(class_name="1班")
        sender = school_acc(EAST1)
        filed = file_for(sender, name="既有佐证.pdf")  # evidence filed earlier for the student
        filed.student_id = s.id
        db.session.commit()
        proof = file_for(sender)
        req = transfer_out(s, EAST3, class_name="2班", attachments=[proof], expected_version=s.version)
        assert req.type == transfers.TRANSFER_OUT and req.school.school_code == EAST1 and req.student_id == s.id
        assert req.payload["from_school"] == "东湖第一小学" and req.payload["to_school"] == "东湖第二小学"
        assert req.reason == "随父母工作调动" and req.locks_student
        # the receiving school confirms for its side, then the one county approves
        assert steps(req) == [(EAST3, "confirm", "in", "pending"), (EAST, "approve", None, "waiting")]
        rows = requests.REQUEST_TYPES[req.type].describe(req)
        assert ("转出学校", "东湖第一小学", "") in rows and ("转入学校", "", "东湖第二小学") in rows
        assert ("班级", "1班", "2班") in rows
        with pytest.raises(PermissionDenied, match="当前由“东湖第二小学”核办"):
            requests.approve(db.session, acc("county_360102"), req.id)
        with pytest.raises(PermissionDenied, match="当前由“东湖第二小学”核办"):
            requests.approve(db.session, sender, req.id)  # the starter does not confirm for the other side
        db.session.rollback()
        assert requests.pending_count(db.session, school_acc(EAST3)) == 1  # schools see confirmations
        decide(req, f"school_{EAST3}")
        assert steps(req) == [(EAST3, "confirm", "in", "approved"), (EAST, "approve", None, "pending")]
        assert s.school.school_code == EAST1  # nothing moves before the final approval
        decide(req, "county_360102", "同意")
        assert req.state == RequestState.APPROVED and req.outcome == "同意"
        assert s.school.school_code == EAST3 and (s.grade, s.class_name) == ("11", "2班")
        assert s.status == StudentStatus.IN_SCHOOL and s.xueji_no == "G" + s.id_number  # the number is lifelong
        spans = s.history
        assert [h.school.school_code for h in spans] == [EAST1, EAST1, EAST3]
        assert all(h.valid_to is not None for h in spans[:-1]) and spans[-1].valid_to is None
        assert spans[-1].request_id == req.id and spans[-1].reason == "转学：由东湖第一小学转入东湖第二小学"
        # the old school: no record any more, a trace instead
        with pytest.raises(NotFound):
            scope.get(db.session, sender, Student, s.id)
        with pytest.raises(NotFound):
            history.student_history(db.session, sender, s.id)
        with pytest.raises(NotFound):
            students.update_student(db.session, sender, s.id, {"class_name": "3班"})
        db.session.rollback()
        traces = db.session.scalars(transfers.departures_query(sender)).all()
        assert len(traces) == 1
        t = traces[0]
        assert (t.student_id, t.request_id, t.student_name, t.grade, t.class_name) == (s.id, req.id, "张小明", "11", "1班")
        assert t.to_school.school_code == EAST3 and t.to_name == "南昌市东湖区 东湖第二小学"
        assert db.session.scalars(transfers.departures_query(school_acc(EAST3))).all() == []
        # the new school: the record, its whole history, its evidence
        receiver = school_acc(EAST3)
        h = history.student_history(db.session, receiver, s.id)
        assert [x.status for x in h.spans] == ["registering", "in_school", "in_school"]
        assert [r.type for r in h.requests] == [transfers.TRANSFER_OUT, students.REGISTRATION]
        for att in (filed, proof):
            assert scope.get(db.session, receiver, Attachment, att.id).student_id == s.id
            with pytest.raises(NotFound):
                attachments.open_for(db.session, sender, att.id)
        assert not requests.open_locking_request(db.session, s.id)


def test_within_county_transfer_in_is_started_by_the_receiving_school(app):
    with app.app_context():
        new_school()
        s = student_at()
        receiver = school_acc(EAST3)
        with pytest.raises(DomainError, match="本省没有与该姓名和学籍号"):
            transfers.start_transfer_in(db.session, receiver, name="张小红", number=s.xueji_no, reason_code="03")
        with pytest.raises(DomainError, match="本省没有与该姓名和学籍号"):
            transfers.start_transfer_in(db.session, receiver, name="张小明", number="G" + "1" * 18, reason_code="03")
        db.session.rollback()
        req = transfer_in(s, f"school_{EAST3}", number=s.id_number.lower(), grade="12", class_name="5班")  # by ID number too
        assert req.type == transfers.TRANSFER_IN and req.school.school_code == EAST3
        assert steps(req) == [(EAST1, "confirm", "out", "pending"), (EAST, "approve", None, "waiting")]
        assert requests.pending_count(db.session, school_acc(EAST1)) == 1
        assert [r.id for r in db.session.scalars(requests.inbox_query(school_acc(EAST1)))] == [req.id]
        assert requests.pending_count(db.session, receiver) == 0  # its own request is not its task
        decide(req, f"school_{EAST1}")
        decide(req, "county_360102")
        assert s.school.school_code == EAST3 and (s.grade, s.class_name) == ("12", "5班")
        with pytest.raises(NotFound):
            scope.get(db.session, school_acc(EAST1), Student, s.id)
        assert len(db.session.scalars(transfers.departures_query(school_acc(EAST1))).all()) == 1
        # the county keeps both: it still sees the student (now at the new school)
        assert scope.get(db.session, acc("county_360102"), Student, s.id).school.school_code == EAST3


def test_transfer_attachments_travel_with_the_record_of_a_transfer_in(app):
    with app.app_context():
        new_school()
        s = student_at()
        receiver = school_acc(EAST3)
        proof = file_for(receiver, name="住房证明.pdf")
        req = transfer_in(s, f"school_{EAST3}", attachments=[proof])
        assert [a.filename for a in req.attachments] == ["住房证明.pdf"]
        decide(req, f"school_{EAST1}")
        decide(req, "county_360102")
        att = scope.get(db.session, receiver, Attachment, proof.id)
        assert att.student_id == s.id and att.org_path == unit(db.session, EAST3).path


# ---------------------------------------------------------------- across counties of one city

def test_across_counties_both_counties_approve_sending_county_first_by_default(app):
    with app.app_context():
        s = student_at()
        req = transfer_out(s, WEST1)
        assert steps(req) == [(WEST1, "confirm", "in", "pending"), (EAST, "approve", "out", "waiting"),
                              (WEST, "approve", "in", "waiting")]
        west_county = acc("county_360103")
        # the receiving county already sees the request routed to it, and may not jump the queue
        assert scope.get(db.session, west_county, Request, req.id).id == req.id
        decide(req, f"school_{WEST1}")
        with pytest.raises(PermissionDenied, match="东湖区教育体育局"):
            requests.approve(db.session, west_county, req.id)
        db.session.rollback()
        decide(req, "county_360102")
        assert s.school.school_code == EAST1
        decide(req, "county_360103")
        assert req.state == RequestState.APPROVED and s.school.school_code == WEST1
        # scope follows the record: 西湖区 sees it, 东湖区 (county and school) keep only the trace
        assert scope.get(db.session, west_county, Student, s.id)
        for old in (acc("county_360102"), school_acc(EAST1)):
            with pytest.raises(NotFound):
                scope.get(db.session, old, Student, s.id)
            with pytest.raises(NotFound):
                history.student_history(db.session, old, s.id)
            assert [t.student_id for t in db.session.scalars(transfers.departures_query(old))] == [s.id]
        assert db.session.scalars(transfers.departures_query(west_county)).all() == []
        assert db.session.scalars(transfers.departures_query(acc("city_360100"))).all()[0].to_name == \
            "南昌市西湖区 西湖第一小学"
        h = history.student_history(db.session, school_acc(WEST1), s.id)
        assert [x.school.school_code for x in h.spans] == [EAST1, EAST1, WEST1]
        assert [st.org_unit.name for st in h.requests[0].steps] == ["西湖第一小学", "东湖区教育体育局", "西湖区教育体育局"]


def test_county_order_is_set_by_the_city_or_the_province(app):
    with app.app_context():
        with pytest.raises(PermissionDenied, match="跨县（区）转学的审批顺序"):
            process_settings.set_value(db.session, acc("county_360102"), process_settings.COUNTY_ORDER.key, "in_first")
        with pytest.raises(PermissionDenied):
            process_settings.set_value(db.session, school_acc(EAST1), process_settings.COUNTY_ORDER.key, "in_first")
        with pytest.raises(DomainError, match="取值不正确"):
            process_settings.set_value(db.session, acc("city_360100"), process_settings.COUNTY_ORDER.key, "random")
        with pytest.raises(DomainError, match="未知的设置项"):
            process_settings.set_value(db.session, acc("city_360100"), "transfer.colour", "in_first")
        db.session.rollback()
        process_settings.set_value(db.session, acc("city_360100"), process_settings.COUNTY_ORDER.key, "in_first")
        db.session.commit()
        a = student_at()
        req = transfer_out(a, WEST1)
        assert steps(req) == [(WEST1, "confirm", "in", "pending"), (WEST, "approve", "in", "waiting"),
                              (EAST, "approve", "out", "waiting")]
        decide(req, f"school_{WEST1}")
        decide(req, "county_360103")
        decide(req, "county_360102")
        assert a.school.school_code == WEST1
        # the province says out_first; the city's own setting is nearer and wins for 南昌
        process_settings.set_value(db.session, acc("sheng_admin"), process_settings.COUNTY_ORDER.key, "out_first")
        db.session.commit()
        value, owner = process_settings.effective(db.session, unit(db.session, "360100"), process_settings.COUNTY_ORDER)
        assert (value, owner.name) == ("in_first", "南昌市教育局")
        b = student_at(seq=2, name="李小华")
        assert [x[0] for x in steps(transfer_out(b, WEST1))] == [WEST1, WEST, EAST]
        # the city changes its mind: the value is updated in place (one row per unit and key)
        process_settings.set_value(db.session, acc("city_360100"), process_settings.COUNTY_ORDER.key, "out_first")
        db.session.commit()
        c = student_at(seq=3, name="王小军")
        assert [x[0] for x in steps(transfer_out(c, WEST1))] == [WEST1, EAST, WEST]
        assert len(audit_rows("process_setting", field="value")) >= 3


# ---------------------------------------------------------------- across cities

def test_across_cities_both_counties_then_both_cities(app):
    with app.app_context():
        s = student_at()
        req = transfer_in(s, f"school_{LIANXI1}")
        assert steps(req) == [(EAST1, "confirm", "out", "pending"), (EAST, "approve", "out", "waiting"),
                              (LIANXI, "approve", "in", "waiting"), ("360100", "approve", "out", "waiting"),
                              ("360400", "approve", "in", "waiting")]
        for who in (f"school_{EAST1}", "county_360102", "county_360402", "city_360100"):
            decide(req, who)
            assert s.school.school_code == EAST1 and req.state == RequestState.PENDING
        decide(req, "city_360400")
        assert req.state == RequestState.APPROVED and s.school.school_code == LIANXI1
        for old in (acc("city_360100"), acc("county_360102"), school_acc(EAST1)):
            with pytest.raises(NotFound):
                scope.get(db.session, old, Student, s.id)
        for new in (acc("city_360400"), acc("county_360402"), school_acc(LIANXI1), acc("sheng_admin")):
            assert history.student_history(db.session, new, s.id).student.id == s.id
        assert db.session.scalars(transfers.departures_query(acc("city_360100"))).one().to_name == \
            "九江市濂溪区 濂溪第一小学"


def test_province_settings_shape_the_cross_city_route(app):
    with app.app_context():
        with pytest.raises(PermissionDenied, match="跨市转学是否由两市审批"):
            process_settings.set_value(db.session, acc("city_360100"), process_settings.CITY_APPROVAL.key, "none")
        db.session.rollback()
        process_settings.set_value(db.session, acc("sheng_admin"), process_settings.CITY_APPROVAL.key, "none")
        process_settings.set_value(db.session, acc("sheng_admin"), process_settings.COUNTY_ORDER.key, "in_first")
        db.session.commit()
        s = student_at()
        req = transfer_out(s, LIANXI1)
        assert steps(req) == [(LIANXI1, "confirm", "in", "pending"), (LIANXI, "approve", "in", "waiting"),
                              (EAST, "approve", "out", "waiting")]
        process_settings.set_value(db.session, acc("sheng_admin"), process_settings.CITY_APPROVAL.key, "both")
        db.session.commit()
        t = student_at(seq=2, name="李小华")
        assert [x[0] for x in steps(transfer_out(t, LIANXI1))] == [LIANXI1, LIANXI, EAST, "360400", "360100"]
        # a city's own county order does not reach a cross-city transfer: the province decides it
        process_settings.set_value(db.session, acc("city_360100"), process_settings.COUNTY_ORDER.key, "out_first")
        db.session.commit()
        u = student_at(seq=3, name="王小军")
        assert [x[0] for x in steps(transfer_out(u, LIANXI1))] == [LIANXI1, LIANXI, EAST, "360400", "360100"]


# ---------------------------------------------------------------- arbitration

def test_lowest_common_superior(app):
    with app.app_context():
        lcs = lambda a, b: requests.lowest_common_superior(db.session, unit(db.session, a), unit(db.session, b)).name
        assert lcs(EAST1, EAST2) == "东湖区教育体育局"
        assert lcs(EAST1, WEST1) == "南昌市教育局"
        assert lcs(EAST, WEST) == "南昌市教育局"
        assert lcs(EAST, LIANXI) == "江西省教育厅"
        assert lcs("360100", "360400") == "江西省教育厅"
        assert lcs(EAST1, LIANXI1) == "江西省教育厅"
        assert lcs(EAST1, EAST) == "南昌市教育局"  # one holds the other: its superior decides, not itself


def test_a_school_that_refuses_to_confirm_goes_to_county_arbitration(app):
    with app.app_context():
        new_school()
        s = student_at()
        req = transfer_out(s, EAST3)
        with pytest.raises(DomainError, match="驳回须填写理由"):
            requests.reject(db.session, school_acc(EAST3), req.id, " ")
        db.session.rollback()
        refuse(req, f"school_{EAST3}", "学位已满")
        assert req.state == RequestState.PENDING and requests.in_arbitration(req)
        assert steps(req) == [(EAST3, "confirm", "in", "rejected"), (EAST, "arbitrate", None, "pending"),
                              (EAST, "approve", None, "waiting")]
        assert requests.open_locking_request(db.session, s.id).id == req.id  # still in transit
        county = acc("county_360102")
        assert requests.can_decide(county, req)
        with pytest.raises(DomainError, match="仲裁须填写裁决理由"):
            requests.approve(db.session, county, req.id, "  ")
        db.session.rollback()
        assert steps(req)[1][3] == "pending"
        decide(req, "county_360102", "学生户籍已迁入该校学区，应予接收")
        assert req.state == RequestState.APPROVED and req.outcome == "学生户籍已迁入该校学区，应予接收"
        assert steps(req) == [(EAST3, "confirm", "in", "rejected"), (EAST, "arbitrate", None, "approved"),
                              (EAST, "approve", None, "skipped")]
        assert s.school.school_code == EAST3  # the arbitration is final: the transfer is carried out
        with pytest.raises(DomainError, match="该申请已通过，不能重复处理"):
            requests.reject(db.session, county, req.id, "改判")
        db.session.rollback()
        # audited: the refusal, the arbitration step and its decision, by whom, with the reasons
        created = audit_rows(action="create", field="role", new_value="arbitrate")
        assert len(created) == 1 and created[0].actor_name == f"school_{EAST3}"
        decisions = audit_rows(action="update", field="decision")
        assert ("rejected", f"school_{EAST3}") in [(r.new_value, r.actor_name) for r in decisions]
        assert ("approved", "county_360102") in [(r.new_value, r.actor_name) for r in decisions]
        assert ("skipped", "county_360102") in [(r.new_value, r.actor_name) for r in decisions]
        comments = {r.new_value: r.actor_name for r in audit_rows(action="update", field="comment")}
        assert comments["学位已满"] == f"school_{EAST3}"
        assert comments["学生户籍已迁入该校学区，应予接收"] == "county_360102"


def test_a_sending_school_refusing_a_transfer_in_from_another_county_goes_to_the_city(app):
    with app.app_context():
        s = student_at()
        req = transfer_in(s, f"school_{WEST1}")
        refuse(req, f"school_{EAST1}", "该生仍在本校就读")
        assert steps(req) == [(EAST1, "confirm", "out", "rejected"), ("360100", "arbitrate", None, "pending"),
                              (EAST, "approve", "out", "waiting"), (WEST, "approve", "in", "waiting")]
        for who in ("county_360102", "county_360103"):
            with pytest.raises(PermissionDenied, match="南昌市教育局"):
                requests.approve(db.session, acc(who), req.id, "x")
            db.session.rollback()
        with pytest.raises(NotFound):  # another city has nothing to do with it
            requests.approve(db.session, acc("city_360400"), req.id, "x")
        db.session.rollback()
        with pytest.raises(PermissionDenied, match="南昌市教育局"):  # not the lowest common superior
            requests.approve(db.session, acc("sheng_admin"), req.id, "x")
        db.session.rollback()
        refuse(req, "city_360100", "核实该生未离开原校，不予转学")
        assert req.state == RequestState.REJECTED and req.outcome == "核实该生未离开原校，不予转学"
        assert [x[3] for x in steps(req)] == ["rejected", "rejected", "skipped", "skipped"]
        assert s.school.school_code == EAST1 and s.status == StudentStatus.IN_SCHOOL
        assert requests.open_locking_request(db.session, s.id) is None  # free for another request
        assert audit_rows(action="update", field="decision", new_value="rejected", actor_name="city_360100")


def test_county_disagreement_goes_to_the_city_and_later_steps_are_skipped(app):
    with app.app_context():
        process_settings.set_value(db.session, acc("city_360100"), process_settings.COUNTY_ORDER.key, "out_first")
        db.session.commit()
        s = student_at()
        req = transfer_out(s, WEST1)
        decide(req, f"school_{WEST1}")
        decide(req, "county_360102", "同意转出")
        refuse(req, "county_360103", "该校学位不足")
        assert steps(req) == [(WEST1, "confirm", "in", "approved"), (EAST, "approve", "out", "approved"),
                              (WEST, "approve", "in", "rejected"), ("360100", "arbitrate", None, "pending")]
        assert [r.id for r in db.session.scalars(requests.inbox_query(acc("city_360100")))] == [req.id]
        with pytest.raises(DomainError, match="仲裁须填写裁决理由"):
            requests.approve(db.session, acc("city_360100"), req.id)
        db.session.rollback()
        decide(req, "city_360100", "该生随父母迁居西湖区，应予转入")
        assert req.state == RequestState.APPROVED and s.school.school_code == WEST1
        arbitration = audit_rows(action="update", field="decision", new_value="approved", actor_name="city_360100")
        assert len(arbitration) == 1
        assert arbitration[0].reason.endswith("仲裁：支持申请：该生随父母迁居西湖区，应予转入")
        (refusal,) = audit_rows(action="update", field="decision", new_value="rejected", actor_name="county_360103")
        assert refusal.reason.endswith("不同意，提交仲裁：该校学位不足")
        assert audit_rows(action="update", field="comment", new_value="该生随父母迁居西湖区，应予转入", actor_name="city_360100")


def test_cross_city_county_disagreement_goes_to_the_province_and_the_cities_are_skipped(app):
    with app.app_context():
        s = student_at()
        req = transfer_out(s, LIANXI1)
        decide(req, f"school_{LIANXI1}")
        decide(req, "county_360102")
        refuse(req, "county_360402", "不同意")
        assert steps(req)[3:] == [("360000", "arbitrate", None, "pending"), ("360100", "approve", "out", "waiting"),
                                  ("360400", "approve", "in", "waiting")]
        with pytest.raises(PermissionDenied):
            requests.approve(db.session, acc("city_360100"), req.id, "x")
        db.session.rollback()
        decide(req, "sheng_admin", "符合转学条件")
        assert [x[3] for x in steps(req)] == ["approved", "approved", "rejected", "approved", "skipped", "skipped"]
        assert s.school.school_code == LIANXI1


def test_city_disagreement_goes_to_the_province(app):
    with app.app_context():
        s = student_at()
        req = transfer_out(s, LIANXI1)
        for who in (f"school_{LIANXI1}", "county_360102", "county_360402", "city_360100"):
            decide(req, who)
        refuse(req, "city_360400", "不同意")
        assert steps(req)[-2:] == [("360400", "approve", "in", "rejected"), ("360000", "arbitrate", None, "pending")]
        refuse(req, "sheng_admin", "材料不实")
        assert req.state == RequestState.REJECTED and s.school.school_code == EAST1


def test_a_no_before_the_other_side_agreed_is_a_plain_rejection(app):
    with app.app_context():
        s = student_at()
        req = transfer_out(s, WEST1)  # out_first: 东湖区 decides before 西湖区
        decide(req, f"school_{WEST1}")  # the receiving school agreed, but no county of the other side yet
        refuse(req, "county_360102", "该生学籍信息有误")
        assert req.state == RequestState.REJECTED and req.outcome == "该生学籍信息有误"
        assert steps(req) == [(WEST1, "confirm", "in", "approved"), (EAST, "approve", "out", "rejected"),
                              (WEST, "approve", "in", "cancelled")]
        assert s.school.school_code == EAST1 and requests.open_locking_request(db.session, s.id) is None
        # within one county the county is not a party: its no is final
        new_school()
        req2 = transfer_out(s, EAST3)
        decide(req2, f"school_{EAST3}")
        refuse(req2, "county_360102", "不符合条件")
        assert req2.state == RequestState.REJECTED and len(steps(req2)) == 2


# ---------------------------------------------------------------- locks

def test_a_student_in_transit_is_locked(app):
    with app.app_context():
        new_school()
        s = student_at()
        sender = school_acc(EAST1)
        req = transfer_out(s, WEST1)
        refused("尚未办结的“转学（转出申请）”", transfers.start_transfer_out, sender, s.id, to_school_code=EAST3,
                reason_code="01")
        refused("尚未办结的“转学（转出申请）”", transfers.start_transfer_in, school_acc(EAST3), name=s.name,
                number=s.xueji_no, reason_code="01")
        refused("尚未办结", students.request_key_change, sender, s.id, {"name": "张晓明"}, "更正", evidence(sender))
        refused("尚未办结", status_changes.request_suspension, sender, s.id, reason_code="01",
                starts_on="2026-09-01", ends_on="2027-01-31")
        refused("尚未办结", transfers.start_province_transfer_out, sender, s.id, to_province="440000",
                to_school="广州市第一小学", reason_code="01")
        with pytest.raises(DomainError, match="不能办理毕业"):
            requests.ensure_unlocked(db.session, s, "办理毕业")
        # the lock goes with the decision: here the starter withdraws
        requests.cancel(db.session, sender, req.id)
        db.session.commit()
        assert steps(req) == [(WEST1, "confirm", "in", "cancelled"), (EAST, "approve", "out", "cancelled"),
                              (WEST, "approve", "in", "cancelled")]
        req2 = transfer_out(s, EAST3)
        assert req2.state == RequestState.PENDING
        with pytest.raises(PermissionDenied, match="只有发起单位"):  # the other school may only refuse
            requests.cancel(db.session, school_acc(EAST3), req2.id)


def test_the_database_keeps_one_open_locking_request_per_student(app):
    from sqlalchemy.exc import IntegrityError
    with app.app_context():
        s = student_at()
        req = transfer_out(s, WEST1)
        twin = Request(type=transfers.TRANSFER_OUT, state=RequestState.PENDING, school_id=req.school_id,
                       student_id=s.id, initiator_id=req.initiator_id, locks_student=True, payload={})
        db.session.add(twin)
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


# ---------------------------------------------------------------- bad input: nothing changed

def test_bad_transfer_requests_are_refused_with_nothing_changed(app):
    with app.app_context():
        s = student_at()
        sender = school_acc(EAST1)
        refused("转入学校与学生当前所在学校相同", transfers.start_transfer_out, sender, s.id, to_school_code=EAST1,
                reason_code="01")
        refused("转入学校与学生当前所在学校相同", transfers.start_transfer_in, sender, name=s.name, number=s.xueji_no,
                reason_code="01")
        refused("东湖第一初级中学（初级中学）不招收小学一年级学生", transfers.start_transfer_out, sender, s.id,
                to_school_code=EAST2, reason_code="01")
        refused("西湖第一小学（小学）不招收初中一年级学生", transfers.start_transfer_out, sender, s.id,
                to_school_code=WEST1, grade="21", reason_code="01")
        refused("请选择转入年级", transfers.start_transfer_out, sender, s.id, to_school_code=WEST1, grade="99",
                reason_code="01")
        refused("找不到该学校标识码对应的本省学校", transfers.start_transfer_out, sender, s.id, to_school_code="4401060001",
                reason_code="01")
        refused("找不到该学校标识码", transfers.start_transfer_out, sender, s.id, to_school_code="", reason_code="01")
        refused("请选择转学原因", transfers.start_transfer_out, sender, s.id, to_school_code=WEST1, reason_code="")
        refused("转学原因为“其他”时请填写说明", transfers.start_transfer_out, sender, s.id, to_school_code=WEST1,
                reason_code="99", note=" ")
        refused("已被他人修改", transfers.start_transfer_out, sender, s.id, to_school_code=WEST1, reason_code="01",
                expected_version=s.version - 1)
        refused("班级名称不能超过 32 个字", transfers.start_transfer_out, sender, s.id, to_school_code=WEST1,
                class_name="实验班" * 11, reason_code="01")  # it would only fail at the final approval
        refused("请填写学生的学籍号或身份证件号", transfers.start_transfer_in, school_acc(WEST1), name=s.name, number=" ",
                reason_code="01")
        refused("请填写学生姓名", transfers.start_transfer_in, school_acc(WEST1), name="", number=s.xueji_no,
                reason_code="01")
        # somebody else's student, and units that do not start transfers
        refused("不在您的管辖范围内", transfers.start_transfer_out, school_acc(WEST1), s.id, to_school_code=EAST2,
                reason_code="01", exc=NotFound)
        refused("只有学校学籍管理员", transfers.start_transfer_out, acc("county_360102"), s.id, to_school_code=WEST1,
                reason_code="01", exc=PermissionDenied)
        refused("只有学校学籍管理员", transfers.start_transfer_in, acc("county_360103"), name=s.name, number=s.xueji_no,
                reason_code="01", exc=PermissionDenied)
        # a receiving school that takes no students now
        west1 = unit(db.session, WEST1)
        west1.may_enroll = False
        db.session.commit()
        refused("西湖第一小学当前不接收转入学生", transfers.start_transfer_out, sender, s.id, to_school_code=WEST1,
                reason_code="01")
        west1.may_enroll, west1.active = True, False
        db.session.commit()
        refused("西湖第一小学已停用", transfers.start_transfer_out, sender, s.id, to_school_code=WEST1, reason_code="01")
        assert db.session.scalar(select(func.count()).select_from(Request).where(Request.type.like("transfer%"))) == 0


def test_only_students_in_school_transfer(app):
    with app.app_context():
        s = student_at()
        sender = school_acc(EAST1)
        req = status_changes.request_suspension(db.session, sender, s.id, reason_code="01", starts_on="2026-09-01",
                                                ends_on="2027-01-31")
        db.session.commit()
        approve(req)
        assert s.status == StudentStatus.SUSPENDED
        refused("学籍状态为“休学”，只有在校生可以转学；休学学生请先复学", transfers.start_transfer_out, sender, s.id,
                to_school_code=WEST1, reason_code="01")
        refused("只有在校生可以转学", transfers.start_transfer_in, school_acc(WEST1), name=s.name, number=s.xueji_no,
                reason_code="01")
        pending, reg = register(seq=2, name="李小华")  # 注册待核办: no 学籍 yet
        refused("本省没有|只有在校生", transfers.start_transfer_in, school_acc(WEST1), name="李小华",
                number=pending.id_number, reason_code="01")


def test_a_transfer_outside_the_window_is_refused_with_its_dates(app):
    with app.app_context():
        s = student_at()
        today = D.today()
        calendars.add_window(db.session, acc("sheng_admin"), {
            "process": "transfer", "mode": "closed", "starts_on": today - datetime.timedelta(days=3),
            "ends_on": today + datetime.timedelta(days=20), "title": "暂停转学发起业务"})
        db.session.commit()
        first, last = today - datetime.timedelta(days=3), today + datetime.timedelta(days=20)
        span = f"{first.year}年{first.month}月{first.day}日至{last.year}年{last.month}月{last.day}日"
        err = refused("江西省教育厅已暂停“转学（转出申请）”业务的发起", transfers.start_transfer_out,
                      school_acc(EAST1), s.id, to_school_code=WEST1, reason_code="01")
        assert span in err.message and "暂停转学发起业务" in err.message
        refused(span, transfers.start_transfer_in, school_acc(LIANXI1), name=s.name, number=s.xueji_no,
                reason_code="01")


def test_approvers_outside_both_sides_are_refused(app):
    with app.app_context():
        s = student_at()
        req = transfer_out(s, WEST1)
        for who in ("county_360402", "city_360400", f"school_{EAST2}", f"school_{LIANXI1}"):
            refused("不在您的管辖范围内", requests.approve, acc(who), req.id, exc=NotFound)
            refused("不在您的管辖范围内", requests.reject, acc(who), req.id, "不同意", exc=NotFound)
            refused("不在您的管辖范围内", requests.cancel, acc(who), req.id, "清理", exc=NotFound)
        # inside a side's subtree but not the unit whose turn it is
        for who in ("city_360100", "sheng_admin", "county_360103", "county_360102"):
            refused("当前由“西湖第一小学”核办", requests.approve, acc(who), req.id, exc=PermissionDenied)
        # a read-only account of the right unit level still may not decide
        viewer = acc("sheng_viewer")
        refused("不能审批|无权处理", requests.approve, viewer, req.id, exc=PermissionDenied)


def test_a_double_click_on_approve_changes_nothing_more(app):
    with app.app_context():
        s = student_at()
        req = transfer_out(s, WEST1)
        decide(req, f"school_{WEST1}")
        seen = req.version
        decide(req, "county_360102", expected_version=seen)
        # the second click of the same screen: a stale version
        err = refused("该申请已被他人处理（当前状态：待核办），请刷新后查看", requests.approve, acc("county_360102"), req.id,
                      expected_version=seen)
        # the second click without a version: it is no longer this county's turn
        refused("当前由“西湖区教育体育局”核办", requests.approve, acc("county_360102"), req.id, exc=PermissionDenied)
        decide(req, "county_360103")
        refused("该申请已通过，不能重复处理", requests.approve, acc("county_360103"), req.id)
        refused("该申请已通过，不能重复处理", requests.reject, acc("county_360103"), req.id, "再驳回")
        refused("该申请已通过，不能撤销", requests.cancel, school_acc(EAST1), req.id)
        assert db.session.scalar(select(func.count()).select_from(DepartureTrace)) == 1
        assert len([h for h in s.history if h.school.school_code == WEST1]) == 1


def _race(app, calls):
    """Run each call(session) in its own thread and transaction at the same moment; returns outcomes."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i, call):
        with app.app_context():
            try:
                prepared = call()
                barrier.wait()
                prepared()
                db.session.commit()
                outcomes[i] = "ok"
            except DomainError as exc:
                db.session.rollback()
                outcomes[i] = exc.message
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_two_approvers_at_once_exactly_one_succeeds(app):
    """Two officers of 东湖区 click 通过 on the same step at the same moment: one decision, and the
    request goes on to 西湖区 (not approved twice, not past the other county)."""
    with app.app_context():
        officer = acc("county_360102")
        accounts.create_account(db.session, officer, username="county_360102_b", real_name="李科长", phone="13800009999",
                                org_unit_id=officer.org_unit_id, role_names=["县级管理员"])
        db.session.commit()
        s = student_at()
        req = transfer_out(s, WEST1)
        decide(req, f"school_{WEST1}")
        req_id, seen, sid = req.id, req.version, s.id

    def approver(username):
        def prepare():
            actor = acc(username)
            r = db.session.get(Request, req_id)
            r.steps, r.student.history  # loaded before racing
            return lambda: requests.approve(db.session, actor, req_id, "同意", expected_version=seen)
        return prepare

    outcomes = _race(app, [approver("county_360102"), approver("county_360102_b")])
    assert outcomes.count("ok") == 1, outcomes
    loser = next(o for o in outcomes if o != "ok")
    assert "已被他人处理" in loser or "不能重复处理" in loser
    with app.app_context():
        r = db.session.get(Request, req_id)
        assert r.state == RequestState.PENDING and r.version == seen + 1
        assert [x[3] for x in steps(r)] == ["approved", "approved", "pending"]
        assert db.session.get(Student, sid).school.school_code == EAST1
        decide(r, "county_360103")
        s = db.session.get(Student, sid)
        assert s.school.school_code == WEST1
        assert db.session.scalar(select(func.count()).select_from(DepartureTrace)) == 1
        assert len([h for h in s.history if h.school.school_code == WEST1]) == 1


def test_approve_and_withdraw_at_once_exactly_one_succeeds(app):
    with app.app_context():
        new_school()
        s = student_at()
        req = transfer_out(s, EAST3)
        decide(req, f"school_{EAST3}")
        req_id, sid = req.id, s.id

    def approving():
        actor = acc("county_360102")
        db.session.get(Request, req_id).steps
        return lambda: requests.approve(db.session, actor, req_id)

    def withdrawing():
        actor = school_acc(EAST1)
        db.session.get(Request, req_id).steps
        return lambda: requests.cancel(db.session, actor, req_id)

    outcomes = _race(app, [approving, withdrawing])
    assert outcomes.count("ok") == 1, outcomes
    with app.app_context():
        r = db.session.get(Request, req_id)
        s = db.session.get(Student, sid)
        if outcomes[0] == "ok":
            assert r.state == RequestState.APPROVED and s.school.school_code == EAST3
        else:
            assert r.state == RequestState.CANCELLED and s.school.school_code == EAST1
            assert db.session.scalar(select(func.count()).select_from(DepartureTrace)) == 0


def test_two_schools_asking_for_one_student_at_once_exactly_one_succeeds(app):
    with app.app_context():
        new_school()
        s = student_at()
        name, number = s.name, s.xueji_no

    def asking(code):
        def prepare():
            actor = school_acc(code)
            actor.org_unit
            return lambda: transfers.start_transfer_in(db.session, actor, name=name, number=number, reason_code="03")
        return prepare

    outcomes = _race(app, [asking(WEST1), asking(EAST3)])
    assert outcomes.count("ok") == 1, outcomes
    loser = next(o for o in outcomes if o != "ok")
    assert "尚未办结" in loser, loser
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Request).where(Request.type == transfers.TRANSFER_IN)) == 1


def test_two_schools_entering_one_student_from_another_province_at_once_exactly_one_succeeds(app):
    def entering(code):
        def prepare():
            actor = school_acc(code)
            actor.org_unit
            d = guangdong()
            return lambda: transfers.start_province_transfer_in(
                db.session, actor, d, GUARDIANS, from_province="440000", from_school="广州市天河区第一小学",
                xueji_no="G" + d["id_number"], reason_code="01")
        return prepare

    outcomes = _race(app, [entering(EAST1), entering(WEST1)])
    assert outcomes.count("ok") == 1, outcomes
    assert "尚未办结" in next(o for o in outcomes if o != "ok")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Request).where(Request.type == transfers.PROVINCE_IN)) == 1


# ---------------------------------------------------------------- 跨省转入

def guangdong(seq=1, **over):
    born = D(2018, 5, 6)
    d = data(seq, name="陈小东", birth_date=born.isoformat(), id_number=build_id_number("440106", born, 2 * seq + 1),
             birthplace_code="440106", hukou_code="440106", grade="12", class_name="3班", commute_distance="2.5")
    d.update(over)
    return d


def province_in(who=f"school_{EAST1}", d=None, **kw):
    d = d or guangdong()
    kw.setdefault("from_province", "440000")
    kw.setdefault("from_school", "广州市天河区第一小学")
    kw.setdefault("xueji_no", "G" + d["id_number"])
    kw.setdefault("reason_code", "01")
    req, warnings = transfers.start_province_transfer_in(db.session, acc(who), d, GUARDIANS, **kw)
    db.session.commit()
    return req


def test_cross_province_transfer_in_creates_the_record_with_its_history(app):
    with app.app_context():
        school = school_acc(EAST1)
        proof = file_for(school, name="原校转出证明.pdf")
        d = guangdong()
        req = province_in(d=d, attachments=[proof])
        assert req.type == transfers.PROVINCE_IN and req.student_id is None and not req.locks_student
        assert req.subject_key == f"id:{d['id_number']}"
        assert steps(req) == [(EAST, "approve", None, "pending"), ("360000", "external", None, "waiting")]
        rows = requests.REQUEST_TYPES[req.type].describe(req)
        assert ("原就读省份", "广东省", "") in rows and ("学籍号", "", "G" + d["id_number"]) in rows
        assert db.session.scalar(select(func.count()).select_from(Student)) == 0  # no record before approval
        decide(req, "county_360102")
        with pytest.raises(PermissionDenied, match="江西省教育厅"):
            requests.approve(db.session, acc("city_360100"), req.id)
        db.session.rollback()
        decide(req, "sheng_admin", "已与广东省核实")
        assert req.state == RequestState.APPROVED
        s = req.student
        assert s is not None and s.school.school_code == EAST1 and s.status == StudentStatus.IN_SCHOOL
        assert s.xueji_no == "G" + d["id_number"] and s.personal_id.startswith("36")
        assert (s.name, s.grade, s.class_name, str(s.commute_distance)) == ("陈小东", "12", "3班", "2.5")
        assert s.birth_date == D(2018, 5, 6) and s.hukou_code == "440106000000"
        assert [g.name for g in s.guardians] == ["张大明"]
        assert len(s.history) == 1 and s.history[0].request_id == req.id and s.history[0].status == "in_school"
        assert "广东省 广州市天河区第一小学" in s.history[0].reason
        h = history.student_history(db.session, school, s.id)
        assert [r.id for r in h.requests] == [req.id]
        assert scope.get(db.session, school, Attachment, proof.id).student_id == s.id
        # one person, one record: the number is now taken in the province
        with pytest.raises(DomainError, match="一人一籍"):
            province_in(f"school_{WEST1}", d=guangdong())


def test_cross_province_transfer_in_checks_the_number_and_the_person(app):
    with app.app_context():
        school = school_acc(EAST1)
        d = guangdong()
        go = transfers.start_province_transfer_in
        common = dict(from_province="440000", from_school="广州市天河区第一小学", reason_code="01")
        refused("学籍号应为 G 加学生的身份证件号", go, school, d, GUARDIANS, xueji_no="G" + build_id_number("440106", D(2018, 5, 6), 9),
                **common)
        refused("学籍号格式不正确", go, school, d, GUARDIANS, xueji_no="12345", **common)
        refused("学籍号格式不正确", go, school, d, GUARDIANS, xueji_no="", **common)
        refused("学籍号格式不正确", go, school, guangdong(id_type="A", id_number=""), GUARDIANS,
                xueji_no="L" + "1" * 20, attachments=[file_for(school, kind=students.NO_ID_PROOF)], **common)
        refused("没有身份证件号的学生，学籍号应为 L 开头", go, school, guangdong(id_type="A", id_number=""), GUARDIANS,
                xueji_no="G" + d["id_number"], **common)
        refused("无身份证号证明", go, school, guangdong(id_type="A", id_number=""), GUARDIANS,
                xueji_no="L440000000000001234", **common)
        refused("本省学校之间的转学请办理省内转学", go, school, d, GUARDIANS, xueji_no="G" + d["id_number"],
                **{**common, "from_province": "360000"})
        refused("请选择学生原就读学校所在的省份", go, school, d, GUARDIANS, xueji_no="G" + d["id_number"],
                **{**common, "from_province": "440100"})  # a city is not a province
        refused("请填写原就读学校名称", go, school, d, GUARDIANS, xueji_no="G" + d["id_number"],
                **{**common, "from_school": " "})
        refused("不招收初中一年级学生", go, school, guangdong(grade="21"), GUARDIANS, xueji_no="G" + d["id_number"],
                **common)
        refused("请至少填写一位监护人", go, school, d, [], xueji_no="G" + d["id_number"], **common)
        # the record is written only on approval: what would not fit is refused now, not then
        refused("原就读学校名称不能超过 100 个字", go, school, d, GUARDIANS, xueji_no="G" + d["id_number"],
                **{**common, "from_school": "广州市天河区第一小学" * 11})
        refused("籍贯不能超过 64 个字", go, school, guangdong(native_place="广东" * 33), GUARDIANS,
                xueji_no="G" + d["id_number"], **common)
        refused("班级不能超过 32 个字", go, school, guangdong(class_name="实验班" * 11), GUARDIANS,
                xueji_no="G" + d["id_number"], **common)
        refused("监护人姓名不能超过 64 个字", go, school, d, [{**GUARDIANS[0], "name": "陈" * 65}],
                xueji_no="G" + d["id_number"], **common)
        refused("只有学校学籍管理员", go, acc("county_360102"), d, GUARDIANS, xueji_no="G" + d["id_number"], **common,
                exc=PermissionDenied)
        # the ID number already has an active record in this province: that is an in-province transfer
        local = student_at()
        refused("已在 东湖区教育体育局 东湖第一小学 建立学籍", go, school_acc(WEST1), data(), GUARDIANS,
                xueji_no=local.xueji_no, **common)
        # a student without an ID number comes with proof and a temporary number
        proof = file_for(school, kind=students.NO_ID_PROOF, name="无身份证明.pdf")
        req, _ = go(db.session, school, guangdong(seq=5, id_type="A", id_number=""), GUARDIANS,
                    xueji_no="L440000000000001234", attachments=[proof], **common)
        db.session.commit()
        assert req.subject_key == "xj:L440000000000001234"
        decide(req, "county_360102")
        decide(req, "sheng_admin", "核实无误")
        assert req.student.xueji_no == "L440000000000001234" and req.student.id_number is None


def test_a_second_open_cross_province_transfer_in_of_one_person_is_refused(app):
    with app.app_context():
        first = province_in()
        refused("已有尚未办结的申请", transfers.start_province_transfer_in, school_acc(WEST1), guangdong(), GUARDIANS,
                from_province="440000", from_school="广州市天河区第一小学", xueji_no=first.payload["xueji_no"],
                reason_code="01")
        # once the first is decided the person may be asked for again
        refuse(first, "county_360102", "材料不全")
        again = province_in(f"school_{WEST1}")
        assert again.state == RequestState.PENDING and steps(again)[0][0] == WEST


def test_a_cross_province_transfer_in_is_not_approved_over_a_record_made_meanwhile(app):
    with app.app_context():
        d = guangdong()
        req = province_in(d=d)
        decide(req, "county_360102")
        # meanwhile another school registered the same child as a new student, and it was approved
        s, reg = students.register_student(db.session, school_acc(WEST1), {**d, "grade": "12"}, GUARDIANS)[:2]
        db.session.commit()
        approve(reg, "county_360103")
        refused("一人一籍", requests.approve, acc("sheng_admin"), req.id, "确认")
        refuse(req, "sheng_admin", "该生已在本省注册")
        assert req.state == RequestState.REJECTED and req.student_id is None


# ---------------------------------------------------------------- 跨省转出

def test_cross_province_transfer_out_leaves_a_trace_and_status_transferred_out(app):
    with app.app_context():
        s = student_at()
        school = school_acc(EAST1)
        go = transfers.start_province_transfer_out
        refused("本省学校之间的转学请办理省内转学", go, school, s.id, to_province="360000", to_school="x", reason_code="01")
        refused("请填写转入学校名称", go, school, s.id, to_province="440000", to_school=" ", reason_code="01")
        refused("转入学校名称不能超过 100 个字", go, school, s.id, to_province="440000", to_school="广州市第一小学" * 15,
                reason_code="01")
        refused("请选择转学原因", go, school, s.id, to_province="440000", to_school="广州市第一小学", reason_code=None)
        refused("不在您的管辖范围内", go, school_acc(WEST1), s.id, to_province="440000", to_school="广州市第一小学",
                reason_code="01", exc=NotFound)
        proof = file_for(school)
        req = go(db.session, school, s.id, to_province="440000", to_school="广州市天河区第一小学", reason_code="01",
                 attachments=[proof], expected_version=s.version)
        db.session.commit()
        assert req.locks_student and steps(req) == [(EAST, "approve", None, "pending"), ("360000", "external", None, "waiting")]
        assert ("转入省份", "", "广东省") in requests.REQUEST_TYPES[req.type].describe(req)
        refused("尚未办结的“跨省转出”", transfers.start_transfer_out, school, s.id, to_school_code=WEST1, reason_code="01")
        decide(req, "county_360102")
        assert s.status == StudentStatus.IN_SCHOOL
        decide(req, "sheng_admin", "广东省已接收")
        assert s.status == StudentStatus.TRANSFERRED_OUT and s.school.school_code == EAST1
        assert s.history[-1].status == "transferred_out" and "广东省 广州市天河区第一小学" in s.history[-1].reason
        t = db.session.scalars(transfers.departures_query(school)).one()
        assert t.to_school_id is None and t.to_name == "广东省 广州市天河区第一小学" and t.request_id == req.id
        assert proof.student_id == s.id
        # gone from the province's active records: not findable for a transfer, the ID number is free
        refused("本省没有与该姓名", transfers.start_transfer_in, school_acc(WEST1), name=s.name, number=s.xueji_no,
                reason_code="01")
        assert students.holder_of(db.session, s.id_number) is None
        refused("只有在校生可以转学", go, school, s.id, to_province="440000", to_school="x", reason_code="01")


# ---------------------------------------------------------------- review fixes

def test_bulk_approve_never_decides_an_arbitration(app):
    with app.app_context():
        s = student_at()
        req = transfer_in(s, f"school_{WEST1}")
        refuse(req, f"school_{EAST1}", "学生仍在本校")
        assert requests.in_arbitration(req)
        done, failed = requests.bulk_approve(db.session, acc("city_360100"), [req.id], comment="批量")
        db.session.commit()
        assert done == [] and "仲裁环节" in failed[req.id]
        assert req.state == RequestState.PENDING and requests.in_arbitration(req)


def test_a_pause_of_the_sending_side_stops_a_transfer_in_from_another_county(app):
    with app.app_context():
        s = student_at()
        today = D.today()
        calendars.add_window(db.session, acc("county_360102"), {"process": "transfer", "mode": "closed",
                                                                "starts_on": today, "ends_on": today, "title": "暂停转学"})
        db.session.commit()
        refused("东湖区教育体育局已暂停“转学（转入申请）”", transfers.start_transfer_in, school_acc(WEST1), name=s.name,
                number=s.xueji_no, reason_code="03")


def test_school_search_takes_wildcards_literally(app):
    with app.app_context():
        actor = school_acc(WEST1)
        assert [u.school_code for u in transfers.find_schools(db.session, actor, "360102")] == [EAST1, EAST2]
        assert transfers.find_schools(db.session, actor, "3601%") == []
        assert transfers.find_schools(db.session, actor, "36010_0001") == []


def test_the_other_side_sees_the_evidence_it_decides_on(app):
    with app.app_context():
        s = student_at()
        proof = file_for(school_acc(WEST1))
        req = transfer_in(s, f"school_{WEST1}", attachments=[proof])
        for who in (f"school_{EAST1}", "county_360102", "county_360103"):
            assert scope.get(db.session, acc(who), Attachment, proof.id) is proof
        with pytest.raises(NotFound):  # not a party: 濂溪区 has nothing to do with it
            scope.get(db.session, acc("county_360402"), Attachment, proof.id)
        assert proof.student_id == s.id and req.attachments == [proof]


def test_a_student_who_left_the_province_comes_back_to_the_same_record(app):
    with app.app_context():
        s = student_at()
        out = transfers.start_province_transfer_out(db.session, school_acc(EAST1), s.id, to_province="440000",
                                                    to_school="广州市天河区第一小学", reason_code="01")
        db.session.commit()
        decide(out, "county_360102")
        decide(out, "sheng_admin", "广东省已接收")
        assert s.status == StudentStatus.TRANSFERRED_OUT
        record = {**data(1), "name": s.name, "grade": "12", "class_name": "3班"}
        back, _warnings = transfers.start_province_transfer_in(
            db.session, school_acc(WEST1), record, GUARDIANS, from_province="440000", from_school="广州市天河区第一小学",
            xueji_no=s.xueji_no, reason_code="01")
        db.session.commit()
        decide(back, "county_360103")
        decide(back, "sheng_admin", "广东省已转出")
        db.session.expire_all()
        assert back.student_id == s.id and s.status == StudentStatus.IN_SCHOOL
        assert s.school.school_code == WEST1 and (s.grade, s.class_name) == ("12", "3班")
        assert db.session.scalar(select(func.count()).select_from(Student).where(Student.xueji_no == s.xueji_no)) == 1
        assert [h.school.school_code for h in s.history][:1] == [EAST1] and "返回本省" in s.history[-1].reason
