"""毕业 in the services: the final grade only, all or nothing, blocked by 在办业务 and unsettled
问题学籍 (unless carried on), 毕业信息 with the national 去向 list, the county's 驳回 and re-graduation,
去向 filled by admission."""
import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Graduation, GraduationState, Request, RequestState, Student, StudentStatus
from app.services import graduation, problems, requests, school_years, status_changes
from app.services.errors import DomainError, NotFound, PermissionDenied
from tests.conftest import account
from tests.integration.test_registry_services import enrolled
from tests.integration.test_school_year import frozen, open_year  # noqa: F401  (fixture)

ME = "school_3601020001"


def acc(username):
    return account(db.session, username)


def final(seq, grade="16", **kw):
    s = enrolled(seq=seq, **kw)
    s.grade = grade
    db.session.commit()
    return s


def graduated_count():
    return db.session.scalar(select(func.count()).select_from(Graduation))


def test_a_school_graduates_its_final_grade_without_county_approval(app, world, frozen):
    with app.app_context():
        year = open_year()
        a, b = final(1), final(2)
        me = acc(ME)
        n = graduation.graduate(db.session, me, student_ids=[a.id, b.id], graduated_on="2026-11-20")
        db.session.commit()
        assert n == 2
        db.session.expire_all()
        assert a.status == b.status == StudentStatus.GRADUATED
        g = db.session.scalar(select(Graduation).where(Graduation.student_id == a.id))
        assert (g.state, g.stage, g.grade, g.year_id, g.graduated_on) == (
            GraduationState.GRADUATED, "1", "16", year.id, datetime.date(2026, 11, 20))
        assert a.history[-1].status == "graduated" and a.history[-2].valid_to is not None
        assert db.session.scalar(select(func.count()).select_from(Request).where(Request.type.like("%graduat%"))) == 0
        entry = db.session.scalar(select(AuditLog).where(AuditLog.entity == "graduation"))
        assert entry.new_value == "2" and entry.actor_name == ME


def test_a_whole_class_graduates_by_selecting_the_class(app, world, frozen):
    with app.app_context():
        a, b = final(1, class_name="1班"), final(2, class_name="1班")
        school_years.adopt_class_names(db.session)
        db.session.commit()
        db.session.refresh(a)
        n = graduation.graduate(db.session, acc(ME), class_ids=[a.class_id])
        db.session.commit()
        assert n == 2 and {g.class_id for g in db.session.scalars(select(Graduation))} == {a.class_id}
        with pytest.raises(DomainError, match="所选班级已没有在校学生"):  # the double click
            graduation.graduate(db.session, acc(ME), class_ids=[a.class_id])


def test_a_non_final_grade_does_not_graduate_and_nothing_is_written(app, world, frozen):
    with app.app_context():
        a, b = final(1), final(2, grade="15")
        with pytest.raises(DomainError, match="不在毕业年级.*毕业年级为小学六年级"):
            graduation.graduate(db.session, acc(ME), student_ids=[a.id, b.id])
        db.session.rollback()
        db.session.expire_all()
        assert a.status == StudentStatus.IN_SCHOOL and graduated_count() == 0


def test_a_five_year_primary_graduates_grade_five(app, world, frozen):
    with app.app_context():
        a = final(1, grade="15")
        a.school.primary_years = 5
        db.session.commit()
        assert graduation.graduate(db.session, acc(ME), student_ids=[a.id]) == 1


def test_open_requests_block_graduation_and_are_listed(app, world, frozen):
    with app.app_context():
        a, b = final(1), final(2)
        me = acc(ME)
        req = status_changes.request_suspension(db.session, me, b.id, reason_code="01", starts_on="2026-12-01",
                                                ends_on="2027-06-30")
        db.session.commit()
        with pytest.raises(graduation.GraduationBlocked, match="1 名学生有在办业务") as blocked:
            graduation.graduate(db.session, me, student_ids=[a.id, b.id])
        db.session.rollback()
        assert [r.id for r in blocked.value.open_requests] == [req.id]
        db.session.expire_all()
        assert a.status == StudentStatus.IN_SCHOOL and graduated_count() == 0  # all or nothing
        rows, reqs, sides = graduation.check(db.session, me, student_ids=[a.id, b.id])
        assert len(rows) == 2 and [r.id for r in reqs] == [req.id] and sides == []
        # 在办业务清理: the county cancels on the school's behalf, then the class graduates
        requests.cancel(db.session, acc("county_360102"), req.id, reason="毕业前清理")
        db.session.commit()
        assert graduation.graduate(db.session, me, student_ids=[a.id, b.id]) == 2


def test_unsettled_problem_records_block_until_carried_on(app, world, frozen):
    from tests.integration.test_problems import plant, detect, open_problems, side_of
    with app.app_context():
        a = final(1)
        plant(a, id_number=a.id_number[:-1] + ("0" if a.id_number[-1] != "0" else "1"))  # a wrong check digit
        detect()
        (p,) = open_problems()
        me = acc(ME)
        with pytest.raises(graduation.GraduationBlocked, match="问题学籍尚未处理或结转") as blocked:
            graduation.graduate(db.session, me, student_ids=[a.id])
        db.session.rollback()
        assert [s.student_id for s in blocked.value.problem_sides] == [a.id]
        problems.carry_on(db.session, me, [side_of(p, a).id], "毕业后由录取学校继续处理")
        db.session.commit()
        assert graduation.graduate(db.session, me, student_ids=[a.id]) == 1  # 问题学籍学生可以毕业


def test_graduating_twice_or_a_student_of_another_school_is_refused(app, world, frozen):
    with app.app_context():
        a = final(1)
        me = acc(ME)
        graduation.graduate(db.session, me, student_ids=[a.id])
        db.session.commit()
        with pytest.raises(DomainError, match="学籍状态不是在校"):  # the double click
            graduation.graduate(db.session, me, student_ids=[a.id])
        db.session.rollback()
        assert graduated_count() == 1
        west = final(2, who="school_3601030001")
        with pytest.raises(NotFound):
            graduation.graduate(db.session, me, student_ids=[west.id])
        db.session.rollback()
        with pytest.raises(PermissionDenied, match="只有学校学籍管理员"):
            graduation.graduate(db.session, acc("county_360102"), student_ids=[a.id])


def test_a_closed_graduation_window_refuses(app, world, frozen):
    from app.services import calendars
    with app.app_context():
        a = final(1)
        calendars.add_window(db.session, acc("sheng_admin"), {"process": "graduation", "mode": "open",
                                                              "starts_on": "2027-06-01", "ends_on": "2027-07-30",
                                                              "title": "毕业办理期限"})
        db.session.commit()
        with pytest.raises(DomainError, match="“毕业”只能在办理期限内发起"):
            graduation.graduate(db.session, acc(ME), student_ids=[a.id])


def test_graduation_information_with_the_national_destination_list(app, world, frozen):
    with app.app_context():
        a, b = final(1), final(2)
        me = acc(ME)
        graduation.graduate(db.session, me, student_ids=[a.id, b.id])
        db.session.commit()
        ids = [g.id for g in db.session.scalars(select(Graduation))]
        graduation.update_info(db.session, me, ids, {"destination": "普通初中", "certificate_no": "GX2027-001"})
        db.session.commit()
        assert {(g.destination, g.certificate_no) for g in db.session.scalars(select(Graduation))} == {("09", "GX2027-001")}
        with pytest.raises(DomainError, match="毕业去向“留学”不在国家代码表中"):
            graduation.update_info(db.session, me, ids, {"destination": "留学"})
        db.session.rollback()
        with pytest.raises(DomainError, match="不能晚于今天"):
            graduation.update_info(db.session, me, ids, {"graduated_on": "2030-01-01"})
        db.session.rollback()
        assert {g.destination for g in db.session.scalars(select(Graduation))} == {"09"}
        with pytest.raises(NotFound):
            graduation.update_info(db.session, acc("school_3601030001"), ids, {"destination": "10"})


def test_the_county_rejects_a_graduate_and_the_school_graduates_again(app, world, frozen):
    with app.app_context():
        a = final(1)
        me, county = acc(ME), acc("county_360102")
        graduation.graduate(db.session, me, student_ids=[a.id])
        db.session.commit()
        g = db.session.scalar(select(Graduation))
        with pytest.raises(DomainError, match="请填写驳回理由"):
            graduation.reject(db.session, county, g.id, " ")
        db.session.rollback()
        with pytest.raises(NotFound):
            graduation.reject(db.session, acc("county_360103"), g.id, "姓名有误")
        db.session.rollback()
        with pytest.raises(PermissionDenied):
            graduation.reject(db.session, me, g.id, "姓名有误")
        db.session.rollback()
        graduation.reject(db.session, county, g.id, "姓名有误，需修改后再毕业", expected_version=g.version)
        db.session.commit()
        db.session.expire_all()
        assert a.status == StudentStatus.IN_SCHOOL and g.state == GraduationState.REJECTED
        assert a.history[-1].reason == "毕业生驳回：姓名有误，需修改后再毕业"
        rejected = db.session.scalars(graduation.graduates_query(county, state=GraduationState.REJECTED)).all()
        assert [r.id for r in rejected] == [g.id]
        assert db.session.scalars(graduation.graduates_query(acc("county_360103"), state=None)).all() == []
        with pytest.raises(DomainError, match="已被驳回"):
            graduation.reject(db.session, county, g.id, "再驳回")
        db.session.rollback()
        graduation.graduate(db.session, me, student_ids=[a.id])  # re-graduation: a new row
        db.session.commit()
        assert [x.state for x in db.session.scalars(select(Graduation).order_by(Graduation.id))] == [
            GraduationState.REJECTED, GraduationState.GRADUATED]


def test_a_graduate_admitted_elsewhere_cannot_be_rejected_and_gets_the_destination(app, world, frozen):
    from app.models import OrgUnit
    with app.app_context():
        a = final(1)
        graduation.graduate(db.session, acc(ME), student_ids=[a.id])
        db.session.commit()
        junior = db.session.scalar(select(OrgUnit).where(OrgUnit.school_code == "3601030002"))
        # what admission (招生入学) does: the record moves on to the next stage's school
        a.school_id, a.grade, a.status = junior.id, "21", StudentStatus.IN_SCHOOL
        g = graduation.record_admission(db.session, a, "21")
        db.session.commit()
        assert (g.destination, g.destination_by_admission) == ("09", True)
        with pytest.raises(DomainError, match="已被 .*录取或学籍已变动"):
            graduation.reject(db.session, acc("county_360102"), g.id, "改姓名")
        db.session.rollback()
        db.session.expire_all()
        assert g.state == GraduationState.GRADUATED and a.status == StudentStatus.IN_SCHOOL and a.grade == "21"


def test_malformed_ids_are_refused_not_skipped(app, world, frozen):
    with app.app_context():
        a = final(1)
        with pytest.raises(DomainError, match="学生编号“abc”无效"):
            graduation.graduate(db.session, acc(ME), student_ids=[a.id, "abc"])
        db.session.rollback()
        with pytest.raises(NotFound):
            graduation.reject(db.session, acc("county_360102"), "x1", "理由")
        db.session.rollback()
        db.session.expire_all()
        assert db.session.get(Student, a.id).status == StudentStatus.IN_SCHOOL
