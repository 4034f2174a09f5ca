"""Every change made through services or screens leaves who/when/field/old→new/why."""
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog
from app.services import audit, orgs
from app.services.context import acting_as
from tests.conftest import account, unit


def test_edit_records_old_and_new_values_with_actor(app, as_user):
    c = as_user("county_360102")
    with app.app_context():
        school = unit(db.session, "3601020001")
    c.post(f"/orgunitview/edit/{school.id}", data={"name": "东湖第一小学", "school_code": "3601020001", "school_type": "primary",
                                                   "ownership": "public", "address": "南昌市东湖区新址 8 号", "may_enroll": "y", "active": "y"})
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.entity == "org_unit", AuditLog.entity_id == str(school.id))).all()
        changed = {r.field: (r.old_value, r.new_value, r.actor_name, r.action) for r in rows}
        assert changed == {"address": (school.address, "南昌市东湖区新址 8 号", "county_360102", "update")}


def test_service_write_carries_reason(app):
    with app.app_context():
        actor = account(db.session, "county_360102")
        school = unit(db.session, "3601020002")
        with acting_as(actor, reason="更正学校名称（县教育局函 2026-18 号）"):
            orgs.update_unit(db.session, actor, school.id, name="东湖区第一初级中学")
        db.session.commit()
        [row] = audit.query_log(db.session, actor, entity="org_unit", entity_id=school.id)
        assert (row.field, row.old_value, row.new_value) == ("name", "东湖第一初级中学", "东湖区第一初级中学")
        assert row.reason == "更正学校名称（县教育局函 2026-18 号）" and row.actor_id == actor.id
        # The sibling county cannot query it.
        assert audit.query_log(db.session, account(db.session, "county_360103"), entity="org_unit", entity_id=school.id) == []


def test_audit_screen_filters_by_actor(app, as_user):
    c = as_user("city_360100")
    with app.app_context():
        school = unit(db.session, "3601030002")
    c.post(f"/orgunitview/edit/{school.id}", data={"name": "西湖第一初级中学（改）", "school_code": "3601030002", "school_type": "junior",
                                                   "ownership": "public", "may_enroll": "y", "active": "y"})
    html = c.get("/auditlogview/list/?_flt_0_actor_name=city_360100").get_data(as_text=True)
    assert "西湖第一初级中学（改）" in html
    html = c.get("/auditlogview/list/?_flt_0_actor_name=county_360102").get_data(as_text=True)
    assert "西湖第一初级中学（改）" not in html


def test_role_changes_and_password_resets_are_audited_without_secrets(app):
    with app.app_context():
        county = account(db.session, "county_360102")
        target = account(db.session, "school_3601020001")
        with acting_as(county):
            from app.services import accounts
            accounts.update_account(db.session, county, target.id, role_names=["学校学籍管理员", "只读查询员"])
            accounts.reset_password(db.session, county, target.id)
        db.session.commit()
        rows = db.session.scalars(select(AuditLog).where(AuditLog.entity == "ab_user", AuditLog.entity_id == str(target.id))).all()
        fields = {r.field: r for r in rows}
        assert fields["roles"].new_value == "只读查询员、学校学籍管理员"
        assert fields["password"].new_value == "******（已修改）" and "pbkdf2" not in (fields["password"].old_value or "")


def test_id_numbers_in_the_audit_log_are_masked_for_readers_without_full_view(app, as_user, api_token):
    import datetime
    from app.services import requests as engine, students
    from app.services.identity import build_id_number
    number = build_id_number("360102", datetime.date(2019, 3, 7), 15)
    with app.app_context():
        s, req, _ = students.register_student(
            db.session, account(db.session, "school_3601020001"),
            {"name": "张小明", "gender": "1", "birth_date": "2019-03-07", "id_type": "1", "id_number": number,
             "ethnicity": "01"}, [{"name": "张大明", "relation": "51", "phone": "13900000000"}])
        engine.approve(db.session, account(db.session, "county_360102"), req.id)
        db.session.commit()
    masked = number[:6] + "********" + number[-4:]
    viewer = as_user("sheng_viewer").get("/auditlogview/list/?psize_AuditLogView=100").get_data(as_text=True)
    assert masked in viewer and number not in viewer
    county = as_user("county_360102").get("/auditlogview/list/?psize_AuditLogView=100").get_data(as_text=True)
    assert number in county
    c, h = api_token("sheng_viewer")
    rows = c.get("/api/v1/audit_log/?q=(page_size:100)", headers=h).json["result"]
    assert number not in str(rows) and masked in str(rows)
