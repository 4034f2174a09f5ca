"""The one approval engine (architecture rule 4).

A request type declares who may start it, the route of approving units, whether it locks its
student while open, and what approve / reject / cancel do. Deciding is exactly-once: a guarded
UPDATE (… WHERE state = 'pending' AND version = :seen) lets only one of two simultaneous approvers
through; the other gets a clear message. Every state change goes through the ORM afterwards, so
the audit trail records it.
"""
import datetime
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app.services.context import with_actor
from app.models.org import OrgKind, OrgUnit
from app.models.requests import Party, Request, RequestState, RequestStep, StepDecision, StepRole
from app.services import scope
from app.services.context import acting_as, current_reason
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_COUNTY, RANK_SCHOOL, actor_rank


@dataclass
class RequestType:
    name: str
    label: str
    starter_kinds: set = field(default_factory=lambda: {OrgKind.SCHOOL})
    route: Callable = None                 # route(session, request) -> [OrgUnit, …] approving units in order
    locks: bool = True                     # while open, the student can be subject of no other locking request
    on_approve: Callable = None            # on_approve(session, actor, request)
    on_reject: Callable = None
    on_cancel: Callable = None
    window: str | None = None              # business calendar key (processes that may only start in a window)
    describe: Callable = None              # describe(request) -> [(field label, before, after)]
    two_sided: bool = False                # a transfer: a "no" against the other side's "yes" goes to arbitration
    # Several may be open for one student at once (admissions by several schools are detected as 重复招生,
    # not prevented), yet while one is open the student takes no other request (问题学籍 are locked).
    shared_lock: bool = False
    guard: Callable = None                 # guard(session, actor, request) raises when it may not be approved now


@dataclass
class Stop:
    """One stop of a route: the unit that decides, what kind of decision, for which side."""
    unit: OrgUnit
    role: StepRole = StepRole.APPROVE
    party: Party | None = None


REQUEST_TYPES: dict[str, RequestType] = {}
# Called as hook(session, actor, request) after any request ends (approved, rejected, cancelled):
# processes that follow a student's record whatever request changed it (问题学籍) plug in here.
END_HOOKS: list = []
# Business calendars (学籍异动) plug in here: window_check(session, key, label, school) raises when closed.
window_check = None


def register(spec):
    REQUEST_TYPES[spec.name] = spec
    return spec


def ancestor_of_kind(session, unit, kind):
    while unit is not None and unit.kind != kind:
        unit = unit.parent
    return unit


def route_to_county(session, request):
    county = ancestor_of_kind(session, request.school, OrgKind.COUNTY)
    if county is None:
        raise DomainError("找不到该学校所属的县（区）教育局，无法提交审批")
    return [county]


def _spec(type_name):
    spec = REQUEST_TYPES.get(type_name)
    if spec is None:
        raise DomainError("未知的业务类型")
    return spec


def _shared_lock_types():
    return [name for name, spec in REQUEST_TYPES.items() if spec.shared_lock]


def open_locking_request(session, student_id, include_shared=True):
    locking = Request.locks_student.is_(True)
    shared = _shared_lock_types()
    if include_shared and shared:
        locking = locking | Request.type.in_(shared)
    return session.scalar(select(Request).where(
        Request.student_id == student_id, Request.state == RequestState.PENDING, locking).order_by(Request.id))


def ensure_unlocked(session, student, doing="办理此项业务", include_shared=True):
    """The lock check other processes (graduation, promotion, transfers) call before acting."""
    open_req = open_locking_request(session, student.id, include_shared)
    if open_req is not None:
        raise DomainError(f"学生 {student.name} 有尚未办结的“{open_req.type_label}”（申请号 {open_req.id}），"
                          f"不能{doing}；请先办结或撤销该申请")


@with_actor
def start(session, actor, type_name, *, school, student=None, payload=None, reason=None, subject_key=None):
    spec = _spec(type_name)
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind not in spec.starter_kinds or actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied(f"您所在的机构不能发起“{spec.label}”")
    if not scope.can_see_unit(actor, school):
        raise NotFound("记录不存在或不在您的管辖范围内")
    if spec.window and window_check is not None:
        window_check(session, spec.window, spec.label, school)
    if student is not None and (spec.locks or spec.shared_lock):
        ensure_unlocked(session, student, doing=f"发起“{spec.label}”", include_shared=not spec.shared_lock)
    req = Request(type=type_name, state=RequestState.PENDING, school=school, school_id=school.id,
                  student=student, student_id=student.id if student is not None else None,
                  initiator_id=actor.id, locks_student=spec.locks and student is not None,
                  payload=payload or {}, reason=reason, current_step=1, version=1, subject_key=subject_key)
    route = spec.route(session, req) if spec.route else route_to_county(session, req)
    now = datetime.datetime.now()
    stops = [stop if isinstance(stop, Stop) else Stop(stop) for stop in route]
    req.steps = [RequestStep(seq=i, org_unit=stop.unit, org_unit_id=stop.unit.id, role=stop.role, party=stop.party,
                             decision=StepDecision.PENDING if i == 1 else StepDecision.WAITING,
                             arrived_at=now if i == 1 else None)
                 for i, stop in enumerate(stops, start=1)]
    session.add(req)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise DomainError("该学生已有尚未办结的申请（可能刚刚由他人提交），请刷新后查看")
    return req


def current_step(req):
    return next((s for s in req.steps if s.seq == req.current_step), None)


def _rank_may_decide(actor, step):
    """Authorities (county and up) approve; a school admin may give its school's confirmation."""
    return actor_rank(actor) <= (RANK_SCHOOL if step.role == StepRole.CONFIRM else RANK_COUNTY)


def can_decide(actor, req):
    step = current_step(req)
    return (req.state == RequestState.PENDING and step is not None
            and step.org_unit_id == getattr(actor, "org_unit_id", None)
            and _rank_may_decide(actor, step))


def in_arbitration(req):
    step = current_step(req)
    return req.state == RequestState.PENDING and step is not None and step.role == StepRole.ARBITRATE


def _load_for_decision(session, actor, request_id, expected_version=None):
    req = scope.get(session, actor, Request, request_id)
    if expected_version is not None and int(expected_version) != req.version:
        # The screen the decision was made on is stale: someone else acted in between.
        raise DomainError(f"该申请已被他人处理（当前状态：{req.state.label}），请刷新后查看")
    if req.state != RequestState.PENDING:
        raise DomainError(f"该申请{req.state.label}，不能重复处理")
    step = current_step(req)
    if step is None or step.org_unit_id != getattr(actor, "org_unit_id", None):
        where = step.org_unit.name if step is not None else "—"
        raise PermissionDenied(f"该申请当前由“{where}”核办，您无权处理")
    if not _rank_may_decide(actor, step):
        raise PermissionDenied("您的角色不能审批申请")
    return req, step


def _deciding(actor, req, spec, what, comment):
    """The context a decision is written in: its audit rows say why (the comment) next to who,
    whatever flushes on the way (a lazy load, a query)."""
    return acting_as(actor, reason=f"{spec.label}（申请号 {req.id}）{what}" + (f"：{comment}" if comment else ""))


def _claim(session, req, seen_version):
    """Exactly-once: only the transaction whose guarded UPDATE matched may go on."""
    result = session.execute(
        update(Request)
        .where(Request.id == req.id, Request.state == RequestState.PENDING, Request.version == seen_version)
        .values(version=Request.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise DomainError("该申请已被他人处理或已变化，请刷新后查看")
    session.refresh(req)


@with_actor
def approve(session, actor, request_id, comment=None, expected_version=None):
    req, step = _load_for_decision(session, actor, request_id, expected_version)
    comment = (comment or "").strip() or None
    arbitration = step.role == StepRole.ARBITRATE
    if arbitration and not comment:
        raise DomainError("仲裁须填写裁决理由", field="comment")
    spec = _spec(req.type)
    if spec.guard:
        spec.guard(session, actor, req)
    _claim(session, req, expected_version if expected_version is not None else req.version)
    with _deciding(actor, req, spec, "仲裁：支持申请" if arbitration else "同意", comment):
        now = datetime.datetime.now()
        step.decision, step.actor_id, step.comment, step.decided_at = StepDecision.APPROVED, actor.id, comment, now
        nxt = next((s for s in req.steps if s.seq == req.current_step + 1), None)
        if arbitration:  # final: the steps after it have nothing left to decide
            for s in req.steps:
                if s.decision == StepDecision.WAITING:
                    s.decision = StepDecision.SKIPPED
            nxt = None
        if nxt is not None:
            nxt.decision, nxt.arrived_at = StepDecision.PENDING, now
            req.current_step = nxt.seq
        else:
            req.state, req.decided_at, req.outcome = RequestState.APPROVED, now, comment
        session.flush()
    if nxt is None and spec.on_approve:
        with acting_as(actor, reason=f"{spec.label}（申请号 {req.id}）审批通过"):
            spec.on_approve(session, actor, req)
    if nxt is None:
        _ended(session, actor, req)
    session.flush()
    return req


def _ended(session, actor, req):
    session.flush()
    for hook in END_HOOKS:
        hook(session, actor, req)


@with_actor
def reject(session, actor, request_id, comment, expected_version=None):
    comment = (comment or "").strip()
    if not comment:
        raise DomainError("驳回须填写理由", field="comment")
    req, step = _load_for_decision(session, actor, request_id, expected_version)
    spec = _spec(req.type)
    counterpart = _agreeing_counterpart(req, step) if spec.two_sided else None
    arbitration = step.role == StepRole.ARBITRATE
    what = "不同意，提交仲裁" if counterpart is not None else ("仲裁：不予支持" if arbitration else "驳回")
    _claim(session, req, expected_version if expected_version is not None else req.version)
    with _deciding(actor, req, spec, what, comment):
        now = datetime.datetime.now()
        step.decision, step.actor_id, step.comment, step.decided_at = StepDecision.REJECTED, actor.id, comment, now
        if counterpart is not None:
            _to_arbitration(session, req, step, counterpart, now)
            session.flush()
            return req
        # A "no" in arbitration is as final as a "yes": the steps after it are moot, not cancelled.
        moot = StepDecision.SKIPPED if arbitration else StepDecision.CANCELLED
        for s in req.steps:
            if s.decision == StepDecision.WAITING:
                s.decision = moot
        req.state, req.decided_at, req.outcome = RequestState.REJECTED, now, comment
        session.flush()
    if spec.on_reject:
        with acting_as(actor, reason=f"{spec.label}（申请号 {req.id}）被驳回：{comment}"):
            spec.on_reject(session, actor, req)
    _ended(session, actor, req)
    session.flush()
    return req


def lowest_common_superior(session, a, b):
    """The lowest unit whose subtree holds both (a county for two of its schools, a city for two
    of its counties, else the province)."""
    common = []
    for x, y in zip(a.path.strip("/").split("/"), b.path.strip("/").split("/")):
        if x != y:
            break
        common.append(x)
    if not common:
        raise DomainError("两方不在同一省内，无法确定共同上级")
    if len(common) == len(a.path.strip("/").split("/")) or len(common) == len(b.path.strip("/").split("/")):
        common = common[:-1] or common  # one contains the other: its superior, not itself
    unit = session.scalar(select(OrgUnit).where(OrgUnit.path == "/" + "/".join(common) + "/"))
    if unit is None:
        raise DomainError("找不到双方的共同上级单位")
    return unit


def _agreeing_counterpart(req, step):
    """The unit of the other side that has said yes at the level of the one now saying no, or
    None (a plain rejection). The school that started a transfer agrees by starting it."""
    if step.party is None:
        return None
    other = Party.IN if step.party == Party.OUT else Party.OUT
    if step.role == StepRole.CONFIRM:
        return req.school
    for s in req.steps:
        if (s.party == other and s.decision == StepDecision.APPROVED and s.org_unit is not None
                and s.org_unit.kind == step.org_unit.kind):
            return s.org_unit
    return None


def _to_arbitration(session, req, rejected_step, counterpart, now):
    """The two sides disagree: insert an arbitration step for their lowest common superior right
    after the rejecting one; its decision is final."""
    judge = lowest_common_superior(session, rejected_step.org_unit, counterpart)
    for s in sorted(req.steps, key=lambda s: s.seq, reverse=True):
        if s.seq > rejected_step.seq:
            s.seq += 1
    arbitration = RequestStep(seq=rejected_step.seq + 1, org_unit=judge, org_unit_id=judge.id,
                              role=StepRole.ARBITRATE, decision=StepDecision.PENDING, arrived_at=now)
    req.steps.append(arbitration)
    req.current_step = arbitration.seq


def conclude(session, actor, req, approved, outcome):
    """The process the request belongs to decided it (重复招生仲裁: the winning admission stands, the
    others do not): its open steps become moot and its approve / reject effects run, exactly once.
    `approved=None`: the process made it moot (a 佐证 of an admission that has ended): cancelled."""
    if req.state != RequestState.PENDING:
        raise DomainError(f"{req.type_label}（申请号 {req.id}）{req.state.label}，不能再处理")
    _claim(session, req, req.version)
    spec = _spec(req.type)
    now = datetime.datetime.now()
    state = {True: RequestState.APPROVED, False: RequestState.REJECTED, None: RequestState.CANCELLED}[approved]
    moot = StepDecision.CANCELLED if approved is None else StepDecision.SKIPPED
    with acting_as(actor, reason=f"{spec.label}（申请号 {req.id}）{outcome}"):
        for s in req.steps:
            if s.decision in (StepDecision.PENDING, StepDecision.WAITING):
                s.decision = moot
        req.state, req.decided_at, req.outcome = state, now, outcome
        session.flush()
        effect = {True: spec.on_approve, False: spec.on_reject, None: spec.on_cancel}[approved]
        if effect:
            effect(session, actor, req)
    _ended(session, actor, req)
    session.flush()
    return req


@with_actor
def cancel(session, actor, request_id, reason=None, expected_version=None):
    """The initiating unit withdraws its pending request; a superior (e.g. the county cleaning up
    在办业务 before graduation) may cancel on its behalf, with a reason."""
    req = scope.get(session, actor, Request, request_id)
    if req.state != RequestState.PENDING:
        raise DomainError(f"该申请{req.state.label}，不能撤销")
    own = req.school_id == getattr(actor, "org_unit_id", None)
    superior = scope.can_see_unit(actor, req.school) and not own and actor_rank(actor) <= RANK_COUNTY
    if not (own and actor_rank(actor) <= RANK_SCHOOL) and not superior:
        raise PermissionDenied("只有发起单位或其上级管理员可以撤销该申请")
    reason = (reason or "").strip()
    if superior and not reason:
        raise DomainError("代为清理在办业务须填写理由", field="reason")
    _claim(session, req, expected_version if expected_version is not None else req.version)
    now = datetime.datetime.now()
    for s in req.steps:
        if s.decision in (StepDecision.PENDING, StepDecision.WAITING):
            s.decision = StepDecision.CANCELLED
    req.state, req.decided_at = RequestState.CANCELLED, now
    req.outcome = reason or "发起单位撤销申请"
    spec = _spec(req.type)
    if spec.on_cancel:
        with acting_as(actor, reason=f"{spec.label}（申请号 {req.id}）已撤销：{req.outcome}"):
            spec.on_cancel(session, actor, req)
    _ended(session, actor, req)
    session.flush()
    return req


def inbox_query(actor, type_name=None, school_id=None, since=None, until=None):
    """审批待办: pending requests whose current step belongs to the actor's unit."""
    stmt = (
        select(Request)
        .join(RequestStep, (RequestStep.request_id == Request.id) & (RequestStep.seq == Request.current_step))
        .where(Request.state == RequestState.PENDING, RequestStep.org_unit_id == getattr(actor, "org_unit_id", -1),
               scope.clause(actor, Request))
        .order_by(Request.created_at)
    )
    if type_name:
        stmt = stmt.where(Request.type == type_name)
    if school_id:
        stmt = stmt.where(Request.school_id == school_id)
    if since:
        stmt = stmt.where(Request.created_at >= since)
    if until:
        stmt = stmt.where(Request.created_at <= until)
    return stmt


def pending_count(session, actor):
    if getattr(actor, "org_unit_id", None) is None or actor_rank(actor) > RANK_SCHOOL:  # schools confirm transfers
        return 0
    return session.scalar(select(func.count()).select_from(inbox_query(actor).subquery()))


def open_requests_query(actor, school_id=None, type_name=None):
    """在办业务: all open requests inside the actor's subtree (for cleanup before graduation)."""
    stmt = select(Request).where(Request.state == RequestState.PENDING, scope.clause(actor, Request)).order_by(Request.created_at)
    if school_id:
        stmt = stmt.where(Request.school_id == school_id)
    if type_name:
        stmt = stmt.where(Request.type == type_name)
    return stmt


@with_actor
def bulk_approve(session, actor, request_ids, comment=None):
    """Approve each selected request in its own savepoint: one failure does not undo the others.
    Returns (approved_ids, {id: message})."""
    done, failed = [], {}
    for rid in request_ids:
        try:
            with session.begin_nested():
                req = scope.get(session, actor, Request, rid)
                if in_arbitration(req):  # a final decision is made one by one, with its own reason
                    raise DomainError("该申请处于仲裁环节，须逐件填写裁决理由，不能批量通过")
                approve(session, actor, rid, comment)
            done.append(rid)
        except DomainError as exc:
            failed[rid] = exc.message
    return done, failed


def _request_scope(actor):
    """Visible: requests started inside the subtree, or with a step owned inside it (cross-county)."""
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    units = select(OrgUnit.id).where(OrgUnit.path.startswith(prefix))
    step = aliased(RequestStep)  # its own alias: the inbox query joins RequestStep too
    routed_here = select(step.id).where(step.request_id == Request.id, step.org_unit_id.in_(units)).correlate(Request)
    return or_(Request.school_id.in_(units), routed_here.exists())


scope.register(Request, _request_scope)
