"""Screens for the organisation tree and the region table."""
from flask import redirect, url_for
from flask_appbuilder import ModelView, expose, has_access, permission_name
from flask_appbuilder.actions import action
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Optional
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterNotEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.exports.views import ExportMixin
from app.extensions import db
from app.jobs import enqueue
from app.models.org import OrgKind, OrgUnit, Ownership, Region, SchoolType
from app.services import orgs, scope
from app.services.context import current_actor
from app.views.base import (
    LabelledEnumField, ScopedModelView, ScopeFilter, enum_label, formatters, run_service, show_value,
)

ORG_LABELS = {
    "name": _l("名称"),
    "kind": _l("机构类型"),
    "parent": _l("上级机构"),
    "region": _l("行政区划"),
    "region_code": _l("区划代码"),
    "school_code": _l("学校标识码"),
    "school_type": _l("办学类型"),
    "ownership": _l("办学性质"),
    "address": _l("地址"),
    "may_enroll": _l("可招生"),
    "primary_years": _l("小学学制"),
    "junior_years": _l("初中学制"),
    "active": _l("启用"),
    "path": _l("层级路径"),
}


def _years_or_none(value):
    return int(value) if value not in (None, "", "None") else None


# 学制 (empty = 六三制); the service checks the values and that no student is left in a grade the school drops.
SCHOOLING_FIELDS = {
    "primary_years": SelectField(_l("小学学制"), choices=[("", _l("六年制（默认）")), ("6", _l("六年制")), ("5", _l("五年制"))],
                                 coerce=_years_or_none, validators=[Optional()], widget=Select2Widget(),
                                 description=_l("仅含小学学段的学校填写")),
    "junior_years": SelectField(_l("初中学制"), choices=[("", _l("三年制（默认）")), ("3", _l("三年制")), ("4", _l("四年制"))],
                                coerce=_years_or_none, validators=[Optional()], widget=Select2Widget(),
                                description=_l("仅含初中学段的学校填写")),
}


class RegionInActorArea(BaseFilter):
    """Regions inside the actor's own region (a county officer only sees its county)."""

    name = "region_in_area"

    def apply(self, query, value):
        actor = current_actor()
        unit = getattr(actor, "org_unit", None)
        if unit is None:
            return query.filter(Region.code == "")
        level = unit.region.level if unit.region else 3
        prefix = unit.region_code[: {1: 2, 2: 4}.get(level, 6)]
        return query.filter(Region.code.startswith(prefix))


def _regions_in_area():
    """Regions inside the actor's own region, for the add form's optional region select."""
    query = db.session.query(Region).order_by(Region.code)
    return RegionInActorArea("code", SQLAInterface(Region)).apply(query, None).all()


def _region_name(region):
    return region.full_name if region else ""


class OrgUnitView(ScopedModelView):
    datamodel = SQLAInterface(OrgUnit)
    label = _l("机构")
    list_title = _l("机构与学校")
    list_template = "org/list.html"
    label_columns = ORG_LABELS
    list_columns = ["name", "kind", "school_code", "school_type", "ownership", "region", "parent", "may_enroll", "active"]
    show_columns = ["name", "kind", "parent", "region", "region_code", "school_code", "school_type", "ownership",
                    "primary_years", "junior_years", "address", "may_enroll", "active"]
    add_columns = ["kind", "parent", "name", "region", "school_code", "school_type", "ownership", "primary_years",
                   "junior_years", "address", "may_enroll"]
    edit_columns = ["name", "school_code", "school_type", "ownership", "primary_years", "junior_years", "address",
                    "may_enroll", "active"]
    search_columns = ["name", "school_code", "address", "region", "parent"]
    order_columns = ["name", "school_code"]
    base_order = ("path", "asc")
    formatters_columns = formatters(["school_code", "address", "may_enroll", "active"], region=_region_name,
                                    kind=enum_label(OrgKind), school_type=enum_label(SchoolType),
                                    ownership=enum_label(Ownership),
                                    primary_years=lambda v: _l("%(n)s年制", n=v) if v else _l("六年制（默认）"),
                                    junior_years=lambda v: _l("%(n)s年制", n=v) if v else _l("三年制（默认）"))
    description_columns = {
        "school_code": _l("10 位数字，全国唯一；仅学校填写"),
        "region": _l("县级及以上机构选择对应行政区划；学校可留空（默认为所属县区）"),
        "parent": _l("学校的上级为县（区）教育局"),
    }
    # The uniqueness of 学校标识码 is checked by the service, with a message that names no other school.
    add_form_extra_fields = {
        "school_code": StringField(_l("学校标识码"), widget=BS3TextFieldWidget(), description=_l("10 位数字，全国唯一；仅学校填写")),
        "kind": LabelledEnumField(_l("机构类型"), enum_cls=OrgKind, exclude=(OrgKind.PROVINCE,), order=(OrgKind.SCHOOL, OrgKind.COUNTY, OrgKind.CITY)),
        "region": QuerySelectField(_l("行政区划"), query_func=_regions_in_area, get_pk_func=lambda r: r.code,
                                   get_label=lambda r: f"{r.full_name}（{r.code}）", allow_blank=True,
                                   blank_text=_l("（学校默认为所属县区）"), widget=Select2Widget(),
                                   validators=[Optional()]),
        "school_type": LabelledEnumField(_l("办学类型"), enum_cls=SchoolType, allow_blank=True),
        "ownership": LabelledEnumField(_l("办学性质"), enum_cls=Ownership, allow_blank=True),
        **SCHOOLING_FIELDS,
    }
    edit_form_extra_fields = {
        "school_code": StringField(_l("学校标识码"), widget=BS3TextFieldWidget(), description=_l("10 位数字，全国唯一；仅学校填写")),
        "school_type": LabelledEnumField(_l("办学类型"), enum_cls=SchoolType, allow_blank=True),
        "ownership": LabelledEnumField(_l("办学性质"), enum_cls=Ownership, allow_blank=True),
        **SCHOOLING_FIELDS,
        # FAB makes NOT NULL booleans required, so an unticked box could never be saved.
        "may_enroll": BooleanField(_l("可招生")),
        "active": BooleanField(_l("启用")),
    }
    # The search widget's relation dropdowns list related rows too: scope them like everything else.
    search_form_query_rel_fields = {
        "parent": [["id", ScopeFilter, None]],
        "region": [["code", RegionInActorArea, None]],
    }
    add_form_query_rel_fields = {
        "parent": [["id", ScopeFilter, None], ["kind", FilterNotEqual, OrgKind.SCHOOL]],
    }

    def pre_add(self, item):
        orgs.validate_new(db.session, current_actor(), item)

    def pre_update(self, item):
        orgs.validate_update(db.session, current_actor(), item)

    def pre_delete(self, item):
        orgs.validate_delete(db.session, current_actor(), item)

    @expose("/export", methods=["POST"])
    @has_access
    @permission_name("export_workbook")
    def export_directory(self):
        """The former 导出机构与学校名录 (the whole list in scope, always as a job): kept as an
        alias for links and scripts that post here. The list's 导出 Excel button
        (export_workbook, app/exports/) exports the current filters instead."""
        ok, job = run_service(
            lambda session, actor: enqueue(session, actor, "export_org_units", {}),
            success=_l("已提交导出任务，完成后可在“我的任务”中下载"),
        )
        return redirect(url_for("JobView.list"))

    @action("deactivate", _l("停用"), _l("确定停用所选机构？"), "fa-ban")
    def deactivate(self, items):
        for item in items:
            ok, _ = run_service(orgs.update_unit, item.id, active=False)
            if not ok:
                break
        else:
            from flask import flash
            flash(_l("已停用 %(n)s 个机构", n=len(items)), "success")
        return redirect(self.get_redirect())


REGION_LEVELS = {1: _l("省级"), 2: _l("地级"), 3: _l("县级")}


class RegionView(ExportMixin, ModelView):
    datamodel = SQLAInterface(Region)
    list_title = _l("行政区划")
    show_title = _l("查看行政区划")
    label_columns = {
        "code": _l("区划代码"), "name": _l("名称"), "full_name": _l("全称"),
        "level": _l("级别"), "parent": _l("上级区划"), "parent_code": _l("上级代码"),
    }
    list_columns = ["code", "name", "full_name", "level"]
    show_columns = ["code", "name", "full_name", "level", "parent_code"]
    search_columns = ["code", "name", "full_name"]
    base_order = ("code", "asc")
    list_template = "exports/list.html"
    base_permissions = ["can_list", "can_show", "can_export_workbook"]
    formatters_columns = {"level": lambda v: REGION_LEVELS.get(v, v), "parent_code": show_value}
    page_size = 50
