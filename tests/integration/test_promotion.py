"""升级 in the services and the scheduler: at the time point every non-final grade moves up once,
who stays and why, classes, one audit event, the province's undo within the grace period, 补升级,
the year-end report, and the job that runs it by itself (embedded timer, RQ scheduled job, CLI)."""
import datetime
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (AuditLog, HoldReason, PromotionHold, PromotionRun, PromotionState, SchoolClass, Student,
                        StudentStatus)
from app.services import clock, graduation, promotion, requests, school_years, status_changes
from app.services.errors import DomainError, PermissionDenied
from tests.conftest import account
from tests.integration.test_graduation import final
from tests.integration.test_school_year import frozen, open_year  # noqa: F401  (fixture)

DT = datetime.datetime
ME = "school_3601020001"
AFTER = DT(2027, 8, 11, 0, 5)  # just after 2027年8月10日24时


def acc(username):
    return account(db.session, username)


def grades_of(*students):
    db.session.expire_all()
    return [db.session.get(Student, s.id).grade for s in students]


@pytest.fixture
def school_year(app, world, frozen):
    """2026-2027 with a class per grade: a (grade 11), b (13), c (16, graduated), d (16, not graduated),
    e (12, 休学), f (14, with an open 休学 request), w (15, 西湖区)."""
    with app.app_context():
        frozen.at(DT(2027, 6, 1, 9, 0))
        year = open_year()
        a, b = final(1, grade="11"), final(2, grade="13")
        c, d = final(3), final(4)
        e, f = final(5, grade="12"), final(6, grade="14")
        w = final(7, grade="15", who="school_3601030001")
        school_years.adopt_class_names(db.session)
        db.session.commit()
        me = acc(ME)
        graduation.graduate(db.session, me, student_ids=[c.id])
        e.status = StudentStatus.SUSPENDED
        req = status_changes.request_suspension(db.session, me, f.id, reason_code="01", starts_on="2027-06-02",
                                                ends_on="2027-12-31")
        db.session.commit()
        yield {"year": year, "a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "w": w, "req": req}


def test_nothing_happens_before_the_time_point(app, school_year, frozen):
    with app.app_context():
        frozen.at(DT(2027, 8, 10, 23, 59))
        assert promotion.run_due(db.session) is None
        assert promotion.next_time_point(db.session) == DT(2027, 8, 11)


def test_at_the_time_point_every_non_final_grade_moves_up_once(app, school_year, frozen):
    y = school_year
    with app.app_context():
        frozen.at(AFTER)
        run = promotion.run_due(db.session)
        db.session.commit()
        assert run.scheduled and run.ran_by_id is None and run.state == PromotionState.DONE
        assert grades_of(y["a"], y["b"], y["w"]) == ["12", "14", "16"]
        assert grades_of(y["c"], y["d"], y["e"], y["f"]) == ["16", "16", "12", "14"]  # graduated / held stay
        assert run.promoted == 3 and run.held == 3
        holds = {(h.student_id, h.reason, h.request_id) for h in db.session.scalars(select(PromotionHold))}
        assert holds == {(y["d"].id, HoldReason.NOT_GRADUATED, None), (y["e"].id, HoldReason.SUSPENDED, None),
                         (y["f"].id, HoldReason.OPEN_REQUEST, y["req"].id)}
        # after it, no school has an in-school grade-1 student until admission
        assert db.session.scalar(select(func.count()).select_from(Student).where(
            Student.grade.in_(("11", "21", "31")), Student.status == StudentStatus.IN_SCHOOL)) == 0
        # classes move with their students; a's class is now grade 12
        assert db.session.get(SchoolClass, y["a"].class_id).grade == "12"
        # one audit event for the whole province, history spans per student
        bulk = db.session.scalars(select(AuditLog).where(AuditLog.entity == "student", AuditLog.action == "bulk")).all()
        assert [(e.new_value, e.actor_name) for e in bulk] == [("3", "系统")]
        assert y["a"].history[-1].grade == "12" and "升级" in y["a"].history[-1].reason
        # idempotent: the schedule, the CLI or a second click do not promote twice
        assert promotion.run_due(db.session) is None
        with pytest.raises(DomainError, match="已经升级过，不会重复升级"):
            promotion.run(db.session, acc("sheng_admin"), y["year"].id)
        db.session.rollback()
        assert grades_of(y["a"], y["b"]) == ["12", "14"]
        assert db.session.scalar(select(func.count()).select_from(PromotionRun)) == 1


def test_the_final_grade_class_retires_once_everyone_left(app, school_year, frozen):
    y = school_year
    with app.app_context():
        me = acc(ME)
        graduation.graduate(db.session, me, student_ids=[y["d"].id])
        db.session.commit()
        frozen.at(AFTER)
        promotion.run_due(db.session)
        db.session.commit()
        db.session.expire_all()
        cls = db.session.get(SchoolClass, y["d"].class_id)
        assert not cls.active and cls.grade == "16"


def test_only_the_province_runs_it_by_hand(app, school_year, frozen):
    with app.app_context():
        for who in ("county_360102", ME, "sheng_viewer"):
            with pytest.raises(PermissionDenied, match="只有省级管理员"):
                promotion.run(db.session, acc(who), school_year["year"].id)
            db.session.rollback()
        run = promotion.run(db.session, acc("sheng_admin"), school_year["year"].id)  # before the time point
        db.session.commit()
        assert not run.scheduled and run.ran_by_id == acc("sheng_admin").id


def test_the_province_undoes_it_within_the_grace_period(app, school_year, frozen):
    y = school_year
    with app.app_context():
        frozen.at(AFTER)
        run = promotion.run_due(db.session)
        db.session.commit()
        sheng = acc("sheng_admin")
        with pytest.raises(PermissionDenied):
            promotion.revert(db.session, acc("county_360102"), run.id, "时点设错")
        db.session.rollback()
        with pytest.raises(DomainError, match="请填写撤销理由"):
            promotion.revert(db.session, sheng, run.id, "")
        db.session.rollback()
        frozen.at(AFTER + datetime.timedelta(days=1))
        promotion.revert(db.session, sheng, run.id, "时点设错，重新设置")
        db.session.commit()
        assert grades_of(y["a"], y["b"], y["w"]) == ["11", "13", "15"]
        assert db.session.get(SchoolClass, y["a"].class_id).grade == "11"
        assert run.state == PromotionState.REVERTED and y["a"].history[-1].reason.startswith("撤销")
        assert promotion.run_due(db.session) is None  # the schedule does not redo an undone year
        again = promotion.run(db.session, sheng, y["year"].id)  # the province may run it again by hand
        db.session.commit()
        assert again.promoted == 3 and grades_of(y["a"])[0] == "12"


def test_no_undo_after_the_grace_period_or_once_new_pupils_arrived(app, school_year, frozen):
    from tests.integration.test_registry_services import register
    with app.app_context():
        frozen.at(AFTER)
        run = promotion.run_due(db.session)
        db.session.commit()
        sheng = acc("sheng_admin")
        frozen.at(run.grace_until + datetime.timedelta(minutes=1))
        with pytest.raises(DomainError, match="超过可撤销期限"):
            promotion.revert(db.session, sheng, run.id, "太晚了")
        db.session.rollback()
        frozen.at(AFTER + datetime.timedelta(days=2))
        run.ran_at = DT(2020, 1, 1)  # make the (real-clock) registration below count as after the run
        db.session.commit()
        register(seq=40)  # a new grade-1 pupil (新生注册) after the promotion
        with pytest.raises(DomainError, match="1 名一年级新生注册或入学"):
            promotion.revert(db.session, sheng, run.id, "时点设错")
        db.session.rollback()
        assert run.state == PromotionState.DONE


def test_held_students_move_up_once_their_reason_is_gone(app, school_year, frozen):
    y = school_year
    with app.app_context():
        frozen.at(AFTER)
        run = promotion.run_due(db.session)
        db.session.commit()
        county = acc("county_360102")
        assert promotion.promote_held(db.session, county, run.id) == []  # the request is still open
        requests.cancel(db.session, acc(ME), y["req"].id)
        db.session.commit()
        done = promotion.promote_held(db.session, county, run.id)
        db.session.commit()
        assert [s.id for s in done] == [y["f"].id] and grades_of(y["f"]) == ["15"]
        assert promotion.promote_held(db.session, county, run.id) == []  # once
        with pytest.raises(PermissionDenied):
            promotion.promote_held(db.session, acc(ME), run.id)


def test_the_year_end_report_counts_per_school_within_scope(app, school_year, frozen):
    y = school_year
    with app.app_context():
        frozen.at(AFTER)
        promotion.run_due(db.session)
        db.session.commit()
        run, rows = promotion.year_end_report(db.session, acc("county_360102"), y["year"])
        assert [(r["school"].school_code, r["promoted"], r["graduated"], r["held"], r["suspended"],
                 r["open_request"], r["not_graduated"]) for r in rows] == [("3601020001", 2, 1, 3, 1, 1, 1)]
        run, rows = promotion.year_end_report(db.session, acc("city_360100"), y["year"])
        assert {r["school"].school_code: r["promoted"] for r in rows} == {"3601020001": 2, "3601030001": 1}
        held = db.session.scalars(promotion.held_students_query(acc("county_360103"), run.id)).all()
        assert held == []  # another county's held students are not listed


# ---------------------------------------------------------------- the schedule

def test_the_embedded_timer_runs_the_promotion_at_the_time_point(app, school_year, frozen, monkeypatch):
    from app.jobs import schedule
    y = school_year
    with app.app_context():
        monkeypatch.setitem(app.config, "SCHEDULER_ENABLED", True)
        monkeypatch.setitem(app.config, "REDIS_URL", "")
        frozen.at(DT(2027, 8, 10, 23, 0))
        assert schedule.arm() == DT(2027, 8, 11)
        timer = schedule.armed_timer()
        assert timer.interval == 3600.0  # one hour before 24时
        timer.cancel()
        frozen.at(DT(2027, 8, 11, 0, 0, 1))  # the time point has come: the timer fires at once
        db.session.remove()
    schedule.arm(app=app)
    schedule.armed_timer().join(timeout=20)
    with app.app_context():
        run = db.session.scalar(select(PromotionRun))
        assert run is not None and run.scheduled and grades_of(db.session.merge(y["a"]))[0] == "12"


def test_on_redis_the_tick_is_an_rq_scheduled_job(app, school_year, frozen, monkeypatch):
    if not app.config.get("REDIS_URL"):
        pytest.skip("the production path needs REDIS_URL (the PostgreSQL + Redis CI pass)")
    from rq.registry import ScheduledJobRegistry
    from app.jobs import queue, schedule
    with app.app_context():
        monkeypatch.setitem(app.config, "SCHEDULER_ENABLED", True)
        frozen.at(DT(2027, 8, 1))
        when = schedule.arm()
        registry = ScheduledJobRegistry(queue=queue(app))
        assert "promotion-tick-202708110000" in registry.get_job_ids()
        at = registry.get_scheduled_time("promotion-tick-202708110000")
        assert at == when.astimezone(datetime.timezone.utc).replace(tzinfo=None) or \
            at.replace(tzinfo=None) == when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        schedule.arm()  # arming again does not schedule a second tick
        assert registry.get_job_ids().count("promotion-tick-202708110000") == 1
        frozen.at(AFTER)
        run = schedule.tick()  # what the worker runs when the job comes due
        assert run is not None and run.promoted == 3


def test_the_cli_runs_what_is_due(app, school_year, frozen):
    with app.app_context():
        runner = app.test_cli_runner()
        out = runner.invoke(args=["promote", "--due"])
        assert out.exit_code == 0 and "没有到达升级时点" in out.output
        frozen.at(AFTER)
        out = runner.invoke(args=["promote", "--due"])
        assert out.exit_code == 0 and "升级 3 名学生" in out.output, out.output
        out = runner.invoke(args=["promote", "--year", "2026"])
        assert out.exit_code != 0 and "已经升级过" in out.output


def test_after_an_undo_a_new_time_point_fires_again(app, school_year, frozen):
    y = school_year
    with app.app_context():
        frozen.at(AFTER)
        run = promotion.run_due(db.session)
        db.session.commit()
        sheng = acc("sheng_admin")
        promotion.revert(db.session, sheng, run.id, "毕业还没办完")
        db.session.commit()
        assert promotion.run_due(db.session) is None and promotion.next_time_point(db.session) is None
        school_years.update_year(db.session, sheng, y["year"].id, {"promotion_at": "2027-08-15 24:00"})
        db.session.commit()
        assert promotion.next_time_point(db.session) == DT(2027, 8, 16)
        frozen.at(DT(2027, 8, 16, 0, 1))
        again = promotion.run_due(db.session)
        db.session.commit()
        assert again is not None and again.id != run.id and grades_of(y["a"]) == ["12"]


def test_a_held_student_is_not_counted_in_the_class_that_moved_up(app, school_year, frozen):
    y = school_year
    with app.app_context():
        frozen.at(AFTER)
        promotion.run_due(db.session)
        db.session.commit()
        f = db.session.get(Student, y["f"].id)  # held in grade 14 by the open request
        cls = db.session.get(SchoolClass, f.class_id)
        assert cls.grade == "15" and school_years.class_counts(db.session, [cls.id]) == {}
