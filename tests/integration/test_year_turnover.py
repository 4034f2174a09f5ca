"""A whole school year turns over in the demo world through the screens and the scheduled job, with
a frozen clock: the province opens the year, schools build classes and assign students, the final
grade graduates (after its 在办业务 is cleaned up), 毕业信息 is kept, the county rejects one graduate
and the school graduates them again, the time point passes and the job runner's tick promotes
everyone else, the held student is listed and caught up, and the year-end report adds up."""
import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import Graduation, GraduationState, PromotionRun, SchoolClass, Student, StudentStatus
from app.services import clock, status_changes
from tests.conftest import account
from tests.integration.test_graduation import final

DT = datetime.datetime


def text(response):
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def student(app, sid):
    with app.app_context():
        s = db.session.get(Student, sid)
        return s.grade, s.status, s.class_id


def test_a_full_year_turns_over_through_the_screens_and_the_scheduled_job(app, world, as_user, monkeypatch):
    from app.jobs import schedule
    now = {"t": DT(2026, 8, 20, 9, 0)}
    monkeypatch.setattr(clock, "now", lambda: now["t"])
    sheng, school, county = as_user("sheng_admin"), as_user("school_3601020001"), as_user("county_360102")

    # 1. the province opens 2026-2027 with the guide's time point
    page = text(sheng.post("/schoolyearview/add", data={"start_year": "2026", "promotion_at": "2027-08-10 24:00"},
                           follow_redirects=True))
    assert "已设置2026-2027学年" in page

    # 2. students of three grades; the school builds classes and assigns them
    with app.app_context():
        young, middle = final(1, grade="11"), final(2, grade="13")
        leaver, busy = final(3, grade="16"), final(4, grade="16")
        ids = {"young": young.id, "middle": middle.id, "leaver": leaver.id, "busy": busy.id}
    now["t"] = DT(2026, 9, 5, 9, 0)
    for grade in ("11", "13", "16"):
        text(school.post("/classview/add", data={"grade": grade, "count": "1", "head_teachers": "王老师"},
                         follow_redirects=True))
    with app.app_context():
        classes = {c.grade: c.id for c in db.session.scalars(select(SchoolClass))}
    for grade, who in (("11", ["young"]), ("13", ["middle"]), ("16", ["leaver", "busy"])):
        text(school.post(f"/classview/assign/{classes[grade]}", data={"student_id": [ids[w] for w in who]},
                         follow_redirects=True))
    assert student(app, ids["leaver"])[2] == classes["16"]

    # 3. a 休学 request is open for one graduate-to-be: the class cannot graduate yet
    now["t"] = DT(2027, 6, 25, 9, 0)
    with app.app_context():
        req = status_changes.request_suspension(db.session, account(db.session, "school_3601020001"), ids["busy"],
                                                reason_code="01", starts_on="2027-07-01", ends_on="2027-12-31")
        db.session.commit()
        req_id = req.id
    page = text(school.post("/graduationview/graduate", data={"class_id": classes["16"]}, follow_redirects=True))
    assert "有在办业务" in page and f"show/{req_id}" in page  # listed with a link to clean it up
    assert student(app, ids["leaver"])[1] == StudentStatus.IN_SCHOOL  # nothing graduated
    # the county cleans it up (在办业务清理) and the class graduates
    text(county.post(f"/openrequestsview/cancel/{req_id}", data={"reason": "毕业前清理"}, follow_redirects=True))
    page = text(school.post("/graduationview/graduate", data={"class_id": classes["16"], "graduated_on": "2027-06-25"},
                            follow_redirects=True))
    assert "已办理毕业：2 名学生" in page
    assert student(app, ids["leaver"])[1] == student(app, ids["busy"])[1] == StudentStatus.GRADUATED

    # 4. 毕业信息 in bulk; the county rejects one graduate, the school graduates them again
    with app.app_context():
        grads = {g.student_id: g.id for g in db.session.scalars(select(Graduation))}
    text(school.post("/graduateview/update", data={"rowid": list(grads.values()), "destination": "09"},
                     follow_redirects=True))
    page = text(county.post(f"/graduateview/reject/{grads[ids['busy']]}", data={"reason": "需办理休学"},
                            follow_redirects=True))
    assert student(app, ids["busy"])[1] == StudentStatus.IN_SCHOOL
    assert "需办理休学" in text(county.get("/rejectedgraduateview/list/"))

    # 5. the time point passes: the scheduled tick promotes the province by itself
    now["t"] = DT(2027, 8, 11, 0, 0, 30)
    monkeypatch.setitem(app.config, "SCHEDULER_ENABLED", True)
    with app.app_context():  # as the timer thread / the RQ worker runs it
        run = schedule.tick()
        assert run is not None and run.scheduled
    assert student(app, ids["young"])[0] == "12" and student(app, ids["middle"])[0] == "14"
    assert student(app, ids["busy"])[0] == "16"  # rejected and not graduated again: held, listed
    with app.app_context():
        assert db.session.get(SchoolClass, classes["11"]).grade == "12"
        assert db.session.scalar(select(PromotionRun)).state.value == "done"
        assert {g.destination for g in db.session.scalars(select(Graduation).where(
            Graduation.state == GraduationState.GRADUATED))} == {"09"}
    with app.app_context():
        assert schedule.tick() is None  # a second tick (another worker, a restart) does nothing

    # 6. the year-end report adds it up for the county
    page = text(county.get("/yearendreportview/list/"))
    assert "毕业年级未毕业" in page
    with app.app_context():
        from app.services import promotion
        run, rows = promotion.year_end_report(db.session, account(db.session, "county_360102"),
                                              db.session.scalar(select(PromotionRun)).year)
        assert [(r["promoted"], r["graduated"], r["rejected"], r["not_graduated"]) for r in rows] == [(2, 1, 1, 1)]
