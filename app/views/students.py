"""学籍 screens: 学生学籍 (list, show, 新生注册, 重新提交, 编辑, 关键数据变更, 误操作删除, the 学籍异动 of
the school's own students — 转出, 跨省转出, 休学, 复学, 退学, 其他离校, 死亡 — and 学籍档案) and 全省学籍查询.

Thin: read the form, call app.services.students / app.services.requests, flash the result. Which
rows an actor sees comes from services/scope.py (ScopeFilter, scoped_get); whether an ID number
is shown in full from services/privacy.py. Buttons on the show page are hints only: every rule is
checked again by the service that the button calls.
"""
import datetime
import functools

from flask import abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.routing import BuildError
from wtforms import BooleanField, FileField, HiddenField, SelectField, StringField, TextAreaField

from app.codes import tables
from app.codes.regions import region_label
from app.extensions import db
from app.models.org import OrgKind, OrgUnit, Region
from app.models.requests import Request, RequestState, StepRole
from app.models.student import KEY_FIELDS, Student, StudentStatus
from app.services import attachments, grades, identity, privacy, scope, status_changes, students, transfers
from app.services import history as history_service
from app.services import requests as engine
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound
from app.views.base import ScopedModelView, ScopeFilter, enum_label

LABELS = {
    "xueji_no": _l("学籍号"), "personal_id": _l("个人标识码"), "former_xueji_no": _l("原学籍号"),
    "name": _l("姓名"), "name_initials": _l("拼音首字母"), "gender": _l("性别"), "birth_date": _l("出生日期"),
    "id_type": _l("身份证件类型"), "id_number": _l("身份证件号"), "ethnicity": _l("民族"),
    "birthplace_code": _l("出生地"), "hukou_code": _l("户口所在地"), "native_place": _l("籍贯"),
    "nationality": _l("国籍/地区"), "hmt_overseas": _l("港澳台侨外"), "political_status": _l("政治面貌"),
    "health_status": _l("健康状况"), "hukou_type": _l("户口性质"), "only_child": _l("是否独生子女"),
    "left_behind": _l("是否留守儿童"), "migrant_child": _l("是否进城务工人员随迁子女"), "orphan": _l("是否孤儿"),
    "martyr_child": _l("是否烈士或优抚子女"), "commute_distance": _l("上下学距离（公里）"),
    "commute_mode": _l("上下学方式"), "needs_school_bus": _l("是否需要乘坐校车"), "enrollment_month": _l("入学年月"),
    "enrollment_method": _l("入学方式"), "study_mode": _l("就读方式"), "school": _l("学校"), "grade": _l("年级"),
    "class_name": _l("班级"), "status": _l("状态"), "created_at": _l("建立时间"), "updated_at": _l("最后修改时间"),
}
GUARDIAN_LABELS = {"name": _l("监护人姓名"), "relation": _l("与学生关系"), "id_type": _l("身份证件类型"),
                   "id_number": _l("身份证件号"), "phone": _l("联系电话")}
DESCRIPTIONS = {
    "birth_date": _l("年-月-日，如 2019-03-01"),
    "id_number": _l("居民身份证须填写；其他证件类型可留空，但须上传无身份证号证明"),
    "birthplace_code": _l("6 位行政区划代码，如 360102"),
    "hukou_code": _l("6 位行政区划代码，如 360102"),
    "enrollment_month": _l("年-月，如 2026-09"),
    "commute_distance": _l("单位：公里，最多一位小数"),
}
# How the record's fields are grouped on the forms and the show page.
KEY_GROUP = (_l("身份信息（关键数据）"), ["name", "gender", "birth_date", "id_type", "id_number", "ethnicity"])
OTHER_GROUPS = [
    (_l("在校信息"), ["grade", "class_name", "enrollment_month", "enrollment_method", "study_mode"]),
    (_l("户籍与家庭"), ["birthplace_code", "hukou_code", "native_place", "nationality", "hmt_overseas", "hukou_type",
                   "political_status", "health_status"]),
    (_l("上下学"), ["commute_distance", "commute_mode", "needs_school_bus"]),
    (_l("其他情况"), ["only_child", "left_behind", "migrant_child", "orphan", "martyr_child"]),
]
RECORD_FIELDS = [f for _t, fs in [KEY_GROUP] + OTHER_GROUPS for f in fs]
assert sorted(RECORD_FIELDS) == sorted(KEY_FIELDS + students.OTHER_FIELDS)
NOT_BLANK = ("id_type", "ethnicity", "nationality", "hmt_overseas")  # always have a value (defaults below)
REGISTRATION_DEFAULTS = {"id_type": identity.MAINLAND_ID, "ethnicity": "01", "nationality": "CHN", "hmt_overseas": "00"}
GUARDIAN_SLOTS = (1, 2)
BLANK = ("", _l("（请选择）"))


# ---------------------------------------------------------------- display helpers

def shown_id(number):
    """The ID number as the current actor may see it (masked unless privacy allows it in full)."""
    return privacy.shown_id(current_actor(), number) if number else ""


def shown_xueji_no(number):
    """A national 学籍号 is 'G' + the ID number: it is masked exactly when the ID number is."""
    return privacy.shown_xueji(current_actor(), number) or ""


def field_value(field, value):
    """How a stored value reads on a screen: names for codes, 是/否, region names, masked IDs."""
    if value is None or value == "":
        return ""
    if field == "id_number":
        return shown_id(value)
    if field in ("xueji_no", "former_xueji_no"):
        return shown_xueji_no(value)
    if field in students.CODED_FIELDS:
        return tables.label(students.CODED_FIELDS[field], value)
    if field in ("birthplace_code", "hukou_code"):
        return region_label(value)
    if field == "status":
        try:
            return str(StudentStatus(getattr(value, "value", value)).label)
        except ValueError:
            return value
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def request_url(req):
    """A link to the request on the approval screens, where one exists and the actor may open it."""
    if req is None or not db.session.scalar(
            select(Request.id).where(Request.id == req.id, scope.clause(current_actor(), Request))):
        return None
    sm = current_app.appbuilder.sm
    for view in ("MyRequestsView", "InboxView", "OpenRequestsView"):
        endpoint = f"{view}.show"
        if endpoint in current_app.view_functions and sm.has_access("can_show", view):
            try:
                return url_for(endpoint, pk=req.id)
            except BuildError:
                continue
    return None


def person(account):
    """Who did it (实名制): the account's real name, else its user name."""
    if account is None:
        return ""
    return account.real_name or account.username


def request_type_label(type_name):
    spec = engine.REQUEST_TYPES.get(type_name)
    return _(spec.label) if spec is not None else type_name


def submitted_message(req, what):
    """“休学申请已提交，等待东湖区教育体育局核办（申请号 7）”: where the request went first."""
    step = engine.current_step(req)
    unit = step.org_unit.name if step is not None and step.org_unit is not None else ""
    if step is not None and step.role == StepRole.CONFIRM:
        return _("%(what)s已提交，等待%(unit)s确认（申请号 %(id)s）", what=what, unit=unit, id=req.id)
    return _("%(what)s已提交，等待%(unit)s核办（申请号 %(id)s）", what=what, unit=unit, id=req.id)

def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _attempt(fn, *args, **kwargs):
    """Call a service as the logged-in actor: commit, or roll back and flash its Chinese message.
    Returns (result, error)."""
    try:
        result = fn(db.session, current_actor(), *args, **kwargs)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return None, exc
    return result, None


def scoped_pk(f):
    """An unknown or out-of-scope pk is a 404 before any permission check: a URL never tells
    whether another county's record exists, nor which actions on it would be allowed."""
    @functools.wraps(f)
    def wrapper(self, pk, *args, **kwargs):
        if getattr(g.user, "is_authenticated", False) and self.scoped_get(pk) is None:
            abort(404)
        return f(self, pk, *args, **kwargs)
    return wrapper


# ---------------------------------------------------------------- forms

def _record_field(name):
    label, description = LABELS[name], DESCRIPTIONS.get(name, "")
    if name in students.CODED_FIELDS:
        items = tables.choices(students.CODED_FIELDS[name])
        return SelectField(label, choices=items if name in NOT_BLANK else [BLANK] + items,
                           validate_choice=False, description=description)
    if name in students.BOOL_FIELDS:
        return BooleanField(label, description=description)
    return StringField(label, description=description)


def _guardian_fields():
    out = {}
    for i in GUARDIAN_SLOTS:
        out[f"g{i}_name"] = StringField(GUARDIAN_LABELS["name"])
        out[f"g{i}_relation"] = SelectField(GUARDIAN_LABELS["relation"], validate_choice=False,
                                            choices=[BLANK] + tables.choices("guardian_relation"))
        out[f"g{i}_id_type"] = SelectField(GUARDIAN_LABELS["id_type"], validate_choice=False,
                                           choices=[BLANK] + tables.choices("id_type"))
        out[f"g{i}_id_number"] = StringField(GUARDIAN_LABELS["id_number"])
        out[f"g{i}_phone"] = StringField(GUARDIAN_LABELS["phone"])
    return out


def _form_class(name, fields, guardians=False, extra=None):
    attrs = {f: _record_field(f) for f in fields}
    if guardians:
        attrs.update(_guardian_fields())
    attrs.update(extra or {})
    return type(name, (DynamicForm,), attrs)


VERSION = {"version": HiddenField()}
RegistrationForm = _form_class("RegistrationForm", RECORD_FIELDS, guardians=True, extra={
    "no_id_proof": FileField(_l("无身份证号证明"), description=_l("没有身份证件号的学生必须上传；扫描件或照片，不超过 10 MB")),
})
ResubmitForm = _form_class("ResubmitForm", RECORD_FIELDS, guardians=True, extra=VERSION)
EditForm = _form_class("EditForm", students.OTHER_FIELDS, extra=VERSION)
KeyChangeForm = _form_class("KeyChangeForm", KEY_FIELDS, extra={
    **VERSION,
    "reason": TextAreaField(_l("变更原因")),
    "evidence": FileField(_l("证明材料"), description=_l("必须上传，如户口簿、身份证的扫描件或照片，不超过 10 MB")),
    "no_id_proof": FileField(_l("无身份证号证明"), description=_l("改为无身份证件号时必须上传")),
})
DeletionForm = _form_class("DeletionForm", [], extra={**VERSION, "reason": TextAreaField(_l("删除原因"))})


# ---------------------------------------------------------------- 学籍异动 forms
# Choices that depend on the school or the actor (grades taught, the other provinces) are set
# per request by the view; the service checks every value again.

def _code_select(label, table):
    return SelectField(label, choices=[BLANK] + tables.choices(table), validate_choice=False)


def _evidence(description=_l("选填；如有相关证明，请上传扫描件或照片，不超过 10 MB")):
    return FileField(_l("证明材料"), description=description)


NOTE_HELP = _l("原因为“其他”时必须填写")
TransferOutForm = _form_class("TransferOutForm", [], extra={
    **VERSION,
    "to_school": StringField(_l("转入学校标识码"), description=_l("10 位学校标识码；不知道标识码时，可在下方按学校名称查找")),
    "grade": SelectField(_l("转入年级"), choices=[BLANK] + tables.choices("grade"), validate_choice=False),
    "class_name": StringField(_l("转入班级"), description=_l("选填；可由转入学校确认后再分班")),
    "reason_code": _code_select(_l("转学原因"), "transfer_reason"),
    "note": TextAreaField(_l("说明"), description=NOTE_HELP),
    "evidence": _evidence(),
})
ProvinceOutForm = _form_class("ProvinceOutForm", [], extra={
    **VERSION,
    "to_province": SelectField(_l("转入省份"), choices=[BLANK], validate_choice=False),
    "to_school": StringField(_l("转入学校名称"), description=_l("外省接收学校的全称")),
    "reason_code": _code_select(_l("转学原因"), "transfer_reason"),
    "note": TextAreaField(_l("说明"), description=NOTE_HELP),
    "evidence": _evidence(_l("选填；如外省学校出具的接收证明，扫描件或照片，不超过 10 MB")),
})
SuspendForm = _form_class("SuspendForm", [], extra={
    **VERSION,
    "reason_code": _code_select(_l("休学原因"), "suspend_reason"),
    "starts_on": StringField(_l("休学开始日期"), description=_l("年-月-日，如 2026-03-01")),
    "ends_on": StringField(_l("休学结束日期"), description=_l("年-月-日；休学期限一般不超过一年")),
    "note": TextAreaField(_l("说明"), description=NOTE_HELP),
    "evidence": _evidence(_l("选填；如病历、诊断证明，扫描件或照片，不超过 10 MB")),
})
ResumeForm = _form_class("ResumeForm", [], extra={
    **VERSION,
    "grade": SelectField(_l("复学年级"), choices=[BLANK], validate_choice=False),
    "class_name": StringField(_l("复学班级")),
    "note": TextAreaField(_l("说明")),
    "evidence": _evidence(),
})
DropOutForm = _form_class("DropOutForm", [], extra={
    **VERSION,
    "reason_code": _code_select(_l("退学原因"), "drop_out_reason"),
    "note": TextAreaField(_l("说明"), description=NOTE_HELP),
    "written_request": FileField(_l("书面申请"), description=_l("必须上传学生本人及监护人签字的书面申请；扫描件或照片，不超过 10 MB")),
})
LeaveForm = _form_class("LeaveForm", [], extra={
    **VERSION,
    "reason_code": _code_select(_l("离校原因"), "leave_reason"),
    "note": TextAreaField(_l("说明"), description=NOTE_HELP),
    "evidence": _evidence(),
})
DeathForm = _form_class("DeathForm", [], extra={
    **VERSION,
    "died_on": StringField(_l("死亡日期"), description=_l("年-月-日，如 2026-03-01")),
    "note": TextAreaField(_l("说明")),
    "death_proof": FileField(_l("死亡证明"), description=_l("必须上传医院或公安机关出具的死亡证明；扫描件或照片，不超过 10 MB")),
})


def grade_choices(school):
    """The grades a school teaches, as (code, name); none for a unit that is not a school."""
    if school is None or school.kind != OrgKind.SCHOOL:
        return []
    return [(g, _grade_label(g)) for g in grades.grades_of(school)]


def other_provinces(actor):
    """The provinces a student may come from or go to: every province but the actor's own."""
    unit = getattr(actor, "org_unit", None)
    own = unit.path.strip("/").split("/")[0] if unit is not None else None
    rows = db.session.scalars(select(Region).where(Region.level == 1, Region.code != own).order_by(Region.code)).all()
    return [(r.code, r.name) for r in rows]


def form_errors(exc, rename=None):
    """{field: message} for the form; `rename` maps a service's field name to the form's."""
    if exc is None:
        return {}
    field = exc.field or "_form"
    return {(rename or {}).get(field, field): exc.message}


def render_form(view, form, title, groups=(), guardians=False, errors=None, student=None, submit=_l("提交"),
                multipart=False, intro=None, readonly=None, extra_fields=(), cancel_url=None, school_search_url=None):
    """A record form (students/form.html): field groups, guardians, extra fields and uploads."""
    return view.render_template(
        "students/form.html", title=title, form=form, groups=groups, guardians=guardians,
        guardian_slots=GUARDIAN_SLOTS, guardian_labels=GUARDIAN_LABELS, errors=errors or {}, student=student,
        xueji_no=shown_xueji_no(student.xueji_no) if student else "",
        reselect=bool(errors) and any(f.filename for f in request.files.values()),
        submit=submit, multipart=multipart, intro=intro, readonly=readonly or [], extra_fields=extra_fields,
        cancel_url=cancel_url or (url_for("StudentView.show", pk=student.id) if student else url_for("StudentView.list")),
        school_search_url=school_search_url,
    )


class LookupForm(DynamicForm):
    name = StringField(_l("姓名"))
    id_number = StringField(_l("身份证件号"))


def _record_data(form, fields):
    return {f: form[f].data for f in fields}


def _guardian_data(form):
    """Filled-in guardian slots (a slot counts when its name, number or phone is given)."""
    rows = []
    for i in GUARDIAN_SLOTS:
        row = {k: (form[f"g{i}_{k}"].data or "").strip() for k in GUARDIAN_LABELS}
        if row["name"] or row["id_number"] or row["phone"]:
            rows.append(row)
    return rows


def _guardian_initial(student):
    data = {}
    for i, gd in zip(GUARDIAN_SLOTS, student.guardians):
        for k in GUARDIAN_LABELS:
            data[f"g{i}_{k}"] = getattr(gd, k) or ""
    return data


def _initial(student, fields):
    """Form values from the record; division codes as the 6 digits the user types."""
    snap = students.snapshot(student, fields)
    for f in ("birthplace_code", "hukou_code"):
        if snap.get(f) and snap[f].endswith("000000"):
            snap[f] = snap[f][:6]
    return {k: ("" if v is None else v) for k, v in snap.items()}


def _uploads(session, actor, kinds):
    """Files of the given form fields → Attachments of the actor's unit."""
    found = []
    for field, kind in kinds:
        found += attachments.from_uploads(session, actor, request.files.getlist(field), kind)
    return found


# ---------------------------------------------------------------- 学生学籍

# Not 学籍号: it begins with the county code, and PostgreSQL walks that index from its start (bench/).
STUDENT_ORDER_COLUMNS = ("name", "birth_date", "grade", "class_name", "status")


class StudentInterface(SQLAInterface):
    """Default order of the list: school, grade, class, name — PostgreSQL reads a school's rows by
    ix_student_school_class / ix_student_school_status and sorts them (no index holds grade: the 升级 updates it
    in place, see migration e1a9c0b2d3f4); a province page stays ~15 ms at 1M students."""

    def apply_order_by(self, query, order_column, order_direction, *args, **kwargs):
        if self.obj is not Student:  # related interfaces (the school dropdown) are built from this class too
            return super().apply_order_by(query, order_column, order_direction, *args, **kwargs)
        if order_column not in STUDENT_ORDER_COLUMNS:  # none, or one not offered (a hand-made URL)
            return query.order_by(Student.school_id, Student.grade, Student.class_name, Student.name, Student.id)
        return super().apply_order_by(query, order_column, order_direction, *args, **kwargs).order_by(Student.id)

    def query_count(self, query, filters=None, select_columns=None):
        # FAB orders its count query too; sorting a million rows just to count them cost seconds.
        inner = self._apply_inner_all(query, filters, select_columns=select_columns, aliases_mapping={})
        return inner.order_by(None).count()


def _grade_label(code):
    return tables.label("grade", code)


class StudentView(ScopedModelView):
    datamodel = StudentInterface(Student)
    label = _l("学生")
    list_title = _l("学生学籍")
    show_title = _l("学生学籍详情")
    list_template = "students/list.html"
    base_permissions = ["can_list", "can_show", "can_edit", "can_register", "can_resubmit", "can_withdraw", "can_key_change",
                        "can_request_deletion", "can_cancel_request", "can_export_workbook",
                        # 学籍异动 of the school's own students, and the whole history of a visible one
                        "can_transfer_out", "can_province_out", "can_suspend", "can_resume", "can_drop_out", "can_leave",
                        "can_death", "can_history"]
    label_columns = LABELS
    list_columns = ["xueji_no", "name", "gender", "birth_date", "id_number", "school", "grade", "class_name", "status"]
    show_columns = list_columns
    add_columns = edit_columns = ["class_name"]  # FAB's generated forms are not used: see register/edit below
    search_columns = ["name", "name_initials", "id_number", "xueji_no", "school", "grade", "class_name", "status"]
    order_columns = list(STUDENT_ORDER_COLUMNS)
    formatters_columns = {
        "gender": lambda v: tables.label("gender", v),
        "grade": _grade_label,
        "id_number": shown_id,
        "xueji_no": shown_xueji_no,
        "status": enum_label(StudentStatus),
        "school": lambda v: v.name if v is not None else "",
    }
    search_form_extra_fields = {
        "grade": SelectField(_l("年级"), choices=[BLANK] + tables.choices("grade"), validate_choice=False,
                             widget=Select2Widget()),
        "status": SelectField(_l("状态"), choices=[BLANK] + [(m.value, m.label) for m in StudentStatus],
                              validate_choice=False, widget=Select2Widget()),
    }
    # The school dropdown of the search lists only schools inside the actor's subtree.
    search_form_query_rel_fields = {"school": [["id", ScopeFilter, None], ["kind", FilterEqual, OrgKind.SCHOOL]]}

    # ------------------------------------------------------------ list

    def _get_list_widget(self, *args, **kwargs):
        widgets = super()._get_list_widget(*args, **kwargs)
        actor = current_actor()
        if privacy.full_id_allowed(actor):  # the page shows full ID numbers: audit each record shown
            ids = [_int_or_none(pk) for pk in widgets["list"].template_args.get("pks") or []]
            shown = db.session.scalars(select(Student).where(Student.id.in_([i for i in ids if i]),
                                                             Student.id_number.is_not(None))).all()
            for student in shown:
                privacy.record_full_view(db.session, actor, student, "学生学籍列表")
            db.session.commit()
        return widgets

    def _can(self, permission):
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    # ------------------------------------------------------------ show

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        student = self.scoped_get(pk)
        if student is None:
            abort(404)
        self.update_redirect()
        html = self.render_template("students/show.html", title=self.show_title, student=student,
                                    **self._show_context(student))
        privacy.record_full_view(db.session, current_actor(), student, "学生学籍详情")
        db.session.commit()
        return html

    def _show_context(self, student):
        actor = current_actor()
        numbers = [("xueji_no", shown_xueji_no(student.xueji_no)), ("personal_id", student.personal_id)]
        if student.former_xueji_no:
            numbers.append(("former_xueji_no", shown_xueji_no(student.former_xueji_no)))
        numbers += [("school", student.school.name), ("status", field_value("status", student.status))]
        groups = [(_l("学籍信息"), [(LABELS[f], v or "") for f, v in numbers])]
        for title, fields in [KEY_GROUP] + OTHER_GROUPS:
            groups.append((title, [(LABELS[f], field_value(f, getattr(student, f))) for f in fields]))
        groups.append((_l("记录"), [(LABELS[f], field_value(f, getattr(student, f))) for f in ("created_at", "updated_at")]))
        guardians = [{
            "name": gd.name, "relation": tables.label("guardian_relation", gd.relation),
            "id_type": tables.label("id_type", gd.id_type), "id_number": shown_id(gd.id_number), "phone": gd.phone or "",
        } for gd in student.guardians]
        history = [{
            "valid_from": field_value("created_at", h.valid_from), "valid_to": field_value("created_at", h.valid_to),
            "school": h.school.name if h.school else "", "grade": _grade_label(h.grade), "class_name": h.class_name or "",
            "status": field_value("status", h.status), "reason": h.reason or "",
        } for h in student.history]
        reqs = db.session.scalars(select(Request).where(Request.student_id == student.id, scope.clause(actor, Request))
                                  .order_by(Request.id.desc())).all()
        lock = engine.open_locking_request(db.session, student.id)
        own_school = actor is not None and actor.org_unit_id == student.school_id
        owner = own_school and self._can("can_edit")
        status = student.status
        actions = {
            "edit": owner and status not in (StudentStatus.DELETED, StudentStatus.TRANSFERRED_OUT),
            "key_change": owner and status in (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED),
            "deletion": owner and status not in (StudentStatus.DELETED, StudentStatus.REGISTERING),
            "resubmit": owner and status == StudentStatus.REGISTERING,
        }
        movements = self._movements(student) if own_school else []
        return {
            "xueji_no": shown_xueji_no(student.xueji_no), "groups": groups, "guardians": guardians, "history": history,
            "owner": owner or bool(movements), "requests": [self._request_row(r, owner) for r in reqs],
            "lock": lock, "lock_url": request_url(lock) if lock is not None else None,
            "lock_by": lock.school.name if lock is not None and lock.school_id != student.school_id else "",
            "lock_confirm": own_school and lock is not None and self._confirms(lock, actor),
            "actions": actions, "movements": movements, "guardian_labels": GUARDIAN_LABELS,
            "can_history": self._can("can_history"),
        }

    @staticmethod
    def _confirms(req, actor):
        """The open request waits for this school's own confirmation (学校确认 of a transfer)."""
        step = engine.current_step(req)
        return step is not None and step.role == StepRole.CONFIRM and step.org_unit_id == actor.org_unit_id

    # The 学籍异动 a school may start for its own student, by status: (endpoint, label, icon).
    MOVEMENTS = (
        ("transfer_out", _l("转出（省内转学）"), "fa-sign-out", (StudentStatus.IN_SCHOOL,)),
        ("province_out", _l("跨省转出"), "fa-plane", (StudentStatus.IN_SCHOOL,)),
        ("suspend", _l("休学"), "fa-pause", (StudentStatus.IN_SCHOOL,)),
        ("resume", _l("复学"), "fa-play", (StudentStatus.SUSPENDED,)),
        ("drop_out", _l("退学"), "fa-user-times", (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED)),
        ("leave", _l("其他离校"), "fa-share", (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED)),
        ("death", _l("死亡"), "fa-minus-circle", (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED)),
    )

    def _movements(self, student):
        """The 学籍异动 buttons for the owning school: only those valid for the student's status
        (退学 only outside compulsory education) and allowed to the actor. Hints: the services decide."""
        out = []
        for name, label, icon, statuses in self.MOVEMENTS:
            if student.status not in statuses or not self._can(f"can_{name}"):
                continue
            if name == "drop_out" and grades.is_compulsory(student.grade):
                continue
            out.append({"name": name, "label": label, "icon": icon, "url": url_for(f"StudentView.{name}", pk=student.id)})
        return out

    def _request_row(self, req, owner):
        step = engine.current_step(req)
        pending = req.state == RequestState.PENDING
        changes = []
        if req.type == students.KEY_CHANGE:
            before, after = (req.payload or {}).get("before") or {}, (req.payload or {}).get("after") or {}
            changes = [(LABELS.get(f, f), field_value(f, before.get(f)), field_value(f, after.get(f)))
                       for f in after if before.get(f) != after.get(f)]
        return {
            "id": req.id, "type": req.type_label, "state": req.state.label, "pending": pending,
            "created_at": field_value("created_at", req.created_at), "reason": req.reason or "",
            "outcome": req.outcome or "", "where": step.org_unit.name if pending and step is not None else "",
            "url": request_url(req), "changes": changes,
            "can_cancel": owner and pending and req.school_id == current_actor().org_unit_id and self._can("can_cancel_request"),
        }

    # ------------------------------------------------------------ forms

    def _render_form(self, form, title, **kwargs):
        return render_form(self, form, title, **kwargs)

    @staticmethod
    def _errors(exc):
        """The form field a service error belongs to (its message is also flashed at the top)."""
        if exc is None:
            return {}
        return {exc.field or "_form": exc.message}

    @expose("/register", methods=["GET", "POST"])
    @has_access
    def register(self):
        """新生注册: the whole record, up to two guardians, the optional 无身份证号证明."""
        error = None
        if request.method == "POST" and not request.form.get("_prefill"):
            form = RegistrationForm()
            result, error = _attempt(
                lambda session, actor: students.register_student(
                    session, actor, _record_data(form, RECORD_FIELDS), _guardian_data(form),
                    attachments=_uploads(session, actor, [("no_id_proof", students.NO_ID_PROOF)])))
            if error is None:
                student, req, warnings = result
                for message in warnings:
                    flash(message, "info")
                flash(_("新生注册已提交，等待县（区）教育局核办（申请号 %(id)s）", id=req.id), "success")
                return redirect(url_for("StudentView.show", pk=student.id))
        else:
            today = datetime.date.today()
            initial = {**REGISTRATION_DEFAULTS, "grade": "11", "enrollment_month": f"{today.year}-09",
                       "g1_id_type": identity.MAINLAND_ID, "g2_id_type": identity.MAINLAND_ID}
            if request.method == "POST":  # from 全省学籍查询: carry over the name and number searched
                initial.update(name=request.form.get("name", ""), id_number=request.form.get("id_number", ""))
            form = RegistrationForm(formdata=None, data=initial)
        intro = _("注册前请先进行全省学籍查询：已在本省建立学籍的学生不能重复注册，应办理转学。"
                  "提交后由县（区）教育局核办，核办通过后发放学籍号。")
        return self._render_form(form, _l("新生注册"), groups=[KEY_GROUP] + OTHER_GROUPS, guardians=True,
                                 errors=self._errors(error), multipart=True, intro=intro,
                                 extra_fields=["no_id_proof"], submit=_l("提交注册"))

    @expose("/resubmit/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def resubmit(self, pk):
        """重新提交: a registration the county rejected, corrected and submitted again."""
        student = self.scoped_get(pk)
        error = None
        if request.method == "POST":
            form = ResubmitForm()
            req, error = _attempt(students.resubmit_registration, student.id, _record_data(form, RECORD_FIELDS),
                                  _guardian_data(form), expected_version=_int_or_none(form.version.data))
            if error is None:
                flash(_("已重新提交新生注册（申请号 %(id)s）", id=req.id), "success")
                return redirect(url_for("StudentView.show", pk=pk))
        else:
            form = ResubmitForm(formdata=None, data={**_initial(student, RECORD_FIELDS), **_guardian_initial(student),
                                                     "version": student.version})
            privacy.record_full_view(db.session, current_actor(), student, "重新提交新生注册")
            db.session.commit()
        return self._render_form(form, _l("重新提交新生注册"), groups=[KEY_GROUP] + OTHER_GROUPS, guardians=True,
                                 errors=self._errors(error), student=student, submit=_l("重新提交"),
                                 intro=_("请根据核办意见修改后重新提交。"))

    @expose("/withdraw/<int:pk>", methods=["POST"])
    @scoped_pk
    @has_access
    def withdraw(self, pk):
        """撤回: give up a registration the county rejected."""
        _student, error = _attempt(students.withdraw_registration, pk, expected_version=_int_or_none(request.form.get("version")))
        if error is None:
            flash(_("已撤回该新生注册，记录已删除（保留备查）"), "success")
        return redirect(url_for("StudentView.show", pk=pk))

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def edit(self, pk):
        """Non-key fields, saved at once; a form older than the record is refused."""
        student = self.scoped_get(pk)
        error = None
        if request.method == "POST":
            form = EditForm()
            result, error = _attempt(students.update_student, student.id, _record_data(form, students.OTHER_FIELDS),
                                     expected_version=_int_or_none(form.version.data))
            if error is None:
                for message in result[1]:
                    flash(message, "info")
                flash(_("学籍信息已保存"), "success")
                return redirect(url_for("StudentView.show", pk=pk))
        else:
            form = EditForm(formdata=None, data={**_initial(student, students.OTHER_FIELDS), "version": student.version})
        readonly = [(LABELS[f], identity.mask(student.id_number) if f == "id_number" else field_value(f, getattr(student, f)))
                    for f in KEY_FIELDS]
        return self._render_form(form, _l("编辑学籍信息"), groups=OTHER_GROUPS, errors=self._errors(error),
                                 student=student, readonly=readonly, submit=_l("保存"),
                                 intro=_("姓名、性别、出生日期、身份证件类型、身份证件号、民族属于关键数据，须通过“关键数据变更”申请修改。"))

    @expose("/key_change/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def key_change(self, pk):
        """关键数据变更: the school proposes new key data with evidence; the county approves."""
        student = self.scoped_get(pk)
        error = None
        if request.method == "POST":
            form = KeyChangeForm()
            result, error = _attempt(
                lambda session, actor: students.request_key_change(
                    session, actor, student.id, _record_data(form, KEY_FIELDS), form.reason.data,
                    attachments=_uploads(session, actor, [("evidence", students.EVIDENCE),
                                                          ("no_id_proof", students.NO_ID_PROOF)]),
                    expected_version=_int_or_none(form.version.data)))
            if error is None:
                req, warnings = result
                for message in warnings:
                    flash(message, "info")
                flash(_("关键数据变更申请已提交，等待县（区）教育局核办（申请号 %(id)s）", id=req.id), "success")
                return redirect(url_for("StudentView.show", pk=pk))
        else:
            form = KeyChangeForm(formdata=None, data={**_initial(student, KEY_FIELDS), "version": student.version})
            privacy.record_full_view(db.session, current_actor(), student, "关键数据变更申请")
            db.session.commit()
        return self._render_form(form, _l("申请关键数据变更"), groups=[(_l("变更后的关键数据"), list(KEY_FIELDS))],
                                 errors=self._errors(error), student=student, multipart=True,
                                 extra_fields=["reason", "evidence", "no_id_proof"], submit=_l("提交申请"),
                                 intro=_("请填写变更后的值；原值保留在申请中。县（区）教育局核办通过后生效。"))

    @expose("/request_deletion/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def request_deletion(self, pk):
        """误操作删除: the school asks, the county approves (删除) or rejects (驳回)."""
        student = self.scoped_get(pk)
        error = None
        if request.method == "POST":
            form = DeletionForm()
            req, error = _attempt(students.request_deletion, student.id, form.reason.data,
                                  expected_version=_int_or_none(form.version.data))
            if error is None:
                flash(_("误操作删除申请已提交，等待县（区）教育局核办（申请号 %(id)s）", id=req.id), "success")
                return redirect(url_for("StudentView.show", pk=pk))
        else:
            form = DeletionForm(formdata=None, data={"version": student.version})
        readonly = [(LABELS["name"], student.name), (LABELS["xueji_no"], student.xueji_no or ""),
                    (LABELS["school"], student.school.name), (LABELS["status"], field_value("status", student.status))]
        return self._render_form(form, _l("申请误操作删除"), errors=self._errors(error), student=student,
                                 readonly=readonly, extra_fields=["reason"], submit=_l("提交删除申请"),
                                 intro=_("仅用于删除误建的学籍。县（区）教育局核办通过后该学籍标记为已删除，学籍号释放；核办前可撤销申请。"))

    @expose("/cancel_request/<int:pk>/<int:request_id>", methods=["POST"])
    @scoped_pk
    @has_access
    def cancel_request(self, pk, request_id):
        """撤销申请 (e.g. 撤回新生注册, 取消误操作删除申请): the initiating school withdraws it."""
        _req, error = _attempt(engine.cancel, request_id)
        if error is None:
            flash(_("申请已撤销"), "success")
        return redirect(url_for("StudentView.show", pk=pk))

    # ------------------------------------------------------------ 学籍异动 (the owning school starts; services decide)

    def _current(self, student):
        return [(LABELS["name"], student.name), (LABELS["school"], student.school.name),
                (LABELS["grade"], _grade_label(student.grade)), (LABELS["class_name"], student.class_name or ""),
                (LABELS["status"], field_value("status", student.status))]

    def _movement(self, pk, form_cls, title, start, *, groups=(), extra_fields=(), intro=None, initial=None,
                  prepare=None, rename=None, submit=_l("提交申请"), school_search=False):
        """GET: the form (`initial(student)`: its first values); POST: start the request through
        the service, or show the form again with the service's message at the field it concerns
        (nothing is saved then)."""
        student = self.scoped_get(pk)
        error = None
        if request.method == "POST":
            form = form_cls()
            if prepare:
                prepare(form, student)
            req, error = _attempt(lambda session, actor: start(session, actor, student, form))
            if error is None:
                flash(submitted_message(req, title), "success")
                return redirect(url_for("StudentView.show", pk=pk))
        else:
            form = form_cls(formdata=None, data={"version": student.version, **(initial(student) if initial else {})})
            if prepare:
                prepare(form, student)
        return self._render_form(form, title, groups=groups, errors=form_errors(error, rename), student=student,
                                 readonly=self._current(student), multipart=True, extra_fields=extra_fields,
                                 submit=submit, intro=intro,
                                 school_search_url=url_for("StudentView.find_schools") if school_search else None)

    @expose("/transfer_out/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def transfer_out(self, pk):
        """转出申请 (省内转学): the receiving school confirms, then the county or counties (and cities) approve."""
        def start(session, actor, student, form):
            return transfers.start_transfer_out(
                session, actor, student.id, to_school_code=(form.to_school.data or "").strip(), grade=form.grade.data,
                class_name=form.class_name.data, reason_code=form.reason_code.data, note=form.note.data,
                attachments=_uploads(session, actor, [("evidence", students.EVIDENCE)]),
                expected_version=_int_or_none(form.version.data))
        return self._movement(
            pk, TransferOutForm, _l("转出申请"), start, initial=lambda student: {"grade": student.grade or ""},
            groups=[(_l("转入学校"), ["to_school", "grade", "class_name"])], extra_fields=["reason_code", "note", "evidence"],
            school_search=True,
            intro=_("转往本省其他学校：提交后由转入学校确认，再由双方县（区）教育局核办；核办通过后学籍转到新学校，"
                    "本校保留转出记录。转往外省请办理跨省转出。"))

    @expose("/find_schools")
    @has_access
    @permission_name("transfer_out")
    def find_schools(self):
        """The target-school picker of 转出申请: schools of the province by name or 学校标识码 (JSON)."""
        actor = current_actor()
        own = getattr(actor, "org_unit_id", None)
        rows = transfers.find_schools(db.session, actor, request.args.get("q", ""))
        return jsonify({"schools": [{
            "code": s.school_code, "name": s.name, "place": transfers.place_name(db.session, s),
            "type": str(s.school_type.label) if s.school_type else "", "may_enroll": bool(s.may_enroll),
            "grades": list(grades.grades_of(s)),
        } for s in rows if s.id != own]})

    @expose("/province_out/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def province_out(self, pk):
        """跨省转出: the county approves, the province confirms that the other province received the record."""
        def prepare(form, _student):
            form.to_province.choices = [BLANK] + other_provinces(current_actor())

        def start(session, actor, student, form):
            return transfers.start_province_transfer_out(
                session, actor, student.id, to_province=form.to_province.data, to_school=form.to_school.data,
                reason_code=form.reason_code.data, note=form.note.data,
                attachments=_uploads(session, actor, [("evidence", students.EVIDENCE)]),
                expected_version=_int_or_none(form.version.data))
        return self._movement(
            pk, ProvinceOutForm, _l("跨省转出申请"), start, prepare=prepare,
            groups=[(_l("转入地"), ["to_province", "to_school"])], extra_fields=["reason_code", "note", "evidence"],
            rename={"from_province": "to_province"},
            intro=_("转往外省学校：县（区）教育局核办后，由省级教育行政部门与转入省确认；办结后本校学籍状态为“转出”。"))

    @expose("/suspend/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def suspend(self, pk):
        """休学: reason and period (at most about a year)."""
        def start(session, actor, student, form):
            return status_changes.request_suspension(
                session, actor, student.id, reason_code=form.reason_code.data, starts_on=form.starts_on.data,
                ends_on=form.ends_on.data, note=form.note.data,
                attachments=_uploads(session, actor, [("evidence", students.EVIDENCE)]),
                expected_version=_int_or_none(form.version.data))
        today = datetime.date.today()
        return self._movement(
            pk, SuspendForm, _l("休学申请"), start, initial=lambda _student: {"starts_on": today.isoformat()},
            groups=[(_l("休学"), ["reason_code", "starts_on", "ends_on"])], extra_fields=["note", "evidence"],
            intro=_("休学期限一般不超过一年，期满仍不能复学的可再次申请。核办通过后学籍状态为“休学”，复学时办理复学申请。"))

    @expose("/resume/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def resume(self, pk):
        """复学: back into a grade the school teaches and a class."""
        def prepare(form, student):
            form.grade.choices = [BLANK] + grade_choices(student.school)

        def start(session, actor, student, form):
            return status_changes.request_resumption(
                session, actor, student.id, grade=form.grade.data, class_name=form.class_name.data, note=form.note.data,
                attachments=_uploads(session, actor, [("evidence", students.EVIDENCE)]),
                expected_version=_int_or_none(form.version.data))
        return self._movement(
            pk, ResumeForm, _l("复学申请"), start, prepare=prepare,
            initial=lambda student: {"grade": student.grade or "", "class_name": student.class_name or ""},
            groups=[(_l("复学后就读"), ["grade", "class_name"])], extra_fields=["note", "evidence"],
            intro=_("请选择复学后就读的年级和班级（通常为休学前的年级或下一年级）。核办通过后学籍状态恢复为“在校”。"))

    @expose("/drop_out/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def drop_out(self, pk):
        """退学 (not in compulsory education): the written request of the student and guardian is required."""
        def start(session, actor, student, form):
            return status_changes.request_drop_out(
                session, actor, student.id, reason_code=form.reason_code.data, note=form.note.data,
                attachments=_uploads(session, actor, [("written_request", status_changes.WRITTEN_REQUEST)]),
                expected_version=_int_or_none(form.version.data))
        return self._movement(
            pk, DropOutForm, _l("退学申请"), start, extra_fields=["reason_code", "note", "written_request"],
            intro=_("义务教育阶段学生不能办理退学。须上传学生本人及监护人的书面申请；核办通过后学籍状态为“退学”。"))

    @expose("/leave/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def leave(self, pk):
        """其他离校 (e.g. 出国（境）学习)."""
        def start(session, actor, student, form):
            return status_changes.request_leave(
                session, actor, student.id, reason_code=form.reason_code.data, note=form.note.data,
                attachments=_uploads(session, actor, [("evidence", students.EVIDENCE)]),
                expected_version=_int_or_none(form.version.data))
        return self._movement(
            pk, LeaveForm, _l("其他离校申请"), start, extra_fields=["reason_code", "note", "evidence"],
            intro=_("学生因出国（境）、长期因病等原因离校的，办理其他离校；核办通过后学籍状态为“其他离校”。"))

    @expose("/death/<int:pk>", methods=["GET", "POST"])
    @scoped_pk
    @has_access
    def death(self, pk):
        """死亡: date and the death certificate."""
        def start(session, actor, student, form):
            return status_changes.report_death(
                session, actor, student.id, died_on=form.died_on.data, note=form.note.data,
                attachments=_uploads(session, actor, [("death_proof", status_changes.DEATH_PROOF)]),
                expected_version=_int_or_none(form.version.data))
        return self._movement(
            pk, DeathForm, _l("死亡登记"), start, groups=[(_l("死亡"), ["died_on"])], extra_fields=["note", "death_proof"],
            intro=_("须上传医院或公安机关出具的死亡证明；核办通过后学籍状态为“死亡”。"))

    # ------------------------------------------------------------ 学籍档案

    @expose("/history/<int:pk>")
    @scoped_pk
    @has_access
    def history(self, pk):
        """学籍档案: every span and every request with its steps — for whoever may see the student now."""
        try:
            found = history_service.student_history(db.session, current_actor(), pk)
        except NotFound:
            abort(404)
        student = found.student
        spans = [{
            "valid_from": field_value("created_at", h.valid_from), "valid_to": field_value("created_at", h.valid_to),
            "school": h.school.name if h.school else "", "grade": _grade_label(h.grade), "class_name": h.class_name or "",
            "status": field_value("status", h.status), "reason": h.reason or "",
        } for h in found.spans]
        reqs = [{
            "id": r.id, "type": request_type_label(r.type), "state": r.state, "url": request_url(r),
            "school": r.school.name if r.school else "", "initiator": person(r.initiator),
            "created_at": field_value("created_at", r.created_at), "decided_at": field_value("created_at", r.decided_at),
            "reason": r.reason or "", "outcome": r.outcome or "",
            "steps": [{
                "seq": st.seq, "unit": st.org_unit.name if st.org_unit else "", "role": st.role.label,
                "party": st.party.label if st.party else "", "decision": st.decision, "actor": person(st.actor),
                "comment": st.comment or "", "decided_at": field_value("created_at", st.decided_at),
            } for st in r.steps],
        } for r in found.requests]
        return self.render_template("students/history.html", title=_l("学籍档案"), student=student, spans=spans,
                                    requests=reqs, status=field_value("status", student.status),
                                    grade=_grade_label(student.grade))


# ---------------------------------------------------------------- 全省学籍查询

class LookupView(BaseView):
    """Province-wide: does this person already have a record? Shows only the holding county and school."""

    route_base = "/lookupview"
    default_view = "lookup"

    @expose("/lookup", methods=["GET", "POST"])
    @has_access
    def lookup(self):
        form = LookupForm()
        searched, result = False, None
        if request.method == "POST":
            result, error = _attempt(students.lookup_person, form.name.data, form.id_number.data)
            searched = error is None
        can_register = self.appbuilder.sm.has_access("can_register", "StudentView")
        can_transfer_in = ("TransferInView.start" in current_app.view_functions
                           and self.appbuilder.sm.has_access("can_start", "TransferInView"))
        return self.render_template("students/lookup.html", title=_l("全省学籍查询"), form=form, searched=searched,
                                    result=result, can_register=can_register, can_transfer_in=can_transfer_in)


def register(appbuilder):
    registry = dict(category="Registry", category_label=_l("学籍管理"), category_icon="fa-id-card")
    appbuilder.add_view(StudentView, "Students", label=_l("学生学籍"), icon="fa-users", **registry)
    appbuilder.add_view(LookupView, "Lookup", label=_l("全省学籍查询"), icon="fa-search", **registry)
