"""REST API (JWT from POST /api/v1/security/login): the same services and the same scoping."""
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.models.sqla.interface import SQLAInterface
from marshmallow import fields
from werkzeug.exceptions import BadRequest

from app.extensions import db
from app.models.audit import AuditLog
from app.models.org import OrgUnit, Region
from app.services import orgs, privacy
from app.services.context import current_actor
from app.services.errors import DomainError
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
