"""招生入学 in the services: plans and their change requests, the unified list, self-admission within
and across counties, seats never beyond the quota (also under concurrency), duplicate admissions
settled, proved and arbitrated, and what an approved admission does to the record."""
import datetime
import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (Admission, AdmissionKind, AdmissionListRow, AdmissionState, ClaimState, DuplicateAdmission,
                        DuplicateState, EnrollmentPlan, Graduation, OrgUnit, ProblemSide, Request, RequestState,
                        Student, StudentStatus)
from app.services import admissions, attachments, graduation, requests, school_years
from app.services.errors import DomainError, NotFound, PermissionDenied
from tests.conftest import account
from tests.integration.test_registry_services import PDF, approve, register

DT = datetime.datetime
EAST, WEST, LIANXI = "360102", "360103", "360402"


def acc(username):
    return account(db.session, username)


def unit(code):
    return db.session.scalar(select(OrgUnit).where(OrgUnit.school_code == code))


@pytest.fixture
def season(monkeypatch):
    """Graduation in July 2027, then the admission season of the 2027-2028 year (clock set to 8月20日)."""
    from app.services import clock

    class Season:
        def at(self, when):
            monkeypatch.setattr(clock, "now", lambda: when)

        def admission(self):
            self.at(DT(2027, 8, 20, 9, 0))

    s = Season()
    s.at(DT(2027, 7, 10, 9, 0))
    return s


def open_years():
    for start in (2026, 2027):
        school_years.open_year(db.session, acc("sheng_admin"), {"start_year": start})
    db.session.commit()


def graduate(seq, county=EAST, name=None, grade="16"):
    """A 6th-grader of the county's primary school, graduated (id numbers unique by seq)."""
    school = f"{county}0001"
    s, req = register(f"school_{school}", seq=seq, name=name or "学生" + "甲乙丙丁戊己庚辛壬癸"[seq % 10] + "一二三四五六七八九十"[seq // 10 % 10])
    approve(req, f"county_{county}")
    s.grade = grade
    db.session.commit()
    graduation.graduate(db.session, acc(f"school_{school}"), student_ids=[s.id])
    db.session.commit()
    return s


def plan(county, quota, school_suffix="0002", grade="21"):
    p = admissions.set_plan(db.session, acc(f"county_{county}"), unit(f"{county}{school_suffix}").id, grade, quota)
    db.session.commit()
    return p


def self_admit(student, county=EAST, **kw):
    adm = admissions.self_admit(db.session, acc(f"school_{county}0002"), student.xueji_no, student.name, **kw)
    db.session.commit()
    return adm


def approve_admission(adm, who):
    requests.approve(db.session, acc(who), adm.request_id)
    db.session.commit()
    db.session.refresh(adm)
    return adm


def evidence(who):
    actor = acc(who)
    return [attachments.save(db.session, actor, "录取通知书.pdf", PDF, "evidence", actor.org_unit.path)]


# ---------------------------------------------------------------- plans

def test_the_county_sets_plans_and_the_province_sees_them_but_cannot_set(app, world, season):
    with app.app_context():
        open_years()
        season.admission()
        p = plan(EAST, 120)
        assert (p.quota, p.used, p.grade, p.year.start_year) == (120, 0, "21", 2027)
        assert [x.id for x in db.session.scalars(admissions.plans_query(acc("sheng_admin")))] == [p.id]
        assert db.session.scalars(admissions.plans_query(acc("county_360103"))).all() == []
        with pytest.raises(PermissionDenied):
            admissions.set_plan(db.session, acc("sheng_admin"), unit("3601020002").id, "21", 10)
        with pytest.raises(PermissionDenied):
            admissions.set_plan(db.session, acc("school_3601020002"), unit("3601020002").id, "21", 10)
        with pytest.raises(NotFound):  # another county's school
            admissions.set_plan(db.session, acc("county_360103"), unit("3601020002").id, "21", 10)
        with pytest.raises(DomainError, match="不招收"):  # a primary school has no 初中一年级
            admissions.set_plan(db.session, acc("county_360102"), unit("3601020001").id, "21", 10)
        with pytest.raises(DomainError, match="0 到 5000"):
            admissions.set_plan(db.session, acc("county_360102"), unit("3601020002").id, "21", -3)


def test_a_plan_change_is_requested_by_the_school_and_approved_by_the_county(app, world, season):
    with app.app_context():
        open_years()
        season.admission()
        p = plan(EAST, 1)
        a = graduate(1)
        self_admit(a)
        with pytest.raises(DomainError, match="不能低于 1"):
            admissions.request_plan_change(db.session, acc("school_3601020002"), p.id, 0, "生源减少")
        req = admissions.request_plan_change(db.session, acc("school_3601020002"), p.id, 3, "新建教学楼")
        db.session.commit()
        with pytest.raises(DomainError, match="尚未办结"):  # one open change per plan
            admissions.request_plan_change(db.session, acc("school_3601020002"), p.id, 4, "再加")
        db.session.rollback()
        approve(req, "county_360102")
        db.session.refresh(p)
        assert p.quota == 3


def test_a_quota_below_the_admissions_is_refused_and_nothing_changes(app, world, season):
    with app.app_context():
        open_years()
        season.admission()
        p = plan(EAST, 2)
        a, b = graduate(1), graduate(2)
        approve_admission(self_admit(a), "county_360102")
        self_admit(b)
        with pytest.raises(DomainError, match="已录取 1 人、待核办 1 人，招生计划数不能低于 2"):
            admissions.set_plan(db.session, acc("county_360102"), p.school_id, "21", 1)
        db.session.rollback()
        db.session.refresh(p)
        assert (p.quota, p.used) == (2, 2)


# ---------------------------------------------------------------- self-admission and its effects

def test_an_approved_admission_moves_the_record_into_grade_one_of_the_next_stage(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        a_id, xueji = a.id, a.xueji_no
        season.admission()
        plan(EAST, 10)
        adm = self_admit(a, score="612.5")
        assert (adm.state, adm.kind, adm.grade, adm.from_school.school_code) == (
            AdmissionState.PENDING, AdmissionKind.SELF, "21", "3601020001")
        req = db.session.get(Request, adm.request_id)
        assert [s.org_unit.region_code for s in req.steps] == ["360102"]  # same county: one approval
        assert db.session.get(Student, a_id).status == StudentStatus.GRADUATED  # nothing moves before approval
        approve_admission(adm, "county_360102")
        s = db.session.get(Student, a_id)
        assert (s.school.school_code, s.grade, s.status, s.xueji_no, s.class_id) == (
            "3601020002", "21", StudentStatus.IN_SCHOOL, xueji, None)
        assert s.history[-1].reason.startswith("招生入学（自主招生）") and s.history[-2].status == "graduated"
        g = db.session.scalar(select(Graduation).where(Graduation.student_id == a_id))
        assert (g.destination, g.destination_by_admission) == ("09", True)  # 普通初中, filled automatically
        assert adm.state == AdmissionState.ADMITTED and adm.plan.used == 1


def test_only_a_graduate_of_the_stage_before_can_be_admitted(app, world, season):
    with app.app_context():
        open_years()
        season.admission()
        plan(EAST, 10)
        s, req = register("school_3601020001", seq=5, name="在校生")
        approve(req, "county_360102")
        with pytest.raises(DomainError, match="不是小学毕业生"):
            self_admit(s)
        with pytest.raises(DomainError, match="相符的学籍"):
            admissions.self_admit(db.session, acc("school_3601020002"), s.xueji_no, "别人")
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Admission)) == 0


def test_cross_county_self_admission_needs_both_counties(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)  # 东湖区 graduate
        season.admission()
        plan(WEST, 10)
        adm = self_admit(a, county=WEST)
        req = db.session.get(Request, adm.request_id)
        assert [s.org_unit.region_code for s in req.steps] == [WEST, EAST]
        # 外地就读学生核办: the home county sees its graduate admitted elsewhere
        assert [x.id for x in db.session.scalars(admissions.admissions_query(acc("county_360102"), elsewhere=True))] \
            == [adm.id]
        approve_admission(adm, "county_360103")
        assert adm.state == AdmissionState.PENDING  # waits for the home county
        approve_admission(adm, "county_360102")
        assert adm.state == AdmissionState.ADMITTED and adm.student.school.school_code == "3601030002"


def test_a_rejected_admission_frees_its_seat_and_leaves_the_graduate_as_is(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        p = plan(EAST, 1)
        adm = self_admit(a)
        requests.reject(db.session, acc("county_360102"), adm.request_id, "材料不全")
        db.session.commit()
        db.session.refresh(adm)
        db.session.refresh(p)
        assert (adm.state, adm.outcome, p.used) == (AdmissionState.REJECTED, "材料不全", 0)
        assert a.status == StudentStatus.GRADUATED
        approve_admission(self_admit(a), "county_360102")  # admitted again later
        db.session.refresh(p)
        assert p.used == 1


def test_admitting_beyond_the_quota_is_refused_and_nothing_is_written(app, world, season):
    with app.app_context():
        open_years()
        a, b = graduate(1), graduate(2)
        season.admission()
        p = plan(EAST, 1)
        self_admit(a)
        with pytest.raises(DomainError, match="招生计划数 1 人已满"):
            self_admit(b)
        db.session.rollback()
        db.session.refresh(p)
        assert p.used == 1 and db.session.scalar(select(func.count()).select_from(Admission)) == 1
        assert db.session.scalar(select(func.count()).select_from(Request).where(Request.type == "admission")) == 1


def test_two_officers_admitting_the_last_seat_at_once_exactly_one_succeeds(app, world, season):
    with app.app_context():
        open_years()
        a, b = graduate(1), graduate(2)
        season.admission()
        p = plan(EAST, 1)
        pairs, plan_id = [(a.xueji_no, a.name), (b.xueji_no, b.name)], p.id
        school_id = acc("school_3601020002").id
    barrier = threading.Barrier(2)
    outcomes = []

    def admit(number, name):
        with app.app_context():
            from app.models import Account
            actor = db.session.get(Account, school_id)
            actor.org_unit  # load before racing
            barrier.wait()
            try:
                admissions.self_admit(db.session, actor, number, name)
                db.session.commit()
                outcomes.append("ok")
            except DomainError as exc:
                db.session.rollback()
                outcomes.append(exc.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=admit, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.count("ok") == 1, outcomes
    assert "已满" in [o for o in outcomes if o != "ok"][0]
    with app.app_context():
        assert db.session.get(EnrollmentPlan, plan_id).used == 1
        assert db.session.scalar(select(func.count()).select_from(Admission)) == 1


def test_the_same_school_cannot_admit_a_student_twice_and_an_admitted_student_is_final(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        plan(WEST, 5)
        adm = self_admit(a)
        with pytest.raises(DomainError, match="请勿重复录取"):  # the double click
            self_admit(a)
        db.session.rollback()
        approve_admission(adm, "county_360102")
        a = db.session.get(Student, a.id)
        with pytest.raises(DomainError, match="不是小学毕业生|已被"):
            self_admit(a, county=WEST)


# ---------------------------------------------------------------- the unified list

def row(student, frm="3601020001", to="3601020002", stage="初中", **kw):
    return {"number": student.xueji_no, "name": student.name, "from_code": frm, "to_code": to, "stage": stage, **kw}


def test_the_unified_list_is_checked_against_the_registry(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        other = graduate(2, county=WEST)  # a 西湖区 graduate
        s, req = register("school_3601020001", seq=9, name="未毕业")
        approve(req, "county_360102")
        season.admission()
        plan(EAST, 10)
        county = acc("county_360102")
        values = admissions.list_row_values(db.session, county, row(a, score="598"))
        assert values["grade"] == "21" and float(values["score"]) == 598.0
        with pytest.raises(DomainError, match="不是本县（区）学校"):  # another county's school
            admissions.list_row_values(db.session, county, row(other, frm="3601030001"))
        with pytest.raises(DomainError, match="不是.*的毕业生"):
            admissions.list_row_values(db.session, county, row(s))
        with pytest.raises(DomainError, match="相符的学籍"):
            admissions.list_row_values(db.session, county, {**row(a), "name": "张三"})
        with pytest.raises(DomainError, match="没有.*招生计划"):
            admissions.list_row_values(db.session, county, row(a, to="3601020001"))
        with pytest.raises(DomainError, match="教育阶段"):
            admissions.list_row_values(db.session, county, row(a, stage="大学"))
        with pytest.raises(PermissionDenied):
            admissions.list_row_values(db.session, acc("school_3601020002"), row(a))


def test_the_school_admits_from_the_list_and_a_second_upload_changes_nothing(app, world, season):
    with app.app_context():
        open_years()
        a, b = graduate(1), graduate(2)
        season.admission()
        plan(EAST, 1)
        county = acc("county_360102")
        rows = [admissions.list_row_values(db.session, county, row(x)) for x in (a, b)]
        assert admissions.save_list_rows(db.session, county, rows) == (2, 0, 0)
        assert admissions.save_list_rows(db.session, county, rows) == (0, 0, 2)
        db.session.commit()
        me = acc("school_3601020002")
        ids = [r.id for r in db.session.scalars(admissions.list_rows_query(me, waiting_only=True))]
        assert len(ids) == 2
        assert db.session.scalars(admissions.list_rows_query(acc("school_3601030002"))).all() == []
        done, failed = admissions.admit_from_list(db.session, me, ids)
        db.session.commit()
        assert len(done) == 1 and len(failed) == 1 and "已满" in list(failed.values())[0]
        assert done[0].kind == AdmissionKind.UNIFIED
        assert len(db.session.scalars(admissions.list_rows_query(me, waiting_only=True)).all()) == 1


# ---------------------------------------------------------------- duplicates

def test_a_duplicate_admission_is_detected_and_settled_by_a_withdrawal(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        plan(WEST, 5)
        first, second = self_admit(a), self_admit(a, county=WEST)
        case = db.session.scalar(select(DuplicateAdmission))
        assert case is not None and {x.id for x in case.admissions} == {first.id, second.id}
        with pytest.raises(DomainError, match="重复招生"):
            requests.approve(db.session, acc("county_360102"), first.request_id)
        db.session.rollback()
        admissions.withdraw(db.session, acc("school_3601030002"), second.id, "学生选择东湖区学校")
        db.session.commit()
        db.session.refresh(case)
        assert case.state == DuplicateState.RESOLVED and case.winner_id == first.id
        db.session.refresh(second)
        assert second.state == AdmissionState.WITHDRAWN and second.plan.used == 0
        approve_admission(first, "county_360102")
        assert first.state == AdmissionState.ADMITTED


def test_a_duplicate_proved_by_both_schools_is_arbitrated_by_the_common_superior(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        plan(LIANXI, 5)
        east, north = self_admit(a), self_admit(a, county=LIANXI)
        case = db.session.scalar(select(DuplicateAdmission))
        for adm, school, county in ((east, "school_3601020002", "county_360102"),
                                    (north, "school_3604020002", "county_360402")):
            req = admissions.prove(db.session, acc(school), adm.id, "学生已报到", evidence(school))
            db.session.commit()
            approve(req, county)
        db.session.refresh(case)
        assert case.state == DuplicateState.ARBITRATION and case.arbiter.kind.value == "province"
        with pytest.raises(PermissionDenied):  # a county is not the common superior of two cities' schools
            admissions.arbitrate(db.session, acc("county_360102"), case.id, east.id, "就近")
        with pytest.raises(DomainError, match="裁决理由"):
            admissions.arbitrate(db.session, acc("sheng_admin"), case.id, east.id, "")
        admissions.arbitrate(db.session, acc("sheng_admin"), case.id, north.id, "学生实际在九江就读")
        db.session.commit()
        for x in (case, east, north):
            db.session.refresh(x)
        assert (case.state, case.winner_id) == (DuplicateState.RESOLVED, north.id)
        assert east.state == AdmissionState.REJECTED and east.plan.used == 0
        assert north.state == AdmissionState.ADMITTED and north.student.school.school_code == "3604020002"


def test_arbitration_may_reject_every_admission(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        plan(WEST, 5)
        east, west = self_admit(a), self_admit(a, county=WEST)
        for adm, school, county in ((east, "school_3601020002", "county_360102"),
                                    (west, "school_3601030002", "county_360103")):
            approve(admissions.prove(db.session, acc(school), adm.id, "已报到", evidence(school)), county)
        case = db.session.scalar(select(DuplicateAdmission))
        assert case.arbiter.kind.value == "city"  # two counties of 南昌
        admissions.arbitrate(db.session, acc("city_360100"), case.id, None, "双方材料均不足")
        db.session.commit()
        assert {adm.state for adm in db.session.scalars(select(Admission))} == {AdmissionState.REJECTED}
        assert db.session.get(Student, a.id).status == StudentStatus.GRADUATED


def test_a_proof_the_county_rejects_ends_that_schools_admission(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        plan(WEST, 5)
        east, west = self_admit(a), self_admit(a, county=WEST)
        req = admissions.prove(db.session, acc("school_3601030002"), west.id, "已报到", evidence("school_3601030002"))
        db.session.commit()
        requests.reject(db.session, acc("county_360103"), req.id, "证明材料不实")
        db.session.commit()
        for x in (east, west):
            db.session.refresh(x)
        assert west.state == AdmissionState.REJECTED
        assert db.session.scalar(select(DuplicateAdmission)).state == DuplicateState.RESOLVED
        approve_admission(east, "county_360102")
        assert east.state == AdmissionState.ADMITTED


def test_a_contested_student_cannot_be_placed_and_a_graduates_problems_are_locked(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        plan(WEST, 5)
        self_admit(a)
        assert admissions.placement_blockers(db.session, [a.id]) == {}
        self_admit(a, county=WEST)
        assert admissions.placement_blockers(db.session, [a.id]) == {a.id: admissions.CONTESTED}
        # 驳回 and the other processes wait while the admission is open
        with pytest.raises(DomainError, match="尚未办结"):
            requests.ensure_unlocked(db.session, a)


def test_problem_records_follow_the_admitted_student_to_the_new_school(app, world, season):
    with app.app_context():
        from app.models import ProblemRecord, ProblemKind, ProblemState, Treatment
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        problem = ProblemRecord(kind=ProblemKind.INVALID_ID, key=str(a.id), state=ProblemState.UNTREATED)
        problem.sides = [ProblemSide(student_id=a.id, school_path=a.school.path, treatment=Treatment.CARRIED)]
        db.session.add(problem)
        db.session.commit()
        approve_admission(self_admit(a), "county_360102")
        side = db.session.scalar(select(ProblemSide))
        assert side.school_path == unit("3601020002").path and side.treatment == Treatment.NONE


def test_scope_a_county_never_sees_another_countys_admissions(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        adm = self_admit(a)
        assert db.session.scalars(admissions.admissions_query(acc("county_360103"))).all() == []
        with pytest.raises(NotFound):
            admissions.withdraw(db.session, acc("school_3601030002"), adm.id, "x")
        with pytest.raises(NotFound):
            admissions.admission_of(db.session, acc("county_360402"), adm.id)


def test_a_graduate_with_a_pending_admission_cannot_be_rejected_by_the_county(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        adm = self_admit(a)
        g = db.session.scalar(select(Graduation).where(Graduation.student_id == a.id))
        with pytest.raises(DomainError, match="正在办理招生录取"):
            graduation.reject(db.session, acc("county_360102"), g.id, "需修改姓名")
        db.session.rollback()
        admissions.withdraw(db.session, acc("school_3601020002"), adm.id, "误录")
        db.session.commit()
        graduation.reject(db.session, acc("county_360102"), g.id, "需修改姓名")
        db.session.commit()
        assert db.session.get(Student, a.id).status == StudentStatus.IN_SCHOOL


def test_admissions_start_only_inside_the_seasons_window_and_nothing_is_held_outside(app, world, season):
    with app.app_context():
        from app.services import calendars
        open_years()
        a = graduate(1)
        season.admission()
        p = plan(EAST, 5)
        calendars.add_window(db.session, acc("county_360102"), {
            "process": "admission", "mode": "open", "starts_on": datetime.date(2027, 8, 11),
            "ends_on": datetime.date(2027, 8, 19), "title": "招生入学办理期限"})
        db.session.commit()
        with pytest.raises(DomainError, match="只能在办理期限内发起"):
            self_admit(a)
        db.session.rollback()
        db.session.refresh(p)
        assert p.used == 0 and db.session.scalar(select(func.count()).select_from(Admission)) == 0
        season.at(DT(2027, 8, 15, 9, 0))
        assert self_admit(a).state == AdmissionState.PENDING


def test_a_pending_proof_is_cancelled_when_its_admission_is_rejected(app, world, season):
    with app.app_context():
        from app.models import StepDecision
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        plan(WEST, 5)
        east, west = self_admit(a), self_admit(a, county=WEST)
        proof = admissions.prove(db.session, acc("school_3601030002"), west.id, "已报到", evidence("school_3601030002"))
        db.session.commit()
        requests.reject(db.session, acc("county_360103"), west.request_id, "该生未报到")
        db.session.commit()
        db.session.refresh(proof)
        assert proof.state == RequestState.CANCELLED and proof.outcome.startswith("录取已结束")
        assert {s.decision for s in proof.steps} == {StepDecision.CANCELLED}
        assert db.session.scalars(requests.inbox_query(acc("county_360103"), type_name="admission_proof")).all() == []
        assert db.session.scalar(select(DuplicateAdmission)).state == DuplicateState.RESOLVED


@pytest.mark.parametrize("score", ["abc", "nan", "inf", "-1", "99999999", "1e9"])
def test_a_score_that_is_not_a_plausible_number_is_refused_and_nothing_is_held(app, world, season, score):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        p = plan(EAST, 5)
        with pytest.raises(DomainError, match="成绩应"):
            self_admit(a, score=score)
        with pytest.raises(DomainError, match="成绩应"):
            admissions.list_row_values(db.session, acc("county_360102"), row(a, score=score))
        db.session.rollback()
        db.session.refresh(p)
        assert p.used == 0 and db.session.scalar(select(func.count()).select_from(Admission)) == 0


def test_stale_or_malformed_versions_and_huge_ids_are_refused_in_the_service(app, world, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        adm = self_admit(a)
        for version in ("abc", "999"):
            with pytest.raises(DomainError, match="已被他人修改"):
                admissions.withdraw(db.session, acc("school_3601020002"), adm.id, "误录", expected_version=version)
        with pytest.raises(DomainError, match="无效"):
            admissions.admit_from_list(db.session, acc("school_3601020002"), ["9" * 30])
        db.session.rollback()
        db.session.refresh(adm)
        assert adm.state == AdmissionState.PENDING
