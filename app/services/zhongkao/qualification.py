"""资格审核 (school → county → city on the approval engine), 分配生 (指标到校) eligibility computed from
the registry history, and 加分/照顾 items reviewed by the candidate's county.

分配生: an 应届 candidate (origin registry) qualifies when the registry shows them enrolled at their
current junior school continuously for at least `exam.allocation_years` school years up to the exam
(and, with `allocation_local_only`, holds local 户籍). Continuity is read from StudentHistory spans:
the run of spans at this school (in school, registering or 休学) back from the latest one, with no
gap of a day or more and no span elsewhere or of another status in between. School years are counted
the way schools count them: the exam's school year is one, and the year the run started counts when
the student was there by `ENTRY_GRACE` (开学 plus the 新生注册 weeks), else the next one does — so a
student at the school since 2024年9月 has 3 school years at the 2027 exam, one who transferred in
during 2025年3月 has 2. The result and a one-line basis in Chinese are stored on the candidate and
shown to the reviewers; it is recomputed whenever the school submits.

资格审核: the school submits its candidates as one batch (a Request of type zk_qualification, no
student, so nothing else is locked); the county and then the city approve it. While the batch is at
a level, that level's officer may take single candidates out of it (退回, with a reason); approving
at the last level makes the rest 资格审核通过; rejecting the whole batch returns its candidates to
the school. Every decision on a batch bumps the request's version, so of two officers acting on the
same screen only the first one counts (the engine's exactly-once).
"""
import datetime

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import object_session

from app.codes import tables
from app.models.org import OrgKind, OrgUnit
from app.models.requests import Request, RequestState, StepDecision
from app.models.student import StudentHistory, StudentStatus
from app.models.zhongkao import BonusState, Candidate, CandidateOrigin, HukouKind, InfoState, QualState, ZkBonus
from app.services import attachments, audit, clock, requests, scope
from app.services.context import acting_as, with_actor
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_COUNTY, RANK_SCHOOL, actor_rank
from app.services.zhongkao import exams
from app.services.zhongkao.registration import get_candidate

QUALIFICATION = "zk_qualification"
ENTRY_GRACE = (10, 31)          # a run starting by 10月31日 counts that whole school year
EXAM_DAY = (6, 1)               # years are counted up to the exam (June)
GOOD_STATUSES = (StudentStatus.IN_SCHOOL.value, StudentStatus.REGISTERING.value, StudentStatus.SUSPENDED.value)
OPEN_STATES = (QualState.PENDING, QualState.REJECTED)   # states the school may (re)submit from
MAX_REASON = 200
MAX_NAMES = 5
IN_CHUNK = 500

BONUS_TABLE = tables.add_table("zk_bonus_item", "中考加分/照顾项目", [
    ("01", "烈士子女"), ("02", "少数民族考生"), ("03", "归侨、华侨子女"), ("04", "台湾省籍考生子女"),
    ("05", "现役军人子女"), ("06", "公安英模子女"), ("07", "其他照顾"),
])
BONUS_DEFAULT_POINTS = {"01": 20, "02": 5, "03": 5, "04": 10, "05": 10, "06": 10, "07": 0}
MAX_BONUS_POINTS = 50


# ---------------------------------------------------------------- scope and helpers

def _bonus_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    return ZkBonus.candidate_id.in_(select(Candidate.id).where(Candidate.school_path.startswith(prefix,
                                                                                               autoescape=False)))


scope.register(ZkBonus, _bonus_scope)


def _names(names):
    shown = "、".join(names[:MAX_NAMES])
    return shown + (f" 等 {len(names)} 人" if len(names) > MAX_NAMES else "")


def _chunks(ids):
    ids = list(ids)
    for i in range(0, len(ids), IN_CHUNK):
        yield ids[i:i + IN_CHUNK]


def _school_actor(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.SCHOOL or actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied(f"只有学校管理员可以{doing}")
    return unit


def _officer(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied(f"您没有{doing}的权限")
    return unit


def _ids(values):
    """Candidate ids from a form: malformed ones name no record (404, like any unknown id)."""
    out = []
    for v in values:
        text = str(v).strip()
        if not text.isdigit() or len(text) > 12:
            raise NotFound("记录不存在或不在您的管辖范围内")
        out.append(int(text))
    return list(dict.fromkeys(out))


def level_label(unit):
    return {OrgKind.COUNTY: "县级", OrgKind.CITY: "市级", OrgKind.PROVINCE: "省级"}.get(unit.kind, unit.name)


def _expire_candidates(session):
    """The set-based UPDATEs below bypass the identity map: make loaded candidates re-read."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Candidate):
            session.expire(obj)


# ---------------------------------------------------------------- 分配生 eligibility

def _ymd(d):
    return f"{d.year}年{d.month}月{d.day}日"


def school_years_since(start, exam_year):
    """School years counted at the exam of `exam_year` for a run that started on `start`."""
    if start.month >= 7:    # autumn: that school year counts when the run began by the grace date
        first = start.year if (start.month, start.day) <= ENTRY_GRACE else start.year + 1
    else:                   # spring: the school year began the autumn before and does not count
        first = start.year
    return max(0, exam_year - first)


def allocation_verdict(exam, start, hukou_kind, spans):
    """(eligible, basis) for one 应届 candidate whose continuous run at the school began on `start`
    (None when the registry shows none reaching the exam); `spans` = how many history spans there are."""
    required = exam.allocation_years
    if start is None:
        why = "学籍库中没有该生的就读记录" if not spans else "学籍库中该生目前不在本校连续就读"
        return False, f"{why}（要求在本校连续就读{required}学年）：不符合"
    years = school_years_since(start, exam.year)
    ok = years >= required
    text = f"自{_ymd(start)}起在本校连续就读{years}学年（要求{required}学年）：{'符合' if ok else '不符合'}"
    if exam.allocation_local_only:
        if hukou_kind == HukouKind.LOCAL:
            text += "；户籍考生"
        else:
            ok = False
            text += "；随迁子女，本年度分配生限户籍考生：不符合"
    return ok, text


def _runs(session, exam, where):
    """{candidate id: (start of the continuous run at the candidate's school or None, spans)} for the
    candidates matching `where`: one SQL statement, windows over each candidate's history (no self-join)."""
    c, h = Candidate, StudentHistory
    limit = datetime.datetime(exam.year, *EXAM_DAY)
    end = min(clock.now(), limit)
    good = and_(h.school_id == c.school_id, h.status.in_(GOOD_STATUSES))
    one = (select(c.id.label("cid"), h.id.label("hid"), h.valid_from, h.valid_to,
                  case((good, 1), else_=0).label("good"),
                  func.lag(h.valid_to).over(partition_by=c.id, order_by=(h.valid_from, h.id)).label("prev_to"))
           .join(h, h.student_id == c.student_id)
           .where(*where, c.origin == CandidateOrigin.REGISTRY, h.valid_from < limit)
           .subquery("spans")).c
    # a run breaks at a span elsewhere (or of another status), at the first span, and after a gap;
    # numbering the runs (a running count of breaks) leaves the last run = the highest number
    brk = case((or_(one.good == 0, one.prev_to.is_(None), func.date(one.valid_from) > func.date(one.prev_to)), 1),
               else_=0)
    order = (one.valid_from, one.hid)
    two = (select(one.cid, one.valid_from, one.valid_to, one.good,
                  func.sum(brk).over(partition_by=one.cid, order_by=order, rows=(None, 0)).label("run"),
                  func.row_number().over(partition_by=one.cid, order_by=(one.valid_from.desc(), one.hid.desc()))
                  .label("back"))
           .subquery("runs")).c
    three = (select(two.cid, two.valid_from, two.valid_to, two.good, two.run, two.back,
                    func.max(two.run).over(partition_by=two.cid).label("last_run"))
             .subquery("last")).c
    rows = session.execute(
        select(three.cid, func.count(),
               func.min(case((and_(three.run == three.last_run, three.good == 1), three.valid_from))),
               func.max(case((and_(three.back == 1, three.good == 1,
                                   or_(three.valid_to.is_(None), three.valid_to >= end)), 1), else_=0)))
        .group_by(three.cid)).all()
    out = {}
    for cid, n, start, still in rows:
        if isinstance(start, str):  # SQLite hands an aggregate of datetimes back as text
            start = datetime.datetime.fromisoformat(start)
        out[cid] = (start if still else None, n)
    return out


def _where(actor, exam, school_id=None, candidate_ids=None):
    """Candidates of the exam in scope whose result may still change (not in review, not approved)."""
    where = [Candidate.exam_id == exam.id, scope.clause(actor, Candidate), Candidate.qual_state.in_(OPEN_STATES)]
    if school_id is not None:
        where.append(Candidate.school_id == school_id)
    if candidate_ids is not None:
        where.append(Candidate.id.in_(candidate_ids))
    return where


@with_actor
def compute_allocation(session, actor, exam=None, school_id=None, candidate_ids=None):
    """计算分配生资格 for the actor's candidates (of one school, or the given ones) that are not in
    review or approved. Returns {"total", "eligible"}. Identical results are written together (one
    UPDATE per distinct basis and chunk), so a county's thousands of rows take a few statements."""
    unit = _officer(actor, "计算分配生资格")
    exam = exam or exams.require_exam(session)
    if school_id not in (None, ""):
        school_id = exams.in_scope_school(session, actor, school_id, "计算分配生资格").id
    else:
        school_id = None
    if candidate_ids is not None:
        candidate_ids = _ids(candidate_ids)
    where = _where(actor, exam, school_id, candidate_ids)
    rows = session.execute(select(Candidate.id, Candidate.origin, Candidate.hukou_kind).where(*where)).all()
    runs = _runs(session, exam, where)
    groups = {}
    for r in rows:
        if r.origin != CandidateOrigin.REGISTRY:
            verdict = (False, f"{r.origin.label}考生不属于分配生（须为本校应届毕业生）：不符合")
        else:
            start, n = runs.get(r.id, (None, 0))
            verdict = allocation_verdict(exam, start, r.hukou_kind, n)
        groups.setdefault(verdict, []).append(r.id)
    for (ok, basis), ids in groups.items():
        for chunk in _chunks(ids):
            session.execute(update(Candidate).where(Candidate.id.in_(chunk))
                            .values(allocation_eligible=ok, allocation_basis=basis),
                            execution_options={"synchronize_session": False})
    _expire_candidates(session)
    if rows:
        audit.record_bulk(session, "Candidate", len(rows), unit.path, "计算分配生（指标到校）资格", actor)
    eligible = sum(len(ids) for (ok, _b), ids in groups.items() if ok)
    return {"total": len(rows), "eligible": eligible}


# ---------------------------------------------------------------- 资格审核: the batch

def _route(session, req):
    first = exams.county_of(session, req.school)
    stops = [first]
    parent = session.get(OrgUnit, first.parent_id) if first.parent_id else None
    if first.kind == OrgKind.COUNTY and parent is not None and parent.kind == OrgKind.CITY:
        stops.append(parent)
    return stops


def batch_counts(session, request_id):
    rows = session.execute(
        select(Candidate.qual_state, func.count(), func.sum(case((Candidate.allocation_eligible.is_(True), 1),
                                                                 else_=0)))
        .where(Candidate.qual_request_id == request_id).group_by(Candidate.qual_state)).all()
    out = {"total": 0, "eligible": 0}
    for state, n, eligible in rows:
        out[state] = n
        out["total"] += n
        if state != QualState.REJECTED:
            out["eligible"] += eligible or 0
    return out


def describe_batch(req):
    session = object_session(req)
    counts = batch_counts(session, req.id) if session is not None else {}
    p = req.payload or {}
    live = counts.get(QualState.SUBMITTED, 0) + counts.get(QualState.APPROVED, 0)
    rows = [("报名学校", "", req.school.name if req.school is not None else ""),
            ("提交考生", "", f"{p.get('count', 0)} 人"),
            ("在审（或已通过）考生", "", f"{live} 人"),
            ("其中符合分配生条件", "", f"{counts.get('eligible', 0)} 人")]
    if counts.get(QualState.REJECTED):
        rows.append(("已单独退回考生", "", f"{counts[QualState.REJECTED]} 人"))
    return rows


def _guard(session, actor, req):
    left = session.scalar(select(func.count()).select_from(Candidate).where(
        Candidate.qual_request_id == req.id, Candidate.qual_state == QualState.SUBMITTED))
    if not left:
        raise DomainError("本批次的考生已全部被退回，无需通过；请驳回本批次（学校修改后可重新提交）")


def _set_batch(session, actor, req, state, note, what):
    n = session.execute(
        update(Candidate).where(Candidate.qual_request_id == req.id, Candidate.qual_state == QualState.SUBMITTED)
        .values(qual_state=state, qual_note=note, updated_at=clock.now()),
        execution_options={"synchronize_session": False}).rowcount
    _expire_candidates(session)
    audit.record_bulk(session, "Candidate", n, req.school.path, f"中考资格审核（申请号 {req.id}）{what}", actor)


def _on_approve(session, actor, req):
    _set_batch(session, actor, req, QualState.APPROVED, None, "审核通过")


def _on_reject(session, actor, req):
    step = next((s for s in req.steps if s.decision == StepDecision.REJECTED), None)
    who = level_label(step.org_unit) if step is not None else "上级"
    _set_batch(session, actor, req, QualState.PENDING, f"{who}退回本批次：{req.outcome or ''}"[:255], "整批退回")


def _on_cancel(session, actor, req):
    _set_batch(session, actor, req, QualState.PENDING, None, "学校撤回")


requests.register(requests.RequestType(QUALIFICATION, "中考资格审核", locks=False, route=_route,
                                       on_approve=_on_approve, on_reject=_on_reject, on_cancel=_on_cancel,
                                       guard=_guard, describe=describe_batch))


@with_actor
def submit_school(session, actor, school_id=None, candidate_ids=None, exam=None):
    """提交审核: the school's candidates (all 待审核 ones, or those picked, which may include ones sent
    back earlier) become one batch. Their information must be signed and locked first. Their
    分配生 eligibility is recomputed so the reviewers read a fresh basis. Returns the Request."""
    unit = _school_actor(actor, "提交资格审核")
    exam = exam or exams.require_exam(session)
    school = exams.in_scope_school(session, actor, school_id if school_id not in (None, "") else unit.id,
                                   "提交资格审核")
    base = select(Candidate).where(Candidate.exam_id == exam.id, Candidate.school_id == school.id,
                                   scope.clause(actor, Candidate))
    if candidate_ids is None:
        picked = session.scalars(base.where(Candidate.qual_state == QualState.PENDING)
                                 .order_by(Candidate.seq)).all()
        ready = [c for c in picked if c.info_state == InfoState.CONFIRMED]
        if not ready:
            if picked:
                raise DomainError(f"本校 {len(picked)} 名待审核考生的信息均未签字确认，请先完成信息确认再提交")
            raise DomainError("本校没有待提交资格审核的考生")
    else:
        ids = _ids(candidate_ids)
        if not ids:
            raise DomainError("请先勾选要提交审核的考生")
        ready = session.scalars(base.where(Candidate.id.in_(ids)).order_by(Candidate.seq)).all()
        if len(ready) != len(ids):
            raise NotFound("记录不存在或不在您的管辖范围内")
        busy = [c.name for c in ready if c.qual_state not in OPEN_STATES]
        if busy:
            raise DomainError(f"{_names(busy)} 已在审核中或已通过，不能重复提交")
        unconfirmed = [c.name for c in ready if c.info_state != InfoState.CONFIRMED]
        if unconfirmed:
            raise DomainError(f"{_names(unconfirmed)} 的信息尚未签字确认，不能提交资格审核")
    ids = [c.id for c in ready]
    result = compute_allocation(session, actor, exam, candidate_ids=ids)
    req = requests.start(session, actor, QUALIFICATION, school=school,
                         payload={"exam_id": exam.id, "count": len(ids), "eligible": result["eligible"]},
                         reason=f"{exam.year}年中考资格审核：{school.name} {len(ids)} 名考生")
    moved = 0
    for chunk in _chunks(ids):   # guarded: a candidate another officer just submitted is not taken twice
        moved += session.execute(
            update(Candidate).where(Candidate.id.in_(chunk), Candidate.qual_state.in_(OPEN_STATES))
            .values(qual_state=QualState.SUBMITTED, qual_request_id=req.id, qual_note=None, updated_at=clock.now()),
            execution_options={"synchronize_session": False}).rowcount
    if moved != len(ids):
        raise DomainError("部分考生刚刚已由他人提交审核，请刷新后重试")
    _expire_candidates(session)
    audit.record_bulk(session, "Candidate", moved, school.path, f"中考资格审核：学校提交（申请号 {req.id}）", actor)
    session.flush()
    return req


def get_batch(session, actor, request_id):
    text = str(request_id or "").strip()
    if not text.isdigit() or len(text) > 12:
        raise NotFound("记录不存在或不在您的管辖范围内")
    req = scope.get(session, actor, Request, int(text))
    if req.type != QUALIFICATION:
        raise NotFound("记录不存在或不在您的管辖范围内")
    return req


def _claim(session, req, expected_version):
    """A decision on part of the batch counts as a decision on it: bump the version (guarded) so a
    stale screen's approval of the whole batch is refused, and vice versa."""
    seen = req.version if expected_version in (None, "") else expected_version
    try:
        seen = int(seen)
    except (TypeError, ValueError):
        seen = -1
    n = session.execute(update(Request).where(Request.id == req.id, Request.state == RequestState.PENDING,
                                              Request.version == seen, Request.current_step == req.current_step)
                        .values(version=Request.version + 1),
                        execution_options={"synchronize_session": False}).rowcount
    if n != 1:
        raise DomainError("该批次已被他人处理或已变化，请刷新后查看")
    session.refresh(req)


def _may_act(actor, req):
    if req.state != RequestState.PENDING:
        raise DomainError(f"该批次{req.state.label}，不能再退回考生")
    if not requests.can_decide(actor, req):
        step = requests.current_step(req)
        raise PermissionDenied(f"该批次当前由“{step.org_unit.name if step else '—'}”审核，您无权处理")


@with_actor
def reject_candidate(session, actor, candidate_id, reason, expected_version=None):
    """退回 one candidate of the batch at the actor's level: 资格审核未通过 with the reason; the school may
    correct and resubmit them in a new batch."""
    candidate = get_candidate(session, actor, candidate_id)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("退回考生须填写理由", field="reason")
    if len(reason) > MAX_REASON:
        raise DomainError(f"理由不能超过 {MAX_REASON} 字", field="reason")
    if candidate.qual_state != QualState.SUBMITTED or candidate.qual_request_id is None:
        raise DomainError(f"{candidate.name} 不在审核中的批次里（当前：{candidate.qual_state.label}）")
    req = get_batch(session, actor, candidate.qual_request_id)
    _may_act(actor, req)
    _claim(session, req, expected_version)
    who = level_label(actor.org_unit)
    with acting_as(actor, reason=f"中考资格审核（申请号 {req.id}）{who}退回考生：{reason}"):
        candidate.qual_state = QualState.REJECTED
        candidate.qual_note = f"{who}：{reason}"[:255]
        session.flush()
    return candidate


def batches_query(actor, exam=None, pending_here=False, school_id=None):
    """The zk_qualification batches in scope (newest first); `pending_here`: waiting at the actor's unit."""
    if pending_here:
        stmt = requests.inbox_query(actor, type_name=QUALIFICATION, school_id=school_id)
    else:
        stmt = select(Request).where(Request.type == QUALIFICATION, scope.clause(actor, Request))
        if school_id:
            stmt = stmt.where(Request.school_id == school_id)
    return stmt.order_by(None).order_by(Request.created_at.desc(), Request.id.desc())


def batch_candidates(session, actor, req):
    return session.scalars(select(Candidate).where(Candidate.qual_request_id == req.id,
                                                   scope.clause(actor, Candidate))
                           .order_by(Candidate.qual_state, Candidate.seq)).all()


def qual_counts(session, actor, exam, school_id=None):
    stmt = select(Candidate.qual_state, func.count()).where(Candidate.exam_id == exam.id,
                                                            scope.clause(actor, Candidate))
    if school_id:
        stmt = stmt.where(Candidate.school_id == school_id)
    return dict(session.execute(stmt.group_by(Candidate.qual_state)).all())


# ---------------------------------------------------------------- 加分/照顾

def _points(value, item):
    if value in (None, ""):
        return float(BONUS_DEFAULT_POINTS.get(item, 0))
    try:
        points = round(float(str(value).strip()), 1)
    except (TypeError, ValueError):
        raise DomainError("分值应为数字", field="points")
    if not 0 <= points <= MAX_BONUS_POINTS:   # also refuses nan and inf
        raise DomainError(f"分值应在 0 到 {MAX_BONUS_POINTS} 之间", field="points")
    return points


@with_actor
def add_bonus(session, actor, candidate_id, item, points=None, note=None, evidence=None):
    """申报 a 加分/照顾 item for one of the school's candidates; `evidence` = (filename, bytes) or None.
    One per item and candidate; the county reviews it."""
    _school_actor(actor, "申报加分/照顾项目")
    candidate = get_candidate(session, actor, candidate_id)
    item = str(item or "").strip()
    if not tables.is_valid(BONUS_TABLE, item):
        raise DomainError("请选择加分/照顾项目", field="item")
    points = _points(points, item)
    note = (note or "").strip() or None
    if note and len(note) > 255:
        raise DomainError("说明不能超过 255 字", field="note")
    if item == "07" and not note:
        raise DomainError("“其他照顾”须填写说明（依据的文件或情形）", field="note")
    label = tables.label(BONUS_TABLE, item)
    if session.scalar(select(ZkBonus.id).where(ZkBonus.candidate_id == candidate.id, ZkBonus.item == item)):
        raise DomainError(f"{candidate.name} 已申报“{label}”，不能重复申报", field="item")
    att = None
    if evidence is not None and evidence[0]:
        att = attachments.save(session, actor, evidence[0], evidence[1], "evidence", candidate.school_path)
    bonus = ZkBonus(candidate_id=candidate.id, candidate=candidate, item=item, points=points, note=note,
                    state=BonusState.PENDING)
    try:
        with session.begin_nested():
            if att is not None:
                session.flush()
                bonus.evidence_id = att.id
            session.add(bonus)
            session.flush()
    except IntegrityError:
        raise DomainError(f"{candidate.name} 刚刚已由他人申报“{label}”，不能重复申报", field="item")
    return bonus


def get_bonus(session, actor, bonus_id):
    text = str(bonus_id or "").strip()
    if not text.isdigit() or len(text) > 12:
        raise NotFound("记录不存在或不在您的管辖范围内")
    return scope.get(session, actor, ZkBonus, int(text))


@with_actor
def review_bonus(session, actor, bonus_id, approve, note=None):
    """认定 / 不予认定 by the candidate's county (the unit that ran the registration) only."""
    bonus = get_bonus(session, actor, bonus_id)
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.id != bonus.candidate.county_id or actor_rank(actor) > RANK_COUNTY:
        raise PermissionDenied("只有考生报名所在县（区）教育局可以审核加分/照顾项目")
    note = (note or "").strip() or None
    if not approve and not note:
        raise DomainError("不予认定须填写理由", field="note")
    if note and len(note) > 255:
        raise DomainError("审核意见不能超过 255 字", field="note")
    # the row lock makes two reviewers clicking at once one review (the second sees it decided)
    locked = session.scalar(select(ZkBonus).where(ZkBonus.id == bonus.id).with_for_update()
                            .execution_options(populate_existing=True))
    if locked.state != BonusState.PENDING:
        raise DomainError(f"该项目{locked.state.label}，不能重复审核")
    label = tables.label(BONUS_TABLE, locked.item)
    verdict = BonusState.APPROVED if approve else BonusState.REJECTED
    with acting_as(actor, reason=f"加分/照顾“{label}”{verdict.label}" + (f"：{note}" if note else "")):
        locked.state, locked.reviewed_by_id, locked.reviewed_at, locked.review_note = \
            verdict, actor.id, clock.now(), note
        session.flush()
        if approve:  # recognised after the scores came in: the total includes it from now on
            from app.services.zhongkao import scores
            candidate = locked.candidate
            if scores.has_scores(session, candidate.exam_id):
                scores.recompute_totals(session, candidate.exam, [candidate.id])
    return locked


@with_actor
def remove_bonus(session, actor, bonus_id):
    """The school withdraws an item not (yet) recognised."""
    _school_actor(actor, "撤回加分/照顾项目")
    bonus = get_bonus(session, actor, bonus_id)
    if bonus.state == BonusState.APPROVED:
        raise DomainError("该项目已认定，不能撤回")
    session.delete(bonus)
    session.flush()


def bonuses_query(actor, exam, state=None, school_id=None):
    stmt = (select(ZkBonus).join(Candidate, Candidate.id == ZkBonus.candidate_id)
            .where(Candidate.exam_id == exam.id, scope.clause(actor, ZkBonus)))
    if state:
        stmt = stmt.where(ZkBonus.state == (state if isinstance(state, BonusState) else BonusState(state)))
    if school_id:
        stmt = stmt.where(Candidate.school_id == school_id)
    return stmt.order_by(ZkBonus.state, Candidate.school_path, Candidate.seq, ZkBonus.item)


def bonus_points(session, candidate_ids):
    """{candidate id: total approved 加分 points} (for the score helper)."""
    out = {}
    for chunk in _chunks(candidate_ids):
        out.update({cid: float(total) for cid, total in session.execute(
            select(ZkBonus.candidate_id, func.sum(ZkBonus.points))
            .where(ZkBonus.candidate_id.in_(chunk), ZkBonus.state == BonusState.APPROVED)
            .group_by(ZkBonus.candidate_id)).all()})
    return out
