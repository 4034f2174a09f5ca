"""考务 screens (menu 中招管理): 考点考场, 考场编排 and 准考证打印.

Thin, like every screen: who may manage which sites, the capacity rules, the seating and the
printed forms live in app/services/zhongkao/exam_admin.py and tickets.py. Posts go through
`call_service` (commit; a row outside the account's scope is a 404; any other refusal is flashed
in Chinese and nothing is written). County officers manage their county (a city its 市直 schools');
the city and province read and choose a county with ?county=.

URLs
  /zkexamsiteview/list/?county=               sites of a county (or the overview by county)   can_list
  /zkexamsiteview/site/<pk>                   a site's rooms                                   can_list
  /zkexamsiteview/add_site            POST    add a site                                       can_edit
  /zkexamsiteview/edit_site/<pk>      POST    number, name, address (version)                  can_edit
  /zkexamsiteview/delete_site/<pk>    POST                                                     can_edit
  /zkexamsiteview/add_rooms/<pk>      POST    count, capacity, location prefix, first number   can_edit
  /zkexamsiteview/edit_room/<pk>      POST    capacity, location                               can_edit
  /zkexamsiteview/delete_room/<pk>    POST                                                     can_edit
  /zkseatingview/list/?county=                seating state, last seed, rooms and school mix   can_list
  /zkseatingview/run                  POST    run (or re-run) the seating with a seed          can_edit
  /zkticketview/list/                         schools and sites to print for                   can_list
  /zkticketview/tickets?school=               准考证 PDF of a school                           can_show
  /zkticketview/slips?school=                 报名序号证 PDF of a school                        can_show
  /zkticketview/doors/<pk>                    门贴 PDF of a site                                can_show
  /zkticketview/signin/<pk>                   签到表 PDF of a site                              can_show
"""
from io import BytesIO

from flask import abort, flash, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.org import OrgKind
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound
from app.services.roles import RANK_COUNTY, actor_rank
from app.services.zhongkao import exam_admin, exams, tickets
from app.views.base import call_service

MAX_ID = exam_admin.MAX_ID


def _pk(value):
    """An id from a form or query: digits within the column's range, else a 404."""
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > MAX_ID:
        abort(404)
    return int(text)


def _manages(actor, unit):
    own = getattr(actor, "org_unit", None)
    return (unit is not None and own is not None and own.id == unit.id
            and own.kind in (OrgKind.COUNTY, OrgKind.CITY) and actor_rank(actor) <= RANK_COUNTY)


class _ZkPage(BaseView):
    """Shared: the current exam (or a page saying there is none) and the county being looked at."""

    template_none = "zhongkao/exam_none.html"

    def _exam(self):
        return exams.current_exam(db.session)

    def _none(self):
        return self.render_template(self.template_none, title=self.title)

    def _unit(self, actor):
        value = request.values.get("county")
        if value not in (None, ""):
            _pk(value)
        try:
            return exam_admin.get_unit(db.session, actor, value)
        except NotFound:
            abort(404)


class ZkExamSiteView(_ZkPage):
    route_base = "/zkexamsiteview"
    default_view = "list"
    title = _l("考点考场")

    @expose("/list/")
    @has_access
    def list(self):
        exam = self._exam()
        if exam is None:
            return self._none()
        actor = current_actor()
        unit = self._unit(actor)
        overview = exam_admin.overview(db.session, actor, exam) if actor.org_unit.kind != OrgKind.COUNTY else []
        summary = exam_admin.county_summary(db.session, actor, exam, unit) if unit is not None else None
        db.session.commit()
        return self.render_template("zhongkao/exam_sites.html", title=self.title, exam=exam, unit=unit,
                                    summary=summary, overview=overview, may_edit=_manages(actor, unit))

    @expose("/site/<pk>")
    @has_access
    @permission_name("list")
    def site(self, pk):
        exam = self._exam()
        if exam is None:
            return self._none()
        actor = current_actor()
        site, error = call_service(exam_admin.get_site, _pk(pk))
        if error is not None:
            return redirect(url_for(".list"))
        summary = exam_admin.county_summary(db.session, actor, exam, site.county)
        entry = next((s for s in summary["sites"] if s["site"].id == site.id), None)
        db.session.commit()
        return self.render_template("zhongkao/exam_site.html", title=_("%(site)s的考场", site=str(site)),
                                    exam=exam, site=site, entry=entry, may_edit=_manages(actor, site.county))

    def _back_site(self, site_id):
        return redirect(url_for(".site", pk=site_id))

    def _back_list(self):
        return redirect(url_for(".list"))

    def _back_form_site(self):
        site = str(request.form.get("site") or "")
        return self._back_site(site) if site.isascii() and site.isdigit() else self._back_list()

    @expose("/add_site", methods=["POST"])
    @has_access
    @permission_name("edit")
    def add_site(self):
        exam = self._exam()
        if exam is None:
            return self._none()
        f = request.form
        site, error = call_service(exam_admin.add_site, exam, {"number": f.get("number"), "name": f.get("name"),
                                                                "address": f.get("address")})
        if error is None:
            flash(_("已增加%(site)s，请为它增加考场", site=str(site)), "success")
            return self._back_site(site.id)
        return self._back_list()

    @expose("/edit_site/<pk>", methods=["POST"])
    @has_access
    @permission_name("edit")
    def edit_site(self, pk):
        f = request.form
        site, error = call_service(exam_admin.update_site, _pk(pk),
                                   {"number": f.get("number"), "name": f.get("name"), "address": f.get("address")},
                                   f.get("version"))
        if error is None:
            flash(_("已保存%(site)s", site=str(site)), "success")
        return self._back_site(pk)

    @expose("/delete_site/<pk>", methods=["POST"])
    @has_access
    @permission_name("edit")
    def delete_site(self, pk):
        label, error = call_service(exam_admin.delete_site, _pk(pk), request.form.get("version"))
        if error is None:
            flash(_("已删除%(site)s及其考场", site=label), "success")
            return self._back_list()
        return self._back_site(pk)

    @expose("/add_rooms/<pk>", methods=["POST"])
    @has_access
    @permission_name("edit")
    def add_rooms(self, pk):
        f = request.form
        rooms, error = call_service(exam_admin.add_rooms, _pk(pk), f.get("count"), f.get("capacity"),
                                    f.get("location_prefix"), f.get("first_location_no"))
        if error is None:
            flash(_("已增加 %(n)s 个考场（第%(a)s–%(b)s考场）", n=len(rooms), a=rooms[0].number,
                    b=rooms[-1].number), "success")
        return self._back_site(pk)

    @expose("/edit_room/<pk>", methods=["POST"])
    @has_access
    @permission_name("edit")
    def edit_room(self, pk):
        f = request.form
        room, error = call_service(exam_admin.update_room, _pk(pk), {"capacity": f.get("capacity"),
                                                                      "location": f.get("location")})
        if error is None:
            flash(_("已保存%(room)s：容量 %(n)s 人", room=str(room), n=room.capacity), "success")
            return self._back_site(room.site_id)
        return self._back_form_site()

    @expose("/delete_room/<pk>", methods=["POST"])
    @has_access
    @permission_name("edit")
    def delete_room(self, pk):
        label, error = call_service(exam_admin.delete_room, _pk(pk))
        if error is None:
            flash(_("已删除%(room)s", room=label), "success")
        return self._back_form_site()


class ZkSeatingView(_ZkPage):
    route_base = "/zkseatingview"
    default_view = "list"
    title = _l("考场编排")

    @expose("/list/")
    @has_access
    def list(self):
        exam = self._exam()
        if exam is None:
            return self._none()
        actor = current_actor()
        unit = self._unit(actor)
        overview = exam_admin.overview(db.session, actor, exam) if actor.org_unit.kind != OrgKind.COUNTY else []
        summary = exam_admin.county_summary(db.session, actor, exam, unit) if unit is not None else None
        mix = exam_admin.room_mix(db.session, actor, exam, unit) if unit is not None else []
        last = exam_admin.last_seating(db.session, unit) if unit is not None else None
        db.session.commit()
        return self.render_template("zhongkao/exam_seating.html", title=self.title, exam=exam, unit=unit,
                                    summary=summary, mix=mix, last=last, overview=overview,
                                    spread_ok=exam_admin.spread_ok(mix) if mix else None,
                                    may_edit=_manages(actor, unit), seed=request.args.get("seed", "")[:12])

    @expose("/run", methods=["POST"])
    @has_access
    @permission_name("edit")
    def run(self):
        exam = self._exam()
        if exam is None:
            return self._none()
        f = request.form
        only_approved = f.get("only_approved") in ("1", "on", "y", "true")
        result, error = call_service(exam_admin.assign_seats, exam, None, f.get("seed"), only_approved)
        if error is None:
            flash(_("编排完成：%(n)s 名考生分入 %(k)s 个考场（随机种子 %(seed)s，用同一种子重新编排结果相同）",
                    n=result["count"], k=result["rooms"], seed=result["seed"]), "success")
            return redirect(url_for(".list"))
        return redirect(url_for(".list", seed=(f.get("seed") or "")[:12]))


class ZkTicketView(_ZkPage):
    route_base = "/zkticketview"
    default_view = "list"
    title = _l("准考证打印")

    @expose("/list/")
    @has_access
    def list(self):
        exam = self._exam()
        if exam is None:
            return self._none()
        actor = current_actor()
        own = actor.org_unit
        school_rows, site_rows = tickets.printables(db.session, actor, exam)
        db.session.commit()
        return self.render_template("zhongkao/exam_tickets.html", title=self.title, exam=exam, own=own,
                                    schools=school_rows, sites=site_rows)

    def _pdf(self, fn, *args):
        exam = self._exam()
        if exam is None:
            return self._none()
        try:
            name, data = fn(db.session, current_actor(), exam, *args)
            db.session.commit()
        except NotFound:
            db.session.rollback()
            abort(404)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for(".list"))
        return send_file(BytesIO(data), mimetype="application/pdf", as_attachment=False, download_name=name,
                         max_age=0)

    def _school_arg(self):
        value = request.args.get("school")
        return None if value in (None, "") else _pk(value)

    @expose("/tickets")
    @has_access
    @permission_name("show")
    def tickets(self):
        return self._pdf(tickets.admission_tickets, self._school_arg())

    @expose("/slips")
    @has_access
    @permission_name("show")
    def slips(self):
        return self._pdf(tickets.registration_slips, self._school_arg())

    @expose("/doors/<pk>")
    @has_access
    @permission_name("show")
    def doors(self, pk):
        return self._pdf(tickets.door_lists, _pk(pk))

    @expose("/signin/<pk>")
    @has_access
    @permission_name("show")
    def signin(self, pk):
        return self._pdf(tickets.sign_in_sheets, _pk(pk))


def register(appbuilder):
    from app.views.zhongkao import MENU
    appbuilder.add_view(ZkExamSiteView, "ZkExamSites", label=_l("考点考场"), icon="fa-building", **MENU)
    appbuilder.add_view(ZkSeatingView, "ZkSeating", label=_l("考场编排"), icon="fa-th", **MENU)
    appbuilder.add_view(ZkTicketView, "ZkTickets", label=_l("准考证打印"), icon="fa-id-card-o", **MENU)
