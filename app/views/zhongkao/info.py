"""信息采集与确认 (中招): the school's candidates with filters, one candidate's edit form and photo,
the 报名登记表 PDF, 记录签字确认 (locks), 信息变更申请 after the lock and 重新发放激活码.

Thin: every rule is in app/services/zhongkao/info.py, forms.py and accounts.py; every post goes
through `call_service` (a candidate outside the account's scope is a 404; any refusal is flashed in
Chinese and nothing is written).

URLs
  /zkinfo/list/?school=&info_state=&photo=&q=    the candidates in scope                  can_list
  /zkinfo/edit/<pk>               GET            one candidate: data, photo, actions        can_list
  /zkinfo/edit/<pk>               POST           save the collected information           can_edit
  /zkinfo/photo/<pk>                             the stored photo (JPEG)                  can_list
  /zkinfo/upload/<pk>             POST           upload / replace the photo               can_edit
  /zkinfo/confirm                 POST           记录签字确认 of the ticked candidates      can_confirm
  /zkinfo/print                   POST           报名登记表 PDF (ticked, or one school)      can_print
  /zkinfo/change/<pk>             POST           信息变更申请 (locked candidate, school)     can_request_change
  /zkinfo/activation/<pk>         POST           重新发放激活码 (shown once)                 can_issue_code
"""
import datetime
from urllib.parse import quote

from flask import Response, abort, flash, make_response, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.codes import tables
from app.extensions import db
from app.models.org import OrgKind, OrgUnit
from app.models.zhongkao import (Candidate, CandidateCategory, CandidateOrigin, HukouKind, InfoState, StudyIntent,
                                 ZkPhoto)
from app.services import identity, scope
from app.services.context import current_actor
from app.services.errors import NotFound
from app.services.roles import RANK_SCHOOL, actor_rank
from app.services.zhongkao import accounts, exams, forms, info, registration
from app.views.base import call_service
from app.views.school_year import Page, _View
from app.views.zhongkao import MENU

MAX_ID = 2 ** 31 - 1
STALE = _l("该考生信息已被他人修改，请刷新后重试")


def _collector(actor):
    """Accounts that collect and confirm (school or county officers); others read."""
    unit = getattr(actor, "org_unit", None)
    return unit is not None and actor_rank(actor) <= RANK_SCHOOL and unit.kind in (OrgKind.SCHOOL, OrgKind.COUNTY)


def _is_school(actor):
    unit = getattr(actor, "org_unit", None)
    return unit is not None and actor_rank(actor) <= RANK_SCHOOL and unit.kind == OrgKind.SCHOOL


def _ids(values):
    """Posted candidate ids: a malformed or huge one names no candidate in scope (404)."""
    out = []
    for v in values:
        text = str(v or "").strip()
        if not text.isdigit() or int(text) > MAX_ID:
            abort(404)
        out.append(int(text))
    return out


def _call(fn, *args, **kwargs):
    """call_service; two people saving the same candidate at once is a message, never a 500."""
    try:
        return call_service(fn, *args, **kwargs)
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        flash(str(STALE), "danger")
        return None, NotFound(str(STALE))


def _field_rows(c):
    """The edit form's fields: (name, label, kind, choices, value); identity only for 往届/外省."""
    enum_choices = lambda cls: [(m.value, str(m.label)) for m in cls]  # noqa: E731
    categories = enum_choices(CandidateCategory)
    if c.origin == CandidateOrigin.REGISTRY:
        categories = [(CandidateCategory.FRESH.value, str(CandidateCategory.FRESH.label))]
    elif c.origin == CandidateOrigin.MANUAL:
        categories = [(CandidateCategory.PAST.value, str(CandidateCategory.PAST.label))]
    rows = []
    if info.is_manual(c):
        rows += [
            ("name", _("姓名"), "text", None, c.name, 64),
            ("gender", _("性别"), "select", [(k, v) for k, v in identity.GENDER_NAMES.items()], c.gender, None),
            ("birth_date", _("出生日期"), "date", None, c.birth_date.isoformat() if c.birth_date else "", None),
            ("id_number", _("身份证号"), "text", None, c.id_number or "", 18),
            ("ethnicity", _("民族"), "select", tables.choices("ethnicity"), c.ethnicity, None),
            ("graduated_school_name", _("毕业学校"), "text", None, c.graduated_school_name or "", 100),
        ]
    rows += [
        ("category", _("考生类别"), "select", categories, c.category.value, None),
        ("hukou_kind", _("户籍类别"), "select", enum_choices(HukouKind), c.hukou_kind.value, None),
        ("intent", _("报考意向"), "select", enum_choices(StudyIntent), c.intent.value, None),
        ("phone", _("考生联系电话"), "text", None, c.phone or "", 13),
        ("guardian_name", _("监护人姓名"), "text", None, c.guardian_name or "", 64),
        ("guardian_relation", _("监护人关系"), "select", tables.choices("guardian_relation", blank=True),
         c.guardian_relation or "", None),
        ("guardian_phone", _("监护人电话"), "text", None, c.guardian_phone or "", 13),
        ("hukou_code", _("户籍所在地（行政区划代码）"), "text", None, (c.hukou_code or "")[:6], 12),
        ("hukou_address", _("户籍地址"), "text", None, c.hukou_address or "", 200),
        ("home_address", _("家庭住址"), "text", None, c.home_address or "", 200),
    ]
    return rows


def _posted(c):
    return {name: request.form.get(name, "") for name, *_rest in _field_rows(c)}


class ZkInfoView(_View):
    """信息采集与确认: schools (and their county) collect, print, confirm; superiors read."""

    route_base = "/zkinfo"
    title = _l("信息采集与确认")
    base_permissions = ["can_list", "can_edit", "can_confirm", "can_print", "can_request_change", "can_issue_code"]

    # ------------------------------------------------------------ the list

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        exam = exams.current_exam(db.session)
        args = request.args
        school = args.get("school") or ""
        state = args.get("info_state") or ""
        photo = args.get("photo") or ""
        q = (args.get("q") or "").strip()[:40]
        page, schools = None, []
        if exam is not None:
            stmt = registration.candidates_query(actor, exam)
            if school.isdigit() and int(school) <= MAX_ID:
                stmt = stmt.where(Candidate.school_id == int(school))
            if state in {m.value for m in InfoState}:
                stmt = stmt.where(Candidate.info_state == InfoState(state))
            if photo in ("yes", "no"):
                stmt = stmt.where(Candidate.has_photo.is_(photo == "yes"))
            if q:
                stmt = stmt.where(or_(Candidate.reg_no.startswith(q, autoescape=True),
                                      Candidate.name.startswith(q, autoescape=True)))
            page = Page(stmt.order_by(Candidate.school_path, Candidate.class_name, Candidate.seq),
                        args.get("page", 1, type=int))
            schools = db.session.scalars(
                select(OrgUnit).where(OrgUnit.id.in_(select(Candidate.school_id).where(
                    Candidate.exam_id == exam.id, scope.clause(actor, Candidate)).distinct()))
                .order_by(OrgUnit.path)).all()
        own = actor.org_unit if _is_school(actor) else None
        print_school = own.id if own is not None else (int(school) if school.isdigit() and
                                                       any(s.id == int(school) for s in schools) else None)
        return self.render_template(
            "zhongkao/info_list.html", title=self.title, exam=exam, page=page, schools=schools, q=q,
            school=school, info_state=state, photo=photo, print_school=print_school,
            info_states=[(m.value, m.label) for m in InfoState], collector=_collector(actor),
            may_confirm=_collector(actor) and self._can("can_confirm"),
            may_print=_collector(actor) and self._can("can_print"))

    # ------------------------------------------------------------ one candidate

    def _candidate(self, pk):
        if pk > MAX_ID:
            abort(404)
        return self._get(Candidate, pk)

    def _detail(self, c, values=None, errors=None, change_values=None, change_errors=None, status=200):
        actor = current_actor()
        collector = _collector(actor)
        from app.views.students import request_url
        open_req = info.open_change(db.session, c.id)
        rows = _field_rows(c)
        html = self.render_template(
            "zhongkao/info_edit.html", title=_("考生信息采集"), c=c, rows=rows,
            values=values or {name: value for name, _l_, _k, _ch, value, _m in rows}, errors=errors or {},
            change_values=change_values or {name: value for name, _l_, _k, _ch, value, _m in rows},
            change_errors=change_errors or {},
            ethnicity=tables.label("ethnicity", c.ethnicity), relation=tables.label("guardian_relation",
                                                                                      c.guardian_relation),
            hukou=info.display("hukou_code", c.hukou_code), mask=identity.mask,
            may_edit=collector and self._can("can_edit") and not c.locked,
            may_confirm=collector and self._can("can_confirm") and not c.locked,
            may_print=collector and self._can("can_print"),
            may_change=_is_school(actor) and self._can("can_request_change") and c.locked and open_req is None,
            may_issue=collector and self._can("can_issue_code"),
            open_req=open_req, open_url=request_url(open_req) if open_req is not None else None,
            open_rows=info._describe(open_req)[1:] if open_req is not None else [],
            photo_at=db.session.scalar(select(ZkPhoto.uploaded_at).where(ZkPhoto.candidate_id == c.id)),
            photo_rule=_("JPG 或 PNG，不超过 2 MB，至少 %(w)s×%(h)s 像素的竖幅正面免冠照；系统自动居中裁剪为 "
                         "%(sw)s×%(sh)s 标准尺寸。", w=info.PHOTO_MIN_W, h=info.PHOTO_MIN_H, sw=info.PHOTO_W,
                         sh=info.PHOTO_H))
        return html, status

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("list")
    def edit(self, pk):
        c = self._candidate(pk)
        if request.method == "GET":
            return self._detail(c)
        if not self._can("can_edit"):
            abort(403)
        values = _posted(c)
        changed, error = _call(info.update_info, pk, values, request.form.get("version"))
        if error is not None:
            db.session.expire_all()
            c = self._candidate(pk)
            return self._detail(c, values=values, errors={error.field or "_form": error.message}, status=422)
        flash(_("已保存 %(name)s 的信息", name=c.name) if changed else _("信息没有变化"), "success" if changed else "info")
        return redirect(url_for(".edit", pk=pk))

    @expose("/photo/<int:pk>")
    @has_access
    @permission_name("list")
    def photo(self, pk):
        c = self._candidate(pk)
        stored = info.photo(db.session, c.id)
        if stored is None:
            abort(404)
        resp = make_response(stored.data)
        resp.headers["Content-Type"] = stored.content_type
        resp.headers["Cache-Control"] = "private, no-store"  # a minor's photo: not kept by proxies
        return resp

    @expose("/upload/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("edit")
    def upload(self, pk):
        c = self._candidate(pk)
        upload = request.files.get("photo")
        filename = upload.filename if upload else ""
        data = upload.read(info.PHOTO_MAX_BYTES + 1) if upload else b""
        _stored, error = _call(info.save_photo, pk, filename, data)
        if error is None:
            flash(_("已保存 %(name)s 的照片（已裁剪为标准尺寸）", name=c.name), "success")
        return redirect(url_for(".edit", pk=pk))

    # ------------------------------------------------------------ confirm, print

    @expose("/confirm", methods=["POST"])
    @has_access
    @permission_name("confirm")
    def confirm(self):
        ids = _ids(request.form.getlist("rowid"))
        back = request.form.get("back") or url_for(".list")
        if not back.startswith("/"):
            back = url_for(".list")
        if not ids:
            flash(_("请先勾选考生"), "warning")
            return redirect(back)
        result, error = _call(info.confirm, ids)
        if error is None:
            if result["confirmed"]:
                flash(_("已记录 %(n)s 名考生的签字确认，信息已锁定", n=len(result["confirmed"])), "success")
            if result["already"]:
                flash(_("%(names)s 此前已签字确认，无需重复确认",
                        names=registration._names([c.name for c in result["already"]])), "info")
            if result["unchecked"]:
                flash(_("提醒：%(names)s 尚未在考生服务平台核对信息，已按签字的报名登记表确认",
                        names=registration._names([c.name for c in result["unchecked"]])), "warning")
        return redirect(back)

    @expose("/print", methods=["POST"])
    @has_access
    @permission_name("print")
    def print_forms(self):
        ids = _ids(request.form.getlist("rowid"))
        school = request.form.get("school") or None
        if school is not None:
            _ids([school])
        data, error = _call(forms.registration_forms_pdf, ids or None, school_id=None if ids else school)
        if error is not None:
            back = request.form.get("back") or ""
            return redirect(back if back.startswith("/") else url_for(".list"))
        name = f"报名登记表-{datetime.datetime.now():%Y%m%d%H%M}.pdf"
        resp = Response(data, mimetype="application/pdf")
        resp.headers["Content-Disposition"] = f"attachment; filename=forms.pdf; filename*=UTF-8''{quote(name)}"
        resp.headers["Cache-Control"] = "private, no-store"  # activation codes inside
        return resp

    # ------------------------------------------------------------ after the lock; activation

    @expose("/change/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("request_change")
    def change(self, pk):
        c = self._candidate(pk)
        values = _posted(c)
        files = [(f.filename, f.read()) for f in request.files.getlist("evidence") if f and f.filename]
        req, error = _call(info.request_change, pk, values, request.form.get("reason"), files)
        if error is not None:
            db.session.expire_all()
            c = self._candidate(pk)
            return self._detail(c, change_values=values, change_errors={error.field or "_form": error.message},
                                status=422)
        flash(_("已提交信息变更申请（申请号 %(id)s），待县级教育局审核；审核通过后自动更改", id=req.id), "success")
        return redirect(url_for(".edit", pk=pk))

    @expose("/activation/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("issue_code")
    def activation(self, pk):
        c = self._candidate(pk)
        code, error = _call(accounts.issue_activation_code, c)
        if error is not None:
            return redirect(url_for(".edit", pk=pk))
        resp = make_response(self.render_template("zhongkao/info_code.html", title=_("重新发放激活码"),
                                                  c=c, code=code))
        resp.headers["Cache-Control"] = "private, no-store"  # shown once; not kept in the browser's cache
        return resp


def register(appbuilder):
    appbuilder.add_view(ZkInfoView, "ZkInfo", label=_l("信息采集与确认"), icon="fa-id-card-o", **MENU)
