"""资格审核 and 加分/照顾 screens: each level sees its page in Chinese; the school submits, the county
sends one candidate back and approves, the city approves; a second click is a message; another
county's batch, candidate and item are 404 by URL; the school declares an item with evidence and
its county reviews it."""
import io
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app.extensions import db
from app.models import Candidate
from app.models.requests import Request, RequestState
from app.models.zhongkao import BonusState, InfoState, QualState, ZkBonus
from app.services.zhongkao import qualification as q
from tests.conftest import login
from tests.integration.zk_support import EAST, JUNIOR, WEST, candidates, ctx, make_exam, populate, \
    register_county  # noqa: F401 (ctx is a fixture)

pytestmark = pytest.mark.usefixtures("ctx")

SCHOOL, COUNTY, CITY = f"school_{JUNIOR[EAST]}", f"county_{EAST}", "city_360100"
WEST_SCHOOL, WEST_COUNTY = f"school_{JUNIOR[WEST]}", f"county_{WEST}"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
ENGLISH = re.compile(r">\s*(None|List|Show|Edit|Delete|Add|Save|Back|Search|Actions?|True|False)\s*<")


class _OwnContext(FlaskClient):
    """Each request in an application context of its own: the test's context (ctx) would otherwise
    share `g`, and with it the signed-in user, between the clients of different accounts."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def as_user(app):
    def make(username):
        client = _OwnContext(app, app.response_class, use_cookies=True)
        assert login(client, username).status_code == 200
        return client
    return make


@pytest.fixture
def zk(ctx):
    exam = make_exam()
    populate(600)
    register_county(exam, EAST)
    register_county(exam, WEST)
    db.session.execute(update(Candidate).values(info_state=InfoState.CONFIRMED))
    db.session.commit()
    return exam


def page(client, url, status=200):
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    html = r.get_data(as_text=True)
    if status == 200:
        assert not ENGLISH.search(html), ENGLISH.search(html).group(0)
    return html


def post(client, url, data=None, **kw):
    return client.post(url, data=data or {}, follow_redirects=True, **kw)


def latest_batch():
    db.session.expire_all()
    return db.session.scalars(select(Request).where(Request.type == q.QUALIFICATION)
                              .order_by(Request.id.desc())).first()


@pytest.mark.parametrize("who", [SCHOOL, COUNTY, CITY, "sheng_admin", "sheng_viewer"])
def test_pages_render_for_every_level(zk, as_user, who):
    c = as_user(who)
    html = page(c, "/zkqualification/list/")
    assert "资格审核" in html and "分配生" in html
    html = page(c, "/zkbonus/list/")
    assert "加分/照顾" in html


def test_full_flow_on_the_screens(zk, as_user):
    school, county, city = as_user(SCHOOL), as_user(COUNTY), as_user(CITY)
    east = candidates(EAST)
    html = page(school, "/zkqualification/list/")
    assert "提交全部待审核考生" in html and east[0].reg_no in html
    html = post(school, "/zkqualification/compute").get_data(as_text=True)
    assert "其中" in html and "在本校连续就读3学年" in html
    html = post(school, "/zkqualification/submit", {"all": "1"}).get_data(as_text=True)
    batch = latest_batch()
    assert batch is not None and f"已提交资格审核：{len(east)} 名考生" in html
    # the city cannot act yet, nor see buttons
    html = page(city, f"/zkqualification/batch/{batch.id}")
    assert "审核通过本批次" not in html
    html = post(city, f"/zkqualification/approve/{batch.id}", {"version": batch.version}).get_data(as_text=True)
    assert "核办，您无权处理" in html
    # the county sees it waiting, with the basis, and sends one candidate back
    html = page(county, "/zkqualification/list/")
    assert "待本级审核的批次" in html and f"/zkqualification/batch/{batch.id}" in html
    assert 'id="no-waiting"' in page(city, "/zkqualification/list/")
    html = page(county, f"/zkqualification/batch/{batch.id}")
    assert "审核通过本批次" in html and "连续就读3学年" in html
    html = page(county, "/inboxview/list/")             # the generic 审批待办 lists the batch too
    assert "中考资格审核" in html
    html = page(county, f"/inboxview/show/{batch.id}")
    assert "其中符合分配生条件" in html and f"{len(east)} 人" in html
    html = post(county, f"/zkqualification/reject_candidate/{east[0].id}",
                {"reason": "照片与本人不符", "version": batch.version, "batch": batch.id}).get_data(as_text=True)
    assert "已退回考生" in html and "县级：照片与本人不符" in html
    stale = batch.version
    batch = latest_batch()
    html = post(county, f"/zkqualification/approve/{batch.id}", {"version": stale}).get_data(as_text=True)
    assert "已被他人处理" in html     # the screen from before the rejection
    html = post(county, f"/zkqualification/approve/{batch.id}", {"version": batch.version}).get_data(as_text=True)
    assert "转南昌市" in html
    html = post(county, f"/zkqualification/approve/{batch.id}", {"version": batch.version}).get_data(as_text=True)
    assert "已被他人处理" in html     # the second click
    batch = latest_batch()
    html = post(city, f"/zkqualification/approve/{batch.id}", {"version": batch.version}).get_data(as_text=True)
    assert "资格审核通过" in html
    db.session.expire_all()
    assert latest_batch().state == RequestState.APPROVED
    assert db.session.get(Candidate, east[1].id).qual_state == QualState.APPROVED
    assert db.session.get(Candidate, east[0].id).qual_state == QualState.REJECTED
    # the school resubmits the corrected candidate
    html = post(school, "/zkqualification/submit", {"candidate_id": str(east[0].id)}).get_data(as_text=True)
    assert "已提交资格审核：1 名考生" in html


def test_batch_rejected_whole_and_withdrawn(zk, as_user):
    school, county = as_user(SCHOOL), as_user(COUNTY)
    post(school, "/zkqualification/submit", {"all": "1"})
    batch = latest_batch()
    html = post(county, f"/zkqualification/reject/{batch.id}", {"version": batch.version, "reason": ""}).get_data(
        as_text=True)
    assert "须填写理由" in html
    html = post(county, f"/zkqualification/reject/{batch.id}",
                {"version": batch.version, "reason": "请核对户籍类别"}).get_data(as_text=True)
    assert "已整批退回学校" in html
    db.session.expire_all()
    assert db.session.get(Candidate, candidates(EAST)[0].id).qual_note == "县级退回本批次：请核对户籍类别"
    post(school, "/zkqualification/submit", {"all": "1"})
    batch = latest_batch()
    html = post(school, f"/zkqualification/withdraw/{batch.id}", {"version": batch.version}).get_data(as_text=True)
    assert "已撤回" in html
    assert latest_batch().state == RequestState.CANCELLED


def test_other_county_gets_404(zk, as_user):
    school, west = as_user(SCHOOL), as_user(WEST_COUNTY)
    post(school, "/zkqualification/submit", {"all": "1"})
    batch = latest_batch()
    east = candidates(EAST)
    page(west, f"/zkqualification/batch/{batch.id}", 404)
    assert west.post(f"/zkqualification/approve/{batch.id}", data={"version": batch.version}).status_code == 404
    assert west.post(f"/zkqualification/reject_candidate/{east[0].id}",
                     data={"reason": "x", "version": batch.version}).status_code == 404
    school_id = east[0].school_id
    page(west, f"/zkqualification/list/?school={school_id}", 404)
    assert west.post("/zkqualification/compute", data={"school_id": school_id}).status_code == 404
    page(west, "/zkqualification/batch/99999999999", 404)
    assert latest_batch().state == RequestState.PENDING and latest_batch().current_step == 1
    html = page(west, "/zkqualification/list/")
    assert east[0].reg_no not in html


def test_bonus_screens(zk, as_user):
    school, county, west = as_user(SCHOOL), as_user(COUNTY), as_user(WEST_COUNTY)
    c = candidates(EAST)[0]
    html = post(school, "/zkbonus/add", {"candidate_id": str(c.id), "item": "01", "points": "", "note": "烈士证明",
                                         "evidence": (io.BytesIO(PNG), "证明.png")},
                content_type="multipart/form-data").get_data(as_text=True)
    assert "待县（区）审核" in html and "烈士子女" in html
    r = school.post("/zkbonus/add", data={"candidate_id": str(c.id), "item": "01"}, follow_redirects=True)
    assert r.status_code == 422 and "不能重复申报" in r.get_data(as_text=True)
    bonus = db.session.scalars(select(ZkBonus)).one()
    assert bonus.evidence_id is not None and float(bonus.points) == 20
    assert county.get(f"/attachmentview/download/{bonus.evidence_id}").status_code == 200
    assert west.get(f"/attachmentview/download/{bonus.evidence_id}").status_code == 404
    assert 'name="decision"' not in page(school, "/zkbonus/list/")
    html = post(school, f"/zkbonus/review/{bonus.id}", {"decision": "approve"}).get_data(as_text=True)
    assert "只有考生报名所在县" in html
    assert west.post(f"/zkbonus/review/{bonus.id}", data={"decision": "approve"}).status_code == 404
    html = page(county, "/zkbonus/list/")
    assert c.name in html and "不予认定" in html
    html = post(county, f"/zkbonus/review/{bonus.id}", {"decision": "approve", "note": "材料齐全"}).get_data(
        as_text=True)
    assert "已认定" in html
    html = post(county, f"/zkbonus/review/{bonus.id}", {"decision": "reject", "note": "x"}).get_data(as_text=True)
    assert "不能重复审核" in html
    db.session.expire_all()
    assert db.session.get(ZkBonus, bonus.id).state == BonusState.APPROVED
    assert c.name not in page(west, "/zkbonus/list/")
