"""Landing page: who I am, where I sit in the tree, and what is in my scope."""
from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose
from sqlalchemy import func, select

from app.extensions import db
from app.models.account import Account
from app.models.org import OrgKind, OrgUnit
from app.services import scope


class HomeView(IndexView):
    route_base = ""
    default_view = "index"
    index_template = "home.html"

    @expose("/")
    def index(self):
        user = g.user
        if user is None or not user.is_authenticated:
            return redirect(url_for("RegistryAuthDBView.login"))
        counts = dict(
            db.session.execute(
                select(OrgUnit.kind, func.count()).where(scope.clause(user, OrgUnit)).group_by(OrgUnit.kind)
            ).all()
        )
        accounts = db.session.scalar(select(func.count()).select_from(Account).where(scope.clause(user, Account)))
        cards = [(k.label, counts.get(k, 0)) for k in OrgKind if counts.get(k)]
        return self.render_template(self.index_template, appbuilder=self.appbuilder, cards=cards,
                                    accounts=accounts, unit=user.org_unit)
