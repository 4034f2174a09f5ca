"""学年学期 and 班级.

The province opens school years (2026-2027学年) with their terms and the 升级 time point; which
year is current follows from the dates. Each school's classes are cohorts (2026级1班) of one stage;
a class's grade moves up with the promotion and it retires when it graduates. Students are put in
classes one by one or in bulk; class names that came with records (imports, the previous system)
are turned into classes by `adopt_class_names`, set-based.
"""
import datetime
import re

from sqlalchemy import Integer, false, func, insert, select, true, update

from app.models.org import OrgKind, OrgUnit
from app.models.school_year import SchoolClass, SchoolTerm, SchoolYear, TermKind
from app.models.student import Student, StudentStatus
from app.services import audit, clock, grades, scope
from app.services.context import with_actor
from app.services.dates import parse_date
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_PROVINCE, RANK_SCHOOL, actor_rank

MAX_CLASSES_PER_GRADE = 60
MAX_CAPACITY = 80  # 额定人数 of a class
DATE_HINT = "格式应为 年-月-日（如 2026-09-01）"
CLASS_STATUSES = (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED)


def _year_scope(actor):
    # Every unit works by the province's calendar: school years are visible to all accounts.
    return true() if getattr(actor, "org_unit", None) is not None else false()


def _term_scope(actor):
    return _year_scope(actor)


def _class_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        return false()
    return SchoolClass.school_id.in_(select(OrgUnit.id).where(OrgUnit.path.startswith(prefix)))


scope.register(SchoolYear, _year_scope)
scope.register(SchoolTerm, _term_scope)
scope.register(SchoolClass, _class_scope)


# ---------------------------------------------------------------- school years and terms

def year_start_of(day):
    """The school year a day belongs to: 1 September starts it (1–8月 belong to the previous one)."""
    return day.year if day.month >= 9 else day.year - 1


def default_promotion_at(start_year):
    """8月10日24时 of the year's end, as the 2014 guide's time point."""
    return datetime.datetime(start_year + 1, 8, 11, 0, 0)


def current_year(session, today=None):
    today = today or clock.today()
    return session.scalar(select(SchoolYear).where(SchoolYear.starts_on <= today, SchoolYear.ends_on >= today))


def year_by_start(session, start_year):
    return session.scalar(select(SchoolYear).where(SchoolYear.start_year == start_year))


def _province_actor(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.PROVINCE or actor_rank(actor) > RANK_PROVINCE:
        raise PermissionDenied(f"只有省级管理员可以{doing}")
    return unit


def _int(value, label, field, low=None, high=None):
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainError(f"{label}须为整数", field=field)
    if (low is not None and n < low) or (high is not None and n > high):
        raise DomainError(f"{label}须在 {low} 至 {high} 之间", field=field)
    return n


def parse_time_point(value, field="promotion_at"):
    """'2027-08-10 24:00' (the guide's way of saying the end of 10 August), '2027-08-11 00:00',
    '2027-08-10T23:30' or a datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value.replace(second=0, microsecond=0)
    text = str(value).strip().replace("T", " ")
    m = re.fullmatch(r"(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?\s*(\d{1,2})?(?:[:时](\d{1,2}))?分?", text)
    if not m:
        raise DomainError("升级时点格式应为 年-月-日 时:分，例如 2027-08-10 24:00", field=field)
    y, mo, d, h, mi = (int(x) if x else 0 for x in m.groups())
    try:
        base = datetime.datetime(y, mo, d)
    except ValueError:
        raise DomainError("升级时点不是有效的日期", field=field)
    if h > 24 or mi > 59 or (h == 24 and mi):
        raise DomainError("升级时点的时刻无效（0:00 至 24:00）", field=field)
    return base + datetime.timedelta(hours=h, minutes=mi)


def time_point_text(when):
    """The form's way of writing it, which parse_time_point reads back: "2027-08-10 24:00"."""
    if when is None:
        return ""
    if when.hour == 0 and when.minute == 0:
        return f"{when - datetime.timedelta(days=1):%Y-%m-%d} 24:00"
    return f"{when:%Y-%m-%d %H:%M}"


def time_point_label(when):
    """As the guide writes it: midnight is the end of the previous day ("2027年8月10日24时")."""
    if when is None:
        return ""
    if when.hour == 0 and when.minute == 0:
        day = when - datetime.timedelta(days=1)
        return f"{day.year}年{day.month}月{day.day}日24时"
    return f"{when.year}年{when.month}月{when.day}日{when.hour}时{when.minute:02d}分" if when.minute else \
        f"{when.year}年{when.month}月{when.day}日{when.hour}时"


def _clean_year(data, start_year):
    starts_on = parse_date(data.get("starts_on"), "学年开始日期" + DATE_HINT, "starts_on") if data.get("starts_on") else \
        datetime.date(start_year, 9, 1)
    ends_on = parse_date(data.get("ends_on"), "学年结束日期" + DATE_HINT, "ends_on") if data.get("ends_on") else \
        datetime.date(start_year + 1, 8, 31)
    if ends_on <= starts_on:
        raise DomainError("学年结束日期须晚于开始日期", field="ends_on")
    if not (start_year - 1 <= starts_on.year <= start_year) or ends_on.year not in (start_year + 1, start_year + 2):
        raise DomainError(f"日期与 {start_year}-{start_year + 1}学年 不符", field="starts_on")
    promotion_at = parse_time_point(data["promotion_at"]) if data.get("promotion_at") else \
        default_promotion_at(start_year)
    if not (starts_on < promotion_at.date() <= ends_on + datetime.timedelta(days=1)):
        raise DomainError("升级时点须在本学年之内（通常为暑假中，例如 8月10日24时）", field="promotion_at")
    return starts_on, ends_on, promotion_at


@with_actor
def open_year(session, actor, data):
    """The province opens a school year with its two terms (秋季学期 9月–1月, 春季学期 2月–8月)."""
    unit = _province_actor(actor, "设置学年学期")
    start_year = _int(data.get("start_year"), "学年起始年份", "start_year", 2000, 2100)
    if year_by_start(session, start_year) is not None:
        raise DomainError(f"{start_year}-{start_year + 1}学年已设置，不能重复设置", field="start_year")
    starts_on, ends_on, promotion_at = _clean_year(data, start_year)
    overlap = session.scalar(select(SchoolYear).where(SchoolYear.starts_on <= ends_on, SchoolYear.ends_on >= starts_on))
    if overlap is not None:
        raise DomainError(f"日期与{overlap.name}重叠", field="starts_on")
    year = SchoolYear(start_year=start_year, starts_on=starts_on, ends_on=ends_on, promotion_at=promotion_at,
                      org_unit=unit, org_unit_id=unit.id, created_at=clock.now())
    spring = datetime.date(start_year + 1, 2, 1)
    year.terms = [SchoolTerm(kind=TermKind.AUTUMN, starts_on=starts_on, ends_on=spring - datetime.timedelta(days=1)),
                  SchoolTerm(kind=TermKind.SPRING, starts_on=spring, ends_on=ends_on)]
    session.add(year)
    session.flush()
    _after_time_point_change(session)
    return year


def _check_version(row, expected_version):
    if expected_version in (None, ""):
        return
    if not str(expected_version).strip().isdigit() or int(expected_version) != row.version:
        raise DomainError("该记录已被他人修改，请刷新后重试")


def ids_of(values, what="学生"):
    """Ids from a form/API list; anything that is not a number is refused (not silently skipped)."""
    out = set()
    for v in values or ():
        text = str(v).strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 12:  # beyond any row id (and SQLite's 64-bit integers)
            raise DomainError(f"{what}编号“{text[:20]}”无效")
        out.add(int(text))
    return sorted(out)


@with_actor
def update_year(session, actor, year_id, data, expected_version=None):
    """Dates and the 升级时点 may change until the year's promotion has run."""
    from app.services import promotion
    _province_actor(actor, "设置学年学期")
    year = scope.get(session, actor, SchoolYear, year_id)
    _check_version(year, expected_version)
    if promotion.standing_run(session, year) is not None:
        raise DomainError(f"{year.name}已升级，不能再修改；如需重来，请先在升级记录中撤销升级")
    starts_on, ends_on, promotion_at = _clean_year(
        {"starts_on": data.get("starts_on") or year.starts_on, "ends_on": data.get("ends_on") or year.ends_on,
         "promotion_at": data.get("promotion_at") or year.promotion_at}, year.start_year)
    if promotion_at != year.promotion_at and promotion_at <= clock.now():
        raise DomainError("升级时点须晚于现在；如需立即升级，请在升级记录中执行“立即升级”", field="promotion_at")
    year.starts_on, year.ends_on, year.promotion_at = starts_on, ends_on, promotion_at
    session.flush()
    _after_time_point_change(session)
    return year


@with_actor
def update_term(session, actor, term_id, data):
    _province_actor(actor, "设置学年学期")
    term = scope.get(session, actor, SchoolTerm, term_id)
    starts_on = parse_date(data.get("starts_on"), "学期开始日期" + DATE_HINT, "starts_on")
    ends_on = parse_date(data.get("ends_on"), "学期结束日期" + DATE_HINT, "ends_on")
    if ends_on < starts_on:
        raise DomainError("学期结束日期须晚于开始日期", field="ends_on")
    if starts_on < term.year.starts_on or ends_on > term.year.ends_on:
        raise DomainError(f"学期须在{term.year.name}（{term.year.starts_on} 至 {term.year.ends_on}）之内", field="starts_on")
    other = [t for t in term.year.terms if t.id != term.id and t.starts_on <= ends_on and t.ends_on >= starts_on]
    if other:
        raise DomainError(f"与{other[0].kind.label}的日期重叠", field="starts_on")
    term.starts_on, term.ends_on = starts_on, ends_on
    session.flush()
    return term


def current_term(session, today=None):
    today = today or clock.today()
    return session.scalar(select(SchoolTerm).where(SchoolTerm.starts_on <= today, SchoolTerm.ends_on >= today))


def _after_time_point_change(session):
    """Re-arm the scheduler for the nearest time point (the job runner runs the promotion then)."""
    from app.jobs import schedule
    schedule.arm(session)


# ---------------------------------------------------------------- classes

def school_in_scope(session, actor, school_id, doing):
    """The school a page is about: a school account's own (no id given), else the chosen school in
    the actor's area (out of it: not found)."""
    unit = getattr(actor, "org_unit", None)
    if unit is None:
        raise PermissionDenied(f"您不能{doing}")
    if school_id in (None, "") and unit.kind == OrgKind.SCHOOL:
        return unit
    if school_id in (None, "") or not str(school_id).strip().isdigit():
        raise NotFound("请选择学校")
    school = scope.get(session, actor, OrgUnit, int(school_id))
    if school.kind != OrgKind.SCHOOL:
        raise NotFound("请选择学校")
    return school


def _school_of(session, actor, school_id, doing):
    """The school whose classes are being changed: only its own 学籍管理员 keeps them (the guide:
    学校建立班级); a school out of the actor's scope is not found, a superior may only look."""
    school = school_in_scope(session, actor, school_id, doing)
    unit = actor.org_unit
    if actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied(f"只读账号不能{doing}")
    if school.id != unit.id:
        raise PermissionDenied(f"班级由学校自行设置，上级单位只能查看，不能{doing}")
    return school


def cohort_year_of(grade, today=None):
    """The 级 of a class now in `grade`: grade 1 of the current school year is this year's 级."""
    return year_start_of(today or clock.today()) - (int(grade[1]) - 1)


def _check_grade(school, grade):
    if not grades.teaches(school, grade):
        raise DomainError(f"{school.name}（{grades.schooling_label(school)}）没有{grades.grade_label(grade) or grade}",
                          field="grade")


@with_actor
def create_classes(session, actor, school_id, grade, count=1, head_teachers=(), cohort_year=None, capacity=None):
    """Add `count` classes to a grade, numbered after the ones it has (建班, e.g. the new grade 1)."""
    school = _school_of(session, actor, school_id, "设置班级")
    grade = str(grade or "").strip()
    _check_grade(school, grade)
    count = _int(count, "班级数", "count", 1, MAX_CLASSES_PER_GRADE)
    capacity = _capacity(capacity)
    cohort = cohort_year or cohort_year_of(grade)
    taken = session.scalar(select(func.max(SchoolClass.class_no)).where(
        SchoolClass.school_id == school.id, SchoolClass.stage == grade[0], SchoolClass.cohort_year == cohort)) or 0
    if taken + count > MAX_CLASSES_PER_GRADE:
        raise DomainError(f"一个年级最多 {MAX_CLASSES_PER_GRADE} 个班", field="count")
    teachers = [(t or "").strip() or None for t in head_teachers]
    made = [SchoolClass(school_id=school.id, school=school, stage=grade[0], cohort_year=cohort, grade=grade,
                        class_no=taken + i + 1, head_teacher=teachers[i] if i < len(teachers) else None,
                        capacity=capacity)
            for i in range(count)]
    session.add_all(made)
    session.flush()
    return made


@with_actor
def update_class(session, actor, class_id, data, expected_version=None):
    cls = scope.get(session, actor, SchoolClass, class_id)
    _school_of(session, actor, cls.school_id, "修改班级")
    _check_version(cls, expected_version)
    if "head_teacher" in data:
        teacher = (data.get("head_teacher") or "").strip()
        if len(teacher) > 64:
            raise DomainError("班主任姓名过长", field="head_teacher")
        cls.head_teacher = teacher or None
    if "capacity" in data:
        capacity = _capacity(data.get("capacity"))
        have = class_counts(session, [cls.id]).get(cls.id, (0,))[0]
        if capacity is not None and capacity < have:
            raise DomainError(f"{cls.name}已有 {have} 人，额定人数不能少于现有人数", field="capacity")
        cls.capacity = capacity
    if data.get("class_no") not in (None, ""):
        no = _int(data["class_no"], "班号", "class_no", 1, MAX_CLASSES_PER_GRADE * 5)
        clash = session.scalar(select(SchoolClass.id).where(
            SchoolClass.school_id == cls.school_id, SchoolClass.stage == cls.stage,
            SchoolClass.cohort_year == cls.cohort_year, SchoolClass.class_no == no, SchoolClass.id != cls.id))
        if clash:
            raise DomainError(f"{cls.cohort_year}级已有{no}班", field="class_no")
        if no != cls.class_no:
            cls.class_no = no
            session.execute(update(Student).where(Student.class_id == cls.id).values(class_name=cls.name))
    session.flush()
    return cls


def _capacity(value):
    """额定人数: blank means no limit."""
    if value in (None, "") or (isinstance(value, str) and not value.strip()):
        return None
    return _int(value, "额定人数", "capacity", 1, MAX_CAPACITY)


def check_capacity(session, cls, adding):
    """分班 never puts more students in a class than its 额定人数."""
    if cls.capacity is None or adding <= 0:
        return
    have = class_counts(session, [cls.id]).get(cls.id, (0,))[0]
    if have + adding > cls.capacity:
        raise DomainError(f"{cls.name}额定 {cls.capacity} 人，已有 {have} 人，不能再分入 {adding} 人")


@with_actor
def delete_class(session, actor, class_id):
    cls = scope.get(session, actor, SchoolClass, class_id)
    _school_of(session, actor, cls.school_id, "删除班级")
    if session.scalar(select(func.count()).select_from(Student).where(Student.class_id == cls.id)):
        raise DomainError(f"{cls}还有学生，请先把学生分到其他班级")
    session.delete(cls)
    session.flush()


def class_counts(session, class_ids):
    """{class_id: (students, boys, girls)} of students in school in these classes (a student the 升级
    held back stays linked to the class, which moved up, but is not counted in it)."""
    if not class_ids:
        return {}
    rows = session.execute(
        select(Student.class_id, func.count(), func.sum((Student.gender == "1").cast(Integer)))
        .join(SchoolClass, SchoolClass.id == Student.class_id)
        .where(Student.class_id.in_(list(class_ids)), Student.status.in_(CLASS_STATUSES),
               Student.grade == SchoolClass.grade)
        .group_by(Student.class_id)).all()
    return {cid: (n, int(boys or 0), n - int(boys or 0)) for cid, n, boys in rows}


@with_actor
def assign_students(session, actor, class_id, student_ids):
    """分班: put students of the class's school and grade into the class (in bulk)."""
    cls = scope.get(session, actor, SchoolClass, class_id)
    school = _school_of(session, actor, cls.school_id, "分班")
    if not cls.active:
        raise DomainError(f"{cls}已毕业，不能再分入学生")
    ids = ids_of(student_ids)
    if not ids:
        raise DomainError("请选择学生")
    students = session.scalars(select(Student).where(Student.id.in_(ids), scope.clause(actor, Student))).all()
    if len(students) != len(ids):
        raise NotFound("记录不存在或不在您的管辖范围内")
    for s in students:
        if s.school_id != school.id:
            raise DomainError(f"{s.name} 不是{school.name}的学生")
        if s.grade != cls.grade:
            raise DomainError(f"{s.name} 在{grades.grade_label(s.grade)}，不能分入{cls}")
        if s.status not in CLASS_STATUSES:
            raise DomainError(f"{s.name} 的学籍状态为{s.status.label}，不能分班")
    from app.services.admissions import placement_blockers
    blocked = placement_blockers(session, [s.id for s in students])
    if blocked:
        first = next(s for s in students if s.id in blocked)
        more = f"等 {len(blocked)} 名学生" if len(blocked) > 1 else ""
        raise DomainError(f"{first.name}{more}：{blocked[first.id]}")
    session.execute(select(SchoolClass.id).where(SchoolClass.id == cls.id).with_for_update())  # one 分班 at a time
    check_capacity(session, cls, sum(1 for s in students if s.class_id != cls.id))
    from app.services.students import _close_history
    for s in students:
        if s.class_id != cls.id:
            s.class_id, s.class_name = cls.id, cls.name
            _close_history(s, f"分班：{cls}")
    session.flush()
    return students


def classes_of(session, school, grade=None, active=True):
    stmt = select(SchoolClass).where(SchoolClass.school_id == school.id)
    if active is not None:
        stmt = stmt.where(SchoolClass.active.is_(active))
    if grade:
        stmt = stmt.where(SchoolClass.grade == grade)
    return session.scalars(stmt.order_by(SchoolClass.grade, SchoolClass.cohort_year.desc(), SchoolClass.class_no)).all()


_CLASS_NO = re.compile(r"(\d+)")


def _class_no(name):
    m = _CLASS_NO.search(name or "")
    return int(m.group(1)) if m else None


def adopt_class_names(session, root_path=None, today=None):
    """Turn the class names already on records ("3班") into classes and link the records, set-based:
    one INSERT of the missing classes, one UPDATE of the students. Names without a number get the
    next free number of their grade. Returns (classes created, students linked)."""
    root_path = root_path or "/"
    school_paths = select(OrgUnit.id).where(OrgUnit.path.startswith(root_path), OrgUnit.kind == OrgKind.SCHOOL)
    pending = session.execute(
        select(Student.school_id, Student.grade, Student.class_name).where(
            Student.class_id.is_(None), Student.class_name.is_not(None), Student.grade.is_not(None),
            Student.status.in_(CLASS_STATUSES), Student.school_id.in_(school_paths))
        .group_by(Student.school_id, Student.grade, Student.class_name)).all()
    if not pending:
        return 0, 0
    today = today or clock.today()
    existing = {}
    for c in session.execute(select(SchoolClass.school_id, SchoolClass.stage, SchoolClass.cohort_year,
                                    SchoolClass.class_no, SchoolClass.grade, SchoolClass.id)
                             .where(SchoolClass.school_id.in_({p.school_id for p in pending}))):
        existing[(c.school_id, c.stage, c.cohort_year, c.class_no)] = c
    wanted, numbered = {}, {}
    for p in sorted(pending, key=lambda p: (p.school_id, p.grade, _class_no(p.class_name) is None, p.class_name)):
        if not p.grade or len(p.grade) != 2 or not p.grade.isdigit():
            continue
        cohort = cohort_year_of(p.grade, today)
        no = _class_no(p.class_name)
        key_base = (p.school_id, p.grade[0], cohort)
        if no is None or (key_base + (no,)) in wanted.values():
            used = {k[3] for k in existing if k[:3] == key_base} | {k[3] for k in wanted.values() if k[:3] == key_base}
            no = max(used, default=0) + 1
        numbered[(p.school_id, p.grade, p.class_name)] = key_base + (no,)
        wanted[(p.school_id, p.grade, p.class_name)] = key_base + (no,)
    now = clock.now()
    new_rows = [{"school_id": k[0], "stage": k[1], "cohort_year": k[2], "class_no": k[3], "grade": g, "active": True,
                 "created_at": now, "version": 1}
                for (sid, g, _name), k in wanted.items() if k not in existing]
    unique_rows = list({(r["school_id"], r["stage"], r["cohort_year"], r["class_no"]): r for r in new_rows}.values())
    if unique_rows:
        session.execute(insert(SchoolClass), unique_rows)
        audit.record_bulk(session, "school_class", len(unique_rows), root_path, "按学籍中的班级名称建立班级")
    ids = {(c.school_id, c.stage, c.cohort_year, c.class_no): c.id for c in session.execute(
        select(SchoolClass.school_id, SchoolClass.stage, SchoolClass.cohort_year, SchoolClass.class_no, SchoolClass.id)
        .where(SchoolClass.school_id.in_({p.school_id for p in pending})))}
    linked = 0
    for (sid, g, name), key in numbered.items():
        result = session.execute(
            update(Student).where(Student.school_id == sid, Student.grade == g, Student.class_name == name,
                                  Student.class_id.is_(None))
            .values(class_id=ids[key], class_name=f"{key[3]}班"), execution_options={"synchronize_session": False})
        linked += result.rowcount
    return len(unique_rows), linked
