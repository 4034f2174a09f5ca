"""导出招生Excel: the graduate list the admission office (招生部门) works from.

The 2014 guide: the county “获取毕业生信息（8 月 11 日以后）… 点击‘导出招生 excel’，导出所辖学校毕业生，
作为招生的基础数据”, plans each graduate's admitting school and stage, and uploads the result as the
招生结果 (统一招生名单). So the workbook carries the columns the 招生结果 import reads, under the
same headers — 个人标识码(学籍号), 学生姓名, 毕业学校标识码, 录取学校标识码 (empty, to be filled), 教育阶段
(the next stage, prefilled) — with 性别, 出生日期, 毕业学校名称, 毕业班级 and 已录取学校 to plan by. Filled in,
the file imports as it is (the import matches headers by name and ignores the extra columns); the
headers stay Chinese in every UI language for that reason.

Who: a county, city or province exports the graduates of its subtree, a school its own (the
Graduation scope of services/graduation.py); a unit picked in the form must be in scope (404
otherwise, also for a hand-made URL). 学籍号 is 'G' + the ID number: masked exactly as on the
screens (privacy.shown_xueji); a full export is audited as such. Export mechanics (streamed, a
background job beyond EXPORT_SYNC_ROWS rows, one audit entry) are the exports engine's.

Which graduates: standing graduations (已毕业, not 驳回) of one stage — 小学毕业生 for 初中招生, 初中毕业生
for 高中招生 — of one graduating school year. Graduation.year_id is the year current on the day of
graduation: July's graduates belong to the year before the admission year (admissions.admission_year
starts on 1 July), so the default is the year before the admission year when that year exists,
else the admission year itself (a platform that opened its first year after the graduations).

URLs
  /admissionexportview/list/?year=&stage=&org=     the form with counts per graduating school   can_list
  /admissionexportview/export_workbook/?…   POST   the workbook (or a job)                      can_export_workbook
"""
from flask import abort, current_app, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, false, func, select
from sqlalchemy.orm import aliased

from app.codes import tables
from app.exports import ExportSource, export_response
from app.exports.views import ExportMixin
from app.extensions import db
from app.imports.specs import admission_list
from app.models.admission import Admission, AdmissionState
from app.models.org import OrgKind, OrgUnit
from app.models.school_year import Graduation, GraduationState, SchoolClass, SchoolYear
from app.models.student import Student, StudentStatus
from app.services import admissions, grades, privacy, scope
from app.services.context import current_actor
from app.services.errors import NotFound
from app.views.graduation import _int, _is_school

ALL_YEARS = "all"
MAX_UNIT_OPTIONS = 800
SHOWN_SCHOOLS = 300
YIELD_PER = 2000

# graduating stage -> (what the form calls it, the 教育阶段 the admission is into, the entry grades after it)
STAGES = {
    grades.STAGE_PRIMARY: (_l("小学毕业生（初中招生）"), "初中", ("21",)),
    grades.STAGE_JUNIOR: (_l("初中毕业生（高中招生）"), "高中", ("31", "41")),
}
STAGE_TITLES = {grades.STAGE_PRIMARY: "小学毕业生", grades.STAGE_JUNIOR: "初中毕业生"}

# The workbook's headers: the 招生结果 import's own (admission_list) where they carry its data.
HEADERS = [admission_list.NUMBER, admission_list.NAME, "性别", "出生日期", admission_list.FROM_CODE, "毕业学校名称",
           "毕业班级", admission_list.TO_CODE, admission_list.STAGE, "已录取学校"]


def default_year(session):
    """The graduating year whose graduates the admission year admits (see the module's docstring)."""
    year = admissions.admission_year(session, required=False)
    if year is None:
        return session.scalar(select(SchoolYear).order_by(SchoolYear.start_year.desc()))
    before = session.scalar(select(SchoolYear).where(SchoolYear.start_year == year.start_year - 1))
    return before or year


def params(session, actor, args, strict=True):
    """The form's choices from the query string: {year: SchoolYear or None (all), year_value,
    stage, org: OrgUnit or None}. A unit outside the actor's scope: NotFound when `strict` (the
    request), else org_denied (the job: no rows)."""
    raw_year = (args.get("year") or "").strip()
    if raw_year == ALL_YEARS:
        year = None
    else:
        year_id = _int(raw_year)
        year = session.get(SchoolYear, year_id) if year_id else None
        if year is None:
            year = default_year(session)
    stage = args.get("stage") if args.get("stage") in STAGES else grades.STAGE_PRIMARY
    org, denied = None, False
    raw_org = (args.get("org") or "").strip()
    if raw_org and not _is_school(actor):
        org_id = _int(raw_org)
        org = session.scalar(select(OrgUnit).where(OrgUnit.id == org_id, scope.clause(actor, OrgUnit))) \
            if org_id else None
        if org is None:
            if strict:
                raise NotFound("记录不存在或不在您的管辖范围内")
            denied = True
    return {"year": year, "year_value": str(year.id) if year is not None else ALL_YEARS, "stage": stage,
            "org": org, "org_denied": denied}


def graduates_stmt(actor, p, columns):
    """The graduations the export lists, scoped, as a select of `columns`."""
    stmt = select(*columns).select_from(Graduation).where(
        scope.clause(actor, Graduation), Graduation.state == GraduationState.GRADUATED, Graduation.stage == p["stage"])
    if p["year"] is not None:
        stmt = stmt.where(Graduation.year_id == p["year"].id)
    if p["org"] is not None:
        stmt = stmt.where(Graduation.school_path.startswith(p["org"].path))
    if p["org_denied"]:
        stmt = stmt.where(false())
    return stmt


def _admitted_school(stage, states):
    """A correlated subquery: the name of a school that admitted the graduate into the next stage
    (in one of `states`), if any."""
    school = aliased(OrgUnit)
    return (select(school.name).select_from(Admission).join(school, school.id == Admission.school_id)
            .where(Admission.student_id == Graduation.student_id, Admission.from_school_id == Graduation.school_id,
                   Admission.grade.in_(STAGES[stage][2]), Admission.state.in_(states))
            .order_by(Admission.id.desc()).limit(1).correlate(Graduation).scalar_subquery())


def export_rows(session, actor, p):
    """(count(), rows()) of the workbook: one list per graduate in HEADERS order."""
    school = aliased(OrgUnit)
    columns = [Student.xueji_no, Student.personal_id, Student.name, Student.gender, Student.birth_date,
               Student.status, Student.class_name, school.school_code, school.name.label("school_name"),
               SchoolClass.class_no, _admitted_school(p["stage"], [AdmissionState.ADMITTED]).label("admitted"),
               _admitted_school(p["stage"], [AdmissionState.PENDING]).label("pending")]
    stmt = (graduates_stmt(actor, p, columns)
            .join(Student, Student.id == Graduation.student_id)
            .join(school, school.id == Graduation.school_id)
            .outerjoin(SchoolClass, SchoolClass.id == Graduation.class_id)
            .order_by(Graduation.school_path, SchoolClass.class_no, Student.name, Graduation.id))
    next_stage = STAGES[p["stage"]][1]
    genders = tables.table("gender")

    def count():
        return session.scalar(graduates_stmt(actor, p, [func.count()]))

    def rows():
        for r in session.execute(stmt.execution_options(yield_per=YIELD_PER)):
            number = privacy.shown_xueji(actor, r.xueji_no) if r.xueji_no else (r.personal_id or "")
            if r.class_no is not None:
                klass = f"{r.class_no}班"
            else:
                klass = (r.class_name or "") if r.status == StudentStatus.GRADUATED else ""
            admitted = r.admitted or (f"{r.pending}（待核办）" if r.pending else "")
            yield [number, r.name, genders.get(r.gender, r.gender or ""),
                   r.birth_date.isoformat() if r.birth_date else "", r.school_code or "", r.school_name,
                   klass, "", next_stage, admitted]

    return count, rows


def _tallies(p):
    """count, admitted, pending as aggregate columns."""
    admitted = _admitted_school(p["stage"], [AdmissionState.ADMITTED]).is_not(None)
    pending = and_(~admitted, _admitted_school(p["stage"], [AdmissionState.PENDING]).is_not(None))
    return [func.count().label("n"), func.coalesce(func.sum(case((admitted, 1), else_=0)), 0).label("admitted"),
            func.coalesce(func.sum(case((pending, 1), else_=0)), 0).label("pending")]


def totals(session, actor, p):
    """(graduates, admitted, pending) of the choice."""
    return tuple(int(v or 0) for v in session.execute(graduates_stmt(actor, p, _tallies(p))).one())


def school_counts(session, actor, p, limit=SHOWN_SCHOOLS):
    """Per graduating school: graduates, admitted, pending (the page's overview); limit + 1 rows
    at most (the page says when there are more)."""
    school = aliased(OrgUnit)
    stmt = (graduates_stmt(actor, p, [school.id, school.name, school.school_code, *_tallies(p)])
            .join(school, school.id == Graduation.school_id)
            .group_by(school.id, school.name, school.school_code, school.path).order_by(school.path))
    return session.execute(stmt.limit(limit + 1)).all()


def _units(actor):
    """The units an officer above schools may narrow to: a county's schools; a city's or the
    province's cities and counties. None when there are too many for a list."""
    unit = actor.org_unit
    kinds = (OrgKind.SCHOOL,) if unit.kind == OrgKind.COUNTY else (OrgKind.CITY, OrgKind.COUNTY)
    where = (scope.clause(actor, OrgUnit), OrgUnit.kind.in_(kinds), OrgUnit.id != unit.id)
    if db.session.scalar(select(func.count()).select_from(OrgUnit).where(*where)) > MAX_UNIT_OPTIONS:
        return None
    return db.session.scalars(select(OrgUnit).where(*where).order_by(OrgUnit.path)).all()


class AdmissionExportView(ExportMixin, BaseView):
    """导出招生Excel: the form (graduating year, stage, unit), counts per school, the export button."""

    route_base = "/admissionexportview"
    default_view = "list"

    def _params(self):
        actor = current_actor()
        try:
            return actor, params(db.session, actor, request.args)
        except NotFound:
            abort(404)

    @expose("/list/")
    @has_access
    def list(self):
        actor, p = self._params()
        total, admitted, pending = totals(db.session, actor, p)
        counts = school_counts(db.session, actor, p)
        years = db.session.scalars(select(SchoolYear).order_by(SchoolYear.start_year.desc())).all()
        sm = self.appbuilder.sm
        unit = getattr(actor, "org_unit", None)
        may_import = (unit is not None and unit.kind == OrgKind.COUNTY
                      and sm.has_access("can_upload", "ImportView"))
        admission = admissions.admission_year(db.session, required=False)
        db.session.commit()  # nothing written: end the read
        return self.render_template(
            "admission/export.html", title=_("导出招生Excel"), p=p, total=total,
            counts=counts[:SHOWN_SCHOOLS], more=len(counts) > SHOWN_SCHOOLS,
            admitted=admitted, pending=pending,
            years=years, stages=[(k, v[0]) for k, v in STAGES.items()], all_years=ALL_YEARS,
            units=None if _is_school(actor) else _units(actor), school_view=_is_school(actor),
            headers=HEADERS, next_stage=STAGES[p["stage"]][1], admission_year=admission,
            full_ids=privacy.full_id_allowed(actor), sync_rows=current_app.config.get("EXPORT_SYNC_ROWS", 5000),
            import_url=url_for("ImportView.upload", spec="admission_list") if may_import else None,
            template_url=url_for("ImportView.template", spec="admission_list") if may_import else None)

    @expose("/export_workbook/", methods=["POST"])
    @has_access
    def export_workbook(self):
        self._params()  # a unit outside the actor's scope is a 404 before anything is counted
        return export_response(self)

    def export_source(self, args):
        """The workbook of the form's choices (rebuilt the same way by a background job)."""
        actor = current_actor()
        p = params(db.session, actor, args, strict=False)
        count, rows = export_rows(db.session, actor, p)
        filters = [("毕业学年", "", p["year"].name if p["year"] is not None else "全部学年"),
                   ("毕业生", "", STAGE_TITLES[p["stage"]])]
        if p["org"] is not None:
            filters.append(("范围", "", p["org"].name))
        year = f"{p['year'].name}" if p["year"] is not None else ""
        title = f"{year}{STAGE_TITLES[p['stage']]}招生名单"
        return ExportSource(title=title, entity="graduation", headers=HEADERS, count=count, rows=rows,
                            filters=filters, full_ids=privacy.full_id_allowed(actor))


def register(appbuilder):
    appbuilder.add_view(AdmissionExportView, "AdmissionExport", label=_l("导出招生Excel"), icon="fa-file-excel-o",
                        category="Admission", category_label=_l("招生入学"), category_icon="fa-user-plus")
