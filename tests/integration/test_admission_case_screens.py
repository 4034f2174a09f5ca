"""录取管理 and 重复招生 screens through HTTP as the demo accounts: the lists and pages at every level,
the county's 批量核办通过 (新生录取核办, 外地就读学生核办) with a contested admission refused, the
school's 撤销录取 and 佐证 (with a file), the common superior's 仲裁, the export, and scoping from
outside (another county, a school of another city): 404 on every page and post, no name leaked."""
import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from app.extensions import db
from app.models import (Admission, AdmissionState, ClaimState, DuplicateAdmission, DuplicateState, EnrollmentPlan,
                        Request, RequestState, Student, StudentStatus)
from app.models.org import OrgKind, Ownership, SchoolType
from app.services import accounts, admissions, orgs, requests
from app.services.roles import SCHOOL_ADMIN
from tests.conftest import PASSWORD, account, unit
from tests.integration.test_admissions import EAST, WEST, graduate, open_years, plan, self_admit, season  # noqa: F401

PDF = b"%PDF-1.4 admission proof"
EAST_JUNIOR = "school_3601020002"     # 东湖区 初中
EAST_JUNIOR_2 = "school_3601020003"   # 东湖区 a second 初中, made in the test (a case inside one county)
WEST_JUNIOR = "school_3601030002"     # 西湖区 初中 (same city 南昌)
FAR_SCHOOL = "school_3604020002"      # 濂溪区 初中 (九江)
EAST_COUNTY, WEST_COUNTY, CITY = "county_360102", "county_360103", "city_360100"
NOT_FOUND = "记录不存在或不在您的管辖范围内"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ENGLISH_LEFTOVERS = re.compile(r">\s*(pending|admitted|rejected|withdrawn|unified|self|archive|open|arbitration|"
                               r"resolved|proving|proved|none|None|True|False)\s*<")


def html(resp):
    return resp.get_data(as_text=True)


def table(resp, table_id="admissions"):
    """The list's table only (the filters name every school in scope)."""
    page = html(resp)
    start = page.index(f'id="{table_id}"')
    return page[start:page.index("</table>", start)]


def ticked(adm_id):
    return f'name="rowid" value="{adm_id}"'


def acc(username):
    return account(db.session, username)


def second_junior_school():
    """东湖区's second 初中 with a registrar who may log in (a case inside one county)."""
    officer = acc(EAST_COUNTY)
    school = orgs.create_unit(db.session, officer, kind=OrgKind.SCHOOL, name="东湖第二初级中学",
                              parent_id=unit(db.session, EAST).id, school_code=f"{EAST}0003",
                              school_type=SchoolType.JUNIOR, ownership=Ownership.PUBLIC)
    user, _initial = accounts.create_account(db.session, officer, username=EAST_JUNIOR_2, real_name="李老师",
                                             phone="13800000003", org_unit_id=school.id, role_names=[SCHOOL_ADMIN],
                                             password=PASSWORD)
    user.must_change_password = False
    db.session.commit()
    return school


def approve_request(app, req_id, who):
    with app.app_context():
        requests.approve(db.session, acc(who), req_id)
        db.session.commit()


def admission(app, pk):
    with app.app_context():
        adm = db.session.get(Admission, pk)
        return adm.state, adm.claim, adm.version


def case_of(app, pk):
    with app.app_context():
        c = db.session.get(DuplicateAdmission, pk)
        return c.state, c.winner_id, c.arbiter.name if c.arbiter else None, c.version


def contested(app, season, *, second=WEST):
    """A 东湖 graduate admitted by 东湖's 初中 and by a second school (西湖's, or 东湖's second 初中
    when second == "east2"). Returns ids: (student, first admission, second admission, case)."""
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 5)
        if second == "east2":
            school = second_junior_school()
            admissions.set_plan(db.session, acc(EAST_COUNTY), school.id, "21", 5)
            db.session.commit()
            first = self_admit(a)
            other = admissions.self_admit(db.session, acc(EAST_JUNIOR_2), a.xueji_no, a.name)
            db.session.commit()
        else:
            plan(second, 5)
            first, other = self_admit(a), self_admit(a, county=second)
        case = db.session.scalar(select(DuplicateAdmission))
        return a.id, first.id, other.id, case.id


def prove(client, adm_id, with_file=True, reason="该生已到本校报到，有志愿表为证"):
    data = {"reason": reason}
    if with_file:
        data["evidence"] = (io.BytesIO(PDF), "志愿表.pdf")
    return client.post(f"/duplicateadmissionview/prove/{adm_id}", data=data, content_type="multipart/form-data",
                       follow_redirects=True)


def claim_request(app, adm_id):
    with app.app_context():
        return db.session.get(Admission, adm_id).claim_request_id


# ---------------------------------------------------------------- the screens at every level

def test_the_screens_render_at_every_level_with_names_not_codes(app, as_user, season):
    sid, east, west, case = contested(app, season)
    with app.app_context():
        name = db.session.get(Student, sid).name
    for who in (EAST_JUNIOR, WEST_JUNIOR, "school_3601020001", EAST_COUNTY, WEST_COUNTY, CITY, "sheng_admin",
                "sheng_viewer"):
        client = as_user(who)
        page = html(client.get("/admissionview/list/"))
        assert name in page, who
        assert "自主招生" in page and "待核办" in page and "初中一年级" in page and "重复招生" in page, who
        assert "东湖第一小学" in page, who  # the graduating school by name
        assert not ENGLISH_LEFTOVERS.search(page), (who, ENGLISH_LEFTOVERS.search(page).group(0))
        mine = west if who in (WEST_JUNIOR, WEST_COUNTY) else east  # the other school's admission is not theirs
        resp = client.get(f"/admissionview/show/{mine}")
        show = html(resp)
        assert resp.status_code == 200 and name in show, who
        assert "新生录取核办" in show and f"/duplicateadmissionview/show/{case}" in show, who
        assert not ENGLISH_LEFTOVERS.search(show), (who, ENGLISH_LEFTOVERS.search(show))
        cases = html(client.get("/duplicateadmissionview/list/"))
        assert f"/duplicateadmissionview/show/{case}" in cases and "待学校处理" in cases, who
        detail = html(client.get(f"/duplicateadmissionview/show/{case}"))
        assert "东湖" in detail and "西湖" in detail and "未处理" in detail, who
        assert not ENGLISH_LEFTOVERS.search(detail), (who, ENGLISH_LEFTOVERS.search(detail))
    # The school's actions on its own admission only; the county's 核办 link into the inbox.
    school = html(as_user(EAST_JUNIOR).get(f"/duplicateadmissionview/show/{case}"))
    assert f"/duplicateadmissionview/prove/{east}" in school and f"/duplicateadmissionview/prove/{west}" not in school
    assert f"/admissionview/withdraw/{east}" in school and f"/admissionview/withdraw/{west}" not in school
    county = html(as_user(EAST_COUNTY).get("/admissionview/list/"))
    with app.app_context():
        req_east = db.session.get(Admission, east).request_id
        req_west = db.session.get(Admission, west).request_id
    assert f"/inboxview/show/{req_east}" in county and ticked(east) in county  # waits at 东湖
    assert f"/inboxview/show/{req_west}" not in county  # 西湖's step first: nothing for 东湖 to tick yet
    assert 'id="bulk-approve"' in county and "批量核办通过" in county and "新生录取核办" in county
    for who in ("sheng_viewer", CITY, EAST_JUNIOR):
        page = html(as_user(who).get("/admissionview/list/"))
        assert 'id="bulk-approve"' not in page and "批量核办通过" not in page, who
    viewer = html(as_user("sheng_viewer").get("/admissionview/list/"))
    assert "/admissionview/withdraw/" not in viewer and "/inboxview/show/" not in viewer
    # The filters: state, kind, name, 外地就读.
    assert name not in html(as_user(EAST_COUNTY).get("/admissionview/list/?state=admitted"))
    assert name not in html(as_user(EAST_COUNTY).get("/admissionview/list/?kind=unified"))
    assert name in html(as_user(EAST_COUNTY).get("/admissionview/list/?q=" + name[:2]))
    elsewhere = table(as_user(EAST_COUNTY).get("/admissionview/list/?elsewhere=1"))
    assert "外地就读" in elsewhere and "西湖第一初级中学" in elsewhere and "东湖第一初级中学" not in elsewhere
    assert as_user(EAST_COUNTY).get("/admissionview/list/?state=bogus&year=x&school=abc&page=-3").status_code == 200


def test_the_list_exports_as_a_workbook_scoped(app, as_user, season):
    sid, east, west, case = contested(app, season)
    with app.app_context():
        name = db.session.get(Student, sid).name
    resp = as_user(WEST_COUNTY).post("/admissionview/export_workbook/")
    assert resp.status_code == 200 and resp.mimetype == XLSX
    ws = load_workbook(io.BytesIO(resp.data)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    flat = [v for row in values for v in row if v is not None]
    assert "录取学校" in flat and "重复招生" in flat and name in flat and "西湖第一初级中学" in flat
    assert "待核办" in flat and "未解决" in flat
    resp = as_user("county_360402").post("/admissionview/export_workbook/")
    flat = [c.value for row in load_workbook(io.BytesIO(resp.data)).active.iter_rows() for c in row]
    assert name not in flat


# ---------------------------------------------------------------- 批量核办通过

def test_the_county_approves_in_bulk_and_a_contested_admission_is_refused(app, as_user, season):
    with app.app_context():
        open_years()
        a, b = graduate(1), graduate(2)
        season.admission()
        plan(EAST, 5)
        plan(WEST, 5)
        plain = self_admit(a)
        disputed = self_admit(b)
        self_admit(b, county=WEST)  # 重复招生
        ids, names = (plain.id, disputed.id), (a.name, b.name)
    county = as_user(EAST_COUNTY)
    resp = county.post("/admissionview/approve", data={"rowid": list(ids), "comment": "材料齐全",
                                                       "next": "/admissionview/list/?todo=1"}, follow_redirects=True)
    page = html(resp)
    assert "已核办通过 1 名学生的录取" in page and names[0] in page
    assert f"{names[1]}（东湖第一初级中学）未能核办通过" in page and "重复招生" in page
    assert admission(app, ids[0])[0] == AdmissionState.ADMITTED
    assert admission(app, ids[1])[0] == AdmissionState.PENDING
    with app.app_context():
        s = db.session.get(Student, a.id)
        assert (s.status, s.school.school_code, s.grade) == (StudentStatus.IN_SCHOOL, "3601020002", "21")
        step = db.session.get(Admission, ids[0]).request.steps[0]
        assert (step.comment, step.actor.username) == ("材料齐全", EAST_COUNTY)
    # Nothing ticked; a school cannot approve; an id of another county is not found.
    assert "请先勾选要核办的录取" in html(county.post("/admissionview/approve", data={}, follow_redirects=True))
    page = html(as_user("county_360402").post("/admissionview/approve", data={"rowid": [ids[1]]},
                                              follow_redirects=True))
    assert f"录取记录 {ids[1]} 不存在或不在您的管辖范围内" in page and names[1] not in page
    as_user(EAST_JUNIOR).post("/admissionview/approve", data={"rowid": [ids[1]]})
    assert admission(app, ids[1])[0] == AdmissionState.PENDING


def test_the_home_county_approves_its_graduates_admitted_elsewhere(app, as_user, season):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(WEST, 5)
        adm = self_admit(a, county=WEST)
        adm_id, name = adm.id, a.name
    # 新生录取核办 at the admitting county first; the home county has nothing to tick yet.
    assert ticked(adm_id) not in html(as_user(EAST_COUNTY).get("/admissionview/list/?elsewhere=1"))
    page = html(as_user(WEST_COUNTY).post("/admissionview/approve", data={"rowid": [adm_id]}, follow_redirects=True))
    assert "已核办通过 1 名学生的录取" in page
    assert admission(app, adm_id)[0] == AdmissionState.PENDING  # waits for the home county
    home = html(as_user(EAST_COUNTY).get("/admissionview/list/?elsewhere=1"))
    assert name in home and ticked(adm_id) in home and "批量核办通过（外地就读学生核办）" in home
    assert name not in html(as_user(WEST_COUNTY).get("/admissionview/list/?elsewhere=1"))
    as_user(EAST_COUNTY).post("/admissionview/approve", data={"rowid": [adm_id]})
    assert admission(app, adm_id)[0] == AdmissionState.ADMITTED
    show = html(as_user(EAST_COUNTY).get(f"/admissionview/show/{adm_id}"))
    assert "新生录取核办" in show and "外地就读学生核办" in show and "西湖区" in show and "东湖区" in show


# ---------------------------------------------------------------- 撤销, 佐证, 仲裁

def test_the_school_not_keeping_the_student_withdraws(app, as_user, season):
    sid, east, west, case = contested(app, season)
    client = as_user(WEST_JUNIOR)
    form = html(client.get(f"/admissionview/withdraw/{west}"))
    assert "撤销理由" in form and "西湖第一初级中学" in form
    version = admission(app, west)[2]
    page = html(client.post(f"/admissionview/withdraw/{west}", data={"reason": " ", "version": version},
                            follow_redirects=True))
    assert "请填写撤销理由" in page and admission(app, west)[0] == AdmissionState.PENDING
    stale = html(client.post(f"/admissionview/withdraw/{west}", data={"reason": "x", "version": version - 1},
                             follow_redirects=True))
    assert "已被他人修改" in stale and admission(app, west)[0] == AdmissionState.PENDING
    stale = html(client.post(f"/admissionview/withdraw/{west}", data={"reason": "x", "version": "abc"},
                             follow_redirects=True))  # a hand-made version: stale, not unchecked
    assert "已被他人修改" in stale and admission(app, west)[0] == AdmissionState.PENDING
    # Another school's admission: not withdrawn, whatever the form says.
    as_user(WEST_JUNIOR).post(f"/admissionview/withdraw/{east}", data={"reason": "x", "version": 1})
    assert admission(app, east)[0] == AdmissionState.PENDING
    page = html(client.post(f"/admissionview/withdraw/{west}",
                            data={"reason": "学生选择到东湖区就读", "version": version,
                                  "next": f"/duplicateadmissionview/show/{case}"}, follow_redirects=True))
    assert "已撤销" in page and "招生计划名额已释放" in page and "已解决" in page
    assert admission(app, west)[0] == AdmissionState.WITHDRAWN
    assert case_of(app, case)[:2] == (DuplicateState.RESOLVED, east)
    with app.app_context():
        assert db.session.scalar(select(EnrollmentPlan.used).join(Admission, Admission.plan_id == EnrollmentPlan.id)
                                 .where(Admission.id == west)) == 0
    # Now the county approves from its list.
    as_user(EAST_COUNTY).post("/admissionview/approve", data={"rowid": [east]})
    assert admission(app, east)[0] == AdmissionState.ADMITTED


def test_both_schools_prove_and_the_city_arbitrates(app, as_user, season):
    sid, east, west, case = contested(app, season)
    east_school, west_school = as_user(EAST_JUNIOR), as_user(WEST_JUNIOR)
    form = html(east_school.get(f"/duplicateadmissionview/prove/{east}"))
    assert "证明材料" in form and "学校意见" in form and "西湖第一初级中学" in form
    page = html(prove(east_school, east, with_file=False))
    assert "佐证须上传证明材料" in page and admission(app, east)[1] == ClaimState.NONE
    page = html(prove(east_school, east, reason=""))
    assert "请填写学校意见" in page
    page = html(prove(east_school, east))
    assert "重复招生佐证已提交，等待东湖区" in page and "佐证核办中" in page
    assert admission(app, east)[1] == ClaimState.PROVING
    assert "本校已佐证" in html(prove(east_school, east))
    # Not its own admission.
    prove(east_school, west)
    assert admission(app, west)[1] == ClaimState.NONE
    # The county approves the proof in its inbox (linked from the case).
    req = claim_request(app, east)
    detail = html(as_user(EAST_COUNTY).get(f"/duplicateadmissionview/show/{case}"))
    assert f"/inboxview/show/{req}" in detail and "核办佐证" in detail
    inbox = as_user(EAST_COUNTY)
    assert inbox.post(f"/inboxview/approve/{req}", data={}, follow_redirects=True).status_code == 200
    assert admission(app, east)[1] == ClaimState.PROVED
    prove(west_school, west)
    approve_request(app, claim_request(app, west), WEST_COUNTY)
    state, winner, arbiter, version = case_of(app, case)
    assert state == DuplicateState.ARBITRATION and arbiter.startswith("南昌"), arbiter  # the common superior: the city
    # Only the arbiter sees the form; a county posting it changes nothing.
    assert "提交仲裁" not in html(as_user(EAST_COUNTY).get(f"/duplicateadmissionview/show/{case}"))
    page = html(as_user(EAST_COUNTY).post(f"/duplicateadmissionview/arbitrate/{case}",
                                          data={"winner": east, "comment": "x", "version": version},
                                          follow_redirects=True))
    assert "共同上级仲裁" in page and case_of(app, case)[0] == DuplicateState.ARBITRATION
    city = as_user(CITY)
    listing = html(city.get("/duplicateadmissionview/list/"))
    assert "等待本单位仲裁" in listing and f"/duplicateadmissionview/show/{case}" in listing
    show = html(city.get(f"/duplicateadmissionview/show/{case}"))
    assert "提交仲裁" in show and "均不通过" in show and "佐证已通过" in show
    page = html(city.post(f"/duplicateadmissionview/arbitrate/{case}", data={"comment": "x", "version": version},
                          follow_redirects=True))
    assert "请选择通过的录取学校" in page and case_of(app, case)[0] == DuplicateState.ARBITRATION
    page = html(city.post(f"/duplicateadmissionview/arbitrate/{case}", data={"winner": west, "comment": " ",
                                                                             "version": version}, follow_redirects=True))
    assert "裁决理由" in page and case_of(app, case)[0] == DuplicateState.ARBITRATION
    page = html(city.post(f"/duplicateadmissionview/arbitrate/{case}",
                          data={"winner": west, "comment": "学生已在西湖区报到就读", "version": version},
                          follow_redirects=True))
    assert "已仲裁：西湖第一初级中学的录取通过" in page
    assert case_of(app, case)[:2] == (DuplicateState.RESOLVED, west)
    assert admission(app, west)[0] == AdmissionState.ADMITTED and admission(app, east)[0] == AdmissionState.REJECTED
    with app.app_context():
        assert db.session.get(Student, sid).school.school_code == "3601030002"


def test_arbitration_may_reject_every_admission_on_the_screen(app, as_user, season):
    sid, east, west, case = contested(app, season, second="east2")
    for adm, who in ((east, EAST_JUNIOR), (west, EAST_JUNIOR_2)):
        assert "佐证已提交" in html(prove(as_user(who), adm))
        approve_request(app, claim_request(app, adm), EAST_COUNTY)
    state, _w, arbiter, version = case_of(app, case)
    assert state == DuplicateState.ARBITRATION and arbiter.startswith("东湖")  # one county: it arbitrates
    page = html(as_user(EAST_COUNTY).post(f"/duplicateadmissionview/arbitrate/{case}",
                                          data={"winner": "none", "comment": "两校材料均不实", "version": version},
                                          follow_redirects=True))
    assert "已仲裁：各校录取均不通过" in page
    assert {admission(app, x)[0] for x in (east, west)} == {AdmissionState.REJECTED}
    with app.app_context():
        assert db.session.get(Student, sid).status == StudentStatus.GRADUATED


# ---------------------------------------------------------------- scoping from outside

def test_outsiders_cannot_read_withdraw_or_arbitrate_by_url(app, as_user, season):
    sid, east, east2, case = contested(app, season, second="east2")
    for adm, who in ((east, EAST_JUNIOR), (east2, EAST_JUNIOR_2)):
        prove(as_user(who), adm)
        approve_request(app, claim_request(app, adm), EAST_COUNTY)
    with app.app_context():
        name = db.session.get(Student, sid).name
        req_id = db.session.get(Admission, east).request_id
    version = case_of(app, case)[3]
    for who in (WEST_COUNTY, FAR_SCHOOL):
        c = as_user(who)
        for url in (f"/admissionview/show/{east}", f"/admissionview/withdraw/{east}",
                    f"/duplicateadmissionview/show/{case}", f"/duplicateadmissionview/prove/{east}",
                    f"/admissionview/show/{2 ** 40}"):
            resp = c.get(url)
            assert resp.status_code == 404 and name not in html(resp), (who, url)
        for url, data in ((f"/admissionview/withdraw/{east}", {"reason": "x", "version": 1}),
                          (f"/duplicateadmissionview/arbitrate/{case}",
                           {"winner": east, "comment": "x", "version": version}),
                          (f"/duplicateadmissionview/prove/{east}", {"reason": "x"})):
            resp = c.post(url, data=data)
            assert resp.status_code == 404 and name not in html(resp), (who, url)
        for url in ("/admissionview/list/", "/duplicateadmissionview/list/", "/admissionview/list/?elsewhere=1"):
            assert name not in html(c.get(url)), (who, url)
        page = html(c.post("/admissionview/approve", data={"rowid": [east]}, follow_redirects=True))
        assert name not in page
    assert case_of(app, case)[0] == DuplicateState.ARBITRATION
    assert admission(app, east)[0] == AdmissionState.PENDING
    with app.app_context():
        assert db.session.get(Request, req_id).state == RequestState.PENDING
        assert db.session.scalar(select(func.count()).select_from(Admission)
                                 .where(Admission.state != AdmissionState.PENDING)) == 0
