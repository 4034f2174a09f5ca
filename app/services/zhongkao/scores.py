"""中考成绩: the year's subjects and total formula (province), score import (county for its
candidates, city/province for theirs), publication at the configured moment, the candidate's
score query (portal) and 复核 (score review) with its outcome recorded.

总分 = Σ over the subjects that count of weight × points + approved 加分 points, where points is the
score, or for a 等级 subject the grade converted by the subject's table. A graded score row keeps
the grade and its converted points (zk_score.score), so the total is one SUM in SQL and a change of
the table re-converts the rows. Totals are recomputed set-based (one UPDATE with a correlated SUM).

Before exam.scores_publish_at nobody below the province sees a score: the portal refuses, the staff
list and statistics hide them for counties and schools (the province checks them before release)."""
import datetime
import json
import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError

from app.models.org import OrgKind
from app.models.zhongkao import (Candidate, ReviewState, SubjectKind, ZkBonus, ZkExam, ZkScore, ZkScoreReview,
                                 ZkSubject)
from app.services import audit, clock, scope
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_COUNTY, RANK_PROVINCE, actor_rank
from app.services.zhongkao import exams
from app.services.zhongkao import registration  # noqa: F401  (registers the Candidate scope rule)

MAX_REVIEW_SUBJECTS = 3      # 复核: at most this many subjects per candidate
REVIEW_DAYS = 7              # window after publication when the province set no closing date
CHUNK = 900                  # IN-list size (SQLite's variable limit) and insert batch
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,9}$")
_GRADE = re.compile(r"^[A-Z][A-Z0-9+\-]{0,3}$")
ONE = Decimal("0.1")


# ---------------------------------------------------------------- who

def is_province(actor):
    unit = getattr(actor, "org_unit", None)
    return unit is not None and unit.kind == OrgKind.PROVINCE and actor_rank(actor) <= RANK_PROVINCE


def _county_officer(actor, doing):
    """County, city or province administrators (not schools, read-only accounts, nor the technical
    platform administrator)."""
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind == OrgKind.SCHOOL or not RANK_PROVINCE <= actor_rank(actor) <= RANK_COUNTY:
        raise PermissionDenied(f"{doing}由县（区）及以上教育部门办理，您的账号没有此权限")
    return unit


def check_importer(actor):
    _county_officer(actor, "成绩导入")


def scores_visible(actor, exam, now=None):
    """Province administrators always (to check before release); everyone else after publication."""
    return is_province(actor) or exams.scores_published(exam, now)


def publish_text(exam):
    if exam.scores_publish_at is None:
        return "成绩发布时间尚未确定，届时可查询"
    return f"成绩将于 {exam.scores_publish_at:%Y年%m月%d日 %H:%M} 发布，届时可查询"


# ---------------------------------------------------------------- subjects and the formula

def subjects(session, exam):
    return session.scalars(select(ZkSubject).where(ZkSubject.exam_id == exam.id)
                           .order_by(ZkSubject.sort_order, ZkSubject.id)).all()


def has_scores(session, exam_id):
    return session.scalar(select(ZkScore.id).join(ZkSubject, ZkSubject.id == ZkScore.subject_id)
                          .where(ZkSubject.exam_id == exam_id).limit(1)) is not None


def _subject_of(session, exam, subject_id):
    text = str(subject_id or "").strip()
    if not text.isdigit() or len(text) > 12:
        return None
    return session.scalars(select(ZkSubject).where(ZkSubject.id == int(text), ZkSubject.exam_id == exam.id)).first()


def grade_table(subject):
    try:
        table = json.loads(subject.grade_table) if subject.grade_table else {}
    except ValueError:
        return {}
    return {str(k): Decimal(str(v)) for k, v in table.items()}


def _number(value, label, field, low=None, high=None):
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise DomainError(f"{label}应为数字", field=field)
    if not d.is_finite() or d != d.quantize(Decimal("0.01")):
        raise DomainError(f"{label}最多保留两位小数", field=field)
    if (low is not None and d < low) or (high is not None and d > high):
        raise DomainError(f"{label}应在 {low}–{high} 之间", field=field)
    return d


def _clean_grade_table(value):
    """{"A": 20, "B": 16, …}: JSON text, a dict, or lines such as "A=20" / "A 20"."""
    if isinstance(value, dict):
        items = list(value.items())
    else:
        text = str(value or "").strip()
        try:
            parsed = json.loads(text) if text.startswith("{") else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            items = list(parsed.items())
        else:
            items = [tuple(re.split(r"\s*[=:：,，\s]\s*", part.strip(), maxsplit=1))
                     for part in re.split(r"[;；\n]+", text) if part.strip()]
    table = {}
    for item in items:
        if len(item) != 2:
            raise DomainError("等级折算表格式应为 等级=分数，如 A=20；B=16；C=12；D=0", field="grade_table")
        grade = str(item[0]).strip().upper()
        if not _GRADE.match(grade):
            raise DomainError(f"等级“{item[0]}”无效：等级应为大写字母（如 A、B、C、D）", field="grade_table")
        if grade in table:
            raise DomainError(f"等级 {grade} 重复", field="grade_table")
        table[grade] = _number(item[1], f"等级 {grade} 的折算分", "grade_table", Decimal(0), Decimal(1000))
    if not table:
        raise DomainError("等级科目须填写等级折算表，如 A=20；B=16；C=12；D=0", field="grade_table")
    return table


def _flag(value):
    return value is True or str(value or "").strip().lower() in ("1", "true", "y", "on", "是")


def set_subject(session, actor, exam_id, data):
    """Edit a subject (data["id"]) or add one (no id). Adding, and changing a subject's kind, only
    before any score exists; afterwards a new maximum must still cover the scores and a new grade
    table every grade in use, and the totals are recomputed."""
    exams._province_actor(actor, "设置科目与总分")
    exam = exams.require_exam(session, exam_id)
    scored = has_scores(session, exam.id)
    sid = data.get("id")
    if sid not in (None, ""):
        subject = _subject_of(session, exam, sid)
        if subject is None:
            raise NotFound("该科目不存在")
    else:
        if scored:
            raise DomainError("已导入成绩，不能再增加科目")
        code = str(data.get("code") or "").strip().lower()
        if not _CODE.match(code):
            raise DomainError("科目代码应为 1–10 位小写字母或数字（字母开头），如 yw", field="code")
        if session.scalar(select(ZkSubject.id).where(ZkSubject.exam_id == exam.id, ZkSubject.code == code)):
            raise DomainError(f"科目代码 {code} 已存在", field="code")
        top = session.scalar(select(func.max(ZkSubject.sort_order)).where(ZkSubject.exam_id == exam.id)) or 0
        subject = ZkSubject(exam_id=exam.id, code=code, name="", kind=SubjectKind.WRITTEN, max_score=100, weight=1,
                            counts_in_total=True, sort_order=top + 1)
    old_kind, old_table = subject.kind, grade_table(subject) if subject.id else {}
    old_weight, old_counts = subject.weight, subject.counts_in_total

    if "name" in data or subject.id is None:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 30:
            raise DomainError("请填写科目名称（不超过 30 字）", field="name")
        clash = session.scalar(select(ZkSubject.id).where(ZkSubject.exam_id == exam.id, ZkSubject.name == name,
                                                         ZkSubject.id != (subject.id or 0)))
        if clash:
            raise DomainError(f"科目“{name}”已存在", field="name")
        subject.name = name
    if "kind" in data and data["kind"] not in (None, ""):
        try:
            kind = data["kind"] if isinstance(data["kind"], SubjectKind) else SubjectKind(str(data["kind"]))
        except ValueError:
            raise DomainError("科目类别无效", field="kind")
        if subject.id is not None and kind != old_kind and scored:
            raise DomainError("已导入成绩，不能再改变科目类别", field="kind")
        subject.kind = kind
    if "weight" in data:
        subject.weight = _number(data["weight"], "权重", "weight", Decimal(0), Decimal(10))
    if "counts_in_total" in data:
        subject.counts_in_total = _flag(data["counts_in_total"])
    if "sort_order" in data and str(data["sort_order"]).strip().lstrip("-").isdigit():
        subject.sort_order = int(str(data["sort_order"]).strip())

    if subject.kind == SubjectKind.GRADED:
        table = _clean_grade_table(data["grade_table"]) if "grade_table" in data else old_table
        if not table:
            raise DomainError("等级科目须填写等级折算表，如 A=20；B=16；C=12；D=0", field="grade_table")
        if subject.id is not None and scored:
            used = set(session.scalars(select(ZkScore.grade).where(ZkScore.subject_id == subject.id).distinct()))
            missing = sorted(g for g in used if g and g not in table)
            if missing:
                raise DomainError(f"已有考生的等级为 {'、'.join(missing)}，折算表中不能删除这些等级", field="grade_table")
        subject.grade_table = json.dumps({k: float(v) for k, v in table.items()}, ensure_ascii=False)
        subject.max_score = max(table.values())  # the best grade's points: what the total can reach
    else:
        subject.grade_table = None
        if "max_score" in data:
            top = _number(data["max_score"], "满分", "max_score", Decimal(1), Decimal(1000))
            if top != top.quantize(ONE):
                raise DomainError("满分最多保留一位小数", field="max_score")
            if subject.id is not None and scored:
                highest = session.scalar(select(func.max(ZkScore.score)).where(ZkScore.subject_id == subject.id))
                if highest is not None and Decimal(str(highest)) > top:
                    raise DomainError(f"已有考生本科目成绩为 {highest} 分，满分不能低于该分数", field="max_score")
            subject.max_score = top
    if subject.id is None:
        session.add(subject)
    session.flush()
    if scored and (subject.kind == SubjectKind.GRADED and grade_table(subject) != old_table
                   or Decimal(str(subject.weight)) != Decimal(str(old_weight))
                   or subject.counts_in_total != old_counts):
        if subject.kind == SubjectKind.GRADED:
            _reconvert(session, subject)
        recompute_totals(session, exam)
    return subject


def _reconvert(session, subject):
    """A new grade table: every graded row of the subject gets its grade's new points."""
    rows = [{"g": g, "p": p} for g, p in grade_table(subject).items()]
    table = ZkScore.__table__
    session.execute(table.update().where(table.c.subject_id == subject.id, table.c.grade == bindparam("g"))
                    .values(score=bindparam("p")), rows)


def remove_subject(session, actor, exam_id, subject_id):
    exams._province_actor(actor, "设置科目与总分")
    exam = exams.require_exam(session, exam_id)
    subject = _subject_of(session, exam, subject_id)
    if subject is None:
        raise NotFound("该科目不存在")
    if has_scores(session, exam.id):
        raise DomainError("已导入成绩，不能再删除科目")
    session.delete(subject)
    session.flush()
    return subject


def formula_text(session, exam):
    parts = []
    for s in subjects(session, exam):
        if not s.counts_in_total:
            continue
        weight = Decimal(str(s.weight)).normalize()
        term = s.name if weight == 1 else f"{weight}×{s.name}"
        if s.kind == SubjectKind.GRADED:
            term += "（等级折算）"
        parts.append(term)
    return "总分 = " + " + ".join(parts + ["加分"]) if parts else "总分 = 加分（尚无计入总分的科目）"


def max_total(session, exam):
    return sum((Decimal(str(s.weight)) * Decimal(str(s.max_score)) for s in subjects(session, exam)
                if s.counts_in_total), Decimal(0))


# ---------------------------------------------------------------- totals

def _bonus_points(session, candidate_ids):
    """{candidate_id: points} of approved 加分, by the qualification service's rule."""
    if not candidate_ids:
        return {}
    try:
        from app.services.zhongkao.qualification import bonus_points
    except ImportError:  # the 加分 service not installed: totals carry no bonus
        return {}
    out = {}
    ids = list(candidate_ids)
    for i in range(0, len(ids), CHUNK):
        out.update(bonus_points(session, ids[i:i + CHUNK]) or {})
    return {k: Decimal(str(v)) for k, v in out.items() if v}


def _subject_sum():
    """Σ weight × points of the subjects that count, for the candidate row of the enclosing query."""
    return (select(func.sum(ZkScore.score * ZkSubject.weight))
            .join(ZkSubject, ZkSubject.id == ZkScore.subject_id)
            .where(ZkScore.candidate_id == Candidate.id, ZkSubject.counts_in_total.is_(True))
            .scalar_subquery())


def recompute_totals(session, exam, candidate_ids=None, path_prefix=None):
    """Set-based: one UPDATE … FROM a grouped SUM (only rows whose total changes are written),
    one UPDATE clearing totals left without any counted score, then the bonus added for the few
    candidates holding approved 加分. Returns the number of candidates whose total was written."""
    where = [Candidate.exam_id == exam.id]
    if path_prefix:
        where.append(Candidate.school_path.startswith(path_prefix, autoescape=False))
    ids = list(candidate_ids) if candidate_ids is not None else None
    chunks = [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)] if ids is not None else [None]
    counted = [ZkSubject.exam_id == exam.id, ZkSubject.counts_in_total.is_(True)]
    updated = 0
    for chunk in chunks:
        sums = (select(ZkScore.candidate_id.label("cid"),
                       func.round(func.sum(ZkScore.score * ZkSubject.weight), 1).label("total"))
                .join(ZkSubject, ZkSubject.id == ZkScore.subject_id).where(*counted)
                .group_by(ZkScore.candidate_id))
        if chunk is not None:
            sums = sums.where(ZkScore.candidate_id.in_(chunk))
        sums = sums.subquery("sums")
        stmt = (update(Candidate).where(*where, Candidate.id == sums.c.cid,
                                        Candidate.total_score.is_distinct_from(sums.c.total))
                .values(total_score=sums.c.total))
        updated += session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0
        has_counted = (select(ZkScore.id).join(ZkSubject, ZkSubject.id == ZkScore.subject_id)
                       .where(*counted, ZkScore.candidate_id == Candidate.id).exists())
        clear = update(Candidate).where(*where, Candidate.total_score.is_not(None), ~has_counted)
        if chunk is not None:
            clear = clear.where(Candidate.id.in_(chunk))
        updated += session.execute(clear.values(total_score=None)
                                   .execution_options(synchronize_session=False)).rowcount or 0
    holders = select(ZkBonus.candidate_id).join(Candidate, Candidate.id == ZkBonus.candidate_id) \
        .where(*where).distinct()
    holders = [cid for cid in session.scalars(holders) if ids is None or cid in set(ids)]
    bonus = _bonus_points(session, holders)
    if bonus:
        table = Candidate.__table__
        session.execute(table.update().where(table.c.id == bindparam("cid"), table.c.total_score.is_not(None))
                        .values(total_score=table.c.total_score + bindparam("pts")),
                        [{"cid": k, "pts": v} for k, v in bonus.items()])
    for obj in list(session.identity_map.values()):  # loaded candidates must not keep the old totals
        if isinstance(obj, Candidate):
            session.expire(obj, ["total_score"])
    return updated


def candidate_total(session, candidate):
    """The formula for one candidate, written through the ORM (so the change is audited)."""
    raw = session.scalar(select(func.round(_subject_sum(), 1)).where(Candidate.id == candidate.id))
    total = None
    if raw is not None:
        total = Decimal(str(raw)).quantize(ONE) + _bonus_points(session, [candidate.id]).get(candidate.id, 0)
    candidate.total_score = total
    return total


# ---------------------------------------------------------------- import (the imports engine calls these)

def parse_value(subject, value):
    """A cell of a subject → (points, grade). Scores 0..max with one decimal; grades from the table."""
    text = str(value).strip()
    if subject.kind == SubjectKind.GRADED:
        table = grade_table(subject)
        grade = text.upper()
        if grade not in table:
            raise DomainError(f"{subject.name}：等级“{text}”不在折算表中（可填 {'、'.join(table)}）")
        return table[grade], grade
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise DomainError(f"{subject.name}：成绩应为数字")
    if not d.is_finite() or d != d.quantize(ONE):
        raise DomainError(f"{subject.name}：成绩最多保留一位小数")
    top = Decimal(str(subject.max_score))
    if d < 0 or d > top:
        raise DomainError(f"{subject.name}：成绩 {text} 超出范围（0–{top.normalize():f} 分）")
    return d.quantize(ONE), None


def find_candidates(session, actor, exam, reg_nos=(), exam_nos=()):
    """Candidates of the exam inside the actor's scope, by 报名号 and by 准考证号:
    ({reg_no: row}, {exam_no: row}), row = (id, reg_no, exam_no, name). Out of scope = not found."""
    by_reg, by_exam = {}, {}
    cols = (Candidate.id, Candidate.reg_no, Candidate.exam_no, Candidate.name)
    base = [Candidate.exam_id == exam.id, scope.clause(actor, Candidate)]
    for keys, column, out, pos in ((list(set(reg_nos)), Candidate.reg_no, by_reg, 1),
                                   (list(set(exam_nos)), Candidate.exam_no, by_exam, 2)):
        for i in range(0, len(keys), CHUNK):
            for row in session.execute(select(*cols).where(*base, column.in_(keys[i:i + CHUNK]))):
                out[row[pos]] = tuple(row)
    return by_reg, by_exam


def check_import_open(session, actor, exam):
    """After publication the published scores change only by the province or through 复核."""
    if exams.scores_published(exam) and not is_province(actor):
        raise DomainError("成绩已发布，县（区）不能再导入成绩；个别更正请通过“成绩复核”办理，批量更正请联系省级")


def save_scores(session, actor, exam, records):
    """records: [{"candidate_id", "scores": {subject_id: (points, grade)}}]. Upsert by candidate and
    subject (a re-imported subject overwrites), then recompute the totals. Returns the summary."""
    check_importer(actor)
    check_import_open(session, actor, exam)
    now = clock.now()
    rows = [{"candidate_id": r["candidate_id"], "subject_id": sid, "score": points, "grade": grade,
             "imported_at": now}
            for r in records for sid, (points, grade) in r["scores"].items()]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(ZkScore.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=["candidate_id", "subject_id"],
                                      set_={"score": stmt.excluded.score, "grade": stmt.excluded.grade,
                                            "imported_at": stmt.excluded.imported_at})
    for i in range(0, len(rows), 5000):
        session.execute(stmt, rows[i:i + 5000])
    ids = [r["candidate_id"] for r in records]
    prefix = scope.actor_path(actor)
    # Large files: the whole subtree in one statement beats tens of thousands of ids in IN lists.
    recompute_totals(session, exam, candidate_ids=ids if len(ids) <= 5 * CHUNK else None,
                     path_prefix=prefix)
    audit.record_bulk(session, "zk_score", len(rows), prefix, f"导入中考成绩（{len(records)} 名考生）", actor=actor)
    session.flush()
    return {"candidates": len(records), "scores": len(rows)}


# ---------------------------------------------------------------- staff: list, search, statistics

def show_score(subject, score, grade):
    if grade:
        return grade
    if score is None:
        return ""
    return f"{Decimal(str(score)).quantize(ONE):f}"


def score_table(session, actor, exam, school_id=None, q=None, page=1, per_page=50):
    """The candidates in scope with their scores (hidden before publication for non-province)."""
    visible = scores_visible(actor, exam)
    stmt = select(Candidate).where(Candidate.exam_id == exam.id, scope.clause(actor, Candidate))
    if school_id:
        stmt = stmt.where(Candidate.school_id == exams.in_scope_school(session, actor, school_id, "查询").id)
    q = (q or "").strip()[:64]
    if q:
        stmt = stmt.where((Candidate.reg_no == q) | (Candidate.exam_no == q) | Candidate.name.contains(q))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    page = max(1, int(page or 1))
    rows = session.scalars(stmt.order_by(Candidate.school_id, Candidate.seq)
                           .offset((page - 1) * per_page).limit(per_page)).all()
    subs = subjects(session, exam)
    cells = {}
    if visible and rows:
        for cid, sid, score, grade in session.execute(
                select(ZkScore.candidate_id, ZkScore.subject_id, ZkScore.score, ZkScore.grade)
                .where(ZkScore.candidate_id.in_([c.id for c in rows]))):
            cells[(cid, sid)] = (score, grade)
    by_id = {s.id: s for s in subs}
    out = [{"candidate": c,
            "scores": [show_score(by_id[s.id], *cells[(c.id, s.id)]) if (c.id, s.id) in cells else "" for s in subs],
            "total": (f"{Decimal(str(c.total_score)).quantize(ONE):f}" if c.total_score is not None else "")
            if visible else None}
           for c in rows]
    return {"visible": visible, "subjects": subs, "rows": out, "count": total, "page": page,
            "pages": max(1, -(-total // per_page))}


def subject_stats(session, actor, exam, school_id=None):
    """Per subject: candidates with a score, average, highest (points); None before publication
    for non-province."""
    if not scores_visible(actor, exam):
        return None
    stmt = (select(ZkScore.subject_id, func.count(), func.avg(ZkScore.score), func.max(ZkScore.score))
            .join(Candidate, Candidate.id == ZkScore.candidate_id)
            .where(Candidate.exam_id == exam.id, scope.clause(actor, Candidate)).group_by(ZkScore.subject_id))
    if school_id:
        stmt = stmt.where(Candidate.school_id == exams.in_scope_school(session, actor, school_id, "查询").id)
    got = {sid: (n, avg, top) for sid, n, avg, top in session.execute(stmt)}
    out = []
    for s in subjects(session, exam):
        n, avg, top = got.get(s.id, (0, None, None))
        out.append({"subject": s, "count": n,
                    "average": f"{Decimal(str(avg)).quantize(Decimal('0.01')):f}" if avg is not None else "",
                    "max": f"{Decimal(str(top)).quantize(ONE):f}" if top is not None else ""})
    return out


# ---------------------------------------------------------------- portal

def portal_scores(session, candidate):
    """What the candidate sees: refused before publication."""
    exam = session.get(ZkExam, candidate.exam_id)
    if not exams.scores_published(exam):
        raise DomainError(publish_text(exam))
    cells = {sid: (score, grade) for sid, score, grade in session.execute(
        select(ZkScore.subject_id, ZkScore.score, ZkScore.grade).where(ZkScore.candidate_id == candidate.id))}
    shown = [(s.name, show_score(s, *cells[s.id]) if s.id in cells else "—") for s in subjects(session, exam)]
    total = candidate.total_score
    return {"subjects": shown,
            "total": f"{Decimal(str(total)).quantize(ONE):f}" if total is not None else "—",
            "bonus": _bonus_points(session, [candidate.id]).get(candidate.id, Decimal(0))}


# ---------------------------------------------------------------- 复核

def review_window(exam):
    """(first moment, last day) to ask for 复核; None before a publication time is set."""
    if exam.scores_publish_at is None:
        return None
    last = exam.review_closes or (exam.scores_publish_at.date() + datetime.timedelta(days=REVIEW_DAYS))
    return exam.scores_publish_at, last


def request_review(session, candidate, subject_id, reason):
    """The candidate asks for one subject to be checked (acting as themself, from the portal)."""
    exam = session.get(ZkExam, candidate.exam_id)
    if not exams.scores_published(exam):
        raise DomainError("成绩尚未发布，发布后才能申请复核")
    _, last = review_window(exam)
    if clock.today() > last:
        raise DomainError(f"成绩复核申请已于 {last:%Y年%m月%d日} 截止")
    subject = _subject_of(session, exam, subject_id)
    if subject is None:
        raise DomainError("请选择要复核的科目", field="subject_id")
    reason = str(reason or "").strip()
    if not reason or len(reason) > 255:
        raise DomainError("请填写申请复核的理由（不超过 255 字）", field="reason")
    score = session.scalars(select(ZkScore).where(ZkScore.candidate_id == candidate.id,
                                                  ZkScore.subject_id == subject.id)).first()
    if score is None:
        raise DomainError(f"{subject.name}没有成绩记录，不能申请复核", field="subject_id")
    earlier = session.scalars(select(ZkScoreReview).where(ZkScoreReview.candidate_id == candidate.id)).all()
    for r in earlier:
        if r.subject_id == subject.id:
            if r.state == ReviewState.PENDING:
                raise DomainError(f"{subject.name}已申请复核，正在处理中", field="subject_id")
            raise DomainError(f"{subject.name}已复核完毕（{r.state.label}），不能再次申请", field="subject_id")
    if len({r.subject_id for r in earlier}) >= MAX_REVIEW_SUBJECTS:
        raise DomainError(f"每名考生最多申请 {MAX_REVIEW_SUBJECTS} 个科目的复核", field="subject_id")
    review = ZkScoreReview(candidate_id=candidate.id, subject_id=subject.id, reason=reason,
                           state=ReviewState.PENDING, old_score=score.score, created_at=clock.now())
    nested = session.begin_nested()
    try:
        session.add(review)
        session.flush()
        nested.commit()
    except IntegrityError:  # the same request sent twice at once: the partial unique index decides
        nested.rollback()
        raise DomainError(f"{subject.name}已申请复核，正在处理中", field="subject_id")
    return review


def list_reviews(session, candidate):
    return session.scalars(select(ZkScoreReview).where(ZkScoreReview.candidate_id == candidate.id)
                           .order_by(ZkScoreReview.id)).all()


def reviews_query(actor, exam, state=None):
    stmt = (select(ZkScoreReview).join(Candidate, Candidate.id == ZkScoreReview.candidate_id)
            .where(Candidate.exam_id == exam.id, scope.clause(actor, Candidate)))
    if state:
        stmt = stmt.where(ZkScoreReview.state == state)
    pending_first = case((ZkScoreReview.state == ReviewState.PENDING, 0), else_=1)
    return stmt.order_by(pending_first, ZkScoreReview.id)


def get_review(session, actor, review_id, lock=False):
    if not str(review_id or "").isdigit() or len(str(review_id)) > 12:
        raise NotFound("记录不存在或不在您的管辖范围内")
    stmt = (select(ZkScoreReview).join(Candidate, Candidate.id == ZkScoreReview.candidate_id)
            .where(ZkScoreReview.id == int(review_id), scope.clause(actor, Candidate)))
    if lock:
        stmt = stmt.with_for_update(of=ZkScoreReview)
    review = session.scalars(stmt).first()
    if review is None:
        raise NotFound("记录不存在或不在您的管辖范围内")
    return review


def decide_review(session, actor, review_id, new_score=None, note=None):
    """The county (or city) records the outcome: unchanged, or the corrected score (the total is
    recomputed, old and new kept on the review, the change audited). Exactly once."""
    _county_officer(actor, "成绩复核")
    review = get_review(session, actor, review_id, lock=True)
    if review.state != ReviewState.PENDING:
        who = review.decided_at.strftime("%Y-%m-%d %H:%M") if review.decided_at else ""
        raise DomainError(f"该复核申请已于 {who} 办结（{review.state.label}），不能重复处理")
    note = str(note or "").strip()
    if len(note) > 255:
        raise DomainError("复核说明不能超过 255 字", field="note")
    subject = review.subject
    score = session.scalars(select(ZkScore).where(ZkScore.candidate_id == review.candidate_id,
                                                  ZkScore.subject_id == review.subject_id)).first()
    current = Decimal(str(score.score)).quantize(ONE) if score is not None and score.score is not None else None
    changed = False
    if new_score not in (None, ""):
        try:
            points, grade = parse_value(subject, new_score)
        except DomainError as exc:
            raise DomainError(exc.message, field="new_score")
        if current is None or points != current or (grade or None) != (score.grade if score else None):
            changed = True
            if score is None:
                score = ZkScore(candidate_id=review.candidate_id, subject_id=subject.id)
                session.add(score)
            old_grade = score.grade
            score.score, score.grade, score.imported_at = points, grade, clock.now()
            review.new_score = points
            if grade:
                note = f"等级 {old_grade or '—'} → {grade}" + (f"；{note}" if note else "")
    if not changed:
        review.new_score = current
    if not note:
        note = "经复核，成绩有误，已更正" if changed else "经复核，成绩无误"
    review.state = ReviewState.CHANGED if changed else ReviewState.UNCHANGED
    review.outcome_note = note
    review.decided_by_id = getattr(actor, "id", None)
    review.decided_at = clock.now()
    session.flush()
    if changed:
        candidate_total(session, review.candidate)
        session.flush()
    return review
