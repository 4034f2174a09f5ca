"""The demo's 中考 (中招 part 1), for the first start: officers and one candidate can try it.

- The exam of the coming June (the year the current school year ends), set by the province with
  the default subjects and timetable; no registration window, so 报名 works whatever today is.
- Every county's graduating junior class registered from the registry (one click per county).
- In the first county: one exam site per junior school with enough rooms, and the seating done;
  one candidate whose account is activated with the demo password (the candidate's own act,
  printed with the demo accounts so the portal /portal can be tried).

Made through the services with the officers' own accounts; idempotent: a province that already has
an exam is left alone (returns None).
"""
import math

from sqlalchemy import func, select

from app.models.account import Account
from app.models.org import OrgKind, OrgUnit
from app.models.zhongkao import Candidate, ZkExam
from app.services import clock, grades
from app.services.context import acting_as
from app.services.demo import DEMO_PASSWORD
from app.services.errors import DomainError
from app.services.zhongkao import accounts, exam_admin, exams, registration


def _account(session, username):
    return session.scalar(select(Account).where(Account.username == username))


def exam_year(today=None):
    today = today or clock.today()
    return today.year + 1 if today.month >= 7 else today.year


def seed(session, province_code="360000"):
    """Returns {"exam", "registered", "candidate": (reg_no, password)} or None when already there."""
    if session.scalar(select(func.count()).select_from(ZkExam)):
        return None
    sheng = _account(session, "sheng_admin")
    if sheng is None:
        return None
    with acting_as(sheng, "演示数据：设置中考"):
        exam = exams.create_exam(session, sheng, {"year": exam_year()})
    session.commit()
    registered = 0
    counties = session.scalars(select(OrgUnit).where(OrgUnit.kind == OrgKind.COUNTY,
                                                     OrgUnit.path.startswith(f"/{province_code}/"))
                               .order_by(OrgUnit.path)).all()
    for county in counties:
        officer = _account(session, f"county_{county.region_code}")
        if officer is None:
            continue
        try:
            with acting_as(officer, "演示数据：中考报名"):
                registered += registration.register_graduating(session, officer, exam)["added"]
            session.commit()
        except DomainError:
            session.rollback()  # a county without junior schools
    first = next((c for c in counties if session.scalar(
        select(func.count()).select_from(Candidate).where(Candidate.county_id == c.id))), None)
    candidate_login = None
    if first is not None:
        officer = _account(session, f"county_{first.region_code}")
        with acting_as(officer, "演示数据：考点考场与编排"):
            _sites_and_seating(session, officer, exam, first)
        session.commit()
        candidate_login = _activated_candidate(session, exam, first)
    return {"exam": exam, "registered": registered, "candidate": candidate_login}


def _sites_and_seating(session, officer, exam, county):
    schools = session.scalars(select(OrgUnit).where(OrgUnit.parent_id == county.id, OrgUnit.kind == OrgKind.SCHOOL)
                              .order_by(OrgUnit.path)).all()
    juniors = [s for s in schools if grades.STAGE_JUNIOR in grades.stages_of(s)] or schools[:1]
    total = session.scalar(select(func.count()).select_from(Candidate).where(Candidate.county_id == county.id))
    rooms_needed = math.ceil(total / exam.room_size) + 1
    per_site = math.ceil(rooms_needed / len(juniors))
    for number, school in enumerate(juniors, start=1):
        site = exam_admin.add_site(session, officer, exam, {"number": number, "name": f"{school.name}考点",
                                                            "address": school.address or school.name})
        exam_admin.add_rooms(session, officer, site.id, per_site, location_prefix="教学楼", first_location_no=101)
    exam_admin.assign_seats(session, officer, exam, seed=20270620)


def _activated_candidate(session, exam, county):
    candidate = session.scalars(select(Candidate).where(Candidate.county_id == county.id,
                                                        Candidate.id_number.is_not(None))
                                .order_by(Candidate.seq)).first()
    if candidate is None:
        return None
    school_officer = _account(session, f"school_{candidate.school.school_code}")
    with acting_as(school_officer, "演示数据：发放激活码"):
        code = accounts.issue_activation_code(session, school_officer, candidate)
    session.commit()
    try:
        accounts.activate(session, candidate.reg_no, candidate.id_number, code, DEMO_PASSWORD, DEMO_PASSWORD)
        session.commit()
    except DomainError:
        session.rollback()  # the demo password happens to contain this candidate's birth date
        return None
    return candidate.reg_no, DEMO_PASSWORD


def describe(result):
    lines = [f"演示中考：{result['exam'].name}，已从学籍库报名应届毕业生 {result['registered']} 名"]
    if result.get("candidate"):
        reg_no, password = result["candidate"]
        lines.append(f"考生服务平台 /portal/：报名号 {reg_no}，密码 {password}（演示考生已自行激活）")
    return "\n".join(lines)
