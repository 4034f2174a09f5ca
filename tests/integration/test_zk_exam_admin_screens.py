"""考务 screens: 考点考场 (sites and rooms), 考场编排 (run with a seed, per-room counts and school mix) and
准考证打印 (PDFs per school and per site), with every level's view, bad input flashed in Chinese
with nothing written, and another county's ids answering 404.

No outer application context here: Flask keeps the signed-in user on the app context's `g`, so two
clients inside one context would share it. Database checks open their own context."""
import math

from sqlalchemy import func, select

from app.extensions import db
from app.models import Candidate
from app.models.zhongkao import ZkRoom, ZkSite
from tests.integration.zk_support import EAST, JUNIOR, WEST, make_exam, populate, register_county, school

EAST_OFFICER = f"county_{EAST}"


def setup_world(app):
    with app.app_context():
        populate(900)
        exam = make_exam()
        register_county(exam, EAST)
        register_county(exam, WEST)
        return db.session.scalar(select(func.count()).select_from(Candidate)
                                 .where(Candidate.school_path.contains(f"/{EAST}/")))


def rows(app, model, *where):
    with app.app_context():
        return db.session.scalars(select(model).where(*where)).all()


def text(resp):
    return resp.get_data(as_text=True)


def test_without_an_exam_the_pages_say_so(app, as_user):
    c = as_user(EAST_OFFICER)
    for url in ("/zkexamsiteview/list/", "/zkseatingview/list/", "/zkticketview/list/"):
        r = c.get(url)
        assert r.status_code == 200 and "省级尚未设置本年度中考" in text(r)


def test_county_sets_up_sites_and_rooms_seats_and_prints(app, as_user):
    n = setup_world(app)
    c = as_user(EAST_OFFICER)
    r = c.get("/zkexamsiteview/list/")
    assert r.status_code == 200 and "增加考点" in text(r) and "还没有考点" in text(r)

    # bad input: flashed, nothing written
    r = c.post("/zkexamsiteview/add_site", data={"number": "100", "name": "甲"}, follow_redirects=True)
    assert "考点号应在 1–99 之间" in text(r)
    assert rows(app, ZkSite) == []
    r = c.post("/zkexamsiteview/add_site", data={"number": "1", "name": "南昌一中考点", "address": "八一大道"},
               follow_redirects=True)
    assert r.status_code == 200 and "已增加第01考点 南昌一中考点" in text(r)
    site = rows(app, ZkSite)[0]
    r = c.post(f"/zkexamsiteview/add_rooms/{site.id}", data={"count": "0"}, follow_redirects=True)
    assert "考场数应在 1–200 之间" in text(r) and rows(app, ZkRoom) == []

    # too few seats: the seating screen says so, and a run is refused with nothing written
    c.post(f"/zkexamsiteview/add_rooms/{site.id}", data={"count": "1", "capacity": "10"})
    r = c.get("/zkseatingview/list/")
    assert r.status_code == 200 and f"考场座位不足：需要 {n} 个，现有 10 个" in text(r)
    r = c.post("/zkseatingview/run", data={"seed": "5"}, follow_redirects=True)
    assert f"考场座位不足：需要 {n} 个，现有 10 个，请增加考场" in text(r)
    assert all(x.room_id is None for x in rows(app, Candidate))

    r = c.post(f"/zkexamsiteview/add_rooms/{site.id}",
               data={"count": str(math.ceil(n / 10)), "capacity": "10", "location_prefix": "教学楼B",
                     "first_location_no": "201"}, follow_redirects=True)
    assert "已增加" in text(r) and "教学楼B201" in text(r)
    room = rows(app, ZkRoom, ZkRoom.number == 2)[0]
    r = c.post(f"/zkexamsiteview/edit_room/{room.id}", data={"capacity": "61", "site": site.id},
               follow_redirects=True)
    assert "考场容量应在 1–60 之间" in text(r)
    assert rows(app, ZkRoom, ZkRoom.id == room.id)[0].capacity == 10

    r = c.post("/zkseatingview/run", data={"seed": "abc"}, follow_redirects=True)
    assert "随机种子须为" in text(r)
    r = c.post("/zkseatingview/run", data={"seed": "20270620"}, follow_redirects=True)
    assert r.status_code == 200
    assert f"编排完成：{n} 名考生" in text(r) and "随机种子 20270620" in text(r)
    assert "最近一次编排" in text(r) and "学校构成" in text(r)
    seated = rows(app, Candidate, Candidate.room_id.is_not(None), Candidate.school_path.contains(f"/{EAST}/"))
    assert len(seated) == n
    # a seated room cannot shrink below its seats; the site cannot be deleted
    first = rows(app, ZkRoom, ZkRoom.number == 1)[0]
    r = c.post(f"/zkexamsiteview/edit_room/{first.id}", data={"capacity": "5", "site": site.id},
               follow_redirects=True)
    assert "容量不能小于 10" in text(r)
    r = c.post(f"/zkexamsiteview/delete_site/{site.id}", data={"version": site.version}, follow_redirects=True)
    assert "不能删除" in text(r) and rows(app, ZkSite)
    r = c.get(f"/zkexamsiteview/site/{site.id}")
    assert r.status_code == 200 and "第001考场" in text(r)

    # prints: the county per site and per school; the school its own tickets
    r = c.get("/zkticketview/list/")
    assert r.status_code == 200 and "门贴" in text(r) and "签到表" in text(r)
    with app.app_context():
        east_school = school(JUNIOR[EAST]).id
        west_school = school(JUNIOR[WEST]).id
    for url in (f"/zkticketview/doors/{site.id}", f"/zkticketview/signin/{site.id}",
                f"/zkticketview/tickets?school={east_school}", f"/zkticketview/slips?school={east_school}"):
        r = c.get(url)
        assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data[:5] == b"%PDF-", url
    s = as_user(f"school_{JUNIOR[EAST]}")
    r = s.get("/zkticketview/list/")
    assert r.status_code == 200 and "准考证" in text(r) and 'id="sites"' not in text(r)
    r = s.get("/zkticketview/tickets")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert s.get(f"/zkticketview/tickets?school={west_school}").status_code == 404
    assert s.get(f"/zkticketview/doors/{site.id}").status_code == 404
    # the school cannot manage sites or run the seating
    r = s.post("/zkseatingview/run", data={"seed": "1"}, follow_redirects=True)
    assert "由县区管理员办理" in text(r)
    # West has no seats: its tickets are refused with a message, not a 500
    w = as_user(f"county_{WEST}")
    r = w.get(f"/zkticketview/tickets?school={west_school}", follow_redirects=True)
    assert r.status_code == 200 and "尚未编排考场" in text(r)


def test_other_county_ids_are_404_and_upper_levels_read(app, as_user):
    setup_world(app)
    c = as_user(EAST_OFFICER)
    c.post("/zkexamsiteview/add_site", data={"number": "1", "name": "东湖考点"})
    site = rows(app, ZkSite)[0]
    c.post(f"/zkexamsiteview/add_rooms/{site.id}", data={"count": "2"})
    room = rows(app, ZkRoom)[0]

    w = as_user(f"county_{WEST}")
    assert w.get(f"/zkexamsiteview/site/{site.id}").status_code == 404
    for url, data in ((f"/zkexamsiteview/edit_site/{site.id}", {"name": "改名"}),
                      (f"/zkexamsiteview/delete_site/{site.id}", {}),
                      (f"/zkexamsiteview/add_rooms/{site.id}", {"count": "1"}),
                      (f"/zkexamsiteview/edit_room/{room.id}", {"capacity": "5"}),
                      (f"/zkexamsiteview/delete_room/{room.id}", {})):
        assert w.post(url, data=data).status_code == 404, url
    assert w.get(f"/zkticketview/doors/{site.id}").status_code == 404
    with app.app_context():
        assert w.get(f"/zkexamsiteview/list/?county={school(JUNIOR[EAST]).parent_id}").status_code == 404
    # hand-made ids: huge, not digits
    for url in ("/zkexamsiteview/site/99999999999", "/zkexamsiteview/site/abc", "/zkticketview/doors/4294967296",
                "/zkticketview/tickets?school=99999999999", "/zkexamsiteview/list/?county=x"):
        assert c.get(url).status_code == 404, url
    assert rows(app, ZkSite)[0].name == "东湖考点" and len(rows(app, ZkRoom)) == 2
    assert w.get("/zkexamsiteview/list/").status_code == 200 and "东湖考点" not in text(w.get("/zkexamsiteview/list/"))

    # the city and the province read the counties' sites and cannot change them
    for username in ("city_360100", "sheng_admin"):
        u = as_user(username)
        r = u.get("/zkexamsiteview/list/")
        assert r.status_code == 200 and "东湖区" in text(r), username
        with app.app_context():
            county_id = school(JUNIOR[EAST]).parent_id
        r = u.get(f"/zkexamsiteview/list/?county={county_id}")
        assert r.status_code == 200 and "东湖考点" in text(r) and "增加考点" not in text(r)
        r = u.get(f"/zkexamsiteview/site/{site.id}")
        assert r.status_code == 200 and "增加考场" not in text(r)
        r = u.post(f"/zkexamsiteview/edit_room/{room.id}", data={"capacity": "5"}, follow_redirects=True)
        assert "只能查看" in text(r)
        r = u.get(f"/zkseatingview/list/?county={county_id}")
        assert r.status_code == 200 and "开始编排" not in text(r)
        assert u.get("/zkseatingview/list/").status_code == 200
        assert u.get("/zkticketview/list/").status_code == 200
    assert rows(app, ZkRoom, ZkRoom.id == room.id)[0].capacity == 30
