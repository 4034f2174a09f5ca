"""问题学籍 screens: the school's problem records and actions, the authorities' counts and drill-down, arbitration.

Thin: every rule (whose record, which state, who arbitrates) is checked again by
app.services.problems; the buttons shown are hints only. Which problems an actor sees comes from
the scope rules the service registers for ProblemRecord and ProblemSide. The other side's student
is shown only by name, masked ID number and school.

URLs (route base /problemview):
  GET  /list/                 school: its problem sides (filters kind, state); authorities: counts by
                              kind × state, the 仲裁 queue, 发起检测 (province)          can_list
  GET  /records/              the problems in scope with one kind / state (drill-down)     can_list
  GET  /show/<pk>             one problem: sides, state, resolution, arbitration           can_show
  GET|POST /delete/<side>     删除 request for the school's own side                      can_handle
  GET|POST /prove/<side>      佐证 request (evidence required)                            can_handle
  GET|POST /change/<side>     变更 (关键数据变更 of the side's record)                    can_handle
  POST /bulk                  bulk 结转 / 删除 of ticked sides (each side on its own)      can_handle
  POST /arbitrate/<pk>        the arbiter picks the rightful record                        can_arbitrate
  POST /detect                发起检测 (job detect_problems; province)                    can_detect
"""
import math

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import permission_name
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms import FileField, HiddenField, TextAreaField

from app.extensions import db
from app.jobs import enqueue
from app.models import Account
from app.models.org import OrgKind
from app.models.problems import ProblemKind, ProblemRecord, ProblemSide, ProblemState, Treatment
from app.models.student import KEY_FIELDS, Student
from app.services import identity, privacy, problems, scope, students
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound
from app.views.base import call_service
from app.views.students import (KeyChangeForm, _initial, _record_data, _uploads, form_errors, person, render_form,
                                request_url)

PAGE_SIZE = 30
OPEN = "open"  # the state filter's default: every problem not yet resolved
HANDLING = (Treatment.NONE, Treatment.CARRIED, Treatment.LOST)  # the school may still act on the side
CAN_PROVE = (Treatment.NONE, Treatment.CARRIED)

DeleteForm = type("ProblemDeleteForm", (DynamicForm,), {
    "version": HiddenField(),
    "reason": TextAreaField(_l("删除原因"), description=_l("如：学生实际在对方学校就读，本校记录为重复建籍")),
})
ProofForm = type("ProblemProofForm", (DynamicForm,), {
    "version": HiddenField(),
    "reason": TextAreaField(_l("佐证理由"), description=_l("如：经派出所核实，本校学生身份证号无误")),
    "evidence": FileField(_l("证明材料"), description=_l("必须上传，如派出所证明、户口簿的扫描件或照片，不超过 10 MB")),
})


# ---------------------------------------------------------------- helpers

def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


_attempt = call_service  # (result, error); NotFound → 404


def _is_school(actor):
    unit = getattr(actor, "org_unit", None)
    return unit is not None and unit.kind == OrgKind.SCHOOL


def _own(actor, side):
    """Is this side the actor's own school's record (the school acts on it)?"""
    return _is_school(actor) and side.student is not None and side.student.school_id == actor.org_unit_id


def _in_subtree(actor, side):
    return scope.path_within(side.school_path, scope.actor_path(actor) or "/-none-/")


def _kind(value):
    return next((k for k in ProblemKind if k.value == value), None)


def _state(value):
    return next((s for s in ProblemState if s.value == value), None)


def _back(default):
    target = request.form.get("next") or ""
    return redirect(get_safe_redirect(target) if target.startswith("/") else default)


class Page:
    def __init__(self, stmt, number):
        self.total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        self.pages = max(math.ceil(self.total / PAGE_SIZE), 1)
        self.number = min(max(number or 1, 1), self.pages)
        self.items = db.session.scalars(stmt.limit(PAGE_SIZE).offset((self.number - 1) * PAGE_SIZE)).unique().all()

    def url(self, number):
        args = request.args.to_dict()
        args["page"] = number
        return url_for(request.endpoint, **args)


def _audit_full(actor, students_shown, where):
    """Full ID numbers shown on a page go to the audit trail (as the registry screens do)."""
    if not privacy.full_id_allowed(actor):
        return
    for s in {s.id: s for s in students_shown if s is not None and s.id_number}.values():
        privacy.record_full_view(db.session, actor, s, where)
    db.session.commit()


def _side_row(actor, side):
    """One side as a screen shows it: full details only for records in the actor's own subtree
    (the ID number as privacy allows), else name, masked ID number and school."""
    s = side.student
    mine = _in_subtree(actor, side)
    return {
        "id": side.id, "name": s.name, "school": s.school.name if s.school else "",
        "id_number": (privacy.shown_id(actor, s.id_number) if mine else identity.mask(s.id_number)) if s.id_number else "",
        "student_url": url_for("StudentView.show", pk=s.id) if mine else None,
        "treatment": side.treatment, "request_url": request_url(side.request) if side.request_id else None,
        "own": _own(actor, side), "full": mine,
        "involved": problems._still_involved(side.problem, side),
    }


def _actions(actor, side):
    """The actions a school may start on its own side (hints: the service decides)."""
    if not _own(actor, side) or side.problem.state == ProblemState.RESOLVED or side.treatment not in HANDLING:
        return []
    out = [("delete", _("删除"))]
    if side.treatment in CAN_PROVE:
        out.append(("prove", _("佐证")))
    out.append(("change", _("变更")))
    return out


def _kind_choices():
    return [(k.value, k.label) for k in ProblemKind]


def _state_choices():
    return [(OPEN, _("未解决（全部）"))] + [(s.value, s.label) for s in ProblemState]


# ---------------------------------------------------------------- the view

class ProblemView(BaseView):
    route_base = "/problemview"
    default_view = "list"

    def _can(self, permission):
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    # ------------------------------------------------------------ lists

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        if _is_school(actor):
            return self._school_list(actor)
        return self._overview(actor)

    def _filters(self):
        kind = _kind(request.args.get("kind"))
        state_arg = request.args.get("state") or OPEN
        state = _state(state_arg)
        return kind, state, {"kind": kind.value if kind else "", "state": state.value if state else OPEN}

    def _school_list(self, actor):
        kind, state, f = self._filters()
        stmt = problems.sides_of_school_query(actor, kind=kind, state=state).options(
            selectinload(ProblemSide.student).selectinload(Student.school),
            selectinload(ProblemSide.problem).selectinload(ProblemRecord.sides)
            .selectinload(ProblemSide.student).selectinload(Student.school))
        page = Page(stmt, _int(request.args.get("page")))
        rows = []
        for side in page.items:
            p = side.problem
            rows.append({
                "side": _side_row(actor, side), "problem": p, "actions": _actions(actor, side),
                "others": [_side_row(actor, o) for o in p.sides if o.id != side.id],
                "bulk": _own(actor, side) and p.state != ProblemState.RESOLVED and side.treatment in HANDLING,
            })
        _audit_full(actor, [side.student for side in page.items], "问题学籍列表")
        return self.render_template(
            "problems/school_list.html", title=_l("问题学籍"), rows=rows, page=page, f=f,
            kinds=_kind_choices(), states=_state_choices(), can_handle=self._can("can_handle"))

    def _overview(self, actor):
        counts = problems.counts_by_kind_and_state(db.session, actor)
        table = []
        for k in ProblemKind:
            cells = [(s, counts.get((k, s), 0)) for s in ProblemState]
            table.append((k, cells, sum(n for _s, n in cells)))
        totals = [(s, sum(counts.get((k, s), 0) for k in ProblemKind)) for s in ProblemState]
        queue = db.session.scalars(problems.arbitration_queue(actor).options(
            selectinload(ProblemRecord.sides).selectinload(ProblemSide.student).selectinload(Student.school))).all()
        queue_rows = [{"problem": p, "sides": [_side_row(actor, s) for s in p.sides]} for p in queue]
        return self.render_template(
            "problems/overview.html", title=_l("问题学籍"), table=table, totals=totals,
            grand_total=sum(n for _s, n in totals), states=list(ProblemState), queue=queue_rows,
            may_detect=problems.may_run_detection(actor) and self._can("can_detect"))

    @expose("/records/")
    @has_access
    @permission_name("list")
    def records(self):
        """Drill-down: the problems in the actor's scope with one kind and state."""
        actor = current_actor()
        kind, state, f = self._filters()
        stmt = (select(ProblemRecord).where(scope.clause(actor, ProblemRecord))
                .options(selectinload(ProblemRecord.sides).selectinload(ProblemSide.student)
                         .selectinload(Student.school))
                .order_by(ProblemRecord.detected_at.desc(), ProblemRecord.id.desc()))
        if kind is not None:
            stmt = stmt.where(ProblemRecord.kind == kind)
        stmt = stmt.where(ProblemRecord.state == state) if state is not None else \
            stmt.where(ProblemRecord.state != ProblemState.RESOLVED)
        page = Page(stmt, _int(request.args.get("page")))
        rows = [{"problem": p, "sides": [_side_row(actor, s) for s in p.sides]} for p in page.items]
        _audit_full(actor, [s.student for p in page.items for s in p.sides if _in_subtree(actor, s)], "问题学籍列表")
        return self.render_template(
            "problems/records.html", title=_l("问题学籍列表"), rows=rows, page=page, f=f,
            kinds=_kind_choices(), states=_state_choices())

    # ------------------------------------------------------------ show and arbitration

    def _problem(self, pk):
        try:
            return scope.get(db.session, current_actor(), ProblemRecord, pk)
        except NotFound:
            abort(404)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        actor = current_actor()
        problem = self._problem(pk)
        sides = [{**_side_row(actor, s), "actions": _actions(actor, s)} for s in problem.sides]
        may_arbitrate = (problem.state == ProblemState.ARBITRATION and problem.arbiter_id == actor.org_unit_id
                         and self._can("can_arbitrate"))
        html = self.render_template(
            "problems/show.html", title=_l("问题学籍详情"), problem=problem, sides=sides,
            may_arbitrate=may_arbitrate, arbitrated_by=person(db.session.get(Account, problem.arbitrated_by_id))
            if problem.arbitrated_by_id else "", can_handle=self._can("can_handle"))
        _audit_full(actor, [s.student for s in problem.sides if _in_subtree(actor, s)], "问题学籍详情")
        return html

    @expose("/arbitrate/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("arbitrate")
    def arbitrate(self, pk):
        problem = self._problem(pk)
        _result, error = _attempt(problems.arbitrate, problem.id, _int(request.form.get("winner")),
                                  request.form.get("comment"), expected_version=_int(request.form.get("version")))
        if error is None:
            flash(_("已仲裁：未通过方学校须删除或变更其记录"), "success")
        return redirect(url_for("ProblemView.show", pk=pk))

    # ------------------------------------------------------------ the school's actions on its side

    def _side(self, side_id):
        """The side, if in scope (else 404); the service refuses another school's record."""
        try:
            return scope.get(db.session, current_actor(), ProblemSide, side_id)
        except NotFound:
            abort(404)

    def _readonly(self, side):
        p = side.problem
        others = "；".join(f"{o.student.school.name if o.student.school else ''} {o.student.name} "
                          f"{identity.mask(o.student.id_number) if o.student.id_number else ''}".strip()
                          for o in p.sides if o.id != side.id)
        rows = [(_("问题类型"), p.kind.label), (_("问题状态"), p.state.label)]
        if p.detail:
            rows.append((_("问题说明"), p.detail))
        rows += [(_("本校处理情况"), side.treatment.label)]
        if others:
            rows.append((_("对方记录"), others))
        return rows

    def _form_page(self, side, form, title, error, **kwargs):
        return render_form(self, form, title, errors=form_errors(error), student=side.student,
                           readonly=self._readonly(side), cancel_url=url_for("ProblemView.show", pk=side.problem_id),
                           **kwargs)

    @expose("/delete/<int:side_id>", methods=["GET", "POST"])
    @has_access
    @permission_name("handle")
    def delete(self, side_id):
        """删除: the school asks to delete its own record of the problem; the county approves."""
        side = self._side(side_id)
        error = None
        if request.method == "POST":
            form = DeleteForm()
            req, error = _attempt(problems.request_delete, side.id, form.reason.data,
                                  expected_version=_int(form.version.data))
            if error is None:
                flash(_("问题学籍删除申请已提交，等待县（区）教育局核办（申请号 %(id)s）", id=req.id), "success")
                return redirect(url_for("ProblemView.show", pk=side.problem_id))
            side = self._side(side_id)
        else:
            form = DeleteForm(formdata=None, data={"version": side.problem.version})
        return self._form_page(side, form, _l("问题学籍：申请删除本校记录"), error, extra_fields=["reason"],
                               submit=_l("提交删除申请"),
                               intro=_("删除本校的这条记录（如学生实际在对方学校就读）。县（区）教育局核办通过后，记录标记为已删除。"))

    @expose("/prove/<int:side_id>", methods=["GET", "POST"])
    @has_access
    @permission_name("handle")
    def prove(self, side_id):
        """佐证: the school proves its record is right, with evidence; the county approves."""
        side = self._side(side_id)
        error = None
        if request.method == "POST":
            form = ProofForm()
            req, error = _attempt(
                lambda session, actor: problems.request_proof(
                    session, actor, side.id, form.reason.data,
                    attachments=_uploads(session, actor, [("evidence", students.EVIDENCE)]),
                    expected_version=_int(form.version.data)))
            if error is None:
                flash(_("问题学籍佐证申请已提交，等待县（区）教育局核办（申请号 %(id)s）", id=req.id), "success")
                return redirect(url_for("ProblemView.show", pk=side.problem_id))
            side = self._side(side_id)
        else:
            form = ProofForm(formdata=None, data={"version": side.problem.version})
        return self._form_page(side, form, _l("问题学籍：佐证本校记录"), error, extra_fields=["reason", "evidence"],
                               multipart=True, submit=_l("提交佐证申请"),
                               intro=_("证明本校的记录正确。须上传证明材料，县（区）教育局核办通过后为“佐证通过”；"
                                       "双方均佐证通过的，由共同上级仲裁。"))

    @expose("/change/<int:side_id>", methods=["GET", "POST"])
    @has_access
    @permission_name("handle")
    def change(self, side_id):
        """变更: 关键数据变更 of the side's record (e.g. the corrected ID number), marked on the side."""
        side = self._side(side_id)
        error = None
        if request.method == "POST":
            form = KeyChangeForm()
            result, error = _attempt(
                lambda session, actor: problems.request_change(
                    session, actor, side.id, _record_data(form, KEY_FIELDS), form.reason.data,
                    attachments=_uploads(session, actor, [("evidence", students.EVIDENCE),
                                                          ("no_id_proof", students.NO_ID_PROOF)]),
                    expected_version=_int(form.version.data)))
            if error is None:
                req, warnings = result
                for message in warnings:
                    flash(message, "info")
                flash(_("关键数据变更申请已提交，等待县（区）教育局核办（申请号 %(id)s）", id=req.id), "success")
                return redirect(url_for("ProblemView.show", pk=side.problem_id))
            side = self._side(side_id)
        else:
            if not _own(current_actor(), side):  # another school's record: never prefill its key data
                flash(_("只能变更本校的记录；对方学校的记录由对方处理"), "danger")
                return redirect(url_for("ProblemView.show", pk=side.problem_id))
            form = KeyChangeForm(formdata=None, data={**_initial(side.student, KEY_FIELDS),
                                                      "version": side.problem.version})
            privacy.record_full_view(db.session, current_actor(), side.student, "问题学籍变更")
            db.session.commit()
        return self._form_page(side, form, _l("问题学籍：变更本校记录的关键数据"), error,
                               groups=[(_l("变更后的关键数据"), list(KEY_FIELDS))], multipart=True,
                               extra_fields=["reason", "evidence", "no_id_proof"], submit=_l("提交申请"),
                               intro=_("请填写更正后的关键数据（如正确的身份证号）。县（区）教育局核办通过后生效，"
                                       "记录不再与对方重复时问题即解决。"))

    @expose("/bulk", methods=["POST"])
    @has_access
    @permission_name("handle")
    def bulk(self):
        """Bulk 结转 or 删除 of the ticked sides: each side on its own, failures reported per row."""
        op = request.form.get("op")
        ids = list(dict.fromkeys(i for i in (_int(v) for v in request.form.getlist("rowid")) if i is not None))
        default = url_for("ProblemView.list")
        if op not in ("carry", "delete"):
            abort(400)
        if not ids:
            flash(_("请先勾选要处理的记录"), "warning")
            return _back(default)
        reason = request.form.get("reason") or ""
        actor = current_actor()
        done, failed = [], []
        for side_id in ids:
            try:
                if op == "carry":
                    problems.carry_on(db.session, actor, [side_id], reason)
                else:
                    problems.request_delete(db.session, actor, side_id, reason)
                db.session.commit()
                done.append(side_id)
            except DomainError as exc:  # NotFound too: never tell whether another school's row exists
                db.session.rollback()
                failed.append((side_id, exc.message))
        what = _("结转") if op == "carry" else _("删除申请")
        if done:
            flash(_("已批量办理%(what)s %(n)s 条记录", what=what, n=len(done)), "success")
        for side_id, message in failed:
            flash(_("记录 %(id)s 未能办理：%(message)s", id=side_id, message=message), "danger")
        return _back(default)

    # ------------------------------------------------------------ detection

    @expose("/detect", methods=["POST"])
    @has_access
    @permission_name("detect")
    def detect(self):
        actor = current_actor()
        if not problems.may_run_detection(actor):
            flash(_("问题学籍检测由省级管理员发起（全省范围）"), "danger")
            return redirect(url_for("ProblemView.list"))
        _job, error = _attempt(lambda session, a: enqueue(session, a, "detect_problems", {}))
        if error is None:
            flash(_("已提交问题学籍检测任务，可在“我的任务”中查看进度"), "success")
            return redirect(url_for("JobView.list"))
        return redirect(url_for("ProblemView.list"))


def register(appbuilder):
    appbuilder.add_view(ProblemView, "Problems", label=_l("问题学籍"), icon="fa-exclamation-triangle",
                        category="Registry", category_label=_l("学籍管理"), category_icon="fa-id-card")
