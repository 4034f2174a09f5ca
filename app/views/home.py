"""Landing page: who I am, where I sit in the tree, what is in my scope, and what waits for me."""
from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose
from sqlalchemy import func, select

from app.extensions import db
from app.models.account import Account
from app.models.org import OrgKind, OrgUnit
from app.services import deadlines, scope
from app.services.roles import RANK_COUNTY, RANK_SCHOOL, actor_rank
from app.views.requests import _pending_for_menu as pending_for_menu  # counted once per page (menu badge too)

SUPERVISING_KINDS = (OrgKind.PROVINCE, OrgKind.CITY, OrgKind.COUNTY)


class HomeView(IndexView):
    route_base = ""
    default_view = "index"
    index_template = "home.html"

    def _work(self, user):
        """待我审批 (and how many of them are overdue) for accounts that decide steps; for the
        province, city and county also the overdue steps anywhere in their subtree."""
        sm, unit, rank = self.appbuilder.sm, user.org_unit, actor_rank(user)
        inbox = supervise = None
        if unit is not None and rank <= RANK_SCHOOL and sm.has_access("can_list", "InboxView"):
            inbox = {"n": pending_for_menu(), "overdue": deadlines.overdue_count(db.session, user),
                     "school": rank > RANK_COUNTY}
        if (unit is not None and unit.kind in SUPERVISING_KINDS and rank <= RANK_COUNTY
                and sm.has_access("can_list", "OpenRequestsView")):
            supervise = {"overdue": deadlines.overdue_in_subtree(db.session, user)}
        return inbox, supervise

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
        inbox, supervise = self._work(user)
        return self.render_template(self.index_template, appbuilder=self.appbuilder, cards=cards,
                                    accounts=accounts, unit=user.org_unit, inbox=inbox, supervise=supervise,
                                    limit=deadlines.limit_days(), calendar=self._calendar())

    @staticmethod
    def _calendar():
        """当前学年学期 and the next 升级 time point, for everyone's orientation."""
        from app.services import promotion, school_years
        year, term = school_years.current_year(db.session), school_years.current_term(db.session)
        when = promotion.next_time_point(db.session)
        return {"year": year, "term": term, "next": when, "next_label": school_years.time_point_label(when)}
