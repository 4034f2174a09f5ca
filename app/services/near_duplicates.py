"""疑似重复学籍 (beyond the guide): likely duplicates the three 问题学籍 rules miss, listed for an
officer to review. Read-only: nothing is ever changed or opened on the strength of this report.

Two kinds, over active records (not deleted, not transferred out) province-wide, each candidate
shown when at least one of its records is in the actor's scope:

  (i)  身份证号相邻两位颠倒 — two 居民身份证 numbers equal except one pair of adjacent characters
       swapped within the first 17 (a typing slip). No self-join: SQL computes three
       transposition-invariant signatures per record in one scan (see SIGNATURES) and keeps the
       groups of more than one record with one in scope; Python confirms each pair within those
       small groups with a dict of the swapped variants. Measured on 100k records (PostgreSQL, a
       shared and loaded machine): ~1–2 s, about 3 300 of 100 000 records come back to Python;
       streaming every number into a Python dict of 16 variants took ~2.7 s.
  (ii) 姓名拼音相同 + 出生日期相同 + 监护人电话相同 — e.g. 张晓明 / 张小明 registered twice. SQL groups by
       (pinyin initials, birth date, guardian phone) with more than one record and one in scope
       (indexes do the rest); Python then confirms the full pinyin (pypinyin lazy_pinyin).

Pairs the three rules already catch (one number on both records; no number and the same name, sex
and birth date) are left out: they are 问题学籍, handled there.
"""
import datetime
from dataclasses import dataclass, field
from functools import lru_cache

from pypinyin import lazy_pinyin
from sqlalchemy import case, func, literal_column, select, union_all
from sqlalchemy.orm import selectinload

from app.models.org import OrgKind
from app.models.student import INACTIVE_STATUSES, Guardian, Student, StudentStatus
from app.services import identity, scope
from app.services.errors import PermissionDenied
from app.services.roles import RANK_COUNTY, actor_rank

TRANSPOSED, SAME_PINYIN = "transposed_id", "same_pinyin"
KIND_LABELS = {
    TRANSPOSED: "身份证号相邻两位颠倒",
    SAME_PINYIN: "姓名拼音、出生日期、监护人电话相同",
}
_INACTIVE = [StudentStatus(s) for s in INACTIVE_STATUSES]
_CHUNK = 10_000


@dataclass
class Entry:
    student: Student
    in_scope: bool          # the actor's own subtree: details and link shown; else name, masked ID, school


@dataclass
class Candidate:
    kind: str
    label: str
    reason: str
    entries: list = field(default_factory=list)

    @property
    def student_ids(self):
        return [e.student.id for e in self.entries]


def _check_actor(actor):
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind not in (OrgKind.COUNTY, OrgKind.CITY, OrgKind.PROVINCE) \
            or actor_rank(actor) > RANK_COUNTY:
        raise PermissionDenied("疑似重复学籍由县级及以上教育行政部门核查")


def _active():
    return Student.status.not_in(_INACTIVE)


# ---------------------------------------------------------------- (i) adjacent transposition

def swapped_variants(number, positions=range(16)):
    """(position, variant) for each adjacent pair (i, i+1) of the first 17 characters that differ."""
    out = []
    for i in positions:
        a, b = number[i], number[i + 1]
        if a != b:
            out.append((i, number[:i] + b + a + number[i + 2:]))
    return out


def _multiset(col, first, count):
    """SQL: the multiset of `count` digits from 1-based position `first`, as one number (digit d
    adds 10^d; at most 9 of a digit, so the encoding is exact)."""
    weights = " ".join(f"WHEN '{d}' THEN CAST({10 ** d} AS BIGINT)" for d in range(10))
    return "(" + " + ".join(f"(CASE substr({col}, {k}, 1) {weights} ELSE 0 END)"
                            for k in range(first, first + count)) + ")"


# An adjacent swap at (i, i+1) changes nothing outside the pair. So two numbers one swap apart
# share, by where the swap is: i+1 <= 8 → characters 10–18 and the multiset of 1–9; i >= 9 →
# characters 1–9 and 18 and the multiset of 10–17; i = 8 → characters 1–8 and 11–18. Grouping on
# these three signatures (computed once per record, grouped by a window) leaves only small groups to check in Python.
SIGNATURES = (
    (range(0, 8), "substr(n, 10, 9) || ':' || CAST({m1} AS VARCHAR(12))"),
    (range(9, 16), "substr(n, 1, 9) || substr(n, 18, 1) || ':' || CAST({m2} AS VARCHAR(12))"),
    (range(8, 9), "substr(n, 1, 8) || substr(n, 11, 8)"),
)


def _transposed_query(actor):
    """Members of signature groups holding more than one record, one of them in scope. The
    signatures are computed once per record; the groups are found by a window over them (no join:
    the planner cannot misjudge one into a nested loop over the province)."""
    keys = [literal_column(k.format(m1=_multiset("student.id_number", 1, 9), m2=_multiset("student.id_number", 10, 8))
                           .replace("(n,", "(student.id_number,")).label(f"k{p}")
            for p, (_r, k) in enumerate(SIGNATURES)]
    base = (select(Student.id, Student.id_number.label("n"),
                   case((scope.clause(actor, Student), 1), else_=0).label("mine"), *keys)
            .where(Student.id_type == identity.MAINLAND_ID, Student.id_number.is_not(None),
                   func.length(Student.id_number) == 18, _active())
            .cte("base"))
    keyed = union_all(*[select(literal_column(str(p)).label("part"), base.c[f"k{p}"].label("sig"),
                               base.c.id, base.c.n, base.c.mine)
                        for p in range(len(SIGNATURES))]).subquery("keyed")
    group = [keyed.c.part, keyed.c.sig]
    counted = select(keyed, func.count().over(partition_by=group).label("c"),
                     func.max(keyed.c.mine).over(partition_by=group).label("m")).subquery("counted")
    return (select(counted.c.part, counted.c.sig, counted.c.id, counted.c.n, counted.c.mine)
            .where(counted.c.c > 1, counted.c.m == 1)
            .order_by(counted.c.part, counted.c.sig, counted.c.id))


def _transposed_pairs(session, actor, limit):
    """[(id_a, id_b, position)] with at least one side in scope."""
    if limit <= 0:
        return []
    rows = session.execute(_transposed_query(actor))
    pairs, current = {}, None

    def check(part, members):
        holders, mine_of = {}, {}
        for sid, number, mine in members:
            holders.setdefault(number, []).append(sid)
            mine_of[sid] = mine
        positions = SIGNATURES[part][0]
        for sid, number, mine in members:
            for pos, variant in swapped_variants(number, positions):
                for other in holders.get(variant, ()):
                    if mine or mine_of[other]:
                        pairs.setdefault((min(sid, other), max(sid, other)), pos)

    members = []
    for part, sig, sid, number, mine in rows:
        if (part, sig) != current:
            if members:
                check(current[0], members)
            current, members = (part, sig), []
        members.append((sid, number, bool(mine)))
    if members:
        check(current[0], members)
    return [(a, b, pos) for (a, b), pos in sorted(pairs.items())][:limit]


# ---------------------------------------------------------------- (ii) same pinyin, birth date, guardian phone

@lru_cache(maxsize=65536)
def full_pinyin(name):
    return " ".join(p.strip().lower() for p in lazy_pinyin((name or "").strip()) if p.strip())


def _phone(value):
    return "".join(ch for ch in (value or "") if ch.isdigit())


def mask_phone(phone):
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def _pinyin_groups(session, actor, limit):
    """[(pinyin, birth_date, phone, [student ids])], the full pinyin confirmed in Python."""
    if limit <= 0:
        return []
    phone = func.trim(Guardian.phone)
    in_scope = case((scope.clause(actor, Student), 1), else_=0)
    groups = (select(Student.name_initials, Student.birth_date, phone.label("phone"))
              .join(Guardian, Guardian.student_id == Student.id)
              .where(_active(), Student.name_initials.is_not(None), Guardian.phone.is_not(None), phone != "")
              .group_by(Student.name_initials, Student.birth_date, phone)
              .having(func.count(func.distinct(Student.id)) > 1, func.max(in_scope) == 1)
              .subquery())
    rows = session.execute(
        select(Student.id, Student.name, Student.gender, Student.id_number, groups.c.name_initials,
               groups.c.birth_date, groups.c.phone, in_scope)
        .join(Guardian, Guardian.student_id == Student.id)
        .join(groups, (groups.c.name_initials == Student.name_initials) & (groups.c.birth_date == Student.birth_date)
              & (groups.c.phone == func.trim(Guardian.phone)))
        .where(_active())).all()
    buckets = {}
    for sid, name, gender, number, _ini, born, ph, mine in rows:
        bucket = buckets.setdefault((full_pinyin(name), born, ph), {})
        bucket[sid] = (name, gender, number, bool(mine))
    out, seen = [], set()
    for (pinyin, born, ph), members in sorted(buckets.items(), key=lambda kv: min(kv[1])):
        ids = frozenset(members)
        if len(ids) < 2 or ids in seen or not any(m[3] for m in members.values()):
            continue
        if _caught_by_rules(members.values()):
            continue
        seen.add(ids)
        out.append((pinyin, born, ph, sorted(ids)))
        if len(out) >= limit:
            break
    return out


def _caught_by_rules(members):
    """Already a 问题学籍: every record shares one ID number, or none has one and name, sex and
    birth date (the same here) agree."""
    members = list(members)
    numbers = {m[2] or "" for m in members}
    if len(numbers) == 1 and "" not in numbers:
        return True
    return numbers == {""} and len({(m[0], m[1]) for m in members}) == 1


# ---------------------------------------------------------------- the report

def report(session, actor, limit=500):
    """Candidates (Candidate: kind, label, reason, entries) with at least one record in the
    actor's scope; county, city and province officers only. Never changes anything."""
    _check_actor(actor)
    limit = max(int(limit or 0), 0)
    pairs = _transposed_pairs(session, actor, limit)
    groups = _pinyin_groups(session, actor, max(limit - len(pairs), 0))
    ids = {i for a, b, _p in pairs for i in (a, b)} | {i for g in groups for i in g[3]}
    records, mine = {}, set()
    for i in range(0, len(ids), 5000):
        chunk = sorted(ids)[i:i + 5000]
        records.update({s.id: s for s in session.scalars(
            select(Student).where(Student.id.in_(chunk)).options(selectinload(Student.school)))})
        mine.update(session.scalars(select(Student.id).where(Student.id.in_(chunk), scope.clause(actor, Student))))

    def entries(student_ids):
        return [Entry(records[i], i in mine) for i in student_ids]

    out = []
    for a, b, pos in pairs:
        out.append(Candidate(TRANSPOSED, KIND_LABELS[TRANSPOSED],
                             f"两条记录的身份证号仅第 {pos + 1}、{pos + 2} 位顺序颠倒，其余各位相同，疑为录入错误",
                             entries([a, b])))
    for pinyin, born, ph, student_ids in groups:
        born = born.isoformat() if isinstance(born, datetime.date) else str(born)[:10]
        names = "、".join(dict.fromkeys(records[i].name for i in student_ids))
        out.append(Candidate(SAME_PINYIN, KIND_LABELS[SAME_PINYIN],
                             f"姓名（{names}）拼音同为 {pinyin}，出生日期同为 {born}，"
                             f"监护人电话同为 {mask_phone(_phone(ph))}", entries(student_ids)))
    return out
