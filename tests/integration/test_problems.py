"""问题学籍 (domain §3 item 6) through the services: detection of the three kinds (idempotent),
two-sided handling (删除 / 佐证 / 变更) with county approval, arbitration by the lowest common
superior, carry-on, scoping, every bad input with nothing changed, and the audit trail."""
import datetime

import pytest
from sqlalchemy import func, select, update
from stdnum.cn import ric

from app.extensions import db
from app.models import AuditLog, Request, Student, StudentStatus
from app.models.problems import ProblemKind, ProblemRecord, ProblemSide, ProblemState, Treatment
from app.services import problems, requests, scope, students, transfers
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.identity import build_id_number
from tests.conftest import account, unit
from tests.integration.test_registry_services import evidence
from tests.integration.test_transfers import EAST3, decide, new_school, student_at

D = datetime.date
BORN = D(2019, 3, 7)  # the birth date of every test student (data() in test_registry_services)
EAST1, EAST2, WEST1, WEST2, LIANXI1 = "3601020001", "3601020002", "3601030001", "3601030002", "3604020001"


# ---------------------------------------------------------------- helpers

def acc(username):
    return account(db.session, username)


def school(code):
    return acc(f"school_{code}")


def county_of(code):
    return acc(f"county_{code[:6]}")


def detect():
    out = problems.detect(db.session, acc("sheng_admin"))
    db.session.commit()
    return out


def open_problems(kind=None):
    stmt = select(ProblemRecord).where(ProblemRecord.state != ProblemState.RESOLVED)
    if kind is not None:
        stmt = stmt.where(ProblemRecord.kind == kind)
    return db.session.scalars(stmt.order_by(ProblemRecord.id)).all()


def with_check(body17):
    return body17 + ric.calc_check_digit(body17 + "0")


def plant(student, **values):
    """Change a record behind the services' back (as the previous system's data does)."""
    db.session.execute(update(Student).where(Student.id == student.id).values(**values))
    db.session.commit()
    db.session.expire_all()


def duplicate_pair(code_a=EAST1, code_b=WEST1):
    """Two active records with one ID number: b came from the previous system (legacy)."""
    a = student_at(code_a, seq=1, name="张小明")
    b = student_at(code_b, seq=2, name="张晓明")
    plant(b, origin="legacy", id_number=a.id_number)
    detect()
    (p,) = open_problems(ProblemKind.DUPLICATE_ID)
    return a, b, p


def side_of(problem, student):
    db.session.expire_all()
    return next(s for s in problem.sides if s.student_id == student.id)


def decide_by_county(req, comment=None):
    return decide(req, f"county_{req.school.school_code[:6]}", comment)


def prove(problem, student, reason="派出所证明该身份证号属本人"):
    actor = school(student.school.school_code)
    req = problems.request_proof(db.session, actor, side_of(problem, student).id, reason, evidence(actor))
    db.session.commit()
    return req


def delete(problem, student, reason="学生实际在对方学校就读"):
    req = problems.request_delete(db.session, school(student.school.school_code), side_of(problem, student).id, reason)
    db.session.commit()
    return req


def change_id(problem, student, new_number, reason="派出所已重新分配身份证号"):
    actor = school(student.school.school_code)
    req, _w = problems.request_change(db.session, actor, side_of(problem, student).id, {"id_number": new_number},
                                      reason, evidence(actor))
    db.session.commit()
    return req


def both_proved(code_a, code_b):
    a, b, p = duplicate_pair(code_a, code_b)
    decide_by_county(prove(p, a))
    decide_by_county(prove(p, b))
    db.session.refresh(p)
    return a, b, p


def world():
    """Everything a refused action must leave as it was."""
    db.session.expire_all()
    counts = tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Request, ProblemRecord, ProblemSide))
    problem_rows = tuple(db.session.execute(select(ProblemRecord.id, ProblemRecord.state, ProblemRecord.version,
                                                   ProblemRecord.arbiter_id).order_by(ProblemRecord.id)).all())
    side_rows = tuple(db.session.execute(select(ProblemSide.id, ProblemSide.treatment, ProblemSide.request_id,
                                                ProblemSide.school_path).order_by(ProblemSide.id)).all())
    records = tuple(db.session.execute(select(Student.id, Student.status, Student.id_number, Student.version)
                                       .order_by(Student.id)).all())
    return counts, problem_rows, side_rows, records


def refused(match, fn, *args, exc=DomainError, **kw):
    before = world()
    with pytest.raises(exc, match=match):
        fn(db.session, *args, **kw)
    db.session.rollback()
    assert world() == before


# ---------------------------------------------------------------- detection

@pytest.mark.parametrize("reason, number, over", [
    ("format", "36010220190307001", {}),                                           # 17 characters
    ("format", "3601022019030700AX", {}),                                          # a letter inside
    ("check", build_id_number("360102", BORN, 3)[:-1] + "0", {}),
    ("date", with_check("36010220191307003"), {}),                                 # month 13
    ("future", with_check("36010220990101003"), {}),
    ("sex", build_id_number("360102", BORN, 4), {}),                               # even: female, record male
    ("birth", build_id_number("360102", D(2019, 3, 8), 3), {}),
])
def test_each_kind_of_invalid_id_number_is_found(app, reason, number, over):
    with app.app_context():
        ok = student_at(EAST1, seq=1)
        bad = student_at(EAST2, seq=2)
        if reason == "check":
            assert number != build_id_number("360102", BORN, 3)
        plant(bad, id_number=number, **over)
        out = detect()
        assert out["new"] == 1 and out["open"] == 1
        (p,) = open_problems()
        assert p.kind == ProblemKind.INVALID_ID and p.key == str(bad.id) and p.state == ProblemState.UNTREATED
        assert p.detail == problems.INVALID_REASONS[reason]
        assert [s.student_id for s in p.sides] == [bad.id] and p.sides[0].school_path == bad.school.path
        assert p.sides[0].treatment == Treatment.NONE
        assert ok.id not in {s.student_id for s in p.sides}


def test_invalid_numbers_of_other_id_types_and_inactive_records_are_not_problems(app):
    with app.app_context():
        other = student_at(EAST1, seq=1)
        gone = student_at(EAST1, seq=2)
        plant(other, id_type="A", id_number="E12345678")             # a passport number
        plant(gone, id_number="36010220190307001", status="deleted")
        assert detect()["found"] == 0 and open_problems() == []


def test_duplicate_id_numbers_are_found_legacy_records_being_outside_the_unique_index(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        assert p.kind == ProblemKind.DUPLICATE_ID and p.key == a.id_number and p.state == ProblemState.UNTREATED
        assert sorted(s.student_id for s in p.sides) == sorted([a.id, b.id])
        assert {s.school_path for s in p.sides} == {a.school.path, b.school.path}
        assert open_problems(ProblemKind.INVALID_ID) == []  # the shared number is valid for both


def test_records_without_id_number_and_same_name_sex_birth_are_found(app):
    with app.app_context():
        a = student_at(EAST1, seq=1, name="李华")
        b = student_at(WEST1, seq=2, name="李华")
        c = student_at(WEST2, seq=3, name="李华")  # same person data but it has a number
        d = student_at(EAST2, seq=4, name="李华")
        plant(a, id_type="Z", id_number=None)
        plant(b, id_type="9", id_number=None)
        plant(d, id_type="Z", id_number=None, gender="2")       # other sex: not the same person
        detect()
        (p,) = open_problems()
        assert p.kind == ProblemKind.DUPLICATE_IDENTITY and p.key == problems.identity_key("李华", "1", BORN)
        assert sorted(s.student_id for s in p.sides) == sorted([a.id, b.id])
        assert c.id not in {s.student_id for s in p.sides}


def test_detection_is_idempotent_joins_resolves_and_reopens(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        again = detect()
        assert (again["new"], again["joined"], again["resolved"], again["open"]) == (0, 0, 0, 1)
        assert db.session.scalar(select(func.count()).select_from(ProblemRecord)) == 1
        assert db.session.scalar(select(func.count()).select_from(ProblemSide)) == 2
        # a third record with the number joins the same problem
        c = student_at(LIANXI1, seq=3, name="张小铭")
        plant(c, origin="legacy", id_number=a.id_number)
        third = detect()
        assert (third["new"], third["joined"]) == (0, 1)
        (same,) = open_problems()
        assert same.id == p.id and sorted(s.student_id for s in same.sides) == sorted([a.id, b.id, c.id])
        # the causes gone: resolved
        plant(b, id_number=build_id_number("360102", BORN, 5))
        plant(c, id_number=build_id_number("360102", BORN, 7))
        gone = detect()
        assert (gone["resolved"], gone["open"]) == (1, 0)
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED and p.resolved_at is not None and p.resolution
        assert detect()["resolved"] == 0
        # the same number shared again later: a new problem, the resolved one stays as it was
        plant(b, id_number=a.id_number)
        new = detect()
        assert new["new"] == 1
        (reopened,) = open_problems()
        assert reopened.id != p.id and reopened.key == p.key and reopened.state == ProblemState.UNTREATED
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED


# ---------------------------------------------------------------- handling

def test_deletion_approved_by_the_county_resolves_the_problem(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        req = delete(p, b)
        assert req.type == problems.PROBLEM_DELETE and req.school.school_code == WEST1
        assert side_of(p, b).treatment == Treatment.DELETING and side_of(p, b).request_id == req.id
        assert p.state == ProblemState.UNTREATED
        decide(req, "county_360103")
        db.session.refresh(p)
        assert side_of(p, b).treatment == Treatment.DELETED and side_of(p, a).treatment == Treatment.NONE
        assert db.session.get(Student, b.id).status == StudentStatus.DELETED
        assert db.session.get(Student, a.id).status == StudentStatus.IN_SCHOOL
        assert p.state == ProblemState.RESOLVED
        assert detect()["new"] == 0  # the deleted record is no duplicate any more


def test_proof_with_evidence_then_both_proved_goes_to_arbitration(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        req = prove(p, a)
        assert req.type == problems.PROBLEM_PROVE and side_of(p, a).treatment == Treatment.PROVING
        decide_by_county(req)
        db.session.refresh(p)
        assert side_of(p, a).treatment == Treatment.PROVED and p.state == ProblemState.PARTLY
        decide_by_county(prove(p, b))
        db.session.refresh(p)
        assert p.state == ProblemState.ARBITRATION and p.arbiter.path.endswith("/360100/")


@pytest.mark.parametrize("code_a, code_b, arbiter_key, arbiter_user, not_arbiter", [
    (EAST1, EAST2, "360102", "county_360102", "city_360100"),   # one county: the county
    (EAST1, WEST1, "360100", "city_360100", "county_360102"),   # 东湖区 vs 西湖区: the city 南昌
    (EAST1, LIANXI1, "360000", "sheng_admin", "city_360100"),   # 南昌 vs 九江: the province
])
def test_arbitration_by_the_lowest_common_superior(app, code_a, code_b, arbiter_key, arbiter_user, not_arbiter):
    with app.app_context():
        a, b, p = both_proved(code_a, code_b)
        assert p.state == ProblemState.ARBITRATION and p.arbiter_id == unit(db.session, arbiter_key).id
        refused("共同上级", problems.arbitrate, acc(not_arbiter), p.id, side_of(p, a).id, "a 为本人", exc=PermissionDenied)
        refused("仲裁须填写理由", problems.arbitrate, acc(arbiter_user), p.id, side_of(p, a).id, "  ")
        refused("请选择", problems.arbitrate, acc(arbiter_user), p.id, 0, "a 为本人")
        refused("请刷新", problems.arbitrate, acc(arbiter_user), p.id, side_of(p, a).id, "a 为本人",
                expected_version=p.version - 1)
        problems.arbitrate(db.session, acc(arbiter_user), p.id, side_of(p, a).id, "派出所核实 a 为本人",
                           expected_version=p.version)
        db.session.commit()
        db.session.refresh(p)
        assert p.state == ProblemState.ARBITRATED and p.arbitration_comment == "派出所核实 a 为本人"
        assert p.arbitrated_by_id == acc(arbiter_user).id and p.arbitrated_at is not None
        assert side_of(p, a).treatment == Treatment.WON and side_of(p, b).treatment == Treatment.LOST
        refused("不需要仲裁", problems.arbitrate, acc(arbiter_user), p.id, side_of(p, b).id, "改判")
        # the loser may not prove again; deleting its record ends the problem
        refused("不能再佐证", problems.request_proof, school(code_b), side_of(p, b).id, "再次佐证",
                evidence(school(code_b)))
        decide_by_county(delete(p, b))
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED and side_of(p, b).treatment == Treatment.DELETED
        assert side_of(p, a).treatment == Treatment.WON


def test_the_loser_changes_its_id_number_and_the_problem_is_resolved(app):
    with app.app_context():
        a, b, p = both_proved(EAST1, WEST1)
        problems.arbitrate(db.session, acc("city_360100"), p.id, side_of(p, a).id, "a 为本人")
        db.session.commit()
        new_number = build_id_number("360103", BORN, 9)
        req = change_id(p, b, new_number)
        assert req.type == students.KEY_CHANGE and side_of(p, b).treatment == Treatment.CHANGING
        db.session.refresh(p)
        assert p.state == ProblemState.ARBITRATED
        decide(req, "county_360103")
        db.session.refresh(p)
        assert db.session.get(Student, b.id).id_number == new_number
        assert p.state == ProblemState.RESOLVED


def test_a_rejected_change_of_the_loser_leaves_it_lost(app):
    with app.app_context():
        a, b, p = both_proved(EAST1, WEST1)
        problems.arbitrate(db.session, acc("city_360100"), p.id, side_of(p, b).id, "b 为本人")
        db.session.commit()
        req = change_id(p, a, build_id_number("360102", BORN, 9))
        requests.reject(db.session, acc("county_360102"), req.id, "证明材料不清晰")
        db.session.commit()
        db.session.refresh(p)
        assert side_of(p, a).treatment == Treatment.LOST and p.state == ProblemState.ARBITRATED
        assert side_of(p, b).treatment == Treatment.WON


@pytest.mark.parametrize("action, end", [("delete", "reject"), ("delete", "cancel"),
                                         ("prove", "reject"), ("prove", "cancel")])
def test_a_rejected_or_cancelled_request_returns_the_side_to_untreated(app, action, end):
    with app.app_context():
        a, b, p = duplicate_pair()
        if action == "prove":
            decide_by_county(prove(p, a))
            db.session.refresh(p)
            assert p.state == ProblemState.PARTLY
        req = delete(p, b) if action == "delete" else prove(p, b)
        if end == "reject":
            requests.reject(db.session, acc("county_360103"), req.id, "材料不足")
        else:
            requests.cancel(db.session, school(WEST1), req.id)
        db.session.commit()
        db.session.refresh(p)
        assert side_of(p, b).treatment == Treatment.NONE
        assert db.session.get(Student, b.id).status == StudentStatus.IN_SCHOOL
        assert p.state == (ProblemState.PARTLY if action == "prove" else ProblemState.UNTREATED)
        # and the school may act again
        decide_by_county(delete(p, b))
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED


def test_a_failed_request_of_a_proved_side_keeps_its_proof(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        decide_by_county(prove(p, a))
        req = delete(p, a)  # the proved school changes its mind …
        requests.reject(db.session, acc("county_360102"), req.id, "该生确在本校就读，不予删除")  # … the county does not
        db.session.commit()
        db.session.refresh(p)
        assert side_of(p, a).treatment == Treatment.PROVED and p.state == ProblemState.PARTLY
        decide_by_county(prove(p, b))
        db.session.refresh(p)
        assert p.state == ProblemState.ARBITRATION


def test_the_winner_of_an_arbitration_has_nothing_to_handle(app):
    with app.app_context():
        a, b, p = both_proved(EAST1, WEST1)
        problems.arbitrate(db.session, acc("city_360100"), p.id, side_of(p, a).id, "a 为本人")
        db.session.commit()
        refused("仲裁已通过", problems.request_delete, school(EAST1), side_of(p, a).id, "删除")
        refused("仲裁已通过", problems.request_proof, school(EAST1), side_of(p, a).id, "证明", evidence(school(EAST1)))
        assert side_of(p, a).treatment == Treatment.WON


def test_an_invalid_id_number_fixed_by_a_key_change_is_resolved(app):
    with app.app_context():
        s = student_at(EAST1, seq=1)
        plant(s, id_number=s.id_number[:-1] + ("0" if s.id_number[-1] != "0" else "1"))
        detect()
        (p,) = open_problems(ProblemKind.INVALID_ID)
        req = change_id(p, s, build_id_number("360102", BORN, 11), reason="身份证号录入错误")
        db.session.refresh(p)
        assert p.state != ProblemState.RESOLVED and side_of(p, s).treatment == Treatment.CHANGING
        decide(req, "county_360102")
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED and p.resolution == "身份证号已更正"
        assert detect()["found"] == 0


def test_an_invalid_id_number_proved_right_is_resolved(app):
    with app.app_context():
        s = student_at(WEST1, seq=1)
        plant(s, birth_date=D(2019, 3, 8))  # the record's birth date disagrees with the number
        detect()
        (p,) = open_problems(ProblemKind.INVALID_ID)
        assert p.detail == problems.INVALID_REASONS["birth"]
        decide(prove(p, s), "county_360103")
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED and p.resolution.startswith("佐证通过")


def test_a_proved_record_against_a_deleted_one_is_no_problem_any_more(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        decide_by_county(prove(p, a))
        decide_by_county(delete(p, b))
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED


# ---------------------------------------------------------------- bad input: nothing changes

def test_bad_input_changes_nothing(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        mine, theirs = side_of(p, a), side_of(p, b)
        east = school(EAST1)
        # the other side's record is the other school's to handle
        refused("本校的记录", problems.request_delete, east, theirs.id, "不是本校学生", exc=PermissionDenied)
        refused("本校的记录", problems.request_proof, east, theirs.id, "证明", evidence(east), exc=PermissionDenied)
        refused("本校的记录", problems.request_change, east, theirs.id, {"id_number": build_id_number("360102", BORN, 9)},
                "改号", evidence(east), exc=PermissionDenied)
        # the county does not act for its school (it approves)
        refused("本校的记录", problems.request_delete, acc("county_360102"), mine.id, "删除", exc=PermissionDenied)
        # an unrelated school does not even see it
        refused("不存在", problems.request_delete, school(LIANXI1), mine.id, "删除", exc=NotFound)
        # reasons and evidence are required
        refused("请填写删除原因", problems.request_delete, east, mine.id, "  ")
        refused("证明材料", problems.request_proof, east, mine.id, "派出所证明", [])
        refused("请说明佐证理由", problems.request_proof, east, mine.id, "", evidence(east))
        # stale version
        refused("请刷新", problems.request_delete, east, mine.id, "删除", expected_version=p.version + 1)
        # arbitration before both proved
        refused("不需要仲裁", problems.arbitrate, acc("city_360100"), p.id, mine.id, "a 为本人")
        # one request at a time
        prove(p, a)
        refused("尚未办结", problems.request_delete, east, mine.id, "删除")
        refused("尚未办结", problems.request_proof, east, mine.id, "再证明", evidence(east))
        refused("尚未办结", problems.carry_on, east, [mine.id], "毕业结转")


def test_a_record_with_an_open_transfer_cannot_be_deleted(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        new_school()
        transfers.start_transfer_out(db.session, school(EAST1), a.id, to_school_code=EAST3, reason_code="01")
        db.session.commit()
        refused("尚未办结的“转学（转出申请）”", problems.request_delete, school(EAST1), side_of(p, a).id, "删除")
        assert side_of(p, a).treatment == Treatment.NONE


def test_a_resolved_problem_needs_no_handling(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        decide_by_county(delete(p, b))
        refused("已解决", problems.request_proof, school(EAST1), side_of(p, a).id, "证明", evidence(school(EAST1)))


# ---------------------------------------------------------------- scoping

def test_problems_are_seen_by_the_sides_their_superiors_and_the_arbiter_only(app):
    with app.app_context():
        a, b, p = duplicate_pair(EAST1, WEST1)
        side = side_of(p, a)
        for who in ("school_3601020001", "school_3601030001", "county_360102", "county_360103", "city_360100",
                    "sheng_admin"):
            assert scope.get(db.session, acc(who), ProblemRecord, p.id).id == p.id
            assert scope.get(db.session, acc(who), ProblemSide, side.id).id == side.id
        for who in ("school_3601020002", "school_3604020001", "county_360402", "city_360400"):
            with pytest.raises(NotFound):
                scope.get(db.session, acc(who), ProblemRecord, p.id)
            with pytest.raises(NotFound):
                scope.get(db.session, acc(who), ProblemSide, side.id)
        seen = problems.counts_by_kind_and_state(db.session, acc("county_360402"))
        assert seen == {}
        assert problems.counts_by_kind_and_state(db.session, acc("county_360102")) == \
            {(ProblemKind.DUPLICATE_ID, ProblemState.UNTREATED): 1}
        assert [s.student_id for s in db.session.scalars(problems.sides_of_school_query(school(EAST1)))] == [a.id]


def test_detection_is_for_the_province_only(app):
    with app.app_context():
        assert problems.may_run_detection(acc("sheng_admin"))
        for who in ("city_360100", "county_360102", "school_3601020001"):
            with pytest.raises(PermissionDenied):
                problems.check_may_run_detection(acc(who))


# ---------------------------------------------------------------- carry-on, graduation check, transfers

def test_carry_on_by_the_own_school_or_its_county_and_blocking_sides(app):
    with app.app_context():
        a, b, p = duplicate_pair(EAST1, WEST1)
        assert {s.student_id for s in problems.blocking_sides(db.session, [a.id, b.id])} == {a.id, b.id}
        refused("请填写结转说明", problems.carry_on, school(EAST1), [side_of(p, a).id], " ")
        refused("只能结转本校", problems.carry_on, school(EAST1), [side_of(p, b).id], "毕业结转", exc=PermissionDenied)
        refused("只能结转本校", problems.carry_on, acc("county_360102"), [side_of(p, b).id], "毕业结转",
                exc=PermissionDenied)
        refused("不存在", problems.carry_on, acc("county_360402"), [side_of(p, a).id], "毕业结转", exc=NotFound)
        done = problems.carry_on(db.session, school(EAST1), [side_of(p, a).id], "毕业结转，由升入学校继续处理")
        db.session.commit()
        assert [s.student_id for s in done] == [a.id] and side_of(p, a).treatment == Treatment.CARRIED
        assert [s.student_id for s in problems.blocking_sides(db.session, [a.id, b.id])] == [b.id]
        problems.carry_on(db.session, acc("county_360103"), [side_of(p, b).id], "代为结转")
        db.session.commit()
        assert side_of(p, b).treatment == Treatment.CARRIED
        assert problems.blocking_sides(db.session, [a.id, b.id]) == []
        assert problems.blocking_sides(db.session, []) == []


def test_blocking_sides_exclude_the_winner_of_an_arbitration(app):
    with app.app_context():
        a, b, p = both_proved(EAST1, EAST2)
        problems.arbitrate(db.session, acc("county_360102"), p.id, side_of(p, a).id, "a 为本人")
        db.session.commit()
        assert [s.student_id for s in problems.blocking_sides(db.session, [a.id, b.id])] == [b.id]


def test_a_transferred_student_takes_its_side_to_the_new_school(app):
    with app.app_context():
        a, b, p = duplicate_pair(EAST1, WEST1)
        new_school()
        req = transfers.start_transfer_out(db.session, school(EAST1), a.id, to_school_code=EAST3, reason_code="01")
        db.session.commit()
        assert side_of(p, a).school_path == unit(db.session, EAST1).path
        decide(req, f"school_{EAST3}")
        decide(req, "county_360102")
        assert db.session.get(Student, a.id).school.school_code == EAST3
        db.session.refresh(p)
        assert side_of(p, a).school_path == unit(db.session, EAST3).path
        assert scope.get(db.session, school(EAST3), ProblemRecord, p.id).id == p.id
        with pytest.raises(NotFound):
            scope.get(db.session, school(EAST1), ProblemRecord, p.id)
        # the new school handles it now
        decide(delete(p, a), "county_360102")
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED


# ---------------------------------------------------------------- audit

def test_problem_changes_are_in_the_audit_trail(app):
    with app.app_context():
        a, b, p = duplicate_pair()
        bulk = db.session.scalars(select(AuditLog).where(AuditLog.entity == "problem_record")).all()
        assert bulk and "问题学籍检测" in (bulk[0].reason or "")
        decide_by_county(prove(p, a))
        rows = db.session.scalars(select(AuditLog).where(AuditLog.entity == "problem_side",
                                                         AuditLog.entity_id == str(side_of(p, a).id),
                                                         AuditLog.field == "treatment")
                                    .order_by(AuditLog.id)).all()
        assert [(r.old_value, r.new_value) for r in rows] == [("none", "proving"), ("proving", "proved")]
        assert rows[0].actor_name == "school_3601020001" and rows[1].actor_name == "county_360102"
        assert rows[0].org_path == a.school.path
        states = db.session.scalars(select(AuditLog).where(AuditLog.entity == "problem_record",
                                                           AuditLog.entity_id == str(p.id),
                                                           AuditLog.field == "state")).all()
        assert [(r.old_value, r.new_value) for r in states] == [("untreated", "partly")]


# ---------------------------------------------------------------- review fixes

def test_an_arbitrated_problem_stays_open_until_the_loser_really_deletes(app):
    with app.app_context():
        a, b, p = both_proved(EAST1, WEST1)
        problems.arbitrate(db.session, acc("city_360100"), p.id, side_of(p, a).id, "甲校记录经核实无误")
        db.session.commit()
        req = delete(p, b)
        # another request of the winner's student ends meanwhile: the problem must not close early
        key = students.request_key_change(db.session, school(EAST1), a.id, {"name": "张小明明"}, "改名",
                                          evidence(school(EAST1)))[0]
        db.session.commit()
        requests.reject(db.session, county_of(EAST1), key.id, "材料不全")
        db.session.commit()
        db.session.refresh(p)
        assert p.state == ProblemState.ARBITRATED
        requests.reject(db.session, county_of(WEST1), req.id, "请补充材料")  # the deletion fails
        db.session.commit()
        db.session.refresh(p)
        assert p.state == ProblemState.ARBITRATED and side_of(p, b).treatment == Treatment.LOST
        decide_by_county(delete(p, b))
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED


def test_no_new_proof_while_arbitration_waits_and_no_arbitration_over_a_pending_request(app):
    with app.app_context():
        a, b, p = both_proved(EAST1, WEST1)
        assert p.state == ProblemState.ARBITRATION
        refused("正等待共同上级仲裁", problems.request_proof, school(WEST1), side_of(p, b).id, "再证", evidence(school(WEST1)))
        delete(p, b)  # a proved side may still give up its record
        refused("尚未办结，请待其办结后再仲裁", problems.arbitrate, acc("city_360100"), p.id, side_of(p, a).id, "甲正确")


def test_an_id_number_proved_right_is_not_found_again_until_it_changes(app):
    with app.app_context():
        s = student_at(EAST1, seq=1)
        wrong = s.id_number[:17] + ("0" if s.id_number[17] != "0" else "1")
        plant(s, origin="legacy", id_number=wrong)
        detect()
        (p,) = open_problems(ProblemKind.INVALID_ID)
        decide_by_county(prove(p, s, "公安机关出具的身份证号即如此"))
        db.session.refresh(p)
        assert p.state == ProblemState.RESOLVED and p.accepted_value == wrong
        assert detect()["new"] == 0 and open_problems(ProblemKind.INVALID_ID) == []
        plant(s, id_number=wrong[:16] + ("1" if wrong[16] != "1" else "3") + wrong[17])  # another wrong number
        assert detect()["new"] == 1


def test_malformed_ids_from_any_entry_point_are_refused_cleanly(app):
    with app.app_context():
        a, b, p = both_proved(EAST1, WEST1)
        refused("请选择仲裁通过的记录", problems.arbitrate, acc("city_360100"), p.id, "abc", "甲正确")
        refused("该问题学籍已有变化", problems.arbitrate, acc("city_360100"), p.id, side_of(p, a).id, "甲正确",
                expected_version="x")
        refused("不在您的管辖范围内", problems.carry_on, school(EAST1), ["x"], "结转", exc=NotFound)
