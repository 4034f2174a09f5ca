"""考务: sites and rooms with their capacity rules, the seating (fills rooms, one candidate per seat,
reproducible with the seed, same-school candidates spread, insufficient seats refused with nothing
written, replacing a previous run, refused once scores exist), scoping between counties, and the
printed forms (准考证, 报名序号证, 门贴, 签到表) checked as text and as rendered pages."""
import datetime
import io
import math
import os
import subprocess
import tempfile
import time

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AuditLog, Candidate
from app.models.zhongkao import QualState, ZkPhoto, ZkRoom, ZkScore, ZkSite
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.zhongkao import exam_admin, tickets
from tests.integration.zk_support import (EAST, JUNIOR, WEST, acc, ctx, make_exam, populate,  # noqa: F401
                                          register_county, school)

pytestmark = pytest.mark.usefixtures("ctx")

EAST_OFFICER, WEST_OFFICER = f"county_{EAST}", f"county_{WEST}"
PRIMARY = {EAST: "3601020001", WEST: "3601030001"}


def site_with_rooms(exam, officer=EAST_OFFICER, number=1, rooms=3, capacity=None, name="南昌一中考点"):
    site = exam_admin.add_site(db.session, acc(officer), exam, {"number": number, "name": name,
                                                                "address": "南昌市东湖区八一大道 1 号"})
    exam_admin.add_rooms(db.session, acc(officer), site.id, rooms, capacity, "教学楼A", 101)
    db.session.commit()
    return site


def two_schools(county=EAST, every=3):
    """Move every third candidate of the county to its other school, so seating has schools to mix."""
    other = school(PRIMARY[county])
    ids = db.session.scalars(select(Candidate.id).where(Candidate.school_path.contains(f"/{county}/"))
                             .order_by(Candidate.id)).all()
    moved = ids[::every]
    db.session.execute(update(Candidate).where(Candidate.id.in_(moved))
                       .values(school_id=other.id, school_path=other.path))
    db.session.commit()
    return len(ids)


def seating(county=EAST):
    return db.session.execute(select(Candidate.id, Candidate.room_id, Candidate.seat_no, Candidate.exam_no)
                              .where(Candidate.school_path.contains(f"/{county}/"))
                              .order_by(Candidate.id)).all()


@pytest.fixture
def zk():
    populate(900)
    exam = make_exam()
    register_county(exam, EAST)
    register_county(exam, WEST)
    return exam


# ---------------------------------------------------------------- sites and rooms

def test_sites_and_rooms_numbers_capacity_and_who_may_manage(zk):
    exam = zk
    site = site_with_rooms(exam, rooms=3)
    rooms = db.session.scalars(select(ZkRoom).where(ZkRoom.site_id == site.id).order_by(ZkRoom.number)).all()
    assert [(r.number, r.capacity, r.location) for r in rooms] == \
        [(1, 30, "教学楼A101"), (2, 30, "教学楼A102"), (3, 30, "教学楼A103")]
    # more rooms continue the numbering, with their own capacity
    more = exam_admin.add_rooms(db.session, acc(EAST_OFFICER), site.id, 2, 25)
    db.session.commit()
    assert [(r.number, r.capacity, r.location) for r in more] == [(4, 25, None), (5, 25, None)]

    with pytest.raises(DomainError, match="考点号 01 已被使用"):
        exam_admin.add_site(db.session, acc(EAST_OFFICER), exam, {"number": 1, "name": "重复"})
    db.session.rollback()
    for bad, message in (({"number": 0, "name": "甲"}, "1–99"), ({"number": 100, "name": "甲"}, "1–99"),
                         ({"number": "x", "name": "甲"}, "整数"), ({"number": 2, "name": " "}, "请填写考点名称")):
        with pytest.raises(DomainError, match=message):
            exam_admin.add_site(db.session, acc(EAST_OFFICER), exam, bad)
        db.session.rollback()
    # the same number in another county is another site
    exam_admin.add_site(db.session, acc(WEST_OFFICER), exam, {"number": 1, "name": "西湖考点"})
    db.session.commit()
    for bad in (0, 61, "abc"):
        with pytest.raises(DomainError, match="考场容量"):
            exam_admin.update_room(db.session, acc(EAST_OFFICER), rooms[0].id, {"capacity": bad})
        db.session.rollback()
    with pytest.raises(DomainError, match="考场数"):
        exam_admin.add_rooms(db.session, acc(EAST_OFFICER), site.id, 0)
    db.session.rollback()

    # the province and schools do not manage sites; the city manages only its own (for 市直 schools)
    # and reads the counties'
    for username in ("sheng_admin", "school_3601020002"):
        with pytest.raises(PermissionDenied):
            exam_admin.add_site(db.session, acc(username), exam, {"number": 9, "name": "甲"})
        db.session.rollback()
    with pytest.raises(PermissionDenied):
        exam_admin.update_room(db.session, acc("city_360100"), rooms[0].id, {"capacity": 20})
    db.session.rollback()
    summary = exam_admin.county_summary(db.session, acc("city_360100"), exam, site.county)
    assert summary["rooms"] == 5 and summary["seats"] == 3 * 30 + 2 * 25
    assert db.session.scalar(select(func.count()).select_from(ZkRoom)) == 5

    # deleting an empty room and site works
    exam_admin.delete_room(db.session, acc(EAST_OFFICER), more[1].id)
    db.session.commit()
    assert db.session.get(ZkRoom, more[1].id) is None


def test_west_officer_cannot_touch_east_sites(zk):
    exam = zk
    site = site_with_rooms(exam, rooms=1)
    room_id = site.rooms[0].id
    west = acc(WEST_OFFICER)
    for call in (lambda: exam_admin.update_site(db.session, west, site.id, {"name": "改名"}),
                 lambda: exam_admin.delete_site(db.session, west, site.id),
                 lambda: exam_admin.add_rooms(db.session, west, site.id, 1),
                 lambda: exam_admin.update_room(db.session, west, room_id, {"capacity": 10}),
                 lambda: exam_admin.delete_room(db.session, west, room_id),
                 lambda: exam_admin.get_site(db.session, west, site.id),
                 lambda: tickets.door_lists(db.session, west, exam, site.id),
                 lambda: tickets.admission_tickets(db.session, west, exam, school(JUNIOR[EAST]).id),
                 lambda: exam_admin.assign_seats(db.session, west, exam, county_id=site.county_id)):
        with pytest.raises(NotFound):
            call()
        db.session.rollback()
    db.session.expire_all()
    assert db.session.get(ZkSite, site.id).name == "南昌一中考点"
    assert db.session.get(ZkRoom, room_id).capacity == 30
    assert exam_admin.county_summary(db.session, west, exam, west.org_unit)["sites"] == []


# ---------------------------------------------------------------- seating

def test_seating_fills_rooms_one_per_seat_and_numbers_by_the_pattern(zk):
    exam = zk
    n = two_schools()
    assert n > 30, n
    cap = 12
    rooms = math.ceil(n / cap) + 1   # one room to spare: rooms fill in order, the last stays empty
    site_with_rooms(exam, rooms=rooms, capacity=cap)
    result = exam_admin.assign_seats(db.session, acc(EAST_OFFICER), exam, seed=4242)
    db.session.commit()
    assert result["seed"] == 4242 and result["count"] == n and result["rooms"] == math.ceil(n / cap)
    rows = seating()
    assert all(r.room_id and r.seat_no and r.exam_no for r in rows)
    assert len({(r.room_id, r.seat_no) for r in rows}) == n         # no two candidates in one seat
    assert len({r.exam_no for r in rows}) == n
    by_room = {}
    for r in rows:
        by_room.setdefault(r.room_id, []).append(r.seat_no)
    room_numbers = dict(db.session.execute(select(ZkRoom.id, ZkRoom.number)).all())
    ordered = sorted(by_room, key=room_numbers.get)
    assert [room_numbers[r] for r in ordered] == list(range(1, len(ordered) + 1))
    for room_id in ordered[:-1]:
        assert sorted(by_room[room_id]) == list(range(1, cap + 1))   # full rooms, seats 1..capacity
    assert sorted(by_room[ordered[-1]]) == list(range(1, n - cap * (len(ordered) - 1) + 1))
    # 准考证号 {yy}{county}{site:02d}{room:03d}{seat:02d}
    one = db.session.scalars(select(Candidate).where(Candidate.id == rows[0].id)).one()
    assert one.exam_no == f"27{EAST}01{one.room.number:03d}{one.seat_no:02d}"
    # the West county is untouched; the seed is in the audit trail and read back for the screen
    assert all(r.room_id is None for r in seating(WEST))
    last = exam_admin.last_seating(db.session, acc(EAST_OFFICER).org_unit)
    assert last["seed"] == 4242 and last["count"] == n
    assert db.session.scalar(select(func.count()).select_from(AuditLog)
                             .where(AuditLog.reason.like("考场编排（随机种子 4242）%"))) == 1


def test_same_seed_same_seating_other_seed_other_and_schools_spread(zk):
    exam = zk
    n = two_schools()
    site_with_rooms(exam, rooms=math.ceil(n / 10), capacity=10)
    officer = acc(EAST_OFFICER)
    exam_admin.assign_seats(db.session, officer, exam, seed=7)
    db.session.commit()
    first = seating()
    mix = exam_admin.room_mix(db.session, officer, exam, officer.org_unit)
    assert sum(r["count"] for r in mix) == n
    assert all(len(r["schools"]) == 2 for r in mix)                  # every room mixes both schools
    assert exam_admin.spread_ok(mix)
    totals = {}
    for r in mix:
        for s, k in r["schools"].items():
            totals[s] = totals.get(s, 0) + k
    for r in mix:                                                     # ceil(share) + 1 at most
        for s, k in r["schools"].items():
            assert k <= math.ceil(r["count"] * totals[s] / n) + 1

    result = exam_admin.assign_seats(db.session, officer, exam, seed=7)  # re-run replaces, same seed
    db.session.commit()
    assert result["replaced"] == n
    assert seating() == first
    exam_admin.assign_seats(db.session, officer, exam, seed=8)
    db.session.commit()
    second = seating()
    assert second != first
    assert len({(r.room_id, r.seat_no) for r in second}) == n

    # consecutive seats mostly change school (the interleaving), far from what a school-sorted list gives
    rows = db.session.execute(select(Candidate.room_id, Candidate.seat_no, Candidate.school_id)
                              .where(Candidate.room_id.is_not(None))
                              .order_by(Candidate.room_id, Candidate.seat_no)).all()
    same = sum(1 for a, b in zip(rows, rows[1:]) if a.room_id == b.room_id and a.school_id == b.school_id)
    assert same < n / 2


def test_plan_spreads_many_schools():
    rows = [(i, 1 + (i % 7 if i % 3 else 0)) for i in range(1, 701)]  # 7 schools of unequal size
    rooms = [(r, 30) for r in range(1, 25)]
    plan = exam_admin.plan_seats(rows, rooms, 99)
    assert plan == exam_admin.plan_seats(list(reversed(rows)), rooms, 99)   # input order does not matter
    school_of = dict(rows)
    counts, per_school = {}, {}
    for cid, room, _seat in plan:
        counts.setdefault(room, {}).setdefault(school_of[cid], 0)
        counts[room][school_of[cid]] += 1
        per_school[school_of[cid]] = per_school.get(school_of[cid], 0) + 1
    for room, schools in counts.items():
        size = sum(schools.values())
        for s, k in schools.items():
            assert k <= math.ceil(size * per_school[s] / len(rows)) + 1, (room, s, k)


def test_insufficient_seats_refused_and_nothing_written(zk):
    exam = zk
    n = len(seating())
    site_with_rooms(exam, rooms=1, capacity=10)
    before = db.session.scalar(select(func.count()).select_from(AuditLog))
    with pytest.raises(DomainError, match=f"考场座位不足：需要 {n} 个，现有 10 个，请增加考场"):
        exam_admin.assign_seats(db.session, acc(EAST_OFFICER), exam, seed=1)
    db.session.rollback()
    assert all(r.room_id is None and r.exam_no is None for r in seating())
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == before
    # a previous seating also stays as it was when a re-run is refused
    exam_admin.add_rooms(db.session, acc(EAST_OFFICER), db.session.scalar(select(ZkSite.id)), math.ceil(n / 30), 30)
    db.session.commit()
    exam_admin.assign_seats(db.session, acc(EAST_OFFICER), exam, seed=5)
    db.session.commit()
    seated = seating()
    with pytest.raises(DomainError, match="随机种子"):
        exam_admin.assign_seats(db.session, acc(EAST_OFFICER), exam, seed="abc")
    db.session.rollback()
    assert seating() == seated


def test_capacity_and_deletes_refused_once_seated_and_reseat_refused_after_scores(zk):
    exam = zk
    n = len(seating())
    site = site_with_rooms(exam, rooms=math.ceil(n / 30))
    officer = acc(EAST_OFFICER)
    exam_admin.assign_seats(db.session, officer, exam, seed=3)
    db.session.commit()
    first_room = db.session.scalars(select(ZkRoom).where(ZkRoom.site_id == site.id, ZkRoom.number == 1)).one()
    with pytest.raises(DomainError, match="容量不能小于 30"):
        exam_admin.update_room(db.session, officer, first_room.id, {"capacity": 29})
    db.session.rollback()
    exam_admin.update_room(db.session, officer, first_room.id, {"capacity": 32})  # more is fine
    db.session.commit()
    with pytest.raises(DomainError, match="不能删除"):
        exam_admin.delete_room(db.session, officer, first_room.id)
    db.session.rollback()
    with pytest.raises(DomainError, match="不能删除"):
        exam_admin.delete_site(db.session, officer, site.id)
    db.session.rollback()
    with pytest.raises(DomainError, match="不能修改考点号"):
        exam_admin.update_site(db.session, officer, site.id, {"number": 5})
    db.session.rollback()
    assert db.session.get(ZkSite, site.id) is not None and db.session.get(ZkSite, site.id).number == 1

    # only approved candidates (the parameter): nobody approved yet
    with pytest.raises(DomainError, match="资格审核通过"):
        exam_admin.assign_seats(db.session, officer, exam, seed=3, only_approved=True)
    db.session.rollback()
    # rejected candidates are left out by default
    one = seating()[0].id
    db.session.execute(update(Candidate).where(Candidate.id == one).values(qual_state=QualState.REJECTED.value))
    db.session.commit()
    result = exam_admin.assign_seats(db.session, officer, exam, seed=3)
    db.session.commit()
    assert result["count"] == n - 1 and db.session.get(Candidate, one).room_id is None

    # after the exam's first day, or once scores exist, the seating stands
    with pytest.raises(DomainError, match="考试已于 2027-06-20 开始"):
        exam_admin.assign_seats(db.session, officer, exam, seed=4, today=datetime.date(2027, 6, 20))
    db.session.rollback()
    db.session.add(ZkScore(candidate_id=seating()[1].id, subject_id=exam.subjects[0].id, score=100))
    db.session.commit()
    before = seating()
    with pytest.raises(DomainError, match="已有考试成绩"):
        exam_admin.assign_seats(db.session, officer, exam, seed=4)
    db.session.rollback()
    assert seating() == before


# ---------------------------------------------------------------- printed forms

def pdf_text(data):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.pdf")
        with open(path, "wb") as f:
            f.write(data)
        out = subprocess.run(["pdftotext", "-layout", path, "-"], capture_output=True, check=True,
                             text=True).stdout
        return "".join(out.split())  # spacing depends on the layout: compare without it


def pdf_pages(data, out_dir, prefix):
    path = os.path.join(out_dir, prefix + ".pdf")
    with open(path, "wb") as f:
        f.write(data)
    subprocess.run(["pdftoppm", "-r", "50", "-png", path, os.path.join(out_dir, prefix)], check=True)
    return sorted(p for p in os.listdir(out_dir) if p.startswith(prefix) and p.endswith(".png"))


def photo_bytes():
    from PIL import Image
    img = Image.new("RGB", (358, 441), (200, 220, 255))
    for x in range(120, 240):
        for y in range(100, 260):
            img.putpixel((x, y), (80, 60, 50))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


def has_photo_colour(path):
    from PIL import Image
    img = Image.open(path).convert("RGB")
    return sum(1 for x in range(0, img.width, 2) for y in range(0, img.height, 2)
               if abs(img.getpixel((x, y))[0] - 200) < 20 and abs(img.getpixel((x, y))[1] - 220) < 20
               and img.getpixel((x, y))[2] > 235) > 20


def test_tickets_slips_door_lists_and_sign_in_sheets(zk, tmp_path):
    exam = zk
    n = len(seating())
    site = site_with_rooms(exam, rooms=math.ceil(n / 30))
    school_account = acc(f"school_{JUNIOR[EAST]}")
    with pytest.raises(DomainError, match="尚未编排考场"):
        tickets.admission_tickets(db.session, school_account, exam)
    exam_admin.assign_seats(db.session, acc(EAST_OFFICER), exam, seed=11)
    with_photo = seating()[0].id
    db.session.add(ZkPhoto(candidate_id=with_photo, data=photo_bytes(), width=358, height=441))
    db.session.add(ZkPhoto(candidate_id=seating()[1].id, data=b"not an image", width=1, height=1))
    db.session.commit()

    t = time.perf_counter()
    name, data = tickets.admission_tickets(db.session, school_account, exam)
    took = time.perf_counter() - t
    assert name.startswith("准考证_") and data[:5] == b"%PDF-"
    text = pdf_text(data)
    first = db.session.get(Candidate, with_photo)
    for expected in ("2027年初中学业水平考试准考证", "准考证号", "报名号", "考场号",
                     "座位号", "考点地址", "考试日程", "考生须知", "语文", first.exam_no, first.reg_no, first.name,
                     "南昌一中考点"):
        assert expected in text, expected
    assert text.count("年初中学业水平考试准考证") == n
    pages = pdf_pages(data, tmp_path, "ticket")
    assert len(pages) == math.ceil(n / 2)
    # the photo is on exactly one rendered page (the broken one prints as the empty 照片 box)
    assert sum(1 for p in pages if has_photo_colour(tmp_path / p)) == 1
    print(f"\n{n} tickets in {took:.2f} s; pages in {tmp_path}")

    _, slips = tickets.registration_slips(db.session, school_account, exam)
    text = pdf_text(slips)
    assert text.count("年中考报名序号证") == n and first.reg_no in text
    assert first.id_number[:6] + "********" + first.id_number[-4:] in text   # masked ID
    assert first.id_number not in text
    pdf_pages(slips, tmp_path, "slip")

    county = acc(EAST_OFFICER)
    _, doors = tickets.door_lists(db.session, county, exam, site.id)
    text = pdf_text(doors)
    assert "第001考场" in text and "第01考点" in text and first.exam_no in text and first.name in text
    assert text.count("考场") >= math.ceil(n / 30)
    pdf_pages(doors, tmp_path, "door")
    _, sheets = tickets.sign_in_sheets(db.session, county, exam, site.id)
    text = pdf_text(sheets)
    assert "考生签到表" in text and "考生签名" in text and "监考员签名" in text and first.exam_no in text
    pdf_pages(sheets, tmp_path, "sign")
    # the city prints a county's door lists; a school cannot see sites
    tickets.door_lists(db.session, acc("city_360100"), exam, site.id)
    with pytest.raises(NotFound):
        tickets.door_lists(db.session, school_account, exam, site.id)
    # a school prints only its own tickets
    with pytest.raises(NotFound):
        tickets.admission_tickets(db.session, acc(f"school_{JUNIOR[WEST]}"), exam, school(JUNIOR[EAST]).id)
    if os.environ.get("ZK_KEEP_PDF"):
        import shutil
        shutil.copytree(tmp_path, os.environ["ZK_KEEP_PDF"], dirs_exist_ok=True)
