"""问题学籍: province-wide detection of invalid and duplicate records, two-sided handling, arbitration.

Detection (detect()) is set-based SQL over all active records, rule by rule:
  (a) 身份证号错误 — a 居民身份证 number that is malformed, has a wrong check character, an
      impossible or future birth date, or disagrees with the record's sex or birth date;
  (b) 身份证号重复 — one number on more than one active record;
  (c) 无身份证号重复 — no number and the same 姓名 + 性别 + 出生日期 on more than one record.
Each finding is a ProblemRecord with one ProblemSide per record. Re-running is idempotent: a
partial unique index keeps one open problem per (kind, key); new findings are added, records
newly involved join their problem, and problems whose cause is gone are resolved.

Handling, by the school owning each side (the guide's 删除 / 佐证 / 变更): 删除 and 佐证 are
requests its county approves (问题学籍删除, 问题学籍佐证 — evidence required); 变更 is the
ordinary 关键数据变更. The problem's state follows from its sides (reevaluate()): nobody acted →
未处理; some proved → 一方已佐证; every remaining side proved → 待仲裁 by the sides' lowest common
superior, who picks the rightful record; the others must then delete or change. A problem with at
most one record left in it (others deleted, or changed so they no longer match) is resolved.
"""
import datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import selectinload

from app.models.org import OrgUnit
from app.models.problems import ProblemKind, ProblemRecord, ProblemSide, ProblemState, Treatment
from app.models.requests import Request, RequestState
from app.models.student import Student, StudentStatus
from app.services import audit, identity, requests, scope, students
from app.services.context import with_actor
from app.services.errors import DomainError, PermissionDenied
from app.services.roles import RANK_COUNTY, RANK_SCHOOL, actor_rank
from app.services import clock

PROBLEM_DELETE = "problem_delete"
PROBLEM_PROVE = "problem_prove"
INACTIVE = ("deleted", "transferred_out")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
INVALID_REASONS = {
    "format": "身份证号格式不正确（应为 17 位数字加 1 位数字或 X）",
    "check": "身份证号校验位错误",
    "date": "身份证号中的出生日期不是有效日期",
    "future": "身份证号中的出生日期晚于今天",
    "sex": "身份证号显示的性别与学籍记录不一致",
    "birth": "身份证号中的出生日期与学籍记录不一致",
}
OPEN_TREATMENTS = (Treatment.DELETING, Treatment.PROVING, Treatment.CHANGING)


# ---------------------------------------------------------------- detection SQL

def _invalid_sql(dialect, today):
    """(student id, reason code) of every active 居民身份证 record whose number is invalid."""
    n = "id_number"
    if dialect == "postgresql":
        wellformed = f"{n} ~ '^[0-9]{{17}}[0-9X]$'"
        birth = "to_char(birth_date, 'YYYYMMDD')"
    else:
        wellformed = f"length({n}) = 18 AND substr({n}, 1, 17) GLOB '{'[0-9]' * 17}' AND substr({n}, 18, 1) GLOB '[0-9X]'"
        birth = "strftime('%Y%m%d', birth_date)"
    digit = lambda i: f"CAST(substr({n}, {i}, 1) AS INTEGER)"  # noqa: E731
    total = " + ".join(f"{digit(i + 1)} * {w}" for i, w in enumerate(WEIGHTS))
    y, m, d = f"CAST(substr({n}, 7, 4) AS INTEGER)", f"CAST(substr({n}, 11, 2) AS INTEGER)", \
        f"CAST(substr({n}, 13, 2) AS INTEGER)"
    leap = f"(CASE WHEN ({y} % 4 = 0 AND {y} % 100 <> 0) OR {y} % 400 = 0 THEN 1 ELSE 0 END)"
    days = f"(CASE WHEN {m} = 2 THEN 28 + {leap} WHEN {m} IN (4, 6, 9, 11) THEN 30 ELSE 31 END)"
    reason = f"""CASE
        WHEN NOT ({wellformed}) THEN 'format'
        WHEN substr('10X98765432', (({total}) % 11) + 1, 1) <> substr({n}, 18, 1) THEN 'check'
        WHEN {y} < 1900 OR {m} < 1 OR {m} > 12 OR {d} < 1 OR {d} > {days} THEN 'date'
        WHEN substr({n}, 7, 8) > '{today:%Y%m%d}' THEN 'future'
        WHEN ({digit(17)} % 2 = 1) <> (gender = '1') THEN 'sex'
        WHEN substr({n}, 7, 8) <> {birth} THEN 'birth'
    END"""
    return text(f"""SELECT id, reason FROM (
        SELECT id, {reason} AS reason FROM student
        WHERE id_type = '1' AND {n} IS NOT NULL AND {n} <> '' AND status NOT IN ('deleted', 'transferred_out')
    ) checked WHERE reason IS NOT NULL""")


DUPLICATE_ID_SQL = text("""
    SELECT s.id_number, s.id FROM student s
    JOIN (SELECT id_number FROM student
          WHERE id_number IS NOT NULL AND id_number <> '' AND status NOT IN ('deleted', 'transferred_out')
          GROUP BY id_number HAVING count(*) > 1) dup ON dup.id_number = s.id_number
    WHERE s.status NOT IN ('deleted', 'transferred_out')""")

DUPLICATE_IDENTITY_SQL = text("""
    SELECT s.name, s.gender, s.birth_date, s.id FROM student s
    JOIN (SELECT name, gender, birth_date FROM student
          WHERE (id_number IS NULL OR id_number = '') AND status NOT IN ('deleted', 'transferred_out')
          GROUP BY name, gender, birth_date HAVING count(*) > 1) dup
      ON dup.name = s.name AND dup.gender = s.gender AND dup.birth_date = s.birth_date
    WHERE (s.id_number IS NULL OR s.id_number = '') AND s.status NOT IN ('deleted', 'transferred_out')""")


def identity_key(name, gender, birth_date):
    born = birth_date.isoformat() if hasattr(birth_date, "isoformat") else str(birth_date)[:10]
    return f"{name}|{gender}|{born}"


def current_findings(session, today=None):
    """{kind: {key: ({student ids}, detail)}} as the records stand now (three set-based queries)."""
    today = today or clock.today()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":  # JIT-compiling the check expression over a million rows costs seconds
        session.execute(text("SET LOCAL jit = off"))
    out = {k: {} for k in ProblemKind}
    for sid, reason in session.execute(_invalid_sql(dialect, today)):
        out[ProblemKind.INVALID_ID][str(sid)] = ({sid}, INVALID_REASONS[reason])
    for number, sid in session.execute(DUPLICATE_ID_SQL):
        out[ProblemKind.DUPLICATE_ID].setdefault(number, (set(), None))[0].add(sid)
    for name, gender, born, sid in session.execute(DUPLICATE_IDENTITY_SQL):
        out[ProblemKind.DUPLICATE_IDENTITY].setdefault(identity_key(name, gender, born), (set(), None))[0].add(sid)
    return out


# ---------------------------------------------------------------- detection: findings → problems

def detect(session, actor=None, today=None, progress=None):
    """Bring the problem records in line with the registry. Returns counts
    {"found": n, "new": n, "joined": n, "resolved": n, "open": n}."""
    findings = current_findings(session, today)
    _drop_accepted(session, findings[ProblemKind.INVALID_ID])
    now = datetime.datetime.now()
    open_problems = {(p.kind, p.key): p for p in session.scalars(  # sides up front: not a query per problem
        select(ProblemRecord).where(ProblemRecord.state != ProblemState.RESOLVED)
        .options(selectinload(ProblemRecord.sides)))}
    paths = _school_paths(session, {sid for kind in findings.values() for ids, _d in kind.values() for sid in ids})
    new_rows, joined, touched = [], 0, []
    for kind, found in findings.items():
        for key, (ids, detail) in found.items():
            problem = open_problems.get((kind, key))
            if problem is None:
                new_rows.append((kind, key, detail, ids))
                continue
            have = {s.student_id for s in problem.sides}
            for sid in sorted(ids - have):
                problem.sides.append(ProblemSide(student_id=sid, school_path=paths[sid]))
                joined += 1
            if ids - have:
                touched.append(problem)
    gone = [p for (kind, key), p in open_problems.items() if key not in findings[kind]]
    for problem in gone:
        _resolve(problem, "重新检测：问题已不存在（记录已更正、删除或转出）", now)
    if new_rows:
        _insert_new(session, new_rows, paths, now)
    for problem in touched:
        reevaluate(session, problem)
    session.flush()
    if new_rows or gone:
        audit.record_bulk(session, "problem_record", len(new_rows) + len(gone), _root_path(session),
                          f"问题学籍检测：新发现 {len(new_rows)} 个，已解决 {len(gone)} 个", actor=actor)
    found = sum(len(v) for v in findings.values())
    open_count = session.scalar(select(func.count()).select_from(ProblemRecord)
                                .where(ProblemRecord.state != ProblemState.RESOLVED))
    return {"found": found, "new": len(new_rows), "joined": joined, "resolved": len(gone), "open": open_count}


def _drop_accepted(session, invalid):
    """An ID number proved right by 佐证 is not a finding again (until it changes)."""
    accepted = dict(session.execute(select(ProblemRecord.key, ProblemRecord.accepted_value).where(
        ProblemRecord.kind == ProblemKind.INVALID_ID, ProblemRecord.state == ProblemState.RESOLVED,
        ProblemRecord.accepted_value.is_not(None))).all())
    keys = [k for k in invalid if k in accepted]
    if not keys:
        return
    numbers = dict(session.execute(select(Student.id, Student.id_number)
                                   .where(Student.id.in_([int(k) for k in keys]))).all())
    for key in keys:
        if numbers.get(int(key)) == accepted[key]:
            del invalid[key]


def _school_paths(session, student_ids):
    out = {}
    ids = sorted(student_ids)
    for i in range(0, len(ids), 5000):
        chunk = ids[i:i + 5000]
        out.update(session.execute(select(Student.id, OrgUnit.path).join(OrgUnit, OrgUnit.id == Student.school_id)
                                   .where(Student.id.in_(chunk))).all())
    return out


def _root_path(session):
    return session.scalar(select(OrgUnit.path).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.path)) or "/"


def _insert_new(session, rows, paths, now):
    """Bulk: the problems, then their sides (ids read back by (kind, key): unique while open)."""
    session.execute(insert(ProblemRecord), [
        {"kind": kind, "key": key, "detail": detail, "state": ProblemState.UNTREATED, "detected_at": now, "version": 1}
        for kind, key, detail, _ids in rows])
    ids = {}
    for kind in {r[0] for r in rows}:
        keys = [r[1] for r in rows if r[0] == kind]
        for i in range(0, len(keys), 5000):
            ids.update({(kind, k): pid for pid, k in session.execute(
                select(ProblemRecord.id, ProblemRecord.key).where(
                    ProblemRecord.kind == kind, ProblemRecord.state != ProblemState.RESOLVED,
                    ProblemRecord.key.in_(keys[i:i + 5000])))})
    session.execute(insert(ProblemSide), [
        {"problem_id": ids[(kind, key)], "student_id": sid, "school_path": paths[sid],
         "treatment": Treatment.NONE, "updated_at": now}
        for kind, key, _detail, sids in rows for sid in sorted(sids)])


def _resolve(problem, why, now=None):
    problem.state, problem.resolution = ProblemState.RESOLVED, why
    problem.resolved_at = now or datetime.datetime.now()


# ---------------------------------------------------------------- the state of one problem

def _still_involved(problem, side):
    """Is this side's record still part of the problem (active, and still matching its key)?"""
    s = side.student
    if s.status.value in INACTIVE:
        return False
    if problem.kind == ProblemKind.DUPLICATE_ID:
        return s.id_number == problem.key
    if problem.kind == ProblemKind.DUPLICATE_IDENTITY:
        return not s.id_number and identity_key(s.name, s.gender, s.birth_date) == problem.key
    return True


def _id_valid(student):
    if student.id_type != identity.MAINLAND_ID or not student.id_number:
        return True
    try:
        identity.check_id_number(student.id_number, birth_date=student.birth_date, gender=student.gender)
    except DomainError:
        return False
    return True


def reevaluate(session, problem):
    """Derive the problem's state from its sides (after any side changed)."""
    if problem.state == ProblemState.RESOLVED:
        return problem
    for side in problem.sides:  # a record that moved school keeps its side, owned by its new school
        if side.student.school is not None:
            side.school_path = side.student.school.path
    involved = [s for s in problem.sides if _still_involved(problem, s)]
    if problem.kind == ProblemKind.INVALID_ID:
        side = problem.sides[0]
        if not involved:
            _resolve(problem, "记录已删除或转出")
        elif side.treatment == Treatment.PROVED:
            _resolve(problem, "佐证通过：身份证号经核实无误")
            problem.accepted_value = side.student.id_number
        elif _id_valid(side.student):
            _resolve(problem, "身份证号已更正")
        else:
            problem.state = ProblemState.UNTREATED if side.treatment in (Treatment.NONE, Treatment.CARRIED) \
                else ProblemState.PARTLY
        return problem
    if len(involved) <= 1:
        left = involved[0].student.name if involved else ""
        _resolve(problem, f"仅余一条记录（{left}），问题已解决" if involved else "相关记录均已删除或更正")
        return problem
    if problem.state == ProblemState.ARBITRATED:
        # Settled only when the losing records are deleted or changed (len(involved) above), not
        # when their school merely started to (a rejected deletion leaves them duplicates).
        return problem
    proved = [s for s in involved if s.treatment == Treatment.PROVED]
    if len(proved) == len(involved):
        problem.state = ProblemState.ARBITRATION
        problem.arbiter = _common_superior(session, [s.student.school for s in involved])
        problem.arbiter_id = problem.arbiter.id
    elif proved:
        problem.state = ProblemState.PARTLY
    else:
        problem.state = ProblemState.UNTREATED
    return problem


def _common_superior(session, schools):
    judge = schools[0]
    for other in schools[1:]:
        if not (other.path.startswith(judge.path) and judge.kind.value != "school"):
            judge = requests.lowest_common_superior(session, judge, other)
    if judge.kind.value == "school":  # every record at one school: its county decides
        judge = requests.lowest_common_superior(session, judge, judge)
    return judge


# ---------------------------------------------------------------- handling by the owning school

def _problem_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    mine = select(ProblemSide.problem_id).where(ProblemSide.school_path.startswith(prefix))
    arbiter = ProblemRecord.arbiter_id == getattr(actor, "org_unit_id", -1)
    return ProblemRecord.id.in_(mine) | arbiter


def _side_scope(actor):
    return ProblemSide.problem_id.in_(select(ProblemRecord.id).where(_problem_scope(actor)))


scope.register(ProblemRecord, _problem_scope)
scope.register(ProblemSide, _side_scope)


def _own_side(session, actor, side_id, doing):
    """The side, if it is the actor's school's record: acting on the other side's record is refused."""
    side = scope.get(session, actor, ProblemSide, side_id)
    unit = getattr(actor, "org_unit", None)
    if unit is None or actor_rank(actor) > RANK_SCHOOL or side.student.school_id != unit.id:
        raise PermissionDenied(f"只能{doing}本校的记录；对方学校的记录由对方处理")
    if side.problem.state == ProblemState.RESOLVED:
        raise DomainError("该问题学籍已解决，无需处理")
    if side.treatment in OPEN_TREATMENTS:
        raise DomainError(f"本校对该记录的处理（{side.treatment.label}）尚未办结，请等待审批结果")
    if side.treatment == Treatment.WON:  # its outcome could not be restored if a request of it failed
        raise DomainError("本校的记录仲裁已通过，无需处理；由未通过方删除或变更")
    if side.problem.state == ProblemState.ARBITRATION and doing == "佐证":
        raise DomainError("各方均已佐证，正等待共同上级仲裁")
    return side


@with_actor
def request_delete(session, actor, side_id, reason, expected_version=None):
    """删除: the school deletes its own record of the problem; the county approves."""
    side = _own_side(session, actor, side_id, "删除")
    _check_version(side.problem, expected_version)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写删除原因（如：学生实际在对方学校就读）", field="reason")
    req = requests.start(session, actor, PROBLEM_DELETE, school=side.student.school, student=side.student,
                         reason=reason, payload={"problem_id": side.problem_id, "side_id": side.id,
                                                 "kind": side.problem.kind.value})
    side.treatment, side.request_id = Treatment.DELETING, req.id
    session.flush()
    return req


@with_actor
def request_proof(session, actor, side_id, reason, attachments=(), expected_version=None):
    """佐证: the school proves its record is right, with evidence; the county approves."""
    side = _own_side(session, actor, side_id, "佐证")
    _check_version(side.problem, expected_version)
    if side.treatment == Treatment.LOST:
        raise DomainError("仲裁未通过的记录不能再佐证，请删除或变更关键数据")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请说明佐证理由（如：经派出所核实身份证号无误）", field="reason")
    if not attachments:
        raise DomainError("佐证须上传证明材料（如派出所证明、户口簿）", field="attachments")
    req = requests.start(session, actor, PROBLEM_PROVE, school=side.student.school, student=side.student,
                         reason=reason, payload={"problem_id": side.problem_id, "side_id": side.id,
                                                 "kind": side.problem.kind.value})
    for a in attachments:
        a.request_id, a.student_id = req.id, side.student_id
    side.treatment, side.request_id = Treatment.PROVING, req.id
    session.flush()
    return req


@with_actor
def request_change(session, actor, side_id, changes, reason, attachments=(), expected_version=None):
    """变更: the ordinary 关键数据变更 of the side's record (e.g. the corrected ID number)."""
    side = _own_side(session, actor, side_id, "变更")
    _check_version(side.problem, expected_version)
    req, warnings = students.request_key_change(session, actor, side.student_id, changes, reason, attachments)
    side.treatment, side.request_id = Treatment.CHANGING, req.id
    session.flush()
    return req, warnings


@with_actor
def carry_on(session, actor, side_ids, reason):
    """结转: a graduating student's problem is carried on to the next stage's school (the guide:
    问题学籍学生可以毕业，由上一级学校继续处理). By the school for its own records, or its county."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写结转说明", field="reason")
    done = []
    for side_id in side_ids:
        side = scope.get(session, actor, ProblemSide, _int(side_id))
        unit = getattr(actor, "org_unit", None)
        own = unit is not None and side.student.school_id == unit.id and actor_rank(actor) <= RANK_SCHOOL
        superior = unit is not None and scope.path_within(side.school_path, unit.path) and unit.id != side.student.school_id \
            and actor_rank(actor) <= RANK_COUNTY
        if not (own or superior):
            raise PermissionDenied("只能结转本校（或本辖区学校）的记录")
        if side.problem.state == ProblemState.RESOLVED:
            continue
        if side.treatment in OPEN_TREATMENTS:
            raise DomainError(f"{side.student.name} 的处理（{side.treatment.label}）尚未办结，不能结转")
        side.treatment = Treatment.CARRIED
        done.append(side)
    session.flush()
    return done


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _check_version(problem, expected_version):
    if expected_version is not None and _int(expected_version) != problem.version:
        raise DomainError("该问题学籍已有变化，请刷新页面后再处理")


# ---------------------------------------------------------------- arbitration

@with_actor
def arbitrate(session, actor, problem_id, winner_side_id, comment, expected_version=None):
    """The lowest common superior of the sides picks the rightful record; the others must then
    delete or change theirs. Final and audited."""
    problem = scope.get(session, actor, ProblemRecord, problem_id)
    _check_version(problem, expected_version)
    if problem.state != ProblemState.ARBITRATION:
        raise DomainError(f"该问题学籍当前状态为“{problem.state.label}”，不需要仲裁")
    if getattr(actor, "org_unit_id", None) != problem.arbiter_id or actor_rank(actor) > RANK_COUNTY:
        raise PermissionDenied(f"该问题学籍由双方学校的共同上级（{problem.arbiter.name}）仲裁")
    comment = (comment or "").strip()
    if not comment:
        raise DomainError("仲裁须填写理由", field="comment")
    pending = [s for s in problem.sides if s.treatment in OPEN_TREATMENTS]
    if pending:
        raise DomainError(f"{pending[0].student.school.name}对其记录的处理（{pending[0].treatment.label}）尚未办结，"
                          f"请待其办结后再仲裁")
    winner = next((s for s in problem.sides if s.id == _int(winner_side_id) and _still_involved(problem, s)), None)
    if winner is None:
        raise DomainError("请选择仲裁通过的记录", field="winner")
    for side in problem.sides:
        if _still_involved(problem, side):
            side.treatment = Treatment.WON if side is winner else Treatment.LOST
    problem.state = ProblemState.ARBITRATED
    problem.arbitration_comment, problem.arbitrated_by_id = comment, actor.id
    problem.arbitrated_at = datetime.datetime.now()
    session.flush()
    return problem


# ---------------------------------------------------------------- the request types and the end hook

def _approve_delete(session, actor, req):
    student = req.student
    student.status = StudentStatus.DELETED
    if student.xueji_no:
        student.former_xueji_no, student.xueji_no = student.xueji_no, None
    students._close_history(student, f"问题学籍删除：{req.reason}"[:255], req.id)


def _describe(req):
    p = req.payload or {}
    kind = next((k for k in ProblemKind if k.value == p.get("kind")), None)
    return [("问题学籍", "", f"{kind.label if kind else ''}（编号 {p.get('problem_id')}）")]


def _after_request(session, actor, req):
    """Any request of a student with open problems may have changed them: follow it."""
    if req.student_id is None:
        return
    sides = session.scalars(select(ProblemSide).join(ProblemRecord).where(
        ProblemSide.student_id == req.student_id, ProblemRecord.state != ProblemState.RESOLVED)).all()
    for side in sides:
        if side.request_id == req.id:
            approved = req.state == RequestState.APPROVED
            if req.type == PROBLEM_DELETE and approved:
                side.treatment = Treatment.DELETED
            elif req.type == PROBLEM_PROVE and approved:
                side.treatment = Treatment.PROVED
            else:  # a change went through (the problem is re-checked below) or the request failed
                side.treatment = Treatment.LOST if side.problem.state == ProblemState.ARBITRATED \
                    and side.treatment != Treatment.WON else _proved_before(session, side, req)
        reevaluate(session, side.problem)
    session.flush()


def _proved_before(session, side, ended):
    """What a side falls back to when its request ends without settling it: a proof approved
    earlier stands (PROVED), else 未处理."""
    proofs = session.scalars(select(Request).where(
        Request.student_id == side.student_id, Request.type == PROBLEM_PROVE,
        Request.state == RequestState.APPROVED, Request.id != ended.id)).all()
    proved = any((r.payload or {}).get("side_id") == side.id for r in proofs)
    return Treatment.PROVED if proved else Treatment.NONE


requests.register(requests.RequestType(PROBLEM_DELETE, "问题学籍删除", on_approve=_approve_delete, describe=_describe))
requests.register(requests.RequestType(PROBLEM_PROVE, "问题学籍佐证", describe=_describe))
requests.END_HOOKS.append(_after_request)


# ---------------------------------------------------------------- checks for graduation and admission

def blocking_sides(session, student_ids):
    """Open problem sides of these students that are neither settled for them nor carried on:
    graduation of a year waits on these (issue: school year), admission locks them."""
    if not student_ids:
        return []
    return session.scalars(select(ProblemSide).join(ProblemRecord).where(
        ProblemSide.student_id.in_(list(student_ids)), ProblemRecord.state != ProblemState.RESOLVED,
        ProblemSide.treatment.not_in([Treatment.CARRIED, Treatment.WON]))).all()


def counts_by_kind_and_state(session, actor):
    """{(kind, state): n} of the problems visible to the actor (its subtree)."""
    rows = session.execute(select(ProblemRecord.kind, ProblemRecord.state, func.count())
                           .where(scope.clause(actor, ProblemRecord))
                           .group_by(ProblemRecord.kind, ProblemRecord.state)).all()
    return {(k, s): n for k, s, n in rows}


def arbitration_queue(actor):
    return (select(ProblemRecord).where(ProblemRecord.state == ProblemState.ARBITRATION,
                                        ProblemRecord.arbiter_id == getattr(actor, "org_unit_id", -1))
            .order_by(ProblemRecord.detected_at))


def sides_of_school_query(actor, kind=None, state=None):
    """The actor's own records that are sides of open (or, with state, any) problems."""
    stmt = (select(ProblemSide).join(ProblemRecord)
            .where(ProblemSide.school_path.startswith(scope.actor_path(actor) or "/-none-/"))
            .order_by(ProblemRecord.detected_at.desc(), ProblemSide.id))
    if kind is not None:
        stmt = stmt.where(ProblemRecord.kind == kind)
    stmt = stmt.where(ProblemRecord.state == state) if state is not None else \
        stmt.where(ProblemRecord.state != ProblemState.RESOLVED)
    return stmt


def may_run_detection(actor):
    unit = getattr(actor, "org_unit", None)
    return unit is not None and unit.parent_id is None and actor_rank(actor) <= RANK_COUNTY


def check_may_run_detection(actor):
    if not may_run_detection(actor):
        raise PermissionDenied("问题学籍检测由省级管理员发起（全省范围）")

