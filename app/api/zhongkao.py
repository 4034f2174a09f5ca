"""中招 API (JWT): the year's exam, 中考报名 and the candidates of the caller's scope — the same
services and scoping as the screens (config.ZHONGKAO_VIEWS grants ZkApi to every officer role;
the services decide who does what)."""
from flask import request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import permission_name, protect
from marshmallow import Schema, fields
from sqlalchemy import or_
from sqlalchemy.orm import selectinload

from app.api import BadInput, PathScopedMixin, enum_arg, id_arg, id_list, iso, label, page
from app.api.registry import RegistryApiMixin, _body
from app.extensions import db
from app.models.zhongkao import Candidate, InfoState, QualState
from app.services import identity
from app.services.zhongkao import exams, registration

MANUAL_FIELDS = ("school_id", "origin", "category", "hukou_kind", "intent", "name", "gender", "birth_date",
                 "id_number", "ethnicity", "graduated_school_name", "phone", "guardian_name", "guardian_phone",
                 "hukou_address", "home_address")


class ZkRegisterBody(Schema):
    school_ids = fields.List(fields.Integer(), metadata={"description": "只报名这些学校（缺省为本辖区全部初中）"})
    student_ids = fields.List(fields.Integer(), metadata={"description": "只报名这些毕业年级学生"})


class ZkManualBody(Schema):
    school_id = fields.Integer(required=True, metadata={"description": "报名点（学校）"})
    origin = fields.String(metadata={"description": "manual（往届）或 out_of_province（外省）"})
    category = fields.String(metadata={"description": "fresh（应届）或 past（往届）"})
    name = fields.String(required=True)
    gender = fields.String(required=True, metadata={"description": "1 男，2 女"})
    birth_date = fields.String(required=True, metadata={"description": "YYYY-MM-DD"})
    id_number = fields.String(required=True)
    graduated_school_name = fields.String(required=True)


def _exam_out(exam):
    return {"id": exam.id, "year": exam.year, "name": exam.name, "reg_no_pattern": exam.reg_no_pattern,
            "exam_no_pattern": exam.exam_no_pattern, "registration_opens": iso(exam.registration_opens),
            "registration_closes": iso(exam.registration_closes), "room_size": exam.room_size,
            "allocation_years": exam.allocation_years, "scores_publish_at": iso(exam.scores_publish_at),
            "subjects": [{"code": s.code, "name": s.name, "kind": label(s.kind), "max_score": float(s.max_score)}
                         for s in exam.subjects],
            "timetable": exams.timetable_rows(exam)}


def _candidate_out(c):
    return {"id": c.id, "reg_no": c.reg_no, "exam_no": c.exam_no, "name": c.name, "gender": c.gender,
            "birth_date": iso(c.birth_date), "id_number": identity.mask(c.id_number) if c.id_number else None,
            "school": {"id": c.school.id, "name": c.school.name}, "origin": label(c.origin),
            "category": label(c.category), "hukou_kind": label(c.hukou_kind), "intent": label(c.intent),
            "info_state": label(c.info_state), "qual_state": label(c.qual_state),
            "allocation_eligible": c.allocation_eligible, "seat_no": c.seat_no, "version": c.version}


class ZkApi(PathScopedMixin, RegistryApiMixin, BaseApi):
    resource_name = "zhongkao"
    openapi_spec_tag = "中招"
    allow_browser_login = False
    include_route_methods = {"get_exam", "list_candidates", "get_candidate", "register", "register_manual"}
    openapi_spec_component_schemas = (ZkRegisterBody, ZkManualBody)
    scoped_paths = (("/candidates/", Candidate),)

    @expose("/exam", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def get_exam(self):
        """本年度中考设置
        ---
        get:
          summary: 本年度中考（科目、报名号规则、日程）
          responses:
            200:
              description: result
            401:
              $ref: '#/components/responses/401'
            422:
              $ref: '#/components/responses/422'
        """
        return self._serve(lambda actor, saved: {"result": _exam_out(exams.require_exam(db.session))})

    @expose("/candidates", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def list_candidates(self):
        """本辖区考生
        ---
        get:
          summary: 考生列表（报名号、准考证号或姓名前缀查询）
          parameters:
          - {in: query, name: q, schema: {type: string}}
          - {in: query, name: school_id, schema: {type: integer}}
          - {in: query, name: info_state, schema: {type: string}}
          - {in: query, name: qual_state, schema: {type: string}}
          - {in: query, name: page, schema: {type: integer}}
          - {in: query, name: page_size, schema: {type: integer}}
          responses:
            200:
              description: count 与 result
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        def work(actor, saved):
            exam = exams.require_exam(db.session)
            stmt = registration.candidates_query(actor, exam, school_id=id_arg("school_id"))
            info = enum_arg("info_state", InfoState)
            qual = enum_arg("qual_state", QualState)
            if info is not None:
                stmt = stmt.where(Candidate.info_state == info)
            if qual is not None:
                stmt = stmt.where(Candidate.qual_state == qual)
            q = (request.args.get("q") or "").strip()
            if len(q) > 40:
                raise BadInput("q 不能超过 40 个字")
            if q:
                stmt = stmt.where(or_(Candidate.reg_no.startswith(q, autoescape=True),
                                      Candidate.exam_no.startswith(q, autoescape=True),
                                      Candidate.name.startswith(q, autoescape=True)))
            stmt = stmt.options(selectinload(Candidate.school)).order_by(Candidate.school_path, Candidate.seq)
            total, number, size, rows = page(db.session, stmt)
            return {"count": total, "page": number, "page_size": size, "result": [_candidate_out(c) for c in rows]}
        return self._serve(work)

    @expose("/candidates/<int:pk>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def get_candidate(self, pk):
        """一名考生
        ---
        get:
          summary: 考生信息（身份证号脱敏）
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200:
              description: result
            404:
              $ref: '#/components/responses/404'
        """
        return self._serve(lambda actor, saved: {
            "result": _candidate_out(registration.get_candidate(db.session, actor, pk))})

    @expose("/candidates/register", methods=["POST"])
    @protect()
    @safe
    @permission_name("register")
    def register(self):
        """从学籍库报名（应届）
        ---
        post:
          summary: 本辖区（或所选学校、所选学生）初中毕业年级在校学生一键报名
          requestBody:
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ZkRegisterBody'
          responses:
            200:
              description: added（新报名人数）与 duplicates（身份证号重复未报名人数）
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = request.get_json(silent=True) or {}
            if not isinstance(body, dict):
                raise BadInput("请求内容应为 JSON 对象")
            schools = id_list(body, "school_ids", 500) or None
            students = id_list(body, "student_ids", 5000) or None
            result = registration.register_graduating(db.session, actor, school_ids=schools, student_ids=students)
            return {**result, "message": f"已报名 {result['added']} 名应届毕业生"}
        return self._serve(work)

    @expose("/candidates", methods=["POST"])
    @protect()
    @safe
    @permission_name("register")
    def register_manual(self):
        """往届生、外省考生报名
        ---
        post:
          summary: 手工报名（身份证号按学籍规则校验；每人每年一次）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ZkManualBody'
          responses:
            201:
              description: result
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            data = {k: body.get(k) for k in MANUAL_FIELDS if k in body}
            bad = [k for k, v in data.items() if v is not None and not isinstance(v, (str, int)) or isinstance(v, bool)]
            if bad:
                raise BadInput(f"{bad[0]} 的格式不正确")
            c = registration.register_manual(db.session, actor, {k: str(v) for k, v in data.items()})
            return {"id": c.id, "result": _candidate_out(c), "message": f"{c.name} 已报名，报名号 {c.reg_no}"}
        return self._serve(work, status=201)


def register(appbuilder):
    from app.extensions import csrf

    view = appbuilder.add_api(ZkApi)
    blueprint = getattr(view, "blueprint", None)
    if blueprint is not None:
        csrf.exempt(blueprint)  # JWT, not cookies
