"""业务日历 and 业务设置 screens: business calendars and route settings of 学籍异动.

Thin, like every screen: the rules (who may define what, date checks, which setting a unit may
set) live in app/services/calendars.py and app/services/process_settings.py; these views read the
form, call them, commit, and flash their Chinese message. Reading is can_list; writing is can_add,
can_edit, can_delete (calendar rules) and can_set (route settings) — schools only read.
"""
import datetime
import math

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from app.models.org import OrgUnit
from app.models.process import BusinessWindow, ProcessSetting, WindowMode
from app.services import calendars, process_settings, scope
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound
from app.services.roles import RANK_COUNTY, actor_rank

PAGE_SIZE = 30

# The services declare these names in Chinese; the markers put them into the catalogue so that the
# English screens can translate them (the screens show them through gettext).
_PROCESS_LABEL_MARKERS = (
    _l("转学（含跨省转学）"), _l("休学"), _l("复学"), _l("退学"), _l("其他离校"), _l("死亡"), _l("新生注册"),
    _l("关键数据变更"), _l("全部业务"),
)
_SETTING_LABEL_MARKERS = (
    _l("跨县（区）转学的审批顺序"), _l("先转出县（区）审批，后转入县（区）审批"), _l("先转入县（区）审批，后转出县（区）审批"),
    _l("市内跨县（区）转学由两个县（区）都审批；市可为本市设置顺序"),
    _l("跨市转学是否由两市审批"), _l("两个县（区）审批后，转出市、转入市依次审批"), _l("只需两个县（区）审批"), _l("由省统一规定"),
    _l("休学、复学、退学、其他离校、死亡的审批"), _l("学校申请，县（区）审批"), _l("学校申请，县（区）审批后报市审批"),
    _l("县（区）可为本县设置；未设置时沿用上级设置"),
)


def _t(text):
    """A Chinese name declared by a service, in the page's language when the catalogue has it."""
    return _(text) if isinstance(text, str) and text else (str(text) if text is not None else "")


def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _may_define(actor):
    """Whether the actor's unit defines calendar rules (the service decides; this only shapes the page)."""
    unit = getattr(actor, "org_unit", None)
    return unit is not None and unit.kind in calendars.DEFINING_KINDS and actor_rank(actor) <= RANK_COUNTY


def _fmt_date(value):
    return value.strftime("%Y-%m-%d") if value else ""


class _Page:
    """One page of a statement, with the same interface as the approval screens' pagination macro."""

    def __init__(self, stmt, number, size=PAGE_SIZE):
        self.total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        self.pages = max(math.ceil(self.total / size), 1)
        self.number = min(max(number or 1, 1), self.pages)
        self.items = db.session.scalars(stmt.limit(size).offset((self.number - 1) * size)).all()

    def url(self, number):
        args = request.args.to_dict()
        args["page"] = number
        return url_for(request.endpoint, **args)


# --------------------------------------------------------------------------- 业务日历

class CalendarView(BaseView):
    """业务日历: the rules that bind the actor's unit (its superiors') and those of its subtree.
    Province, city and county administrators add, edit and delete their own unit's rules."""

    route_base = "/calendarview"
    default_view = "list"
    title = _l("业务日历")

    def _process_choices(self):
        return [(key, _t(label)) for key, label in calendars.PROCESSES.items()]

    def _mode_choices(self):
        return [(m.value, m.label) for m in WindowMode]

    def _visible(self, pk):
        try:
            return scope.get(db.session, current_actor(), BusinessWindow, pk)
        except NotFound:
            abort(404)

    def _row(self, rule, actor, today, may_edit, may_delete):
        own = rule.org_unit_id == getattr(actor, "org_unit_id", None)
        if rule.ends_on < today:
            status = ("default", _("已结束"))
        elif rule.starts_on > today:
            status = ("info", _("未开始"))
        else:
            status = ("success", _("进行中"))
        unit = getattr(actor, "org_unit", None)
        if own:
            whose = _("本单位")
        elif unit is not None and scope.path_within(unit.path, rule.org_unit.path):
            whose = _("上级（须遵守）")
        else:
            whose = _("下级")
        return {
            "id": rule.id, "unit": rule.org_unit.name, "process": _t(calendars.process_label(rule.process)),
            "mode": rule.mode, "starts_on": _fmt_date(rule.starts_on), "ends_on": _fmt_date(rule.ends_on),
            "title": rule.title, "status": status, "whose": whose, "own": own,
            "can_edit": own and may_edit, "can_delete": own and may_delete,
        }

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        process = request.args.get("process") or ""
        process = process if process in calendars.PROCESSES else ""
        mode = next((m for m in WindowMode if m.value == request.args.get("mode")), None)
        stmt = (select(BusinessWindow).join(OrgUnit, OrgUnit.id == BusinessWindow.org_unit_id)
                .where(scope.clause(actor, BusinessWindow))
                .order_by(BusinessWindow.starts_on.desc(), OrgUnit.path, BusinessWindow.id))
        if process:
            stmt = stmt.where(BusinessWindow.process == process)
        if mode is not None:
            stmt = stmt.where(BusinessWindow.mode == mode)
        page = _Page(stmt, _int(request.args.get("page")))
        sm = self.appbuilder.sm
        defining = _may_define(actor)
        may_add = defining and sm.has_access("can_add", self.class_permission_name)
        may_edit = defining and sm.has_access("can_edit", self.class_permission_name)
        may_delete = defining and sm.has_access("can_delete", self.class_permission_name)
        today = datetime.date.today()
        rows = [self._row(r, actor, today, may_edit, may_delete) for r in page.items]
        processes = self._process_choices()  # holidays (全部业务) are found by their type
        return self.render_template(
            "settings/calendar_list.html", title=self.title, page=page, rows=rows, may_add=may_add,
            processes=processes, modes=self._mode_choices(),
            f={"process": process, "mode": mode.value if mode is not None else ""},
            unit=getattr(actor, "org_unit", None))

    def _form(self, data, errors, rule=None):
        title = _("编辑业务日历规则") if rule is not None else _("新增业务日历规则")
        action = url_for(".edit", pk=rule.id) if rule is not None else url_for(".add")
        return self.render_template(
            "settings/calendar_form.html", title=title, data=data, errors=errors, action=action,
            processes=self._process_choices(), modes=self._mode_choices(), rule=rule,
            unit=getattr(current_actor(), "org_unit", None))

    @staticmethod
    def _posted():
        return {k: (request.form.get(k) or "").strip() for k in ("process", "mode", "starts_on", "ends_on", "title")}

    def _save(self, fn, *args, success):
        """Call the service; on a DomainError roll back and return the errors for the form."""
        data = self._posted()
        try:
            fn(db.session, current_actor(), *args, data)
            db.session.commit()
        except NotFound:
            db.session.rollback()
            abort(404)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return False, data, {exc.field or "_form": exc.message}
        flash(success, "success")
        return True, data, {}

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        if request.method == "POST":
            ok, data, errors = self._save(calendars.add_window, success=_("业务日历规则已保存"))
            if ok:
                return redirect(url_for(".list"))
            return self._form(data, errors)
        if not _may_define(current_actor()):
            flash(_("只有省、市、县（区）教育行政部门的管理员可以设置业务日历"), "warning")
            return redirect(url_for(".list"))
        today = datetime.date.today().isoformat()
        return self._form({"process": "transfer", "mode": WindowMode.CLOSED.value, "starts_on": today,
                           "ends_on": today, "title": ""}, {})

    def _own_or_back(self, rule):
        """A superior's (or a subordinate's) rule is read-only here: the service says whose it is."""
        try:
            calendars.check_may_change(current_actor(), rule)
        except DomainError as exc:
            flash(exc.message, "warning")
            return redirect(url_for(".list"))
        return None

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        rule = self._visible(pk)
        back = self._own_or_back(rule)
        if back is not None:
            return back
        if request.method == "POST":
            ok, data, errors = self._save(calendars.update_window, pk, success=_("业务日历规则已修改"))
            if ok:
                return redirect(url_for(".list"))
            return self._form(data, errors, db.session.get(BusinessWindow, pk))
        data = {"process": rule.process, "mode": rule.mode.value, "starts_on": _fmt_date(rule.starts_on),
                "ends_on": _fmt_date(rule.ends_on), "title": rule.title}
        return self._form(data, {}, rule)

    @expose("/delete/<int:pk>", methods=["POST"])
    @has_access
    def delete(self, pk):
        rule = self._visible(pk)
        back = self._own_or_back(rule)
        if back is not None:
            return back
        title = rule.title
        try:
            calendars.delete_window(db.session, current_actor(), pk)
            db.session.commit()
        except NotFound:
            db.session.rollback()
            abort(404)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for(".list"))
        flash(_("已删除业务日历规则“%(title)s”", title=title), "success")
        return redirect(url_for(".list"))


# --------------------------------------------------------------------------- 审批路线设置

class ProcessSettingView(BaseView):
    """审批路线设置: every setting with the value in force at the actor's unit and where it comes
    from; the settings the actor's level may set (process_settings.settable) can be changed here."""

    route_base = "/processsettingview"
    default_view = "list"
    title = _l("审批路线设置")

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        unit = getattr(actor, "org_unit", None)
        may_set = self.appbuilder.sm.has_access("can_set", self.class_permission_name)
        settable = {s.key for s in process_settings.settable(actor)} if may_set else set()
        items = []
        for setting in process_settings.SETTINGS.values():
            if unit is not None:
                value, owner = process_settings.effective(db.session, unit, setting)
            else:
                value, owner = setting.default, None
            if owner is None:
                source = _("默认")
            elif owner.id == unit.id:
                source = _("本单位设置")
            else:
                source = _("沿用%(unit)s的设置", unit=owner.name)
            items.append({
                "key": setting.key, "label": _t(setting.label), "help": _t(setting.help),
                "value": value, "value_label": _t(setting.choice_label(value)), "source": source,
                "own": owner is not None and unit is not None and owner.id == unit.id,
                "choices": [(v, _t(label)) for v, label in setting.choices],
                "default_label": _t(setting.choice_label(setting.default)),
                "kinds": "、".join(str(k.label) for k in setting.kinds),
                "settable": setting.key in settable,
            })
        below = []
        if unit is not None:
            rows = db.session.execute(
                select(ProcessSetting, OrgUnit).join(OrgUnit, OrgUnit.id == ProcessSetting.org_unit_id)
                .where(scope.clause(actor, ProcessSetting), OrgUnit.path.startswith(unit.path),
                       OrgUnit.id != unit.id)
                .order_by(OrgUnit.path, ProcessSetting.key).limit(500)).all()
            for row, owner in rows:
                setting = process_settings.SETTINGS.get(row.key)
                below.append({"unit": owner.name, "label": _t(setting.label) if setting else row.key,
                              "value": _t(setting.choice_label(row.value)) if setting else row.value,
                              "updated_at": row.updated_at})
        return self.render_template("settings/process_settings.html", title=self.title, items=items, below=below,
                                    unit=unit)

    @expose("/set", methods=["POST"])
    @has_access
    @permission_name("set")
    def set_value(self):
        key = (request.form.get("key") or "").strip()
        value = (request.form.get("value") or "").strip()
        setting = process_settings.SETTINGS.get(key)
        try:
            process_settings.set_value(db.session, current_actor(), key, value)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for(".list"))
        flash(_("已保存“%(label)s”：%(value)s", label=_t(setting.label), value=_t(setting.choice_label(value))),
              "success")
        return redirect(url_for(".list"))


def register(appbuilder):
    settings = dict(category="Settings", category_label=_l("业务设置"), category_icon="fa-sliders")
    appbuilder.add_view(CalendarView, "Calendars", label=_l("业务日历"), icon="fa-calendar", **settings)
    appbuilder.add_view(ProcessSettingView, "ProcessSettings", label=_l("审批路线设置"), icon="fa-random", **settings)
