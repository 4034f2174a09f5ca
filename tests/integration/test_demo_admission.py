"""The demo's admission season (app.services.demo_admission), loaded the way run.py loads the demo:
plans for every school with an entry grade, one primary class per county and one junior class
graduated by their schools, so the season can be run on the screens; a second call changes nothing."""
import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Admission, AdmissionState, AuditLog, EnrollmentPlan, Graduation, OrgUnit, SchoolYear
from app.models.org import OrgKind
from app.models.school_year import GraduationState, SchoolClass
from app.models.student import Student, StudentStatus
from app.services import admissions, clock, demo, demo_admission, demo_movements, demo_school_year, grades
from app.services.demo_students import generate_students
from tests.conftest import TEST_COUNTIES, account

NOW = datetime.datetime(2026, 11, 24, 10, 0)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


def _prepare(session, students=800, today=None):
    """What run.py does on a first start before the admission seed, for the test counties (every
    demo school type)."""
    today = today or NOW.date()
    demo.load_demo(session, "360000", schools_per_county=8, only_counties=TEST_COUNTIES)
    if students:
        generate_students(session, students, today=today)
        session.commit()
    demo_movements.seed(session, today=today)
    demo_movements.seed_problems(session)
    demo_school_year.seed(session, today=today)


def _load(session, students=800, today=None):
    _prepare(session, students, today)
    return demo_admission.seed(session, today=today or NOW.date())


def _schools(session):
    return session.scalars(select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL).order_by(OrgUnit.path)).all()


def _state(session):
    return {
        "years": session.execute(select(SchoolYear.id, SchoolYear.version)).all(),
        "plans": session.execute(select(EnrollmentPlan.id, EnrollmentPlan.quota, EnrollmentPlan.version)
                                 .order_by(EnrollmentPlan.id)).all(),
        "graduations": session.execute(select(Graduation.id, Graduation.version).order_by(Graduation.id)).all(),
        "students": session.execute(select(Student.id, Student.status, Student.version).order_by(Student.id)).all(),
        "audit": session.scalar(select(func.count()).select_from(AuditLog)),
    }


def test_the_demo_has_plans_and_graduates_waiting_for_admission(app):
    with app.app_context():
        s = db.session
        result = _load(s)

        year = result["year"]
        assert year.name == "2026-2027学年" and not result["opened"]
        assert admissions.admission_year(s, NOW.date()).id == year.id

        # 招生计划数: every school that may enroll, for each entry grade it teaches, set by its county
        expected = {(u.id, g) for u in _schools(s) if u.active and u.may_enroll for g in admissions.entry_grades_of(u)}
        plans = s.scalars(select(EnrollmentPlan)).all()
        assert {(p.school_id, p.grade) for p in plans} == expected and len(plans) == result["plans"]
        assert {p.grade for p in plans} == {"21", "31", "41"}
        for p in plans:
            assert p.year_id == year.id and p.used == 0 and p.quota >= 36 and p.quota % 10 == 0
        set_by = set(s.scalars(select(AuditLog.actor_name).where(AuditLog.entity == "enrollment_plan")))
        assert set_by == {f"county_{c}" for c in TEST_COUNTIES}

        # graduates: one primary class per county, one junior class, each by its school's account
        standing = s.scalars(select(Graduation).where(Graduation.state == GraduationState.GRADUATED)).all()
        primary = [g for g in standing if g.stage == grades.STAGE_PRIMARY]
        junior = [g for g in standing if g.stage == grades.STAGE_JUNIOR]
        assert {g.school.parent.region_code for g in primary} == set(TEST_COUNTIES)
        for code in TEST_COUNTIES:
            mine = [g for g in primary if g.school.parent.region_code == code]
            assert len({g.school_id for g in mine}) == 1 and len({g.class_id for g in mine}) == 1
            assert mine[0].grade in grades.final_grades(mine[0].school)
        assert junior and len({g.class_id for g in junior}) == 1 and junior[0].school.parent.region_code == "360102"
        assert len(result["classes"]) == len(TEST_COUNTIES) + 1
        for school, cls, n in result["classes"]:
            graduated = [g for g in standing if g.class_id == cls.id]
            assert len(graduated) == n > 0
            assert {g.created_by_id for g in graduated} == {account(s, f"school_{school.school_code}").id}
            assert {g.year_id for g in graduated} == {year.id}
            # the whole class went: nobody of it is left 在校 in it
            assert not s.scalar(select(func.count()).select_from(Student).where(
                Student.class_id == cls.id, Student.status == StudentStatus.IN_SCHOOL))
        assert all(g.student.status == StudentStatus.GRADUATED for g in standing)

        # the season runs: a junior school of the county admits one, the county admits from a list
        g = primary[0]
        county = g.school.parent
        junior_school = next(u for u in _schools(s) if u.parent_id == county.id and "21" in admissions.entry_grades_of(u)
                             and u.may_enroll)
        adm = admissions.self_admit(s, account(s, f"school_{junior_school.school_code}"), g.student.xueji_no,
                                    g.student.name, grade="21")
        s.commit()
        assert adm.state == AdmissionState.PENDING and adm.request.steps[0].org_unit_id == county.id
        other = next(x for x in primary if x.school.parent_id == county.id and x.student_id != g.student_id)
        values = admissions.list_row_values(s, account(s, f"county_{county.region_code}"), {
            "number": other.student.xueji_no, "name": other.student.name, "from_code": other.school.school_code,
            "to_code": junior_school.school_code, "stage": "初中"})
        assert values["grade"] == "21" and values["year_id"] == year.id
        senior = next(u for u in _schools(s) if "31" in admissions.entry_grades_of(u) and u.may_enroll)
        j = junior[0]
        assert admissions.self_admit(s, account(s, f"school_{senior.school_code}"), j.student.xueji_no,
                                     j.student.name, grade="31").grade == "31"
        s.rollback()


def test_a_second_seed_changes_nothing(app):
    with app.app_context():
        s = db.session
        assert _load(s)
        before = _state(s)
        assert demo_admission.seed(s, today=NOW.date()) is None
        s.expire_all()
        assert _state(s) == before


def test_a_class_graduation_refuses_is_passed_over(app):
    """A 六年级 student of the first county's first school with an unsettled 问题学籍: graduation
    refuses that class, so the seed graduates the next candidate and the student stays 在校."""
    from app.models import ProblemKind, ProblemRecord, ProblemSide, ProblemState, Treatment
    with app.app_context():
        s = db.session
        _prepare(s)
        school = s.scalar(select(OrgUnit).where(OrgUnit.school_code == "3601020001"))
        first = s.scalars(select(SchoolClass).where(SchoolClass.school_id == school.id, SchoolClass.grade == "16")
                          .order_by(SchoolClass.class_no)).first()
        stuck = s.scalars(select(Student).where(Student.class_id == first.id)).first()
        problem = ProblemRecord(kind=ProblemKind.INVALID_ID, key=f"test:{stuck.id}", state=ProblemState.UNTREATED)
        problem.sides = [ProblemSide(student_id=stuck.id, school_path=school.path, treatment=Treatment.NONE)]
        s.add(problem)
        s.commit()

        result = demo_admission.seed(s, today=NOW.date())

        east = [(u, c) for u, c, _n in result["classes"] if u.parent.region_code == "360102" and c.grade[0] == "1"]
        assert len(east) == 1 and east[0][1].id != first.id
        s.refresh(stuck)
        assert stuck.status == StudentStatus.IN_SCHOOL
        assert not s.scalar(select(func.count()).select_from(Graduation).where(Graduation.class_id == first.id))


def test_in_july_the_province_opens_the_admission_year(app, monkeypatch):
    july = datetime.datetime(2027, 7, 15, 9, 0)
    monkeypatch.setattr(clock, "now", lambda: july)
    with app.app_context():
        s = db.session
        result = _load(s, students=300, today=july.date())
        assert result["opened"] and result["year"].name == "2027-2028学年"
        assert demo_school_year.seed(s, today=july.date()) is None  # the current year is still 2026-2027
        assert {p.year_id for p in s.scalars(select(EnrollmentPlan))} == {result["year"].id}
        assert s.scalar(select(func.count()).select_from(SchoolYear)) == 2


def test_nothing_without_the_demo_province(app):
    with app.app_context():
        s = db.session
        assert demo_admission.seed(s, province_code="110000") is None
        assert s.scalar(select(func.count()).select_from(EnrollmentPlan)) == 0
        assert s.scalar(select(func.count()).select_from(Admission)) == 0


def test_without_students_only_plans(app):
    with app.app_context():
        s = db.session
        result = _load(s, students=0)
        assert result["plans"] > 0 and result["classes"] == []
        assert s.scalar(select(func.count()).select_from(SchoolClass)) == 0
