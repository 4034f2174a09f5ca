"""资格审核 (school → county → city, with 分配生 eligibility and its basis) and 加分/照顾 (the school
declares items with evidence, the candidate's county reviews them).

Thin: the rules live in app/services/zhongkao/qualification.py; batch decisions go through the
approval engine (app/services/requests.py) with the version the screen showed, so a second click or
a stale screen is a Chinese message, never a second effect. Another county's candidate, batch or item
is a 404, whatever the URL.

URLs
  /zkqualification/list/?school=&state=     the school's candidates (submit, 计算分配生资格); above the
                                            school: batches waiting here, all batches, one school's list  can_list
  /zkqualification/compute        POST      计算分配生资格 (school_id for officers above the school)        can_submit
  /zkqualification/submit         POST      提交审核 the ticked candidates, or all ready ones (all=1)      can_submit
  /zkqualification/batch/<pk>               one batch: candidates with their basis; decisions here        can_list
  /zkqualification/reject_candidate/<pk> POST 退回 one candidate of the batch (reason)                    can_decide
  /zkqualification/approve/<pk>   POST      通过 the batch at this level (version)                        can_decide
  /zkqualification/reject/<pk>    POST      退回 the whole batch (reason, version)                        can_decide
  /zkqualification/withdraw/<pk>  POST      the school withdraws its open batch                          can_submit
  /zkbonus/list/?state=&school=             加分/照顾 items in scope; the school's form                     can_list
  /zkbonus/add                    POST      declare an item (candidate, item, points, note, evidence)    can_add
  /zkbonus/review/<pk>            POST      认定 / 不予认定 (the candidate's county)                        can_review
  /zkbonus/remove/<pk>            POST      the school withdraws an item not recognised                  can_add
"""
from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.codes import tables
from app.extensions import db
from app.models.org import OrgKind, OrgUnit
from app.models.requests import RequestState
from app.models.zhongkao import BonusState, Candidate, QualState
from app.services import requests, scope
from app.services.context import current_actor
from app.services.errors import NotFound
from app.services.roles import RANK_COUNTY, RANK_SCHOOL, actor_rank
from app.services.zhongkao import exams
from app.services.zhongkao import qualification as qual
from app.views.base import call_service
from app.views.school_year import Page, _View
from app.views.zhongkao import MENU

MAX_ID = 2 ** 31 - 1
STALE = _l("该记录已被他人修改，请刷新后重试")


def _id(value):
    """A posted or queried id: blank is none; beyond the column's range names nothing (404)."""
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_ID:
        abort(404)
    return int(text)


def _version(value):
    """The version a posted form showed: anything but a number is a version no batch has (stale)."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() and int(text) <= MAX_ID else -1


def _call(fn, *args, **kwargs):
    """call_service; two people writing the same row at once is a Chinese message too, never a 500."""
    try:
        return call_service(fn, *args, **kwargs)
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        flash(str(STALE), "danger")
        return None, NotFound(str(STALE))


def _unit_kind(actor):
    unit = getattr(actor, "org_unit", None)
    return unit.kind if unit is not None else None


def _is_school(actor):
    return _unit_kind(actor) == OrgKind.SCHOOL and actor_rank(actor) <= RANK_SCHOOL


def _schools(actor, exam):
    """Schools with candidates in the actor's scope (the school picker of officers above a school)."""
    return db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(
        select(Candidate.school_id).where(Candidate.exam_id == exam.id, scope.clause(actor, Candidate)).distinct()))
        .order_by(OrgUnit.path)).all()


def _batch_row(req):
    step = requests.current_step(req)
    counts = qual.batch_counts(db.session, req.id)
    return {"req": req, "step": step, "counts": counts, "rejected": counts.get(QualState.REJECTED, 0),
            "where": step.org_unit.name if step is not None and req.state == RequestState.PENDING else ""}


class ZkQualificationView(_View):
    """资格审核: the school submits its candidates; the county and then the city review each batch."""

    route_base = "/zkqualification"
    title = _l("资格审核")
    base_permissions = ["can_list", "can_submit", "can_decide"]

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        exam = exams.current_exam(db.session)
        if exam is None or getattr(actor, "org_unit", None) is None:
            return self.render_template("zhongkao/qual_list.html", title=self.title, exam=None)
        school_id = _id(request.args.get("school"))
        if _is_school(actor):
            school_id = actor.org_unit_id
        school = None
        if school_id is not None:
            school = db.session.get(OrgUnit, school_id)
            if school is None or not scope.can_see_unit(actor, school):
                abort(404)
        state = request.args.get("state") or ""
        page = None
        if school is not None:
            stmt = select(Candidate).where(Candidate.exam_id == exam.id, Candidate.school_id == school.id,
                                           scope.clause(actor, Candidate))
            if state in {m.value for m in QualState}:
                stmt = stmt.where(Candidate.qual_state == QualState(state))
            page = Page(stmt.order_by(Candidate.seq), request.args.get("page", 1, type=int))
        waiting = [] if _is_school(actor) else [
            _batch_row(r) for r in db.session.scalars(qual.batches_query(actor, pending_here=True).limit(100))]
        recent = [_batch_row(r) for r in db.session.scalars(
            qual.batches_query(actor, school_id=school.id if school is not None else None).limit(30))]
        counts = qual.qual_counts(db.session, actor, exam, school.id if school is not None else None)
        return self.render_template(
            "zhongkao/qual_list.html", title=self.title, exam=exam, school=school, page=page, state=state,
            states=[(m.value, m.label) for m in QualState], waiting=waiting, recent=recent,
            count_rows=[(m.label, counts.get(m, 0)) for m in QualState],
            schools=[] if _is_school(actor) else _schools(actor, exam), is_school=_is_school(actor),
            may_submit=_is_school(actor) and self._can("can_submit"),
            may_compute=actor_rank(actor) <= RANK_SCHOOL and self._can("can_submit"))

    def _back(self, school_id=None):
        return redirect(url_for("ZkQualificationView.list", school=school_id or None))

    @expose("/compute", methods=["POST"])
    @has_access
    @permission_name("submit")
    def compute(self):
        school_id = _id(request.form.get("school_id"))
        if school_id is None and _is_school(current_actor()):
            school_id = current_actor().org_unit_id
        result, error = _call(qual.compute_allocation, school_id=school_id)
        if error is None:
            flash(_("已计算 %(n)s 名考生的分配生资格，其中 %(k)s 人符合（审核中和已通过的考生不重算）",
                    n=result["total"], k=result["eligible"]), "success")
        return self._back(school_id)

    @expose("/submit", methods=["POST"])
    @has_access
    @permission_name("submit")
    def submit(self):
        ids = None if request.form.get("all") == "1" else request.form.getlist("candidate_id")
        if ids is not None and not ids:
            flash(_("请先勾选要提交审核的考生"), "danger")
            return self._back()
        for i in ids or []:
            _id(i)
        req, error = _call(qual.submit_school, candidate_ids=ids)
        if error is None:
            flash(_("已提交资格审核：%(n)s 名考生（批次号 %(id)s），等待%(unit)s审核", n=(req.payload or {}).get("count"),
                    id=req.id, unit=requests.current_step(req).org_unit.name), "success")
            return redirect(url_for("ZkQualificationView.batch", pk=req.id))
        return self._back()

    def _batch(self, pk):
        try:
            return qual.get_batch(db.session, current_actor(), pk)
        except NotFound:
            abort(404)

    @expose("/batch/<int:pk>")
    @has_access
    @permission_name("list")
    def batch(self, pk):
        _id(pk)
        actor = current_actor()
        req = self._batch(pk)
        rows = qual.batch_candidates(db.session, actor, req)
        from app.views.students import request_url
        return self.render_template(
            "zhongkao/qual_batch.html", title=_("资格审核批次 %(id)s", id=req.id), b=_batch_row(req), rows=rows,
            describe=qual.describe_batch(req), may_decide=requests.can_decide(actor, req) and self._can("can_decide"),
            may_withdraw=req.state == RequestState.PENDING and _is_school(actor) and req.school_id == actor.org_unit_id
            and self._can("can_submit"),
            level=qual.level_label(actor.org_unit), engine_url=request_url(req))

    @expose("/reject_candidate/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("decide")
    def reject_candidate(self, pk):
        _id(pk)
        batch = _id(request.form.get("batch"))
        candidate, error = _call(qual.reject_candidate, pk, request.form.get("reason"),
                                 expected_version=_version(request.form.get("version")))
        if error is None:
            flash(_("已退回考生 %(name)s：%(note)s", name=candidate.name, note=candidate.qual_note), "success")
        return redirect(url_for("ZkQualificationView.batch", pk=batch)) if batch else self._back()

    @expose("/approve/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("decide")
    def approve(self, pk):
        _id(pk)
        self._batch(pk)
        req, error = _call(requests.approve, pk, request.form.get("comment"),
                           expected_version=_version(request.form.get("version")))
        if error is None:
            if req.state == RequestState.APPROVED:
                flash(_("批次 %(id)s 资格审核通过", id=pk), "success")
            else:
                flash(_("批次 %(id)s 已审核通过，转%(unit)s审核", id=pk, unit=requests.current_step(req).org_unit.name),
                      "success")
        return redirect(url_for("ZkQualificationView.batch", pk=pk))

    @expose("/reject/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("decide")
    def reject(self, pk):
        _id(pk)
        self._batch(pk)
        _req, error = _call(requests.reject, pk, request.form.get("reason"),
                            expected_version=_version(request.form.get("version")))
        if error is None:
            flash(_("批次 %(id)s 已整批退回学校", id=pk), "success")
        return redirect(url_for("ZkQualificationView.batch", pk=pk))

    @expose("/withdraw/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("submit")
    def withdraw(self, pk):
        _id(pk)
        self._batch(pk)
        _req, error = _call(requests.cancel, pk, expected_version=_version(request.form.get("version")))
        if error is None:
            flash(_("批次 %(id)s 已撤回，考生回到待提交状态", id=pk), "success")
        return redirect(url_for("ZkQualificationView.batch", pk=pk))


class ZkBonusView(_View):
    """加分/照顾: the school declares items with evidence; the candidate's county recognises them."""

    route_base = "/zkbonus"
    title = _l("加分/照顾")
    base_permissions = ["can_list", "can_add", "can_review"]

    @expose("/list/")
    @has_access
    def list(self):
        return self._page({}, 200)

    def _page(self, form, status):
        actor = current_actor()
        exam = exams.current_exam(db.session)
        if exam is None or getattr(actor, "org_unit", None) is None:
            return self.render_template("zhongkao/qual_bonus.html", title=self.title, exam=None), status
        state = request.args.get("state") or ""
        school_id = _id(request.args.get("school"))
        stmt = qual.bonuses_query(actor, exam, state if state in {m.value for m in BonusState} else None, school_id)
        page = Page(stmt, request.args.get("page", 1, type=int))
        is_school = _is_school(actor)
        own = db.session.scalars(select(Candidate).where(
            Candidate.exam_id == exam.id, Candidate.school_id == actor.org_unit_id,
            scope.clause(actor, Candidate)).order_by(Candidate.seq)).all() if is_school else []
        unit = actor.org_unit
        return self.render_template(
            "zhongkao/qual_bonus.html", title=self.title, exam=exam, page=page, state=state,
            states=[(m.value, m.label) for m in BonusState], items=tables.choices(qual.BONUS_TABLE),
            item_label=lambda code: tables.label(qual.BONUS_TABLE, code), defaults=qual.BONUS_DEFAULT_POINTS,
            candidates=own, form=form, schools=[] if is_school else _schools(actor, exam), school=school_id,
            may_add=is_school and self._can("can_add"),
            may_review=lambda b: (self._can("can_review") and b.state == BonusState.PENDING
                                  and b.candidate.county_id == unit.id and actor_rank(actor) <= RANK_COUNTY)), status

    @expose("/add", methods=["POST"])
    @has_access
    @permission_name("add")
    def add(self):
        f = request.form
        cid = _id(f.get("candidate_id"))
        if cid is None:
            flash(_("请选择考生"), "danger")
            return self._page(f, 422)
        upload = request.files.get("evidence")
        evidence = (upload.filename, upload.read()) if upload is not None and upload.filename else None
        bonus, error = _call(qual.add_bonus, cid, f.get("item"), f.get("points"), f.get("note"), evidence)
        if error is not None:
            return self._page(f, 422)
        flash(_("已为 %(name)s 申报“%(item)s”（%(p)s 分），待县（区）审核", name=bonus.candidate.name,
                item=tables.label(qual.BONUS_TABLE, bonus.item), p=bonus.points), "success")
        return redirect(url_for("ZkBonusView.list"))

    @expose("/review/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("review")
    def review(self, pk):
        _id(pk)
        approve = request.form.get("decision") == "approve"
        bonus, error = _call(qual.review_bonus, pk, approve, request.form.get("note"))
        if error is None:
            flash(_("%(name)s 的“%(item)s”：%(state)s", name=bonus.candidate.name,
                    item=tables.label(qual.BONUS_TABLE, bonus.item), state=bonus.state.label), "success")
        return redirect(url_for("ZkBonusView.list", state=request.args.get("state") or None))

    @expose("/remove/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("add")
    def remove(self, pk):
        _id(pk)
        _done, error = _call(qual.remove_bonus, pk)
        if error is None:
            flash(_("已撤回该加分/照顾项目"), "success")
        return redirect(url_for("ZkBonusView.list"))


def register(appbuilder):
    appbuilder.add_view(ZkQualificationView, "ZkQualification", label=_l("资格审核"), icon="fa-check-circle", **MENU)
    appbuilder.add_view(ZkBonusView, "ZkBonus", label=_l("加分/照顾"), icon="fa-plus-circle", **MENU)
