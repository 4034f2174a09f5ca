"""招生入学 REST API (/api/v1/admission/…) from the outside: real HTTP with JWT, the services behind it.
A season through the API (plans, a change request, the unified list and admission from it,
self-admission within and across counties, 外地就读, withdrawal, a duplicate proved and arbitrated);
every refusal a Chinese 4xx with nothing written (asserted on the database); another county's or
another city's school's ids answer 404 exactly like missing ones, with no name in the answer; the
read-only account reads but never writes."""
import base64

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (Admission, AdmissionListRow, AdmissionState, DuplicateAdmission, DuplicateState,
                        EnrollmentPlan, Request, RequestState)
from app.services import requests
from tests.conftest import account, unit
from tests.integration.test_admission_case_screens import EAST_JUNIOR_2, second_junior_school
from tests.integration.test_admissions import EAST, WEST, graduate, open_years, plan, season  # noqa: F401

API = "/api/v1/admission"
EAST_JUNIOR, WEST_JUNIOR, FAR_SCHOOL = "school_3601020002", "school_3601030002", "school_3604020002"
EAST_COUNTY, WEST_COUNTY, CITY, VIEWER = "county_360102", "county_360103", "city_360100", "sheng_viewer"
NOT_FOUND = "记录不存在或不在您的管辖范围内"
PDF = b"%PDF-1.4 admission proof"


def cjk(text):
    return any("\u3400" <= ch <= "\u9fff" for ch in text or "")


@pytest.fixture
def call(api_token):
    """call(who, method, url, json=None) -> response; url relative to /api/v1/admission."""
    clients = {}

    def make(who, method, url, json=None, base=API):
        if who not in clients:
            clients[who] = api_token(who)
        c, h = clients[who]
        return getattr(c, method)(base + url, json=json, headers=h)
    return make


def refused(r, status, text=None):
    assert r.status_code == status, (r.status_code, r.json)
    assert cjk(r.json["message"]), r.json
    if text is not None:
        assert text in r.json["message"], r.json["message"]
    return r.json


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def approve(app, req_id, who):
    with app.app_context():
        requests.approve(db.session, account(db.session, who), req_id)
        db.session.commit()


def graduates(app, season, n=2, county=EAST):
    """n 东湖 graduates, the clock in the admission season; returns [(id, 学籍号, name)]."""
    with app.app_context():
        open_years()
        out = [graduate(i + 1, county=county) for i in range(n)]
        season.admission()
        return [(s.id, s.xueji_no, s.name) for s in out]


# ---------------------------------------------------------------- a season through the API

def test_plans_the_change_request_and_the_unified_list(app, call, season):
    (a_id, a_no, a_name), (b_id, b_no, b_name) = graduates(app, season)
    with app.app_context():
        junior = unit(db.session, "3601020002").id
    r = call(EAST_COUNTY, "post", "/plans", {"school_id": junior, "grade": "21", "quota": 1})
    assert r.status_code == 200 and r.json["result"]["quota"] == 1 and "东湖第一初级中学初中一年级" in r.json["message"]
    plan_id, version = r.json["id"], r.json["result"]["version"]
    r = call(EAST_COUNTY, "get", "/plans")
    assert r.json["count"] == 1 and r.json["result"][0]["grade"] == {"code": "21", "name": "初中一年级"}
    assert call(WEST_COUNTY, "get", "/plans").json["count"] == 0
    assert call(VIEWER, "get", "/plans").json["count"] == 1
    # Bad input: a school setting plans, a primary school, a negative quota, a wrong grade filter.
    refused(call(EAST_JUNIOR, "post", "/plans", {"school_id": junior, "grade": "21", "quota": 9}), 403)
    refused(call(EAST_COUNTY, "post", "/plans", {"school_id": junior, "grade": "21", "quota": -1}), 422, "0 到 5000")
    refused(call(EAST_COUNTY, "post", "/plans", {"school_id": junior, "grade": "21", "quota": [1]}), 400)
    refused(call(EAST_COUNTY, "get", "/plans?grade=99"), 400, "招生年级代码")
    refused(call(EAST_COUNTY, "post", "/plans", "not json"), 400)
    refused(call(WEST_COUNTY, "post", "/plans", {"school_id": junior, "grade": "21", "quota": 9}), 404, NOT_FOUND)
    with app.app_context():
        assert db.session.get(EnrollmentPlan, plan_id).quota == 1

    # 招生计划数变更申请 by the school, approved by the county in the inbox.
    r = call(EAST_JUNIOR, "post", f"/plans/{plan_id}/change", {"quota": 3, "reason": "新建教学楼"})
    assert r.status_code == 201 and "等待东湖区" in r.json["message"], r.json
    refused(call(WEST_JUNIOR, "post", f"/plans/{plan_id}/change", {"quota": 3, "reason": "x"}), 404, NOT_FOUND)
    approve(app, r.json["request_id"], EAST_COUNTY)
    assert call(EAST_COUNTY, "get", "/plans").json["result"][0]["quota"] == 3
    r = call(EAST_COUNTY, "post", "/plans", {"school_id": junior, "grade": "21", "quota": 2, "expected_version": version})
    refused(r, 422, "已被他人修改")

    # The unified list: one row by hand, checked against the registry.
    row = {"number": a_no, "name": a_name, "from_code": "3601020001", "to_code": "3601020002", "stage": "初中",
           "score": 598.5}
    r = call(EAST_COUNTY, "post", "/list-rows", row)
    assert r.status_code == 201 and r.json["result"]["score"] == 598.5, r.json
    row_a = r.json["id"]
    refused(call(EAST_COUNTY, "post", "/list-rows", {**row, "name": "张三"}), 422, "相符的学籍")
    refused(call(EAST_COUNTY, "post", "/list-rows", {**row, "number": b_no, "name": b_name, "stage": "大学"}), 422,
            "教育阶段")
    refused(call(EAST_JUNIOR, "post", "/list-rows", row), 403)
    with app.app_context():
        assert count(AdmissionListRow) == 1
    r = call(EAST_COUNTY, "post", "/list-rows", {**row, "number": b_no, "name": b_name})
    row_b = r.json["id"]
    listing = call(EAST_JUNIOR, "get", "/list-rows?waiting_only=1").json
    assert {x["id"] for x in listing["result"]} == {row_a, row_b}
    assert listing["result"][0]["to_school"]["name"] == "东湖第一初级中学"
    assert call(WEST_JUNIOR, "get", "/list-rows").json["count"] == 0
    refused(call(EAST_JUNIOR, "post", "/list-rows/admit", {"row_ids": "all"}), 400)
    refused(call(EAST_JUNIOR, "post", "/list-rows/admit", {"row_ids": [row_a, row_b, 2 ** 40]}), 400,
            "row_ids 应为编号列表")
    refused(call(EAST_JUNIOR, "post", "/list-rows/admit", {"row_ids": [row_a, 1.5]}), 400, "row_ids 应为编号列表")
    refused(call(EAST_JUNIOR, "post", "/list-rows/admit", {"row_ids": []}), 400, "请提供 row_ids")
    with app.app_context():
        assert count(Admission) == 0
    r = call(EAST_JUNIOR, "post", "/list-rows/admit", {"row_ids": [row_a, row_b]})
    assert r.status_code == 200 and len(r.json["admitted"]) == 2 and r.json["failed"] == [], r.json
    assert r.json["admitted"][0]["kind"] == {"code": "unified", "name": "统一招生"}
    assert call(EAST_JUNIOR, "get", "/list-rows?waiting_only=1").json["count"] == 0


def test_self_admission_across_counties_elsewhere_and_the_detail(app, call, season):
    [(a_id, a_no, a_name)] = graduates(app, season, n=1)
    with app.app_context():
        plan(WEST, 5)
    r = call(WEST_JUNIOR, "post", "/self-admit", {"number": a_no, "name": a_name, "score": "601"})
    assert r.status_code == 201, r.json
    assert "外地就读学生核办" in r.json["message"] and r.json["result"]["state"]["name"] == "待核办"
    adm_id = r.json["id"]
    assert r.json["result"]["from_school"]["name"] == "东湖第一小学" and r.json["result"]["score"] == 601.0
    # The home county sees it as 外地就读; the admitting county not.
    assert [x["id"] for x in call(EAST_COUNTY, "get", "/admissions?elsewhere=1").json["result"]] == [adm_id]
    assert call(WEST_COUNTY, "get", "/admissions?elsewhere=1").json["count"] == 0
    assert call(WEST_COUNTY, "get", "/admissions?state=pending&kind=self").json["count"] == 1
    refused(call(WEST_COUNTY, "get", "/admissions?state=done"), 400, "state 的取值“done”无效")
    refused(call(WEST_COUNTY, "get", "/admissions?elsewhere=maybe"), 400)
    refused(call(WEST_COUNTY, "get", "/admissions?page_size=1000"), 400)
    detail = call(EAST_COUNTY, "get", f"/admissions/{adm_id}").json["result"]
    assert [s["unit"]["name"][:2] for s in detail["steps"]] == ["西湖", "东湖"]
    assert detail["current_unit"]["name"].startswith("西湖") and detail["duplicate"] is None
    with app.app_context():
        req_id = db.session.get(Admission, adm_id).request_id
    approve(app, req_id, WEST_COUNTY)
    approve(app, req_id, EAST_COUNTY)
    detail = call(WEST_JUNIOR, "get", f"/admissions/{adm_id}").json["result"]
    assert detail["state"]["code"] == "admitted"
    assert [s["decision"]["code"] for s in detail["steps"]] == ["approved", "approved"]
    assert detail["steps"][1]["actor"] and detail["student"]["status"]["name"] == "在校"
    # Admitted is final: withdrawing is refused, nothing changes.
    refused(call(WEST_JUNIOR, "post", f"/admissions/{adm_id}/withdraw", {"reason": "x"}), 422, "已录取")


def test_beyond_the_quota_is_refused_with_the_reason_and_nothing_is_written(app, call, season):
    (a_id, a_no, a_name), (b_id, b_no, b_name) = graduates(app, season)
    with app.app_context():
        plan(EAST, 1)
    assert call(EAST_JUNIOR, "post", "/self-admit", {"number": a_no, "name": a_name}).status_code == 201
    r = call(EAST_JUNIOR, "post", "/self-admit", {"number": b_no, "name": b_name})
    refused(r, 422, "招生计划数 1 人已满")
    refused(call(EAST_JUNIOR, "post", "/self-admit", {"number": a_no, "name": a_name}), 422, "请勿重复录取")
    refused(call(EAST_JUNIOR, "post", "/self-admit", {"number": b_no, "name": "别人"}), 422, "相符的学籍")
    refused(call(EAST_JUNIOR, "post", "/self-admit", {"number": {"x": 1}, "name": b_name}), 400)
    refused(call(EAST_COUNTY, "post", "/self-admit", {"number": b_no, "name": b_name}), 403, "学校学籍管理员")
    refused(call(VIEWER, "post", "/self-admit", {"number": b_no, "name": b_name}), 403)
    with app.app_context():
        assert count(Admission) == 1
        assert count(Request, Request.type == "admission") == 1
        assert db.session.scalar(select(EnrollmentPlan.used)) == 1


def test_a_duplicate_withdrawn_proved_and_arbitrated_through_the_api(app, call, season):
    [(a_id, a_no, a_name)] = graduates(app, season, n=1)
    with app.app_context():
        plan(EAST, 5)
        plan(WEST, 5)
    east = call(EAST_JUNIOR, "post", "/self-admit", {"number": a_no, "name": a_name}).json["id"]
    west = call(WEST_JUNIOR, "post", "/self-admit", {"number": a_no, "name": a_name}).json["id"]
    cases = call(EAST_COUNTY, "get", "/duplicates?state=open").json
    assert cases["count"] == 1 and {x["id"] for x in cases["result"][0]["admissions"]} == {east, west}
    case = cases["result"][0]["id"]
    assert call(EAST_JUNIOR, "get", f"/admissions/{east}").json["result"]["duplicate"]["state"]["name"] == "待学校处理"
    # Proofs need evidence; a base64 PDF goes.
    refused(call(EAST_JUNIOR, "post", f"/admissions/{east}/prove", {"reason": "已报到"}), 422, "证明材料")
    refused(call(EAST_JUNIOR, "post", f"/admissions/{east}/prove",
                 {"reason": "已报到", "attachments": [{"filename": "a.pdf", "content_base64": "%%%"}]}), 400)
    files = [{"filename": "志愿表.pdf", "content_base64": base64.b64encode(PDF).decode()}]
    refused(call(EAST_JUNIOR, "post", f"/admissions/{west}/prove", {"reason": "x", "attachments": files}), 404,
            NOT_FOUND)
    proofs = {}
    for adm, who, county in ((east, EAST_JUNIOR, EAST_COUNTY), (west, WEST_JUNIOR, WEST_COUNTY)):
        r = call(who, "post", f"/admissions/{adm}/prove", {"reason": "已报到", "attachments": files})
        assert r.status_code == 201 and r.json["request"]["type"] == "admission_proof", r.json
        proofs[adm] = r.json["request_id"]
        approve(app, r.json["request_id"], county)
    case_json = call(CITY, "get", f"/duplicates/{case}").json["result"]
    assert case_json["state"]["code"] == "arbitration" and case_json["arbiter"]["name"].startswith("南昌")
    assert {a["claim"]["name"] for a in case_json["admissions"]} == {"佐证已通过"}
    assert call(CITY, "get", "/duplicates?arbitration_only=1").json["count"] == 1
    assert call(EAST_COUNTY, "get", "/duplicates?arbitration_only=1").json["count"] == 0
    version = case_json["version"]
    refused(call(EAST_COUNTY, "post", f"/duplicates/{case}/arbitrate",
                 {"winner_admission_id": east, "comment": "x"}), 403, "共同上级仲裁")
    refused(call(CITY, "post", f"/duplicates/{case}/arbitrate", {"comment": "x"}), 400, "winner_admission_id")
    refused(call(CITY, "post", f"/duplicates/{case}/arbitrate", {"winner_admission_id": "east", "comment": "x"}), 400)
    refused(call(CITY, "post", f"/duplicates/{case}/arbitrate", {"winner_admission_id": east, "comment": ""}), 422,
            "裁决理由")
    refused(call(CITY, "post", f"/duplicates/{case}/arbitrate",
                 {"winner_admission_id": 999999, "comment": "x"}), 422, "均不通过")
    with app.app_context():
        assert db.session.get(DuplicateAdmission, case).state == DuplicateState.ARBITRATION
    r = call(CITY, "post", f"/duplicates/{case}/arbitrate",
             {"winner_admission_id": east, "comment": "就近入学", "expected_version": version})
    assert r.status_code == 200 and r.json["message"] == "已仲裁：东湖第一初级中学的录取通过，其他学校的录取不通过", r.json
    with app.app_context():
        assert db.session.get(Admission, east).state == AdmissionState.ADMITTED
        assert db.session.get(Admission, west).state == AdmissionState.REJECTED


def test_withdrawal_settles_a_duplicate(app, call, season):
    [(a_id, a_no, a_name)] = graduates(app, season, n=1)
    with app.app_context():
        plan(EAST, 5)
        plan(WEST, 5)
    east = call(EAST_JUNIOR, "post", "/self-admit", {"number": a_no, "name": a_name}).json["id"]
    west = call(WEST_JUNIOR, "post", "/self-admit", {"number": a_no, "name": a_name}).json["id"]
    version = call(WEST_JUNIOR, "get", f"/admissions/{west}").json["result"]["version"]
    refused(call(WEST_JUNIOR, "post", f"/admissions/{west}/withdraw", {"reason": ""}), 422, "撤销理由")
    refused(call(WEST_JUNIOR, "post", f"/admissions/{west}/withdraw", {"reason": 5}), 400)
    refused(call(WEST_JUNIOR, "post", f"/admissions/{west}/withdraw", {"reason": "x", "expected_version": version - 1}),
            422, "已被他人修改")
    refused(call(WEST_COUNTY, "post", f"/admissions/{west}/withdraw", {"reason": "x"}), 403)
    r = call(WEST_JUNIOR, "post", f"/admissions/{west}/withdraw", {"reason": "学生去东湖", "expected_version": version})
    assert r.status_code == 200 and r.json["result"]["state"]["name"] == "已撤销", r.json
    assert call(EAST_COUNTY, "get", "/duplicates?state=resolved").json["count"] == 1
    assert call(EAST_COUNTY, "get", f"/admissions/{east}").json["result"]["duplicate"]["state"]["code"] == "resolved"


# ---------------------------------------------------------------- scoping from outside

def test_outsiders_get_404_and_no_name_by_api(app, call, season):
    """A case inside 东湖区 (its two 初中): 西湖区's county and a 濂溪区 school neither read, withdraw,
    prove nor arbitrate it; the answer is the same 404 as for an id that does not exist."""
    [(a_id, a_no, a_name)] = graduates(app, season, n=1)
    with app.app_context():
        plan(EAST, 5)
        school = second_junior_school()
        from app.services import admissions
        admissions.set_plan(db.session, account(db.session, EAST_COUNTY), school.id, "21", 5)
        db.session.commit()
    east = call(EAST_JUNIOR, "post", "/self-admit", {"number": a_no, "name": a_name}).json["id"]
    east2 = call(EAST_JUNIOR_2, "post", "/self-admit", {"number": a_no, "name": a_name}).json["id"]
    files = [{"filename": "志愿表.pdf", "content_base64": base64.b64encode(PDF).decode()}]
    for adm, who in ((east, EAST_JUNIOR), (east2, EAST_JUNIOR_2)):
        r = call(who, "post", f"/admissions/{adm}/prove", {"reason": "已报到", "attachments": files})
        approve(app, r.json["request_id"], EAST_COUNTY)
    case = call(EAST_COUNTY, "get", "/duplicates").json["result"][0]
    assert case["arbiter"]["name"].startswith("东湖") and case["state"]["code"] == "arbitration"
    with app.app_context():
        plan_id = db.session.scalar(select(EnrollmentPlan.id).where(EnrollmentPlan.school_path.endswith("3601020002/")))
    for who in (WEST_COUNTY, FAR_SCHOOL):
        for method, url, body in (("get", f"/admissions/{east}", None),
                                  ("post", f"/admissions/{east}/withdraw", {"reason": "x"}),
                                  ("post", f"/admissions/{east}/prove", {"reason": "x", "attachments": files}),
                                  ("get", f"/duplicates/{case['id']}", None),
                                  ("post", f"/duplicates/{case['id']}/arbitrate",
                                   {"winner_admission_id": east, "comment": "x"}),
                                  ("post", f"/plans/{plan_id}/change", {"quota": 9, "reason": "x"}),
                                  ("get", f"/admissions/{2 ** 40}", None), ("get", "/admissions/99999", None)):
            r = call(who, method, url, body)
            assert r.status_code == 404 and r.json["message"] == NOT_FOUND, (who, url, r.json)
            assert a_name not in r.get_data(as_text=True)
        for url in ("/admissions", "/admissions?elsewhere=1", "/duplicates", "/list-rows", "/plans"):
            r = call(who, "get", url)
            assert r.status_code == 200 and a_name not in r.get_data(as_text=True), (who, url)
    # The read-only account: reads, never writes (403 for an id it may see).
    assert call(VIEWER, "get", f"/admissions/{east}").status_code == 200
    refused(call(VIEWER, "post", f"/admissions/{east}/withdraw", {"reason": "x"}), 403, "您没有权限执行此操作")
    refused(call(VIEWER, "post", f"/duplicates/{case['id']}/arbitrate", {"winner_admission_id": None, "comment": "x"}),
            403)
    with app.app_context():
        assert db.session.get(DuplicateAdmission, case["id"]).state == DuplicateState.ARBITRATION
        assert {a.state for a in db.session.scalars(select(Admission))} == {AdmissionState.PENDING}
        assert count(Request, Request.state != RequestState.PENDING, Request.type == "admission") == 0
    # Unauthenticated: 401 in Chinese.
    r = app.test_client().get(API + "/admissions")
    assert r.status_code == 401 and cjk(r.json["message"])
    # The arbiter (东湖区) decides: none stand.
    r = call(EAST_COUNTY, "post", f"/duplicates/{case['id']}/arbitrate",
             {"winner_admission_id": None, "comment": "两校材料均不实"})
    assert r.status_code == 200 and r.json["message"] == "已仲裁：各校录取均不通过", r.json


def test_impossible_ids_and_pages_answer_4xx_and_write_nothing(app, call, season):
    """Ids beyond the column's range and pages beyond any table: a Chinese 400/404, never a 500."""
    [(a_id, a_no, a_name)] = graduates(app, season, n=1)
    with app.app_context():
        plan(EAST, 5)
    huge = 2 ** 40
    for url, text in ((f"/admissions?page={2 ** 62}", "page 超出范围"), ("/plans?page_size=多", "page_size 应为整数"),
                      (f"/admissions?school_id={huge}", "school_id 应为有效的编号"),
                      ("/list-rows?to_school_id=东湖", "to_school_id 应为有效的编号"),
                      ("/plans?year_id=0", "year_id 应为有效的编号"),
                      ("/duplicates?state=closed", "state 的取值“closed”无效")):
        refused(call(EAST_COUNTY, "get", url), 400, text)
    for method, url, body in (("post", f"/plans/{huge}/change", {"quota": 3, "reason": "x"}),
                              ("get", f"/duplicates/{huge}", None),
                              ("post", f"/duplicates/{huge}/arbitrate", {"winner_admission_id": None, "comment": "x"})):
        refused(call(EAST_JUNIOR, method, url, body), 404, NOT_FOUND)
    adm = call(EAST_JUNIOR, "post", "/self-admit", {"number": a_no, "name": a_name}).json["id"]
    refused(call(EAST_JUNIOR, "post", f"/admissions/{adm}/withdraw", {"reason": "x", "expected_version": "新"}), 400,
            "expected_version 应为整数")
    with app.app_context():
        assert db.session.get(Admission, adm).state == AdmissionState.PENDING


def test_openapi_spec_has_the_admission_paths(call):
    import json
    import re
    r = call("admin", "get", "", base="/api/v1/_openapi")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    paths = r.json["paths"]
    for p in ("/plans", "/plans/{pk}/change", "/list-rows", "/list-rows/admit", "/self-admit", "/admissions",
              "/admissions/{pk}", "/admissions/{pk}/withdraw", "/admissions/{pk}/prove", "/duplicates",
              "/duplicates/{pk}", "/duplicates/{pk}/arbitrate"):
        assert API + p in paths, p
    assert "AdmissionArbitrateBody" in r.json["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": "#/components/(\w+)/([^"]+)"', json.dumps(r.json)))
    assert [ref for ref in refs if ref[1] not in r.json["components"][ref[0]]] == []
