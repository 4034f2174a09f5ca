"""The org tree: officers manage schools inside their subtree; bad input gets a Chinese message,
changes nothing and never a 500 — on the screen and through the API."""
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, OrgUnit
from app.services import orgs
from app.services.errors import DomainError, PermissionDenied
from tests.conftest import account, unit


def _count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(OrgUnit))


def _school_form(parent_id, code="3601020099", **extra):
    data = {"kind": "school", "parent": str(parent_id), "name": "东湖区实验小学", "region": "",
            "school_code": code, "school_type": "primary", "ownership": "public", "address": "南昌市东湖区八一大道 1 号",
            "may_enroll": "y"}
    data.update(extra)
    return data


def test_county_officer_adds_school_with_path_and_audit(app, as_user):
    c = as_user("county_360102")
    with app.app_context():
        county = unit(db.session, "360102")
    html = c.post("/orgunitview/add", data=_school_form(county.id), follow_redirects=True).get_data(as_text=True)
    assert "记录已添加" in html
    with app.app_context():
        school = unit(db.session, "3601020099")
        assert school.path == "/360000/360100/360102/3601020099/"
        assert school.region_code == "360102" and school.parent_id == county.id
        logged = db.session.scalars(select(AuditLog).where(AuditLog.entity == "org_unit", AuditLog.entity_id == str(school.id))).all()
        assert {r.field for r in logged} >= {"name", "school_code", "path"}
        assert {r.actor_name for r in logged} == {"county_360102"}
        assert all(r.org_path == school.path for r in logged)


@pytest.mark.parametrize("case, change, message", [
    ("duplicate code", {"school_code": "3601030001"}, "已被其他学校使用"),  # 西湖's school: not named
    ("short code", {"school_code": "12345"}, "学校标识码应为 10 位数字"),
    ("region outside county", {"region": "360103"}, "不在所属县(区)"),
    ("no type", {"school_type": ""}, "请选择办学类型"),
    ("no name", {"name": "   "}, "请填写机构名称"),
])
def test_bad_school_input_is_refused_in_chinese(app, as_user, case, change, message):
    c = as_user("city_360100")  # a city officer may pick regions of all its counties
    with app.app_context():
        county = unit(db.session, "360102")
    before = _count(app)
    r = c.post("/orgunitview/add", data=_school_form(county.id, **change), follow_redirects=True)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert message in html, case
    assert "西湖第一小学" not in html  # a clash never names the other school
    assert _count(app) == before


def test_school_under_a_province_or_city_is_refused(app, as_user):
    c = as_user("sheng_admin")
    before = _count(app)
    with app.app_context():
        province = unit(db.session, "360000")
        city = unit(db.session, "360100")
    for parent in (province, city):
        html = c.post("/orgunitview/add", data=_school_form(parent.id), follow_redirects=True).get_data(as_text=True)
        assert "学校的上级机构必须是县(区)" in html
    assert _count(app) == before


def test_parent_outside_subtree_is_refused(app, as_user):
    c = as_user("county_360102")
    with app.app_context():
        other_county = unit(db.session, "360103")
    before = _count(app)
    r = c.post("/orgunitview/add", data=_school_form(other_county.id), follow_redirects=True)
    assert r.status_code == 200
    assert _count(app) == before


def test_city_officer_adds_county_from_real_region(app, as_user):
    c = as_user("city_360100")
    with app.app_context():
        city = unit(db.session, "360100")
    data = {"kind": "county", "parent": str(city.id), "name": "青云谱区教育局", "region": "360104", "may_enroll": "y"}
    html = c.post("/orgunitview/add", data=data, follow_redirects=True).get_data(as_text=True)
    assert "记录已添加" in html
    with app.app_context():
        assert unit(db.session, "360104").path == "/360000/360100/360104/"
    # The same region twice, and a region of another city, are refused.
    before = _count(app)
    html = c.post("/orgunitview/add", data=data, follow_redirects=True).get_data(as_text=True)
    assert "已有对应的教育行政机构" in html
    html = c.post("/orgunitview/add", data={**data, "region": "360402"}, follow_redirects=True).get_data(as_text=True)
    assert _count(app) == before


@pytest.mark.parametrize("data", [
    {},
    {"kind": "galaxy", "parent": "abc"},
    {"kind": "school", "parent": "999999", "name": "x", "school_code": "1" * 10},
    {"kind": "province", "name": "另一个省"},
])
def test_malformed_posts_never_500(app, as_user, data):
    c = as_user("county_360102")
    before = _count(app)
    r = c.post("/orgunitview/add", data=data, follow_redirects=True)
    assert r.status_code == 200
    assert _count(app) == before


def test_school_officer_cannot_add_or_edit_units(app, as_user):
    c = as_user("school_3601020001")
    with app.app_context():
        county = unit(db.session, "360102")
        own = unit(db.session, "3601020001")
    before = _count(app)
    assert c.post("/orgunitview/add", data=_school_form(county.id), follow_redirects=True).status_code in (200, 403)
    assert _count(app) == before
    c.post(f"/orgunitview/edit/{own.id}", data={"name": "改名", "school_code": own.school_code, "school_type": "primary", "ownership": "public"})
    with app.app_context():
        assert db.session.get(OrgUnit, own.id).name == "东湖第一小学"
        with pytest.raises(PermissionDenied):
            orgs.update_unit(db.session, account(db.session, "school_3601020001"), own.id, name="改名")
        db.session.rollback()


def test_edit_keeps_kind_parent_region_and_updates_school_path(app):
    with app.app_context():
        actor = account(db.session, "county_360102")
        school = unit(db.session, "3601020001")
        orgs.update_unit(db.session, actor, school.id, school_code="3601020777")
        assert school.path.endswith("/3601020777/")
        with pytest.raises(DomainError, match="不能直接修改"):
            orgs.update_unit(db.session, actor, school.id, region_code="360103")
        db.session.rollback()


def test_delete_only_empty_units(app, as_user):
    c = as_user("county_360102")
    with app.app_context():
        school = unit(db.session, "3601020001")
    html = c.post(f"/orgunitview/delete/{school.id}", follow_redirects=True).get_data(as_text=True)
    assert "仍有账号" in html
    with app.app_context():
        assert db.session.get(OrgUnit, school.id) is not None


def test_api_create_and_bad_input(app, api_token):
    c, headers = api_token("county_360102")
    with app.app_context():
        county = unit(db.session, "360102")
        other = unit(db.session, "360103")
    body = {"name": "东湖区第二实验小学", "kind": "school", "parent": county.id, "school_code": "3601020088",
            "school_type": "primary", "ownership": "public"}
    r = c.post("/api/v1/org_unit/", json=body, headers=headers)
    assert r.status_code == 201, r.get_data(as_text=True)
    r = c.post("/api/v1/org_unit/", json=body, headers=headers)
    assert r.status_code == 422 and "已被其他学校使用" in r.json["message"]
    r = c.post("/api/v1/org_unit/", json={**body, "school_code": "3601020087", "parent": other.id}, headers=headers)
    assert r.status_code == 422 and "管辖范围" in r.json["message"]
    r = c.post("/api/v1/org_unit/", data="not json", headers=headers)
    assert r.status_code == 400
    with app.app_context():
        assert unit(db.session, "3601020087") is None


def test_list_and_show_use_names_not_codes(app, as_user):
    c = as_user("county_360102")
    html = c.get("/orgunitview/list/").get_data(as_text=True)
    assert "<td>学校</td>" in html and "<td>小学</td>" in html and "<td>公办</td>" in html
    assert "江西省南昌市东湖区" in html
    for raw in (">school<", ">primary<", ">public<", ">True<", ">None<"):
        assert raw not in html.replace(" ", "").replace("\n", "")
    with app.app_context():
        pk = unit(db.session, "3601020001").id
    show = c.get(f"/orgunitview/show/{pk}").get_data(as_text=True)
    flat = show.replace(" ", "").replace("\n", "")
    assert "小学" in flat and ">primary<" not in flat
