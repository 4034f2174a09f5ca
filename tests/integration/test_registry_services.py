"""Registry rules in the services: registration with county approval, 一人一籍, key-data change,
deletion of mistakes, the lookup, locks, edits, scoping of every write."""
import datetime
import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Request, RequestState, Student, StudentStatus
from app.services import attachments, requests, students
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.identity import build_id_number
from tests.conftest import account

D = datetime.date
PDF = b"%PDF-1.4 evidence"


def data(seq=1, **over):
    d = {"name": "张小明", "gender": "1", "birth_date": "2019-03-07", "id_type": "1",
         "id_number": build_id_number("360102", D(2019, 3, 7), 2 * seq + 1), "ethnicity": "01",
         "grade": "11", "class_name": "1班", "commute_distance": "1.5", "enrollment_month": "2025-09",
         "birthplace_code": "360102", "hukou_code": "360102"}
    d.update(over)
    return d


GUARDIANS = [{"name": "张大明", "relation": "51", "phone": "13900000000",
              "id_type": "1", "id_number": build_id_number("360102", D(1988, 5, 5), 11)}]


def register(who="school_3601020001", **kw):
    actor = account(db.session, who)
    s, req, warnings = students.register_student(db.session, actor, data(**kw), GUARDIANS)
    db.session.commit()
    return s, req


def approve(req, who="county_360102", comment=None):
    out = requests.approve(db.session, account(db.session, who), req.id, comment)
    db.session.commit()
    return out


def enrolled(who="school_3601020001", **kw):
    s, req = register(who, **kw)
    approve(req, "county_3601" + ("02" if who.startswith("school_360102") else "03"))
    return s


def evidence(actor):
    return [attachments.save(db.session, actor, "户口簿.pdf", PDF, "evidence", actor.org_unit.path)]


def test_registration_is_approved_by_the_county(app):
    with app.app_context():
        s, req = register()
        assert s.status == StudentStatus.REGISTERING and s.xueji_no is None and s.personal_id.startswith("36")
        assert s.hukou_code == "360102000000" and str(s.commute_distance) == "1.5" and s.name_initials == "zxm"
        assert [g.relation for g in s.guardians] == ["51"]
        with pytest.raises(NotFound):  # another county does not even learn the request exists
            requests.approve(db.session, account(db.session, "county_360103"), req.id)
        with pytest.raises(PermissionDenied, match="当前由“东湖区教育体育局”核办"):  # the city sees it, may not decide
            requests.approve(db.session, account(db.session, "city_360100"), req.id)
        approve(req)
        assert s.status == StudentStatus.IN_SCHOOL and s.xueji_no == "G" + s.id_number
        assert [h.status for h in s.history] == ["registering", "in_school"] and s.history[0].valid_to is not None
        with pytest.raises(DomainError, match="该申请已通过，不能重复处理"):
            approve(req)


def test_rejection_needs_a_reason_and_the_school_can_resubmit(app):
    with app.app_context():
        s, req = register()
        county = account(db.session, "county_360102")
        with pytest.raises(DomainError, match="驳回须填写理由"):
            requests.reject(db.session, county, req.id, "  ")
        requests.reject(db.session, county, req.id, "出生地填写有误")
        db.session.commit()
        assert req.state == RequestState.REJECTED and req.outcome == "出生地填写有误"
        assert s.status == StudentStatus.REGISTERING
        req2 = students.resubmit_registration(db.session, account(db.session, "school_3601020001"), s.id,
                                              {"birthplace_code": "360103"})
        db.session.commit()
        approve(req2)
        assert s.status == StudentStatus.IN_SCHOOL and s.birthplace_code == "360103000000"


def test_school_withdraws_a_pending_registration(app):
    with app.app_context():
        s, req = register()
        requests.cancel(db.session, account(db.session, "school_3601020001"), req.id)
        db.session.commit()
        assert req.state == RequestState.CANCELLED and s.status == StudentStatus.DELETED
        # the ID number is free again
        s2, _ = register()
        assert s2.id != s.id


@pytest.mark.parametrize("over, message", [
    ({"id_number": build_id_number("360102", D(2019, 3, 7), 3)[:-1] + "0"}, "校验位错误"),
    ({"birth_date": "2030-01-01"}, "出生日期不能晚于今天"),
    ({"gender": "2"}, "显示性别为男"),
    ({"birth_date": "2019-03-08"}, "不一致"),
    ({"commute_distance": "1.25"}, "最多保留一位小数"),
    ({"ethnicity": "77"}, "民族“77”不是有效的代码"),
    ({"name": ""}, "请填写姓名"),
    ({"id_number": ""}, "请填写身份证号"),
    ({"birthplace_code": "999999"}, "不在行政区划代码表中"),
])
def test_bad_registration_input_changes_nothing(app, over, message):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Student))
        with pytest.raises(DomainError, match=message):
            register(**over)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Student)) == before
        assert db.session.scalar(select(func.count()).select_from(Request)) == 0


def test_no_id_number_needs_proof_and_gets_a_temporary_number(app):
    with app.app_context():
        actor = account(db.session, "school_3601020001")
        d = data(id_type="A", id_number="")
        with pytest.raises(DomainError, match="无身份证号证明"):
            students.register_student(db.session, actor, d, GUARDIANS)
        db.session.rollback()
        proof = [attachments.save(db.session, actor, "证明.png", b"\x89PNG....", "no_id_proof", actor.org_unit.path)]
        s, req, _ = students.register_student(db.session, actor, d, GUARDIANS, proof)
        db.session.commit()
        approve(req)
        assert s.xueji_no.startswith("L") and s.xueji_no.endswith(s.personal_id)
        assert req.attachments[0].filename == "证明.png"


def test_one_person_one_record_across_the_province(app):
    with app.app_context():
        enrolled()
        with pytest.raises(DomainError) as err:
            register("school_3601030001")  # 西湖区 tries the same child
        db.session.rollback()
        assert "东湖区教育体育局 东湖第一小学" in err.value.message and "转学" in err.value.message
        assert "张小明" not in err.value.message  # nothing else of the record


def test_database_enforces_one_active_record(app):
    """Even a write that skips the service cannot create a second active record."""
    from sqlalchemy.exc import IntegrityError
    with app.app_context():
        s = enrolled()
        twin = Student(name="某某", gender="1", birth_date=s.birth_date, id_type="1", id_number=s.id_number,
                       ethnicity="01", school_id=s.school_id, status=StudentStatus.IN_SCHOOL)
        db.session.add(twin)
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_lookup_reveals_only_county_and_school(app):
    with app.app_context():
        s = enrolled()
        other = account(db.session, "school_3601030001")
        found = students.lookup_person(db.session, other, "张小明", f" {s.id_number.lower()} ")
        assert found == {"county": "东湖区教育体育局", "school": "东湖第一小学", "name_matches": True, "status": "在校"}
        assert students.lookup_person(db.session, other, "张小明", build_id_number("360103", D(2019, 1, 1), 5)) is None


def test_key_data_change_keeps_old_and_new_and_rederives_number(app):
    with app.app_context():
        s = enrolled()
        school = account(db.session, "school_3601020001")
        new_id = build_id_number("360102", D(2019, 3, 8), 21)
        with pytest.raises(DomainError, match="证明材料"):
            students.request_key_change(db.session, school, s.id, {"birth_date": "2019-03-08", "id_number": new_id}, "户籍更正")
        req, _ = students.request_key_change(db.session, school, s.id, {"birth_date": "2019-03-08", "id_number": new_id},
                                             "户籍更正", evidence(school), expected_version=s.version)
        db.session.commit()
        rows = requests.REQUEST_TYPES[req.type].describe(req)
        assert ("出生日期", "2019-03-07", "2019-03-08") in rows
        old_no = s.xueji_no
        # locked while open
        with pytest.raises(DomainError, match="尚未办结的“关键数据变更”"):
            students.request_deletion(db.session, school, s.id, "误录")
        approve(req)
        assert s.birth_date == D(2019, 3, 8) and s.id_number == new_id
        assert s.xueji_no == "G" + new_id and s.former_xueji_no == old_no
        log = db.session.scalars(select(AuditLog).where(AuditLog.entity == "student", AuditLog.field == "id_number")).all()
        assert any(r.old_value and r.new_value == new_id and r.actor_name == "county_360102" for r in log)


def test_key_change_to_an_id_held_elsewhere_is_refused(app):
    with app.app_context():
        a = enrolled()
        b = enrolled("school_3601030001", seq=2, name="李四", birth_date="2019-03-07")
        school = account(db.session, "school_3601020001")
        with pytest.raises(DomainError, match="西湖区教育体育局"):
            students.request_key_change(db.session, school, a.id, {"id_number": b.id_number}, "更正", evidence(school))


def test_key_fields_cannot_be_edited_directly_and_stale_edits_are_refused(app):
    with app.app_context():
        s = enrolled()
        school = account(db.session, "school_3601020001")
        with pytest.raises(DomainError, match="姓名属于关键数据"):
            students.update_student(db.session, school, s.id, {"name": "张晓明"})
        seen = s.version
        students.update_student(db.session, school, s.id, {"commute_distance": "2.0"}, expected_version=seen)
        db.session.commit()
        with pytest.raises(DomainError, match="已被他人修改"):
            students.update_student(db.session, school, s.id, {"commute_distance": "3.0"}, expected_version=seen)


def test_deletion_of_a_mistake(app):
    with app.app_context():
        s = enrolled()
        school = account(db.session, "school_3601020001")
        req = students.request_deletion(db.session, school, s.id, "重复录入")
        db.session.commit()
        requests.cancel(db.session, school, req.id)  # withdraw while pending
        db.session.commit()
        assert s.status == StudentStatus.IN_SCHOOL
        req = students.request_deletion(db.session, school, s.id, "重复录入")
        db.session.commit()
        number = s.xueji_no
        approve(req)
        assert s.status == StudentStatus.DELETED and s.xueji_no is None and s.former_xueji_no == number
        # kept for query, and the person can be registered again (numbers freed)
        assert db.session.get(Student, s.id) is not None
        again, req2 = register()
        approve(req2)
        assert again.xueji_no == number


def test_writes_are_scoped(app):
    with app.app_context():
        s = enrolled()
        other_school = account(db.session, "school_3601030001")
        sibling_school = account(db.session, "school_3601020002")  # same county, other school
        for actor in (other_school, sibling_school):
            with pytest.raises(NotFound):
                students.update_student(db.session, actor, s.id, {"commute_distance": "9.0"})
            with pytest.raises(NotFound):
                students.request_deletion(db.session, actor, s.id, "x")
        county = account(db.session, "county_360102")
        with pytest.raises(PermissionDenied, match="学校学籍管理员"):
            students.request_deletion(db.session, county, s.id, "x")
        with pytest.raises(PermissionDenied):
            students.register_student(db.session, county, data(seq=5), GUARDIANS)


def test_county_cleans_up_open_requests_with_a_reason(app):
    with app.app_context():
        s = enrolled()
        req = students.request_deletion(db.session, account(db.session, "school_3601020001"), s.id, "误录")
        db.session.commit()
        county = account(db.session, "county_360102")
        with pytest.raises(DomainError, match="须填写理由"):
            requests.cancel(db.session, county, req.id)
        requests.cancel(db.session, county, req.id, "毕业前清理在办业务")
        db.session.commit()
        assert req.state == RequestState.CANCELLED and req.outcome == "毕业前清理在办业务"
        with pytest.raises(NotFound):
            requests.cancel(db.session, account(db.session, "county_360103"), req.id, "x")


def test_inbox_and_counts(app):
    with app.app_context():
        register()
        register(seq=2, name="王五")
        register("school_3601030001", seq=3, name="赵六")
        east, west = account(db.session, "county_360102"), account(db.session, "county_360103")
        assert requests.pending_count(db.session, east) == 2 and requests.pending_count(db.session, west) == 1
        assert requests.pending_count(db.session, account(db.session, "school_3601020001")) == 0
        ids = [r.id for r in db.session.scalars(requests.inbox_query(east))]
        done, failed = requests.bulk_approve(db.session, east, ids + [ids[0]])
        db.session.commit()
        assert done == ids and list(failed.values()) == ["该申请已通过，不能重复处理"]
        assert requests.pending_count(db.session, east) == 0


def test_approval_is_exactly_once_under_concurrency(app):
    """Two supervisors of the county click 通过 at the same moment: one effect, one clear message."""
    with app.app_context():
        s, req = register()
        req_id, seen, s_id = req.id, req.version, s.id
        county_id = account(db.session, "county_360102").id
    barrier = threading.Barrier(2)
    outcomes = []

    def click():
        with app.app_context():
            from app.models import Account
            actor = db.session.get(Account, county_id)
            r = db.session.get(Request, req_id)
            r.steps  # load before racing
            barrier.wait()
            try:
                requests.approve(db.session, actor, req_id, expected_version=seen)
                db.session.commit()
                outcomes.append("ok")
            except DomainError as exc:
                db.session.rollback()
                outcomes.append(exc.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes)[0] == "ok" and outcomes.count("ok") == 1, outcomes
    assert "已被他人处理" in [o for o in outcomes if o != "ok"][0] or "不能重复处理" in [o for o in outcomes if o != "ok"][0]
    with app.app_context():
        s = db.session.get(Student, s_id)
        assert s.status == StudentStatus.IN_SCHOOL
        assert len([h for h in s.history if h.status == "in_school"]) == 1


def test_decisions_are_audited(app):
    with app.app_context():
        s, req = register()
        requests.reject(db.session, account(db.session, "county_360102"), req.id, "照片不清晰")
        db.session.commit()
        rows = db.session.scalars(select(AuditLog).where(AuditLog.entity == "request_step")).all()
        decision = [r for r in rows if r.field == "decision" and r.action == "update"]
        assert decision and decision[0].new_value == "rejected" and decision[0].actor_name == "county_360102"
        assert any(r.field == "comment" and r.new_value == "照片不清晰" for r in rows)
        assert all(r.org_path == "/360000/360100/360102/3601020001/" for r in rows)


def test_a_rejected_registration_can_be_withdrawn(app, as_user):
    with app.app_context():
        s, req = register()
        with pytest.raises(DomainError, match="正在等待核办"):
            students.withdraw_registration(db.session, account(db.session, "school_3601020001"), s.id)
        db.session.rollback()
        requests.reject(db.session, account(db.session, "county_360102"), req.id, "信息不全")
        db.session.commit()
        with pytest.raises(NotFound):
            students.withdraw_registration(db.session, account(db.session, "school_3601030001"), s.id)
        sid = s.id
    r = as_user("school_3601020001").post(f"/studentview/withdraw/{sid}", follow_redirects=True)
    assert "已撤回该新生注册" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Student, sid).status == StudentStatus.DELETED
        again, _ = register()  # the ID number is free again
        assert again.id != sid


def test_files_of_a_failed_request_do_not_stay_on_disk(app):
    import os
    with app.app_context():
        folder = os.path.join(app.config["INSTANCE_DIR"], "attachments")
        before = set(os.listdir(folder)) if os.path.isdir(folder) else set()
        actor = account(db.session, "school_3601020001")
        proof = [attachments.save(db.session, actor, "证明.pdf", PDF, "no_id_proof", actor.org_unit.path)]
        with pytest.raises(DomainError):
            students.register_student(db.session, actor, data(name=""), GUARDIANS, proof)
        db.session.rollback()
        assert set(os.listdir(folder)) == before
        kept = [attachments.save(db.session, actor, "证明.pdf", PDF, "no_id_proof", actor.org_unit.path)]
        students.register_student(db.session, actor, data(id_type="A", id_number=""), GUARDIANS, kept)
        db.session.commit()
        assert len(set(os.listdir(folder)) - before) == 1
