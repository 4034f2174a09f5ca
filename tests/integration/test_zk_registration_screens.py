"""中考报名 screens: 中考设置, one-click registration, 手工报名 and 考生名单, scoped by URL.

No outer application context here: Flask keeps the signed-in user on the app context's `g`, so two
clients inside one context would share it. Database checks open their own context."""
from sqlalchemy import select

from app.extensions import db
from app.models import Candidate
from app.services.zhongkao import exams
from tests.integration.test_zk_registration import count, graduating, manual_data
from tests.integration.zk_support import EAST, JUNIOR, make_exam, populate, school


def test_screens_register_list_and_scope(app, as_user):
    with app.app_context():
        populate()
        make_exam()
        expected = len(graduating(EAST))
        east_school = school(JUNIOR[EAST]).id
    county = as_user("county_360102")
    page = county.get("/zkregistration/list/")
    assert page.status_code == 200 and "各校报名进度" in page.get_data(as_text=True)
    r = county.post("/zkregistration/register", data={}, follow_redirects=True)
    assert r.status_code == 200 and "名应届毕业生" in r.get_data(as_text=True)
    with app.app_context():
        assert count() == expected
        c = db.session.scalars(select(Candidate).order_by(Candidate.seq)).first()
        cid, reg_no, name, number = c.id, c.reg_no, c.name, c.id_number
    listing = county.get(f"/zkcandidates/list/?q={reg_no}").get_data(as_text=True)
    assert name in listing and number not in listing  # masked
    assert name in county.get(f"/zkcandidates/show/{cid}").get_data(as_text=True)
    # another county: not found by URL, not listed, cannot register that school
    west = as_user("county_360103")
    assert west.get(f"/zkcandidates/show/{cid}").status_code == 404
    assert west.post(f"/zkcandidates/cancel/{cid}").status_code == 404
    assert f"/zkcandidates/show/{cid}" not in west.get(f"/zkcandidates/list/?q={reg_no}").get_data(as_text=True)
    assert west.post("/zkregistration/register", data={"school_id": east_school}).status_code == 404
    assert west.get("/zkcandidates/show/99999999999999").status_code == 404
    # the school cancels a mistaken registration before signing
    school_client = as_user(f"school_{JUNIOR[EAST]}")
    r = school_client.post(f"/zkcandidates/cancel/{cid}", follow_redirects=True)
    assert "已取消" in r.get_data(as_text=True)
    with app.app_context():
        assert count() == expected - 1


def test_manual_screen_shows_errors_in_chinese_and_writes_nothing(app, as_user):
    with app.app_context():
        make_exam()
        good, bad = manual_data(), manual_data(id_number="36010220100304001X")
    county = as_user("county_360102")
    r = county.post("/zkregistration/manual", data=bad)
    assert r.status_code == 422 and "身份证号" in r.get_data(as_text=True)
    with app.app_context():
        assert count() == 0
    r = county.post("/zkregistration/manual", data=good, follow_redirects=True)
    assert r.status_code == 200 and "已报名，报名号" in r.get_data(as_text=True)
    with app.app_context():
        assert count() == 1


def test_exam_settings_screen(app, as_user):
    sheng = as_user("sheng_admin")
    r = sheng.post("/zkexam/create", data={"year": "2027"}, follow_redirects=True)
    assert "已设置 2027 年中考" in r.get_data(as_text=True)
    with app.app_context():
        exam = exams.current_exam(db.session)
        exam_id, version, pattern, name = exam.id, exam.version, exam.exam_no_pattern, exam.name
    r = sheng.post(f"/zkexam/edit/{exam_id}", data={"name": name, "reg_no_pattern": "{yy}{county}{seq:05d}",
                                                    "exam_no_pattern": pattern, "room_size": "25",
                                                    "allocation_years": "3", "registration_opens": "2027-03-01",
                                                    "registration_closes": "2027-04-15", "version": version,
                                                    "timetable": "2027-06-20 09:00 11:30 语文\n2027-06-21 09:00 11:00 数学"},
                   follow_redirects=True)
    assert "中考设置已保存" in r.get_data(as_text=True)
    with app.app_context():
        exam = exams.current_exam(db.session)
        assert exam.room_size == 25 and [t["subject"] for t in exams.timetable_rows(exam)] == ["语文", "数学"]
        version = exam.version
    # a stale form is refused; a county only reads
    r = sheng.post(f"/zkexam/edit/{exam_id}", data={"name": "x", "version": "1", "room_size": "30"})
    assert r.status_code == 422 and "他人修改" in r.get_data(as_text=True)
    county = as_user("county_360102")
    assert county.get("/zkexam/list/").status_code == 200
    county.post(f"/zkexam/edit/{exam_id}", data={"name": "改名", "room_size": "30", "version": version})
    with app.app_context():
        exam = exams.current_exam(db.session)
        assert exam.room_size == 25 and exam.name != "改名"
