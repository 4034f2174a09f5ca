"""问题学籍 REST API (/api/v1/problem): the two schools of a duplicate handle their own records
(删除 / 佐证 / 变更 / 结转) with the county approving through /api/v1/request, the sides' lowest
common superior arbitrates, the province starts detection as a job — Chinese 4xx answers with
nothing written, out-of-scope ids answering 404, the other school's record always masked."""
import base64
import datetime
import json
import os
import re

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Request, Student
from app.models.problems import ProblemRecord, ProblemSide
from app.models.student import Attachment
from app.services import identity, problems, transfers
from app.services.identity import build_id_number
from tests.conftest import account, finish_jobs
from tests.integration.test_registry_services import enrolled

D = datetime.date
PDF = b"%PDF-1.4 problem evidence"

DONGHU, XIHU, LIANXI = "school_3601020001", "school_3601030001", "school_3604020001"
DONGHU_COUNTY, XIHU_COUNTY, LIANXI_COUNTY = "county_360102", "county_360103", "county_360402"
NANCHANG, PROVINCE, VIEWER = "city_360100", "sheng_admin", "sheng_viewer"
NOT_FOUND = "记录不存在或不在您的管辖范围内"


def cjk(text):
    return any("\u3400" <= ch <= "\u9fff" for ch in text or "")


def files(name="派出所证明.pdf"):
    return [{"filename": name, "content_base64": base64.b64encode(PDF).decode(), "kind": "evidence"}]


def stored_files(app):
    folder = os.path.join(app.config["INSTANCE_DIR"], "attachments")
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


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


@pytest.fixture
def duplicate(app):
    """Two 在校 records with one ID number (b is a legacy record of 西湖第一小学 repeating a's
    number), detected as a 身份证号重复 problem. -> dict of ids and numbers."""
    with app.app_context():
        a = enrolled(DONGHU, seq=1)
        b = enrolled(XIHU, seq=2)
        db.session.execute(update(Student).where(Student.id == b.id).values(origin="legacy", id_number=a.id_number))
        db.session.commit()
        problems.detect(db.session, account(db.session, PROVINCE))
        db.session.commit()
        problem = db.session.scalar(select(ProblemRecord))
        side = {s.student_id: s.id for s in problem.sides}
        out = {"problem": problem.id, "a": a.id, "b": b.id, "side_a": side[a.id], "side_b": side[b.id],
               "number": a.id_number}
        db.session.remove()
    return out


def snapshot(app):
    """Everything a refused call must leave as it was."""
    with app.app_context():
        out = {
            "requests": db.session.scalar(select(func.count()).select_from(Request)),
            "attachments": db.session.scalar(select(func.count()).select_from(Attachment)),
            "problems": sorted((p.id, p.state.value, p.version, p.arbiter_id)
                               for p in db.session.scalars(select(ProblemRecord))),
            "sides": sorted((s.id, s.treatment.value, s.request_id) for s in db.session.scalars(select(ProblemSide))),
            "students": sorted((s.id, s.status.value, s.id_number, s.version)
                               for s in db.session.scalars(select(Student))),
            "files": stored_files(app),
        }
        db.session.remove()
    return out


def show(call, who, pk):
    r = call(who, "get", f"/api/v1/problem/{pk}")
    assert r.status_code == 200, r.json
    return r.json["result"]


def side_of(problem, side_id):
    return next(s for s in problem["sides"] if s["id"] == side_id)


def act(call, who, side_id, action, **body):
    return call(who, "post", f"/api/v1/problem/side/{side_id}/{action}", body)


def approve(call, who, rid):
    r = call(who, "post", f"/api/v1/request/{rid}/approve", {"comment": "同意"})
    assert r.status_code == 200, r.json
    assert r.json["state"]["code"] == "approved", r.json
    return r


def prove(call, who, side_id, county):
    r = act(call, who, side_id, "prove", reason="经派出所核实，身份证号属本校学生", attachments=files())
    assert r.status_code == 201, r.json
    approve(call, county, r.json["request_id"])
    return r


# ---------------------------------------------------------------- reads, masking

def test_list_and_show_mask_the_other_schools_record(app, call, duplicate):
    number, masked = duplicate["number"], identity.mask(duplicate["number"])
    r = call(DONGHU, "get", "/api/v1/problem/")
    assert r.status_code == 200, r.json
    assert r.json["count"] == 1
    p = r.json["result"][0]
    assert p["id"] == duplicate["problem"]
    assert p["kind"] == {"code": "duplicate_id", "name": "身份证号重复"}
    assert p["state"] == {"code": "untreated", "name": "未处理"}
    assert p["arbiter"] is None and p["resolution"] is None
    mine, theirs = side_of(p, duplicate["side_a"]), side_of(p, duplicate["side_b"])
    assert mine["own"] is True and theirs["own"] is False
    assert mine["school"]["name"] == "东湖第一小学" and theirs["school"]["name"] == "西湖第一小学"
    assert mine["student"]["id_number"] == number  # the school's registrar sees its own record in full
    assert mine["actions"] == ["delete", "prove", "change", "carry_on"]
    assert mine["treatment"] == {"code": "none", "name": "未处理"}
    # the other school's record: name, masked number and school — nothing else
    assert theirs["student"] == {"name": "张小明", "id_number": masked}
    assert theirs["actions"] == [] and theirs["request_id"] is None
    assert "key" not in p

    # the other school sees the same problem the other way round
    other = show(call, XIHU, duplicate["problem"])
    assert side_of(other, duplicate["side_b"])["own"] is True
    assert side_of(other, duplicate["side_a"])["student"] == {"name": "张小明", "id_number": masked}

    # counties: their own school's record per privacy rules, the other county's masked
    county = show(call, DONGHU_COUNTY, duplicate["problem"])
    assert side_of(county, duplicate["side_a"])["student"]["id_number"] == number
    assert side_of(county, duplicate["side_b"])["student"]["id_number"] == masked
    assert side_of(county, duplicate["side_a"])["actions"] == []  # only the school handles its record
    # the city sees both sides (its subtree) but has no full view
    city = show(call, NANCHANG, duplicate["problem"])
    assert all(s["own"] for s in city["sides"])
    assert {s["student"]["id_number"] for s in city["sides"]} == {masked}
    assert number not in json.dumps(call(NANCHANG, "get", "/api/v1/problem/").json)
    # readers read
    assert call(VIEWER, "get", f"/api/v1/problem/{duplicate['problem']}").status_code == 200


def test_filters_and_paging(call, duplicate):
    assert call(DONGHU, "get", "/api/v1/problem/?kind=duplicate_id").json["count"] == 1
    assert call(DONGHU, "get", "/api/v1/problem/?kind=invalid_id").json["count"] == 0
    assert call(DONGHU, "get", "/api/v1/problem/?state=untreated").json["count"] == 1
    assert call(DONGHU, "get", "/api/v1/problem/?state=resolved").json["count"] == 0
    assert call(DONGHU, "get", "/api/v1/problem/?state=all&page=0&page_size=5").json["count"] == 1
    bad = call(DONGHU, "get", "/api/v1/problem/?state=done")
    assert bad.status_code == 400 and "state 的取值“done”无效" in bad.json["message"]
    bad = call(DONGHU, "get", "/api/v1/problem/?kind=x")
    assert bad.status_code == 400 and cjk(bad.json["message"])
    bad = call(DONGHU, "get", "/api/v1/problem/?page_size=1000")
    assert bad.status_code == 400 and bad.json["message"] == "page_size 最大为 100"


def test_other_county_and_school_get_404_for_the_problem_and_its_sides(app, call, duplicate):
    before = snapshot(app)
    for who in (LIANXI_COUNTY, LIANXI):
        assert call(who, "get", "/api/v1/problem/").json["count"] == 0
        r = call(who, "get", f"/api/v1/problem/{duplicate['problem']}")
        assert r.status_code == 404 and r.json["message"] == NOT_FOUND, who
        for side in (duplicate["side_a"], duplicate["side_b"]):
            for action, body in (("delete", {"reason": "误录"}), ("change", {"changes": {}, "reason": "x"}),
                                 ("prove", {"reason": "x", "attachments": files()})):
                r = act(call, who, side, action, **body)
                assert r.status_code == 404 and r.json["message"] == NOT_FOUND, (who, action)
        r = call(who, "post", "/api/v1/problem/carry-on", {"side_ids": [duplicate["side_a"]], "reason": "毕业"})
        assert r.status_code == 404 and r.json["message"] == NOT_FOUND
        r = call(who, "post", f"/api/v1/problem/{duplicate['problem']}/arbitrate",
                 {"winner_side_id": duplicate["side_a"], "comment": "x"})
        assert r.status_code == 404 and r.json["message"] == NOT_FOUND
    # a reader without write permissions: 404 before the permission check for what it cannot see…
    r = call(VIEWER, "post", f"/api/v1/problem/side/{duplicate['side_a'] + 999}/delete", {"reason": "x"})
    assert r.status_code == 404 and r.json["message"] == NOT_FOUND
    # …and 403 for what it can
    r = act(call, VIEWER, duplicate["side_a"], "delete", reason="x")
    assert r.status_code == 403 and r.json["message"] == "您没有权限执行此操作"
    assert call(DONGHU, "get", "/api/v1/problem/99999").status_code == 404
    assert snapshot(app) == before


def test_counts_for_county_and_city(call, duplicate):
    def count(who):
        r = call(who, "get", "/api/v1/problem/counts")
        assert r.status_code == 200, r.json
        found = {(row["kind"]["code"], row["state"]["code"]): row["count"] for row in r.json["result"]}
        assert len(found) == 15
        return r.json, found

    body, found = count(DONGHU_COUNTY)
    assert found[("duplicate_id", "untreated")] == 1 and sum(found.values()) == 1
    assert body["open"] == 1 and body["total"] == 1
    assert next(k for k in body["by_kind"] if k["kind"]["code"] == "duplicate_id") == {
        "kind": {"code": "duplicate_id", "name": "身份证号重复"}, "open": 1, "total": 1}
    body, found = count(NANCHANG)
    assert found[("duplicate_id", "untreated")] == 1 and body["unit"]["name"] == "南昌市教育局"
    body, found = count(LIANXI_COUNTY)
    assert body["total"] == 0 and sum(found.values()) == 0
    body, found = count(PROVINCE)
    assert body["open"] == 1


# ---------------------------------------------------------------- states: 佐证 → 一方已佐证 → 待仲裁 → 已仲裁 → 已解决

def test_both_prove_then_the_common_superior_arbitrates_and_the_loser_deletes(app, call, duplicate):
    pid, side_a, side_b = duplicate["problem"], duplicate["side_a"], duplicate["side_b"]
    version = show(call, DONGHU, pid)["version"]

    r = act(call, DONGHU, side_a, "prove", reason="经派出所核实，身份证号属本校学生", attachments=files(),
            expected_version=version)
    assert r.status_code == 201, r.json
    assert r.json["message"] == "问题学籍佐证申请已提交，等待东湖区教育体育局核办"
    assert r.json["request"]["type_label"] == "问题学籍佐证"
    mine = side_of(r.json["result"], side_a)
    assert mine["treatment"]["code"] == "proving" and mine["actions"] == []
    assert mine["request_id"] == r.json["request_id"]
    with app.app_context():
        att = db.session.scalar(select(Attachment).where(Attachment.request_id == r.json["request_id"]))
        assert att.kind == "evidence" and att.student_id == duplicate["a"]
        db.session.remove()
    # the request shows which problem it is about
    shown = call(DONGHU_COUNTY, "get", f"/api/v1/request/{r.json['request_id']}").json["result"]
    assert {"field": "问题学籍", "before": "", "after": f"身份证号重复（编号 {pid}）"} in shown["changes"]
    # while it is pending the school cannot start another treatment
    again = act(call, DONGHU, side_a, "delete", reason="误录")
    assert again.status_code == 422 and again.json["message"] == "本校对该记录的处理（佐证审批中）尚未办结，请等待审批结果"

    approve(call, DONGHU_COUNTY, r.json["request_id"])
    p = show(call, DONGHU, pid)
    assert p["state"] == {"code": "partly", "name": "一方已佐证，另一方未处理"}
    assert side_of(p, side_a)["treatment"]["code"] == "proved"
    assert side_of(p, side_a)["actions"] == ["delete", "change", "carry_on"]

    prove(call, XIHU, side_b, XIHU_COUNTY)
    p = show(call, NANCHANG, pid)
    assert p["state"]["code"] == "arbitration" and p["arbiter"]["name"] == "南昌市教育局" and p["may_arbitrate"]
    queue = call(NANCHANG, "get", "/api/v1/problem/arbitration").json
    assert queue["count"] == 1 and queue["result"][0]["id"] == pid
    assert call(DONGHU_COUNTY, "get", "/api/v1/problem/arbitration").json["count"] == 0

    before = snapshot(app)
    # not the common superior: the schools' counties, the province
    for who in (DONGHU_COUNTY, XIHU_COUNTY, PROVINCE):
        r = call(who, "post", f"/api/v1/problem/{pid}/arbitrate", {"winner_side_id": side_a, "comment": "属东湖"})
        assert r.status_code == 403, (who, r.json)
        assert r.json["message"] == "该问题学籍由双方学校的共同上级（南昌市教育局）仲裁"
    # the arbiter, with bad input
    for body, status, message in (
            ({"winner_side_id": side_a}, 422, "仲裁须填写理由"),
            ({"winner_side_id": 0, "comment": "属东湖"}, 422, "请选择仲裁通过的记录"),
            ({"winner_side_id": "一", "comment": "属东湖"}, 400, "winner_side_id 应为整数"),
            ({"winner_side_id": side_a, "comment": "属东湖", "expected_version": p["version"] - 1}, 422,
             "该问题学籍已有变化，请刷新页面后再处理")):
        r = call(NANCHANG, "post", f"/api/v1/problem/{pid}/arbitrate", body)
        assert r.status_code == status and r.json["message"] == message, (body, r.json)
    assert snapshot(app) == before

    r = call(NANCHANG, "post", f"/api/v1/problem/{pid}/arbitrate",
             {"winner_side_id": side_a, "comment": "经核实学生在东湖第一小学就读", "expected_version": p["version"]})
    assert r.status_code == 200, r.json
    assert r.json["message"] == "仲裁完成：东湖第一小学的记录通过，其他各方须删除或变更其记录"
    p = r.json["result"]
    assert p["state"] == {"code": "arbitrated", "name": "已仲裁，待未通过方处理"}
    assert p["arbitration_comment"] == "经核实学生在东湖第一小学就读" and not p["may_arbitrate"]
    assert side_of(p, side_a)["treatment"]["code"] == "won" and side_of(p, side_b)["treatment"]["code"] == "lost"
    again = call(NANCHANG, "post", f"/api/v1/problem/{pid}/arbitrate", {"winner_side_id": side_b, "comment": "x"})
    assert again.status_code == 422 and again.json["message"] == "该问题学籍当前状态为“已仲裁，待未通过方处理”，不需要仲裁"

    # the loser cannot prove again; it deletes its record
    assert side_of(show(call, XIHU, pid), side_b)["actions"] == ["delete", "change", "carry_on"]
    r = act(call, XIHU, side_b, "prove", reason="再次佐证", attachments=files())
    assert r.status_code == 422 and r.json["message"] == "仲裁未通过的记录不能再佐证，请删除或变更关键数据"
    r = act(call, XIHU, side_b, "delete", reason="仲裁未通过，学生实际在东湖第一小学就读")
    assert r.status_code == 201, r.json
    assert r.json["message"] == "问题学籍删除申请已提交，等待西湖区教育体育局核办"
    approve(call, XIHU_COUNTY, r.json["request_id"])

    p = show(call, DONGHU, pid)
    assert p["state"] == {"code": "resolved", "name": "已解决"}
    assert p["resolution"] == "仅余一条记录（张小明），问题已解决"
    assert side_of(p, side_b)["treatment"]["code"] == "deleted"
    with app.app_context():
        assert db.session.get(Student, duplicate["b"]).status.value == "deleted"
        assert db.session.get(Student, duplicate["a"]).status.value == "in_school"
        db.session.remove()
    assert call(DONGHU, "get", "/api/v1/problem/").json["count"] == 0
    assert call(DONGHU, "get", "/api/v1/problem/?state=resolved").json["count"] == 1
    r = act(call, DONGHU, side_a, "delete", reason="x")
    assert r.status_code == 422 and r.json["message"] == "该问题学籍已解决，无需处理"


def test_an_invalid_id_number_proved_right_is_resolved(app, call):
    with app.app_context():
        a = enrolled(DONGHU, seq=1)
        wrong = a.id_number[:17] + ("0" if a.id_number[17] != "0" else "1")  # wrong check character
        db.session.execute(update(Student).where(Student.id == a.id).values(origin="legacy", id_number=wrong))
        db.session.commit()
        problems.detect(db.session, account(db.session, PROVINCE))
        db.session.commit()
        db.session.remove()
    p = call(DONGHU, "get", "/api/v1/problem/?kind=invalid_id").json["result"][0]
    assert p["kind"] == {"code": "invalid_id", "name": "身份证号错误"} and p["detail"] == "身份证号校验位错误"
    assert len(p["sides"]) == 1 and p["sides"][0]["student"]["id_number"] == wrong
    prove(call, DONGHU, p["sides"][0]["id"], DONGHU_COUNTY)
    p = show(call, DONGHU, p["id"])
    assert p["state"]["code"] == "resolved" and p["resolution"] == "佐证通过：身份证号经核实无误"


def test_one_side_deletes_its_record_and_the_problem_is_resolved(call, duplicate):
    r = act(call, XIHU, duplicate["side_b"], "delete", reason="学生实际在东湖第一小学就读")
    assert r.status_code == 201, r.json
    assert show(call, XIHU, duplicate["problem"])["state"]["code"] == "untreated"  # until the county decides
    approve(call, XIHU_COUNTY, r.json["request_id"])
    p = show(call, DONGHU, duplicate["problem"])
    assert p["state"]["code"] == "resolved" and p["resolution"] == "仅余一条记录（张小明），问题已解决"


def test_a_rejected_proof_returns_the_side_to_untreated(call, duplicate):
    r = act(call, DONGHU, duplicate["side_a"], "prove", reason="经核实无误", attachments=files())
    assert r.status_code == 201, r.json
    no = call(DONGHU_COUNTY, "post", f"/api/v1/request/{r.json['request_id']}/reject", {"comment": "证明材料不清晰"})
    assert no.status_code == 200, no.json
    p = show(call, DONGHU, duplicate["problem"])
    assert p["state"]["code"] == "untreated"
    assert side_of(p, duplicate["side_a"])["treatment"]["code"] == "none"


def test_change_of_the_id_number_resolves_the_duplicate(app, call, duplicate):
    corrected = build_id_number("360103", D(2019, 3, 7), 15)
    r = act(call, XIHU, duplicate["side_b"], "change", changes={"id_number": corrected},
            reason="身份证号录入错误，按户口簿更正", attachments=files("户口簿.pdf"))
    assert r.status_code == 201, r.json
    assert r.json["request"]["type_label"] == "关键数据变更" and r.json["warnings"] == []
    assert side_of(r.json["result"], duplicate["side_b"])["treatment"]["code"] == "changing"
    approve(call, XIHU_COUNTY, r.json["request_id"])
    p = show(call, XIHU, duplicate["problem"])
    assert p["state"]["code"] == "resolved" and p["resolution"] == "仅余一条记录（张小明），问题已解决"
    with app.app_context():
        assert db.session.get(Student, duplicate["b"]).id_number == corrected
        db.session.remove()


def test_carry_on_for_graduating_students(call, duplicate):
    r = call(DONGHU, "post", "/api/v1/problem/carry-on", {"side_ids": [duplicate["side_a"]], "reason": "六年级毕业"})
    assert r.status_code == 200, r.json
    assert r.json["carried"] == [duplicate["side_a"]]
    assert r.json["message"] == "已结转 1 条记录，由下一学段的学校继续处理"
    p = show(call, DONGHU, duplicate["problem"])
    assert side_of(p, duplicate["side_a"])["treatment"] == {"code": "carried", "name": "结转下一学段处理"}
    # the county may carry on for its schools; not the other school's record
    r = call(XIHU_COUNTY, "post", "/api/v1/problem/carry-on", {"side_ids": [duplicate["side_b"]], "reason": "毕业"})
    assert r.status_code == 200 and r.json["carried"] == [duplicate["side_b"]]
    for body, status, message in (({"side_ids": [duplicate["side_b"]], "reason": "毕业"}, 403,
                                   "只能结转本校（或本辖区学校）的记录"),
                                  ({"side_ids": [], "reason": "毕业"}, 400, "请选择要结转的记录（side_ids）"),
                                  ({"side_ids": ["a"], "reason": "毕业"}, 400, "side_ids 应为整数"),
                                  ({"side_ids": [duplicate["side_a"]], "reason": " "}, 422, "请填写结转说明")):
        r = call(DONGHU, "post", "/api/v1/problem/carry-on", body)
        assert r.status_code == status and r.json["message"] == message, (body, r.json)


# ---------------------------------------------------------------- refused input: Chinese, nothing changed

def test_refused_handling_changes_nothing(app, call, duplicate):
    side_a, side_b = duplicate["side_a"], duplicate["side_b"]
    before = snapshot(app)
    cases = [
        # the other school's record
        (DONGHU, side_b, "delete", {"reason": "对方误录"}, 403, "只能删除本校的记录；对方学校的记录由对方处理"),
        (DONGHU, side_b, "prove", {"reason": "x", "attachments": files()}, 403,
         "只能佐证本校的记录；对方学校的记录由对方处理"),
        (DONGHU, side_b, "change", {"changes": {"name": "张小红"}, "reason": "x", "attachments": files()}, 403,
         "只能变更本校的记录；对方学校的记录由对方处理"),
        # the county does not handle records itself
        (DONGHU_COUNTY, side_a, "delete", {"reason": "误录"}, 403, "只能删除本校的记录；对方学校的记录由对方处理"),
        # proof without evidence, reasons missing
        (DONGHU, side_a, "prove", {"reason": "经核实无误"}, 422, "佐证须上传证明材料（如派出所证明、户口簿）"),
        (DONGHU, side_a, "prove", {"reason": "经核实无误", "attachments": []}, 422,
         "佐证须上传证明材料（如派出所证明、户口簿）"),
        (DONGHU, side_a, "prove", {"attachments": files()}, 422, "请说明佐证理由（如：经派出所核实身份证号无误）"),
        (DONGHU, side_a, "delete", {"reason": "  "}, 422, "请填写删除原因（如：学生实际在对方学校就读）"),
        (DONGHU, side_a, "delete", {"reason": "误录", "expected_version": 99}, 422,
         "该问题学籍已有变化，请刷新页面后再处理"),
        (DONGHU, side_a, "change", {"changes": {}, "reason": "x", "attachments": files()}, 422, "没有任何关键数据发生变化"),
        (DONGHU, side_a, "change", {"changes": "x", "reason": "x"}, 400, "changes 应为关键数据字段对象"),
        (DONGHU, side_a, "change", {"changes": {"name": "张小红"}, "reason": "改名"}, 422,
         "关键数据变更须上传证明材料（如户口簿、身份证复印件）"),
        # malformed bodies
        (DONGHU, side_a, "delete", {"reason": 5}, 400, "reason 应为文本"),
        (DONGHU, side_a, "delete", {"reason": "误录", "expected_version": "x"}, 400, "expected_version 应为整数"),
        (DONGHU, side_a, "prove", {"reason": "x", "attachments": [{"filename": "a.pdf", "content_base64": "%%"}]},
         400, "第 1 个附件（a.pdf）的内容不是有效的 Base64 编码"),
        (DONGHU, side_a, "prove", {"reason": "x", "attachments": "a.pdf"}, 400, "attachments 应为附件列表"),
    ]
    for who, side, action, body, status, message in cases:
        r = act(call, who, side, action, **body)
        assert r.status_code == status and r.json["message"] == message, (who, action, body, r.json)
    r = call(DONGHU, "post", f"/api/v1/problem/side/{side_a}/delete", None)
    assert r.status_code == 400 and r.json["message"] == "请求内容应为 JSON 对象"
    field = act(call, DONGHU, side_a, "prove", reason="经核实无误")
    assert field.json["field"] == "attachments"
    # arbitration of a problem nobody has proved yet
    r = call(NANCHANG, "post", f"/api/v1/problem/{duplicate['problem']}/arbitrate",
             {"winner_side_id": side_a, "comment": "x"})
    assert r.status_code == 422 and r.json["message"] == "该问题学籍当前状态为“未处理”，不需要仲裁"
    assert snapshot(app) == before


def test_a_record_with_an_open_transfer_cannot_be_deleted(app, call, duplicate):
    with app.app_context():
        transfers.start_transfer_out(db.session, account(db.session, DONGHU), duplicate["a"],
                                     to_school_code="3601030001", reason_code="01")
        db.session.commit()
        db.session.remove()
    before = snapshot(app)
    r = act(call, DONGHU, duplicate["side_a"], "delete", reason="学生实际在对方学校就读")
    assert r.status_code == 422, r.json
    assert re.fullmatch(r"学生 张小明 有尚未办结的“转学（转出申请）”（申请号 \d+），不能发起“问题学籍删除”；"
                        r"请先办结或撤销该申请", r.json["message"]), r.json["message"]
    r = act(call, DONGHU, duplicate["side_a"], "prove", reason="经核实无误", attachments=files())
    assert r.status_code == 422 and "有尚未办结的“转学（转出申请）”" in r.json["message"]
    assert snapshot(app) == before  # the evidence stored on the way is gone again


# ---------------------------------------------------------------- detection

def test_detection_is_started_by_the_province_as_a_job(app, call):
    with app.app_context():
        a = enrolled(DONGHU, seq=1)
        b = enrolled(XIHU, seq=2)
        db.session.execute(update(Student).where(Student.id == b.id).values(origin="legacy", id_number=a.id_number))
        db.session.commit()
        db.session.remove()
    r = call(DONGHU_COUNTY, "post", "/api/v1/problem/detect")
    assert r.status_code == 403 and r.json["message"] == "问题学籍检测由省级管理员发起（全省范围）"
    r = call(DONGHU, "post", "/api/v1/problem/detect")
    assert r.status_code == 403 and r.json["message"] == "问题学籍检测由省级管理员发起（全省范围）"
    assert call(VIEWER, "post", "/api/v1/problem/detect").status_code == 403
    with app.app_context():
        from app.models.job import Job
        assert db.session.scalar(select(func.count()).select_from(Job)) == 0
        db.session.remove()

    r = call(PROVINCE, "post", "/api/v1/problem/detect")
    assert r.status_code == 202, r.json
    job_id = r.json["job_id"]
    assert r.json["job"]["kind"] == "detect_problems" and r.json["message"] == f"已提交问题学籍检测任务 #{job_id}，完成后可在“我的任务”查看结果"
    job = finish_jobs(app, job_id)
    assert job.state.value == "finished", job.message
    listed = call(DONGHU, "get", "/api/v1/problem/").json
    assert listed["count"] == 1 and listed["result"][0]["kind"]["code"] == "duplicate_id"


# ---------------------------------------------------------------- auth, OpenAPI

def test_requires_a_token(client):
    r = client.get("/api/v1/problem/")
    assert r.status_code == 401 and r.json["message"] == "请先登录（缺少或无效的访问令牌）"
    assert client.post("/api/v1/problem/detect").status_code == 401


def test_openapi_spec_has_the_problem_paths(call):
    r = call("admin", "get", "/api/v1/_openapi")
    assert r.status_code == 200
    paths = r.json["paths"]
    for p in ("/api/v1/problem/", "/api/v1/problem/{pk}", "/api/v1/problem/counts", "/api/v1/problem/arbitration",
              "/api/v1/problem/side/{pk}/delete", "/api/v1/problem/side/{pk}/prove",
              "/api/v1/problem/side/{pk}/change", "/api/v1/problem/carry-on", "/api/v1/problem/{pk}/arbitrate",
              "/api/v1/problem/detect"):
        assert p in paths, p
    assert "ProblemProveBody" in r.json["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": "#/components/(\w+)/([^"]+)"', json.dumps(r.json)))
    assert [ref for ref in refs if ref[1] not in r.json["components"][ref[0]]] == []
