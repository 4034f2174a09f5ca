"""资格审核 (issue 10 item 4) and 加分/照顾 (item 1): 分配生 eligibility from the registry history
(continuous school years at the junior school, the 户籍 rule), the per-school batch on the approval
engine (school → county → city), single candidates sent back at a level, the whole batch sent back,
exactly-once approval, scoping from outside, and 加分/照顾 items reviewed by the candidate's county."""
import datetime

import pytest
from sqlalchemy import delete, func, insert, select, update

from app.extensions import db
from app.models import AuditLog, Candidate
from app.models.requests import Request, RequestState
from app.models.student import StudentHistory
from app.models.zhongkao import BonusState, HukouKind, InfoState, QualState, ZkBonus
from app.services import requests
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.zhongkao import qualification as q
from tests.integration.zk_support import EAST, JUNIOR, WEST, acc, candidates, ctx, make_exam, populate, \
    register_county, school  # noqa: F401 (ctx is a fixture)

pytestmark = pytest.mark.usefixtures("ctx")

SCHOOL, COUNTY, CITY = f"school_{JUNIOR[EAST]}", f"county_{EAST}", "city_360100"
WEST_SCHOOL, WEST_COUNTY = f"school_{JUNIOR[WEST]}", f"county_{WEST}"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def D(y, m, d):
    return datetime.datetime(y, m, d, 8, 0)


@pytest.fixture
def zk(ctx):
    exam = make_exam()
    populate(600)
    register_county(exam, EAST)
    register_county(exam, WEST)
    return exam


def confirm_all():
    db.session.execute(update(Candidate).values(info_state=InfoState.CONFIRMED))
    db.session.commit()


def set_history(candidate, spans):
    """Replace the candidate's registry history by spans [(school code, from, to, status)]."""
    db.session.execute(delete(StudentHistory).where(StudentHistory.student_id == candidate.student_id))
    for code, start, end, *status in spans:
        db.session.execute(insert(StudentHistory).values(
            student_id=candidate.student_id, school_id=school(code).id, grade="23",
            status=(status or ["in_school"])[0], valid_from=start, valid_to=end, reason="测试"))
    db.session.commit()


def compute(exam, who=COUNTY, **kw):
    result = q.compute_allocation(db.session, acc(who), exam, **kw)
    db.session.commit()
    return result


def fresh(c):
    db.session.expire_all()
    return db.session.get(Candidate, c.id)


# ---------------------------------------------------------------- 分配生

def test_demo_class_is_eligible_with_a_readable_basis(zk):
    result = compute(zk)
    east = candidates(EAST)
    assert result == {"total": len(east), "eligible": len(east)} and len(east) > 10
    c = fresh(east[0])
    assert c.allocation_eligible is True
    assert c.allocation_basis == "自2024年9月1日起在本校连续就读3学年（要求3学年）：符合"
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.reason == "计算分配生（指标到校）资格")) == 1


def test_histories_decide_eligibility(zk):
    own, other, primary = JUNIOR[EAST], JUNIOR[WEST], "3601020001"
    c = candidates(EAST)[:7]
    set_history(c[0], [(own, D(2024, 9, 1), D(2025, 8, 11)), (own, D(2025, 8, 11), D(2026, 8, 11)),
                       (own, D(2026, 8, 11), None)])                              # promoted twice: continuous
    set_history(c[1], [(other, D(2024, 9, 1), D(2025, 3, 1)), (own, D(2025, 3, 1), None)])   # transferred in
    set_history(c[2], [(own, D(2024, 9, 1), D(2025, 1, 10)), (own, D(2025, 3, 1), None)])    # a gap
    set_history(c[3], [(own, D(2024, 9, 1), D(2025, 1, 1)), (other, D(2025, 1, 1), D(2025, 6, 1)),
                       (own, D(2025, 6, 1), None)])                               # left and came back
    set_history(c[4], [(primary, D(2018, 9, 1), D(2024, 7, 1), "graduated"),
                       (own, D(2024, 9, 5), None)])                               # from primary school
    set_history(c[5], [(own, D(2024, 9, 1), D(2025, 4, 1)), (own, D(2025, 4, 1), D(2025, 9, 1), "suspended"),
                       (own, D(2025, 9, 1), None)])                               # 休学 keeps the record here
    set_history(c[6], [])
    compute(zk, candidate_ids=[x.id for x in c])
    got = [fresh(x) for x in c]
    assert [x.allocation_eligible for x in got] == [True, False, False, False, True, True, False]
    assert got[1].allocation_basis == "自2025年3月1日起在本校连续就读2学年（要求3学年）：不符合"
    assert got[2].allocation_basis.startswith("自2025年3月1日起")
    assert got[3].allocation_basis.startswith("自2025年6月1日起")
    assert got[4].allocation_basis.startswith("自2024年9月5日起在本校连续就读3学年")
    assert "没有该生的就读记录" in got[6].allocation_basis


def test_late_entry_and_current_school_elsewhere(zk):
    own, other = JUNIOR[EAST], JUNIOR[WEST]
    c = candidates(EAST)[:2]
    set_history(c[0], [(own, D(2024, 11, 20), None)])      # after the 开学 weeks: that year does not count
    set_history(c[1], [(own, D(2024, 9, 1), D(2027, 1, 5)), (other, D(2027, 1, 5), None)])  # moved away since
    compute(zk, candidate_ids=[x.id for x in c])
    a, b = fresh(c[0]), fresh(c[1])
    assert a.allocation_eligible is False and "2学年" in a.allocation_basis
    assert b.allocation_eligible is False and "目前不在本校" in b.allocation_basis


def test_years_are_configurable(zk):
    own, other = JUNIOR[EAST], JUNIOR[WEST]
    c = candidates(EAST)[0]
    set_history(c, [(other, D(2024, 9, 1), D(2025, 3, 1)), (own, D(2025, 3, 1), None)])
    zk.allocation_years = 2
    db.session.commit()
    compute(zk, candidate_ids=[c.id])
    assert fresh(c).allocation_eligible is True
    assert fresh(c).allocation_basis.endswith("（要求2学年）：符合")


def test_local_only_rule(zk):
    zk.allocation_local_only = True
    db.session.commit()
    a, b = candidates(EAST)[:2]
    db.session.execute(update(Candidate).where(Candidate.id == a.id).values(hukou_kind=HukouKind.LOCAL))
    db.session.execute(update(Candidate).where(Candidate.id == b.id).values(hukou_kind=HukouKind.MIGRANT))
    db.session.commit()
    compute(zk, candidate_ids=[a.id, b.id])
    a, b = fresh(a), fresh(b)
    assert a.allocation_eligible is True and a.allocation_basis.endswith("：符合；户籍考生")
    assert b.allocation_eligible is False and "本年度分配生限户籍考生：不符合" in b.allocation_basis


def test_compute_is_scoped(zk):
    west = candidates(WEST)[0]
    with pytest.raises(NotFound):
        q.compute_allocation(db.session, acc(COUNTY), zk, school_id=west.school_id)
    db.session.rollback()
    result = compute(zk, who=COUNTY, candidate_ids=[west.id])   # another county's id: simply not theirs
    assert result["total"] == 0 and fresh(west).allocation_basis is None


# ---------------------------------------------------------------- 资格审核 batches

def submit(who=SCHOOL, ids=None):
    req = q.submit_school(db.session, acc(who), candidate_ids=ids)
    db.session.commit()
    return req


def approve(who, req, **kw):
    r = requests.approve(db.session, acc(who), req.id, **kw)
    db.session.commit()
    return r


def test_batch_goes_school_county_city(zk):
    confirm_all()
    east = candidates(EAST)
    req = submit()
    assert req.type == q.QUALIFICATION and req.state == RequestState.PENDING
    assert [s.org_unit.path for s in req.steps] == ["/360000/360100/360102/", "/360000/360100/"]
    assert all(fresh(c).qual_state == QualState.SUBMITTED and fresh(c).qual_request_id == req.id for c in east)
    assert fresh(east[0]).allocation_basis  # computed on submission, shown to the reviewers
    assert dict((str(label), after) for label, _b, after in q.describe_batch(req))["提交考生"] == f"{len(east)} 人"
    # the county's inbox shows it; the city's does not yet
    inbox = lambda who: [r.id for r in db.session.scalars(requests.inbox_query(acc(who), q.QUALIFICATION))]  # noqa
    assert req.id in inbox(COUNTY) and req.id not in inbox(CITY)
    with pytest.raises(PermissionDenied):   # the city cannot act while the batch is at the county
        requests.approve(db.session, acc(CITY), req.id)
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        q.reject_candidate(db.session, acc(CITY), east[0].id, "照片不合格")
    db.session.rollback()
    assert fresh(east[0]).qual_state == QualState.SUBMITTED

    approve(COUNTY, req)
    assert fresh(east[0]).qual_state == QualState.SUBMITTED   # still in review: now at the city
    with pytest.raises(PermissionDenied):
        q.reject_candidate(db.session, acc(COUNTY), east[0].id, "再看看")
    db.session.rollback()
    approve(CITY, req)
    db.session.expire_all()
    assert db.session.get(Request, req.id).state == RequestState.APPROVED
    assert {fresh(c).qual_state for c in east} == {QualState.APPROVED}


def test_county_sends_back_one_candidate_and_school_resubmits(zk):
    confirm_all()
    east = candidates(EAST)
    req = submit()
    version = db.session.get(Request, req.id).version
    q.reject_candidate(db.session, acc(COUNTY), east[1].id, "户籍证明与报名信息不符")
    db.session.commit()
    b = fresh(east[1])
    assert b.qual_state == QualState.REJECTED and b.qual_note == "县级：户籍证明与报名信息不符"
    # a screen showing the batch before the rejection is stale now
    with pytest.raises(DomainError, match="已被他人处理"):
        requests.approve(db.session, acc(COUNTY), req.id, expected_version=version)
    db.session.rollback()
    approve(COUNTY, req)
    approve(CITY, req)
    assert fresh(east[0]).qual_state == QualState.APPROVED
    assert fresh(east[1]).qual_state == QualState.REJECTED
    # fixed by the school, resubmitted alone in a new batch
    again = submit(ids=[east[1].id])
    assert again.id != req.id and fresh(east[1]).qual_state == QualState.SUBMITTED
    assert fresh(east[1]).qual_note is None and fresh(east[1]).qual_request_id == again.id


def test_reject_candidate_needs_a_reason_and_a_submitted_candidate(zk):
    confirm_all()
    east = candidates(EAST)
    with pytest.raises(DomainError, match="不在审核中的批次"):
        q.reject_candidate(db.session, acc(COUNTY), east[0].id, "理由")
    db.session.rollback()
    submit()
    with pytest.raises(DomainError, match="须填写理由"):
        q.reject_candidate(db.session, acc(COUNTY), east[0].id, "  ")
    db.session.rollback()
    assert fresh(east[0]).qual_state == QualState.SUBMITTED


def test_whole_batch_sent_back_returns_candidates_to_school(zk):
    confirm_all()
    east = candidates(EAST)
    req = submit()
    approve(COUNTY, req)
    requests.reject(db.session, acc(CITY), req.id, "名单不全，请补充后重报")
    db.session.commit()
    c = fresh(east[0])
    assert c.qual_state == QualState.PENDING and c.qual_note == "市级退回本批次：名单不全，请补充后重报"
    again = submit()
    assert fresh(east[0]).qual_request_id == again.id


def test_all_sent_back_cannot_be_approved(zk):
    confirm_all()
    east = candidates(EAST)[:2]
    req = submit(ids=[c.id for c in east])
    for c in east:
        q.reject_candidate(db.session, acc(COUNTY), c.id, "不符合报考条件")
        db.session.commit()
    with pytest.raises(DomainError, match="已全部被退回"):
        requests.approve(db.session, acc(COUNTY), req.id)
    db.session.rollback()
    assert db.session.get(Request, req.id).current_step == 1


def test_double_approval_is_a_clear_message(zk):
    confirm_all()
    req = submit()
    version = db.session.get(Request, req.id).version
    approve(COUNTY, req, expected_version=version)
    with pytest.raises(DomainError, match="已被他人处理"):   # the second click, same screen
        requests.approve(db.session, acc(COUNTY), req.id, expected_version=version)
    db.session.rollback()
    with pytest.raises(PermissionDenied, match="当前由“南昌市"):  # without the screen's version
        requests.approve(db.session, acc(COUNTY), req.id)
    db.session.rollback()
    assert [s.decision.value for s in db.session.get(Request, req.id).steps] == ["approved", "pending"]


def test_submission_rules(zk):
    east = candidates(EAST)
    with pytest.raises(DomainError, match="均未签字确认"):
        submit()
    db.session.rollback()
    db.session.execute(update(Candidate).where(Candidate.id == east[0].id).values(info_state=InfoState.CONFIRMED))
    db.session.commit()
    with pytest.raises(DomainError, match="尚未签字确认"):
        submit(ids=[east[0].id, east[1].id])
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        q.submit_school(db.session, acc(COUNTY))
    db.session.rollback()
    with pytest.raises(NotFound):
        submit(ids=[candidates(WEST)[0].id])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Request)
                             .where(Request.type == q.QUALIFICATION)) == 0
    req = submit()                       # all ready ones: just the confirmed one
    assert (req.payload or {})["count"] == 1
    with pytest.raises(DomainError, match="已在审核中"):
        submit(ids=[east[0].id])
    db.session.rollback()


def test_other_county_cannot_see_or_act(zk):
    confirm_all()
    east = candidates(EAST)
    req = submit()
    with pytest.raises(NotFound):
        q.get_batch(db.session, acc(WEST_COUNTY), req.id)
    with pytest.raises(NotFound):
        q.reject_candidate(db.session, acc(WEST_COUNTY), east[0].id, "理由")
    with pytest.raises(NotFound):
        requests.approve(db.session, acc(WEST_COUNTY), req.id)
    db.session.rollback()
    assert fresh(east[0]).qual_state == QualState.SUBMITTED


def test_school_withdraws_batch(zk):
    confirm_all()
    east = candidates(EAST)
    req = submit()
    requests.cancel(db.session, acc(SCHOOL), req.id)
    db.session.commit()
    assert fresh(east[0]).qual_state == QualState.PENDING


# ---------------------------------------------------------------- 加分/照顾

def add(c, item="02", who=SCHOOL, **kw):
    b = q.add_bonus(db.session, acc(who), c.id, item, **kw)
    db.session.commit()
    return b


def test_bonus_added_reviewed_and_totalled(zk):
    a, b = candidates(EAST)[:2]
    x = add(a, "02")
    y = add(a, "01", points="15", note="烈士证明", evidence=("证明.png", PNG))
    z = add(b, "07", points=3, note="县政府文件规定的照顾情形")
    assert x.points == 5 and x.state == BonusState.PENDING and y.evidence_id is not None
    with pytest.raises(DomainError, match="不能重复申报"):
        add(a, "02")
    db.session.rollback()
    for bad, msg in (({"item": "99"}, "请选择"), ({"item": "03", "points": "abc"}, "数字"),
                     ({"item": "03", "points": 80}, "0 到 50"), ({"item": "07"}, "须填写说明"),
                     ({"item": "03", "evidence": ("a.png", b"not an image")}, "内容与文件类型不符")):
        with pytest.raises(DomainError, match=msg):
            q.add_bonus(db.session, acc(SCHOOL), a.id, **bad)
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ZkBonus)) == 3

    with pytest.raises(PermissionDenied):
        q.review_bonus(db.session, acc(SCHOOL), x.id, True)
    with pytest.raises(PermissionDenied):
        q.review_bonus(db.session, acc(CITY), x.id, True)
    with pytest.raises(NotFound):
        q.review_bonus(db.session, acc(WEST_COUNTY), x.id, True)
    with pytest.raises(DomainError, match="须填写理由"):
        q.review_bonus(db.session, acc(COUNTY), z.id, False)
    db.session.rollback()
    q.review_bonus(db.session, acc(COUNTY), x.id, True)
    q.review_bonus(db.session, acc(COUNTY), y.id, True, "材料齐全")
    q.review_bonus(db.session, acc(COUNTY), z.id, False, "文件不适用")
    db.session.commit()
    with pytest.raises(DomainError, match="不能重复审核"):
        q.review_bonus(db.session, acc(COUNTY), x.id, False, "改主意")
    db.session.rollback()
    x = db.session.get(ZkBonus, x.id)
    assert x.state == BonusState.APPROVED and x.reviewed_by_id == acc(COUNTY).id and x.reviewed_at is not None
    assert q.bonus_points(db.session, [a.id, b.id]) == {a.id: 20.0}
    with pytest.raises(DomainError, match="已认定"):
        q.remove_bonus(db.session, acc(SCHOOL), x.id)
    db.session.rollback()
    q.remove_bonus(db.session, acc(SCHOOL), z.id)
    db.session.commit()
    assert db.session.get(ZkBonus, z.id) is None


def test_bonus_scoped(zk):
    west = candidates(WEST)[0]
    with pytest.raises(NotFound):
        add(west, who=SCHOOL)
    db.session.rollback()
    bonus = add(west, who=WEST_SCHOOL)
    with pytest.raises(NotFound):
        q.get_bonus(db.session, acc(COUNTY), bonus.id)
    with pytest.raises(NotFound):
        q.review_bonus(db.session, acc(COUNTY), bonus.id, True)
    db.session.rollback()
    assert q.review_bonus(db.session, acc(WEST_COUNTY), bonus.id, True).state == BonusState.APPROVED
