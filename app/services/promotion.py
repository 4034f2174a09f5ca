"""升级: at the province's time point every non-final grade of every school moves up one year.

One run per school year, set-based (one UPDATE of the students, one of the classes, history spans
by INSERT … SELECT; 1M students in bench/bench_school_year.py), audited as one event, idempotent
(the partial unique index `uq_promotion_run_year_done` lets only one standing run per year exist,
even from two processes at once) and reversible by the province within PROMOTION_GRACE_DAYS.

Who stays (and is listed in the year-end report): 休学 students, students with 在办业务 (an open
request that locks them), and 毕业年级 students not graduated. Held students whose reason has gone
may be moved up later (补升级). The final-grade classes retire; after the run no school has a
grade-1 student until admission (新生注册 / 招生入学).
"""
import datetime
import time

from flask import current_app
from sqlalchemy import (DateTime, Integer, String, and_, case, cast, exists, func, insert, literal, select, text,
                        update)
from sqlalchemy.exc import IntegrityError

from app.models.org import OrgKind, OrgUnit
from app.models.requests import Request, RequestState
from app.models.school_year import (HoldReason, PromotionHold, PromotionRun, PromotionState, SchoolClass,
                                    SchoolYear, Graduation, GraduationState)
from app.models.student import Student, StudentHistory, StudentStatus
from app.services import audit, clock, grades, scope
from app.services.context import acting_as
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_COUNTY, RANK_PROVINCE, actor_rank


def _run_scope(actor):
    from sqlalchemy import false, true
    return true() if getattr(actor, "org_unit", None) is not None else false()


def _hold_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    return PromotionHold.school_path.startswith(prefix)


scope.register(PromotionRun, _run_scope)
scope.register(PromotionHold, _hold_scope)


# ---------------------------------------------------------------- grade arithmetic in SQL

def _stage(col):
    return func.substr(col, 1, 1)


def _year_in_stage(col):
    return cast(func.substr(col, 2, 1), Integer)


def _stage_length():
    """Years of the student's stage at their school (学制), as SQL over org_unit."""
    stage = _stage(Student.grade)
    return case((stage == "1", func.coalesce(OrgUnit.primary_years, 6)),
                (stage == "2", func.coalesce(OrgUnit.junior_years, 3)), else_=3)


def _class_stage_length():
    return case((SchoolClass.stage == "1", func.coalesce(OrgUnit.primary_years, 6)),
                (SchoolClass.stage == "2", func.coalesce(OrgUnit.junior_years, 3)), else_=3)


def _up(col):
    return _stage(col) + cast(_year_in_stage(col) + 1, String)


def _down(col):
    return _stage(col) + cast(_year_in_stage(col) - 1, String)


def _graded_students():
    """Students with a well-formed grade, joined to their school."""
    return and_(Student.school_id == OrgUnit.id, Student.grade.is_not(None), func.length(Student.grade) == 2)


# ---------------------------------------------------------------- runs

def standing_run(session, year):
    return session.scalar(select(PromotionRun).where(PromotionRun.year_id == year.id,
                                                     PromotionRun.state == PromotionState.DONE))


def _province_actor(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.PROVINCE or actor_rank(actor) > RANK_PROVINCE:
        raise PermissionDenied(f"只有省级管理员可以{doing}")
    return unit


def _root(session):
    return session.scalar(select(OrgUnit).where(OrgUnit.kind == OrgKind.PROVINCE).order_by(OrgUnit.id))


def _grace_days():
    try:
        return int(current_app.config.get("PROMOTION_GRACE_DAYS", 14))
    except RuntimeError:
        return 14


def run(session, actor, year_id, *, scheduled=False, now=None, progress=None):
    """Promote the whole province at the end of `year_id`. `actor` None is the scheduler."""
    if actor is not None:
        _province_actor(actor, "执行升级")
    year = session.get(SchoolYear, int(year_id)) if str(year_id).isdigit() else None
    if year is None:
        raise NotFound("学年不存在")
    if standing_run(session, year) is not None:
        raise DomainError(f"{year.name}已经升级过，不会重复升级")
    now = now or clock.now()
    started = time.perf_counter()
    reason = f"{year.name}升级（{'定时任务' if scheduled else '省级管理员执行'}）"
    progress = progress or (lambda pct, msg=None: None)
    with acting_as(actor, reason=reason):
        promotion = PromotionRun(year_id=year.id, year=year, state=PromotionState.DONE, scheduled=scheduled,
                                 ran_at=now, ran_by_id=getattr(actor, "id", None),
                                 grace_until=now + datetime.timedelta(days=_grace_days()))
        session.add(promotion)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise DomainError(f"{year.name}已经升级过，不会重复升级")
        progress(5, "正在登记留级原因")
        held = _record_holds(session, promotion)
        progress(20, "正在升级学生")
        promoted = _promote_students(session, promotion, now, reason)
        progress(70, "正在登记学籍历史")
        _history_for_run(session, promotion, now, reason)
        progress(90, "正在升级班级")
        promotion.classes = _promote_classes(session, promotion)
        promotion.promoted, promotion.held = promoted, held
        promotion.seconds = round(time.perf_counter() - started, 2)
        root = _root(session)
        audit.record_bulk(session, "student", promoted, root.path if root else "/", reason, actor=actor)
        session.flush()
    session.expire_all()
    return promotion


def _record_holds(session, promotion):
    """Who stays, and why: one INSERT … SELECT per reason."""
    cols = ["run_id", "student_id", "school_id", "school_path", "grade", "reason", "request_id"]
    stage_len = _stage_length()
    non_final = _year_in_stage(Student.grade) < stage_len
    open_request = select(func.min(Request.id)).where(
        Request.student_id == Student.id, Request.state == RequestState.PENDING,
        Request.locks_student.is_(True)).scalar_subquery()
    run_id = literal(promotion.id, Integer)
    for reason, where, req in (
        (HoldReason.SUSPENDED, and_(Student.status == StudentStatus.SUSPENDED, non_final), None),
        (HoldReason.OPEN_REQUEST, and_(Student.status == StudentStatus.IN_SCHOOL, non_final,
                                       exists().where(Request.student_id == Student.id,
                                                      Request.state == RequestState.PENDING,
                                                      Request.locks_student.is_(True))), open_request),
        (HoldReason.NOT_GRADUATED, and_(Student.status == StudentStatus.IN_SCHOOL, ~non_final), None),
    ):
        session.execute(insert(PromotionHold).from_select(cols, select(
            run_id, Student.id, Student.school_id, OrgUnit.path, Student.grade, literal(reason.value, String),
            req if req is not None else literal(None, Integer)).where(_graded_students(), where)))
    if session.get_bind().dialect.name == "postgresql":
        # Fresh statistics, or the planner believes the run has ~no holds and picks a nested-loop anti
        # join for the students UPDATE (> 10 minutes at 1M students in the second year: bench_school_year).
        session.execute(text("ANALYZE promotion_hold"))
    # (INSERT … SELECT reports no row count through every driver: count what is there)
    return session.scalar(select(func.count()).select_from(PromotionHold).where(PromotionHold.run_id == promotion.id))


def _promote_students(session, promotion, now, reason):
    """One UPDATE of ~75% of the province's students. It writes no indexed column (grade,
    promotion_run_id, version, updated_at): on PostgreSQL, with the free space student keeps in its
    pages (fillfactor 50), the rows are updated in place without new index entries (HOT; migration
    e1a9c0b2d3f4: ~16 s → ~3-4 s at 1M students). An index holding grade would undo that."""
    held = exists().where(PromotionHold.run_id == promotion.id, PromotionHold.student_id == Student.id)
    result = session.execute(
        update(Student)
        .where(_graded_students(), Student.status == StudentStatus.IN_SCHOOL,
               _year_in_stage(Student.grade) < _stage_length(), ~held)
        .values(grade=_up(Student.grade), promotion_run_id=promotion.id, version=Student.version + 1,
                updated_at=now),
        execution_options={"synchronize_session": False})
    return result.rowcount


def _history_for_run(session, promotion, now, reason):
    moved = select(Student.id).where(Student.promotion_run_id == promotion.id)
    session.execute(update(StudentHistory).where(StudentHistory.student_id.in_(moved),
                                                 StudentHistory.valid_to.is_(None)).values(valid_to=now),
                    execution_options={"synchronize_session": False})
    session.execute(insert(StudentHistory).from_select(
        ["student_id", "school_id", "grade", "class_name", "status", "valid_from", "reason"],
        select(Student.id, Student.school_id, Student.grade, Student.class_name, Student.status,
               literal(now, DateTime), literal(reason, String)).where(Student.promotion_run_id == promotion.id)))


def _promote_classes(session, promotion):
    """Non-final classes move up; final-grade classes with nobody left in school retire."""
    stage_len = _class_stage_length()
    in_school = exists().where(Student.class_id == SchoolClass.id,
                               Student.status.in_((StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED)))
    well_formed = and_(SchoolClass.school_id == OrgUnit.id, SchoolClass.active.is_(True))
    retired = session.execute(
        update(SchoolClass).where(well_formed, _year_in_stage(SchoolClass.grade) >= stage_len, ~in_school)
        .values(active=False, promotion_run_id=promotion.id), execution_options={"synchronize_session": False})
    moved = session.execute(
        update(SchoolClass).where(well_formed, _year_in_stage(SchoolClass.grade) < stage_len)
        .values(grade=_up(SchoolClass.grade), promotion_run_id=promotion.id),
        execution_options={"synchronize_session": False})
    return moved.rowcount + retired.rowcount


# ---------------------------------------------------------------- the schedule

def due_year(session, now=None):
    """The school year whose time point has come and that has not been promoted at it (an undone
    run is not repeated at the same time point: the province sets a new one or runs it by hand).
    Only time points set ahead of time count, so opening a past year never promotes by itself."""
    now = now or clock.now()
    return session.scalar(select(SchoolYear).where(
        SchoolYear.promotion_at.is_not(None), SchoolYear.promotion_at <= now,
        SchoolYear.promotion_at > SchoolYear.created_at, ~exists(_handled()))
        .order_by(SchoolYear.promotion_at.desc()))


def _handled():
    """A run that stands, or an undone one made at or after the year's current time point (so a new
    time point set after an undo fires again; the undone one does not)."""
    return select(PromotionRun.id).where(
        PromotionRun.year_id == SchoolYear.id,
        (PromotionRun.state == PromotionState.DONE) | (PromotionRun.ran_at >= SchoolYear.promotion_at))


def next_time_point(session, now=None):
    now = now or clock.now()
    return session.scalar(select(func.min(SchoolYear.promotion_at)).where(
        SchoolYear.promotion_at > now, ~exists(_handled())))


def run_due(session, now=None):
    """What the scheduled job does: promote the year whose time point has come, if any."""
    now = now or clock.now()
    year = due_year(session, now)
    if year is None:
        return None
    try:
        return run(session, None, year.id, scheduled=True, now=now)
    except DomainError:
        return None  # another process got there first


# ---------------------------------------------------------------- undo and catch up

def revert(session, actor, run_id, reason, now=None):
    _province_actor(actor, "撤销升级")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写撤销理由", field="reason")
    promotion = session.get(PromotionRun, int(run_id)) if str(run_id).isdigit() else None
    if promotion is None:
        raise NotFound("升级记录不存在")
    now = now or clock.now()
    if promotion.state != PromotionState.DONE:
        raise DomainError("该次升级已撤销")
    if now > promotion.grace_until:
        raise DomainError(f"升级已超过可撤销期限（{promotion.grace_until:%Y年%m月%d日 %H:%M} 前），不能撤销")
    newcomers = session.scalar(select(func.count()).select_from(Student).where(
        Student.grade.in_(grades.FIRST_GRADES), Student.status.in_((StudentStatus.IN_SCHOOL, StudentStatus.REGISTERING)),
        Student.created_at >= promotion.ran_at))
    if newcomers:
        raise DomainError(f"升级后已有 {newcomers} 名一年级新生注册或入学，撤销会让两届学生同在一年级，不能撤销")
    why = f"撤销{promotion}：{reason}"
    with acting_as(actor, reason=why):
        # History first (the spans read the grade it goes back to), then one UPDATE of the students.
        going_back = and_(Student.promotion_run_id == promotion.id,
                          Student.status.in_((StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED)))
        session.execute(update(StudentHistory).where(StudentHistory.student_id.in_(select(Student.id).where(going_back)),
                                                     StudentHistory.valid_to.is_(None)).values(valid_to=now),
                        execution_options={"synchronize_session": False})
        session.execute(insert(StudentHistory).from_select(
            ["student_id", "school_id", "grade", "class_name", "status", "valid_from", "reason"],
            select(Student.id, Student.school_id, _down(Student.grade), Student.class_name, Student.status,
                   literal(now, DateTime), literal(why[:255], String)).where(going_back)))
        back = session.execute(
            update(Student).where(going_back)
            .values(grade=_down(Student.grade), promotion_run_id=None, version=Student.version + 1, updated_at=now),
            execution_options={"synchronize_session": False}).rowcount
        session.execute(update(Student).where(Student.promotion_run_id == promotion.id).values(promotion_run_id=None),
                        execution_options={"synchronize_session": False})  # those who left since: stamp only
        session.execute(update(SchoolClass).where(SchoolClass.promotion_run_id == promotion.id,
                                                  SchoolClass.active.is_(True))
                        .values(grade=_down(SchoolClass.grade), promotion_run_id=None),
                        execution_options={"synchronize_session": False})
        session.execute(update(SchoolClass).where(SchoolClass.promotion_run_id == promotion.id,
                                                  SchoolClass.active.is_(False))
                        .values(active=True, promotion_run_id=None),
                        execution_options={"synchronize_session": False})
        promotion.state, promotion.reverted_at, promotion.reverted_by_id = PromotionState.REVERTED, now, actor.id
        promotion.reverted_reason = reason
        root = _root(session)
        audit.record_bulk(session, "student", back, root.path if root else "/", why, actor=actor)
        session.flush()
    session.expire_all()
    return promotion, back


def promote_held(session, actor, run_id, school_id=None, now=None):
    """补升级: held students whose reason has gone (request ended, 复学) move up now, like the run did."""
    unit = getattr(actor, "org_unit", None)
    if unit is None or actor_rank(actor) > 3:  # county and above
        raise PermissionDenied("只有县级及以上管理员可以补升级")
    promotion = session.get(PromotionRun, int(run_id)) if str(run_id).isdigit() else None
    if promotion is None:
        raise NotFound("升级记录不存在")
    if promotion.state != PromotionState.DONE:
        raise DomainError("该次升级已撤销，不能补升级")
    now = now or clock.now()
    holds = session.scalars(select(PromotionHold).where(
        PromotionHold.run_id == promotion.id, PromotionHold.promoted_later_at.is_(None),
        PromotionHold.reason != HoldReason.NOT_GRADUATED, scope.clause(actor, PromotionHold))).all()
    if school_id:
        holds = [h for h in holds if h.school_id == int(school_id)]
    from app.services.requests import open_locking_request
    from app.services.students import _close_history
    done = []
    with acting_as(actor, reason=f"补升级（{promotion}）"):
        for h in holds:
            s = h.student
            if s.status != StudentStatus.IN_SCHOOL or s.grade != h.grade or s.school_id != h.school_id:
                continue
            if open_locking_request(session, s.id) is not None:
                continue
            s.grade = grades.next_grade(s.grade)
            s.promotion_run_id = promotion.id
            if s.class_id is not None:
                cls = session.get(SchoolClass, s.class_id)
                if cls is None or cls.grade != s.grade:
                    s.class_id, s.class_name = None, None
            _close_history(s, f"补升级（{promotion}）")
            h.promoted_later_at = now
            done.append(s)
        session.flush()
    return done


# ---------------------------------------------------------------- year-end report

def year_end_report(session, actor, year):
    """Per school in the actor's scope: promoted, graduated, rejected graduates, held by reason."""
    promotion = standing_run(session, year)
    schools = select(OrgUnit.id).where(scope.clause(actor, OrgUnit), OrgUnit.kind == OrgKind.SCHOOL)
    rows = {}

    def row(school_id):
        return rows.setdefault(school_id, {"promoted": 0, "graduated": 0, "rejected": 0,
                                           **{r.value: 0 for r in HoldReason}})

    if promotion is not None:
        for sid, n in session.execute(select(Student.school_id, func.count()).where(
                Student.promotion_run_id == promotion.id, Student.school_id.in_(schools)).group_by(Student.school_id)):
            row(sid)["promoted"] = n
        for sid, reason, n in session.execute(select(PromotionHold.school_id, PromotionHold.reason, func.count()).where(
                PromotionHold.run_id == promotion.id, PromotionHold.school_id.in_(schools))
                .group_by(PromotionHold.school_id, PromotionHold.reason)):
            row(sid)[reason.value if hasattr(reason, "value") else reason] = n
    for sid, state, n in session.execute(select(Graduation.school_id, Graduation.state, func.count()).where(
            Graduation.year_id == year.id, Graduation.school_id.in_(schools))
            .group_by(Graduation.school_id, Graduation.state)):
        key = "graduated" if (getattr(state, "value", state) == GraduationState.GRADUATED.value) else "rejected"
        row(sid)[key] = n
    units = {u.id: u for u in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(list(rows))))}
    out = []
    for sid, counts in rows.items():
        unit = units.get(sid)
        if unit is None:
            continue
        counts["held"] = sum(counts[r.value] for r in HoldReason)
        out.append({"school": unit, "county_path": unit.path.rsplit("/", 2)[0] + "/", **counts})
    out.sort(key=lambda r: r["school"].path)
    return promotion, out


def held_students_query(actor, run_id, school_id=None, reason=None):
    stmt = select(PromotionHold).where(PromotionHold.run_id == int(run_id), scope.clause(actor, PromotionHold))
    if school_id:
        stmt = stmt.where(PromotionHold.school_id == int(school_id))
    if reason:
        stmt = stmt.where(PromotionHold.reason == reason)
    return stmt.order_by(PromotionHold.school_path, PromotionHold.grade, PromotionHold.id)
