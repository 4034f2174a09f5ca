"""FAB security: accounts belong to an OrgUnit; login with lock-out; forced password change."""
from flask import flash, g, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import AuthDBView
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.utils.base import get_safe_redirect
from flask_login import login_user

from app.extensions import db
from app.models.account import Account
from app.services import accounts


class RegistryAuthDBView(AuthDBView):
    login_template = "security/login.html"

    @expose("/login/", methods=["GET", "POST"])
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_index)
        form = LoginForm_db()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            user, error = accounts.authenticate(db.session, form.username.data, form.password.data)
            if user is None:
                flash(error, "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            login_user(user, remember=False)
            if user.must_change_password:
                return redirect(url_for("PasswordView.change"))
            return redirect(next_url)
        return self.render_template(self.login_template, title=self.title, form=form, appbuilder=self.appbuilder)


class RegistrySecurityManager(SecurityManager):
    user_model = Account
    authdbview = RegistryAuthDBView

    def auth_user_db(self, username, password):
        # Used by the REST API login: same lock-out and failure counting as the screen.
        user, _ = accounts.authenticate(self.session, username, password)
        return user

    def register_views(self):
        """Only the login/logout views and the JWT login API. Accounts are managed on our own
        scoped screens (app/views/accounts.py); FAB's unscoped user/role screens stay off."""
        self.appbuilder.add_api(self.security_api)
        self.user_view = None
        self.auth_view = self.authdbview()
        self.appbuilder.add_view_no_menu(self.auth_view)


# Endpoints a user who must change their password may still reach.
_OPEN_ENDPOINTS = {"PasswordView.change", "AuthDBView.logout", "RegistryAuthDBView.logout",
                   "RegistryAuthDBView.login", "LocaleView.index", "static", "appbuilder.static"}


def force_password_change():
    user = getattr(g, "user", None)
    if (
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "must_change_password", False)
        and request.endpoint not in _OPEN_ENDPOINTS
        and not (request.endpoint or "").startswith("appbuilder.")
        and not request.path.startswith("/api/")
    ):
        flash("首次登录或密码被重置后，请先修改密码", "warning")
        return redirect(url_for("PasswordView.change"))
    return None
