"""The demo's school year, for the first start: the current 学年 opened by the province, the class
names the demo students came with turned into 班级, head teachers (班主任) on some classes, and a few
schools on 五四制. Made through the services (the same rules as any officer); idempotent: a second
call finds everything done and changes nothing.

五四制 (5-year primary, 4-year junior) is given only to schools where it strands nobody: a 5-year
primary has no 六年级, so a school with students in grade 16 keeps 六三制 (orgs.update_unit refuses
it anyway). 九年一贯制 schools are preferred (the usual 五四制 school), then primary, then junior
schools; with the demo students every primary stage has a 六年级, so in practice the choice falls on
初级中学 (their 一至三年级 students stay valid in a 4-year junior; their 三年级 now graduates a year
later). Without demo students the 九年一贯制 schools are chosen.
"""
import datetime
import random
from bisect import bisect

from sqlalchemy import func, select

from app.models.account import Account
from app.models.org import OrgKind, OrgUnit, SchoolType
from app.models.school_year import SchoolClass
from app.models.student import Student, StudentStatus
from app.services import clock, demo_students, orgs, school_years
from app.services.context import acting_as
from app.services.errors import DomainError

FIVE_FOUR_SCHOOLS = 3
FIVE_FOUR = {"primary_years": 5, "junior_years": 4}
# 五四制 candidates, most natural first (types that teach a primary or junior stage).
FIVE_FOUR_PREFERENCE = (SchoolType.NINE_YEAR, SchoolType.PRIMARY, SchoolType.JUNIOR, SchoolType.TWELVE_YEAR,
                        SchoolType.COMPLETE_MIDDLE, SchoolType.SPECIAL)
STAYING = (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED, StudentStatus.REGISTERING)
HEAD_TEACHER_SEED = "2026:head-teachers"


def _account(session, username):
    return session.scalar(select(Account).where(Account.username == username))


def _open_current_year(session, sheng, today):
    """The school year that today belongs to (2026-2027学年 in November 2026), default time point
    8月10日24时; None when it is there already."""
    if school_years.current_year(session, today) is not None:
        return None
    start = school_years.year_start_of(today)
    if school_years.year_by_start(session, start) is not None:
        return None
    return school_years.open_year(session, sheng, {"start_year": start,
                                                   "promotion_at": f"{start + 1}-08-10 24:00"})


def _five_four(session, root, limit=FIVE_FOUR_SCHOOLS):
    """Up to `limit` schools on 五四制 in all (those already on it count); only schools without
    students in 六年级 (grade 16) or a 六年级 class. Returns the schools changed now."""
    already = session.scalar(select(func.count()).select_from(OrgUnit).where(
        OrgUnit.path.startswith(root), OrgUnit.kind == OrgKind.SCHOOL,
        (OrgUnit.primary_years == 5) | (OrgUnit.junior_years == 4)))
    if already >= limit:
        return []
    sixth_grade = select(Student.school_id).where(Student.grade == "16", Student.status.in_(STAYING))
    sixth_class = select(SchoolClass.school_id).where(SchoolClass.grade == "16", SchoolClass.active.is_(True))
    candidates = sorted(session.scalars(select(OrgUnit).where(
        OrgUnit.path.startswith(root), OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.active.is_(True),
        OrgUnit.school_type.in_(FIVE_FOUR_PREFERENCE), OrgUnit.primary_years.is_(None),
        OrgUnit.junior_years.is_(None), OrgUnit.id.not_in(sixth_grade), OrgUnit.id.not_in(sixth_class))),
        key=lambda u: (FIVE_FOUR_PREFERENCE.index(u.school_type), u.path))
    changed = []
    for school in candidates:
        if already + len(changed) >= limit:
            break
        county = _account(session, f"county_{school.parent.region_code}") if school.parent is not None else None
        if county is None:
            continue
        try:
            with session.begin_nested():  # a refusal leaves the school as it was
                orgs.update_unit(session, county, school.id, **FIVE_FOUR)
        except DomainError:
            continue
        changed.append(school)
    return changed


def _teacher_name(rng):
    cum = demo_students.SURNAME_CUM
    surname = demo_students.SURNAMES[bisect(cum, rng.random() * cum[-1])]
    chars = demo_students.MAN_CHARS if rng.random() < 0.35 else demo_students.WOMAN_CHARS
    return surname + demo_students._given(rng, chars, 0.3)


def _sample_schools(session, root):
    """The schools of the first city's first two counties: those of the accounts run.py prints."""
    city = session.scalars(select(OrgUnit).where(OrgUnit.path.startswith(root), OrgUnit.kind == OrgKind.CITY)
                           .order_by(OrgUnit.path)).first()
    if city is None:
        return []
    counties = session.scalars(select(OrgUnit).where(OrgUnit.parent_id == city.id, OrgUnit.kind == OrgKind.COUNTY)
                               .order_by(OrgUnit.path).limit(2)).all()
    return session.scalars(select(OrgUnit).where(
        OrgUnit.parent_id.in_([c.id for c in counties]), OrgUnit.kind == OrgKind.SCHOOL)
        .order_by(OrgUnit.path)).all() if counties else []


def _head_teachers(session, root):
    """Every class of the sample schools gets a 班主任, set by the school's own account; the other
    schools' classes are left without (what an unfinished 班级设置 looks like)."""
    set_now = 0
    for school in _sample_schools(session, root):
        user = _account(session, f"school_{school.school_code}")
        classes = [c for c in school_years.classes_of(session, school) if not c.head_teacher]
        if user is None or not classes:
            continue
        rng = random.Random(f"{HEAD_TEACHER_SEED}:{school.school_code}")
        for cls in classes:
            school_years.update_class(session, user, cls.id, {"head_teacher": _teacher_name(rng)})
            set_now += 1
    return set_now


def seed(session, province_code="360000", today=None):
    """Returns what was done now ({year, classes, linked, head_teachers, five_four}) or None when
    there was nothing to do (the demo has no province, or a previous call did it all)."""
    root = f"/{province_code}/"
    sheng = _account(session, "sheng_admin")
    province = session.scalar(select(OrgUnit).where(OrgUnit.path == root))
    if sheng is None or province is None:
        return None
    today = today or clock.today()
    with acting_as(sheng, reason="演示数据：学年与班级"):
        year = _open_current_year(session, sheng, today)
        five_four = _five_four(session, root)
        made, linked = school_years.adopt_class_names(session, root, today)
        teachers = _head_teachers(session, root)
        session.flush()
    session.commit()
    if year is None and not five_four and not made and not linked and not teachers:
        return None
    current = school_years.current_year(session, today)
    return {"year": current, "opened": year is not None, "classes": made, "linked": linked,
            "head_teachers": teachers, "five_four": five_four}


def time_point_label(at):
    """2027-08-11 00:00 → '2027年8月10日24时' (as the guide says it); other times as they are."""
    if at.hour == 0 and at.minute == 0:
        day = at.date() - datetime.timedelta(days=1)
        return f"{day.year}年{day.month}月{day.day}日24时"
    return f"{at.year}年{at.month}月{at.day}日{at.hour}时{at.minute:02d}分"


def describe(result):
    """The one line run.py prints."""
    year = result["year"]
    opened = f"{year.name}（升级时点 {time_point_label(year.promotion_at)}）" if year is not None else "—"
    five_four = "、".join(s.name for s in result["five_four"]) or "无"
    return (f"演示学年已建立：{opened}；按学籍中的班级名称建班 {result['classes']} 个，{result['linked']} 名学生已分班；"
            f"{result['head_teachers']} 个班级已设班主任；五四制学校：{five_four}")
