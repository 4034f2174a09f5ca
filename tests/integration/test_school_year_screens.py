"""学年学期, 班级/分班, 升级记录 and 学年报告 screens through HTTP, logged in as the demo accounts:
the province opens a year and runs / undoes the 升级; a school adds classes and assigns its
students; the held students and the 补升级; the year-end report and its .xlsx; every level sees
its own area only; refusals come back in Chinese and change nothing."""
import datetime
import io
import re

import openpyxl
from sqlalchemy import func, select

from app.extensions import db
from app.models import PromotionHold, PromotionRun, SchoolClass, SchoolTerm, SchoolYear, Student
from app.models.school_year import PromotionState
from app.models.student import StudentStatus
from app.services import graduation, promotion, school_years
from app.services.identity import build_id_number
from tests.conftest import account, unit
from tests.integration.test_registry_services import enrolled

SCHOOL = "school_3601020001"       # 东湖第一小学 (东湖区, 南昌)
SCHOOL_B = "school_3601030001"     # 西湖区
COUNTY = "county_360102"
OTHER_COUNTY = "county_360103"
TODAY = datetime.date.today()
START = school_years.year_start_of(TODAY)   # the school year today belongs to
YEAR_NAME = f"{START}-{START + 1}学年"
# English words FAB or a forgotten string would leave on a page
ENGLISH = re.compile(r">\s*(None|List|Show|Edit|Delete|Add|Save|Back|Search|Actions?|Record|Records)\s*<")


def text(resp):
    return resp.get_data(as_text=True)


def ok(resp):
    assert resp.status_code == 200, (resp.status_code, text(resp)[:2000])
    page = text(resp)
    assert "Traceback" not in page and not ENGLISH.search(page), ENGLISH.search(page)
    return page


def school_id(app, code="3601020001"):
    with app.app_context():
        return unit(db.session, code).id


def open_year(app, start=START, **data):
    with app.app_context():
        year = school_years.open_year(db.session, account(db.session, "sheng_admin"), {"start_year": start, **data})
        db.session.commit()
        return year.id


def run_promotion(app, year_id):
    with app.app_context():
        run = promotion.run(db.session, account(db.session, "sheng_admin"), year_id)
        db.session.commit()
        return run.id


def grades_of(app, *ids):
    with app.app_context():
        return [db.session.get(Student, i).grade for i in ids]


BORN = datetime.date(2019, 3, 7)
NAMES = ["王一", "李二", "张三", "赵四", "钱五", "孙六", "周七", "吴八"]


def students(app, *specs, first=1):
    """Enrolled students named NAMES[first - 1], … of 东湖第一小学: specs are grades, or (grade, who).
    Odd numbers are boys, even numbers girls."""
    out = []
    with app.app_context():
        for n, spec in enumerate(specs, start=first):
            grade, who = spec if isinstance(spec, tuple) else (spec, SCHOOL)
            female = {} if n % 2 else {"gender": "2", "id_number": build_id_number("360102", BORN, 2 * n)}
            s = enrolled(seq=n, who=who, name=NAMES[n - 1], **female)
            s.grade = grade
            db.session.commit()
            out.append(s.id)
    return out


def make_classes(app, grade="11", count=2, who=SCHOOL):
    with app.app_context():
        made = school_years.create_classes(db.session, account(db.session, who), None, grade, count)
        db.session.commit()
        return [c.id for c in made]


def counts(app):
    with app.app_context():
        return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
                for m in (SchoolYear, SchoolTerm, SchoolClass, PromotionRun, PromotionHold)}


# ---------------------------------------------------------------- every page, every level

def test_every_page_renders_in_chinese_for_each_level(app, as_user):
    year_id = open_year(app)
    s1, s2, s3, s4 = students(app, "11", "11", "16", "13")
    with app.app_context():
        db.session.get(Student, s2).status = StudentStatus.SUSPENDED
        db.session.commit()
    [cls, _other] = make_classes(app)
    with app.app_context():
        school_years.assign_students(db.session, account(db.session, SCHOOL), cls, [s1])
        db.session.commit()
    run_id = run_promotion(app, year_id)
    sid = school_id(app)
    county_id = school_id(app, "360102")

    for who in ("sheng_admin", "sheng_viewer", "city_360100", COUNTY, SCHOOL):
        c = as_user(who)
        page = ok(c.get("/schoolyearview/list/"))
        assert YEAR_NAME in page and "秋季学期" in page and "春季学期" in page and "学年与毕业升级" in page
        assert "已升级" in page and "当前学年" in page
        assert ("设置学年" in page) == (who == "sheng_admin")
        page = ok(c.get("/promotionview/list/"))
        assert YEAR_NAME in page and "手工" in page and "暂无待执行的升级时点" in page
        assert ("立即升级" in page) == (who == "sheng_admin")
        assert (f"/promotionview/revert/{run_id}" in page) == (who == "sheng_admin")
        page = ok(c.get(f"/promotionview/show/{run_id}"))
        assert "李二" in page and "休学" in page and "张三" in page and "毕业年级未毕业" in page
        assert "小学六年级" in page and "东湖第一小学" in page
        assert ("promote_held" in page) == (who in ("sheng_admin", "city_360100", COUNTY))
        page = ok(c.get(f"/yearendreportview/list/?year={year_id}"))
        assert YEAR_NAME in page and "毕业年级未毕业" in page and "留在原年级" in page
        assert (f"county={county_id}\">东湖区教育体育局</a>" in page) == (who in ("sheng_admin", "sheng_viewer",
                                                                                 "city_360100"))
        assert ("<td>东湖第一小学</td>" in page) == (who in (COUNTY, SCHOOL))
        if who in ("sheng_admin", "city_360100"):  # drill into the county: its schools
            page = ok(c.get(f"/yearendreportview/list/?year={year_id}&county={county_id}"))
            assert "东湖第一小学" in page and "返回各县（区）" in page
        resp = c.get(f"/yearendreportview/download?year={year_id}")
        assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
        page = ok(c.get("/classview/list/") if who == SCHOOL else c.get(f"/classview/list/?school={sid}"))
        assert "小学一年级" in page and "1班" in page and "2班" in page and f"{START}级" in page
        assert ("增加班级" in page) == (who == SCHOOL)
        page = ok(c.get(f"/classview/show/{cls}"))
        assert "王一" in page and "本班学生" in page
        assert ("不在本班的学生" in page) == (who == SCHOOL)
    # Officers above a county first pick a county, then the school.
    page = ok(as_user("sheng_admin").get("/classview/list/"))
    assert "东湖区教育体育局" in page and "请选择学校" in page
    page = ok(as_user("city_360100").get(f"/classview/list/?county={county_id}"))
    assert "东湖第一小学" in page and "九江" not in page and "请选择学校" in page
    page = ok(as_user(COUNTY).get("/classview/list/"))
    assert "东湖第一小学" in page and "西湖" not in page
    # The year form and the confirmation page of the province.
    sheng = as_user("sheng_admin")
    assert "起始年份" in ok(sheng.get("/schoolyearview/add")) and "升级时点" in ok(sheng.get("/schoolyearview/add"))
    with app.app_context():
        term_id = db.session.scalar(select(SchoolTerm.id).where(SchoolTerm.year_id == year_id))
    assert "学期开始日期" in ok(sheng.get(f"/schoolyearview/term/{term_id}"))
    assert "撤销理由" in ok(sheng.get(f"/promotionview/revert/{run_id}"))
    assert "已经升级过" in ok(sheng.get(f"/promotionview/run?year={year_id}"))


# ---------------------------------------------------------------- the province: years and the 升级

def test_province_opens_a_year_and_runs_and_undoes_the_promotion(app, as_user):
    sheng = as_user("sheng_admin")
    page = ok(sheng.post("/schoolyearview/add", data={"start_year": str(START), "starts_on": "",
                                                      "ends_on": "", "promotion_at": f"{START + 1}-08-10 24:00"},
                         follow_redirects=True))
    assert f"已设置{YEAR_NAME}" in page and f"{START + 1}-08-10 24:00" in page
    with app.app_context():
        year = db.session.scalar(select(SchoolYear))
        assert (year.start_year, year.starts_on, year.ends_on) == (START, datetime.date(START, 9, 1),
                                                                   datetime.date(START + 1, 8, 31))
        assert year.promotion_at == datetime.datetime(START + 1, 8, 11, 0, 0) and len(year.terms) == 2
        year_id, version = year.id, year.version
    # The time point can move (the form shows it the way officers write it).
    assert f'value="{START + 1}-08-10 24:00"' in ok(sheng.get(f"/schoolyearview/edit/{year_id}"))
    page = ok(sheng.post(f"/schoolyearview/edit/{year_id}", data={
        "starts_on": f"{START}-09-01", "ends_on": f"{START + 1}-08-31", "promotion_at": f"{START + 1}-08-30 18:30",
        "version": version}, follow_redirects=True))
    assert "已修改" in page and f"{START + 1}-08-30 18:30" in page
    with app.app_context():
        term = db.session.scalar(select(SchoolTerm).where(SchoolTerm.year_id == year_id).order_by(SchoolTerm.starts_on))
        term_id = term.id
    page = ok(sheng.post(f"/schoolyearview/term/{term_id}", data={"starts_on": f"{START}-09-01",
                                                                  "ends_on": f"{START + 1}-01-20"},
                         follow_redirects=True))
    assert "已修改" in page and f"{START + 1}-01-20" in page

    s11, s16, s13 = students(app, "11", "16", "13")
    [cls] = make_classes(app, "11", 1)
    with app.app_context():
        school_years.assign_students(db.session, account(db.session, SCHOOL), cls, [s11])
        db.session.commit()
    # 立即升级: a confirmation page first, nothing happens on GET.
    page = ok(sheng.get(f"/promotionview/run?year={year_id}"))
    assert "请确认" in page and "确认升级" in page and "将提前升级" in page
    assert counts(app)["PromotionRun"] == 0 and grades_of(app, s11) == ["11"]
    page = ok(sheng.post("/promotionview/run", data={"year": year_id}, follow_redirects=True))
    assert f"{YEAR_NAME}已升级" in page and "升级学生 2 名" in page and "留在原年级 1 名" in page
    assert grades_of(app, s11, s16, s13) == ["12", "16", "14"]
    with app.app_context():
        run = db.session.scalar(select(PromotionRun))
        run_id = run.id
        assert (run.state, run.promoted, run.held, run.scheduled) == (PromotionState.DONE, 2, 1, False)
        assert db.session.get(SchoolClass, cls).grade == "12"
    # Running it again is refused in Chinese; the dates cannot change any more.
    page = ok(sheng.post("/promotionview/run", data={"year": year_id}, follow_redirects=True))
    assert "已经升级过，不会重复升级" in page and counts(app)["PromotionRun"] == 1
    page = ok(sheng.post(f"/schoolyearview/edit/{year_id}", data={
        "starts_on": f"{START}-09-01", "ends_on": f"{START + 1}-08-31", "promotion_at": f"{START + 1}-08-16 00:00"},
        follow_redirects=True))
    assert "已升级，不能再修改" in page
    # 撤销 needs a reason; with one, everybody goes back.
    page = ok(sheng.post(f"/promotionview/revert/{run_id}", data={"reason": "  "}))
    assert "请填写撤销理由" in page and grades_of(app, s11, s13) == ["12", "14"]
    page = ok(sheng.post(f"/promotionview/revert/{run_id}", data={"reason": "升级时点设置有误"}, follow_redirects=True))
    assert "已撤销" in page and "2 名学生退回原年级" in page and "升级时点设置有误" in page
    assert grades_of(app, s11, s16, s13) == ["11", "16", "13"]
    with app.app_context():
        assert db.session.get(PromotionRun, run_id).state == PromotionState.REVERTED
        assert db.session.get(SchoolClass, cls).grade == "11"
    page = ok(sheng.post(f"/promotionview/revert/{run_id}", data={"reason": "再撤一次"}))
    assert "该次升级已撤销" in page
    # Undone before its time point: the year still promotes by itself when the time point comes.
    assert "自动升级" in ok(sheng.get("/schoolyearview/list/"))
    assert "暂无待执行的升级时点" not in ok(sheng.get("/promotionview/list/"))
    # … and the year can be promoted again.
    ok(sheng.post("/promotionview/run", data={"year": year_id}, follow_redirects=True))
    assert grades_of(app, s11) == ["12"]


def test_revert_after_the_grace_period_is_refused(app, as_user, monkeypatch):
    from app.services import clock
    year_id = open_year(app)
    [s] = students(app, "11")
    run_id = run_promotion(app, year_id)
    later = datetime.datetime.now() + datetime.timedelta(days=30)
    monkeypatch.setattr(clock, "now", lambda: later)
    sheng = as_user("sheng_admin")
    page = ok(sheng.get("/promotionview/list/"))
    assert "已过期" in page and f"/promotionview/revert/{run_id}" not in page
    page = ok(sheng.post(f"/promotionview/revert/{run_id}", data={"reason": "太晚了"}))
    assert "超过可撤销期限" in page and grades_of(app, s) == ["12"]


# ---------------------------------------------------------------- a school: classes and 分班

def test_school_adds_classes_and_assigns_students(app, as_user):
    a, b, c, other_grade = students(app, "11", "11", "11", "12")
    school = as_user(SCHOOL)
    page = ok(school.post("/classview/add", data={"grade": "11", "count": "2", "head_teachers": "王老师、李老师"},
                          follow_redirects=True))
    assert "已在小学一年级增加 2 个班：1班、2班" in page and "王老师" in page and "李老师" in page
    with app.app_context():
        made = db.session.scalars(select(SchoolClass).order_by(SchoolClass.class_no)).all()
        assert [(x.grade, x.class_no, x.head_teacher, x.cohort_year) for x in made] == [
            ("11", 1, "王老师", START), ("11", 2, "李老师", START)]
        first, second = made[0].id, made[1].id
    # The 分班 page: the school's grade-1 students not in the class, with their current class.
    page = ok(school.get(f"/classview/show/{first}"))
    assert all(f'name="student_id" value="{i}"' in page for i in (a, b, c)) and f'name="student_id" value="{other_grade}"' not in page
    assert "未分班" in page
    page = ok(school.post(f"/classview/assign/{first}", data={"student_id": [a, b]}, follow_redirects=True))
    assert "已将 2 名学生分入小学一年级1班" in page
    with app.app_context():
        assert [db.session.get(Student, i).class_id for i in (a, b, c)] == [first, first, None]
        assert db.session.get(Student, a).class_name == "1班"
    page = ok(school.get(f"/classview/show/{first}"))
    assert f'name="student_id" value="{a}"' not in page and f'name="student_id" value="{c}"' in page  # members are no longer candidates
    # Filter by name; the current class shows on the other class's page.
    page = ok(school.get(f"/classview/show/{second}?q=李二"))
    assert f'name="student_id" value="{b}"' in page and f'name="student_id" value="{c}"' not in page and "1班" in page
    page = ok(school.get(f"/classview/show/{second}?free=1"))
    assert f'name="student_id" value="{c}"' in page and f'name="student_id" value="{a}"' not in page
    # Counts by gender on the list (王一 male, 李二 female).
    page = ok(school.get("/classview/list/"))
    row = re.search(r"小学一年级1班</a>.*?</tr>", page, re.S).group(0)
    assert re.findall(r'<td class="text-right">(\d+)</td>', row) == ["1", "2", "1", "1"]  # 班号, 人数, 男, 女
    assert "未分班 2 名" in page
    # Edit: head teacher and number; the records follow the new name.
    with app.app_context():
        version = db.session.get(SchoolClass, first).version
    page = ok(school.post(f"/classview/edit/{first}", data={"head_teacher": "赵老师", "class_no": "5",
                                                            "version": version}, follow_redirects=True))
    assert "已保存" in page and "赵老师" in page
    with app.app_context():
        assert db.session.get(Student, a).class_name == "5班"
    # A class with students cannot be deleted; an empty one can.
    page = ok(school.post(f"/classview/delete/{first}", follow_redirects=True))
    assert "还有学生" in page and counts(app)["SchoolClass"] == 2
    page = ok(school.post(f"/classview/delete/{second}", follow_redirects=True))
    assert "已删除小学一年级2班" in page and counts(app)["SchoolClass"] == 1


def test_bad_class_input_is_refused_in_chinese_and_changes_nothing(app, as_user):
    a, other_grade = students(app, "11", "12")
    [cls, cls2] = make_classes(app, "11", 2)
    school = as_user(SCHOOL)
    before = counts(app)
    # A student of another grade cannot be put in the class; nobody of the selection is moved.
    page = ok(school.post(f"/classview/assign/{cls}", data={"student_id": [a, other_grade]}, follow_redirects=True))
    assert "在小学二年级，不能分入小学一年级1班" in page
    with app.app_context():
        assert [db.session.get(Student, i).class_id for i in (a, other_grade)] == [None, None]
    page = ok(school.post(f"/classview/assign/{cls}", data={}, follow_redirects=True))
    assert "请选择学生" in page
    # A grade the school does not teach; a count out of range; a number already taken.
    page = ok(school.post("/classview/add", data={"grade": "21", "count": "1"}))
    assert "没有初中一年级" in page and "增加班级" in page
    page = ok(school.post("/classview/add", data={"grade": "11", "count": "0"}))
    assert "班级数须在 1 至 60 之间" in page and 'value="0"' in page
    page = ok(school.post("/classview/add", data={"grade": "11", "count": "abc"}))
    assert "班级数须为整数" in page
    with app.app_context():
        version = db.session.get(SchoolClass, cls2).version
    page = ok(school.post(f"/classview/edit/{cls2}", data={"class_no": "1", "head_teacher": "", "version": version}))
    assert f"{START}级已有1班" in page
    page = ok(school.post(f"/classview/edit/{cls2}", data={"class_no": "9", "head_teacher": "", "version": version - 1}))
    assert "已被他人修改" in page
    assert counts(app) == before
    with app.app_context():
        assert db.session.get(SchoolClass, cls2).class_no == 2


# ---------------------------------------------------------------- scope and roles

def test_a_county_cannot_reach_another_countys_classes(app, as_user):
    [a] = students(app, "11")
    [cls] = make_classes(app, "11", 1)
    sid = school_id(app)
    other = as_user(OTHER_COUNTY)
    assert other.get(f"/classview/list/?school={sid}").status_code == 404
    assert other.get(f"/classview/list/?county={school_id(app, '360102')}").status_code == 404
    assert other.get(f"/classview/show/{cls}").status_code == 404
    assert other.post(f"/classview/assign/{cls}", data={"student_id": [a]}).status_code == 404
    assert other.get(f"/classview/edit/{cls}").status_code == 404
    assert other.post(f"/classview/delete/{cls}").status_code == 404
    # Nor may another school's account, even for its own class, take this school's student.
    [own] = make_classes(app, "11", 1, who=SCHOOL_B)
    assert as_user(SCHOOL_B).post(f"/classview/assign/{own}", data={"student_id": [a]}).status_code == 404
    with app.app_context():
        assert db.session.get(Student, a).class_id is None and db.session.get(SchoolClass, cls) is not None
    # The own county reads the school's classes (no 分班 form).
    page = ok(as_user(COUNTY).get(f"/classview/show/{cls}"))
    assert "本班学生" in page and "将所选学生分入本班" not in page


def test_a_school_cannot_run_or_undo_the_promotion_nor_open_a_year(app, as_user):
    year_id = open_year(app)
    [s] = students(app, "11")
    school = as_user(SCHOOL)
    before = counts(app)
    page = ok(school.post("/promotionview/run", data={"year": year_id}, follow_redirects=True))
    assert "只有省级管理员可以执行升级" in page
    assert counts(app) == before and grades_of(app, s) == ["11"]
    page = ok(school.get(f"/promotionview/run?year={year_id}", follow_redirects=True))
    assert "只有省级管理员可以执行升级" in page and "确认升级" not in page
    page = ok(school.post("/schoolyearview/add", data={"start_year": str(START + 1)}, follow_redirects=True))
    assert "只有省级管理员可以设置学年学期" in page and counts(app) == before
    run_id = run_promotion(app, year_id)
    for who in (SCHOOL, COUNTY, "city_360100"):
        page = ok(as_user(who).post(f"/promotionview/revert/{run_id}", data={"reason": "想撤销"},
                                    follow_redirects=True))
        assert "只有省级管理员可以撤销升级" in page
    with app.app_context():
        assert db.session.get(PromotionRun, run_id).state == PromotionState.DONE
    assert grades_of(app, s) == ["12"]
    # The read-only account has no right to run it at all.
    resp = as_user("sheng_viewer").post("/promotionview/run", data={"year": year_id})
    assert resp.status_code in (302, 403)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PromotionRun)) == 1


def test_bad_year_input_shows_the_services_message_and_saves_nothing(app, as_user):
    sheng = as_user("sheng_admin")
    page = ok(sheng.post("/schoolyearview/add", data={"start_year": str(START),
                                                      "promotion_at": f"{START + 3}-08-10 24:00"}))
    assert "升级时点须在本学年之内" in page and counts(app)["SchoolYear"] == 0
    assert f'value="{START + 3}-08-10 24:00"' in page  # the form keeps what was typed
    page = ok(sheng.post("/schoolyearview/add", data={"start_year": str(START), "promotion_at": "下个月"}))
    assert "升级时点格式应为" in page and counts(app)["SchoolYear"] == 0
    page = ok(sheng.post("/schoolyearview/add", data={"start_year": "二〇二六"}))
    assert "学年起始年份须为整数" in page and counts(app)["SchoolYear"] == 0
    ok(sheng.post("/schoolyearview/add", data={"start_year": str(START)}, follow_redirects=True))
    page = ok(sheng.post("/schoolyearview/add", data={"start_year": str(START)}))
    assert f"{YEAR_NAME}已设置，不能重复设置" in page and counts(app)["SchoolYear"] == 1
    with app.app_context():
        year = db.session.scalar(select(SchoolYear))
        year_id, version, promotion_at = year.id, year.version, year.promotion_at
        term = db.session.scalar(select(SchoolTerm).where(SchoolTerm.year_id == year_id).order_by(SchoolTerm.starts_on))
        term_id, term_dates = term.id, (term.starts_on, term.ends_on)
    page = ok(sheng.post(f"/schoolyearview/edit/{year_id}", data={
        "starts_on": f"{START}-09-01", "ends_on": f"{START + 1}-08-31", "promotion_at": f"{START - 1}-08-10 24:00",
        "version": version}))
    assert "升级时点须在本学年之内" in page
    page = ok(sheng.post(f"/schoolyearview/term/{term_id}", data={"starts_on": f"{START}-09-01",
                                                                  "ends_on": f"{START + 1}-03-01"}))
    assert "与春季学期的日期重叠" in page
    page = ok(sheng.post(f"/schoolyearview/term/{term_id}", data={"starts_on": "九月一日", "ends_on": ""}))
    assert "学期开始日期" in page
    with app.app_context():
        year = db.session.get(SchoolYear, year_id)
        assert (year.version, year.promotion_at) == (version, promotion_at)
        term = db.session.get(SchoolTerm, term_id)
        assert (term.starts_on, term.ends_on) == term_dates
    # A run of a year that does not exist is a 404, not a 500.
    assert sheng.post("/promotionview/run", data={"year": "999999"}).status_code == 404
    assert sheng.get("/promotionview/show/999999").status_code == 404


# ---------------------------------------------------------------- held students, 补升级, the report

def test_held_students_are_listed_in_scope_and_promoted_later(app, as_user):
    year_id = open_year(app)
    suspended, normal = students(app, "12", "12")
    [elsewhere] = students(app, ("14", SCHOOL_B), first=3)
    with app.app_context():
        for i in (suspended, elsewhere):
            db.session.get(Student, i).status = StudentStatus.SUSPENDED
        db.session.commit()
    run_id = run_promotion(app, year_id)
    assert grades_of(app, suspended, normal, elsewhere) == ["12", "13", "14"]
    county = as_user(COUNTY)
    page = ok(county.get(f"/promotionview/show/{run_id}"))
    assert "王一" in page and "小学二年级" in page and "休学" in page and "张三" not in page  # 西湖区's
    page = ok(as_user("city_360100").get(f"/promotionview/show/{run_id}?reason=suspended"))
    assert "王一" in page and "张三" in page
    page = ok(as_user("city_360100").get(f"/promotionview/show/{run_id}?reason=not_graduated"))
    assert "王一" not in page and "没有符合条件的学生" in page
    # Still suspended: nothing to promote yet.
    page = ok(county.post(f"/promotionview/promote_held/{run_id}", data={}, follow_redirects=True))
    assert "没有可以补升级的学生" in page and grades_of(app, suspended) == ["12"]
    with app.app_context():
        for i in (suspended, elsewhere):
            db.session.get(Student, i).status = StudentStatus.IN_SCHOOL   # 复学
        db.session.commit()
    # A school may not 补升级.
    page = ok(as_user(SCHOOL).post(f"/promotionview/promote_held/{run_id}", data={}, follow_redirects=True))
    assert "只有县级及以上管理员可以补升级" in page and grades_of(app, suspended) == ["12"]
    # The county moves up its own students only.
    page = ok(county.post(f"/promotionview/promote_held/{run_id}", data={}, follow_redirects=True))
    assert "已补升级 1 名学生" in page and "已补升级" in page
    assert grades_of(app, suspended, elsewhere) == ["13", "14"]  # 西湖区's student waits for its county
    with app.app_context():
        hold = db.session.scalar(select(PromotionHold).where(PromotionHold.student_id == elsewhere))
        assert hold.promoted_later_at is None
    page = ok(as_user(OTHER_COUNTY).post(f"/promotionview/promote_held/{run_id}", data={}, follow_redirects=True))
    assert "已补升级 1 名学生" in page and grades_of(app, elsewhere) == ["15"]
    assert county.post("/promotionview/promote_held/999999", data={}).status_code == 404


def test_year_end_report_counts_and_links_in_scope(app, as_user):
    year_id = open_year(app)
    grad, stays, up1, up2 = students(app, "16", "16", "11", "13")
    with app.app_context():
        graduation.graduate(db.session, account(db.session, SCHOOL), student_ids=[grad])
        db.session.commit()
    [far] = students(app, ("11", SCHOOL_B), first=5)
    run_id = run_promotion(app, year_id)
    sid = school_id(app)
    county_id = school_id(app, "360102")

    page = ok(as_user(COUNTY).get(f"/yearendreportview/list/?year={year_id}"))
    row = re.search(r"<td>东湖第一小学</td>.*?</tr>", page, re.S).group(0)
    cells = re.findall(r'<td class="text-right">(?:<strong>)?(?:<a href="([^"]*)">)?(\d+)', row)
    assert [n for _u, n in cells] == ["2", "1", "0", "0", "0", "1", "1"]
    link = dict((n, u) for u, n in cells if u)
    assert link["1"].startswith(f"/promotionview/show/{run_id}?") and f"school={sid}" in link["1"]
    assert "西湖" not in page
    held_page = ok(as_user(COUNTY).get(link["1"].replace("&amp;", "&")))
    assert "李二" in held_page and "毕业年级未毕业" in held_page and "张三" not in held_page

    page = ok(as_user("sheng_admin").get(f"/yearendreportview/list/?year={year_id}"))
    assert "东湖区教育体育局" in page and "西湖区教育体育局" in page and "东湖第一小学" not in page
    assert f"county={county_id}" in page and "南昌市教育局（小计）" in page
    # The download has the same numbers, per county and per school.
    resp = as_user("sheng_admin").get(f"/yearendreportview/download?year={year_id}")
    book = openpyxl.load_workbook(io.BytesIO(resp.data))
    assert book.sheetnames == ["各县（区）", "各学校"]
    rows = {r[0].strip("　"): r[1:] for r in book["各县（区）"].iter_rows(min_row=4, values_only=True)}
    assert rows["东湖区教育体育局"] == (2, 1, 0, 0, 0, 1, 1) and rows["西湖区教育体育局"][0] == 1
    assert rows["南昌市教育局（小计）"] == (3, 1, 0, 0, 0, 1, 1) and rows["合计"] == (3, 1, 0, 0, 0, 1, 1)
    schools = {r[0]: r[1:] for r in book["各学校"].iter_rows(min_row=4, values_only=True)}
    assert schools["东湖第一小学"] == (2, 1, 0, 0, 0, 1, 1)
    # A school sees its own row only; another county none of it.
    page = ok(as_user(SCHOOL).get(f"/yearendreportview/list/?year={year_id}"))
    assert "东湖第一小学" in page and "西湖" not in page
    page = ok(as_user(OTHER_COUNTY).get(f"/yearendreportview/list/?year={year_id}"))
    assert "东湖第一小学" not in page and "西湖第一小学" in page
    assert as_user(OTHER_COUNTY).get(f"/yearendreportview/list/?year={year_id}&county={county_id}").status_code == 404
    assert as_user(OTHER_COUNTY).get("/yearendreportview/list/?year=999999").status_code == 404
    assert grades_of(app, up1, up2, far) == ["12", "14", "12"]
