"""The year's 中考 (ZkExam): created and configured by the province; every other zhongkao service
asks here which exam is current and whether a window is open."""
import datetime
import json
import re

from sqlalchemy import select

from app.models.org import OrgKind, OrgUnit
from app.models.zhongkao import SubjectKind, ZkExam, ZkSubject
from app.services import clock
from app.services.dates import parse_date
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_PROVINCE, actor_rank
from app.services.zhongkao import values

# A province's usual make-up (points): written subjects, 体育, 实验操作 and two 等级 subjects.
DEFAULT_SUBJECTS = [
    ("yw", "语文", SubjectKind.WRITTEN, 120, None),
    ("sx", "数学", SubjectKind.WRITTEN, 120, None),
    ("yy", "英语", SubjectKind.WRITTEN, 120, None),
    ("wl", "物理", SubjectKind.WRITTEN, 80, None),
    ("hx", "化学", SubjectKind.WRITTEN, 50, None),
    ("dfls", "道德与法治·历史", SubjectKind.WRITTEN, 100, None),
    ("ty", "体育", SubjectKind.PE, 55, None),
    ("sy", "实验操作", SubjectKind.LAB, 15, None),
    ("sw", "生物", SubjectKind.GRADED, 20, {"A": 20, "B": 16, "C": 12, "D": 0}),
    ("dl", "地理", SubjectKind.GRADED, 20, {"A": 20, "B": 16, "C": 12, "D": 0}),
]
DEFAULT_TIMETABLE = [
    {"date": "06-20", "start": "09:00", "end": "11:30", "subject": "语文"},
    {"date": "06-20", "start": "14:30", "end": "16:30", "subject": "物理"},
    {"date": "06-21", "start": "09:00", "end": "11:00", "subject": "数学"},
    {"date": "06-21", "start": "14:30", "end": "16:30", "subject": "英语"},
    {"date": "06-22", "start": "09:00", "end": "10:30", "subject": "化学"},
    {"date": "06-22", "start": "14:30", "end": "16:30", "subject": "道德与法治·历史"},
]
PATTERN_TOKENS = {"year", "yy", "county", "seq", "site", "room", "seat"}
_TOKEN = re.compile(r"\{(\w+)(?::0?(\d+)d)?\}")


def _province_actor(actor, doing):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.PROVINCE or actor_rank(actor) > RANK_PROVINCE:
        raise PermissionDenied(f"只有省级管理员可以{doing}")


def current_exam(session):
    """The latest year's exam, or None before the province set one up."""
    return session.scalars(select(ZkExam).order_by(ZkExam.year.desc()).limit(1)).first()


def require_exam(session, exam_id=None):
    if exam_id is not None:
        exam = session.get(ZkExam, exam_id) if str(exam_id).isdigit() else None
        if exam is None:
            raise NotFound("该年度中考不存在")
        return exam
    exam = current_exam(session)
    if exam is None:
        raise DomainError("省级尚未设置本年度中考，请联系省级管理员")
    return exam


def check_pattern(pattern, allowed, label):
    """A number pattern like {yy}{county}{seq:05d}: only known tokens, and the sequence is required."""
    pattern = (pattern or "").strip()
    tokens = [m.group(1) for m in _TOKEN.finditer(pattern)]
    unknown = [t for t in tokens if t not in allowed]
    if not pattern or unknown or "{" in _TOKEN.sub("", pattern) or "}" in _TOKEN.sub("", pattern):
        raise DomainError(f"{label}格式不正确：只能使用 {'、'.join('{' + t + '}' for t in sorted(allowed))}",
                          field="pattern")
    literal = _TOKEN.sub("", pattern)
    if not literal.isascii() or not all(c.isalnum() or c in "-_" for c in literal):
        raise DomainError(f"{label}中只能有字母、数字和占位符", field="pattern")
    return pattern


def format_number(pattern, **values):
    """Fill a pattern; {county} is the unit's 6-digit code, {yy} the year's last two digits."""
    def repl(m):
        value = values[m.group(1)]
        width = m.group(2)
        return str(value).zfill(int(width)) if width else str(value)
    return _TOKEN.sub(repl, pattern)


def _date(value, label, field):
    if value in (None, ""):
        return None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    return parse_date(value, f"{label}格式应为 年-月-日（如 2027-04-01）", field)


def _datetime(value, label, field):
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value
    text = str(value).strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise DomainError(f"{label}格式应为 年-月-日 时:分（如 2027-07-05 09:00）", field=field)




def clean_timetable(value):
    """[{date: MM-DD or YYYY-MM-DD, start, end, subject}] as JSON text (or a list)."""
    if value in (None, ""):
        return None
    try:
        rows = json.loads(value) if isinstance(value, str) else list(value)
        clean = []
        for row in rows:
            item = {k: str(row[k]).strip() for k in ("date", "start", "end", "subject")}
            if not all(item.values()) or not re.fullmatch(r"\d{1,2}:\d{2}", item["start"]) \
                    or not re.fullmatch(r"\d{1,2}:\d{2}", item["end"]):
                raise ValueError
            clean.append(item)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise DomainError("考试日程格式不正确：每行应有日期、开始时间、结束时间和科目（如 06-20 09:00 11:30 语文）",
                          field="timetable")
    return json.dumps(clean, ensure_ascii=False)


def timetable_rows(exam):
    try:
        return json.loads(exam.timetable) if exam.timetable else []
    except ValueError:
        return []


def _apply(exam, data):
    if "name" in data:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 100:
            raise DomainError("请填写考试名称（不超过 100 字）", field="name")
        exam.name = name
    if "reg_no_pattern" in data:
        exam.reg_no_pattern = check_pattern(data["reg_no_pattern"], {"year", "yy", "county", "seq"}, "报名号规则")
        if "{seq" not in exam.reg_no_pattern or "{county" not in exam.reg_no_pattern:
            raise DomainError("报名号规则必须包含县区代码 {county} 和序号 {seq}", field="reg_no_pattern")
    if "exam_no_pattern" in data:
        exam.exam_no_pattern = check_pattern(data["exam_no_pattern"], {"year", "yy", "county", "site", "room", "seat"},
                                             "准考证号规则")
        if not all("{" + t in exam.exam_no_pattern for t in ("county", "site", "room", "seat")):
            raise DomainError("准考证号规则必须包含 {county}、{site}、{room} 和 {seat}", field="exam_no_pattern")
    for key, label in (("registration_opens", "报名开始日期"), ("registration_closes", "报名截止日期"),
                       ("review_closes", "复核申请截止日期")):
        if key in data:
            setattr(exam, key, _date(data[key], label, key))
    if exam.registration_opens and exam.registration_closes and exam.registration_opens > exam.registration_closes:
        raise DomainError("报名截止日期不能早于开始日期", field="registration_closes")
    if "scores_publish_at" in data:
        exam.scores_publish_at = _datetime(data["scores_publish_at"], "成绩发布时间", "scores_publish_at")
    if "room_size" in data:
        exam.room_size = values.integer(data["room_size"], "每考场人数", "room_size", 1, 60)
    if "allocation_years" in data:
        exam.allocation_years = values.integer(data["allocation_years"], "分配生连续就读年限", "allocation_years", 1, 4)
    if "allocation_local_only" in data:
        exam.allocation_local_only = str(data["allocation_local_only"]).lower() in ("1", "true", "y", "on", "是")
    if "timetable" in data:
        exam.timetable = clean_timetable(data["timetable"])


def create_exam(session, actor, data):
    _province_actor(actor, "设置中考")
    year = values.integer(data.get("year"), "年度", "year", 2000, 2100)
    if session.scalar(select(ZkExam.id).where(ZkExam.year == year)):
        raise DomainError(f"{year} 年中考已设置", field="year")
    exam = ZkExam(year=year, name=f"{year}年初中学业水平考试",
                  timetable=json.dumps([{**r, "date": f"{year}-{r['date']}"} for r in DEFAULT_TIMETABLE],
                                       ensure_ascii=False))
    _apply(exam, {k: v for k, v in data.items() if k != "year"})
    exam.subjects = [ZkSubject(code=c, name=n, kind=k, max_score=m, weight=1, counts_in_total=True, sort_order=i,
                               grade_table=json.dumps(t, ensure_ascii=False) if t else None)
                     for i, (c, n, k, m, t) in enumerate(DEFAULT_SUBJECTS, start=1)]
    session.add(exam)
    session.flush()
    return exam


def update_exam(session, actor, exam_id, data, expected_version=None):
    _province_actor(actor, "修改中考设置")
    exam = require_exam(session, exam_id)
    if expected_version is not None and str(expected_version) != str(exam.version):
        raise DomainError("该设置已被他人修改，请刷新后重试")
    _apply(exam, data)
    session.flush()
    return exam


def check_registration_open(exam, today=None):
    """中考报名 only inside the window the province set (if it set one)."""
    today = today or clock.today()
    if exam.registration_opens and today < exam.registration_opens:
        raise DomainError(f"中考报名尚未开始（{exam.registration_opens:%Y-%m-%d} 开始）")
    if exam.registration_closes and today > exam.registration_closes:
        raise DomainError(f"中考报名已于 {exam.registration_closes:%Y-%m-%d} 截止")


def scores_published(exam, now=None):
    now = now or clock.now()
    return exam.scores_publish_at is not None and now >= exam.scores_publish_at


def county_of(session, school):
    """The unit that runs a school's registration: its county (or the city, for 市直学校)."""
    parent = session.get(OrgUnit, school.parent_id) if school.parent_id else None
    if parent is None or parent.kind not in (OrgKind.COUNTY, OrgKind.CITY):
        raise DomainError(f"{school.name} 不属于任何县区，不能报名")
    return parent


def in_scope_school(session, actor, school_id, doing="报名"):
    """The school named (a school account's own when none is), inside the actor's area, else NotFound."""
    from app.services.school_years import school_in_scope
    text = str(school_id if school_id is not None else "").strip()
    if text.isdigit() and int(text) > 2 ** 31 - 1:  # beyond the column: names no school
        raise NotFound("学校不存在或不在您的管辖范围内")
    return school_in_scope(session, actor, text, doing)
