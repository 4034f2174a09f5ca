"""毕业: the school graduates the final grade (no county approval, per the 2014 guide), keeps the
毕业信息 (date, certificate number, 毕业去向), and the county may 驳回 a graduate back to 在校.

Preconditions, checked for the whole selection before anything is written: every student is 在校
in a final grade (毕业年级 by the school's 学制); none has 在办业务 (an open request: 休学, 转学,
关键数据变更, 注册 …); none has an unsettled 问题学籍 side unless carried on (结转). The writes are
set-based (a county's 20,000 graduates in one statement per table; bench/bench_school_year.py).
"""
from sqlalchemy import Boolean, Date, DateTime, Integer, String, func, insert, literal, select, update

from app.codes import tables
from app.models.org import OrgKind, OrgUnit
from app.models.requests import Request, RequestState
from app.models.school_year import Graduation, GraduationState, SchoolClass
from app.models.student import Student, StudentHistory, StudentStatus
from app.services import audit, calendars, clock, grades, problems, scope
from app.services.context import with_actor
from app.services.dates import parse_date
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_COUNTY, RANK_SCHOOL, actor_rank

CHUNK = 5000
MAX_NAMES = 5
DATE_HINT = "格式应为 年-月-日（如 2027-06-30）"


def _graduation_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    return Graduation.school_path.startswith(prefix)


scope.register(Graduation, _graduation_scope)


class GraduationBlocked(DomainError):
    """The selection has 在办业务 or unsettled problem records: `open_requests` and `problem_sides`
    say which, so the screen can list them with links to clean up."""

    def __init__(self, message, open_requests=(), problem_sides=()):
        super().__init__(message)
        self.open_requests = list(open_requests)
        self.problem_sides = list(problem_sides)


def _chunks(ids, size=CHUNK):
    ids = list(ids)
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _school_actor(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.SCHOOL or actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied(f"只有学校学籍管理员可以{doing}")
    return unit


def _names(rows, more_label="名"):
    names = [r.name for r in rows[:MAX_NAMES]]
    tail = f"等 {len(rows)} {more_label}" if len(rows) > MAX_NAMES else ""
    return "、".join(names) + tail


def final_grade_filter(school):
    return Student.grade.in_(grades.final_grades(school))


def candidates_query(school, grade=None, class_id=None):
    """毕业年级 students of the school still 在校 (what the 毕业 screen lists)."""
    stmt = select(Student).where(Student.school_id == school.id, Student.status == StudentStatus.IN_SCHOOL,
                                 final_grade_filter(school))
    if grade:
        stmt = stmt.where(Student.grade == grade)
    if class_id:
        stmt = stmt.where(Student.class_id == int(class_id))
    return stmt.order_by(Student.grade, Student.class_name, Student.name, Student.id)


def _selection(session, school, student_ids, class_ids):
    from app.services.school_years import ids_of
    ids = set(ids_of(student_ids))
    class_ids = ids_of(class_ids, "班级")
    if class_ids:
        own = session.scalars(select(SchoolClass.id).where(SchoolClass.id.in_(class_ids),
                                                           SchoolClass.school_id == school.id)).all()
        if len(own) != len(set(class_ids)):
            raise NotFound("班级不存在或不属于本校")
        ids |= set(session.scalars(select(Student.id).where(
            Student.class_id.in_(class_ids), Student.status == StudentStatus.IN_SCHOOL)).all())
    if not ids and class_ids:
        raise DomainError("所选班级已没有在校学生（可能已办理毕业）")
    if not ids:
        raise DomainError("请选择要毕业的班级或学生")
    rows = []
    for chunk in _chunks(sorted(ids)):
        rows += session.execute(select(Student.id, Student.name, Student.school_id, Student.grade, Student.status)
                                .where(Student.id.in_(chunk))).all()
    if len(rows) != len(ids) or any(r.school_id != school.id for r in rows):
        raise NotFound("记录不存在或不在您的管辖范围内")
    return rows


def blockers(session, student_ids):
    """(open requests, unsettled problem sides) of these students."""
    reqs, sides = [], []
    for chunk in _chunks(student_ids):
        reqs += session.scalars(select(Request).where(Request.student_id.in_(chunk),
                                                      Request.state == RequestState.PENDING)
                                .order_by(Request.id)).all()
        sides += problems.blocking_sides(session, chunk)
    return reqs, sides


def check(session, actor, student_ids=(), class_ids=()):
    """What the screen shows before the 毕业 button: the selection and what blocks it."""
    school = _school_actor(actor, "办理毕业")
    rows = _selection(session, school, student_ids, class_ids)
    return rows, *blockers(session, [r.id for r in rows])


@with_actor
def graduate(session, actor, student_ids=(), class_ids=(), graduated_on=None, today=None):
    """毕业: all of the selection or nothing. Returns the number graduated."""
    from app.services import school_years
    school = _school_actor(actor, "办理毕业")
    today = today or clock.today()
    calendars.check(session, "graduation", "毕业", school, today=today)
    graduated_on = parse_date(graduated_on, "毕业日期" + DATE_HINT, "graduated_on") if graduated_on else today
    if graduated_on > today:
        raise DomainError("毕业日期不能晚于今天", field="graduated_on")
    rows = _selection(session, school, student_ids, class_ids)
    finals = set(grades.final_grades(school))
    not_final = [r for r in rows if r.grade not in finals]
    if not_final:
        raise DomainError(f"{_names(not_final)} 不在毕业年级（本校{grades.schooling_label(school)}，毕业年级为"
                          f"{'、'.join(grades.grade_label(g) for g in sorted(finals))}），不能毕业")
    not_in_school = [r for r in rows if r.status != StudentStatus.IN_SCHOOL]
    if not_in_school:
        raise DomainError(f"{_names(not_in_school)} 的学籍状态不是在校（{not_in_school[0].status.label}），不能毕业")
    ids = [r.id for r in rows]
    reqs, sides = blockers(session, ids)
    if reqs or sides:
        parts = []
        if reqs:
            parts.append(f"{len({r.student_id for r in reqs})} 名学生有在办业务（{len(reqs)} 项）")
        if sides:
            parts.append(f"{len({s.student_id for s in sides})} 名学生的问题学籍尚未处理或结转")
        raise GraduationBlocked("不能毕业：" + "；".join(parts) + "。请先办结或清理在办业务、处理或结转问题学籍",
                                open_requests=reqs, problem_sides=sides)
    year = school_years.current_year(session, today)
    now = clock.now()
    reason = f"毕业（{school.name}）"
    done = 0
    for chunk in _chunks(ids):
        result = session.execute(
            update(Student).where(Student.id.in_(chunk), Student.status == StudentStatus.IN_SCHOOL,
                                  Student.school_id == school.id)
            .values(status=StudentStatus.GRADUATED, version=Student.version + 1, updated_at=now),
            execution_options={"synchronize_session": False})
        if result.rowcount != len(chunk):
            raise DomainError("所选学生的数据刚刚被他人修改，请刷新后重试")
        done += result.rowcount
        _history_spans(session, chunk, now, reason)
        session.execute(insert(Graduation).from_select(
            ["student_id", "school_id", "school_path", "stage", "grade", "class_id", "year_id", "state",
             "graduated_on", "destination_by_admission", "created_by_id", "created_at", "version"],
            select(Student.id, Student.school_id, literal(school.path, String), func.substr(Student.grade, 1, 1),
                   Student.grade, Student.class_id, literal(year.id if year else None, Integer),
                   literal(GraduationState.GRADUATED.value, String), literal(graduated_on, Date),
                   literal(False, Boolean), literal(actor.id, Integer), literal(now, DateTime), literal(1, Integer))
            .where(Student.id.in_(chunk))))
    audit.record_bulk(session, "graduation", done, school.path, reason, actor=actor)
    session.expire_all()
    return done


def _history_spans(session, student_ids, now, reason):
    """Close the students' open history spans and open new ones from their current row, set-based."""
    session.execute(update(StudentHistory).where(StudentHistory.student_id.in_(student_ids),
                                                 StudentHistory.valid_to.is_(None)).values(valid_to=now),
                    execution_options={"synchronize_session": False})
    session.execute(insert(StudentHistory).from_select(
        ["student_id", "school_id", "grade", "class_name", "status", "valid_from", "reason"],
        select(Student.id, Student.school_id, Student.grade, Student.class_name, Student.status,
               literal(now, DateTime), literal(reason, String)).where(Student.id.in_(student_ids))))


# ---------------------------------------------------------------- 毕业信息

def clean_info(data, today=None):
    """{graduated_on, certificate_no, destination} from a form, the API or a workbook row; only the
    keys present are changed."""
    today = today or clock.today()
    out = {}
    if "graduated_on" in data and data["graduated_on"] not in (None, ""):
        day = parse_date(data["graduated_on"], "毕业日期" + DATE_HINT, "graduated_on")
        if day > today:
            raise DomainError("毕业日期不能晚于今天", field="graduated_on")
        out["graduated_on"] = day
    if "certificate_no" in data:
        no = (data.get("certificate_no") or "").strip()
        if len(no) > 40 or any(c.isspace() for c in no):
            raise DomainError("毕业证书编号不能含空格，最长 40 个字符", field="certificate_no")
        out["certificate_no"] = no or None
    if "destination" in data:
        code = data.get("destination")
        code = tables.code_for("graduation_destination", str(code)) if code not in (None, "") else None
        if data.get("destination") not in (None, "") and code is None:
            raise DomainError(f"毕业去向“{data.get('destination')}”不在国家代码表中（"
                              f"{'、'.join(tables.table('graduation_destination').values())}）", field="destination")
        out["destination"] = code
    return out


@with_actor
def update_info(session, actor, graduation_ids, data, expected_version=None):
    """毕业信息管理: the same values for one or many graduates of the school."""
    from app.services.school_years import ids_of
    ids = ids_of(graduation_ids, "毕业记录")
    if not ids:
        raise DomainError("请选择毕业生")
    values = clean_info(data)
    if not values:
        raise DomainError("请填写要修改的毕业信息")
    school = _school_actor(actor, "维护毕业信息")
    rows = session.scalars(select(Graduation).where(Graduation.id.in_(ids), scope.clause(actor, Graduation))).all()
    if len(rows) != len(ids) or any(g.school_id != school.id for g in rows):
        raise NotFound("记录不存在或不在您的管辖范围内")
    rejected = [g for g in rows if g.state != GraduationState.GRADUATED]
    if rejected:
        raise DomainError(f"{rejected[0].student.name} 的毕业已被驳回，不能维护毕业信息")
    if expected_version not in (None, "") and len(rows) == 1 and rows[0].version != int(expected_version):
        raise DomainError("该记录已被他人修改，请刷新后重试")
    for g in rows:
        for k, v in values.items():
            setattr(g, k, v)
        if "destination" in values:
            g.destination_by_admission = False
    session.flush()
    return rows


def graduation_for_import(session, actor, xueji_no, name):
    """The school's standing graduation of the student with this 学籍号 and name (the workbook key)."""
    school = _school_actor(actor, "导入毕业信息")
    g = session.scalar(select(Graduation).join(Student, Student.id == Graduation.student_id).where(
        Student.xueji_no == (xueji_no or "").strip(), Graduation.school_id == school.id,
        Graduation.state == GraduationState.GRADUATED))
    if g is None:
        raise DomainError("本校没有该学籍号的毕业生", field="xueji_no")
    if g.student.name != (name or "").strip():
        raise DomainError(f"姓名与学籍号不符（系统中为 {g.student.name}）", field="name")
    return g


# ---------------------------------------------------------------- 驳回

def _county_actor(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind == OrgKind.SCHOOL or actor_rank(actor) > RANK_COUNTY:
        raise PermissionDenied(f"只有县级及以上学籍管理员可以{doing}")
    return unit


@with_actor
def reject(session, actor, graduation_id, reason, expected_version=None):
    """驳回 a graduate back to 在校 (to change data or suspend); the row stays for the 驳回查询."""
    if not str(graduation_id).strip().isdigit():
        raise NotFound("记录不存在或不在您的管辖范围内")
    g = scope.get(session, actor, Graduation, int(graduation_id))  # out of scope: 404 before anything else
    _county_actor(actor, "驳回毕业生")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写驳回理由", field="reason")
    from app.services.school_years import _check_version
    _check_version(g, expected_version)
    if g.state != GraduationState.GRADUATED:
        raise DomainError("该毕业生已被驳回")
    student = g.student
    from app.services.admissions import graduate_pending_admission
    pending = graduate_pending_admission(session, student.id)
    if pending is not None:
        raise DomainError(f"{student.name} 正在办理招生录取（{pending.school.name}，待核办），不能驳回；"
                          f"请待录取办结或由录取学校撤销后再驳回")
    if student.school_id != g.school_id or student.status != StudentStatus.GRADUATED:
        where = student.school.name if student.school is not None else "其他学校"
        raise DomainError(f"{student.name} 已被 {where} 录取或学籍已变动（{student.status.label}），不能驳回")
    g.state = GraduationState.REJECTED
    g.rejected_reason, g.rejected_at, g.rejected_by_id = reason, clock.now(), actor.id
    student.status = StudentStatus.IN_SCHOOL
    from app.services.students import _close_history
    _close_history(student, f"毕业生驳回：{reason}")
    session.flush()
    return g


# ---------------------------------------------------------------- 去向 filled by admission

ADMISSION_DESTINATION = {grades.STAGE_JUNIOR: "09", grades.STAGE_SENIOR: "08", grades.STAGE_VOCATIONAL: "04"}


def record_admission(session, student, admitted_grade):
    """Called when a graduate is admitted to the next stage (招生入学): the standing graduation of
    the stage before gets its 毕业去向 (普通初中, 普通高中, 中专) automatically."""
    code = ADMISSION_DESTINATION.get(grades.stage_of(admitted_grade))
    if code is None:
        return None
    g = session.scalar(select(Graduation).where(Graduation.student_id == student.id,
                                                Graduation.state == GraduationState.GRADUATED,
                                                Graduation.stage < grades.stage_of(admitted_grade))
                       .order_by(Graduation.id.desc()))
    if g is not None:
        g.destination, g.destination_by_admission = code, True
    return g


# ---------------------------------------------------------------- queries

def graduates_query(actor, state=GraduationState.GRADUATED, school_id=None, grade=None, destination=None, q=None):
    """毕业生查询 / 毕业生驳回查询, scoped."""
    stmt = select(Graduation).join(Student, Student.id == Graduation.student_id).where(
        scope.clause(actor, Graduation))
    if state is not None:
        stmt = stmt.where(Graduation.state == state)
    if school_id:
        stmt = stmt.where(Graduation.school_id == int(school_id))
    if grade:
        stmt = stmt.where(Graduation.grade == grade)
    if destination == "none":
        stmt = stmt.where(Graduation.destination.is_(None))
    elif destination:
        stmt = stmt.where(Graduation.destination == destination)
    if q:
        q = q.strip()
        stmt = stmt.where((Student.name.startswith(q)) | (Student.xueji_no == q))
    return stmt.order_by(Graduation.id.desc())
