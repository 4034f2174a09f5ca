"""疑似重复学籍: likely duplicates the three rules miss, for an officer to review (never acted on automatically).

Thin: the report comes from app.services.near_duplicates (county, city and province officers;
scoped there). Records in the actor's own subtree link to their 学籍 page and show the ID number
as privacy allows; a record on the other side of the boundary shows only its name, masked ID
number and school.

URLs (route base /nearduplicateview):
  GET /list/     the candidates (at most LIMIT)                                       can_list
"""
from flask import abort
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.services import identity, near_duplicates, privacy
from app.services.context import current_actor
from app.services.errors import PermissionDenied

LIMIT = 500


def _row(actor, entry):
    s = entry.student
    number = (privacy.shown_id(actor, s.id_number) if entry.in_scope else identity.mask(s.id_number)) \
        if s.id_number else ""
    return {"id": s.id, "name": s.name, "id_number": number, "school": s.school.name if s.school else "",
            "in_scope": entry.in_scope, "status": s.status.label}


class NearDuplicateView(BaseView):
    route_base = "/nearduplicateview"
    default_view = "list"

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        try:
            candidates = near_duplicates.report(db.session, actor, limit=LIMIT)
        except PermissionDenied:
            abort(403)
        rows = [{"label": c.label, "reason": c.reason, "records": [_row(actor, e) for e in c.entries]}
                for c in candidates]
        if privacy.full_id_allowed(actor):  # full ID numbers shown go to the audit trail
            shown = {e.student.id: e.student for c in candidates for e in c.entries if e.in_scope}
            for s in shown.values():
                privacy.record_full_view(db.session, actor, s, "疑似重复学籍")
            db.session.commit()
        return self.render_template("near_duplicates/list.html", title=_l("疑似重复学籍"), rows=rows, limit=LIMIT)


def register(appbuilder):
    appbuilder.add_view(NearDuplicateView, "NearDuplicates", label=_l("疑似重复学籍"), icon="fa-clone",
                        category="Registry", category_label=_l("学籍管理"), category_icon="fa-id-card")
