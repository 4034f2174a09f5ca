"""学籍异动 on the approval screens: a school's confirmation in its 审批待办, a "no" against the
other side's "yes" going to arbitration by the common superior, the arbitration form (reason
required, final), bulk approval never deciding an arbitration, overdue steps highlighted in the
inbox and counted on the home page, and the route setting changing a new transfer's route."""
import datetime
import re

from sqlalchemy import select

from app.extensions import db
from app.models import Request, RequestState
from app.models.requests import StepDecision, StepRole
from app.services import requests, transfers
from tests.conftest import account
from tests.integration.test_registry_services import enrolled

DONG_SCHOOL = "school_3601020001"   # 东湖第一小学 (东湖区, 南昌市)
XI_SCHOOL = "school_3601030001"     # 西湖第一小学 (西湖区, 南昌市)


def text(resp):
    return resp.get_data(as_text=True)


def visible(html):
    """The page's text without tags or whitespace, to read sentences split by markup."""
    return re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", html))


def version_on(html):
    return int(re.search(r'name="expected_version" value="(\d+)"', html).group(1))


def transfer(app):
    """西湖第一小学 asks for a student of 东湖第一小学 (转入申请, across two counties of one city).
    Returns (request id, student id)."""
    with app.app_context():
        s = enrolled(DONG_SCHOOL)
        req = transfers.start_transfer_in(db.session, account(db.session, XI_SCHOOL), name=s.name,
                                          number=s.xueji_no, grade="11", reason_code="03")
        db.session.commit()
        return req.id, s.id


def load(app, rid):
    """(state, [(unit name, role, decision)], current step's role, version, student's school name)."""
    with app.app_context():
        req = db.session.get(Request, rid)
        steps = [(s.org_unit.name, s.role, s.decision) for s in sorted(req.steps, key=lambda s: s.seq)]
        current = requests.current_step(req)
        return (req.state, steps, current.role if current is not None else None, req.version,
                req.student.school.name)


def refuse_at_school(app, as_user, rid, reason="学生家长未同意转学"):
    school = as_user(DONG_SCHOOL)
    version = version_on(text(school.get(f"/inboxview/show/{rid}")))
    return text(school.post(f"/inboxview/reject/{rid}", data={"expected_version": version, "comment": reason},
                            follow_redirects=True))


# --------------------------------------------------------------------------- the school's confirmation

def test_school_sees_its_confirmation_in_the_inbox_with_school_wording(app, as_user):
    rid, _sid = transfer(app)
    school = as_user(DONG_SCHOOL)
    home = text(school.get("/"))
    assert "/inboxview/list/" in home and "待本校确认1件" in visible(home)
    html = text(school.get("/inboxview/list/"))
    assert f'href="/inboxview/show/{rid}"' in html and "转学（转入申请）" in html
    assert "学校确认，转出方" in html and "批量同意" in html
    html = text(school.get(f"/inboxview/show/{rid}"))
    page = visible(html)
    assert "东湖第一小学（学校确认，转出方）" in page
    assert "东湖区教育体育局（审批，转出方）" in page and "西湖区教育体育局（审批，转入方）" in page
    assert "不同意的理由（必填）" in page and ">同意<" in re.sub(r"\s+", "", html)
    # The hint says where a "no" goes: the starting school has said yes by starting it.
    assert "西湖第一小学已同意" in page and "南昌市教育局仲裁" in page
    # Another school sees nothing of it.
    assert as_user("school_3601020002").get(f"/inboxview/show/{rid}").status_code == 404


def test_school_agrees_and_the_request_moves_on(app, as_user):
    rid, _sid = transfer(app)
    school = as_user(DONG_SCHOOL)
    version = version_on(text(school.get(f"/inboxview/show/{rid}")))
    html = text(school.post(f"/inboxview/approve/{rid}", data={"expected_version": version}, follow_redirects=True))
    assert f"申请号 {rid}：本校已同意，转东湖区教育体育局办理" in html
    state, steps, role, _v, _school = load(app, rid)
    assert state == RequestState.PENDING and steps[0][2] == StepDecision.APPROVED and role == StepRole.APPROVE
    assert f"/inboxview/show/{rid}" not in text(school.get("/inboxview/list/"))
    assert f"/inboxview/show/{rid}" in text(as_user("county_360102").get("/inboxview/list/"))


def test_county_refusal_without_the_other_sides_yes_is_a_plain_rejection(app, as_user):
    rid, _sid = transfer(app)
    school = as_user(DONG_SCHOOL)
    school.post(f"/inboxview/approve/{rid}", data={})
    county = as_user("county_360102")
    html = text(county.get(f"/inboxview/show/{rid}"))
    assert "驳回理由（必填，将退回学校）" in html and "仲裁" not in visible(html).replace("仲裁后免审", "")
    html = text(county.post(f"/inboxview/reject/{rid}", data={"comment": "材料不全"}, follow_redirects=True))
    assert f"申请号 {rid} 已驳回，退回发起学校" in html
    assert load(app, rid)[0] == RequestState.REJECTED


# --------------------------------------------------------------------------- arbitration

def test_school_refusal_goes_to_arbitration_by_the_city(app, as_user):
    rid, sid = transfer(app)
    html = refuse_at_school(app, as_user, rid)
    assert f"申请号 {rid}：双方意见不一致（对方已同意），已提交南昌市教育局仲裁" in html
    assert "已驳回" not in html
    state, steps, role, version, school = load(app, rid)
    assert state == RequestState.PENDING and role == StepRole.ARBITRATE and school == "东湖第一小学"
    assert steps[0][2] == StepDecision.REJECTED and steps[1][:2] == ("南昌市教育局", StepRole.ARBITRATE)

    # Everyone who sees the request sees the banner: who decides and why.
    for who, url in ((DONG_SCHOOL, f"/inboxview/show/{rid}"), (XI_SCHOOL, f"/myrequestsview/show/{rid}"),
                     ("county_360102", f"/openrequestsview/show/{rid}")):
        page = visible(text(as_user(who).get(url)))
        assert "仲裁中：由南昌市教育局作出最终决定" in page, who
        assert "东湖第一小学（学校确认，转出方）不同意" in page and "学生家长未同意转学" in page, who
        assert "南昌市教育局（仲裁）" in page, who
    # Only the arbitrator gets the form.
    assert 'id="arbitration-form"' not in text(as_user("county_360102").get(f"/openrequestsview/show/{rid}"))

    city = as_user("city_360100")
    html = text(city.get("/inboxview/list/"))
    assert f'href="/inboxview/show/{rid}"' in html
    assert f'name="rowid" value="{rid}"' not in html  # no bulk approval of an arbitration
    html = text(city.get(f"/inboxview/show/{rid}"))
    assert 'id="arbitration-form"' in html and "支持申请（通过）" in html and "不予支持（驳回）" in html
    assert 'name="comment"' in html and "required" in html
    assert "审批通过" not in visible(html)  # not the ordinary approve/reject forms


def test_arbitration_needs_a_reason_and_is_final(app, as_user):
    rid, sid = transfer(app)
    refuse_at_school(app, as_user, rid)
    city = as_user("city_360100")
    version = version_on(text(city.get(f"/inboxview/show/{rid}")))
    before = load(app, rid)
    for data in ({"decision": "approve", "comment": "   "}, {"decision": "reject", "comment": ""},
                 {"decision": "approve"}):
        html = text(city.post(f"/inboxview/arbitrate/{rid}", data={"expected_version": version, **data},
                              follow_redirects=True))
        assert "仲裁须填写裁决理由" in html
        assert load(app, rid) == before  # nothing changed
    html = text(city.post(f"/inboxview/arbitrate/{rid}", data={"expected_version": version, "comment": "理由"},
                          follow_redirects=True))
    assert "请选择仲裁结果" in html and load(app, rid) == before
    # The ordinary approve endpoint does not get round the reason either.
    html = text(city.post(f"/inboxview/approve/{rid}", data={"expected_version": version}, follow_redirects=True))
    assert "仲裁须填写裁决理由" in html and load(app, rid) == before
    # Neither does bulk approval with a comment: arbitrations are refused before the engine.
    resp = city.post("/inboxview/bulk_approve", data={"rowid": [str(rid)], "comment": "批量"})
    html = text(city.get(resp.headers["Location"]))
    assert f"申请号 {rid} 处于仲裁环节，须在详情页逐件填写裁决理由，未批量处理" in html
    assert load(app, rid) == before
    # A county of the parties may not arbitrate.
    html = text(as_user("county_360102").post(f"/inboxview/arbitrate/{rid}",
                                              data={"decision": "approve", "comment": "我来"}, follow_redirects=True))
    assert "当前由“南昌市教育局”核办，您无权处理" in html and load(app, rid) == before

    html = text(city.post(f"/inboxview/arbitrate/{rid}",
                          data={"expected_version": version, "decision": "approve", "comment": "转学材料齐全，符合就近入学"},
                          follow_redirects=True))
    assert f"申请号 {rid} 已仲裁：支持申请，审批通过" in html
    state, steps, _role, _v, school = load(app, rid)
    assert state == RequestState.APPROVED and school == "西湖第一小学"
    assert [d for _u, _r, d in steps] == [StepDecision.REJECTED, StepDecision.APPROVED,
                                          StepDecision.SKIPPED, StepDecision.SKIPPED]
    page = visible(text(city.get(f"/openrequestsview/show/{rid}")))
    assert "经南昌市教育局仲裁：支持申请" in page and "转学材料齐全，符合就近入学" in page and "仲裁后免审" in page
    # Final: nothing left to decide for anyone.
    for who in ("city_360100", "county_360102", "county_360103"):
        assert f"/inboxview/show/{rid}" not in text(as_user(who).get("/inboxview/list/")), who
    html = text(city.post(f"/inboxview/arbitrate/{rid}", data={"decision": "reject", "comment": "改判"},
                          follow_redirects=True))
    assert "不在仲裁环节" in html and load(app, rid)[0] == RequestState.APPROVED


def test_arbitration_against_the_request_rejects_it(app, as_user):
    rid, sid = transfer(app)
    refuse_at_school(app, as_user, rid)
    city = as_user("city_360100")
    html = text(city.post(f"/inboxview/arbitrate/{rid}", data={"decision": "reject", "comment": "学生仍在原校就读"},
                          follow_redirects=True))
    assert f"申请号 {rid} 已仲裁：不予支持，申请已驳回" in html
    state, steps, _role, _v, school = load(app, rid)
    assert state == RequestState.REJECTED and school == "东湖第一小学"
    page = visible(text(as_user(XI_SCHOOL).get(f"/myrequestsview/show/{rid}")))
    assert "经南昌市教育局仲裁：不予支持" in page and "学生仍在原校就读" in page


def test_county_refusal_after_the_other_county_agreed_goes_to_arbitration(app, as_user):
    rid, sid = transfer(app)
    as_user(DONG_SCHOOL).post(f"/inboxview/approve/{rid}", data={})
    html = text(as_user("county_360102").post(f"/inboxview/approve/{rid}", data={}, follow_redirects=True))
    assert f"申请号 {rid} 已审批通过，转西湖区教育体育局办理" in html
    west = as_user("county_360103")
    page = visible(text(west.get(f"/inboxview/show/{rid}")))
    assert "东湖区教育体育局已同意" in page and "南昌市教育局仲裁" in page
    html = text(west.post(f"/inboxview/reject/{rid}", data={"comment": "学位已满"}, follow_redirects=True))
    assert "已提交南昌市教育局仲裁" in html and "已驳回" not in html
    state, steps, role, _v, _school = load(app, rid)
    assert state == RequestState.PENDING and role == StepRole.ARBITRATE


# --------------------------------------------------------------------------- overdue

def _age_current_step(app, rid, days=20):
    with app.app_context():
        req = db.session.get(Request, rid)
        requests.current_step(req).arrived_at = datetime.datetime.now() - datetime.timedelta(days=days)
        db.session.commit()


def test_overdue_steps_are_highlighted_and_counted(app, as_user):
    late, _ = transfer(app)
    with app.app_context():  # a second, fresh one of the same school for another student
        s = enrolled(DONG_SCHOOL, seq=2, name="李小红")
        fresh = transfers.start_transfer_in(db.session, account(db.session, XI_SCHOOL), name=s.name,
                                            number=s.xueji_no, grade="11", reason_code="03").id
        db.session.commit()
    _age_current_step(app, late, days=20)  # 14 working days or more, whatever today is
    school = as_user(DONG_SCHOOL)
    html = text(school.get("/inboxview/list/"))
    row_late = re.search(rf'<tr class="danger">.*?/inboxview/show/{late}".*?</tr>', html, re.S)
    assert row_late and "超期" in row_late.group(0) and "个工作日" in row_late.group(0)
    assert not re.search(rf'<tr class="danger">(?:(?!</tr>).)*/inboxview/show/{fresh}"', html, re.S)
    assert "有 1 件申请在本单位等待已超过 5 个工作日" in html
    only = text(school.get("/inboxview/list/?overdue=1"))
    assert f"/inboxview/show/{late}" in only and f"/inboxview/show/{fresh}" not in only
    assert "待本校确认2件（其中超期1件）" in visible(text(school.get("/")))
    page = visible(text(school.get(f"/inboxview/show/{late}")))
    assert "超期（时限5个工作日）" in page

    # The county: nothing waits for it yet, but its subtree has one overdue step.
    county = visible(text(as_user("county_360102").get("/")))
    assert "待我审批0件（其中超期0件）" in county and "辖区内超期未办1件" in county
    city_home = text(as_user("city_360100").get("/"))
    assert "辖区内超期未办1件" in visible(city_home) and "/openrequestsview/list/?overdue=1" in city_home
    html = text(as_user("city_360100").get("/openrequestsview/list/?overdue=1"))
    assert f"/openrequestsview/show/{late}" in html and f"/openrequestsview/show/{fresh}" not in html
    assert "辖区内超期未办0件" in visible(text(as_user("county_360402").get("/")))


def test_holidays_of_the_calendar_do_not_count(app, as_user):
    rid, _ = transfer(app)
    _age_current_step(app, rid, days=10)  # 6-8 working days: overdue without holidays
    assert "待本校确认1件（其中超期1件）" in visible(text(as_user(DONG_SCHOOL).get("/")))
    today = datetime.date.today()
    resp = as_user("sheng_admin").post("/calendarview/add", data={
        "mode": "holiday", "starts_on": (today - datetime.timedelta(days=10)).isoformat(),
        "ends_on": today.isoformat(), "title": "假期"})
    assert resp.status_code == 302
    assert "待本校确认1件（其中超期0件）" in visible(text(as_user(DONG_SCHOOL).get("/")))
    html = text(as_user(DONG_SCHOOL).get("/inboxview/list/"))
    assert '<tr class="danger">' not in html and "0 个工作日" in html


# --------------------------------------------------------------------------- route settings

def test_route_setting_puts_the_receiving_county_first(app, as_user):
    before, _ = transfer(app)
    assert [u for u, _r, _d in load(app, before)[1]][1:] == ["东湖区教育体育局", "西湖区教育体育局"]
    province = as_user("sheng_admin")
    html = text(province.get("/processsettingview/list/"))
    assert "跨县（区）转学的审批顺序" in html and "默认" in html
    resp = province.post("/processsettingview/set", data={"key": "transfer.county_order", "value": "in_first"},
                         follow_redirects=True)
    html = text(resp)
    assert "已保存“跨县（区）转学的审批顺序”：先转入县（区）审批，后转出县（区）审批" in html and "本单位设置" in html
    city = visible(text(as_user("city_360100").get("/processsettingview/list/")))
    assert "沿用江西省教育厅的设置" in city
    with app.app_context():
        s = enrolled(DONG_SCHOOL, seq=3, name="王小华")
        req = transfers.start_transfer_in(db.session, account(db.session, XI_SCHOOL), name=s.name,
                                          number=s.xueji_no, grade="11", reason_code="03")
        db.session.commit()
        after = req.id
    assert [u for u, _r, _d in load(app, after)[1]][1:] == ["西湖区教育体育局", "东湖区教育体育局"]
    # The already started request keeps its route.
    assert [u for u, _r, _d in load(app, before)[1]][1:] == ["东湖区教育体育局", "西湖区教育体育局"]


def test_route_settings_are_set_only_where_allowed(app, as_user):
    county = as_user("county_360102")
    html = text(county.get("/processsettingview/list/"))
    # A county may set the status route only.
    assert html.count('name="key"') == 1 and 'value="status.route"' in html
    html = text(county.post("/processsettingview/set", data={"key": "transfer.county_order", "value": "in_first"},
                            follow_redirects=True))
    assert "只能由" in html
    html = text(county.post("/processsettingview/set", data={"key": "status.route", "value": "nonsense"},
                            follow_redirects=True))
    assert "取值不正确" in html
    from app.models.process import ProcessSetting
    with app.app_context():
        assert db.session.scalars(select(ProcessSetting)).all() == []
    school = as_user(DONG_SCHOOL)
    assert school.get("/processsettingview/list/").status_code == 200
    assert 'name="key"' not in text(school.get("/processsettingview/list/"))
    assert school.post("/processsettingview/set", data={"key": "status.route", "value": "county"}).status_code == 403
