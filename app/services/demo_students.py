"""Demo students: N realistic, already-registered (在校) students spread over the demo province's
schools, for trying the screens and for benchmarks at province scale (a million rows in minutes).

Set-based like the rest of the demo (architecture rule 5): rows are generated in Python and
written in chunks, by Core `insert()` executemany, or on PostgreSQL + psycopg 3 by `COPY … FROM
STDIN` on the session's own connection (same transaction). Nothing passes through the ORM unit of
work, so the audit trail gets one `record_bulk` summary per table.

Uniqueness by construction, so a second run adds N more without clashing:
- ID numbers: region (the school's county) + birth date + a 3-digit sequence. A counter per
  (county, birth date, sex) continues after the highest sequence already in the table (any
  status) for that county and date; males take odd sequences, females even ones.
- 个人标识码 is the province prefix + the row id (as the registration service does); row ids are
  taken from the table's sequence (PostgreSQL) or after max(id) inside the write transaction.
- 学籍号 is 'G' + the ID number.
- Class numbers continue after the students already in each (school, grade).

The caller commits (like demo.build_province); a failure leaves nothing half-written. Two
generators running at the same moment on one province are not supported: they would pick the
same sequences, and the unique indexes would roll one of them back.
"""
import datetime
import math
import random
import time
from bisect import bisect
from itertools import accumulate

from sqlalchemy import Integer, cast, func, insert, select, text

from app.models.org import OrgKind, OrgUnit, Region, SchoolType
from app.models.student import Guardian, Student, StudentHistory, StudentStatus
from app.services import audit
from app.services.errors import DomainError
from app.services.identity import build_id_number, personal_identifier
from app.services.students import initials

DEFAULT_SEED = 2026
DEFAULT_CHUNK = 20_000

# ---------------------------------------------------------------- school types and grades

PRIMARY = ("11", "12", "13", "14", "15", "16")
JUNIOR = ("21", "22", "23")
SENIOR = ("31", "32", "33")
VOCATIONAL = ("41", "42", "43")
GRADES_BY_TYPE = {
    SchoolType.PRIMARY: PRIMARY,
    SchoolType.JUNIOR: JUNIOR,
    SchoolType.NINE_YEAR: PRIMARY + JUNIOR,
    SchoolType.TWELVE_YEAR: PRIMARY + JUNIOR + SENIOR,
    SchoolType.COMPLETE_MIDDLE: JUNIOR + SENIOR,
    SchoolType.SENIOR: SENIOR,
    SchoolType.VOCATIONAL: VOCATIONAL,
    SchoolType.SPECIAL: PRIMARY,
}
# Relative size of one grade (one 年级) in a school of that type.
_GRADE_SIZE = {
    SchoolType.PRIMARY: 1.0, SchoolType.JUNIOR: 1.3, SchoolType.NINE_YEAR: 0.8, SchoolType.TWELVE_YEAR: 0.8,
    SchoolType.COMPLETE_MIDDLE: 1.4, SchoolType.SENIOR: 1.6, SchoolType.VOCATIONAL: 1.0, SchoolType.SPECIAL: 0.06,
}


def years_in_school(grade):
    """School years since primary grade 1: 11 → 0 … 16 → 5, 21 → 6 … 23 → 8, 31/41 → 9 … 33/43 → 11."""
    stage, k = grade[0], int(grade[1]) - 1
    return {"1": 0, "2": 6, "3": 9, "4": 9}[stage] + k


def school_year_start(today):
    """The calendar year in which the current school year began (1 September)."""
    return today.year if today.month >= 9 else today.year - 1


def birth_window(grade, today):
    """(first, last) birth date of an on-time student of `grade`: aged 6 at 1 September of the
    year they entered primary grade 1."""
    entry = school_year_start(today) - years_in_school(grade)
    return datetime.date(entry - 7, 9, 1), datetime.date(entry - 6, 8, 31)


def enrollment_month(grade, today):
    """入学年月: entry into the current stage (学段), September."""
    return f"{school_year_start(today) - (int(grade[1]) - 1)}-09"


def class_size(school_id, grade):
    """~45 per class; fixed per (school, grade) so a later run continues the same numbering."""
    return 40 + (school_id * 7 + int(grade) * 3) % 11


# ---------------------------------------------------------------- names

# Surnames with rough weights (per mille), tilted towards 江西 (刘 陈 李 王 张 黄 胡 吴 罗 徐 曾 熊 万 …).
_SURNAMES = (
    "刘60 陈55 李50 王45 张40 黄38 胡35 吴32 罗30 徐28 杨26 曾25 熊22 周20 万18 邓18 彭18 朱17 肖17 钟15 "
    "赖14 余14 谢14 郭12 邹12 涂10 叶10 何10 潘9 江9 汪9 程9 舒8 付8 廖8 卢8 魏7 聂7 龚7 袁7 戴6 蔡6 温6 "
    "宋6 冯6 郑6 方6 孙6 赵6 林6 姜6 梁5 傅5 饶5 雷5 喻5 邱5 唐5 高5 游4 兰4 康4 简4 甘4 文4 严4 姚4 丁4 "
    "马4 夏4 易4 许4 欧阳3 危3 习3 石3 晏3 童3 占3 桂3 邵3 黎3 陶3 蒋3 金3 范3 韩3 董3 贺3 毛3 况2 揭2 "
    "管2 顾2 段2 侯2 单1 解1 上官1 司马1 诸葛1"
).split()
SURNAMES = tuple(s.rstrip("0123456789") for s in _SURNAMES)
SURNAME_CUM = tuple(accumulate(int(s[len(n):]) for s, n in zip(_SURNAMES, SURNAMES)))

BOY_CHARS = tuple("浩宇轩子梓俊博文杰涛明辰睿泽昊然一皓阳鑫磊晨航铭凯鹏瑞嘉豪奕天翔志伟强建军斌超勇鸿宏毅彬康健"
                  "锦逸煜晟哲瀚烨诚诺霖旭正宸熙景乐安聪坤峰松林骏腾龙振家思远子俊宇浩轩")
GIRL_CHARS = tuple("欣怡涵雨萱诗琪思佳妍悦可馨婷雪静晓梦紫若心语彤琳欢雅丽芳慧敏颖倩洁璐瑶菲蕾薇岚媛娜玲晴"
                   "柔淑嘉依沐芊艺梓一子安钰露月春秀娟欣怡涵雨萱梓")
MAN_CHARS = tuple("建华国强志明伟军勇海平华斌文林洪金根水生春福荣兵刚辉峰亮东波磊晖鹏")
WOMAN_CHARS = tuple("丽芳红英华玲霞燕娟梅兰秀琴萍凤美桂春玉莲敏静芬艳娇霞慧琳")
# Reduplicated given names (婷婷, 欣欣) for some girls.
_DOUBLE_GIRL = tuple("婷欣琪悦佳思雪晶")


class _Initials:
    """pinyin initials through the registry's own initials() (so search finds demo students as it
    finds registered ones), cached per surname and per given name: far fewer distinct strings."""

    def __init__(self):
        self._cache = {}

    def __call__(self, surname, given):
        c = self._cache
        a = c.get(surname)
        if a is None:
            a = c[surname] = initials(surname)
        b = c.get(given)
        if b is None:
            b = c[given] = initials(given)
        return (a + b)[:32]


def _given(rng, chars, single_rate=0.2):
    if rng.random() < single_rate:
        return chars[int(rng.random() * len(chars))]
    n = len(chars)
    a = chars[int(rng.random() * n)]
    b = chars[int(rng.random() * n)]
    while b == a:
        b = chars[int(rng.random() * n)]
    return a + b


# ---------------------------------------------------------------- code distributions

def _picker(pairs):
    """Weighted choice among codes: [(code, weight)] → f(u) for u in [0, 1)."""
    codes = [c for c, _ in pairs]
    cum = list(accumulate(w for _, w in pairs))
    total = cum[-1]
    cum = [x / total for x in cum]
    return lambda u: codes[min(bisect(cum, u), len(codes) - 1)]


ETHNICITY = _picker([("01", 9700), ("22", 90), ("03", 45), ("06", 35), ("15", 25), ("08", 25), ("12", 20),
                     ("13", 15), ("11", 15), ("02", 10), ("04", 5), ("05", 5), ("10", 5), ("09", 5)])
HEALTH = _picker([("1", 965), ("2", 25), ("3", 6), ("4", 3), ("5", 1)])
HEALTH_SPECIAL = _picker([("5", 70), ("4", 20), ("3", 5), ("1", 5)])
HUKOU_URBAN = _picker([("3", 70), ("2", 20), ("1", 10)])
HUKOU_RURAL = _picker([("3", 45), ("1", 50), ("2", 5)])
GUARDIAN_RELATION = _picker([("51", 55), ("52", 35), ("61", 3), ("62", 3), ("63", 1), ("64", 1), ("70", 1), ("97", 1)])
GUARDIAN_RELATION_LEFT_BEHIND = _picker([("61", 35), ("62", 35), ("63", 10), ("64", 10), ("52", 5), ("97", 5)])
_PHONE_PREFIX = ("13", "15", "18", "17", "19", "14", "16")

# Boarding (住校) rate per stage, (urban, rural).
_BOARDING = {"1": (0.02, 0.12), "2": (0.25, 0.55), "3": (0.55, 0.75), "4": (0.65, 0.75)}


# ---------------------------------------------------------------- the world: schools, counties, numbers

class _School:
    __slots__ = ("id", "county", "path", "type", "private", "urban", "grades", "weight")


def _load_schools(session, root):
    rows = session.execute(
        select(OrgUnit.id, OrgUnit.region_code, OrgUnit.path, OrgUnit.school_type, OrgUnit.ownership, Region.name)
        .join(Region, Region.code == OrgUnit.region_code)
        .where(OrgUnit.kind == OrgKind.SCHOOL, OrgUnit.path.startswith(root), OrgUnit.active.is_(True),
               OrgUnit.school_type.is_not(None))
        .order_by(OrgUnit.path)
    ).all()
    schools = []
    for r in rows:
        s = _School()
        s.id, s.county, s.path, s.type = r.id, r.region_code, r.path, r.school_type
        s.private = getattr(r.ownership, "value", r.ownership) == "private"
        s.urban = r.name.endswith("区")  # 市辖区 are urban, 县/县级市 mostly rural
        s.grades = GRADES_BY_TYPE.get(s.type, PRIMARY)
        schools.append(s)
    return schools


def _allocate(total, weights):
    """Split `total` into integers proportional to `weights` (largest remainder)."""
    wsum = sum(weights)
    if total <= 0 or wsum <= 0:
        return [0] * len(weights)
    exact = [total * w / wsum for w in weights]
    out = [int(x) for x in exact]
    rest = total - sum(out)
    for i in sorted(range(len(weights)), key=lambda i: exact[i] - out[i], reverse=True)[:rest]:
        out[i] += 1
    return out


class _IdCounters:
    """Per county: (birth ordinal, parity) → next index k. Males use sequence 2k+1 (001…999),
    females 2k+2 (002…998). Continues after the highest sequence already stored for that county
    and date; a fresh (county, date, sex) starts at a small random offset (with `rng`), so that
    numbers do not all end in 001/002."""

    def __init__(self, session, rng=None):
        self.session = session
        self.rng = rng
        self.by_county = {}

    def _load(self, county):
        seq = cast(func.substr(Student.id_number, 15, 3), Integer)
        parity = cast(func.substr(Student.id_number, 17, 1), Integer) % 2
        born = func.substr(Student.id_number, 7, 8)
        # Both a range (a default-opclass index under any collation) and LIKE (a pattern_ops index).
        rows = self.session.execute(
            select(born, parity, func.max(seq))
            .where(Student.id_type == "1", Student.id_number >= county, Student.id_number < county + "~",
                   Student.id_number.startswith(county, autoescape=False), func.length(Student.id_number) == 18)
            .group_by(born, parity)
        ).all()
        counters = {}
        for b, p, top in rows:
            try:
                d = datetime.date(int(b[:4]), int(b[4:6]), int(b[6:8])).toordinal()
            except (TypeError, ValueError):
                continue
            counters[(d, int(p))] = (top - 1) // 2 + 1 if int(p) == 1 else top // 2
        return counters

    def take(self, county, ordinal, male):
        """The next sequence number, or None when this (county, date, sex) is full."""
        counters = self.by_county.get(county)
        if counters is None:
            counters = self.by_county[county] = self._load(county)
        key = (ordinal, 1 if male else 0)
        k = counters.get(key)
        if k is None:
            k = int(self.rng.random() * 40) if self.rng is not None else 0
        limit = 500 if male else 499
        if k >= limit:
            return None
        counters[key] = k + 1
        return 2 * k + 1 if male else 2 * k + 2


class _IdAllocator:
    """Row ids for student, known before the insert (个人标识码 and the guardians need them)."""

    def __init__(self, session):
        self.session = session
        self.dialect = session.get_bind().dialect.name
        self.next_local = None
        self.seq_name = None
        if self.dialect == "postgresql":
            self.seq_name = session.execute(text("SELECT pg_get_serial_sequence('student', 'id')")).scalar()

    def block(self, n):
        if n <= 0:
            return []
        if self.seq_name:
            return list(self.session.execute(
                text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
                {"seq": self.seq_name, "n": n}).scalars())
        if self.next_local is None:  # inside the caller's write transaction
            self.next_local = (self.session.execute(select(func.max(Student.id))).scalar() or 0) + 1
        start = self.next_local
        self.next_local += n
        return list(range(start, start + n))


# ---------------------------------------------------------------- writers

STUDENT_COLS = (
    "id", "name", "name_initials", "gender", "birth_date", "id_type", "id_number", "ethnicity", "xueji_no",
    "personal_id", "birthplace_code", "hukou_code", "native_place", "nationality", "hmt_overseas",
    "political_status", "health_status", "hukou_type", "only_child", "left_behind", "migrant_child", "orphan",
    "martyr_child", "commute_distance", "commute_mode", "needs_school_bus", "enrollment_month",
    "enrollment_method", "study_mode", "school_id", "grade", "class_name", "status", "created_at",
    "updated_at", "version",
)
GUARDIAN_COLS = ("student_id", "name", "relation", "id_type", "id_number", "phone")
HISTORY_COLS = ("student_id", "school_id", "grade", "class_name", "status", "valid_from", "valid_to", "reason")
_STATUS_AT = STUDENT_COLS.index("status")


class _CoreWriter:
    name = "insert"

    def __init__(self, session):
        self.session = session

    def write(self, students, guardians, history):
        s = self.session
        status = StudentStatus.IN_SCHOOL
        rows = []
        for r in students:
            d = dict(zip(STUDENT_COLS, r))
            d["status"] = status
            rows.append(d)
        s.execute(insert(Student.__table__), rows)
        s.execute(insert(Guardian.__table__), [dict(zip(GUARDIAN_COLS, r)) for r in guardians])
        s.execute(insert(StudentHistory.__table__), [dict(zip(HISTORY_COLS, r)) for r in history])


class _CopyWriter:
    """PostgreSQL + psycopg 3: COPY FROM STDIN on the session's connection (same transaction)."""

    name = "copy"

    def __init__(self, session):
        self.session = session

    def _copy(self, cur, table, cols, rows):
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            write = cp.write_row
            for r in rows:
                write(r)

    def write(self, students, guardians, history):
        raw = self.session.connection().connection  # the pooled DBAPI connection, same transaction
        cur = raw.cursor()
        try:
            self._copy(cur, "student", STUDENT_COLS, students)
            self._copy(cur, "guardian", GUARDIAN_COLS, guardians)
            self._copy(cur, "student_history", HISTORY_COLS, history)
        finally:
            cur.close()


def copy_available(session):
    bind = session.get_bind()
    return bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg"


# ---------------------------------------------------------------- the generator

def generate_students(session, n, province_code="360000", seed=DEFAULT_SEED, *, method="auto",
                      chunk_size=DEFAULT_CHUNK, progress=None, today=None, actor=None):
    """Add `n` in-school students (one guardian and one history span each) to the province's demo
    schools. method: 'auto' (COPY on PostgreSQL/psycopg, else Core insert), 'copy' or 'insert'.
    progress(done, total) is called after each chunk. Returns a dict of counts and timings.
    Does not commit."""
    t0 = time.perf_counter()
    n = int(n)
    if n <= 0:
        return {"students": 0, "guardians": 0, "history": 0, "method": None, "seconds": 0.0}
    today = today or datetime.date.today()
    root = f"/{province_code}/"
    schools = _load_schools(session, root)
    if not schools:
        raise DomainError(f"省份 {province_code} 还没有学校，请先建立演示省份（flask demo）")
    if method == "auto":
        method = "copy" if copy_available(session) else "insert"
    if method == "copy" and not copy_available(session):
        raise DomainError("COPY 只适用于 PostgreSQL（psycopg 3）")
    writer = _CopyWriter(session) if method == "copy" else _CoreWriter(session)

    # What is already there: students per (school, grade), for class numbering and the seed.
    existing = {(sid, g): c for sid, g, c in session.execute(
        select(Student.school_id, Student.grade, func.count())
        .where(Student.school_id.in_([s.id for s in schools]))
        .group_by(Student.school_id, Student.grade)).all()}
    already = sum(existing.values())
    rng = random.Random(f"{seed}:{province_code}:{already}")  # deterministic, different per run

    regions = {r.code: r for r in session.execute(
        select(Region.code, Region.name, Region.full_name, Region.level, Region.parent_code)
        .where(Region.code.startswith(province_code[:2]))).all()}
    counties = [c for c, r in regions.items() if r.level == 3]
    native_of = {}
    for c in counties:
        parent = regions.get(regions[c].parent_code)
        native_of[c] = (parent.full_name if parent is not None and parent.level == 2 else regions[c].full_name)[:64]

    # Schools get students in proportion to their grades × a size that varies; grades about even.
    for s in schools:
        s.weight = len(s.grades) * _GRADE_SIZE.get(s.type, 1.0) * (1.3 if s.urban else 1.0) * rng.uniform(0.6, 1.4)
    per_school = _allocate(n, [s.weight for s in schools])

    counters = _IdCounters(session, rng)
    ids = _IdAllocator(session)
    ctx = _Context(rng, today, province_code, counties, native_of, counters)
    now = datetime.datetime.now()

    students, guardians, history = [], [], []
    id_pool, done = [], 0
    for s, count in zip(schools, per_school):
        if not count:
            continue
        per_grade = _allocate(count, [rng.uniform(0.9, 1.1) for _ in s.grades])
        for grade, gcount in zip(s.grades, per_grade):
            offset = existing.get((s.id, grade), 0)
            size = class_size(s.id, grade)
            for i in range(gcount):
                if not id_pool:
                    id_pool = ids.block(min(chunk_size, n - done - len(students)))
                    id_pool.reverse()
                sid = id_pool.pop()
                class_name = f"{(offset + i) // size + 1}班"
                st, gu, hi = ctx.student(sid, s, grade, class_name, now)
                students.append(st)
                guardians.append(gu)
                history.append(hi)
                if len(students) >= chunk_size:
                    writer.write(students, guardians, history)
                    done += len(students)
                    students, guardians, history = [], [], []
                    if progress:
                        progress(done, n)
    if students:
        writer.write(students, guardians, history)
        done += len(students)
        if progress:
            progress(done, n)
    audit.record_bulk(session, "student", done, root, f"演示数据：生成在校学生 {done} 名", actor=actor)
    audit.record_bulk(session, "guardian", done, root, "演示数据：生成学生监护人", actor=actor)
    return {"students": done, "guardians": done, "history": done, "method": writer.name,
            "seconds": time.perf_counter() - t0}


class _Context:
    """Everything one student's row needs; student() builds the three rows (tuples)."""

    def __init__(self, rng, today, province_code, counties, native_of, counters):
        self.rng = rng
        self.today = today
        self.province_code = province_code
        self.counties = counties
        self.native_of = native_of
        self.counters = counters
        self.initials = _Initials()
        self.windows = {}
        self.enrol = {}
        self.valid_from = {}
        for g in PRIMARY + JUNIOR + SENIOR + VOCATIONAL:
            first, last = birth_window(g, today)
            self.windows[g] = (first.toordinal(), (last - first).days + 1)
            self.enrol[g] = enrollment_month(g, today)
            y = int(self.enrol[g][:4])
            self.valid_from[g] = datetime.datetime(y, 9, 1, 8, 0)

    def _birth(self, s, grade):
        rng = self.rng
        start, span = self.windows[grade]
        u = rng.random()
        late = 0
        if s.type is SchoolType.SPECIAL:
            late = 1 if u < 0.15 else (2 if u < 0.22 else 0)
        elif u < 0.04:  # started late or repeated a year
            late = 1
        elif u > 0.995 and grade != "11":  # skipped a grade (never under 6 in grade 1)
            late = -1
        return start + int(rng.random() * span) - 365 * late

    def _id_number(self, county, ordinal, male):
        for attempt in range(60):
            seq = self.counters.take(county, ordinal, male)
            if seq is not None:
                return ordinal, seq
            ordinal += 1 if attempt % 2 == 0 else -(attempt + 1)  # neighbouring days, both sides
        raise DomainError(f"区划 {county} 在 {datetime.date.fromordinal(ordinal)} 前后的身份证顺序码已用尽")

    def student(self, sid, s, grade, class_name, now):
        rng = self.rng
        r = rng.random
        male = r() < 0.51
        ordinal = self._birth(s, grade)
        ordinal, seq = self._id_number(s.county, ordinal, male)
        born = datetime.date.fromordinal(ordinal)
        id_number = build_id_number(s.county, born, seq)

        surname = SURNAMES[bisect(SURNAME_CUM, r() * SURNAME_CUM[-1])]
        if male:
            given = _given(rng, BOY_CHARS)
        elif r() < 0.04:
            given = _DOUBLE_GIRL[int(r() * len(_DOUBLE_GIRL))] * 2
        else:
            given = _given(rng, GIRL_CHARS)
        name = surname + given

        stage = grade[0]
        urban = s.urban
        special = s.type is SchoolType.SPECIAL
        left_behind = r() < (0.03 if urban else 0.16) and stage in "12"
        migrant = r() < (0.10 if urban else 0.02)
        boarding = special and r() < 0.4 or r() < _BOARDING[stage][0 if urban else 1]
        # Distance in km (one decimal): log-normal around 1.5 km in town, 3 km in the country.
        dist = math.exp(rng.gauss(math.log(1.5 if urban else 3.0), 0.8))
        if stage in "34":
            dist *= 2.5
        dist = min(max(round(dist, 1), 0.1), 99.9)
        if boarding:
            mode = "4" if r() < 0.6 else ("3" if r() < 0.8 else "9")
        elif dist < 1.0:
            mode = "1" if r() < 0.8 else "4"
        elif dist < 3.0:
            u = r()
            mode = "2" if u < 0.3 else ("4" if u < 0.75 else ("1" if u < 0.9 else "3"))
        else:
            u = r()
            mode = "3" if u < 0.35 else ("4" if u < 0.7 else ("5" if (not urban and u < 0.85) else "2"))
        bus = mode == "5" or (not urban and not boarding and dist > 5 and r() < 0.3)

        if stage == "1":
            political = "14" if r() < 0.9 else "13"
            method = "4" if s.private else ("1" if r() < 0.75 else ("2" if r() < 0.9 else "9"))
        elif stage == "2":
            league = {"1": 0.02, "2": 0.15, "3": 0.35}[grade[1]]
            u = r()
            political = "03" if u < league else ("14" if u < 0.6 else "13")
            method = "4" if s.private else ("1" if r() < 0.7 else ("2" if r() < 0.95 else "9"))
        else:
            league = {"1": 0.5, "2": 0.65, "3": 0.8}[grade[1]] * (0.7 if stage == "4" else 1.0)
            political = "03" if r() < league else "13"
            method = "3" if r() < 0.97 else "9"

        county = s.county
        born_here = r() < 0.9
        birthplace = county if born_here else self.counties[int(r() * len(self.counties))]
        row = (
            sid, name, self.initials(surname, given), "1" if male else "2", born, "1", id_number,
            ETHNICITY(r()), "G" + id_number, personal_identifier(self.province_code, sid),
            birthplace + "000000", county + "000000", self.native_of.get(county),
            "CHN", "00", political, HEALTH_SPECIAL(r()) if special else HEALTH(r()),
            HUKOU_URBAN(r()) if urban else HUKOU_RURAL(r()),
            r() < (0.45 if urban else 0.22), left_behind, migrant, r() < 0.002, r() < 0.0005,
            dist, mode, bus, self.enrol[grade], method, "2" if boarding else "1",
            s.id, grade, class_name, StudentStatus.IN_SCHOOL.value, now, now, 1,
        )

        relation = GUARDIAN_RELATION_LEFT_BEHIND(r()) if left_behind else GUARDIAN_RELATION(r())
        g_male = relation in ("51", "61", "63") or (relation in ("70", "97") and r() < 0.5)
        if relation in ("51", "61"):
            g_surname = surname
        elif relation == "70":
            g_surname = surname
        else:
            g_surname = SURNAMES[bisect(SURNAME_CUM, r() * SURNAME_CUM[-1])]
        g_given = _given(rng, MAN_CHARS if g_male else WOMAN_CHARS, 0.35)
        if relation == "70":
            g_given = _given(rng, BOY_CHARS if g_male else GIRL_CHARS)
        age = {"51": (24, 40), "52": (22, 38), "70": (18, 25)}.get(relation, (45, 62))
        g_born = datetime.date.fromordinal(ordinal - 365 * rng.randint(*age) - int(r() * 300))
        g_region = county if r() < 0.85 else self.counties[int(r() * len(self.counties))]
        g_seq = 2 * int(r() * 500) + (1 if g_male else 0)
        guardian = (sid, g_surname + g_given, relation, "1", build_id_number(g_region, g_born, g_seq),
                    f"{_PHONE_PREFIX[int(r() * len(_PHONE_PREFIX))]}{int(r() * 1e9):09d}")
        hist = (sid, s.id, grade, class_name, StudentStatus.IN_SCHOOL.value, self.valid_from[grade], None,
                "演示数据：在校学籍")
        return row, guardian, hist
