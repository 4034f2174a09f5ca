"""The registry screens through HTTP: 新生注册 → 县级核办, bad input, masking and its audit,
scoping from outside, stale edits, 关键数据变更, 误操作删除, 重新提交, 全省学籍查询."""
import datetime
import io
import json
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog
from app.models.requests import Request, RequestState
from app.models.student import Attachment, Student, StudentStatus
from app.services import requests as engine
from app.services import students
from app.services.identity import build_id_number, mask
from tests.conftest import account, unit

SCHOOL = "school_3601020001"         # 东湖第一小学 (东湖区)
COUNTY = "county_360102"
OTHER_SCHOOL = "school_3601030001"   # 西湖区
OTHER_COUNTY = "county_360103"
BIRTH = datetime.date(2019, 3, 1)
ID = build_id_number("360102", BIRTH, 11)               # odd sequence: male
GUARDIAN_ID = build_id_number("360102", datetime.date(1988, 5, 6), 22)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def form(**overrides):
    data = {
        "name": "张小明", "gender": "1", "birth_date": BIRTH.isoformat(), "id_type": "1", "id_number": ID,
        "ethnicity": "01", "nationality": "CHN", "hmt_overseas": "00", "birthplace_code": "360102",
        "hukou_code": "360102", "native_place": "江西南昌", "hukou_type": "2", "health_status": "1",
        "political_status": "14", "only_child": "y", "commute_distance": "1.5", "commute_mode": "1",
        "enrollment_month": "2025-09", "enrollment_method": "1", "study_mode": "1", "grade": "11", "class_name": "一班",
        "g1_name": "张大明", "g1_relation": "51", "g1_id_type": "1", "g1_id_number": GUARDIAN_ID, "g1_phone": "13900001111",
        "g2_name": "", "g2_relation": "", "g2_id_type": "1", "g2_id_number": "", "g2_phone": "",
    }
    data.update(overrides)
    return data


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def register_via_screen(client, **overrides):
    return client.post("/studentview/register", data=form(**overrides), follow_redirects=True)


def the_student(app, id_number=ID):
    with app.app_context():
        s = db.session.scalar(select(Student).where(Student.id_number == id_number))
        return s.id if s else None


def approve_all(app, username=COUNTY):
    with app.app_context():
        actor = account(db.session, username)
        for req in db.session.scalars(engine.inbox_query(actor)).all():
            engine.approve(db.session, actor, req.id)
        db.session.commit()


@pytest.fixture
def in_school(app):
    """An approved 在校 student of 东湖第一小学, registered through the service."""
    with app.app_context():
        actor = account(db.session, "school_3601020001")
        data = {k: v for k, v in form().items() if not k.startswith(("g1_", "g2_"))}
        guardians = [{"name": "张大明", "relation": "51", "id_type": "1", "id_number": GUARDIAN_ID, "phone": "13900001111"}]
        student, _req, _w = students.register_student(db.session, actor, data, guardians)
        db.session.commit()
        sid = student.id
    approve_all(app)
    return sid


# ---------------------------------------------------------------- 新生注册

def test_registration_through_the_screen_then_county_approval(app, as_user):
    client = as_user(SCHOOL)
    page = client.get("/studentview/register").get_data(as_text=True)
    assert "新生注册" in page and "全省学籍查询" in page
    assert '<option selected value="01">汉族</option>' in page  # code tables as names
    assert 'type="file"' in page and 'name="no_id_proof"' in page

    html = register_via_screen(client).get_data(as_text=True)
    assert "新生注册已提交" in html and "注册待核办" in html
    sid = the_student(app)
    with app.app_context():
        s = db.session.get(Student, sid)
        assert s.status == StudentStatus.REGISTERING and s.xueji_no is None
        assert s.birthplace_code == "360102000000" and s.name_initials == "zxm" and s.only_child is True
        assert s.commute_distance == 1.5 and [g.name for g in s.guardians] == ["张大明"]
        assert s.school.school_code == "3601020001"

    approve_all(app)
    with app.app_context():
        s = db.session.get(Student, sid)
        assert s.status == StudentStatus.IN_SCHOOL and s.xueji_no == "G" + ID
    html = client.get(f"/studentview/show/{sid}").get_data(as_text=True)
    assert "G" + ID in html and "在校" in html and "新生注册核办通过" in html
    assert "江西省南昌市东湖区（360102）" in html and "小学一年级" in html and "父亲" in html
    # The list reads names, not codes.
    html = client.get("/studentview/list/").get_data(as_text=True)
    assert "张小明" in html and "小学一年级" in html and ">男<" in html.replace(" ", "").replace("\n", "")


def test_fifteen_digit_number_is_upgraded_with_a_notice(app, as_user):
    born = datetime.date(1999, 12, 31)
    old = build_id_number("360102", born, 13)
    number15 = old[:6] + old[8:17]
    html = register_via_screen(as_user(SCHOOL), birth_date=born.isoformat(), id_number=number15).get_data(as_text=True)
    assert "15 位身份证号已自动升级为 18 位" in html and "新生注册已提交" in html
    assert the_student(app, old) is not None


def _wrong_check_digit(number):
    return number[:17] + ("0" if number[17] != "0" else "1")


@pytest.mark.parametrize("overrides, message", [
    ({"id_number": _wrong_check_digit(ID)}, "校验位错误"),
    ({"birth_date": (datetime.date.today() + datetime.timedelta(days=3)).isoformat(),
      "id_number": ""}, "出生日期不能晚于今天"),
    ({"gender": "2"}, "与填写的性别（女）不一致"),
    ({"birth_date": "2019-03-02"}, "与填写的出生日期（2019-03-02）不一致"),
    ({"name": ""}, "请填写姓名"),
    ({"g1_name": "", "g1_id_number": "", "g1_phone": ""}, "请至少填写一位监护人"),
    ({"g1_id_number": _wrong_check_digit(GUARDIAN_ID)}, "第 1 位监护人的身份证号校验位错误"),
    ({"id_type": "A", "id_number": ""}, "须上传无身份证号证明"),
    ({"birthplace_code": "12345"}, "出生地应为 6 位行政区划代码"),
    ({"commute_distance": "1.25"}, "上下学距离最多保留一位小数"),
    ({"nationality": ""}, "请选择国籍/地区"),
])
def test_bad_input_is_refused_with_the_message_and_input_kept(app, as_user, overrides, message):
    before = count(app, Student), count(app, Request), count(app, Attachment)
    resp = register_via_screen(as_user(SCHOOL), **overrides)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert message in html, html[html.find("alert"):][:600]
    assert "alert-danger" in html and "has-error" in html or "text-danger" in html
    assert 'value="江西南昌"' in html  # what the user typed is still there
    assert (count(app, Student), count(app, Request), count(app, Attachment)) == before


def test_guardian_id_error_points_at_the_guardians(app, as_user):
    html = register_via_screen(as_user(SCHOOL), g1_id_number=_wrong_check_digit(GUARDIAN_ID)).get_data(as_text=True)
    assert "panel-danger" in html  # the guardian panel is marked, not the student's own ID field
    assert 'id="id_number"' in html and not re.search(r'has-error">\s*<label[^>]*for="id_number"', html)


def test_second_registration_of_the_same_person_is_refused(app, as_user, in_school):
    before = count(app, Student), count(app, Request)
    html = register_via_screen(as_user(OTHER_SCHOOL)).get_data(as_text=True)
    assert "一人一籍" in html and "东湖第一小学" in html and "请办理转学" in html
    assert (count(app, Student), count(app, Request)) == before
    html = register_via_screen(as_user(SCHOOL)).get_data(as_text=True)
    assert "不能重复注册" in html
    assert (count(app, Student), count(app, Request)) == before


def test_no_id_number_with_proof_upload(app, as_user):
    data = form(id_type="A", id_number="")
    data["no_id_proof"] = (io.BytesIO(PNG), "证明.png")
    html = as_user(SCHOOL).post("/studentview/register", data=data, content_type="multipart/form-data",
                                follow_redirects=True).get_data(as_text=True)
    assert "新生注册已提交" in html
    with app.app_context():
        att = db.session.scalar(select(Attachment))
        assert att.kind == "no_id_proof" and att.filename == "证明.png" and att.student_id and att.request_id
    approve_all(app)
    with app.app_context():
        assert db.session.get(Student, att.student_id).xueji_no.startswith("L")


def test_a_fake_upload_is_refused(app, as_user):
    data = form(id_type="A", id_number="")
    data["no_id_proof"] = (io.BytesIO(b"not a png at all"), "x.png")
    html = as_user(SCHOOL).post("/studentview/register", data=data, content_type="multipart/form-data",
                                follow_redirects=True).get_data(as_text=True)
    assert "内容与文件类型不符" in html and count(app, Student) == 0


@pytest.mark.parametrize("username", [COUNTY, "city_360100", "sheng_admin", "sheng_viewer"])
def test_only_school_registrars_register(as_user, username):
    assert as_user(username).get("/studentview/register").status_code == 403
    assert as_user(username).post("/studentview/register", data=form()).status_code == 403


def test_fab_add_and_delete_are_off(as_user, in_school):
    client = as_user(SCHOOL)
    assert client.get("/studentview/add").status_code in (403, 404)
    assert client.post(f"/studentview/delete/{in_school}").status_code in (403, 404, 405)
    assert "/studentview/delete/" not in client.get("/studentview/list/").get_data(as_text=True)


# ---------------------------------------------------------------- masking and its audit

@pytest.mark.parametrize("username", ["city_360100", "sheng_admin", "sheng_viewer"])
def test_masked_for_officers_without_full_view(app, as_user, in_school, username):
    client = as_user(username)
    for url in ("/studentview/list/", f"/studentview/show/{in_school}"):
        html = client.get(url).get_data(as_text=True)
        assert "张小明" in html, url
        assert ID not in html and mask(ID) in html, url
        assert "G" + mask(ID) in html, url  # the 学籍号 carries the ID number: masked alike
        assert GUARDIAN_ID not in html, url
    assert mask(GUARDIAN_ID) in html
    with app.app_context():
        actor = account(db.session, username)
        assert count(app, AuditLog, AuditLog.action == "view", AuditLog.actor_id == actor.id) == 0


@pytest.mark.parametrize("username", [SCHOOL, COUNTY])
def test_full_for_school_and_county_and_each_view_is_audited(app, as_user, in_school, username):
    client = as_user(username)
    with app.app_context():
        actor_id = account(db.session, username).id
    views = lambda: count(app, AuditLog, AuditLog.action == "view", AuditLog.actor_id == actor_id,  # noqa: E731
                          AuditLog.entity == "student", AuditLog.entity_id == str(in_school))
    html = client.get(f"/studentview/show/{in_school}").get_data(as_text=True)
    assert ID in html and GUARDIAN_ID in html
    assert views() == 1
    client.get(f"/studentview/show/{in_school}")
    assert views() == 2
    html = client.get("/studentview/list/").get_data(as_text=True)
    assert ID in html and views() == 3
    with app.app_context():
        row = db.session.scalar(select(AuditLog).where(AuditLog.action == "view", AuditLog.actor_id == actor_id)
                                .order_by(AuditLog.id))
        assert row.field == "id_number" and row.reason == "学生学籍详情" and row.org_path.endswith("/3601020001/")


# ---------------------------------------------------------------- scoping from outside

@pytest.mark.parametrize("username", [OTHER_SCHOOL, OTHER_COUNTY, "county_360402", "school_3601020002"])
def test_other_units_get_404_and_never_see_the_student(app, as_user, in_school, username):
    client = as_user(username)
    for url in (f"/studentview/show/{in_school}", f"/studentview/edit/{in_school}",
                f"/studentview/key_change/{in_school}", f"/studentview/request_deletion/{in_school}",
                f"/studentview/resubmit/{in_school}"):
        assert client.get(url).status_code == 404, url
    with app.app_context():
        version = db.session.get(Student, in_school).version
    for url, data in [(f"/studentview/edit/{in_school}", {"class_name": "被篡改", "version": version}),
                      (f"/studentview/key_change/{in_school}", {**form(name="李四"), "reason": "x", "version": version}),
                      (f"/studentview/request_deletion/{in_school}", {"reason": "x", "version": version}),
                      (f"/studentview/cancel_request/{in_school}/1", {})]:
        assert client.post(url, data=data).status_code == 404, url
    html = client.get("/studentview/list/").get_data(as_text=True)
    assert "张小明" not in html and ID not in html
    html = client.get(f"/studentview/list/?_flt_0_name=张小明").get_data(as_text=True)
    assert "张小明</td>" not in html
    with app.app_context():
        s = db.session.get(Student, in_school)
        assert (s.class_name, s.name, s.version) == ("一班", "张小明", version)
        assert db.session.scalar(select(func.count()).select_from(Request).where(
            Request.student_id == in_school, Request.state == RequestState.PENDING)) == 0


def search_fields(html):
    """The search widget's field HTML, which FAB hands to its JavaScript as JSON."""
    pos, decoder, args = re.search(r"new AdminFilters\(\s*'#filter_form',", html).end(), json.JSONDecoder(), []
    for _ in range(2):
        while html[pos] in " \t\r\n,":
            pos += 1
        value, pos = decoder.raw_decode(html, pos)
        args.append(value)
    return args[1]


def test_search_school_dropdown_is_scoped(as_user):
    def options(username):
        return search_fields(as_user(username).get("/studentview/list/").get_data(as_text=True))["school"]
    found = options(OTHER_COUNTY)
    assert "西湖第一小学" in found and "东湖第一小学" not in found and "濂溪" not in found
    found = options("city_360100")
    assert "西湖第一小学" in found and "东湖第一小学" in found and "濂溪" not in found
    assert "东湖第一初级中学" not in options(SCHOOL) and "东湖第一小学" in options(SCHOOL)
    assert ">小学一年级<" in search_fields(as_user(SCHOOL).get("/studentview/list/").get_data(as_text=True))["grade"]


def test_search_filters(as_user, in_school):
    client = as_user(COUNTY)
    for query in ("_flt_0_name=张小明", "_flt_0_name_initials=zx", f"_flt_3_id_number={ID}", f"_flt_3_xueji_no=G{ID}",
                  "_flt_0_grade=11", "_flt_0_status=in_school", "_flt_0_class_name=一班"):
        assert "张小明" in client.get(f"/studentview/list/?{query}").get_data(as_text=True), query
    for query in ("_flt_0_name=王", "_flt_0_grade=12", "_flt_0_status=graduated"):
        assert "张小明" not in client.get(f"/studentview/list/?{query}").get_data(as_text=True), query
    with client.application.app_context():
        school_id = unit(db.session, "3601020001").id
        other_id = unit(db.session, "3601020002").id
    assert "张小明" in client.get(f"/studentview/list/?_flt_0_school={school_id}").get_data(as_text=True)
    assert "张小明" not in client.get(f"/studentview/list/?_flt_0_school={other_id}").get_data(as_text=True)


def test_default_order_school_class_name(app, as_user):
    with app.app_context():
        for code, cls, name, seq in [("3601020002", "一班", "甲", 1), ("3601020001", "二班", "乙", 3),
                                     ("3601020001", "一班", "丙", 5), ("3601020001", "一班", "丁", 7)]:
            actor = account(db.session, f"school_{code}")
            data = {k: v for k, v in form(name=name, class_name=cls,
                                           id_number=build_id_number("360102", BIRTH, seq)).items() if not k.startswith(("g1_", "g2_"))}
            students.register_student(db.session, actor, data, [{"name": "家长", "relation": "51"}])
        db.session.commit()
    html = as_user(COUNTY).get("/studentview/list/").get_data(as_text=True)
    order = [n for n in re.findall(r"<td>\s*([甲乙丙丁])\s*</td>", html)]
    assert order == ["丁", "丙", "乙", "甲"], order  # 东湖第一小学 一班 (丁 < 丙 by code point), 二班, then 第二小学


# ---------------------------------------------------------------- edit, stale edit

def _version(html):
    m = re.search(r'<input[^>]*name="version"[^>]*>', html)
    return re.search(r'value="(\d+)"', m.group(0)).group(1)


def test_edit_non_key_fields(app, as_user, in_school):
    client = as_user(SCHOOL)
    page = client.get(f"/studentview/edit/{in_school}").get_data(as_text=True)
    assert "关键数据" in page and 'value="一班"' in page and mask(ID) in page
    data = {"version": _version(page), "class_name": "三班", "grade": "11", "nationality": "CHN", "hmt_overseas": "00",
            "commute_distance": "2.0", "left_behind": "y", "birthplace_code": "360102", "hukou_code": "360103",
            "enrollment_month": "2025-09"}
    html = client.post(f"/studentview/edit/{in_school}", data=data, follow_redirects=True).get_data(as_text=True)
    assert "学籍信息已保存" in html
    with app.app_context():
        s = db.session.get(Student, in_school)
        assert (s.class_name, s.left_behind, s.only_child, s.hukou_code) == ("三班", True, False, "360103000000")


def test_stale_edit_is_refused(app, as_user, in_school):
    client = as_user(SCHOOL)
    page = client.get(f"/studentview/edit/{in_school}").get_data(as_text=True)
    old_version = _version(page)
    # Someone else saves first.
    other = as_user(SCHOOL)
    fresh = other.get(f"/studentview/edit/{in_school}").get_data(as_text=True)
    assert "学籍信息已保存" in other.post(f"/studentview/edit/{in_school}", follow_redirects=True, data={
        "version": _version(fresh), "class_name": "二班", "grade": "11", "nationality": "CHN", "hmt_overseas": "00",
    }).get_data(as_text=True)
    html = client.post(f"/studentview/edit/{in_school}", follow_redirects=True, data={
        "version": old_version, "class_name": "五班", "grade": "11", "nationality": "CHN", "hmt_overseas": "00",
    }).get_data(as_text=True)
    assert "已被他人修改" in html and 'value="五班"' in html
    with app.app_context():
        assert db.session.get(Student, in_school).class_name == "二班"


def test_edit_cannot_blank_a_required_code(app, as_user, in_school):
    client = as_user(SCHOOL)
    page = client.get(f"/studentview/edit/{in_school}").get_data(as_text=True)
    resp = client.post(f"/studentview/edit/{in_school}", data={"version": _version(page), "class_name": "三班"})
    assert resp.status_code == 200 and "请选择国籍/地区" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Student, in_school).class_name == "一班"


def test_county_cannot_edit_its_own_students(as_user, in_school):
    client = as_user(COUNTY)
    assert client.get(f"/studentview/show/{in_school}").status_code == 200
    assert client.get(f"/studentview/edit/{in_school}").status_code == 403
    html = client.get(f"/studentview/show/{in_school}").get_data(as_text=True)
    assert "申请关键数据变更" not in html and f"/studentview/edit/{in_school}" not in html


# ---------------------------------------------------------------- 关键数据变更, 误操作删除, 撤销

def test_key_change_request_then_approval(app, as_user, in_school):
    client = as_user(SCHOOL)
    page = client.get(f"/studentview/key_change/{in_school}").get_data(as_text=True)
    assert f'value="{ID}"' in page and 'value="张小明"' in page and 'name="evidence"' in page
    data = {**{k: v for k, v in form(name="张晓明").items() if not k.startswith(("g1_", "g2_"))},
            "reason": "户口簿姓名更正", "version": _version(page)}
    html = client.post(f"/studentview/key_change/{in_school}", data=data, follow_redirects=True).get_data(as_text=True)
    assert "须上传证明材料" in html and count(app, Request, Request.type == students.KEY_CHANGE) == 0

    data["evidence"] = (io.BytesIO(PNG), "户口簿.png")
    html = client.post(f"/studentview/key_change/{in_school}", data=data, content_type="multipart/form-data",
                       follow_redirects=True).get_data(as_text=True)
    assert "关键数据变更申请已提交" in html
    # While it is open: the show page says why the other actions are unavailable and links the request.
    assert "lock-notice" in html and "尚未办结的“关键数据变更”" in html and "张晓明" in html
    assert f'href="/studentview/key_change/{in_school}"' not in html
    assert f'href="/studentview/request_deletion/{in_school}"' not in html
    html = client.post(f"/studentview/request_deletion/{in_school}", data={"reason": "误建"},
                       follow_redirects=True).get_data(as_text=True)
    assert "尚未办结" in html and count(app, Request, Request.type == students.DELETION) == 0

    with app.app_context():
        req_id = db.session.scalar(select(Request.id).where(Request.type == students.KEY_CHANGE))
    school_view = client.get(f"/studentview/show/{in_school}").get_data(as_text=True)
    assert f'href="/myrequestsview/show/{req_id}"' in school_view  # the lock links the request on the approval screens
    county_view = as_user(COUNTY).get(f"/studentview/show/{in_school}").get_data(as_text=True)
    assert f'href="/inboxview/show/{req_id}"' in county_view and "张晓明" in county_view

    approve_all(app)
    with app.app_context():
        s = db.session.get(Student, in_school)
        assert s.name == "张晓明" and s.name_initials == "zxm"
        assert db.session.scalar(select(Attachment)).kind == "evidence"


def test_deletion_request_and_cancel(app, as_user, in_school):
    client = as_user(SCHOOL)
    show = client.get(f"/studentview/show/{in_school}").get_data(as_text=True)
    assert f'href="/studentview/request_deletion/{in_school}"' in show
    page = client.get(f"/studentview/request_deletion/{in_school}").get_data(as_text=True)
    html = client.post(f"/studentview/request_deletion/{in_school}", data={"reason": " ", "version": _version(page)},
                       follow_redirects=True).get_data(as_text=True)
    assert "请填写删除原因" in html
    html = client.post(f"/studentview/request_deletion/{in_school}", data={"reason": "重复建籍", "version": _version(page)},
                       follow_redirects=True).get_data(as_text=True)
    assert "误操作删除申请已提交" in html and "撤销申请" in html
    with app.app_context():
        req = db.session.scalar(select(Request).where(Request.type == students.DELETION))
    html = client.post(f"/studentview/cancel_request/{in_school}/{req.id}", follow_redirects=True).get_data(as_text=True)
    assert "申请已撤销" in html and "已撤销" in html
    with app.app_context():
        assert db.session.get(Request, req.id).state == RequestState.CANCELLED
        assert db.session.get(Student, in_school).status == StudentStatus.IN_SCHOOL


def test_withdraw_a_pending_registration(app, as_user):
    client = as_user(SCHOOL)
    register_via_screen(client)
    sid = the_student(app)
    with app.app_context():
        req = db.session.scalar(select(Request))
    html = client.post(f"/studentview/cancel_request/{sid}/{req.id}", follow_redirects=True).get_data(as_text=True)
    assert "申请已撤销" in html
    with app.app_context():
        assert db.session.get(Student, sid).status == StudentStatus.DELETED


def test_resubmit_after_rejection(app, as_user):
    client = as_user(SCHOOL)
    register_via_screen(client)
    sid = the_student(app)
    with app.app_context():
        county = account(db.session, COUNTY)
        req = db.session.scalar(select(Request))
        engine.reject(db.session, county, req.id, "班级填写有误")
        db.session.commit()
    show = client.get(f"/studentview/show/{sid}").get_data(as_text=True)
    assert "班级填写有误" in show and f'href="/studentview/resubmit/{sid}"' in show
    page = client.get(f"/studentview/resubmit/{sid}").get_data(as_text=True)
    assert 'value="张大明"' in page and f'value="{ID}"' in page
    html = client.post(f"/studentview/resubmit/{sid}", data={**form(class_name="二班"), "version": _version(page)},
                       follow_redirects=True).get_data(as_text=True)
    assert "已重新提交新生注册" in html
    with app.app_context():
        assert db.session.get(Student, sid).class_name == "二班"
        assert count(app, Request, Request.state == RequestState.PENDING) == 1
    approve_all(app)
    with app.app_context():
        assert db.session.get(Student, sid).status == StudentStatus.IN_SCHOOL


# ---------------------------------------------------------------- 全省学籍查询

def test_lookup_reveals_only_county_and_school(app, as_user, in_school):
    client = as_user(OTHER_SCHOOL)
    page = client.get("/lookupview/lookup").get_data(as_text=True)
    assert "全省学籍查询" in page
    html = client.post("/lookupview/lookup", data={"name": "张小明", "id_number": ID}).get_data(as_text=True)
    result = html[html.index('id="lookup-result"'):]
    result = result[:result.index("</div>")]
    assert "东湖区教育体育局 东湖第一小学" in result and "在校" in result and "办理转学" in result
    for secret in ("G" + ID, "一班", "2019-03-01", "张大明", GUARDIAN_ID, "小学一年级"):
        assert secret not in html, secret
    assert "姓名不一致" not in result
    html = client.post("/lookupview/lookup", data={"name": "李四", "id_number": ID}).get_data(as_text=True)
    assert "姓名不一致" in html


def test_lookup_not_found_offers_registration_to_schools(as_user):
    number = build_id_number("360102", BIRTH, 99)
    html = as_user(OTHER_SCHOOL).post("/lookupview/lookup", data={"name": "王五", "id_number": number}).get_data(as_text=True)
    assert "未查到在籍记录，可以注册" in html and "/studentview/register" in html
    html = as_user(OTHER_SCHOOL).post("/studentview/register", data={"_prefill": "1", "name": "王五", "id_number": number}
                                      ).get_data(as_text=True)
    assert 'value="王五"' in html and f'value="{number}"' in html and "alert-danger" not in html
    html = as_user(OTHER_COUNTY).post("/lookupview/lookup", data={"name": "王五", "id_number": number}).get_data(as_text=True)
    assert "未查到在籍记录，可以注册" in html and "/studentview/register" not in html
    html = as_user(OTHER_COUNTY).post("/lookupview/lookup", data={"name": "王五", "id_number": ""}).get_data(as_text=True)
    assert "请填写身份证件号" in html


@pytest.mark.parametrize("username", ["sheng_viewer"])
def test_lookup_is_for_counties_and_schools(as_user, username):
    assert as_user(username).get("/lookupview/lookup").status_code == 403
