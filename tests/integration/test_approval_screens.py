"""The approval screens over the one engine: 审批待办 (inbox, detail, approve/reject, bulk),
我的申请 (outcome, 撤销), 在办业务 (county cleanup), attachment download, the menu badge —
and that every id outside the actor's scope is a 404, whichever page or post it reaches."""
import datetime
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Request, RequestState, Student, StudentStatus
from app.services import attachments, students
from app.services.identity import build_id_number
from tests.conftest import account
from tests.integration.test_i18n import english_on

D = datetime.date
PDF = b"%PDF-1.4 evidence"
NAMES = ["张小明", "李小红", "王小华", "赵小刚", "刘小丽", "陈小军"]


def new_request(app, school="school_3601020001", seq=1, with_file=False):
    """A pending 新生注册 started by `school`; returns (request id, student id, attachment id)."""
    region = "360102" if school.startswith("school_360102") else "360103"
    with app.app_context():
        actor = account(db.session, school)
        files = [attachments.save(db.session, actor, "户口簿.pdf", PDF, "evidence", actor.org_unit.path)] if with_file else []
        data = {"name": NAMES[seq % len(NAMES)], "gender": "1", "birth_date": "2019-03-07", "id_type": "1",
                "id_number": build_id_number(region, D(2019, 3, 7), 2 * seq + 1), "ethnicity": "01", "grade": "11", "birthplace_code": "360102"}
        student, req, _ = students.register_student(db.session, actor, data,
                                                    [{"name": "张大明", "relation": "51", "phone": "13900000000"}],
                                                    attachments=files)
        db.session.commit()
        return req.id, student.id, (files[0].id if files else None)


def state_of(app, rid):
    with app.app_context():
        req = db.session.get(Request, rid)
        return req.state, req.student.status, req.outcome, req.version


def text(resp):
    return resp.get_data(as_text=True)


def version_on(html):
    return int(re.search(r'name="expected_version" value="(\d+)"', html).group(1))


# --------------------------------------------------------------------------- inbox

def test_inbox_lists_only_own_units_pending_requests(app, as_user):
    dong, _, _ = new_request(app, "school_3601020001", 1)
    xi, _, _ = new_request(app, "school_3601030001", 2)
    html = text(as_user("county_360102").get("/inboxview/list/"))
    assert f'href="/inboxview/show/{dong}"' in html and f'href="/inboxview/show/{xi}"' not in html
    assert "新生注册" in html and NAMES[1] in html
    assert "360102********" in html  # masked on the list
    html = text(as_user("county_360103").get("/inboxview/list/"))
    assert f'href="/inboxview/show/{xi}"' in html and f'href="/inboxview/show/{dong}"' not in html
    assert NAMES[1] not in html
    # The city sees neither: nothing waits for the city.
    html = text(as_user("city_360100").get("/inboxview/list/"))
    assert "没有等待本单位核办的申请" in html
    # Schools' inbox holds only their confirmations of transfers: no registration reaches it.
    school = as_user("school_3601020001")
    html = text(school.get("/inboxview/list/"))
    assert "没有等待本单位核办的申请" in html and "/inboxview/show/" not in html


def test_inbox_filters(app, as_user):
    r1, _, _ = new_request(app, "school_3601020001", 1)
    r2, _, _ = new_request(app, "school_3601020002", 2)
    client = as_user("county_360102")
    with app.app_context():
        school2 = account(db.session, "school_3601020002").org_unit_id
        school_b = account(db.session, "school_3601030001").org_unit_id
    html = text(client.get(f"/inboxview/list/?school={school2}"))
    assert f"/inboxview/show/{r2}" in html and f"/inboxview/show/{r1}" not in html
    # Only schools in scope (with something waiting) are offered.
    assert f'<option value="{school2}"' in html and f'<option value="{school_b}"' not in html
    # Another county's school id gives nothing, not its requests.
    assert "/inboxview/show/" not in text(client.get(f"/inboxview/list/?school={school_b}"))
    html = text(client.get("/inboxview/list/?type=key_data_change"))
    assert "/inboxview/show/" not in html
    today = datetime.date.today()
    html = text(client.get(f"/inboxview/list/?since={today}&until={today}&type=registration"))
    assert f"/inboxview/show/{r1}" in html and f"/inboxview/show/{r2}" in html
    html = text(client.get(f"/inboxview/list/?until={today - datetime.timedelta(days=1)}"))
    assert "/inboxview/show/" not in html
    html = text(client.get("/inboxview/list/?since=not-a-date"))
    assert "格式应为" in html and f"/inboxview/show/{r1}" in html


def test_inbox_paginates(app, as_user):
    from app.views import requests as views
    ids = [new_request(app, "school_3601020001", i)[0] for i in range(1, 4)]
    old, views.PAGE_SIZE = views.PAGE_SIZE, 2
    try:
        client = as_user("county_360102")
        first = text(client.get("/inboxview/list/"))
        second = text(client.get("/inboxview/list/?page=2"))
    finally:
        views.PAGE_SIZE = old
    assert "共 3 件，第 1 / 2 页" in first and "page=2" in first
    shown1 = set(map(int, re.findall(r"/inboxview/show/(\d+)", first)))
    shown2 = set(map(int, re.findall(r"/inboxview/show/(\d+)", second)))
    assert shown1 | shown2 == set(ids) and not shown1 & shown2


def test_detail_shows_record_reason_attachments_and_steps(app, as_user):
    rid, sid, att = new_request(app, with_file=True)
    html = text(as_user("county_360102").get(f"/inboxview/show/{rid}"))
    assert NAMES[1] in html and "新生注册" in html and "东湖区" in html
    assert "出生日期" in html and "2019-03-07" in html and "汉族" in html  # codes shown with their names
    assert "东湖区（360102）" in html and "360102000000" not in html
    assert f'href="/attachmentview/download/{att}"' in html and "户口簿.pdf" in html
    assert "待审批" in html and 'name="expected_version"' in html
    with app.app_context():  # the county officer sees the full number there, and that is audited
        number = db.session.get(Student, sid).id_number
        assert number in html
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "view", AuditLog.entity_id == str(sid))) == 1
    # The city sees the request (in its subtree) masked and without decision forms.
    html = text(as_user("city_360100").get(f"/inboxview/show/{rid}"))
    assert number not in html and "expected_version" not in html and "当前由" in html


def test_approve_from_detail_makes_the_student_in_school_and_updates_the_badge(app, as_user):
    rid, sid, _ = new_request(app, seq=1)
    new_request(app, seq=2)
    client = as_user("county_360102")
    home = text(client.get("/"))
    assert "审批待办（2）" in home and "审批（2）" in home
    version = version_on(text(client.get(f"/inboxview/show/{rid}")))
    resp = client.post(f"/inboxview/approve/{rid}", data={"expected_version": version, "comment": "材料齐全"},
                       follow_redirects=True)
    html = text(resp)
    assert "已审批通过" in html
    assert "审批待办（1）" in html  # the badge follows
    state, status, outcome, _ = state_of(app, rid)
    assert state == RequestState.APPROVED and status == StudentStatus.IN_SCHOOL and outcome == "材料齐全"
    html = text(client.get(f"/inboxview/show/{rid}"))  # the step now carries the decision, officer and comment
    assert "同意" in html and "材料齐全" in html and "expected_version" not in html
    # Per user: the other county has nothing, nor has the school (registrations are not its to confirm).
    assert "审批待办（" not in text(as_user("county_360103").get("/"))
    assert "审批待办（" not in text(as_user("school_3601020001").get("/"))


def test_reject_needs_a_comment_and_returns_to_school(app, as_user):
    rid, sid, _ = new_request(app)
    county = as_user("county_360102")
    version = version_on(text(county.get(f"/inboxview/show/{rid}")))
    html = text(county.post(f"/inboxview/reject/{rid}", data={"expected_version": version, "comment": "  "},
                            follow_redirects=True))
    assert "驳回须填写理由" in html
    assert state_of(app, rid)[0] == RequestState.PENDING
    html = text(county.post(f"/inboxview/reject/{rid}", data={"expected_version": version, "comment": "出生日期与户口簿不符"},
                            follow_redirects=True))
    assert "已驳回" in html
    state, status, outcome, _ = state_of(app, rid)
    assert state == RequestState.REJECTED and status == StudentStatus.REGISTERING
    school = as_user("school_3601020001")
    html = text(school.get("/myrequestsview/list/"))
    assert f"/myrequestsview/show/{rid}" in html and "已驳回" in html and "出生日期与户口簿不符" in html
    html = text(school.get(f"/myrequestsview/show/{rid}"))
    assert "出生日期与户口簿不符" in html and "撤销申请" not in html


def test_second_approver_with_old_version_gets_the_message_and_one_effect(app, as_user):
    rid, sid, _ = new_request(app)
    first, second = as_user("county_360102"), as_user("county_360102")
    seen = version_on(text(second.get(f"/inboxview/show/{rid}")))
    assert "已审批通过" in text(first.post(f"/inboxview/approve/{rid}", data={"expected_version": seen},
                                       follow_redirects=True))
    html = text(second.post(f"/inboxview/approve/{rid}", data={"expected_version": seen}, follow_redirects=True))
    assert "已被他人处理" in html
    html = text(second.post(f"/inboxview/reject/{rid}", data={"expected_version": seen, "comment": "晚了"},
                            follow_redirects=True))
    assert "已被他人处理" in html
    state, status, outcome, version = state_of(app, rid)
    assert state == RequestState.APPROVED and status == StudentStatus.IN_SCHOOL and version == seen + 1
    with app.app_context():
        s = db.session.get(Student, sid)
        assert len([h for h in s.history if h.status == "in_school"]) == 1


def test_bulk_approve_reports_successes_and_failures(app, as_user):
    a, _, _ = new_request(app, seq=1)
    b, _, _ = new_request(app, seq=2)
    done_before, _, _ = new_request(app, seq=3)
    other, _, _ = new_request(app, "school_3601030001", seq=4)
    county = as_user("county_360102")
    county.post(f"/inboxview/approve/{done_before}", data={})
    resp = county.post("/inboxview/bulk_approve", data={"rowid": [str(a), str(b), str(done_before), str(other), "x"],
                                                       "comment": "批量核办", "next": "/inboxview/list/?type=registration"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inboxview/list/?type=registration")
    html = text(county.get(resp.headers["Location"]))
    assert f"已批量通过 2 件申请（申请号 {a}、{b}）" in html
    assert f"申请号 {done_before} 未能通过：该申请已通过，不能重复处理" in html
    assert f"申请号 {other} 未能通过：记录不存在或不在您的管辖范围内" in html  # reveals nothing
    assert state_of(app, a)[0] == state_of(app, b)[0] == RequestState.APPROVED
    assert state_of(app, a)[2] == "批量核办"
    assert state_of(app, other)[0] == RequestState.PENDING
    html = text(county.post("/inboxview/bulk_approve", data={}, follow_redirects=True))
    assert "请先勾选要批量通过的申请" in html


# --------------------------------------------------------------------------- my requests, open requests

def test_school_cancels_its_pending_request(app, as_user):
    rid, sid, _ = new_request(app)
    school = as_user("school_3601020001")
    html = text(school.get(f"/myrequestsview/show/{rid}"))
    assert "撤销申请" in html and "待核办" in html
    version = version_on(html)
    html = text(school.post(f"/myrequestsview/cancel/{rid}", data={"expected_version": version}, follow_redirects=True))
    assert "已撤销" in html and "发起单位撤销申请" in html
    state, status, _, _ = state_of(app, rid)
    assert state == RequestState.CANCELLED and status == StudentStatus.DELETED
    # Gone from the county's inbox; a repeated cancel is refused with a message.
    assert f"/inboxview/show/{rid}" not in text(as_user("county_360102").get("/inboxview/list/"))
    html = text(school.post(f"/myrequestsview/cancel/{rid}", data={}, follow_redirects=True))
    assert "不能撤销" in html
    # Filters of 我的申请.
    assert f"/myrequestsview/show/{rid}" in text(school.get("/myrequestsview/list/?state=cancelled"))
    assert f"/myrequestsview/show/{rid}" not in text(school.get("/myrequestsview/list/?state=pending"))


def test_my_requests_are_the_own_units(app, as_user):
    mine, _, _ = new_request(app, "school_3601020001", 1)
    other, _, _ = new_request(app, "school_3601020002", 2)
    school = as_user("school_3601020001")
    html = text(school.get("/myrequestsview/list/"))
    assert f"/myrequestsview/show/{mine}" in html and f"/myrequestsview/show/{other}" not in html
    assert school.get(f"/myrequestsview/show/{other}").status_code == 404
    assert school.post(f"/myrequestsview/cancel/{other}", data={}).status_code == 404
    assert state_of(app, other)[0] == RequestState.PENDING
    assert as_user("county_360102").get("/myrequestsview/list/").status_code == 403


def test_county_cleanup_needs_a_reason(app, as_user):
    rid, sid, _ = new_request(app, "school_3601020001", 1)
    other, _, _ = new_request(app, "school_3601030001", 2)
    county = as_user("county_360102")
    html = text(county.get("/openrequestsview/list/"))
    assert f"/openrequestsview/show/{rid}" in html and f"/openrequestsview/show/{other}" not in html
    assert f"/openrequestsview/show/{rid}" not in text(county.get("/openrequestsview/list/?min_days=3"))
    assert f"/openrequestsview/show/{rid}" in text(county.get("/openrequestsview/list/?min_days=0&type=registration"))
    html = text(county.get(f"/openrequestsview/show/{rid}"))
    assert "代为撤销" in html
    version = version_on(html)
    html = text(county.post(f"/openrequestsview/cancel/{rid}", data={"expected_version": version, "reason": ""},
                            follow_redirects=True))
    assert "代为清理在办业务须填写理由" in html
    assert state_of(app, rid)[0] == RequestState.PENDING
    html = text(county.post(f"/openrequestsview/cancel/{rid}", data={"expected_version": version, "reason": "毕业前清理"},
                            follow_redirects=True))
    assert "已代为撤销" in html
    state, _, outcome, _ = state_of(app, rid)
    assert state == RequestState.CANCELLED and outcome == "毕业前清理"
    assert "毕业前清理" in text(as_user("school_3601020001").get("/myrequestsview/list/"))
    # The city sees all of 南昌's open requests.
    html = text(as_user("city_360100").get("/openrequestsview/list/"))
    assert f"/openrequestsview/show/{other}" in html


# --------------------------------------------------------------------------- scope: 404 everywhere outside

def test_out_of_scope_ids_are_404(app, as_user):
    rid, sid, att = new_request(app, "school_3601020001", 1, with_file=True)
    outsider = as_user("county_360103")
    for url in (f"/inboxview/show/{rid}", f"/openrequestsview/show/{rid}", f"/attachmentview/download/{att}",
                "/inboxview/show/999999", "/attachmentview/download/999999"):
        assert outsider.get(url).status_code == 404, url
    for url, data in ((f"/inboxview/approve/{rid}", {}), (f"/inboxview/reject/{rid}", {"comment": "x"}),
                      (f"/openrequestsview/cancel/{rid}", {"reason": "x"})):
        assert outsider.post(url, data=data).status_code == 404, url
    assert state_of(app, rid)[0] == RequestState.PENDING
    # Another school of the same county cannot fetch the evidence either.
    assert as_user("school_3601020002").get(f"/attachmentview/download/{att}").status_code == 404


def test_attachment_download_in_scope(app, as_user):
    rid, sid, att = new_request(app, with_file=True)
    for who in ("county_360102", "school_3601020001", "city_360100"):
        resp = as_user(who).get(f"/attachmentview/download/{att}")
        assert resp.status_code == 200, who
        assert resp.data == PDF and resp.mimetype == "application/pdf"
        assert "attachment" in resp.headers["Content-Disposition"]


# --------------------------------------------------------------------------- language

@pytest.mark.parametrize("username,urls", [
    ("county_360102", ["/inboxview/list/", "/inboxview/show/{rid}", "/openrequestsview/list/",
                       "/openrequestsview/show/{rid}", "/inboxview/list/?since=bad"]),
    ("school_3601020001", ["/myrequestsview/list/", "/myrequestsview/show/{rid}", "/myrequestsview/show/{rejected}"]),
    ("city_360100", ["/inboxview/list/", "/inboxview/show/{rid}", "/openrequestsview/list/"]),
])
def test_approval_screens_show_no_english(app, as_user, username, urls):
    rid, _, _ = new_request(app, seq=1, with_file=True)
    rejected, _, _ = new_request(app, seq=2)
    as_user("county_360102").post(f"/inboxview/reject/{rejected}", data={"comment": "材料不全"})
    client = as_user(username)
    problems = []
    for url in urls:
        resp = client.get(url.format(rid=rid, rejected=rejected))
        assert resp.status_code == 200, url
        # The uploaded file's own name is data, shown as the school named it.
        problems += [f"{url}  {w}: {t!r}" for w, t, _ in english_on(text(resp)) if t != "户口簿.pdf"]
    assert not problems, "\n".join(problems)


def test_english_on_request(app, as_user):
    rid, _, _ = new_request(app)
    client = as_user("county_360102")
    html = text(client.get("/inboxview/list/?_l_=en"))
    assert "Approval Inbox (1)" in html and "Bulk approve" in html and "Registration" in html
    html = text(client.get(f"/inboxview/show/{rid}?_l_=en"))
    assert "Approve" in html and "Reject" in html
