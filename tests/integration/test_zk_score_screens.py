"""中考成绩 screens with the test client: 科目与总分 (province edits, others read), 成绩管理 (scores
hidden for counties and schools before publication, shown after; another county's candidate is
not listed), 成绩复核 (the county decides; another county's review is a 404)."""
import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Candidate
from app.models.zhongkao import ReviewState, ZkScoreReview, ZkSubject
from app.services.zhongkao import scores
from tests.integration.test_zk_scores import AFTER, BEFORE, COUNTY, WEST_COUNTY, import_all, sub
from tests.integration.zk_support import EAST, WEST, acc, candidates, freeze, make_exam, populate, register_county

SCHOOL = "school_3601020002"


@pytest.fixture
def zk(app, monkeypatch):
    """The exam's id. Requests run outside any app context of the test (a shared one would keep
    one login's user in g across the clients)."""
    with app.app_context():
        exam = make_exam(scores_publish_at="2027-07-05 09:00")
        populate(600)
        register_county(exam, EAST)
        register_county(exam, WEST)
        freeze(monkeypatch, BEFORE)
        return exam.id


def subject_id(app, exam_id, code):
    with app.app_context():
        return db.session.scalar(select(ZkSubject.id).where(ZkSubject.exam_id == exam_id, ZkSubject.code == code))


def imported(app, tmp_path, n):
    """The first n 东湖区 candidates with all scores imported: [(id, reg_no, name, school_id)]."""
    with app.app_context():
        return [(c.id, c.reg_no, c.name, c.school_id) for c in import_all(tmp_path, n=n)]


def page(client, url, status=200):
    r = client.get(url)
    assert r.status_code == status, r.get_data(as_text=True)[:500]
    return r.get_data(as_text=True)


@pytest.mark.parametrize("who", ["sheng_admin", COUNTY, SCHOOL, "city_360100"])
def test_the_screens_render_for_every_level(app, zk, as_user, who):
    c = as_user(who)
    assert "科目与总分" in page(c, "/zksubjectview/list/") and "总分 = 语文 + 数学" in page(c, "/zksubjectview/list/")
    assert "成绩管理" in page(c, "/zkscoreview/list/")
    assert "成绩复核" in page(c, "/zkscorereviewview/list/")


def test_the_screens_say_when_there_is_no_exam(app, as_user):
    assert "省级尚未设置本年度中考" in page(as_user(COUNTY), "/zkscoreview/list/")


def test_the_province_edits_subjects_and_others_cannot(app, zk, as_user):
    yw = subject_id(app, zk, "yw")
    boss = as_user("sheng_admin")
    html = page(boss, "/zksubjectview/list/")
    assert 'id="add-subject"' in html
    r = boss.post("/zksubjectview/save", data={"id": yw, "name": "语文", "kind": "written", "max_score": "150",
                                              "weight": "1", "counts_in_total": "1", "sort_order": "1"},
                  follow_redirects=True)
    assert "科目“语文”已保存" in r.get_data(as_text=True)
    r = boss.post("/zksubjectview/save", data={"code": "XX!", "name": "信息"}, follow_redirects=True)
    assert "科目代码应为" in r.get_data(as_text=True)
    county = as_user(COUNTY)
    html = page(county, "/zksubjectview/list/")
    assert "仅供查看" in html and 'id="add-subject"' not in html
    r = county.post("/zksubjectview/save", data={"id": yw, "name": "国文", "max_score": "10"},
                    follow_redirects=True)
    assert "只有省级管理员" in r.get_data(as_text=True)
    with app.app_context():
        assert (db.session.get(ZkSubject, yw).name, db.session.get(ZkSubject, yw).max_score) == ("语文", 150)


def test_scores_are_hidden_below_the_province_until_publication(app, zk, as_user, tmp_path, monkeypatch):
    (cid, reg_no, name, school_id), _ = imported(app, tmp_path, 2)
    county, school, boss = as_user(COUNTY), as_user(SCHOOL), as_user("sheng_admin")
    for client in (county, school):
        html = page(client, f"/zkscoreview/list/?q={reg_no}")
        assert "成绩未发布" in html and "621.5" not in html and name in html
        assert 'id="stats"' not in html
    html = page(boss, f"/zkscoreview/list/?q={reg_no}")
    assert "621.5" in html and "成绩发布前只有省级可以查看成绩" in html
    assert 'id="import-link"' in page(county, "/zkscoreview/list/")
    assert 'id="import-link"' not in page(school, "/zkscoreview/list/")

    freeze(monkeypatch, AFTER)
    html = page(county, f"/zkscoreview/list/?q={name}")
    assert "621.5" in html and 'id="stats"' in html and "成绩未发布" not in html
    assert 'id="import-link"' not in html  # published: corrections go through 复核
    html = page(as_user(WEST_COUNTY), f"/zkscoreview/list/?q={reg_no}")
    assert name not in html and "没有符合条件的考生" in html
    r = as_user(WEST_COUNTY).get(f"/zkscoreview/list/?school={school_id}", follow_redirects=True)
    assert r.status_code == 200 and name not in r.get_data(as_text=True)
    assert county.get("/zkscoreview/list/?school=99999999999999").status_code == 404


def test_the_county_decides_a_review_on_the_screen(app, zk, as_user, tmp_path, monkeypatch):
    [(cid, reg_no, name, school_id)] = imported(app, tmp_path, 1)
    freeze(monkeypatch, AFTER)
    with app.app_context():
        review = scores.request_review(db.session, db.session.get(Candidate, cid), subject_id(app, zk, "sx"), "分数偏低")
        db.session.commit()
        review = review.id
    west = as_user(WEST_COUNTY)
    assert "分数偏低" not in page(west, "/zkscorereviewview/list/")
    assert west.post(f"/zkscorereviewview/decide/{review}", data={"new_score": "120"}).status_code == 404
    school = as_user(SCHOOL)
    html = page(school, "/zkscorereviewview/list/")
    assert "分数偏低" in html and "办结" not in html
    county = as_user(COUNTY)
    assert "分数偏低" in page(county, "/zkscorereviewview/list/")
    r = county.post(f"/zkscorereviewview/decide/{review}", data={"new_score": "999", "note": ""},
                    follow_redirects=True)
    assert "超出范围" in r.get_data(as_text=True)
    r = county.post(f"/zkscorereviewview/decide/{review}", data={"new_score": "118", "note": "漏计一题"},
                    follow_redirects=True)
    assert "复核后更正" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(ZkScoreReview, review).state == ReviewState.CHANGED
        assert db.session.scalar(select(Candidate.total_score).where(Candidate.id == cid)) == Decimal("629.5")
    r = county.post(f"/zkscorereviewview/decide/{review}", data={"new_score": ""}, follow_redirects=True)
    assert "不能重复处理" in r.get_data(as_text=True)
    assert "更正为 118" in page(county, "/zkscorereviewview/list/?state=changed")


def test_the_import_page_and_template_follow_the_years_subjects(app, zk, as_user):
    import io
    from openpyxl import load_workbook
    county = as_user(COUNTY)
    html = page(county, "/importview/zk_scores/")
    assert "中考成绩" in html and "道德与法治·历史" in html
    r = county.get("/importview/zk_scores/template")
    assert r.status_code == 200
    headers = [c.value for c in load_workbook(io.BytesIO(r.data)).worksheets[0][1]]
    assert headers[:3] == ["报名号", "准考证号", "姓名*"] and "生物" in headers and "地理" in headers
    assert as_user(SCHOOL).get("/importview/zk_scores/").status_code == 403
