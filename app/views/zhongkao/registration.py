"""中考设置 (the province configures the year), 中考报名 (one click per school or county from the
registry's graduating class; 往届/外省 by hand) and 考生名单 (search, detail, 取消报名).

Thin: the rules live in app/services/zhongkao/exams.py and registration.py; every post goes
through `call_service` (another county's candidate or school is a 404, any refusal is flashed).

URLs
  /zkexam/list/                        the years and the current one's settings          can_list
  /zkexam/create            POST       open a year (province)                           can_edit
  /zkexam/edit/<pk>         POST       change its settings (province)                   can_edit
  /zkregistration/list/                progress per school, one-click 报名, 手工报名       can_list
  /zkregistration/register  POST       register the graduating class (scope or school)  can_register
  /zkregistration/manual    POST       往届 / 外省 candidate                              can_register
  /zkcandidates/list/?q=&school=       the candidates in scope                           can_list
  /zkcandidates/show/<pk>              one candidate                                     can_list
  /zkcandidates/cancel/<pk> POST       取消报名 (before signing)                          can_register
"""
import json

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app.codes import tables
from app.extensions import db
from app.models.org import OrgKind, OrgUnit
from app.models.zhongkao import (Candidate, CandidateCategory, CandidateOrigin, HukouKind, InfoState, StudyIntent,
                                 ZkExam)
from app.services import grades, identity, scope
from app.services.context import current_actor
from app.services.errors import DomainError
from app.services.roles import RANK_PROVINCE, RANK_SCHOOL, actor_rank
from app.services.zhongkao import exams, registration
from app.views.base import call_service
from app.views.school_year import Page, _View
from app.views.zhongkao import MENU

MAX_ID = 2 ** 31 - 1


def _is_province(actor):
    unit = getattr(actor, "org_unit", None)
    return unit is not None and unit.kind == OrgKind.PROVINCE and actor_rank(actor) <= RANK_PROVINCE


def _is_officer(actor):
    return getattr(actor, "org_unit", None) is not None and actor_rank(actor) <= RANK_SCHOOL


def _timetable_text(exam):
    return "\n".join(f"{r['date']} {r['start']} {r['end']} {r['subject']}" for r in exams.timetable_rows(exam))


def _timetable_from_text(text):
    rows = []
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 4:
            raise DomainError(_("考试日程每行应为：日期 开始时间 结束时间 科目（如 2027-06-20 09:00 11:30 语文）"),
                              field="timetable")
        rows.append({"date": parts[0], "start": parts[1], "end": parts[2], "subject": " ".join(parts[3:])})
    return json.dumps(rows, ensure_ascii=False) if rows else ""


EXAM_FIELDS = ("name", "reg_no_pattern", "exam_no_pattern", "registration_opens", "registration_closes",
               "room_size", "allocation_years", "scores_publish_at", "review_closes")


class ZkExamView(_View):
    """中考设置: every account reads the year's settings; the province opens a year and changes them."""

    route_base = "/zkexam"
    title = _l("中考设置")
    base_permissions = ["can_list", "can_edit"]

    @expose("/list/")
    @has_access
    def list(self):
        return self._page({}, {})

    def _page(self, form, errors, status=200):
        years = db.session.scalars(select(ZkExam).order_by(ZkExam.year.desc())).all()
        exam = years[0] if years else None
        return self.render_template("zhongkao/exam_settings.html", title=self.title, years=years, exam=exam,
                                    may_edit=_is_province(current_actor()) and self._can("can_edit"),
                                    timetable=_timetable_text(exam) if exam else "", form=form, errors=errors,
                                    published=exam is not None and exams.scores_published(exam)), status

    @expose("/create", methods=["POST"])
    @has_access
    @permission_name("edit")
    def create(self):
        exam, error = call_service(exams.create_exam, {"year": request.form.get("year", "")})
        if error is None:
            flash(_("已设置 %(year)s 年中考，请核对报名号规则、报名时间和考试日程", year=exam.year), "success")
        return redirect(url_for("ZkExamView.list"))

    @expose("/edit/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("edit")
    def edit(self, pk):
        if pk > MAX_ID:
            abort(404)
        data = {k: request.form.get(k, "") for k in EXAM_FIELDS}
        data["allocation_local_only"] = request.form.get("allocation_local_only") == "on"
        try:
            data["timetable"] = _timetable_from_text(request.form.get("timetable", ""))
        except DomainError as exc:
            flash(exc.message, "danger")
            return self._page(request.form, {exc.field: exc.message}, 422)
        _done, error = call_service(exams.update_exam, pk, data, expected_version=request.form.get("version"))
        if error is not None:
            return self._page(request.form, {error.field or "_form": error.message}, 422)
        flash(_("中考设置已保存"), "success")
        return redirect(url_for("ZkExamView.list"))


class ZkRegistrationView(_View):
    """中考报名: schools and counties register the graduating class with one click; 往届 and
    out-of-province candidates are registered by hand at a school (报名点) of the scope."""

    route_base = "/zkregistration"
    title = _l("中考报名")
    base_permissions = ["can_list", "can_register"]

    @expose("/list/")
    @has_access
    def list(self):
        return self._page({}, {})

    def _page(self, form, errors, status=200):
        actor = current_actor()
        exam = exams.current_exam(db.session)
        rows = registration.counts_by_school(db.session, actor, exam) if exam else []
        schools = [s for s in db.session.scalars(
            select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.active.is_(True), scope.clause(actor, OrgUnit))
            .order_by(OrgUnit.path).limit(2000)) if grades.STAGE_JUNIOR in grades.stages_of(s)]  # 报名点: junior schools
        window_error = None
        if exam is not None:
            try:
                exams.check_registration_open(exam)
            except DomainError as exc:
                window_error = exc.message
        return self.render_template(
            "zhongkao/registration.html", title=self.title, exam=exam, rows=rows, schools=schools,
            may_register=exam is not None and _is_officer(actor) and self._can("can_register"),
            window_error=window_error, form=form, errors=errors,
            ethnicities=tables.choices("ethnicity"),
            origins=[(m.value, m.label) for m in CandidateOrigin if m != CandidateOrigin.REGISTRY],
            categories=[(m.value, m.label) for m in CandidateCategory],
            hukou_kinds=[(m.value, m.label) for m in HukouKind],
            intents=[(m.value, m.label) for m in StudyIntent],
            totals={"graduating": sum(r["graduating"] for r in rows),
                    "registered": sum(r["registered"] for r in rows)}), status

    @expose("/register", methods=["POST"])
    @has_access
    @permission_name("register")
    def register(self):
        school = request.form.get("school_id")
        if school and (not school.isdigit() or int(school) > MAX_ID):
            abort(404)
        result, error = call_service(registration.register_graduating,
                                     school_ids=[int(school)] if school else None)
        if error is None:
            message = _("已报名 %(n)s 名应届毕业生", n=result["added"]) if result["added"] else \
                _("没有需要报名的应届毕业生（已全部报名）")
            if result["duplicates"]:
                message += _("；另有 %(n)s 名学生身份证号与其他学籍重复（问题学籍），处理后再报名", n=result["duplicates"])
            flash(message, "success" if result["added"] else "info")
        return redirect(url_for("ZkRegistrationView.list"))

    @expose("/manual", methods=["POST"])
    @has_access
    @permission_name("register")
    def manual(self):
        data = {k: request.form.get(k, "") for k in (
            "school_id", "origin", "category", "hukou_kind", "intent", "name", "gender", "birth_date", "id_number",
            "ethnicity", "graduated_school_name", "phone", "guardian_name", "guardian_phone", "hukou_address",
            "home_address")}
        if data["school_id"].isdigit() and int(data["school_id"]) > MAX_ID:
            abort(404)
        candidate, error = call_service(registration.register_manual, data)
        if error is not None:
            return self._page(request.form, {error.field or "_form": error.message}, 422)
        flash(_("%(name)s 已报名，报名号 %(no)s", name=candidate.name, no=candidate.reg_no), "success")
        return redirect(url_for("ZkCandidateView.show", pk=candidate.id))


class ZkCandidateView(_View):
    """考生名单: the candidates of the actor's scope, searchable by 报名号 or name."""

    route_base = "/zkcandidates"
    title = _l("考生名单")
    base_permissions = ["can_list", "can_register"]

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        exam = exams.current_exam(db.session)
        page, schools = None, []
        q = (request.args.get("q") or "").strip()[:40]
        school = request.args.get("school") or ""
        state = request.args.get("info_state") or ""
        if exam is not None:
            stmt = registration.candidates_query(actor, exam)
            if school.isdigit() and int(school) <= MAX_ID:
                stmt = stmt.where(Candidate.school_id == int(school))
            if state in {m.value for m in InfoState}:
                stmt = stmt.where(Candidate.info_state == InfoState(state))
            if q:
                stmt = stmt.where(or_(Candidate.reg_no.startswith(q, autoescape=True),
                                      Candidate.exam_no.startswith(q, autoescape=True),
                                      Candidate.name.startswith(q, autoescape=True)))
            page = Page(stmt.order_by(Candidate.school_path, Candidate.seq), request.args.get("page", 1, type=int))
            schools = db.session.scalars(
                select(OrgUnit).where(OrgUnit.id.in_(select(Candidate.school_id).where(
                    Candidate.exam_id == exam.id, scope.clause(actor, Candidate)).distinct()))
                .order_by(OrgUnit.path)).all()
        return self.render_template("zhongkao/candidates.html", title=self.title, exam=exam, page=page,
                                    schools=schools, q=q, school=school, info_state=state,
                                    info_states=[(m.value, m.label) for m in InfoState], mask=identity.mask)

    @expose("/show/<int:pk>")
    @has_access
    @permission_name("list")
    def show(self, pk):
        if pk > MAX_ID:
            abort(404)
        candidate = self._get(Candidate, pk)
        return self.render_template(
            "zhongkao/candidate_show.html", title=_("考生信息"), c=candidate, mask=identity.mask,
            ethnicity=tables.label("ethnicity", candidate.ethnicity),
            may_cancel=_is_officer(current_actor()) and self._can("can_register")
            and candidate.info_state != InfoState.CONFIRMED and candidate.room_id is None)

    @expose("/cancel/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("register")
    def cancel(self, pk):
        if pk > MAX_ID:
            abort(404)
        candidate = self._get(Candidate, pk)
        name, no = candidate.name, candidate.reg_no
        _done, error = call_service(registration.cancel_registration, pk)
        if error is not None:
            return redirect(url_for("ZkCandidateView.show", pk=pk))
        flash(_("已取消 %(name)s 的报名（报名号 %(no)s）", name=name, no=no), "success")
        return redirect(url_for("ZkCandidateView.list"))


def register(appbuilder):
    appbuilder.add_view(ZkExamView, "ZkExam", label=_l("中考设置"), icon="fa-cog", **MENU)
    appbuilder.add_view(ZkRegistrationView, "ZkRegistration", label=_l("中考报名"), icon="fa-pencil-square-o", **MENU)
    appbuilder.add_view(ZkCandidateView, "ZkCandidates", label=_l("考生名单"), icon="fa-users", **MENU)
