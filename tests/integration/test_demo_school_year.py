"""The demo's school year (app.services.demo_school_year): the current 学年 opened by the province,
班级 from the class names the demo students came with, 班主任 on the sample schools' classes, and
五四制 only where it strands no student; a second call changes nothing."""
import datetime
import re

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AuditLog, OrgUnit
from app.models.org import OrgKind, SchoolType
from app.models.school_year import SchoolClass, SchoolTerm, SchoolYear, TermKind
from app.models.student import Student, StudentStatus
from app.services import clock, demo, demo_school_year, grades, orgs, school_years
from app.services.demo_students import generate_students
from tests.conftest import TEST_COUNTIES, account

NOW = datetime.datetime(2026, 11, 24, 10, 0)
TODAY = NOW.date()
SAMPLE_COUNTIES = ("360102", "360103")  # the first city's first two counties (run.py prints their accounts)
STAYING = (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED, StudentStatus.REGISTERING)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


def _world(session, students=600):
    """The test counties with every demo school type (8 per county, accounts too) and demo students."""
    demo.load_demo(session, "360000", schools_per_county=8, only_counties=TEST_COUNTIES)
    if students:
        generate_students(session, students, today=TODAY)
        session.commit()


def _schools(session):
    return session.scalars(select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL).order_by(OrgUnit.path)).all()


def _has_sixth_graders(session, school):
    return bool(session.scalar(select(func.count()).select_from(Student).where(
        Student.school_id == school.id, Student.grade == "16", Student.status.in_(STAYING))))


def _state(session):
    """Everything the seed may touch, to compare before and after."""
    return {
        "years": session.execute(select(SchoolYear.id, SchoolYear.start_year, SchoolYear.starts_on, SchoolYear.ends_on,
                                        SchoolYear.promotion_at, SchoolYear.version)).all(),
        "terms": session.execute(select(SchoolTerm.id, SchoolTerm.kind, SchoolTerm.starts_on, SchoolTerm.ends_on)).all(),
        "classes": session.execute(select(SchoolClass.id, SchoolClass.school_id, SchoolClass.grade, SchoolClass.class_no,
                                          SchoolClass.head_teacher, SchoolClass.version)
                                   .order_by(SchoolClass.id)).all(),
        "schooling": session.execute(select(OrgUnit.id, OrgUnit.primary_years, OrgUnit.junior_years)
                                     .order_by(OrgUnit.id)).all(),
        "students": session.execute(select(Student.id, Student.grade, Student.class_id, Student.class_name,
                                           Student.version).order_by(Student.id)).all(),
        "audit": session.scalar(select(func.count()).select_from(AuditLog)),
    }


def test_seed_opens_the_year_turns_class_names_into_classes_and_sets_head_teachers(app):
    with app.app_context():
        s = db.session
        _world(s)
        names_before = dict(s.execute(select(Student.id, Student.class_name)).all())
        groups = set(s.execute(select(Student.school_id, Student.grade, Student.class_name)).all())

        result = demo_school_year.seed(s)

        # the current school year, opened by the province with the default time point
        year = s.scalar(select(SchoolYear))
        assert s.scalar(select(func.count()).select_from(SchoolYear)) == 1
        assert result["opened"] and result["year"].id == year.id
        assert year.name == "2026-2027学年"
        assert (year.starts_on, year.ends_on) == (datetime.date(2026, 9, 1), datetime.date(2027, 8, 31))
        assert year.promotion_at == datetime.datetime(2027, 8, 11, 0, 0)  # 2027年8月10日24时
        assert school_years.current_year(s, TODAY).id == year.id
        assert [t.kind for t in year.terms] == [TermKind.AUTUMN, TermKind.SPRING]
        assert year.org_unit.kind == OrgKind.PROVINCE
        opened_by = s.scalars(select(AuditLog.actor_name).where(AuditLog.entity == "school_year")).all()
        assert opened_by and set(opened_by) == {"sheng_admin"}

        # every demo student is in a class of their school and grade, named as before
        students = s.scalars(select(Student)).all()
        classes = {c.id: c for c in s.scalars(select(SchoolClass))}
        assert len(classes) == len(groups) == result["classes"]
        assert result["linked"] == len(students) == 600
        for st in students:
            cls = classes[st.class_id]
            assert (cls.school_id, cls.grade) == (st.school_id, st.grade)
            assert st.class_name == cls.name == names_before[st.id]  # the generator's "3班" is class 3
            assert cls.cohort_year == school_years.cohort_year_of(st.grade, TODAY)
            assert cls.active and grades.teaches(st.school, cls.grade)
        assert s.scalar(select(AuditLog.actor_name).where(AuditLog.entity == "school_class",
                                                          AuditLog.action == "bulk")) == "sheng_admin"

        # 班主任 on every class of the sample counties' schools, set by the school's own account
        sample_ids = {u.id for u in _schools(s) if u.region_code in SAMPLE_COUNTIES}
        with_teacher = [c for c in classes.values() if c.head_teacher]
        assert with_teacher and len(with_teacher) == result["head_teachers"]
        assert {c.id for c in with_teacher} == {c.id for c in classes.values() if c.school_id in sample_ids}
        for c in with_teacher:
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", c.head_teacher), c.head_teacher
        set_by = dict(s.execute(select(AuditLog.entity_id, AuditLog.actor_name).where(
            AuditLog.entity == "school_class", AuditLog.field == "head_teacher")).all())
        assert set(set_by) == {str(c.id) for c in with_teacher}
        for c in with_teacher:
            assert set_by[str(c.id)] == f"school_{c.school.school_code}"

        # 五四制 only on schools nobody is stranded in; the others keep 六三制
        changed = {u.id for u in result["five_four"]}
        assert 1 <= len(changed) <= demo_school_year.FIVE_FOUR_SCHOOLS
        for school in _schools(s):
            if school.id in changed:
                assert (school.primary_years, school.junior_years) == (5, 4)
                assert grades.schooling_label(school) in ("小学5年、初中4年", "初中4年", "初中4年、高中3年")
                assert not _has_sixth_graders(s, school)
                taught = grades.grades_of(school)
                assert not s.scalar(select(func.count()).select_from(Student).where(
                    Student.school_id == school.id, Student.status.in_(STAYING), Student.grade.not_in(taught)))
            else:
                assert (school.primary_years, school.junior_years) == (None, None)

        line = demo_school_year.describe(result)
        assert line.startswith("演示学年已建立：2026-2027学年（升级时点 2027年8月10日24时）")
        assert f"建班 {result['classes']} 个" in line and "五四制学校：" in line
        assert all(u.name in line for u in result["five_four"])
        assert not re.search(r"[A-Za-z]", line)


def test_a_second_seed_changes_nothing(app):
    with app.app_context():
        s = db.session
        _world(s)
        assert demo_school_year.seed(s)
        before = _state(s)
        assert demo_school_year.seed(s) is None
        s.expire_all()
        assert _state(s) == before


def test_five_four_only_where_no_student_is_in_grade_16_nine_year_schools_first(app):
    with app.app_context():
        s = db.session
        _world(s)
        nine_year = [u for u in _schools(s) if u.school_type == SchoolType.NINE_YEAR]
        assert len(nine_year) >= 2
        for u in nine_year:  # make sure every nine-year school has a 六年级 to begin with
            if not _has_sixth_graders(s, u):
                one = s.scalar(select(Student.id).where(Student.school_id == u.id).order_by(Student.id))
                s.execute(update(Student).where(Student.id == one).values(grade="16"))
        s.commit()
        assert all(_has_sixth_graders(s, u) for u in nine_year)
        # one nine-year school's 六年级 moves on (as after its graduation): it may become 五四制
        freed = nine_year[1]
        s.execute(update(Student).where(Student.school_id == freed.id, Student.grade == "16")
                  .values(status=StudentStatus.GRADUATED))
        s.commit()
        stuck = [u for u in _schools(s) if _has_sixth_graders(s, u)]

        result = demo_school_year.seed(s)

        changed = result["five_four"]
        assert changed[0].id == freed.id  # the only nine-year school without 六年级 students comes first
        assert len(changed) == demo_school_year.FIVE_FOUR_SCHOOLS
        assert len(stuck) >= len(nine_year) - 1
        for u in stuck:  # every school with students in grade 16 stays 六三制
            s.refresh(u)
            assert (u.primary_years, u.junior_years) == (None, None), u.name
            assert grades.teaches(u, "16")
        # the rest of the choice: primary or junior schools without 六年级 students, in path order
        for u in changed[1:]:
            assert u.school_type in demo_school_year.FIVE_FOUR_PREFERENCE and u.id not in {x.id for x in stuck}


def test_five_four_counts_the_schools_already_on_it(app):
    with app.app_context():
        s = db.session
        _world(s, students=0)
        county = account(s, "county_360402")
        first = s.scalar(select(OrgUnit).where(OrgUnit.school_code == "3604020002"))  # 第一初级中学
        orgs.update_unit(s, county, first.id, primary_years=5, junior_years=4)
        s.commit()

        result = demo_school_year.seed(s)

        assert len(result["five_four"]) == demo_school_year.FIVE_FOUR_SCHOOLS - 1
        on_five_four = s.scalar(select(func.count()).select_from(OrgUnit).where(OrgUnit.junior_years == 4))
        assert on_five_four == demo_school_year.FIVE_FOUR_SCHOOLS


def test_without_students_nine_year_schools_get_five_four_and_no_classes_are_made(app):
    with app.app_context():
        s = db.session
        _world(s, students=0)

        result = demo_school_year.seed(s)

        assert result["opened"] and result["classes"] == result["linked"] == result["head_teachers"] == 0
        assert s.scalar(select(func.count()).select_from(SchoolClass)) == 0
        nine_year = [u for u in _schools(s) if u.school_type == SchoolType.NINE_YEAR]
        assert [u.id for u in result["five_four"]] == [u.id for u in nine_year[:demo_school_year.FIVE_FOUR_SCHOOLS]]
        for u in result["five_four"]:
            assert grades.schooling_label(u) == "小学5年、初中4年"
            assert grades.final_grades(u) == ("15", "24")
        # the 学制 was changed by the school's county, like an officer would
        changers = s.scalars(select(AuditLog.actor_name).where(AuditLog.entity == "org_unit",
                                                               AuditLog.field == "junior_years")).all()
        assert sorted(changers) == sorted(f"county_{u.region_code}" for u in result["five_four"])


def test_a_year_the_province_already_opened_is_kept(app):
    with app.app_context():
        s = db.session
        _world(s, students=120)
        sheng = account(s, "sheng_admin")
        mine = school_years.open_year(s, sheng, {"start_year": 2026, "promotion_at": "2027-07-31 24:00"})
        s.commit()

        result = demo_school_year.seed(s)

        assert not result["opened"] and result["year"].id == mine.id
        assert s.scalar(select(func.count()).select_from(SchoolYear)) == 1
        assert s.get(SchoolYear, mine.id).promotion_at == datetime.datetime(2027, 8, 1, 0, 0)
        assert result["linked"] == 120
        assert "2027年7月31日24时" in demo_school_year.describe(result)


def test_nothing_without_the_demo_province(app):
    with app.app_context():
        s = db.session
        assert demo_school_year.seed(s, province_code="110000") is None
        assert s.scalar(select(func.count()).select_from(SchoolYear)) == 0
