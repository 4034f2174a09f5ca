"""Platform behaviour: CSRF on every form, the demo province is idempotent, run.py's preparation."""
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Account, OrgUnit
from app.services import demo
from tests.conftest import PASSWORD, unit


@pytest.fixture
def csrf_app(app):
    """The same database, with CSRF on as in production."""
    from app import create_app
    cfg = {k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "INSTANCE_DIR", "JOB_RESULT_DIR", "SECRET_KEY",
                                      "FAB_PASSWORD_HASH_METHOD", "REDIS_URL", "JOB_QUEUE")}
    return create_app({**cfg, "WTF_CSRF_ENABLED": True, "TESTING": True})


def _token(html):
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_forms_require_csrf_token(csrf_app):
    c = csrf_app.test_client()
    r = c.post("/login/", data={"username": "county_360102", "password": PASSWORD})
    assert r.status_code == 400 and "东湖区" not in r.get_data(as_text=True)  # refused, not logged in
    token = _token(c.get("/login/").get_data(as_text=True))
    r = c.post("/login/", data={"username": "county_360102", "password": PASSWORD, "csrf_token": token}, follow_redirects=True)
    assert "东湖区教育体育局" in r.get_data(as_text=True)
    with csrf_app.app_context():
        school = unit(db.session, "3601020001")
    # A forged post (no token) changes nothing and answers in Chinese.
    r = c.post(f"/orgunitview/delete/{school.id}")
    assert r.status_code == 400 and "页面已过期" in r.get_data(as_text=True)
    r = c.post("/orgunitview/export")
    assert r.status_code == 400
    with csrf_app.app_context():
        assert db.session.get(OrgUnit, school.id) is not None


def test_demo_is_idempotent_and_accounts_work(app, as_user):
    with app.app_context():
        before = (db.session.scalar(select(func.count()).select_from(OrgUnit)),
                  db.session.scalar(select(func.count()).select_from(Account)))
        assert demo.load_demo(db.session, "360000", schools_per_county=2, only_counties=["360102", "360103", "360402"]) == (0, 0)
        after = (db.session.scalar(select(func.count()).select_from(OrgUnit)),
                 db.session.scalar(select(func.count()).select_from(Account)))
        assert before == after
        sample = demo.sample_accounts(db.session)
    levels = [row[0] for row in sample]
    assert levels[:3] == ["平台管理员", "省级管理员", "只读查询员"] and "县级管理员" in levels and "学校学籍管理员" in levels
    for _, _, username, password in sample:
        html = as_user(username, password).get("/").get_data(as_text=True)
        assert "您所在机构" in html


def test_demo_covers_every_school_type_with_real_regions(app):
    with app.app_context():
        # A full province: every county of 江西 gets schools, names come from the region table.
        added = demo.build_province(db.session, "360000", schools_per_county=4)
        db.session.commit()
        assert added > 300
        types = set(db.session.scalars(select(OrgUnit.school_type).where(OrgUnit.kind == "school")))
        assert len(types) >= 5
        assert unit(db.session, "360702").name == "章贡区教育体育局"  # 赣州市章贡区


@pytest.mark.parametrize("username", ["admin", "sheng_admin", "city_360100", "county_360102", "school_3601020001", "sheng_viewer"])
def test_every_menu_entry_opens(as_user, username):
    """No role sees a menu item that answers 403 (menu rights and view rights agree)."""
    c = as_user(username)
    html = c.get("/").get_data(as_text=True)
    links = set(re.findall(r'href="(/[a-z]+view/[a-z_]+/?[^"]*)"', html))
    assert links, "no menu links found"
    for link in sorted(links):
        r = c.get(link)
        assert r.status_code == 200, (username, link, r.status_code)
