"""Registry REST API (/api/v1/student, /api/v1/request): the same services and the same scoping as
the screens, JWT only. Every refusal is a 4xx with a Chinese message and nothing written; another
county's records answer 404 exactly like ids that do not exist; ID numbers (and G-学籍号) are
masked for roles without full view, and full views are audited."""
import base64
import datetime
import json
import os
import re
import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Request, Student
from app.models.student import Attachment, Guardian
from app.services.identity import build_id_number

D = datetime.date
PDF = b"%PDF-1.4 \xe6\x88\xb7\xe5\x8f\xa3\xe7\xb0\xbf evidence"

OWN_SCHOOL, OWN_COUNTY = "school_3601020001", "county_360102"
OTHER_SCHOOL, OTHER_COUNTY = "school_3601030001", "county_360103"


def cjk(text):
    return any("\u3400" <= ch <= "\u9fff" for ch in text or "")


def id_no(seq, born=D(2019, 3, 7), region="360102"):
    return build_id_number(region, born, seq)


def student_data(seq=1, **over):
    born = D(2019, 3, 7)
    d = {"name": "张小明", "gender": "1", "birth_date": born.isoformat(), "id_type": "1",
         "id_number": id_no(2 * seq + 1, born), "ethnicity": "01", "grade": "11", "class_name": "1班",
         "enrollment_month": "2025-09"}
    d.update(over)
    return d


GUARDIANS = [{"name": "张大明", "relation": "51", "phone": "13900000000",
              "id_type": "1", "id_number": build_id_number("360102", D(1988, 5, 5), 11)}]


def b64(data=PDF):
    return base64.b64encode(data).decode()


def evidence(name="户口簿.pdf", kind="evidence", data=PDF):
    return [{"filename": name, "content_base64": b64(data), "kind": kind}]


def counts(app):
    with app.app_context():
        out = {m.__name__: db.session.scalar(select(func.count()).select_from(m))
               for m in (Student, Guardian, Request, Attachment)}
        db.session.remove()
    return out


def stored_files(app):
    folder = os.path.join(app.config["INSTANCE_DIR"], "attachments")
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


@pytest.fixture
def register(api_token):
    """register(seq, who=…, **fields) -> (response json, status) via the API."""
    def make(seq=1, who=OWN_SCHOOL, guardians=GUARDIANS, attachments=None, **over):
        c, h = api_token(who)
        body = {"data": student_data(seq, **over), "guardians": guardians}
        if attachments is not None:
            body["attachments"] = attachments
        r = c.post("/api/v1/student/register", json=body, headers=h)
        return r
    return make


@pytest.fixture
def enrolled(register, api_token):
    """A student registered by school_3601020001 and approved by county_360102 (via the API)."""
    def make(seq=1, **over):
        r = register(seq, **over)
        assert r.status_code == 201, r.json
        c, h = api_token(OWN_COUNTY)
        a = c.post(f"/api/v1/request/{r.json['request_id']}/approve", json={}, headers=h)
        assert a.status_code == 200, a.json
        return r.json["id"]
    return make


# ---------------------------------------------------------------- 新生注册 → 县级核办

def test_register_via_api_then_county_approves(app, api_token, register):
    before_files = stored_files(app)
    r = register(1, attachments=evidence("出生证明.pdf"))
    assert r.status_code == 201, r.json
    body = r.json
    assert body["result"]["status"] == {"code": "registering", "name": "注册待核办"}
    assert body["request"]["type_label"] == "新生注册" and body["request"]["state"]["code"] == "pending"
    sid, rid = body["id"], body["request_id"]
    assert len(stored_files(app) - before_files) == 1

    county, ch = api_token(OWN_COUNTY)
    inbox = county.get("/api/v1/request/?q=(filters:!((col:state,opr:eq,value:pending)))", headers=ch).json
    assert rid in inbox["ids"]
    row = next(x for x in inbox["result"] if x["id"] == rid)
    assert row["student"]["name"] == "张小明" and "*" in row["student"]["id_number"]  # masked in lists
    shown = county.get(f"/api/v1/request/{rid}", headers=ch).json["result"]
    assert shown["can_decide"] is True and shown["current_unit"]["name"] == "东湖区教育体育局"
    assert [s["decision"]["code"] for s in shown["steps"]] == ["pending"]
    assert {"field": "姓名", "before": "", "after": "张小明"} in shown["changes"]
    assert shown["student"]["id_number"] == student_data(1)["id_number"]  # the approver sees it in full
    assert [a["filename"] for a in shown["attachments"]] == ["出生证明.pdf"]

    a = county.post(f"/api/v1/request/{rid}/approve", json={"comment": "材料齐全", "expected_version": shown["version"]},
                    headers=ch)
    assert a.status_code == 200, a.json
    assert a.json["state"] == {"code": "approved", "name": "已通过"}

    school, sh = api_token(OWN_SCHOOL)
    st = school.get(f"/api/v1/student/{sid}", headers=sh).json["result"]
    assert st["status"] == {"code": "in_school", "name": "在校"}
    assert st["xueji_no"] == "G" + student_data(1)["id_number"]
    assert st["gender"] == {"code": "1", "name": "男"} and st["grade"] == {"code": "11", "name": "小学一年级"}
    assert st["guardians"][0]["relation"] == {"code": "51", "name": "父亲"}
    assert st["school"]["school_code"] == "3601020001"
    with app.app_context():
        att = db.session.scalar(select(Attachment))
        assert att.request_id == rid and att.student_id == sid and att.org_path.endswith("/3601020001/")
        db.session.remove()


def test_registration_without_id_number_needs_proof_as_base64(app, api_token, register):
    no_id = dict(id_type="6", id_number="")  # 港澳居民, no mainland ID number
    r = register(2, **no_id)
    assert r.status_code == 422 and r.json["message"] == "没有身份证件号的学生须上传无身份证号证明"
    r = register(2, attachments=evidence("证明.png", kind="no_id_proof", data=b"\x89PNG\r\n\x1a\n...."), **no_id)
    assert r.status_code == 201, r.json
    c, h = api_token(OWN_COUNTY)
    assert c.post(f"/api/v1/request/{r.json['request_id']}/approve", headers=h).status_code == 200
    st = c.get(f"/api/v1/student/{r.json['id']}", headers=h).json["result"]
    assert st["xueji_no"].startswith("L") and st["status"]["code"] == "in_school"


@pytest.mark.parametrize("over, message", [
    ({"id_number": id_no(3)[:-1] + ("0" if id_no(3)[-1] != "0" else "1")}, "校验位错误"),
    ({"birth_date": (datetime.date.today() + datetime.timedelta(days=30)).isoformat()}, "出生日期不能晚于今天"),
    ({"gender": "2"}, "显示性别为男，与填写的性别（女）不一致"),
    ({"birth_date": "2019-03-08"}, "与填写的出生日期（2019-03-08）不一致"),
    ({"name": ""}, "请填写姓名"),
    ({"ethnicity": "99x"}, "不是有效的代码"),
])
def test_bad_registration_is_refused_in_chinese_and_writes_nothing(app, register, over, message):
    before, files = counts(app), stored_files(app)
    r = register(1, attachments=evidence(), **over)  # the evidence is stored first, then removed again
    assert r.status_code == 422, r.json
    assert message in r.json["message"] and cjk(r.json["message"])
    assert counts(app) == before and stored_files(app) == files


@pytest.mark.parametrize("body, message", [
    ({"data": "x", "guardians": GUARDIANS}, "data 应为学籍字段对象"),
    ({"data": student_data(), "guardians": "张大明"}, "guardians 应为监护人列表"),
    ({"data": student_data(), "guardians": GUARDIANS,
      "attachments": [{"filename": "a.pdf", "content_base64": "不是base64!!"}]}, "不是有效的 Base64 编码"),
    ({"data": student_data(), "guardians": GUARDIANS,
      "attachments": [{"filename": "a.pdf", "content_base64": b64(), "kind": "selfie"}]}, "类型“selfie”无效"),
    ({"data": student_data(), "guardians": GUARDIANS,
      "attachments": [{"filename": "a.exe", "content_base64": b64()}]}, "只能是 PDF、JPG 或 PNG"),
    ({"data": student_data(), "guardians": GUARDIANS,
      "attachments": [{"filename": "a.png", "content_base64": b64()}]}, "内容与文件类型不符"),
    ({"data": student_data(), "guardians": []}, "请至少填写一位监护人"),
])
def test_malformed_registration_bodies(app, api_token, body, message):
    before, files = counts(app), stored_files(app)
    c, h = api_token(OWN_SCHOOL)
    r = c.post("/api/v1/student/register", json=body, headers=h)
    assert r.status_code in (400, 422) and message in r.json["message"], r.json
    assert counts(app) == before and stored_files(app) == files


def test_not_json_is_a_chinese_400(api_token):
    c, h = api_token(OWN_SCHOOL)
    r = c.post("/api/v1/student/register", data="not json", headers=h)
    assert r.status_code == 400 and r.json["message"] == "请求内容应为 JSON 对象"
    r = c.get("/api/v1/student/?q=(filters:!((col:id_number,opr:sw,value:3601)))", headers=h)
    assert r.status_code == 400 and cjk(r.json["message"])


def test_second_registration_names_only_county_and_school(app, api_token, enrolled, register):
    sid = enrolled(1)
    before = counts(app)
    r = register(1, who=OTHER_SCHOOL, name="李四")  # the same ID number at a school of another county
    assert r.status_code == 422
    msg = r.json["message"]
    assert "东湖区教育体育局" in msg and "东湖第一小学" in msg and "一人一籍" in msg
    assert "张小明" not in msg and "G" + student_data(1)["id_number"] not in msg and str(sid) not in msg
    assert counts(app) == before
    # …and the lookup reveals exactly as much
    c, h = api_token(OTHER_SCHOOL)
    found = c.post("/api/v1/student/lookup", json={"name": "张小明", "id_number": student_data(1)["id_number"]},
                   headers=h).json
    assert found["found"] is True and found["county"] == "东湖区教育体育局" and found["school"] == "东湖第一小学"
    assert found["name_matches"] is True
    assert set(found) == {"found", "county", "school", "name_matches", "status", "message"}
    missing = c.post("/api/v1/student/lookup", json={"id_number": id_no(99)}, headers=h).json
    assert missing["found"] is False
    assert c.post("/api/v1/student/lookup", json={"id_number": ""}, headers=h).status_code == 422
    # Like the 全省学籍查询 screen, the lookup is for schools and counties, not the upper levels.
    for who in ("county_360103", "city_360100", "sheng_viewer"):
        c2, h2 = api_token(who)
        r = c2.post("/api/v1/student/lookup", json={"id_number": id_no(99)}, headers=h2)
        assert r.status_code == (200 if who.startswith("county") else 403), who


# ---------------------------------------------------------------- decisions

def test_reject_needs_a_reason(app, api_token, register):
    rid = register(1).json["request_id"]
    c, h = api_token(OWN_COUNTY)
    for body in ({}, {"comment": "   "}):
        r = c.post(f"/api/v1/request/{rid}/reject", json=body, headers=h)
        assert r.status_code == 422 and r.json["message"] == "驳回须填写理由"
    assert c.get(f"/api/v1/request/{rid}", headers=h).json["result"]["state"]["code"] == "pending"
    r = c.post(f"/api/v1/request/{rid}/reject", json={"comment": "出生地填写有误"}, headers=h)
    assert r.status_code == 200 and r.json["state"]["name"] == "已驳回"
    shown = c.get(f"/api/v1/request/{rid}", headers=h).json["result"]
    assert shown["outcome"] == "出生地填写有误" and shown["steps"][0]["comment"] == "出生地填写有误"


def test_second_approve_is_refused_and_takes_effect_once(app, api_token, register):
    r = register(1)
    sid, rid = r.json["id"], r.json["request_id"]
    c, h = api_token(OWN_COUNTY)
    assert c.post(f"/api/v1/request/{rid}/approve", json={}, headers=h).status_code == 200
    with app.app_context():
        history = db.session.scalar(select(func.count()).select_from(Student).join(Student.history)
                                    .where(Student.id == sid))
        db.session.remove()
    again = c.post(f"/api/v1/request/{rid}/approve", json={}, headers=h)
    assert again.status_code == 422 and again.json["message"] == "该申请已通过，不能重复处理"
    also = c.post(f"/api/v1/request/{rid}/reject", json={"comment": "晚了"}, headers=h)
    assert also.status_code == 422 and "不能重复处理" in also.json["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Student).join(Student.history)
                                 .where(Student.id == sid)) == history
        assert db.session.get(Request, rid).version == 2
        db.session.remove()


def test_two_officers_approving_at_once_take_effect_once(app, api_token, register):
    r = register(1)
    sid, rid = r.json["id"], r.json["request_id"]
    clients = [api_token(OWN_COUNTY) for _ in range(2)]
    barrier, outcomes = threading.Barrier(2), []

    def click(c, h):
        barrier.wait()
        resp = c.post(f"/api/v1/request/{rid}/approve", json={"expected_version": 1}, headers=h)
        outcomes.append((resp.status_code, resp.json["message"]))

    threads = [threading.Thread(target=click, args=ch) for ch in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(code for code, _ in outcomes)
    assert codes == [200, 422], outcomes
    loser = next(m for code, m in outcomes if code == 422)
    assert "已被他人处理" in loser or "不能重复处理" in loser
    with app.app_context():
        s = db.session.get(Student, sid)
        assert s.status.value == "in_school" and [h.status for h in s.history].count("in_school") == 1
        db.session.remove()


def test_stale_versions_are_refused(app, api_token, register, enrolled):
    # two officers read the same request; the second decision is refused
    rid = register(2).json["request_id"]
    c, h = api_token(OWN_COUNTY)
    seen = c.get(f"/api/v1/request/{rid}", headers=h).json["result"]["version"]
    assert c.post(f"/api/v1/request/{rid}/approve", json={"expected_version": seen}, headers=h).status_code == 200
    late = c.post(f"/api/v1/request/{rid}/approve", json={"expected_version": seen}, headers=h)
    assert late.status_code == 422 and "已被他人处理" in late.json["message"]

    sid = enrolled(1)
    s, sh = api_token(OWN_SCHOOL)
    version = s.get(f"/api/v1/student/{sid}", headers=sh).json["result"]["version"]
    ok = s.put(f"/api/v1/student/{sid}", json={"class_name": "2班", "expected_version": version}, headers=sh)
    assert ok.status_code == 200 and ok.json["version"] == version + 1
    stale = s.put(f"/api/v1/student/{sid}", json={"class_name": "3班", "expected_version": version}, headers=sh)
    assert stale.status_code == 422 and stale.json["message"] == "该学生信息已被他人修改，请刷新页面后重新编辑"
    before = counts(app)
    r = s.post(f"/api/v1/student/{sid}/key-change", headers=sh, json={
        "changes": {"name": "张晓明"}, "reason": "户口簿更名", "attachments": evidence(), "expected_version": version})
    assert r.status_code == 422 and "已被他人修改" in r.json["message"]
    assert counts(app) == before
    assert s.get(f"/api/v1/student/{sid}", headers=sh).json["result"]["class_name"] == "2班"
    bad = s.put(f"/api/v1/student/{sid}", json={"class_name": "3班", "expected_version": "abc"}, headers=sh)
    assert bad.status_code == 400 and bad.json["message"] == "expected_version 应为整数"


def test_school_and_city_cannot_approve(app, api_token, register):
    rid = register(1).json["request_id"]
    s, sh = api_token(OWN_SCHOOL)
    r = s.post(f"/api/v1/request/{rid}/approve", json={}, headers=sh)
    assert r.status_code == 403 and "东湖区教育体育局" in r.json["message"] and "无权处理" in r.json["message"]
    assert s.get(f"/api/v1/request/{rid}", headers=sh).json["result"]["can_decide"] is False
    c, ch = api_token("city_360100")
    r = c.post(f"/api/v1/request/{rid}/approve", json={}, headers=ch)
    assert r.status_code == 403 and cjk(r.json["message"])
    v, vh = api_token("sheng_viewer")
    assert v.post(f"/api/v1/request/{rid}/approve", json={}, headers=vh).status_code == 403
    county, kh = api_token(OWN_COUNTY)
    assert county.get(f"/api/v1/request/{rid}", headers=kh).json["result"]["state"]["code"] == "pending"


def test_county_cannot_write_students(app, api_token, enrolled):
    sid = enrolled(1)
    c, h = api_token(OWN_COUNTY)
    for method, url, body in [("put", f"/api/v1/student/{sid}", {"class_name": "2班"}),
                              ("post", f"/api/v1/student/{sid}/deletion", {"reason": "误录"}),
                              ("post", "/api/v1/student/register", {"data": student_data(5), "guardians": GUARDIANS})]:
        r = getattr(c, method)(url, json=body, headers=h)
        assert r.status_code == 403 and r.json["message"] == "您没有权限执行此操作"


def test_bulk_approve_touches_only_the_actors_own_requests(app, api_token, register):
    own = [register(i).json["request_id"] for i in (1, 2)]
    other = register(3, who=OTHER_SCHOOL, id_number=id_no(7, region="360103")).json["request_id"]
    c, h = api_token(OWN_COUNTY)
    r = c.post("/api/v1/request/bulk-approve", json={"ids": own + [other, 987654]}, headers=h)
    assert r.status_code == 200
    assert r.json["approved"] == own
    failed = {f["id"]: f["message"] for f in r.json["failed"]}
    assert failed == {other: "记录不存在或不在您的管辖范围内", 987654: "记录不存在或不在您的管辖范围内"}
    o, oh = api_token(OTHER_COUNTY)
    assert o.get(f"/api/v1/request/{other}", headers=oh).json["result"]["state"]["code"] == "pending"
    assert c.post("/api/v1/request/bulk-approve", json={"ids": []}, headers=h).status_code == 400
    assert c.post("/api/v1/request/bulk-approve", json={"ids": ["x"]}, headers=h).status_code == 400


def test_school_cancels_its_pending_registration(app, api_token, register):
    r = register(1)
    sid, rid = r.json["id"], r.json["request_id"]
    o, oh = api_token(OTHER_SCHOOL)
    assert o.post(f"/api/v1/request/{rid}/cancel", json={}, headers=oh).status_code == 404
    s, sh = api_token(OWN_SCHOOL)
    c = s.post(f"/api/v1/request/{rid}/cancel", json={"reason": "重复录入"}, headers=sh)
    assert c.status_code == 200 and c.json["state"]["name"] == "已撤销"
    assert s.get(f"/api/v1/student/{sid}", headers=sh).json["result"]["status"]["code"] == "deleted"
    again = s.post(f"/api/v1/request/{rid}/cancel", json={}, headers=sh)
    assert again.status_code == 422 and "不能撤销" in again.json["message"]


# ---------------------------------------------------------------- key data, deletion, edits

def test_key_change_and_deletion_via_api(app, api_token, enrolled):
    sid = enrolled(1)
    s, sh = api_token(OWN_SCHOOL)
    url = f"/api/v1/student/{sid}/key-change"
    r = s.post(url, json={"changes": {"name": "张晓明"}, "reason": "户口簿更名"}, headers=sh)
    assert r.status_code == 422 and "证明材料" in r.json["message"]
    r = s.post(url, json={"changes": {"name": "张晓明"}, "reason": "", "attachments": evidence()}, headers=sh)
    assert r.status_code == 422 and r.json["message"] == "请填写变更原因"
    r = s.post(url, json={"changes": {"name": "张晓明"}, "reason": "户口簿更名", "attachments": evidence()}, headers=sh)
    assert r.status_code == 201, r.json
    rid = r.json["request_id"]
    # locked while open
    d = s.post(f"/api/v1/student/{sid}/deletion", json={"reason": "误录"}, headers=sh)
    assert d.status_code == 422 and "尚未办结" in d.json["message"]

    c, ch = api_token(OWN_COUNTY)
    shown = c.get(f"/api/v1/request/{rid}", headers=ch).json["result"]
    assert shown["type_label"] == "关键数据变更"
    assert shown["changes"] == [{"field": "姓名", "before": "张小明", "after": "张晓明"}]
    assert [a["kind_label"] for a in shown["attachments"]] == ["证明材料"]
    assert c.post(f"/api/v1/request/{rid}/approve", json={}, headers=ch).status_code == 200
    st = s.get(f"/api/v1/student/{sid}", headers=sh).json["result"]
    assert st["name"] == "张晓明" and st["name_initials"] == "zxm"

    r = s.post(f"/api/v1/student/{sid}/deletion", json={"reason": ""}, headers=sh)
    assert r.status_code == 422 and r.json["message"] == "请填写删除原因"
    r = s.post(f"/api/v1/student/{sid}/deletion", json={"reason": "重复建籍"}, headers=sh)
    assert r.status_code == 201
    assert c.post(f"/api/v1/request/{r.json['request_id']}/approve", json={}, headers=ch).status_code == 200
    st = s.get(f"/api/v1/student/{sid}", headers=sh).json["result"]
    assert st["status"]["code"] == "deleted" and st["xueji_no"] is None
    assert st["former_xueji_no"] == "G" + student_data(1)["id_number"]


def test_edit_non_key_fields_only(app, api_token, enrolled):
    sid = enrolled(1)
    s, sh = api_token(OWN_SCHOOL)
    r = s.put(f"/api/v1/student/{sid}", json={"class_name": "3班", "commute_distance": "2.5", "grade": "12"}, headers=sh)
    assert r.status_code == 200, r.json
    st = s.get(f"/api/v1/student/{sid}", headers=sh).json["result"]
    assert st["class_name"] == "3班" and st["commute_distance"] == 2.5 and st["grade"]["name"] == "小学二年级"
    r = s.put(f"/api/v1/student/{sid}", json={"name": "王五"}, headers=sh)
    assert r.status_code == 422 and "关键数据" in r.json["message"]
    r = s.put(f"/api/v1/student/{sid}", json={"status": "graduated", "xueji_no": "G1"}, headers=sh)
    assert r.status_code == 400 and "status" in r.json["message"] and cjk(r.json["message"])
    r = s.put(f"/api/v1/student/{sid}", json={"commute_distance": "1.25"}, headers=sh)
    assert r.status_code == 422 and r.json["message"] == "上下学距离最多保留一位小数"
    assert s.get(f"/api/v1/student/{sid}", headers=sh).json["result"]["commute_distance"] == 2.5


# ---------------------------------------------------------------- scoping from outside

@pytest.mark.parametrize("outsider", [OTHER_COUNTY, OTHER_SCHOOL])
def test_another_countys_records_answer_404(app, api_token, enrolled, register, outsider):
    sid = enrolled(1)
    rid = register(2).json["request_id"]  # a pending request of 东湖区
    before, files = counts(app), stored_files(app)
    c, h = api_token(outsider)
    missing_sid, missing_rid = 999999, 999999
    for pk_student, pk_request in ((sid, rid), (missing_sid, missing_rid)):
        calls = [
            c.get(f"/api/v1/student/{pk_student}", headers=h),
            c.put(f"/api/v1/student/{pk_student}", json={"class_name": "被篡改"}, headers=h),
            c.post(f"/api/v1/student/{pk_student}/key-change", headers=h,
                   json={"changes": {"name": "被篡改"}, "reason": "x", "attachments": evidence()}),
            c.post(f"/api/v1/student/{pk_student}/deletion", json={"reason": "x"}, headers=h),
            c.get(f"/api/v1/request/{pk_request}", headers=h),
            c.post(f"/api/v1/request/{pk_request}/approve", json={}, headers=h),
            c.post(f"/api/v1/request/{pk_request}/reject", json={"comment": "x"}, headers=h),
            c.post(f"/api/v1/request/{pk_request}/cancel", json={"reason": "x"}, headers=h),
        ]
        # out of scope reads exactly like "does not exist"
        assert [r.status_code for r in calls] == [404] * len(calls)
        assert {r.json["message"] for r in calls} == {"记录不存在或不在您的管辖范围内"}
    assert counts(app) == before and stored_files(app) == files
    students = c.get("/api/v1/student/?q=(page_size:100)", headers=h).json
    assert sid not in students["ids"] and students["count"] == 0
    by_name = c.get("/api/v1/student/?q=(filters:!((col:name,opr:ct,value:张)))", headers=h).json
    assert by_name["count"] == 0
    reqs = c.get("/api/v1/request/?q=(page_size:100)", headers=h).json
    assert rid not in reqs["ids"]


def test_list_and_show_are_scoped_for_the_owners(app, api_token, enrolled, register):
    own = enrolled(1)
    other = register(3, who=OTHER_SCHOOL, id_number=id_no(7, region="360103")).json["id"]
    for who, sees, hidden in ((OWN_SCHOOL, own, other), (OWN_COUNTY, own, other), ("city_360100", own, None)):
        c, h = api_token(who)
        ids = c.get("/api/v1/student/?q=(page_size:100)", headers=h).json["ids"]
        assert sees in ids and (hidden is None or hidden not in ids)
    c, h = api_token("city_360100")  # 南昌 holds both 东湖区 and 西湖区
    assert set(c.get("/api/v1/student/?q=(page_size:100)", headers=h).json["ids"]) == {own, other}
    c, h = api_token("county_360402")  # 濂溪区 (九江) sees neither
    assert c.get("/api/v1/student/?q=(page_size:100)", headers=h).json["count"] == 0


# ---------------------------------------------------------------- privacy

def _full_views(app, sid):
    with app.app_context():
        rows = db.session.execute(select(AuditLog.actor_name, AuditLog.reason).where(
            AuditLog.entity == "student", AuditLog.entity_id == str(sid), AuditLog.action == "view")).all()
        db.session.remove()
    return rows


@pytest.mark.parametrize("who", ["city_360100", "sheng_admin", "sheng_viewer"])
def test_id_numbers_are_masked_above_the_county(app, api_token, enrolled, who):
    sid = enrolled(1)
    number = student_data(1)["id_number"]
    c, h = api_token(who)
    row = next(x for x in c.get("/api/v1/student/", headers=h).json["result"] if x["id"] == sid)
    shown = c.get(f"/api/v1/student/{sid}", headers=h).json["result"]
    for rec in (row, shown):
        assert rec["id_number"] == number[:6] + "********" + number[-4:]
        assert rec["xueji_no"] == "G" + number[:6] + "********" + number[-4:]  # the G-number carries the ID
    assert shown["guardians"][0]["id_number"].count("*") == 8
    # asking for the column alone does not bypass the masking
    sel = c.get("/api/v1/student/?q=(columns:!(id_number,xueji_no))", headers=h).json["result"]
    assert all("*" in x["id_number"] for x in sel)
    one = c.get(f"/api/v1/student/{sid}?q=(columns:!(id_number))", headers=h).json["result"]
    assert "*" in one["id_number"]
    # nor does searching by prefix: numbers are matched exactly only
    assert c.get("/api/v1/student/?q=(filters:!((col:id_number,opr:sw,value:3601)))", headers=h).status_code == 400
    assert c.get("/api/v1/student/?q=(filters:!((col:xueji_no,opr:ct,value:2019)))", headers=h).status_code == 400
    assert [a for a, _ in _full_views(app, sid) if a == who] == []  # nothing shown in full, nothing to audit


def test_full_views_are_audited(app, api_token, enrolled):
    sid = enrolled(1)
    number = student_data(1)["id_number"]
    before = len(_full_views(app, sid))
    for who in (OWN_SCHOOL, OWN_COUNTY):
        c, h = api_token(who)
        assert c.get(f"/api/v1/student/{sid}", headers=h).json["result"]["id_number"] == number
        row = c.get("/api/v1/student/", headers=h).json["result"][0]
        assert row["id_number"] == number
    views = _full_views(app, sid)[before:]
    assert sorted(views) == sorted([(OWN_SCHOOL, "接口：查看学生学籍"), (OWN_SCHOOL, "接口：学生学籍列表"),
                                    (OWN_COUNTY, "接口：查看学生学籍"), (OWN_COUNTY, "接口：学生学籍列表")])


def test_request_details_mask_for_readers_without_full_view(app, api_token, enrolled):
    sid = enrolled(1)
    s, sh = api_token(OWN_SCHOOL)
    new_number = id_no(41)
    r = s.post(f"/api/v1/student/{sid}/key-change", headers=sh, json={
        "changes": {"id_number": new_number}, "reason": "身份证号登记错误", "attachments": evidence()})
    assert r.status_code == 201, r.json
    rid = r.json["request_id"]
    city, ch = api_token("city_360100")
    shown = city.get(f"/api/v1/request/{rid}", headers=ch).json["result"]
    row = next(x for x in shown["changes"] if x["field"] == "身份证件号")
    assert row["after"] == new_number[:6] + "********" + new_number[-4:] and "*" in row["before"]
    assert "*" in shown["student"]["id_number"] and "*" in shown["student"]["xueji_no"]
    county, kh = api_token(OWN_COUNTY)
    shown = county.get(f"/api/v1/request/{rid}", headers=kh).json["result"]
    assert next(x for x in shown["changes"] if x["field"] == "身份证件号")["after"] == new_number
    assert (OWN_COUNTY, f"接口：查看申请 {rid}") in _full_views(app, sid)


# ---------------------------------------------------------------- search, auth, OpenAPI

def test_search_filters(app, api_token, enrolled, register):
    a = enrolled(1)
    b = register(2, name="李小红", gender="2", id_number=id_no(4), class_name="2班").json["id"]
    c, h = api_token(OWN_COUNTY)

    def ids(flt):
        r = c.get(f"/api/v1/student/?q=(filters:!({flt}))", headers=h)
        assert r.status_code == 200, r.json
        return set(r.json["ids"])

    assert ids("(col:name,opr:ct,value:小红)") == {b}
    assert ids("(col:name_initials,opr:eq,value:zxm)") == {a}
    assert ids(f"(col:id_number,opr:eq,value:'{id_no(4)}')") == {b}
    assert ids(f"(col:xueji_no,opr:eq,value:G{student_data(1)['id_number']})") == {a}
    assert ids("(col:status,opr:eq,value:in_school)") == {a}
    assert ids("(col:status,opr:eq,value:registering)") == {b}
    assert ids("(col:class_name,opr:eq,value:'2班')") == {b}
    assert ids("(col:grade,opr:eq,value:'11')") == {a, b}
    with app.app_context():
        from tests.conftest import unit
        school_id = unit(db.session, "3601020001").id
        db.session.remove()
    assert ids(f"(col:school,opr:rel_o_m,value:{school_id})") == {a, b}
    info = c.get("/api/v1/student/_info", headers=h).json
    assert {f["operator"] for f in info["filters"]["id_number"]} == {"eq", "in"}
    assert set(info["filters"]) >= {"name", "name_initials", "id_number", "xueji_no", "school", "grade",
                                    "class_name", "status"}
    # no write rights for a county: reading, searching and the province-wide lookup
    assert sorted(info["permissions"]) == ["can_get", "can_info", "can_lookup"]


def test_requires_a_token(client):
    assert client.get("/api/v1/student/").status_code == 401
    assert client.post("/api/v1/request/1/approve", json={}).status_code == 401


def test_openapi_spec_renders_with_the_registry_paths(api_token):
    c, h = api_token("admin")
    r = c.get("/api/v1/_openapi", headers=h)
    assert r.status_code == 200
    paths = r.json["paths"]
    for p in ("/api/v1/student/", "/api/v1/student/{pk}", "/api/v1/student/register", "/api/v1/student/{pk}/key-change",
              "/api/v1/student/{pk}/deletion", "/api/v1/student/lookup", "/api/v1/request/{pk}/approve",
              "/api/v1/request/{pk}/reject", "/api/v1/request/{pk}/cancel", "/api/v1/request/bulk-approve"):
        assert p in paths, p
    assert set(paths["/api/v1/student/{pk}"]) == {"get", "put"}
    assert "post" not in paths["/api/v1/student/"] and "delete" not in paths["/api/v1/student/{pk}"]
    assert "StudentRegisterBody" in r.json["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": "#/components/(\w+)/([^"]+)"', json.dumps(r.json)))
    assert [ref for ref in refs if ref[1] not in r.json["components"][ref[0]]] == []  # every $ref resolves


def test_token_errors_are_chinese_on_every_api(client):
    for url in ("/api/v1/student/", "/api/v1/request/", "/api/v1/org_unit/", "/api/v1/audit_log/"):
        r = client.get(url)
        assert r.status_code == 401 and r.json["message"] == "请先登录（缺少或无效的访问令牌）", url
        r = client.get(url, headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 422 and "访问令牌无效" in r.json["message"], url
