"""学籍异动 REST API (/api/v1/transfer, /api/v1/movement, /api/v1/calendar, /api/v1/process-setting):
the services of transfers, status changes, calendars and route settings behind JWT, with the
registry API's rules — Chinese 4xx answers with nothing written, out-of-scope ids answering 404
before any permission check, decisions through /api/v1/request, 籍随人走 visible in the history."""
import base64
import datetime
import json
import os
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Request, Student
from app.models.process import DepartureTrace
from app.models.student import Attachment
from app.services.identity import build_id_number
from tests.integration.test_registry_services import GUARDIANS, data, enrolled

D = datetime.date
TODAY = datetime.date.today()
PDF = b"%PDF-1.4 movement evidence"

DONGHU, XIHU, LIANXI = "school_3601020001", "school_3601030001", "school_3604020001"
DONGHU_COUNTY, XIHU_COUNTY, LIANXI_COUNTY = "county_360102", "county_360103", "county_360402"
NANCHANG, PROVINCE = "city_360100", "sheng_admin"
NOT_FOUND = "记录不存在或不在您的管辖范围内"


def cjk(text):
    return any("\u3400" <= ch <= "\u9fff" for ch in text or "")


def b64(content=PDF):
    return base64.b64encode(content).decode()


def files(name="证明.pdf", kind=None):
    item = {"filename": name, "content_base64": b64()}
    if kind:
        item["kind"] = kind
    return [item]


def stored_files(app):
    folder = os.path.join(app.config["INSTANCE_DIR"], "attachments")
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


def counts(app):
    with app.app_context():
        out = {m.__name__: db.session.scalar(select(func.count()).select_from(m))
               for m in (Student, Request, Attachment, DepartureTrace)}
        db.session.remove()
    return out


@pytest.fixture
def student(app):
    """student(seq=1, who=DONGHU, **fields) -> id of an 在校 student (registered and approved)."""
    def make(seq=1, who=DONGHU, **over):
        with app.app_context():
            s = enrolled(who, seq=seq, **over)
            sid = s.id
            db.session.remove()
        return sid
    return make


@pytest.fixture
def call(api_token):
    """call(who, method, url, json=None) -> response, with a token per account kept for the test."""
    clients = {}

    def make(who, method, url, json=None):
        if who not in clients:
            clients[who] = api_token(who)
        c, h = clients[who]
        return getattr(c, method)(url, json=json, headers=h)
    return make


def version_of(call, sid, who=DONGHU):
    r = call(who, "get", f"/api/v1/student/{sid}")
    assert r.status_code == 200, r.json
    return r.json["result"]["version"]


def decide(call, who, rid, action="approve", comment=None, expected_version=None):
    body = {}
    if comment:
        body["comment"] = comment
    if expected_version is not None:
        body["expected_version"] = expected_version
    return call(who, "post", f"/api/v1/request/{rid}/{action}", body)


def transfer_out(call, sid, to="3601030001", who=DONGHU, **over):
    body = {"to_school_code": to, "grade": "11", "class_name": "2班", "reason_code": "03"}
    body.update(over)
    return call(who, "post", f"/api/v1/movement/{sid}/transfer-out", body)


# ---------------------------------------------------------------- 跨县转学：发起、按序审批、籍随人走

def test_cross_county_transfer_by_api_moves_the_record_with_its_history(app, call, student):
    sid = student(1)
    found = call(DONGHU, "get", "/api/v1/transfer/schools?q=西湖第一").json
    school = next(s for s in found["result"] if s["code"] == "3601030001")
    assert school["name"] == "西湖第一小学" and school["county"] == "西湖区教育体育局" and school["city"] == "南昌市教育局"
    assert call(DONGHU, "get", "/api/v1/transfer/schools?q=3604").json["count"] == 2  # codes, province-wide

    r = transfer_out(call, sid, expected_version=version_of(call, sid))
    assert r.status_code == 201, r.json
    assert r.json["message"] == "转出申请已提交，等待西湖第一小学确认"
    assert r.json["request"]["type_label"] == "转学（转出申请）" and r.json["request"]["state"]["code"] == "pending"
    rid = r.json["request_id"]

    shown = call(DONGHU_COUNTY, "get", f"/api/v1/request/{rid}").json["result"]
    assert [(s["org_unit"]["name"], s["role"]["name"], s["party"]["name"]) for s in shown["steps"]] == [
        ("西湖第一小学", "学校确认", "转入方"), ("东湖区教育体育局", "审批", "转出方"), ("西湖区教育体育局", "审批", "转入方")]
    assert {"field": "转入学校", "before": "", "after": "西湖第一小学"} in shown["changes"]

    # out of order: the receiving county sees the request but it is not its turn
    early = decide(call, XIHU_COUNTY, rid)
    assert early.status_code == 403 and early.json["message"] == "该申请当前由“西湖第一小学”核办，您无权处理"
    # the sending school cannot give the other school's confirmation
    assert decide(call, DONGHU, rid).status_code == 403

    for who, message in ((XIHU, "已同意，转下一级核办"), (DONGHU_COUNTY, "已同意，转下一级核办"),
                         (XIHU_COUNTY, "审批通过")):
        a = decide(call, who, rid, comment="同意")
        assert a.status_code == 200, (who, a.json)
        assert a.json["message"] == message

    # 籍随人走: the record now belongs to the new school; the old one no longer sees it
    gone = call(DONGHU, "get", f"/api/v1/student/{sid}")
    assert gone.status_code == 404 and gone.json["message"] == NOT_FOUND
    assert call(DONGHU, "get", f"/api/v1/movement/{sid}/history").status_code == 404
    now = call(XIHU, "get", f"/api/v1/student/{sid}").json["result"]
    assert now["school"]["school_code"] == "3601030001" and now["class_name"] == "2班"
    assert now["status"]["code"] == "in_school"

    h = call(XIHU, "get", f"/api/v1/movement/{sid}/history")
    assert h.status_code == 200, h.json
    hist = h.json
    assert hist["student"]["id_number"] == data(1)["id_number"]  # the school registrar sees it in full
    assert [s["school"]["name"] for s in hist["spans"]] == ["东湖第一小学", "东湖第一小学", "西湖第一小学"]
    assert [s["status"]["name"] for s in hist["spans"]] == ["注册待核办", "在校", "在校"]
    assert hist["spans"][-1]["reason"] == "转学：由东湖第一小学转入西湖第一小学" and hist["spans"][-1]["valid_to"] is None
    transfer = hist["requests"][0]
    assert transfer["id"] == rid and transfer["type_label"] == "转学（转出申请）" and transfer["state"]["name"] == "已通过"
    assert [s["decision"]["name"] for s in transfer["steps"]] == ["同意", "同意", "同意"]
    assert [s["role"]["code"] for s in transfer["steps"]] == ["confirm", "approve", "approve"]
    assert hist["requests"][1]["type_label"] == "新生注册"  # what happened before the transfer comes along

    # above the county the ID number is masked, in the history too
    masked = call(NANCHANG, "get", f"/api/v1/movement/{sid}/history").json["student"]
    assert masked["id_number"] != data(1)["id_number"] and "*" in masked["id_number"]
    assert masked["xueji_no"].startswith("G") and "*" in masked["xueji_no"]

    # the former school keeps a trace, not the record
    trace = call(DONGHU, "get", "/api/v1/transfer/departures").json
    assert trace["count"] == 1
    row = trace["result"][0]
    assert row["student_name"] == "张小明" and row["grade"] == {"code": "11", "name": "小学一年级"}
    assert row["to_name"].endswith(" 西湖第一小学") and row["from_school"]["name"] == "东湖第一小学"
    assert row["personal_id"] and row["left_at"] and row["request_id"] == rid
    assert call(DONGHU_COUNTY, "get", "/api/v1/transfer/departures").json["count"] == 1  # county reads it too
    assert call(XIHU, "get", "/api/v1/transfer/departures").json["count"] == 0


def test_transfer_in_by_the_receiving_school_and_a_double_approval(app, call, student):
    sid = student(1)
    r = call(XIHU, "post", "/api/v1/transfer/in", {"name": "张小明", "number": data(1)["id_number"], "grade": "11",
                                                   "class_name": "3班", "reason_code": "01", "attachments": files()})
    assert r.status_code == 201, r.json
    assert r.json["message"] == "转入申请已提交，等待东湖第一小学确认"
    rid = r.json["request_id"]
    shown = call(DONGHU, "get", f"/api/v1/request/{rid}").json["result"]
    assert shown["can_decide"] is True and shown["steps"][0]["party"]["code"] == "out"

    first = decide(call, DONGHU, rid, expected_version=shown["version"])
    assert first.status_code == 200, first.json
    before = call(DONGHU_COUNTY, "get", f"/api/v1/request/{rid}").json["result"]
    again = decide(call, DONGHU, rid, expected_version=shown["version"])  # the same, stale screen
    assert again.status_code in (409, 422) and cjk(again.json["message"])
    assert "已被他人处理" in again.json["message"]
    after = call(DONGHU_COUNTY, "get", f"/api/v1/request/{rid}").json["result"]
    assert after["version"] == before["version"] and after["current_step"] == before["current_step"] == 2
    assert [s["decision"]["code"] for s in after["steps"]] == ["approved", "pending", "waiting"]

    # the wrong name tells nothing more than the province-wide lookup does
    wrong = call(XIHU, "post", "/api/v1/transfer/in", {"name": "李四", "number": data(1)["id_number"],
                                                        "reason_code": "01"})
    assert wrong.status_code == 422 and wrong.json["field"] == "number" and "外省学生请办理跨省转入" in wrong.json["message"]


def test_transfer_to_the_own_school_is_refused_and_writes_nothing(app, call, student):
    sid = student(1)
    before, on_disk = counts(app), stored_files(app)
    r = transfer_out(call, sid, to="3601020001", attachments=files())
    assert r.status_code == 422 and r.json["field"] == "to_school"
    assert r.json["message"] == "转入学校与学生当前所在学校相同，不需要转学；调整年级或班级请编辑学籍信息"
    unknown = transfer_out(call, sid, to="9999999999")
    assert unknown.status_code == 422 and unknown.json["message"] == "找不到该学校标识码对应的本省学校"
    no_reason = transfer_out(call, sid, reason_code="")
    assert no_reason.status_code == 422 and no_reason.json == {"message": "请选择转学原因", "field": "reason_code"}
    junior = transfer_out(call, sid, to="3601030002")  # a junior school does not teach grade 1
    assert junior.status_code == 422 and "不招收小学一年级学生" in junior.json["message"]
    stale = transfer_out(call, sid, expected_version=99)
    assert stale.status_code == 422 and "已被他人修改" in stale.json["message"]
    assert counts(app) == before and stored_files(app) == on_disk


def test_reject_against_the_other_sides_yes_goes_to_arbitration(app, call, student):
    sid = student(1)
    rid = transfer_out(call, sid).json["request_id"]
    for who in (XIHU, DONGHU_COUNTY):
        assert decide(call, who, rid).status_code == 200
    no_reason = decide(call, XIHU_COUNTY, rid, "reject")
    assert no_reason.status_code == 422 and no_reason.json == {"message": "驳回须填写理由", "field": "comment"}
    r = decide(call, XIHU_COUNTY, rid, "reject", comment="学位已满")
    assert r.status_code == 200, r.json
    assert r.json["message"] == "双方意见不一致，已提交南昌市教育局仲裁"
    assert r.json["state"]["code"] == "pending"
    shown = call(NANCHANG, "get", f"/api/v1/request/{rid}").json["result"]
    assert shown["current_unit"]["name"] == "南昌市教育局" and shown["can_decide"] is True
    assert [(s["role"]["code"], s["decision"]["code"]) for s in shown["steps"]] == [
        ("confirm", "approved"), ("approve", "approved"), ("approve", "rejected"), ("arbitrate", "pending")]
    assert shown["steps"][3]["party"] is None
    need = decide(call, NANCHANG, rid)
    assert need.status_code == 422 and need.json["message"] == "仲裁须填写裁决理由"
    done = decide(call, NANCHANG, rid, comment="符合就近入学条件，准予转学")
    assert done.status_code == 200 and done.json["message"] == "审批通过"
    assert call(XIHU, "get", f"/api/v1/student/{sid}").status_code == 200

    # a plain "no" without the other side's "yes" stays a rejection
    sid2 = student(2)
    rid2 = call(LIANXI, "post", "/api/v1/transfer/in", {"name": "张小明", "number": data(2)["id_number"],
                                                         "reason_code": "02"}).json["request_id"]
    assert decide(call, DONGHU, rid2).status_code == 200  # the school lets the student go
    plain = decide(call, DONGHU_COUNTY, rid2, "reject", comment="材料不全")
    assert plain.status_code == 200 and plain.json["message"] == "已驳回" and plain.json["state"]["code"] == "rejected"


# ---------------------------------------------------------------- scoping

@pytest.mark.parametrize("outsider", [XIHU_COUNTY, XIHU, LIANXI_COUNTY])
def test_another_countys_student_answers_404_on_every_movement_endpoint(app, call, student, outsider):
    sid = student(1)
    before, on_disk = counts(app), stored_files(app)
    for pk in (sid, 999999):
        calls = [
            call(outsider, "post", f"/api/v1/movement/{pk}/transfer-out",
                 {"to_school_code": "3601030001", "reason_code": "01", "attachments": files()}),
            call(outsider, "post", f"/api/v1/movement/{pk}/province-out",
                 {"to_province": "440000", "to_school": "广州市第一小学", "reason_code": "01"}),
            call(outsider, "post", f"/api/v1/movement/{pk}/suspend",
                 {"reason_code": "01", "starts_on": TODAY.isoformat(),
                  "ends_on": (TODAY + datetime.timedelta(90)).isoformat()}),
            call(outsider, "post", f"/api/v1/movement/{pk}/resume", {"grade": "12"}),
            call(outsider, "post", f"/api/v1/movement/{pk}/drop-out", {"reason_code": "01", "attachments": files()}),
            call(outsider, "post", f"/api/v1/movement/{pk}/leave", {"reason_code": "01"}),
            call(outsider, "post", f"/api/v1/movement/{pk}/death",
                 {"died_on": TODAY.isoformat(), "attachments": files()}),
            call(outsider, "get", f"/api/v1/movement/{pk}/history"),
        ]
        assert [r.status_code for r in calls] == [404] * len(calls)
        assert {r.json["message"] for r in calls} == {NOT_FOUND}
    assert counts(app) == before and stored_files(app) == on_disk


def test_the_own_county_reads_the_history_but_does_not_start_movements(app, call, student):
    sid = student(1)
    r = call(DONGHU_COUNTY, "post", f"/api/v1/movement/{sid}/suspend", {"reason_code": "01"})
    assert r.status_code == 403 and r.json["message"] == "您没有权限执行此操作"
    assert call(DONGHU_COUNTY, "post", "/api/v1/transfer/in", {"name": "x", "number": "x"}).status_code == 403
    assert call(DONGHU_COUNTY, "get", f"/api/v1/movement/{sid}/history").status_code == 200
    assert call("sheng_viewer", "get", f"/api/v1/movement/{sid}/history").status_code == 200
    assert call(DONGHU_COUNTY, "get", "/api/v1/transfer/schools?q=东湖").json["count"] == 2


def test_requires_a_token_and_answers_malformed_bodies_in_chinese(app, client, call, student):
    for url in ("/api/v1/transfer/departures", "/api/v1/movement/1/history", "/api/v1/calendar/",
                "/api/v1/process-setting/"):
        r = client.get(url)
        assert r.status_code == 401 and r.json["message"] == "请先登录（缺少或无效的访问令牌）", url
    sid = student(1)
    r = call(DONGHU, "post", f"/api/v1/movement/{sid}/suspend", ["not", "an", "object"])
    assert r.status_code == 400 and r.json["message"] == "请求内容应为 JSON 对象"
    r = call(DONGHU, "post", f"/api/v1/movement/{sid}/leave", {"reason_code": "01", "expected_version": "abc"})
    assert r.status_code == 400 and r.json["message"] == "expected_version 应为整数"
    r = call(DONGHU, "post", f"/api/v1/movement/{sid}/leave", {"reason_code": "01", "attachments": files(kind="photo")})
    assert r.status_code == 400 and "类型“photo”无效" in r.json["message"] and "death_proof" in r.json["message"]
    r = call(DONGHU, "post", f"/api/v1/movement/{sid}/leave",
             {"reason_code": "01", "attachments": [{"filename": "a.pdf", "content_base64": "%%%"}]})
    assert r.status_code == 400 and "不是有效的 Base64 编码" in r.json["message"]
    r = call(DONGHU, "get", "/api/v1/transfer/departures?page_size=1000")
    assert r.status_code == 400 and cjk(r.json["message"])
    r = call(DONGHU, "get", f"/api/v1/transfer/departures?page={2 ** 62}")  # an OFFSET beyond 64 bits was a 500
    assert r.status_code == 400 and r.json["message"] == "page 超出范围"


# ---------------------------------------------------------------- 业务日历

def test_a_closed_window_refuses_new_transfers_with_its_dates(app, call, student):
    sid = student(1)
    first, last = TODAY - datetime.timedelta(days=3), TODAY + datetime.timedelta(days=20)
    r = call(DONGHU_COUNTY, "post", "/api/v1/calendar/", {"process": "transfer", "mode": "closed",
                                                          "starts_on": first.isoformat(), "ends_on": last.isoformat(),
                                                          "title": "暂停转学发起业务"})
    assert r.status_code == 201, r.json
    rule = r.json["result"]
    assert rule["process"] == {"code": "transfer", "name": "转学（含跨省转学）"}
    assert rule["mode"] == {"code": "closed", "name": "暂停发起"} and rule["editable"] is True
    rule_id = r.json["id"]

    # the county's schools see the rule that binds them; another county does not
    listed = call(DONGHU, "get", "/api/v1/calendar/").json
    assert listed["ids"] == [rule_id] and listed["result"][0]["editable"] is False
    assert {p["code"] for p in listed["processes"]} >= {"transfer", "suspend", "death"}
    assert call(XIHU_COUNTY, "get", "/api/v1/calendar/").json["count"] == 0
    assert call(XIHU_COUNTY, "get", f"/api/v1/calendar/{rule_id}").status_code == 404

    before = counts(app)
    refused = transfer_out(call, sid)
    assert refused.status_code == 422, refused.json
    span = f"{first.year}年{first.month}月{first.day}日至{last.year}年{last.month}月{last.day}日"
    assert refused.json["message"] == (f"东湖区教育体育局已暂停“转学（转出申请）”业务的发起：{span}（暂停转学发起业务）。"
                                       "此前已发起的申请可继续办理")
    assert counts(app) == before
    # other processes are not affected
    ok = call(DONGHU, "post", f"/api/v1/movement/{sid}/leave", {"reason_code": "01"})
    assert ok.status_code == 201, ok.json
    assert call(DONGHU, "post", f"/api/v1/request/{ok.json['request_id']}/cancel", json={}).status_code == 200

    # the county moves the window into the future, then removes it: transfers start again
    later = {"process": "transfer", "mode": "closed", "starts_on": (TODAY + datetime.timedelta(days=30)).isoformat(),
             "ends_on": (TODAY + datetime.timedelta(days=60)).isoformat(), "title": "暂停转学发起业务"}
    moved = call(DONGHU_COUNTY, "put", f"/api/v1/calendar/{rule_id}", later)
    assert moved.status_code == 200 and moved.json["result"]["starts_on"] == later["starts_on"]
    gone = call(DONGHU_COUNTY, "delete", f"/api/v1/calendar/{rule_id}")
    assert gone.status_code == 200 and "已删除" in gone.json["message"]
    assert transfer_out(call, sid).status_code == 201


def test_schools_cannot_define_calendar_rules(app, call):
    body = {"process": "transfer", "mode": "closed", "starts_on": TODAY.isoformat(),
            "ends_on": TODAY.isoformat(), "title": "暂停转学发起业务"}
    r = call(DONGHU, "post", "/api/v1/calendar/", body)
    assert r.status_code == 403 and r.json["message"] == "您没有权限执行此操作"
    rule_id = call(DONGHU_COUNTY, "post", "/api/v1/calendar/", body).json["id"]
    assert call(DONGHU, "put", f"/api/v1/calendar/{rule_id}", body).status_code == 403
    assert call(DONGHU, "delete", f"/api/v1/calendar/{rule_id}").status_code == 403
    # another county may not even learn it exists; the city sees it but only its author changes it
    for method in ("put", "delete"):
        r = call(XIHU_COUNTY, method, f"/api/v1/calendar/{rule_id}", body)
        assert r.status_code == 404 and r.json["message"] == NOT_FOUND
    city = call(NANCHANG, "put", f"/api/v1/calendar/{rule_id}", body)
    assert city.status_code == 403 and city.json["message"] == "该规则由东湖区教育体育局设置，本单位只能查看，不能修改或删除"
    bad = call(DONGHU_COUNTY, "post", "/api/v1/calendar/", {**body, "mode": "sometimes"})
    assert bad.status_code == 422 and bad.json["field"] == "mode" and cjk(bad.json["message"])
    reversed_ = call(DONGHU_COUNTY, "post", "/api/v1/calendar/",
                     {**body, "starts_on": "2026-08-14", "ends_on": "2026-07-21"})
    assert reversed_.status_code == 422 and reversed_.json["message"] == "结束日期不能早于开始日期"
    info = call(DONGHU, "get", "/api/v1/calendar/_info").json
    assert "can_post" not in info["permissions"] and "can_get" in info["permissions"]


# ---------------------------------------------------------------- 业务设置

def test_process_settings_set_by_the_province_and_read_back(app, call):
    start = {s["key"]: s for s in call(PROVINCE, "get", "/api/v1/process-setting/").json["result"]}
    assert set(start) == {"transfer.county_order", "transfer.city_approval", "status.route"}
    city_approval = start["transfer.city_approval"]
    assert city_approval["value"]["code"] == "both" and city_approval["source"] is None
    assert city_approval["source_label"] == "默认设置" and city_approval["settable"]

    r = call(PROVINCE, "put", "/api/v1/process-setting/transfer.city_approval", {"value": "none"})
    assert r.status_code == 200, r.json
    assert r.json["result"]["value"] == {"code": "none", "name": "只需两个县（区）审批"}
    assert "江西省教育厅" in r.json["message"]

    for who in (PROVINCE, DONGHU_COUNTY, DONGHU):
        row = next(s for s in call(who, "get", "/api/v1/process-setting/").json["result"]
                   if s["key"] == "transfer.city_approval")
        assert row["value"]["code"] == "none" and row["source"]["name"] == "江西省教育厅", who
        assert row["settable"] is (who == PROVINCE)

    county = call(DONGHU_COUNTY, "put", "/api/v1/process-setting/transfer.city_approval", {"value": "both"})
    assert county.status_code == 403 and county.json["message"].startswith("“跨市转学是否由两市审批”只能由")
    school = call(DONGHU, "put", "/api/v1/process-setting/status.route", {"value": "county_city"})
    assert school.status_code == 403 and school.json["message"] == "您没有权限执行此操作"
    bad = call(PROVINCE, "put", "/api/v1/process-setting/transfer.city_approval", {"value": "sometimes"})
    assert bad.status_code == 422 and bad.json["field"] == "transfer.city_approval"
    unknown = call(PROVINCE, "put", "/api/v1/process-setting/no.such", {"value": "x"})
    assert unknown.status_code == 404 and "未知的设置项" in unknown.json["message"]


def test_the_city_sets_which_county_approves_first(app, call, student):
    r = call(NANCHANG, "put", "/api/v1/process-setting/transfer.county_order", {"value": "in_first"})
    assert r.status_code == 200, r.json
    sid = student(1)
    rid = transfer_out(call, sid).json["request_id"]
    steps = call(DONGHU_COUNTY, "get", f"/api/v1/request/{rid}").json["result"]["steps"]
    assert [s["org_unit"]["name"] for s in steps] == ["西湖第一小学", "西湖区教育体育局", "东湖区教育体育局"]


# ---------------------------------------------------------------- 休学、复学、其他离校、退学、死亡

def test_suspension_then_resumption(app, call, student):
    sid = student(1)
    not_yet = call(DONGHU, "post", f"/api/v1/movement/{sid}/resume", {"grade": "12"})
    assert not_yet.status_code == 422 and not_yet.json["message"] == "学生 张小明 的学籍状态为“在校”，不能申请复学"
    bad = call(DONGHU, "post", f"/api/v1/movement/{sid}/suspend",
               {"reason_code": "01", "starts_on": "2026-03-01", "ends_on": "2026-02-01"})
    assert bad.status_code == 422 and bad.json == {"message": "休学结束日期应晚于开始日期", "field": "ends_on"}

    ends = TODAY + datetime.timedelta(days=120)
    r = call(DONGHU, "post", f"/api/v1/movement/{sid}/suspend",
             {"reason_code": "01", "starts_on": TODAY.isoformat(), "ends_on": ends.isoformat(), "note": "住院治疗",
              "attachments": files("诊断证明.pdf"), "expected_version": version_of(call, sid)})
    assert r.status_code == 201, r.json
    assert r.json["message"] == "休学申请已提交，等待东湖区教育体育局核办"
    busy = call(DONGHU, "post", f"/api/v1/movement/{sid}/leave", {"reason_code": "01"})  # locked while open
    assert busy.status_code == 422 and "尚未办结的“休学”" in busy.json["message"]
    assert decide(call, DONGHU_COUNTY, r.json["request_id"]).json["message"] == "审批通过"
    assert call(DONGHU, "get", f"/api/v1/student/{sid}").json["result"]["status"]["name"] == "休学"

    wrong_grade = call(DONGHU, "post", f"/api/v1/movement/{sid}/resume", {"grade": "21"})
    assert wrong_grade.status_code == 422 and wrong_grade.json["field"] == "grade"
    back = call(DONGHU, "post", f"/api/v1/movement/{sid}/resume", {"grade": "12", "class_name": "1班"})
    assert back.status_code == 201, back.json
    assert decide(call, DONGHU_COUNTY, back.json["request_id"]).status_code == 200
    st = call(DONGHU, "get", f"/api/v1/student/{sid}").json["result"]
    assert st["status"]["name"] == "在校" and st["grade"]["name"] == "小学二年级" and st["class_name"] == "1班"

    hist = call(DONGHU, "get", f"/api/v1/movement/{sid}/history").json
    assert [s["status"]["code"] for s in hist["spans"]] == ["registering", "in_school", "suspended", "in_school"]
    assert [r["type_label"] for r in hist["requests"]][:2] == ["复学", "休学"]
    suspension = hist["requests"][1]
    assert {"field": "学籍状态", "before": "在校", "after": "休学"} in suspension["changes"]
    assert suspension["attachments"][0]["filename"] == "诊断证明.pdf"


def test_death_needs_a_death_certificate(app, call, student):
    sid = student(1)
    before, on_disk = counts(app), stored_files(app)
    r = call(DONGHU, "post", f"/api/v1/movement/{sid}/death", {"died_on": TODAY.isoformat()})
    assert r.status_code == 422
    assert r.json == {"message": "须上传死亡证明（医院或公安机关出具）的扫描件或照片", "field": "attachments"}
    other = call(DONGHU, "post", f"/api/v1/movement/{sid}/death",
                 {"died_on": TODAY.isoformat(), "attachments": files(kind="evidence")})
    assert other.status_code == 422 and other.json["field"] == "attachments"
    future = call(DONGHU, "post", f"/api/v1/movement/{sid}/death",
                  {"died_on": (TODAY + datetime.timedelta(days=1)).isoformat(), "attachments": files()})
    assert future.status_code == 422 and future.json["message"] == "死亡日期不能晚于今天"
    assert counts(app) == before and stored_files(app) == on_disk  # nothing stays behind

    ok = call(DONGHU, "post", f"/api/v1/movement/{sid}/death",
              {"died_on": TODAY.isoformat(), "attachments": files("死亡证明.pdf")})
    assert ok.status_code == 201, ok.json
    rid = ok.json["request_id"]
    with app.app_context():
        att = db.session.scalar(select(Attachment).where(Attachment.request_id == rid))
        assert att.kind == "death_proof" and att.student_id == sid
        db.session.remove()
    assert decide(call, DONGHU_COUNTY, rid).status_code == 200
    hist = call(DONGHU, "get", f"/api/v1/movement/{sid}/history").json
    assert hist["student"]["status"]["name"] == "死亡"
    assert hist["requests"][0]["attachments"][0]["kind_label"] == "死亡证明"


def test_leave_and_drop_out(app, call, student):
    sid = student(1)
    primary = call(DONGHU, "post", f"/api/v1/movement/{sid}/drop-out", {"reason_code": "02", "attachments": files()})
    assert primary.status_code == 422 and primary.json["message"].startswith("义务教育阶段学生不能办理退学")
    other = call(DONGHU, "post", f"/api/v1/movement/{sid}/leave", {"reason_code": "99"})
    assert other.status_code == 422 and other.json == {"message": "离校原因为“其他”时请填写说明", "field": "note"}
    r = call(DONGHU, "post", f"/api/v1/movement/{sid}/leave", {"reason_code": "01", "note": "随父母赴新加坡"})
    assert r.status_code == 201 and r.json["message"] == "其他离校申请已提交，等待东湖区教育体育局核办"
    assert decide(call, DONGHU_COUNTY, r.json["request_id"]).status_code == 200
    assert call(DONGHU, "get", f"/api/v1/student/{sid}").json["result"]["status"]["name"] == "其他离校"


# ---------------------------------------------------------------- 跨省转学

def test_province_transfer_in_then_out(app, call):
    born = D(2018, 6, 1)
    id_number = build_id_number("440104", born, 23)
    record = {**data(1), "id_number": id_number, "birth_date": born.isoformat(), "birthplace_code": "440104",
              "hukou_code": "440104", "grade": "12", "name": "李小华", "gender": "1"}
    body = {"data": record, "guardians": GUARDIANS, "from_province": "440000", "from_school": "广州市越秀区第一小学",
            "xueji_no": "G" + id_number, "reason_code": "01", "attachments": files("转学联系函.pdf")}
    same = call(DONGHU, "post", "/api/v1/transfer/province-in", {**body, "from_province": "360000"})
    assert same.status_code == 422 and same.json["message"] == "本省学校之间的转学请办理省内转学"
    mismatch = call(DONGHU, "post", "/api/v1/transfer/province-in", {**body, "xueji_no": "G" + data(1)["id_number"]})
    assert mismatch.status_code == 422 and mismatch.json["field"] == "xueji_no"
    r = call(DONGHU, "post", "/api/v1/transfer/province-in", body)
    assert r.status_code == 201, r.json
    rid = r.json["request_id"]
    assert r.json["message"] == "跨省转入申请已提交，等待东湖区教育体育局核办"
    assert decide(call, DONGHU_COUNTY, rid).json["message"] == "已同意，转下一级核办"
    shown = call(PROVINCE, "get", f"/api/v1/request/{rid}").json["result"]
    assert shown["steps"][1]["role"]["name"] == "外省确认" and shown["can_decide"] is True
    assert decide(call, PROVINCE, rid, comment="广东省已办理转出").json["message"] == "审批通过"

    sid = call(PROVINCE, "get", f"/api/v1/request/{rid}").json["result"]["student"]["id"]
    st = call(DONGHU, "get", f"/api/v1/student/{sid}").json["result"]
    assert st["name"] == "李小华" and st["xueji_no"] == "G" + id_number and st["status"]["name"] == "在校"

    out = call(DONGHU, "post", f"/api/v1/movement/{sid}/province-out",
               {"to_province": "440000", "to_school": "广州市越秀区第一小学", "reason_code": "02"})
    assert out.status_code == 201, out.json
    for who in (DONGHU_COUNTY, PROVINCE):
        assert decide(call, who, out.json["request_id"], comment="同意").status_code == 200
    assert call(DONGHU, "get", f"/api/v1/student/{sid}").json["result"]["status"]["name"] == "转出"
    traces = call(DONGHU, "get", "/api/v1/transfer/departures").json["result"]
    assert [t["to_name"] for t in traces] == ["广东省 广州市越秀区第一小学"]


# ---------------------------------------------------------------- OpenAPI

def test_openapi_spec_has_the_movement_paths(call):
    r = call("admin", "get", "/api/v1/_openapi")
    assert r.status_code == 200
    paths = r.json["paths"]
    for p in ("/api/v1/transfer/in", "/api/v1/transfer/province-in", "/api/v1/transfer/schools",
              "/api/v1/transfer/departures", "/api/v1/movement/{pk}/transfer-out", "/api/v1/movement/{pk}/death",
              "/api/v1/movement/{pk}/history", "/api/v1/calendar/", "/api/v1/calendar/{pk}",
              "/api/v1/process-setting/", "/api/v1/process-setting/{key}"):
        assert p in paths, p
    assert set(paths["/api/v1/calendar/{pk}"]) == {"get", "put", "delete"}
    assert set(paths["/api/v1/calendar/"]) == {"get", "post"} and set(paths["/api/v1/process-setting/"]) == {"get"}
    assert "to_name" in paths["/api/v1/transfer/departures"]["get"]["responses"]["200"]["description"]
    assert "TransferInBody" in r.json["components"]["schemas"] and "DeathBody" in r.json["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": "#/components/(\w+)/([^"]+)"', json.dumps(r.json)))
    assert [ref for ref in refs if ref[1] not in r.json["components"][ref[0]]] == []
