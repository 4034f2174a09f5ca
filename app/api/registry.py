"""REST API of the registry (学籍): students and approval requests.

The generic FAB routes are read-only (get, get_list, info) and scoped by `base_filters` (an
out-of-scope id answers 404). Every write is a custom endpoint that calls the same service the
screens call (services/students.py, services/requests.py): JSON in, JSON out, a service's
DomainError answered as {"message": "<中文>"} with its 4xx status, nothing written on failure.

Privacy (信息保密): ID numbers — and 学籍号, which is "G" + the ID number — are masked for actors
whose role does not need them in full (services/privacy.py); each full view is audited.
Column selection (`columns` / `select_columns` in `q`) is ignored on purpose: FAB would build a
plain schema for it and skip the masking.
"""
import base64
import binascii
import os

from flask import request
from flask_appbuilder.api import expose, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name, protect
from marshmallow import Schema, fields
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.api import BadInput, EnumLabel, ScopedModelRestApi
from app.codes import tables
from app.extensions import db
from app.models.requests import Request
from app.models.student import Student
from app.services import attachments, identity, privacy, requests as engine, scope, students
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound, PermissionDenied

MAX_BULK = 500
# base64 of MAX_BYTES, with a little room for padding: larger strings are refused before decoding.
_MAX_B64 = (attachments.MAX_BYTES + 2) // 3 * 4 + 4


# ---------------------------------------------------------------- serialisation

class CodeLabel(fields.Field):
    """A code of a national code table as {"code": "1", "name": "男"}."""

    def __init__(self, table, **kwargs):
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault("description", f"{tables.title(table)}：{{code, name}}")
        super().__init__(**kwargs)
        self.table = table

    def _serialize(self, value, attr, obj, **kwargs):
        if value in (None, ""):
            return None
        return {"code": value, "name": tables.label(self.table, value)}


class StateLabel(EnumLabel):
    """A LabelledEnum as {"code": "in_school", "name": "在校"}."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"description": "{code, name}"})
        super().__init__(**kwargs)


shown_xueji = privacy.shown_xueji


class MaskedId(fields.Field):
    """An ID number, in full only for actors whose role needs it (privacy.shown_id)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"description": "身份证件号（无完整查看权限时脱敏）"})
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return privacy.shown_id(current_actor(), value) if value else value


class MaskedXueji(fields.Field):
    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"description": "学籍号（G 字头号含身份证号，无完整查看权限时脱敏）"})
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return shown_xueji(current_actor(), value)


class OrgBrief(Schema):
    id = fields.Integer()
    name = fields.String()
    school_code = fields.String()


class StudentListSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    name_initials = fields.String()
    gender = CodeLabel("gender")
    birth_date = fields.Date()
    id_type = CodeLabel("id_type")
    id_number = MaskedId()
    xueji_no = MaskedXueji()
    school = fields.Nested(OrgBrief)
    grade = CodeLabel("grade")
    class_name = fields.String()
    status = StateLabel()
    version = fields.Integer()


class GuardianOut(Schema):
    id = fields.Integer()
    name = fields.String()
    relation = CodeLabel("guardian_relation")
    id_type = CodeLabel("id_type")
    id_number = MaskedId()
    phone = fields.String()


class HistoryOut(Schema):
    school = fields.Nested(OrgBrief)
    grade = CodeLabel("grade")
    class_name = fields.String()
    status = fields.Function(lambda h: {"code": h.status, "name": students.display("status", h.status)})
    valid_from = fields.DateTime()
    valid_to = fields.DateTime()
    reason = fields.String()
    request_id = fields.Integer()


class StudentShowSchema(StudentListSchema):
    ethnicity = CodeLabel("ethnicity")
    personal_id = fields.String()
    former_xueji_no = MaskedXueji()
    birthplace_code = fields.String()
    hukou_code = fields.String()
    native_place = fields.String()
    nationality = CodeLabel("nationality")
    hmt_overseas = CodeLabel("hmt_overseas")
    political_status = CodeLabel("political_status")
    health_status = CodeLabel("health_status")
    hukou_type = CodeLabel("hukou_type")
    only_child = fields.Boolean()
    left_behind = fields.Boolean()
    migrant_child = fields.Boolean()
    orphan = fields.Boolean()
    martyr_child = fields.Boolean()
    commute_distance = fields.Float()
    commute_mode = CodeLabel("commute_mode")
    needs_school_bus = fields.Boolean()
    enrollment_month = fields.String()
    enrollment_method = CodeLabel("enrollment_method")
    study_mode = CodeLabel("study_mode")
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    guardians = fields.List(fields.Nested(GuardianOut))
    history = fields.List(fields.Nested(HistoryOut))


STUDENT_LABELS = {
    **students.FIELD_LABELS, "id": "编号", "name_initials": "姓名拼音首字母", "xueji_no": "学籍号",
    "personal_id": "个人标识码", "former_xueji_no": "原学籍号", "school": "学校", "status": "学籍状态",
    "version": "版本号", "created_at": "建立时间", "updated_at": "更新时间", "guardians": "监护人",
    "history": "学籍履历",
}
_STUDENT_PLAIN = ["id", "name", "name_initials", "gender", "birth_date", "id_type", "id_number", "xueji_no",
                  "grade", "class_name", "status", "version"]
_SCHOOL_COLS = ["school.id", "school.name", "school.school_code", "school.path"]


# ---------------------------------------------------------------- request bodies (OpenAPI + shape checks)

class AttachmentIn(Schema):
    filename = fields.String(required=True, metadata={"description": "文件名（PDF/JPG/PNG）"})
    content_base64 = fields.String(required=True, metadata={"description": "文件内容，Base64 编码，不超过 10 MB"})
    kind = fields.String(metadata={"description": "no_id_proof（无身份证号证明）或 evidence（证明材料）"})


class GuardianIn(Schema):
    name = fields.String(required=True)
    relation = fields.String(required=True, metadata={"description": "监护人关系代码或名称，如 51/父亲"})
    id_type = fields.String()
    id_number = fields.String()
    phone = fields.String()


class StudentRegisterBody(Schema):
    data = fields.Dict(required=True, metadata={"description": "学籍字段：name, gender, birth_date, id_type, "
                                                               "id_number, ethnicity, grade, class_name …（代码或名称）"})
    guardians = fields.List(fields.Nested(GuardianIn), required=True)
    attachments = fields.List(fields.Nested(AttachmentIn))


class StudentKeyChangeBody(Schema):
    changes = fields.Dict(required=True, metadata={"description": "关键数据的新值：name, gender, birth_date, "
                                                                  "id_type, id_number, ethnicity"})
    reason = fields.String(required=True)
    attachments = fields.List(fields.Nested(AttachmentIn), required=True)
    expected_version = fields.Integer()


class StudentDeletionBody(Schema):
    reason = fields.String(required=True)
    expected_version = fields.Integer()


class StudentUpdateBody(Schema):
    expected_version = fields.Integer(metadata={"description": "读取时的 version；已被他人修改则拒绝"})
    grade = fields.String()
    class_name = fields.String()
    native_place = fields.String()
    commute_distance = fields.Float()


class StudentLookupBody(Schema):
    name = fields.String()
    id_number = fields.String(required=True)


class RequestDecisionBody(Schema):
    comment = fields.String(metadata={"description": "审批意见（驳回时必填）"})
    expected_version = fields.Integer(metadata={"description": "读取时的 version；已被他人处理则拒绝"})


class RequestCancelBody(Schema):
    reason = fields.String(metadata={"description": "撤销理由（上级代为清理时必填）"})
    expected_version = fields.Integer()


class RequestBulkApproveBody(Schema):
    ids = fields.List(fields.Integer(), required=True)
    comment = fields.String()


def _info_schema(cls):
    return type(f"{cls.__name__}Fields", (cls,), {})


BODY_LABELS = {
    "data": "学籍字段", "guardians": "监护人", "attachments": "附件（Base64）", "changes": "变更内容",
    "reason": "理由", "expected_version": "版本号（读取时）", "comment": "审批意见", "ids": "申请号列表",
    "id_number": "身份证件号", "name": "姓名",
}
BODY_DESCRIPTIONS = {
    "data": "学籍字段对象：name, gender, birth_date, id_type, id_number, ethnicity, grade, class_name …",
    "guardians": "[{name, relation, id_type, id_number, phone}]",
    "attachments": "[{filename, content_base64, kind}]，kind 为 no_id_proof 或 evidence",
    "changes": "新值对象", "reason": "必填", "expected_version": "读取记录时的 version；记录已变化则拒绝",
    "comment": "驳回时必填", "ids": "申请号列表，最多 500 个",
}


# ---------------------------------------------------------------- shared behaviour

def _body():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadInput("请求内容应为 JSON 对象")
    return data


def _int_or_none(value, name):
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise BadInput(f"{name} 应为整数")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadInput(f"{name} 应为整数")


def _text(body, name):
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadInput(f"{name} 应为文本")
    return value


def _remove_files(saved):
    folder = attachments._folder()
    for att in saved:
        try:
            os.remove(os.path.join(folder, att.stored_name))
        except OSError:
            pass


def record_body(session, actor, body, saved):
    """A whole record as 新生注册 and 跨省转入 take it: {data, guardians, attachments} →
    (data, guardians, stored files of the actor's unit). Without an ID number the evidence is the
    无身份证号证明 unless an attachment says otherwise."""
    data, guardians = body.get("data"), body.get("guardians")
    if not isinstance(data, dict):
        raise BadInput("data 应为学籍字段对象")
    if guardians is not None and not (isinstance(guardians, list) and all(isinstance(g, dict) for g in guardians)):
        raise BadInput("guardians 应为监护人列表")
    unit = _actor_unit(actor)
    default_kind = students.EVIDENCE if str(data.get("id_number") or "").strip() else students.NO_ID_PROOF
    files = _decode_attachments(session, actor, body.get("attachments"), unit.path, default_kind, saved)
    return data, guardians or [], files


def _decode_attachments(session, actor, items, org_path, default_kind, saved):
    """[{"filename", "content_base64", "kind"}] → Attachments stored for org_path. Every stored file
    is appended to `saved` so that a later failure can remove it again."""
    if items in (None, []):
        return []
    if not isinstance(items, list):
        raise BadInput("attachments 应为附件列表")
    out = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise BadInput(f"第 {i} 个附件格式不正确，应为 {{filename, content_base64, kind}}")
        filename = item.get("filename")
        if not isinstance(filename, str) or not filename.strip():
            raise BadInput(f"第 {i} 个附件缺少文件名")
        kind = item.get("kind") or default_kind
        if kind not in attachments.KIND_LABELS:
            raise BadInput(f"第 {i} 个附件的类型“{kind}”无效（可选：{'、'.join(attachments.KIND_LABELS)}）")
        content = item.get("content_base64")
        if not isinstance(content, str) or not content.strip():
            raise BadInput(f"第 {i} 个附件（{filename}）没有内容")
        if len(content) > _MAX_B64:
            raise DomainError(f"{attachments.KIND_LABELS[kind]}不能超过 10 MB（{filename}）", field="attachments")
        if "," in content[:100] and content.startswith("data:"):
            content = content.split(",", 1)[1]  # a data: URL from a browser
        try:
            data = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(f"第 {i} 个附件（{filename}）的内容不是有效的 Base64 编码")
        att = attachments.save(session, actor, filename, data, kind, org_path)
        saved.append(att)
        out.append(att)
    return out


def _actor_unit(actor):
    unit = getattr(actor, "org_unit", None)
    if unit is None:
        raise PermissionDenied("请先登录")
    return unit


def _has_cjk(text):
    return any("\u3400" <= ch <= "\u9fff" for ch in str(text or ""))


class RegistryApiMixin:
    """Chinese messages for FAB's own answers; out-of-scope ids answer 404 even before the
    permission check; service calls commit on success and roll back on a DomainError."""

    scoped_model = None  # the model whose `pk` in the URL must be inside the actor's scope

    def response_400(self, message=None):
        if not _has_cjk(message):
            message = f"请求参数错误（{message}）" if message else "请求参数错误"
        return self.response(400, message=message)

    def response_401(self):
        return self.response(401, message="请先登录（缺少或无效的访问令牌）")

    def response_403(self):
        # Never tell "forbidden" for an id the actor may not even know exists.
        pk = (request.view_args or {}).get("pk")
        if pk is not None and self.scoped_model is not None and not self._visible(pk):
            return self.response_404()
        return self.response(403, message="您没有权限执行此操作")

    def response_404(self):
        return self.response(404, message="记录不存在或不在您的管辖范围内")

    def response_422(self, message=None):
        return self.response(422, message=message if _has_cjk(message) else "请求内容无法处理")

    def response_500(self, message=None):
        db.session.rollback()
        return self.response(500, message="服务器内部错误，请稍后重试或联系管理员")

    def _visible(self, pk):
        actor = current_actor()
        if actor is None:
            return False
        try:
            scope.get(db.session, actor, self.scoped_model, pk)
        except NotFound:
            return False
        return True

    def _serve(self, work, status=200):
        """Run `work(actor, saved_files)` → dict; commit; answer JSON. On failure: roll back,
        remove files stored on the way, answer {"message": "<中文>"} with the error's status."""
        saved = []
        try:
            actor = current_actor()
            if actor is None:
                raise PermissionDenied("请先登录")
            body = work(actor, saved)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            _remove_files(saved)
            extra = {"field": exc.field} if exc.field else {}
            return self.response(exc.status, message=exc.message, **extra)
        except StaleDataError:
            db.session.rollback()
            _remove_files(saved)
            return self.response(409, message="该记录已被他人修改，请刷新后重试")
        except IntegrityError:
            db.session.rollback()
            _remove_files(saved)
            return self.response(409, message="数据冲突（可能刚刚已被他人提交），请刷新后查看")
        except Exception:
            db.session.rollback()
            _remove_files(saved)
            raise
        return self.response(status, **body)

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        # FAB passes "" through gettext for unlabelled fields, which yields the catalogue header.
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        info["label"] = str(self.label_columns.get(field.name) or field.name)
        info["description"] = str(self.description_columns.get(field.name) or "")
        return info

    def _handle_columns_args(self, args, default_select_columns, default_response_columns):
        # FAB would serialise a column selection with a generated schema, without masking.
        return default_select_columns, []


def _student_summary(actor, student):
    return {"id": student.id, "name": student.name, "version": student.version,
            "status": {"code": student.status.value, "name": str(student.status.label)},
            "xueji_no": shown_xueji(actor, student.xueji_no)}


def _request_summary(req):
    return {"id": req.id, "type": req.type, "type_label": req.type_label, "version": req.version,
            "state": {"code": req.state.value, "name": str(req.state.label)}}


# ---------------------------------------------------------------- 学生学籍

class StudentApi(RegistryApiMixin, ScopedModelRestApi):
    resource_name = "student"
    datamodel = SQLAInterface(Student)
    scoped_model = Student
    openapi_spec_tag = "学生学籍"
    include_route_methods = {"get", "get_list", "info", "register", "key_change", "deletion", "update", "lookup"}
    openapi_spec_component_schemas = (StudentRegisterBody, StudentKeyChangeBody, StudentDeletionBody,
                                      StudentUpdateBody, StudentLookupBody)

    list_title = "学生学籍列表"
    show_title = "查看学生学籍"
    add_title = "新生注册"
    edit_title = "修改学籍信息"
    list_columns = list(StudentListSchema._declared_fields)
    show_columns = list(StudentShowSchema._declared_fields)
    list_select_columns = _STUDENT_PLAIN + _SCHOOL_COLS
    show_select_columns = [c for c in StudentShowSchema._declared_fields
                           if c not in ("school", "guardians", "history")] + _SCHOOL_COLS
    list_model_schema = StudentListSchema()
    show_model_schema = StudentShowSchema()
    # FAB's _info describes add/edit fields from these; distinct classes keep apispec from
    # registering one schema class under two names.
    add_model_schema = _info_schema(StudentRegisterBody)()
    edit_model_schema = _info_schema(StudentUpdateBody)()
    add_columns = list(StudentRegisterBody._declared_fields)
    edit_columns = list(StudentUpdateBody._declared_fields)
    label_columns = {**BODY_LABELS, **STUDENT_LABELS}
    description_columns = BODY_DESCRIPTIONS
    search_columns = ["name", "name_initials", "id_number", "xueji_no", "school", "grade", "class_name", "status"]
    order_columns = ["id", "name", "name_initials", "birth_date", "grade", "class_name", "status", "created_at"]
    base_order = ("id", "asc")

    def __init__(self):
        super().__init__()
        # Only exact matches on numbers that carry the ID number: "starts with" would let an actor
        # who sees it masked recover it digit by digit.
        search = self._filters.get_search_filters()
        for col in ("id_number", "xueji_no"):
            search[col] = [f for f in search.get(col, []) if f.arg_name in ("eq", "in")]

    # -- reads: audit each full view of an ID number

    def _audit_full(self, ids, where):
        actor = current_actor()
        if not ids or not privacy.full_id_allowed(actor):
            return
        for pk in ids:
            student = db.session.get(Student, pk)
            if student is not None:
                privacy.record_full_view(db.session, actor, student, where)
        db.session.commit()

    def pre_get(self, data):
        self._audit_full([data.get("id")], "接口：查看学生学籍")

    def pre_get_list(self, data):
        self._audit_full(data.get("ids") or [], "接口：学生学籍列表")

    # -- writes: the services

    @expose("/register", methods=["POST"])
    @protect()
    @safe
    @permission_name("register")
    def register(self):
        """新生注册：学校录入新生，提交县（区）核办
        ---
        post:
          summary: 新生注册（提交县级核办）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/StudentRegisterBody'
          responses:
            201:
              description: 已建立注册待核办的学籍并提交申请
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
            student, req, warnings = students.register_student(db.session, actor, data, guardians, files)
            return {"id": student.id, "request_id": req.id, "warnings": warnings,
                    "message": "新生注册已提交，等待县（区）教育局核办",
                    "result": _student_summary(actor, student), "request": _request_summary(req)}
        return self._serve(work, status=201)

    @expose("/<int:pk>/key-change", methods=["POST"])
    @protect()
    @safe
    @permission_name("key_change")
    def key_change(self, pk):
        """关键数据变更申请
        ---
        post:
          summary: 申请关键数据变更（须上传证明材料）
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
                  $ref: '#/components/schemas/StudentKeyChangeBody'
          responses:
            201:
              description: 已提交关键数据变更申请
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            student = scope.get(db.session, actor, Student, pk)  # 404 before anything is stored
            body = _body()
            changes = body.get("changes")
            if not isinstance(changes, dict):
                raise BadInput("changes 应为关键数据字段对象")
            version = _int_or_none(body.get("expected_version"), "expected_version")
            files = _decode_attachments(db.session, actor, body.get("attachments"), student.school.path,
                                        students.EVIDENCE, saved)
            req, warnings = students.request_key_change(db.session, actor, pk, changes, _text(body, "reason"),
                                                        files, expected_version=version)
            return {"request_id": req.id, "warnings": warnings, "message": "关键数据变更申请已提交，等待核办",
                    "request": _request_summary(req)}
        return self._serve(work, status=201)

    @expose("/<int:pk>/deletion", methods=["POST"])
    @protect()
    @safe
    @permission_name("deletion")
    def deletion(self, pk):
        """误操作删除申请
        ---
        post:
          summary: 申请误操作删除
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
                  $ref: '#/components/schemas/StudentDeletionBody'
          responses:
            201:
              description: 已提交删除申请
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            scope.get(db.session, actor, Student, pk)
            body = _body()
            version = _int_or_none(body.get("expected_version"), "expected_version")
            req = students.request_deletion(db.session, actor, pk, _text(body, "reason"), expected_version=version)
            return {"request_id": req.id, "message": "误操作删除申请已提交，等待核办", "request": _request_summary(req)}
        return self._serve(work, status=201)

    @expose("/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    def update(self, pk):
        """修改非关键学籍信息
        ---
        put:
          summary: 修改非关键数据（关键数据须走关键数据变更）
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
                  $ref: '#/components/schemas/StudentUpdateBody'
          responses:
            200:
              description: 已保存
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            scope.get(db.session, actor, Student, pk)
            body = dict(_body())
            version = _int_or_none(body.pop("expected_version", None), "expected_version")
            if isinstance(body.get("changes"), dict) and len(body) == 1:
                body = dict(body["changes"])  # {"changes": {...}} is accepted too
            unknown = [k for k in body if k not in students.FIELD_LABELS]
            if unknown:
                raise BadInput(f"不能通过此接口修改的字段：{'、'.join(unknown)}")
            if not body:
                raise BadInput("没有要修改的字段")
            student, warnings = students.update_student(db.session, actor, pk, body, expected_version=version)
            return {"id": student.id, "version": student.version, "warnings": warnings, "message": "学籍信息已保存",
                    "result": _student_summary(actor, student)}
        return self._serve(work)

    @expose("/lookup", methods=["POST"])
    @protect()
    @safe
    @permission_name("lookup")  # 全省学籍查询: schools and counties only (as LookupView)
    def lookup(self):
        """全省学籍查询：此人是否已在本省建立学籍（只显示所在县区和学校）
        ---
        post:
          summary: 全省学籍查询
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/StudentLookupBody'
          responses:
            200:
              description: found=false，或 found=true 及所在县区、学校、姓名是否一致、学籍状态
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            found = students.lookup_person(db.session, actor, _text(body, "name"), _text(body, "id_number"))
            if found is None:
                return {"found": False, "message": "全省未查到该身份证件号的在籍学籍"}
            return {"found": True, **found,
                    "message": f"该身份证件号已在 {found['county']} {found['school']} 建立学籍"}
        return self._serve(work)


# ---------------------------------------------------------------- 审批申请

class RequestStudentOut(Schema):
    id = fields.Integer()
    name = fields.String()
    id_number = fields.Function(lambda s: identity.mask(s.id_number) if s.id_number else s.id_number,
                                metadata={"description": "身份证件号（脱敏）"})


class RequestListSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    type_label = fields.Function(lambda r: r.type_label)
    state = StateLabel()
    student = fields.Nested(RequestStudentOut, allow_none=True)
    school = fields.Nested(OrgBrief)
    reason = fields.String()
    outcome = fields.String()
    current_step = fields.Integer()
    created_at = fields.DateTime()
    decided_at = fields.DateTime()
    version = fields.Integer()


class _MaskedPayloadRequest:
    """The request as describe() sees it, with ID numbers masked for actors without full view."""

    def __init__(self, req, payload):
        self._req, self.payload = req, payload

    def __getattr__(self, name):
        return getattr(self._req, name)


def _masked_payload(actor, payload):
    if privacy.full_id_allowed(actor) or not isinstance(payload, dict):
        return payload
    out = {}
    for key, value in payload.items():
        if isinstance(value, dict):
            value = dict(value)
            if value.get("id_number"):
                value["id_number"] = identity.mask(value["id_number"])
            for k in ("xueji_no", "former_xueji_no"):
                if value.get(k):
                    value[k] = shown_xueji(actor, value[k])
        out[key] = value
    return out


def _changes(req):
    spec = engine.REQUEST_TYPES.get(req.type)
    if spec is None or spec.describe is None:
        return []
    view = _MaskedPayloadRequest(req, _masked_payload(current_actor(), req.payload))
    return [{"field": f, "before": b, "after": a} for f, b, a in spec.describe(view) if b or a]


def _steps(req):
    return [{"seq": s.seq, "org_unit": {"id": s.org_unit_id, "name": s.org_unit.name if s.org_unit else None},
             "decision": {"code": s.decision.value, "name": str(s.decision.label)},
             "role": {"code": s.role.value, "name": str(s.role.label)},
             "party": {"code": s.party.value, "name": str(s.party.label)} if s.party else None,
             "actor": (s.actor.real_name or s.actor.username) if s.actor else None,
             "comment": s.comment, "decided_at": s.decided_at.isoformat() if s.decided_at else None}
            for s in req.steps]


def _request_student_full(req):
    s = req.student
    if s is None:
        return None
    actor = current_actor()
    return {"id": s.id, "name": s.name, "id_number": privacy.shown_id(actor, s.id_number) if s.id_number else None,
            "xueji_no": shown_xueji(actor, s.xueji_no),
            "status": {"code": s.status.value, "name": str(s.status.label)}}


def _current_unit(req):
    step = engine.current_step(req) if req.state.value == "pending" else None
    return {"id": step.org_unit_id, "name": step.org_unit.name} if step is not None else None


class RequestShowSchema(RequestListSchema):
    student = fields.Function(_request_student_full, metadata={"description": "学生（身份证件号按权限脱敏）"})
    initiator = fields.Function(lambda r: (r.initiator.real_name or r.initiator.username) if r.initiator else None)
    steps = fields.Function(_steps, metadata={"description": "审批步骤：seq, org_unit, decision, role, party, actor, comment"})
    changes = fields.Function(_changes, metadata={"description": "变更前后：[{field, before, after}]"})
    current_unit = fields.Function(_current_unit, metadata={"description": "当前应由哪个单位核办"})
    can_decide = fields.Function(lambda r: engine.can_decide(current_actor(), r))
    attachments = fields.Function(lambda r: [
        {"id": a.id, "filename": a.filename, "kind": a.kind, "kind_label": attachments.KIND_LABELS.get(a.kind, a.kind),
         "size": a.size} for a in r.attachments])


REQUEST_LABELS = {
    "id": "申请号", "type": "业务类型代码", "type_label": "业务类型", "state": "状态", "student": "学生",
    "school": "发起单位", "reason": "申请理由", "outcome": "处理意见", "current_step": "当前步骤",
    "created_at": "提交时间", "decided_at": "办结时间", "version": "版本号", "initiator": "发起人",
    "steps": "审批步骤", "changes": "变更内容", "current_unit": "当前核办单位", "can_decide": "我可审批",
    "attachments": "附件",
}
_REQUEST_PLAIN = ["id", "type", "state", "reason", "outcome", "current_step", "created_at", "decided_at", "version"]


class RequestApi(RegistryApiMixin, ScopedModelRestApi):
    resource_name = "request"
    datamodel = SQLAInterface(Request)
    scoped_model = Request
    openapi_spec_tag = "审批申请"
    include_route_methods = {"get", "get_list", "info", "approve", "reject", "cancel", "bulk_approve"}
    openapi_spec_component_schemas = (RequestDecisionBody, RequestCancelBody, RequestBulkApproveBody)

    list_title = "申请列表"
    show_title = "查看申请"
    list_columns = list(RequestListSchema._declared_fields)
    show_columns = list(RequestShowSchema._declared_fields)
    list_select_columns = _REQUEST_PLAIN + ["student.id", "student.name", "student.id_number",
                                            "school.id", "school.name", "school.school_code"]
    show_select_columns = _REQUEST_PLAIN + ["payload", "school_id", "student_id", "initiator_id",
                                            "school.id", "school.name", "school.school_code", "school.path"]
    list_model_schema = RequestListSchema()
    show_model_schema = RequestShowSchema()
    add_title = edit_title = "审批"
    add_model_schema = _info_schema(RequestDecisionBody)()
    edit_model_schema = _info_schema(RequestDecisionBody)()
    add_columns = edit_columns = list(RequestDecisionBody._declared_fields)
    label_columns = {**BODY_LABELS, **REQUEST_LABELS}
    description_columns = BODY_DESCRIPTIONS
    search_columns = ["type", "state", "school", "student", "created_at", "decided_at"]
    order_columns = ["id", "type", "state", "created_at", "decided_at"]
    base_order = ("id", "desc")

    def pre_get(self, data):
        actor = current_actor()
        req = db.session.get(Request, data.get("id"))
        if req is not None and req.student is not None and privacy.full_id_allowed(actor):
            privacy.record_full_view(db.session, actor, req.student, f"接口：查看申请 {req.id}")
            db.session.commit()

    def _decided(self, req, message):
        return {**_request_summary(req), "message": message}

    @expose("/<int:pk>/approve", methods=["POST"])
    @protect()
    @safe
    @permission_name("approve")
    def approve(self, pk):
        """审批通过
        ---
        post:
          summary: 审批通过（只生效一次；已处理的申请再次审批返回 422）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          requestBody:
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/RequestDecisionBody'
          responses:
            200:
              description: 已通过（或已转下一级核办）
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body() if request.get_data() else {}
            version = _int_or_none(body.get("expected_version"), "expected_version")
            req = engine.approve(db.session, actor, pk, _text(body, "comment"), expected_version=version)
            done = req.state.value == "approved"
            return self._decided(req, "审批通过" if done else "已同意，转下一级核办")
        return self._serve(work)

    @expose("/<int:pk>/reject", methods=["POST"])
    @protect()
    @safe
    @permission_name("reject")
    def reject(self, pk):
        """驳回
        ---
        post:
          summary: 驳回（须填写理由）
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
                  $ref: '#/components/schemas/RequestDecisionBody'
          responses:
            200:
              description: 已驳回
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body() if request.get_data() else {}
            version = _int_or_none(body.get("expected_version"), "expected_version")
            req = engine.reject(db.session, actor, pk, _text(body, "comment"), expected_version=version)
            if engine.in_arbitration(req):  # a transfer's two sides disagree: the common superior decides
                return self._decided(req, f"双方意见不一致，已提交{engine.current_step(req).org_unit.name}仲裁")
            return self._decided(req, "已驳回")
        return self._serve(work)

    @expose("/<int:pk>/cancel", methods=["POST"])
    @protect()
    @safe
    @permission_name("cancel")
    def cancel(self, pk):
        """撤销申请
        ---
        post:
          summary: 撤销申请（发起单位，或上级代为清理并填写理由）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          requestBody:
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/RequestCancelBody'
          responses:
            200:
              description: 已撤销
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body() if request.get_data() else {}
            version = _int_or_none(body.get("expected_version"), "expected_version")
            req = engine.cancel(db.session, actor, pk, _text(body, "reason"), expected_version=version)
            return self._decided(req, "申请已撤销")
        return self._serve(work)

    @expose("/bulk-approve", methods=["POST"])
    @protect()
    @safe
    @permission_name("approve")
    def bulk_approve(self):
        """批量审批通过
        ---
        post:
          summary: 批量审批通过（逐条生效，一条失败不影响其他）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/RequestBulkApproveBody'
          responses:
            200:
              description: approved（已通过的申请号）与 failed（[{id, message}]）
            400:
              $ref: '#/components/responses/400'
        """
        def work(actor, saved):
            body = _body()
            ids = body.get("ids")
            if not isinstance(ids, list) or not ids:
                raise BadInput("请选择要审批的申请（ids）")
            if len(ids) > MAX_BULK:
                raise BadInput(f"一次最多审批 {MAX_BULK} 条申请")
            clean = list(dict.fromkeys(_int_or_none(i, "ids") for i in ids))
            if None in clean:
                raise BadInput("ids 应为申请号列表")
            done, failed = engine.bulk_approve(db.session, actor, clean, _text(body, "comment"))
            return {"approved": done, "failed": [{"id": k, "message": v} for k, v in failed.items()],
                    "message": f"已通过 {len(done)} 条，未通过 {len(failed)} 条"}
        return self._serve(work)


def register(appbuilder):
    appbuilder.add_api(StudentApi)
    appbuilder.add_api(RequestApi)
