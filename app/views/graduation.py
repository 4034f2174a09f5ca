"""毕业 screens: 学生毕业 (the school graduates its final grade), 毕业生查询 with 毕业信息 (and the
county's 驳回), 毕业生驳回查询.

Thin, like every screen: read the input, call app.services.graduation, flash its Chinese message.
Who may graduate, which students are final-grade and 在校, what blocks a graduation (在办业务,
unsettled 问题学籍), who may 驳回, which graduates an actor sees — all of it is decided there and
in services/scope.py; the buttons shown here are hints only. An id outside the actor's scope is a
404 on every page and post.

URLs:
  /graduationview/list/               the school's final grade: classes with counts, 在校 students
                                      (county and up: the same, read-only, for a chosen school) can_list
  /graduationview/check               what the selection is and what blocks it (检查)        can_graduate
  /graduationview/graduate   POST     毕业 of the selection, with the 毕业日期                can_graduate
  /graduateview/list/                 毕业生查询: filters, 毕业信息, bulk 去向/日期, workbook  can_list
  /graduateview/update       POST     bulk 毕业信息 of the ticked graduates (school)          can_edit
  /graduateview/edit/<pk>             one graduate's 毕业信息 (school)                        can_edit
  /graduateview/reject/<pk>           驳回 with a reason (county and up)                      can_reject
  /graduateview/export_workbook/      导出 Excel of the list                                  can_export_workbook
  /rejectedgraduateview/list/         毕业生驳回查询                                           can_list
"""
import math
from urllib.parse import urlencode

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, func, select
from sqlalchemy.orm import contains_eager, selectinload

from app.codes import tables
from app.exports import ExportSource
from app.exports.views import ExportMixin
from app.extensions import db
from app.models.org import OrgKind, OrgUnit
from app.models.school_year import Graduation, GraduationState, SchoolClass
from app.models.student import Student, StudentStatus
from app.services import calendars, clock, grades, graduation, privacy, scope, school_years
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound
from app.services.roles import RANK_COUNTY, actor_rank
from app.views.base import call_service
from app.views.requests import type_label
from app.views.students import person, request_url

PAGE_SIZE = 50
MAX_SCHOOL_OPTIONS = 800   # more schools in scope than this: the school filter is a 学校标识码 box
SHOWN_SELECTION = 100      # students of the selection listed on the 检查 page
NO_CLASS = "none"          # the class filter's value for students without a class
NO_DESTINATION = "none"    # graduates_query's value for 去向未填写
ALL_FINAL_GRADES = ("15", "16", "23", "24", "33", "43")

SCHOOL_YEAR_MENU = dict(category="SchoolYear", category_label=_l("学年与毕业升级"), category_icon="fa-calendar")


# ---------------------------------------------------------------- helpers

MAX_ID = 2 ** 31 - 1  # a hand-made id beyond the column's range is no id (PostgreSQL would refuse it)


def _int(value):
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if -MAX_ID <= n <= MAX_ID else None


def _ints(values):
    return list(dict.fromkeys(i for i in (_int(v) for v in values) if i is not None))


def _is_school(actor):
    unit = getattr(actor, "org_unit", None)
    return unit is not None and unit.kind == OrgKind.SCHOOL


def _may_reject(actor):
    """A hint for the buttons: county and up (the service decides)."""
    unit = getattr(actor, "org_unit", None)
    return unit is not None and unit.kind != OrgKind.SCHOOL and actor_rank(actor) <= RANK_COUNTY


def _back(default):
    target = request.values.get("next") or ""
    return redirect(get_safe_redirect(target) if target.startswith("/") else default)


def _next_value():
    """The page to return to, from the form or the query string (only paths of this site)."""
    target = request.values.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else ""


def _grade_label(code):
    return grades.grade_label(code) if code else ""


def _destination_label(code):
    return tables.label("graduation_destination", code) if code else ""


def _destination_choices():
    return tables.choices("graduation_destination")


def _cohort(cls):
    return _("%(year)s级", year=cls.cohort_year) if cls is not None else ""


def _class_label(cls):
    return f"{cls.name}（{_cohort(cls)}）" if cls is not None else ""


class Page:
    def __init__(self, stmt, number, size=PAGE_SIZE):
        self.total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        self.pages = max(math.ceil(self.total / size), 1)
        self.number = min(max(number or 1, 1), self.pages)
        self.items = db.session.scalars(stmt.limit(size).offset((self.number - 1) * size)).unique().all()

    def url(self, number):
        args = request.args.to_dict()
        args["page"] = number
        return url_for(request.endpoint, **args)


def _audit_full(actor, students_shown, where):
    """Full 学籍号 (G + the ID number) shown on a page go to the audit trail, as the registry
    screens do."""
    if not privacy.full_id_allowed(actor):
        return
    for s in {s.id: s for s in students_shown if s is not None and s.id_number}.values():
        privacy.record_full_view(db.session, actor, s, where)
    db.session.commit()


def _schools_in_scope(actor):
    """The schools an officer above schools may pick, or None when there are too many for a list
    (then the page asks for the 学校标识码)."""
    where = (scope.clause(actor, OrgUnit), OrgUnit.kind == OrgKind.SCHOOL)
    total = db.session.scalar(select(func.count()).select_from(OrgUnit).where(*where))
    if total > MAX_SCHOOL_OPTIONS:
        return None
    return db.session.scalars(select(OrgUnit).where(*where).order_by(OrgUnit.path)).all()


def _picked_school(actor, args):
    """The school chosen by an officer above schools (`school` id or `school_code`): None when none
    was chosen; 404 when it is not a school in the actor's scope."""
    school_id, code = _int(args.get("school")), (args.get("school_code") or "").strip()
    if school_id is None and not code:
        return None
    stmt = select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL, scope.clause(actor, OrgUnit))
    stmt = stmt.where(OrgUnit.id == school_id) if school_id is not None else stmt.where(OrgUnit.school_code == code)
    school = db.session.scalar(stmt)
    if school is None:
        if school_id is None:  # a typed code: say so rather than 404
            flash(_("没有学校标识码为 %(code)s 的本辖区学校", code=code), "warning")
            return None
        abort(404)
    return school


def _school_overview(actor):
    """A county's schools with their 毕业年级 在校 students and this year's graduates (counties only:
    the numbers are a grouped count over the county's students)."""
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.COUNTY:
        return None
    schools = db.session.scalars(select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL, scope.clause(actor, OrgUnit))
                                 .order_by(OrgUnit.path)).all()
    ids = [s.id for s in schools]
    if not ids:
        return []
    in_school = {}
    for school_id, grade, n in db.session.execute(
            select(Student.school_id, Student.grade, func.count())
            .where(Student.school_id.in_(ids), Student.status == StudentStatus.IN_SCHOOL,
                   Student.grade.in_(ALL_FINAL_GRADES))
            .group_by(Student.school_id, Student.grade)).all():
        in_school[(school_id, grade)] = n
    year = school_years.current_year(db.session)
    graduated = {}
    if year is not None:
        graduated = dict(db.session.execute(
            select(Graduation.school_id, func.count())
            .where(Graduation.school_id.in_(ids), Graduation.state == GraduationState.GRADUATED,
                   Graduation.year_id == year.id)
            .group_by(Graduation.school_id)).all())
    return [{"id": s.id, "name": s.name, "code": s.school_code, "schooling": grades.schooling_label(s),
             "finals": "、".join(_grade_label(g) for g in grades.final_grades(s)),
             "in_school": sum(in_school.get((s.id, g), 0) for g in grades.final_grades(s)),
             "graduated": graduated.get(s.id, 0) if year is not None else None} for s in schools]


def _student_link(student):
    return url_for("StudentView.show", pk=student.id) if student is not None else None


# ---------------------------------------------------------------- 学生毕业

class GraduationView(BaseView):
    """学生毕业: the school picks classes and/or students of its final grade (毕业年级 by its 学制),
    checks what blocks them (在办业务, 问题学籍) and graduates them. Counties and up look at a
    school's final grade read-only: the school graduates, without approval."""

    route_base = "/graduationview"
    default_view = "list"

    def _can(self, permission, view=None):
        return self.appbuilder.sm.has_access(permission, view or self.class_permission_name)

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        if _is_school(actor):
            school = actor.org_unit
            picker = None
        else:
            school = _picked_school(actor, request.args)
            picker = {"schools": _schools_in_scope(actor), "current": school}
        if school is None:
            return self.render_template("graduation/graduation.html", title=_l("学生毕业"), school=None,
                                        picker=picker, overview=_school_overview(actor))
        finals = grades.final_grades(school)
        grade = request.args.get("grade") if request.args.get("grade") in finals else ""
        class_arg = request.args.get("class") or ""
        class_id = _int(class_arg)

        # Classes of the final grade(s) with their 在校 counts (男/女); students without a class apart.
        sub = graduation.candidates_query(school).order_by(None).subquery()
        counts = {}
        for grade_code, cid, n, boys in db.session.execute(
                select(sub.c.grade, sub.c.class_id, func.count(), func.sum((sub.c.gender == "1").cast(Integer)))
                .group_by(sub.c.grade, sub.c.class_id)).all():
            counts[(grade_code, cid)] = (n, int(boys or 0))
        class_rows, graduated = [], {}
        for g in finals:
            classes = {c.id: c for c in school_years.classes_of(db.session, school, g)}
            for (grade_code, cid), _n in counts.items():  # a class no longer active that still has students
                if grade_code == g and cid is not None and cid not in classes:
                    cls = db.session.get(SchoolClass, cid)
                    if cls is not None:
                        classes[cid] = cls
            if classes:
                graduated.update(db.session.execute(
                    select(Graduation.class_id, func.count())
                    .where(Graduation.class_id.in_(list(classes)), Graduation.state == GraduationState.GRADUATED)
                    .group_by(Graduation.class_id)).all())
            for cls in classes.values():
                n, boys = counts.get((g, cls.id), (0, 0))
                class_rows.append({"id": cls.id, "grade": _grade_label(g), "name": _class_label(cls),
                                   "head_teacher": cls.head_teacher or "", "count": n, "boys": boys,
                                   "girls": n - boys, "graduated": graduated.get(cls.id, 0),
                                   "current": class_id == cls.id})
            if (g, None) in counts:
                n, boys = counts[(g, None)]
                class_rows.append({"id": None, "grade": _grade_label(g), "name": _("未分班"), "head_teacher": "",
                                   "count": n, "boys": boys, "girls": n - boys, "graduated": "",
                                   "current": class_arg == NO_CLASS})
        total = sum(n for n, _b in counts.values())

        stmt = graduation.candidates_query(school, grade or None, class_id)
        if class_arg == NO_CLASS:
            stmt = stmt.where(Student.class_id.is_(None))
        page = Page(stmt.options(selectinload(Student.school)), _int(request.args.get("page")))
        rows = [{"id": s.id, "name": s.name, "url": _student_link(s),
                 "xueji_no": privacy.shown_xueji(actor, s.xueji_no) or "",
                 "gender": tables.label("gender", s.gender), "grade": _grade_label(s.grade),
                 "class_name": s.class_name or ""} for s in page.items]
        _audit_full(actor, page.items, "学生毕业")

        may_graduate = _is_school(actor) and self._can("can_graduate")
        window = None
        if may_graduate:
            try:
                calendars.check(db.session, "graduation", "毕业", school, today=clock.today())
            except DomainError as exc:
                window = exc.message
        year = school_years.current_year(db.session)
        return self.render_template(
            "graduation/graduation.html", title=_l("学生毕业"), school=school, picker=picker,
            schooling=grades.schooling_label(school), finals=[(g, _grade_label(g)) for g in finals],
            class_rows=class_rows, total=total, rows=rows, page=page,
            f={"grade": grade, "class": class_arg, "school": school.id if picker is not None else ""},
            may_graduate=may_graduate, window=window, year=year.name if year is not None else "",
            class_url=url_for("ClassView.list") if "ClassView.list" in current_app.view_functions
            and self._can("can_list", "ClassView") else None)

    # ------------------------------------------------------------ 检查 and 毕业

    def _selection(self):
        return _ints(request.values.getlist("student_id")), _ints(request.values.getlist("class_id"))

    def _check_page(self, student_ids, class_ids, blocked=None, graduated_on=None, quiet=False):
        """The 检查 page: the selection, what keeps any of it from graduating, and the 毕业 form.
        After a refused 毕业 the page shows the selection again (`quiet`: the refusal's message is
        on the page already); after GraduationBlocked the lists are the refusal's own."""
        actor = current_actor()
        if quiet:
            try:
                result = graduation.check(db.session, actor, student_ids, class_ids)
            except DomainError:  # e.g. nothing of the selection is left 在校: the list, with the message
                db.session.rollback()
                return redirect(url_for(".list"))
        else:
            result, error = call_service(graduation.check, student_ids, class_ids)
            if error is not None:
                return redirect(url_for(".list"))
        rows, open_requests, sides = result
        if blocked is not None:
            open_requests, sides = blocked.open_requests, blocked.problem_sides
        school = actor.org_unit
        finals = set(grades.final_grades(school))
        not_final = [r for r in rows if r.grade not in finals]
        not_in_school = [r for r in rows if r.status != StudentStatus.IN_SCHOOL]
        ids = [r.id for r in rows]
        shown = db.session.scalars(select(Student).where(Student.id.in_(ids[:SHOWN_SELECTION]))
                                   .order_by(Student.grade, Student.class_name, Student.name, Student.id)).all()
        with_request = {r.student_id for r in open_requests}
        with_problem = {s.student_id for s in sides}
        selection = [{"name": s.name, "url": _student_link(s), "xueji_no": privacy.shown_xueji(actor, s.xueji_no) or "",
                      "grade": _grade_label(s.grade), "class_name": s.class_name or "", "status": s.status.label,
                      "final": s.grade in finals, "in_school": s.status == StudentStatus.IN_SCHOOL,
                      "request": s.id in with_request, "problem": s.id in with_problem} for s in shown]
        request_rows = [{"id": r.id, "type": type_label(r.type), "student": r.student.name if r.student else "",
                         "created_at": r.created_at.strftime("%Y-%m-%d %H:%M") if r.created_at else "",
                         "initiator": r.school.name if r.school else "", "url": request_url(r)}
                        for r in open_requests]
        side_rows = [{"id": s.id, "student": s.student.name if s.student else "",
                      "kind": s.problem.kind.label, "state": s.problem.state.label, "treatment": s.treatment.label,
                      "detail": s.problem.detail or "", "url": url_for("ProblemView.show", pk=s.problem_id)}
                     for s in sides]
        classes = (db.session.scalars(select(SchoolClass).where(SchoolClass.id.in_(class_ids))).all()
                   if class_ids else [])
        _audit_full(actor, shown, "学生毕业")
        blocked_any = bool(not_final or not_in_school or request_rows or side_rows)
        held = {r.id for r in not_final + not_in_school} | with_request | with_problem
        rest = [i for i in ids if i not in held] if blocked_any else []
        query = [("class_id", c) for c in class_ids] + [("student_id", s) for s in student_ids]
        here = url_for(".check") + ("?" + urlencode(query) if query else "")
        return self.render_template(
            "graduation/check.html", title=_l("毕业检查"), school=school, total=len(rows), ids=ids,
            selection=selection, more=max(len(rows) - len(selection), 0),
            classes=[str(c) for c in classes], not_final=[(r.name, _grade_label(r.grade)) for r in not_final],
            not_in_school=[(r.name, r.status.label) for r in not_in_school],
            finals="、".join(_grade_label(g) for g in sorted(finals)),
            requests=request_rows, sides=side_rows, blocked=blocked_any, here=here, rest=rest,
            may_carry=self._can("can_handle", "ProblemView"),
            may_graduate=self._can("can_graduate"),
            graduated_on=graduated_on or clock.today().isoformat(), today=clock.today().isoformat())

    @expose("/check", methods=["GET", "POST"])
    @has_access
    @permission_name("graduate")
    def check(self):
        student_ids, class_ids = self._selection()
        return self._check_page(student_ids, class_ids)

    @expose("/graduate", methods=["POST"])
    @has_access
    @permission_name("graduate")
    def graduate(self):
        student_ids, class_ids = self._selection()
        graduated_on = (request.form.get("graduated_on") or "").strip()
        done, error = call_service(graduation.graduate, student_ids=student_ids, class_ids=class_ids,
                                   graduated_on=graduated_on or None)
        if error is None:
            flash(_("已办理毕业：%(n)s 名学生。请在“毕业生查询”中维护毕业信息（毕业证书编号、毕业去向）", n=done),
                  "success")
            return redirect(url_for("GraduateView.list"))
        if not (student_ids or class_ids):
            return redirect(url_for(".list"))
        blocked = error if isinstance(error, graduation.GraduationBlocked) else None
        return self._check_page(student_ids, class_ids, blocked=blocked, graduated_on=graduated_on, quiet=True)


# ---------------------------------------------------------------- 毕业生查询

def _graduates_filters(actor, args):
    """The list's filters from its query string: (school id, grade, destination, q)."""
    school_id = actor.org_unit_id if _is_school(actor) else _int(args.get("school"))
    if not _is_school(actor) and school_id is None and (args.get("school_code") or "").strip():
        code = args.get("school_code").strip()
        school_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.school_code == code,
                                                               OrgUnit.kind == OrgKind.SCHOOL)) or -1
    grade = args.get("grade") if args.get("grade") in ALL_FINAL_GRADES else ""
    destination = args.get("destination") or ""
    if destination != NO_DESTINATION and not tables.is_valid("graduation_destination", destination):
        destination = ""
    q = (args.get("q") or "").strip()[:40]
    return {"school": school_id if not _is_school(actor) else None,
            "school_code": (args.get("school_code") or "").strip(),
            "grade": grade, "destination": destination, "q": q}


def _grade_choices(actor):
    finals = grades.final_grades(actor.org_unit) if _is_school(actor) else ALL_FINAL_GRADES
    return [(g, _grade_label(g)) for g in finals]


def _with_relations(stmt):
    return stmt.options(contains_eager(Graduation.student), selectinload(Graduation.school),
                        selectinload(Graduation.school_class), selectinload(Graduation.rejected_by))


def _graduate_row(actor, g):
    s = g.student
    cls = g.school_class
    return {
        "id": g.id, "version": g.version, "name": s.name, "student_url": None, "student_id": s.id,
        "xueji_no": privacy.shown_xueji(actor, s.xueji_no) or "", "school": g.school.name if g.school else "",
        "grade": _grade_label(g.grade), "class_name": cls.name if cls is not None else (s.class_name or ""),
        "cohort": _cohort(cls),
        "graduated_on": g.graduated_on.isoformat() if g.graduated_on else "",
        "certificate_no": g.certificate_no or "", "destination": _destination_label(g.destination),
        "by_admission": bool(g.destination and g.destination_by_admission),
        "rejected_reason": g.rejected_reason or "", "rejected_by": person(g.rejected_by),
        "rejected_at": g.rejected_at.strftime("%Y-%m-%d %H:%M") if g.rejected_at else "",
        "status": s.status.label if s.status else "",
    }


class _GraduateList(ExportMixin, BaseView):
    default_view = "list"
    state = GraduationState.GRADUATED
    title = ""
    audit_where = ""
    export_fields = ()

    def _can(self, permission, view=None):
        return self.appbuilder.sm.has_access(permission, view or self.class_permission_name)

    def _query(self, actor, args):
        f = _graduates_filters(actor, args)
        stmt = graduation.graduates_query(actor, state=self.state, school_id=f["school"], grade=f["grade"] or None,
                                          destination=f["destination"] or None, q=f["q"] or None)
        return stmt, f

    def _describe(self, f):
        school = db.session.get(OrgUnit, f["school"]) if f.get("school") and f["school"] > 0 else None
        dest = _("未填写") if f.get("destination") == NO_DESTINATION else _destination_label(f.get("destination"))
        return [(_l("学校"), school.name if school is not None and scope.can_see_unit(current_actor(), school)
                 else f.get("school_code") or ""),
                (_l("毕业年级"), _grade_label(f.get("grade"))), (_l("毕业去向"), dest),
                (_l("姓名或学籍号"), f.get("q") or "")]

    def export_source(self, args):
        """导出 Excel: the list's query (its filters, every page) with the list's columns; the 学籍号
        masked exactly as on the list."""
        actor = current_actor()
        stmt, f = self._query(actor, args)
        keys = [key for key, _label in self.export_fields]
        filters = [(label, "", value) for label, value in self._describe(f) if value not in (None, "")]

        def count():
            return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))

        def rows():
            for g in db.session.scalars(_with_relations(stmt).execution_options(yield_per=500)):
                row = _graduate_row(actor, g)
                if row.get("by_admission"):
                    row["destination"] = f"{row['destination']}（{_('招生回填')}）"
                yield [row[key] for key in keys]

        return ExportSource(title=self.title, entity="graduation", headers=[label for _k, label in self.export_fields],
                            count=count, rows=rows, filters=filters, full_ids=privacy.full_id_allowed(actor))

    def _list_context(self):
        actor = current_actor()
        stmt, f = self._query(actor, request.args)
        page = Page(_with_relations(stmt), _int(request.args.get("page")))
        rows = [_graduate_row(actor, g) for g in page.items]
        for row, g in zip(rows, page.items):
            row["student_url"] = _student_link(g.student)
        _audit_full(actor, [g.student for g in page.items], self.audit_where)
        school_view = _is_school(actor)
        return dict(rows=rows, page=page, f=f, school_view=school_view,
                    schools=None if school_view else _schools_in_scope(actor),
                    grades=_grade_choices(actor), destinations=_destination_choices())


class GraduateView(_GraduateList):
    """毕业生查询: the standing graduates in scope with their 毕业信息. Schools keep the 毕业信息
    (ticked rows in bulk, one graduate, or the workbook through the import engine); counties and
    up may 驳回 a graduate back to 在校 with a reason."""

    route_base = "/graduateview"
    title = _l("毕业生查询")
    audit_where = "毕业生查询"
    export_fields = (("name", _l("姓名")), ("xueji_no", _l("学籍号")), ("school", _l("学校")), ("grade", _l("毕业年级")),
                     ("class_name", _l("班级")), ("graduated_on", _l("毕业日期")), ("certificate_no", _l("证书编号")),
                     ("destination", _l("毕业去向")))

    def _query(self, actor, args):
        stmt, f = super()._query(actor, args)
        return stmt.order_by(None).order_by(Graduation.graduated_on.desc(), Graduation.school_id, Graduation.grade,
                                            Graduation.class_id, Student.name, Graduation.id), f

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        ctx = self._list_context()
        school_view = ctx["school_view"]
        sm = self.appbuilder.sm
        return self.render_template(
            "graduation/graduates.html", title=self.title, **ctx,
            may_edit=school_view and self._can("can_edit"),
            may_reject=_may_reject(actor) and self._can("can_reject"),
            may_import=school_view and sm.has_access("can_upload", "ImportView"),
            may_template=school_view and sm.has_access("can_template", "ImportView"),
            today=clock.today().isoformat(), here=request.full_path)

    # ------------------------------------------------------------ 毕业信息 (school)

    @expose("/update", methods=["POST"])
    @has_access
    @permission_name("edit")
    def update(self):
        """The same 毕业信息 for the ticked graduates: 毕业去向 and/or 毕业日期 (empty fields are kept)."""
        ids = _ints(request.form.getlist("rowid"))
        data = {k: (request.form.get(k) or "").strip() for k in ("destination", "graduated_on")}
        data = {k: v for k, v in data.items() if v}
        if not ids:
            flash(_("请先勾选要修改的毕业生"), "warning")
            return _back(url_for(".list"))
        changed, error = call_service(graduation.update_info, ids, data)
        if error is None:
            flash(_("已修改 %(n)s 名毕业生的毕业信息", n=len(changed)), "success")
        return _back(url_for(".list"))

    def _graduation(self, pk):
        if pk > MAX_ID:
            abort(404)
        try:
            return scope.get(db.session, current_actor(), Graduation, pk)
        except NotFound:
            abort(404)

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        g = self._graduation(pk)
        actor = current_actor()
        back = _next_value() or url_for(".list")
        if not _is_school(actor) or g.school_id != actor.org_unit_id:
            flash(_("毕业信息由毕业学校维护"), "warning")
            return redirect(back)
        if g.state != GraduationState.GRADUATED:
            flash(_("%(name)s 的毕业已被驳回，不能维护毕业信息", name=g.student.name), "warning")
            return redirect(back)
        errors, values = {}, {"graduated_on": g.graduated_on.isoformat() if g.graduated_on else "",
                              "certificate_no": g.certificate_no or "", "destination": g.destination or ""}
        version = g.version
        if request.method == "POST":
            values = {k: (request.form.get(k) or "").strip() for k in values}
            version = request.form.get("version")
            _rows, error = call_service(graduation.update_info, [pk], values, expected_version=version)
            if error is None:
                flash(_("已保存 %(name)s 的毕业信息", name=g.student.name), "success")
                return redirect(back)
            errors = {error.field or "_form": error.message}
            g = self._graduation(pk)
        row = _graduate_row(actor, g)
        row["student_url"] = _student_link(g.student)
        _audit_full(actor, [g.student], "毕业信息维护")
        return self.render_template(
            "graduation/edit.html", title=_l("维护毕业信息"), row=row, values=values, version=version, errors=errors,
            destinations=_destination_choices(), today=clock.today().isoformat(), back=back)

    # ------------------------------------------------------------ 驳回 (county and up)

    @expose("/reject/<int:pk>", methods=["GET", "POST"])
    @has_access
    def reject(self, pk):
        g = self._graduation(pk)
        actor = current_actor()
        back = _next_value() or url_for(".list")
        if not _may_reject(actor):
            flash(_("只有县级及以上学籍管理员可以驳回毕业生"), "warning")
            return redirect(back)
        if g.state != GraduationState.GRADUATED:
            flash(_("该毕业生已被驳回"), "warning")
            return redirect(back)
        reason, errors = "", {}
        if request.method == "POST":
            reason = request.form.get("reason") or ""
            _g, error = call_service(graduation.reject, pk, reason, expected_version=request.form.get("version"))
            if error is None:
                flash(_("已驳回 %(name)s 的毕业，学籍状态恢复为在校", name=g.student.name), "success")
                return redirect(back)
            errors = {error.field or "_form": error.message}
            g = self._graduation(pk)
        row = _graduate_row(actor, g)
        _audit_full(actor, [g.student], "毕业生驳回")
        return self.render_template("graduation/reject.html", title=_l("驳回毕业生"), row=row, reason=reason,
                                    errors=errors, back=back, student_url=_student_link(g.student))


# ---------------------------------------------------------------- 毕业生驳回查询

class RejectedGraduateView(_GraduateList):
    """毕业生驳回查询: graduations a county sent back to 在校, with the reason, who and when."""

    route_base = "/rejectedgraduateview"
    state = GraduationState.REJECTED
    title = _l("毕业生驳回查询")
    audit_where = "毕业生驳回查询"
    export_fields = (("name", _l("姓名")), ("xueji_no", _l("学籍号")), ("school", _l("学校")), ("grade", _l("毕业年级")),
                     ("class_name", _l("班级")), ("graduated_on", _l("原毕业日期")), ("rejected_reason", _l("驳回理由")),
                     ("rejected_by", _l("驳回人")), ("rejected_at", _l("驳回时间")), ("status", _l("当前学籍状态")))

    def _query(self, actor, args):
        args = {k: args.get(k) for k in ("school", "school_code", "grade", "q")}  # no 去向 filter here
        stmt, f = super()._query(actor, args)
        return stmt.order_by(None).order_by(Graduation.rejected_at.desc(), Graduation.id.desc()), f

    @expose("/list/")
    @has_access
    def list(self):
        return self.render_template("graduation/rejected.html", title=self.title, **self._list_context())


def register(appbuilder):
    appbuilder.add_view(GraduationView, "Graduation", label=_l("学生毕业"), icon="fa-graduation-cap",
                        **SCHOOL_YEAR_MENU)
    appbuilder.add_view(GraduateView, "Graduates", label=_l("毕业生查询"), icon="fa-list-alt", **SCHOOL_YEAR_MENU)
    appbuilder.add_view(RejectedGraduateView, "RejectedGraduates", label=_l("毕业生驳回查询"), icon="fa-undo",
                        **SCHOOL_YEAR_MENU)
