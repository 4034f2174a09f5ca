"""学籍异动 other than transfers: 休学, 复学, 退学, 其他离校, 死亡.

The school asks; the route is the one its county (or a superior) configured in 业务设置
(default: the county approves). Each locks the student while open, each may be refused outside its
business-calendar window, and each changes the record only on final approval.
"""
import datetime

from app.codes import tables
from app.models.org import OrgKind
from app.models.student import StudentStatus
from app.services import grades, process_settings, requests, students
from app.services.context import with_actor
from app.services.dates import parse_date
from app.services.errors import DomainError
from app.services.requests import Stop
from app.services import clock

SUSPEND, RESUME, DROP_OUT, LEAVE_OTHER, DEATH = "suspend", "resume", "drop_out", "leave_other", "death"
DEATH_PROOF = "death_proof"
WRITTEN_REQUEST = "written_request"
HISTORY_REASON_MAX = 255  # student_history.reason
MAX_SUSPENSION_DAYS = 366  # 休学期限一般不超过一年；期满仍不能复学的，可再次申请


def status_route(session, req):
    county = requests.ancestor_of_kind(session, req.school, OrgKind.COUNTY)
    if county is None:
        raise DomainError("找不到该学校所属的县（区）教育局，无法提交审批")
    stops = [Stop(county)]
    if process_settings.value(session, county, process_settings.STATUS_ROUTE) == "county_city":
        city = requests.ancestor_of_kind(session, county, OrgKind.CITY)
        if city is not None:
            stops.append(Stop(city))
    return stops


def _date(value, label, field):
    return parse_date(value, f"请填写{label}（年-月-日，如 2026-09-01）", field)


def _code(table, value, message, field="reason_code"):
    code = tables.code_for(table, str(value or ""))
    if code is None:
        raise DomainError(message, field=field)
    return code


def _note(note, code, what):
    note = (note or "").strip()
    if code == "99" and not note:
        raise DomainError(f"{what}为“其他”时请填写说明", field="note")
    return note


def _start(session, actor, type_name, student_id, allowed, payload, reason, attachments=(), expected_version=None,
           required_kind=None, required_message=None):
    student = students._own_student(session, actor, student_id, f"申请{requests.REQUEST_TYPES[type_name].label}")
    students._check_version(student, expected_version)
    if student.status not in allowed:
        raise DomainError(f"学生 {student.name} 的学籍状态为“{student.status.label}”，"
                          f"不能申请{requests.REQUEST_TYPES[type_name].label}")
    if required_kind and not any(a.kind == required_kind for a in attachments):
        raise DomainError(required_message, field="attachments")
    return student, _finish_start(session, actor, type_name, student, payload, reason, attachments)


def _finish_start(session, actor, type_name, student, payload, reason, attachments):
    req = requests.start(session, actor, type_name, school=student.school, student=student,
                         payload={**payload, "from_status": student.status.value}, reason=reason)
    for a in attachments:
        a.request_id, a.student_id = req.id, student.id
    session.flush()
    return req


def _span(first, last):
    return f"{first:%Y-%m-%d} 至 {last:%Y-%m-%d}"


# ---------------------------------------------------------------- 休学

@with_actor
def request_suspension(session, actor, student_id, *, reason_code, starts_on, ends_on, note=None, attachments=(),
                       expected_version=None):
    code = _code("suspend_reason", reason_code, "请选择休学原因")
    note = _note(note, code, "休学原因")
    first, last = _date(starts_on, "休学开始日期", "starts_on"), _date(ends_on, "休学结束日期", "ends_on")
    if last <= first:
        raise DomainError("休学结束日期应晚于开始日期", field="ends_on")
    if (last - first).days > MAX_SUSPENSION_DAYS:
        raise DomainError("休学期限一般不超过一年；期满仍不能复学的，可再次申请休学", field="ends_on")
    label = tables.label("suspend_reason", code)
    _student, req = _start(session, actor, SUSPEND, student_id, (StudentStatus.IN_SCHOOL,),
                           {"reason_code": code, "note": note, "starts_on": first.isoformat(), "ends_on": last.isoformat()},
                           f"{label}{'：' + note if note else ''}（{_span(first, last)}）", attachments, expected_version)
    return req


def _approve_suspension(session, actor, req):
    student = req.student
    _still(student, StudentStatus.IN_SCHOOL, req)
    student.status = StudentStatus.SUSPENDED
    _close_history(student, f"休学：{req.reason}", req.id)


# ---------------------------------------------------------------- 复学

@with_actor
def request_resumption(session, actor, student_id, *, grade, class_name=None, note=None, attachments=(),
                       expected_version=None):
    """复学 into a chosen grade and class (often the grade the student left, or the next one)."""
    school = students._school_actor(actor, "申请复学")
    if not grade or not tables.is_valid("grade", grade):
        raise DomainError("请选择复学后就读的年级", field="grade")
    if not grades.teaches(school, grade):
        raise DomainError(f"本校不设{grades.grade_label(grade)}，请选择本校开设的年级", field="grade")
    note = (note or "").strip()
    class_name = (class_name or "").strip() or None
    if class_name and len(class_name) > 32:  # student.class_name
        raise DomainError("班级名称不能超过 32 个字", field="class_name")
    reason = f"复学至{grades.grade_label(grade)}{class_name or ''}{'：' + note if note else ''}"
    _student, req = _start(session, actor, RESUME, student_id, (StudentStatus.SUSPENDED,),
                           {"grade": grade, "class_name": class_name, "note": note}, reason, attachments,
                           expected_version)
    return req


def _approve_resumption(session, actor, req):
    student = req.student
    _still(student, StudentStatus.SUSPENDED, req)
    student.status = StudentStatus.IN_SCHOOL
    student.grade, student.class_name = req.payload["grade"], req.payload.get("class_name")
    _close_history(student, f"复学：{req.reason}", req.id)


# ---------------------------------------------------------------- 退学

@with_actor
def request_drop_out(session, actor, student_id, *, reason_code, note=None, attachments=(), expected_version=None):
    """退学 applies to senior secondary students only: compulsory-education students may not drop
    out (学籍管理办法); a compulsory-age student who leaves is 其他离校 (e.g. 出国). The written
    request of the student and guardian is required."""
    student = students._own_student(session, actor, student_id, "申请退学")
    if grades.is_compulsory(student.grade):
        raise DomainError("义务教育阶段学生不能办理退学；确已离校的，请按实际情况办理休学或其他离校")
    code = _code("drop_out_reason", reason_code, "请选择退学原因")
    note = _note(note, code, "退学原因")
    _student, req = _start(session, actor, DROP_OUT, student_id, (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED),
                           {"reason_code": code, "note": note},
                           f"{tables.label('drop_out_reason', code)}{'：' + note if note else ''}", attachments,
                           expected_version, WRITTEN_REQUEST, "退学须上传学生本人及监护人的书面申请")
    return req


def _approve_drop_out(session, actor, req):
    student = req.student
    _still(student, (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED), req)
    student.status = StudentStatus.DROPPED_OUT
    _close_history(student, f"退学：{req.reason}", req.id)


# ---------------------------------------------------------------- 其他离校

@with_actor
def request_leave(session, actor, student_id, *, reason_code, note=None, attachments=(), expected_version=None):
    code = _code("leave_reason", reason_code, "请选择离校原因")
    note = _note(note, code, "离校原因")
    _student, req = _start(session, actor, LEAVE_OTHER, student_id, (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED),
                           {"reason_code": code, "note": note},
                           f"{tables.label('leave_reason', code)}{'：' + note if note else ''}", attachments,
                           expected_version)
    return req


def _approve_leave(session, actor, req):
    student = req.student
    _still(student, (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED), req)
    student.status = StudentStatus.LEFT_OTHER
    _close_history(student, f"其他离校：{req.reason}", req.id)


# ---------------------------------------------------------------- 死亡

@with_actor
def report_death(session, actor, student_id, *, died_on, note=None, attachments=(), expected_version=None, today=None):
    day = _date(died_on, "死亡日期", "died_on")
    if day > (today or clock.today()):
        raise DomainError("死亡日期不能晚于今天", field="died_on")
    student = students._own_student(session, actor, student_id, "报告学生死亡")
    if student.birth_date and day < student.birth_date:
        raise DomainError(f"死亡日期不能早于学生的出生日期（{student.birth_date:%Y-%m-%d}）", field="died_on")
    note = (note or "").strip()
    _student, req = _start(session, actor, DEATH, student_id, (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED),
                           {"died_on": day.isoformat(), "note": note},
                           f"死亡日期 {day:%Y-%m-%d}{'：' + note if note else ''}", attachments, expected_version,
                           DEATH_PROOF, "须上传死亡证明（医院或公安机关出具）的扫描件或照片")
    return req


def _approve_death(session, actor, req):
    student = req.student
    _still(student, (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED), req)
    student.status = StudentStatus.DECEASED
    _close_history(student, f"死亡：{req.reason}", req.id)


def _close_history(student, reason, request_id):
    # The span's reason is a summary (255 characters); the request keeps the whole note.
    students._close_history(student, reason[:HISTORY_REASON_MAX], request_id)


def _still(student, statuses, req):
    statuses = statuses if isinstance(statuses, tuple) else (statuses,)
    if student.status not in statuses:
        raise DomainError(f"学生 {student.name} 的学籍状态已变为“{student.status.label}”，该申请不能再通过，请驳回")


# ---------------------------------------------------------------- registration with the engine

def _describe(req):
    p = req.payload or {}
    before = students.display("status", p.get("from_status"))
    after = {SUSPEND: "休学", RESUME: "在校", DROP_OUT: "退学", LEAVE_OTHER: "其他离校", DEATH: "死亡"}[req.type]
    rows = [("学籍状态", before, after)]
    if req.type == SUSPEND:
        rows += [("休学原因", "", tables.label("suspend_reason", p.get("reason_code"))),
                 ("休学期限", "", _span(datetime.date.fromisoformat(p["starts_on"]), datetime.date.fromisoformat(p["ends_on"])))]
    elif req.type == RESUME:
        rows += [("年级", "", grades.grade_label(p.get("grade"))), ("班级", "", p.get("class_name") or "")]
    elif req.type == DROP_OUT:
        rows.append(("退学原因", "", tables.label("drop_out_reason", p.get("reason_code"))))
    elif req.type == LEAVE_OTHER:
        rows.append(("离校原因", "", tables.label("leave_reason", p.get("reason_code"))))
    elif req.type == DEATH:
        rows.append(("死亡日期", "", p.get("died_on")))
    if p.get("note"):
        rows.append(("说明", "", p["note"]))
    return rows


for _name, _label, _approve in ((SUSPEND, "休学", _approve_suspension), (RESUME, "复学", _approve_resumption),
                                (DROP_OUT, "退学", _approve_drop_out), (LEAVE_OTHER, "其他离校", _approve_leave),
                                (DEATH, "死亡", _approve_death)):
    requests.register(requests.RequestType(_name, _label, route=status_route, on_approve=_approve, window=_name,
                                           describe=_describe))
