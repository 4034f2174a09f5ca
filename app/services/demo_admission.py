"""The demo's admission season (招生入学), for the first start: officers can run it on the screens.

- The admission year: admissions.admission_year at the demo's today (the year starting this summer;
  on a first start between September and June that is the year demo_school_year opened; in July and
  August the province opens the next one, as it does before the season).
- 招生计划数: every active school that may enroll and teaches an entry grade (初中一年级, 高中一年级,
  中职一年级) gets a plan for each such grade, set by its county's account. The quota follows the
  school's current entry-grade size (at least 30 students, plus a fifth, rounded up to ten).
- Graduates waiting for admission: in every county one class of the primary stage's final grade
  (六年级, or 五年级 on 五四制) of one school, graduated through graduation.graduate by that school's
  own account; and one class of a junior school's final grade (初中毕业班) in the first county
  → graduates to be admitted by senior schools. A class whose students have 在办业务 or unsettled
  问题学籍 (the demo's 异动 and 问题学籍 seeds) is passed over for the next one: graduation refuses it.

Made through the services, with the same rules as any officer; idempotent: a county that already
has primary graduates, or a province that already has junior graduates, is left alone, and an
existing plan is never changed, so a second call changes nothing (and returns None).
"""
import math

from sqlalchemy import func, select

from app.models.account import Account
from app.models.admission import EnrollmentPlan
from app.models.org import OrgKind, OrgUnit
from app.models.school_year import Graduation, GraduationState, SchoolClass
from app.models.student import Student, StudentStatus
from app.services import admissions, clock, grades, graduation, school_years
from app.services.context import acting_as
from app.services.errors import DomainError

MIN_QUOTA = 30


def _account(session, username):
    return session.scalar(select(Account).where(Account.username == username))


def _season_year(session, sheng, today):
    """(the admission year, whether it was opened now)."""
    year = admissions.admission_year(session, today, required=False)
    if year is not None:
        return year, False
    start = today.year if today.month >= 7 else today.year - 1
    return school_years.open_year(session, sheng, {"start_year": start}), True


def quota_for(current):
    return int(math.ceil(max(current, MIN_QUOTA) * 1.2 / 10) * 10)


def _plans(session, root, year):
    """Plans for every entry grade of every school that may enroll; returns the number made."""
    schools = session.scalars(select(OrgUnit).where(
        OrgUnit.path.startswith(root), OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.active.is_(True),
        OrgUnit.may_enroll.is_(True)).order_by(OrgUnit.path)).all()
    entry = tuple(admissions.ENTRY_GRADES.values())
    current = {(r.school_id, r.grade): r.n for r in session.execute(
        select(Student.school_id, Student.grade, func.count().label("n"))
        .join(OrgUnit, OrgUnit.id == Student.school_id)
        .where(OrgUnit.path.startswith(root), Student.grade.in_(entry), Student.status == StudentStatus.IN_SCHOOL)
        .group_by(Student.school_id, Student.grade))}
    have = set(session.execute(select(EnrollmentPlan.school_id, EnrollmentPlan.grade)
                               .where(EnrollmentPlan.year_id == year.id)).all())
    made, counties = 0, {}
    for school in schools:
        wanted = [g for g in admissions.entry_grades_of(school) if (school.id, g) not in have]
        if not wanted:
            continue
        if school.parent_id not in counties:
            county = admissions._county_of(session, school)
            counties[school.parent_id] = _account(session, f"county_{county.region_code}") if county else None
        officer = counties[school.parent_id]
        if officer is None:
            continue
        for grade in wanted:
            admissions.set_plan(session, officer, school.id, grade, quota_for(current.get((school.id, grade), 0)),
                                year_id=year.id)
            made += 1
    return made


def _graduate_a_class(session, schools, stage, today):
    """The first class of the stage's final grade, in path order, that graduates without being
    refused: (school, class, students) or None."""
    for school in schools:
        final = next((g for g in grades.final_grades(school) if grades.stage_of(g) == stage), None)
        user = _account(session, f"school_{school.school_code}") if final else None
        if user is None:
            continue
        classes = session.scalars(select(SchoolClass).where(
            SchoolClass.school_id == school.id, SchoolClass.grade == final, SchoolClass.active.is_(True))
            .order_by(SchoolClass.class_no, SchoolClass.id)).all()
        for cls in classes:
            try:
                with session.begin_nested():  # refused (在办业务, 问题学籍, empty): as it was
                    done = graduation.graduate(session, user, class_ids=[cls.id], today=today)
            except DomainError:
                continue
            return school, cls, done
    return None


def _has_graduates(session, path, stage):
    return bool(session.scalar(select(func.count()).select_from(Graduation).where(
        Graduation.school_path.startswith(path), Graduation.stage == stage,
        Graduation.state == GraduationState.GRADUATED)))


def _schools_of(session, county):
    return session.scalars(select(OrgUnit).where(
        OrgUnit.path.startswith(county.path), OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.active.is_(True))
        .order_by(OrgUnit.path)).all()


def _graduates(session, root, today):
    """One primary class per county, one junior class in the first county that has one."""
    done = []
    counties = session.scalars(select(OrgUnit).where(OrgUnit.path.startswith(root), OrgUnit.kind == OrgKind.COUNTY)
                               .order_by(OrgUnit.path)).all()
    for county in counties:
        if _has_graduates(session, county.path, grades.STAGE_PRIMARY):
            continue
        got = _graduate_a_class(session, _schools_of(session, county), grades.STAGE_PRIMARY, today)
        if got:
            done.append(got)
    if not _has_graduates(session, root, grades.STAGE_JUNIOR):
        for county in counties:
            got = _graduate_a_class(session, _schools_of(session, county), grades.STAGE_JUNIOR, today)
            if got:
                done.append(got)
                break
    return done


def seed(session, province_code="360000", today=None):
    """Returns what was done now ({year, opened, plans, classes: [(school, class, students)]}) or
    None when there was nothing to do (no demo province, or a previous call did it all)."""
    root = f"/{province_code}/"
    sheng = _account(session, "sheng_admin")
    province = session.scalar(select(OrgUnit).where(OrgUnit.path == root))
    if sheng is None or province is None:
        return None
    today = today or clock.today()
    with acting_as(sheng, reason="演示数据：招生入学"):
        year, opened = _season_year(session, sheng, today)
        plans = _plans(session, root, year)
        classes = _graduates(session, root, today)
        session.flush()
    session.commit()
    if not opened and not plans and not classes:
        return None
    return {"year": year, "opened": opened, "plans": plans, "classes": classes}
