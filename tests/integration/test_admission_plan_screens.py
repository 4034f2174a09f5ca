"""招生计划, 招生结果管理 / 统一招生录取, 自主招生 and 调取新生档案 screens through HTTP, logged in as the
demo accounts, in the 2027 admission season: each level sees its page in Chinese with names, each
form changes the data, bad input comes back in Chinese and changes nothing, and a county cannot
read or change another county's plans or list rows by URL."""
import datetime
import io
import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import Admission, AdmissionKind, AdmissionListRow, AdmissionState, EnrollmentPlan, Request, Student
from app.services import admissions, requests
from app.services.identity import build_id_number
from tests.conftest import unit
from tests.integration.test_admissions import (EAST, WEST, acc, graduate, open_years, plan, season,  # noqa: F401
                                               self_admit)
from tests.integration.test_student_screens import form as record_form

EAST_COUNTY, WEST_COUNTY = "county_360102", "county_360103"
EAST_JUNIOR, WEST_JUNIOR = "school_3601020002", "school_3601030002"   # 东湖/西湖第一初级中学
ENGLISH = re.compile(r">\s*(None|List|Show|Edit|Delete|Add|Save|Back|Search|Actions?|Record|Records|Submit)\s*<")
YEAR = "2027-2028学年"


def ok(resp):
    assert resp.status_code == 200, (resp.status_code, resp.get_data(as_text=True)[:2000])
    page = resp.get_data(as_text=True)
    assert "Traceback" not in page and not ENGLISH.search(page), ENGLISH.search(page)
    return page


def ids(app, *codes):
    with app.app_context():
        return [unit(db.session, c).id for c in codes]


def counts(app):
    with app.app_context():
        return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
                for m in (EnrollmentPlan, AdmissionListRow, Admission, Request)}


def plan_state(app, plan_id):
    with app.app_context():
        p = db.session.get(EnrollmentPlan, plan_id)
        return p.quota, p.used, p.version


def setup_season(app, season, *graduates, quota=10, west_quota=None):
    """Years 2026 and 2027, the given 东湖区 graduates (seq numbers), the 2027 season and plans."""
    with app.app_context():
        open_years()
        made = [graduate(n) for n in graduates]
        info = [(s.id, s.name, s.xueji_no) for s in made]
        season.admission()
        plan_id = plan(EAST, quota).id if quota is not None else None
        if west_quota is not None:
            plan(WEST, west_quota)
    return plan_id, info


def list_row(app, number, name, to="3601020002"):
    with app.app_context():
        r = admissions.add_list_row(db.session, acc(EAST_COUNTY), {"number": number, "name": name,
                                                                  "from_code": "3601020001", "to_code": to,
                                                                  "stage": "初中"})
        db.session.commit()
        return r.id


# ---------------------------------------------------------------- every page, every level

def test_each_screen_renders_in_chinese_for_the_levels_that_use_it(app, as_user, season):
    plan_id, [(a_id, a_name, a_no), (b_id, b_name, b_no)] = setup_season(app, season, 1, 2)
    list_row(app, b_no, b_name)
    with app.app_context():
        self_admit(db.session.get(Student, a_id))
    east_id, = ids(app, EAST)

    county = as_user(EAST_COUNTY)
    page = ok(county.get("/planview/list/"))
    assert "招生计划" in page and YEAR in page and "东湖第一初级中学" in page and "初中一年级" in page
    assert "已占用（含待核办）" in page and "剩余" in page and "合计" in page and 'name="quota"' in page
    assert "东湖第一小学" not in page  # a primary school takes no entry grade of a later stage
    assert "招生入学" in page and "/admissionlistview/list/" in page and "/selfadmissionview/list/" not in page
    page = ok(county.get("/admissionlistview/list/"))
    assert "招生结果管理" in page and b_name in page and "待录取" in page and "东湖第一初级中学" in page
    assert "手工增加" in page and "毕业学校标识码" in page and "录取学校标识码" in page and "教育阶段" in page
    assert "名单共 1 名：待录取 1 名" in page
    assert "/importview/admission_list/" in page and "下载招生结果模板" in page  # the import engine's page
    page = ok(county.get("/selfadmissionview/list/"))  # not on its menu; read-only by URL
    assert a_name in page and "录取待核办" in page and 'action="/selfadmissionview/admit"' not in page

    school = as_user(EAST_JUNIOR)
    page = ok(school.get("/planview/list/"))
    assert "初中一年级" in page and "提交变更申请" in page and "招生计划数变更申请" in page
    assert ">10<" in page and ">1<" in page and ">9<" in page  # quota, held (a pending), free
    assert "统一招生录取" in page and "/selfadmissionview/list/" in page and "/archiveadmissionview/list/" in page
    page = ok(school.get("/admissionlistview/list/"))
    assert "统一招生录取" in page and b_name in page and 'name="rowid"' in page and "录取" in page
    assert "初中一年级招生计划数 10 人，已录取 0 人，待核办 1 人，剩余 9 人" in page
    page = ok(school.get("/selfadmissionview/list/"))
    assert "学籍号或个人标识码" in page and "录取年级" in page and "成绩" in page and "说明" in page
    assert a_name in page and "录取待核办" in page and "东湖第一小学" in page
    assert "/importview/self_admission/" in page and "下载自主招生模板" in page
    page = ok(school.get("/archiveadmissionview/list/"))
    assert "调取新生档案" in page and "暂无录取记录" in page
    page = ok(school.get("/archiveadmissionview/start"))
    assert "原就读省份" in page and "原就读学校" in page and 'name="g1_name"' in page and ">广东省<" in page
    assert ">初中一年级<" in page and ">小学一年级<" not in page and "提交调取新生档案申请" in page

    for who in ("city_360100", "sheng_admin", "sheng_viewer"):
        c = as_user(who)
        page = ok(c.get("/planview/list/"))
        assert "东湖区教育体育局" in page and ">10<" in page and "合计" in page and 'name="quota"' not in page
        if who == "sheng_admin":
            assert "南昌市教育局（小计）" in page
        page = ok(c.get(f"/planview/list/?county={east_id}"))
        assert "东湖第一初级中学" in page and "返回各县（区）" in page and 'name="quota"' not in page
        page = ok(c.get("/admissionlistview/list/"))
        assert b_name in page and "东湖第一初级中学" in page and "手工增加" not in page
    # The school's own menu entries are not offered to the authorities.
    page = ok(as_user("sheng_admin").get("/planview/list/"))
    assert "/selfadmissionview/list/" not in page and "/archiveadmissionview/list/" not in page
    assert "/selfadmissionview/list/" not in ok(as_user("sheng_viewer").get("/planview/list/"))


# ---------------------------------------------------------------- 招生计划

def test_the_county_sets_a_quota_inline_and_a_stale_or_bad_value_changes_nothing(app, as_user, season):
    setup_season(app, season, 1, 2, quota=None)
    school_id, = ids(app, "3601020002")
    county = as_user(EAST_COUNTY)
    page = ok(county.post("/planview/set", data={"school": school_id, "grade": "21", "quota": "2", "version": ""},
                          follow_redirects=True))
    assert "已将东湖第一初级中学初中一年级招生计划数设为 2 人" in page
    with app.app_context():
        plan_id = db.session.scalar(select(EnrollmentPlan.id))
    quota, used, version = plan_state(app, plan_id)
    assert (quota, used) == (2, 0)
    page = ok(county.post("/planview/set", data={"school": school_id, "grade": "21", "quota": "5", "version": version},
                          follow_redirects=True))
    assert "设为 5 人" in page and plan_state(app, plan_id)[0] == 5
    # A form shown before that change: refused, nothing changes.
    page = ok(county.post("/planview/set", data={"school": school_id, "grade": "21", "quota": "7", "version": version}))
    assert "该记录已被他人修改，请刷新后重试" in page and plan_state(app, plan_id)[0] == 5
    # A hand-made version is stale too (never a 500, never a change without the check).
    for bad in ("abc", "9" * 30):
        page = ok(county.post("/planview/set", data={"school": school_id, "grade": "21", "quota": "7",
                                                     "version": bad}))
        assert "该记录已被他人修改，请刷新后重试" in page and plan_state(app, plan_id)[:2] == (5, 0)
    # Below the seats held (one admitted, one pending).
    with app.app_context():
        a, b = db.session.scalars(select(Student).order_by(Student.id)).all()[:2]
        requests.approve(db.session, acc(EAST_COUNTY), self_admit(a).request_id)
        db.session.commit()
        self_admit(b)
    version = plan_state(app, plan_id)[2]
    page = ok(county.post("/planview/set", data={"school": school_id, "grade": "21", "quota": "1", "version": version}))
    assert "已录取 1 人、待核办 1 人，招生计划数不能低于 2" in page and 'value="1"' in page
    for bad, message in (("-1", "0 到 5000"), ("abc", "招生计划数应为整数")):
        page = ok(county.post("/planview/set", data={"school": school_id, "grade": "21", "quota": bad,
                                                     "version": version}))
        assert message in page
    assert plan_state(app, plan_id)[:2] == (5, 2)
    # A school cannot set quotas; a primary school has no 初中一年级.
    primary_id, = ids(app, "3601020001")
    page = ok(county.post("/planview/set", data={"school": primary_id, "grade": "21", "quota": "3"}))
    assert "不招收初中一年级" in page
    page = ok(as_user(EAST_JUNIOR).post("/planview/set", data={"school": school_id, "grade": "21", "quota": "9"},
                                        follow_redirects=True))
    assert "只有县（区）教育局学籍管理员可以设置招生计划数" in page
    assert plan_state(app, plan_id)[0] == 5 and counts(app)["EnrollmentPlan"] == 1


def test_the_school_requests_a_plan_change_and_sees_it_open(app, as_user, season):
    plan_id, [(a_id, _n, _x)] = setup_season(app, season, 1, quota=1)
    with app.app_context():
        self_admit(db.session.get(Student, a_id))
    school = as_user(EAST_JUNIOR)
    before = counts(app)["Request"]
    page = ok(school.post("/planview/request_change", data={"plan": plan_id, "quota": "0", "reason": "生源减少"}))
    assert "本校初中一年级已录取（含待核办）1 人，计划数不能低于 1" in page and 'value="生源减少"' in page
    page = ok(school.post("/planview/request_change", data={"plan": plan_id, "quota": "3", "reason": ""}))
    assert "请填写变更理由" in page
    assert counts(app)["Request"] == before
    page = ok(school.post("/planview/request_change", data={"plan": plan_id, "quota": "3", "reason": "新建教学楼"},
                          follow_redirects=True))
    assert "招生计划数变更申请已提交，等待东湖区教育体育局核办" in page
    with app.app_context():
        req = db.session.scalar(select(Request).where(Request.type == admissions.PLAN_CHANGE))
        req_id = req.id
    assert "已申请改为 3 人" in page and f"/myrequestsview/show/{req_id}" in page and "新建教学楼" in page
    # The county sees the open request on its row, and approves it in the inbox.
    page = ok(as_user(EAST_COUNTY).get("/planview/list/"))
    assert "申请改为 3 人" in page and f"/inboxview/show/{req_id}" in page
    with app.app_context():
        requests.approve(db.session, acc(EAST_COUNTY), req_id)
        db.session.commit()
    assert plan_state(app, plan_id)[0] == 3
    page = ok(school.get("/planview/list/"))
    assert "已通过" in page and "提交变更申请" in page


# ---------------------------------------------------------------- 招生结果管理 / 统一招生录取

def test_the_county_adds_and_deletes_list_rows_by_hand_and_bad_rows_change_nothing(app, as_user, season):
    _p, [(a_id, a_name, a_no)] = setup_season(app, season, 1)
    with app.app_context():
        other = graduate(3, county=WEST)  # a 西湖区 graduate
        o_name, o_no = other.name, other.xueji_no
    county = as_user(EAST_COUNTY)
    good = {"number": a_no, "name": a_name, "from_code": "3601020001", "to_code": "3601020002", "stage": "初中",
            "score": "598.5"}
    for over, message in (({"number": o_no, "name": o_name, "from_code": "3601030001"}, "不是本县（区）学校"),
                          ({"name": "张三"}, "本省没有与该姓名和学籍号（或个人标识码）相符的学籍"),
                          ({"to_code": "3601030002"}, "录取学校标识码不是本县（区）的学校"),
                          ({"stage": "大学"}, "教育阶段应为 初中、高中 或 中职"),
                          ({"score": "很好"}, "成绩应为数字")):
        page = ok(county.post("/admissionlistview/add_row", data={**good, **over}))
        assert message in page, message
        assert f'value="{({**good, **over})["from_code"]}"' in page  # the typed row is kept
    assert counts(app)["AdmissionListRow"] == 0
    page = ok(county.post("/admissionlistview/add_row", data=good, follow_redirects=True))
    assert f"已将 {a_name} 加入招生结果：录取学校 东湖第一初级中学，初中一年级" in page and "598.5" in page
    with app.app_context():
        row_id = db.session.scalar(select(AdmissionListRow.id))
    page = ok(county.post("/admissionlistview/add_row", data=good))
    assert "名单中已有该学生，且录取学校相同" in page and counts(app)["AdmissionListRow"] == 1
    page = ok(county.post(f"/admissionlistview/delete_row/{row_id}", follow_redirects=True))
    assert f"已从招生结果中删除 {a_name}" in page and counts(app)["AdmissionListRow"] == 0


def test_the_school_admits_from_the_list_and_sees_who_could_not_be_admitted(app, as_user, season):
    _p, [(a_id, a_name, a_no), (b_id, b_name, b_no)] = setup_season(app, season, 1, 2, quota=1)
    rows = [list_row(app, a_no, a_name), list_row(app, b_no, b_name)]
    school = as_user(EAST_JUNIOR)
    page = ok(school.post("/admissionlistview/admit", data={"rowid": []}, follow_redirects=True))
    assert "请先勾选要录取的学生" in page and counts(app)["Admission"] == 0
    page = ok(school.post("/admissionlistview/admit", data={"rowid": rows}, follow_redirects=True))
    assert "已录取 1 名学生，录取申请已提交县（区）教育局核办" in page
    assert "1 名学生未能录取：" in page and "招生计划数 1 人已满" in page
    with app.app_context():
        adm = db.session.scalar(select(Admission))
        assert adm.kind == AdmissionKind.UNIFIED and adm.state == AdmissionState.PENDING
        admitted_name = adm.name
    waiting_name = b_name if admitted_name == a_name else a_name
    assert f"{waiting_name}：" in page
    page = ok(school.get("/admissionlistview/list/"))  # only the one still waiting
    assert waiting_name in page and admitted_name not in page
    page = ok(school.get("/admissionlistview/list/?all=1"))
    assert admitted_name in page and "录取待核办" in page
    page = ok(as_user(EAST_COUNTY).get("/admissionlistview/list/"))
    assert "录取待核办" in page and "待录取" in page
    page = ok(as_user(EAST_COUNTY).get("/admissionlistview/list/?waiting=1"))
    assert waiting_name in page and admitted_name not in page


# ---------------------------------------------------------------- 自主招生

def test_self_admission_within_and_across_counties_and_its_refusals(app, as_user, season):
    _p, [(a_id, a_name, a_no), (b_id, b_name, b_no), (c_id, c_name, c_no)] = setup_season(app, season, 1, 2, 3,
                                                                                           quota=1, west_quota=5)
    school = as_user(EAST_JUNIOR)
    page = ok(school.post("/selfadmissionview/admit", data={"number": a_no, "name": "别人", "grade": "21"}))
    assert "本省没有与该姓名和学籍号（或个人标识码）相符的学籍" in page and f'value="{a_no}"' in page
    page = ok(school.post("/selfadmissionview/admit", data={"number": a_no, "name": a_name, "grade": "21",
                                                            "score": "x"}))
    assert "成绩应为数字" in page
    assert counts(app)["Admission"] == 0
    page = ok(school.post("/selfadmissionview/admit", data={"number": a_no, "name": a_name, "grade": "21",
                                                            "score": "601", "reason": "特长生"},
                          follow_redirects=True))
    assert f"已录取 {a_name}（初中一年级）" in page and "等待东湖区教育体育局核办" in page and "跨县" not in page
    assert "601" in page and "录取待核办" in page
    page = ok(school.post("/selfadmissionview/admit", data={"number": b_no, "name": b_name, "grade": "21"}))
    assert "招生计划数 1 人已满" in page and counts(app)["Admission"] == 1
    # 西湖区 admits a 东湖区 graduate: both counties approve.
    west = as_user(WEST_JUNIOR)
    page = ok(west.post("/selfadmissionview/admit", data={"number": c_no, "name": c_name, "grade": "21"},
                        follow_redirects=True))
    assert "等待西湖区教育体育局核办" in page and "跨县（区）招生：还需生源地县（区）（东湖区教育体育局）核办" in page
    # 外地就读: the home county sees its graduate admitted elsewhere; 西湖区 does not see 东湖区's own admission.
    page = ok(as_user(EAST_COUNTY).get("/selfadmissionview/list/"))
    assert c_name in page and "西湖第一初级中学" in page and a_name in page
    page = ok(as_user(WEST_COUNTY).get("/selfadmissionview/list/"))
    assert c_name in page and a_name not in page


# ---------------------------------------------------------------- 调取新生档案

def test_archive_admission_through_the_form(app, as_user, season):
    plan_id, _info = setup_season(app, season, quota=1)
    born = datetime.date(2014, 6, 1)
    number = build_id_number("440103", born, 21)
    data = record_form(name="王小红", gender="1", birth_date=born.isoformat(), id_number=number, grade="21",
                       class_name="", birthplace_code="440103", hukou_code="440103", native_place="广东广州",
                       enrollment_month="")  # students.clean_student_fields reads the real date, not the clock
    data.update({"from_province": "440000", "from_school": "广州市荔湾区第一小学", "xueji_no": "G" + number,
                 "reason": "随父母工作调动"})
    school = as_user(EAST_JUNIOR)

    def post(values):
        return school.post("/archiveadmissionview/start", data=values, content_type="multipart/form-data",
                           follow_redirects=True)

    for over, message in (({"from_province": "360000"}, "本省学校之间的转学请办理省内转学"),
                          ({"from_school": ""}, "请填写原就读学校名称"),
                          ({"grade": "11"}, "不招收")):
        page = ok(post({**data, **over}))
        assert message in page, (message, re.findall(r'alert-danger">([^<]*)<', page))
        assert 'value="广东广州"' in page
    assert counts(app)["Admission"] == 0
    resp = post({**data, "evidence": (io.BytesIO(b"%PDF-1.4 test"), "录取通知书.pdf")})
    page = ok(resp)
    with app.app_context():
        adm = db.session.scalar(select(Admission))
        assert (adm.kind, adm.state, adm.grade, adm.name) == (AdmissionKind.ARCHIVE, AdmissionState.PENDING, "21",
                                                              "王小红")
        req_id = adm.request_id
    assert "已录取 王小红（初中一年级）" in page and "调取新生档案申请已提交，等待东湖区教育体育局核办" in page
    assert resp.request.path == f"/myrequestsview/show/{req_id}" and plan_state(app, plan_id)[1] == 1
    page = ok(school.get("/archiveadmissionview/list/"))
    assert "王小红" in page and "广东省 广州市荔湾区第一小学" in page and "录取待核办" in page
    # The quota is full now: the next one is refused with the reason.
    page = ok(post({**data, "name": "李小明", "id_number": build_id_number("440103", born, 33),
                    "xueji_no": "G" + build_id_number("440103", born, 33)}))
    assert "已满" in page and counts(app)["Admission"] == 1
    # Counties and the province do not fill this form.
    page = ok(as_user(EAST_COUNTY).get("/archiveadmissionview/start", follow_redirects=True))
    assert "调取新生档案由录取学校办理" in page and "王小红" in page


# ---------------------------------------------------------------- scope

def test_another_county_can_neither_read_nor_change_plans_or_list_rows_by_url(app, as_user, season):
    plan_id, [(a_id, a_name, a_no), (b_id, b_name, b_no)] = setup_season(app, season, 1, 2, quota=4)
    row_id = list_row(app, a_no, a_name)
    east_school, east_county = ids(app, "3601020002", EAST)
    before = counts(app)
    west = as_user(WEST_COUNTY)
    assert west.post("/planview/set", data={"school": east_school, "grade": "21", "quota": "99"}).status_code == 404
    assert west.post(f"/admissionlistview/delete_row/{row_id}").status_code == 404
    assert west.post("/admissionlistview/delete_row/99999999999").status_code == 404
    page = ok(west.get(f"/planview/list/?county={east_county}"))  # a county sees its own schools only
    assert "东湖第一初级中学" not in page and "西湖第一初级中学" in page
    page = ok(west.get(f"/admissionlistview/list/?school={east_school}&q={a_no}"))
    assert a_name not in page and "东湖第一初级中学" not in page and "没有符合条件的名单记录" in page
    assert a_name not in ok(west.get("/admissionlistview/list/"))
    assert west.get("/planview/list/?year=999999").status_code == 404
    # A 西湖区 school cannot admit 东湖区's list row; nothing tells whether it exists.
    page = ok(as_user(WEST_JUNIOR).post("/admissionlistview/admit", data={"rowid": [row_id]}, follow_redirects=True))
    assert "名单记录不存在或不是分配给本校的学生" in page and a_name not in page
    # 东湖区's school cannot ask for a change of 西湖区's plan (nor the other way round).
    with app.app_context():
        west_plan = plan(WEST, 3).id
    before = counts(app)
    assert as_user(EAST_JUNIOR).post("/planview/request_change", data={"plan": west_plan, "quota": "9",
                                                                     "reason": "x"}).status_code == 404
    assert counts(app) == before and plan_state(app, plan_id)[0] == 4
