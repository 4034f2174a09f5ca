"""中招 API: the exam, one-click and manual registration, the candidate list and scoping from outside."""
import datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import Candidate
from app.services import identity
from tests.integration.zk_support import EAST, JUNIOR, WEST, make_exam, populate, school


def test_register_list_and_scope_by_api(app, api_token):
    with app.app_context():
        populate()
        make_exam()
        west_school = school(JUNIOR[WEST]).id
        east_school = school(JUNIOR[EAST]).id
    client, east = api_token("county_360102")
    r = client.get("/api/v1/zhongkao/exam", headers=east)
    assert r.status_code == 200 and r.json["result"]["year"] == 2027
    r = client.post("/api/v1/zhongkao/candidates/register", json={}, headers=east)
    assert r.status_code == 200 and r.json["added"] > 0
    added = r.json["added"]
    r = client.get("/api/v1/zhongkao/candidates?page_size=100", headers=east)
    assert r.status_code == 200 and r.json["count"] == added
    first = r.json["result"][0]
    assert "*" in first["id_number"]  # masked
    assert client.get(f"/api/v1/zhongkao/candidates/{first['id']}", headers=east).status_code == 200
    # another county: 404 for the candidate, nothing listed, another county's school refused
    wclient, west = api_token("county_360103")
    assert wclient.get(f"/api/v1/zhongkao/candidates/{first['id']}", headers=west).status_code == 404
    assert wclient.get("/api/v1/zhongkao/candidates", headers=west).json["count"] == 0
    r = wclient.post("/api/v1/zhongkao/candidates/register", json={"school_ids": [east_school]}, headers=west)
    assert r.status_code == 404
    # bad input: Chinese messages, nothing written
    r = wclient.post("/api/v1/zhongkao/candidates/register", json={"school_ids": ["x"]}, headers=west)
    assert r.status_code == 400 and "编号" in r.json["message"]
    number = identity.build_id_number("360103", datetime.date(2010, 1, 2), 31)
    body = {"school_id": west_school, "name": "往届乙", "gender": "1" if int(number[16]) % 2 else "2",
            "birth_date": "2010-01-03", "id_number": number, "graduated_school_name": "某中学"}
    r = wclient.post("/api/v1/zhongkao/candidates", json=body, headers=west)
    assert r.status_code == 422 and "出生日期" in r.json["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Candidate)) == added
    r = wclient.post("/api/v1/zhongkao/candidates", json={**body, "school_id": 99999999999}, headers=west)
    assert r.status_code == 404 and "学校" in r.json["message"]
    r = wclient.post("/api/v1/zhongkao/candidates", json={**body, "birth_date": "2010-01-02"}, headers=west)
    assert r.status_code == 201 and r.json["result"]["reg_no"].startswith("27360103")
    r = wclient.post("/api/v1/zhongkao/candidates", json={**body, "birth_date": "2010-01-02"}, headers=west)
    assert r.status_code == 422 and "重复报名" in r.json["message"]
