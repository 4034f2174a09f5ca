"""考务: exam sites (考点) and rooms (考场) per county, and the automatic seating (考场编排).

Who: the unit that runs a registration (a county, or a city for its 市直 schools) manages its own
sites and rooms and seats its own candidates; the units above read. Scope is the site's
county_path (a county officer never learns of another county's sites: NotFound).

Seating is set-based: only (id, school_id) pairs are read, the assignment is computed in Python
and written with one UPDATE per county (PostgreSQL: UPDATE … FROM unnest(arrays); elsewhere
executemany). Same-school candidates are spread: each school's candidates are shuffled and put at
evenly spaced positions of one sequence (position (k + offset) / n for the k-th of n), which is then
cut into rooms in site/room order, so every room holds about its share of each school and
neighbouring seats mix schools. The seed (drawn when none is given) makes it reproducible; it is
returned and written into the audit entry ("考场编排（随机种子 N）"), where `last_seating` reads it.

Which candidates are seated: by default every registered candidate of the county whose 资格审核
was not rejected (seating usually runs while the last reviews are still open; a candidate rejected
afterwards keeps the seat until the next run, which leaves them out). `only_approved=True` seats only candidates whose review passed.
Re-running replaces the county's seating until scores exist or the exam's first day (timetable)
has come."""
import datetime
import math
import random
import secrets

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.models.audit import AuditLog
from app.models.org import OrgKind, OrgUnit
from app.models.zhongkao import Candidate, QualState, ZkRoom, ZkScore, ZkSite
from app.services import audit, clock, scope
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_COUNTY, actor_rank
from app.services.zhongkao import exams, values

MAX_SEED = 999_999_999
MAX_ID = 2 ** 31 - 1   # beyond the column's range: no row (PostgreSQL would refuse the number)
MAX_ROOMS_PER_SITE = 999
MAX_ROOMS_AT_ONCE = 200
SEATING_REASON = "考场编排"


# ---------------------------------------------------------------- scope

def _site_scope(actor):
    prefix = scope.actor_path(actor)
    if not prefix:
        from sqlalchemy import false
        return false()
    return ZkSite.county_path.startswith(prefix, autoescape=False)


def _room_scope(actor):
    return ZkRoom.site_id.in_(select(ZkSite.id).where(_site_scope(actor)))


scope.register(ZkSite, _site_scope)
scope.register(ZkRoom, _room_scope)


def _id(value):
    text_ = str(value or "").strip()
    if not text_.isascii() or not text_.isdigit() or len(text_) > 10 or int(text_) > MAX_ID:
        raise NotFound("记录不存在或不在您的管辖范围内")
    return int(text_)


def get_site(session, actor, site_id):
    return scope.get(session, actor, ZkSite, _id(site_id))


def get_room(session, actor, room_id):
    return scope.get(session, actor, ZkRoom, _id(room_id))


def _manager(actor):
    """The unit whose 考务 the actor runs: a county (or a city, for its 市直 schools) officer."""
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind not in (OrgKind.COUNTY, OrgKind.CITY) or actor_rank(actor) > RANK_COUNTY:
        raise PermissionDenied("考点、考场和考场编排由县区管理员办理，您只能查看")
    return unit


def _own_site(session, actor, site_id):
    unit = _manager(actor)
    site = get_site(session, actor, site_id)
    if site.county_id != unit.id:
        raise PermissionDenied("该考点由所属县区管理，您只能查看")
    return site


def _own_room(session, actor, room_id):
    unit = _manager(actor)
    room = get_room(session, actor, room_id)
    if room.site.county_id != unit.id:
        raise PermissionDenied("该考场由所属县区管理，您只能查看")
    return room








def _seated_in(session, room_ids):
    if not room_ids:
        return 0
    return session.scalar(select(func.count()).select_from(Candidate).where(Candidate.room_id.in_(room_ids))) or 0


# ---------------------------------------------------------------- sites

def add_site(session, actor, exam, data):
    unit = _manager(actor)
    number = values.integer(data.get("number"), "考点号", "number", 1, 99)
    name = values.text(data.get("name"), "考点名称", "name", 100, required=True)
    address = values.text(data.get("address"), "考点地址", "address", 200)
    if session.scalar(select(ZkSite.id).where(ZkSite.exam_id == exam.id, ZkSite.county_id == unit.id,
                                              ZkSite.number == number)):
        raise DomainError(f"考点号 {number:02d} 已被使用", field="number")
    site = ZkSite(exam_id=exam.id, county_id=unit.id, county_path=unit.path, number=number, name=name,
                  address=address)
    try:
        with session.begin_nested():
            session.add(site)
            session.flush()
    except IntegrityError:
        raise DomainError(f"考点号 {number:02d} 刚刚已被他人使用，请刷新后重试", field="number")
    return site


def update_site(session, actor, site_id, data, expected_version=None):
    site = _own_site(session, actor, site_id)
    values.check_version(site, expected_version)
    if "number" in data:
        number = values.integer(data.get("number"), "考点号", "number", 1, 99)
        if number != site.number:
            if _seated_in(session, [r.id for r in site.rooms]):
                raise DomainError("该考点已编排考生（准考证号含考点号），不能修改考点号；请先清除编排", field="number")
            if session.scalar(select(ZkSite.id).where(ZkSite.exam_id == site.exam_id,
                                                      ZkSite.county_id == site.county_id,
                                                      ZkSite.number == number)):
                raise DomainError(f"考点号 {number:02d} 已被使用", field="number")
            site.number = number
    if "name" in data:
        site.name = values.text(data.get("name"), "考点名称", "name", 100, required=True)
    if "address" in data:
        site.address = values.text(data.get("address"), "考点地址", "address", 200)
    session.flush()
    return site


def delete_site(session, actor, site_id, expected_version=None):
    site = _own_site(session, actor, site_id)
    values.check_version(site, expected_version)
    seated = _seated_in(session, [r.id for r in site.rooms])
    if seated:
        raise DomainError(f"{site} 已编排 {seated} 名考生，不能删除；请先重新编排到其他考点")
    label = str(site)
    session.delete(site)
    session.flush()
    return label


# ---------------------------------------------------------------- rooms

def add_rooms(session, actor, site_id, count, capacity=None, location_prefix=None, first_location_no=None):
    """`count` rooms numbered on from the site's last; location = prefix + running number
    (e.g. 教学楼A + 101 → 教学楼A101) when a prefix is given."""
    site = _own_site(session, actor, site_id)
    count = values.integer(count, "考场数", "count", 1, MAX_ROOMS_AT_ONCE)
    size = site_exam_room_size(session, site) if capacity in (None, "") else \
        values.integer(capacity, "每考场人数", "capacity", 1, 60)
    prefix = str(location_prefix or "").strip()
    start_loc = 1 if first_location_no in (None, "") else values.integer(first_location_no, "起始房间号", "first_location_no",
                                                               0, 99999)
    last = session.scalar(select(func.max(ZkRoom.number)).where(ZkRoom.site_id == site.id)) or 0
    if last + count > MAX_ROOMS_PER_SITE:
        raise DomainError(f"每个考点最多 {MAX_ROOMS_PER_SITE} 个考场（已有到第 {last} 考场）", field="count")
    if len(prefix) + len(str(start_loc + count)) > 100:
        raise DomainError("考场位置不能超过 100 个字", field="location_prefix")
    rooms = [ZkRoom(site_id=site.id, number=last + i + 1, capacity=size,
                    location=f"{prefix}{start_loc + i}" if prefix else None) for i in range(count)]
    try:
        with session.begin_nested():
            session.add_all(rooms)
            session.flush()
    except IntegrityError:
        raise DomainError("有其他人正在为该考点增加考场，请刷新后重试")
    session.expire(site, ["rooms"])
    return rooms


def site_exam_room_size(session, site):
    return exams.require_exam(session, site.exam_id).room_size


def update_room(session, actor, room_id, data):
    room = _own_room(session, actor, room_id)
    if "capacity" in data:
        capacity = values.integer(data.get("capacity"), "考场容量", "capacity", 1, 60)
        top, seated = session.execute(select(func.max(Candidate.seat_no), func.count())
                                      .where(Candidate.room_id == room.id)).one()
        if top and capacity < top:
            raise DomainError(f"{room.site}{room} 已编排 {seated} 名考生（座位号到 {top}），容量不能小于 {top}",
                              field="capacity")
        room.capacity = capacity
    if "location" in data:
        room.location = values.text(data.get("location"), "考场位置", "location", 100)
    session.flush()
    return room


def delete_room(session, actor, room_id):
    room = _own_room(session, actor, room_id)
    seated = _seated_in(session, [room.id])
    if seated:
        raise DomainError(f"{room.site}{room} 已编排 {seated} 名考生，不能删除")
    label = f"{room.site}{room}"
    session.delete(room)
    session.flush()
    return label


# ---------------------------------------------------------------- reading

def managed_units(session, actor):
    """The units whose sites the actor sees: its own (county or city) or those below it."""
    unit = getattr(actor, "org_unit", None)
    if unit is None:
        return []
    if unit.kind == OrgKind.COUNTY:
        return [unit]
    if unit.kind == OrgKind.SCHOOL:
        return []
    stmt = select(OrgUnit).where(OrgUnit.kind.in_([OrgKind.COUNTY, OrgKind.CITY]), OrgUnit.active.is_(True),
                                 scope.clause(actor, OrgUnit)).order_by(OrgUnit.path)
    return list(session.scalars(stmt))


def get_unit(session, actor, unit_id):
    """A county (or city) in the actor's scope, by id; default the actor's own."""
    if unit_id in (None, ""):
        unit = getattr(actor, "org_unit", None)
        if unit is None or unit.kind not in (OrgKind.COUNTY, OrgKind.CITY):
            return None
        return unit
    unit = session.get(OrgUnit, _id(unit_id))
    if unit is None or unit.kind not in (OrgKind.COUNTY, OrgKind.CITY) or not scope.can_see_unit(actor, unit):
        raise NotFound("县区不存在或不在您的管辖范围内")
    return unit


def _to_seat(exam, county_id, only_approved=False):
    where = [Candidate.exam_id == exam.id, Candidate.county_id == county_id]
    if only_approved:
        where.append(Candidate.qual_state == QualState.APPROVED)
    else:
        where.append(Candidate.qual_state != QualState.REJECTED)
    return where


def county_summary(session, actor, exam, unit):
    """Sites with their rooms and seats, seated counts, and the candidates to seat."""
    sites = session.scalars(select(ZkSite).where(ZkSite.exam_id == exam.id, ZkSite.county_id == unit.id,
                                                 scope.clause(actor, ZkSite)).order_by(ZkSite.number)).all()
    seated = dict(session.execute(
        select(Candidate.room_id, func.count()).join(ZkRoom, ZkRoom.id == Candidate.room_id)
        .join(ZkSite, ZkSite.id == ZkRoom.site_id)
        .where(ZkSite.exam_id == exam.id, ZkSite.county_id == unit.id).group_by(Candidate.room_id)).all())
    rows = []
    for site in sites:
        rooms = [{"room": r, "seated": seated.get(r.id, 0)} for r in site.rooms]
        rows.append({"site": site, "rooms": rooms, "room_count": len(rooms),
                     "seats": sum(r.capacity for r in site.rooms), "seated": sum(x["seated"] for x in rooms)})
    candidates = session.scalar(select(func.count()).select_from(Candidate)
                                .where(*_to_seat(exam, unit.id))) or 0
    registered = session.scalar(select(func.count()).select_from(Candidate)
                                .where(Candidate.exam_id == exam.id, Candidate.county_id == unit.id)) or 0
    seats = sum(r["seats"] for r in rows)
    return {"unit": unit, "sites": rows, "seats": seats, "rooms": sum(r["room_count"] for r in rows),
            "candidates": candidates, "registered": registered, "seated": sum(r["seated"] for r in rows),
            "short": max(0, candidates - seats)}


def overview(session, actor, exam):
    """Per county (or city) in the actor's scope: sites, rooms, seats, candidates to seat, seated."""
    units = managed_units(session, actor)
    ids = [u.id for u in units]
    if not ids:
        return []
    rooms = {cid: (s, r, c) for cid, s, r, c in session.execute(
        select(ZkSite.county_id, func.count(func.distinct(ZkSite.id)), func.count(ZkRoom.id),
               func.coalesce(func.sum(ZkRoom.capacity), 0))
        .outerjoin(ZkRoom, ZkRoom.site_id == ZkSite.id)
        .where(ZkSite.exam_id == exam.id, ZkSite.county_id.in_(ids)).group_by(ZkSite.county_id)).all()}
    counts = {cid: (n, seated) for cid, n, seated in session.execute(
        select(Candidate.county_id, func.count(), func.count(Candidate.room_id))
        .where(Candidate.exam_id == exam.id, Candidate.county_id.in_(ids),
               Candidate.qual_state != QualState.REJECTED).group_by(Candidate.county_id)).all()}
    out = []
    for unit in units:
        sites, room_count, seats = rooms.get(unit.id, (0, 0, 0))
        candidates, seated = counts.get(unit.id, (0, 0))
        if unit.kind == OrgKind.CITY and not (sites or candidates):
            continue  # a city without 市直 candidates has no 考务 of its own
        out.append({"unit": unit, "sites": sites, "rooms": room_count, "seats": int(seats),
                    "candidates": candidates, "seated": seated, "short": max(0, candidates - int(seats))})
    return out


def last_seating(session, unit):
    """The last seating run of the unit, from the audit trail: {at, actor, reason, seed, count}."""
    row = session.scalars(select(AuditLog).where(AuditLog.entity == "zk_candidate", AuditLog.action == "bulk",
                                                 AuditLog.org_path == unit.path,
                                                 AuditLog.reason.startswith(SEATING_REASON))
                          .order_by(AuditLog.id.desc()).limit(1)).first()
    if row is None:
        return None
    seed = None
    if "随机种子 " in (row.reason or ""):
        digits = row.reason.split("随机种子 ", 1)[1].split("）", 1)[0]
        seed = int(digits) if digits.isdigit() else None
    return {"at": row.created_at, "actor": row.actor_name, "reason": row.reason, "seed": seed,
            "count": int(row.new_value) if (row.new_value or "").isdigit() else None}


def room_mix(session, actor, exam, unit):
    """Per room: seated count and candidates per school (the spread to check after a run)."""
    rows = session.execute(
        select(ZkSite.number, ZkRoom.id, ZkRoom.number, ZkRoom.capacity, Candidate.school_id, func.count())
        .join(ZkRoom, ZkRoom.site_id == ZkSite.id)
        .join(Candidate, Candidate.room_id == ZkRoom.id)
        .where(ZkSite.exam_id == exam.id, ZkSite.county_id == unit.id, scope.clause(actor, ZkSite))
        .group_by(ZkSite.number, ZkRoom.id, ZkRoom.number, ZkRoom.capacity, Candidate.school_id)
        .order_by(ZkSite.number, ZkRoom.number)).all()
    school_ids = sorted({r[4] for r in rows})
    names = dict(session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(school_ids))).all()) \
        if school_ids else {}
    rooms = {}
    for site_no, room_id, room_no, cap, school_id, n in rows:
        entry = rooms.setdefault(room_id, {"site": site_no, "room": room_no, "capacity": cap, "count": 0,
                                           "schools": {}})
        entry["count"] += n
        entry["schools"][names.get(school_id, str(school_id))] = n
    return list(rooms.values())


# ---------------------------------------------------------------- seating

def parse_seed(seed):
    if seed in (None, ""):
        return None
    text_ = str(seed).strip()
    if not text_.isdigit() or len(text_) > 9:
        raise DomainError(f"随机种子须为 0 至 {MAX_SEED} 之间的整数", field="seed")
    return int(text_)


def new_seed():
    return 100000 + secrets.randbelow(900000)  # six digits: easy to note down and type again


def plan_seats(rows, rooms, seed):
    """rows: (candidate_id, school_id); rooms: (room_id, capacity) in site/room order.
    Returns [(candidate_id, room_index, seat_no)] with same-school candidates evenly spread."""
    rng = random.Random(seed)
    by_school = {}
    for cid, school_id in sorted(rows):
        by_school.setdefault(school_id, []).append(cid)
    keyed = []
    for school_id in sorted(by_school):
        ids = by_school[school_id]
        rng.shuffle(ids)
        n, offset = len(ids), rng.random()
        keyed.extend(((k + offset) / n, rng.random(), cid) for k, cid in enumerate(ids))
    keyed.sort()
    out, it = [], iter(keyed)
    for index, (_room_id, capacity) in enumerate(rooms):
        for seat in range(1, capacity + 1):
            item = next(it, None)
            if item is None:
                return out
            out.append((item[2], index, seat))
    return out


def _number_maker(exam, county_code):
    """exam_no for (site, room, seat): the pattern filled once per room, then only the seat."""
    yy = str(exam.year)[-2:]
    width = max([int(m.group(2) or 0) for m in exams._TOKEN.finditer(exam.exam_no_pattern)
                 if m.group(1) == "seat"] or [0])
    marker = "\x00" * (width + 1)   # longer than the width: format_number leaves it unpadded
    cache = {}

    def make(site_no, room_no, seat):
        key = (site_no, room_no)
        fill = cache.get(key)
        if fill is None:
            head = exams.format_number(exam.exam_no_pattern, year=exam.year, yy=yy, county=county_code,
                                       site=site_no, room=room_no, seat=marker)
            before, _, after = head.partition(marker)
            fill = cache[key] = (before, after)
        before, after = fill
        return f"{before}{str(seat).zfill(width)}{after}"
    return make


def _check_reseat(session, exam, unit, today=None):
    today = today or clock.today()
    has_scores = session.scalar(select(ZkScore.id).join(Candidate, Candidate.id == ZkScore.candidate_id)
                                .where(Candidate.exam_id == exam.id, Candidate.county_id == unit.id).limit(1))
    if has_scores:
        raise DomainError("本县区已有考试成绩，不能再编排考场")
    dates = sorted(str(r.get("date") or "") for r in exams.timetable_rows(exam))
    if dates and len(dates[0]) == 10:
        try:
            first = datetime.date.fromisoformat(dates[0])
        except ValueError:
            first = None
        if first is not None and today >= first:
            raise DomainError(f"考试已于 {first:%Y-%m-%d} 开始，不能再编排考场")


def _clear(session, ids):
    """Empty the seats of these candidates (before a new run: the seat and 准考证号 constraints are
    checked row by row, so the old seats go first)."""
    if not ids:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("UPDATE zk_candidate SET room_id = NULL, seat_no = NULL, exam_no = NULL, "
                             "version = version + 1 WHERE id = ANY(CAST(:ids AS integer[]))"), {"ids": ids})
    else:
        session.execute(text("UPDATE zk_candidate SET room_id = NULL, seat_no = NULL, exam_no = NULL, "
                             "version = version + 1 WHERE id = :id"), [{"id": i} for i in ids])
    return len(ids)


def assign_seats(session, actor, exam, county_id=None, seed=None, only_approved=False, today=None):
    """Seat the county's candidates (see the module's docstring). Returns {seed, count, rooms, …}."""
    unit = _manager(actor)
    if county_id not in (None, "") and _id(county_id) != unit.id:
        raise NotFound("县区不存在或不在您的管辖范围内")
    seed_value = parse_seed(seed)
    seed_value = new_seed() if seed_value is None else seed_value
    _check_reseat(session, exam, unit, today)
    # One run per county at a time: lock its sites (PostgreSQL; SQLite serialises writers anyway).
    session.execute(select(ZkSite.id).where(ZkSite.exam_id == exam.id, ZkSite.county_id == unit.id)
                    .with_for_update())
    # Every candidate of the county through its (exam, county) index: who to seat, who holds a seat now
    # (a filter on room_id here would lead PostgreSQL to scan the province's seated rows).
    everyone = session.execute(select(Candidate.id, Candidate.school_id, Candidate.qual_state, Candidate.room_id,
                                      Candidate.exam_no)
                               .where(Candidate.exam_id == exam.id, Candidate.county_id == unit.id)).all()
    wanted = (lambda q: q == QualState.APPROVED) if only_approved else (lambda q: q != QualState.REJECTED)
    rows = [(r.id, r.school_id) for r in everyone if wanted(r.qual_state)]
    holding = sorted(r.id for r in everyone if r.room_id is not None or r.exam_no is not None)
    if not rows:
        raise DomainError("本县区没有需要编排考场的考生" + ("（资格审核通过的）" if only_approved else ""))
    rooms = session.execute(select(ZkRoom.id, ZkRoom.capacity, ZkSite.number, ZkRoom.number)
                            .join(ZkSite, ZkSite.id == ZkRoom.site_id)
                            .where(ZkSite.exam_id == exam.id, ZkSite.county_id == unit.id)
                            .order_by(ZkSite.number, ZkRoom.number)).all()
    seats = sum(r[1] for r in rooms)
    if seats < len(rows):
        raise DomainError(f"考场座位不足：需要 {len(rows)} 个，现有 {seats} 个，请增加考场")

    plan = plan_seats(rows, [(r[0], r[1]) for r in rooms], seed_value)
    make = _number_maker(exam, unit.region_code)
    ids, room_ids, seat_nos, numbers = [], [], [], []
    for cid, index, seat in sorted(plan):   # by id: the UPDATE walks the table and its key in order
        room = rooms[index]
        ids.append(cid)
        room_ids.append(room[0])
        seat_nos.append(seat)
        numbers.append(make(room[2], room[3], seat))
    if max(len(n) for n in numbers) > 24:
        raise DomainError("准考证号超过 24 位，请省级调整准考证号规则")

    cleared = _clear(session, holding)
    now = clock.now()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(
            "UPDATE zk_candidate AS c SET room_id = v.room_id, seat_no = v.seat_no, exam_no = v.exam_no, "
            "version = c.version + 1, updated_at = :now "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:rooms AS integer[]), CAST(:seats AS integer[]), "
            "CAST(:nos AS varchar[])) AS v(id, room_id, seat_no, exam_no) WHERE c.id = v.id"),
            {"ids": ids, "rooms": room_ids, "seats": seat_nos, "nos": numbers, "now": now})
    else:
        session.execute(
            text("UPDATE zk_candidate SET room_id = :room, seat_no = :seat, exam_no = :no, version = version + 1, "
                 "updated_at = :now WHERE id = :id"),
            [{"id": i, "room": r, "seat": s, "no": n, "now": now}
             for i, r, s, n in zip(ids, room_ids, seat_nos, numbers)])
    used = len(set(room_ids))
    audit.record_bulk(session, "zk_candidate", len(ids), unit.path,
                      f"{SEATING_REASON}（随机种子 {seed_value}）：{len(ids)} 名考生，{used} 个考场"
                      + ("，仅资格审核通过的考生" if only_approved else "")
                      + (f"；替换此前的编排（{cleared} 人）" if cleared else ""), actor)
    session.flush()
    return {"seed": seed_value, "count": len(ids), "rooms": used, "seats": seats, "replaced": cleared,
            "unit": unit}


def spread_ok(mix):
    """Check used by tests and the screen: in each room no school has more than ceil(its share) + 1,
    its share being the room's size × the school's part of the county's seated candidates."""
    totals, grand = {}, 0
    for room in mix:
        for school, n in room["schools"].items():
            totals[school] = totals.get(school, 0) + n
            grand += n
    for room in mix:
        for school, n in room["schools"].items():
            if n > math.ceil(room["count"] * totals[school] / grand) + 1:
                return False
    return True
