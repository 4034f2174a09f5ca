"""The 学籍异动 screens through HTTP: 转出 / 跨省转出 / 休学 / 复学 / 退学 / 其他离校 / 死亡 on the
student's page, 转入申请, 跨省转入, 转出记录, 学籍档案. The services decide every rule; these tests
check that each form reaches its service, that refused input shows the Chinese message and changes
nothing, and that other units get a 404."""
import datetime
import io
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Account
from app.models.org import OrgUnit, SchoolType
from app.models.process import DepartureTrace
from app.models.requests import Request, RequestState, StepRole
from app.models.student import Attachment, Student, StudentStatus
from app.services import requests as engine
from app.services import status_changes, transfers
from app.services.identity import build_id_number
from tests.conftest import account, unit
from tests.integration.test_registry_services import enrolled
from tests.integration.test_student_screens import form as record_form

SCHOOL = "school_3601020001"         # 东湖第一小学 (东湖区, 小学)
JUNIOR = "school_3601020002"         # 东湖第一初级中学 (东湖区)
COUNTY = "county_360102"
OTHER_SCHOOL = "school_3601030001"   # 西湖第一小学 (西湖区, same city)
OTHER_COUNTY = "county_360103"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
TODAY = datetime.date.today()


# ---------------------------------------------------------------- helpers

def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def requests_of(app, type_name):
    with app.app_context():
        return db.session.scalars(select(Request).where(Request.type == type_name)).all()


def version_of(app, sid):
    with app.app_context():
        return db.session.get(Student, sid).version


def approve_through(app, req_id):
    """Approve every step in turn, each by an account of the step's unit (as the engine routes it)."""
    with app.app_context():
        for _ in range(10):
            req = db.session.get(Request, req_id)
            if req.state != RequestState.PENDING:
                return req.state
            step = engine.current_step(req)
            who = db.session.scalars(select(Account).where(Account.org_unit_id == step.org_unit_id)
                                     .order_by(Account.id)).first()
            engine.approve(db.session, who, req.id, "同意")
            db.session.commit()
        raise AssertionError("request still pending")


def page(resp):
    return resp.get_data(as_text=True)


@pytest.fixture
def student(app):
    """An approved 在校 student of 东湖第一小学 (小学一年级 1班)."""
    with app.app_context():
        return enrolled().id


def post(client, url, data, files=None):
    data = dict(data)
    for field, (content, name) in (files or {}).items():
        data[field] = (io.BytesIO(content), name)
    return client.post(url, data=data, content_type="multipart/form-data", follow_redirects=True)


# ---------------------------------------------------------------- the student's page

def test_show_page_offers_the_movements_valid_for_the_status(app, as_user, student):
    client = as_user(SCHOOL)
    html = page(client.get(f"/studentview/show/{student}"))
    for name in ("transfer_out", "province_out", "suspend", "leave", "death"):
        assert f'href="/studentview/{name}/{student}"' in html, name
    assert f'href="/studentview/resume/{student}"' not in html           # not suspended
    assert f'href="/studentview/drop_out/{student}"' not in html         # 义务教育: no 退学
    assert f'href="/studentview/history/{student}"' in html and "学籍档案" in html

    county = page(as_user(COUNTY).get(f"/studentview/show/{student}"))
    assert f'href="/studentview/history/{student}"' in county
    assert f"/studentview/transfer_out/{student}" not in county and f"/studentview/suspend/{student}" not in county
    assert as_user(COUNTY).get(f"/studentview/transfer_out/{student}").status_code == 403
    assert as_user(COUNTY).get(f"/studentview/suspend/{student}").status_code == 403

    # Suspended: 复学 instead of 休学 and the transfers.
    v = version_of(app, student)
    post(client, f"/studentview/suspend/{student}", {"reason_code": "01", "starts_on": TODAY.isoformat(),
                                                     "ends_on": (TODAY + datetime.timedelta(days=90)).isoformat(),
                                                     "version": v})
    approve_through(app, requests_of(app, status_changes.SUSPEND)[0].id)
    html = page(client.get(f"/studentview/show/{student}"))
    assert f'href="/studentview/resume/{student}"' in html and f'href="/studentview/death/{student}"' in html
    for name in ("transfer_out", "province_out", "suspend"):
        assert f'href="/studentview/{name}/{student}"' not in html, name


@pytest.mark.parametrize("username", [OTHER_SCHOOL, OTHER_COUNTY, "county_360402", "school_3604020001"])
def test_other_units_get_404_on_every_movement_url(app, as_user, student, username):
    client = as_user(username)
    v = version_of(app, student)
    for name in ("transfer_out", "province_out", "suspend", "resume", "drop_out", "leave", "death", "history"):
        assert client.get(f"/studentview/{name}/{student}").status_code == 404, name
    posts = {
        "transfer_out": {"to_school": "3601030001", "grade": "11", "reason_code": "01"},
        "province_out": {"to_province": "440000", "to_school": "广州市第一中学", "reason_code": "01"},
        "suspend": {"reason_code": "01", "starts_on": TODAY.isoformat(), "ends_on": (TODAY + datetime.timedelta(days=30)).isoformat()},
        "resume": {"grade": "11"}, "drop_out": {"reason_code": "01"}, "leave": {"reason_code": "01"},
        "death": {"died_on": TODAY.isoformat()},
    }
    for name, data in posts.items():
        resp = post(client, f"/studentview/{name}/{student}", {**data, "version": v},
                    files={"death_proof": (PNG, "死亡证明.png")} if name == "death" else None)
        assert resp.status_code == 404, name
    assert count(app, Request, Request.student_id == student, Request.type != "registration") == 0
    with app.app_context():
        assert db.session.get(Student, student).status == StudentStatus.IN_SCHOOL


# ---------------------------------------------------------------- 转出 (省内)

def test_transfer_out_through_the_screen(app, as_user, student):
    client = as_user(SCHOOL)
    form = page(client.get(f"/studentview/transfer_out/{student}"))
    assert "转出申请" in form and 'id="school-picker"' in form and 'name="to_school"' in form
    assert '<option selected value="11">小学一年级</option>' in form  # grade defaults to the student's
    found = client.get("/studentview/find_schools?q=西湖").get_json()["schools"]
    assert [s["code"] for s in found] == ["3601030001", "3601030002"]
    assert found[0]["name"] == "西湖第一小学" and "11" in found[0]["grades"] and "21" not in found[0]["grades"]
    assert "南昌市" in found[0]["place"]
    assert "3601020001" not in [s["code"] for s in client.get("/studentview/find_schools?q=36010").get_json()["schools"]]
    assert client.get("/studentview/find_schools?q=").get_json() == {"schools": []}
    assert as_user(COUNTY).get("/studentview/find_schools?q=西湖").status_code == 403

    html = page(post(client, f"/studentview/transfer_out/{student}", {
        "to_school": "3601030001", "grade": "11", "class_name": "2班", "reason_code": "03", "note": "搬家",
        "version": version_of(app, student)}, files={"evidence": (PNG, "租房合同.png")}))
    assert "转出申请已提交，等待西湖第一小学确认" in html
    (req,) = requests_of(app, transfers.TRANSFER_OUT)
    assert req.payload["to_school"] == "西湖第一小学" and req.payload["class_name"] == "2班"
    assert req.payload["reason_code"] == "03" and req.payload["note"] == "搬家"
    with app.app_context():
        assert db.session.scalar(select(Attachment.kind).where(Attachment.request_id == req.id)) == "evidence"
    # The record is locked: the notice names the request; the movement buttons are disabled.
    assert "lock-notice" in html and "尚未办结的“转学（转出申请）”" in html
    assert f'href="/studentview/suspend/{student}"' not in html and f'href="/studentview/key_change/{student}"' not in html


@pytest.mark.parametrize("data, message, field", [
    ({"to_school": "3601020001"}, "转入学校与学生当前所在学校相同", "to_school"),
    ({"to_school": "3601030001", "grade": "21"}, "西湖第一小学（小学）不招收初中一年级学生", "grade"),
    ({"to_school": "9999999999"}, "找不到该学校标识码对应的本省学校", "to_school"),
    ({"to_school": "3601030001", "reason_code": ""}, "请选择转学原因", "reason_code"),
    ({"to_school": "3601030001", "reason_code": "99", "note": ""}, "转学原因为“其他”时请填写说明", "note"),
])
def test_bad_transfer_out_changes_nothing(app, as_user, student, data, message, field):
    client = as_user(SCHOOL)
    full = {"grade": "11", "reason_code": "01", "version": version_of(app, student), **data}
    resp = post(client, f"/studentview/transfer_out/{student}", full, files={"evidence": (PNG, "证明.png")})
    html = page(resp)
    assert resp.status_code == 200 and message in html and "alert-danger" in html
    assert re.search(rf'has-error">\s*<label[^>]*for="{field}"', html), field  # the field it concerns
    assert 'id="school-picker"' in html and f'value="{full["to_school"]}"' in html  # input kept
    assert count(app, Request, Request.type == transfers.TRANSFER_OUT) == 0
    assert count(app, Attachment) == 0


def test_stale_transfer_out_is_refused(app, as_user, student):
    client = as_user(SCHOOL)
    html = page(post(client, f"/studentview/transfer_out/{student}", {
        "to_school": "3601030001", "grade": "11", "reason_code": "01", "version": "0"}))
    assert "已被他人修改" in html and count(app, Request, Request.type == transfers.TRANSFER_OUT) == 0


# ---------------------------------------------------------------- 转入申请

def test_transfer_in_through_the_screen(app, as_user, student):
    with app.app_context():
        xueji_no = db.session.get(Student, student).xueji_no
    client = as_user(OTHER_SCHOOL)
    form = page(client.get("/transferinview/start"))
    assert "转入申请" in form and "学籍号或身份证件号" in form and ">小学一年级<" in form and ">初中一年级<" not in form

    # Refused: name does not match, a grade the school does not teach, no reason.
    for data, message in [({"name": "李四"}, "本省没有与该姓名和学籍号（或身份证件号）相符的在籍学生"),
                          ({"grade": "21"}, "西湖第一小学（小学）不招收初中一年级学生"),
                          ({"reason_code": ""}, "请选择转学原因")]:
        html = page(post(client, "/transferinview/start",
                         {"name": "张小明", "number": xueji_no, "grade": "11", "reason_code": "02", **data}))
        assert message in html and "alert-danger" in html, message
    assert count(app, Request, Request.type == transfers.TRANSFER_IN) == 0

    resp = post(client, "/transferinview/start", {"name": "张小明", "number": xueji_no, "grade": "", "class_name": "3班",
                                                  "reason_code": "02"})
    html = page(resp)
    (req,) = requests_of(app, transfers.TRANSFER_IN)
    assert "转入申请已提交，等待东湖第一小学确认" in html and f"申请号 {req.id}" in html
    assert resp.request.path == f"/myrequestsview/show/{req.id}"
    assert req.payload["grade"] == "11" and req.payload["to_school"] == "西湖第一小学"  # blank grade: the same grade
    with app.app_context():
        assert req.student_id == student and db.session.get(Request, req.id).school.school_code == "3601030001"
    # The receiving school still cannot open the record.
    assert client.get(f"/studentview/show/{student}").status_code == 404

    # The owning school sees the lock, who asked, and that it is its turn to confirm.
    html = page(as_user(SCHOOL).get(f"/studentview/show/{student}"))
    assert "尚未办结的“转学（转入申请）”" in html and "该申请由西湖第一小学发起" in html and "请在“审批待办”中确认" in html
    assert f'href="/studentview/transfer_out/{student}"' not in html


def test_lookup_offers_a_transfer_in(app, as_user, student):
    with app.app_context():
        number = db.session.get(Student, student).id_number
    client = as_user(OTHER_SCHOOL)
    html = page(client.post("/lookupview/lookup", data={"name": "张小明", "id_number": number}))
    assert "/transferinview/start" in html and "办理转入申请" in html
    html = page(client.post("/transferinview/start", data={"_prefill": "1", "name": "张小明", "id_number": number}))
    assert 'value="张小明"' in html and f'value="{number}"' in html and "alert-danger" not in html
    assert count(app, Request, Request.type == transfers.TRANSFER_IN) == 0


@pytest.mark.parametrize("username", [COUNTY, "city_360100", "sheng_admin", "sheng_viewer"])
def test_only_schools_start_transfers_in(as_user, username):
    client = as_user(username)
    assert client.get("/transferinview/start").status_code == 403
    assert client.get("/provincetransferinview/start").status_code == 403


# ---------------------------------------------------------------- after the transfer: history and traces

def test_history_moves_with_the_record_and_the_old_school_keeps_a_trace(app, as_user, student):
    client = as_user(SCHOOL)
    post(client, f"/studentview/transfer_out/{student}", {"to_school": "3601030001", "grade": "12", "class_name": "2班",
                                                         "reason_code": "01", "version": version_of(app, student)})
    (req,) = requests_of(app, transfers.TRANSFER_OUT)
    before = page(client.get(f"/studentview/history/{student}"))
    assert "东湖第一小学" in before and "转学（转出申请）" in before and "待核办" in before
    assert approve_through(app, req.id) == RequestState.APPROVED
    with app.app_context():
        s = db.session.get(Student, student)
        assert s.school.school_code == "3601030001" and s.grade == "12"

    # The new school sees the whole history, spans before the transfer included, with every step.
    new = as_user(OTHER_SCHOOL)
    html = page(new.get(f"/studentview/history/{student}"))
    spans = html[html.index('id="history-spans"'):html.index('id="history-requests"')]
    assert "东湖第一小学" in spans and "西湖第一小学" in spans and "小学一年级" in spans and "小学二年级" in spans
    assert "转学：由东湖第一小学转入西湖第一小学" in spans and "新生注册" in html
    steps = html[html.index(f'id="history-request-{req.id}"'):]
    steps = steps[:steps.index("</table>", steps.index("history-steps"))]
    for text in ("学校确认", "转入方", "转出方", "审批", "西湖第一小学", "东湖区教育体育局", "西湖区教育体育局", "同意"):
        assert text in steps, text
    show = page(new.get(f"/studentview/show/{student}"))
    assert f'href="/studentview/history/{student}"' in show and f'href="/studentview/suspend/{student}"' in show
    assert page(as_user("city_360100").get(f"/studentview/history/{student}")).count("history-request-") == 2

    # The old school and its county no longer see the record at all.
    for username in (SCHOOL, COUNTY):
        assert as_user(username).get(f"/studentview/history/{student}").status_code == 404, username
        assert as_user(username).get(f"/studentview/show/{student}").status_code == 404, username

    # 转出记录: the old school (and its county) keep the trace; others do not see it.
    html = page(client.get("/departureview/list/"))
    assert "转出记录" in html and "张小明" in html and "小学一年级" in html and "1班" in html
    assert "南昌市西湖区 西湖第一小学" in html
    with app.app_context():
        trace = db.session.scalar(select(DepartureTrace))
        assert trace.personal_id in html
    assert "张小明" in page(as_user(COUNTY).get("/departureview/list/"))
    assert as_user(COUNTY).get(f"/departureview/show/{trace.id}").status_code == 200
    for username in (JUNIOR, OTHER_SCHOOL, OTHER_COUNTY):
        other = as_user(username)
        assert "张小明" not in page(other.get("/departureview/list/")), username
        assert other.get(f"/departureview/show/{trace.id}").status_code == 404, username
    # Read-only, with the export.
    assert client.get(f"/departureview/edit/{trace.id}").status_code in (403, 404)
    assert client.post(f"/departureview/delete/{trace.id}").status_code in (403, 404, 405)
    resp = client.post("/departureview/export_workbook/")
    assert resp.status_code == 200 and "spreadsheetml" in resp.headers["Content-Type"]
    assert count(app, DepartureTrace) == 1


def test_history_page_for_a_visible_student(app, as_user, student):
    html = page(as_user(COUNTY).get(f"/studentview/history/{student}"))
    assert "学籍档案" in html and "新生注册" in html and "注册待核办" in html and "在校" in html
    assert "东湖区教育体育局" in html and "已通过" in html
    assert as_user("sheng_viewer").get(f"/studentview/history/{student}").status_code == 200
    assert as_user(OTHER_COUNTY).get(f"/studentview/history/{student}").status_code == 404
    assert as_user(SCHOOL).get("/studentview/history/999999").status_code == 404


# ---------------------------------------------------------------- 跨省转出

def test_province_out_through_the_screen(app, as_user, student):
    client = as_user(SCHOOL)
    form = page(client.get(f"/studentview/province_out/{student}"))
    assert ">广东省<" in form and ">江西省<" not in form
    html = page(post(client, f"/studentview/province_out/{student}", {
        "to_province": "360000", "to_school": "广州市第一中学", "reason_code": "01", "version": version_of(app, student)}))
    assert "本省学校之间的转学请办理省内转学" in html
    assert re.search(r'has-error">\s*<label[^>]*for="to_province"', html)
    html = page(post(client, f"/studentview/province_out/{student}", {
        "to_province": "440000", "to_school": " ", "reason_code": "01", "version": version_of(app, student)}))
    assert "请填写转入学校名称" in html
    assert count(app, Request, Request.type == transfers.PROVINCE_OUT) == 0

    html = page(post(client, f"/studentview/province_out/{student}", {
        "to_province": "440000", "to_school": "广州市第一小学", "reason_code": "01", "version": version_of(app, student)}))
    assert "跨省转出申请已提交，等待东湖区教育体育局核办" in html
    (req,) = requests_of(app, transfers.PROVINCE_OUT)
    assert req.payload["to_province_name"] == "广东省" and req.payload["to_school"] == "广州市第一小学"
    assert approve_through(app, req.id) == RequestState.APPROVED
    with app.app_context():
        assert [s.role for s in db.session.get(Request, req.id).steps] == [StepRole.APPROVE, StepRole.EXTERNAL]
        assert db.session.get(Student, student).status == StudentStatus.TRANSFERRED_OUT
    html = page(client.get(f"/studentview/show/{student}"))
    assert "student-movements" not in html
    assert "广东省 广州市第一小学" in page(client.get("/departureview/list/"))


# ---------------------------------------------------------------- 跨省转入

def _province_in_form(**over):
    born = datetime.date(2018, 6, 1)
    number = build_id_number("440103", born, 21)
    data = record_form(name="王小红", gender="1", birth_date=born.isoformat(), id_number=number, grade="12",
                       class_name="2班", birthplace_code="440103", hukou_code="440103", native_place="广东广州")
    data.update({"from_province": "440000", "from_school": "广州市荔湾区第一小学", "xueji_no": "G" + number,
                 "reason_code": "01", "note": ""})
    data.update(over)
    return data


def test_province_transfer_in_through_the_screen(app, as_user):
    client = as_user(SCHOOL)
    form = page(client.get("/provincetransferinview/start"))
    assert "跨省转入" in form and ">广东省<" in form and ">江西省<" not in form
    assert 'name="g1_name"' in form and 'name="xueji_no"' in form and 'name="no_id_proof"' in form

    data = _province_in_form()
    for over, message, field in [
        ({"from_province": "360000"}, "本省学校之间的转学请办理省内转学", "from_province"),
        ({"from_province": ""}, "请选择学生原就读学校所在的省份", "from_province"),
        ({"xueji_no": "G" + build_id_number("440103", datetime.date(2018, 6, 1), 23)}, "与填写的身份证件号不一致", "xueji_no"),
        ({"from_school": ""}, "请填写原就读学校名称", "from_school"),
        ({"grade": "21"}, "东湖第一小学（小学）不招收初中一年级学生", "grade"),
    ]:
        html = page(post(client, "/provincetransferinview/start", {**data, **over}))
        assert message in html, message
        assert re.search(rf'has-error">\s*<label[^>]*for="{field}"', html), field
        assert 'value="广东广州"' in html  # the typed record is kept
    assert count(app, Request) == 0 and count(app, Student) == 0

    resp = post(client, "/provincetransferinview/start", data, files={"evidence": (PNG, "转学证明.png")})
    html = page(resp)
    (req,) = requests_of(app, transfers.PROVINCE_IN)
    assert "跨省转入申请已提交，等待东湖区教育体育局核办" in html and resp.request.path == f"/myrequestsview/show/{req.id}"
    assert req.payload["from_province_name"] == "广东省" and req.payload["xueji_no"] == data["xueji_no"]
    assert req.payload["guardians"][0]["name"] == "张大明" and count(app, Student) == 0
    assert approve_through(app, req.id) == RequestState.APPROVED
    with app.app_context():
        s = db.session.scalar(select(Student).where(Student.xueji_no == data["xueji_no"]))
        assert s.school.school_code == "3601020001" and s.status == StudentStatus.IN_SCHOOL and s.grade == "12"
        sid = s.id
    html = page(client.get(f"/studentview/history/{sid}"))
    assert "跨省转入：自广东省 广州市荔湾区第一小学" in html and "外省确认" in html


# ---------------------------------------------------------------- 休学, 复学

def test_suspension_and_resumption(app, as_user, student):
    client = as_user(SCHOOL)
    form = page(client.get(f"/studentview/suspend/{student}"))
    assert "休学申请" in form and ">因病<" in form and f'value="{TODAY.isoformat()}"' in form
    html = page(post(client, f"/studentview/suspend/{student}", {
        "reason_code": "01", "starts_on": "2026-03-01", "ends_on": "2026-02-01", "version": version_of(app, student)}))
    assert "休学结束日期应晚于开始日期" in html and re.search(r'has-error">\s*<label[^>]*for="ends_on"', html)
    html = page(post(client, f"/studentview/suspend/{student}", {
        "reason_code": "01", "starts_on": "2026-03-01", "ends_on": "2027-06-01", "version": version_of(app, student)}))
    assert "休学期限一般不超过一年" in html
    assert count(app, Request, Request.type == status_changes.SUSPEND) == 0

    html = page(post(client, f"/studentview/suspend/{student}", {
        "reason_code": "01", "starts_on": "2026-03-01", "ends_on": "2026-09-01", "note": "住院治疗",
        "version": version_of(app, student)}, files={"evidence": (PNG, "诊断证明.png")}))
    assert "休学申请已提交，等待东湖区教育体育局核办" in html and "尚未办结的“休学”" in html
    (req,) = requests_of(app, status_changes.SUSPEND)
    assert req.payload["starts_on"] == "2026-03-01" and req.payload["note"] == "住院治疗"
    approve_through(app, req.id)
    with app.app_context():
        assert db.session.get(Student, student).status == StudentStatus.SUSPENDED

    form = page(client.get(f"/studentview/resume/{student}"))
    assert '<option selected value="11">小学一年级</option>' in form and ">初中一年级<" not in form
    html = page(post(client, f"/studentview/resume/{student}", {"grade": "21", "version": version_of(app, student)}))
    assert "本校不设初中一年级" in html and count(app, Request, Request.type == status_changes.RESUME) == 0
    html = page(post(client, f"/studentview/resume/{student}", {"grade": "12", "class_name": "3班",
                                                               "version": version_of(app, student)}))
    assert "复学申请已提交" in html
    approve_through(app, requests_of(app, status_changes.RESUME)[0].id)
    with app.app_context():
        s = db.session.get(Student, student)
        assert (s.status, s.grade, s.class_name) == (StudentStatus.IN_SCHOOL, "12", "3班")


# ---------------------------------------------------------------- 退学, 其他离校, 死亡

def test_drop_out_needs_a_senior_student_and_the_written_request(app, as_user, student):
    client = as_user(SCHOOL)
    html = page(post(client, f"/studentview/drop_out/{student}", {"reason_code": "02", "version": version_of(app, student)},
                     files={"written_request": (PNG, "申请书.png")}))
    assert "义务教育阶段学生不能办理退学" in html and count(app, Request, Request.type == status_changes.DROP_OUT) == 0

    with app.app_context():  # make 东湖第一初级中学 a 完全中学 with a 高中一年级 student
        unit(db.session, "3601020002").school_type = SchoolType.COMPLETE_MIDDLE
        db.session.commit()
        senior = enrolled(JUNIOR, seq=5, name="李高中", grade="31", birth_date="2010-03-07",
                          id_number=build_id_number("360102", datetime.date(2010, 3, 7), 11)).id
    client = as_user(JUNIOR)
    show = page(client.get(f"/studentview/show/{senior}"))
    assert f'href="/studentview/drop_out/{senior}"' in show
    html = page(post(client, f"/studentview/drop_out/{senior}", {"reason_code": "02", "version": version_of(app, senior)}))
    assert "退学须上传学生本人及监护人的书面申请" in html and "alert-danger" in html
    assert count(app, Request, Request.type == status_changes.DROP_OUT) == 0
    html = page(post(client, f"/studentview/drop_out/{senior}", {"reason_code": "02", "version": version_of(app, senior)},
                     files={"written_request": (PNG, "申请书.png")}))
    assert "退学申请已提交" in html
    (req,) = requests_of(app, status_changes.DROP_OUT)
    with app.app_context():
        assert db.session.scalar(select(Attachment.kind).where(Attachment.request_id == req.id)) == "written_request"


def test_leave_through_the_screen(app, as_user, student):
    client = as_user(SCHOOL)
    assert ">出国（境）学习<" in page(client.get(f"/studentview/leave/{student}"))
    html = page(post(client, f"/studentview/leave/{student}", {"reason_code": "99", "note": "",
                                                               "version": version_of(app, student)}))
    assert "离校原因为“其他”时请填写说明" in html and count(app, Request, Request.type == status_changes.LEAVE_OTHER) == 0
    html = page(post(client, f"/studentview/leave/{student}", {"reason_code": "01", "version": version_of(app, student)}))
    assert "其他离校申请已提交" in html
    (req,) = requests_of(app, status_changes.LEAVE_OTHER)
    approve_through(app, req.id)
    with app.app_context():
        assert db.session.get(Student, student).status == StudentStatus.LEFT_OTHER
    assert "student-movements" not in page(client.get(f"/studentview/show/{student}"))


def test_death_needs_the_proof(app, as_user, student):
    client = as_user(SCHOOL)
    assert 'name="death_proof"' in page(client.get(f"/studentview/death/{student}"))
    v = version_of(app, student)
    html = page(post(client, f"/studentview/death/{student}", {"died_on": TODAY.isoformat(), "version": v}))
    assert "须上传死亡证明" in html and "alert-danger" in html
    html = page(post(client, f"/studentview/death/{student}",
                     {"died_on": (TODAY + datetime.timedelta(days=2)).isoformat(), "version": v},
                     files={"death_proof": (PNG, "死亡证明.png")}))
    assert "死亡日期不能晚于今天" in html
    assert count(app, Request, Request.type == status_changes.DEATH) == 0 and count(app, Attachment) == 0

    html = page(post(client, f"/studentview/death/{student}", {"died_on": TODAY.isoformat(), "note": "车祸", "version": v},
                     files={"death_proof": (PNG, "死亡证明.png")}))
    assert "死亡登记已提交" in html
    (req,) = requests_of(app, status_changes.DEATH)
    assert req.payload["died_on"] == TODAY.isoformat()
    with app.app_context():
        att = db.session.scalar(select(Attachment).where(Attachment.request_id == req.id))
        assert att.kind == "death_proof" and att.student_id == student


# ---------------------------------------------------------------- menus and permissions

def test_menus_and_read_only_traces_for_officers(as_user):
    home = page(as_user(SCHOOL).get("/"))
    for url in ("/transferinview/start", "/provincetransferinview/start", "/departureview/list/"):
        assert url in home, url
    for username in (COUNTY, "city_360100", "sheng_viewer"):
        client = as_user(username)
        assert client.get("/departureview/list/").status_code == 200, username
        assert "/transferinview/start" not in page(client.get("/")), username
