"""中考成绩 screens (menu 中招管理): 科目与总分 (province edits the subjects and the formula), 成绩管理
(import link, per-county/school list with search, statistics per subject — scores hidden before
publication for counties and schools), 成绩复核 (the county records each review's outcome).

Thin: every rule is in app/services/zhongkao/scores.py; posts go through call_service (another
county's review is a 404, any other refusal is flashed in Chinese with nothing written).

URLs
  /zksubjectview/list/                  subjects, formula, publication settings           can_list
  /zksubjectview/save         POST      edit or add a subject (province)                   can_save
  /zksubjectview/remove/<pk>  POST      remove a subject (province, before any score)      can_save
  /zkscoreview/list/?school=&q=&page=   scores of the scope, search, statistics             can_list
  /zkscorereviewview/list/?state=       reviews of the scope                               can_list
  /zkscorereviewview/decide/<pk> POST   record the outcome (county/city)                   can_decide
"""
from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from app.models.org import OrgKind, OrgUnit
from app.models.zhongkao import Candidate, ReviewState, SubjectKind
from app.services import scope
from app.services.context import current_actor
from app.services.errors import DomainError
from app.services.zhongkao import exams, scores
from app.views.base import call_service
from app.views.zhongkao import MENU

MAX_ID = 2 ** 31 - 1


def _id_or_404(value):
    text = str(value or "").strip()
    if text and (not text.isdigit() or int(text) > MAX_ID):
        abort(404)
    return text or None


class _ZkBase(BaseView):
    default_view = "list"

    def _exam(self):
        exam = exams.current_exam(db.session)
        return exam

    def _no_exam(self):
        return self.render_template("zhongkao/score_no_exam.html", title=self.title)


class ZkSubjectView(_ZkBase):
    """科目与总分: the year's subjects, weights, 等级 tables and the formula; the province edits."""

    route_base = "/zksubjectview"
    title = _l("科目与总分")

    @expose("/list/")
    @has_access
    def list(self):
        exam = self._exam()
        if exam is None:
            return self._no_exam()
        actor = current_actor()
        subs = scores.subjects(db.session, exam)
        window = scores.review_window(exam)
        return self.render_template(
            "zhongkao/score_subjects.html", title=self.title, exam=exam, subjects=subs,
            kinds=[(k.value, k.label) for k in SubjectKind], graded=SubjectKind.GRADED,
            tables={s.id: "；".join(f"{g}={p.normalize():f}" for g, p in scores.grade_table(s).items()) for s in subs},
            formula=scores.formula_text(db.session, exam), max_total=f"{scores.max_total(db.session, exam).normalize():f}",
            may_edit=scores.is_province(actor), locked=scores.has_scores(db.session, exam.id),
            published=exams.scores_published(exam), window=window,
            publish_text=scores.publish_text(exam))

    @expose("/save", methods=["POST"])
    @has_access
    @permission_name("save")
    def save(self):
        exam = self._exam()
        if exam is None:
            return redirect(url_for(".list"))
        f = request.form
        data = {k: f.get(k) for k in ("name", "kind", "max_score", "weight", "grade_table", "sort_order")
                if f.get(k) is not None}
        if f.get("id"):
            data["id"] = _id_or_404(f.get("id"))
        else:
            data["code"] = f.get("code", "")
        data["counts_in_total"] = f.get("counts_in_total") in ("1", "on", "y", "true")
        subject, error = call_service(scores.set_subject, exam.id, data)
        if error is None:
            flash(_("科目“%(name)s”已保存", name=subject.name), "success")
        return redirect(url_for(".list"))

    @expose("/remove/<pk>", methods=["POST"])
    @has_access
    @permission_name("save")
    def remove(self, pk):
        exam = self._exam()
        if exam is None:
            return redirect(url_for(".list"))
        subject, error = call_service(scores.remove_subject, exam.id, _id_or_404(pk))
        if error is None:
            flash(_("科目“%(name)s”已删除", name=subject.name), "success")
        return redirect(url_for(".list"))


class ZkScoreView(_ZkBase):
    """成绩管理: import, list and search, statistics per subject."""

    route_base = "/zkscoreview"
    title = _l("成绩管理")

    def _schools(self, actor, exam):
        """Schools of the scope that have candidates this year (for the filter)."""
        return db.session.execute(
            select(OrgUnit.id, OrgUnit.name, func.count(Candidate.id))
            .join(Candidate, Candidate.school_id == OrgUnit.id)
            .where(Candidate.exam_id == exam.id, scope.clause(actor, Candidate), OrgUnit.kind == OrgKind.SCHOOL)
            .group_by(OrgUnit.id, OrgUnit.name).order_by(OrgUnit.name)).all()

    @expose("/list/")
    @has_access
    def list(self):
        exam = self._exam()
        if exam is None:
            return self._no_exam()
        actor = current_actor()
        school = _id_or_404(request.args.get("school"))
        q = request.args.get("q", "")
        page = request.args.get("page", "1")
        page = int(page) if page.isdigit() and len(page) < 7 else 1
        try:
            table = scores.score_table(db.session, actor, exam, school_id=school, q=q, page=page)
            stats = scores.subject_stats(db.session, actor, exam, school_id=school)
        except DomainError as exc:  # a school outside the scope: the whole list instead
            db.session.rollback()
            flash(exc.message, "warning")
            return redirect(url_for(".list"))
        try:
            scores.check_importer(actor)
            scores.check_import_open(db.session, actor, exam)
            may_import = ("ImportView.upload" in current_app.view_functions
                          and self.appbuilder.sm.has_access("can_upload", "ImportView"))
        except DomainError:
            may_import = False
        return self.render_template(
            "zhongkao/score_list.html", title=self.title, exam=exam, t=table, stats=stats,
            schools=self._schools(actor, exam), school=school, q=q,
            may_import=may_import, publish_text=scores.publish_text(exam),
            published=exams.scores_published(exam), formula=scores.formula_text(db.session, exam),
            reviews_url=url_for("ZkScoreReviewView.list"))


class ZkScoreReviewView(_ZkBase):
    """成绩复核: the candidates' requests in scope; counties (and cities) record the outcome."""

    route_base = "/zkscorereviewview"
    title = _l("成绩复核")

    @expose("/list/")
    @has_access
    def list(self):
        exam = self._exam()
        if exam is None:
            return self._no_exam()
        actor = current_actor()
        state = request.args.get("state", "pending")
        try:
            chosen = ReviewState(state) if state else None
        except ValueError:
            chosen = ReviewState.PENDING
        rows = db.session.scalars(scores.reviews_query(actor, exam, chosen).limit(500)).all()
        try:
            scores._county_officer(actor, "成绩复核")
            may_decide = self.appbuilder.sm.has_access("can_decide", self.class_permission_name)
        except DomainError:
            may_decide = False
        return self.render_template(
            "zhongkao/score_reviews.html", title=self.title, exam=exam, rows=rows, state=state,
            states=[("pending", _("待复核")), ("changed", _("复核后更正")), ("unchanged", _("复核无误")), ("", _("全部"))],
            pending=ReviewState.PENDING, graded=SubjectKind.GRADED, may_decide=may_decide,
            window=scores.review_window(exam), show=scores.show_score)

    @expose("/decide/<pk>", methods=["POST"])
    @has_access
    @permission_name("decide")
    def decide(self, pk):
        review, error = call_service(scores.decide_review, _id_or_404(pk), request.form.get("new_score"),
                                     request.form.get("note"))
        if error is None:
            flash(_("已办结：%(who)s 的%(subject)s复核（%(outcome)s）", who=review.candidate.name,
                    subject=review.subject.name, outcome=review.state.label), "success")
        return redirect(url_for(".list", state=request.form.get("back_state", "pending")))


def register(appbuilder):
    appbuilder.add_view(ZkSubjectView, "ZkSubjects", label=_l("科目与总分"), icon="fa-calculator", **MENU)
    appbuilder.add_view(ZkScoreView, "ZkScores", label=_l("成绩管理"), icon="fa-bar-chart", **MENU)
    appbuilder.add_view(ZkScoreReviewView, "ZkScoreReviews", label=_l("成绩复核"), icon="fa-search-plus", **MENU)
