"""学籍异动 screens: 转入申请, 跨省转入, 转出记录 (the former school's traces).

Thin, like app/views/students.py (whose forms, form template and helpers they share): read the
form, call app.services.transfers, flash the result. The receiving school cannot see the student
it asks for until the transfer is approved, so after submitting it is sent to the request
(我的申请), not to the record. The 学籍异动 a school starts for its own students (转出, 跨省转出,
休学, 复学, 退学, 其他离校, 死亡) are on the student's page (StudentView).
"""
from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import FileField, SelectField, StringField, TextAreaField

from app.codes import tables
from app.models.org import OrgKind
from app.models.process import DepartureTrace
from app.services import identity, students, transfers
from app.services.context import current_actor
from app.views.base import ScopedModelView, ScopeFilter, show_value
from app.views.students import (BLANK, GUARDIAN_SLOTS, KEY_GROUP, OTHER_GROUPS, RECORD_FIELDS, REGISTRATION_DEFAULTS,
                                _attempt, _form_class, _grade_label, _guardian_data, _record_data, _uploads, form_errors,
                                grade_choices, other_provinces, render_form, request_url, submitted_message)

SAME_GRADE = ("", _l("（与原年级相同）"))
NOTE_HELP = _l("原因为“其他”时必须填写")


def _reason_field():
    return SelectField(_l("转学原因"), choices=[BLANK] + tables.choices("transfer_reason"), validate_choice=False)


def _evidence_field(description=_l("选填；如户口迁移、工作调动等证明，扫描件或照片，不超过 10 MB")):
    return FileField(_l("证明材料"), description=description)


def _after_submit(req, what):
    """Flash where the request went and open it on 我的申请 (the student is not ours yet)."""
    flash(submitted_message(req, what), "success")
    return redirect(request_url(req) or url_for("MyRequestsView.list"))


# ---------------------------------------------------------------- 转入申请

class TransferInForm(DynamicForm):
    name = StringField(_l("姓名"))
    number = StringField(_l("学籍号或身份证件号"), description=_l("学生在本省的学籍号（G 开头），或其身份证件号"))
    grade = SelectField(_l("转入年级"), choices=[SAME_GRADE], validate_choice=False)
    class_name = StringField(_l("转入班级"), description=_l("选填；可在转入后再分班"))
    reason_code = _reason_field()
    note = TextAreaField(_l("说明"), description=NOTE_HELP)
    evidence = _evidence_field()


class TransferInView(BaseView):
    """转入申请: the receiving school asks for a student of another school of the province, found
    by name + 学籍号 (or ID number). The sending school confirms, then the county or counties approve."""

    route_base = "/transferinview"
    default_view = "start"

    @expose("/start", methods=["GET", "POST"])
    @has_access
    def start(self):
        actor = current_actor()
        error = None
        if request.method == "POST" and not request.form.get("_prefill"):
            form = TransferInForm()
            form.grade.choices = [SAME_GRADE] + grade_choices(getattr(actor, "org_unit", None))
            req, error = _attempt(lambda session, actor: transfers.start_transfer_in(
                session, actor, name=form.name.data, number=form.number.data, grade=form.grade.data or None,
                class_name=form.class_name.data, reason_code=form.reason_code.data, note=form.note.data,
                attachments=_uploads(session, actor, [("evidence", students.EVIDENCE)])))
            if error is None:
                return _after_submit(req, _l("转入申请"))
        else:
            initial = {}
            if request.method == "POST":  # from 全省学籍查询: carry over the name and number searched
                initial = {"name": request.form.get("name", ""), "number": request.form.get("id_number", "")}
            form = TransferInForm(formdata=None, data=initial)
            form.grade.choices = [SAME_GRADE] + grade_choices(getattr(actor, "org_unit", None))
        intro = _("学生已在本省其他学校建立学籍的，由本校发起转入申请：按姓名和学籍号（或身份证件号）查找学生，"
                  "提交后由学生原学校确认，再由教育行政部门核办；核办通过后学籍转入本校。外省学生请办理跨省转入。")
        return render_form(self, form, _l("转入申请"),
                           groups=[(_l("学生"), ["name", "number"]), (_l("转入本校"), ["grade", "class_name"])],
                           errors=form_errors(error, {"to_school": "_form"}), multipart=True, intro=intro,
                           extra_fields=["reason_code", "note", "evidence"], submit=_l("提交转入申请"))


# ---------------------------------------------------------------- 跨省转入

ProvinceInForm = _form_class("ProvinceInForm", RECORD_FIELDS, guardians=True, extra={
    "from_province": SelectField(_l("原就读省份"), choices=[BLANK], validate_choice=False),
    "from_school": StringField(_l("原就读学校"), description=_l("外省原就读学校的全称")),
    "xueji_no": StringField(_l("学籍号"), description=_l("原省份的全国学籍号：G 加 18 位身份证件号，或 L 开头的临时学籍号")),
    "reason_code": _reason_field(),
    "note": TextAreaField(_l("说明"), description=NOTE_HELP),
    "no_id_proof": FileField(_l("无身份证号证明"), description=_l("没有身份证件号的学生必须上传；扫描件或照片，不超过 10 MB")),
    "evidence": _evidence_field(_l("选填；如原学校出具的转学证明，扫描件或照片，不超过 10 MB")),
})


class ProvinceTransferInView(BaseView):
    """跨省转入: the record of a student from another province arrives by its 学籍号; the school
    enters it like a new registration. The county approves, then the province confirms with the
    other province; the record is created here on final approval."""

    route_base = "/provincetransferinview"
    default_view = "start"

    @expose("/start", methods=["GET", "POST"])
    @has_access
    def start(self):
        actor = current_actor()
        error = None
        if request.method == "POST":
            form = ProvinceInForm()
            result, error = _attempt(lambda session, actor: transfers.start_province_transfer_in(
                session, actor, _record_data(form, RECORD_FIELDS), _guardian_data(form),
                from_province=form.from_province.data, from_school=form.from_school.data, xueji_no=form.xueji_no.data,
                reason_code=form.reason_code.data, note=form.note.data,
                attachments=_uploads(session, actor, [("no_id_proof", students.NO_ID_PROOF),
                                                      ("evidence", students.EVIDENCE)])))
            if error is None:
                req, warnings = result
                for message in warnings:
                    flash(message, "info")
                return _after_submit(req, _l("跨省转入申请"))
        else:
            initial = {**REGISTRATION_DEFAULTS, "grade": "", **{f"g{i}_id_type": identity.MAINLAND_ID for i in GUARDIAN_SLOTS}}
            form = ProvinceInForm(formdata=None, data=initial)
        form.from_province.choices = [BLANK] + other_provinces(actor)
        intro = _("外省学生转入本校：按原省份的学籍号录入学生的完整信息。提交后由县（区）教育局核办，"
                  "再由省级教育行政部门与原省份确认；办结后在本校建立学籍，学籍号不变。本省学生请办理转入申请。")
        return render_form(self, form, _l("跨省转入"),
                           groups=[(_l("原学籍信息"), ["from_province", "from_school", "xueji_no"]), KEY_GROUP] + OTHER_GROUPS,
                           guardians=True, errors=form_errors(error), multipart=True, intro=intro,
                           extra_fields=["reason_code", "note", "no_id_proof", "evidence"], submit=_l("提交跨省转入申请"))


# ---------------------------------------------------------------- 转出记录

class DepartureView(ScopedModelView):
    """转出记录: what a school (and its superiors) keep of students who transferred away — not
    the record itself, which moved with the student (籍随人走). Read-only; scoped by the former
    school's path (services/transfers.py registers the rule)."""

    datamodel = SQLAInterface(DepartureTrace)
    label = _l("转出记录")
    list_title = _l("转出记录")
    show_title = _l("转出记录详情")
    list_template = "exports/list.html"
    base_permissions = ["can_list", "can_show", "can_export_workbook"]
    label_columns = {
        "student_name": _l("学生姓名"), "personal_id": _l("个人标识码"), "grade": _l("原年级"),
        "class_name": _l("原班级"), "to_name": _l("转至"), "left_at": _l("转出时间"), "from_school": _l("原学校"),
    }
    list_columns = ["student_name", "personal_id", "grade", "class_name", "to_name", "left_at", "from_school"]
    show_columns = ["student_name", "personal_id", "from_school", "grade", "class_name", "to_name", "left_at"]
    search_columns = ["student_name", "personal_id", "from_school", "to_name", "left_at"]
    order_columns = ["student_name", "grade", "class_name", "left_at"]
    base_order = ("left_at", "desc")
    formatters_columns = {
        "grade": _grade_label,
        "left_at": show_value,
        "from_school": lambda v: v.name if v is not None else "",
    }
    # The school dropdown of the search lists only schools inside the actor's subtree.
    search_form_query_rel_fields = {"from_school": [["id", ScopeFilter, None], ["kind", FilterEqual, OrgKind.SCHOOL]]}


def register(appbuilder):
    registry = dict(category="Registry", category_label=_l("学籍管理"), category_icon="fa-id-card")
    appbuilder.add_view(TransferInView, "TransferIn", label=_l("转入申请"), icon="fa-sign-in", **registry)
    appbuilder.add_view(ProvinceTransferInView, "ProvinceTransferIn", label=_l("跨省转入"), icon="fa-plane", **registry)
    appbuilder.add_view(DepartureView, "Departures", label=_l("转出记录"), icon="fa-sign-out", **registry)
