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
from sqlalchemy.orm import selectinload

from app.exports import ExportSource
from app.exports.views import ExportMixin
from app.extensions import db
from app.models.org import OrgUnit, Region
from app.models.requests import Request, RequestState
from app.services import attachments, identity, privacy, requests, scope
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound

PAGE_SIZE = 20

# The request types' labels are declared by the services in Chinese; these markers put the known
# ones into the catalogue so that the English screens can translate them (others show as declared).
_TYPE_LABEL_MARKERS = (_l("新生注册"), _l("关键数据变更"), _l("误操作删除"))
ATTACHMENT_KINDS = {"no_id_proof": _l("无身份证号证明"), "evidence": _l("证明材料")}


# --------------------------------------------------------------------------- helpers

def _call(fn, *args, success=None, **kwargs):
    """Run an engine function for the logged-in actor: commit on success; a request outside the
    actor's scope is a 404 (never confirm it exists); any other DomainError is flashed."""
    try:
        result = fn(db.session, current_actor(), *args, **kwargs)
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return False, None
    if success:
        flash(success, "success")
    return True, result


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


def _row(req, today):
    student = req.student
    step = requests.current_step(req)
    return {
        "id": req.id, "type": type_label(req.type), "state": req.state,
        "student_name": student.name if student is not None else "",
        "student_id": identity.mask(student.id_number) if student is not None else "",
        "school": req.school.name if req.school is not None else "",
        "initiator": _person(req.initiator), "created_at": req.created_at, "decided_at": req.decided_at,
        "waiting_days": _days_since(_arrived_at(req), today) if req.state == RequestState.PENDING else "",
        "open_days": _days_since(req.created_at, today),
        "current_unit": step.org_unit.name if step is not None and req.state == RequestState.PENDING else "",
        "reason": req.reason or "", "outcome": req.outcome or "",
    }


def _rows(page):
    today = datetime.date.today()
    return [_row(req, today) for req in page.items]


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
        "actor": _person(s.actor), "comment": s.comment or "", "decided_at": s.decided_at,
    } for s in req.steps]
    files = [{
        "id": a.id, "filename": a.filename, "kind": ATTACHMENT_KINDS.get(a.kind, a.kind),
        "size_kb": max(round((a.size or 0) / 1024), 1),
    } for a in req.attachments]
    step = requests.current_step(req)
    return {
        "req": req, "type": type_label(req.type), "student": student,
        "student_id": privacy.shown_id(actor, student.id_number) if student is not None and student.id_number else "",
        "school": req.school.name if req.school is not None else "",
        "initiator": _person(req.initiator), "changes": changes, "steps": steps, "files": files,
        "has_before": any(before for _label, before, _after in changes),
        "current_unit": step.org_unit.name if step is not None and req.state == RequestState.PENDING else "",
        "waiting_days": _days_since(_arrived_at(req)) if req.state == RequestState.PENDING else "",
    }


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

    def _query(self, actor, args, warn=True):
        """(statement, filters for the template): the list's query from its arguments."""
        raise NotImplementedError

    def export_source(self, args):
        """导出 Excel: the list's query (its filters, all pages) with the list's columns. The
        student's ID number is masked, as on the list."""
        actor = current_actor()
        stmt, f = self._query(actor, args, warn=False)
        columns = [key for key, _label in self.export_fields]
        filters = [(label, "", value) for label, value in self._describe(f) if value not in (None, "")]

        def count():
            return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))

        def rows():
            today = datetime.date.today()
            for req in db.session.scalars(_with_relations(stmt).execution_options(yield_per=500)):
                row = _row(req, today)
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
        ]

    def _show(self, req, **extra):
        actor = current_actor()
        detail = _detail(req, actor, self.audit_where)
        return self.render_template(self.show_template, title=_("申请详情（申请号 %(id)s）", id=req.id),
                                    d=detail, RequestState=RequestState, back=url_for(f"{self.endpoint}.list"),
                                    **extra)


class InboxView(_RequestScreen):
    """审批待办: requests whose current step waits for the actor's unit."""

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
        stmt = requests.inbox_query(
            actor, type_name=type_name, school_id=school_id,
            since=datetime.datetime.combine(since, datetime.time.min) if since else None,
            until=datetime.datetime.combine(until, datetime.time.max) if until else None)
        return stmt, {"type": type_name or "", "school": school_id, "since": since or "", "until": until or ""}

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        stmt, f = self._query(actor, request.args)
        page = Page(stmt, _int(request.args.get("page")))
        return self.render_template(
            "requests/inbox.html", title=self.title, page=page, rows=_rows(page),
            types=_type_choices(), schools=_schools_in(requests.inbox_query(actor)), f=f)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        req = _get_request(pk)
        return self._show(req, can_decide=requests.can_decide(current_actor(), req))

    @expose("/approve/<int:pk>", methods=["POST"])
    @has_access
    def approve(self, pk):
        comment = (request.form.get("comment") or "").strip() or None
        ok, _req = _call(requests.approve, pk, comment=comment, expected_version=_int(request.form.get("expected_version")),
                         success=_("申请号 %(id)s 已审批通过", id=pk))
        return redirect(url_for(".list")) if ok else redirect(url_for(".show", pk=pk))

    @expose("/reject/<int:pk>", methods=["POST"])
    @has_access
    def reject(self, pk):
        ok, _req = _call(requests.reject, pk, request.form.get("comment"),
                         expected_version=_int(request.form.get("expected_version")),
                         success=_("申请号 %(id)s 已驳回，退回发起学校", id=pk))
        return redirect(url_for(".list")) if ok else redirect(url_for(".show", pk=pk))

    @expose("/bulk_approve", methods=["POST"])
    @has_access
    def bulk_approve(self):
        ids = list(dict.fromkeys(i for i in (_int(v) for v in request.form.getlist("rowid")) if i is not None))
        if not ids:
            flash(_("请先勾选要批量通过的申请"), "warning")
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
        stmt = requests.open_requests_query(actor, school_id=school_id, type_name=type_name)
        if min_days is not None and min_days > 0:
            cutoff = datetime.datetime.combine(datetime.date.today() - datetime.timedelta(days=min_days),
                                               datetime.time.max)
            stmt = stmt.where(Request.created_at <= cutoff)
        return stmt, {"type": type_name or "", "school": school_id,
                      "min_days": min_days if min_days and min_days > 0 else ""}

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        stmt, f = self._query(actor, request.args)
        page = Page(stmt, _int(request.args.get("page")))
        return self.render_template(
            "requests/open.html", title=self.title, page=page, rows=_rows(page), types=_type_choices(),
            schools=_schools_in(requests.open_requests_query(actor)), f=f)

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
