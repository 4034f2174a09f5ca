"""中考成绩: subjects and the total formula (weights, 等级 conversion, 加分), the score import on the
shared engine (unknown 报名号, wrong name, out of range → annotated workbook and nothing written;
good files written and totals computed; re-import overwrites), publication (nobody below the
province sees a score before it), and 复核 (window, one open per subject, county decides, total
recomputed, exactly once, another county's review is not found)."""
import datetime
import json
import os
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.extensions import db
from app.imports import engine, spec as specs
from app.imports import specs as _registered  # noqa: F401
from app.models import AuditLog, Candidate
from app.models.zhongkao import BonusState, ReviewState, ZkBonus, SubjectKind, ZkScore, ZkScoreReview, ZkSubject
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.zhongkao import exams, scores
from tests.integration.zk_support import EAST, WEST, acc, candidates, freeze, make_exam, populate, register_county

PUBLISH = datetime.datetime(2027, 7, 5, 9, 0)
BEFORE, AFTER = datetime.datetime(2027, 7, 1, 12, 0), datetime.datetime(2027, 7, 6, 10, 0)
COUNTY, WEST_COUNTY = f"county_{EAST}", f"county_{WEST}"
SUBJECTS = ["语文", "数学", "英语", "物理", "化学", "道德与法治·历史", "体育", "实验操作", "生物", "地理"]


@pytest.fixture
def zk(app, monkeypatch):
    with app.app_context():
        exam = make_exam(scores_publish_at="2027-07-05 09:00")
        populate(600)
        register_county(exam, EAST)
        register_county(exam, WEST)
        freeze(monkeypatch, BEFORE)
        yield exam


def sub(exam, code):
    return db.session.scalar(select(ZkSubject).where(ZkSubject.exam_id == exam.id, ZkSubject.code == code))


def workbook(tmp_path, headers, rows, name="成绩.xlsx"):
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for r in rows:
        ws.append(r)
    path = os.path.join(tmp_path, name)
    wb.save(path)
    return path


def run(path, who, **kw):
    summary = engine.run_import(db.session, acc(who), specs.get("zk_scores"), path, os.path.basename(path), **kw)
    db.session.commit()
    return summary


def reasons(summary):
    ws = load_workbook(summary["error_file"]).active
    assert [c.value for c in ws[1]][-1] == "错误原因"
    return {r[0].row: r[-1].value for r in ws.iter_rows(min_row=2)}


def full_row(c, marks=(100, 110, 105.5, 70, 45, 90, 50, 15, "A", "B")):
    return [c.reg_no, c.name, *marks]


def import_all(tmp_path, county=EAST, who=COUNTY, n=None):
    cs = candidates(county)[:n]
    summary = run(workbook(tmp_path, ["报名号", "姓名", *SUBJECTS], [full_row(c) for c in cs]), who)
    assert summary["rejected"] == 0, summary
    return cs


def score_count():
    return db.session.scalar(select(func.count()).select_from(ZkScore))


def total_of(c):
    return db.session.scalar(select(Candidate.total_score).where(Candidate.id == c.id))


# ---------------------------------------------------------------- subjects and the formula

def test_the_total_is_the_weighted_sum_with_graded_subjects_converted(zk, tmp_path):
    cs = import_all(tmp_path, n=3)
    # 100+110+105.5+70+45+90+50+15 + A(20) + B(16) = 621.5
    assert all(total_of(c) == Decimal("621.5") for c in cs)
    assert total_of(candidates(EAST)[3]) is None  # no scores: no total

    boss = acc("sheng_admin")
    scores.set_subject(db.session, boss, zk.id, {"id": sub(zk, "ty").id, "weight": "0.5"})
    scores.set_subject(db.session, boss, zk.id, {"id": sub(zk, "sy").id, "counts_in_total": False})
    scores.set_subject(db.session, boss, zk.id, {"id": sub(zk, "sw").id, "grade_table": "A=30；B=20；C=10；D=0"})
    db.session.commit()
    # 621.5 − 25 (体育 halved) − 15 (实验 out) + 10 (生物 A now 30) = 591.5
    assert total_of(cs[0]) == Decimal("591.5")
    assert sub(zk, "sw").max_score == 30
    assert "0.5×体育" in scores.formula_text(db.session, zk) and "实验操作" not in scores.formula_text(db.session, zk)


def test_approved_bonus_points_are_added(zk, tmp_path, monkeypatch):
    cs = candidates(EAST)[:3]
    db.session.add_all([ZkBonus(candidate_id=cs[0].id, item="02", points=5, state=BonusState.APPROVED),
                        ZkBonus(candidate_id=cs[0].id, item="05", points=10, state=BonusState.APPROVED),
                        ZkBonus(candidate_id=cs[1].id, item="02", points=5, state=BonusState.PENDING),
                        ZkBonus(candidate_id=cs[2].id, item="02", points=5, state=BonusState.APPROVED)])
    db.session.commit()
    import_all(tmp_path, n=2)
    assert total_of(cs[0]) == Decimal("636.5") and total_of(cs[1]) == Decimal("621.5")
    assert total_of(cs[2]) is None  # 加分 alone makes no total
    freeze(monkeypatch, AFTER)
    got = scores.portal_scores(db.session, cs[0])
    assert got["bonus"] == 15 and got["total"] == "636.5"
    # recognised by the county after the scores came in: the total follows at once
    from app.services.zhongkao import qualification
    qualification.review_bonus(db.session, acc(COUNTY), db.session.scalar(
        select(ZkBonus.id).where(ZkBonus.candidate_id == cs[1].id)), True)
    db.session.commit()
    assert total_of(cs[1]) == Decimal("626.5")


def test_subjects_are_set_by_the_province_and_fixed_once_scores_exist(zk, tmp_path):
    boss = acc("sheng_admin")
    with pytest.raises(PermissionDenied):
        scores.set_subject(db.session, acc(COUNTY), zk.id, {"code": "xx", "name": "信息技术"})
    with pytest.raises(DomainError, match="等级折算表"):
        scores.set_subject(db.session, boss, zk.id, {"code": "xx", "name": "信息技术", "kind": "graded",
                                                     "grade_table": "优秀"})
    db.session.rollback()
    added = scores.set_subject(db.session, boss, zk.id, {"code": "xx", "name": "信息技术", "kind": "written",
                                                         "max_score": "20"})
    db.session.commit()
    scores.remove_subject(db.session, boss, zk.id, added.id)
    db.session.commit()
    import_all(tmp_path, n=1)
    with pytest.raises(DomainError, match="不能再增加科目"):
        scores.set_subject(db.session, boss, zk.id, {"code": "xx", "name": "信息技术"})
    with pytest.raises(DomainError, match="不能再删除科目"):
        scores.remove_subject(db.session, boss, zk.id, sub(zk, "yw").id)
    with pytest.raises(DomainError, match="满分不能低于"):
        scores.set_subject(db.session, boss, zk.id, {"id": sub(zk, "yw").id, "max_score": "90"})
    with pytest.raises(DomainError, match="不能删除这些等级"):
        scores.set_subject(db.session, boss, zk.id, {"id": sub(zk, "sw").id, "grade_table": "B=16；C=12"})
    db.session.rollback()
    assert len(scores.subjects(db.session, zk)) == 10 and sub(zk, "yw").max_score == 120


# ---------------------------------------------------------------- import

def test_the_template_has_a_column_per_subject(zk, app):
    headers = [c.header for c in specs.get("zk_scores").columns]
    assert headers[:3] == ["报名号", "准考证号", "姓名"] and headers[3:] == SUBJECTS


def test_bad_rows_are_annotated_and_nothing_is_written(zk, tmp_path):
    east, west = candidates(EAST), candidates(WEST)
    rows = [full_row(east[0]),
            ["9999999999999", east[1].name, *full_row(east[1])[2:]],         # unknown 报名号
            [east[2].reg_no, "张冠李戴", *full_row(east[2])[2:]],             # wrong name
            full_row(east[3], (121, 110, 105.5, 70, 45, 90, 50, 15, "A", "B")),   # above 满分
            full_row(east[4], (100, 110.25, 105, 70, 45, 90, 50, 15, "A", "B")),  # two decimals
            full_row(east[5], (100, 110, 105, 70, 45, 90, 50, 15, "E", "B")),     # no such grade
            full_row(west[0])]                                                  # another county's
    summary = run(workbook(tmp_path, ["报名号", "姓名", *SUBJECTS], rows), COUNTY)
    assert summary["accepted"] == 0 and summary["rejected"] == 6
    got = reasons(summary)
    assert got[2] is None
    assert got[3] == "报名号不存在" and got[8] == "报名号不存在"  # out of scope reads the same
    assert got[4] == "姓名与报名信息不符"
    assert "超出范围（0–120 分）" in got[5] and "最多保留一位小数" in got[6] and "不在折算表中" in got[7]
    assert score_count() == 0 and total_of(east[0]) is None


def test_a_good_file_writes_and_a_reimport_overwrites_one_subject(zk, tmp_path):
    cs = import_all(tmp_path)
    assert score_count() == len(cs) * 10
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.entity == "zk_score")) == 1
    # the 数学 markers send a second file: only that column, by 准考证号 for one candidate
    cs[0].exam_no = "27360102010101"
    db.session.commit()
    summary = run(workbook(tmp_path, ["准考证号", "姓名", "数学"], [["27360102010101", cs[0].name, 90]], "数学.xlsx"),
                  COUNTY)
    assert summary["rejected"] == 0
    assert score_count() == len(cs) * 10
    assert total_of(cs[0]) == Decimal("601.5") and total_of(cs[1]) == Decimal("621.5")


def test_schools_may_not_import_and_the_city_may(zk, tmp_path):
    with pytest.raises(PermissionDenied):
        run(workbook(tmp_path, ["报名号", "姓名", "语文"], [[candidates(EAST)[0].reg_no, "x", 1]]),
            "school_3601020002")
    cs = import_all(tmp_path, county=WEST, who="city_360100", n=2)
    assert total_of(cs[0]) == Decimal("621.5")


# ---------------------------------------------------------------- publication

def test_nobody_below_the_province_sees_scores_before_publication(zk, tmp_path, monkeypatch):
    cs = import_all(tmp_path, n=2)
    with pytest.raises(DomainError, match="成绩将于 2027年07月05日 09:00 发布，届时可查询"):
        scores.portal_scores(db.session, cs[0])
    county_view = scores.score_table(db.session, acc(COUNTY), zk)
    assert county_view["visible"] is False and all(r["total"] is None and not any(r["scores"])
                                                   for r in county_view["rows"])
    assert scores.subject_stats(db.session, acc(COUNTY), zk) is None
    province_view = scores.score_table(db.session, acc("sheng_admin"), zk, q=cs[0].reg_no)
    assert province_view["visible"] and province_view["rows"][0]["total"] == "621.5"

    freeze(monkeypatch, AFTER)
    got = scores.portal_scores(db.session, cs[0])
    assert got["total"] == "621.5" and ("生物", "A") in got["subjects"] and ("英语", "105.5") in got["subjects"]
    view = scores.score_table(db.session, acc(COUNTY), zk, q=cs[0].name)
    assert view["visible"] and view["rows"][0]["scores"][0] == "100.0"
    stats = {s["subject"].code: s for s in scores.subject_stats(db.session, acc(COUNTY), zk)}
    assert stats["yw"]["count"] == 2 and stats["yw"]["max"] == "100.0" and stats["yy"]["average"] == "105.50"


def test_a_county_cannot_see_another_countys_scores(zk, tmp_path, monkeypatch):
    west = import_all(tmp_path, county=WEST, who=WEST_COUNTY, n=2)
    freeze(monkeypatch, AFTER)
    view = scores.score_table(db.session, acc(COUNTY), zk, q=west[0].reg_no)
    assert view["count"] == 0
    assert all(s["count"] == 0 for s in scores.subject_stats(db.session, acc(COUNTY), zk))


def test_counties_may_not_import_after_publication(zk, tmp_path, monkeypatch):
    freeze(monkeypatch, AFTER)
    with pytest.raises(DomainError, match="成绩已发布"):
        run(workbook(tmp_path, ["报名号", "姓名", "语文"], [[candidates(EAST)[0].reg_no, "x", 1]]), COUNTY)


# ---------------------------------------------------------------- 复核

def test_review_flow(zk, tmp_path, monkeypatch):
    cs = import_all(tmp_path, n=2)
    c = cs[0]
    math, bio = sub(zk, "sx"), sub(zk, "sw")
    with pytest.raises(DomainError, match="成绩尚未发布"):
        scores.request_review(db.session, c, math.id, "分数偏低")
    freeze(monkeypatch, AFTER)
    with pytest.raises(DomainError, match="理由"):
        scores.request_review(db.session, c, math.id, " ")
    r1 = scores.request_review(db.session, c, math.id, "分数偏低")
    r2 = scores.request_review(db.session, c, bio.id, "等级有误")
    db.session.commit()
    with pytest.raises(DomainError, match="正在处理中"):
        scores.request_review(db.session, c, math.id, "再查一次")
    scores.request_review(db.session, c, sub(zk, "yw").id, "作文")
    db.session.commit()
    with pytest.raises(DomainError, match="最多申请 3 个科目"):
        scores.request_review(db.session, c, sub(zk, "yy").id, "听力")
    db.session.rollback()

    with pytest.raises(PermissionDenied):
        scores.decide_review(db.session, acc("school_3601020002"), r1.id, "118", "")
    with pytest.raises(DomainError, match="超出范围"):
        scores.decide_review(db.session, acc(COUNTY), r1.id, "130", "")
    db.session.rollback()
    scores.decide_review(db.session, acc(COUNTY), r1.id, "118", "漏计一题")
    scores.decide_review(db.session, acc(COUNTY), r2.id, "A", "")
    db.session.commit()
    r1, r2 = db.session.get(ZkScoreReview, r1.id), db.session.get(ZkScoreReview, r2.id)
    assert (r1.state, r1.old_score, r1.new_score, r1.outcome_note) == (ReviewState.CHANGED, 110, 118, "漏计一题")
    assert r2.state == ReviewState.UNCHANGED and r2.outcome_note == "经复核，成绩无误"
    assert total_of(c) == Decimal("629.5") and total_of(cs[1]) == Decimal("621.5")
    assert db.session.scalar(select(AuditLog.new_value).where(
        AuditLog.entity == "zk_candidate", AuditLog.entity_id == str(c.id), AuditLog.field == "total_score")) == "629.5"
    with pytest.raises(DomainError, match="不能重复处理"):
        scores.decide_review(db.session, acc(COUNTY), r1.id, "100", "")
    db.session.rollback()
    assert total_of(c) == Decimal("629.5")
    assert [(r.subject.name, r.state) for r in scores.list_reviews(db.session, c)][:2] == \
        [("数学", ReviewState.CHANGED), ("生物", ReviewState.UNCHANGED)]
    with pytest.raises(DomainError, match="已复核完毕"):
        scores.request_review(db.session, c, math.id, "还是不对")


def test_the_review_window_closes(zk, tmp_path, monkeypatch):
    cs = import_all(tmp_path, n=1)
    freeze(monkeypatch, datetime.datetime(2027, 7, 12, 23, 0))  # publication day + 7: still open
    scores.request_review(db.session, cs[0], sub(zk, "sx").id, "分数偏低")
    db.session.commit()
    freeze(monkeypatch, datetime.datetime(2027, 7, 13, 0, 1))
    with pytest.raises(DomainError, match="2027年07月12日 截止"):
        scores.request_review(db.session, cs[0], sub(zk, "yw").id, "作文")
    exams.update_exam(db.session, acc("sheng_admin"), zk.id, {"review_closes": "2027-07-15"})
    db.session.commit()
    scores.request_review(db.session, cs[0], sub(zk, "yw").id, "作文")


def test_another_county_cannot_decide_or_see_a_review(zk, tmp_path, monkeypatch):
    cs = import_all(tmp_path, n=1)
    freeze(monkeypatch, AFTER)
    review = scores.request_review(db.session, cs[0], sub(zk, "sx").id, "分数偏低")
    db.session.commit()
    with pytest.raises(NotFound):
        scores.decide_review(db.session, acc(WEST_COUNTY), review.id, "118", "")
    db.session.rollback()
    assert db.session.scalars(scores.reviews_query(acc(WEST_COUNTY), zk)).all() == []
    assert db.session.get(ZkScoreReview, review.id).state == ReviewState.PENDING
    assert total_of(cs[0]) == Decimal("621.5")
