"""REST API (JWT from POST /api/v1/security/login): the same services and the same scoping."""
from flask import request
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.models.sqla.interface import SQLAInterface
from marshmallow import fields
from sqlalchemy import func, select
from werkzeug.exceptions import BadRequest

from app.extensions import db
from app.models.audit import AuditLog
from app.models.org import OrgUnit, Region
from app.services import grades, orgs, privacy, scope
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound
from app.views.base import SCOPED


def install_token_messages(jwt_manager):
    """flask-jwt-extended answers {"msg": "Missing Authorization Header"}: say it in Chinese, with
    the status it would have used, for every API."""
    from flask import jsonify

    def answer(status, message):
        return jsonify(message=message), status

    jwt_manager.unauthorized_loader(lambda _reason: answer(401, "请先登录（缺少或无效的访问令牌）"))
    jwt_manager.invalid_token_loader(lambda _reason: answer(422, "访问令牌无效，请重新登录"))
    jwt_manager.expired_token_loader(lambda _header, _payload: answer(401, "访问令牌已过期，请重新登录"))
    jwt_manager.revoked_token_loader(lambda _header, _payload: answer(401, "访问令牌已失效，请重新登录"))
    jwt_manager.user_lookup_error_loader(lambda _header, _payload: answer(401, "请先登录（缺少或无效的访问令牌）"))


class ScopedModelRestApi(ModelRestApi):
    """Out-of-scope ids answer 404 (base_filters); service errors answer 4xx in Chinese."""

    base_filters = SCOPED
    allow_browser_login = False

    def _guarded(self, fn, *args):
        try:
            return fn(*args)
        except DomainError as exc:
            db.session.rollback()
            return self.response(exc.status, message=exc.message)
        except BadRequest:
            return self.response_400(message="请求格式错误")

    def post_headless(self):
        return self._guarded(super().post_headless)

    def put_headless(self, pk):
        return self._guarded(super().put_headless, pk)

    def delete_headless(self, pk):
        return self._guarded(super().delete_headless, pk)


class EnumLabel(fields.Field):
    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else {"code": value.value, "name": str(value.label)}


# ---------------------------------------------------------------- shared by the hand-written APIs

MAX_ID = 2 ** 31 - 1  # an id beyond the column's range is no id (PostgreSQL would refuse to compare it)


class BadInput(DomainError):
    """Malformed request body or query (not a rule of the domain): 400."""

    status = 400


def iso(value):
    return value.isoformat() if value is not None else None


def label(value):
    """An enum member as {code, name}."""
    return {"code": value.value, "name": str(value.label)} if value is not None else None


def grade_brief(code):
    return {"code": code, "name": grades.grade_label(code)} if code else None


def school_brief(unit):
    return {"id": unit.id, "name": unit.name, "school_code": unit.school_code} if unit is not None else None


def audit_full(session, actor, shown, where):
    """An access entry for each student shown with the full ID number (roles with full view only)."""
    if not privacy.full_id_allowed(actor):
        return
    for s in {s.id: s for s in shown if s is not None}.values():
        privacy.record_full_view(session, actor, s, where)


def in_range(pk):
    """A path id beyond the column's range: not found, like any id that does not exist."""
    if not 0 < pk <= MAX_ID:
        raise NotFound("记录不存在或不在您的管辖范围内")
    return pk


def _whole(value):
    """A JSON number or digit text as an int, else None (true/false, 1.5, "１²" are no ids)."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def id_arg(name):
    """An id of the query string, or None when absent; text, 0 or beyond the column answers 400."""
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    n = _whole(value)
    if n is None or not 0 < n <= MAX_ID:
        raise BadInput(f"{name} 应为有效的编号")
    return n


def id_list(body, name, most):
    """The ids listed under `name` in the body, [] when absent, in order without repeats."""
    value = body.get(name)
    if value is None or value == []:
        return []
    if not isinstance(value, list):
        raise BadInput(f"{name} 应为编号列表")
    if len(value) > most:
        raise BadInput(f"{name} 一次最多 {most} 个")
    out = [_whole(v) for v in value]
    if any(n is None or not 0 < n <= MAX_ID for n in out):
        raise BadInput(f"{name} 应为编号列表")
    return list(dict.fromkeys(out))


def enum_arg(name, enum, extra=()):
    """A member of `enum` (or one of the `extra` words) named by its value in the query string."""
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if value in extra:
        return value
    for member in enum:
        if member.value == value:
            return member
    choices = "、".join([*extra, *(f"{m.value}（{m.label}）" for m in enum)])
    raise BadInput(f"{name} 的取值“{value}”无效（可选：{choices}）")


def page(session, stmt):
    """(total, page, page_size, rows) of a scoped select, paged by the query string."""
    from app.api.movements import _paging  # movements imports this package

    number, size = _paging()  # refuses pages beyond any table
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.offset(number * size).limit(size)).unique().all()
    return total, number, size, rows


class PathScopedMixin:
    """For an API whose routes carry the pk of several models, `scoped_paths` = ((url part, model), …):
    an out-of-scope or impossible pk answers 404 exactly like a missing one, even before the
    permission check. Goes before RegistryApiMixin."""

    scoped_paths = ()

    def _visible(self, pk):
        rule = request.url_rule.rule if request.url_rule is not None else ""
        model = next((m for part, m in self.scoped_paths if part in rule), None)
        actor = current_actor()
        if model is None or actor is None:
            return model is None
        if not 0 < pk <= MAX_ID:
            return False
        try:
            scope.get(db.session, actor, model, pk)
        except NotFound:
            return False
        return True

    def response_403(self):
        pk = (request.view_args or {}).get("pk")
        if pk is not None and not self._visible(pk):
            return self.response_404()
        return self.response(403, message="您没有权限执行此操作")


class OrgUnitApi(ScopedModelRestApi):
    resource_name = "org_unit"
    datamodel = SQLAInterface(OrgUnit)
    list_columns = ["id", "name", "kind", "school_code", "school_type", "ownership", "region.code",
                    "region.full_name", "parent.id", "parent.name", "path", "may_enroll", "active"]
    show_columns = list_columns + ["address"]
    add_columns = ["name", "kind", "parent", "region", "school_code", "school_type", "ownership", "address", "may_enroll"]
    edit_columns = ["name", "school_code", "school_type", "ownership", "address", "may_enroll", "active"]
    search_columns = ["name", "school_code", "region", "parent"]
    order_columns = ["name", "school_code", "path"]

    def _init_model_schemas(self):
        super()._init_model_schemas()
        # A school's region defaults to its county's: the service decides, not the schema.
        for name in ("region", "school_code", "school_type", "ownership"):
            field = self.add_model_schema.fields.get(name)
            if field is not None:
                field.required = False
                field.allow_none = True

    def pre_add(self, item):
        orgs.validate_new(db.session, current_actor(), item)

    def pre_update(self, item):
        orgs.validate_update(db.session, current_actor(), item)

    def pre_delete(self, item):
        orgs.validate_delete(db.session, current_actor(), item)


class RegionApi(ModelRestApi):
    resource_name = "region"
    datamodel = SQLAInterface(Region)
    allow_browser_login = True
    include_route_methods = {"get", "get_list", "info"}
    list_columns = ["code", "name", "full_name", "level", "parent.code"]
    show_columns = list_columns
    search_columns = ["code", "name", "full_name", "level", "parent"]
    order_columns = ["code"]


class AuditLogApi(ScopedModelRestApi):
    resource_name = "audit_log"
    datamodel = SQLAInterface(AuditLog)
    include_route_methods = {"get", "get_list", "info"}
    list_columns = ["id", "created_at", "actor_name", "entity", "entity_id", "entity_label", "action", "field", "old_value", "new_value", "reason"]
    show_columns = list_columns
    search_columns = ["actor_name", "entity", "entity_id", "created_at"]
    order_columns = ["id", "created_at"]

    def _mask(self, row):
        actor = current_actor()
        for key in ("old_value", "new_value"):
            if key in row:
                row[key] = privacy.shown_field(actor, row.get("field"), row[key])

    def pre_get(self, data):
        self._mask(data.get("result", {}))

    def pre_get_list(self, data):
        for row in data.get("result", []):
            self._mask(row)
