"""Shared pieces of every screen: the scope filter, scoped bulk actions, Chinese titles, enum fields."""
from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import ModelView, expose, has_access
from sqlalchemy.exc import DataError, StatementError
from flask_appbuilder._compat import as_unicode
from flask_appbuilder.const import FLAMSG_ERR_SEC_ACCESS_DENIED
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import ValidationError

from app.exports.views import ExportMixin
from app.extensions import db
from app.services import scope
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound


class ScopeFilter(BaseFilter):
    """FAB base filter that applies services/scope.py for the logged-in actor."""

    name = "scope"
    arg_name = None

    def apply(self, query, value):
        return query.filter(scope.clause(current_actor(), self.model))


SCOPED = [["id", ScopeFilter, lambda: None]]


class LabelledEnumField(SelectField):
    """A select over a LabelledEnum showing labels and storing members."""

    def __init__(self, label=None, enum_cls=None, exclude=(), allow_blank=False, order=None, **kwargs):
        self.enum_cls = enum_cls
        choices = [(m.value, m.label) for m in (order or enum_cls) if m not in exclude]  # lazy: per-request language
        if allow_blank:
            choices = [("", "—")] + choices
        super().__init__(label, choices=choices, coerce=self._coerce, **kwargs)

    def _coerce(self, value):
        if value in (None, "", "None"):
            return None
        if isinstance(value, self.enum_cls):
            return value
        return self.enum_cls(value)

    def _value(self):
        return self.data.value if self.data is not None else ""

    def iter_choices(self):
        current = self.data.value if isinstance(self.data, self.enum_cls) else self.data
        for value, label in self.choices:
            yield (value, label, value == current, {})

    def pre_validate(self, form):
        values = [c[0] for c in self.choices]
        current = self.data.value if isinstance(self.data, self.enum_cls) else (self.data or "")
        if current not in values:
            raise ValidationError(str(_l("请选择有效的选项")))


class ScopedModelView(ExportMixin, ModelView):
    """A ModelView whose every row access (list, show, edit, delete, bulk and single actions,
    the 导出 Excel export) goes through services/scope.py. FAB's own action handlers use
    datamodel.get(pk) without base_filters, so they are re-implemented here with the filter.
    The export (app/exports/) reads the list's query through the same base filters; a view with
    its own base_permissions lists "can_export_workbook" to offer it."""

    base_filters = SCOPED
    page_size = 20
    label = None  # Chinese name of the entity, used for titles

    def __init__(self, *args, **kwargs):
        if self.label:
            self.list_title = self.list_title or _l("%(label)s列表", label=self.label)
            self.show_title = self.show_title or _l("查看%(label)s", label=self.label)
            self.add_title = self.add_title or _l("新增%(label)s", label=self.label)
            self.edit_title = self.edit_title or _l("编辑%(label)s", label=self.label)
        super().__init__(*args, **kwargs)
        # Blanks, not "None", for empty values of columns without a formatter of their own.
        for col in set(self.list_columns) | set(self.show_columns):
            self.formatters_columns.setdefault(col, show_value)
        for form in (self.add_form, self.edit_form, self.search_form):
            blank_option_text(form)

    @expose("/list/")
    @has_access
    def list(self):
        # A hand-made filter value of the wrong type (?_flt_0_school=abc) fails in the database on
        # PostgreSQL: answer with the list unfiltered and a message, never a 500.
        try:
            return super().list()
        except (DataError, StatementError):
            db.session.rollback()
            flash(_l("筛选条件无效，已显示全部记录"), "warning")
            return redirect(url_for(f"{self.endpoint}.list"))

    def scoped_get(self, pk):
        return self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        if not self.is_get_mutation_allowed() and request.method == "GET":
            flash(as_unicode(FLAMSG_ERR_SEC_ACCESS_DENIED), "danger")
            return redirect(self.get_redirect())
        if name not in self.actions:
            abort(404)
        permission_name = self.get_action_permission_name(name)
        if not self.appbuilder.sm.has_access(permission_name, self.class_permission_name):
            flash(as_unicode(FLAMSG_ERR_SEC_ACCESS_DENIED), "danger")
            return redirect(".")
        item = self.scoped_get(pk)
        if item is None:
            abort(404)
        return self.actions[name].func(item)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        name = request.form.get("action", "")
        if name not in self.actions:
            abort(400)
        permission_name = self.get_action_permission_name(name)
        if not self.appbuilder.sm.has_access(permission_name, self.class_permission_name):
            flash(as_unicode(FLAMSG_ERR_SEC_ACCESS_DENIED), "danger")
            return redirect(".")
        items = [self.scoped_get(pk) for pk in request.form.getlist("rowid")]
        items = [i for i in items if i is not None]
        if not items:
            flash(_l("未选择任何可操作的记录"), "warning")
            return redirect(self.get_redirect())
        return self.actions[name].func(items)


def blank_option_text(form_cls, text=_l("（请选择）")):
    """FAB's generated relation selects have an empty blank option, which WTForms then shows as
    its value "__None"; give it a Chinese text instead."""
    from flask_appbuilder.fields import QuerySelectField
    from wtforms.fields.core import UnboundField

    for field in vars(form_cls or object).values():
        if (isinstance(field, UnboundField) and issubclass(field.field_class, QuerySelectField)
                and not field.kwargs.get("blank_text")):
            field.kwargs["blank_text"] = text


def run_service(fn, *args, success=None, **kwargs):
    """Call a service for a screen: commit on success, roll back and flash the Chinese message
    on a DomainError. Returns (ok, result)."""
    try:
        result = fn(db.session, current_actor(), *args, **kwargs)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return False, None
    if success:
        flash(success, "success")
    return True, result


def call_service(fn, *args, **kwargs):
    """Call a service for a screen as the logged-in actor: commit on success; a row outside the
    actor's scope is a 404 (never confirm it exists); any other DomainError is rolled back and
    flashed. Returns (result, error)."""
    try:
        result = fn(db.session, current_actor(), *args, **kwargs)
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return None, exc
    return result, None


def show_value(value):
    """How a value reads on a screen: labels for enums, 是/否, blanks for None, minute-precision times."""
    import datetime as _dt
    import enum as _enum
    if value is None:
        return ""
    if isinstance(value, bool):
        return _l("是") if value else _l("否")
    if isinstance(value, _enum.Enum):
        return str(getattr(value, "label", value.value))
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def formatters(model_columns, **extra):
    """formatters_columns for the given columns, all through show_value unless overridden."""
    out = {c: show_value for c in model_columns}
    out.update(extra)
    return out


def enum_label(enum_cls):
    """FAB hands enum columns to formatters as their stored value; show the label instead."""
    def fmt(value):
        if value in (None, ""):
            return ""
        member = value if isinstance(value, enum_cls) else enum_cls(value)
        return str(member.label)
    return fmt
