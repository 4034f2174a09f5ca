"""学生分班 screen (招生入学): the school's new students without a class, put into the classes of
their first grade by hand or automatically, with a preview of the balance before anything is
written, and printable class lists.

Thin, like every screen: the rules (whose students and classes, which grades, 额定人数, 重复招生,
the balancing, the seed, whether the preview is still valid) live in
app/services/class_assignment.py. Every post goes through `call_service`: a class or student of
another school is a 404, any other refusal is flashed in Chinese and nothing is written.

URLs
  /classassignmentview/list/?grade=        待分班 students (left) and the grade's classes (right)   can_list
  /classassignmentview/assign      POST    手工分班: the ticked students into one class             can_assign
  /classassignmentview/capacity/<pk> POST  额定人数 of a class                                      can_assign
  /classassignmentview/preview     POST    自动分班 preview: the balance per class, the list         can_assign
  /classassignmentview/apply       POST    确认分班 (with the preview's token)                      can_assign
  /classassignmentview/roster/<pk>         the printable list of one class                         can_list
  /classassignmentview/print?grade=        every class of the grade on one print page              can_list
"""
from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.services import class_assignment, grades, school_years
from app.services.context import current_actor
from app.views.base import call_service
from app.views.graduation import MAX_ID
from app.views.school_year import _is_school


def _flag(name):
    return request.form.get(name) in ("1", "on", "true", "y")


def _no_huge_ids(*values):
    """An id beyond the column's range names no class or student: a 404 like any other unknown id
    (the database would refuse the number itself). Malformed ones are the service's to refuse."""
    for value in values:
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            text = str(v or "").strip()
            if text.isdigit() and int(text) > MAX_ID:
                abort(404)


class ClassAssignmentView(BaseView):
    """学生分班: a school's 学籍管理员 places its new students; other accounts are told where to look."""

    route_base = "/classassignmentview"
    default_view = "list"
    title = _l("学生分班")

    def _can(self, permission):
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    def _refused(self, status=403):
        """Superiors and read-only accounts: what this screen is and where they can look (the menu
        entry opens it, so the page itself is a 200; a post is a 403)."""
        return self.render_template("class_assignment/refused.html", title=self.title), status

    def _grade(self, school, value):
        firsts = class_assignment.first_grades(school)
        value = (value or "").strip()
        if value in firsts:
            return value
        return firsts[0] if firsts else None

    # ------------------------------------------------------------ the page

    @expose("/list/")
    @has_access
    def list(self):
        actor = current_actor()
        if not _is_school(actor):
            return self._refused(200)
        return self._page(actor, request.args.get("grade"), {})

    def _page(self, actor, grade, form):
        school = actor.org_unit
        firsts = class_assignment.first_grades(school)
        grade = self._grade(school, grade)
        pending = class_assignment.pending_students(db.session, actor, school, grade) if grade else []
        classes = class_assignment.class_rows(db.session, school, grade) if grade else []
        db.session.commit()  # nothing written but the read is over
        chosen = set(form.get("class_ids") or [str(r["cls"].id) for r in classes])
        ticked = set(form.get("student_ids") or [])
        return self.render_template(
            "class_assignment/list.html", title=self.title, school=school, grade=grade,
            grade_label=grades.grade_label(grade) if grade else "",
            grade_choices=[(g, grades.grade_label(g) or g) for g in firsts], pending=pending, classes=classes,
            chosen=chosen, ticked=ticked, form=form, may_assign=self._can("can_assign"),
            boys=sum(1 for p in pending if p["gender"] == "1"),
            blocked=sum(1 for p in pending if p["blocked"]))

    def _back(self, grade):
        return redirect(url_for(".list", grade=grade or None))

    # ------------------------------------------------------------ 手工分班, 额定人数

    @expose("/assign", methods=["POST"])
    @has_access
    @permission_name("assign")
    def assign(self):
        if not _is_school(current_actor()):
            return self._refused()
        grade = request.form.get("grade")
        ids = request.form.getlist("student_id")
        if not ids:
            flash(_("请先勾选要分班的学生"), "danger")
            return self._back(grade)
        _no_huge_ids(ids, request.form.get("target_class"))
        done, error = call_service(class_assignment.assign, request.form.get("target_class"), ids)
        if error is None:
            flash(_("已将 %(n)s 名学生分入%(cls)s", n=len(done), cls=self._class_name(done)), "success")
        return self._back(grade)

    @staticmethod
    def _class_name(students):
        from app.models.school_year import SchoolClass
        cls = db.session.get(SchoolClass, students[0].class_id) if students and students[0].class_id else None
        return class_assignment.class_label(cls) if cls is not None else ""

    @expose("/capacity/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("assign")
    def capacity(self, pk):
        _no_huge_ids(pk)
        grade = request.form.get("grade")
        cls, error = call_service(school_years.update_class, pk, {"capacity": request.form.get("capacity", "")},
                                  request.form.get("version"))
        if error is None:
            if cls.capacity is None:
                flash(_("%(cls)s不限额定人数", cls=class_assignment.class_label(cls)), "success")
            else:
                flash(_("%(cls)s额定人数已设为 %(n)s 人", cls=class_assignment.class_label(cls), n=cls.capacity),
                      "success")
        return self._back(grade)

    # ------------------------------------------------------------ 自动分班

    def _auto_args(self):
        f = request.form
        only_ticked = f.get("scope") == "ticked"
        _no_huge_ids(f.getlist("class_id"), f.getlist("student_id") if only_ticked else [])
        return {
            "grade": (f.get("grade") or "").strip(),
            "class_ids": f.getlist("class_id"),
            "seed": (f.get("seed") or "").strip(),
            "balance_scores": _flag("balance_scores"),
            "spread_origin": _flag("spread_origin"),
            "student_ids": f.getlist("student_id") if only_ticked else None,
        }

    @expose("/preview", methods=["POST"])
    @has_access
    @permission_name("assign")
    def preview(self):
        actor = current_actor()
        if not _is_school(actor):
            return self._refused()
        args = self._auto_args()
        result, error = call_service(class_assignment.plan, None, args["grade"], args["class_ids"], args["seed"],
                                     args["balance_scores"], args["spread_origin"], args["student_ids"])
        if error is not None:
            form = {"class_ids": args["class_ids"], "student_ids": args["student_ids"] or [],
                    "seed": args["seed"], "balance_scores": args["balance_scores"],
                    "spread_origin": args["spread_origin"], "scope": request.form.get("scope"),
                    "error": error.message}
            return self._page(actor, args["grade"], form)
        return self.render_template("class_assignment/preview.html", title=_("自动分班预览"), p=result)

    @expose("/apply", methods=["POST"])
    @has_access
    @permission_name("assign")
    def apply(self):
        if not _is_school(current_actor()):
            return self._refused()
        args = self._auto_args()
        result, error = call_service(class_assignment.apply, None, args["grade"], args["class_ids"], args["seed"],
                                     args["balance_scores"], args["spread_origin"], args["student_ids"],
                                     request.form.get("token"))
        if error is None:
            flash(_("分班完成：%(n)s 名学生已分入 %(k)s 个班（随机种子 %(seed)s）", n=result["count"],
                    k=sum(1 for r in result["classes"] if r["added"]), seed=result["seed"]), "success")
            return redirect(url_for(".list", grade=result["grade"], done=1))
        return self._back(args["grade"])

    # ------------------------------------------------------------ printable lists

    @expose("/roster/<int:pk>")
    @has_access
    @permission_name("list")
    def roster(self, pk):
        _no_huge_ids(pk)
        r, error = call_service(class_assignment.roster, pk)  # commits the audit of full 学籍号 shown
        if error is not None:
            return redirect(url_for(".list"))
        return self.render_template("class_assignment/print.html", title=_("%(cls)s学生名单", cls=r["name"]),
                                    school=r["school"], rosters=[r],
                                    back=url_for(".list", grade=r["cls"].grade))

    @expose("/print")
    @has_access
    @permission_name("list")
    def print_grade(self):
        _no_huge_ids(request.args.get("school"))
        result, error = call_service(class_assignment.grade_rosters, request.args.get("school"),
                                     request.args.get("grade"))
        if error is not None:
            return redirect(url_for(".list"))
        school, rosters = result
        grade = request.args.get("grade")
        return self.render_template(
            "class_assignment/print.html", title=_("%(grade)s分班名单", grade=grades.grade_label(grade) or grade),
            school=school, rosters=rosters, back=url_for(".list", grade=grade))
