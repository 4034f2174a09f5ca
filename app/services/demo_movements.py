"""Demo 学籍异动 for the first start: the province's summer pause of transfers and a few requests in
flight, so that every level's 审批待办 has something to show. Made through the services (the same
rules as any officer); quietly skipped where the demo lacks the students or schools it needs."""
import datetime

from sqlalchemy import select

from app.models.account import Account
from app.models.org import OrgKind, OrgUnit
from app.models.student import Student, StudentStatus
from app.services import calendars, requests, status_changes, transfers
from app.services.errors import DomainError


def _account(session, username):
    return session.scalar(select(Account).where(Account.username == username))


def _next_summer(today):
    """The coming 7月21日–8月14日 (the national pause before promotion) that has not ended yet."""
    year = today.year if today <= datetime.date(today.year, 8, 14) else today.year + 1
    return datetime.date(year, 7, 21), datetime.date(year, 8, 14)


def _students(session, school, n):
    return session.scalars(select(Student).where(Student.school_id == school.id,
                                                 Student.status == StudentStatus.IN_SCHOOL)
                           .order_by(Student.id).limit(n)).all()


def seed(session, province_code="360000", today=None):
    """Returns the number of requests started."""
    today = today or datetime.date.today()
    province = session.scalar(select(OrgUnit).where(OrgUnit.path == f"/{province_code}/"))
    sheng = _account(session, "sheng_admin")
    if province is None or sheng is None:
        return 0
    first, last = _next_summer(today)
    calendars.add_window(session, sheng, {"process": "transfer", "mode": "closed", "starts_on": first,
                                          "ends_on": last, "title": "暂停转学发起业务（全国统一升级）"})
    new_year = datetime.date(today.year + 1, 1, 1)
    calendars.add_window(session, sheng, {"process": calendars.ALL_PROCESSES, "mode": "holiday",
                                          "starts_on": new_year, "ends_on": new_year, "title": "元旦"})
    session.commit()
    city = session.scalars(select(OrgUnit).where(OrgUnit.parent_id == province.id).order_by(OrgUnit.path)).first()
    counties = session.scalars(select(OrgUnit).where(OrgUnit.parent_id == city.id).order_by(OrgUnit.path)
                               .limit(2)).all() if city else []
    if len(counties) < 2:
        return 0
    school_a, school_b = (session.scalars(select(OrgUnit).where(OrgUnit.parent_id == c.id,
                                                                   OrgUnit.kind == OrgKind.SCHOOL)
                                          .order_by(OrgUnit.path)).first() for c in counties)
    if school_a is None or school_b is None:
        return 0
    movers = _students(session, school_a, 4)
    if len(movers) < 4:
        return 0
    a, b = _account(session, f"school_{school_a.school_code}"), _account(session, f"school_{school_b.school_code}")
    county_a = _account(session, f"county_{counties[0].region_code}")
    started = 0
    try:
        # 1. waiting for the sending school's confirmation (学校确认)
        transfers.start_transfer_in(session, b, name=movers[0].name, number=movers[0].xueji_no,
                                    grade=movers[0].grade, reason_code="01")
        # 2. confirmed and approved by the sending county: waiting at the receiving county
        req = transfers.start_transfer_in(session, b, name=movers[1].name, number=movers[1].xueji_no,
                                          grade=movers[1].grade, reason_code="03")
        requests.approve(session, a, req.id, "同意转出")
        requests.approve(session, county_a, req.id, "情况属实，同意")
        # 3. the sending school refused: in arbitration at the city
        req = transfers.start_transfer_in(session, b, name=movers[2].name, number=movers[2].xueji_no,
                                          grade=movers[2].grade, reason_code="05")
        requests.reject(session, a, req.id, "学生仍在本校正常就读，家长未提出转学")
        # 4. a suspension waiting at the county
        status_changes.request_suspension(session, a, movers[3].id, reason_code="01", starts_on=today,
                                          ends_on=today + datetime.timedelta(days=180), note="住院治疗")
        started = 4
        session.commit()
    except DomainError:  # e.g. a stricter calendar: the demo goes on without them
        session.rollback()
    return started


def seed_problems(session, province_code="360000"):
    """A few records 'from the previous system' (origin legacy) that break the rules, then one
    detection run: the 问题学籍 screens of every level have something to show. Returns the number
    of problems found."""
    from sqlalchemy import update

    from app.models.student import ORIGIN_LEGACY
    from app.services import problems
    sheng = _account(session, "sheng_admin")
    city = session.scalars(select(OrgUnit).where(OrgUnit.path.like(f"/{province_code}/%"),
                                                 OrgUnit.kind == OrgKind.CITY).order_by(OrgUnit.path)).first()
    if sheng is None or city is None:
        return 0
    schools = session.scalars(select(OrgUnit).where(OrgUnit.path.startswith(city.path), OrgUnit.kind == OrgKind.SCHOOL)
                              .order_by(OrgUnit.path)).all()
    counties = {}
    for s in schools:  # the first school of the first two counties
        counties.setdefault(s.parent_id, s)
    first_schools = list(counties.values())[:2]
    if len(first_schools) < 2:
        return 0
    a_students, b_students = (_students(session, s, 12)[6:] for s in first_schools)
    if len(a_students) < 3 or len(b_students) < 3:
        return 0
    # the same ID number at two schools of two counties (a 多校注册 of the old system)
    session.execute(update(Student).where(Student.id == b_students[0].id)
                    .values(origin=ORIGIN_LEGACY, id_number=a_students[0].id_number,
                            birth_date=a_students[0].birth_date, gender=a_students[0].gender))
    # a wrong check character
    wrong = a_students[1].id_number[:17] + ("0" if a_students[1].id_number[17] != "0" else "1")
    session.execute(update(Student).where(Student.id == a_students[1].id)
                    .values(origin=ORIGIN_LEGACY, id_number=wrong))
    # no ID number, same name, sex and birth date at two schools
    twin = b_students[2]
    for s in (a_students[2], twin):
        session.execute(update(Student).where(Student.id == s.id).values(
            origin=ORIGIN_LEGACY, id_type="Z", id_number=None, name=twin.name, gender=twin.gender,
            birth_date=twin.birth_date))
    session.commit()
    counts = problems.detect(session, sheng)
    session.commit()
    return counts["found"]
