"""学籍 processes: validation of a record, 全省学籍查询, 新生注册, non-key edits, 关键数据变更,
误操作删除 — each an approval-engine request type where the guide says 核办."""
import datetime
import functools
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.services.context import with_actor
from app.codes import tables
from app.models.org import OrgKind, OrgUnit, Region
from app.models.requests import Request
from app.models.student import (
    INACTIVE_STATUSES, KEY_FIELDS, Attachment, Guardian, Student, StudentHistory, StudentStatus,
)
from app.services import identity, requests, scope
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_SCHOOL, actor_rank
from app.services import clock

REGISTRATION, KEY_CHANGE, DELETION = "registration", "key_data_change", "deletion"
FIELD_LABELS = {
    "name": "姓名", "gender": "性别", "birth_date": "出生日期", "id_type": "身份证件类型", "id_number": "身份证件号",
    "ethnicity": "民族", "birthplace_code": "出生地", "hukou_code": "户口所在地", "native_place": "籍贯",
    "nationality": "国籍/地区", "hmt_overseas": "港澳台侨外", "political_status": "政治面貌", "health_status": "健康状况",
    "hukou_type": "户口性质", "only_child": "是否独生子女", "left_behind": "是否留守儿童", "migrant_child": "是否进城务工人员随迁子女",
    "orphan": "是否孤儿", "martyr_child": "是否烈士或优抚子女", "commute_distance": "上下学距离（公里）",
    "commute_mode": "上下学方式", "needs_school_bus": "是否需要乘坐校车", "enrollment_month": "入学年月",
    "enrollment_method": "入学方式", "study_mode": "就读方式", "grade": "年级", "class_name": "班级",
}
CODED_FIELDS = {
    "gender": "gender", "id_type": "id_type", "ethnicity": "ethnicity", "nationality": "nationality",
    "hmt_overseas": "hmt_overseas", "political_status": "political_status", "health_status": "health_status",
    "hukou_type": "hukou_type", "commute_mode": "commute_mode", "enrollment_method": "enrollment_method",
    "study_mode": "study_mode", "grade": "grade",
}
BOOL_FIELDS = ("only_child", "left_behind", "migrant_child", "orphan", "martyr_child", "needs_school_bus")
OTHER_FIELDS = tuple(f for f in FIELD_LABELS if f not in KEY_FIELDS)
NAME_RE = re.compile(r"^[\u3400-\u9fffA-Za-z·•.\- ]{1,64}$")
PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
NO_ID_PROOF = "no_id_proof"
EVIDENCE = "evidence"


# Surnames read differently from the common reading of the character (曾 zēng, not céng …).
SURNAME_INITIALS = {"曾": "z", "单": "s", "解": "x", "仇": "q", "区": "o", "朴": "p", "查": "z", "盖": "g",
                    "乐": "y", "员": "y", "华": "h", "任": "r", "缪": "m", "尉": "y", "种": "c", "覃": "q",
                    "秘": "b", "繁": "p", "召": "s", "长孙": "zs", "尉迟": "yc", "万俟": "mq"}

_SURNAMES_LONGEST_FIRST = sorted(SURNAME_INITIALS, key=len, reverse=True)


def initials(name):
    """Pinyin initials for search: 张小明 → zxm, 曾小明 → zxm."""
    name = (name or "").strip()
    for surname in _SURNAMES_LONGEST_FIRST:
        if name.startswith(surname):
            return (SURNAME_INITIALS[surname] + _initials(name[len(surname):]))[:32]
    return _initials(name)


def _initials(text):
    single = _single_reading_initials()
    letters = [single.get(ch) for ch in text]
    if None not in letters:  # no polyphonic or unknown character: no phrase context needed
        return "".join(letters)[:32]
    return _phrase_initials(text)


@functools.lru_cache(maxsize=65536)  # given names repeat a lot across a province
def _phrase_initials(text):
    words = (w for p in lazy_pinyin(text, style=Style.FIRST_LETTER) for w in p.split())  # "李 Anna" → l, a
    return "".join(w[0] for w in words if w[0].isalpha()).lower()[:32]


@functools.lru_cache(maxsize=1)
def _single_reading_initials():
    """{character: initial} for the characters whose readings in pypinyin all start with one letter. lazy_pinyin costs
    ~60 µs a name, most of a bulk import's pinyin time; for these characters its answer is fixed."""
    from pypinyin.pinyin_dict import pinyin_dict
    out = {}
    for code, readings in pinyin_dict.items():
        firsts = {unicodedata.normalize("NFKD", r)[0].lower() for r in readings.split(",")}
        if len(firsts) == 1:  # several readings with one initial (e.g. 宇 yǔ/yú) answer the same
            first = firsts.pop()
            if first.isascii() and first.isalpha():
                out[chr(code)] = first
    return out


# ---------------------------------------------------------------- validation

def _parse_date(value, label, field):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value or "").strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"):
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise DomainError(f"{label}格式应为 年-月-日（如 2016-09-01）", field=field)


def region_code_12(session, value, label, field):
    """出生地 / 户口所在地: 6-digit division codes are stored padded to 12 with six zeros."""
    text = identity.normalise(value)
    if not text:
        return None
    if not text.isdigit() or len(text) not in (6, 9, 12):
        raise DomainError(f"{label}应为 6 位行政区划代码（或补足 12 位）", field=field)
    text = text.ljust(12, "0")
    if text.endswith("000000") and session.get(Region, text[:6]) is None:
        raise DomainError(f"{label}代码 {text[:6]} 不在行政区划代码表中", field=field)
    return text


def clean_student_fields(session, data, *, today=None, require_all=True):
    """Validate and normalise a record's fields. Returns (clean, warnings). Raises DomainError."""
    today = today or clock.today()
    clean, warnings = {}, []

    def get(k):
        v = data.get(k)
        return v.strip() if isinstance(v, str) else v

    if require_all or "name" in data:
        name = _WS_RE.sub(" ", get("name") or "")
        if not name:
            raise DomainError("请填写姓名", field="name")
        if not NAME_RE.match(name):
            raise DomainError("姓名只能包含汉字、字母、间隔号“·”", field="name")
        clean["name"] = name
    table = tables.table
    for f, table_name in CODED_FIELDS.items():
        if f not in data and not (require_all and f in ("gender", "id_type", "ethnicity")):
            continue
        value = get(f)
        if value in (None, ""):
            if f in ("gender", "id_type", "ethnicity", "nationality", "hmt_overseas"):  # NOT NULL columns
                raise DomainError(f"请选择{FIELD_LABELS[f]}", field=f)
            clean[f] = None
            continue
        text = str(value)
        code = text if text in table(table_name) else tables.code_for(table_name, text)  # a code: no name scan
        if code is None:
            raise DomainError(f"{FIELD_LABELS[f]}“{value}”不是有效的代码", field=f)
        clean[f] = code
    if require_all or "birth_date" in data:
        born = get("birth_date")
        born = _iso_birth_date(born) if isinstance(born, str) else _parse_date(born, "出生日期", "birth_date")
        clean["birth_date"] = identity.check_birth_date(born, today)
    if require_all or "id_number" in data or "id_type" in data:
        id_type = clean.get("id_type", get("id_type"))
        raw = get("id_number")
        if id_type == identity.MAINLAND_ID:
            checked = identity.check_id_number(raw, birth_date=clean.get("birth_date"), gender=clean.get("gender"), today=today)
            clean["id_number"] = checked.number
            warnings += checked.notices + checked.warnings
        else:
            clean["id_number"] = identity.normalise(raw) or None
    if "birthplace_code" in data or "hukou_code" in data:
        known = _region_results(session)  # one lookup per distinct code and transaction, not one per row
        for f in ("birthplace_code", "hukou_code"):
            if f in data:
                raw = get(f)
                code = known.get(raw, _MISSING) if raw.__hash__ is not None else _MISSING
                if code is _MISSING:
                    code = region_code_12(session, raw, FIELD_LABELS[f], f)
                    if raw.__hash__ is not None:
                        known[raw] = code
                clean[f] = code
    if "native_place" in data:
        clean["native_place"] = (get("native_place") or None)
    for f in BOOL_FIELDS:
        if f in data:
            v = data.get(f)
            clean[f] = v in (True, 1, "1", "y", "yes", "true", "True", "on", "是")
    if "commute_distance" in data:
        raw = get("commute_distance")
        if raw in (None, ""):
            clean["commute_distance"] = None
        else:
            try:
                d = Decimal(str(raw))
            except InvalidOperation:
                raise DomainError("上下学距离应为数字（公里）", field="commute_distance")
            if d < 0 or d > _MAX_DISTANCE:
                raise DomainError("上下学距离应在 0 到 999.9 公里之间", field="commute_distance")
            q = d.quantize(_TENTH)
            if d != q:
                raise DomainError("上下学距离最多保留一位小数", field="commute_distance")
            clean["commute_distance"] = q
    if "enrollment_month" in data:
        raw = get("enrollment_month")
        if raw:
            m = _MONTH_RE.match(str(raw))
            if not m or not (1 <= int(m.group(2)) <= 12):
                raise DomainError("入学年月格式应为 年-月（如 2026-09）", field="enrollment_month")
            value = f"{int(m.group(1)):04d}-{int(m.group(2)):02d}"
            if value > f"{today:%Y-%m}" and value > f"{today.year}-09":
                raise DomainError("入学年月不能晚于本学年", field="enrollment_month")
            clean["enrollment_month"] = value
        else:
            clean["enrollment_month"] = None
    if "class_name" in data:
        clean["class_name"] = (get("class_name") or None)
    return clean, warnings


# Helpers of clean_student_fields for imports of many rows (same rules, fewer repeated look-ups).
_WS_RE = re.compile(r"\s+")
_MONTH_RE = re.compile(r"^(\d{4})[-/.年]?(\d{1,2})月?$")
_TENTH, _MAX_DISTANCE = Decimal("0.1"), Decimal("999.9")
_MISSING = object()


@functools.lru_cache(maxsize=65536)
def _iso_birth_date(text):
    """_parse_date for text, remembered: a workbook's birth dates repeat (a few hundred distinct
    per grade). Errors are not cached (lru_cache does not keep exceptions)."""
    return _parse_date(text, "出生日期", "birth_date")


def _region_results(session):
    """{raw value: region_code_12 result} for the session's current transaction: a row's 出生地 and
    户口所在地 are checked against the region table once per distinct code, not with a query per row
    (a Region fetched by session.get is not kept by the identity map once unreferenced)."""
    from sqlalchemy.orm import scoped_session
    tx = (session() if isinstance(session, scoped_session) else session).get_transaction()
    held = session.info.get("students.region_results")
    if held is None or held[0] is not tx:
        held = session.info["students.region_results"] = (tx, {})
    return held[1]


def clean_guardians(guardians):
    if not guardians:
        raise DomainError("请至少填写一位监护人", field="guardians")
    out = []
    for i, g in enumerate(guardians, start=1):
        name = (g.get("name") or "").strip()
        if not name:
            raise DomainError(f"第 {i} 位监护人：请填写姓名", field="guardians")
        relation = tables.code_for("guardian_relation", str(g.get("relation") or ""))
        if relation is None:
            raise DomainError(f"第 {i} 位监护人：请选择与学生的关系", field="guardians")
        id_type = tables.code_for("id_type", str(g.get("id_type") or "")) if g.get("id_type") else None
        number = None
        if id_type == identity.MAINLAND_ID:
            try:
                number = identity.check_id_number(g.get("id_number"), label=f"第 {i} 位监护人的身份证号").number
            except DomainError as exc:  # the guardian's number, not the student's id_number field
                raise DomainError(exc.message, field="guardians") from exc
        elif g.get("id_number"):
            number = identity.normalise(g.get("id_number"))
        phone = (g.get("phone") or "").strip()
        if phone and not PHONE_RE.match(phone):
            raise DomainError(f"第 {i} 位监护人：联系电话格式不正确", field="guardians")
        out.append({"name": name, "relation": relation, "id_type": id_type, "id_number": number, "phone": phone or None})
    return out


# ---------------------------------------------------------------- 全省学籍查询

def _county_and_school(session, school):
    county = requests.ancestor_of_kind(session, school, OrgKind.COUNTY)
    return (county.name if county else ""), school.name


def holder_of(session, id_number, exclude_student_id=None):
    stmt = select(Student).where(Student.id_number == id_number, Student.status.not_in(
        [StudentStatus(s) for s in INACTIVE_STATUSES]))
    if exclude_student_id is not None:
        stmt = stmt.where(Student.id != exclude_student_id)
    return session.scalars(stmt).first()


def lookup_person(session, actor, name, id_number):
    """Province-wide: does this person already have an active record? Reveals only the holding
    county and school (and whether the name matches), never the record itself."""
    if actor is None or getattr(actor, "org_unit", None) is None:
        raise PermissionDenied("请先登录")
    number = identity.normalise(id_number)
    if not number:
        raise DomainError("请填写身份证件号", field="id_number")
    holder = holder_of(session, number)
    if holder is None:
        return None
    county, school = _county_and_school(session, holder.school)
    return {"county": county, "school": school, "name_matches": holder.name == (name or "").strip(),
            "status": str(holder.status.label)}


def _refuse_second_record(session, id_number, exclude_student_id=None):
    holder = holder_of(session, id_number, exclude_student_id)
    if holder is not None:
        county, school = _county_and_school(session, holder.school)
        raise DomainError(f"该身份证件号已在 {county} {school} 建立学籍（一人一籍），不能重复注册；"
                          f"学生如已转入本校，请办理转学", field="id_number")


# ---------------------------------------------------------------- attachments

def _school_actor(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.SCHOOL or actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied(f"只有学校学籍管理员可以{doing}")
    return unit


def _own_student(session, actor, student_id, doing):
    school = _school_actor(actor, doing)
    student = scope.get(session, actor, Student, student_id)
    if student.school_id != school.id:
        raise NotFound("记录不存在或不在您的管辖范围内")
    return student


# ---------------------------------------------------------------- 新生注册

@with_actor
def register_student(session, actor, data, guardians, attachments=(), today=None):
    """A school enters a new student; the county approves (新生注册核办). Returns (student, request, warnings)."""
    school = _school_actor(actor, "注册新生")
    if not school.active or not school.may_enroll:
        raise DomainError(f"{school.name}当前不能招生注册，请联系县（区）教育局")
    clean, warnings = clean_student_fields(session, data, today=today)
    guardian_rows = clean_guardians(guardians)
    if clean.get("id_number"):
        _refuse_second_record(session, clean["id_number"])
    elif not any(a.kind == NO_ID_PROOF for a in attachments):
        raise DomainError("没有身份证件号的学生须上传无身份证号证明", field="attachments")
    student = Student(**clean, school=school, school_id=school.id, status=StudentStatus.REGISTERING,
                      created_by_id=actor.id, name_initials=initials(clean["name"]))
    student.guardians = [Guardian(**g) for g in guardian_rows]
    session.add(student)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent registration of the same ID number won the unique index
        raise DomainError("该身份证件号刚刚已被其他学校注册（一人一籍），请通过全省学籍查询核实", field="id_number")
    student.personal_id = identity.personal_identifier(school.path.split("/")[1], student.id)
    student.history = [StudentHistory(school_id=school.id, grade=student.grade, class_name=student.class_name,
                                      status=StudentStatus.REGISTERING.value, reason="新生注册")]
    for a in attachments:
        a.student_id = student.id
    req = requests.start(session, actor, REGISTRATION, school=school, student=student,
                         payload={"after": snapshot(student)}, reason="新生注册")
    for a in attachments:
        a.request_id = req.id
    session.flush()
    return student, req, warnings


def _close_history(student, reason, request_id=None):
    now = datetime.datetime.now()
    for h in student.history:
        if h.valid_to is None:
            h.valid_to = now
    student.history.append(StudentHistory(school_id=student.school_id, grade=student.grade, class_name=student.class_name,
                                          status=student.status.value, valid_from=now, reason=reason, request_id=request_id))


def _approve_registration(session, actor, req):
    student = req.student
    if student.id_number:
        _refuse_second_record(session, student.id_number, exclude_student_id=student.id)
    student.status = StudentStatus.IN_SCHOOL
    student.xueji_no = identity.xueji_number(student.id_type, student.id_number, student.personal_id)
    _close_history(student, "新生注册核办通过", req.id)


def _cancel_registration(session, actor, req):
    student = req.student
    student.status = StudentStatus.DELETED
    _close_history(student, "学校撤回新生注册", req.id)


@with_actor
def resubmit_registration(session, actor, student_id, data=None, guardians=None, expected_version=None):
    """After a rejection the school corrects the record and submits it again."""
    student = _own_student(session, actor, student_id, "重新提交注册")
    if student.status != StudentStatus.REGISTERING:
        raise DomainError("只有未通过核办的注册可以重新提交")
    _check_version(student, expected_version)
    if data:
        clean, _ = clean_student_fields(session, {**snapshot(student), **data})
        if clean.get("id_number"):
            _refuse_second_record(session, clean["id_number"], exclude_student_id=student.id)
        for k, v in clean.items():
            setattr(student, k, v)
        student.name_initials = initials(student.name)
    if guardians:
        student.guardians = [Guardian(**g) for g in clean_guardians(guardians)]
    return requests.start(session, actor, REGISTRATION, school=student.school, student=student,
                          payload={"after": snapshot(student)}, reason="新生注册（重新提交）")


@with_actor
def withdraw_registration(session, actor, student_id, expected_version=None):
    """A registration the county rejected may also be given up: the record becomes 已删除 (kept for
    query) and the ID number is free again. A pending one is withdrawn by cancelling its request."""
    student = _own_student(session, actor, student_id, "撤回新生注册")
    if student.status != StudentStatus.REGISTERING:
        raise DomainError("只有未通过核办的新生注册可以撤回")
    _check_version(student, expected_version)
    if requests.open_locking_request(session, student.id) is not None:
        raise DomainError("该注册正在等待核办，请在“业务申请”中撤销申请")
    student.status = StudentStatus.DELETED
    _close_history(student, "学校撤回未通过核办的新生注册")
    session.flush()
    return student


# ---------------------------------------------------------------- non-key edits

def _check_version(student, expected_version):
    if expected_version is not None and int(expected_version) != student.version:
        raise DomainError("该学生信息已被他人修改，请刷新页面后重新编辑")


@with_actor
def update_student(session, actor, student_id, changes, expected_version=None):
    """Edit non-key fields directly. Key data only through 关键数据变更."""
    student = _own_student(session, actor, student_id, "修改学籍信息")
    if student.status in (StudentStatus.DELETED, StudentStatus.TRANSFERRED_OUT):
        raise DomainError(f"学生状态为“{student.status.label}”，不能修改")
    _check_version(student, expected_version)
    key = [FIELD_LABELS[f] for f in changes if f in KEY_FIELDS and _differs(getattr(student, f), changes[f])]
    if key and student.status != StudentStatus.REGISTERING:
        raise DomainError(f"{'、'.join(key)}属于关键数据，须通过“关键数据变更”申请修改")
    allowed = {f: v for f, v in changes.items() if f in OTHER_FIELDS}
    clean, warnings = clean_student_fields(session, allowed, require_all=False)
    for k, v in clean.items():
        setattr(student, k, v)
    session.flush()
    return student, warnings


def _differs(old, new):
    if isinstance(old, datetime.date) and not isinstance(new, datetime.date):
        return str(old) != str(new)
    return (old or None) != (new or None)


# ---------------------------------------------------------------- 关键数据变更

def snapshot(student, fields=None):
    out = {}
    for f in fields or (KEY_FIELDS + OTHER_FIELDS):
        v = getattr(student, f)
        out[f] = v.isoformat() if isinstance(v, datetime.date) else (str(v) if isinstance(v, Decimal) else v)
    return out


@with_actor
def request_key_change(session, actor, student_id, changes, reason, attachments=(), expected_version=None):
    student = _own_student(session, actor, student_id, "申请关键数据变更")
    if student.status not in (StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED):
        raise DomainError(f"学生状态为“{student.status.label}”，不能申请关键数据变更")
    _check_version(student, expected_version)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写变更原因", field="reason")
    if not attachments:
        raise DomainError("关键数据变更须上传证明材料（如户口簿、身份证复印件）", field="attachments")
    before = snapshot(student, KEY_FIELDS)
    proposed = {**before, **{k: v for k, v in changes.items() if k in KEY_FIELDS}}
    clean, warnings = clean_student_fields(session, proposed)
    after = {k: (v.isoformat() if isinstance(v, datetime.date) else v) for k, v in clean.items() if k in KEY_FIELDS}
    if after == before:
        raise DomainError("没有任何关键数据发生变化")
    if after.get("id_number") and after["id_number"] != before.get("id_number"):
        _refuse_second_record(session, after["id_number"], exclude_student_id=student.id)
    if after.get("id_type") != identity.MAINLAND_ID and not after.get("id_number") \
            and not any(a.kind == NO_ID_PROOF for a in attachments):
        raise DomainError("没有身份证件号的学生须上传无身份证号证明", field="attachments")
    req = requests.start(session, actor, KEY_CHANGE, school=student.school, student=student, reason=reason,
                         payload={"before": before, "after": after, "version": student.version})
    for a in attachments:
        a.request_id, a.student_id = req.id, student.id
    session.flush()
    return req, warnings


def _approve_key_change(session, actor, req):
    student = req.student
    after = req.payload["after"]
    if after.get("id_number") and after["id_number"] != student.id_number:
        _refuse_second_record(session, after["id_number"], exclude_student_id=student.id)
    for k, v in after.items():
        setattr(student, k, datetime.date.fromisoformat(v) if k == "birth_date" and v else v)
    student.name_initials = initials(student.name)
    new_no = identity.xueji_number(student.id_type, student.id_number, student.personal_id)
    if student.xueji_no and new_no != student.xueji_no:
        student.former_xueji_no = student.xueji_no
        student.xueji_no = new_no
    session.flush()


# ---------------------------------------------------------------- 误操作删除

@with_actor
def request_deletion(session, actor, student_id, reason, expected_version=None):
    student = _own_student(session, actor, student_id, "申请误操作删除")
    if student.status == StudentStatus.DELETED:
        raise DomainError("该学籍已删除")
    if student.status == StudentStatus.REGISTERING:
        raise DomainError("尚未核办的注册请直接撤回注册申请")
    _check_version(student, expected_version)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写删除原因", field="reason")
    return requests.start(session, actor, DELETION, school=student.school, student=student, reason=reason,
                          payload={"before": {"status": student.status.value, "xueji_no": student.xueji_no}})


def _approve_deletion(session, actor, req):
    student = req.student
    student.status = StudentStatus.DELETED
    if student.xueji_no:  # numbers are freed; the old one stays visible for query
        student.former_xueji_no, student.xueji_no = student.xueji_no, None
    _close_history(student, f"误操作删除：{req.reason}", req.id)


def _describe(req):
    before, after = (req.payload or {}).get("before") or {}, (req.payload or {}).get("after") or {}
    rows = []
    for f in list(dict.fromkeys(list(before) + list(after))):
        b, a = before.get(f), after.get(f)
        if f in after and f in before and b == a:
            continue
        rows.append((FIELD_LABELS.get(f, {"status": "状态", "xueji_no": "学籍号"}.get(f, f)), display(f, b), display(f, a)))
    return rows


def display(field, value):
    if value in (None, ""):
        return ""
    if field in CODED_FIELDS:
        return tables.label(CODED_FIELDS[field], value)
    if field in ("birthplace_code", "hukou_code"):
        from app.codes.regions import region_label
        return region_label(value)
    if field == "status":
        try:
            return str(StudentStatus(value).label)
        except ValueError:
            return value
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


requests.register(requests.RequestType(REGISTRATION, "新生注册", on_approve=_approve_registration, window="registration",
                                       on_cancel=_cancel_registration, describe=_describe))
requests.register(requests.RequestType(KEY_CHANGE, "关键数据变更", on_approve=_approve_key_change, describe=_describe,
                                       window="key_change"))
requests.register(requests.RequestType(DELETION, "误操作删除", on_approve=_approve_deletion, describe=_describe))


# ---------------------------------------------------------------- scoping

def _student_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    return Student.school_id.in_(select(OrgUnit.id).where(OrgUnit.path.startswith(prefix)))


def _attachment_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    # Also the evidence of a request with a step in the actor's subtree: the other side's county
    # decides on what the starting school uploaded. A school only while its confirmation is open:
    # afterwards the files follow the record (籍随人走).
    from app.models.requests import RequestState, RequestStep
    units = select(OrgUnit.id).where(OrgUnit.path.startswith(prefix))
    routed = select(RequestStep.request_id).where(RequestStep.org_unit_id.in_(units))
    if actor_rank(actor) >= RANK_SCHOOL:
        routed = routed.join(Request, Request.id == RequestStep.request_id).where(Request.state == RequestState.PENDING)
    return Attachment.org_path.startswith(prefix) | Attachment.request_id.in_(routed)


def _guardian_scope(actor):
    return Guardian.student_id.in_(select(Student.id).where(_student_scope(actor)))


scope.register(Student, _student_scope)
scope.register(Attachment, _attachment_scope)
scope.register(Guardian, _guardian_scope)


# ---------------------------------------------------------------- 新生注册 by workbook (bulk)

def clean_import_row(session, actor, values, today=None):
    """One workbook row → (student fields, guardian): the same validators as the form."""
    student_keys, guardian_keys = _import_keys(tuple(values))
    clean, _warnings = clean_student_fields(session, {k: values[k] for k in student_keys}, today=today)
    if not clean.get("id_number"):
        raise DomainError("没有身份证件号的学生须上传无身份证号证明，请在“新生注册”页面单独注册", field="id_number")
    guardian = clean_guardians([{short: values[k] for short, k in guardian_keys}])[0]
    return {"student": clean, "guardian": guardian}


@functools.lru_cache(maxsize=64)
def _import_keys(keys):
    """A sheet's rows all have the same fields: split them once (student fields; guardian fields
    without their prefix), not with a startswith per field and row."""
    return (tuple(k for k in keys if not k.startswith("guardian_") and k != "school_code"),
            tuple((k[len("guardian_"):], k) for k in keys if k.startswith("guardian_")))


def holders_of(session, id_numbers):
    """{id_number: (county, school)} for numbers already held by an active record (chunked)."""
    out, numbers = {}, list(id_numbers)
    active = Student.status.not_in([StudentStatus(s) for s in INACTIVE_STATUSES])
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter per chunk: one short statement to plan, not 2,000 placeholders.
        from sqlalchemy import String, any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY
        size = 20_000

        def match(chunk):
            return Student.id_number == any_(bindparam("numbers", chunk, type_=ARRAY(String)))
    else:
        size = 2000

        def match(chunk):
            return Student.id_number.in_(chunk)
    places = {}  # school id -> (county, school): once per school, not once per student
    for i in range(0, len(numbers), size):
        rows = session.execute(select(Student.id_number, Student.school_id).where(match(numbers[i:i + size]), active)).all()
        missing = {r.school_id for r in rows} - places.keys()
        if missing:
            for school in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(missing))):
                places[school.id] = _county_and_school(session, school)
        for number, school_id in rows:
            out[number] = places[school_id]
    return out


def bulk_registration_school(session, actor):
    """Who may register by workbook, and when (the same business calendar as the form)."""
    school = _school_actor(actor, "批量注册新生")
    if not school.active or not school.may_enroll:
        raise DomainError(f"{school.name}当前不能招生注册，请联系县（区）教育局")
    if requests.window_check is not None:
        requests.window_check(session, "registration", "新生注册", school)
    return school


@with_actor
def register_students_bulk(session, actor, records, progress=None):
    """新生注册 for many students at once (workbook import): the same rules as register_student
    (records come from clean_import_row; the one-record-per-person check runs again here, inside
    the writing transaction), written set-based. Returns {"students": n, "requests": n}.

    Row ids of students and requests are taken before the insert (PostgreSQL: from their
    sequences; SQLite: after max(id), once this transaction holds the database's write lock), so
    the 个人标识码 is written with the row and no per-row UPDATE or RETURNING is needed. On
    PostgreSQL with psycopg 3 the rows go in by COPY on the session's own connection (the same
    transaction); elsewhere by Core executemany."""
    from app.models.requests import RequestState, RequestStep, StepDecision
    from app.services import audit

    school = bulk_registration_school(session, actor)
    held = holders_of(session, [r["student"]["id_number"] for r in records])
    if held:
        number, (county, name) = next(iter(held.items()))
        raise DomainError(f"有 {len(held)} 名学生已在本省建立学籍（如身份证件号 {number[:6]}…{number[-4:]} 在 {county} {name}），"
                          f"请重新上传以查看标注")
    county = requests.ancestor_of_kind(session, school, OrgKind.COUNTY)
    if county is None:
        raise DomainError("找不到该学校所属的县（区）教育局，无法提交审批")
    province = school.path.split("/")[1]
    now = datetime.datetime.now()
    total = len(records)
    # The audit entry first: on SQLite this first write takes the write lock, so nobody else can
    # insert students or requests between the id allocation below and our inserts.
    audit.record_bulk(session, "student", total, school.path,
                      f"新生注册（批量导入 {total} 名，待 {county.name} 核办）", actor)
    writer = _BulkWriter(session)
    student_ids = writer.ids(Student, total)
    request_ids = writer.ids(Request, total)
    initials_of = {}  # pinyin initials once per distinct name

    def name_initials(name):
        ini = initials_of.get(name)
        if ini is None:
            ini = initials_of[name] = initials(name)
        return ini

    registering = StudentStatus.REGISTERING.value
    done = 0
    chunk_size = 10_000
    for start in range(0, total, chunk_size):
        chunk = records[start:start + chunk_size]
        sids, rids = student_ids[start:start + chunk_size], request_ids[start:start + chunk_size]
        try:
            writer.insert(Student, (
                {**r["student"], "id": i, "personal_id": identity.personal_identifier(province, i),
                 "school_id": school.id, "status": StudentStatus.REGISTERING, "created_by_id": actor.id,
                 "name_initials": name_initials(r["student"]["name"]), "version": 1, "created_at": now,
                 "updated_at": now}
                for r, i in zip(chunk, sids)))
        except writer.integrity_errors:
            raise DomainError("部分学生刚刚已被其他学校注册（一人一籍），请重新上传以查看标注")
        writer.insert(Guardian, ({**r["guardian"], "student_id": i} for r, i in zip(chunk, sids)))
        writer.insert(StudentHistory, (
            {"student_id": i, "school_id": school.id, "grade": r["student"].get("grade"),
             "class_name": r["student"].get("class_name"), "status": registering,
             "valid_from": now, "valid_to": None, "reason": "新生注册（批量导入）", "request_id": None}
            for r, i in zip(chunk, sids)))
        writer.insert(Request, (
            {"id": rid, "type": REGISTRATION, "state": RequestState.PENDING, "student_id": i, "school_id": school.id,
             "initiator_id": actor.id, "locks_student": True, "reason": "新生注册（批量导入）", "current_step": 1,
             "version": 1, "created_at": now,
             "payload": {"after": {k: (v.isoformat() if isinstance(v, datetime.date) else
                                       (str(v) if isinstance(v, Decimal) else v)) for k, v in r["student"].items()}}}
            for r, i, rid in zip(chunk, sids, rids)))
        writer.insert(RequestStep, (
            {"request_id": rid, "seq": 1, "org_unit_id": county.id, "decision": StepDecision.PENDING,
             "arrived_at": now} for rid in rids))
        done += len(chunk)
        if progress:
            progress(65 + int(25 * done / total), f"已写入 {done:,}/{total:,} 名学生")
    return {"students": done, "requests": done}


class _BulkWriter:
    """Set-based inserts for register_students_bulk: COPY on PostgreSQL + psycopg 3, Core
    executemany elsewhere. Rows are dicts by column name; a column missing from the rows gets its
    scalar default (as a Core insert would); enums are stored by value, JSON as the dialect
    serialises it."""

    def __init__(self, session):
        self.session = session
        bind = session.get_bind()
        self.dialect = bind.dialect
        self.copy = bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg"
        self.integrity_errors = (IntegrityError,)
        if self.copy:
            import psycopg
            self.integrity_errors = (IntegrityError, psycopg.errors.IntegrityError)

    def ids(self, model, n):
        """n new primary keys of model's table, reserved for this transaction."""
        from sqlalchemy import text
        if n <= 0:
            return []
        table = model.__table__
        if self.dialect.name == "postgresql":
            seq = self.session.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar()
            if seq:
                return list(self.session.execute(
                    text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
                    {"seq": seq, "n": n}).scalars())
        # SQLite (the caller holds the write lock): what the rowid allocation would give.
        first = (self.session.execute(select(func.max(table.c.id))).scalar() or 0) + 1
        return list(range(first, first + n))

    def insert(self, model, rows):
        """rows: any iterable of dicts; a generator keeps only one chunk's rows of one table alive at
        a time (COPY streams them as they are built)."""
        from sqlalchemy import insert
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            return
        table = model.__table__
        if not self.copy:
            self.session.execute(insert(table), [first, *rows])
            return
        import enum
        import itertools
        import json
        from sqlalchemy import JSON
        keys = list(first)
        defaults = {c.name: c.default.arg for c in table.columns
                    if c.name not in first and c.default is not None and c.default.is_scalar}
        for name, value in defaults.items():
            if isinstance(value, enum.Enum):
                defaults[name] = value.value
        dumps = getattr(self.dialect, "_json_serializer", None) or json.dumps
        json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
        enum_cols = {c.name for c in table.columns if getattr(c.type, "enum_class", None) is not None}
        convert = [(k, dumps if k in json_cols else (_enum_value if k in enum_cols else None)) for k in keys]
        plain = all(fn is None for _, fn in convert)
        columns = ", ".join(f'"{c}"' for c in keys + list(defaults))
        tail = list(defaults.values())
        raw = self.session.connection().connection  # the pooled DBAPI connection: same transaction
        with raw.cursor() as cur:
            with cur.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
                write = copy.write_row
                if plain:
                    for r in itertools.chain((first,), rows):
                        write([r[k] for k in keys] + tail)
                else:
                    for r in itertools.chain((first,), rows):
                        write([r[k] if fn is None else (None if r[k] is None else fn(r[k])) for k, fn in convert] + tail)


def _enum_value(value):
    return getattr(value, "value", value)
