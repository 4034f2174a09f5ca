"""Scoping tested from outside: a county officer (东湖区) tries to read, edit, delete, bulk-act on
and export another county's (西湖区, and 九江's 濂溪区) units and accounts, by URL and by API."""
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.extensions import db
from app.models import Account, AuditLog, Job, OrgUnit
from tests.conftest import account, finish_jobs, unit

OWN = "county_360102"        # 东湖区
SIBLING_SCHOOL = "3601030001"  # 西湖第一小学, same city, other county
FAR_SCHOOL = "3604020001"      # 濂溪区, other city


@pytest.fixture
def ids(app):
    with app.app_context():
        return {
            "own_school": unit(db.session, "3601020001").id,
            "sibling_school": unit(db.session, SIBLING_SCHOOL).id,
            "far_school": unit(db.session, FAR_SCHOOL).id,
            "sibling_county": unit(db.session, "360103").id,
            "sibling_user": account(db.session, f"school_{SIBLING_SCHOOL}").id,
            "own_user": account(db.session, "school_3601020001").id,
        }


def _unit_state(app, pk):
    with app.app_context():
        u = db.session.get(OrgUnit, pk)
        return (u.name, u.active, u.address)


def test_list_shows_only_own_subtree(as_user):
    html = as_user(OWN).get("/orgunitview/list/?psize_OrgUnitView=100").get_data(as_text=True)
    assert "东湖第一小学" in html and "东湖区教育体育局" in html
    # The county's own parent (南昌市教育局) may appear as its 上级机构; no other unit may.
    for other in ("西湖", "濂溪", "九江", "江西省教育厅"):
        assert other not in html


@pytest.mark.parametrize("target", ["sibling_school", "far_school", "sibling_county"])
def test_show_edit_delete_by_url_are_404_and_change_nothing(app, as_user, ids, target):
    c = as_user(OWN)
    pk = ids[target]
    before = _unit_state(app, pk)
    assert c.get(f"/orgunitview/show/{pk}").status_code == 404
    assert c.get(f"/orgunitview/edit/{pk}").status_code == 404
    r = c.post(f"/orgunitview/edit/{pk}", data={"name": "被篡改", "address": "x"})
    assert r.status_code == 404
    r = c.post(f"/orgunitview/delete/{pk}")
    assert r.status_code == 404
    assert _unit_state(app, pk) == before


def test_bulk_and_single_actions_cannot_touch_other_county(app, as_user, ids):
    c = as_user(OWN)
    r = c.post("/orgunitview/action_post", data={"action": "deactivate", "rowid": [str(ids["sibling_school"]), str(ids["far_school"])]},
               follow_redirects=True)
    assert r.status_code == 200
    assert _unit_state(app, ids["sibling_school"])[1] is True
    assert _unit_state(app, ids["far_school"])[1] is True
    assert c.post(f"/orgunitview/action/deactivate/{ids['sibling_school']}").status_code == 404
    assert _unit_state(app, ids["sibling_school"])[1] is True
    # Mixed selection: own row is acted on, the foreign one is silently dropped.
    c.post("/orgunitview/action_post", data={"action": "deactivate", "rowid": [str(ids["own_school"]), str(ids["sibling_school"])]})
    assert _unit_state(app, ids["own_school"])[1] is False
    assert _unit_state(app, ids["sibling_school"])[1] is True


def test_accounts_of_other_county_are_invisible_and_untouchable(app, as_user, ids):
    c = as_user(OWN)
    html = c.get("/accountview/list/").get_data(as_text=True)
    assert "school_3601020001" in html and f"school_{SIBLING_SCHOOL}" not in html
    pk = ids["sibling_user"]
    with app.app_context():
        before = account(db.session, f"school_{SIBLING_SCHOOL}").password
    assert c.get(f"/accountview/show/{pk}").status_code == 404
    assert c.get(f"/accountview/edit/{pk}").status_code == 404
    assert c.post(f"/accountview/edit/{pk}", data={"real_name": "张三", "phone": "13800000000", "active": "y"}).status_code == 404
    assert c.post(f"/accountview/action/reset_password/{pk}").status_code == 404
    c.post("/accountview/action_post", data={"action": "deactivate", "rowid": [str(pk)]})
    with app.app_context():
        other = account(db.session, f"school_{SIBLING_SCHOOL}")
        assert other.password == before and other.active is True and other.real_name != "张三"


def test_api_is_scoped(app, api_token, ids):
    c, headers = api_token(OWN)
    r = c.get("/api/v1/org_unit/?q=(page_size:100)", headers=headers)
    assert r.status_code == 200
    names = {row["name"] for row in r.json["result"]}
    assert "东湖第一小学" in names
    assert not any(("西湖" in n or "濂溪" in n) for n in names)
    assert r.json["count"] == len(names)
    for target in ("sibling_school", "far_school"):
        pk = ids[target]
        before = _unit_state(app, pk)
        assert c.get(f"/api/v1/org_unit/{pk}", headers=headers).status_code == 404
        assert c.put(f"/api/v1/org_unit/{pk}", json={"name": "被篡改"}, headers=headers).status_code == 404
        assert c.delete(f"/api/v1/org_unit/{pk}", headers=headers).status_code == 404
        assert _unit_state(app, pk) == before


def test_api_requires_authentication(client, ids):
    assert client.get(f"/api/v1/org_unit/{ids['own_school']}").status_code == 401


def test_export_contains_only_own_subtree_and_download_is_owner_only(app, as_user):
    c = as_user(OWN)
    r = c.post("/orgunitview/export", follow_redirects=False)
    assert r.status_code == 302
    with app.app_context():
        owner = account(db.session, OWN)
        job_id = db.session.scalars(select(Job).where(Job.actor_id == owner.id)).one().id
    job = finish_jobs(app, job_id)
    assert job.state.value == "finished", job.message
    data = c.get(f"/jobview/download/{job_id}")
    assert data.status_code == 200
    ws = load_workbook(io.BytesIO(data.data), read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    names = [r[0] for r in rows[1:]]
    assert rows[0][0] == "名称"
    assert "东湖第一小学" in names and len(names) == 3  # the county and its two schools
    assert not any("西湖" in n or "濂溪" in n for n in names)
    # Another county officer cannot download it, nor see the job.
    other = as_user("county_360103")
    assert other.get(f"/jobview/download/{job_id}").status_code == 404
    assert other.get(f"/jobview/show/{job_id}").status_code == 404
    status = other.get("/jobview/status").json
    assert all(j["id"] != job_id for j in status)


def test_audit_log_is_scoped(app, as_user, ids):
    # 西湖 officer changes its own school; 东湖 officer must not see that entry.
    west = as_user("county_360103")
    r = west.post(f"/orgunitview/edit/{ids['sibling_school']}", data={"name": "西湖第一小学（新校区）", "school_code": SIBLING_SCHOOL,
                                                                   "school_type": "primary", "ownership": "public", "may_enroll": "y", "active": "y"},
                  follow_redirects=True)
    assert r.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(AuditLog).where(AuditLog.new_value == "西湖第一小学（新校区）")) is not None
    east = as_user(OWN)
    assert "新校区" not in east.get("/auditlogview/list/").get_data(as_text=True)
    assert "新校区" in west.get("/auditlogview/list/").get_data(as_text=True)


def test_audit_api_is_scoped(app, api_token, as_user, ids):
    west = as_user("county_360103")
    west.post(f"/orgunitview/edit/{ids['sibling_school']}", data={"name": "西湖第一小学（API核对）", "school_code": SIBLING_SCHOOL,
                                                               "school_type": "primary", "ownership": "public", "may_enroll": "y", "active": "y"})
    c, headers = api_token(OWN)
    rows = c.get("/api/v1/audit_log/?q=(page_size:100)", headers=headers).json["result"]
    assert not any("API核对" in (r["new_value"] or "") for r in rows)
    c2, headers2 = api_token("city_360100")
    rows = c2.get("/api/v1/audit_log/?q=(page_size:100)", headers=headers2).json["result"]
    assert any("API核对" in (r["new_value"] or "") for r in rows)


def test_school_officer_sees_only_its_school(as_user):
    html = as_user("school_3601020001").get("/orgunitview/list/").get_data(as_text=True)
    assert "东湖第一小学" in html
    assert "东湖第一初级中学" not in html and "西湖" not in html


@pytest.mark.parametrize("url", ["/orgunitview/list/", "/accountview/list/"])
def test_search_filter_choices_are_scoped(as_user, url):
    # FAB embeds the relation filters' choices as JSON (escaped) in the list page.
    html = as_user(OWN).get(url).get_data(as_text=True)
    escaped = lambda s: s.encode("unicode_escape").decode("ascii")  # noqa: E731
    assert escaped("东湖第一小学") in html
    assert escaped("西湖") not in html and escaped("濂溪") not in html and "西湖" not in html


def test_malformed_filter_values_never_500(as_user):
    c = as_user(OWN)
    for url in ("/studentview/list/?_flt_0_school=abc", "/orgunitview/list/?_flt_0_parent=xyz",
                "/accountview/list/?_flt_0_org_unit=1;drop"):
        r = c.get(url, follow_redirects=True)
        assert r.status_code == 200, url
