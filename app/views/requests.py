"""Approval screens: 审批待办 (inbox), 我的申请, 在办业务 and the attachment download.

Thin, like every screen: read the input, call the one approval engine (app/services/requests.py),
flash its Chinese message. Who may decide, cancel or see a request is decided there and in
services/scope.py; an id outside the actor's scope is a 404 on every page and post here.
"""
import datetime
import math
import os
import re

from flask import abort, flash, has_request_context, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _, lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select
from sqlalchemy.orm import aliased, selectinload

from app.exports import ExportSource
from app.exports.views import ExportMixin
from app.extensions import db
from app.models.org import OrgUnit, Region
from app.models.requests import Request, RequestState, RequestStep, StepDecision, StepRole
from app.services import attachments, deadlines, identity, privacy, requests, scope
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound
from app.views.base import call_service
from app.services.roles import RANK_COUNTY, actor_rank

PAGE_SIZE = 20

# The request types' labels are declared by the services in Chinese; these markers put the known
# ones into the catalogue so that the English screens can translate them (others show as declared).
_TYPE_LABEL_MARKERS = (_l("新生注册"), _l("关键数据变更"), _l("误操作删除"),
                       _l("转学（转入申请）"), _l("转学（转出申请）"), _l("跨省转入"), _l("跨省转出"),
                       _l("休学"), _l("复学"), _l("退学"), _l("其他离校"), _l("死亡"))
# Likewise the field names the 学籍异动 types describe their requests with (spec.describe).
_FIELD_LABEL_MARKERS = (_l("转出学校"), _l("转入学校"), _l("年级"), _l("班级"), _l("转学原因"), _l("原就读省份"),
                        _l("原就读学校"), _l("学籍号"), _l("转入省份"), _l("学籍状态"), _l("休学原因"), _l("休学期限"),
                        _l("退学原因"), _l("离校原因"), _l("死亡日期"), _l("说明"))
ATTACHMENT_KINDS = {"no_id_proof": _l("无身份证号证明"), "evidence": _l("证明材料"), "death_proof": _l("死亡证明"),
                    "written_request": _l("书面申请")}


# --------------------------------------------------------------------------- helpers

def _call(fn, *args, success=None, **kwargs):
    """call_service, then the success message: (ok, result)."""
    result, error = call_service(fn, *args, **kwargs)
    if error is None and success:
        flash(success, "success")
    return error is None, result


def _get_request(pk):
    try:
        return scope.get(db.session, current_actor(), Request, pk)
    except NotFound:
        abort(404)


def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _date(value, label, warn=True):
    text = (value or "").strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    if warn:
        flash(_("%(label)s格式应为 年-月-日（如 2026-09-01），已忽略该条件", label=label), "warning")
    return None


def type_label(type_name):
    spec = requests.REQUEST_TYPES.get(type_name)
    if spec is None:
        return type_name
    return _(spec.label) if isinstance(spec.label, str) else str(spec.label)


def _type_choices():
    return [(name, type_label(name)) for name in requests.REQUEST_TYPES]


def _person(account):
    if account is None:
        return ""
    return account.real_name or account.username


def _days_since(moment, today=None):
    if moment is None:
        return ""
    today = today or datetime.date.today()
    return max((today - moment.date()).days, 0)


def _arrived_at(req):
    """When the request reached its current step (the previous step's decision, else submission)."""
    prev = next((s for s in req.steps if s.seq == req.current_step - 1), None)
    return (prev.decided_at if prev is not None and prev.decided_at else None) or req.created_at


def _with_relations(stmt):
    return stmt.options(selectinload(Request.student), selectinload(Request.school),
                        selectinload(Request.initiator), selectinload(Request.steps))


def _schools_in(stmt):
    """The schools that occur in a (scoped) request query: the school filter's choices."""
    ids = select(stmt.subquery().c.school_id).distinct()
    return db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)).order_by(OrgUnit.path)).all()


class Page:
    def __init__(self, stmt, number):
        self.total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        self.pages = max(math.ceil(self.total / PAGE_SIZE), 1)
        self.number = min(max(number or 1, 1), self.pages)
        self.items = db.session.scalars(
            _with_relations(stmt).limit(PAGE_SIZE).offset((self.number - 1) * PAGE_SIZE)).all()

    def url(self, number):
        args = request.args.to_dict()
        args["page"] = number
        return url_for(request.endpoint, **args)


class Clock:
    """The deadline rules of 审批待办 for one page (services/deadlines.py): the limit in working days,
    the actor's unit's holidays, and the arrival moment before which a step is overdue."""

    def __init__(self, actor):
        unit = getattr(actor, "org_unit", None)
        self.limit = deadlines.limit_days()
        self.off = deadlines.off_days(db.session, unit)
        self.moment = deadlines.cutoff(db.session, unit)
        self.now = datetime.datetime.now()

    def waited(self, req, step):
        """Working days the current step has waited (holidays of the business calendar skipped)."""
        arrived = (step.arrived_at if step is not None else None) or _arrived_at(req)
        return deadlines.waiting_days(arrived, self.off, self.now)

    def overdue(self, step):
        return deadlines.is_overdue(step, self.moment)


def step_role_text(step):
    """审批 / 学校确认，转出方 / 仲裁: what the step decides, and for which side."""
    parts = [str(step.role.label)] if step.role is not None else []
    if step.party is not None:
        parts.append(str(step.party.label))
    return "，".join(parts)


def _row(req, today, clock=None):
    student = req.student
    step = requests.current_step(req)
    pending = req.state == RequestState.PENDING
    waited = clock.waited(req, step) if clock is not None and pending else ""
    overdue = bool(clock is not None and pending and clock.overdue(step))
    return {
        "id": req.id, "type": type_label(req.type), "state": req.state,
        "student_name": student.name if student is not None else "",
        "student_id": identity.mask(student.id_number) if student is not None else "",
        "school": req.school.name if req.school is not None else "",
        "initiator": _person(req.initiator), "created_at": req.created_at, "decided_at": req.decided_at,
        "waiting_days": waited if clock is not None else (_days_since(_arrived_at(req), today) if pending else ""),
        "overdue": overdue, "over_by": max(waited - clock.limit, 0) if overdue and waited != "" else 0,
        "open_days": _days_since(req.created_at, today),
        "current_unit": step.org_unit.name if step is not None and pending else "",
        "current_role": step_role_text(step) if step is not None and pending else "",
        "arbitration": pending and requests.in_arbitration(req),
        "confirm": pending and step is not None and step.role == StepRole.CONFIRM,
        "reason": req.reason or "", "outcome": req.outcome or "",
    }


def _rows(page, clock=None):
    today = datetime.date.today()
    clock = clock or Clock(current_actor())
    return [_row(req, today, clock) for req in page.items]


def _only_overdue(stmt, clock, joined=False):
    """Requests whose current step arrived before the overdue moment."""
    if joined:  # the inbox query already joins the current step
        return stmt.where(RequestStep.arrived_at < clock.moment)
    step = aliased(RequestStep)
    return (stmt.join(step, (step.request_id == Request.id) & (step.seq == Request.current_step))
            .where(step.arrived_at < clock.moment))


PADDED_REGION = re.compile(r"^(\d{6})000000$")


def _named_region(value):
    """出生地 / 户口所在地 are stored as 6-digit division codes padded to 12: show the name too."""
    match = PADDED_REGION.match(value or "") if isinstance(value, str) else None
    region = db.session.get(Region, match.group(1)) if match else None
    return f"{region.full_name}（{match.group(1)}）" if region is not None else value


def _detail(req, actor, where):
    """Everything the detail page shows. A full ID number is shown only where the actor's role
    needs it (privacy.shown_id) and then goes to the audit trail."""
    student = req.student
    spec = requests.REQUEST_TYPES.get(req.type)
    payload = req.payload or {}
    numbers = {v for part in ("before", "after") for k, v in (payload.get(part) or {}).items()
               if k == "id_number" and v}
    if student is not None and student.id_number:
        numbers.add(student.id_number)
    shown = lambda v: privacy.shown_id(actor, v) if v in numbers else _named_region(v)  # noqa: E731
    changes = []
    if spec is not None and spec.describe is not None:
        for label, before, after in spec.describe(req):
            if before in (None, "") and after in (None, ""):
                continue
            changes.append((_(label) if isinstance(label, str) else label, shown(before) or "", shown(after) or ""))
    if student is not None and student.id_number and privacy.full_id_allowed(actor):
        privacy.record_full_view(db.session, actor, student, f"{where}（申请号 {req.id}）")
        db.session.commit()
    steps = [{
        "seq": s.seq, "unit": s.org_unit.name if s.org_unit is not None else "", "decision": s.decision,
        "role": step_role_text(s), "arbitrate": s.role == StepRole.ARBITRATE,
        "actor": _person(s.actor), "comment": s.comment or "", "decided_at": s.decided_at, "arrived_at": s.arrived_at,
    } for s in sorted(req.steps, key=lambda s: s.seq)]
    files = [{
        "id": a.id, "filename": a.filename, "kind": ATTACHMENT_KINDS.get(a.kind, a.kind),
        "size_kb": max(round((a.size or 0) / 1024), 1),
    } for a in req.attachments]
    step = requests.current_step(req)
    pending = req.state == RequestState.PENDING
    clock = Clock(actor) if pending else None
    return {
        "arbitration": _arbitration(req), "arbitrated": _arbitrated(req),
        "overdue": bool(clock is not None and clock.overdue(step)), "limit": deadlines.limit_days(),
        "working_days": clock.waited(req, step) if clock is not None else "",
        "current_role": step_role_text(step) if step is not None and pending else "",
        "req": req, "type": type_label(req.type), "student": student,
        "student_id": privacy.shown_id(actor, student.id_number) if student is not None and student.id_number else "",
        "school": req.school.name if req.school is not None else "",
        "initiator": _person(req.initiator), "changes": changes, "steps": steps, "files": files,
        "has_before": any(before for _label, before, _after in changes),
        "current_unit": step.org_unit.name if step is not None and req.state == RequestState.PENDING else "",
        "waiting_days": _days_since(_arrived_at(req)) if req.state == RequestState.PENDING else "",
    }


def _unit_with_role(step):
    return f"{step.org_unit.name}（{step_role_text(step)}）" if step.org_unit is not None else step_role_text(step)


def _arbitration(req):
    """The banner of a request in arbitration: who decides, and which "no" against whose "yes"."""
    if not requests.in_arbitration(req):
        return None
    step = requests.current_step(req)
    refused = max((s for s in req.steps if s.seq < step.seq and s.decision == StepDecision.REJECTED),
                  key=lambda s: s.seq, default=None)
    return {"judge": step.org_unit.name if step.org_unit is not None else "", "arrived_at": step.arrived_at,
            "refused_by": _unit_with_role(refused) if refused is not None else "",
            "reason": (refused.comment or "") if refused is not None else ""}


def _arbitrated(req):
    """The final decision of an arbitration, once given."""
    step = next((s for s in req.steps if s.role == StepRole.ARBITRATE
                 and s.decision in (StepDecision.APPROVED, StepDecision.REJECTED)), None)
    if step is None:
        return None
    return {"judge": step.org_unit.name if step.org_unit is not None else "", "comment": step.comment or "",
            "upheld": step.decision == StepDecision.APPROVED, "decided_at": step.decided_at}


def _refusal_goes_to(req, step):
    """Where a "no" at `step` would go: the arbitrating unit when the other side already said yes
    (services/requests.reject), else None (a plain rejection back to the school)."""
    spec = requests.REQUEST_TYPES.get(req.type)
    if spec is None or not spec.two_sided or step is None:
        return None
    counterpart = requests._agreeing_counterpart(req, step)
    if counterpart is None:
        return None
    try:
        judge = requests.lowest_common_superior(db.session, step.org_unit, counterpart)
    except DomainError:
        return None
    return {"counterpart": counterpart.name, "judge": judge.name}


def _is_school(actor):
    """School accounts confirm (同意 / 不同意) rather than approve: the screens word it so."""
    return actor_rank(actor) > RANK_COUNTY


def _back(default):
    """Return to the list the form was posted from (its filters and page), else `default`."""
    target = request.form.get("next") or ""
    return redirect(get_safe_redirect(target) if target.startswith("/") else default)


# --------------------------------------------------------------------------- menu badge

def _pending_for_menu():
    """The logged-in actor's pending approvals, counted once per request (never cached across
    requests or users)."""
    if not has_request_context():
        return 0
    if not hasattr(request, "approvals_pending"):
        actor = current_actor()
        request.approvals_pending = requests.pending_count(db.session, actor) if actor is not None else 0
    return request.approvals_pending


def _inbox_menu_label():
    n = _pending_for_menu()
    return _("审批待办（%(n)s）", n=n) if n else _("审批待办")


def _approvals_menu_label():
    n = _pending_for_menu()
    return _("审批（%(n)s）", n=n) if n else _("审批")


INBOX_LABEL = LazyString(_inbox_menu_label)
APPROVALS_LABEL = LazyString(_approvals_menu_label)


# --------------------------------------------------------------------------- screens

class _RequestScreen(ExportMixin, BaseView):
    default_view = "list"
    show_template = "requests/show.html"
    title = ""
    audit_where = ""  # the screen's name in the audit trail of full ID views (stored data: Chinese)
    export_fields = ()  # (key of _row(), label) in the order of the list's columns
    # Each screen defines _query(actor, args, warn=True) -> (statement, filters for the template):
    # its list's query, used by the list and by its export alike.

    def export_source(self, args):
        """导出 Excel: the list's query (its filters, all pages) with the list's columns. The
        student's ID number is masked, as on the list."""
        actor = current_actor()
        stmt, f = self._query(actor, args, warn=False)
        columns = [key for key, _label in self.export_fields]
        filters = [(label, "", value) for label, value in self._describe(f) if value not in (None, "")]

        def count():
            return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))

        clock = Clock(actor)

        def rows():
            today = datetime.date.today()
            for req in db.session.scalars(_with_relations(stmt).execution_options(yield_per=500)):
                row = _row(req, today, clock)
                yield [row[key] for key in columns]

        return ExportSource(title=self.title, entity="request", headers=[label for _key, label in self.export_fields],
                            count=count, rows=rows, filters=filters, full_ids=False)

    def _describe(self, f):
        """The list's filters in words, for the export's audit entry."""
        school = db.session.get(OrgUnit, f["school"]) if f.get("school") else None
        state = next((s for s in RequestState if s.value == f.get("state")), None)
        return [
            (_l("业务类型"), LazyString(lambda: type_label(f["type"])) if f.get("type") else ""),
            (_l("学校"), (school.name if school is not None and scope.can_see_unit(current_actor(), school)
                         else f"#{f['school']}") if f.get("school") else ""),
            (_l("状态"), state.label if state is not None else ""),
            (_l("提交日期（起）"), f.get("since") or ""),
            (_l("提交日期（止）"), f.get("until") or ""),
            (_l("已提交超过（天）"), f.get("min_days") or ""),
            (_l("只看超期"), _l("是") if f.get("overdue") else ""),
        ]

    def _show(self, req, **extra):
        actor = current_actor()
        detail = _detail(req, actor, self.audit_where)
        return self.render_template(self.show_template, title=_("申请详情（申请号 %(id)s）", id=req.id),
                                    d=detail, RequestState=RequestState, back=url_for(f"{self.endpoint}.list"),
                                    **extra)


class InboxView(_RequestScreen):
    """审批待办: requests whose current step waits for the actor's unit — a county's or city's
    approvals and arbitrations, a school's confirmations of transfers. Steps that waited longer than
    the limit (working days, services/deadlines.py) are highlighted; arbitrations are decided one
    by one with a reason, never in bulk."""

    route_base = "/inboxview"
    title = _l("审批待办")
    audit_where = "审批待办"

    export_fields = (("id", _l("申请号")), ("type", _l("类型")), ("student_name", _l("学生")),
                      ("student_id", _l("学生身份证件号")), ("school", _l("学校")), ("initiator", _l("提交人")),
                      ("created_at", _l("提交时间")), ("waiting_days", _l("等待天数")))

    def _query(self, actor, args, warn=True):
        type_name = args.get("type") if args.get("type") in requests.REQUEST_TYPES else None
        school_id = _int(args.get("school"))
        since = _date(args.get("since"), _("提交日期（起）"), warn)
        until = _date(args.get("until"), _("提交日期（止）"), warn)
        overdue = args.get("overdue") == "1"
        stmt = requests.inbox_query(
            actor, type_name=type_name, school_id=school_id,
            since=datetime.datetime.combine(since, datetime.time.min) if since else None,
            until=datetime.datetime.combine(until, datetime.time.max) if until else None)
        if overdue:
            stmt = _only_overdue(stmt, Clock(actor), joined=True)
        return stmt, {"type": type_name or "", "school": school_id, "since": since or "", "until": until or "",
                      "overdue": overdue}

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        clock = Clock(actor)
        stmt, f = self._query(actor, request.args)
        page = Page(stmt, _int(request.args.get("page")))
        return self.render_template(
            "requests/inbox.html", title=self.title, page=page, rows=_rows(page, clock),
            types=_type_choices(), schools=_schools_in(requests.inbox_query(actor)), f=f,
            limit=clock.limit, overdue_total=deadlines.overdue_count(db.session, actor),
            school_view=_is_school(actor))

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        req = _get_request(pk)
        actor = current_actor()
        can_decide = requests.can_decide(actor, req)
        step = requests.current_step(req)
        decide_as = ""
        if can_decide:
            decide_as = ("arbitrate" if step.role == StepRole.ARBITRATE
                         else "confirm" if step.role == StepRole.CONFIRM else "approve")
        return self._show(req, can_decide=can_decide, decide_as=decide_as,
                          refusal=_refusal_goes_to(req, step) if can_decide and decide_as != "arbitrate" else None)

    def _decided(self, pk, ok, req, approved):
        """The message after a decision: what actually happened to the request."""
        if not ok:
            return redirect(url_for(".show", pk=pk))
        mine = max((s for s in req.steps if s.decided_at is not None and s.actor_id == current_actor().id),
                   key=lambda s: (s.decided_at, s.seq), default=None)
        confirmed = mine is not None and mine.role == StepRole.CONFIRM
        if req.state == RequestState.PENDING and requests.in_arbitration(req):
            judge = requests.current_step(req).org_unit.name
            flash(_("申请号 %(id)s：双方意见不一致（对方已同意），已提交%(unit)s仲裁，由其作出最终决定",
                    id=pk, unit=judge), "warning")
        elif approved and req.state == RequestState.PENDING:
            nxt = requests.current_step(req).org_unit.name
            flash(_("申请号 %(id)s：本校已同意，转%(unit)s办理", id=pk, unit=nxt) if confirmed
                  else _("申请号 %(id)s 已审批通过，转%(unit)s办理", id=pk, unit=nxt), "success")
        elif approved:
            flash(_("申请号 %(id)s 已审批通过", id=pk), "success")
        else:
            flash(_("申请号 %(id)s 已驳回，退回发起学校", id=pk), "success")
        return redirect(url_for(".list"))

    @expose("/approve/<int:pk>", methods=["POST"])
    @has_access
    def approve(self, pk):
        comment = (request.form.get("comment") or "").strip() or None
        ok, req = _call(requests.approve, pk, comment=comment, expected_version=_int(request.form.get("expected_version")))
        return self._decided(pk, ok, req, approved=True)

    @expose("/reject/<int:pk>", methods=["POST"])
    @has_access
    def reject(self, pk):
        ok, req = _call(requests.reject, pk, request.form.get("comment"),
                        expected_version=_int(request.form.get("expected_version")))
        return self._decided(pk, ok, req, approved=False)

    @expose("/arbitrate/<int:pk>", methods=["POST"])
    @has_access
    def arbitrate(self, pk):
        """仲裁: the common superior decides, with a reason; its decision is final."""
        req = _get_request(pk)
        decision = request.form.get("decision")
        comment = (request.form.get("comment") or "").strip()
        if not requests.in_arbitration(req):
            flash(_("该申请当前不在仲裁环节，请刷新后查看"), "danger")
            return redirect(url_for(".show", pk=pk))
        if decision not in ("approve", "reject"):
            flash(_("请选择仲裁结果：支持申请或不予支持"), "danger")
            return redirect(url_for(".show", pk=pk))
        if not comment:
            flash(_("仲裁须填写裁决理由"), "danger")
            return redirect(url_for(".show", pk=pk))
        version = _int(request.form.get("expected_version"))
        if decision == "approve":
            ok, _req = _call(requests.approve, pk, comment=comment, expected_version=version,
                             success=_("申请号 %(id)s 已仲裁：支持申请，审批通过（仲裁结果为最终结果）", id=pk))
        else:
            ok, _req = _call(requests.reject, pk, comment, expected_version=version,
                             success=_("申请号 %(id)s 已仲裁：不予支持，申请已驳回（仲裁结果为最终结果）", id=pk))
        return redirect(url_for(".list")) if ok else redirect(url_for(".show", pk=pk))

    @expose("/bulk_approve", methods=["POST"])
    @has_access
    def bulk_approve(self):
        ids = list(dict.fromkeys(i for i in (_int(v) for v in request.form.getlist("rowid")) if i is not None))
        if not ids:
            flash(_("请先勾选要批量通过的申请"), "warning")
            return _back(url_for(".list"))
        # An arbitration needs its own reason: never decided in bulk.
        actor = current_actor()
        arbitrations = {req.id for req in db.session.scalars(
            select(Request).where(Request.id.in_(ids), scope.clause(actor, Request))
            .options(selectinload(Request.steps))) if requests.in_arbitration(req)}
        ids = [i for i in ids if i not in arbitrations]
        for rid in sorted(arbitrations):
            flash(_("申请号 %(id)s 处于仲裁环节，须在详情页逐件填写裁决理由，未批量处理", id=rid), "warning")
        if not ids:
            return _back(url_for(".list"))
        comment = (request.form.get("comment") or "").strip() or None
        ok, result = _call(requests.bulk_approve, ids, comment=comment)
        if ok:
            done, failed = result
            if done:
                flash(_("已批量通过 %(n)s 件申请（申请号 %(ids)s）", n=len(done), ids="、".join(map(str, done))), "success")
            for rid, message in failed.items():
                flash(_("申请号 %(id)s 未能通过：%(message)s", id=rid, message=message), "danger")
        return _back(url_for(".list"))


class MyRequestsView(_RequestScreen):
    """我的申请: the requests the actor's own unit started, with their outcome; 撤销 while pending."""

    route_base = "/myrequestsview"
    title = _l("我的申请")
    audit_where = "我的申请"

    export_fields = (("id", _l("申请号")), ("type", _l("类型")), ("student_name", _l("学生")),
                      ("student_id", _l("学生身份证件号")), ("state", _l("状态")), ("current_unit", _l("当前核办单位")),
                      ("created_at", _l("提交时间")), ("decided_at", _l("办结时间")), ("outcome", _l("办理意见")))

    def _query(self, actor, args, warn=True):
        type_name = args.get("type") if args.get("type") in requests.REQUEST_TYPES else None
        state = next((s for s in RequestState if s.value == args.get("state")), None)
        stmt = (select(Request)
                .where(Request.school_id == getattr(actor, "org_unit_id", None), scope.clause(actor, Request))
                .order_by(Request.created_at.desc(), Request.id.desc()))
        if type_name:
            stmt = stmt.where(Request.type == type_name)
        if state is not None:
            stmt = stmt.where(Request.state == state)
        return stmt, {"type": type_name or "", "state": state.value if state is not None else ""}

    @expose("/list/")
    @has_access
    def list(self):
        stmt, f = self._query(current_actor(), request.args)
        page = Page(stmt, _int(request.args.get("page")))
        return self.render_template(
            "requests/mine.html", title=self.title, page=page, rows=_rows(page), types=_type_choices(),
            states=[(s.value, s.label) for s in RequestState], f=f)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        req = _get_request(pk)
        own = req.school_id == getattr(current_actor(), "org_unit_id", None)
        return self._show(req, can_cancel=own and req.state == RequestState.PENDING)

    @expose("/cancel/<int:pk>", methods=["POST"])
    @has_access
    def cancel(self, pk):
        ok, _req = _call(requests.cancel, pk, reason=request.form.get("reason"),
                         expected_version=_int(request.form.get("expected_version")),
                         success=_("申请号 %(id)s 已撤销", id=pk))
        return redirect(url_for(".show", pk=pk))


class OpenRequestsView(_RequestScreen):
    """在办业务: every open request in the actor's subtree; the county may clean up on the
    school's behalf (撤销, with a reason), e.g. before graduation."""

    route_base = "/openrequestsview"
    title = _l("在办业务")
    audit_where = "在办业务"

    export_fields = (("id", _l("申请号")), ("type", _l("类型")), ("student_name", _l("学生")),
                      ("student_id", _l("学生身份证件号")), ("school", _l("学校")), ("current_unit", _l("当前核办单位")),
                      ("initiator", _l("提交人")), ("created_at", _l("提交时间")), ("open_days", _l("已提交天数")))

    def _query(self, actor, args, warn=True):
        type_name = args.get("type") if args.get("type") in requests.REQUEST_TYPES else None
        school_id = _int(args.get("school"))
        min_days = _int(args.get("min_days"))
        overdue = args.get("overdue") == "1"
        stmt = requests.open_requests_query(actor, school_id=school_id, type_name=type_name)
        if overdue:
            stmt = _only_overdue(stmt, Clock(actor))
        if min_days is not None and min_days > 0:
            cutoff = datetime.datetime.combine(datetime.date.today() - datetime.timedelta(days=min_days),
                                               datetime.time.max)
            stmt = stmt.where(Request.created_at <= cutoff)
        return stmt, {"type": type_name or "", "school": school_id, "overdue": overdue,
                      "min_days": min_days if min_days and min_days > 0 else ""}

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        stmt, f = self._query(actor, request.args)
        clock = Clock(actor)
        page = Page(stmt, _int(request.args.get("page")))
        return self.render_template(
            "requests/open.html", title=self.title, page=page, rows=_rows(page, clock), types=_type_choices(),
            schools=_schools_in(requests.open_requests_query(actor)), f=f, limit=clock.limit)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        req = _get_request(pk)
        return self._show(req, can_cleanup=req.state == RequestState.PENDING)

    @expose("/cancel/<int:pk>", methods=["POST"])
    @has_access
    def cancel(self, pk):
        ok, _req = _call(requests.cancel, pk, reason=request.form.get("reason"),
                         expected_version=_int(request.form.get("expected_version")),
                         success=_("申请号 %(id)s 已代为撤销（在办业务清理）", id=pk))
        return redirect(url_for(".list")) if ok else redirect(url_for(".show", pk=pk))


class AttachmentView(BaseView):
    """Evidence downloads, scoped like the records they belong to (404 outside the scope)."""

    route_base = "/attachmentview"
    default_view = "download"

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        try:
            att, path = attachments.open_for(db.session, current_actor(), pk)
        except NotFound:
            abort(404)
        if not os.path.exists(path):
            abort(404)
        return send_file(path, mimetype=att.content_type or "application/octet-stream", as_attachment=True,
                         download_name=att.filename)


def register(appbuilder):
    approvals = dict(category="Approvals", category_label=APPROVALS_LABEL, category_icon="fa-check-square-o")
    appbuilder.add_view(InboxView, "Inbox", label=INBOX_LABEL, icon="fa-inbox", **approvals)
    appbuilder.add_view(OpenRequestsView, "OpenRequests", label=_l("在办业务"), icon="fa-hourglass-half", **approvals)
    appbuilder.add_view(MyRequestsView, "MyRequests", label=_l("我的申请"), icon="fa-paper-plane",
                        category="Registry", category_label=_l("学籍管理"), category_icon="fa-id-card")
    appbuilder.add_view_no_menu(AttachmentView)
