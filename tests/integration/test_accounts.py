"""Accounts: bound to the tree, roles of the creator's level or below, password policy,
lock-out, forced password change; on the screen and in the service."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Account, AuditLog
from app.services import accounts
from app.services.errors import DomainError, NotFound, PermissionDenied
from tests.conftest import PASSWORD, account, login, unit


def _new_user_form(unit_id, role, username="dh_teacher", password=""):
    return {"username": username, "real_name": "王老师", "phone": "13912345678", "email": "",
            "org_unit": str(unit_id), "roles": [role], "password": password}


def _flashes(html):
    return html


def test_county_officer_creates_school_account_with_forced_change(app, as_user):
    c = as_user("county_360102")
    with app.app_context():
        school_id = unit(db.session, "3601020001").id
    html = c.post("/accountview/add", data=_new_user_form(school_id, "学校学籍管理员"), follow_redirects=True).get_data(as_text=True)
    assert "账号 dh_teacher 已创建，初始密码：" in html
    initial = html.split("初始密码：")[1].split("（")[0]
    with app.app_context():
        acc = account(db.session, "dh_teacher")
        assert acc.org_unit_id == school_id and acc.must_change_password
        assert [r.name for r in acc.roles] == ["学校学籍管理员"]
        # audited with the creator as actor
        rows = db.session.scalars(select(AuditLog).where(AuditLog.entity == "ab_user", AuditLog.entity_id == str(acc.id))).all()
        assert rows and {r.actor_name for r in rows} == {"county_360102"}
        assert all(r.new_value == "******" for r in rows if r.field == "password")
    # First login: every page redirects to the password change until it is changed.
    new = app.test_client()
    login(new, "dh_teacher", initial)
    r = new.get("/orgunitview/list/")
    assert r.status_code == 302 and "/password/change" in r.headers["Location"]
    bad = new.post("/password/change", data={"old_password": initial, "password": "short", "confirm": "short"}, follow_redirects=True)
    assert "密码长度至少为 8 位" in bad.get_data(as_text=True)
    ok = new.post("/password/change", data={"old_password": initial, "password": "Xin@Mima2026", "confirm": "Xin@Mima2026"}, follow_redirects=True)
    assert "密码已修改" in ok.get_data(as_text=True)
    assert new.get("/orgunitview/list/").status_code == 200


@pytest.mark.parametrize("role, target, message", [
    ("市级管理员", "360102", "不能授予高于本人级别的角色"),
    ("县级管理员", "3601020001", "不能授予学校级机构的账号"),
    ("学校学籍管理员", "360102", "不能授予县(区)级机构的账号"),
    ("学校学籍管理员", "3601030001", "不是有效的选择"),  # other county's school: not even offered
])
def test_role_and_level_rules_on_screen(app, as_user, role, target, message):
    c = as_user("county_360102")
    with app.app_context():
        target_id = unit(db.session, target).id
    html = c.post("/accountview/add", data=_new_user_form(target_id, role), follow_redirects=True).get_data(as_text=True)
    with app.app_context():
        assert account(db.session, "dh_teacher") is None
    if role == "市级管理员":
        # Not even offered in the form; the post is rejected by the form's choices.
        assert "市级管理员" not in _form_role_options(c)
    else:
        assert message in html


def _form_role_options(c):
    html = c.get("/accountview/add").get_data(as_text=True)
    return html.split('name="roles"')[1].split("</select>")[0]


def test_service_refuses_higher_roles_and_foreign_units(app):
    with app.app_context():
        actor = account(db.session, "county_360102")
        own_school = unit(db.session, "3601020001").id
        with pytest.raises(PermissionDenied, match="高于本人级别"):
            accounts.create_account(db.session, actor, username="x_city", real_name="李四", phone="13900000000",
                                    org_unit_id=own_school, role_names=["市级管理员"])
        with pytest.raises(NotFound):
            accounts.create_account(db.session, actor, username="x_far", real_name="李四", phone="13900000000",
                                    org_unit_id=unit(db.session, "3604020001").id, role_names=["只读查询员"])
        db.session.rollback()
        assert account(db.session, "x_city") is None and account(db.session, "x_far") is None


def test_school_officer_may_only_create_readonly_or_school_roles_at_own_school(app):
    with app.app_context():
        actor = account(db.session, "school_3601020001")
        acc, _ = accounts.create_account(db.session, actor, username="dh_viewer", real_name="赵六", phone="13900000001",
                                         org_unit_id=actor.org_unit_id, role_names=["只读查询员"])
        assert acc.org_unit_id == actor.org_unit_id
        with pytest.raises(PermissionDenied):
            accounts.create_account(db.session, actor, username="dh_county", real_name="赵六", phone="13900000001",
                                    org_unit_id=actor.org_unit_id, role_names=["县级管理员"])
        with pytest.raises(NotFound):  # sibling school in the same county
            accounts.create_account(db.session, actor, username="dh_sib", real_name="赵六", phone="13900000001",
                                    org_unit_id=unit(db.session, "3601020002").id, role_names=["只读查询员"])
        db.session.rollback()


def test_readonly_user_cannot_manage_accounts(app, as_user):
    c = as_user("sheng_viewer")
    r = c.get("/accountview/add")
    assert r.status_code in (302, 403)
    with app.app_context():
        with pytest.raises(PermissionDenied):
            accounts.create_account(db.session, account(db.session, "sheng_viewer"), username="v2", real_name="钱七",
                                    phone="13900000002", org_unit_id=1, role_names=["只读查询员"])


@pytest.mark.parametrize("password, message", [
    ("Ab1!", "密码长度至少为 8 位"),
    ("abcdefgh", "至少三类"),
    ("Dh_teacher1!", "不能包含用户名"),
])
def test_password_policy(app, password, message):
    with app.app_context():
        actor = account(db.session, "county_360102")
        with pytest.raises(DomainError, match=message):
            accounts.create_account(db.session, actor, username="dh_teacher", real_name="王老师", phone="13912345678",
                                    org_unit_id=actor.org_unit_id, role_names=["只读查询员"], password=password)
        db.session.rollback()


def test_bad_profile_and_duplicates_are_refused(app, as_user):
    c = as_user("county_360102")
    with app.app_context():
        school_id = unit(db.session, "3601020001").id
    form = _new_user_form(school_id, "只读查询员", username="county_360103")  # exists in another county
    html = c.post("/accountview/add", data=form, follow_redirects=True).get_data(as_text=True)
    assert "已被使用" in html
    form = _new_user_form(school_id, "只读查询员")
    form["phone"] = "12345"
    html = c.post("/accountview/add", data=form, follow_redirects=True).get_data(as_text=True)
    assert "有效的手机号" in html
    with app.app_context():
        assert account(db.session, "dh_teacher") is None


def test_lockout_after_repeated_failures_and_unlock(app, as_user):
    c = app.test_client()
    for i in range(4):
        html = login(c, "school_3601020001", "wrong-password").get_data(as_text=True)
        assert "用户名或密码错误" in html
    html = login(c, "school_3601020001", "wrong-password").get_data(as_text=True)
    assert "账号已锁定" in html
    html = login(c, "school_3601020001", PASSWORD).get_data(as_text=True)
    assert "已被锁定" in html
    assert c.get("/orgunitview/list/").status_code != 200  # not logged in
    # The API login obeys the same lock.
    r = app.test_client().post("/api/v1/security/login", json={"username": "school_3601020001", "password": PASSWORD, "provider": "db"})
    assert r.status_code == 401
    county = as_user("county_360102")
    with app.app_context():
        pk = account(db.session, "school_3601020001").id
    county.post("/accountview/action_post", data={"action": "unlock", "rowid": [str(pk)]})
    html = login(app.test_client(), "school_3601020001", PASSWORD).get_data(as_text=True)
    assert "东湖第一小学" in html


def test_reset_password_issues_one_time_password(app, as_user):
    county = as_user("county_360102")
    with app.app_context():
        pk = account(db.session, "school_3601020001").id
    html = county.post(f"/accountview/action/reset_password/{pk}", follow_redirects=True).get_data(as_text=True)
    assert "新临时密码" in html
    temporary = html.split("新临时密码：")[1].split("（")[0]
    assert login(app.test_client(), "school_3601020001", PASSWORD).get_data(as_text=True).count("用户名或密码错误") == 1
    c = app.test_client()
    r = login(c, "school_3601020001", temporary, follow=False)
    assert "/password/change" in r.headers["Location"]


def test_cannot_manage_higher_ranked_or_own_roles(app):
    with app.app_context():
        school_admin = account(db.session, "school_3601020001")
        county = account(db.session, "county_360102")
        with pytest.raises(NotFound):  # the county account is above the school: outside its subtree
            accounts.reset_password(db.session, school_admin, county.id)
        with pytest.raises(PermissionDenied):
            accounts.update_account(db.session, county, county.id, role_names=["只读查询员"])
        with pytest.raises(PermissionDenied):
            accounts.update_account(db.session, county, county.id, active=False)
        db.session.rollback()


def test_login_page_and_wrong_password_are_chinese(client):
    html = client.get("/login/").get_data(as_text=True)
    assert "用户名" in html and "密码" in html
    html = login(client, "nobody", "whatever").get_data(as_text=True)
    assert "用户名或密码错误" in html
