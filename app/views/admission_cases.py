"""招生入学 screens for admissions and their disputes: 录取管理 (the admissions in scope, the counties'
新生录取核办 and 外地就读学生核办 in bulk, the school's 撤销录取, the workbook) and 重复招生 (the cases,
the schools' 撤销 / 佐证, the common superior's 仲裁).

Thin, like every screen: read the input, call app.services.admissions or the approval engine
(app.services.requests), flash the Chinese message. Which admissions and cases an actor sees, who
may withdraw, prove or arbitrate, what blocks an approval (重复招生) — all of it is decided there and
in services/scope.py; the buttons shown here are hints only. An id outside the actor's scope is a
404 on every page and post, and a bulk approval re-reads each ticked admission through the scope.

URLs:
  /admissionview/list/                    录取管理: filters, 批量核办通过 (county), 导出 Excel     can_list
  /admissionview/show/<pk>                one admission: the student, its 核办 steps, the case   can_show
  /admissionview/approve          POST    批量核办通过 of the ticked admissions                 can_approve
  /admissionview/withdraw/<pk>    GET|POST 撤销录取 by the admitting school                     can_withdraw
  /admissionview/export_workbook/ POST    the list as a workbook                               can_export_workbook
  /duplicateadmissionview/list/           重复招生 cases in scope, by state                    can_list
  /duplicateadmissionview/show/<pk>       the case: every admitting school, claims, arbiter    can_show
  /duplicateadmissionview/prove/<adm>     GET|POST 佐证 of the school's own admission           can_prove
  /duplicateadmissionview/arbitrate/<pk>  POST 仲裁 by the lowest common superior              can_arbitrate
Single decisions (and the counties' approval of a 佐证) are made in 审批待办 (/inboxview/show/<id>).
"""
from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import aliased, selectinload

from app.exports import ExportSource
from app.exports.views import ExportMixin
from app.extensions import db
from app.models import Account
from app.models.admission import (Admission, AdmissionKind, AdmissionState, ClaimState, DuplicateAdmission,
                                  DuplicateState)
from app.models.org import OrgKind, OrgUnit
from app.models.requests import Request, RequestState, RequestStep, StepRole
from app.models.school_year import SchoolYear
from app.models.student import Student
from app.services import admissions, grades, privacy, requests, scope, students
from app.services.context import current_actor
from app.services.errors import NotFound
from app.services.roles import RANK_COUNTY, actor_rank
from app.views.admission_plans import _version
from app.views.base import call_service
from app.views.graduation import (MAX_ID, Page, _audit_full, _back, _int, _ints, _is_school, _next_value,
                                  _schools_in_scope)
from app.views.requests import step_role_text
from app.views.school_year import _is_county_or_up as _is_authority
from app.views.school_year import _when
from app.views.students import _uploads, person, request_url

PAGE_SIZE = 30
UNRESOLVED = "unresolved"  # the case list's default: every case not yet resolved

MENU = dict(category="Admission", category_label=_l("招生入学"), category_icon="fa-user-plus")


# ---------------------------------------------------------------- helpers
# (_int, _ints, Page, _audit_full, _back, _next_value, _when, _is_school: the graduation and
# school-year screens' own, imported above)

def _member(enum, value):
    return next((m for m in enum if m.value == value), None)


def _visible_students(actor, ids):
    """The ids among `ids` of students inside the actor's own scope (linked to their record)."""
    ids = [i for i in ids if i is not None]
    if not ids:
        return set()
    return set(db.session.scalars(select(Student.id).where(Student.id.in_(ids), scope.clause(actor, Student))))


def _with_relations(stmt):
    return stmt.options(selectinload(Admission.student), selectinload(Admission.school),
                        selectinload(Admission.from_school), selectinload(Admission.year),
                        selectinload(Admission.duplicate),
                        selectinload(Admission.request).selectinload(Request.steps).selectinload(RequestStep.org_unit))


def _from_school(adm):
    if adm.from_school is not None:
        return adm.from_school.name
    return adm.from_school_name or ""


def _pending_step(adm):
    req = adm.request
    if req is None or req.state != RequestState.PENDING:
        return None
    return requests.current_step(req)


def _step_text(req, step):
    """What a step of an admission's approval decides, in the guide's words."""
    if req.type == admissions.ADMISSION and step.role == StepRole.APPROVE:
        return _("外地就读学生核办（生源地）") if step.seq > 1 else _("新生录取核办")
    return step_role_text(step)


def _row(actor, adm):
    """One admission as the list and the export show it."""
    step = _pending_step(adm)
    s = adm.student
    prefix = scope.actor_path(actor) or "/-none-/"
    case = adm.duplicate
    return {
        "id": adm.id, "version": adm.version, "name": adm.name, "student_id": s.id if s is not None else None,
        "xueji_no": (privacy.shown_xueji(actor, s.xueji_no) or "") if s is not None else "",
        "year": adm.year.name if adm.year is not None else "",
        "school": adm.school.name if adm.school is not None else "", "from_school": _from_school(adm),
        "grade": grades.grade_label(adm.grade) or "", "kind": adm.kind.label, "state": adm.state,
        "score": f"{float(adm.score):g}" if adm.score is not None else "",
        "current_unit": step.org_unit.name if step is not None and step.org_unit is not None else "",
        "current_role": _step_text(adm.request, step) if step is not None else "",
        "request_id": adm.request_id,
        "decide": adm.request is not None and requests.can_decide(actor, adm.request)
        and not requests.in_arbitration(adm.request),
        "duplicate_id": adm.duplicate_id,
        "contested": case is not None and case.state != DuplicateState.RESOLVED,
        "elsewhere": not _is_school(actor) and not scope.path_within(adm.school_path, prefix),
        "own": _is_school(actor) and adm.school_id == actor.org_unit_id,
        "created_at": _when(adm.created_at), "decided_at": _when(adm.decided_at), "outcome": adm.outcome or "",
    }


def _admission(pk):
    """The admission, if in scope (else 404)."""
    if pk > MAX_ID:
        abort(404)
    try:
        return admissions.admission_of(db.session, current_actor(), pk)
    except NotFound:
        abort(404)


def _case(pk):
    if pk > MAX_ID:
        abort(404)
    try:
        return scope.get(db.session, current_actor(), DuplicateAdmission, pk)
    except NotFound:
        abort(404)


def _year_choices():
    years = db.session.scalars(select(SchoolYear).order_by(SchoolYear.start_year.desc())).all()
    return [(y.id, y.name) for y in years]


# ---------------------------------------------------------------- 录取管理

class AdmissionView(ExportMixin, BaseView):
    """录取管理: the admissions in the actor's scope. A county ticks the pending admissions waiting at
    its unit and approves them in bulk (新生录取核办; with 外地就读 ticked, its graduates admitted
    elsewhere: 外地就读学生核办); a contested one (重复招生) is refused with the reason. Single
    decisions and rejections are made in 审批待办. A school withdraws its own pending admission."""

    route_base = "/admissionview"
    default_view = "list"
    title = _l("录取管理")
    export_fields = (("name", _l("姓名")), ("xueji_no", _l("学籍号")), ("year", _l("学年")), ("school", _l("录取学校")),
                     ("from_school", _l("毕业学校")), ("grade", _l("录取年级")), ("kind", _l("招生方式")),
                     ("state", _l("状态")), ("current_unit", _l("当前核办单位")), ("contested", _l("重复招生")),
                     ("score", _l("成绩")), ("created_at", _l("录取时间")), ("decided_at", _l("办结时间")),
                     ("outcome", _l("办理意见")))

    def _can(self, permission, view=None):
        return self.appbuilder.sm.has_access(permission, view or self.class_permission_name)

    def _query(self, actor, args):
        state = _member(AdmissionState, args.get("state"))
        kind = _member(AdmissionKind, args.get("kind"))
        year_id = _int(args.get("year"))
        school_id = None if _is_school(actor) else _int(args.get("school"))
        code = "" if _is_school(actor) else (args.get("school_code") or "").strip()[:20]
        if school_id is None and code:
            school_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.school_code == code,
                                                                   OrgUnit.kind == OrgKind.SCHOOL)) or -1
        q = (args.get("q") or "").strip()[:40]
        elsewhere = args.get("elsewhere") == "1" and not _is_school(actor)
        todo = args.get("todo") == "1" and not _is_school(actor)
        stmt = admissions.admissions_query(actor, state=state, kind=kind, school_id=school_id, year_id=year_id,
                                           q=q or None, elsewhere=elsewhere)
        if todo:  # waiting at the actor's unit
            step = aliased(RequestStep)
            stmt = (stmt.join(Request, Request.id == Admission.request_id)
                    .join(step, (step.request_id == Request.id) & (step.seq == Request.current_step))
                    .where(Request.state == RequestState.PENDING,
                           step.org_unit_id == getattr(actor, "org_unit_id", None)))
        f = {"state": state.value if state else "", "kind": kind.value if kind else "", "year": year_id or "",
             "school": school_id if school_id and school_id > 0 and not code else "", "school_code": code, "q": q,
             "elsewhere": elsewhere, "todo": todo}
        return stmt, f

    def _describe(self, f):
        """The filters in words, for the export's audit entry."""
        year = db.session.get(SchoolYear, f["year"]) if f.get("year") else None
        school = db.session.get(OrgUnit, f["school"]) if f.get("school") else None
        state, kind = _member(AdmissionState, f.get("state")), _member(AdmissionKind, f.get("kind"))
        return [(_l("学年"), year.name if year is not None else ""),
                (_l("状态"), state.label if state else ""), (_l("招生方式"), kind.label if kind else ""),
                (_l("学校"), school.name if school is not None and scope.can_see_unit(current_actor(), school)
                 else f.get("school_code") or ""),
                (_l("姓名"), f.get("q") or ""), (_l("外地就读学生"), _l("是") if f.get("elsewhere") else ""),
                (_l("待本单位核办"), _l("是") if f.get("todo") else "")]

    def export_source(self, args):
        """导出 Excel: the list's query (its filters, every page) with the list's columns."""
        actor = current_actor()
        stmt, f = self._query(actor, args)
        keys = [key for key, _label in self.export_fields]
        filters = [(label, "", value) for label, value in self._describe(f) if value not in (None, "")]

        def count():
            return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))

        def rows():
            for adm in db.session.scalars(_with_relations(stmt).execution_options(yield_per=500)):
                row = _row(actor, adm)
                row["state"] = adm.state.label
                row["contested"] = _("未解决") if row["contested"] else (_("已解决") if adm.duplicate_id else "")
                yield [row[key] for key in keys]

        return ExportSource(title=self.title, entity="admission", headers=[label for _k, label in self.export_fields],
                            count=count, rows=rows, filters=filters, full_ids=privacy.full_id_allowed(actor))

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        stmt, f = self._query(actor, request.args)
        page = Page(_with_relations(stmt), _int(request.args.get("page")), PAGE_SIZE)
        rows = [_row(actor, adm) for adm in page.items]
        linked = _visible_students(actor, [r["student_id"] for r in rows])
        for r in rows:
            r["student_url"] = url_for("StudentView.show", pk=r["student_id"]) if r["student_id"] in linked else None
        _audit_full(actor, [a.student for a in page.items], "录取管理")
        school_view = _is_school(actor)
        may_approve = not school_view and _is_authority(actor) and self._can("can_approve")
        return self.render_template(
            "admission/admissions.html", title=self.title, rows=rows, page=page, f=f, school_view=school_view,
            schools=None if school_view else _schools_in_scope(actor), years=_year_choices(),
            states=[(s.value, s.label) for s in AdmissionState], kinds=[(k.value, k.label) for k in AdmissionKind],
            may_approve=may_approve and any(r["decide"] for r in rows),
            county_view=may_approve and actor.org_unit.kind == OrgKind.COUNTY,
            may_withdraw=school_view and self._can("can_withdraw"),
            may_inbox=self._can("can_show", "InboxView"), here=request.full_path)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        actor = current_actor()
        adm = _admission(pk)
        row = _row(actor, adm)
        s = adm.student
        row["student_url"] = url_for("StudentView.show", pk=s.id) if s is not None and \
            s.id in _visible_students(actor, [s.id]) else None
        req = adm.request
        steps = []
        if req is not None:
            steps = [{"seq": st.seq, "unit": st.org_unit.name if st.org_unit is not None else "",
                      "role": _step_text(req, st), "decision": st.decision, "actor": person(st.actor),
                      "comment": st.comment or "", "decided_at": _when(st.decided_at),
                      "current": req.state == RequestState.PENDING and st.seq == req.current_step}
                     for st in sorted(req.steps, key=lambda x: x.seq)]
        claim_req = adm.claim_request
        html = self.render_template(
            "admission/admissions_show.html", title=_l("录取详情"), adm=adm, row=row, steps=steps,
            student=s, student_status=s.status.label if s is not None and s.status else "",
            student_school=s.school.name if s is not None and s.school is not None else "",
            created_by=person(db.session.get(Account, adm.created_by_id)) if adm.created_by_id else "",
            request=req, request_link=request_url(req), claim_link=request_url(claim_req),
            claim_request=claim_req, case=adm.duplicate,
            may_withdraw=row["own"] and adm.state == AdmissionState.PENDING and self._can("can_withdraw"),
            may_prove=row["own"] and adm.live and adm.duplicate is not None
            and adm.duplicate.state == DuplicateState.OPEN and adm.claim == ClaimState.NONE
            and self._can("can_prove", "DuplicateAdmissionView"),
            may_decide=row["decide"] and self._can("can_show", "InboxView"))
        _audit_full(actor, [s], "录取详情")
        return html

    # ------------------------------------------------------------ 批量核办通过 (county)

    @expose("/approve", methods=["POST"])
    @has_access
    @permission_name("approve")
    def approve(self):
        """新生录取核办 / 外地就读学生核办 of the ticked admissions: each through the approval engine in its
        own savepoint (requests.bulk_approve); the refused ones are reported one by one."""
        ids = [i for i in _ints(request.form.getlist("rowid")) if i > 0]
        default = url_for(".list")
        if not ids:
            flash(_("请先勾选要核办的录取"), "warning")
            return _back(default)
        actor = current_actor()
        found = {a.id: a for a in db.session.scalars(
            select(Admission).where(Admission.id.in_(ids), scope.clause(actor, Admission))
            .options(selectinload(Admission.school)))}
        labels = {a.request_id: f"{a.name}（{a.school.name if a.school else ''}）" for a in found.values()
                  if a.request_id is not None}
        for pk in ids:
            if pk not in found or found[pk].request_id is None:
                flash(_("录取记录 %(id)s 不存在或不在您的管辖范围内", id=pk), "danger")
        request_ids = [found[pk].request_id for pk in ids if pk in found and found[pk].request_id is not None]
        if not request_ids:
            return _back(default)
        comment = (request.form.get("comment") or "").strip() or None
        result, error = call_service(requests.bulk_approve, request_ids, comment=comment)
        if error is None:
            done, failed = result
            if done:
                flash(_("已核办通过 %(n)s 名学生的录取：%(names)s", n=len(done),
                        names="、".join(labels.get(rid, str(rid)) for rid in done)), "success")
            for rid, message in failed.items():
                flash(_("%(who)s未能核办通过：%(message)s", who=labels.get(rid, rid), message=message), "danger")
        return _back(default)

    # ------------------------------------------------------------ 撤销录取 (school)

    @expose("/withdraw/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("withdraw")
    def withdraw(self, pk):
        actor = current_actor()
        adm = _admission(pk)
        back = _next_value() or url_for(".show", pk=pk)
        if not _is_school(actor) or adm.school_id != actor.org_unit_id:
            flash(_("录取由录取学校撤销"), "warning")
            return redirect(back)
        if adm.state != AdmissionState.PENDING:
            flash(_("该录取%(state)s，不能撤销", state=adm.state.label), "warning")
            return redirect(back)
        reason, errors, version = "", {}, adm.version
        if request.method == "POST":
            reason = request.form.get("reason") or ""
            version = request.form.get("version")
            _adm, error = call_service(admissions.withdraw, pk, reason, expected_version=_version(version))
            if error is None:
                flash(_("已撤销 %(name)s 的录取，招生计划名额已释放", name=adm.name), "success")
                return redirect(back)
            errors = {error.field or "_form": error.message}
            adm = _admission(pk)
        row = _row(actor, adm)
        return self.render_template("admission/admissions_withdraw.html", title=_l("撤销录取"), row=row,
                                    reason=reason, errors=errors, version=version, back=back,
                                    case=adm.duplicate)


# ---------------------------------------------------------------- 重复招生

def _case_admissions(actor, case):
    out = []
    for a in case.admissions:
        own = _is_school(actor) and a.school_id == actor.org_unit_id
        out.append({
            "id": a.id, "version": a.version, "school": a.school.name if a.school else "",
            "school_code": a.school.school_code if a.school else "", "kind": a.kind.label, "state": a.state,
            "claim": a.claim, "live": a.live, "own": own, "grade": grades.grade_label(a.grade) or "",
            "from_school": _from_school(a), "created_at": _when(a.created_at), "outcome": a.outcome or "",
            "winner": case.winner_id == a.id,
            "claim_link": request_url(a.claim_request) if a.claim_request_id else None,
            "claim_request_id": a.claim_request_id,
            "claim_decide": a.claim_request is not None and requests.can_decide(actor, a.claim_request),
            "request_link": request_url(a.request) if a.request_id else None,
            "admission_url": url_for("AdmissionView.show", pk=a.id) if _in_scope(actor, a) else None,
            "may_settle": own and a.state == AdmissionState.PENDING and case.state == DuplicateState.OPEN,
            "may_prove": own and a.live and case.state == DuplicateState.OPEN and a.claim == ClaimState.NONE,
        })
    return out


def _in_scope(actor, adm):
    prefix = scope.actor_path(actor) or "/-none-/"
    return scope.path_within(adm.school_path, prefix) or bool(adm.from_path and scope.path_within(adm.from_path, prefix))


def _state_choices():
    return [(UNRESOLVED, _("未解决（全部）"))] + [(s.value, s.label) for s in DuplicateState] + [("", _("全部"))]


class DuplicateAdmissionView(BaseView):
    """重复招生: a student admitted by several schools. Each school withdraws (撤销) or proves its
    claim (佐证, approved by its county in 审批待办); when every remaining claim is proved, the
    schools' lowest common superior arbitrates: at most one admission stands, or none."""

    route_base = "/duplicateadmissionview"
    default_view = "list"

    def _can(self, permission, view=None):
        return self.appbuilder.sm.has_access(permission, view or self.class_permission_name)

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        arg = request.args.get("state")
        state_arg = UNRESOLVED if arg is None else arg
        state = _member(DuplicateState, state_arg)
        if state is None and state_arg not in (UNRESOLVED, ""):
            state_arg = UNRESOLVED
        mine = request.args.get("mine") == "1"
        stmt = admissions.duplicates_query(actor, state=state, arbitration_only=mine)
        if state is None and state_arg == UNRESOLVED:
            stmt = stmt.where(DuplicateAdmission.state != DuplicateState.RESOLVED)
        stmt = stmt.options(selectinload(DuplicateAdmission.student), selectinload(DuplicateAdmission.arbiter),
                            selectinload(DuplicateAdmission.year),
                            selectinload(DuplicateAdmission.admissions).selectinload(Admission.school),
                            # what each admission's row shows (links, 核办 of a 佐证): loaded with the page,
                            # not one query per admission
                            selectinload(DuplicateAdmission.admissions).selectinload(Admission.request),
                            selectinload(DuplicateAdmission.admissions).selectinload(Admission.claim_request)
                            .selectinload(Request.steps))
        page = Page(stmt, _int(request.args.get("page")), PAGE_SIZE)
        rows = [{"case": c, "xueji_no": (privacy.shown_xueji(actor, c.student.xueji_no) or "") if c.student else "",
                 "admissions": _case_admissions(actor, c),
                 "my_turn": c.state == DuplicateState.ARBITRATION and c.arbiter_id == actor.org_unit_id}
                for c in page.items]
        _audit_full(actor, [c.student for c in page.items], "重复招生")
        waiting = db.session.scalar(select(func.count()).select_from(
            admissions.duplicates_query(actor, arbitration_only=True).order_by(None).subquery()))
        return self.render_template(
            "admission/duplicates.html", title=_l("重复招生"), rows=rows, page=page,
            f={"state": state_arg, "mine": mine}, states=_state_choices(), waiting=waiting,
            school_view=_is_school(actor))

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        actor = current_actor()
        case = _case(pk)
        rows = _case_admissions(actor, case)
        may_arbitrate = (case.state == DuplicateState.ARBITRATION and case.arbiter_id == actor.org_unit_id
                         and actor_rank(actor) <= RANK_COUNTY and self._can("can_arbitrate"))
        s = case.student
        student_url = url_for("StudentView.show", pk=s.id) if s is not None and \
            s.id in _visible_students(actor, [s.id]) else None
        html = self.render_template(
            "admission/duplicate_show.html", title=_l("重复招生详情"), case=case, rows=rows, student=s,
            student_url=student_url, xueji_no=(privacy.shown_xueji(actor, s.xueji_no) or "") if s else "",
            student_school=s.school.name if s is not None and s.school is not None else "",
            student_status=s.status.label if s is not None and s.status else "",
            may_arbitrate=may_arbitrate, may_withdraw=self._can("can_withdraw", "AdmissionView"),
            may_prove=self._can("can_prove"),
            arbitrated_by=person(db.session.get(Account, case.arbitrated_by_id)) if case.arbitrated_by_id else "",
            live=[r for r in rows if r["live"]], here=request.path)
        _audit_full(actor, [s], "重复招生详情")
        return html

    @expose("/prove/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("prove")
    def prove(self, pk):
        """佐证: the school proves its claim with evidence and its opinion; its county approves."""
        actor = current_actor()
        adm = _admission(pk)
        case = adm.duplicate
        if case is None:
            flash(_("该录取不是重复招生"), "warning")
            return redirect(url_for("AdmissionView.show", pk=pk))
        back = url_for(".show", pk=case.id)
        if not _is_school(actor) or adm.school_id != actor.org_unit_id:
            flash(_("只能佐证本校的录取"), "warning")
            return redirect(back)
        reason, errors, version = "", {}, adm.version
        if request.method == "POST":
            reason = request.form.get("reason") or ""
            version = request.form.get("version")
            req, error = call_service(
                lambda session, a: admissions.prove(
                    session, a, pk, reason, attachments=_uploads(session, a, [("evidence", students.EVIDENCE)]),
                    expected_version=_version(version)))
            if error is None:
                step = requests.current_step(req)
                unit = step.org_unit.name if step is not None and step.org_unit is not None else ""
                flash(_("重复招生佐证已提交，等待%(unit)s核办（申请号 %(id)s）", unit=unit, id=req.id), "success")
                return redirect(back)
            errors = {error.field or "_form": error.message}
            adm = _admission(pk)
            case = adm.duplicate
        return self.render_template(
            "admission/duplicate_prove.html", title=_l("重复招生佐证"), row=_row(actor, adm), case=case,
            others=[r for r in _case_admissions(actor, case) if r["id"] != adm.id],
            reason=reason, errors=errors, version=version, back=back)

    @expose("/arbitrate/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("arbitrate")
    def arbitrate(self, pk):
        """仲裁: the common superior lets one admission stand, or none (均不通过), with a reason."""
        case = _case(pk)
        winner = (request.form.get("winner") or "").strip()
        if not winner:
            flash(_("请选择通过的录取学校，或选择“均不通过”"), "danger")
            return redirect(url_for(".show", pk=pk))
        result, error = call_service(admissions.arbitrate, case.id, None if winner == "none" else winner,
                                     request.form.get("comment"),
                                     expected_version=_version(request.form.get("version")))
        if error is None:
            won = next((a for a in result.admissions if a.id == result.winner_id), None)
            flash(_("已仲裁：%(school)s的录取通过，其他学校的录取不通过", school=won.school.name) if won is not None
                  else _("已仲裁：各校录取均不通过"), "success")
        return redirect(url_for(".show", pk=pk))


def register(appbuilder):
    appbuilder.add_view(AdmissionView, "Admissions", label=_l("录取管理"), icon="fa-check-circle", **MENU)
    appbuilder.add_view(DuplicateAdmissionView, "DuplicateAdmissions", label=_l("重复招生"), icon="fa-clone", **MENU)
