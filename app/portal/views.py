"""考生服务平台 routes. Thin: read the form, call a service, flash its Chinese message.
Every page shows only the signed-in candidate's own data (g.zk_candidate); there is no id to try."""
import functools

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select

from app.codes import tables
from app.extensions import db
from app.models.zhongkao import InfoState, QualState, ZkScoreReview
from app.portal import bp, limiter, rate_limit, refresh_stamp, sign_in, sign_out
from app.services import clock, identity
from app.services.errors import DomainError
from app.services.zhongkao import accounts, exams


# One budget per IP for both forms: guessing codes or passwords across many 报名号 is throttled.
auth_limit = limiter.shared_limit(rate_limit, scope="zk-portal-auth", methods=["POST"])


def candidate_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.zk_candidate is None:
            flash(_("请先登录考生服务平台"), "warning")
            return redirect(url_for("portal.login"))
        return view(*args, **kwargs)
    return wrapper


def _fail(exc):
    """A refused attempt keeps its failure count (accounts.Refused); any other error changes nothing."""
    if isinstance(exc, accounts.Refused):
        db.session.commit()
    else:
        db.session.rollback()
    flash(exc.message, "danger")


# ---------------------------------------------------------------- sign in / activate / out

@bp.route("/login", methods=["GET", "POST"])
@auth_limit
def login():
    if g.zk_candidate is not None and request.method == "GET":
        return redirect(url_for("portal.home"))
    reg_no = (request.form.get("reg_no") or "").strip()
    if request.method == "POST":
        try:
            candidate = accounts.authenticate(db.session, reg_no, request.form.get("password") or "")
        except DomainError as exc:
            _fail(exc)
        else:
            db.session.commit()
            sign_in(candidate)
            return redirect(url_for("portal.home"))
    return render_template("portal/login.html", reg_no=reg_no)


@bp.route("/activate", methods=["GET", "POST"])
@auth_limit
def activate():
    form = {k: (request.form.get(k) or "").strip() for k in ("reg_no", "id_number")}
    if request.method == "POST":
        try:
            candidate = accounts.activate(db.session, form["reg_no"], form["id_number"], request.form.get("code"),
                                          request.form.get("password") or "", request.form.get("confirm") or "",
                                          ip=request.remote_addr)
        except DomainError as exc:
            _fail(exc)
        else:
            db.session.commit()
            sign_in(candidate)
            flash(_("账号已激活，密码设置成功。请牢记密码，不要告诉他人。"), "success")
            return redirect(url_for("portal.home"))
    return render_template("portal/activate.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    sign_out()
    flash(_("您已退出考生服务平台"), "info")
    return redirect(url_for("portal.login"))


# ---------------------------------------------------------------- my data

def _rows(c):
    """The registration data as (label, value) rows, codes shown with their names."""
    relation = tables.label("guardian_relation", c.guardian_relation) if c.guardian_relation else ""
    guardian = (c.guardian_name or "") + (f"（{relation}）" if relation and c.guardian_name else "")
    return [
        (_l("姓名"), c.name),
        (_l("性别"), identity.GENDER_NAMES.get(str(c.gender), c.gender)),
        (_l("出生日期"), f"{c.birth_date:%Y-%m-%d}" if c.birth_date else ""),
        (_l("身份证号"), identity.mask(c.id_number)),
        (_l("报名号"), c.reg_no),
        (_l("报名学校"), c.school.name if c.school else ""),
        (_l("班级"), c.class_name or ""),
        (_l("毕业学校"), c.graduated_school_name or ""),
        (_l("考生类别"), f"{c.category.label}　{c.hukou_kind.label}　{c.intent.label}"),
        (_l("联系电话"), c.phone or ""),
        (_l("监护人"), guardian),
        (_l("监护人电话"), c.guardian_phone or ""),
        (_l("户籍地址"), c.hukou_address or ""),
        (_l("家庭住址"), c.home_address or ""),
    ]


def _seat(c):
    if c.room is None or not c.exam_no:
        return None
    site = c.room.site
    return {"exam_no": c.exam_no, "site": str(site), "address": site.address or "",
            "room": str(c.room), "location": c.room.location or "", "seat": c.seat_no}


@bp.route("/")
@candidate_required
def home():
    c = g.zk_candidate
    from app.services.zhongkao import scores as score_service
    published = exams.scores_published(c.exam)
    return render_template(
        "portal/home.html", c=c, rows=[r for r in _rows(c) if r[1]], seat=_seat(c),
        timetable=exams.timetable_rows(c.exam) if c.exam_no else [],
        total=c.total_score if published else None, published=published,
        publish_text=None if published else score_service.publish_text(c.exam),
        can_check=c.info_state == InfoState.COLLECTING, InfoState=InfoState,
        qual_note=c.qual_note if c.qual_state == QualState.REJECTED else None)


@bp.route("/check", methods=["POST"])
@candidate_required
def check():
    from app.services.zhongkao import info
    try:
        info.candidate_check(db.session, g.zk_candidate)
        db.session.commit()
        flash(_("已记录：您已核对信息无误。请等待学校打印《报名登记表》，由您和监护人签字确认。"), "success")
    except DomainError as exc:
        _fail(exc)
    return redirect(url_for("portal.home"))


@bp.route("/photo/<int:candidate_id>")
@candidate_required
def photo(candidate_id):
    if candidate_id != g.zk_candidate.id:
        abort(404)  # only one's own photo; nothing tells whether another id exists
    from app.services.zhongkao import info
    stored = info.photo(db.session, g.zk_candidate.id)
    if stored is None:
        abort(404)
    return Response(stored.data, mimetype=stored.content_type,
                    headers={"Cache-Control": "private, no-store"})


# ---------------------------------------------------------------- scores and 复核

@bp.route("/scores")
@candidate_required
def scores():
    from app.services.zhongkao import scores as score_service
    c = g.zk_candidate
    try:
        result = score_service.portal_scores(db.session, c)
    except DomainError as exc:
        return render_template("portal/scores.html", c=c, result=None, message=exc.message)
    reviews = db.session.scalars(select(ZkScoreReview).where(ZkScoreReview.candidate_id == c.id)
                                 .order_by(ZkScoreReview.created_at.desc())).all()
    window = score_service.review_window(c.exam)
    return render_template("portal/scores.html", c=c, result=result, message=None,
                           subjects=score_service.subjects(db.session, c.exam), reviews=reviews,
                           review_closes=window[1] if window else None,
                           review_open=window is not None and clock.today() <= window[1])


@bp.route("/scores/review", methods=["POST"])
@candidate_required
def review():
    from app.services.zhongkao import scores as score_service
    subject_id = request.form.get("subject_id") or ""
    if not subject_id.isdigit() or len(subject_id) > 12:
        flash(_("请选择要复核的科目"), "danger")
        return redirect(url_for("portal.scores"))
    try:
        score_service.request_review(db.session, g.zk_candidate, int(subject_id),
                                     (request.form.get("reason") or "").strip())
        db.session.commit()
        flash(_("复核申请已提交，结果将在本页显示。"), "success")
    except DomainError as exc:
        _fail(exc)
    return redirect(url_for("portal.scores"))


# ---------------------------------------------------------------- password

@bp.route("/password", methods=["GET", "POST"])
@candidate_required
def password():
    if request.method == "POST":
        try:
            accounts.change_password(db.session, g.zk_candidate, request.form.get("old_password") or "",
                                     request.form.get("password") or "", request.form.get("confirm") or "")
            db.session.commit()
            refresh_stamp(g.zk_candidate)  # this session stays; others end (their stamp is stale)
            flash(_("密码已修改"), "success")
            return redirect(url_for("portal.home"))
        except DomainError as exc:
            _fail(exc)
    return render_template("portal/password.html", c=g.zk_candidate)
