"""REST API of 招生入学: /api/v1/admission/…

Same rules as the other APIs (app/api/registry.py, app/api/school_year.py): JWT (POST
/api/v1/security/login), every read and write goes through the service the screens use
(services/admissions.py, services/requests.py) — no rule lives here —, a service's DomainError
answers {"message": "<中文>", "field": …} with its status (422 a refused rule, 403 not yours to do,
404 not found) and nothing written, a malformed body or query answers 400, an out-of-scope id
answers 404 exactly like an id that does not exist (even before the permission check), and 学籍号
are masked for roles without full view (each full view audited).

One resource, AdmissionApi (config.ADMISSION_VIEWS grants it to every officer role and its read
permission — can_get — to readers; the services decide who does what: counties set plans, import
the list and approve; schools admit, withdraw and prove; the common superior arbitrates):
- GET  plans                         招生计划数 in scope (year_id, grade, school_id), paged
- POST plans                         招生计划数设置 (county)
- POST plans/<pk>/change             招生计划数变更申请 (school; the county approves in 审批待办)
- GET  list-rows                     统一招生名单 (year_id, to_school_id, waiting_only, q), paged
- POST list-rows                     one row of the list by hand (county), checked like the workbook
- POST list-rows/admit               统一招生录取 of list rows (school), each on its own
- POST self-admit                    自主招生 by 学籍号 (or 个人标识码) and name (school)
- GET  admissions                    录取查询 (state, kind, school_id, year_id, q, elsewhere=1), paged
- GET  admissions/<pk>               one admission with its 核办 steps and 重复招生 case
- POST admissions/<pk>/withdraw      撤销录取 (the admitting school)
- POST admissions/<pk>/prove         重复招生佐证 with evidence (the admitting school)
- GET  duplicates                    重复招生 cases (state, arbitration_only=1), paged
- GET  duplicates/<pk>               one case with every admitting school
- POST duplicates/<pk>/arbitrate     重复招生仲裁 (the lowest common superior)
The counties' 新生录取核办 / 外地就读学生核办 and the approval of a 佐证 are requests: they are
decided through /api/v1/request/ (approve, reject, bulk approve) like every other request.
"""
from flask import request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import permission_name, protect
from marshmallow import Schema, fields
from sqlalchemy.orm import selectinload

from app.api import (MAX_ID, BadInput, PathScopedMixin, audit_full as _audit_full, enum_arg as _enum_arg,
                     grade_brief as _grade, id_arg as _id_arg, id_list, in_range as _in_range, iso as _iso,
                     label as _label, page as _page, school_brief as _school)
from app.api.movements import _started, _unit_brief
from app.api.registry import RegistryApiMixin, _body, _decode_attachments, _int_or_none, _request_summary, _text
from app.extensions import db
from app.models.admission import (Admission, AdmissionKind, AdmissionListRow, AdmissionState, DuplicateAdmission,
                                  DuplicateState, EnrollmentPlan)
from app.models.requests import Request, RequestState, RequestStep
from app.services import admissions, grades, privacy, requests, scope, students

MAX_IDS = 5000


# ---------------------------------------------------------------- request bodies (OpenAPI)

class AdmissionPlanBody(Schema):
    school_id = fields.Integer(required=True, metadata={"description": "学校编号（本县（区）的学校）"})
    grade = fields.String(required=True, metadata={"description": "招生年级代码：21 初中一年级、31 高中一年级、41 中职一年级"})
    quota = fields.Integer(required=True, metadata={"description": "招生计划数（0 到 5000）"})
    year_id = fields.Integer(metadata={"description": "学年编号，默认本招生季的学年"})
    expected_version = fields.Integer(metadata={"description": "修改已有计划时：读取时的 version"})


class AdmissionPlanChangeBody(Schema):
    quota = fields.Integer(required=True, metadata={"description": "申请的招生计划数"})
    reason = fields.String(required=True, metadata={"description": "变更理由"})


class AdmissionListRowBody(Schema):
    number = fields.String(required=True, metadata={"description": "个人标识码或学籍号"})
    name = fields.String(required=True, metadata={"description": "学生姓名"})
    from_code = fields.String(required=True, metadata={"description": "毕业学校标识码"})
    to_code = fields.String(required=True, metadata={"description": "录取学校标识码"})
    stage = fields.String(required=True, metadata={"description": "教育阶段：初中、高中或中职"})
    score = fields.Float(metadata={"description": "成绩（选填）"})


class AdmissionAdmitBody(Schema):
    row_ids = fields.List(fields.Integer(), required=True, metadata={"description": "分配给本校的名单记录编号"})


class AdmissionSelfAdmitBody(Schema):
    number = fields.String(required=True, metadata={"description": "学籍号或个人标识码"})
    name = fields.String(required=True, metadata={"description": "学生姓名"})
    grade = fields.String(metadata={"description": "录取年级代码（学校只招一个年级时可不填）"})
    score = fields.Float(metadata={"description": "成绩（选填）"})
    reason = fields.String(metadata={"description": "说明（选填）"})


class AdmissionWithdrawBody(Schema):
    reason = fields.String(required=True, metadata={"description": "撤销理由"})
    expected_version = fields.Integer(metadata={"description": "读取录取时的 version"})


class AdmissionProveBody(Schema):
    reason = fields.String(required=True, metadata={"description": "学校意见（录取依据）"})
    attachments = fields.List(fields.Dict(), required=True,
                              metadata={"description": "证明材料：[{filename, content_base64}]，PDF/JPG/PNG，每个不超过 10 MB"})
    expected_version = fields.Integer(metadata={"description": "读取录取时的 version"})


class AdmissionArbitrateBody(Schema):
    winner_admission_id = fields.Integer(required=True, allow_none=True,
                                         metadata={"description": "通过的录取编号；null 为均不通过（须明确传 null）"})
    comment = fields.String(required=True, metadata={"description": "裁决理由"})
    expected_version = fields.Integer(metadata={"description": "读取重复招生时的 version"})


# ---------------------------------------------------------------- serialisation

def _year(year):
    return {"id": year.id, "name": year.name} if year is not None else None


def _score(value):
    return float(value) if value is not None else None


def _student(actor, s):
    if s is None:
        return None
    return {"id": s.id, "name": s.name, "xueji_no": privacy.shown_xueji(actor, s.xueji_no),
            "status": _label(s.status)}


def _plan_out(p):
    return {"id": p.id, "year": _year(p.year), "school": _school(p.school), "grade": _grade(p.grade),
            "quota": p.quota, "used": p.used, "free": p.free, "version": p.version, "updated_at": _iso(p.updated_at)}


def _list_row_out(actor, r):
    adm = r.admission
    return {"id": r.id, "year": _year(r.year), "student": _student(actor, r.student),
            "from_school": _school(r.from_school), "to_school": _school(r.to_school), "grade": _grade(r.grade),
            "score": _score(r.score), "imported_at": _iso(r.imported_at),
            "admission": {"id": adm.id, "state": _label(adm.state)} if adm is not None else None}


def _current(adm):
    req = adm.request
    if req is None or req.state != RequestState.PENDING:
        return None
    step = requests.current_step(req)
    return _unit_brief(step.org_unit) if step is not None else None


def _admission_out(actor, a):
    return {"id": a.id, "version": a.version, "year": _year(a.year), "kind": _label(a.kind), "state": _label(a.state),
            "name": a.name, "student": _student(actor, a.student), "school": _school(a.school), "grade": _grade(a.grade),
            "from_school": _school(a.from_school) if a.from_school is not None
            else ({"id": None, "name": a.from_school_name, "school_code": None} if a.from_school_name else None),
            "score": _score(a.score), "claim": _label(a.claim), "duplicate_id": a.duplicate_id,
            "request": _request_summary(a.request) if a.request is not None else None, "current_unit": _current(a),
            "created_at": _iso(a.created_at), "decided_at": _iso(a.decided_at), "outcome": a.outcome}


def _steps_out(req):
    if req is None:
        return []
    return [{"seq": s.seq, "unit": _unit_brief(s.org_unit), "role": _label(s.role), "party": _label(s.party),
             "decision": _label(s.decision), "actor": (s.actor.real_name or s.actor.username) if s.actor else None,
             "comment": s.comment, "decided_at": _iso(s.decided_at)} for s in sorted(req.steps, key=lambda s: s.seq)]


def _case_brief(c):
    if c is None:
        return None
    return {"id": c.id, "state": _label(c.state), "arbiter": _unit_brief(c.arbiter), "winner_admission_id": c.winner_id}


def _duplicate_out(actor, c):
    return {"id": c.id, "version": c.version, "year": _year(c.year), "student": _student(actor, c.student),
            "state": _label(c.state), "arbiter": _unit_brief(c.arbiter), "winner_admission_id": c.winner_id,
            "resolution": c.resolution, "detected_at": _iso(c.detected_at), "resolved_at": _iso(c.resolved_at),
            "arbitrated_at": _iso(c.arbitrated_at),
            "admissions": [{"id": a.id, "version": a.version, "school": _school(a.school), "kind": _label(a.kind),
                            "state": _label(a.state), "claim": _label(a.claim),
                            "claim_request_id": a.claim_request_id, "created_at": _iso(a.created_at),
                            "outcome": a.outcome} for a in c.admissions]}


# ---------------------------------------------------------------- input

def _flag_arg(name):
    value = (request.args.get(name) or "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise BadInput(f"{name} 的取值“{value}”无效（可选：1 或 0）")


def _grade_arg():
    grade = (request.args.get("grade") or "").strip()
    if grade and grade not in admissions.ENTRY_GRADES.values():
        raise BadInput(f"grade 的取值“{grade}”不是招生年级代码（21 初中一年级、31 高中一年级、41 中职一年级）")
    return grade or None


def _value(body, name):
    """A scalar of the body as text (numbers allowed), None when absent; lists and objects are refused."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise BadInput(f"{name} 的格式不正确")
    return str(value)


def _admission_relations(stmt):
    return stmt.options(selectinload(Admission.student), selectinload(Admission.school),
                        selectinload(Admission.from_school), selectinload(Admission.year),
                        selectinload(Admission.request).selectinload(Request.steps).selectinload(RequestStep.org_unit))


def _load_admission(session, actor, pk):
    return admissions.admission_of(session, actor, _in_range(pk))


# ---------------------------------------------------------------- the API

class AdmissionApi(PathScopedMixin, RegistryApiMixin, BaseApi):
    resource_name = "admission"
    openapi_spec_tag = "招生入学"
    allow_browser_login = False
    include_route_methods = {"list_plans", "set_plan", "change_plan", "list_rows", "add_list_row", "admit_from_list",
                             "self_admit", "list_admissions", "get_admission", "withdraw", "prove",
                             "list_duplicates", "get_duplicate", "arbitrate"}
    openapi_spec_component_schemas = (AdmissionPlanBody, AdmissionPlanChangeBody, AdmissionListRowBody,
                                      AdmissionAdmitBody, AdmissionSelfAdmitBody, AdmissionWithdrawBody,
                                      AdmissionProveBody, AdmissionArbitrateBody)
    scoped_paths = (("/plans/", EnrollmentPlan), ("/admissions/", Admission), ("/duplicates/", DuplicateAdmission))

    # ------------------------------------------------------------ 招生计划数

    @expose("/plans", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def list_plans(self):
        """招生计划数：本辖区学校的招生计划（已占用含待核办的录取）
        ---
        get:
          summary: 招生计划数列表
          parameters:
          - in: query
            name: year_id
            schema:
              type: integer
          - in: query
            name: grade
            schema:
              type: string
            description: 招生年级代码 21、31、41
          - in: query
            name: school_id
            schema:
              type: integer
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
              description: count 与 result（[{id, year, school, grade, quota, used, free, version}]）
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        def work(actor, saved):
            stmt = admissions.plans_query(actor, year_id=_id_arg("year_id"), grade=_grade_arg(),
                                          school_id=_id_arg("school_id"))
            stmt = stmt.options(selectinload(EnrollmentPlan.school), selectinload(EnrollmentPlan.year))
            total, page, size, rows = _page(db.session, stmt)
            return {"count": total, "page": page, "page_size": size, "result": [_plan_out(p) for p in rows]}
        return self._serve(work)

    @expose("/plans", methods=["POST"])
    @protect()
    @safe
    @permission_name("set_plan")
    def set_plan(self):
        """招生计划数设置（县（区）教育局）：设置或修改本县（区）学校的招生计划数
        ---
        post:
          summary: 设置招生计划数（不能低于已录取含待核办的人数）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/AdmissionPlanBody'
          responses:
            200:
              description: 已设置（result 为计划）
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
            plan = admissions.set_plan(db.session, actor, _value(body, "school_id"), _value(body, "grade"),
                                       _value(body, "quota"), year_id=_value(body, "year_id"),
                                       expected_version=_int_or_none(body.get("expected_version"), "expected_version"))
            return {"id": plan.id, "result": _plan_out(plan),
                    "message": f"已设置{plan.school.name}{grades.grade_label(plan.grade)}招生计划数为 {plan.quota} 人"}
        return self._serve(work)

    @expose("/plans/<int:pk>/change", methods=["POST"])
    @protect()
    @safe
    @permission_name("change_plan")
    def change_plan(self, pk):
        """招生计划数变更申请（学校）：县（区）教育局在审批待办中核办
        ---
        post:
          summary: 申请变更本校的招生计划数
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
                  $ref: '#/components/schemas/AdmissionPlanChangeBody'
          responses:
            201:
              description: 已提交，等待县（区）核办
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
            scope.get(db.session, actor, EnrollmentPlan, _in_range(pk))
            body = _body()
            req = admissions.request_plan_change(db.session, actor, pk, _value(body, "quota"), _text(body, "reason"))
            return _started(req, "招生计划数变更申请")
        return self._serve(work, status=201)

    # ------------------------------------------------------------ 统一招生名单

    @expose("/list-rows", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def list_rows(self):
        """统一招生名单：县（区）导入的招生结果；学校看到分配给本校的学生
        ---
        get:
          summary: 统一招生名单
          parameters:
          - in: query
            name: year_id
            schema:
              type: integer
          - in: query
            name: to_school_id
            schema:
              type: integer
          - in: query
            name: waiting_only
            schema:
              type: integer
            description: 1 为只列尚未录取的
          - in: query
            name: q
            schema:
              type: string
            description: 姓名（开头）、学籍号或个人标识码
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
              description: count 与 result（[{id, student, from_school, to_school, grade, score, admission}]）
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        def work(actor, saved):
            stmt = admissions.list_rows_query(actor, year_id=_id_arg("year_id"), to_school_id=_id_arg("to_school_id"),
                                              waiting_only=_flag_arg("waiting_only"),
                                              q=(request.args.get("q") or "").strip()[:40] or None)
            stmt = stmt.options(selectinload(AdmissionListRow.student), selectinload(AdmissionListRow.year),
                                selectinload(AdmissionListRow.from_school), selectinload(AdmissionListRow.to_school),
                                selectinload(AdmissionListRow.admission))
            total, page, size, rows = _page(db.session, stmt)
            _audit_full(db.session, actor, [r.student for r in rows], "统一招生名单（API）")
            return {"count": total, "page": page, "page_size": size,
                    "result": [_list_row_out(actor, r) for r in rows]}
        return self._serve(work)

    @expose("/list-rows", methods=["POST"])
    @protect()
    @safe
    @permission_name("add_list_row")
    def add_list_row(self):
        """招生结果管理（县（区）教育局）：手工添加一名学生到统一招生名单，校验同导入
        ---
        post:
          summary: 添加统一招生名单记录
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/AdmissionListRowBody'
          responses:
            201:
              description: 已添加（或改为新的录取学校）
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            values = {k: _value(body, k) for k in ("number", "name", "from_code", "to_code", "stage", "score")}
            row = admissions.add_list_row(db.session, actor, values)
            return {"id": row.id, "result": _list_row_out(actor, row),
                    "message": f"已将 {row.student.name} 列入统一招生名单（录取学校：{row.to_school.name}）"}
        return self._serve(work, status=201)

    @expose("/list-rows/admit", methods=["POST"])
    @protect()
    @safe
    @permission_name("admit")
    def admit_from_list(self):
        """统一招生录取（学校）：录取名单中分配给本校的学生，逐人办理
        ---
        post:
          summary: 按统一招生名单录取
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/AdmissionAdmitBody'
          responses:
            200:
              description: admitted（已录取，待县（区）核办）与 failed（[{row_id, message}]）
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            ids = id_list(_body(), "row_ids", MAX_IDS)
            if not ids:
                raise BadInput("请提供 row_ids（编号列表）")
            done, failed = admissions.admit_from_list(db.session, actor, ids)
            message = f"已录取 {len(done)} 名学生，等待县（区）核办"
            if failed:
                message += f"；{len(failed)} 名未能录取"
            return {"admitted": [_admission_out(actor, a) for a in done],
                    "failed": [{"row_id": rid, "message": msg} for rid, msg in failed.items()], "message": message}
        return self._serve(work)

    # ------------------------------------------------------------ 自主招生

    @expose("/self-admit", methods=["POST"])
    @protect()
    @safe
    @permission_name("self_admit")
    def self_admit(self):
        """自主招生（学校）：按学籍号（或个人标识码）和姓名录取毕业生；跨县（区）的还须生源地县（区）核办
        ---
        post:
          summary: 自主招生录取
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/AdmissionSelfAdmitBody'
          responses:
            201:
              description: 已录取，等待核办（result 为录取）
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            adm = admissions.self_admit(db.session, actor, _value(body, "number"), _value(body, "name"),
                                        grade=_value(body, "grade"), score=_value(body, "score"),
                                        reason=_value(body, "reason"))
            step = requests.current_step(adm.request) if adm.request is not None else None
            unit = step.org_unit.name if step is not None and step.org_unit is not None else "县（区）教育局"
            extra = "；" + "本县（区）外的毕业生，还须生源地县（区）核办（外地就读学生核办）" if len(adm.request.steps) > 1 else ""
            return {"id": adm.id, "result": _admission_out(actor, adm),
                    "message": f"已录取 {adm.name}，等待{unit}核办（新生录取核办）{extra}"}
        return self._serve(work, status=201)

    # ------------------------------------------------------------ 录取查询

    @expose("/admissions", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def list_admissions(self):
        """录取查询：本辖区学校的录取及本辖区毕业生的录取；elsewhere=1 为外地就读学生
        ---
        get:
          summary: 录取列表
          parameters:
          - in: query
            name: state
            schema:
              type: string
            description: pending（待核办）、admitted（已录取）、rejected（未通过）、withdrawn（已撤销）
          - in: query
            name: kind
            schema:
              type: string
            description: unified（统一招生）、self（自主招生）、archive（跨省招生）
          - in: query
            name: school_id
            schema:
              type: integer
          - in: query
            name: year_id
            schema:
              type: integer
          - in: query
            name: q
            schema:
              type: string
            description: 姓名（开头）
          - in: query
            name: elsewhere
            schema:
              type: integer
            description: 1 为外地就读学生（本辖区毕业生被辖区外学校录取）
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
              description: count 与 result（录取列表）
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        def work(actor, saved):
            stmt = admissions.admissions_query(
                actor, state=_enum_arg("state", AdmissionState), kind=_enum_arg("kind", AdmissionKind),
                school_id=_id_arg("school_id"), year_id=_id_arg("year_id"),
                q=(request.args.get("q") or "").strip()[:40] or None, elsewhere=_flag_arg("elsewhere"))
            total, page, size, rows = _page(db.session, _admission_relations(stmt))
            _audit_full(db.session, actor, [a.student for a in rows], "录取查询（API）")
            return {"count": total, "page": page, "page_size": size,
                    "result": [_admission_out(actor, a) for a in rows]}
        return self._serve(work)

    @expose("/admissions/<int:pk>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def get_admission(self, pk):
        """一条录取：学生、录取、核办过程（谁在何时作出何种决定）、重复招生
        ---
        get:
          summary: 录取详情
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          responses:
            200:
              description: result（录取，含 steps 与 duplicate）
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        def work(actor, saved):
            adm = _load_admission(db.session, actor, pk)
            _audit_full(db.session, actor, [adm.student], "录取详情（API）")
            return {"id": adm.id, "result": {**_admission_out(actor, adm), "steps": _steps_out(adm.request),
                                             "claim_request": _request_summary(adm.claim_request)
                                             if adm.claim_request is not None else None,
                                             "duplicate": _case_brief(adm.duplicate)}}
        return self._serve(work)

    @expose("/admissions/<int:pk>/withdraw", methods=["POST"])
    @protect()
    @safe
    @permission_name("withdraw")
    def withdraw(self, pk):
        """撤销录取（录取学校）：待核办的录取撤销后释放招生计划名额；重复招生中不录取的学校以此处理
        ---
        post:
          summary: 撤销本校的录取
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
                  $ref: '#/components/schemas/AdmissionWithdrawBody'
          responses:
            200:
              description: 已撤销
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
            _load_admission(db.session, actor, pk)
            body = _body()
            adm = admissions.withdraw(db.session, actor, pk, _text(body, "reason"),
                                      expected_version=_int_or_none(body.get("expected_version"), "expected_version"))
            return {"id": adm.id, "result": _admission_out(actor, adm),
                    "message": f"已撤销 {adm.name} 的录取，招生计划名额已释放"}
        return self._serve(work)

    @expose("/admissions/<int:pk>/prove", methods=["POST"])
    @protect()
    @safe
    @permission_name("prove")
    def prove(self, pk):
        """重复招生佐证（录取学校）：上传证明材料并填写学校意见，本校所在县（区）核办
        ---
        post:
          summary: 重复招生佐证
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
                  $ref: '#/components/schemas/AdmissionProveBody'
          responses:
            201:
              description: 已提交，等待县（区）核办
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
            _load_admission(db.session, actor, pk)
            body = _body()
            version = _int_or_none(body.get("expected_version"), "expected_version")
            unit = getattr(actor, "org_unit", None)
            files = _decode_attachments(db.session, actor, body.get("attachments"), unit.path if unit else "",
                                        students.EVIDENCE, saved)
            req = admissions.prove(db.session, actor, pk, _text(body, "reason"), files, expected_version=version)
            return {**_started(req, "重复招生佐证"), "admission_id": pk}
        return self._serve(work, status=201)

    # ------------------------------------------------------------ 重复招生

    @expose("/duplicates", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def list_duplicates(self):
        """重复招生：本辖区学校涉及的重复招生，及由本单位仲裁的
        ---
        get:
          summary: 重复招生列表
          parameters:
          - in: query
            name: state
            schema:
              type: string
            description: open（待学校处理）、arbitration（待仲裁）、resolved（已解决）；不填为全部
          - in: query
            name: arbitration_only
            schema:
              type: integer
            description: 1 为只列待本单位仲裁的
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
              description: count 与 result（[{id, student, state, arbiter, admissions}]）
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        def work(actor, saved):
            stmt = admissions.duplicates_query(actor, state=_enum_arg("state", DuplicateState),
                                               arbitration_only=_flag_arg("arbitration_only"))
            stmt = stmt.options(selectinload(DuplicateAdmission.student), selectinload(DuplicateAdmission.arbiter),
                                selectinload(DuplicateAdmission.year),
                                selectinload(DuplicateAdmission.admissions).selectinload(Admission.school))
            total, page, size, rows = _page(db.session, stmt)
            _audit_full(db.session, actor, [c.student for c in rows], "重复招生（API）")
            return {"count": total, "page": page, "page_size": size,
                    "result": [_duplicate_out(actor, c) for c in rows]}
        return self._serve(work)

    @expose("/duplicates/<int:pk>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def get_duplicate(self, pk):
        """一件重复招生：各录取学校的录取状态和处理情况、仲裁单位
        ---
        get:
          summary: 重复招生详情
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          responses:
            200:
              description: result
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        def work(actor, saved):
            case = scope.get(db.session, actor, DuplicateAdmission, _in_range(pk))
            _audit_full(db.session, actor, [case.student], "重复招生详情（API）")
            return {"id": case.id, "result": _duplicate_out(actor, case)}
        return self._serve(work)

    @expose("/duplicates/<int:pk>/arbitrate", methods=["POST"])
    @protect()
    @safe
    @permission_name("arbitrate")
    def arbitrate(self, pk):
        """重复招生仲裁（各录取学校的共同上级）：最多一所学校的录取通过，也可均不通过
        ---
        post:
          summary: 重复招生仲裁
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
                  $ref: '#/components/schemas/AdmissionArbitrateBody'
          responses:
            200:
              description: 已仲裁（仲裁结果为最终结果）
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
            scope.get(db.session, actor, DuplicateAdmission, _in_range(pk))
            body = _body()
            if "winner_admission_id" not in body:
                raise BadInput("请提供 winner_admission_id：通过的录取编号，或 null（均不通过）")
            winner = body.get("winner_admission_id")
            if winner is not None:
                winner = _int_or_none(winner, "winner_admission_id")
                if winner is None or not 0 < winner <= MAX_ID:
                    raise BadInput("winner_admission_id 应为录取编号或 null（均不通过）")
            case = admissions.arbitrate(db.session, actor, pk, winner, _text(body, "comment"),
                                        expected_version=_int_or_none(body.get("expected_version"), "expected_version"))
            won = next((a for a in case.admissions if a.id == case.winner_id), None)
            message = f"已仲裁：{won.school.name}的录取通过，其他学校的录取不通过" if won is not None \
                else "已仲裁：各校录取均不通过"
            return {"id": case.id, "result": _duplicate_out(actor, case), "message": message}
        return self._serve(work)


def register(appbuilder):
    from app.extensions import csrf

    view = appbuilder.add_api(AdmissionApi)
    blueprint = getattr(view, "blueprint", None)
    if blueprint is not None:
        csrf.exempt(blueprint)  # JWT, not cookies
