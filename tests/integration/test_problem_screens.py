"""问题学籍 screens through HTTP: the school's sides and its 删除 / 佐证 / 变更 / 结转 (one by one and
in bulk), the authorities' counts with drill-down, arbitration by the lowest common superior,
detection started by the province, scoping from outside."""
import io

from sqlalchemy import select, update

from app.extensions import db
from app.models.job import Job, JobState
from app.models.problems import ProblemKind, ProblemRecord, ProblemState, Treatment
from app.models.requests import Request, RequestState
from app.models.student import Student, StudentStatus
from app.services import problems, requests, transfers
from app.services.identity import build_id_number, mask
from tests.conftest import account, finish_jobs
from tests.integration.test_registry_services import enrolled

SCHOOL_A = "school_3601020001"   # 东湖区
SCHOOL_B = "school_3601030001"   # 西湖区 (same city 南昌 360100)
SCHOOL_FAR = "school_3604020001"  # 濂溪区 (九江)
PDF = b"%PDF-1.4 proof"


def make_duplicate(app):
    """Two records with one ID number (B's is a legacy record): one 身份证号重复 problem.
    Returns (problem id, side of A, side of B, student A, student B) as ids."""
    with app.app_context():
        a = enrolled(SCHOOL_A, seq=1)
        b = enrolled(SCHOOL_B, seq=2)
        db.session.execute(update(Student).where(Student.id == b.id).values(origin="legacy", id_number=a.id_number))
        db.session.commit()
        problems.detect(db.session, account(db.session, "sheng_admin"))
        db.session.commit()
        problem = db.session.scalar(select(ProblemRecord).where(ProblemRecord.kind == ProblemKind.DUPLICATE_ID))
        side = {s.student_id: s.id for s in problem.sides}
        return problem.id, side[a.id], side[b.id], a.id, b.id


def state(app, pid):
    with app.app_context():
        p = db.session.get(ProblemRecord, pid)
        return p.state, {s.id: s.treatment for s in p.sides}


def last_request(app, student_id, type_name):
    with app.app_context():
        return db.session.scalar(select(Request.id).where(Request.student_id == student_id, Request.type == type_name)
                                 .order_by(Request.id.desc()))


def approve(app, req_id, who):
    with app.app_context():
        requests.approve(db.session, account(db.session, who), req_id)
        db.session.commit()


def html(resp):
    return resp.get_data(as_text=True)


def prove(client, side_id, with_file=True, reason="经派出所核实身份证号无误"):
    data = {"reason": reason}
    if with_file:
        data["evidence"] = (io.BytesIO(PDF), "派出所证明.pdf")
    return client.post(f"/problemview/prove/{side_id}", data=data, content_type="multipart/form-data",
                       follow_redirects=True)


# ---------------------------------------------------------------- the school's list

def test_school_sees_its_side_with_the_other_side_masked(app, as_user):
    pid, side_a, side_b, a_id, b_id = make_duplicate(app)
    with app.app_context():
        a = db.session.get(Student, a_id)
        number, name = a.id_number, a.name
    page = html(as_user(SCHOOL_A).get("/problemview/list/"))
    assert "身份证号重复" in page and "未处理" in page
    assert f"/studentview/show/{a_id}" in page and f"/studentview/show/{b_id}" not in page  # own student linked
    assert "西湖第一小学" in page  # the other side's school
    assert mask(number) in page  # the other side's number only masked
    assert f"/problemview/delete/{side_a}" in page and f"/problemview/prove/{side_a}" in page
    assert f"/problemview/change/{side_a}" in page
    assert f"/problemview/delete/{side_b}" not in page  # no buttons for the other side's record
    assert name in page
    # Filters: another kind shows nothing; 已解决 shows nothing yet.
    assert f"/problemview/show/{pid}" not in html(as_user(SCHOOL_A).get("/problemview/list/?kind=invalid_id"))
    assert f"/problemview/show/{pid}" not in html(as_user(SCHOOL_A).get("/problemview/list/?state=resolved"))
    assert f"/problemview/show/{pid}" in html(as_user(SCHOOL_A).get("/problemview/list/?kind=duplicate_id&state=untreated"))
    # The show page: both sides, the other one masked, no link to its student.
    show = html(as_user(SCHOOL_A).get(f"/problemview/show/{pid}"))
    assert mask(number) in show and f"/studentview/show/{b_id}" not in show and f"/studentview/show/{a_id}" in show


def test_readonly_sees_but_cannot_act(app, as_user):
    pid, side_a, *_ = make_duplicate(app)
    viewer = as_user("sheng_viewer")
    assert viewer.get("/problemview/list/").status_code == 200
    page = html(viewer.get(f"/problemview/show/{pid}"))
    assert "身份证号重复" in page and "/problemview/delete/" not in page
    viewer.post(f"/problemview/delete/{side_a}", data={"reason": "x"})
    viewer.post("/problemview/bulk", data={"op": "carry", "rowid": [side_a], "reason": "x"})
    assert set(state(app, pid)[1].values()) == {Treatment.NONE}


# ---------------------------------------------------------------- 删除

def test_delete_request_approved_resolves_the_problem(app, as_user):
    pid, side_a, side_b, a_id, b_id = make_duplicate(app)
    client = as_user(SCHOOL_B)
    assert "删除原因" in html(client.get(f"/problemview/delete/{side_b}"))
    resp = client.post(f"/problemview/delete/{side_b}", data={"reason": ""}, follow_redirects=True)
    assert "请填写删除原因" in html(resp)
    assert state(app, pid)[1][side_b] == Treatment.NONE
    resp = client.post(f"/problemview/delete/{side_b}", data={"reason": "学生实际在东湖第一小学就读"}, follow_redirects=True)
    assert "问题学籍删除申请已提交" in html(resp)
    assert state(app, pid)[1][side_b] == Treatment.DELETING
    req_id = last_request(app, b_id, problems.PROBLEM_DELETE)
    approve(app, req_id, "county_360103")
    st, sides = state(app, pid)
    assert st == ProblemState.RESOLVED and sides[side_b] == Treatment.DELETED
    with app.app_context():
        assert db.session.get(Student, b_id).status == StudentStatus.DELETED
    page = html(as_user(SCHOOL_A).get("/problemview/list/?state=resolved"))
    assert f"/problemview/show/{pid}" in page and "已解决" in page
    assert f"/problemview/show/{pid}" not in html(as_user(SCHOOL_A).get("/problemview/list/"))  # open only by default


def test_acting_on_the_other_sides_record_is_refused(app, as_user):
    pid, side_a, side_b, a_id, b_id = make_duplicate(app)
    client = as_user(SCHOOL_A)
    resp = client.post(f"/problemview/delete/{side_b}", data={"reason": "不是本校学生"}, follow_redirects=True)
    assert "只能删除本校的记录" in html(resp)
    resp = prove(client, side_b)
    assert "只能佐证本校的记录" in html(resp)
    resp = client.get(f"/problemview/change/{side_b}", follow_redirects=True)
    assert "只能变更本校的记录" in html(resp)
    resp = client.post("/problemview/bulk", data={"op": "carry", "rowid": [side_b], "reason": "毕业结转"},
                       follow_redirects=True)
    assert "只能结转本校" in html(resp)
    st, sides = state(app, pid)
    assert st == ProblemState.UNTREATED and set(sides.values()) == {Treatment.NONE}
    with app.app_context():
        assert db.session.scalar(select(Request.id).where(Request.student_id == b_id,
                                                          Request.type.in_([problems.PROBLEM_DELETE,
                                                                            problems.PROBLEM_PROVE]))) is None


def test_delete_of_a_record_with_an_open_transfer_is_refused(app, as_user):
    pid, side_a, side_b, a_id, b_id = make_duplicate(app)
    with app.app_context():
        transfers.start_transfer_out(db.session, account(db.session, SCHOOL_A), a_id, to_school_code="3601030001",
                                     reason_code="01")
        db.session.commit()
    resp = as_user(SCHOOL_A).post(f"/problemview/delete/{side_a}", data={"reason": "重复"}, follow_redirects=True)
    assert resp.status_code == 200
    assert state(app, pid)[1][side_a] == Treatment.NONE
    assert last_request(app, a_id, problems.PROBLEM_DELETE) is None
    assert "尚未办结" in html(resp) and "不能发起“问题学籍删除”" in html(resp)


# ---------------------------------------------------------------- 佐证 and arbitration

def test_proof_needs_evidence(app, as_user):
    pid, side_a, *_ = make_duplicate(app)
    client = as_user(SCHOOL_A)
    page = html(client.get(f"/problemview/prove/{side_a}"))
    assert "证明材料" in page and "佐证理由" in page
    resp = prove(client, side_a, with_file=False)
    assert "佐证须上传证明材料" in html(resp)
    assert state(app, pid)[1][side_a] == Treatment.NONE


def test_both_prove_then_the_city_arbitrates_and_the_loser_deletes(app, as_user):
    pid, side_a, side_b, a_id, b_id = make_duplicate(app)
    assert "佐证申请已提交" in html(prove(as_user(SCHOOL_A), side_a))
    assert state(app, pid)[1][side_a] == Treatment.PROVING
    approve(app, last_request(app, a_id, problems.PROBLEM_PROVE), "county_360102")
    st, sides = state(app, pid)
    assert st == ProblemState.PARTLY and sides[side_a] == Treatment.PROVED
    assert "一方已佐证" in html(as_user(SCHOOL_A).get(f"/problemview/show/{pid}"))

    prove(as_user(SCHOOL_B), side_b)
    approve(app, last_request(app, b_id, problems.PROBLEM_PROVE), "county_360103")
    st, _sides = state(app, pid)
    assert st == ProblemState.ARBITRATION
    with app.app_context():
        assert db.session.get(ProblemRecord, pid).arbiter.name.startswith("南昌市")

    # The city's overview lists it in its queue; the show page has the form.
    city = as_user("city_360100")
    overview = html(city.get("/problemview/list/"))
    assert "待本单位仲裁" in overview and f"/problemview/show/{pid}" in overview
    show = html(city.get(f"/problemview/show/{pid}"))
    assert f"/problemview/arbitrate/{pid}" in show and 'name="winner"' in show

    # Not the common superior: refused, nothing changed (and no form shown to them).
    for who in ("county_360102", "sheng_admin"):
        c = as_user(who)
        assert f"/problemview/arbitrate/{pid}" not in html(c.get(f"/problemview/show/{pid}"))
        resp = c.post(f"/problemview/arbitrate/{pid}", data={"winner": side_a, "comment": "本校就读"},
                      follow_redirects=True)
        assert "共同上级" in html(resp)
        assert state(app, pid)[0] == ProblemState.ARBITRATION
    # A school cannot arbitrate either.
    resp = as_user(SCHOOL_A).post(f"/problemview/arbitrate/{pid}", data={"winner": side_a, "comment": "x"},
                                  follow_redirects=True)
    assert state(app, pid)[0] == ProblemState.ARBITRATION

    # The arbiter must give a reason.
    resp = city.post(f"/problemview/arbitrate/{pid}", data={"winner": side_a, "comment": ""}, follow_redirects=True)
    assert "仲裁须填写理由" in html(resp)
    assert state(app, pid)[0] == ProblemState.ARBITRATION
    resp = city.post(f"/problemview/arbitrate/{pid}", data={"winner": side_a, "comment": "经核实学生在东湖第一小学就读"},
                     follow_redirects=True)
    assert "已仲裁" in html(resp)
    st, sides = state(app, pid)
    assert st == ProblemState.ARBITRATED and sides[side_a] == Treatment.WON and sides[side_b] == Treatment.LOST
    show = html(as_user(SCHOOL_B).get(f"/problemview/show/{pid}"))
    assert "经核实学生在东湖第一小学就读" in show and "仲裁未通过" in show
    assert f"/problemview/prove/{side_b}" not in show and f"/problemview/delete/{side_b}" in show

    # The loser deletes its record: resolved.
    as_user(SCHOOL_B).post(f"/problemview/delete/{side_b}", data={"reason": "按仲裁结果删除"})
    approve(app, last_request(app, b_id, problems.PROBLEM_DELETE), "county_360103")
    st, _sides = state(app, pid)
    assert st == ProblemState.RESOLVED
    assert "已解决" in html(as_user(SCHOOL_A).get(f"/problemview/show/{pid}"))


# ---------------------------------------------------------------- 变更

def test_change_corrects_the_id_number_and_resolves(app, as_user):
    pid, side_a, side_b, a_id, b_id = make_duplicate(app)
    client = as_user(SCHOOL_B)
    page = html(client.get(f"/problemview/change/{side_b}"))
    assert "变更后的关键数据" in page and 'name="id_number"' in page
    with app.app_context():
        b = db.session.get(Student, b_id)
        form = {"name": b.name, "gender": b.gender, "birth_date": b.birth_date.isoformat(), "id_type": "1",
                "ethnicity": b.ethnicity or "01",
                "id_number": build_id_number("360103", b.birth_date, 2 * 7 + 1), "reason": "身份证号录入错误"}
    form["evidence"] = (io.BytesIO(PDF), "户口簿.pdf")
    resp = client.post(f"/problemview/change/{side_b}", data=form, content_type="multipart/form-data",
                       follow_redirects=True)
    assert "关键数据变更申请已提交" in html(resp), html(resp)
    assert state(app, pid)[1][side_b] == Treatment.CHANGING
    with app.app_context():
        req_id = db.session.scalar(select(Request.id).where(Request.student_id == b_id, Request.state == RequestState.PENDING))
    approve(app, req_id, "county_360103")
    assert state(app, pid)[0] == ProblemState.RESOLVED


# ---------------------------------------------------------------- bulk

def test_bulk_carry_on_and_bulk_delete_report_each_row(app, as_user):
    pid, side_a, side_b, a_id, b_id = make_duplicate(app)
    client = as_user(SCHOOL_A)
    resp = client.post("/problemview/bulk", data={"op": "carry", "rowid": [side_a], "reason": ""}, follow_redirects=True)
    assert "请填写结转说明" in html(resp)
    resp = client.post("/problemview/bulk", data={"op": "carry", "rowid": [side_a, side_b], "reason": "毕业结转初中"},
                       follow_redirects=True)
    page = html(resp)
    assert "已批量办理结转 1 条记录" in page and f"记录 {side_b} 未能办理" in page
    st, sides = state(app, pid)
    assert sides[side_a] == Treatment.CARRIED and sides[side_b] == Treatment.NONE and st == ProblemState.UNTREATED
    # Bulk 删除 of the other school's side: refused per row; of its own: one request each.
    client_b = as_user(SCHOOL_B)
    resp = client_b.post("/problemview/bulk", data={"op": "delete", "rowid": [side_b, side_a], "reason": "重复建籍"},
                         follow_redirects=True)
    page = html(resp)
    assert "已批量办理删除申请 1 条记录" in page and f"记录 {side_a} 未能办理" in page
    assert state(app, pid)[1][side_b] == Treatment.DELETING
    assert last_request(app, b_id, problems.PROBLEM_DELETE) is not None
    assert "请先勾选" in html(client_b.post("/problemview/bulk", data={"op": "delete"}, follow_redirects=True))


# ---------------------------------------------------------------- the authorities

def test_counts_for_county_and_city_with_drill_down(app, as_user):
    pid, *_ = make_duplicate(app)
    for who in ("county_360102", "county_360103", "city_360100"):
        client = as_user(who)
        page = html(client.get("/problemview/list/"))
        link = "/problemview/records/?kind=duplicate_id&amp;state=untreated"
        assert link in page, who
        drill = html(client.get("/problemview/records/?kind=duplicate_id&state=untreated"))
        assert f"/problemview/show/{pid}" in drill
        assert f"/problemview/show/{pid}" not in html(client.get("/problemview/records/?kind=duplicate_id&state=resolved"))
        assert client.get(f"/problemview/show/{pid}").status_code == 200
    # 九江's county sees none of it.
    far = as_user("county_360402")
    assert "/problemview/records/?kind=duplicate_id&amp;state=untreated" not in html(far.get("/problemview/list/"))
    assert f"/problemview/show/{pid}" not in html(far.get("/problemview/records/"))
    assert far.get(f"/problemview/show/{pid}").status_code == 404


def test_another_countys_school_sees_nothing(app, as_user):
    pid, side_a, side_b, *_ = make_duplicate(app)
    far = as_user(SCHOOL_FAR)
    assert f"/problemview/show/{pid}" not in html(far.get("/problemview/list/"))
    assert far.get(f"/problemview/show/{pid}").status_code == 404
    assert far.get(f"/problemview/delete/{side_a}").status_code == 404
    assert far.get(f"/problemview/change/{side_a}").status_code == 404
    assert far.post(f"/problemview/delete/{side_a}", data={"reason": "x"}).status_code == 404
    resp = far.post("/problemview/bulk", data={"op": "carry", "rowid": [side_a], "reason": "x"}, follow_redirects=True)
    assert "已批量办理" not in html(resp)
    assert set(state(app, pid)[1].values()) == {Treatment.NONE}


def test_province_starts_detection_as_a_job(app, as_user):
    with app.app_context():
        a = enrolled(SCHOOL_A, seq=1)
        b = enrolled(SCHOOL_B, seq=2)
        db.session.execute(update(Student).where(Student.id == b.id).values(origin="legacy", id_number=a.id_number))
        db.session.commit()
    # Only the province has the button; the city's post is refused.
    assert "/problemview/detect" not in html(as_user("city_360100").get("/problemview/list/"))
    as_user("city_360100").post("/problemview/detect")
    with app.app_context():
        assert db.session.scalar(select(Job.id).where(Job.kind == "detect_problems")) is None
    client = as_user("sheng_admin")
    assert "/problemview/detect" in html(client.get("/problemview/list/"))
    resp = client.post("/problemview/detect")
    assert resp.status_code == 302 and "/jobview/list" in resp.headers["Location"].lower()
    with app.app_context():
        job_id = db.session.scalar(select(Job.id).where(Job.kind == "detect_problems"))
    job = finish_jobs(app, job_id)
    assert job.state == JobState.FINISHED, job.message
    with app.app_context():
        assert db.session.scalar(select(ProblemRecord.id).where(ProblemRecord.kind == ProblemKind.DUPLICATE_ID))
    page = html(client.get("/problemview/list/"))
    assert "/problemview/records/?kind=duplicate_id&amp;state=untreated" in page
