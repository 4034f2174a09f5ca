"""中考报名: the year's candidates come from the registry's graduating junior class (应届, one click
per school, county or above, no retyping: one INSERT … SELECT), plus 往届 and out-of-province
candidates entered by hand with the registry's identity checks. Each gets a 报名号 by the year's
pattern (year + county code + a per-county sequence). One registration per person and year is
kept by two partial unique indexes (student, ID number) as well as by the checks here."""
from sqlalchemy import String, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app.codes import tables
from app.models.org import OrgKind, OrgUnit
from app.models.student import Guardian, Student, StudentStatus
from app.models.zhongkao import (Candidate, CandidateCategory, CandidateOrigin, HukouKind, InfoState, StudyIntent,
                                 QualState)
from app.services import audit, clock, grades, identity, scope
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_SCHOOL, actor_rank
from app.services.zhongkao import exams, values
from app.services.zhongkao.exams import _TOKEN

MAX_NAMES = 5


# ---------------------------------------------------------------- scope

def _candidate_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    return Candidate.school_path.startswith(prefix, autoescape=False)


scope.register(Candidate, _candidate_scope)


def candidates_query(actor, exam, school_id=None):
    stmt = select(Candidate).where(Candidate.exam_id == exam.id, scope.clause(actor, Candidate))
    if school_id:
        stmt = stmt.where(Candidate.school_id == school_id)
    return stmt


def get_candidate(session, actor, candidate_id):
    """A candidate inside the actor's scope, else NotFound (never reveal another county's)."""
    if not str(candidate_id or "").isdigit() or len(str(candidate_id)) > 12:
        raise NotFound("记录不存在或不在您的管辖范围内")
    return scope.get(session, actor, Candidate, int(candidate_id))


def _officer(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied(f"您没有{doing}的权限")
    return unit


def _names(rows):
    shown = "、".join(rows[:MAX_NAMES])
    return shown + (f" 等 {len(rows)} 人" if len(rows) > MAX_NAMES else "")


# ---------------------------------------------------------------- 报名号

def _seq_width(pattern):
    for m in _TOKEN.finditer(pattern):
        if m.group(1) == "seq":
            return int(m.group(2) or 0)
    return 0


def _reg_no_sql(session, exam, county_code, seq):
    """The 报名号 as a SQL expression (pattern tokens → concatenation), so a whole graduating class
    gets its numbers inside one INSERT … SELECT."""
    dialect = session.get_bind().dialect.name
    parts, pos = [], 0
    for m in _TOKEN.finditer(exam.reg_no_pattern):
        if m.start() > pos:
            parts.append(literal(exam.reg_no_pattern[pos:m.start()]))
        token, width = m.group(1), int(m.group(2) or 0)
        if token == "year":
            parts.append(literal(str(exam.year)))
        elif token == "yy":
            parts.append(literal(str(exam.year)[-2:]))
        elif token == "county":
            parts.append(cast(county_code, String))
        elif token == "seq":
            text = cast(seq, String)
            if width:
                text = func.lpad(text, width, "0") if dialect == "postgresql" else \
                    func.substr(literal("0" * width) + text, -width)
            parts.append(text)
        pos = m.end()
    if pos < len(exam.reg_no_pattern):
        parts.append(literal(exam.reg_no_pattern[pos:]))
    expr = parts[0]
    for p in parts[1:]:
        expr = expr.op("||")(p)
    return expr


def reg_no_for(exam, county, seq):
    return exams.format_number(exam.reg_no_pattern, year=exam.year, yy=str(exam.year)[-2:],
                               county=county.region_code, seq=seq)


def _check_seq_room(session, exam, county_ids_counts):
    """The sequence must fit its width: a 5-digit {seq} holds 99,999 candidates per county."""
    width = _seq_width(exam.reg_no_pattern)
    if not width:
        return
    limit = 10 ** width - 1
    used = dict(session.execute(
        select(Candidate.county_id, func.max(Candidate.seq))
        .where(Candidate.exam_id == exam.id, Candidate.county_id.in_(list(county_ids_counts)))
        .group_by(Candidate.county_id)).all())
    for county_id, count in county_ids_counts.items():
        if (used.get(county_id) or 0) + count > limit:
            county = session.get(OrgUnit, county_id)
            raise DomainError(f"{county.name}的报名号序号已用到上限（{width} 位），请省级调整报名号规则")


# ---------------------------------------------------------------- 应届: from the registry

def _junior_schools(session, actor, school_ids=None):
    """Schools in the actor's scope that teach the junior stage, by their final junior grade."""
    stmt = select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.active.is_(True),
                                 scope.clause(actor, OrgUnit))
    if school_ids:
        stmt = stmt.where(OrgUnit.id.in_(list(school_ids)))
    by_grade = {}
    for school in session.scalars(stmt):
        if grades.STAGE_JUNIOR in grades.stages_of(school):
            final = f"{grades.STAGE_JUNIOR}{grades.stage_years(school, grades.STAGE_JUNIOR)}"
            by_grade.setdefault(final, []).append(school.id)
    return by_grade


def _graduating_clause(by_grade):
    return or_(*[and_(Student.school_id.in_(ids), Student.grade == g) for g, ids in by_grade.items()])


def graduating_query(session, actor, exam, school_ids=None):
    """The graduating junior class in scope that is not registered yet (what one click would add)."""
    by_grade = _junior_schools(session, actor, school_ids)
    if not by_grade:
        return None
    return (select(Student).where(Student.status == StudentStatus.IN_SCHOOL, _graduating_clause(by_grade),
                                  ~exists().where(Candidate.exam_id == exam.id, Candidate.student_id == Student.id)))


def register_graduating(session, actor, exam=None, school_ids=None, student_ids=None, today=None):
    """Register the graduating junior class of the actor's scope (or of the given schools, or only
    the given students) as 应届 candidates. Already registered students are skipped; returns counts.
    Students whose ID number is shared with another record (问题学籍) are left out and counted."""
    unit = _officer(actor, "中考报名")
    exam = exam or exams.require_exam(session)
    exams.check_registration_open(exam, today)
    if school_ids is not None:
        school_ids = [exams.in_scope_school(session, actor, sid).id for sid in school_ids]
        if not school_ids:
            raise DomainError("请选择学校")
    by_grade = _junior_schools(session, actor, school_ids)
    if not by_grade:
        raise DomainError("所选范围内没有初中学校")
    if student_ids is not None:
        _check_students(session, actor, exam, student_ids, by_grade)

    school = aliased(OrgUnit, name="school")
    county = aliased(OrgUnit, name="county")
    guardian = aliased(Guardian, name="g")
    bases = (select(Candidate.county_id.label("county_id"), func.max(Candidate.seq).label("top"))
             .where(Candidate.exam_id == exam.id).group_by(Candidate.county_id).subquery("bases"))
    where = [Student.status == StudentStatus.IN_SCHOOL, _graduating_clause(by_grade),
             ~exists().where(Candidate.exam_id == exam.id, Candidate.student_id == Student.id),
             or_(Student.id_number.is_(None),
                 ~exists().where(Candidate.exam_id == exam.id, Candidate.id_number == Student.id_number))]
    if student_ids is not None:
        where.append(Student.id.in_(list(student_ids)))
    # One row per ID number: two active records sharing one (问题学籍) would break the unique index.
    dup_rank = func.row_number().over(partition_by=Student.id_number, order_by=Student.id)
    inner = (select(Student.id.label("student_id"), school.parent_id.label("county_id"),
                    county.region_code.label("county_code"), dup_rank.label("dup"),
                    Student.id_number.label("id_number"))
             .join(school, school.id == Student.school_id)
             .join(county, county.id == school.parent_id)
             .where(*where).subquery("picked"))
    shared = select(func.count()).select_from(inner).where(inner.c.dup > 1, inner.c.id_number.is_not(None))
    duplicates = session.scalar(shared) or 0
    kept = (select(inner.c.student_id, inner.c.county_id, inner.c.county_code)
            .where(or_(inner.c.dup == 1, inner.c.id_number.is_(None))).subquery("kept"))
    counts = dict(session.execute(select(kept.c.county_id, func.count()).group_by(kept.c.county_id)).all())
    if not counts:
        return {"added": 0, "duplicates": duplicates}
    _check_seq_room(session, exam, counts)

    numbered = (select(Student, kept.c.county_id, kept.c.county_code,
                       (func.coalesce(bases.c.top, 0) + func.row_number().over(
                           partition_by=kept.c.county_id,
                           order_by=(school.school_code, Student.class_name, Student.name, Student.id))).label("seq"),
                       school.path.label("school_path"))
                .select_from(kept)
                .join(Student, Student.id == kept.c.student_id)
                .join(school, school.id == Student.school_id)
                .outerjoin(bases, bases.c.county_id == kept.c.county_id)
                .subquery("numbered"))
    n = numbered.c
    g = guardian
    now = clock.now()
    source = (select(
        literal(exam.id), _reg_no_sql(session, exam, n.county_code, n.seq), n.seq, n.id,
        literal(CandidateOrigin.REGISTRY.value), literal(CandidateCategory.FRESH.value),
        case((n.migrant_child.is_(True), literal(HukouKind.MIGRANT.value)), else_=literal(HukouKind.LOCAL.value)),
        literal(StudyIntent.GENERAL.value),
        n.name, n.gender, n.birth_date, n.id_type, n.id_number, n.ethnicity,
        n.county_id, n.school_id, n.school_path, n.class_name,
        g.phone, g.name, g.relation, g.phone, n.hukou_code,
        literal(False), literal(InfoState.COLLECTING.value), literal(QualState.PENDING.value), literal(0),
        literal(now), literal(now), literal(getattr(actor, "id", None)), literal(1))
        .select_from(numbered)
        .outerjoin(g, g.id == select(func.min(Guardian.id)).where(Guardian.student_id == n.id)
                   .correlate(numbered).scalar_subquery()))
    columns = ["exam_id", "reg_no", "seq", "student_id", "origin", "category", "hukou_kind", "intent",
               "name", "gender", "birth_date", "id_type", "id_number", "ethnicity",
               "county_id", "school_id", "school_path", "class_name",
               "phone", "guardian_name", "guardian_relation", "guardian_phone", "hukou_code",
               "has_photo", "info_state", "qual_state", "failed_attempts",
               "created_at", "updated_at", "created_by_id", "version"]
    try:
        with session.begin_nested():
            result = session.execute(Candidate.__table__.insert().from_select(columns, source))
    except IntegrityError:
        raise DomainError("有其他人正在为同一范围报名，请稍后刷新再试")
    added = result.rowcount if result.rowcount is not None and result.rowcount >= 0 else sum(counts.values())
    audit.record_bulk(session, "zk_candidate", added, unit.path, "中考报名（学籍库应届毕业生）", actor)
    return {"added": added, "duplicates": duplicates}


def _check_students(session, actor, exam, student_ids, by_grade):
    """Students picked one by one: each must be in scope, in school and in the graduating class."""
    ids = [int(i) for i in student_ids if str(i).isdigit() and len(str(i)) <= 12]
    if not ids or len(ids) != len(list(student_ids)):
        raise DomainError("请选择学生")
    rows = session.execute(select(Student.id, Student.name, Student.school_id, Student.grade, Student.status)
                           .where(Student.id.in_(ids), scope.clause(actor, Student))).all()
    if len(rows) != len(set(ids)):
        raise NotFound("记录不存在或不在您的管辖范围内")
    finals = {sid: g for g, sids in by_grade.items() for sid in sids}
    wrong = [r.name for r in rows if r.status != StudentStatus.IN_SCHOOL or finals.get(r.school_id) != r.grade]
    if wrong:
        raise DomainError(f"{_names(wrong)} 不是初中毕业年级的在校学生，不能作为应届生报名")
    taken = session.scalars(select(Candidate.name).where(Candidate.exam_id == exam.id,
                                                         Candidate.student_id.in_(ids))).all()
    if taken:
        raise DomainError(f"{_names(list(taken))} 已经报名，不能重复报名")


# ---------------------------------------------------------------- 往届 / 外省: by hand







def register_manual(session, actor, data, exam=None, today=None):
    """A 往届 or out-of-province candidate: identity checked like the registry's, one per person."""
    _officer(actor, "中考报名")
    exam = exam or exams.require_exam(session)
    exams.check_registration_open(exam, today)
    school = exams.in_scope_school(session, actor, data.get("school_id"))
    if grades.STAGE_JUNIOR not in grades.stages_of(school):
        raise DomainError(f"{school.name}不是初中学校，不能作为中考报名点", field="school_id")
    county = exams.county_of(session, school)
    name = values.text(data.get("name"), "姓名", "name", 64, required=True)
    gender = str(data.get("gender") or "").strip()
    if gender not in identity.GENDER_NAMES:
        raise DomainError("请选择性别", field="gender")
    birth = data.get("birth_date")
    if birth in (None, ""):
        raise DomainError("请填写出生日期", field="birth_date")
    from app.services.dates import parse_date
    birth = parse_date(birth, "出生日期格式应为 年-月-日（如 2011-05-01）", "birth_date")
    check = identity.check_id_number(data.get("id_number"), birth_date=birth, gender=gender)
    number = check.number
    ethnicity = str(data.get("ethnicity") or "01").strip()
    if not tables.is_valid("ethnicity", ethnicity):
        raise DomainError("民族代码不正确", field="ethnicity")
    origin = values.choice(data.get("origin"), CandidateOrigin, "报名来源", "origin", CandidateOrigin.MANUAL)
    if origin == CandidateOrigin.REGISTRY:
        raise DomainError("学籍库应届毕业生请从“从学籍库报名”一键报名，不需要手工录入", field="origin")
    category = values.choice(data.get("category"), CandidateCategory, "考生类别", "category", CandidateCategory.PAST)
    if origin == CandidateOrigin.MANUAL and category != CandidateCategory.PAST:
        raise DomainError("本省应届毕业生应从学籍库报名；手工报名的本省考生只能是往届生", field="category")

    taken = session.scalar(select(Candidate).where(Candidate.exam_id == exam.id, Candidate.id_number == number))
    if taken is not None:
        where = taken.school.name if scope.can_see_unit(actor, taken.school) else "其他县区"
        raise DomainError(f"身份证号 {identity.mask(number)} 的考生已在{where}报名，不能重复报名", field="id_number")
    record = session.scalar(select(Student).where(Student.id_number == number,
                                                  Student.status.in_([StudentStatus.IN_SCHOOL,
                                                                      StudentStatus.SUSPENDED])))
    if record is not None:
        final = record.school is not None and grades.is_final(record.school, record.grade) \
            and grades.stage_of(record.grade) == grades.STAGE_JUNIOR
        if final:
            raise DomainError("该生是本省初中毕业年级在校学生，请由学校从学籍库报名（应届）", field="id_number")
        raise DomainError("该身份证号属于本省在校学生（非初中毕业年级），不能报名中考", field="id_number")

    candidate = Candidate(
        exam_id=exam.id, student_id=None, origin=origin, category=category,
        hukou_kind=values.choice(data.get("hukou_kind"), HukouKind, "户籍类别", "hukou_kind", HukouKind.LOCAL),
        intent=values.choice(data.get("intent"), StudyIntent, "报考意向", "intent", StudyIntent.GENERAL),
        name=name, gender=gender, birth_date=birth, id_type="1", id_number=number, ethnicity=ethnicity,
        county_id=county.id, school_id=school.id, school_path=school.path,
        graduated_school_name=values.text(data.get("graduated_school_name"), "毕业学校", "graduated_school_name", 100, required=True),
        phone=values.phone(data.get("phone"), "联系电话", "phone"),
        guardian_name=values.text(data.get("guardian_name"), "监护人姓名", "guardian_name", 64),
        guardian_phone=values.phone(data.get("guardian_phone"), "监护人电话", "guardian_phone"),
        hukou_address=values.text(data.get("hukou_address"), "户籍地址", "hukou_address", 200),
        home_address=values.text(data.get("home_address"), "家庭住址", "home_address", 200),
        info_state=InfoState.COLLECTING, qual_state=QualState.PENDING, created_by_id=getattr(actor, "id", None))
    for attempt in range(3):  # two officers numbering the same county at once: take the next number
        top = session.scalar(select(func.max(Candidate.seq)).where(Candidate.exam_id == exam.id,
                                                                   Candidate.county_id == county.id)) or 0
        _check_seq_room(session, exam, {county.id: 1})
        candidate.seq = top + 1
        candidate.reg_no = reg_no_for(exam, county, candidate.seq)
        try:
            with session.begin_nested():
                session.add(candidate)
                session.flush()
            return candidate
        except IntegrityError:
            if session.scalar(select(Candidate.id).where(Candidate.exam_id == exam.id,
                                                         Candidate.id_number == number)):
                raise DomainError("该考生刚刚已由他人报名，请刷新后查看", field="id_number")
    raise DomainError("报名人数较多，请稍后重试")


def cancel_registration(session, actor, candidate_id):
    """取消报名 before the information is signed and locked (a mistaken registration)."""
    _officer(actor, "取消报名")
    candidate = get_candidate(session, actor, candidate_id)
    if candidate.info_state == InfoState.CONFIRMED:
        raise DomainError("考生信息已签字确认并锁定，不能取消报名")
    if candidate.room_id is not None:
        raise DomainError("考生已编排考场，不能取消报名")
    session.delete(candidate)
    session.flush()


def counts_by_school(session, actor, exam):
    """Registered vs graduating class per school in scope (the officer's progress view)."""
    by_grade = _junior_schools(session, actor)
    if not by_grade:
        return []
    graduating = dict(session.execute(
        select(Student.school_id, func.count()).where(Student.status == StudentStatus.IN_SCHOOL,
                                                      _graduating_clause(by_grade))
        .group_by(Student.school_id)).all())
    registered = dict(session.execute(
        select(Candidate.school_id, func.count()).where(Candidate.exam_id == exam.id,
                                                        scope.clause(actor, Candidate))
        .group_by(Candidate.school_id)).all())
    ids = sorted(set(graduating) | set(registered))
    schools = {u.id: u for u in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))} if ids else {}
    return [{"school": schools[i], "graduating": graduating.get(i, 0), "registered": registered.get(i, 0)}
            for i in sorted(ids, key=lambda i: schools[i].path)]
