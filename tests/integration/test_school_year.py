"""学年学期, 学制 and classes in the services: who opens years, time points, grades by 学制, classes
and 分班, adopting the class names records came with."""
import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import OrgUnit, SchoolClass, SchoolYear, Student
from app.models.school_year import TermKind
from app.services import clock, grades, school_years
from app.services.errors import DomainError, NotFound, PermissionDenied
from tests.conftest import account
from app.services.identity import build_id_number
from tests.integration.test_registry_services import enrolled

DT = datetime.datetime


@pytest.fixture
def frozen(monkeypatch):
    """A settable clock: frozen.at(datetime) moves it."""
    class Clock:
        def at(self, when):
            monkeypatch.setattr(clock, "now", lambda: when)
    c = Clock()
    c.at(DT(2026, 11, 25, 10, 0))
    return c


def acc(username):
    return account(db.session, username)


def unit(code):
    return db.session.scalar(select(OrgUnit).where(OrgUnit.school_code == code))


def open_year(start=2026, **data):
    year = school_years.open_year(db.session, acc("sheng_admin"), {"start_year": start, **data})
    db.session.commit()
    return year


def test_province_opens_a_year_with_two_terms_and_the_guides_time_point(app, world, frozen):
    with app.app_context():
        year = open_year()
        assert year.name == "2026-2027学年"
        assert (year.starts_on, year.ends_on) == (datetime.date(2026, 9, 1), datetime.date(2027, 8, 31))
        assert year.promotion_at == DT(2027, 8, 11, 0, 0)  # 8月10日24时
        assert school_years.time_point_label(year.promotion_at) == "2027年8月10日24时"
        assert school_years.time_point_label(DT(2027, 8, 10, 18, 30)) == "2027年8月10日18时30分"
        assert [(t.kind, t.starts_on, t.ends_on) for t in year.terms] == [
            (TermKind.AUTUMN, datetime.date(2026, 9, 1), datetime.date(2027, 1, 31)),
            (TermKind.SPRING, datetime.date(2027, 2, 1), datetime.date(2027, 8, 31))]
        assert school_years.current_year(db.session).id == year.id
        assert school_years.current_term(db.session).kind == TermKind.AUTUMN


@pytest.mark.parametrize("who", ["county_360102", "city_360100", "school_3601020001", "sheng_viewer"])
def test_only_the_province_opens_years(app, world, frozen, who):
    with app.app_context():
        with pytest.raises(PermissionDenied, match="只有省级管理员"):
            school_years.open_year(db.session, acc(who), {"start_year": 2026})
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(SchoolYear)) == 0


@pytest.mark.parametrize("data, message", [
    ({"start_year": "二〇二六"}, "学年起始年份须为整数"),
    ({"start_year": 2026, "promotion_at": "2026-08-10 24:00"}, "升级时点须在本学年之内"),
    ({"start_year": 2026, "promotion_at": "2027-08-10 25:00"}, "时刻无效"),
    ({"start_year": 2026, "promotion_at": "明年八月"}, "升级时点格式"),
    ({"start_year": 2026, "ends_on": "2026-08-01"}, "结束日期须晚于开始日期"),
])
def test_bad_years_are_refused_in_chinese(app, world, frozen, data, message):
    with app.app_context():
        with pytest.raises(DomainError, match=message):
            school_years.open_year(db.session, acc("sheng_admin"), data)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(SchoolYear)) == 0


def test_a_year_is_opened_once_and_years_do_not_overlap(app, world, frozen):
    with app.app_context():
        open_year()
        with pytest.raises(DomainError, match="已设置，不能重复设置"):
            open_year()
        db.session.rollback()
        with pytest.raises(DomainError, match="重叠"):
            open_year(2027, starts_on="2027-08-01")


def test_the_time_point_moves_only_forward_and_only_before_the_promotion(app, world, frozen):
    with app.app_context():
        year = open_year()
        sheng = acc("sheng_admin")
        school_years.update_year(db.session, sheng, year.id, {"promotion_at": "2027-08-15 24:00"},
                                 expected_version=year.version)
        db.session.commit()
        assert year.promotion_at == DT(2027, 8, 16)
        with pytest.raises(DomainError, match="已被他人修改"):
            school_years.update_year(db.session, sheng, year.id, {"promotion_at": "2027-08-12 24:00"},
                                     expected_version=year.version - 1)
        db.session.rollback()
        frozen.at(DT(2027, 8, 20))
        with pytest.raises(DomainError, match="升级时点须晚于现在"):
            school_years.update_year(db.session, sheng, year.id, {"promotion_at": "2027-08-19 24:00"})
        db.session.rollback()
        from app.services import promotion
        promotion.run(db.session, sheng, year.id)
        db.session.commit()
        with pytest.raises(DomainError, match="已升级，不能再修改"):
            school_years.update_year(db.session, sheng, year.id, {"promotion_at": "2027-08-25 24:00"})


def test_a_term_stays_inside_its_year_and_apart_from_the_other(app, world, frozen):
    with app.app_context():
        year = open_year()
        autumn, spring = year.terms
        sheng = acc("sheng_admin")
        school_years.update_term(db.session, sheng, autumn.id, {"starts_on": "2026-09-01", "ends_on": "2027-01-20"})
        db.session.commit()
        assert autumn.ends_on == datetime.date(2027, 1, 20)
        with pytest.raises(DomainError, match="重叠"):
            school_years.update_term(db.session, sheng, spring.id, {"starts_on": "2027-01-10", "ends_on": "2027-07-10"})
        db.session.rollback()
        with pytest.raises(DomainError, match="须在2026-2027学年"):
            school_years.update_term(db.session, sheng, spring.id, {"starts_on": "2027-02-20", "ends_on": "2027-09-10"})


def test_grades_follow_the_schools_schooling_system(app, world):
    with app.app_context():
        primary, junior = unit("3601020001"), unit("3601020002")
        assert grades.grades_of(primary) == ("11", "12", "13", "14", "15", "16")
        assert grades.final_grades(primary) == ("16",) and grades.final_grades(junior) == ("23",)
        primary.primary_years, junior.junior_years = 5, 4  # 五四制
        assert grades.final_grades(primary) == ("15",) and not grades.teaches(primary, "16")
        assert grades.final_grades(junior) == ("24",) and grades.teaches(junior, "24")
        from app.models.org import SchoolType
        primary.school_type = SchoolType.NINE_YEAR  # 九年一贯制: both stages, each with its own final grade
        assert grades.final_grades(primary) == ("15", "23")
        primary.school_type = SchoolType.COMPLETE_MIDDLE  # 完全中学
        assert grades.final_grades(primary) == ("23", "33")
        db.session.rollback()


def test_a_school_builds_classes_and_assigns_students_in_bulk(app, world, frozen):
    with app.app_context():
        me = acc("school_3601020001")
        made = school_years.create_classes(db.session, me, None, "11", 3, head_teachers=["王老师"])
        db.session.commit()
        assert [(c.class_no, c.cohort_year, c.head_teacher) for c in made] == [(1, 2026, "王老师"), (2, 2026, None),
                                                                              (3, 2026, None)]
        more = school_years.create_classes(db.session, me, None, "11", 1)
        assert more[0].class_no == 4  # numbered after the ones the grade has
        a = enrolled(seq=1)
        b = enrolled(seq=2, gender="2", id_number=build_id_number("360102", datetime.date(2019, 3, 7), 20))
        school_years.assign_students(db.session, me, made[1].id, [a.id, b.id])
        db.session.commit()
        assert (a.class_id, a.class_name) == (made[1].id, "2班")
        assert school_years.class_counts(db.session, [made[1].id]) == {made[1].id: (2, 1, 1)}
        assert a.history[-1].reason.startswith("分班：小学一年级2班")
        with pytest.raises(DomainError, match="还有学生"):
            school_years.delete_class(db.session, me, made[1].id)
        db.session.rollback()
        school_years.delete_class(db.session, me, made[2].id)
        db.session.commit()
        assert db.session.get(SchoolClass, made[2].id) is None


def test_classes_refuse_other_grades_other_schools_and_grades_the_school_lacks(app, world, frozen):
    with app.app_context():
        me = acc("school_3601020001")
        with pytest.raises(DomainError, match="没有初中一年级"):
            school_years.create_classes(db.session, me, None, "21", 1)
        db.session.rollback()
        with pytest.raises(DomainError, match="班级数须在 1 至 60 之间"):
            school_years.create_classes(db.session, me, None, "11", 0)
        db.session.rollback()
        (cls,) = school_years.create_classes(db.session, me, None, "12", 1)
        db.session.commit()
        s = enrolled(seq=1)  # grade 11
        with pytest.raises(DomainError, match="在小学一年级，不能分入"):
            school_years.assign_students(db.session, me, cls.id, [s.id])
        db.session.rollback()
        assert s.class_id is None
        west = acc("school_3601030001")
        with pytest.raises(NotFound):  # another school's class: as if it did not exist
            school_years.assign_students(db.session, west, cls.id, [s.id])
        db.session.rollback()
        with pytest.raises(NotFound):
            school_years.update_class(db.session, acc("county_360103"), cls.id, {"head_teacher": "李"})
        db.session.rollback()
        with pytest.raises(PermissionDenied):
            school_years.create_classes(db.session, acc("sheng_viewer"), unit("3601020001").id, "11", 1)


def test_class_numbers_are_unique_in_a_cohort(app, world, frozen):
    with app.app_context():
        me = acc("school_3601020001")
        a, b = school_years.create_classes(db.session, me, None, "11", 2)
        db.session.commit()
        with pytest.raises(DomainError, match="2026级已有1班"):
            school_years.update_class(db.session, me, b.id, {"class_no": 1})
        db.session.rollback()
        s = enrolled(seq=1)
        school_years.assign_students(db.session, me, b.id, [s.id])
        school_years.update_class(db.session, me, b.id, {"class_no": 7, "head_teacher": "赵老师"})
        db.session.commit()
        db.session.refresh(s)
        assert s.class_name == "7班" and b.head_teacher == "赵老师"


def test_class_names_on_records_become_classes(app, world, frozen):
    with app.app_context():
        a, b = enrolled(seq=1, class_name="2班"), enrolled(seq=2, class_name="2班")
        c, d = enrolled(seq=3, class_name="火箭班"), enrolled(seq=4, class_name="3班", grade="12")
        made, linked = school_years.adopt_class_names(db.session)
        db.session.commit()
        db.session.expire_all()
        assert (made, linked) == (3, 4)
        assert a.class_id == b.class_id and a.class_name == "2班"
        assert c.class_name == "3班"  # no number: the grade's next free one
        assert db.session.get(SchoolClass, d.class_id).cohort_year == 2025  # grade 2 now → 2025级
        assert school_years.adopt_class_names(db.session) == (0, 0)  # idempotent


def test_a_schools_schooling_system_is_set_and_checked_by_the_service(app, world):
    from app.services import orgs
    with app.app_context():
        county = acc("county_360102")
        school = unit("3601020001")
        orgs.update_unit(db.session, county, school.id, primary_years="5")
        db.session.commit()
        assert school.primary_years == 5 and grades.final_grades(school) == ("15",)
        with pytest.raises(DomainError, match="小学学制应为 6 年或 5 年"):
            orgs.update_unit(db.session, county, school.id, primary_years=7)
        db.session.rollback()
        orgs.update_unit(db.session, county, school.id, primary_years=None)
        db.session.commit()
        s = enrolled(seq=1)
        s.grade = "16"
        db.session.commit()
        with pytest.raises(DomainError, match="本校还有小学六年级 1 名学生，改为小学5年后将没有这些年级"):
            orgs.update_unit(db.session, county, school.id, primary_years=5)
        db.session.rollback()
        db.session.expire_all()
        assert unit("3601020001").primary_years is None


def test_the_school_edit_form_sets_the_schooling_system(app, world, as_user):
    c = as_user("county_360102")
    with app.app_context():
        school = unit("3601020002")
        form = {"name": school.name, "school_code": school.school_code, "school_type": "junior", "ownership": "public",
                "junior_years": "4", "primary_years": "", "address": "", "may_enroll": "y", "active": "y"}
    page = c.post(f"/orgunitview/edit/{school.id}", data=form, follow_redirects=True)
    assert page.status_code == 200
    with app.app_context():
        assert unit("3601020002").junior_years == 4
    page = c.get(f"/orgunitview/show/{school.id}")
    assert "初中学制" in page.get_data(as_text=True) and "4年制" in page.get_data(as_text=True)
    page = c.post(f"/orgunitview/edit/{school.id}", data={**form, "junior_years": "5"}, follow_redirects=True)
    with app.app_context():
        assert unit("3601020002").junior_years == 4  # not a choice: refused, unchanged
    page = c.post(f"/orgunitview/edit/{school.id}", data={k: v for k, v in form.items() if k != "may_enroll"},
                  follow_redirects=True)
    with app.app_context():
        assert unit("3601020002").may_enroll is False  # an unticked box is saved, not "required"


def test_the_home_page_names_the_current_term_and_the_next_promotion(app, world, as_user, frozen):
    c = as_user("school_3601020001")
    assert "尚未设置当前学年" in c.get("/").get_data(as_text=True)
    with app.app_context():
        open_year(2026)  # the frozen clock says 2026-11-25: its autumn term
    page = c.get("/").get_data(as_text=True)
    assert "当前：2026-2027学年秋季学期" in page and "下一次自动升级：2027年8月10日24时" in page
