"""中考报名: the year's settings, one-click registration of the graduating junior class, 报名号 by the
pattern, 往届/外省 by hand with identity checks, one registration per person, the window, scoping
and the screens."""
import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Candidate, CandidateOrigin, Student, StudentStatus, ZkExam
from app.services import identity
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.zhongkao import exams, registration
from tests.integration.zk_support import (EAST, JUNIOR, LIANXI, WEST, acc, ctx, make_exam, populate,  # noqa: F401
                                          register_county, school)

pytestmark = pytest.mark.usefixtures("ctx")

DT = datetime.datetime


def count():
    return db.session.scalar(select(func.count()).select_from(Candidate))


def graduating(county):
    return db.session.scalars(select(Student).where(Student.school_id == school(JUNIOR[county]).id,
                                                    Student.grade == "23",
                                                    Student.status == StudentStatus.IN_SCHOOL)).all()


def manual_data(**over):
    number = identity.build_id_number("360102", datetime.date(2010, 3, 4), 13)
    data = {"school_id": school(JUNIOR[EAST]).id, "name": "往届甲", "gender": "1" if int(number[16]) % 2 else "2",
            "birth_date": "2010-03-04", "id_number": number, "graduated_school_name": "南昌市第九中学",
            "phone": "13800000000"}
    data.update(over)
    return data


def test_only_the_province_sets_up_the_exam_and_patterns_are_checked():
    with pytest.raises(PermissionDenied):
        exams.create_exam(db.session, acc("county_360102"), {"year": 2027})
    exam = make_exam()
    assert [s.code for s in exam.subjects][:3] == ["yw", "sx", "yy"]
    with pytest.raises(DomainError, match="已设置"):
        exams.create_exam(db.session, acc("sheng_admin"), {"year": 2027})
    with pytest.raises(DomainError, match="报名号规则"):
        exams.update_exam(db.session, acc("sheng_admin"), exam.id, {"reg_no_pattern": "{yy}{school}{seq:05d}"})
    db.session.rollback()
    with pytest.raises(DomainError, match="序号"):
        exams.update_exam(db.session, acc("sheng_admin"), exam.id, {"reg_no_pattern": "{yy}{county}"})
    db.session.rollback()
    assert db.session.get(ZkExam, exam.id).reg_no_pattern == "{yy}{county}{seq:05d}"


def test_one_click_registers_the_graduating_class_with_numbers_by_the_pattern():
    populate()
    exam = make_exam(reg_no_pattern="{year}{county}{seq:04d}")
    expected = graduating(EAST)
    assert expected, "the test province has a graduating junior class"
    result = register_county(exam, EAST)
    assert result["added"] == len(expected)
    rows = db.session.scalars(select(Candidate).order_by(Candidate.seq)).all()
    assert {c.student_id for c in rows} == {s.id for s in expected}  # only the county's graduating class
    assert [c.seq for c in rows] == list(range(1, len(rows) + 1))
    assert rows[0].reg_no == "2027360102" + "0001"
    first = db.session.get(Student, rows[0].student_id)
    assert (rows[0].name, rows[0].id_number, rows[0].birth_date) == (first.name, first.id_number, first.birth_date)
    assert rows[0].guardian_name == first.guardians[0].name  # no retyping: prefilled from the registry
    assert rows[0].origin == CandidateOrigin.REGISTRY
    # a second click adds nobody; the audit log has one bulk entry per click
    assert register_county(exam, EAST)["added"] == 0
    assert count() == len(expected)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.entity == "zk_candidate",
                                                                             AuditLog.action == "bulk")) >= 1
    # the next county numbers from 1 again, and the province's click adds the rest
    registration.register_graduating(db.session, acc("sheng_admin"), exam)
    db.session.commit()
    west = db.session.scalars(select(Candidate).where(Candidate.school_id == school(JUNIOR[WEST]).id)
                              .order_by(Candidate.seq)).all()
    assert west and west[0].reg_no == "2027360103" + "0001"
    assert count() == len(expected) + len(graduating(WEST)) + len(graduating(LIANXI))


def test_picked_students_must_be_in_the_graduating_class():
    populate()
    exam = make_exam()
    younger = db.session.scalar(select(Student).where(Student.school_id == school(JUNIOR[EAST]).id,
                                                      Student.grade == "21"))
    with pytest.raises(DomainError, match="不是初中毕业年级的在校学生"):
        registration.register_graduating(db.session, acc(f"school_{JUNIOR[EAST]}"), exam, student_ids=[younger.id])
    db.session.rollback()
    assert count() == 0
    one = graduating(EAST)[0]
    registration.register_graduating(db.session, acc(f"school_{JUNIOR[EAST]}"), exam, student_ids=[one.id])
    db.session.commit()
    assert count() == 1
    with pytest.raises(DomainError, match="已经报名"):
        registration.register_graduating(db.session, acc(f"school_{JUNIOR[EAST]}"), exam, student_ids=[one.id])
    db.session.rollback()
    # another county's student is not found, not named
    other = graduating(WEST)[0]
    with pytest.raises(NotFound):
        registration.register_graduating(db.session, acc(f"school_{JUNIOR[EAST]}"), exam, student_ids=[other.id])


def test_registration_only_inside_the_window(monkeypatch):
    populate()
    exam = make_exam(registration_opens="2027-03-01", registration_closes="2027-04-15")
    with pytest.raises(DomainError, match="截止"):
        registration.register_graduating(db.session, acc("county_360102"), exam, today=datetime.date(2027, 4, 16))
    with pytest.raises(DomainError, match="尚未开始"):
        registration.register_manual(db.session, acc("county_360102"), manual_data(), exam,
                                     today=datetime.date(2027, 2, 1))
    assert count() == 0
    assert registration.register_graduating(db.session, acc("county_360102"), exam,
                                            today=datetime.date(2027, 3, 2))["added"] > 0


def test_manual_registration_checks_identity_and_refuses_a_second_registration():
    populate()
    exam = make_exam()
    officer = acc("county_360102")
    c = registration.register_manual(db.session, officer, manual_data(), exam)
    db.session.commit()
    assert c.reg_no.startswith("27360102") and c.origin == CandidateOrigin.MANUAL
    with pytest.raises(DomainError, match="已在.*报名"):
        registration.register_manual(db.session, officer, manual_data(name="往届甲"), exam)
    bad = manual_data(id_number=manual_data()["id_number"][:17] + ("0" if manual_data()["id_number"][17] != "0" else "1"))
    with pytest.raises(DomainError, match="校验位"):
        registration.register_manual(db.session, officer, bad, exam)
    with pytest.raises(DomainError, match="出生日期"):
        registration.register_manual(db.session, officer, manual_data(birth_date="2010-03-05"), exam)
    # a graduating student of the registry is registered from the registry, not by hand
    grad = graduating(EAST)[0]
    data = manual_data(id_number=grad.id_number, birth_date=grad.birth_date.isoformat(), gender=grad.gender)
    with pytest.raises(DomainError, match="从学籍库报名"):
        registration.register_manual(db.session, officer, data, exam)
    # a student in a lower grade may not sit the exam
    young = db.session.scalar(select(Student).where(Student.school_id == school(JUNIOR[EAST]).id,
                                                    Student.grade == "22", Student.id_number.is_not(None)))
    data = manual_data(id_number=young.id_number, birth_date=young.birth_date.isoformat(), gender=young.gender)
    with pytest.raises(DomainError, match="非初中毕业年级"):
        registration.register_manual(db.session, officer, data, exam)
    # 本省手工报名 is for 往届 only; a school of another county is not found
    with pytest.raises(DomainError, match="往届"):
        registration.register_manual(db.session, officer, manual_data(category="fresh"), exam)
    with pytest.raises(NotFound):
        registration.register_manual(db.session, officer, manual_data(school_id=school(JUNIOR[WEST]).id), exam)
    db.session.rollback()
    assert count() == 1
    # one-click afterwards does not register the manual candidate's ID number twice
    registration.register_graduating(db.session, officer, exam)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Candidate)
                             .where(Candidate.id_number == c.id_number)) == 1


def test_out_of_province_fresh_graduate_can_register_by_hand():
    exam = make_exam()
    number = identity.build_id_number("420102", datetime.date(2011, 6, 1), 21)
    c = registration.register_manual(db.session, acc("county_360102"), manual_data(
        origin="out_of_province", category="fresh", hukou_kind="migrant", id_number=number,
        birth_date="2011-06-01", gender="1" if int(number[16]) % 2 else "2", graduated_school_name="武汉市某中学"), exam)
    db.session.commit()
    assert c.origin == CandidateOrigin.OUT_OF_PROVINCE and c.category.value == "fresh"


def test_cancel_only_before_signing_and_only_in_scope():
    populate()
    exam = make_exam()
    register_county(exam, EAST)
    c = db.session.scalars(select(Candidate)).first()
    with pytest.raises(NotFound):
        registration.cancel_registration(db.session, acc("county_360103"), c.id)
    c.info_state = c.info_state.__class__("confirmed")
    db.session.commit()
    with pytest.raises(DomainError, match="锁定"):
        registration.cancel_registration(db.session, acc("county_360102"), c.id)




def test_manual_registration_needs_a_junior_school_as_its_registration_point():
    exam = make_exam()
    primary = school("3601020001")
    with pytest.raises(DomainError, match="不是初中学校"):
        registration.register_manual(db.session, acc("county_360102"), manual_data(school_id=primary.id), exam)
    assert count() == 0
