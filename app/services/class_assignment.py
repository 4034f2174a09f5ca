"""学生分班: the school puts its new students (待分班: 在校 in a first grade, no class yet, come by
新生注册 or 招生录取) into the classes of that grade, by hand or automatically.

The automatic assignment (自动分班) spreads the pending students (or the ticked ones) across the
chosen classes so that class sizes differ by at most one (counting who is already in each class),
boys and girls are spread in the same proportion everywhere, and, on request, the admission
scores are balanced (snake order) and students from the same previous school are spread out. It
is deterministic for a seed (random.Random(seed)); a seed is drawn and shown when none is given,
so a preview can be reproduced and discussed before it is applied.

`plan` computes a preview and a token (a hash of the students, the classes with their versions
and counts, the seed, the options and the result); `apply` recomputes it under a lock of the
classes and writes only when the token is the same (otherwise the list or the classes changed
since the preview), set-based: one UPDATE of the students per class, history spans, one audit
entry per class. Capacities (额定人数) are never exceeded; students whose admission is contested
(重复招生 unresolved) are not placed. Only the school's own 学籍管理员 assigns; superiors read.
"""
import hashlib
import heapq
import json
import random
import secrets
from collections import Counter, defaultdict

from sqlalchemy import select, update

from app.models.admission import Admission, AdmissionState
from app.models.org import OrgUnit
from app.models.school_year import SchoolClass
from app.models.student import Student, StudentStatus
from app.services import audit, clock, grades, privacy, scope
from app.services.context import with_actor
from app.services.errors import DomainError, NotFound, PermissionDenied

CHUNK = 5000
MAX_NAMES = 5
MAX_SEED = 2 ** 31 - 1
STALE = "名单或班级已变化，请重新预览"
BOY, GIRL = "1", "2"


def _chunks(ids, size=CHUNK):
    ids = list(ids)
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _names(names, unit="名"):
    names = list(names)
    tail = f"等 {len(names)} {unit}" if len(names) > MAX_NAMES else ""
    return "、".join(names[:MAX_NAMES]) + tail


def class_label(cls):
    """"初中一年级2班" (the 级 is the same for every class of a first grade)."""
    return f"{grades.grade_label(cls.grade) or cls.grade}{cls.name}"


# ---------------------------------------------------------------- which school, grade, classes, students

def first_grades(school):
    """The grades whose new students are assigned here: the school's entry grades (小学一年级,
    初中一年级 …), by its 办学类型."""
    return [g for g in grades.FIRST_GRADES if grades.teaches(school, g)]


def school_for_reading(session, actor, school_id=None):
    """The school whose 分班 is shown: a school account's own; a superior's choice in its area."""
    from app.services.school_years import school_in_scope
    return school_in_scope(session, actor, school_id, "查看分班")


def _school_for_writing(session, actor, school_id):
    from app.services.school_years import _school_of
    return _school_of(session, actor, school_id, "分班")


def check_grade(school, grade):
    grade = str(grade or "").strip()
    firsts = first_grades(school)
    if grade not in firsts:
        allowed = "、".join(grades.grade_label(g) for g in firsts) or "无"
        raise DomainError(f"学生分班用于起始年级的新生（本校为{allowed}）；其他年级的学生请在“班级管理”中分班",
                          field="grade")
    return grade


def pending_query(school, grade):
    """待分班: students of the school in the grade, 在校, without a class."""
    return (select(Student).where(Student.school_id == school.id, Student.grade == grade,
                                  Student.status == StudentStatus.IN_SCHOOL, Student.class_id.is_(None))
            .order_by(Student.id))


def _classes(session, school, grade, class_ids, lock=False):
    from app.services.school_years import ids_of
    ids = ids_of(class_ids, "班级")
    if not ids:
        raise DomainError("请选择要分入的班级", field="class_id")
    stmt = select(SchoolClass).where(SchoolClass.id.in_(ids), SchoolClass.school_id == school.id)
    if lock:
        stmt = stmt.with_for_update()
    rows = session.scalars(stmt).all()
    if len(rows) != len(ids):
        raise NotFound("班级不存在或不属于本校")
    rows.sort(key=lambda c: (c.cohort_year, c.class_no, c.id))
    for c in rows:
        if not c.active:
            raise DomainError(f"{c}已毕业，不能再分入学生", field="class_id")
        if c.grade != grade:
            raise DomainError(f"{c}不是{grades.grade_label(grade)}的班级", field="class_id")
    return rows


def _students(session, school, grade, student_ids):
    """The students to place: every pending one, or the ticked ones (which must all be pending)."""
    from app.services.school_years import ids_of
    pending = session.execute(pending_query(school, grade).with_only_columns(
        Student.id, Student.name, Student.gender)).all()
    if student_ids is None:
        return list(pending), False
    ids = ids_of(student_ids)
    if not ids:
        raise DomainError("请勾选要分班的学生")
    by_id = {r.id: r for r in pending}
    missing = [i for i in ids if i not in by_id]
    if missing:
        rows = []
        for chunk in _chunks(missing):  # only the school's own: another school's student is not found
            rows += session.execute(select(Student.id, Student.name)
                                    .where(Student.id.in_(chunk), Student.school_id == school.id)).all()
        if len(rows) != len(missing):
            raise NotFound("记录不存在或不在您的管辖范围内")
        raise DomainError(f"{_names(r.name for r in rows)} 不在{grades.grade_label(grade)}待分班名单中"
                          f"（可能已分班或学籍已变动）")
    return [by_id[i] for i in ids], True


def admission_info(session, school, student_ids):
    """{student_id: (score or None, previous school id or None, previous school name)} from each
    student's latest admitted admission to this school."""
    out = {}
    for chunk in _chunks(sorted(set(student_ids))):
        rows = session.execute(
            select(Admission.student_id, Admission.id, Admission.score, Admission.from_school_id,
                   Admission.from_school_name, OrgUnit.name)
            .outerjoin(OrgUnit, OrgUnit.id == Admission.from_school_id)
            .where(Admission.student_id.in_(chunk), Admission.school_id == school.id,
                   Admission.state == AdmissionState.ADMITTED)
            .order_by(Admission.student_id, Admission.id)).all()
        for r in rows:  # ordered by id: the latest wins
            score = float(r.score) if r.score is not None else None
            origin_name = r.name or r.from_school_name or ""
            origin = r.from_school_id if r.from_school_id is not None else (r.from_school_name or None)
            out[r.student_id] = (score, origin, origin_name)
    return out


def _members(session, class_ids):
    """(student_id, class_id, gender) of the students counted in these classes (as class_counts)."""
    from app.services.school_years import CLASS_STATUSES
    if not class_ids:
        return []
    return session.execute(
        select(Student.id, Student.class_id, Student.gender)
        .join(SchoolClass, SchoolClass.id == Student.class_id)
        .where(Student.class_id.in_(list(class_ids)), Student.status.in_(CLASS_STATUSES),
               Student.grade == SchoolClass.grade)).all()


def _capacity_text(cls, have):
    return f"{cls.name}额定 {cls.capacity} 人，已有 {have} 人"


# ---------------------------------------------------------------- the plan

def parse_seed(seed):
    if seed in (None, ""):
        return None
    text = str(seed).strip()
    if not text.isdigit() or int(text) > MAX_SEED:
        raise DomainError(f"随机种子须为 0 至 {MAX_SEED} 之间的整数", field="seed")
    return int(text)


def new_seed():
    return 100000 + secrets.randbelow(900000)  # six digits: easy to note down and type again


def _sizes(classes, have, n):
    """How many new students each class gets: always the smallest class (then the first) among
    those with a free seat."""
    new = {c.id: 0 for c in classes}
    room = [(have[c.id], i, c) for i, c in enumerate(classes) if c.capacity is None or have[c.id] < c.capacity]
    heapq.heapify(room)
    for _ in range(n):
        size, i, c = heapq.heappop(room)
        new[c.id] += 1
        if c.capacity is None or size + 1 < c.capacity:
            heapq.heappush(room, (size + 1, i, c))
    return new


def _boy_quotas(classes, new, have, have_boys, boys):
    """How many of the new boys each class gets: the class furthest below its share of all boys
    (integer arithmetic: final size × all boys − its boys × all students)."""
    final = {c.id: have[c.id] + new[c.id] for c in classes}
    total = sum(final.values())
    all_boys = sum(have_boys.values()) + boys
    quota = {c.id: 0 for c in classes}
    heap = [(-(final[c.id] * all_boys - have_boys[c.id] * total), i, c) for i, c in enumerate(classes) if new[c.id]]
    heapq.heapify(heap)
    for _ in range(boys):
        deficit, i, c = heapq.heappop(heap)
        quota[c.id] += 1
        if quota[c.id] < new[c.id]:
            heapq.heappush(heap, (deficit + total, i, c))
    return quota


def _compute(session, actor, school_id, grade, class_ids, seed, balance_scores, spread_origin, student_ids,
             lock=False):
    school = _school_for_writing(session, actor, school_id)
    grade = check_grade(school, grade)
    classes = _classes(session, school, grade, class_ids, lock=lock)
    students, selected = _students(session, school, grade, student_ids)
    generated = seed in (None, "")
    seed = new_seed() if generated else parse_seed(seed)

    from app.services.admissions import placement_blockers
    blocked = placement_blockers(session, [s.id for s in students])
    skipped = []
    if blocked:
        names = [s.name for s in students if s.id in blocked]
        if selected:
            first = next(s for s in students if s.id in blocked)
            raise DomainError(f"{_names(names)} 暂不能分班：{blocked[first.id]}")
        skipped = [{"student_id": s.id, "name": s.name, "reason": blocked[s.id]} for s in students if s.id in blocked]
        students = [s for s in students if s.id not in blocked]
    if not students:
        raise DomainError(f"{grades.grade_label(grade)}没有待分班的学生" +
                          (f"（{len(skipped)} 名因重复招生未解决暂不能分班）" if skipped else ""))

    members = _members(session, [c.id for c in classes])
    have, have_boys = Counter(), Counter()
    for m in members:
        have[m.class_id] += 1
        have_boys[m.class_id] += m.gender == BOY
    n = len(students)
    capped = [c for c in classes if c.capacity is not None]
    if len(capped) == len(classes):
        free = sum(max(c.capacity - have[c.id], 0) for c in classes)
        if n > free:
            detail = "；".join(_capacity_text(c, have[c.id]) for c in classes[:MAX_NAMES])
            if len(classes) > MAX_NAMES:
                detail += f"；等 {len(classes)} 个班"
            raise DomainError(f"待分班学生 {n} 名，所选班级只剩 {free} 个名额（{detail}），不能全部分入；"
                              f"请增加班级、调整额定人数或只勾选部分学生")

    info = admission_info(session, school, [s.id for s in students] + [m.id for m in members])
    rng = random.Random(seed)
    order = sorted(students, key=lambda s: s.id)
    rng.shuffle(order)
    if balance_scores:  # strongest first (stable: equal and missing scores stay in random order)
        order.sort(key=lambda s: (info.get(s.id, (None,))[0] is None, -(info.get(s.id, (None,))[0] or 0)))
    tiebreak = {c.id: rng.random() for c in classes}

    new = _sizes(classes, have, n)
    boys = sum(1 for s in students if s.gender == BOY)
    quota_b = _boy_quotas(classes, new, have, have_boys, boys)
    quota = {BOY: quota_b, GIRL: {c.id: new[c.id] - quota_b[c.id] for c in classes}}
    taken = {BOY: Counter(), GIRL: Counter()}
    score_sum = Counter()
    origins = defaultdict(Counter)
    for m in members:
        origin = info.get(m.id, (None, None))[1]
        if origin is not None:
            origins[m.class_id][origin] += 1

    assignment = {}
    for s in order:
        g = BOY if s.gender == BOY else GIRL
        score, origin = info.get(s.id, (None, None))[:2]
        eligible = [c for c in classes if taken[g][c.id] < quota[g][c.id]]

        def key(c):
            spread = origins[c.id][origin] if spread_origin and origin is not None else 0
            if balance_scores:  # snake order: a round per class, the weakest class so far first
                return (spread, taken[g][c.id], score_sum[c.id], tiebreak[c.id])
            return (spread, taken[g][c.id] / quota[g][c.id], tiebreak[c.id])

        best = min(eligible, key=key)
        assignment[s.id] = best.id
        taken[g][best.id] += 1
        if score is not None:
            score_sum[best.id] += score
        if origin is not None:
            origins[best.id][origin] += 1

    return _preview(school, grade, classes, students, members, info, assignment, seed, generated,
                    balance_scores, spread_origin, student_ids if selected else None, skipped, have, have_boys)


def _preview(school, grade, classes, students, members, info, assignment, seed, generated, balance_scores,
             spread_origin, student_ids, skipped, have, have_boys):
    by_class = defaultdict(list)
    for s in students:
        by_class[assignment[s.id]].append(s)
    member_ids = defaultdict(list)
    for m in members:
        member_ids[m.class_id].append(m.id)
    rows = []
    for c in classes:
        added = by_class[c.id]
        boys = have_boys[c.id] + sum(1 for s in added if s.gender == BOY)
        after = have[c.id] + len(added)
        ids = member_ids[c.id] + [s.id for s in added]
        scores = [info[i][0] for i in ids if i in info and info[i][0] is not None]
        origin_counts = Counter(info[i][1] for i in ids if i in info and info[i][1] is not None)
        names = {info[i][1]: info[i][2] for i in ids if i in info and info[i][1] is not None}
        top = origin_counts.most_common(1)
        rows.append({
            "class_id": c.id, "name": class_label(c), "short_name": c.name, "capacity": c.capacity,
            "head_teacher": c.head_teacher or "", "version": c.version,
            "before": have[c.id], "before_boys": have_boys[c.id], "before_girls": have[c.id] - have_boys[c.id],
            "added": len(added), "added_boys": sum(1 for s in added if s.gender == BOY),
            "after": after, "boys": boys, "girls": after - boys,
            "avg_score": round(sum(scores) / len(scores), 1) if scores else None,
            "largest_origin": ({"name": names[top[0][0]], "count": top[0][1]} if top else None),
        })
    labels = {c.id: class_label(c) for c in classes}
    position = {c.id: i for i, c in enumerate(classes)}
    assignments = sorted(
        ({"student_id": s.id, "name": s.name, "gender": s.gender, "class_id": assignment[s.id],
          "class_name": labels[assignment[s.id]],
          "score": info.get(s.id, (None,))[0], "origin": info.get(s.id, (None, None, ""))[2]}
         for s in students),
        key=lambda a: (position[a["class_id"]], a["gender"], a["student_id"]))
    sizes = [r["after"] for r in rows]
    boys = [r["boys"] for r in rows]
    token_data = {
        "school": school.id, "grade": grade, "seed": seed, "scores": bool(balance_scores),
        "origin": bool(spread_origin), "selected": student_ids is not None,
        "classes": [[c.id, c.version, have[c.id], have_boys[c.id], c.capacity] for c in classes],
        "assignment": sorted([sid, cid] for sid, cid in assignment.items()),
    }
    token = hashlib.sha256(json.dumps(token_data, sort_keys=True).encode()).hexdigest()[:32]
    return {
        "school": school, "grade": grade, "grade_label": grades.grade_label(grade) or grade,
        "seed": seed, "seed_generated": generated, "balance_scores": bool(balance_scores),
        "spread_origin": bool(spread_origin), "student_ids": student_ids,
        "class_ids": [c.id for c in classes], "classes": rows, "assignments": assignments, "skipped": skipped,
        "count": len(students), "boys": sum(1 for s in students if s.gender == BOY),
        "size_spread": max(sizes) - min(sizes), "boys_spread": max(boys) - min(boys),
        "has_scores": any(r["avg_score"] is not None for r in rows),
        "has_origins": any(r["largest_origin"] for r in rows),
        "token": token,
    }


def plan(session, actor, school_id, grade, class_ids, seed=None, balance_scores=False, spread_origin=False,
         student_ids=None):
    """自动分班 preview: nothing is written. See the module's docstring."""
    return _compute(session, actor, school_id, grade, class_ids, seed, balance_scores, spread_origin, student_ids)


@with_actor
def apply(session, actor, school_id, grade, class_ids, seed=None, balance_scores=False, spread_origin=False,
          student_ids=None, token=None):
    """确认分班: the previewed assignment, if nothing changed since the preview. Returns the preview."""
    if seed in (None, "") or not token:
        raise DomainError(STALE)
    try:
        result = _compute(session, actor, school_id, grade, class_ids, seed, balance_scores, spread_origin,
                          student_ids, lock=True)
    except (NotFound, PermissionDenied):
        raise
    except DomainError as exc:
        raise DomainError(f"{STALE}（{exc.message}）")
    if result["token"] != str(token).strip():
        raise DomainError(STALE)
    from app.services.graduation import _history_spans
    school, now = result["school"], clock.now()
    by_class = defaultdict(list)
    for a in result["assignments"]:
        by_class[a["class_id"]].append(a["student_id"])
    classes = {c.id: c for c in session.scalars(select(SchoolClass).where(SchoolClass.id.in_(result["class_ids"])))}
    with session.begin_nested():
        for class_id in result["class_ids"]:
            ids, cls = sorted(by_class[class_id]), classes[class_id]
            if not ids:
                continue
            reason = f"自动分班：{cls}"
            for chunk in _chunks(ids):
                done = session.execute(
                    update(Student).where(Student.id.in_(chunk), Student.school_id == school.id,
                                          Student.grade == result["grade"], Student.class_id.is_(None),
                                          Student.status == StudentStatus.IN_SCHOOL)
                    .values(class_id=cls.id, class_name=cls.name, version=Student.version + 1, updated_at=now),
                    execution_options={"synchronize_session": False})
                if done.rowcount != len(chunk):
                    raise DomainError(STALE)
                _history_spans(session, chunk, now, reason)
            audit.record_bulk(session, "student", len(ids), school.path, f"{reason}（随机种子 {result['seed']}）",
                              actor=actor)
    session.expire_all()
    return result


@with_actor
def assign(session, actor, class_id, student_ids):
    """手工分班 from this screen: the ticked students into one class (school_years.assign_students
    checks the school, grade, status, 重复招生 and 额定人数)."""
    from app.services.school_years import assign_students
    if class_id in (None, "") or not str(class_id).strip().isdigit():
        raise DomainError("请选择要分入的班级", field="class_id")
    return assign_students(session, actor, int(class_id), student_ids)


# ---------------------------------------------------------------- what the screen lists

def pending_students(session, actor, school, grade):
    """The 待分班 list with what the screen shows beside each name (no 学籍号: placing students
    does not need the ID number inside it)."""
    rows = session.scalars(pending_query(school, grade)).all()
    from app.services.admissions import placement_blockers
    blocked = placement_blockers(session, [s.id for s in rows])
    info = admission_info(session, school, [s.id for s in rows])
    out = []
    for s in sorted(rows, key=lambda s: (s.name_initials or "", s.name, s.id)):
        score, _origin, origin_name = info.get(s.id, (None, None, ""))
        out.append({"id": s.id, "name": s.name, "gender": s.gender, "birth_date": s.birth_date,
                    "score": score,
                    "origin": origin_name, "blocked": blocked.get(s.id), "student": s})
    return out


def class_rows(session, school, grade):
    """The grade's active classes with their counts and capacity."""
    from app.services.school_years import class_counts, classes_of
    classes = classes_of(session, school, grade)
    counts = class_counts(session, [c.id for c in classes])
    out = []
    for c in classes:
        n, boys, girls = counts.get(c.id, (0, 0, 0))
        out.append({"cls": c, "name": class_label(c), "n": n, "boys": boys, "girls": girls,
                    "capacity": c.capacity, "free": None if c.capacity is None else max(c.capacity - n, 0)})
    return out


# ---------------------------------------------------------------- printable lists

def roster(session, actor, class_id):
    """分班名单 of one class, for printing: 学籍号 as the actor may see it (full views audited)."""
    from app.services.school_years import CLASS_STATUSES
    if class_id in (None, "") or not str(class_id).strip().isdigit():
        raise NotFound("记录不存在或不在您的管辖范围内")
    cls = scope.get(session, actor, SchoolClass, int(class_id))
    members = session.scalars(select(Student).where(
        Student.class_id == cls.id, Student.status.in_(CLASS_STATUSES), Student.grade == cls.grade)).all()
    members.sort(key=lambda s: (s.name_initials or "", s.name, s.id))
    info = admission_info(session, cls.school, [s.id for s in members])
    boys = sum(1 for s in members if s.gender == BOY)
    rows = []
    for no, s in enumerate(members, start=1):
        rows.append({"no": no, "id": s.id, "xueji_no": privacy.shown_xueji(actor, s.xueji_no) or "",
                     "name": s.name, "gender": "男" if s.gender == BOY else "女",
                     "birth_date": s.birth_date.strftime("%Y-%m-%d") if s.birth_date else "",
                     "previous_school": info.get(s.id, (None, None, ""))[2]})
        if s.xueji_no and s.xueji_no.startswith("G"):
            privacy.record_full_view(session, actor, s, f"分班名单（{class_label(cls)}）")
    return {"cls": cls, "school": cls.school, "name": class_label(cls), "cohort_year": cls.cohort_year,
            "grade_label": grades.grade_label(cls.grade) or cls.grade, "head_teacher": cls.head_teacher or "",
            "capacity": cls.capacity, "count": len(members), "boys": boys, "girls": len(members) - boys,
            "students": rows}


def grade_rosters(session, actor, school_id, grade):
    """The rosters of every active class of a grade (one print page)."""
    from app.services.school_years import classes_of
    school = school_for_reading(session, actor, school_id)
    grade = str(grade or "").strip()
    if not grades.teaches(school, grade):
        raise DomainError(f"{school.name}没有{grades.grade_label(grade) or grade or '该年级'}", field="grade")
    return school, [roster(session, actor, c.id) for c in classes_of(session, school, grade)]
