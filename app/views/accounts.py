"""Account management inside the actor's subtree, and the own-password screen."""
from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget, Select2ManyWidget, Select2Widget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Optional

from app.extensions import db
from app.models.account import Account
from app.services import accounts, orgs
from app.services.context import current_actor
from app.services.roles import grantable_roles
from app.views.base import ScopedModelView, ScopeFilter, formatters, run_service

ACCOUNT_LABELS = {
    "username": _l("用户名"), "real_name": _l("真实姓名"), "phone": _l("联系电话"),
    "email": _l("电子邮箱"), "org_unit": _l("所属机构"), "roles": _l("角色"),
    "role_names": _l("角色"), "active": _l("启用"), "last_login": _l("最近登录"),
    "login_count": _l("登录次数"), "must_change_password": _l("须修改密码"),
    "locked_until": _l("锁定至"), "created_on": _l("创建时间"),
}


class AccountAddForm(DynamicForm):
    username = StringField(_l("用户名"), validators=[DataRequired()], widget=BS3TextFieldWidget(),
                           description=_l("3–64 位字母、数字、下划线"))
    real_name = StringField(_l("真实姓名"), validators=[DataRequired()], widget=BS3TextFieldWidget())
    phone = StringField(_l("联系电话"), validators=[DataRequired()], widget=BS3TextFieldWidget())
    email = StringField(_l("电子邮箱"), validators=[Optional()], widget=BS3TextFieldWidget())
    org_unit = SelectField(_l("所属机构"), coerce=int, widget=Select2Widget())
    roles = SelectMultipleField(_l("角色"), widget=Select2ManyWidget())
    password = PasswordField(_l("初始密码"), validators=[Optional()], widget=BS3PasswordFieldWidget(),
                             description=_l("留空则自动生成；本人首次登录时必须修改"))


class AccountEditForm(DynamicForm):
    real_name = StringField(_l("真实姓名"), validators=[DataRequired()], widget=BS3TextFieldWidget())
    phone = StringField(_l("联系电话"), validators=[DataRequired()], widget=BS3TextFieldWidget())
    roles = SelectMultipleField(_l("角色"), widget=Select2ManyWidget())
    active = BooleanField(_l("启用"))


def _unit_choices():
    actor = current_actor()
    return [(u.id, f"{'　' * (u.kind.depth - 1)}{u.name}") for u in orgs.subtree(db.session, actor)]


def _role_choices():
    return [(n, n) for n in grantable_roles(current_actor())]


class AccountView(ScopedModelView):
    datamodel = SQLAInterface(Account)
    label = _l("账号")
    list_title = _l("账号管理")
    label_columns = ACCOUNT_LABELS
    list_columns = ["username", "real_name", "org_unit", "role_names", "phone", "active", "last_login"]
    show_columns = ["username", "real_name", "phone", "email", "org_unit", "role_names", "active",
                    "must_change_password", "locked_until", "last_login", "login_count", "created_on"]
    search_columns = ["username", "real_name", "phone", "org_unit", "active"]
    order_columns = ["username", "real_name", "last_login"]
    base_order = ("username", "asc")
    search_form_query_rel_fields = {"org_unit": [["id", ScopeFilter, None]]}
    add_columns = ["username", "real_name", "phone", "email", "org_unit", "roles", "password"]
    edit_columns = ["real_name", "phone", "roles", "active"]
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_export_workbook"]
    list_template = "exports/list.html"
    export_options = (selectinload(Account.roles),)  # 角色 column: one IN query per batch
    formatters_columns = formatters(["active", "last_login", "must_change_password", "locked_until", "created_on", "email", "login_count"])
    add_template = "appbuilder/general/model/add.html"
    edit_template = "appbuilder/general/model/edit.html"

    def _add(self):
        form = AccountAddForm(request.form if request.method == "POST" else None)
        form.org_unit.choices = _unit_choices()
        form.roles.choices = _role_choices()
        if request.method == "POST" and form.validate():
            ok, result = run_service(
                accounts.create_account,
                username=form.username.data, real_name=form.real_name.data, phone=form.phone.data,
                email=form.email.data, org_unit_id=form.org_unit.data, role_names=form.roles.data,
                password=form.password.data or None,
            )
            if ok:
                account, initial = result
                if form.password.data:
                    flash(_l("账号 %(u)s 已创建，本人首次登录时须修改密码", u=account.username), "success")
                else:
                    flash(_l("账号 %(u)s 已创建，初始密码：%(p)s（仅显示一次，请告知本人；首次登录须修改）",
                             u=account.username, p=initial), "success")
                return None
        return self._get_add_widget(form=form)

    def _edit(self, pk):
        item = self.scoped_get(pk)
        if item is None:
            from flask import abort
            abort(404)
        if request.method == "POST":
            form = AccountEditForm(request.form)
        else:
            form = AccountEditForm(obj=item)
            form.roles.data = [r.name for r in item.roles]
        form.roles.choices = _role_choices()
        if request.method == "POST" and form.validate():
            ok, _ = run_service(
                accounts.update_account, item.id, real_name=form.real_name.data, phone=form.phone.data,
                active=form.active.data,
                role_names=None if item.id == g.user.id else form.roles.data,
                success=_l("账号信息已保存"),
            )
            if ok:
                return None
        return self._get_edit_widget(form=form)

    @action("reset_password", _l("重置密码"), _l("确定为所选账号重置密码？"), "fa-key", multiple=False)
    def reset_password(self, item):
        item = item[0] if isinstance(item, list) else item
        ok, temporary = run_service(accounts.reset_password, item.id)
        if ok:
            flash(_l("账号 %(u)s 的新临时密码：%(p)s（仅显示一次；下次登录须修改）", u=item.username, p=temporary), "success")
        return redirect(self.get_redirect())

    @action("unlock", _l("解除锁定"), _l("确定解除所选账号的锁定？"), "fa-unlock")
    def unlock(self, items):
        items = items if isinstance(items, list) else [items]
        done = 0
        for item in items:
            ok, _ = run_service(accounts.unlock, item.id)
            done += ok
        if done:
            flash(_l("已解除 %(n)s 个账号的锁定", n=done), "success")
        return redirect(self.get_redirect())

    @action("deactivate", _l("停用"), _l("确定停用所选账号？"), "fa-ban")
    def deactivate(self, items):
        items = items if isinstance(items, list) else [items]
        done = 0
        for item in items:
            ok, _ = run_service(accounts.update_account, item.id, active=False)
            done += ok
        if done:
            flash(_l("已停用 %(n)s 个账号", n=done), "success")
        return redirect(self.get_redirect())


class PasswordForm(DynamicForm):
    old_password = PasswordField(_l("原密码"), validators=[DataRequired()], widget=BS3PasswordFieldWidget())
    password = PasswordField(_l("新密码"), validators=[DataRequired()], widget=BS3PasswordFieldWidget(),
                             description=_l("至少 8 位，包含大写字母、小写字母、数字、特殊符号中的至少三类，且不含用户名"))
    confirm = PasswordField(_l("确认新密码"), validators=[DataRequired()], widget=BS3PasswordFieldWidget())


class PasswordView(BaseView):
    """Own password change; also the forced first-login change."""

    route_base = "/password"
    default_view = "change"

    @expose("/change", methods=["GET", "POST"])
    @login_required
    def change(self):
        form = PasswordForm(request.form if request.method == "POST" else None)
        if request.method == "POST" and form.validate():
            try:
                accounts.change_own_password(db.session, g.user, form.old_password.data,
                                             form.password.data, form.confirm.data)
                db.session.commit()
            except accounts.DomainError as exc:
                db.session.rollback()
                flash(exc.message, "danger")
            else:
                flash(_l("密码已修改"), "success")
                return redirect(self.appbuilder.get_url_for_index)
        return self.render_template("security/password.html", form=form, title=_l("修改密码"))
