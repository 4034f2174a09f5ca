"""考生服务平台 over HTTP: activation, sign-in and out, the lock-out and the per-IP rate limit as a
person meets them, a session apart from staff logins, only one's own data and photo, password
change ending other sessions, and the portal's calls into 信息核对 and 成绩."""
import datetime
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Candidate, InfoState, ZkPhoto
from app.portal import limiter
from app.services import identity
from app.services.zhongkao import accounts
from tests.integration.zk_support import (EAST, acc, candidates, ctx, freeze, make_exam, populate,  # noqa: F401
                                          register_county)

pytestmark = pytest.mark.usefixtures("ctx")

T0 = datetime.datetime(2027, 4, 1, 9, 0)
GOOD = "Kaoshi#2027x"
ENGLISH = re.compile(r"\b(Too Many Requests|Not Found|Login|Password|Submit|Logout|Internal Server Error)\b")


@pytest.fixture(autouse=True)
def fresh_limits(app):
    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture
def cands(monkeypatch):
    freeze(monkeypatch, T0)
    populate(200)
    register_county(make_exam())
    rows = candidates(EAST)
    assert len(rows) >= 3
    return rows


def issue(candidate):
    code = accounts.issue_activation_code(db.session, acc("school_3601020002"), candidate)
    db.session.commit()
    return code


def activated(candidate):
    accounts.activate(db.session, candidate.reg_no, candidate.id_number, issue(candidate), GOOD, GOOD)
    db.session.commit()
    return candidate


def login(client, candidate, password=GOOD):
    return client.post("/portal/login", data={"reg_no": candidate.reg_no, "password": password})


def text(resp):
    return resp.get_data(as_text=True)


def row(candidate):
    db.session.expire_all()
    return db.session.get(Candidate, candidate.id)


def add_photo(candidate, data=b"\xff\xd8\xff-photo-bytes"):
    db.session.add(ZkPhoto(candidate_id=candidate.id, data=data, content_type="image/jpeg", width=358, height=441))
    row(candidate).has_photo = True
    db.session.commit()


def test_activation_on_the_portal_then_home_shows_only_my_data(client, cands):
    c, other = cands[0], cands[1]
    code = issue(c)
    page = client.get("/portal/activate")
    assert page.status_code == 200 and 'name="csrf_token"' in text(page) and "激活码" in text(page)
    resp = client.post("/portal/activate", data={"reg_no": c.reg_no, "id_number": c.id_number, "code": code,
                                                  "password": GOOD, "confirm": GOOD}, follow_redirects=True)
    body = text(resp)
    assert resp.status_code == 200 and "账号已激活" in body
    assert c.name in body and c.reg_no in body and identity.mask(c.id_number) in body
    assert c.id_number not in body and code not in body
    assert c.school.name in body and "应届" in body and "采集中" in body and "待学校审核" in body
    assert other.name not in body and other.reg_no not in body
    assert "成绩发布时间尚未确定" in body and "照片未上传" in body
    assert not ENGLISH.search(body)
    assert row(c).password_hash and row(c).activation_code_hash is None


def test_a_wrong_activation_keeps_what_was_typed_but_not_the_code_and_counts(client, cands):
    c = cands[0]
    issue(c)
    resp = client.post("/portal/activate", data={"reg_no": c.reg_no, "id_number": c.id_number, "code": "AAAAAAAA",
                                                  "password": GOOD, "confirm": GOOD})
    body = text(resp)
    assert resp.status_code == 200 and accounts.WRONG_ACTIVATION in body
    assert f'value="{c.reg_no}"' in body and 'value="AAAAAAAA"' not in body
    assert row(c).failed_attempts == 1 and row(c).password_hash is None  # the refusal was committed
    unknown = client.post("/portal/activate", data={"reg_no": "27360102999999", "id_number": c.id_number,
                                                     "code": "AAAAAAAA", "password": GOOD, "confirm": GOOD})
    assert accounts.WRONG_ACTIVATION in text(unknown)


def test_lock_out_on_the_portal_and_unlock_after_15_minutes(client, cands, monkeypatch):
    c = activated(cands[0])
    for _ in range(4):
        assert "报名号或密码不正确" in text(login(client, c, "Wrong#2027"))
    assert "锁定 15 分钟" in text(login(client, c, "Wrong#2027"))
    resp = login(client, c)
    assert "锁定" in text(resp) and client.get("/portal/").status_code == 302
    freeze(monkeypatch, T0 + datetime.timedelta(minutes=15, seconds=1))
    resp = login(client, c)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/portal/")
    assert client.get("/portal/").status_code == 200


def test_not_activated_is_told_to_activate(client, cands):
    resp = login(client, cands[0])
    assert "尚未激活" in text(resp) and "激活码" in text(resp)


def test_login_logout_and_a_session_apart_from_staff(app, client, cands, as_user):
    c = activated(cands[0])
    assert client.get("/portal/").headers["Location"].endswith("/portal/login")
    with client.session_transaction() as s:
        s["planted"] = "by-an-attacker"
    assert login(client, c).status_code == 302
    with client.session_transaction() as s:
        assert "planted" not in s and s["zk_candidate_id"] == c.id and s["zk_nonce"]  # fresh session
    assert client.get("/portal/").status_code == 200
    # a candidate is not a staff user
    assert "/login" in client.get("/zkregistrationview/list/").headers.get("Location", "/login/")
    assert client.get("/accountview/list/").status_code in (302, 401, 403)
    # logout
    resp = client.post("/portal/logout", follow_redirects=True)
    assert "您已退出" in text(resp)
    assert client.get("/portal/").status_code == 302
    # a staff user is not a candidate; a candidate's sign-in drops a staff login in the same browser
    staff = as_user("school_3601020002")
    assert staff.get("/portal/").headers["Location"].endswith("/portal/login")
    assert staff.post("/portal/password", data={"old_password": "x", "password": GOOD + "1",
                                                "confirm": GOOD + "1"}).status_code == 302
    assert staff.get("/accountview/list/").status_code == 200
    login(staff, c)
    assert staff.get("/accountview/list/").status_code == 302


def test_photo_only_my_own(client, cands):
    c, other = activated(cands[0]), cands[1]
    add_photo(other, b"\xff\xd8\xff-someone-else")
    login(client, c)
    assert client.get(f"/portal/photo/{c.id}").status_code == 404  # none yet
    resp = client.get(f"/portal/photo/{other.id}")
    assert resp.status_code == 404 and b"someone-else" not in resp.data and "页面不存在" in text(resp)
    add_photo(c)
    resp = client.get(f"/portal/photo/{c.id}")
    assert resp.status_code == 200 and resp.data == b"\xff\xd8\xff-photo-bytes"
    assert resp.mimetype == "image/jpeg" and "no-store" in resp.headers["Cache-Control"]
    assert f"/portal/photo/{c.id}" in text(client.get("/portal/"))
    assert client.get(f"/portal/photo/{other.id}").status_code == 404
    client.post("/portal/logout")
    assert client.get(f"/portal/photo/{c.id}").status_code == 302


def test_password_change_ends_other_sessions(app, cands):
    c = activated(cands[0])
    phone, laptop = app.test_client(), app.test_client()
    login(phone, c)
    login(laptop, c)
    bad = phone.post("/portal/password", data={"old_password": "Wrong#2027", "password": "Newer#2027y",
                                               "confirm": "Newer#2027y"})
    assert "原密码不正确" in text(bad)
    resp = phone.post("/portal/password", data={"old_password": GOOD, "password": "Newer#2027y",
                                                "confirm": "Newer#2027y"}, follow_redirects=True)
    assert "密码已修改" in text(resp)
    assert phone.get("/portal/").status_code == 200      # this session stays
    assert laptop.get("/portal/").status_code == 302     # the other one ends
    assert "报名号或密码不正确" in text(login(laptop, c))
    assert login(laptop, c, "Newer#2027y").status_code == 302


def test_rate_limit_per_ip_gives_a_chinese_page(client, cands):
    c = cands[0]
    issue(c)
    for i in range(20):  # guessing codes across many 报名号: never the same candidate twice
        resp = client.post("/portal/activate", data={"reg_no": f"2736010299{i:04d}", "id_number": c.id_number,
                                                      "code": "AAAAAAAA", "password": GOOD, "confirm": GOOD})
        assert resp.status_code == 200
    resp = client.post("/portal/activate", data={"reg_no": c.reg_no, "id_number": c.id_number, "code": "AAAAAAAA",
                                                  "password": GOOD, "confirm": GOOD})
    body = text(resp)
    assert resp.status_code == 429 and "操作过于频繁" in body and "请稍等" in body
    assert not ENGLISH.search(body) and 'lang="zh-CN"' in body
    assert row(c).failed_attempts == 0  # refused before the service ran
    # the sign-in form shares the budget; reading pages does not count
    assert client.post("/portal/login", data={"reg_no": c.reg_no, "password": "x"}).status_code == 429
    assert client.get("/portal/login").status_code == 200
    # another address has its own budget
    other = client.post("/portal/login", data={"reg_no": c.reg_no, "password": "x"},
                        environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 200


def test_portal_pages_are_chinese_and_without_errors(client, cands):
    c = activated(cands[0])
    for url in ("/portal/login", "/portal/activate"):
        resp = client.get(url)
        assert resp.status_code == 200 and "考生服务平台" in text(resp) and not ENGLISH.search(text(resp))
    login(client, c)
    for url in ("/portal/", "/portal/password"):
        resp = client.get(url)
        assert resp.status_code == 200 and not ENGLISH.search(text(resp)), url
    assert client.get("/portal/login").status_code == 302  # already signed in


# ---- the portal's calls into the other 中招 services (信息核对: info.py; 成绩: scores.py)

def test_check_my_information(client, cands):
    c = activated(cands[0])
    login(client, c)
    resp = client.post("/portal/check", follow_redirects=True)
    assert "尚未上传您的照片" in text(resp) and row(c).info_state == InfoState.COLLECTING
    add_photo(c)
    assert "我已核对信息无误" in text(client.get("/portal/"))
    resp = client.post("/portal/check", follow_redirects=True)
    assert "您已核对信息无误" in text(resp) and "我已核对信息无误</button>" not in text(resp)
    assert row(c).info_state == InfoState.CHECKED and row(c).checked_at == T0


def test_scores_page_before_publication(client, cands):
    c = activated(cands[0])
    login(client, c)
    resp = client.get("/portal/scores")
    assert resp.status_code == 200 and "成绩发布时间尚未确定" in text(resp) and not ENGLISH.search(text(resp))
    assert "提交复核申请" not in text(resp)
    assert db.session.scalar(select(Candidate.total_score).where(Candidate.id == c.id)) is None


def test_scores_after_publication_and_a_review_request(client, cands):
    from app.models import ZkExam, ZkScore, ZkScoreReview, ZkSubject
    c, other = activated(cands[0]), cands[1]
    exam = db.session.get(ZkExam, c.exam_id)
    exam.scores_publish_at = T0 - datetime.timedelta(days=1)
    subjects = db.session.scalars(select(ZkSubject).where(ZkSubject.exam_id == exam.id)
                                  .order_by(ZkSubject.sort_order)).all()
    yw, sx = subjects[0], subjects[1]
    db.session.add_all([ZkScore(candidate_id=c.id, subject_id=yw.id, score=98.5),
                        ZkScore(candidate_id=c.id, subject_id=sx.id, score=101),
                        ZkScore(candidate_id=other.id, subject_id=yw.id, score=77.5)])
    db.session.get(Candidate, c.id).total_score = 612.5
    db.session.get(Candidate, other.id).total_score = 543
    db.session.commit()
    login(client, c)
    assert "612.5" in text(client.get("/portal/"))
    body = text(client.get("/portal/scores"))
    assert yw.name in body and "98.5" in body and "101.0" in body and "612.5" in body
    assert "77.5" not in body and "543" not in body
    assert "提交复核申请" in body and not ENGLISH.search(body)
    resp = client.post("/portal/scores/review", data={"subject_id": str(sx.id), "reason": "客观题得分偏低"},
                       follow_redirects=True)
    assert "复核申请已提交" in text(resp) and "待复核" in text(resp)
    again = client.post("/portal/scores/review", data={"subject_id": str(sx.id), "reason": "再看看"},
                        follow_redirects=True)
    assert "已申请复核" in text(again)
    bad = client.post("/portal/scores/review", data={"subject_id": "abc", "reason": "x"}, follow_redirects=True)
    assert "请选择要复核的科目" in text(bad)
    reviews = db.session.scalars(select(ZkScoreReview)).all()
    assert [(r.candidate_id, r.subject_id) for r in reviews] == [(c.id, sx.id)]
