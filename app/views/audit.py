"""The audit trail screen: read-only, scoped to the actor's subtree."""
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.models.audit import AuditLog
from app.views.base import ScopedModelView, show_value

ACTIONS = {"create": _l("新增"), "update": _l("修改"), "delete": _l("删除"), "bulk": _l("批量"),
           "view": _l("查看"), "export": _l("导出")}
ENTITIES = {"org_unit": _l("机构"), "ab_user": _l("账号"), "student": _l("学生"), "request": _l("申请"),
            "region": _l("行政区划"), "audit_log": _l("审计记录")}
FIELDS = {
    "name": _l("名称"), "kind": _l("机构类型"), "parent_id": _l("上级机构"), "region_code": _l("区划代码"),
    "path": _l("层级路径"), "school_code": _l("学校标识码"), "school_type": _l("办学类型"), "ownership": _l("办学性质"),
    "address": _l("地址"), "may_enroll": _l("可招生"), "active": _l("启用"), "username": _l("用户名"),
    "real_name": _l("真实姓名"), "first_name": _l("姓名"), "last_name": _l("姓"), "phone": _l("联系电话"),
    "email": _l("电子邮箱"), "org_unit_id": _l("所属机构"), "roles": _l("角色"), "password": _l("密码"),
    "must_change_password": _l("须修改密码"), "locked_until": _l("锁定至"), "id_number": _l("身份证件号"),
}


class AuditLogView(ScopedModelView):
    datamodel = SQLAInterface(AuditLog)
    label = _l("审计记录")
    list_title = _l("审计日志")
    list_template = "exports/list.html"
    base_permissions = ["can_list", "can_show", "can_export_workbook"]
    export_id_columns = ["old_value_shown", "new_value_shown"]  # may carry ID numbers (shown_field)
    label_columns = {
        "created_at": _l("时间"), "actor_name": _l("操作人"), "entity": _l("对象类型"),
        "entity_id": _l("对象编号"), "entity_label": _l("对象"), "action": _l("操作"),
        "field": _l("字段"), "old_value": _l("原值"), "new_value": _l("新值"),
        "old_value_shown": _l("原值"), "new_value_shown": _l("新值"), "reason": _l("事由"),
    }
    list_columns = ["created_at", "actor_name", "action", "entity", "entity_label", "field", "old_value_shown", "new_value_shown", "reason"]
    show_columns = ["created_at", "actor_name", "action", "entity", "entity_id", "entity_label", "field",
                    "old_value_shown", "new_value_shown", "reason"]
    search_columns = ["actor_name", "entity", "entity_id", "entity_label", "created_at", "action"]
    base_order = ("id", "desc")
    formatters_columns = {
        "action": lambda v: ACTIONS.get(v, v),
        "entity": lambda v: ENTITIES.get(v, v),
        "field": lambda v: FIELDS.get(v, v or ""),
        "created_at": show_value, "old_value_shown": show_value, "new_value_shown": show_value, "reason": show_value,
    }
