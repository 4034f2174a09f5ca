"""转学: transfers at every scope on the one approval engine, and 籍随人走 on final approval.

Routes (services/process_settings.py configures the order and the cities' part):
- in the province: the other school confirms (学校确认), then the county — or both counties, in
  the configured order — then, across cities, both cities where the province says so. A "no"
  against the other side's "yes" at the same level goes to arbitration by the two parties' lowest
  common superior (requests.reject / two_sided).
- 跨省转入: the receiving school enters the record that arrives from the other province by its
  学籍号; its county approves, then the province supervisor confirms what the other province did
  (外省确认, a manual step: the other province is an external party).
- 跨省转出: the sending school asks; its county approves; the province confirms the other side
  received the record; the record stays here as 转出.

On final approval of an in-province transfer the record moves to the new school with all its
history; the old school keeps a DepartureTrace ("转出 to X on date"), not the record.
"""
import datetime
import re
from decimal import Decimal

from sqlalchemy import or_, select

from app.codes import tables
from app.models.org import OrgKind, OrgUnit, Region
from app.models.process import DepartureTrace
from app.models.requests import Party, StepRole
from app.models.student import Attachment, Guardian, Student, StudentHistory, StudentStatus
from app.services import grades, identity, process_settings, requests, scope, students
from app.services.context import with_actor
from app.services.errors import DomainError, NotFound
from app.services.requests import Stop

TRANSFER_IN = "transfer_in"
TRANSFER_OUT = "transfer_out"
PROVINCE_IN = "transfer_province_in"
PROVINCE_OUT = "transfer_province_out"
IN_PROVINCE = (TRANSFER_IN, TRANSFER_OUT)
WINDOW = "transfer"
XUEJI_RE = re.compile(r"^[GL][0-9A-Z]{10,19}$")  # student.xueji_no holds 20 characters
CLASS_NAME_MAX = 32      # student.class_name
SCHOOL_NAME_MAX = 100    # a school of the other province, typed in (it ends up in the trace and the history)


# ---------------------------------------------------------------- finding students and schools

def find_student(session, name, number):
    """The active record a transfer in is asked for: by 学籍号 or ID number, and the name must
    match. Province-wide on purpose (the receiving school cannot see it yet); tells nothing more
    than the lookup (全省学籍查询) does when it does not match."""
    key = identity.normalise(number)
    name = (name or "").strip()
    if not key:
        raise DomainError("请填写学生的学籍号或身份证件号", field="number")
    if not name:
        raise DomainError("请填写学生姓名", field="name")
    student = session.scalars(select(Student).where(
        or_(Student.xueji_no == key, Student.id_number == key),
        Student.status.not_in([StudentStatus.DELETED, StudentStatus.TRANSFERRED_OUT]))).first()
    if student is None or student.name != name:
        raise DomainError("本省没有与该姓名和学籍号（或身份证件号）相符的在籍学生；外省学生请办理跨省转入",
                          field="number")
    return student


def find_schools(session, actor, query, limit=20):
    """Schools of the actor's province a student may transfer to (names and codes are public)."""
    unit = getattr(actor, "org_unit", None)
    text = (query or "").strip()
    if unit is None or not text:
        return []
    province = "/" + unit.path.strip("/").split("/")[0] + "/"
    return session.scalars(
        select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.active.is_(True),
                              OrgUnit.path.startswith(province),
                              or_(OrgUnit.name.contains(text, autoescape=True), OrgUnit.school_code.startswith(text, autoescape=True)))
        .order_by(OrgUnit.path).limit(limit)).all()


def school_by_code(session, actor, code):
    unit = getattr(actor, "org_unit", None)
    code = (code or "").strip()
    school = session.scalar(select(OrgUnit).where(OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.school_code == code)) \
        if code else None
    province = "/" + unit.path.strip("/").split("/")[0] + "/" if unit is not None else None
    if school is None or not province or not school.path.startswith(province):
        raise DomainError("找不到该学校标识码对应的本省学校", field="to_school")
    return school


def place_name(session, school):
    """南昌市东湖区 东湖第一小学: enough for a trace or a message, without codes."""
    county = requests.ancestor_of_kind(session, school, OrgKind.COUNTY)
    city = requests.ancestor_of_kind(session, school, OrgKind.CITY)

    def region(unit):  # the place (南昌市), not the bureau's name (南昌市教育局)
        if unit is None:
            return ""
        return unit.region.name if unit.region is not None else unit.name

    return f"{region(city)}{region(county)} {school.name}".strip()


# ---------------------------------------------------------------- checks shared by every transfer

def _check_target(school, grade):
    if school.kind != OrgKind.SCHOOL or not school.active:
        raise DomainError(f"{school.name}已停用，不能转入", field="to_school")
    if not school.may_enroll:
        raise DomainError(f"{school.name}当前不接收转入学生", field="to_school")
    if not grade or not tables.is_valid("grade", grade):
        raise DomainError("请选择转入年级", field="grade")
    if not grades.teaches(school, grade):
        kind = school.school_type.label if school.school_type else "学校"
        raise DomainError(f"{school.name}（{kind}）不招收{grades.grade_label(grade)}学生", field="grade")


def _reason(reason_code, note):
    code = tables.code_for("transfer_reason", str(reason_code or ""))
    if code is None:
        raise DomainError("请选择转学原因", field="reason_code")
    note = (note or "").strip()
    if code == "99" and not note:
        raise DomainError("转学原因为“其他”时请填写说明", field="note")
    return code, note


def _movable(student):
    if student.status != StudentStatus.IN_SCHOOL:
        raise DomainError(f"学生 {student.name} 的学籍状态为“{student.status.label}”，只有在校生可以转学"
                          + ("；休学学生请先复学" if student.status == StudentStatus.SUSPENDED else ""))


def _payload(student, frm, to, grade, class_name, code, note):
    return {"from_school_id": frm.id, "to_school_id": to.id, "from_school": frm.name, "to_school": to.name,
            "from_grade": student.grade, "from_class": student.class_name,
            "grade": grade, "class_name": (class_name or "").strip() or None,
            "reason_code": code, "note": note}


def _reason_text(code, note):
    text = tables.label("transfer_reason", code)
    return f"{text}：{note}" if note else text


# ---------------------------------------------------------------- starting

@with_actor
def start_transfer_in(session, actor, *, name, number, grade=None, class_name=None, reason_code=None, note=None,
                      attachments=()):
    """转入申请: the receiving school asks for a student of another school of the province."""
    to = students._school_actor(actor, "发起转入申请")
    student = find_student(session, name, number)
    return _start(session, actor, TRANSFER_IN, student, student.school, to, grade, class_name, reason_code, note,
                  attachments)


@with_actor
def start_transfer_out(session, actor, student_id, *, to_school_code, grade=None, class_name=None, reason_code=None,
                       note=None, attachments=(), expected_version=None):
    """转出申请: the sending school moves its student to another school of the province."""
    student = students._own_student(session, actor, student_id, "发起转出申请")
    students._check_version(student, expected_version)
    to = school_by_code(session, actor, to_school_code)
    return _start(session, actor, TRANSFER_OUT, student, student.school, to, grade, class_name, reason_code, note,
                  attachments)


def _start(session, actor, type_name, student, frm, to, grade, class_name, reason_code, note, attachments):
    if to.id == frm.id:
        raise DomainError("转入学校与学生当前所在学校相同，不需要转学；调整年级或班级请编辑学籍信息", field="to_school")
    _movable(student)
    grade = grade or student.grade
    _check_target(to, grade)
    if len((class_name or "").strip()) > CLASS_NAME_MAX:
        raise DomainError(f"班级名称不能超过 {CLASS_NAME_MAX} 个字", field="class_name")
    code, note = _reason(reason_code, note)
    initiator = to if type_name == TRANSFER_IN else frm
    other = frm if initiator is to else to
    if requests.window_check is not None:  # a pause of either side's authority stops the transfer
        requests.window_check(session, WINDOW, requests.REQUEST_TYPES[type_name].label, other)
    req = requests.start(session, actor, type_name, school=initiator, student=student,
                         payload=_payload(student, frm, to, grade, class_name, code, note),
                         reason=_reason_text(code, note))
    for a in attachments:
        a.request_id, a.student_id = req.id, student.id
    session.flush()
    return req


# ---------------------------------------------------------------- routes

def _units(session, school):
    return (requests.ancestor_of_kind(session, school, OrgKind.COUNTY),
            requests.ancestor_of_kind(session, school, OrgKind.CITY),
            requests.ancestor_of_kind(session, school, OrgKind.PROVINCE))


def in_province_route(session, req):
    frm = session.get(OrgUnit, req.payload["from_school_id"])
    to = session.get(OrgUnit, req.payload["to_school_id"])
    (c_out, m_out, province), (c_in, m_in, _p) = _units(session, frm), _units(session, to)
    if None in (c_out, c_in, m_out, m_in, province):
        raise DomainError("学校的上级教育行政部门不完整，无法确定审批路线")
    stops = [Stop(frm, StepRole.CONFIRM, Party.OUT) if req.type == TRANSFER_IN else Stop(to, StepRole.CONFIRM, Party.IN)]
    if c_out.id == c_in.id:
        stops.append(Stop(c_out))  # one county serves both sides
        return stops
    referee = m_out if m_out.id == m_in.id else province
    in_first = process_settings.value(session, referee, process_settings.COUNTY_ORDER) == "in_first"
    pair = [Stop(c_out, party=Party.OUT), Stop(c_in, party=Party.IN)]
    stops += pair[::-1] if in_first else pair
    if m_out.id != m_in.id and process_settings.value(session, province, process_settings.CITY_APPROVAL) == "both":
        cities = [Stop(m_out, party=Party.OUT), Stop(m_in, party=Party.IN)]
        stops += cities[::-1] if in_first else cities
    return stops


def cross_province_route(session, req):
    county, _city, province = _units(session, req.school)
    if county is None or province is None:
        raise DomainError("学校的上级教育行政部门不完整，无法确定审批路线")
    return [Stop(county), Stop(province, StepRole.EXTERNAL)]


# ---------------------------------------------------------------- 籍随人走

def _move_history(student, reason, request_id, status=None):
    students._close_history(student, reason[:255], request_id)  # student_history.reason is 255 characters
    if status is not None:
        student.history[-1].status = status


def _execute(session, actor, req):
    student, p = req.student, req.payload
    frm, to = session.get(OrgUnit, p["from_school_id"]), session.get(OrgUnit, p["to_school_id"])
    if student.school_id != frm.id:
        raise DomainError(f"学生已不在{frm.name}，该转学申请不能再通过，请驳回")
    _movable(student)
    _check_target(to, p["grade"])
    now = datetime.datetime.now()
    session.add(DepartureTrace(student_id=student.id, request_id=req.id, from_school_id=frm.id, from_path=frm.path,
                               to_school_id=to.id, to_name=place_name(session, to), student_name=student.name,
                               personal_id=student.personal_id, grade=student.grade, class_name=student.class_name,
                               left_at=now))
    student.school, student.school_id = to, to.id
    student.grade, student.class_name = p["grade"], p.get("class_name")
    _move_history(student, f"转学：由{frm.name}转入{to.name}", req.id)
    # The evidence filed for this student moves with the record (the old school no longer sees it),
    # and so does the evidence of this transfer: from now on it belongs to the record.
    for att in session.scalars(select(Attachment).where(
            or_(Attachment.student_id == student.id, Attachment.request_id == req.id))):
        att.org_path, att.student_id = to.path, student.id
    session.flush()


# ---------------------------------------------------------------- 跨省转入

def _province_of(actor):
    return "/" + actor.org_unit.path.strip("/").split("/")[0] + "/"


def _other_province(session, actor, code, field="from_province", what="学生原就读学校所在的省份"):
    code = (str(code or "").strip())[:6]
    region = session.get(Region, code) if code else None
    own = _province_of(actor).strip("/")
    if region is None or region.level != 1:
        raise DomainError(f"请选择{what}", field=field)
    if region.code == own:
        raise DomainError("本省学校之间的转学请办理省内转学", field=field)
    return region


def _json_safe(values):
    return {k: (v.isoformat() if isinstance(v, datetime.date) else (str(v) if isinstance(v, Decimal) else v))
            for k, v in values.items()}


GUARDIAN_LABELS = {"name": "监护人姓名", "id_number": "监护人身份证件号", "phone": "监护人联系电话"}


def _fits(model, values, labels, field=None):
    for key, value in values.items():
        column = model.__table__.c.get(key)
        length = getattr(getattr(column, "type", None), "length", None)
        if isinstance(value, str) and length and len(value) > length:
            raise DomainError(f"{labels.get(key, key)}不能超过 {length} 个字", field=field or key)


def subject_key(id_number, xueji_no):
    return f"id:{id_number}" if id_number else f"xj:{xueji_no}"


@with_actor
def start_province_transfer_in(session, actor, data, guardians, *, from_province, from_school, xueji_no,
                               reason_code=None, note=None, attachments=()):
    """跨省转入: the record of a student from another province arrives by its 学籍号, with the
    data entered here; the county approves, then the province confirms with the other province."""
    to = students._school_actor(actor, "发起跨省转入")
    payload, warnings, key = arriving_record(session, actor, to, data, guardians, from_province=from_province,
                                             from_school=from_school, xueji_no=xueji_no, attachments=attachments)
    _check_target(to, payload["grade"])
    code, note = _reason(reason_code, note)
    payload.update({"reason_code": code, "note": note})
    req = requests.start(session, actor, PROVINCE_IN, school=to, payload=payload, reason=_reason_text(code, note),
                         subject_key=key)
    for a in attachments:
        a.request_id = req.id
    session.flush()
    return req, warnings


def arriving_record(session, actor, to, data, guardians, *, from_province, from_school, xueji_no, attachments=()):
    """A record arriving from another province (跨省转入, 跨省招生的调取新生档案), checked now and
    written on approval: (payload, warnings, subject key of the open request)."""
    region = _other_province(session, actor, from_province)
    from_school = (from_school or "").strip()
    if not from_school:
        raise DomainError("请填写原就读学校名称", field="from_school")
    if len(from_school) > SCHOOL_NAME_MAX:
        raise DomainError(f"原就读学校名称不能超过 {SCHOOL_NAME_MAX} 个字", field="from_school")
    clean, warnings = students.clean_student_fields(session, data)
    guardian_rows = students.clean_guardians(guardians)
    # The record is written only on approval: what would not fit its columns is refused now.
    _fits(Student, clean, students.FIELD_LABELS)
    for row in guardian_rows:
        _fits(Guardian, row, GUARDIAN_LABELS, field="guardians")
    number = identity.normalise(xueji_no)
    if not XUEJI_RE.match(number or ""):
        raise DomainError("学籍号格式不正确：应为 G 加 18 位身份证件号，或 L 开头的临时学籍号", field="xueji_no")
    if clean.get("id_number"):
        if number != "G" + clean["id_number"]:
            raise DomainError("学籍号应为 G 加学生的身份证件号，与填写的身份证件号不一致", field="xueji_no")
        students._refuse_second_record(session, clean["id_number"])
    elif not number.startswith("L"):
        raise DomainError("没有身份证件号的学生，学籍号应为 L 开头的临时学籍号", field="xueji_no")
    holder = session.scalar(select(Student).where(Student.xueji_no == number))
    if holder is not None and holder.status != StudentStatus.TRANSFERRED_OUT:  # a returning student is welcome back
        raise DomainError("本省已有该学籍号的学籍，请通过全省学籍查询核实后办理省内转学", field="xueji_no")
    if not clean.get("id_number") and not any(a.kind == students.NO_ID_PROOF for a in attachments):
        raise DomainError("没有身份证件号的学生须上传无身份证号证明", field="attachments")
    payload = {"record": _json_safe(clean), "guardians": guardian_rows, "xueji_no": number,
               "from_province": region.code, "from_province_name": region.name, "from_school": from_school,
               "to_school_id": to.id, "to_school": to.name, "grade": clean.get("grade"),
               "class_name": clean.get("class_name")}
    return payload, warnings, subject_key(clean.get("id_number"), number)


def _execute_province_in(session, actor, req):
    p = req.payload
    _check_target(session.get(OrgUnit, p["to_school_id"]), p["grade"])
    arrive_record(session, req, session.get(OrgUnit, p["to_school_id"]),
                  f"跨省转入：自{p['from_province_name']} {p['from_school']}")


def arrive_record(session, req, to, reason):
    """Write the arriving record of `req` (see arriving_record) into school `to`; returns the student."""
    p = req.payload
    record = dict(p["record"])
    if record.get("birth_date"):
        record["birth_date"] = datetime.date.fromisoformat(record["birth_date"])
    if record.get("id_number"):
        students._refuse_second_record(session, record["id_number"])
    returning = session.scalar(select(Student).where(Student.xueji_no == p["xueji_no"],
                                                     Student.status == StudentStatus.TRANSFERRED_OUT))
    if returning is not None:
        # Left the province earlier and comes back: the same record (its history, its 学籍号) again.
        student = returning
        for k, v in record.items():
            setattr(student, k, v)
        student.school, student.school_id, student.status = to, to.id, StudentStatus.IN_SCHOOL
        student.name_initials = students.initials(student.name)
        student.guardians = [Guardian(**g) for g in p["guardians"]]
        students._close_history(student, (reason + "（返回本省）")[:255], req.id)
        for att in session.scalars(select(Attachment).where(Attachment.student_id == student.id)):
            att.org_path = to.path
    else:
        student = Student(**record, school=to, school_id=to.id, status=StudentStatus.IN_SCHOOL,
                          xueji_no=p["xueji_no"], created_by_id=req.initiator_id,
                          name_initials=students.initials(record["name"]))
        student.guardians = [Guardian(**g) for g in p["guardians"]]
        session.add(student)
        session.flush()
        student.personal_id = identity.personal_identifier(to.path.split("/")[1], student.id)
        student.history = [StudentHistory(school_id=to.id, grade=student.grade, class_name=student.class_name,
                                          status=StudentStatus.IN_SCHOOL.value, request_id=req.id, reason=reason[:255])]
    req.student, req.student_id = student, student.id
    for att in session.scalars(select(Attachment).where(Attachment.request_id == req.id)):
        att.student_id, att.org_path = student.id, to.path
    session.flush()
    return student


# ---------------------------------------------------------------- 跨省转出

@with_actor
def start_province_transfer_out(session, actor, student_id, *, to_province, to_school, reason_code=None, note=None,
                                attachments=(), expected_version=None):
    student = students._own_student(session, actor, student_id, "发起跨省转出")
    students._check_version(student, expected_version)
    _movable(student)
    region = _other_province(session, actor, to_province, "to_province", "转入学校所在的省份")
    to_school = (to_school or "").strip()
    if not to_school:
        raise DomainError("请填写转入学校名称", field="to_school")
    if len(to_school) > SCHOOL_NAME_MAX:
        raise DomainError(f"转入学校名称不能超过 {SCHOOL_NAME_MAX} 个字", field="to_school")
    code, note = _reason(reason_code, note)
    req = requests.start(session, actor, PROVINCE_OUT, school=student.school, student=student,
                         payload={"to_province": region.code, "to_province_name": region.name, "to_school": to_school,
                                  "from_school_id": student.school_id, "reason_code": code, "note": note},
                         reason=_reason_text(code, note))
    for a in attachments:
        a.request_id, a.student_id = req.id, student.id
    session.flush()
    return req


def _execute_province_out(session, actor, req):
    student, p = req.student, req.payload
    _movable(student)
    frm = student.school
    session.add(DepartureTrace(student_id=student.id, request_id=req.id, from_school_id=frm.id, from_path=frm.path,
                               to_school_id=None, to_name=f"{p['to_province_name']} {p['to_school']}",
                               student_name=student.name, personal_id=student.personal_id, grade=student.grade,
                               class_name=student.class_name))
    student.status = StudentStatus.TRANSFERRED_OUT
    _move_history(student, f"跨省转出：转至{p['to_province_name']} {p['to_school']}", req.id)
    session.flush()


# ---------------------------------------------------------------- descriptions for the request screens

def _describe(req):
    p = req.payload or {}
    rows = []
    if req.type in IN_PROVINCE:
        rows += [("转出学校", p.get("from_school"), ""), ("转入学校", "", p.get("to_school")),
                 ("年级", grades.grade_label(p.get("from_grade")), grades.grade_label(p.get("grade"))),
                 ("班级", p.get("from_class") or "", p.get("class_name") or "")]
    elif req.type == PROVINCE_IN:
        rec = p.get("record") or {}
        rows += [("原就读省份", p.get("from_province_name"), ""), ("原就读学校", p.get("from_school"), ""),
                 ("学籍号", "", p.get("xueji_no")), ("转入学校", "", p.get("to_school")),
                 ("年级", "", grades.grade_label(p.get("grade"))), ("班级", "", p.get("class_name") or "")]
        rows += [(students.FIELD_LABELS.get(k, k), "", students.display(k, v))
                 for k, v in rec.items() if k in students.KEY_FIELDS and v not in (None, "")]
    elif req.type == PROVINCE_OUT:
        rows += [("转入省份", "", p.get("to_province_name")), ("转入学校", "", p.get("to_school"))]
    rows.append(("转学原因", "", _reason_text(p.get("reason_code"), p.get("note")) if p.get("reason_code") else ""))
    return rows


for name, label in ((TRANSFER_IN, "转学（转入申请）"), (TRANSFER_OUT, "转学（转出申请）")):
    requests.register(requests.RequestType(name, label, route=in_province_route, on_approve=_execute,
                                           window=WINDOW, describe=_describe, two_sided=True))
requests.register(requests.RequestType(PROVINCE_IN, "跨省转入", route=cross_province_route, locks=False,
                                       on_approve=_execute_province_in, window=WINDOW, describe=_describe))
requests.register(requests.RequestType(PROVINCE_OUT, "跨省转出", route=cross_province_route,
                                       on_approve=_execute_province_out, window=WINDOW, describe=_describe))


# ---------------------------------------------------------------- the former school's trace

def _trace_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    return DepartureTrace.from_path.startswith(prefix)


scope.register(DepartureTrace, _trace_scope)


def departures_query(actor):
    return select(DepartureTrace).where(scope.clause(actor, DepartureTrace)).order_by(DepartureTrace.left_at.desc())

