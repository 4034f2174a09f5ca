"""招生入学 screens: 招生计划 (plans and their change requests), 招生结果管理 / 统一招生录取 (the county's
unified list and the school's admission from it), 自主招生 and 调取新生档案 (cross-province admission).

Thin, like every screen: the rules (who sets a quota, which list rows are valid, whether a seat is
free, who approves an admission) live in app/services/admissions.py. These views read the form,
call the services as the logged-in account through `call_service` (commit; a row outside the
account's scope is a 404; any other refusal is flashed in Chinese and rolled back) and render the
result. Buttons are shown only where they make sense; the services check everything again.

URLs
  /planview/list/?year=&county=            招生计划: county sets quotas per school; school sees its plans
                                           and asks for a change; city/province read totals by county  can_list
  /planview/set                  POST      set / change one quota (county, expected_version)         can_set
  /planview/request_change       POST      招生计划数变更申请 (school)                                  can_request_change
  /admissionlistview/list/?year=&school=&q=&waiting=
                                           招生结果管理 (county; read-only above); 统一招生录取 (school)  can_list
  /admissionlistview/add_row     POST      one row of the list by hand (county)                       can_add_row
  /admissionlistview/delete_row/<pk> POST  delete a row nobody admitted (county)                      can_delete_row
  /admissionlistview/admit       POST      the school admits the ticked rows                          can_admit
  /selfadmissionview/list/?year=&q=        自主招生: the form (school) and the year's self-admissions  can_list
  /selfadmissionview/admit       POST      admit a graduate by 学籍号 + 姓名 (school)                  can_admit
  /archiveadmissionview/list/?year=        调取新生档案: the year's cross-province admissions          can_list
  /archiveadmissionview/start    GET/POST  the 跨省转入-like form (school)                             can_start
"""
from flask import abort, current_app, flash, g, has_request_context, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError
from wtforms import FileField, SelectField, TextAreaField

from app.extensions import db
from app.imports import spec as import_specs
from app.models.admission import (Admission, AdmissionKind, AdmissionListRow, AdmissionState, DuplicateState,
                                  EnrollmentPlan)
from app.models.org import OrgKind, OrgUnit
from app.models.requests import Request, RequestState
from app.models.school_year import SchoolYear
from app.models.student import Student
from app.services import admissions, grades, identity, privacy, scope, students
from app.services.context import current_actor
from app.services.errors import NotFound
from app.services.roles import RANK_COUNTY, actor_rank
from app.views.base import call_service
from app.views.graduation import MAX_ID, _audit_full, _int, _ints, _schools_in_scope
from app.views.movements import ProvinceInForm
from app.views.school_year import Page, _back, _errors, _is_school, _unit, _when
from app.views.students import (GUARDIAN_SLOTS, KEY_GROUP, OTHER_GROUPS, RECORD_FIELDS, REGISTRATION_DEFAULTS,
                                _attempt, _form_class, _guardian_data, _record_data, _uploads, form_errors,
                                other_provinces, render_form, request_url, submitted_message)

MENU = dict(category="Admission", category_label=_l("招生入学"), category_icon="fa-user-plus")
STALE = _l("该记录已被他人修改，请刷新后重试")
SHOWN_FAILURES = 20   # failures of a 统一招生录取 listed in the message; the rest are counted
STAGE_CHOICES = [("初中", _l("初中")), ("高中", _l("高中")), ("中职", _l("中职"))]


# ---------------------------------------------------------------- helpers

def _is_county(actor):
    unit = _unit(actor)
    return unit is not None and unit.kind == OrgKind.COUNTY and actor_rank(actor) <= RANK_COUNTY


def _version(value):
    """expected_version of a posted form: blank is none (a new row), a number as it is, anything
    else a version no row has (refused as stale, never a 500 nor a check skipped)."""
    value = str(value or "").strip()
    if not value:
        return None
    return int(value) if value.isdigit() and int(value) <= MAX_ID else -1


def _call(fn, *args, **kwargs):
    """call_service, and a form two people sent at the same moment (the row changed or was
    created meanwhile) is a Chinese message too, never a 500."""
    try:
        return call_service(fn, *args, **kwargs)
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        flash(str(STALE), "danger")
        return None, NotFound(str(STALE))


def _years(actor):
    """(years in scope, the chosen year, the admission year or None): the year of the query string
    (404 when unknown), else the year admissions go into, else the latest."""
    years = db.session.scalars(select(SchoolYear).where(scope.clause(actor, SchoolYear))
                               .order_by(SchoolYear.start_year.desc())).all()
    season = admissions.admission_year(db.session, required=False)
    wanted = request.values.get("year")
    if wanted:
        year = next((y for y in years if y.id == _int(wanted)), None)
        if year is None:
            abort(404)
    else:
        year = next((y for y in years if season is not None and y.id == season.id), None) or \
            (years[0] if years else None)
    return years, year, season


def _grade(code):
    return grades.grade_label(code) or code or ""


def _status(adm):
    """(css, label) of a list row's or an admission's state, in the officers' words."""
    if adm is None:
        return "info", _("待录取")
    if adm.state == AdmissionState.PENDING:
        if adm.duplicate is not None and adm.duplicate.state != DuplicateState.RESOLVED:
            return "danger", _("重复招生待处理")
        return "warning", _("录取待核办")
    css = {AdmissionState.ADMITTED: "success", AdmissionState.REJECTED: "danger"}.get(adm.state, "default")
    return css, str(adm.state.label)


def _import_links(spec_name):
    """Template and upload links of an import (spec) the account may use, else None (the spec is
    registered by app/imports/specs; the engine's page does the rest)."""
    sheet = import_specs.SPECS.get(spec_name)
    actor = current_actor()
    if sheet is None:
        return None
    try:
        if sheet.may_use:
            sheet.may_use(actor)
    except Exception:  # DomainError: not for this account
        return None
    sm = current_app.appbuilder.sm
    if not sm.has_access("can_upload", "ImportView"):
        return None
    return {"upload": url_for("ImportView.upload", spec=spec_name),
            "template": url_for("ImportView.template", spec=spec_name) if sm.has_access("can_template", "ImportView")
            else None}


class _View(BaseView):
    default_view = "list"

    def _can(self, permission):
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    @expose("/list/")
    @has_access
    def list(self):
        return self._page()

    @staticmethod
    def _context():
        """(actor, unit, years, year, season) of a page; an account without a unit has none."""
        actor = current_actor()
        if _unit(actor) is None:
            abort(404)
        return (actor, _unit(actor)) + _years(actor)


# ---------------------------------------------------------------- 招生计划

def _plan_rows(schools, year, only_planned=False):
    """Rows (school × entry grade) with the year's plan, seats held, admitted and the open change
    request; and their totals. Three queries whatever the number of schools."""
    ids = [s.id for s in schools]
    plans, admitted, changes = {}, {}, {}
    if ids and year is not None:
        plans = {(p.school_id, p.grade): p for p in db.session.scalars(select(EnrollmentPlan).where(
            EnrollmentPlan.year_id == year.id, EnrollmentPlan.school_id.in_(ids)))}
        plan_ids = [p.id for p in plans.values()]
        if plan_ids:
            admitted = dict(db.session.execute(
                select(Admission.plan_id, func.count()).where(Admission.plan_id.in_(plan_ids),
                                                              Admission.state == AdmissionState.ADMITTED)
                .group_by(Admission.plan_id)).all())
            for req in db.session.scalars(select(Request).where(
                    Request.type == admissions.PLAN_CHANGE, Request.state == RequestState.PENDING,
                    Request.school_id.in_(ids))):
                changes[(req.payload or {}).get("plan_id")] = req
    rows, total = [], {"quota": 0, "used": 0, "admitted": 0, "free": 0}
    for s in schools:
        taught = admissions.entry_grades_of(s)
        for grade in sorted(set(taught) | {gr for (sid, gr) in plans if sid == s.id}):
            p = plans.get((s.id, grade))
            if p is None and only_planned:
                continue
            row = {"school": s, "grade": grade, "grade_label": _grade(grade), "plan": p, "taught": grade in taught,
                   "quota": p.quota if p else None, "used": p.used if p else 0,
                   "admitted": admitted.get(p.id, 0) if p else 0, "free": p.free if p else None,
                   "change": changes.get(p.id) if p else None}
            row["pending"] = row["used"] - row["admitted"]
            if row["change"] is not None:
                row["change_url"] = request_url(row["change"])
            rows.append(row)
            if p is not None:
                for k in ("quota", "used", "admitted", "free"):
                    total[k] += row[k]
    return rows, total


def _county_schools(county):
    return db.session.scalars(select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL,
                                                    OrgUnit.path.startswith(county.path))
                              .order_by(OrgUnit.path)).all()


def _by_county(actor, year):
    """The province's or city's overview: per county (under its city for the province) the
    schools with plans, quota, seats held and admitted — grouped sums, not rows per school."""
    if year is None:
        return []
    held = db.session.execute(
        select(EnrollmentPlan.school_path, func.sum(EnrollmentPlan.quota), func.sum(EnrollmentPlan.used),
               func.count()).where(scope.clause(actor, EnrollmentPlan), EnrollmentPlan.year_id == year.id)
        .group_by(EnrollmentPlan.school_path)).all()
    done = dict(db.session.execute(
        select(Admission.school_path, func.count()).where(
            scope.clause(actor, Admission), Admission.year_id == year.id, Admission.state == AdmissionState.ADMITTED,
            Admission.school_path.startswith(scope.actor_path(actor) or "/-none-/"))
        .group_by(Admission.school_path)).all())
    groups = {}
    for path, quota, used, _n in held:
        parent = path.rsplit("/", 2)[0] + "/"
        line = groups.setdefault(parent, {"schools": 0, "quota": 0, "used": 0, "admitted": 0})
        line["schools"] += 1
        line["quota"] += int(quota or 0)
        line["used"] += int(used or 0)
        line["admitted"] += done.get(path, 0)
    units = {u.path: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.path.in_(list(groups))))}
    lines = []
    for path, line in sorted(groups.items()):
        u = units.get(path)
        lines.append({**line, "unit": u, "name": u.name if u else path, "free": line["quota"] - line["used"],
                      "pending": line["used"] - line["admitted"], "parent": path.rsplit("/", 2)[0] + "/",
                      "county": u if u is not None and u.kind == OrgKind.COUNTY else None})
    if _unit(actor).kind != OrgKind.PROVINCE:
        return [{"city": None, "lines": lines}]
    cities = {u.path: u for u in db.session.scalars(select(OrgUnit).where(
        OrgUnit.path.in_(list({line["parent"] for line in lines}))))}
    sections = []
    for parent in sorted({line["parent"] for line in lines}):
        members = [line for line in lines if line["parent"] == parent]
        sub = {k: sum(m[k] for m in members) for k in ("schools", "quota", "used", "admitted", "free", "pending")}
        sections.append({"city": cities.get(parent), "lines": members, "total": sub})
    return sections


class PlanView(_View):
    """招生计划: the county sets each school's quota (计划数) of the year's entry grade inline; a school
    sees its plans and asks its county for a change (变更申请, approved in 审批待办); the city and
    the province read the plans of their area by county, with the totals."""

    route_base = "/planview"
    title = _l("招生计划")

    def _page(self, errors=None, values=None):
        actor, unit, years, year, season = self._context()
        ctx = dict(title=self.title, years=years, year=year, season=season, errors=errors or {}, values=values or {},
                   county=None, rows=[], total=None, sections=None, mode="", may_set=False, may_request=False,
                   requests=[], inbox_url=None)
        county = None
        if unit.kind == OrgKind.COUNTY:
            county = unit
        elif unit.kind in (OrgKind.PROVINCE, OrgKind.CITY) and _int(request.args.get("county")) is not None:
            try:
                county = scope.get(db.session, actor, OrgUnit, _int(request.args.get("county")))
            except NotFound:
                abort(404)
            if county.kind != OrgKind.COUNTY:
                abort(404)
        if unit.kind == OrgKind.SCHOOL:
            ctx["rows"], ctx["total"] = _plan_rows([unit], year)
            ctx["mode"] = "school"
            ctx["may_request"] = _is_school(actor) and self._can("can_request_change")
            if year is not None:
                reqs = db.session.scalars(select(Request).where(
                    Request.type == admissions.PLAN_CHANGE, Request.school_id == unit.id, scope.clause(actor, Request))
                    .order_by(Request.created_at.desc(), Request.id.desc()).limit(20)).all()
                ctx["requests"] = [{"req": r, "url": request_url(r), "grade": _grade((r.payload or {}).get("grade")),
                                    "year": (r.payload or {}).get("year", ""), "from": (r.payload or {}).get("from"),
                                    "to": (r.payload or {}).get("to"), "created_at": _when(r.created_at)}
                                   for r in reqs]
        elif county is not None:
            ctx["rows"], ctx["total"] = _plan_rows(_county_schools(county), year,
                                                   only_planned=unit.kind != OrgKind.COUNTY)
            ctx["mode"], ctx["county"] = "county", county
            ctx["may_set"] = _is_county(actor) and unit.id == county.id and self._can("can_set")
            if ctx["may_set"] and self.appbuilder.sm.has_access("can_list", "InboxView"):
                ctx["inbox_url"] = url_for("InboxView.list")
        else:
            ctx["mode"] = "overview"
            ctx["sections"] = _by_county(actor, year)
            if year is not None:
                quota, held, admitted = admissions.plan_totals(db.session, actor, year.id)
                ctx["total"] = {"quota": quota, "used": held, "admitted": admitted, "free": quota - held,
                                "pending": held - admitted}
        ctx["up"] = unit.kind in (OrgKind.PROVINCE, OrgKind.CITY)
        return self.render_template("admission/plans.html", **ctx)

    @expose("/set", methods=["POST"])
    @has_access
    def set(self):
        f = {k: (request.form.get(k) or "").strip() for k in ("school", "grade", "quota", "version", "year")}
        plan, error = _call(admissions.set_plan, f["school"], f["grade"], f["quota"], year_id=f["year"] or None,
                            expected_version=_version(f["version"]))
        key = f"{f['school']}-{f['grade']}"
        if error is None:
            flash(_("已将%(school)s%(grade)s招生计划数设为 %(n)s 人", school=plan.school.name, grade=_grade(plan.grade),
                    n=plan.quota), "success")
            return redirect(url_for(".list", year=plan.year_id, _anchor=f"plan-{key}"))
        return self._page(errors={key: error.message}, values={key: f["quota"]})

    @expose("/request_change", methods=["POST"])
    @has_access
    def request_change(self):
        f = {k: (request.form.get(k) or "").strip() for k in ("plan", "quota", "reason", "year")}
        req, error = _call(admissions.request_plan_change, f["plan"], f["quota"], f["reason"])
        if error is None:
            flash(submitted_message(req, _("招生计划数变更申请")), "success")
            return redirect(url_for(".list", year=f["year"] or None))
        return self._page(errors={f"change-{f['plan']}": error.message}, values={f"change-{f['plan']}": f})


# ---------------------------------------------------------------- 招生结果管理 / 统一招生录取

def _list_row(actor, r):
    css, label = _status(r.admission)
    s = r.student
    return {"row": r, "id": r.id, "name": s.name if s else "",
            "xueji_no": privacy.shown_xueji(actor, s.xueji_no) or "" if s else "",
            "from_school": r.from_school.name if r.from_school else "",
            "to_school": r.to_school.name if r.to_school else "",
            "grade": _grade(r.grade), "score": "" if r.score is None else f"{float(r.score):g}",
            "css": css, "status": label, "outcome": (r.admission.outcome or "") if r.admission else "",
            "request_url": request_url(r.admission.request) if r.admission is not None and r.admission.request_id
            else None, "deletable": r.admission is None or not r.admission.live}


def _list_counts(actor, year):
    if year is None:
        return {}
    rows = db.session.execute(
        select(Admission.state, func.count()).select_from(AdmissionListRow)
        .outerjoin(Admission, Admission.id == AdmissionListRow.admission_id)
        .where(scope.clause(actor, AdmissionListRow), AdmissionListRow.year_id == year.id)
        .group_by(Admission.state)).all()
    counts = {(state.value if state is not None else "waiting"): n for state, n in rows}
    counts["total"] = sum(n for _s, n in rows)
    return counts


class AdmissionListView(_View):
    """招生结果管理 (county): the unified admission result — imported from the workbook on the import
    engine or added by hand, each row checked against the registry — with each row's state.
    统一招生录取 (school): the rows assigned to the school and still waiting; it ticks and admits
    them (each admission then goes to 新生录取核办). City and province read the lists of their area."""

    route_base = "/admissionlistview"

    def _page(self, form=None, errors=None):
        actor, unit, years, year, season = self._context()
        school_view = unit.kind == OrgKind.SCHOOL
        show_all = request.args.get("all") == "1"
        q = (request.args.get("q") or "").strip()[:40]
        waiting = school_view and not show_all or request.args.get("waiting") == "1"
        school_id = unit.id if school_view else _int(request.args.get("school"))
        code = "" if school_view else (request.args.get("school_code") or "").strip()
        if school_id is None and code:
            school_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.kind == OrgKind.SCHOOL,
                                                                   OrgUnit.school_code == code)) or -1
        page, rows = None, []
        if year is not None:
            stmt = admissions.list_rows_query(actor, year.id, school_id, waiting, q or None).options(
                selectinload(AdmissionListRow.student), selectinload(AdmissionListRow.from_school),
                selectinload(AdmissionListRow.to_school),
                selectinload(AdmissionListRow.admission).selectinload(Admission.duplicate),
                selectinload(AdmissionListRow.admission).selectinload(Admission.request))
            page = Page(stmt, _int(request.args.get("page")), 50)
            rows = [_list_row(actor, r) for r in page.items]
            _audit_full(actor, [r.student for r in page.items], "统一招生名单")
        manage = _is_county(actor) and year is not None and season is not None and year.id == season.id
        plans = []
        if school_view and year is not None:
            plans, _t = _plan_rows([unit], year)
        return self.render_template(
            "admission/list.html", title=_l("统一招生录取") if school_view else _l("招生结果管理"), years=years,
            year=year, season=season, school_view=school_view, page=page, rows=rows, counts=_list_counts(actor, year),
            f={"q": q, "waiting": waiting, "all": show_all, "school": school_id if not school_view else None,
               "school_code": code},
            schools=None if school_view else _schools_in_scope(actor), plans=plans,
            may_add=manage and self._can("can_add_row"), may_delete=manage and self._can("can_delete_row"),
            may_admit=_is_school(actor) and self._can("can_admit") and season is not None and year is not None
            and year.id == season.id,
            imports=_import_links("admission_list") if manage else None,
            form=form or {}, errors=errors or {}, stages=STAGE_CHOICES, here=request.full_path)

    @expose("/add_row", methods=["POST"])
    @has_access
    def add_row(self):
        form = {k: (request.form.get(k) or "").strip() for k in ("number", "name", "from_code", "to_code", "stage",
                                                                  "score")}
        row, error = _call(admissions.add_list_row, form)
        if error is None:
            flash(_("已将 %(name)s 加入招生结果：录取学校 %(school)s，%(grade)s", name=row.student.name,
                    school=row.to_school.name, grade=_grade(row.grade)), "success")
            return redirect(url_for(".list"))
        return self._page(form=form, errors=_errors(error))

    @expose("/delete_row/<int:pk>", methods=["POST"])
    @has_access
    def delete_row(self, pk):
        if pk > MAX_ID:
            abort(404)
        row = db.session.scalar(select(AdmissionListRow).where(AdmissionListRow.id == pk,
                                                               scope.clause(current_actor(), AdmissionListRow)))
        if row is None:
            abort(404)
        name = row.student.name if row.student else ""
        _result, error = _call(admissions.delete_list_row, pk)
        if error is None:
            flash(_("已从招生结果中删除 %(name)s", name=name), "success")
        return _back(url_for(".list"))

    @expose("/admit", methods=["POST"])
    @has_access
    def admit(self):
        actor = current_actor()
        ids = _ints(request.form.getlist("rowid"))
        if not ids:
            flash(_("请先勾选要录取的学生"), "warning")
            return _back(url_for(".list"))
        names = dict(db.session.execute(
            select(AdmissionListRow.id, Student.name).join(AdmissionListRow.student)
            .where(AdmissionListRow.id.in_(ids), scope.clause(actor, AdmissionListRow))).all())
        result, error = _call(admissions.admit_from_list, ids)
        if error is None:
            done, failed = result
            if done:
                flash(_("已录取 %(n)s 名学生，录取申请已提交县（区）教育局核办（新生录取核办）", n=len(done)), "success")
            if failed:
                shown = [f"{names.get(i, _('名单记录 %(id)s', id=i))}：{msg}"
                         for i, msg in list(failed.items())[:SHOWN_FAILURES]]
                more = len(failed) - len(shown)
                flash(_("%(n)s 名学生未能录取：", n=len(failed)) + "；".join(shown)
                      + (_("；另有 %(n)s 名", n=more) if more > 0 else ""), "danger")
        return _back(url_for(".list"))


# ---------------------------------------------------------------- 自主招生

def _admission_row(actor, a):
    css, label = _status(a)
    s = a.student
    return {"adm": a, "name": a.name, "xueji_no": privacy.shown_xueji(actor, s.xueji_no) if s is not None else "",
            "from_school": a.from_school.name if a.from_school else (a.from_school_name or ""),
            "school": a.school.name if a.school else "", "grade": _grade(a.grade),
            "score": "" if a.score is None else f"{float(a.score):g}", "css": css, "status": label,
            "outcome": a.outcome or "", "created_at": _when(a.created_at),
            "request_url": request_url(a.request) if a.request_id else None}


def _admissions_page(actor, kind, year):
    if year is None:
        return None, []
    school_id = actor.org_unit_id if _unit(actor) is not None and _unit(actor).kind == OrgKind.SCHOOL else None
    q = (request.args.get("q") or "").strip()[:40]
    stmt = admissions.admissions_query(actor, kind=kind, year_id=year.id, school_id=school_id, q=q or None).options(
        selectinload(Admission.student), selectinload(Admission.school), selectinload(Admission.from_school),
        selectinload(Admission.request), selectinload(Admission.duplicate))
    page = Page(stmt, _int(request.args.get("page")), 30)
    _audit_full(actor, [a.student for a in page.items if a.student is not None], "招生录取")
    return page, [_admission_row(actor, a) for a in page.items]


class SelfAdmissionView(_View):
    """自主招生: a school admits a graduate outside the county's list by 学籍号 (or 个人标识码) and
    name, or by the template workbook; across counties the graduate's home county approves too
    (外地就读学生核办). Below the form, the school's self-admissions of the year and their state."""

    route_base = "/selfadmissionview"
    title = _l("自主招生")

    def _page(self, form=None, errors=None):
        actor, unit, years, year, season = self._context()
        page, rows = _admissions_page(actor, AdmissionKind.SELF, year)
        school_view = unit.kind == OrgKind.SCHOOL
        may_admit = _is_school(actor) and self._can("can_admit")
        return self.render_template(
            "admission/self.html", title=self.title, years=years, year=year, season=season, page=page, rows=rows,
            school_view=school_view, may_admit=may_admit,
            grade_choices=[(gr, _grade(gr)) for gr in admissions.entry_grades_of(unit)] if school_view else [],
            plans=_plan_rows([unit], season)[0] if school_view and season is not None else [],
            imports=_import_links("self_admission") if may_admit else None,
            form=form or {}, errors=errors or {}, q=(request.args.get("q") or "").strip()[:40],
            search_url=url_for(".list"))

    @expose("/admit", methods=["POST"])
    @has_access
    def admit(self):
        form = {k: (request.form.get(k) or "").strip() for k in ("number", "name", "grade", "score", "reason")}
        adm, error = _call(admissions.self_admit, form["number"], form["name"], form["grade"] or None,
                           form["score"] or None, form["reason"] or None)
        if error is not None:
            return self._page(form=form, errors=_errors(error))
        req = adm.request
        message = _("已录取 %(name)s（%(grade)s）。", name=adm.name, grade=_grade(adm.grade)) + \
            submitted_message(req, _("录取申请"))
        if len(req.steps) > 1:
            home = req.steps[-1].org_unit
            message += _("；跨县（区）招生：还需生源地县（区）（%(county)s）核办", county=home.name if home else "")
        flash(message, "success")
        if adm.duplicate_id is not None:
            flash(_("该生同时被其他学校录取（重复招生），核办暂停：请在“重复招生”中撤销本校录取或佐证"), "warning")
        return redirect(url_for(".list"))


# ---------------------------------------------------------------- 调取新生档案 (跨省招生)

# The 跨省转入 form's fields, with the 说明 and attachments of an admission instead of a 转学原因.
ArchiveForm = _form_class("ArchiveAdmissionForm", RECORD_FIELDS, guardians=True, extra={
    **{k: getattr(ProvinceInForm, k) for k in ("from_province", "from_school", "xueji_no", "no_id_proof")},
    "grade": SelectField(_l("录取年级"), choices=[], validate_choice=False, description=_l("本校的起始年级")),
    "reason": TextAreaField(_l("说明"), description=_l("选填；如录取依据")),
    "evidence": FileField(_l("证明材料"), description=_l("选填；如录取通知书、原学校出具的毕业证明，扫描件或照片，不超过 10 MB")),
})


class ArchiveAdmissionView(_View):
    """调取新生档案 (跨省招生): the school admits a graduate of another province; the record arrives by
    its 学籍号 with the data entered here, like a 跨省转入. The county approves, then the province
    confirms with the other province; on approval the record is written in the entry grade."""

    route_base = "/archiveadmissionview"
    title = _l("调取新生档案")

    def _page(self):
        actor, unit, years, year, season = self._context()
        page, rows = _admissions_page(actor, AdmissionKind.ARCHIVE, year)
        return self.render_template(
            "admission/archive.html", title=self.title, years=years, year=year, season=season, page=page, rows=rows,
            school_view=unit.kind == OrgKind.SCHOOL,
            may_start=_is_school(actor) and self._can("can_start"), q=(request.args.get("q") or "").strip()[:40],
            search_url=url_for(".list"))

    @expose("/start", methods=["GET", "POST"])
    @has_access
    def start(self):
        actor = current_actor()
        school = _unit(actor)
        if not _is_school(actor):
            flash(_("调取新生档案由录取学校办理"), "warning")
            return redirect(url_for(".list"))
        error = None
        if request.method == "POST":
            form = ArchiveForm()
            form.grade.choices = [(gr, _grade(gr)) for gr in admissions.entry_grades_of(school)]
            result, error = _attempt(lambda session, actor: admissions.archive_admit(
                session, actor, _record_data(form, RECORD_FIELDS), _guardian_data(form),
                from_province=form.from_province.data, from_school=form.from_school.data, xueji_no=form.xueji_no.data,
                attachments=_uploads(session, actor, [("no_id_proof", students.NO_ID_PROOF),
                                                      ("evidence", students.EVIDENCE)]),
                reason=form.reason.data))
            if error is None:
                adm, warnings = result
                for message in warnings:
                    flash(message, "info")
                flash(_("已录取 %(name)s（%(grade)s）。", name=adm.name, grade=_grade(adm.grade))
                      + submitted_message(adm.request, _("调取新生档案申请")), "success")
                return redirect(request_url(adm.request) or url_for(".list"))
        else:
            season = admissions.admission_year(db.session, required=False)
            initial = {**REGISTRATION_DEFAULTS, **{f"g{i}_id_type": identity.MAINLAND_ID for i in GUARDIAN_SLOTS},
                       "enrollment_month": f"{season.start_year}-09" if season is not None else ""}
            form = ArchiveForm(formdata=None, data=initial)
            form.grade.choices = [(gr, _grade(gr)) for gr in admissions.entry_grades_of(school)]
        form.from_province.choices = [("", _("（请选择）"))] + other_provinces(actor)
        intro = _("录取外省毕业生（跨省招生）：按原省份的学籍号录入学生的完整信息，录取年级为本校的起始年级，占用本校招生计划数。"
                  "提交后由县（区）教育局核办，再由省级教育行政部门与原省份确认调取档案；办结后在本校建立学籍，学籍号不变。"
                  "本省毕业生请办理自主招生。")
        return render_form(self, form, _l("调取新生档案"),
                           groups=[(_l("原学籍信息"), ["from_province", "from_school", "xueji_no"]), KEY_GROUP]
                           + OTHER_GROUPS, guardians=True, errors=form_errors(error), multipart=True, intro=intro,
                           extra_fields=["reason", "no_id_proof", "evidence"], submit=_l("提交调取新生档案申请"),
                           cancel_url=url_for(".list"))


# ---------------------------------------------------------------- menu

def _list_label():
    """The menu entry reads 统一招生录取 for a school, 招生结果管理 for the authorities."""
    user = getattr(g, "user", None) if has_request_context() else None
    unit = getattr(user, "org_unit", None)
    return _("统一招生录取") if unit is not None and unit.kind == OrgKind.SCHOOL else _("招生结果管理")


def register(appbuilder):
    appbuilder.add_view(PlanView, "Plans", label=_l("招生计划"), icon="fa-list-ol", **MENU)
    appbuilder.add_view(AdmissionListView, "AdmissionList", label=LazyString(_list_label), icon="fa-clipboard", **MENU)
    appbuilder.add_view(SelfAdmissionView, "SelfAdmission", label=_l("自主招生"), icon="fa-user-plus", **MENU)
    appbuilder.add_view(ArchiveAdmissionView, "ArchiveAdmission", label=_l("调取新生档案"), icon="fa-folder-open", **MENU)
