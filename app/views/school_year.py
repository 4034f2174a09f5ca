"""学年学期, 班级 (分班), 升级记录 and 学年报告 screens.

Thin, like every screen: the rules (who opens a year or runs the 升级, which dates are valid, whose
classes and students these are, which students the promotion held back and why) live in
app/services/school_years.py and app/services/promotion.py. These views read the request, call the
services as the logged-in account through `call_service` (commit; a row outside the account's
scope is a 404; any other refusal is flashed in Chinese and rolled back) and render the result.
Buttons are shown only where they make sense; the services check everything again.

URLs
  /schoolyearview/list/                 学年学期 (every level reads)                       can_list
  /schoolyearview/add                   设置学年 (province)                                can_add
  /schoolyearview/edit/<pk>             dates and 升级时点 of a year (province)             can_edit
  /schoolyearview/term/<pk>             dates of a term (province)                         can_edit
  /classview/list/?school=&county=      a school's classes by grade (county and up pick a school)  can_list
  /classview/add                        add N classes to a grade (school)                  can_add
  /classview/edit/<pk>                  班主任 / 班号                                        can_edit
  /classview/delete/<pk>                delete an empty class                              can_delete
  /classview/show/<pk>                  one class: its students; 分班 candidates (school)   can_show
  /classview/assign/<pk>                put the ticked students into the class              can_assign
  /promotionview/list/                  the runs, the next time point, 立即升级 (province)  can_list
  /promotionview/run                    confirm and run the 升级 of a year (province)       can_run
  /promotionview/revert/<pk>            撤销 a run within its grace period (province)       can_revert
  /promotionview/show/<pk>              one run and its held students in scope              can_show
  /promotionview/promote_held/<pk>      补升级 (county and up)                               can_promote_held
  /yearendreportview/list/?year=&county=  学年报告 in scope                                 can_list
  /yearendreportview/download?year=&county=  the same table as .xlsx                        can_list
"""
import io
import math
import re

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.org import OrgKind, OrgUnit
from app.models.school_year import (HoldReason, PromotionHold, PromotionRun, PromotionState, SchoolClass,
                                    SchoolTerm, SchoolYear)
from app.models.student import Student
from app.services import clock, grades, promotion, school_years, scope
from app.services.context import current_actor
from app.services.errors import NotFound
from app.services.roles import RANK_COUNTY, RANK_PROVINCE, RANK_SCHOOL, actor_rank
from app.views.base import call_service

PAGE_SIZE = 30
CANDIDATE_PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---------------------------------------------------------------- helpers

def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _unit(actor):
    return getattr(actor, "org_unit", None)


def _is_school(actor):
    unit = _unit(actor)
    return unit is not None and unit.kind == OrgKind.SCHOOL and actor_rank(actor) <= RANK_SCHOOL


def _is_province(actor):
    """Province administrators (not the read-only accounts): they open years and run the 升级."""
    unit = _unit(actor)
    return unit is not None and unit.kind == OrgKind.PROVINCE and actor_rank(actor) <= RANK_PROVINCE


def _is_county_or_up(actor):
    unit = _unit(actor)
    return unit is not None and unit.kind != OrgKind.SCHOOL and actor_rank(actor) <= RANK_COUNTY


time_point = school_years.time_point_text  # "2027-08-10 24:00", as the form takes it


def _date(value):
    return value.strftime("%Y-%m-%d") if value else ""


def _when(value):
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _person(account):
    if account is None:
        return ""
    return account.real_name or account.username


def _errors(error):
    """{field: message} of a refused form (the service names the field when it knows it)."""
    if error is None:
        return {}
    return {error.field or "_form": error.message}


def _back(default):
    target = request.form.get("next") or ""
    return redirect(get_safe_redirect(target) if target.startswith("/") else default)


class Page:
    """One page of a statement, for the pagination macro of the approval screens."""

    def __init__(self, stmt, number, size=PAGE_SIZE):
        self.total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        self.pages = max(math.ceil(self.total / size), 1)
        self.number = min(max(number or 1, 1), self.pages)
        self.items = db.session.scalars(stmt.limit(size).offset((self.number - 1) * size)).all()

    def url(self, number):
        args = request.args.to_dict()
        args["page"] = number
        return url_for(request.endpoint, **request.view_args, **args)


class _View(BaseView):
    default_view = "list"

    def _can(self, permission):
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    @staticmethod
    def _get(model, pk):
        try:
            return scope.get(db.session, current_actor(), model, pk)
        except NotFound:
            abort(404)


# ---------------------------------------------------------------- 学年学期

class SchoolYearView(_View):
    """学年学期: every account reads the province's calendar; province administrators open years
    and change dates and the 升级时点 (until the year's promotion has run)."""

    route_base = "/schoolyearview"
    title = _l("学年学期")

    def _status(self, year, standing, reverted, now):
        if standing is not None:
            how = _("定时") if standing.scheduled else _("手工")
            return ("success", _("已升级"), _("%(time)s（%(how)s执行）", time=_when(standing.ran_at), how=how))
        if year.promotion_at is not None and year.promotion_at > now:
            return ("info", _("待升级"), _("将于 %(time)s 自动升级", time=time_point(year.promotion_at)))
        if year.id in reverted:  # an undone promotion is not repeated at the same time point (promotion.due_year)
            return ("warning", _("已撤销"), _("升级已撤销；可重新设置升级时点，或由省级管理员立即升级"))
        return ("warning", _("未升级"), _("升级时点已过，可由省级管理员立即升级"))

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        years = db.session.scalars(select(SchoolYear).where(scope.clause(actor, SchoolYear))
                                   .options(selectinload(SchoolYear.terms))
                                   .order_by(SchoolYear.start_year.desc())).all()
        standing = {r.year_id: r for r in db.session.scalars(
            select(PromotionRun).where(PromotionRun.state == PromotionState.DONE))}
        reverted = set(db.session.scalars(select(PromotionRun.year_id).where(
            PromotionRun.state == PromotionState.REVERTED)))
        current = school_years.current_year(db.session)
        term = school_years.current_term(db.session)
        now = clock.now()
        manage = _is_province(actor)
        rows = []
        for y in years:
            rows.append({
                "year": y, "current": current is not None and current.id == y.id,
                "starts_on": _date(y.starts_on), "ends_on": _date(y.ends_on),
                "promotion_at": time_point(y.promotion_at),
                "terms": [{"term": t, "starts_on": _date(t.starts_on), "ends_on": _date(t.ends_on),
                           "current": term is not None and term.id == t.id} for t in y.terms],
                "status": self._status(y, standing.get(y.id), reverted, now),
                "may_edit": manage and y.id not in standing and self._can("can_edit"),
            })
        return self.render_template(
            "school_year/years.html", title=self.title, rows=rows, current=current, term=term,
            may_add=manage and self._can("can_add"), may_edit_terms=manage and self._can("can_edit"))

    def _form(self, data, errors, year=None):
        title = _("修改学年：%(name)s", name=year.name) if year is not None else _("设置学年")
        action = url_for(".edit", pk=year.id) if year is not None else url_for(".add")
        return self.render_template("school_year/year_form.html", title=title, data=data, errors=errors,
                                    action=action, year=year)

    @staticmethod
    def _posted(*names):
        return {k: (request.form.get(k) or "").strip() for k in names}

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        if request.method == "POST":
            data = self._posted("start_year", "starts_on", "ends_on", "promotion_at")
            year, error = call_service(school_years.open_year, data)
            if error is None:
                flash(_("已设置%(name)s：%(start)s 至 %(end)s，升级时点 %(time)s",
                        name=year.name, start=_date(year.starts_on), end=_date(year.ends_on),
                        time=time_point(year.promotion_at)), "success")
                return redirect(url_for(".list"))
            return self._form(data, _errors(error))
        if not _is_province(current_actor()):
            flash(_("只有省级管理员可以设置学年学期"), "warning")
            return redirect(url_for(".list"))
        latest = db.session.scalar(select(func.max(SchoolYear.start_year)))
        start = latest + 1 if latest else school_years.year_start_of(clock.today())
        return self._form({"start_year": str(start), "starts_on": "", "ends_on": "", "promotion_at": ""}, {})

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        year = self._get(SchoolYear, pk)
        if request.method == "POST":
            data = self._posted("starts_on", "ends_on", "promotion_at", "version")
            _result, error = call_service(school_years.update_year, pk, data, _int(data["version"]))
            if error is None:
                year = db.session.get(SchoolYear, pk)
                flash(_("已修改%(name)s：%(start)s 至 %(end)s，升级时点 %(time)s",
                        name=year.name, start=_date(year.starts_on), end=_date(year.ends_on),
                        time=time_point(year.promotion_at)), "success")
                return redirect(url_for(".list"))
            return self._form(data, _errors(error), db.session.get(SchoolYear, pk))
        if not _is_province(current_actor()):
            flash(_("只有省级管理员可以设置学年学期"), "warning")
            return redirect(url_for(".list"))
        return self._form({"starts_on": _date(year.starts_on), "ends_on": _date(year.ends_on),
                           "promotion_at": time_point(year.promotion_at), "version": year.version}, {}, year)

    @expose("/term/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("edit")
    def term(self, pk):
        term = self._get(SchoolTerm, pk)
        errors = {}
        if request.method == "POST":
            data = self._posted("starts_on", "ends_on")
            _result, error = call_service(school_years.update_term, pk, data)
            if error is None:
                term = db.session.get(SchoolTerm, pk)
                flash(_("已修改%(name)s：%(start)s 至 %(end)s", name=str(term), start=_date(term.starts_on),
                        end=_date(term.ends_on)), "success")
                return redirect(url_for(".list"))
            errors = _errors(error)
            term = db.session.get(SchoolTerm, pk)
        else:
            if not _is_province(current_actor()):
                flash(_("只有省级管理员可以设置学年学期"), "warning")
                return redirect(url_for(".list"))
            data = {"starts_on": _date(term.starts_on), "ends_on": _date(term.ends_on)}
        return self.render_template("school_year/term_form.html", title=_("修改学期：%(name)s", name=str(term)),
                                    data=data, errors=errors, term=term)


# ---------------------------------------------------------------- 班级 and 分班

def _split_teachers(text):
    return [t for t in re.split(r"[,，、;；\s]+", text or "") if t]


class ClassView(_View):
    """班级管理: a school keeps its classes (建班, 班主任, 班号, 删除空班) and puts its students into
    them (分班). County and higher accounts pick a school in their area and read."""

    route_base = "/classview"
    title = _l("班级管理")

    # ------------------------------------------------------------ which school

    def _picked_school(self, actor):
        """(school or None, picker): a school account's own school; others pick one in scope
        (city and province first pick the county). A school outside the scope is a 404."""
        unit = _unit(actor)
        if unit is None:
            abort(404)
        if unit.kind == OrgKind.SCHOOL:
            return unit, None
        school = None
        if _int(request.args.get("school")) is not None:
            school = self._get(OrgUnit, _int(request.args.get("school")))
            if school.kind != OrgKind.SCHOOL:
                abort(404)
        county = None
        if _int(request.args.get("county")) is not None:
            county = self._get(OrgUnit, _int(request.args.get("county")))
            if county.kind != OrgKind.COUNTY:
                abort(404)
        if unit.kind == OrgKind.COUNTY:
            county = unit
        elif school is not None:
            county = school.parent
        counties = []
        if unit.kind in (OrgKind.PROVINCE, OrgKind.CITY):
            counties = db.session.scalars(select(OrgUnit).where(
                scope.clause(actor, OrgUnit), OrgUnit.kind == OrgKind.COUNTY).order_by(OrgUnit.path)).all()
        schools = []
        if county is not None:
            schools = db.session.scalars(select(OrgUnit).where(
                scope.clause(actor, OrgUnit), OrgUnit.kind == OrgKind.SCHOOL,
                OrgUnit.path.startswith(county.path)).order_by(OrgUnit.path)).all()
        return school, {"counties": counties, "county": county, "schools": schools}

    # ------------------------------------------------------------ the list

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        school, picker = self._picked_school(actor)
        return self._list_page(actor, school, picker, {})

    def _list_page(self, actor, school, picker, form, errors=None):
        groups, totals = [], {"classes": 0, "students": 0, "unassigned": 0}
        manage = _is_school(actor) and school is not None and school.id == actor.org_unit_id
        if school is not None:
            classes = school_years.classes_of(db.session, school)
            counts = school_years.class_counts(db.session, [c.id for c in classes])
            stats = {g: (n, free) for g, n, free in db.session.execute(
                select(Student.grade, func.count(), func.count().filter(Student.class_id.is_(None)))
                .where(Student.school_id == school.id, Student.status.in_(school_years.CLASS_STATUSES))
                .group_by(Student.grade))}
            taught = list(grades.grades_of(school))
            shown = taught + sorted({c.grade for c in classes} - set(taught))
            for g in shown:
                rows = []
                for c in (c for c in classes if c.grade == g):
                    n, boys, girls = counts.get(c.id, (0, 0, 0))
                    rows.append({"cls": c, "n": n, "boys": boys, "girls": girls})
                n, free = stats.get(g, (0, 0))
                groups.append({"grade": g, "label": grades.grade_label(g) or g, "rows": rows, "students": n,
                               "unassigned": free, "final": grades.is_final(school, g)})
                totals["classes"] += len(rows)
                totals["students"] += n
                totals["unassigned"] += free
        return self.render_template(
            "school_year/classes.html", title=self.title, school=school, picker=picker, groups=groups,
            totals=totals, schooling=grades.schooling_label(school) if school is not None else "",
            grade_choices=[(g, grades.grade_label(g) or g) for g in grades.grades_of(school)] if school else [],
            form=form, errors=errors or {}, may_add=manage and self._can("can_add"),
            may_edit=manage and self._can("can_edit"), may_delete=manage and self._can("can_delete"),
            may_assign=manage and self._can("can_assign"), max_classes=school_years.MAX_CLASSES_PER_GRADE)

    def _list_url(self, cls=None, grade=None):
        actor = current_actor()
        anchor = f"grade-{grade}" if grade else None
        if _is_school(actor) or cls is None:
            return url_for(".list", _anchor=anchor)
        return url_for(".list", school=cls.school_id, _anchor=anchor)

    # ------------------------------------------------------------ 建班, edit, delete

    @expose("/add", methods=["POST"])
    @has_access
    def add(self):
        actor = current_actor()
        form = {k: (request.form.get(k) or "").strip() for k in ("school", "grade", "count", "head_teachers")}
        school_id = None if _is_school(actor) else _int(form["school"])
        made, error = call_service(school_years.create_classes, school_id, form["grade"], form["count"],
                                   _split_teachers(form["head_teachers"]))
        if error is None:
            first = made[0]
            flash(_("已在%(grade)s增加 %(n)s 个班：%(names)s", grade=grades.grade_label(first.grade),
                    n=len(made), names="、".join(c.name for c in made)), "success")
            if _is_school(actor):
                return redirect(url_for(".list", _anchor=f"grade-{first.grade}"))
            return redirect(url_for(".list", school=first.school_id, _anchor=f"grade-{first.grade}"))
        if not _is_school(actor):
            return redirect(url_for(".list", school=school_id) if school_id else url_for(".list"))
        school, picker = _unit(actor), None
        return self._list_page(actor, school, picker, form, _errors(error))

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        cls = self._get(SchoolClass, pk)
        errors = {}
        if request.method == "POST":
            data = {k: (request.form.get(k) or "").strip() for k in ("head_teacher", "class_no", "version")}
            _result, error = call_service(school_years.update_class, pk, data, _int(data["version"]))
            if error is None:
                cls = db.session.get(SchoolClass, pk)
                flash(_("已保存%(cls)s", cls=str(cls)), "success")
                return redirect(self._list_url(cls, cls.grade))
            errors = _errors(error)
            cls = db.session.get(SchoolClass, pk)
        else:
            data = {"head_teacher": cls.head_teacher or "", "class_no": str(cls.class_no), "version": cls.version}
        return self.render_template("school_year/class_form.html", title=_("编辑班级：%(cls)s", cls=str(cls)),
                                    cls=cls, data=data, errors=errors, back=self._list_url(cls, cls.grade))

    @expose("/delete/<int:pk>", methods=["POST"])
    @has_access
    def delete(self, pk):
        cls = self._get(SchoolClass, pk)
        name, back = str(cls), self._list_url(cls, cls.grade)
        _result, error = call_service(school_years.delete_class, pk)
        if error is None:
            flash(_("已删除%(cls)s", cls=name), "success")
        return redirect(back)

    # ------------------------------------------------------------ one class and 分班

    def _candidates(self, cls, q, only_free):
        stmt = (select(Student).where(Student.school_id == cls.school_id, Student.grade == cls.grade,
                                      Student.status.in_(school_years.CLASS_STATUSES),
                                      or_(Student.class_id.is_(None), Student.class_id != cls.id),
                                      scope.clause(current_actor(), Student))
                .order_by(Student.class_id.is_not(None), Student.class_name, Student.name, Student.id))
        if only_free:
            stmt = stmt.where(Student.class_id.is_(None))
        if q:
            stmt = stmt.where(or_(Student.name.contains(q, autoescape=True),
                                  Student.name_initials.startswith(q.lower(), autoescape=True)))
        return stmt

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        actor = current_actor()
        cls = self._get(SchoolClass, pk)
        members = db.session.scalars(select(Student).where(
            Student.class_id == cls.id, Student.status.in_(school_years.CLASS_STATUSES),
            scope.clause(actor, Student)).order_by(Student.gender, Student.name, Student.id)).all()
        boys = sum(1 for s in members if s.gender == "1")
        may_assign = (_is_school(actor) and cls.school_id == actor.org_unit_id and cls.active
                      and self._can("can_assign"))
        q = (request.args.get("q") or "").strip()
        only_free = request.args.get("free") == "1"
        page = Page(self._candidates(cls, q, only_free), _int(request.args.get("page")), CANDIDATE_PAGE_SIZE) \
            if may_assign else None
        return self.render_template(
            "school_year/class_show.html", title=str(cls), cls=cls, school=cls.school, members=members,
            grade_label=grades.grade_label(cls.grade) or cls.grade,
            boys=boys, girls=len(members) - boys, may_assign=may_assign, page=page,
            f={"q": q, "free": "1" if only_free else ""}, back=self._list_url(cls, cls.grade),
            may_edit=_is_school(actor) and self._can("can_edit"))

    @expose("/assign/<int:pk>", methods=["POST"])
    @has_access
    def assign(self, pk):
        self._get(SchoolClass, pk)
        ids = request.form.getlist("student_id")
        done, error = call_service(school_years.assign_students, pk, ids)
        if error is None:
            cls = db.session.get(SchoolClass, pk)
            flash(_("已将 %(n)s 名学生分入%(cls)s", n=len(done), cls=str(cls)), "success")
        return _back(url_for(".show", pk=pk))


# ---------------------------------------------------------------- 升级

class PromotionView(_View):
    """升级记录: the runs with their counts; the province runs the 升级 of a year by hand (立即升级)
    and undoes a run within its grace period; a run's page lists the students it held back, in
    the account's area, and county and higher administrators 补升级 them once the reason is gone."""

    route_base = "/promotionview"
    title = _l("升级")

    def _may_revert(self, run, now):
        return (_is_province(current_actor()) and run.state == PromotionState.DONE and now <= run.grace_until
                and self._can("can_revert"))

    def _run_row(self, run, now):
        return {
            "run": run, "year": run.year.name if run.year else "", "ran_at": _when(run.ran_at),
            "how": _("定时") if run.scheduled else _("手工"),
            "ran_by": _person(run.ran_by) if run.ran_by_id else _("定时任务"),
            "grace_until": _when(run.grace_until), "expired": now > run.grace_until,
            "reverted_at": _when(run.reverted_at), "reverted_by": _person(run.reverted_by),
            "may_revert": self._may_revert(run, now),
        }

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        now = clock.now()
        runs = db.session.scalars(select(PromotionRun).where(scope.clause(actor, PromotionRun))
                                  .options(selectinload(PromotionRun.year), selectinload(PromotionRun.ran_by),
                                           selectinload(PromotionRun.reverted_by))
                                  .order_by(PromotionRun.ran_at.desc(), PromotionRun.id.desc())).all()
        nxt = promotion.next_time_point(db.session)
        next_year = db.session.scalar(select(SchoolYear).where(SchoolYear.promotion_at == nxt)) if nxt else None
        may_run = _is_province(actor) and self._can("can_run")
        runnable = []
        if may_run:
            done = select(PromotionRun.year_id).where(PromotionRun.state == PromotionState.DONE)
            runnable = db.session.scalars(select(SchoolYear).where(SchoolYear.id.not_in(done))
                                          .order_by(SchoolYear.start_year.desc())).all()
        return self.render_template(
            "school_year/promotions.html", title=_l("升级记录"), rows=[self._run_row(r, now) for r in runs],
            next_time=time_point(nxt), next_year=next_year, may_run=may_run, runnable=runnable,
            grace_days=current_app.config.get("PROMOTION_GRACE_DAYS", 14))

    @expose("/run", methods=["GET", "POST"])
    @has_access
    def run(self):
        """立即升级: a page that says what will happen, then the POST that does it."""
        actor = current_actor()
        year_id = _int(request.values.get("year"))
        if request.method == "POST":
            run, error = call_service(promotion.run, year_id if year_id is not None else "")
            if error is None:
                flash(_("%(year)s已升级：升级学生 %(promoted)s 名，班级 %(classes)s 个，留在原年级 %(held)s 名；"
                        "%(until)s 前可以撤销", year=run.year.name, promoted=run.promoted, classes=run.classes,
                        held=run.held, until=_when(run.grace_until)), "success")
                return redirect(url_for(".show", pk=run.id))
            return redirect(url_for(".list"))
        if not _is_province(actor):
            flash(_("只有省级管理员可以执行升级"), "warning")
            return redirect(url_for(".list"))
        year = db.session.get(SchoolYear, year_id) if year_id is not None else None
        if year is None:
            flash(_("请选择要升级的学年"), "warning")
            return redirect(url_for(".list"))
        standing = promotion.standing_run(db.session, year)
        now = clock.now()
        counts = dict(db.session.execute(select(Student.status, func.count()).where(
            Student.status.in_(school_years.CLASS_STATUSES), scope.clause(actor, Student))
            .group_by(Student.status)).all())
        return self.render_template(
            "school_year/run_confirm.html", title=_("立即升级：%(year)s", year=year.name), year=year,
            standing=standing, time=time_point(year.promotion_at),
            early=year.promotion_at is not None and year.promotion_at > now,
            counts=[(status, n) for status, n in counts.items()],
            grace_days=current_app.config.get("PROMOTION_GRACE_DAYS", 14))

    @expose("/revert/<int:pk>", methods=["GET", "POST"])
    @has_access
    def revert(self, pk):
        run = self._get(PromotionRun, pk)
        errors, reason = {}, ""
        if request.method == "POST":
            reason = (request.form.get("reason") or "").strip()
            result, error = call_service(promotion.revert, pk, reason)
            if error is None:
                reverted, back = result
                flash(_("已撤销%(run)s：%(n)s 名学生退回原年级", run=str(reverted), n=back), "success")
                return redirect(url_for(".list"))
            errors = _errors(error)
            run = db.session.get(PromotionRun, pk)
        elif not _is_province(current_actor()):
            flash(_("只有省级管理员可以撤销升级"), "warning")
            return redirect(url_for(".list"))
        return self.render_template("school_year/revert_form.html", title=_("撤销升级：%(run)s", run=str(run)),
                                    row=self._run_row(run, clock.now()), reason=reason, errors=errors)

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        actor = current_actor()
        run = self._get(PromotionRun, pk)
        school_id = _int(request.args.get("school"))
        reason = next((r for r in HoldReason if r.value == request.args.get("reason")), None)
        stmt = promotion.held_students_query(actor, run.id, school_id, reason).options(
            selectinload(PromotionHold.student), selectinload(PromotionHold.school),
            selectinload(PromotionHold.request))
        page = Page(stmt, _int(request.args.get("page")))
        mine = scope.actor_path(actor) or "/-none-/"
        from app.views.students import request_url
        rows = [{
            "hold": h, "name": h.student.name if h.student else "",
            "student_url": url_for("StudentView.show", pk=h.student_id)
            if h.student is not None and h.student.school is not None
            and scope.path_within(h.student.school.path, mine) else None,
            "school": h.school.name if h.school else "", "grade": grades.grade_label(h.grade) or h.grade,
            "request_url": request_url(h.request) if h.request_id else None,
            "promoted_later_at": _when(h.promoted_later_at),
        } for h in page.items]
        in_scope = scope.clause(actor, PromotionHold)
        by_reason = dict(db.session.execute(select(PromotionHold.reason, func.count()).where(
            PromotionHold.run_id == run.id, in_scope).group_by(PromotionHold.reason)).all())
        waiting = db.session.scalar(select(func.count()).select_from(PromotionHold).where(
            PromotionHold.run_id == run.id, in_scope, PromotionHold.promoted_later_at.is_(None),
            PromotionHold.reason != HoldReason.NOT_GRADUATED))
        schools = db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(
            select(PromotionHold.school_id).where(PromotionHold.run_id == run.id, in_scope).distinct()))
            .order_by(OrgUnit.path)).all()
        return self.render_template(
            "school_year/promotion_show.html", title=str(run), row=self._run_row(run, clock.now()), rows=rows,
            page=page, reasons=[(r.value, r.label) for r in HoldReason],
            by_reason=[(r, by_reason.get(r, 0)) for r in HoldReason], schools=schools,
            f={"school": school_id or "", "reason": reason.value if reason else ""}, waiting=waiting,
            may_promote=(_is_county_or_up(actor) and run.state == PromotionState.DONE
                         and self._can("can_promote_held")))

    @expose("/promote_held/<int:pk>", methods=["POST"])
    @has_access
    def promote_held(self, pk):
        run = self._get(PromotionRun, pk)
        school_id = _int(request.form.get("school"))
        done, error = call_service(promotion.promote_held, run.id, school_id)
        if error is None:
            if done:
                flash(_("已补升级 %(n)s 名学生", n=len(done)), "success")
            else:
                flash(_("没有可以补升级的学生：留级原因仍在（仍休学或业务尚未办结），或学生已转学、已调整年级"), "info")
        return _back(url_for(".show", pk=pk))


# ---------------------------------------------------------------- 学年报告

COUNT_KEYS = ("promoted", "graduated", "rejected", "suspended", "open_request", "not_graduated", "held")


def _add(total, row):
    for k in COUNT_KEYS:
        total[k] = total.get(k, 0) + row.get(k, 0)
    return total


class YearEndReportView(_View):
    """学年报告: per county (city and province) or per school, the year's 升级, 毕业, 驳回 and the
    students left in their grade by reason; the held numbers link to the list of those students."""

    route_base = "/yearendreportview"
    title = _l("学年报告")

    def _report(self):
        """(year, run, years, table, county, rows_by_school) for the request's year and county."""
        actor = current_actor()
        years = db.session.scalars(select(SchoolYear).where(scope.clause(actor, SchoolYear))
                                   .order_by(SchoolYear.start_year.desc())).all()
        year = next((y for y in years if y.id == _int(request.args.get("year"))), None)
        if year is None and request.args.get("year"):
            abort(404)
        if year is None:
            promoted = set(db.session.scalars(select(PromotionRun.year_id).where(
                PromotionRun.state == PromotionState.DONE)))
            current = school_years.current_year(db.session)
            year = next((y for y in years if y.id in promoted), None) or current or (years[0] if years else None)
        if year is None:
            return None, None, years, None, None, []
        run, rows = promotion.year_end_report(db.session, actor, year)
        unit = _unit(actor)
        county = None
        if _int(request.args.get("county")) is not None:
            county = self._get(OrgUnit, _int(request.args.get("county")))
            if county.kind != OrgKind.COUNTY:
                abort(404)
        by_county = unit is not None and unit.kind in (OrgKind.PROVINCE, OrgKind.CITY) and county is None
        if county is not None:
            rows = [r for r in rows if r["county_path"] == county.path]
        if by_county:
            groups = {}
            for r in rows:
                _add(groups.setdefault(r["county_path"], {}), r)
            units = {u.path: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.path.in_(list(groups))))}
            lines = [{"unit": units.get(path), "name": units[path].name if path in units else path,
                      "school": None, "county": units.get(path), "parent_path": path.rsplit("/", 2)[0] + "/",
                      **counts}
                     for path, counts in sorted(groups.items())]
        else:
            lines = [{"unit": r["school"], "name": r["school"].name, "school": r["school"], "county": None,
                      "parent_path": r["county_path"], **{k: r[k] for k in COUNT_KEYS}} for r in rows]
        total = {}
        for line in lines:
            _add(total, line)
        # The province's counties come under their city, with the city's subtotal.
        sections = [{"city": None, "name": "", "lines": lines}] if lines else []
        if by_county and unit.kind == OrgKind.PROVINCE:
            paths = sorted({line["parent_path"] for line in lines})
            cities = {u.path: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.path.in_(paths)))}
            sections = []
            for path in paths:
                members = [line for line in lines if line["parent_path"] == path]
                subtotal = {}
                for line in members:
                    _add(subtotal, line)
                sections.append({"city": cities.get(path), "name": cities[path].name if path in cities else path,
                                 "total": subtotal, "lines": members})
        table = {"by_county": by_county, "lines": lines, "sections": sections,
                 "total": {k: total.get(k, 0) for k in COUNT_KEYS}}
        return year, run, years, table, county, rows

    @expose("/list/")
    @has_access
    def list(self):
        year, run, years, table, county, _rows = self._report()
        return self.render_template(
            "school_year/report.html", title=self.title, year=year, run=run, years=years, table=table,
            county=county, reasons=list(HoldReason), ran_at=_when(run.ran_at) if run else "",
            up=_unit(current_actor()) is not None and _unit(current_actor()).kind in (OrgKind.PROVINCE, OrgKind.CITY),
            args={k: v for k, v in (("year", year.id if year else None), ("county", county.id if county else None))
                  if v is not None})

    @expose("/download")
    @has_access
    @permission_name("list")
    def download(self):
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font

        year, run, _years, table, county, rows = self._report()
        if year is None:
            flash(_("还没有设置学年"), "warning")
            return redirect(url_for(".list"))
        book = Workbook()
        keys = ("promoted", "graduated", "rejected", "suspended", "open_request", "not_graduated", "held")
        counts_heads = [_("升级"), _("毕业"), _("毕业驳回"), _("留级：休学"), _("留级：有在办业务"),
                        _("留级：毕业年级未毕业"), _("留级合计")]
        caption = _("%(year)s报告", year=year.name) + (f"（{county.name}）" if county else "")

        def sheet(ws, title, first_head, lines, total):
            ws.title = title
            ws.append([caption])
            ws["A1"].font = Font(bold=True, size=13)
            ws.append([_("升级时间：%(time)s", time=_when(run.ran_at)) if run else _("本学年尚未升级")])
            ws.append([first_head] + counts_heads)
            for cell in ws[3]:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(horizontal="center", wrap_text=True)
            for line in lines:
                ws.append([line["name"]] + [line[k] for k in keys])
            ws.append([_("合计")] + [total[k] for k in keys])
            for cell in ws[ws.max_row]:
                cell.font = Font(bold=True)
            ws.column_dimensions["A"].width = 28
            for col in "BCDEFGH":
                ws.column_dimensions[col].width = 16
            ws.freeze_panes = "B4"

        if table["by_county"]:
            lines = []
            for section in table["sections"]:
                if section["city"] is not None:
                    lines.append({"name": _("%(city)s（小计）", city=section["name"]), **section["total"]})
                lines += [{**line, "name": ("　" if section["city"] is not None else "") + line["name"]}
                          for line in section["lines"]]
            sheet(book.active, _("各县（区）"), _("县（区）"), lines, table["total"])
            sheet(book.create_sheet(), _("各学校"), _("学校"),
                  [{"name": r["school"].name, **{k: r[k] for k in keys}} for r in rows], table["total"])
        else:
            sheet(book.active, _("各学校"), _("学校"), table["lines"], table["total"])
        out = io.BytesIO()
        book.save(out)
        out.seek(0)
        name = f"{year.name}报告{('_' + county.name) if county else ''}_{clock.now():%Y%m%d%H%M}.xlsx"
        return send_file(out, mimetype=XLSX, as_attachment=True, download_name=name, max_age=0)


def register(appbuilder):
    menu = dict(category="SchoolYear", category_label=_l("学年与毕业升级"), category_icon="fa-calendar")
    appbuilder.add_view(SchoolYearView, "SchoolYears", label=_l("学年学期"), icon="fa-calendar-o", **menu)
    appbuilder.add_view(ClassView, "Classes", label=_l("班级管理"), icon="fa-users", **menu)
    appbuilder.add_view(PromotionView, "Promotions", label=_l("升级"), icon="fa-level-up", **menu)
    appbuilder.add_view(YearEndReportView, "YearEndReport", label=_l("学年报告"), icon="fa-bar-chart", **menu)
