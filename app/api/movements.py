"""REST API of 学籍异动: transfers, status changes, business calendars, route settings, history.

Same rules as the registry API (app/api/registry.py, whose helpers this module reuses): JWT only,
every write is a custom endpoint calling the service the screens call (services/transfers.py,
services/status_changes.py, services/calendars.py, services/process_settings.py), a service's
DomainError answers {"message": "<中文>", "field": …} with its 4xx status and nothing written, an
out-of-scope id answers 404 exactly like an id that does not exist (even before the permission
check), ID numbers are masked for roles without full view.

Resources and the role grants they rely on (config.FAB_ROLES):
- /api/v1/transfer/…  TransferApi: 转入 / 跨省转入 (schools), school search and the former school's
  转出记录 (read permissions: counties, cities, the province and readers too);
- /api/v1/movement/<student>/…  MovementApi: the student-scoped 异动 (转出, 跨省转出, 休学, 复学, 退学,
  其他离校, 死亡) and the student's 异动履历. It acts on a student, so it is granted exactly like
  the student API (class_permission_name = "StudentApi": schools every permission, the others
  read permissions including can_history);
- /api/v1/calendar/…  CalendarApi: 业务日历 rules (province, city, county define; schools read);
- /api/v1/process-setting/…  ProcessSettingApi: 业务设置 (province, city, county set; schools read).
Decisions on the requests these start (approve, reject incl. arbitration, cancel) are RequestApi's.
"""
from flask import request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name, protect
from marshmallow import Schema, fields
from sqlalchemy import func, select

from app.api import ScopedModelRestApi
from app.api.registry import (AttachmentIn, BadInput, GuardianIn, OrgBrief, RegistryApiMixin, StateLabel,
                              _actor_unit, _body, _changes, _decode_attachments, _info_schema, _int_or_none,
                              _request_summary, _steps, _student_summary, _text, record_body)
from app.extensions import db
from app.models.org import OrgKind
from app.models.process import BusinessWindow, DepartureTrace, WindowMode
from app.models.requests import StepRole
from app.models.student import Student
from app.services import (attachments, calendars, grades, history, privacy, process_settings, requests as engine,
                          scope, status_changes, students, transfers)
from app.services.context import current_actor
from app.services.errors import NotFound
from app.services.roles import RANK_COUNTY, actor_rank

MAX_PAGE_SIZE = 100
MAX_SCHOOLS = 50



# ---------------------------------------------------------------- request bodies (OpenAPI)

class MovementAttachmentIn(AttachmentIn):
    kind = fields.String(metadata={"description": "附件类型：evidence（证明材料，默认）、no_id_proof（无身份证号证明）、"
                                                  "written_request（退学书面申请）、death_proof（死亡证明）"})


class TransferInBody(Schema):
    name = fields.String(required=True, metadata={"description": "学生姓名（须与学籍一致）"})
    number = fields.String(required=True, metadata={"description": "学籍号或身份证件号"})
    grade = fields.String(metadata={"description": "转入年级代码，如 12；不填则沿用原年级"})
    class_name = fields.String()
    reason_code = fields.String(required=True, metadata={"description": "转学原因代码，如 01（随父母工作调动）；99 其他须填 note"})
    note = fields.String()
    attachments = fields.List(fields.Nested(MovementAttachmentIn))


class ProvinceTransferInBody(Schema):
    data = fields.Dict(required=True, metadata={"description": "学籍字段（同新生注册）：name, gender, birth_date, id_type, "
                                                               "id_number, ethnicity, grade, class_name …"})
    guardians = fields.List(fields.Nested(GuardianIn), required=True)
    from_province = fields.String(required=True, metadata={"description": "原就读省份的行政区划代码，如 440000"})
    from_school = fields.String(required=True, metadata={"description": "原就读学校名称"})
    xueji_no = fields.String(required=True, metadata={"description": "全国学籍号（G 加身份证件号，或 L 开头的临时学籍号）"})
    reason_code = fields.String(required=True)
    note = fields.String()
    attachments = fields.List(fields.Nested(MovementAttachmentIn))


class TransferOutBody(Schema):
    to_school_code = fields.String(required=True, metadata={"description": "转入学校的学校标识码（本省）"})
    grade = fields.String(metadata={"description": "转入年级代码；不填则沿用原年级"})
    class_name = fields.String()
    reason_code = fields.String(required=True)
    note = fields.String()
    attachments = fields.List(fields.Nested(MovementAttachmentIn))
    expected_version = fields.Integer(metadata={"description": "读取学生时的 version；已被他人修改则拒绝"})


class ProvinceTransferOutBody(Schema):
    to_province = fields.String(required=True, metadata={"description": "转入省份的行政区划代码，如 440000"})
    to_school = fields.String(required=True, metadata={"description": "转入学校名称"})
    reason_code = fields.String(required=True)
    note = fields.String()
    attachments = fields.List(fields.Nested(MovementAttachmentIn))
    expected_version = fields.Integer()


class SuspendBody(Schema):
    reason_code = fields.String(required=True, metadata={"description": "休学原因代码：01 因病、02 因事、03 出国（境）、99 其他"})
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True, metadata={"description": "休学期限一般不超过一年"})
    note = fields.String()
    attachments = fields.List(fields.Nested(MovementAttachmentIn))
    expected_version = fields.Integer()


class ResumeBody(Schema):
    grade = fields.String(required=True, metadata={"description": "复学后就读的年级代码"})
    class_name = fields.String()
    note = fields.String()
    attachments = fields.List(fields.Nested(MovementAttachmentIn))
    expected_version = fields.Integer()


class DropOutBody(Schema):
    reason_code = fields.String(required=True, metadata={"description": "退学原因代码（义务教育阶段学生不能退学）"})
    note = fields.String()
    attachments = fields.List(fields.Nested(MovementAttachmentIn), required=True,
                              metadata={"description": "须含学生本人及监护人的书面申请（kind 默认 written_request）"})
    expected_version = fields.Integer()


class LeaveBody(Schema):
    reason_code = fields.String(required=True, metadata={"description": "其他离校原因代码"})
    note = fields.String()
    attachments = fields.List(fields.Nested(MovementAttachmentIn))
    expected_version = fields.Integer()


class DeathBody(Schema):
    died_on = fields.Date(required=True)
    note = fields.String()
    attachments = fields.List(fields.Nested(MovementAttachmentIn), required=True,
                              metadata={"description": "须含死亡证明（kind 默认 death_proof）"})
    expected_version = fields.Integer()


class CalendarRuleBody(Schema):
    process = fields.String(metadata={"description": "业务：" + "、".join(
        f"{k}（{v}）" for k, v in calendars.PROCESSES.items()) + "；节假日不填"})
    mode = fields.String(required=True, metadata={"description": "closed（暂停发起）、open（办理期限）或 holiday（节假日）"})
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True, metadata={"description": "含当日"})
    title = fields.String(required=True, metadata={"description": "名称或依据，如 暂停转学发起业务"})


class ProcessSettingBody(Schema):
    value = fields.String(required=True, metadata={"description": "取值，见 GET 的 choices"})


# ---------------------------------------------------------------- shared behaviour

def _code_text(body, name):
    """A code of a code table: JSON text, or a number for convenience (12 → "12")."""
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(body, name)


def _unit_brief(unit):
    return {"id": unit.id, "name": unit.name} if unit is not None else None


def _started(req, what):
    """The answer to a started request: who decides next."""
    step = engine.current_step(req)
    unit = step.org_unit.name if step is not None and step.org_unit is not None else "上级"
    doing = "确认" if step is not None and step.role == StepRole.CONFIRM else "核办"
    return {"request_id": req.id, "request": _request_summary(req), "current_unit": _unit_brief(step.org_unit)
            if step is not None else None, "message": f"{what}已提交，等待{unit}{doing}"}


def _paging():
    page = _int_or_none(request.args.get("page"), "page") or 0
    size = _int_or_none(request.args.get("page_size"), "page_size") or 20
    if page < 0 or size < 1:
        raise BadInput("page 不能为负数，page_size 应大于 0")
    if size > MAX_PAGE_SIZE:
        raise BadInput(f"page_size 最大为 {MAX_PAGE_SIZE}")
    if page * size > 2 ** 31 - 1:  # an OFFSET beyond any table (and beyond a 64-bit integer: a 500)
        raise BadInput("page 超出范围")
    return page, size


# ---------------------------------------------------------------- 转入, 跨省转入, 学校查询, 转出记录

class TransferApi(RegistryApiMixin, BaseApi):
    resource_name = "transfer"
    openapi_spec_tag = "学籍异动：转学"
    allow_browser_login = False
    include_route_methods = {"start_in", "start_province_in", "schools", "departures"}
    openapi_spec_component_schemas = (TransferInBody, ProvinceTransferInBody, MovementAttachmentIn)

    @expose("/in", methods=["POST"])
    @protect()
    @safe
    @permission_name("start_in")
    def start_in(self):
        """转入申请：转入学校按姓名和学籍号（或身份证件号）申请本省其他学校的学生
        ---
        post:
          summary: 转入申请（省内转学，由转入学校发起）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/TransferInBody'
          responses:
            201:
              description: 已提交，等待转出学校确认
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            unit = _actor_unit(actor)
            files = _decode_attachments(db.session, actor, body.get("attachments"), unit.path, students.EVIDENCE, saved)
            req = transfers.start_transfer_in(
                db.session, actor, name=_text(body, "name"), number=_text(body, "number"),
                grade=_code_text(body, "grade"), class_name=_text(body, "class_name"),
                reason_code=_code_text(body, "reason_code"), note=_text(body, "note"), attachments=files)
            return _started(req, "转入申请")
        return self._serve(work, status=201)

    @expose("/province-in", methods=["POST"])
    @protect()
    @safe
    @permission_name("start_province_in")
    def start_province_in(self):
        """跨省转入：转入学校录入外省学生的学籍（按全国学籍号）
        ---
        post:
          summary: 跨省转入（县级核办后由省级确认外省转出）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ProvinceTransferInBody'
          responses:
            201:
              description: 已提交，等待县（区）核办
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            data, guardians, files = record_body(db.session, actor, body, saved)
            req, warnings = transfers.start_province_transfer_in(
                db.session, actor, data, guardians, from_province=_code_text(body, "from_province"),
                from_school=_text(body, "from_school"), xueji_no=_text(body, "xueji_no"),
                reason_code=_code_text(body, "reason_code"), note=_text(body, "note"), attachments=files)
            return {**_started(req, "跨省转入申请"), "warnings": warnings}
        return self._serve(work, status=201)

    @expose("/schools", methods=["GET"])
    @protect()
    @safe
    @permission_name("search")
    def schools(self):
        """全省学校查询（转学时选择转入学校）
        ---
        get:
          summary: 按名称或学校标识码查询本省学校
          parameters:
          - in: query
            name: q
            schema:
              type: string
            description: 学校名称的一部分，或学校标识码的开头
          - in: query
            name: limit
            schema:
              type: integer
            description: 最多返回多少所（默认 20，最多 50）
          responses:
            200:
              description: result 为 [{id, code, name, county, city}]
            400:
              $ref: '#/components/responses/400'
        """
        def work(actor, saved):
            limit = _int_or_none(request.args.get("limit"), "limit") or 20
            if not 1 <= limit <= MAX_SCHOOLS:
                raise BadInput(f"limit 应在 1 到 {MAX_SCHOOLS} 之间")
            found = transfers.find_schools(db.session, actor, request.args.get("q"), limit=limit)
            rows = []
            for school in found:
                county = engine.ancestor_of_kind(db.session, school, OrgKind.COUNTY)
                city = engine.ancestor_of_kind(db.session, school, OrgKind.CITY)
                rows.append({"id": school.id, "code": school.school_code, "name": school.name,
                             "county": county.name if county else None, "city": city.name if city else None,
                             "school_type": {"code": school.school_type.value, "name": str(school.school_type.label)}
                             if school.school_type else None})
            message = f"找到 {len(rows)} 所学校" if rows else "没有找到符合条件的学校（请输入学校名称或标识码）"
            return {"count": len(rows), "result": rows, "message": message}
        return self._serve(work)

    @expose("/departures", methods=["GET"])
    @protect()
    @safe
    @permission_name("list")
    def departures(self):
        """转出记录：已转走学生在原学校留下的记录（学籍已随人转走）
        ---
        get:
          summary: 本单位（及下级学校）的转出记录
          parameters:
          - in: query
            name: page
            schema:
              type: integer
            description: 页码，从 0 开始
          - in: query
            name: page_size
            schema:
              type: integer
            description: 每页条数（默认 20，最多 100）
          responses:
            200:
              description: count 与 result（[{student_name, personal_id, grade, class_name, from_school,
                to_name, left_at}]）
            400:
              $ref: '#/components/responses/400'
        """
        def work(actor, saved):
            page, size = _paging()
            stmt = transfers.departures_query(actor)
            total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
            rows = db.session.scalars(stmt.order_by(DepartureTrace.id.desc()).offset(page * size).limit(size)).all()
            return {"count": total, "page": page, "page_size": size, "result": [{
                "id": t.id, "student_name": t.student_name, "personal_id": t.personal_id,
                "grade": {"code": t.grade, "name": grades.grade_label(t.grade)} if t.grade else None,
                "class_name": t.class_name, "from_school": _unit_brief(t.from_school), "to_name": t.to_name,
                "left_at": t.left_at.isoformat() if t.left_at else None, "request_id": t.request_id,
            } for t in rows]}
        return self._serve(work)


# ---------------------------------------------------------------- a student's 异动 and history

def _masked_text(actor, text):
    return privacy.shown_field(actor, "text", text) if text else text


def _history_request(actor, req):
    return {
        **_request_summary(req), "school": _unit_brief(req.school),
        "initiator": (req.initiator.real_name or req.initiator.username) if req.initiator else None,
        "reason": _masked_text(actor, req.reason), "outcome": _masked_text(actor, req.outcome),
        "created_at": req.created_at.isoformat() if req.created_at else None,
        "decided_at": req.decided_at.isoformat() if req.decided_at else None,
        "current_unit": _unit_brief(engine.current_step(req).org_unit)
        if req.state.value == "pending" and engine.current_step(req) is not None else None,
        "in_arbitration": engine.in_arbitration(req),
        "changes": _changes(req),
        "steps": [{**s, "comment": _masked_text(actor, s["comment"])} for s in _steps(req)],
        "attachments": [{"id": a.id, "filename": a.filename, "kind": a.kind,
                         "kind_label": attachments.KIND_LABELS.get(a.kind, a.kind), "size": a.size} for a in req.attachments],
    }


def _history_span(actor, h):
    return {"school": {"id": h.school_id, "name": h.school.name if h.school else None,
                       "school_code": h.school.school_code if h.school else None},
            "grade": {"code": h.grade, "name": grades.grade_label(h.grade)} if h.grade else None,
            "class_name": h.class_name, "status": {"code": h.status, "name": students.display("status", h.status)},
            "valid_from": h.valid_from.isoformat() if h.valid_from else None,
            "valid_to": h.valid_to.isoformat() if h.valid_to else None,
            "reason": _masked_text(actor, h.reason), "request_id": h.request_id}


class MovementApi(RegistryApiMixin, BaseApi):
    """学籍异动 of one student: /api/v1/movement/<student id>/…"""

    resource_name = "movement"
    class_permission_name = "StudentApi"  # acts on a student: granted like the student API
    scoped_model = Student
    openapi_spec_tag = "学籍异动：学生"
    allow_browser_login = False
    include_route_methods = {"transfer_out", "province_out", "suspend", "resume", "drop_out", "leave", "death",
                             "student_history"}
    openapi_spec_component_schemas = (TransferOutBody, ProvinceTransferOutBody, SuspendBody, ResumeBody,
                                      DropOutBody, LeaveBody, DeathBody)

    def _start(self, pk, what, call, default_kind=students.EVIDENCE):
        """Scope first (404 before anything is stored), then the body, the files and the service."""
        def work(actor, saved):
            student = scope.get(db.session, actor, Student, pk)
            body = _body()
            version = _int_or_none(body.get("expected_version"), "expected_version")
            files = _decode_attachments(db.session, actor, body.get("attachments"), student.school.path, default_kind, saved)
            req = call(actor, body, files, version)
            return {**_started(req, what), "result": _student_summary(actor, student)}
        return self._serve(work, status=201)

    @expose("/<int:pk>/transfer-out", methods=["POST"])
    @protect()
    @safe
    @permission_name("transfer_out")
    def transfer_out(self, pk):
        """转出申请：本校学生转到本省其他学校
        ---
        post:
          summary: 转出申请（省内转学，由转出学校发起）
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
                  $ref: '#/components/schemas/TransferOutBody'
          responses:
            201:
              description: 已提交，等待转入学校确认
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._start(pk, "转出申请", lambda actor, body, files, version: transfers.start_transfer_out(
            db.session, actor, pk, to_school_code=_code_text(body, "to_school_code"), grade=_code_text(body, "grade"),
            class_name=_text(body, "class_name"), reason_code=_code_text(body, "reason_code"), note=_text(body, "note"),
            attachments=files, expected_version=version))

    @expose("/<int:pk>/province-out", methods=["POST"])
    @protect()
    @safe
    @permission_name("province_out")
    def province_out(self, pk):
        """跨省转出
        ---
        post:
          summary: 跨省转出（县级核办后由省级确认外省已接收）
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
                  $ref: '#/components/schemas/ProvinceTransferOutBody'
          responses:
            201:
              description: 已提交，等待县（区）核办
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._start(pk, "跨省转出申请", lambda actor, body, files, version: transfers.start_province_transfer_out(
            db.session, actor, pk, to_province=_code_text(body, "to_province"), to_school=_text(body, "to_school"),
            reason_code=_code_text(body, "reason_code"), note=_text(body, "note"), attachments=files,
            expected_version=version))

    @expose("/<int:pk>/suspend", methods=["POST"])
    @protect()
    @safe
    @permission_name("suspend")
    def suspend(self, pk):
        """休学申请
        ---
        post:
          summary: 休学申请（在校生）
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
                  $ref: '#/components/schemas/SuspendBody'
          responses:
            201:
              description: 已提交，等待核办
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._start(pk, "休学申请", lambda actor, body, files, version: status_changes.request_suspension(
            db.session, actor, pk, reason_code=_code_text(body, "reason_code"), starts_on=_text(body, "starts_on"),
            ends_on=_text(body, "ends_on"), note=_text(body, "note"), attachments=files, expected_version=version))

    @expose("/<int:pk>/resume", methods=["POST"])
    @protect()
    @safe
    @permission_name("resume")
    def resume(self, pk):
        """复学申请
        ---
        post:
          summary: 复学申请（休学学生，选择复学后的年级和班级）
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
                  $ref: '#/components/schemas/ResumeBody'
          responses:
            201:
              description: 已提交，等待核办
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._start(pk, "复学申请", lambda actor, body, files, version: status_changes.request_resumption(
            db.session, actor, pk, grade=_code_text(body, "grade"), class_name=_text(body, "class_name"),
            note=_text(body, "note"), attachments=files, expected_version=version))

    @expose("/<int:pk>/drop-out", methods=["POST"])
    @protect()
    @safe
    @permission_name("drop_out")
    def drop_out(self, pk):
        """退学申请
        ---
        post:
          summary: 退学申请（非义务教育阶段；须上传学生本人及监护人的书面申请）
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
                  $ref: '#/components/schemas/DropOutBody'
          responses:
            201:
              description: 已提交，等待核办
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._start(pk, "退学申请", lambda actor, body, files, version: status_changes.request_drop_out(
            db.session, actor, pk, reason_code=_code_text(body, "reason_code"), note=_text(body, "note"),
            attachments=files, expected_version=version), default_kind=status_changes.WRITTEN_REQUEST)

    @expose("/<int:pk>/leave", methods=["POST"])
    @protect()
    @safe
    @permission_name("leave")
    def leave(self, pk):
        """其他离校申请
        ---
        post:
          summary: 其他离校申请（如出国（境）学习）
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
                  $ref: '#/components/schemas/LeaveBody'
          responses:
            201:
              description: 已提交，等待核办
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._start(pk, "其他离校申请", lambda actor, body, files, version: status_changes.request_leave(
            db.session, actor, pk, reason_code=_code_text(body, "reason_code"), note=_text(body, "note"),
            attachments=files, expected_version=version))

    @expose("/<int:pk>/death", methods=["POST"])
    @protect()
    @safe
    @permission_name("death")
    def death(self, pk):
        """死亡报告
        ---
        post:
          summary: 学生死亡（须上传死亡证明）
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
                  $ref: '#/components/schemas/DeathBody'
          responses:
            201:
              description: 已提交，等待核办
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._start(pk, "死亡报告", lambda actor, body, files, version: status_changes.report_death(
            db.session, actor, pk, died_on=_text(body, "died_on"), note=_text(body, "note"), attachments=files,
            expected_version=version), default_kind=status_changes.DEATH_PROOF)

    @expose("/<int:pk>/history", methods=["GET"])
    @protect()
    @safe
    @permission_name("history")
    def student_history(self, pk):
        """学籍异动履历：学籍的每一段（学校、年级、班级、状态）和每一项申请及其审批步骤
        ---
        get:
          summary: 学生的学籍异动履历（籍随人走：现所在学校及其上级可见）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          responses:
            200:
              description: student、spans（最早的在前）与 requests（最新的在前，含 steps）
            404:
              $ref: '#/components/responses/404'
        """
        def work(actor, saved):
            found = history.student_history(db.session, actor, pk)
            s = found.student
            if privacy.full_id_allowed(actor):
                privacy.record_full_view(db.session, actor, s, "接口：学籍异动履历")
            student = {**_student_summary(actor, s),
                       "id_number": privacy.shown_id(actor, s.id_number) if s.id_number else s.id_number,
                       "personal_id": s.personal_id, "school": {"id": s.school_id, "name": s.school.name,
                                                                "school_code": s.school.school_code},
                       "grade": {"code": s.grade, "name": grades.grade_label(s.grade)} if s.grade else None,
                       "class_name": s.class_name}
            return {"student": student, "spans": [_history_span(actor, h) for h in found.spans],
                    "requests": [_history_request(actor, r) for r in found.requests]}
        return self._serve(work)


# ---------------------------------------------------------------- 业务日历

class WindowSchema(Schema):
    id = fields.Integer()
    process = fields.Function(lambda w: {"code": w.process, "name": calendars.process_label(w.process)},
                              metadata={"description": "业务：{code, name}"})
    mode = StateLabel()
    starts_on = fields.Date()
    ends_on = fields.Date()
    title = fields.String()
    org_unit = fields.Nested(OrgBrief)
    created_at = fields.DateTime()
    editable = fields.Function(lambda w: _may_edit(current_actor(), w),
                               metadata={"description": "我可修改或删除（本单位设置的规则）"})


class WindowShowSchema(WindowSchema):
    """Its own class: apispec registers each schema class once (list and show are two components)."""


def _may_edit(actor, rule):
    unit = getattr(actor, "org_unit", None)
    return (unit is not None and unit.kind in calendars.DEFINING_KINDS and actor_rank(actor) <= RANK_COUNTY
            and rule.org_unit_id == unit.id)


WINDOW_LABELS = {"id": "编号", "process": "业务", "mode": "规则类型", "starts_on": "开始日期", "ends_on": "结束日期（含）",
                 "title": "名称或依据", "org_unit": "设置单位", "created_at": "设置时间", "editable": "我可修改"}


class CalendarApi(RegistryApiMixin, ScopedModelRestApi):
    resource_name = "calendar"
    datamodel = SQLAInterface(BusinessWindow)
    scoped_model = BusinessWindow
    openapi_spec_tag = "学籍异动：业务日历"
    include_route_methods = {"get", "get_list", "info", "create_rule", "update_rule", "delete_rule"}
    openapi_spec_component_schemas = (CalendarRuleBody,)

    list_title = "业务日历"
    show_title = "查看业务日历规则"
    add_title = "新增业务日历规则"
    edit_title = "修改业务日历规则"
    list_columns = show_columns = list(WindowSchema._declared_fields)
    list_select_columns = show_select_columns = ["id", "process", "mode", "starts_on", "ends_on", "title",
                                                 "created_at", "org_unit_id", "org_unit.id", "org_unit.name",
                                                 "org_unit.school_code"]
    list_model_schema = WindowSchema()
    show_model_schema = WindowShowSchema()
    add_model_schema = _info_schema(CalendarRuleBody)()
    edit_model_schema = _info_schema(CalendarRuleBody)()
    add_columns = edit_columns = list(CalendarRuleBody._declared_fields)
    label_columns = WINDOW_LABELS
    description_columns = {"process": "业务代码（节假日不填）", "mode": "closed、open 或 holiday",
                           "starts_on": "年-月-日", "ends_on": "年-月-日（含当日）"}
    search_columns = ["process", "mode", "org_unit", "starts_on", "ends_on"]
    order_columns = ["id", "process", "mode", "starts_on", "ends_on", "created_at"]
    base_order = ("starts_on", "desc")

    def pre_get_list(self, data):
        data["processes"] = [{"code": k, "name": v} for k, v in calendars.PROCESSES.items()]
        data["modes"] = [{"code": m.value, "name": str(m.label)} for m in WindowMode]

    def _answer(self, actor, rule, message):
        return {"id": rule.id, "result": WindowSchema().dump(rule), "message": message}

    @staticmethod
    def _rule_body():
        body = _body()
        for name in ("process", "mode", "starts_on", "ends_on", "title"):
            _text(body, name)
        return body

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def create_rule(self):
        """新增业务日历规则（省、市、县（区）管理员，对本辖区生效）
        ---
        post:
          summary: 新增暂停发起、办理期限或节假日规则
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/CalendarRuleBody'
          responses:
            201:
              description: 已保存
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            rule = calendars.add_window(db.session, actor, self._rule_body())
            return self._answer(actor, rule, f"已保存业务日历规则：{rule}")
        return self._serve(work, status=201)

    @expose("/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    def update_rule(self, pk):
        """修改业务日历规则（只能修改本单位设置的规则）
        ---
        put:
          summary: 修改业务日历规则
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
                  $ref: '#/components/schemas/CalendarRuleBody'
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
            scope.get(db.session, actor, BusinessWindow, pk)
            rule = calendars.update_window(db.session, actor, pk, self._rule_body())
            return self._answer(actor, rule, f"已修改业务日历规则：{rule}")
        return self._serve(work)

    @expose("/<int:pk>", methods=["DELETE"])
    @protect()
    @safe
    @permission_name("delete")
    def delete_rule(self, pk):
        """删除业务日历规则（只能删除本单位设置的规则）
        ---
        delete:
          summary: 删除业务日历规则
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
        """
        def work(actor, saved):
            rule = scope.get(db.session, actor, BusinessWindow, pk)
            text = str(rule)
            calendars.delete_window(db.session, actor, pk)
            return {"id": pk, "message": f"已删除业务日历规则：{text}"}
        return self._serve(work)


# ---------------------------------------------------------------- 业务设置

def _setting_out(session, actor, setting):
    unit = _actor_unit(actor)
    value, owner = process_settings.effective(session, unit, setting)
    return {"key": setting.key, "label": setting.label, "help": setting.help,
            "choices": [{"code": v, "name": label} for v, label in setting.choices],
            "default": setting.default,
            "value": {"code": value, "name": setting.choice_label(value)},
            "source": _unit_brief(owner), "source_label": owner.name if owner is not None else "默认设置",
            "settable": setting in process_settings.settable(actor)}


class ProcessSettingApi(RegistryApiMixin, BaseApi):
    resource_name = "process-setting"
    openapi_spec_tag = "学籍异动：业务设置"
    allow_browser_login = False
    include_route_methods = {"get_settings", "put_setting"}
    openapi_spec_component_schemas = (ProcessSettingBody,)

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def get_settings(self):
        """业务设置：本单位适用的每一项设置及其来源
        ---
        get:
          summary: 业务设置（当前生效值、由哪个单位设置、本单位能否设置）
          responses:
            200:
              description: unit 与 result（[{key, label, help, choices, default, value, source, source_label, settable}]）
        """
        def work(actor, saved):
            unit = _actor_unit(actor)
            rows = [_setting_out(db.session, actor, s) for s in process_settings.SETTINGS.values()]
            return {"unit": _unit_brief(unit), "count": len(rows), "result": rows}
        return self._serve(work)

    @expose("/<string:key>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    def put_setting(self, key):
        """设置本单位（及下级单位）的业务设置
        ---
        put:
          summary: 设置一项业务设置
          parameters:
          - in: path
            name: key
            schema:
              type: string
            description: 设置项，如 transfer.county_order
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ProcessSettingBody'
          responses:
            200:
              description: 已保存
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            value = _text(body, "value")
            if key not in process_settings.SETTINGS:
                raise NotFound(f"未知的设置项“{key}”（可选：{'、'.join(process_settings.SETTINGS)}）")
            setting = process_settings.SETTINGS[key]
            process_settings.set_value(db.session, actor, key, value)
            unit = _actor_unit(actor)
            return {"result": _setting_out(db.session, actor, setting),
                    "message": f"“{setting.label}”已设置为“{setting.choice_label(value)}”，适用于{unit.name}及下级单位"
                               "（下级单位另有设置的除外）"}
        return self._serve(work)


def register(appbuilder):
    from app.extensions import csrf

    for api in (TransferApi, MovementApi, CalendarApi, ProcessSettingApi):
        view = appbuilder.add_api(api)
        blueprint = getattr(view, "blueprint", None)
        if blueprint is not None:
            csrf.exempt(blueprint)  # JWT, not cookies
