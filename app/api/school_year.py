"""REST API of 学年学期, 班级, 毕业 and 升级: /api/v1/school-year/…

Same rules as the registry, movement and problem APIs (app/api/registry.py, app/api/movements.py):
JWT only, every write calls the service the screens call (services/school_years.py,
services/graduation.py, services/promotion.py) — no rule lives here —, a service's DomainError
answers {"message": "<中文>", "field": …} with its 4xx status and nothing written, an out-of-scope
id answers 404 exactly like an id that does not exist (even before the permission check), ID
numbers and G-学籍号 are masked for roles without full view (each full view audited).

One resource, SchoolYearApi (config.FAB_ROLES grants it to every officer role, and its read
permissions — can_get — to readers; the services decide who does what: the province opens years
and runs / undoes the 升级, schools keep their classes and graduate, counties 驳回 graduates and
补升级):
- GET  years                         学年 with terms, 升级时点, current, the standing 升级
- POST years                         open a 学年 (province)
- PUT  years/<pk>                    dates and 升级时点 until the 升级 ran (province)
- PUT  terms/<pk>                    a term's dates (province)
- GET  classes                       班级 (school_id, grade, active), with head counts, paged
- POST classes                       建班: count classes for a grade
- PUT  classes/<pk>                  班主任, 班号
- DELETE classes/<pk>                an empty class
- POST classes/<pk>/students         分班
- POST graduation/check              the selection and what blocks it (在办业务, 问题学籍)
- POST graduation                    毕业 (all or nothing; 422 with the blockers)
- GET  graduates                     毕业生查询 / 毕业生驳回查询 (state), paged
- PUT  graduates                     毕业信息 of one or many graduates
- POST graduates/<pk>/reject         驳回 a graduate back to 在校 (county and up)
- GET  promotions                    升级记录
- POST promotions                    立即升级 (province)
- POST promotions/<pk>/revert        撤销升级 within the grace period (province)
- POST promotions/<pk>/promote-held  补升级 (county and up)
- GET  promotions/<pk>/held          students the 升级 left in their grade, and why
- GET  report                        学年末统计 per school
"""

from flask import request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import permission_name, protect
from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.api import (MAX_ID, BadInput, PathScopedMixin, audit_full as _audit_full, enum_arg as _enum_arg,
                     grade_brief as _grade, id_arg, id_list, in_range as _in_range, iso as _iso, label as _label,
                     page as _page, school_brief as _school)
from app.api.movements import _code_text, _unit_brief
from app.api.registry import RegistryApiMixin, _actor_unit, _body, _int_or_none, _text
from app.codes import tables
from app.extensions import db
from app.models.org import OrgKind, OrgUnit
from app.models.school_year import (Graduation, GraduationState, HoldReason, PromotionHold, PromotionRun,
                                    SchoolClass, SchoolTerm, SchoolYear)
from app.services import graduation, grades, privacy, promotion, school_years, scope
from app.services.errors import NotFound

MAX_IDS = 50000
DESTINATIONS = "graduation_destination"


# ---------------------------------------------------------------- request bodies (OpenAPI)

class YearBody(Schema):
    start_year = fields.Integer(required=True, metadata={"description": "学年起始年份，如 2026（即 2026-2027学年）"})
    starts_on = fields.String(metadata={"description": "学年开始日期（年-月-日），默认 9月1日"})
    ends_on = fields.String(metadata={"description": "学年结束日期，默认次年 8月31日"})
    promotion_at = fields.String(metadata={"description": "升级时点，如 2027-08-10 24:00（默认 8月10日24时）"})


class YearUpdateBody(Schema):
    starts_on = fields.String()
    ends_on = fields.String()
    promotion_at = fields.String(metadata={"description": "升级时点，如 2027-08-10 24:00；须晚于现在"})
    expected_version = fields.Integer(metadata={"description": "读取学年时的 version；已被他人修改则拒绝"})


class TermBody(Schema):
    starts_on = fields.String(required=True)
    ends_on = fields.String(required=True)


class ClassCreateBody(Schema):
    school_id = fields.Integer(metadata={"description": "学校编号（学校账号不填，即本校）"})
    grade = fields.String(required=True, metadata={"description": "年级代码，如 11（小学一年级）"})
    count = fields.Integer(required=True, metadata={"description": "新建班级数（接在已有班号之后）"})
    head_teachers = fields.List(fields.String(), metadata={"description": "各班班主任，依次对应"})


class ClassUpdateBody(Schema):
    head_teacher = fields.String(metadata={"description": "班主任；不传则不变，传空文本则清除"})
    class_no = fields.Integer(metadata={"description": "班号"})
    expected_version = fields.Integer()


class AssignBody(Schema):
    student_ids = fields.List(fields.Integer(), required=True, metadata={"description": "分入本班的学生编号"})


class GraduationBody(Schema):
    student_ids = fields.List(fields.Integer(), metadata={"description": "毕业学生编号"})
    class_ids = fields.List(fields.Integer(), metadata={"description": "整班毕业的班级编号（班内在校学生）"})
    graduated_on = fields.String(metadata={"description": "毕业日期（年-月-日），默认今天"})


class GraduateInfoBody(Schema):
    ids = fields.List(fields.Integer(), required=True, metadata={"description": "毕业记录编号"})
    graduated_on = fields.String()
    certificate_no = fields.String(metadata={"description": "毕业证书编号"})
    destination = fields.String(metadata={"description": "毕业去向代码或名称（国家代码表），空文本为清除"})
    expected_version = fields.Integer(metadata={"description": "只改一条时：读取时的 version"})


class RejectBody(Schema):
    reason = fields.String(required=True, metadata={"description": "驳回理由"})
    expected_version = fields.Integer(metadata={"description": "读取毕业记录时的 version（也可写作 version）"})


class PromotionBody(Schema):
    year_id = fields.Integer(required=True, metadata={"description": "要升级的学年编号"})


class RevertBody(Schema):
    reason = fields.String(required=True, metadata={"description": "撤销理由"})


class PromoteHeldBody(Schema):
    school_id = fields.Integer(metadata={"description": "只补升级这所学校的学生（不填为本辖区全部）"})


# ---------------------------------------------------------------- serialisation

def _stage(code):
    return {"code": code, "name": grades.STAGE_LABELS.get(code, code)} if code else None


def _person(account):
    return (account.real_name or account.username) if account is not None else None


def time_point_label(value):
    """2027-08-11 00:00 → "2027年8月10日24时", as the 2014 guide (and the screens) say it; None stays None."""
    return school_years.time_point_label(value) if value is not None else None


def _run_out(run):
    if run is None:
        return None
    return {"id": run.id, "title": str(run), "year": {"id": run.year_id, "name": run.year.name if run.year else None},
            "state": _label(run.state), "scheduled": run.scheduled,
            "ran_at": _iso(run.ran_at), "ran_by": "定时任务" if run.scheduled else _person(run.ran_by),
            "promoted": run.promoted, "classes": run.classes, "held": run.held, "grace_until": _iso(run.grace_until),
            "reverted_at": _iso(run.reverted_at), "reverted_by": _person(run.reverted_by),
            "reverted_reason": run.reverted_reason, "seconds": run.seconds}


def _year_out(session, year, current_year_id, current_term_id):
    return {"id": year.id, "name": year.name, "start_year": year.start_year, "starts_on": _iso(year.starts_on),
            "ends_on": _iso(year.ends_on), "promotion_at": _iso(year.promotion_at),
            "promotion_at_label": time_point_label(year.promotion_at), "version": year.version,
            "current": year.id == current_year_id,
            "terms": [{"id": t.id, "kind": _label(t.kind), "name": str(t), "starts_on": _iso(t.starts_on),
                       "ends_on": _iso(t.ends_on), "current": t.id == current_term_id} for t in year.terms],
            "standing_run": _run_out(promotion.standing_run(session, year))}


def _year_now(session, year):
    """One year as the list shows it, with today's current year and term."""
    current, term = school_years.current_year(session), school_years.current_term(session)
    return _year_out(session, year, current.id if current else None, term.id if term else None)


def _class_out(cls, counts):
    n, boys, girls = counts.get(cls.id, (0, 0, 0))
    return {"id": cls.id, "name": cls.name, "title": str(cls), "school": _school(cls.school),
            "stage": _stage(cls.stage), "grade": _grade(cls.grade), "cohort_year": cls.cohort_year,
            "class_no": cls.class_no, "head_teacher": cls.head_teacher, "active": cls.active,
            "students": n, "boys": boys, "girls": girls, "version": cls.version}


def _classes_out(session, classes):
    counts = school_years.class_counts(session, [c.id for c in classes])
    return [_class_out(c, counts) for c in classes]


def _student_brief(actor, s):
    return {"id": s.id, "name": s.name, "xueji_no": privacy.shown_xueji(actor, s.xueji_no),
            "status": _label(s.status)}


def _graduate_out(actor, g):
    s = g.student
    return {"id": g.id,
            "student": {**_student_brief(actor, s),
                        "gender": {"code": s.gender, "name": tables.label("gender", s.gender)},
                        "id_number": privacy.shown_id(actor, s.id_number) if s.id_number else s.id_number},
            "school": _school(g.school), "stage": _stage(g.stage), "grade": _grade(g.grade),
            "class_name": g.school_class.name if g.school_class is not None else None,
            "year": {"id": g.year_id, "name": g.year.name} if g.year is not None else None,
            "state": _label(g.state), "graduated_on": _iso(g.graduated_on), "certificate_no": g.certificate_no,
            "destination": {"code": g.destination, "name": tables.label(DESTINATIONS, g.destination)}
            if g.destination else None,
            "destination_by_admission": g.destination_by_admission,
            "rejected_reason": g.rejected_reason, "rejected_at": _iso(g.rejected_at),
            "rejected_by": _person(g.rejected_by), "version": g.version}


def _blockers_out(open_requests, problem_sides):
    return {
        "open_requests": [{"id": r.id, "type": r.type, "type_label": r.type_label, "state": _label(r.state),
                           "student": {"id": r.student.id, "name": r.student.name} if r.student else None,
                           "school": _unit_brief(r.school), "created_at": _iso(r.created_at)}
                          for r in open_requests],
        "problem_sides": [{"id": s.id, "problem_id": s.problem_id, "kind": _label(s.problem.kind),
                           "treatment": _label(s.treatment),
                           "student": {"id": s.student.id, "name": s.student.name} if s.student else None}
                          for s in problem_sides],
    }


def _held_out(actor, h):
    return {"id": h.id, "student": _student_brief(actor, h.student), "school": _school(h.school),
            "grade": _grade(h.grade), "reason": _label(h.reason),
            "request": {"id": h.request.id, "type_label": h.request.type_label, "state": _label(h.request.state)}
            if h.request is not None else None,
            "promoted_later_at": _iso(h.promoted_later_at)}


# ---------------------------------------------------------------- input

def _id_list(body, name):
    return id_list(body, name, MAX_IDS)


def _date_fields(body, *names):
    """The named fields that are present, each a text (dates and time points are parsed by the service)."""
    out = {}
    for name in names:
        if name in body:
            out[name] = _text(body, name)
    return out


def _grade_arg():
    grade = (request.args.get("grade") or "").strip()
    if grade and grade not in grades.ALL_GRADES:
        raise BadInput(f"grade 的取值“{grade}”不是有效的年级代码（如 11 为小学一年级）")
    return grade or None


def _school_arg(session, actor, value, name="school_id"):
    """A school inside the actor's scope, or 404 exactly like a school that does not exist."""
    school_id = _int_or_none(value, name)
    if school_id is None:
        return None
    school = scope.get(session, actor, OrgUnit, _in_range(school_id))
    if school.kind != OrgKind.SCHOOL:
        raise NotFound("记录不存在或不在您的管辖范围内")
    return school


# ---------------------------------------------------------------- the API

class SchoolYearApi(PathScopedMixin, RegistryApiMixin, BaseApi):
    resource_name = "school-year"
    openapi_spec_tag = "学年学期、毕业与升级"
    allow_browser_login = False
    include_route_methods = {
        "list_years", "open_year", "update_year", "update_term",
        "list_classes", "create_classes", "update_class", "delete_class", "assign_students",
        "check_graduation", "graduate", "list_graduates", "update_graduates", "reject_graduate",
        "list_promotions", "run_promotion", "revert_promotion", "promote_held", "held_students", "report",
    }
    openapi_spec_component_schemas = (YearBody, YearUpdateBody, TermBody, ClassCreateBody, ClassUpdateBody,
                                      AssignBody, GraduationBody, GraduateInfoBody, RejectBody, PromotionBody,
                                      RevertBody, PromoteHeldBody)
    scoped_paths = (("/years/", SchoolYear), ("/terms/", SchoolTerm), ("/classes/", SchoolClass),
                    ("/graduates/", Graduation), ("/promotions/", PromotionRun))

    # ------------------------------------------------------------ 学年学期

    @expose("/years", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def list_years(self):
        """学年学期：全省统一的学年、学期和升级时点
        ---
        get:
          summary: 学年列表（最新的在前），含学期、升级时点、是否当前学年、已执行的升级
          responses:
            200:
              description: current_year_id、current_term_id 与 result（[{id, name, start_year, starts_on, ends_on,
                promotion_at, promotion_at_label, version, current, terms, standing_run}]）
            401:
              $ref: '#/components/responses/401'
        """
        def work(actor, saved):
            session = db.session
            current = school_years.current_year(session)
            term = school_years.current_term(session)
            years = session.scalars(select(SchoolYear).where(scope.clause(actor, SchoolYear))
                                    .options(selectinload(SchoolYear.terms))
                                    .order_by(SchoolYear.start_year.desc())).all()
            return {"count": len(years), "current_year_id": current.id if current else None,
                    "current_term_id": term.id if term else None,
                    "result": [_year_out(session, y, current.id if current else None, term.id if term else None)
                               for y in years]}
        return self._serve(work)

    @expose("/years", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def open_year(self):
        """设置学年（省级管理员）：同时建立秋季学期和春季学期
        ---
        post:
          summary: 设置新学年
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/YearBody'
          responses:
            201:
              description: 已设置
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            data = {"start_year": body.get("start_year"),
                    **_date_fields(body, "starts_on", "ends_on", "promotion_at")}
            if isinstance(data["start_year"], (bool, list, dict)):
                raise BadInput("start_year 应为整数")
            year = school_years.open_year(db.session, actor, data)
            return {"id": year.id, "result": _year_now(db.session, year),
                    "message": f"已设置{year.name}，升级时点为{time_point_label(year.promotion_at)}"}
        return self._serve(work, status=201)

    @expose("/years/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    def update_year(self, pk):
        """修改学年的日期和升级时点（升级执行前，省级管理员）
        ---
        put:
          summary: 修改学年
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/YearUpdateBody'
          responses:
            200:
              description: 已保存
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            scope.get(db.session, actor, SchoolYear, _in_range(pk))
            body = _body()
            version = _int_or_none(body.get("expected_version"), "expected_version")
            data = _date_fields(body, "starts_on", "ends_on", "promotion_at")
            if not data:
                raise BadInput("没有要修改的内容（starts_on、ends_on、promotion_at）")
            year = school_years.update_year(db.session, actor, pk, data, expected_version=version)
            return {"id": year.id, "version": year.version, "result": _year_now(db.session, year),
                    "message": f"已保存{year.name}，升级时点为{time_point_label(year.promotion_at)}"}
        return self._serve(work)

    @expose("/terms/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    def update_term(self, pk):
        """修改学期日期（省级管理员）
        ---
        put:
          summary: 修改学期
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/TermBody'
          responses:
            200:
              description: 已保存
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            scope.get(db.session, actor, SchoolTerm, _in_range(pk))
            body = _body()
            term = school_years.update_term(db.session, actor, pk, _date_fields(body, "starts_on", "ends_on"))
            return {"id": term.id, "result": {"id": term.id, "kind": _label(term.kind), "name": str(term),
                                              "starts_on": _iso(term.starts_on), "ends_on": _iso(term.ends_on)},
                    "message": f"已保存{term}（{term.starts_on} 至 {term.ends_on}）"}
        return self._serve(work)

    # ------------------------------------------------------------ 班级

    @expose("/classes", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def list_classes(self):
        """班级：本校（或本辖区学校）的班级及人数
        ---
        get:
          summary: 班级列表
          parameters:
          - in: query
            name: school_id
            schema:
              type: integer
            description: 学校编号（学校账号默认本校；县级及以上不填为本辖区全部学校）
          - in: query
            name: grade
            schema:
              type: string
            description: 年级代码，如 11
          - in: query
            name: active
            schema:
              type: string
            description: true（在用班级，默认）、false（已毕业的班级）或 all
          - in: query
            name: page
            schema:
              type: integer
          - in: query
            name: page_size
            schema:
              type: integer
          responses:
            200:
              description: count 与 result（[{id, name, title, school, stage, grade, cohort_year, class_no,
                head_teacher, active, students, boys, girls, version}]）
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
        """
        def work(actor, saved):
            session = db.session
            school = _school_arg(session, actor, request.args.get("school_id"))
            grade = _grade_arg()
            active = (request.args.get("active") or "true").strip().lower()
            if active not in ("true", "false", "all"):
                raise BadInput("active 的取值应为 true、false 或 all")
            stmt = select(SchoolClass).where(scope.clause(actor, SchoolClass)).options(selectinload(SchoolClass.school))
            if school is not None:
                stmt = stmt.where(SchoolClass.school_id == school.id)
            if grade:
                stmt = stmt.where(SchoolClass.grade == grade)
            if active != "all":
                stmt = stmt.where(SchoolClass.active.is_(active == "true"))
            stmt = stmt.order_by(SchoolClass.school_id, SchoolClass.grade, SchoolClass.cohort_year.desc(),
                                 SchoolClass.class_no)
            total, page, size, rows = _page(session, stmt)
            return {"count": total, "page": page, "page_size": size, "school": _school(school),
                    "result": _classes_out(session, rows)}
        return self._serve(work)

    @expose("/classes", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def create_classes(self):
        """建班：为一个年级新建若干班级（班号接在已有班级之后）
        ---
        post:
          summary: 新建班级
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ClassCreateBody'
          responses:
            201:
              description: 已新建（result 为新建的班级）
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            school_id = _int_or_none(body.get("school_id"), "school_id")
            if school_id is not None:
                _in_range(school_id)
            grade = _code_text(body, "grade")
            count = _int_or_none(body.get("count"), "count")
            teachers = body.get("head_teachers") or []
            if not isinstance(teachers, list) or not all(t is None or isinstance(t, str) for t in teachers):
                raise BadInput("head_teachers 应为班主任姓名列表")
            made = school_years.create_classes(db.session, actor, school_id, grade, count if count is not None else 1,
                                               head_teachers=teachers)
            first = made[0]
            return {"count": len(made), "result": _classes_out(db.session, made),
                    "message": f"已为{first.school.name}{grades.grade_label(first.grade)}新建 {len(made)} 个班："
                               + "、".join(c.name for c in made)}
        return self._serve(work, status=201)

    @expose("/classes/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    def update_class(self, pk):
        """修改班级：班主任、班号
        ---
        put:
          summary: 修改班级
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ClassUpdateBody'
          responses:
            200:
              description: 已保存
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            cls = scope.get(db.session, actor, SchoolClass, _in_range(pk))
            body = _body()
            version = _int_or_none(body.get("expected_version"), "expected_version")
            # Not sent = unchanged (the service takes the whole form, where an empty field clears).
            teacher = _text(body, "head_teacher") if "head_teacher" in body else cls.head_teacher
            class_no = _int_or_none(body.get("class_no"), "class_no")
            cls = school_years.update_class(db.session, actor, pk, {"head_teacher": teacher, "class_no": class_no},
                                            expected_version=version)
            return {"id": cls.id, "version": cls.version, "result": _classes_out(db.session, [cls])[0],
                    "message": f"已保存{cls}"}
        return self._serve(work)

    @expose("/classes/<int:pk>", methods=["DELETE"])
    @protect()
    @safe
    @permission_name("delete")
    def delete_class(self, pk):
        """删除班级（班内没有学生时）
        ---
        delete:
          summary: 删除班级
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          responses:
            200:
              description: 已删除
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            text = str(scope.get(db.session, actor, SchoolClass, _in_range(pk)))
            school_years.delete_class(db.session, actor, pk)
            return {"id": pk, "message": f"已删除{text}"}
        return self._serve(work)

    @expose("/classes/<int:pk>/students", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def assign_students(self, pk):
        """分班：把本校同年级的学生分入这个班
        ---
        post:
          summary: 分班
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/AssignBody'
          responses:
            200:
              description: 已分班（count 为分入的人数，class 为班级及人数）
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            cls = scope.get(db.session, actor, SchoolClass, _in_range(pk))
            ids = _id_list(_body(), "student_ids")
            if not ids:
                raise BadInput("请选择要分入本班的学生（student_ids）")
            placed = school_years.assign_students(db.session, actor, pk, ids)
            return {"count": len(placed), "student_ids": [s.id for s in placed],
                    "class": _classes_out(db.session, [cls])[0], "message": f"已将 {len(placed)} 名学生分入{cls}"}
        return self._serve(work)

    # ------------------------------------------------------------ 毕业

    @expose("/graduation/check", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def check_graduation(self):
        """毕业前检查：所选学生，以及阻止毕业的在办业务和问题学籍
        ---
        post:
          summary: 毕业前检查（学校）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/GraduationBody'
          responses:
            200:
              description: students（[{id, name, grade, status, final}]）、open_requests、problem_sides 与 blocked
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            rows, reqs, sides = graduation.check(db.session, actor, _id_list(body, "student_ids"),
                                                 _id_list(body, "class_ids"))
            school = _actor_unit(actor)
            blocked = bool(reqs or sides)
            people = len({r.student_id for r in reqs} | {s.student_id for s in sides})
            return {"count": len(rows), "blocked": blocked,
                    "students": [{"id": r.id, "name": r.name, "grade": _grade(r.grade), "status": _label(r.status),
                                  "final": grades.is_final(school, r.grade)} for r in rows],
                    **_blockers_out(reqs, sides),
                    "message": f"所选 {len(rows)} 名学生中有 {people} 名有在办业务或未处理的问题学籍，请先处理"
                    if blocked else f"所选 {len(rows)} 名学生没有在办业务和未处理的问题学籍"}
        return self._serve(work)

    @expose("/graduation", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def graduate(self):
        """毕业：学校为毕业年级的班级或学生办理毕业（全部成功或全部不办理）
        ---
        post:
          summary: 办理毕业（学校；无需县级核办）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/GraduationBody'
          responses:
            201:
              description: 已毕业（count 为人数）
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              description: 不能毕业；有在办业务或问题学籍时另含 open_requests 与 problem_sides
        """
        blocked = {}

        def work(actor, saved):
            body = _body()
            try:
                n = graduation.graduate(db.session, actor, student_ids=_id_list(body, "student_ids"),
                                        class_ids=_id_list(body, "class_ids"),
                                        graduated_on=_text(body, "graduated_on"))
            except graduation.GraduationBlocked as exc:
                blocked.update(_blockers_out(exc.open_requests, exc.problem_sides))
                raise
            return {"count": n, "message": f"已为 {n} 名学生办理毕业"}
        answer = self._serve(work, status=201)
        if blocked:
            return self.response(answer.status_code, **{**answer.get_json(), **blocked})
        return answer

    @expose("/graduates", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def list_graduates(self):
        """毕业生查询与毕业生驳回查询
        ---
        get:
          summary: 毕业生（state=graduated，默认）或被驳回的毕业记录（state=rejected）
          parameters:
          - in: query
            name: state
            schema:
              type: string
            description: graduated（已毕业，默认）、rejected（已驳回）或 all
          - in: query
            name: school_id
            schema:
              type: integer
          - in: query
            name: grade
            schema:
              type: string
          - in: query
            name: destination
            schema:
              type: string
            description: 毕业去向代码；none 为尚未填写
          - in: query
            name: q
            schema:
              type: string
            description: 姓名开头或学籍号
          - in: query
            name: page
            schema:
              type: integer
          - in: query
            name: page_size
            schema:
              type: integer
          responses:
            200:
              description: count 与 result（[{id, student, school, stage, grade, class_name, year, state,
                graduated_on, certificate_no, destination, destination_by_admission, rejected_reason,
                rejected_at, rejected_by, version}]）
            400:
              $ref: '#/components/responses/400'
        """
        def work(actor, saved):
            session = db.session
            state = _enum_arg("state", GraduationState, extra=("all",)) or GraduationState.GRADUATED
            destination = (request.args.get("destination") or "").strip() or None
            if destination not in (None, "none") and destination not in tables.table(DESTINATIONS):
                raise BadInput(f"destination 的取值“{destination}”不是毕业去向代码（可选：none、"
                               + "、".join(f"{k}（{v}）" for k, v in tables.table(DESTINATIONS).items()) + "）")
            school_id = id_arg("school_id")
            stmt = graduation.graduates_query(
                actor, state=None if state == "all" else state, school_id=school_id, grade=_grade_arg(),
                destination=destination, q=request.args.get("q") or None)
            stmt = stmt.options(selectinload(Graduation.student), selectinload(Graduation.school),
                                selectinload(Graduation.school_class), selectinload(Graduation.year),
                                selectinload(Graduation.rejected_by))
            total, page, size, rows = _page(session, stmt)
            _audit_full(session, actor, [g.student for g in rows], "接口：毕业生查询")
            return {"count": total, "page": page, "page_size": size,
                    "destinations": [{"code": k, "name": v} for k, v in tables.table(DESTINATIONS).items()],
                    "result": [_graduate_out(actor, g) for g in rows]}
        return self._serve(work)

    @expose("/graduates", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    def update_graduates(self):
        """毕业信息管理：为一名或多名毕业生填写毕业日期、毕业证书编号、毕业去向
        ---
        put:
          summary: 修改毕业信息（学校；只修改传入的字段）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/GraduateInfoBody'
          responses:
            200:
              description: 已保存
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            ids = _id_list(body, "ids")
            if not ids:
                raise BadInput("请选择毕业生（ids）")
            version = _int_or_none(body.get("expected_version"), "expected_version")
            data = _date_fields(body, "graduated_on", "certificate_no")
            if "destination" in body:
                data["destination"] = _code_text(body, "destination")
            rows = graduation.update_info(db.session, actor, ids, data, expected_version=version)
            return {"count": len(rows), "result": [_graduate_out(actor, g) for g in rows],
                    "message": f"已保存 {len(rows)} 名毕业生的毕业信息"}
        return self._serve(work)

    @expose("/graduates/<int:pk>/reject", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def reject_graduate(self, pk):
        """毕业生驳回：县级及以上把毕业生驳回为在校（以便修改数据或办理休学）
        ---
        post:
          summary: 驳回毕业生（须填写理由）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
            description: 毕业记录编号
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/RejectBody'
          responses:
            200:
              description: 已驳回，学籍恢复为在校
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            scope.get(db.session, actor, Graduation, _in_range(pk))
            body = _body()
            version = _int_or_none(body.get("expected_version", body.get("version")), "expected_version")
            g = graduation.reject(db.session, actor, pk, _text(body, "reason"), expected_version=version)
            return {"id": g.id, "result": _graduate_out(actor, g),
                    "message": f"已驳回 {g.student.name} 的毕业，学籍恢复为在校"}
        return self._serve(work)

    # ------------------------------------------------------------ 升级

    @expose("/promotions", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def list_promotions(self):
        """升级记录：每次升级（含已撤销的）和下一个升级时点
        ---
        get:
          summary: 升级记录（最新的在前）
          responses:
            200:
              description: next_time_point 与 result（[{id, title, year, state, scheduled, ran_at, ran_by, promoted,
                classes, held, grace_until, reverted_at, reverted_by, reverted_reason, seconds}]）
        """
        def work(actor, saved):
            session = db.session
            runs = session.scalars(select(PromotionRun).where(scope.clause(actor, PromotionRun))
                                   .options(selectinload(PromotionRun.year), selectinload(PromotionRun.ran_by),
                                            selectinload(PromotionRun.reverted_by))
                                   .order_by(PromotionRun.ran_at.desc(), PromotionRun.id.desc())).all()
            upcoming = promotion.next_time_point(session)
            return {"count": len(runs), "next_time_point": _iso(upcoming),
                    "next_time_point_label": time_point_label(upcoming),
                    "result": [_run_out(r) for r in runs]}
        return self._serve(work)

    @expose("/promotions", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def run_promotion(self):
        """立即升级（省级管理员）：全省非毕业年级的学生和班级升一个年级
        ---
        post:
          summary: 执行升级（每个学年只升级一次）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/PromotionBody'
          responses:
            201:
              description: 已升级
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            year_id = _int_or_none(_body().get("year_id"), "year_id")
            if year_id is None:
                raise BadInput("请选择要升级的学年（year_id）")
            if not 0 < year_id <= MAX_ID:
                raise BadInput("year_id 应为有效的编号")
            run = promotion.run(db.session, actor, year_id)
            return {"id": run.id, "result": _run_out(run),
                    "message": f"{run.year.name}升级完成：{run.promoted} 名学生、{run.classes} 个班级已处理，"
                               f"{run.held} 名学生留在原年级（见未升级名单）"}
        return self._serve(work, status=201)

    @expose("/promotions/<int:pk>/revert", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def revert_promotion(self, pk):
        """撤销升级（省级管理员，可撤销期限内）：学生和班级退回原年级
        ---
        post:
          summary: 撤销升级（须填写理由）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/RevertBody'
          responses:
            200:
              description: 已撤销（back 为退回原年级的人数）
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            scope.get(db.session, actor, PromotionRun, _in_range(pk))
            run, back = promotion.revert(db.session, actor, pk, _text(_body(), "reason"))
            return {"id": run.id, "back": back, "result": _run_out(run),
                    "message": f"已撤销{run}：{back} 名学生退回原年级"}
        return self._serve(work)

    @expose("/promotions/<int:pk>/promote-held", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def promote_held(self, pk):
        """补升级（县级及以上）：留在原年级的学生，原因已消除的（在办业务已办结、已复学）现在升级
        ---
        post:
          summary: 补升级
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          requestBody:
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/PromoteHeldBody'
          responses:
            200:
              description: 已补升级（count 为人数）
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            scope.get(db.session, actor, PromotionRun, _in_range(pk))
            body = _body() if request.get_data() else {}
            school = _school_arg(db.session, actor, body.get("school_id"))
            done = promotion.promote_held(db.session, actor, pk, school_id=school.id if school else None)
            return {"count": len(done), "student_ids": [s.id for s in done],
                    "message": f"已补升级 {len(done)} 名学生" if done else "没有可以补升级的学生（留级原因尚未消除）"}
        return self._serve(work)

    @expose("/promotions/<int:pk>/held", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def held_students(self, pk):
        """留在原年级的学生（休学、有在办业务、毕业年级未毕业）
        ---
        get:
          summary: 某次升级留在原年级的学生（本辖区）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          - in: query
            name: school_id
            schema:
              type: integer
          - in: query
            name: reason
            schema:
              type: string
            description: suspended（休学）、open_request（有在办业务）、not_graduated（毕业年级未毕业）
          - in: query
            name: page
            schema:
              type: integer
          - in: query
            name: page_size
            schema:
              type: integer
          responses:
            200:
              description: count 与 result（[{id, student, school, grade, reason, request, promoted_later_at}]）
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
        """
        def work(actor, saved):
            session = db.session
            run = scope.get(session, actor, PromotionRun, _in_range(pk))
            school = _school_arg(session, actor, request.args.get("school_id"))
            reason = _enum_arg("reason", HoldReason)
            stmt = promotion.held_students_query(actor, pk, school_id=school.id if school else None, reason=reason)
            stmt = stmt.options(selectinload(PromotionHold.student), selectinload(PromotionHold.school),
                                selectinload(PromotionHold.request))
            total, page, size, rows = _page(session, stmt)
            return {"count": total, "page": page, "page_size": size, "run": _run_out(run),
                    "result": [_held_out(actor, h) for h in rows]}
        return self._serve(work)

    @expose("/report", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def report(self):
        """学年末统计：本辖区各学校的升级、毕业、驳回和留在原年级的人数
        ---
        get:
          summary: 学年末统计
          parameters:
          - in: query
            name: year_id
            schema:
              type: integer
            description: 学年编号（默认当前学年，没有则为最近的学年）
          responses:
            200:
              description: year、run、totals 与 result（[{school, county, promoted, graduated, rejected, suspended,
                open_request, not_graduated, held}]）
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
        """
        def work(actor, saved):
            session = db.session
            year_id = _int_or_none(request.args.get("year_id"), "year_id")
            if year_id is not None:
                year = scope.get(session, actor, SchoolYear, _in_range(year_id))
            else:
                year = school_years.current_year(session) or session.scalar(
                    select(SchoolYear).where(scope.clause(actor, SchoolYear)).order_by(SchoolYear.start_year.desc()))
                if year is None:
                    raise NotFound("还没有设置学年")
            run, rows = promotion.year_end_report(session, actor, year)
            county_paths = {r["county_path"] for r in rows}
            counties = {u.path: u for u in session.scalars(select(OrgUnit).where(OrgUnit.path.in_(county_paths)))} \
                if county_paths else {}
            keys = ["promoted", "graduated", "rejected", *(r.value for r in HoldReason), "held"]
            out = []
            for r in rows:
                county = counties.get(r["county_path"])
                out.append({"school": _school(r["school"]),
                            "county": {"id": county.id, "name": county.name} if county is not None else None,
                            **{k: r[k] for k in keys}})
            return {"year": {"id": year.id, "name": year.name}, "run": _run_out(run), "count": len(out),
                    "columns": {"promoted": "升级", "graduated": "毕业", "rejected": "毕业驳回",
                                **{r.value: f"未升级（{r.label}）" for r in HoldReason}, "held": "未升级合计"},
                    "totals": {k: sum(r[k] for r in rows) for k in keys}, "result": out}
        return self._serve(work)


def register(appbuilder):
    from app.extensions import csrf

    view = appbuilder.add_api(SchoolYearApi)
    blueprint = getattr(view, "blueprint", None)
    if blueprint is not None:
        csrf.exempt(blueprint)  # JWT, not cookies
