"""Demo students (app.services.demo_students): realistic in-school records, bulk-inserted, unique by
construction, and a second run adds more without clashing. Runs on SQLite (Core insert) and on
PostgreSQL (COPY and Core insert)."""
import datetime
import re
from collections import Counter

import pytest
from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import AuditLog, OrgUnit
from app.models.org import OrgKind, SchoolType
from app.models.student import Guardian, Student, StudentHistory, StudentStatus
from app.services import demo, demo_students, identity, scope, students
from app.services.demo_students import GRADES_BY_TYPE, birth_window, enrollment_month, generate_students
from app.services.errors import DomainError
from tests.conftest import TEST_COUNTIES, account

TODAY = datetime.date(2026, 11, 24)


def _methods():
    return ["insert"] + (["copy"] if demo_students.copy_available(db.session) else [])


def _all_school_types(session):
    """The test world has a primary and a junior school per county; add the rotating kinds too."""
    demo.build_province(session, "360000", schools_per_county=8, only_counties=TEST_COUNTIES)
    session.commit()


def _schools(session):
    return {u.id: u for u in session.scalars(select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL))}


def _assert_registry_consistent(session, expected):
    schools = _schools(session)
    rows = session.scalars(select(Student)).all()
    assert len(rows) == expected
    numbers = [s.id_number for s in rows]
    assert len(set(numbers)) == expected, "ID numbers must be unique across the province"
    assert len({s.personal_id for s in rows}) == expected
    assert len({s.xueji_no for s in rows}) == expected
    for s in rows:
        school = schools[s.school_id]
        checked = identity.check_id_number(s.id_number, birth_date=s.birth_date, gender=s.gender, today=TODAY)
        assert checked.number == s.id_number and not checked.warnings
        assert s.id_number[:6] == school.region_code, "region prefix = the school's county"
        assert s.xueji_no == "G" + s.id_number
        assert s.personal_id == identity.personal_identifier("360000", s.id)
        assert s.status == StudentStatus.IN_SCHOOL and s.id_type == "1" and s.version == 1
        assert s.grade in GRADES_BY_TYPE[school.school_type], (school.school_type, s.grade)
        assert re.fullmatch(r"[1-9]\d*班", s.class_name)
        assert s.enrollment_month == enrollment_month(s.grade, TODAY)
        assert s.hukou_code == school.region_code + "000000"
        assert s.birthplace_code and len(s.birthplace_code) == 12
        assert re.fullmatch(r"[a-z]+", s.name_initials) and len(s.name_initials) == len(s.name)
        assert 2 <= len(s.name) <= 4 and students.NAME_RE.match(s.name)
        assert s.commute_distance is not None and float(s.commute_distance) == round(float(s.commute_distance), 1)
        students.clean_student_fields(session, students.snapshot(s), today=TODAY)  # the registry's own validation
    return rows


@pytest.mark.parametrize("method", ["auto", "insert", "copy"])
def test_generates_realistic_registered_students(app, method):
    with app.app_context():
        s = db.session
        if method != "auto" and method not in _methods():
            pytest.skip("COPY needs PostgreSQL with psycopg 3")
        _all_school_types(s)
        result = generate_students(s, 500, "360000", seed=7, method=method, today=TODAY, chunk_size=128)
        s.commit()
        assert result["students"] == result["guardians"] == result["history"] == 500
        rows = _assert_registry_consistent(s, 500)

        # every school type of the demo got students, in grades its type allows
        schools = _schools(s)
        types = {schools[r.school_id].school_type for r in rows}
        assert types >= {SchoolType.PRIMARY, SchoolType.JUNIOR, SchoolType.SENIOR, SchoolType.COMPLETE_MIDDLE,
                         SchoolType.NINE_YEAR, SchoolType.VOCATIONAL}

        # birth dates fit the grade: aged 6 on 1 September of the entry year, a few a year older
        on_time = sum(birth_window(r.grade, TODAY)[0] <= r.birth_date <= birth_window(r.grade, TODAY)[1] for r in rows)
        assert on_time >= 0.85 * len(rows)
        for r in rows:
            first, last = birth_window(r.grade, TODAY)
            assert first - datetime.timedelta(days=2 * 366 + 3) <= r.birth_date <= last + datetime.timedelta(days=370)
            if r.grade == "11":
                assert r.birth_date <= last + datetime.timedelta(days=3)  # nobody under 6 in grade 1

        # sexes and ethnicities look like a population
        males = sum(r.gender == "1" for r in rows)
        assert 0.40 * 500 < males < 0.62 * 500
        eth = Counter(r.ethnicity for r in rows)
        assert eth["01"] >= 0.9 * 500
        # class sizes: about 45, numbered from 1 within (school, grade)
        per_class = Counter((r.school_id, r.grade, r.class_name) for r in rows)
        assert max(per_class.values()) <= 50

        # exactly one guardian and one history span per student
        g = Counter(s.scalars(select(Guardian.student_id)))
        h = Counter(s.scalars(select(StudentHistory.student_id)))
        ids = {r.id for r in rows}
        assert set(g) == ids and set(g.values()) == {1}
        assert set(h) == ids and set(h.values()) == {1}
        for gd in s.scalars(select(Guardian)):
            assert gd.relation in ("51", "52", "61", "62", "63", "64", "70", "97")
            identity.check_id_number(gd.id_number, today=TODAY)
            assert students.PHONE_RE.match(gd.phone)
            male = gd.relation in ("51", "61", "63")
            female = gd.relation in ("52", "62", "64")
            if male or female:
                assert (int(gd.id_number[16]) % 2 == 1) == male
        for hist in s.scalars(select(StudentHistory)):
            assert hist.status == "in_school" and hist.valid_to is None

        # one summary in the audit trail (bulk writes bypass the per-row listener)
        bulk = s.scalars(select(AuditLog).where(AuditLog.action == "bulk", AuditLog.entity == "student")).all()
        assert [b.new_value for b in bulk] == ["500"] and bulk[0].org_path == "/360000/"


def test_second_run_adds_more_without_clashing(app):
    with app.app_context():
        s = db.session
        _all_school_types(s)
        generate_students(s, 500, seed=1, today=TODAY)
        s.commit()
        first_ids = set(s.scalars(select(Student.id_number)))
        generate_students(s, 500, seed=1, today=TODAY)  # same seed on purpose
        s.commit()
        rows = _assert_registry_consistent(s, 1000)
        assert first_ids < {r.id_number for r in rows}
        # class numbering continues after the students already in a (school, grade)
        per_class = Counter((r.school_id, r.grade, r.class_name) for r in rows)
        assert max(per_class.values()) <= 50
        assert len(s.scalars(select(AuditLog).where(AuditLog.action == "bulk", AuditLog.entity == "student")).all()) == 2


def test_sequence_continues_after_existing_numbers_and_moves_on_when_full(app):
    """A registered student already holding 360102-D-997 (male): the next male of that county and
    date gets 999, then the counter is full; females continue after the highest even one."""
    with app.app_context():
        s = db.session
        school = s.scalar(select(OrgUnit).where(OrgUnit.school_code == "3601020001"))
        born = datetime.date(2019, 3, 5)
        taken = [identity.build_id_number("360102", born, 997), identity.build_id_number("360102", born, 40)]
        s.execute(insert(Student.__table__), [
            {"name": "张三", "gender": "1" if n[16] in "13579" else "2", "birth_date": born, "id_type": "1",
             "id_number": n, "ethnicity": "01", "school_id": school.id, "status": StudentStatus.IN_SCHOOL,
             "created_at": datetime.datetime.now(), "updated_at": datetime.datetime.now(), "version": 1}
            for n in taken])
        counters = demo_students._IdCounters(s)
        assert counters.take("360102", born.toordinal(), male=True) == 999
        assert counters.take("360102", born.toordinal(), male=True) is None
        assert counters.take("360102", born.toordinal(), male=False) == 42
        assert counters.take("360103", born.toordinal(), male=True) == 1  # another county: its own counter
        s.rollback()


def test_generated_students_work_with_the_registry(app):
    """Scoping and 全省学籍查询 see demo students like registered ones."""
    with app.app_context():
        s = db.session
        generate_students(s, 300, today=TODAY)
        s.commit()
        officer = account(s, "county_360102")
        visible = s.scalars(select(Student).where(scope.clause(officer, Student))).all()
        assert visible and all(v.id_number.startswith("360102") for v in visible)
        other = s.scalar(select(Student).where(~Student.id_number.startswith("360102")))
        found = students.lookup_person(s, officer, other.name, other.id_number)
        assert found is not None and found["name_matches"]
        with pytest.raises(DomainError, match="一人一籍"):
            students._refuse_second_record(s, other.id_number)


def test_no_schools_is_a_clear_error(app):
    with app.app_context():
        with pytest.raises(DomainError, match="还没有学校"):
            generate_students(db.session, 10, province_code="110000")
        assert generate_students(db.session, 0)["students"] == 0


def test_flask_demo_students_option(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--students", "40", "--schools-per-county", "3"])
    assert result.exit_code == 0, result.output
    assert "新增在校学生 40 名" in result.output and "秒" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Student)) == 40
