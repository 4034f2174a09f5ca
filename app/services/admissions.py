"""招生入学: plans (招生计划数), the county's unified list (统一招生), self-admission (自主招生),
cross-province admission (调取新生档案), the counties' approvals (新生录取核办, 外地就读学生核办),
duplicate admissions (重复招生) and what an approved admission does to the record.

Seats: every live admission (pending or approved) holds one seat of its plan. A seat is taken by one
guarded UPDATE (… SET used = used + 1 WHERE used < quota), so of two officers admitting the last
seat at the same moment exactly one succeeds (PostgreSQL re-checks the WHERE after the other's
commit; SQLite serialises writers); a CHECK constraint keeps `used` within the quota whatever writes
it. An admission that ends without standing (rejected, withdrawn, lost an arbitration) frees its seat.

Duplicates are detected, not prevented: when a second school admits a student another school has a
pending admission for, a DuplicateAdmission case opens; none of its admissions can be approved
until the schools withdraw (撤销) or prove (佐证, approved by the admitting county) and, when every
remaining claim is proved, the schools' lowest common superior arbitrates: at most one stands.
Once an admission is approved the record has moved: a later admission by another school is refused.
"""
from sqlalchemy import func, or_, select, update

from app.models.admission import (Admission, AdmissionKind, AdmissionListRow, AdmissionState, ClaimState,
                                  DuplicateAdmission, DuplicateState, EnrollmentPlan)
from app.models.org import OrgKind, OrgUnit
from app.models.problems import ProblemRecord, ProblemSide, ProblemState, Treatment
from app.models.requests import Party, RequestState
from app.models.school_year import Graduation, GraduationState, SchoolYear
from app.models.student import Attachment, Student, StudentStatus
from app.services import calendars, clock, grades, graduation, identity, requests, scope, transfers
from app.services.context import with_actor
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.requests import Stop
from app.services.roles import RANK_COUNTY, RANK_SCHOOL, actor_rank

ADMISSION = "admission"
ARCHIVE = "admission_archive"
PROOF = "admission_proof"
PLAN_CHANGE = "plan_change"
WINDOW = "admission"
MAX_QUOTA = 5000
ENTRY_GRADES = {grades.STAGE_JUNIOR: "21", grades.STAGE_SENIOR: "31", grades.STAGE_VOCATIONAL: "41"}
STAGE_NAMES = {"初中": grades.STAGE_JUNIOR, "高中": grades.STAGE_SENIOR, "普通高中": grades.STAGE_SENIOR,
               "中职": grades.STAGE_VOCATIONAL, "中等职业教育": grades.STAGE_VOCATIONAL}
CONTESTED = "该生被多所学校录取（重复招生）尚未解决，不能分班"


# ---------------------------------------------------------------- scope

def _admission_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    return Admission.school_path.startswith(prefix) | Admission.from_path.startswith(prefix)


def _plan_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    return EnrollmentPlan.school_path.startswith(prefix)


def _list_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    units = select(OrgUnit.id).where(OrgUnit.path.startswith(prefix))
    return AdmissionListRow.county_path.startswith(prefix) | AdmissionListRow.to_school_id.in_(units)


def _duplicate_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    mine = select(Admission.duplicate_id).where(Admission.duplicate_id.is_not(None), _admission_scope(actor))
    return DuplicateAdmission.id.in_(mine) | (DuplicateAdmission.arbiter_id == getattr(actor, "org_unit_id", -1))


scope.register(Admission, _admission_scope)
scope.register(EnrollmentPlan, _plan_scope)
scope.register(AdmissionListRow, _list_scope)
scope.register(DuplicateAdmission, _duplicate_scope)


# ---------------------------------------------------------------- helpers

def entry_grade(stage):
    return ENTRY_GRADES.get(stage)


def stage_code(value):
    """教育阶段 as officers write it (初中, 高中, 中职) or as a code (2, 3, 4)."""
    text = str(value or "").strip()
    if text in ENTRY_GRADES:
        return text
    return STAGE_NAMES.get(text)


def entry_grades_of(school):
    return [g for g in ENTRY_GRADES.values() if grades.teaches(school, g)]


def _int(value, label, field, low, high):
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainError(f"{label}应为整数", field=field)
    if not low <= n <= high:
        raise DomainError(f"{label}应在 {low} 到 {high} 之间", field=field)
    return n


def _ids(values, what="记录"):
    from app.services.school_years import ids_of
    return ids_of(values, what)


def _county_of(session, unit):
    return requests.ancestor_of_kind(session, unit, OrgKind.COUNTY)


def _school_actor(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.SCHOOL or actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied(f"只有学校学籍管理员可以{doing}")
    return unit


def _county_actor(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.COUNTY or actor_rank(actor) > RANK_COUNTY:
        raise PermissionDenied(f"只有县（区）教育局学籍管理员可以{doing}")
    return unit


def _check_version(row, expected_version):
    from app.services.school_years import _check_version as check
    check(row, expected_version)


MAX_SCORE = 1000  # 中考 totals are a few hundred; the column holds 99999.9


def clean_score(value):
    """成绩 (optional): a finite number from 0 to 1000, one decimal."""
    if value in (None, ""):
        return None
    try:
        score = round(float(str(value).strip()), 1)
    except (TypeError, ValueError):
        raise DomainError("成绩应为数字", field="score")
    if not 0 <= score <= MAX_SCORE:  # also refuses nan and inf
        raise DomainError(f"成绩应在 0 到 {MAX_SCORE} 之间", field="score")
    return score


def admission_year(session, today=None, required=True):
    """The school year admissions go into: the one starting this summer (the season runs from the
    升级 on 8月11日 to 9月30日, before the new year's first day). Remembered per session once found
    (an import asks for every row)."""
    today = today or clock.today()
    start = today.year if today.month >= 7 else today.year - 1
    cache = session.info.setdefault("admission_years", {})
    year = cache.get(start)
    if year is None or year not in session:
        year = session.scalar(select(SchoolYear).where(SchoolYear.start_year == start))
        if year is not None:
            cache[start] = year
    if year is None and required:
        raise DomainError(f"省级尚未开设 {start}-{start + 1} 学年，暂不能办理招生入学")
    return year


def _year(session, year_id=None):
    if year_id in (None, ""):
        return admission_year(session)
    year = session.get(SchoolYear, _int(year_id, "学年", "year_id", 1, 10 ** 9))
    if year is None:
        raise DomainError("学年不存在", field="year_id")
    return year


# ---------------------------------------------------------------- 招生计划数

def plan_of(session, year, school, grade):
    """The plan, remembered per session once found (plans are never deleted; `used` is re-read
    whenever a seat changes)."""
    cache = session.info.setdefault("admission_plans", {})
    key = (year.id, school.id, grade)
    plan = cache.get(key)
    if plan is None or plan not in session:
        plan = session.scalar(select(EnrollmentPlan).where(EnrollmentPlan.year_id == year.id,
                                                           EnrollmentPlan.school_id == school.id,
                                                           EnrollmentPlan.grade == grade))
        if plan is not None:
            cache[key] = plan
    return plan


def admitted_count(session, plan_id):
    return session.scalar(select(func.count()).select_from(Admission).where(
        Admission.plan_id == plan_id, Admission.state == AdmissionState.ADMITTED)) or 0


def _guarded_quota(session, plan, quota):
    """Set the quota unless it would fall below the seats held (one guarded UPDATE: a seat taken
    at the same moment cannot slip under it)."""
    result = session.execute(
        update(EnrollmentPlan).where(EnrollmentPlan.id == plan.id, EnrollmentPlan.used <= quota)
        .values(quota=quota, version=EnrollmentPlan.version + 1, updated_at=clock.now()),
        execution_options={"synchronize_session": False})
    session.expire(plan)
    if result.rowcount != 1:
        held = session.scalar(select(EnrollmentPlan.used).where(EnrollmentPlan.id == plan.id))
        approved = admitted_count(session, plan.id)
        raise DomainError(f"{plan.school.name}{grades.grade_label(plan.grade)}已录取 {approved} 人、待核办 {held - approved} 人，"
                          f"招生计划数不能低于 {held}", field="quota")


@with_actor
def set_plan(session, actor, school_id, grade, quota, year_id=None, expected_version=None):
    """招生计划数设置: the county sets a school's quota for the year's entry grade."""
    county = _county_actor(actor, "设置招生计划数")
    year = _year(session, year_id)
    school = scope.get(session, actor, OrgUnit, _int(school_id, "学校", "school_id", 1, 10 ** 9))
    if school.kind != OrgKind.SCHOOL or not school.path.startswith(county.path):
        raise NotFound("学校不存在或不在您的管辖范围内")
    grade = str(grade or "").strip()
    if grade not in ENTRY_GRADES.values():
        raise DomainError("请选择招生年级（初中一年级、高中一年级或中职一年级）", field="grade")
    if not grades.teaches(school, grade):
        raise DomainError(f"{school.name}（{grades.schooling_label(school) or '未设置学制'}）不招收{grades.grade_label(grade)}",
                          field="grade")
    quota = _int(quota, "招生计划数", "quota", 0, MAX_QUOTA)
    plan = plan_of(session, year, school, grade)
    if plan is None:
        plan = EnrollmentPlan(year_id=year.id, year=year, school_id=school.id, school=school, school_path=school.path,
                              grade=grade, quota=quota, used=0, set_by_id=actor.id)
        session.add(plan)
        session.flush()
        return plan
    _check_version(plan, expected_version)
    if plan.quota != quota:
        _guarded_quota(session, plan, quota)
        plan.set_by_id = actor.id
        session.flush()
    return plan


def plans_query(actor, year_id=None, grade=None, school_id=None):
    stmt = select(EnrollmentPlan).where(scope.clause(actor, EnrollmentPlan))
    if year_id:
        stmt = stmt.where(EnrollmentPlan.year_id == int(year_id))
    if grade:
        stmt = stmt.where(EnrollmentPlan.grade == grade)
    if school_id:
        stmt = stmt.where(EnrollmentPlan.school_id == int(school_id))
    return stmt.order_by(EnrollmentPlan.school_path, EnrollmentPlan.grade)


def plan_totals(session, actor, year_id):
    """(quota, held, admitted) over the actor's subtree for the year: the province/city overview."""
    quota, held = session.execute(select(func.coalesce(func.sum(EnrollmentPlan.quota), 0),
                                         func.coalesce(func.sum(EnrollmentPlan.used), 0))
                                  .where(scope.clause(actor, EnrollmentPlan), EnrollmentPlan.year_id == year_id)).one()
    admitted = session.scalar(select(func.count()).select_from(Admission).where(
        scope.clause(actor, Admission), Admission.year_id == year_id, Admission.state == AdmissionState.ADMITTED,
        Admission.school_path.startswith(scope.actor_path(actor) or "/-none-/")))
    return int(quota), int(held), int(admitted or 0)


@with_actor
def request_plan_change(session, actor, plan_id, quota, reason):
    """招生计划数变更申请: the school asks its county for another quota."""
    school = _school_actor(actor, "申请变更招生计划数")
    plan = scope.get(session, actor, EnrollmentPlan, _int(plan_id, "招生计划", "plan_id", 1, 10 ** 9))
    if plan.school_id != school.id:
        raise NotFound("记录不存在或不在您的管辖范围内")
    quota = _int(quota, "申请的招生计划数", "quota", 0, MAX_QUOTA)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写变更理由", field="reason")
    if quota == plan.quota:
        raise DomainError(f"申请的计划数与现有计划数（{plan.quota}）相同", field="quota")
    if quota < plan.used:
        raise DomainError(f"本校{grades.grade_label(plan.grade)}已录取（含待核办）{plan.used} 人，计划数不能低于 {plan.used}",
                          field="quota")
    return requests.start(session, actor, PLAN_CHANGE, school=school, reason=reason, subject_key=f"plan:{plan.id}",
                          payload={"plan_id": plan.id, "from": plan.quota, "to": quota, "grade": plan.grade,
                                   "year": plan.year.name if plan.year else ""})


def _apply_plan_change(session, actor, req):
    plan = session.get(EnrollmentPlan, req.payload["plan_id"])
    _guarded_quota(session, plan, int(req.payload["to"]))


def _describe_plan_change(req):
    p = req.payload or {}
    return [("学年", "", p.get("year") or ""), ("年级", "", grades.grade_label(p.get("grade"))),
            ("招生计划数", str(p.get("from", "")), str(p.get("to", "")))]


# ---------------------------------------------------------------- seats

def _take_seat(session, plan):
    result = session.execute(
        update(EnrollmentPlan).where(EnrollmentPlan.id == plan.id, EnrollmentPlan.used < EnrollmentPlan.quota)
        .values(used=EnrollmentPlan.used + 1), execution_options={"synchronize_session": False})
    session.expire(plan, ["used"])
    if result.rowcount != 1:
        raise DomainError(f"{plan.school.name}{grades.grade_label(plan.grade)}招生计划数 {plan.quota} 人已满"
                          f"（已录取含待核办 {plan.quota} 人），不能再录取；如需增加请申请变更招生计划数")


def _free_seat(session, plan_id):
    session.execute(update(EnrollmentPlan).where(EnrollmentPlan.id == plan_id, EnrollmentPlan.used > 0)
                    .values(used=EnrollmentPlan.used - 1), execution_options={"synchronize_session": False})
    for obj in list(session.identity_map.values()):
        if isinstance(obj, EnrollmentPlan) and obj.id == plan_id:
            session.expire(obj, ["used"])


# ---------------------------------------------------------------- finding the student

def standing_graduation(session, student, before_stage):
    return session.scalar(select(Graduation).where(
        Graduation.student_id == student.id, Graduation.state == GraduationState.GRADUATED,
        Graduation.stage < before_stage).order_by(Graduation.stage.desc(), Graduation.id.desc()))


def find_graduate(session, number, name):
    """The province's record with this 学籍号 or 个人标识码 and name (province-wide on purpose: the
    admitting school cannot see it yet; tells no more than a mismatch)."""
    key = identity.normalise(number)
    name = (name or "").strip()
    if not key:
        raise DomainError("请填写学生的学籍号或个人标识码", field="number")
    if not name:
        raise DomainError("请填写学生姓名", field="name")
    student = session.scalars(select(Student).where(
        or_(Student.xueji_no == key, Student.personal_id == key),
        Student.status.not_in([StudentStatus.DELETED, StudentStatus.TRANSFERRED_OUT]))).first()
    if student is None or student.name != name:
        raise DomainError("本省没有与该姓名和学籍号（或个人标识码）相符的学籍；外省学生请办理调取新生档案", field="number")
    return student


def _check_graduate(session, student, grade):
    """The student may be admitted into `grade`: a graduate of the stage before, not admitted yet."""
    stage = grades.stage_of(grade)
    g = standing_graduation(session, student, stage)
    if student.status != StudentStatus.GRADUATED or g is None or student.school_id != g.school_id:
        before = "小学" if stage == grades.STAGE_JUNIOR else "初中"
        raise DomainError(f"{student.name} 不是{before}毕业生（学籍状态：{student.status.label}），"
                          f"不能录取到{grades.grade_label(grade)}", field="number")
    return g


def _admitted_elsewhere(session, student_id, year_id):
    return session.scalar(select(Admission).where(Admission.student_id == student_id, Admission.year_id == year_id,
                                                  Admission.state == AdmissionState.ADMITTED))


def pending_admissions(session, student_id):
    return session.scalars(select(Admission).where(Admission.student_id == student_id,
                                                   Admission.state == AdmissionState.PENDING)
                           .order_by(Admission.id)).all()


# ---------------------------------------------------------------- admitting

def _target(session, school, grade, year):
    if not school.active:
        raise DomainError(f"{school.name}已停用，不能招生")
    if not school.may_enroll:
        raise DomainError(f"{school.name}当前不能招生（机构设置为不可招生）")
    if grade not in ENTRY_GRADES.values() or not grades.teaches(school, grade):
        raise DomainError(f"{school.name}不招收{grades.grade_label(grade) or '该年级'}", field="grade")
    plan = plan_of(session, year, school, grade)
    if plan is None:
        raise DomainError(f"{school.name}尚未设置{year.name}{grades.grade_label(grade)}招生计划数，"
                          f"请联系县（区）教育局设置", field="grade")
    return plan


def _admit(session, actor, school, student, grade, kind, *, list_row=None, score=None, reason=None, today=None):
    # The business calendar and the lock (open requests of other kinds) are checked by requests.start,
    # in this transaction: what fails there rolls the seat back too.
    year = admission_year(session, today)
    plan = _target(session, school, grade, year)
    g = _check_graduate(session, student, grade)
    done = _admitted_elsewhere(session, student.id, year.id)
    if done is not None:
        where = "本校" if done.school_id == school.id else done.school.name
        raise DomainError(f"{student.name} 已被{where}录取（已核办），不能重复录取", field="number")
    pending = pending_admissions(session, student.id)
    if any(a.school_id == school.id for a in pending):
        raise DomainError(f"本校已录取 {student.name}（待核办），请勿重复录取", field="number")
    _take_seat(session, plan)
    frm = session.get(OrgUnit, g.school_id)
    adm = Admission(year_id=year.id, kind=kind, state=AdmissionState.PENDING, student_id=student.id, student=student,
                    name=student.name, school_id=school.id, school=school, school_path=school.path, grade=grade,
                    from_school_id=frm.id, from_school=frm, from_path=frm.path, plan_id=plan.id,
                    list_row_id=list_row.id if list_row is not None else None,
                    score=score if score is not None else (list_row.score if list_row is not None else None),
                    created_by_id=actor.id, created_at=clock.now())
    session.add(adm)
    session.flush()
    req = requests.start(session, actor, ADMISSION, school=school, student=student, reason=reason,
                         payload={"admission_id": adm.id, "kind": kind.value, "grade": grade,
                                  "from_school_id": frm.id, "from_school": frm.name, "to_school": school.name,
                                  "year": year.name})
    adm.request_id = req.id
    if list_row is not None:
        list_row.admission_id = adm.id
    _detect_duplicate(session, adm, [a for a in pending if a.year_id == year.id])
    session.flush()
    return adm


def _admission_route(session, req):
    adm = session.get(Admission, req.payload["admission_id"])
    county = _county_of(session, adm.school)
    if county is None:
        raise DomainError("找不到录取学校所属的县（区）教育局，无法提交核办")
    stops = [Stop(county, party=Party.IN)]
    home = _county_of(session, adm.from_school) if adm.from_school is not None else None
    if home is not None and home.id != county.id:
        stops.append(Stop(home, party=Party.OUT))  # 外地就读学生核办: the graduate's home county
    return stops


@with_actor
def admit_from_list(session, actor, row_ids):
    """统一招生录取: the school admits students the county's list assigns to it. Each row in its own
    savepoint: returns (admissions, {row id: message}) — a full plan stops the rest with a reason."""
    school = _school_actor(actor, "统一招生录取")
    done, failed = [], {}
    for row_id in _ids(row_ids, "名单记录"):
        try:
            with session.begin_nested():
                row = session.scalar(select(AdmissionListRow).where(AdmissionListRow.id == row_id,
                                                                    scope.clause(actor, AdmissionListRow)))
                if row is None or row.to_school_id != school.id:
                    raise NotFound("名单记录不存在或不是分配给本校的学生")
                if row.admission is not None and row.admission.live:
                    raise DomainError(f"{row.student.name} 已录取（{row.admission.state.label}）")
                done.append(_admit(session, actor, school, row.student, row.grade, AdmissionKind.UNIFIED, list_row=row))
        except DomainError as exc:
            failed[row_id] = exc.message
    if not done and failed and len(failed) == 1:
        raise DomainError(next(iter(failed.values())))
    return done, failed


@with_actor
def self_admit(session, actor, number, name, grade=None, score=None, reason=None):
    """自主招生: the school admits a graduate outside the county's list by 学籍号 (or 个人标识码) and
    name; across counties the graduate's home county approves too."""
    school = _school_actor(actor, "自主招生")
    student = find_graduate(session, number, name)
    if grade in (None, ""):
        grades_here = entry_grades_of(school)
        if len(grades_here) != 1:
            raise DomainError("请选择录取年级", field="grade")
        grade = grades_here[0]
    score = clean_score(score)
    return _admit(session, actor, school, student, str(grade), AdmissionKind.SELF, score=score,
                  reason=(reason or "").strip() or None)


@with_actor
def archive_admit(session, actor, data, guardians, *, from_province, from_school, xueji_no, attachments=(),
                  reason=None):
    """跨省招生（调取新生档案）: the school admits a graduate of another province; the record arrives by
    its 学籍号 with the data entered here. The county approves, then the province confirms the other
    province released the archive; on approval the record is written in the entry grade."""
    school = _school_actor(actor, "调取新生档案")
    year = admission_year(session)
    data = dict(data)
    if data.get("grade") in (None, ""):
        grades_here = entry_grades_of(school)
        data["grade"] = grades_here[0] if len(grades_here) == 1 else None
    payload, warnings, key = transfers.arriving_record(session, actor, school, data, guardians,
                                                       from_province=from_province, from_school=from_school,
                                                       xueji_no=xueji_no, attachments=attachments)
    grade = payload.get("grade")
    if not grade:
        raise DomainError("请选择录取年级", field="grade")
    plan = _target(session, school, grade, year)
    _take_seat(session, plan)
    adm = Admission(year_id=year.id, kind=AdmissionKind.ARCHIVE, state=AdmissionState.PENDING,
                    name=payload["record"]["name"], school_id=school.id, school=school, school_path=school.path,
                    grade=grade, from_school_name=f"{payload['from_province_name']} {payload['from_school']}"[:120],
                    plan_id=plan.id, created_by_id=actor.id, created_at=clock.now())
    session.add(adm)
    session.flush()
    payload.update({"admission_id": adm.id, "kind": AdmissionKind.ARCHIVE.value, "year": year.name})
    req = requests.start(session, actor, ARCHIVE, school=school, payload=payload,
                         reason=(reason or "").strip() or None, subject_key=key)
    adm.request_id = req.id
    for a in attachments:
        a.request_id = req.id
    session.flush()
    return adm, warnings


def admission_of(session, actor, admission_id):
    if not str(admission_id).strip().isdigit():
        raise NotFound("记录不存在或不在您的管辖范围内")
    return scope.get(session, actor, Admission, int(admission_id))


@with_actor
def withdraw(session, actor, admission_id, reason, expected_version=None):
    """撤销录取: the admitting school withdraws its pending admission (the way a duplicate is settled
    by the school not keeping the student); the seat is freed."""
    adm = admission_of(session, actor, admission_id)
    school = _school_actor(actor, "撤销录取")
    if adm.school_id != school.id:
        raise PermissionDenied("只能撤销本校的录取")
    _check_version(adm, expected_version)
    if adm.state != AdmissionState.PENDING:
        raise DomainError(f"该录取{adm.state.label}，不能撤销")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写撤销理由", field="reason")
    if adm.claim_request is not None and adm.claim_request.state == RequestState.PENDING:
        requests.cancel(session, actor, adm.claim_request_id, reason)
    requests.cancel(session, actor, adm.request_id, reason)
    return adm


def _guard_contested(session, actor, req):
    adm = session.get(Admission, req.payload["admission_id"])
    if adm is not None and adm.duplicate is not None and adm.duplicate.state != DuplicateState.RESOLVED:
        others = [a.school.name for a in adm.duplicate.admissions if a.live and a.id != adm.id]
        raise DomainError(f"{adm.name} 同时被{'、'.join(others)}录取（重复招生），须先由学校撤销或佐证、"
                          f"必要时由共同上级仲裁，不能核办")


def _ended_without_standing(session, actor, adm, state, outcome):
    if not adm.live:
        return
    adm.state, adm.decided_at, adm.outcome = state, clock.now(), outcome
    _free_seat(session, adm.plan_id)
    if adm.claim_request is not None and adm.claim_request.state == RequestState.PENDING:
        requests.conclude(session, actor, adm.claim_request, None, "录取已结束：" + (outcome or ""))
    session.flush()
    if adm.duplicate is not None:
        _settle(session, adm.duplicate)


def _on_reject(session, actor, req):
    adm = session.get(Admission, req.payload["admission_id"])
    _ended_without_standing(session, actor, adm, AdmissionState.REJECTED, req.outcome)


def _on_cancel(session, actor, req):
    adm = session.get(Admission, req.payload["admission_id"])
    _ended_without_standing(session, actor, adm, AdmissionState.WITHDRAWN, req.outcome)


def _on_approve(session, actor, req):
    adm = session.get(Admission, req.payload["admission_id"])
    if adm.kind == AdmissionKind.ARCHIVE:
        student = transfers.arrive_record(session, req, adm.school, f"跨省招生（调取新生档案）：自{req.payload['from_province_name']} "
                                                                     f"{req.payload['from_school']}")
        adm.student_id, adm.student = student.id, student
    else:
        _move_record(session, adm, req)
    adm.state, adm.decided_at = AdmissionState.ADMITTED, clock.now()
    session.flush()


def _move_record(session, adm, req):
    """籍随人走 into the next stage: same record and 学籍号, new school, entry grade, 在校; the
    graduation gets its 去向; open problem records move to the admitting school (unlocked to it)."""
    student = adm.student
    _check_graduate(session, student, adm.grade)
    other = _admitted_elsewhere(session, student.id, adm.year_id)
    if other is not None and other.id != adm.id:
        raise DomainError(f"{student.name} 已被{other.school.name}录取，该录取不能再通过，请驳回")
    school = adm.school
    year = adm.year
    from app.services.students import _close_history
    student.school, student.school_id = school, school.id
    student.grade, student.status = adm.grade, StudentStatus.IN_SCHOOL
    student.class_id, student.class_name, student.promotion_run_id = None, None, None
    if year is not None:
        student.enrollment_month = f"{year.start_year}-09"
    _close_history(student, f"招生入学（{adm.kind.label}）：由{adm.from_school.name}毕业，录取至{school.name}"[:255], req.id)
    graduation.record_admission(session, student, adm.grade)
    for side in session.scalars(select(ProblemSide).join(ProblemRecord).where(
            ProblemSide.student_id == student.id, ProblemRecord.state != ProblemState.RESOLVED)):
        side.school_path = school.path
        if side.treatment == Treatment.CARRIED:  # carried on to the next stage: the new school handles it now
            side.treatment = Treatment.NONE
    for att in session.scalars(select(Attachment).where(Attachment.student_id == student.id)):
        att.org_path = school.path
    session.flush()


def _describe(req):
    p = req.payload or {}
    kind = {k.value: str(k.label) for k in AdmissionKind}.get(p.get("kind"), "")
    rows = [("招生方式", "", kind), ("学年", "", p.get("year") or ""),
            ("毕业学校", p.get("from_school") or p.get("from_school_name") or "", ""),
            ("录取学校", "", p.get("to_school") or ""), ("录取年级", "", grades.grade_label(p.get("grade")))]
    if p.get("from_province_name"):
        rows.insert(2, ("原就读省份", p.get("from_province_name"), ""))
    return rows


# ---------------------------------------------------------------- 重复招生

def _detect_duplicate(session, adm, others):
    """A second live admission of the student this year (`others`: the pending ones of other schools
    read before `adm` was added): open (or join) the student's case."""
    if not others:
        return None
    case = next((a.duplicate for a in others if a.duplicate is not None
                 and a.duplicate.state != DuplicateState.RESOLVED), None)
    if case is None:
        case = DuplicateAdmission(year_id=adm.year_id, student_id=adm.student_id, state=DuplicateState.OPEN,
                                  detected_at=clock.now())
        session.add(case)
        session.flush()
    for a in others + [adm]:
        a.duplicate_id, a.duplicate = case.id, case
    if case.state == DuplicateState.ARBITRATION:  # a newcomer must settle or prove before arbitration
        case.state, case.arbiter_id = DuplicateState.OPEN, None
    _refresh_case(session, case)
    session.flush()
    return case


def _refresh_case(session, case):
    live = [a for a in case.admissions if a.live]
    case.paths = "|".join(sorted({a.school_path for a in case.admissions}))
    return live


def _settle(session, case):
    """After a withdrawal, a rejection or a proof: resolve the case or move it to arbitration."""
    session.flush()
    session.expire(case, ["admissions"])
    live = _refresh_case(session, case)
    if case.state == DuplicateState.RESOLVED:
        return case
    if len(live) <= 1:
        case.state, case.resolved_at = DuplicateState.RESOLVED, clock.now()
        case.winner_id = live[0].id if live else None
        case.resolution = (f"其他学校的录取已撤销或未通过，{live[0].school.name}的录取继续核办" if live
                           else "各校录取均已撤销或未通过")
    elif all(a.claim == ClaimState.PROVED for a in live):
        from app.services.problems import _common_superior
        judge = _common_superior(session, [a.school for a in live])
        case.state, case.arbiter_id = DuplicateState.ARBITRATION, judge.id
    session.flush()
    return case


@with_actor
def prove(session, actor, admission_id, reason, attachments=(), expected_version=None):
    """重复招生佐证: the school proves its claim with evidence and its opinion; its county approves."""
    adm = admission_of(session, actor, admission_id)
    school = _school_actor(actor, "重复招生佐证")
    if adm.school_id != school.id:
        raise PermissionDenied("只能处理本校的录取")
    _check_version(adm, expected_version)
    case = adm.duplicate
    if case is None or case.state != DuplicateState.OPEN or not adm.live:
        raise DomainError("该录取不是待处理的重复招生")
    if adm.claim != ClaimState.NONE:
        raise DomainError(f"本校已佐证（{adm.claim.label}）")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写学校意见（录取依据）", field="reason")
    if not attachments:
        raise DomainError("佐证须上传证明材料（如录取通知、志愿表）", field="attachments")
    req = requests.start(session, actor, PROOF, school=school, student=adm.student, reason=reason,
                         payload={"admission_id": adm.id, "duplicate_id": case.id, "to_school": school.name,
                                  "grade": adm.grade, "kind": adm.kind.value})
    for a in attachments:
        a.request_id, a.student_id = req.id, adm.student_id
    adm.claim, adm.claim_request_id = ClaimState.PROVING, req.id
    session.flush()
    return req


def _proof_approved(session, actor, req):
    adm = session.get(Admission, req.payload["admission_id"])
    if not adm.live or adm.claim != ClaimState.PROVING:
        return
    adm.claim = ClaimState.PROVED
    if adm.duplicate is not None:
        _settle(session, adm.duplicate)


def _proof_rejected(session, actor, req):
    """The county does not back its school's claim: that admission does not stand."""
    adm = session.get(Admission, req.payload["admission_id"])
    if not adm.live:
        return
    adm.claim = ClaimState.NONE
    main = adm.request
    if main is not None and main.state == RequestState.PENDING:
        requests.conclude(session, actor, main, False, f"重复招生佐证未获县（区）核办通过：{req.outcome or ''}")


def _proof_cancelled(session, actor, req):
    adm = session.get(Admission, req.payload["admission_id"])
    if adm.claim == ClaimState.PROVING:
        adm.claim = ClaimState.NONE


@with_actor
def arbitrate(session, actor, case_id, winner_id, comment, expected_version=None):
    """重复招生仲裁: the lowest common superior lets at most one admission stand (or none)."""
    if not str(case_id).strip().isdigit():
        raise NotFound("记录不存在或不在您的管辖范围内")
    case = scope.get(session, actor, DuplicateAdmission, int(case_id))
    if case.arbiter_id != getattr(actor, "org_unit_id", None) or actor_rank(actor) > RANK_COUNTY:
        raise PermissionDenied("重复招生由各录取学校的共同上级仲裁，您无权仲裁")
    _check_version(case, expected_version)
    if case.state != DuplicateState.ARBITRATION:
        raise DomainError(f"该重复招生{case.state.label}，不能仲裁")
    comment = (comment or "").strip()
    if not comment:
        raise DomainError("仲裁须填写裁决理由", field="comment")
    live = [a for a in case.admissions if a.live]
    winner = None
    if winner_id not in (None, "", "none", "0"):
        winner = next((a for a in live if str(a.id) == str(winner_id).strip()), None)
        if winner is None:
            raise DomainError("请选择本案中的一所录取学校，或选择“均不通过”", field="winner")
    case.state, case.resolved_at = DuplicateState.RESOLVED, clock.now()
    case.winner_id = winner.id if winner else None
    case.arbitrated_by_id, case.arbitrated_at = actor.id, clock.now()
    case.resolution = (f"仲裁：{winner.school.name}的录取通过，其他不通过。" if winner else "仲裁：各校录取均不通过。") + comment
    session.flush()
    for a in live:
        if a is not winner:
            requests.conclude(session, actor, a.request, False, f"重复招生仲裁未通过：{comment}")
    if winner is not None:
        requests.conclude(session, actor, winner.request, True, f"重复招生仲裁通过：{comment}")
    session.flush()
    return case


def duplicates_query(actor, state=None, arbitration_only=False):
    stmt = select(DuplicateAdmission).where(scope.clause(actor, DuplicateAdmission))
    if state is not None:
        stmt = stmt.where(DuplicateAdmission.state == state)
    if arbitration_only:
        stmt = stmt.where(DuplicateAdmission.state == DuplicateState.ARBITRATION,
                          DuplicateAdmission.arbiter_id == getattr(actor, "org_unit_id", -1))
    return stmt.order_by(DuplicateAdmission.detected_at.desc())


def placement_blockers(session, student_ids):
    """{student_id: message} of students who may not be placed in a class yet: their admission is
    contested by another school (重复招生 unresolved)."""
    ids = list(student_ids)
    if not ids:
        return {}
    rows = session.execute(select(DuplicateAdmission.student_id).where(
        DuplicateAdmission.student_id.in_(ids), DuplicateAdmission.state != DuplicateState.RESOLVED)).all()
    return {r.student_id: CONTESTED for r in rows}


# ---------------------------------------------------------------- 统一招生名单

def _school_by_code(session, code):
    """Schools by 学校标识码, remembered for the session (an import checks thousands of rows)."""
    cache = session.info.setdefault("admission_school_by_code", {})
    if code not in cache or cache[code] not in session:
        school = session.scalar(select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.school_code == code))
        if school is None:
            return None
        cache[code] = school
    return cache[code]


def list_row_values(session, actor, values, year=None):
    """One row of the county's admission result, checked against the registry; returns the values
    to store. Used by the workbook spec and the manual form alike."""
    county = _county_actor(actor, "导入招生结果")
    year = year or admission_year(session)
    student = find_graduate(session, values.get("number"), values.get("name"))
    from_code = str(values.get("from_code") or "").strip()
    frm = _school_by_code(session, from_code) if from_code else None
    if frm is None:
        raise DomainError("毕业学校标识码不存在", field="from_code")
    if not frm.path.startswith(county.path):
        raise DomainError(f"毕业学校“{frm.name}”不是本县（区）学校：统一招生限本县（区）毕业生，"
                          f"外县（区）学生请由学校自主招生", field="from_code")
    stage = stage_code(values.get("stage"))
    if stage is None:
        raise DomainError("教育阶段应为 初中、高中 或 中职", field="stage")
    grade = ENTRY_GRADES[stage]
    g = standing_graduation(session, student, stage)
    if g is None or student.status != StudentStatus.GRADUATED or g.school_id != frm.id:
        raise DomainError(f"{student.name} 不是{frm.name}的毕业生（学籍状态：{student.status.label}）", field="number")
    to_code = str(values.get("to_code") or "").strip()
    to = _school_by_code(session, to_code) if to_code else None
    if to is None or not to.path.startswith(county.path):
        raise DomainError("录取学校标识码不是本县（区）的学校", field="to_code")
    if plan_of(session, year, to, grade) is None:
        raise DomainError(f"录取学校“{to.name}”没有{year.name}{grades.grade_label(grade)}招生计划，请先设置招生计划数",
                          field="to_code")
    score = clean_score(values.get("score"))
    return {"year_id": year.id, "county_id": county.id, "county_path": county.path, "student_id": student.id,
            "from_school_id": frm.id, "to_school_id": to.id, "grade": grade, "score": score}


@with_actor
def save_list_rows(session, actor, rows):
    """Store checked rows: new students are added, a student already on the list gets the new
    school unless already admitted there or elsewhere (re-uploading a file changes nothing).
    Returns (added, changed, unchanged)."""
    county = _county_actor(actor, "导入招生结果")
    rows = list(rows)
    stored = stored_list_rows(session, county.id, rows)  # one query per 5,000 rows, not one per row
    added = changed = unchanged = 0
    for values in rows:
        existing = stored.get((values["year_id"], values["student_id"]))
        if existing is None:
            row = AdmissionListRow(**values, imported_by_id=actor.id, imported_at=clock.now())
            session.add(row)
            stored[(values["year_id"], values["student_id"])] = row
            added += 1
            continue
        if _same_list_row(existing, values):
            unchanged += 1
            continue
        refusal = list_row_refusal(existing, values)
        if refusal is not None:
            raise DomainError(refusal[1], field=refusal[0])
        for k in ("to_school_id", "grade", "from_school_id", "score"):
            setattr(existing, k, values[k])
        existing.imported_by_id, existing.imported_at = actor.id, clock.now()
        changed += 1
    session.flush()
    return added, changed, unchanged


@with_actor
def add_list_row(session, actor, values):
    """招生结果管理 by hand: one row, the same checks as the workbook."""
    checked = list_row_values(session, actor, values)
    added, changed, _same = save_list_rows(session, actor, [checked])
    if not (added or changed):
        raise DomainError("名单中已有该学生，且录取学校相同")
    return session.scalar(select(AdmissionListRow).where(
        AdmissionListRow.year_id == checked["year_id"], AdmissionListRow.county_id == checked["county_id"],
        AdmissionListRow.student_id == checked["student_id"]))


@with_actor
def delete_list_row(session, actor, row_id):
    county = _county_actor(actor, "删除招生结果")
    row = scope.get(session, actor, AdmissionListRow, _int(row_id, "名单记录", "row_id", 1, 10 ** 12))
    if row.county_id != county.id:
        raise NotFound("记录不存在或不在您的管辖范围内")
    if row.admission is not None and row.admission.live:
        raise DomainError(f"{row.student.name} 已由{row.admission.school.name}录取（{row.admission.state.label}），不能删除")
    session.delete(row)
    session.flush()


def list_rows_query(actor, year_id=None, to_school_id=None, waiting_only=False, q=None):
    stmt = select(AdmissionListRow).join(Student, Student.id == AdmissionListRow.student_id).where(
        scope.clause(actor, AdmissionListRow))
    if year_id:
        stmt = stmt.where(AdmissionListRow.year_id == int(year_id))
    if to_school_id:
        stmt = stmt.where(AdmissionListRow.to_school_id == int(to_school_id))
    if waiting_only:
        live = select(Admission.id).where(Admission.id == AdmissionListRow.admission_id,
                                          Admission.state.in_([AdmissionState.PENDING, AdmissionState.ADMITTED]))
        stmt = stmt.where(~live.exists())
    if q:
        q = q.strip()
        stmt = stmt.where(Student.name.startswith(q) | (Student.xueji_no == q) | (Student.personal_id == q))
    return stmt.order_by(AdmissionListRow.to_school_id, Student.name, AdmissionListRow.id)


# ---------------------------------------------------------------- queries

def admissions_query(actor, state=None, kind=None, school_id=None, year_id=None, q=None, elsewhere=False):
    """录取查询. `elsewhere`: 外地就读 — graduates of the actor's subtree admitted outside it."""
    stmt = select(Admission).where(scope.clause(actor, Admission))
    prefix = scope.actor_path(actor) or "/-none-/"
    if elsewhere:
        stmt = stmt.where(Admission.from_path.startswith(prefix), ~Admission.school_path.startswith(prefix))
    if state:
        stmt = stmt.where(Admission.state == (state if isinstance(state, AdmissionState) else AdmissionState(state)))
    if kind:
        stmt = stmt.where(Admission.kind == (kind if isinstance(kind, AdmissionKind) else AdmissionKind(kind)))
    if school_id:
        stmt = stmt.where(Admission.school_id == int(school_id))
    if year_id:
        stmt = stmt.where(Admission.year_id == int(year_id))
    if q:
        stmt = stmt.where(Admission.name.startswith(q.strip()))
    return stmt.order_by(Admission.created_at.desc(), Admission.id.desc())


def graduate_pending_admission(session, student_id):
    """The pending admission that locks a graduate (驳回 and 问题学籍 handling wait for it)."""
    return session.scalar(select(Admission).where(Admission.student_id == student_id,
                                                  Admission.state == AdmissionState.PENDING).order_by(Admission.id))


# ---------------------------------------------------------------- request types

requests.register(requests.RequestType(ADMISSION, "招生录取（新生录取核办）", locks=False, shared_lock=True,
                                       route=_admission_route, on_approve=_on_approve, on_reject=_on_reject,
                                       on_cancel=_on_cancel, guard=_guard_contested, window=WINDOW,
                                       describe=_describe))
requests.register(requests.RequestType(ARCHIVE, "跨省招生（调取新生档案）", locks=False,
                                       route=transfers.cross_province_route,
                                       on_approve=_on_approve, on_reject=_on_reject, on_cancel=_on_cancel,
                                       window=WINDOW, describe=_describe))
requests.register(requests.RequestType(PROOF, "重复招生佐证（重复招生核办）", locks=False, shared_lock=True,
                                       on_approve=_proof_approved, on_reject=_proof_rejected,
                                       on_cancel=_proof_cancelled, describe=_describe))
requests.register(requests.RequestType(PLAN_CHANGE, "招生计划数变更", locks=False, on_approve=_apply_plan_change,
                                       describe=_describe_plan_change))
calendars.PROCESSES.setdefault(WINDOW, "招生入学")


# ---------------------------------------------------------------- rules the workbooks ask before writing
# (the admission_list and self_admission specs annotate rows with these instead of failing the whole
# import in save_list_rows / _take_seat; one place for each rule)

def _same_list_row(existing, values):
    """The stored list row already says what these checked values say."""
    if (existing.to_school_id, existing.grade, existing.from_school_id) != \
            (values["to_school_id"], values["grade"], values["from_school_id"]):
        return False
    if existing.score is None or values["score"] is None:
        return existing.score is None and values["score"] is None
    return float(existing.score) == float(values["score"])


def list_row_refusal(existing, values):
    """(field, message) when the stored list row may not take these values — the student was admitted
    from the list (pending or approved) and the row would change — else None."""
    if existing is None or existing.admission_id is None or _same_list_row(existing, values):
        return None
    adm = existing.admission
    if adm is None or not adm.live:
        return None
    held = f"{adm.name} 已按名单由{adm.school.name}录取（{adm.state.label}），"
    if (existing.to_school_id, existing.grade) != (values["to_school_id"], values["grade"]):
        return "to_code", held + "不能改为其他学校；请先由该校撤销录取"
    field = "score" if existing.from_school_id == values["from_school_id"] else "from_code"
    return field, held + "名单中的该行不能再修改；请先由该校撤销录取"


def stored_list_rows(session, county_id, rows, chunk=5000):
    """{(year_id, student_id): AdmissionListRow} of the county's list for these checked rows (one query
    per `chunk` students, with the rows' admissions)."""
    from sqlalchemy.orm import selectinload
    stored = {}
    for year_id in {v["year_id"] for v in rows}:
        ids = [v["student_id"] for v in rows if v["year_id"] == year_id]
        for i in range(0, len(ids), chunk):
            for r in session.scalars(select(AdmissionListRow).options(selectinload(AdmissionListRow.admission)).where(
                    AdmissionListRow.year_id == year_id, AdmissionListRow.county_id == county_id,
                    AdmissionListRow.student_id.in_(ids[i:i + chunk]))):
                stored[(year_id, r.student_id)] = r
    return stored


def list_rows_refused(session, actor, rows):
    """{student_id: (field, message)} of the checked rows save_list_rows would refuse."""
    county = _county_actor(actor, "导入招生结果")
    stored = stored_list_rows(session, county.id, rows)
    out = {}
    for values in rows:
        refusal = list_row_refusal(stored.get((values["year_id"], values["student_id"])), values)
        if refusal is not None:
            out[values["student_id"]] = refusal
    return out


def seats_short(session, plan_id, wanted):
    """None when the plan has `wanted` free seats (招生计划数 minus the seats held by pending and
    approved admissions, read fresh), else (free seats, why)."""
    plan = session.get(EnrollmentPlan, plan_id)
    session.refresh(plan, ["quota", "used"])
    free = max(plan.quota - plan.used, 0)
    if wanted <= free:
        return None
    return free, (f"超出招生计划数：本校{grades.grade_label(plan.grade)}招生计划数 {plan.quota} 人，"
                  f"已录取（含待核办）{plan.used} 人，只剩 {free} 个名额")
