"""休学, 复学, 退学, 其他离校, 死亡 (学籍异动 item 2) through the services: which statuses may ask
for what, the evidence each needs, dates, the route the county (or its superior) configures, the
lock while a request is open, and the record changing only on final approval."""
import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Request, RequestState, StudentStatus
from app.models.org import SchoolType
from app.services import attachments, history, process_settings, requests, status_changes, students, transfers
from app.services.errors import NotFound, PermissionDenied
from app.services.identity import build_id_number
from tests.conftest import account, unit
from tests.integration.test_registry_services import PDF, approve, evidence, register
from tests.integration.test_transfers import new_school, refused, student_at, steps

D = datetime.date
SC = status_changes
EAST1, WEST1 = "3601020001", "3601030001"
SENIOR = "3601020003"


def acc(username):
    return account(db.session, username)


def school():
    return acc(f"school_{EAST1}")


def proof(actor, kind, name="证明.pdf"):
    return attachments.save(db.session, actor, name, PDF, kind, actor.org_unit.path)


def senior_student(seq=1, name="刘高一"):
    """An enrolled 高中一年级 student of a senior high school of 东湖区 (退学 is for them only)."""
    if unit(db.session, SENIOR) is None:
        new_school(seq=3, name="东湖高级中学", school_type=SchoolType.SENIOR)
    born = D(2009, 3, 7)
    return student_at(SENIOR, seq=seq, name=name, grade="31", birth_date=born.isoformat(),
                      id_number=build_id_number("360102", born, 2 * seq + 1))


def suspend(s, who=None, **kw):
    kw.setdefault("reason_code", "01")
    kw.setdefault("starts_on", "2026-09-01")
    kw.setdefault("ends_on", "2027-01-31")
    req = SC.request_suspension(db.session, acc(who or f"school_{s.school.school_code}"), s.id, **kw)
    db.session.commit()
    return req


def suspended(s):
    approve(suspend(s), f"county_{s.school.school_code[:6]}")
    assert s.status == StudentStatus.SUSPENDED
    return s


def decide(req, who, comment=None):
    out = requests.approve(db.session, acc(who), req.id, comment)
    db.session.commit()
    return out


# ---------------------------------------------------------------- 休学 / 复学

def test_suspension_is_applied_on_the_county_approval(app):
    with app.app_context():
        s = student_at(class_name="1班")
        req = suspend(s, reason_code="99", note="家中变故", expected_version=s.version)
        assert req.type == SC.SUSPEND and req.school.school_code == EAST1 and req.locks_student
        assert req.payload["starts_on"] == "2026-09-01" and req.payload["ends_on"] == "2027-01-31"
        assert req.payload["from_status"] == "in_school"
        assert req.reason == "其他：家中变故（2026-09-01 至 2027-01-31）"
        assert steps(req) == [("360102", "approve", None, "pending")]
        rows = requests.REQUEST_TYPES[req.type].describe(req)
        assert rows[0] == ("学籍状态", "在校", "休学") and ("休学期限", "", "2026-09-01 至 2027-01-31") in rows
        assert s.status == StudentStatus.IN_SCHOOL  # nothing before the approval
        with pytest.raises(PermissionDenied):
            requests.approve(db.session, school(), req.id)
        with pytest.raises(NotFound):
            requests.approve(db.session, acc("county_360103"), req.id)
        db.session.rollback()
        decide(req, "county_360102")
        assert s.status == StudentStatus.SUSPENDED and (s.grade, s.class_name) == ("11", "1班")
        assert s.history[-1].status == "suspended" and s.history[-1].request_id == req.id
        assert s.history[-1].reason.startswith("休学：其他：家中变故")
        assert s.history[-2].valid_to is not None
        assert [r.type for r in history.student_history(db.session, school(), s.id).requests] == \
            [SC.SUSPEND, students.REGISTRATION]


@pytest.mark.parametrize("kw, message", [
    ({"reason_code": ""}, "请选择休学原因"),
    ({"reason_code": "99", "note": "  "}, "休学原因为“其他”时请填写说明"),
    ({"starts_on": ""}, "请填写休学开始日期"),
    ({"starts_on": "2026-02-30"}, "请填写休学开始日期"),
    ({"ends_on": "明年"}, "请填写休学结束日期"),
    ({"ends_on": "2026-09-01"}, "休学结束日期应晚于开始日期"),
    ({"ends_on": "2026-08-01"}, "休学结束日期应晚于开始日期"),
    ({"ends_on": "2027-09-03"}, "休学期限一般不超过一年"),
])
def test_bad_suspension_requests_change_nothing(app, kw, message):
    with app.app_context():
        s = student_at()
        args = {"reason_code": "01", "starts_on": "2026-09-01", "ends_on": "2027-01-31", **kw}
        refused(message, SC.request_suspension, school(), s.id, **args)
        assert db.session.scalar(select(func.count()).select_from(Request).where(Request.type == SC.SUSPEND)) == 0


def test_suspension_dates_in_other_formats_and_a_full_year(app):
    with app.app_context():
        s = student_at()
        req = suspend(s, starts_on=D(2026, 9, 1), ends_on="2027/09/02")  # 366 days: still allowed
        assert (req.payload["starts_on"], req.payload["ends_on"]) == ("2026-09-01", "2027-09-02")


def test_resumption_into_a_grade_the_school_teaches(app):
    with app.app_context():
        s = student_at()
        refused("学籍状态为“在校”，不能申请复学", SC.request_resumption, school(), s.id, grade="12")
        suspended(s)
        refused("学籍状态为“休学”，不能申请休学", SC.request_suspension, school(), s.id, reason_code="01",
                starts_on="2027-02-01", ends_on="2027-06-30")
        refused("本校不设初中一年级", SC.request_resumption, school(), s.id, grade="21")
        refused("请选择复学后就读的年级", SC.request_resumption, school(), s.id, grade="")
        refused("请选择复学后就读的年级", SC.request_resumption, school(), s.id, grade="19")
        refused("不在您的管辖范围内", SC.request_resumption, acc(f"school_{WEST1}"), s.id, grade="12", exc=NotFound)
        refused("班级名称不能超过 32 个字", SC.request_resumption, school(), s.id, grade="12", class_name="实验班" * 11)
        req = SC.request_resumption(db.session, school(), s.id, grade="12", class_name=" 3班 ", note="病愈")
        db.session.commit()
        assert req.reason == "复学至小学二年级3班：病愈"
        assert ("年级", "", "小学二年级") in requests.REQUEST_TYPES[req.type].describe(req)
        assert s.status == StudentStatus.SUSPENDED
        decide(req, "county_360102")
        assert s.status == StudentStatus.IN_SCHOOL and (s.grade, s.class_name) == ("12", "3班")
        assert [h.status for h in s.history] == ["registering", "in_school", "suspended", "in_school"]
        assert s.history[-1].grade == "12"


# ---------------------------------------------------------------- 退学

def test_drop_out_is_for_senior_students_with_a_written_request(app):
    with app.app_context():
        child = student_at()
        refused("义务教育阶段学生不能办理退学", SC.request_drop_out, school(), child.id, reason_code="02",
                attachments=[proof(school(), SC.WRITTEN_REQUEST)])
        s = senior_student()
        senior = acc(f"school_{SENIOR}")
        refused("请选择退学原因", SC.request_drop_out, senior, s.id, reason_code="",
                attachments=[proof(senior, SC.WRITTEN_REQUEST)])
        refused("退学原因为“其他”时请填写说明", SC.request_drop_out, senior, s.id, reason_code="99",
                attachments=[proof(senior, SC.WRITTEN_REQUEST)])
        refused("退学须上传学生本人及监护人的书面申请", SC.request_drop_out, senior, s.id, reason_code="02")
        refused("退学须上传学生本人及监护人的书面申请", SC.request_drop_out, senior, s.id, reason_code="02",
                attachments=evidence(senior))  # other evidence is not the written request
        letter = proof(senior, SC.WRITTEN_REQUEST, "退学申请书.pdf")
        req = SC.request_drop_out(db.session, senior, s.id, reason_code="02", attachments=[letter])
        db.session.commit()
        assert letter.request_id == req.id and letter.student_id == s.id
        assert ("退学原因", "", "学生本人及监护人申请") in requests.REQUEST_TYPES[req.type].describe(req)
        decide(req, "county_360102")
        assert s.status == StudentStatus.DROPPED_OUT and s.history[-1].status == "dropped_out"
        refused("学籍状态为“退学”", SC.request_suspension, senior, s.id, reason_code="01", starts_on="2026-09-01",
                ends_on="2026-12-01")
        refused("只有在校生可以转学", transfers.start_province_transfer_out, senior, s.id, to_province="440000",
                to_school="广州市第一中学", reason_code="01")


def test_a_suspended_senior_student_may_drop_out(app):
    with app.app_context():
        s = suspended(senior_student())
        senior = acc(f"school_{SENIOR}")
        req = SC.request_drop_out(db.session, senior, s.id, reason_code="03",
                                  attachments=[proof(senior, SC.WRITTEN_REQUEST)])
        db.session.commit()
        assert req.payload["from_status"] == "suspended"
        decide(req, "county_360102")
        assert s.status == StudentStatus.DROPPED_OUT


# ---------------------------------------------------------------- 其他离校

def test_leaving_for_other_reasons(app):
    with app.app_context():
        s = student_at()
        refused("请选择离校原因", SC.request_leave, school(), s.id, reason_code="x")
        refused("离校原因为“其他”时请填写说明", SC.request_leave, school(), s.id, reason_code="99")
        req = SC.request_leave(db.session, school(), s.id, reason_code="02", expected_version=s.version)
        db.session.commit()
        assert req.reason == "随父母出国（境）"
        decide(req, "county_360102")
        assert s.status == StudentStatus.LEFT_OTHER and s.history[-1].status == "left_other"
        refused("学籍状态为“其他离校”，不能申请其他离校", SC.request_leave, school(), s.id, reason_code="01")
        # a suspended student may leave too
        t = suspended(student_at(seq=2, name="李小华"))
        req = SC.request_leave(db.session, school(), t.id, reason_code="03")
        db.session.commit()
        decide(req, "county_360102")
        assert t.status == StudentStatus.LEFT_OTHER


# ---------------------------------------------------------------- 死亡

def test_death_needs_proof_and_a_date_not_in_the_future(app):
    with app.app_context():
        s = student_at()
        today = D.today()
        refused("须上传死亡证明", SC.report_death, school(), s.id, died_on=today.isoformat())
        refused("须上传死亡证明", SC.report_death, school(), s.id, died_on=today.isoformat(), attachments=evidence(school()))
        refused("死亡日期不能晚于今天", SC.report_death, school(), s.id, died_on=today + datetime.timedelta(days=1),
                attachments=[proof(school(), SC.DEATH_PROOF)])
        refused("死亡日期不能晚于今天", SC.report_death, school(), s.id, died_on="2026-05-02", today=D(2026, 5, 1),
                attachments=[proof(school(), SC.DEATH_PROOF)])
        refused("请填写死亡日期", SC.report_death, school(), s.id, died_on="五月",
                attachments=[proof(school(), SC.DEATH_PROOF)])
        refused("死亡日期不能早于学生的出生日期（2019-03-07）", SC.report_death, school(), s.id, died_on="2019-03-06",
                attachments=[proof(school(), SC.DEATH_PROOF)])
        refused("不在您的管辖范围内", SC.report_death, acc(f"school_{WEST1}"), s.id, died_on=today,
                attachments=[proof(acc(f"school_{WEST1}"), SC.DEATH_PROOF)], exc=NotFound)
        cert = proof(school(), SC.DEATH_PROOF, "死亡医学证明.pdf")
        req = SC.report_death(db.session, school(), s.id, died_on="2026-05-01", today=D(2026, 5, 1), attachments=[cert])
        db.session.commit()
        assert req.payload["died_on"] == "2026-05-01" and cert.request_id == req.id and cert.student_id == s.id
        assert ("死亡日期", "", "2026-05-01") in requests.REQUEST_TYPES[req.type].describe(req)
        decide(req, "county_360102")
        assert s.status == StudentStatus.DECEASED and s.history[-1].status == "deceased"
        for fn, kw in ((SC.request_suspension, dict(reason_code="01", starts_on="2026-09-01", ends_on="2026-12-01")),
                       (SC.request_leave, dict(reason_code="01")),
                       (SC.report_death, dict(died_on="2026-05-01", attachments=[proof(school(), SC.DEATH_PROOF)]))):
            refused("学籍状态为“死亡”", fn, school(), s.id, **kw)
        refused("只有在校生可以转学", transfers.start_transfer_out, school(), s.id, to_school_code=WEST1, reason_code="01")


def test_a_suspended_student_may_be_reported_dead(app):
    with app.app_context():
        s = suspended(student_at())
        req = SC.report_death(db.session, school(), s.id, died_on=D.today(), attachments=[proof(school(), SC.DEATH_PROOF)])
        db.session.commit()
        decide(req, "county_360102")
        assert s.status == StudentStatus.DECEASED


# ---------------------------------------------------------------- routes

def test_a_county_may_send_status_changes_on_to_the_city(app):
    with app.app_context():
        with pytest.raises(PermissionDenied, match="休学、复学、退学、其他离校、死亡的审批"):
            process_settings.set_value(db.session, school(), process_settings.STATUS_ROUTE.key, "county_city")
        db.session.rollback()
        process_settings.set_value(db.session, acc("county_360102"), process_settings.STATUS_ROUTE.key, "county_city")
        db.session.commit()
        s = student_at()
        req = suspend(s)
        assert steps(req) == [("360102", "approve", None, "pending"), ("360100", "approve", None, "waiting")]
        decide(req, "county_360102")
        assert s.status == StudentStatus.IN_SCHOOL and req.state == RequestState.PENDING  # waits for the city
        with pytest.raises(PermissionDenied, match="南昌市教育局"):
            requests.approve(db.session, acc("county_360102"), req.id)
        db.session.rollback()
        decide(req, "city_360100")
        assert s.status == StudentStatus.SUSPENDED
        # the setting of 东湖区 is for 东湖区 only
        w = student_at(WEST1, seq=2, name="李小华")
        assert steps(suspend(w)) == [("360103", "approve", None, "pending")]


def test_the_status_route_follows_the_nearest_setting_up_the_tree(app):
    with app.app_context():
        process_settings.set_value(db.session, acc("city_360100"), process_settings.STATUS_ROUTE.key, "county_city")
        process_settings.set_value(db.session, acc("county_360103"), process_settings.STATUS_ROUTE.key, "county")
        db.session.commit()
        a = student_at()
        b = student_at(WEST1, seq=2, name="李小华")
        c = student_at("3604020001", seq=3, name="王小军")
        assert [x[0] for x in steps(suspend(a))] == ["360102", "360100"]     # the city's setting
        assert [x[0] for x in steps(suspend(b))] == ["360103"]               # its own setting wins
        assert [x[0] for x in steps(suspend(c))] == ["360402"]               # another city: the default
        value, owner = process_settings.effective(db.session, unit(db.session, "360103"), process_settings.STATUS_ROUTE)
        assert (value, owner.name) == ("county", "西湖区教育体育局")
        # the city's second step rejects plainly: the record is unchanged
        req = db.session.scalars(select(Request).where(Request.student_id == a.id, Request.type == SC.SUSPEND)).one()
        decide(req, "county_360102")
        requests.reject(db.session, acc("city_360100"), req.id, "休学理由不充分")
        db.session.commit()
        assert req.state == RequestState.REJECTED and a.status == StudentStatus.IN_SCHOOL
        assert [x[3] for x in steps(req)] == ["approved", "rejected"]


def test_every_status_change_type_uses_the_configured_route(app):
    with app.app_context():
        process_settings.set_value(db.session, acc("sheng_admin"), process_settings.STATUS_ROUTE.key, "county_city")
        db.session.commit()
        s = student_at()
        reqs = [suspend(s)]
        approve(reqs[0], "county_360102")
        approve(reqs[0], "city_360100")
        reqs.append(SC.request_resumption(db.session, school(), s.id, grade="11"))
        db.session.commit()
        approve(reqs[1], "county_360102")
        approve(reqs[1], "city_360100")
        reqs.append(SC.request_leave(db.session, school(), s.id, reason_code="01"))
        db.session.commit()
        t = student_at(seq=2, name="李小华")
        reqs.append(SC.report_death(db.session, school(), t.id, died_on=D.today(),
                                    attachments=[proof(school(), SC.DEATH_PROOF)]))
        db.session.commit()
        u = senior_student(seq=3)
        senior = acc(f"school_{SENIOR}")
        reqs.append(SC.request_drop_out(db.session, senior, u.id, reason_code="01",
                                        attachments=[proof(senior, SC.WRITTEN_REQUEST)]))
        db.session.commit()
        assert [r.type for r in reqs] == [SC.SUSPEND, SC.RESUME, SC.LEAVE_OTHER, SC.DEATH, SC.DROP_OUT]
        for r in reqs:
            assert [x[0] for x in steps(r)] == ["360102", "360100"], r.type


# ---------------------------------------------------------------- locks and scope

def test_an_open_status_change_locks_the_student(app):
    with app.app_context():
        s = student_at()
        req = suspend(s)
        refused("尚未办结的“休学”", SC.request_leave, school(), s.id, reason_code="01")
        refused("尚未办结的“休学”", SC.report_death, school(), s.id, died_on=D.today(),
                attachments=[proof(school(), SC.DEATH_PROOF)])
        refused("尚未办结的“休学”", students.request_key_change, school(), s.id, {"name": "张晓明"}, "更正",
                evidence(school()))
        refused("尚未办结的“休学”", transfers.start_transfer_out, school(), s.id, to_school_code=WEST1, reason_code="01")
        refused("尚未办结的“休学”", transfers.start_transfer_in, acc(f"school_{WEST1}"), name=s.name,
                number=s.xueji_no, reason_code="01")
        refused("尚未办结的“休学”", students.request_deletion, school(), s.id, "误录")
        requests.reject(db.session, acc("county_360102"), req.id, "材料不全")
        db.session.commit()
        assert s.status == StudentStatus.IN_SCHOOL and requests.open_locking_request(db.session, s.id) is None
        again = suspend(s)
        requests.cancel(db.session, school(), again.id)
        db.session.commit()
        assert transfers.start_transfer_out(db.session, school(), s.id, to_school_code=WEST1, reason_code="01")


def test_status_changes_are_for_the_students_own_school(app):
    with app.app_context():
        s = student_at()
        for who in (f"school_{WEST1}", "school_3601020002"):
            refused("不在您的管辖范围内", SC.request_leave, acc(who), s.id, reason_code="01", exc=NotFound)
        refused("只有学校学籍管理员", SC.request_leave, acc("county_360102"), s.id, reason_code="01", exc=PermissionDenied)
        refused("只有学校学籍管理员", SC.request_suspension, acc("sheng_admin"), s.id, reason_code="01",
                starts_on="2026-09-01", ends_on="2026-12-01", exc=PermissionDenied)
        refused("已被他人修改", SC.request_leave, school(), s.id, reason_code="01", expected_version=s.version + 1)


def test_a_registration_pending_is_not_a_student_to_suspend(app):
    with app.app_context():
        s, _reg = register()
        refused("学籍状态为“注册待核办”，不能申请休学|尚未办结", SC.request_suspension, school(), s.id,
                reason_code="01", starts_on="2026-09-01", ends_on="2026-12-01")


def test_a_long_note_does_not_break_the_approval(app):
    """The note is free text; the approval writes it into the history span (255 characters)."""
    with app.app_context():
        s = student_at()
        note = "因病需长期住院治疗，" * 40
        req = suspend(s, reason_code="99", note=note)
        decide(req, "county_360102")
        assert s.status == StudentStatus.SUSPENDED and s.history[-1].reason.startswith("休学：其他：因病")
        assert note in req.reason  # the request keeps all of it
