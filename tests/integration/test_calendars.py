"""Business calendars and deadlines (学籍异动 items 4 and 5): windows per process, defined by a
province, city or county for its own subtree; outside a window a request is refused with the
window's dates, while requests started earlier go on being approved; holidays and weekends in the
working-day deadlines of 审批待办; new-student registration by form and by workbook honour the
'registration' window."""
import datetime
import os

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.imports import engine, spec as import_specs
from app.imports.specs import new_students  # noqa: F401  (registers the spec)
from app.models import AuditLog, Request, RequestState, Student, StudentStatus
from app.models.process import BusinessWindow
from app.models.requests import RequestStep
from app.services import calendars, deadlines, requests, scope, status_changes, students, transfers
from app.services.errors import DomainError, NotFound, PermissionDenied
from tests.conftest import account, unit
from tests.integration.test_imports import row, workbook
from tests.integration.test_registry_services import GUARDIANS, data, evidence
from tests.integration.test_transfers import refused, steps, student_at

D = datetime.date
DAY = datetime.timedelta(days=1)
EAST1, WEST1, LIANXI1 = "3601020001", "3601030001", "3604020001"


def acc(username):
    return account(db.session, username)


def rule(who, process, mode="closed", first=None, last=None, title="暂停发起"):
    today = D.today()
    r = calendars.add_window(db.session, acc(who), {
        "process": process, "mode": mode, "starts_on": first or today - DAY, "ends_on": last or today + 10 * DAY,
        "title": title})
    db.session.commit()
    return r


def span(first, last):
    return f"{first.year}年{first.month}月{first.day}日至{last.year}年{last.month}月{last.day}日"


def suspend(s, who=None):
    return status_changes.request_suspension(db.session, acc(who or f"school_{s.school.school_code}"), s.id,
                                             reason_code="01", starts_on="2026-09-01", ends_on="2027-01-31")


def decide(req, who, comment=None):
    out = requests.approve(db.session, acc(who), req.id, comment)
    db.session.commit()
    return out


# ---------------------------------------------------------------- closed windows

def test_a_closed_window_refuses_new_requests_with_its_dates_but_not_approvals(app):
    with app.app_context():
        s = student_at()
        t = student_at(seq=2, name="李小华")
        early = suspend(s)
        early_transfer = transfers.start_transfer_out(db.session, acc(f"school_{EAST1}"), t.id, to_school_code=WEST1,
                                                      reason_code="01")
        db.session.commit()
        today = D.today()
        first, last = today - 2 * DAY, today + 20 * DAY
        rule("county_360102", "suspend", first=first, last=last, title="期末暂停休学申请")
        rule("sheng_admin", "transfer", first=first, last=last, title="暂停转学发起业务")
        u = student_at(seq=3, name="王小军")
        err = refused("东湖区教育体育局已暂停“休学”业务的发起", status_changes.request_suspension, acc(f"school_{EAST1}"),
                      u.id, reason_code="01", starts_on="2026-09-01", ends_on="2027-01-31")
        assert span(first, last) in err.message and "期末暂停休学申请" in err.message
        assert "此前已发起的申请可继续办理" in err.message
        err = refused("江西省教育厅已暂停“转学（转出申请）”业务的发起", transfers.start_transfer_out,
                      acc(f"school_{EAST1}"), u.id, to_school_code=WEST1, reason_code="01")
        assert span(first, last) in err.message
        # requests started before the window go on: every approval still works
        decide(early, "county_360102")
        assert s.status == StudentStatus.SUSPENDED
        for who in (f"school_{WEST1}", "county_360102", "county_360103"):
            decide(early_transfer, who)
        assert early_transfer.state == RequestState.APPROVED and t.school.school_code == WEST1
        # a process without a rule is not touched
        req = status_changes.request_leave(db.session, acc(f"school_{EAST1}"), u.id, reason_code="01")
        db.session.commit()
        assert req.state == RequestState.PENDING


@pytest.mark.parametrize("first, last, blocked", [
    (0, 0, True), (0, 5, True), (-5, 0, True), (-5, -1, False), (1, 5, False),
])
def test_the_dates_of_a_closed_window_are_inclusive(app, first, last, blocked):
    with app.app_context():
        s = student_at()
        today = D.today()
        rule("county_360102", "suspend", first=today + first * DAY, last=today + last * DAY)
        if blocked:
            refused("已暂停“休学”业务的发起", status_changes.request_suspension, acc(f"school_{EAST1}"), s.id,
                    reason_code="01", starts_on="2026-09-01", ends_on="2027-01-31")
        else:
            assert suspend(s).state == RequestState.PENDING


def test_calendar_check_for_a_given_day(app):
    with app.app_context():
        rule("sheng_admin", "transfer", first=D(2026, 7, 21), last=D(2026, 8, 14), title="暂停转学发起业务")
        school = unit(db.session, EAST1)
        with pytest.raises(DomainError, match="2026年7月21日至2026年8月14日（暂停转学发起业务）"):
            calendars.check(db.session, "transfer", "转学", school, today=D(2026, 8, 14))
        calendars.check(db.session, "transfer", "转学", school, today=D(2026, 8, 15))
        calendars.check(db.session, "transfer", "转学", school, today=D(2026, 7, 20))
        calendars.check(db.session, "suspend", "休学", school, today=D(2026, 8, 1))


# ---------------------------------------------------------------- open windows (办理期限)

def test_open_windows_allow_new_requests_only_between_their_dates(app):
    with app.app_context():
        today = D.today()
        s = student_at()
        w = student_at(WEST1, seq=2, name="李小华")
        first, last = today + 5 * DAY, today + 30 * DAY
        rule("county_360102", "suspend", mode="open", first=first, last=last, title="本学期休学办理期限")
        err = refused("“休学”只能在办理期限内发起", status_changes.request_suspension, acc(f"school_{EAST1}"), s.id,
                      reason_code="01", starts_on="2026-09-01", ends_on="2027-01-31")
        assert f"东湖区教育体育局：{span(first, last)}" in err.message and "今天不在期限内" in err.message
        assert suspend(w).state == RequestState.PENDING  # 西湖区 has no such rule
        db.session.commit()
        # a second period that includes today opens it again
        rule("county_360102", "suspend", mode="open", first=today - DAY, last=today + DAY, title="补办期")
        assert suspend(s).state == RequestState.PENDING


def test_a_closed_window_inside_an_open_period_still_closes(app):
    with app.app_context():
        today = D.today()
        s = student_at()
        rule("sheng_admin", "suspend", mode="open", first=today - 30 * DAY, last=today + 30 * DAY, title="全年")
        rule("county_360102", "suspend", mode="closed", first=today, last=today, title="系统维护")
        refused("已暂停“休学”业务的发起", status_changes.request_suspension, acc(f"school_{EAST1}"), s.id,
                reason_code="01", starts_on="2026-09-01", ends_on="2027-01-31")


# ---------------------------------------------------------------- subtrees

def test_rules_apply_to_the_defining_units_subtree_only(app):
    with app.app_context():
        east = student_at()
        west = student_at(WEST1, seq=2, name="李小华")
        north = student_at(LIANXI1, seq=3, name="王小军")
        rule("county_360102", "leave_other")
        refused("东湖区教育体育局已暂停", status_changes.request_leave, acc(f"school_{EAST1}"), east.id, reason_code="01")
        assert status_changes.request_leave(db.session, acc(f"school_{WEST1}"), west.id, reason_code="01")
        db.session.rollback()
        rule("city_360100", "leave_other", title="南昌市暂停")
        refused("南昌市教育局已暂停", status_changes.request_leave, acc(f"school_{WEST1}"), west.id, reason_code="01")
        assert status_changes.request_leave(db.session, acc(f"school_{LIANXI1}"), north.id, reason_code="01")
        db.session.rollback()
        rule("sheng_admin", "leave_other", title="全省暂停")
        refused("已暂停", status_changes.request_leave, acc(f"school_{LIANXI1}"), north.id, reason_code="01")


def test_only_administrators_define_rules_and_only_for_their_own_unit(app):
    with app.app_context():
        today = D.today()
        body = {"process": "transfer", "mode": "closed", "starts_on": today, "ends_on": today + DAY, "title": "暂停"}
        for who in (f"school_{EAST1}", "sheng_viewer"):
            with pytest.raises(PermissionDenied, match="只有省、市、县（区）教育行政部门的管理员"):
                calendars.add_window(db.session, acc(who), body)
        db.session.rollback()
        mine = calendars.add_window(db.session, acc("county_360102"), body)
        province = calendars.add_window(db.session, acc("sheng_admin"), {**body, "title": "全省暂停"})
        db.session.commit()
        assert mine.org_unit.name == "东湖区教育体育局" and mine.created_by_id == acc("county_360102").id
        # a superior's rule binds the county (it sees it) but is not the county's to change
        with pytest.raises(PermissionDenied, match="该规则由江西省教育厅设置"):
            calendars.update_window(db.session, acc("county_360102"), province.id, {**body, "title": "改"})
        with pytest.raises(PermissionDenied, match="本单位只能查看，不能修改或删除"):
            calendars.delete_window(db.session, acc("county_360102"), province.id)
        with pytest.raises(NotFound):  # nor a sibling's
            calendars.delete_window(db.session, acc("county_360103"), mine.id)
        with pytest.raises(PermissionDenied, match="该规则由东湖区教育体育局设置"):
            calendars.update_window(db.session, acc("sheng_admin"), mine.id, {**body, "title": "改"})
        with pytest.raises(PermissionDenied):
            calendars.delete_window(db.session, acc("city_360100"), mine.id)
        db.session.rollback()
        calendars.update_window(db.session, acc("county_360102"), mine.id, {**body, "title": "暂停转学（更正）"})
        db.session.commit()
        assert mine.title == "暂停转学（更正）"
        # who sees which rules: own subtree and the superiors' (they bind it), never a sibling's
        visible = lambda who: {r.title for r in db.session.scalars(
            select(BusinessWindow).where(scope.clause(acc(who), BusinessWindow)))}
        assert visible("county_360102") == {"暂停转学（更正）", "全省暂停"}
        assert visible("county_360103") == {"全省暂停"}
        assert visible("city_360100") == {"暂停转学（更正）", "全省暂停"}
        assert visible(f"school_{EAST1}") == {"暂停转学（更正）", "全省暂停"}
        calendars.delete_window(db.session, acc("county_360102"), mine.id)
        db.session.commit()
        assert db.session.get(BusinessWindow, mine.id) is None
        log = db.session.scalars(select(AuditLog).where(AuditLog.entity == "business_window")).all()
        assert {r.action for r in log} == {"create", "update", "delete"}
        assert any(r.actor_name == "county_360102" and r.new_value == "暂停转学（更正）" for r in log)


@pytest.mark.parametrize("over, message", [
    ({"mode": "sometimes"}, "请选择规则类型"),
    ({"process": "lunch"}, "请选择业务"),
    ({"process": ""}, "请选择业务"),
    ({"starts_on": "7月21日"}, "开始日期格式应为 年-月-日"),
    ({"ends_on": ""}, "结束日期格式应为 年-月-日"),
    ({"starts_on": "2026-08-14", "ends_on": "2026-07-21"}, "结束日期不能早于开始日期"),
    ({"starts_on": "2026-01-01", "ends_on": "2027-01-03"}, "一条规则最长一年"),
    ({"title": "  "}, "请填写名称或依据"),
])
def test_bad_rules_are_refused(app, over, message):
    with app.app_context():
        body = {"process": "transfer", "mode": "closed", "starts_on": "2026-07-21", "ends_on": "2026-08-14",
                "title": "暂停转学发起业务", **over}
        refused(message, calendars.add_window, acc("county_360102"), body)
        assert db.session.scalar(select(func.count()).select_from(BusinessWindow)) == 0


def test_a_holiday_is_for_every_process(app):
    with app.app_context():
        h = calendars.add_window(db.session, acc("sheng_admin"), {
            "process": "transfer", "mode": "holiday", "starts_on": "2026-10-01", "ends_on": "2026-10-07", "title": "国庆节"})
        db.session.commit()
        assert h.process == calendars.ALL_PROCESSES and calendars.process_label(h.process) == "全部业务"
        school = unit(db.session, EAST1)
        assert calendars.holidays(db.session, school, D(2026, 9, 28), D(2026, 10, 3)) == {
            D(2026, 10, 1), D(2026, 10, 2), D(2026, 10, 3)}
        assert calendars.holidays(db.session, school, D(2026, 11, 1), D(2026, 11, 30)) == set()
        calendars.check(db.session, "transfer", "转学", school, today=D(2026, 10, 2))  # a holiday is not a closure
        # a county's holiday is its own
        calendars.add_window(db.session, acc("county_360103"), {
            "process": "", "mode": "holiday", "starts_on": "2026-11-02", "ends_on": "2026-11-02", "title": "地方假日"})
        db.session.commit()
        assert calendars.holidays(db.session, unit(db.session, WEST1), D(2026, 11, 1), D(2026, 11, 30)) == {D(2026, 11, 2)}
        assert calendars.holidays(db.session, school, D(2026, 11, 1), D(2026, 11, 30)) == set()


# ---------------------------------------------------------------- working days and deadlines

def test_working_days_between_skip_weekends_and_holidays():
    wd = calendars.working_days_between
    fri, sat, sun, mon, tue = (D(2026, 7, d) for d in (17, 18, 19, 20, 21))
    assert wd(fri, mon) == 1 and wd(fri, sat) == 0 and wd(sat, mon) == 1 and wd(sun, mon) == 1
    assert wd(mon, mon) == 0 and wd(tue, mon) == 0 and wd(None, mon) == 0
    assert wd(D(2026, 7, 13), D(2026, 7, 20)) == 5
    assert wd(D(2026, 7, 13), D(2026, 7, 20), {D(2026, 7, 15)}) == 4
    assert wd(D(2026, 7, 13), D(2026, 7, 20), {D(2026, 7, 18)}) == 5  # a holiday on a Saturday changes nothing
    # moments: whole days count, not hours
    assert wd(datetime.datetime(2026, 7, 17, 23, 59), datetime.datetime(2026, 7, 20, 0, 1)) == 1
    assert wd(datetime.datetime(2026, 7, 20, 8, 0), datetime.datetime(2026, 7, 20, 18, 0)) == 0
    # a moment against a day (a step's arrival against today)
    assert wd(datetime.datetime(2026, 7, 17, 9, 0), mon) == 1
    assert wd(fri, datetime.datetime(2026, 7, 21, 9, 0)) == 2


def test_the_overdue_cutoff_agrees_with_the_working_days_waited():
    """A step is overdue exactly when it has waited more than `days` working days — whatever the
    day of the week today is, with and without holidays."""
    off_sets = [frozenset(), frozenset({D(2026, 7, 15), D(2026, 7, 9)}), frozenset({D(2026, 7, 17), D(2026, 7, 20)})]
    for off in off_sets:
        for days in (0, 1, 3, 5):
            for t in range(21):
                today = D(2026, 7, 10) + t * DAY
                cut = calendars.overdue_cutoff(days, today, off)
                for back in range(0, 25):
                    for hour in (0, 9, 23):
                        arrived = datetime.datetime.combine(today - back * DAY, datetime.time(hour))
                        waited = calendars.working_days_between(arrived, datetime.datetime.combine(today, datetime.time(23, 59)), off)
                        assert (arrived < cut) == (waited > days), (off, days, today, arrived, cut, waited)


def test_overdue_cutoff_examples():
    cut = calendars.overdue_cutoff
    assert cut(5, D(2026, 7, 20)) == datetime.datetime(2026, 7, 13)          # Monday: six working days back
    assert cut(5, D(2026, 7, 18)) == datetime.datetime(2026, 7, 10)          # Saturday: Friday of last week
    assert cut(5, D(2026, 7, 20), {D(2026, 7, 15)}) == datetime.datetime(2026, 7, 10)


def _pending_suspensions(arrivals):
    """One pending 休学 request per arrival moment, its step arrived then."""
    reqs = []
    for i, arrived in enumerate(arrivals, start=1):
        s = student_at(seq=10 + i, name=f"学生{chr(0x4e00 + i)}")
        req = suspend(s)
        db.session.commit()
        db.session.execute(update(RequestStep).where(RequestStep.request_id == req.id).values(arrived_at=arrived))
        db.session.commit()
        reqs.append(req)
    return reqs


def test_overdue_counts_over_weekends_and_holidays(app):
    with app.app_context():
        at = lambda d, h=10: datetime.datetime(2026, 7, d, h)
        mon13, sat11, fri10, thu9 = at(13, 9), at(11), at(10), at(9)
        reqs = _pending_suspensions([mon13, sat11, fri10, thu9])
        county = acc("county_360102")
        assert deadlines.limit_days() == 5
        # Saturday 18th: Monday's step waited 4 working days, Saturday's and Friday's 5, Thursday's 6
        assert deadlines.overdue_count(db.session, county, today=D(2026, 7, 18)) == 1
        # Monday 20th: one more working day for each
        assert deadlines.overdue_count(db.session, county, today=D(2026, 7, 20)) == 3
        assert deadlines.overdue_count(db.session, county, today=D(2026, 7, 14)) == 0
        # nobody else's inbox holds them; the superiors see them in their subtree
        assert deadlines.overdue_count(db.session, acc("county_360103"), today=D(2026, 7, 20)) == 0
        assert deadlines.overdue_count(db.session, acc(f"school_{EAST1}"), today=D(2026, 7, 20)) == 0
        assert deadlines.overdue_in_subtree(db.session, acc("city_360100"), today=D(2026, 7, 20)) == 3
        assert deadlines.overdue_in_subtree(db.session, acc("sheng_admin"), today=D(2026, 7, 20)) == 3
        assert deadlines.overdue_in_subtree(db.session, acc("city_360400"), today=D(2026, 7, 20)) == 0
        # a holiday on Wednesday 15th: one working day fewer for everybody
        calendars.add_window(db.session, acc("sheng_admin"), {
            "process": "*", "mode": "holiday", "starts_on": "2026-07-15", "ends_on": "2026-07-15", "title": "调休"})
        db.session.commit()
        assert deadlines.off_days(db.session, county.org_unit, D(2026, 7, 20)) == {D(2026, 7, 15)}
        assert deadlines.overdue_count(db.session, county, today=D(2026, 7, 20)) == 1
        moment = deadlines.cutoff(db.session, county.org_unit, D(2026, 7, 20))
        off = deadlines.off_days(db.session, county.org_unit, D(2026, 7, 20))
        now = datetime.datetime(2026, 7, 20, 16, 0)
        for req in reqs:
            step = requests.current_step(req)
            assert deadlines.is_overdue(step, moment) == (deadlines.waiting_days(step.arrived_at, off, now) > 5)
        # a decided step is not overdue any more
        decide(reqs[-1], "county_360102")
        assert deadlines.overdue_count(db.session, county, today=D(2026, 7, 20)) == 0


def test_a_schools_confirmation_has_a_deadline_too(app):
    with app.app_context():
        s = student_at()
        req = transfers.start_transfer_out(db.session, acc(f"school_{EAST1}"), s.id, to_school_code=WEST1,
                                           reason_code="01")
        db.session.commit()
        db.session.execute(update(RequestStep).where(RequestStep.request_id == req.id, RequestStep.seq == 1)
                           .values(arrived_at=datetime.datetime(2026, 7, 1, 9)))
        db.session.commit()
        assert deadlines.overdue_count(db.session, acc(f"school_{WEST1}"), today=D(2026, 7, 20)) == 1
        assert deadlines.overdue_count(db.session, acc("county_360103"), today=D(2026, 7, 20)) == 0


def test_the_province_confirmation_has_a_deadline_for_its_officers_only(app):
    with app.app_context():
        s = student_at()
        req = transfers.start_province_transfer_out(db.session, acc(f"school_{EAST1}"), s.id, to_province="440000",
                                                    to_school="广州市第一小学", reason_code="01")
        db.session.commit()
        decide(req, "county_360102")
        db.session.execute(update(RequestStep).where(RequestStep.request_id == req.id, RequestStep.seq == 2)
                           .values(arrived_at=datetime.datetime(2026, 7, 1, 9)))
        db.session.commit()
        assert deadlines.overdue_count(db.session, acc("sheng_admin"), today=D(2026, 7, 20)) == 1
        assert requests.pending_count(db.session, acc("sheng_admin")) == 1
        # a read-only account of the province decides nothing, so nothing is overdue for it
        assert deadlines.overdue_count(db.session, acc("sheng_viewer"), today=D(2026, 7, 20)) == 0
        assert requests.pending_count(db.session, acc("sheng_viewer")) == 0


def test_a_new_step_arrives_when_the_previous_one_is_decided(app):
    with app.app_context():
        s = student_at()
        req = transfers.start_transfer_out(db.session, acc(f"school_{EAST1}"), s.id, to_school_code=WEST1,
                                           reason_code="01")
        db.session.commit()
        first = steps(req)
        assert [x[3] for x in first] == ["pending", "waiting", "waiting"]
        assert req.steps[0].arrived_at is not None and req.steps[1].arrived_at is None
        before = datetime.datetime.now()
        decide(req, f"school_{WEST1}")
        assert req.steps[1].arrived_at >= before and req.steps[2].arrived_at is None


# ---------------------------------------------------------------- new-student registration

def test_registration_by_form_is_refused_inside_a_closed_registration_window(app):
    with app.app_context():
        today = D.today()
        rule("county_360102", "registration", first=today - DAY, last=today + 5 * DAY, title="新生注册暂停")
        err = refused("东湖区教育体育局已暂停“新生注册”业务的发起", students.register_student,
                      acc(f"school_{EAST1}"), data(), GUARDIANS)
        assert span(today - DAY, today + 5 * DAY) in err.message
        assert db.session.scalar(select(func.count()).select_from(Student)) == 0
        s, req, _ = students.register_student(db.session, acc(f"school_{WEST1}"), data(seq=2, name="李小华"), GUARDIANS)
        db.session.commit()
        assert req.state == RequestState.PENDING and s.school.school_code == WEST1


def test_registration_by_workbook_is_refused_inside_a_closed_registration_window(app, tmp_path):
    with app.app_context():
        today = D.today()
        rule("county_360102", "registration", first=today, last=today + 5 * DAY, title="新生注册暂停")
        path = workbook(tmp_path, [row(i) for i in range(1, 4)])
        spec = import_specs.get("new_students")
        with pytest.raises(DomainError, match="东湖区教育体育局已暂停“新生注册”业务的发起") as err:
            engine.run_import(db.session, acc(f"school_{EAST1}"), spec, path, os.path.basename(path))
        assert span(today, today + 5 * DAY) in err.value.message
        with pytest.raises(DomainError, match="已暂停“新生注册”"):
            spec.ready(db.session, acc(f"school_{EAST1}"))
        actor = acc(f"school_{EAST1}")
        clean, _ = students.clean_student_fields(db.session, data())
        records = [{"student": clean, "guardian": students.clean_guardians(GUARDIANS)[0]}]
        with pytest.raises(DomainError, match="已暂停“新生注册”"):
            students.register_students_bulk(db.session, actor, records)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Student)) == 0
        assert db.session.scalar(select(func.count()).select_from(Request)) == 0
        # a school of another county is not bound by 东湖区's calendar
        path2 = workbook(tmp_path, [row(i) for i in range(1, 4)], name="西湖.xlsx")
        summary = engine.run_import(db.session, acc(f"school_{WEST1}"), spec, path2, "西湖.xlsx")
        db.session.commit()
        assert summary["accepted"] == 3


def test_key_data_changes_honour_their_window(app):
    with app.app_context():
        s = student_at()
        rule("city_360100", "key_change", title="数据核查期间暂停关键数据变更")
        school = acc(f"school_{EAST1}")
        refused("南昌市教育局已暂停“关键数据变更”业务的发起", students.request_key_change, school, s.id,
                {"name": "张晓明"}, "更正", evidence(school))
