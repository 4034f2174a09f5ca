"""业务日历 screens: a county closes transfers for a period and its schools cannot start one; a
superior's rule is read-only below it; schools only read; bad dates are refused in Chinese and
nothing is saved."""
import datetime
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.process import BusinessWindow, WindowMode
from app.services import calendars, transfers
from app.services.errors import DomainError
from tests.conftest import account
from tests.integration.test_registry_services import enrolled

TODAY = datetime.date.today()
DAY = datetime.timedelta(days=1)


def text(resp):
    return resp.get_data(as_text=True)


def rules(app):
    with app.app_context():
        return [(r.org_unit.name, r.process, r.mode, r.starts_on, r.ends_on, r.title)
                for r in db.session.scalars(select(BusinessWindow).order_by(BusinessWindow.id))]


def add_rule(client, **over):
    data = {"process": "transfer", "mode": "closed", "starts_on": (TODAY - DAY).isoformat(),
            "ends_on": (TODAY + 20 * DAY).isoformat(), "title": "暂停转学发起业务"}
    data.update(over)
    return client.post("/calendarview/add", data=data, follow_redirects=True)


def province_rule(app, **over):
    with app.app_context():
        data = {"process": "transfer", "mode": "closed", "starts_on": TODAY + 200 * DAY,
                "ends_on": TODAY + 220 * DAY, "title": "全省暂停转学"}
        data.update(over)
        rule = calendars.add_window(db.session, account(db.session, "sheng_admin"), data)
        db.session.commit()
        return rule.id


def test_county_closes_transfers_and_its_school_cannot_start_one(app, as_user):
    county = as_user("county_360103")
    html = text(county.get("/calendarview/add"))
    assert 'name="starts_on"' in html and "转学（含跨省转学）" in html and "暂停发起" in html
    html = text(add_rule(county))
    assert "业务日历规则已保存" in html and "暂停转学发起业务" in html and "西湖区教育体育局" in html
    [(unit, process, mode, starts, ends, title)] = rules(app)
    assert (unit, process, mode) == ("西湖区教育体育局", "transfer", WindowMode.CLOSED)
    assert (starts, ends) == (TODAY - DAY, TODAY + 20 * DAY)

    with app.app_context():
        s = enrolled("school_3601020001")
        # 西湖第一小学 (in 西湖区) may not start a transfer now; the message names the dates.
        with pytest.raises(DomainError) as exc:
            transfers.start_transfer_in(db.session, account(db.session, "school_3601030001"), name=s.name,
                                        number=s.xueji_no, grade="11", reason_code="03")
        db.session.rollback()
        start, end = TODAY - DAY, TODAY + 20 * DAY
        span = f"{start.year}年{start.month}月{start.day}日至{end.year}年{end.month}月{end.day}日"
        assert "西湖区教育体育局已暂停" in exc.value.message and span in exc.value.message
        assert "暂停转学发起业务" in exc.value.message
        # Another county's schools are not bound by it.
        req = transfers.start_transfer_out(db.session, account(db.session, "school_3601020001"), s.id,
                                           to_school_code="3604020001", grade="11", reason_code="03")
        db.session.commit()
        assert req.id

    # Its schools see the rule (read only); the other county's rules are not theirs to see.
    school = as_user("school_3601030001")
    html = text(school.get("/calendarview/list/"))
    assert "暂停转学发起业务" in html and "/calendarview/add" not in html and "/calendarview/edit/" not in html
    assert "暂停转学发起业务" not in text(as_user("school_3601020001").get("/calendarview/list/"))
    assert "暂停转学发起业务" not in text(as_user("county_360102").get("/calendarview/list/"))
    assert "暂停转学发起业务" in text(as_user("city_360100").get("/calendarview/list/"))


def test_county_edits_and_deletes_its_own_rule(app, as_user):
    county = as_user("county_360102")
    add_rule(county)
    with app.app_context():
        rid = db.session.scalar(select(BusinessWindow.id))
    html = text(county.get("/calendarview/list/"))
    assert f'href="/calendarview/edit/{rid}"' in html and f'action="/calendarview/delete/{rid}"' in html
    html = text(county.get(f"/calendarview/edit/{rid}"))
    assert 'value="暂停转学发起业务"' in html
    html = text(county.post(f"/calendarview/edit/{rid}", data={
        "process": "suspend", "mode": "open", "starts_on": "2026-09-01", "ends_on": "2026-12-31", "title": "休学办理期限"},
        follow_redirects=True))
    assert "业务日历规则已修改" in html and "休学办理期限" in html
    assert rules(app)[0][1:] == ("suspend", WindowMode.OPEN, datetime.date(2026, 9, 1), datetime.date(2026, 12, 31),
                                 "休学办理期限")
    html = text(county.post(f"/calendarview/delete/{rid}", follow_redirects=True))
    assert "已删除业务日历规则“休学办理期限”" in html and rules(app) == []


def test_county_cannot_change_the_provinces_rule(app, as_user):
    rid = province_rule(app)
    before = rules(app)
    county = as_user("county_360102")
    html = text(county.get("/calendarview/list/"))
    assert "全省暂停转学" in html and "上级（须遵守）" in html
    assert f"/calendarview/edit/{rid}" not in html and f"/calendarview/delete/{rid}" not in html
    resp = county.get(f"/calendarview/edit/{rid}", follow_redirects=True)
    assert "该规则由江西省教育厅设置，本单位只能查看，不能修改或删除" in text(resp)
    resp = county.post(f"/calendarview/edit/{rid}", data={
        "process": "transfer", "mode": "closed", "starts_on": "2026-01-01", "ends_on": "2026-01-02", "title": "改"},
        follow_redirects=True)
    assert "只能查看" in text(resp)
    resp = county.post(f"/calendarview/delete/{rid}", follow_redirects=True)
    assert "只能查看" in text(resp)
    assert rules(app) == before
    # A rule of another county is not even visible: 404.
    with app.app_context():
        other = calendars.add_window(db.session, account(db.session, "county_360103"),
                                     {"process": "transfer", "mode": "closed", "starts_on": TODAY,
                                      "ends_on": TODAY, "title": "西湖区暂停"}).id
        db.session.commit()
    assert county.get(f"/calendarview/edit/{other}").status_code == 404
    assert county.post(f"/calendarview/delete/{other}").status_code == 404
    # The province, above the county, may not change the county's rule either: it is the county's.
    province = as_user("sheng_admin")
    html = text(province.post(f"/calendarview/delete/{other}", follow_redirects=True))
    assert "该规则由西湖区教育体育局设置" in html and len(rules(app)) == 2


def test_a_school_cannot_add_rules(app, as_user):
    school = as_user("school_3601020001")
    assert school.get("/calendarview/list/").status_code == 200
    assert school.get("/calendarview/add").status_code == 403
    assert add_rule(school).status_code == 403
    rid = province_rule(app)
    assert school.post(f"/calendarview/edit/{rid}", data={"title": "x"}).status_code == 403
    assert school.post(f"/calendarview/delete/{rid}").status_code == 403
    assert len(rules(app)) == 1
    # The menu offers the calendar to schools, not the route settings.
    home = text(school.get("/"))
    assert "/calendarview/list/" in home and "/processsettingview/list/" not in home


@pytest.mark.parametrize("over, message", [
    ({"starts_on": "2026-08-14", "ends_on": "2026-07-21"}, "结束日期不能早于开始日期"),
    ({"starts_on": "7月21日"}, "开始日期格式应为 年-月-日"),
    ({"title": "  "}, "请填写名称或依据"),
    ({"process": ""}, "请选择业务"),
    ({"mode": "sometimes"}, "请选择规则类型"),
    ({"starts_on": "2026-01-01", "ends_on": "2027-06-30"}, "一条规则最长一年"),
])
def test_bad_input_is_refused_and_nothing_saved(app, as_user, over, message):
    county = as_user("county_360102")
    resp = add_rule(county, **over)
    html = text(resp)
    assert resp.status_code == 200 and message in html
    assert 'class="form-group has-error"' in html and 'name="title"' in html  # the form again, values kept
    if "title" not in over:
        assert 'value="暂停转学发起业务"' in html
    assert rules(app) == []


def test_bad_edit_changes_nothing(app, as_user):
    county = as_user("county_360102")
    add_rule(county)
    before = rules(app)
    with app.app_context():
        rid = db.session.scalar(select(BusinessWindow.id))
    html = text(county.post(f"/calendarview/edit/{rid}", data={
        "process": "transfer", "mode": "closed", "starts_on": "2026-08-14", "ends_on": "2026-07-21", "title": "改"},
        follow_redirects=True))
    assert "结束日期不能早于开始日期" in html and "编辑业务日历规则" in html
    assert rules(app) == before


def test_holiday_needs_no_process(app, as_user):
    html = text(add_rule(as_user("city_360100"), mode="holiday", process="", title="国庆节",
                         starts_on="2026-10-01", ends_on="2026-10-07"))
    assert "业务日历规则已保存" in html and "全部业务" in html and "节假日" in html
    assert rules(app) == [("南昌市教育局", calendars.ALL_PROCESSES, WindowMode.HOLIDAY, datetime.date(2026, 10, 1),
                           datetime.date(2026, 10, 7), "国庆节")]
    html = text(as_user("county_360102").get("/calendarview/list/?mode=holiday"))
    assert "国庆节" in html
    html = text(as_user("county_360102").get("/calendarview/list/?mode=closed"))
    assert "国庆节" not in html


def test_settings_menu_for_officers(app, as_user):
    home = text(as_user("county_360102").get("/"))
    assert "业务设置" in home and "/calendarview/list/" in home and "/processsettingview/list/" in home
    assert re.search(r"业务日历", home) and "审批路线设置" in home
