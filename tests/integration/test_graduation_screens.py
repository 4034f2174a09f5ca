"""毕业 screens through HTTP as the demo accounts: 学生毕业 (classes, 检查, 毕业 and what blocks it),
毕业生查询 with 毕业信息 (bulk, one by one, the workbook through the import engine, the export),
the county's 驳回 and 毕业生驳回查询, scoping from outside and the read-only role."""
import datetime
import io
import os
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from app.extensions import db
from app.imports import engine, spec as specs
from app.models import Graduation, GraduationState, Job, JobState, ProblemRecord, Student, StudentStatus
from app.models.problems import ProblemKind, Treatment
from app.services import graduation, problems, school_years, status_changes
from tests.conftest import account, finish_jobs
from tests.integration.test_registry_services import enrolled

SCHOOL = "school_3601020001"        # 东湖第一小学 (东湖区, 小学6年: 毕业年级 小学六年级 = 16)
SAME_COUNTY_SCHOOL = "school_3601020002"
WEST_SCHOOL = "school_3601030001"   # 西湖区
COUNTY = "county_360102"
OTHER_COUNTY = "county_360103"
DAY = "2025-06-30"                  # a 毕业日期 in the past, whatever the date of the run
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def html(resp):
    return resp.get_data(as_text=True)


def name_of(seq):
    return "毕业" + chr(0x4e00 + seq * 7) + chr(0x4e00 + seq * 11 + 3)


def students(app, n, start=1, grade="16", class_name="1班", who=SCHOOL):
    """n 在校 students of `who`'s school in `grade` and `class_name`, with classes adopted from
    the names; returns their ids."""
    with app.app_context():
        made = [enrolled(who=who, seq=start + i, name=name_of(start + i), class_name=class_name) for i in range(n)]
        for s in made:
            s.grade = grade
        db.session.commit()
        school_years.adopt_class_names(db.session)
        db.session.commit()
        return [s.id for s in made]


def class_of(app, student_id):
    with app.app_context():
        return db.session.get(Student, student_id).class_id


def graduated(app, ids, who=SCHOOL):
    """Graduate through the service (for the tests of what comes after); returns graduation ids."""
    with app.app_context():
        graduation.graduate(db.session, account(db.session, who), student_ids=ids, graduated_on=DAY)
        db.session.commit()
        return list(db.session.scalars(select(Graduation.id).where(Graduation.student_id.in_(ids))
                                       .order_by(Graduation.student_id)))


def statuses(app, ids):
    with app.app_context():
        return [db.session.get(Student, i).status for i in ids]


def graduations(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Graduation))


def info(app, gid):
    with app.app_context():
        g = db.session.get(Graduation, gid)
        return g.graduated_on.isoformat(), g.certificate_no, g.destination, g.state, g.version


def xueji(app, student_id):
    with app.app_context():
        return db.session.get(Student, student_id).xueji_no


# ---------------------------------------------------------------- 学生毕业

def test_a_school_graduates_a_final_grade_class_through_the_screen(app, as_user):
    ids = students(app, 3)
    younger = students(app, 1, start=10, grade="15")
    client = as_user(SCHOOL)
    page = html(client.get("/graduationview/list/"))
    cid = class_of(app, ids[0])
    assert "学制：小学6年；毕业年级：小学六年级" in page and "毕业年级在校学生共 3 名" in page
    assert f'name="class_id" value="{cid}"' in page and "1班（" in page
    for i in ids:
        assert name_of(ids.index(i) + 1) in page and f'name="student_id" value="{i}"' in page
    assert name_of(10) not in page and f'value="{younger[0]}"' not in page  # 小学五年级: not a candidate

    page = html(client.get(f"/graduationview/check?class_id={cid}"))
    assert "检查通过" in page and "毕业（3 名）" in page and 'id="graduate-form"' in page
    for i in ids:
        assert f'name="student_id" value="{i}"' in page

    r = client.post("/graduationview/graduate", data={"student_id": ids, "graduated_on": DAY})
    assert r.status_code == 302 and r.headers["Location"].endswith("/graduateview/list/")
    page = html(client.get(r.headers["Location"]))
    assert "已办理毕业：3 名学生" in page
    for i in range(1, 4):
        assert name_of(i) in page
    assert statuses(app, ids) == [StudentStatus.GRADUATED] * 3
    assert statuses(app, younger) == [StudentStatus.IN_SCHOOL]
    with app.app_context():
        rows = db.session.scalars(select(Graduation)).all()
        assert {g.student_id for g in rows} == set(ids)
        assert {(g.graduated_on.isoformat(), g.class_id, g.grade, g.state) for g in rows} == \
            {(DAY, cid, "16", GraduationState.GRADUATED)}
    # The class is empty of 在校 students now and counts its graduates.
    page = html(client.get("/graduationview/list/"))
    assert "毕业年级在校学生共 0 名" in page


def test_a_whole_class_by_its_checkbox_alone(app, as_user):
    ids = students(app, 2, class_name="2班")
    client = as_user(SCHOOL)
    r = client.post("/graduationview/graduate", data={"class_id": class_of(app, ids[0]), "graduated_on": DAY})
    assert r.status_code == 302
    assert statuses(app, ids) == [StudentStatus.GRADUATED] * 2


def test_a_student_not_in_the_final_grade_is_refused(app, as_user):
    final = students(app, 1)
    younger = students(app, 1, start=5, grade="15")
    client = as_user(SCHOOL)
    page = html(client.get(f"/graduationview/check?student_id={final[0]}&student_id={younger[0]}"))
    assert "不在毕业年级（本校毕业年级为 小学六年级）" in page and 'id="graduate-form"' not in page
    assert "只检查其余 1 名学生" in page
    r = client.post("/graduationview/graduate", data={"student_id": final + younger, "graduated_on": DAY})
    page = html(r)
    assert r.status_code == 200
    assert f"{name_of(5)} 不在毕业年级（本校小学6年，毕业年级为小学六年级），不能毕业" in page
    assert statuses(app, final + younger) == [StudentStatus.IN_SCHOOL] * 2 and graduations(app) == 0


def test_an_open_request_blocks_and_the_check_page_links_it(app, as_user):
    ids = students(app, 2)
    with app.app_context():
        req = status_changes.request_suspension(db.session, account(db.session, SCHOOL), ids[0], reason_code="01",
                                                starts_on="2026-09-01", ends_on="2027-01-31")
        db.session.commit()
        req_id = req.id
    client = as_user(SCHOOL)
    query = f"student_id={ids[0]}&student_id={ids[1]}"
    page = html(client.get(f"/graduationview/check?{query}"))
    assert "在办业务（1 项）" in page and "休学" in page and 'id="graduate-form"' not in page
    assert f'href="/myrequestsview/show/{req_id}"' in page  # the school's own request: 撤销 is there
    assert "有在办业务" in page and "只检查其余 1 名学生" in page

    r = client.post("/graduationview/graduate", data={"student_id": ids, "graduated_on": DAY})
    page = html(r)
    assert r.status_code == 200
    assert "不能毕业：1 名学生有在办业务（1 项）" in page and f'href="/myrequestsview/show/{req_id}"' in page
    assert statuses(app, ids) == [StudentStatus.IN_SCHOOL] * 2 and graduations(app) == 0
    # The link leads to the request, where the school may withdraw it; then the rest may graduate.
    assert client.get(f"/myrequestsview/show/{req_id}").status_code == 200
    client.post(f"/myrequestsview/cancel/{req_id}", data={"reason": "毕业前清理"})
    page = html(client.get(f"/graduationview/check?{query}"))
    assert "检查通过" in page and "毕业（2 名）" in page


def test_a_double_submit_changes_nothing_the_second_time(app, as_user):
    ids = students(app, 2)
    client = as_user(SCHOOL)
    data = {"student_id": ids, "graduated_on": DAY}
    assert client.post("/graduationview/graduate", data=data).status_code == 302
    with app.app_context():
        before = [(g.id, g.version) for g in db.session.scalars(select(Graduation).order_by(Graduation.id))]
    r = client.post("/graduationview/graduate", data=data)
    page = html(r)
    assert r.status_code == 200 and "的学籍状态不是在校（毕业），不能毕业" in page
    assert 'id="graduate-form"' not in page and "学籍状态不是在校" in page
    with app.app_context():
        assert [(g.id, g.version) for g in db.session.scalars(select(Graduation).order_by(Graduation.id))] == before
    # By the class alone: nothing of it is 在校 any more; a Chinese message, once, and the list.
    r = client.post("/graduationview/graduate", data={"class_id": class_of(app, ids[0]), "graduated_on": DAY},
                    follow_redirects=True)
    page = html(r)
    assert page.count("所选班级已没有在校学生（可能已办理毕业）") == 1 and graduations(app) == 2


def test_a_bad_graduation_date_is_refused(app, as_user):
    ids = students(app, 1)
    client = as_user(SCHOOL)
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    page = html(client.post("/graduationview/graduate", data={"student_id": ids, "graduated_on": tomorrow}))
    assert "毕业日期不能晚于今天" in page and 'id="graduate-form"' in page
    assert statuses(app, ids) == [StudentStatus.IN_SCHOOL] and graduations(app) == 0


def test_a_malformed_graduation_date_reads_as_a_sentence(app, as_user):
    ids = students(app, 1)
    page = html(as_user(SCHOOL).post("/graduationview/graduate",
                                     data={"student_id": ids, "graduated_on": "2026/13/45"}))
    assert statuses(app, ids) == [StudentStatus.IN_SCHOOL] and graduations(app) == 0
    alert = re.search(r'class="alert alert-danger">(.*?)</div>', page, re.S).group(1)
    flashed = re.sub(r"<[^>]+>|\s+|&times;", "", alert)
    assert flashed.startswith("毕业日期") and "年-月-日" in flashed, flashed


def test_nothing_selected_and_another_schools_student(app, as_user):
    ids = students(app, 1)
    west = students(app, 1, start=20, who=WEST_SCHOOL)
    client = as_user(SCHOOL)
    page = html(client.get("/graduationview/check", follow_redirects=True))
    assert "请选择要毕业的班级或学生" in page
    assert client.get(f"/graduationview/check?student_id={west[0]}").status_code == 404
    assert client.post("/graduationview/graduate", data={"student_id": ids + west}).status_code == 404
    assert client.post("/graduationview/graduate", data={"class_id": class_of(app, west[0])}).status_code == 404
    assert statuses(app, ids + west) == [StudentStatus.IN_SCHOOL] * 2


def test_an_unsettled_problem_record_blocks_until_carried_on(app, as_user):
    ids = students(app, 2)
    other = students(app, 1, start=30, who=WEST_SCHOOL)
    with app.app_context():
        mine = db.session.get(Student, ids[0])
        db.session.execute(update(Student).where(Student.id == other[0])
                           .values(origin="legacy", id_number=mine.id_number))
        db.session.commit()
        problems.detect(db.session, account(db.session, "sheng_admin"))
        db.session.commit()
        problem = db.session.scalar(select(ProblemRecord).where(ProblemRecord.kind == ProblemKind.DUPLICATE_ID))
        side_id = next(s.id for s in problem.sides if s.student_id == ids[0])
        problem_id = problem.id
    client = as_user(SCHOOL)
    here = f"/graduationview/check?class_id={class_of(app, ids[0])}"
    page = html(client.get(here))
    assert "未处理的问题学籍（1 条）" in page and f'href="/problemview/show/{problem_id}"' in page
    assert 'id="graduate-form"' not in page and 'action="/problemview/bulk"' in page
    r = client.post("/graduationview/graduate", data={"student_id": ids, "graduated_on": DAY})
    assert "1 名学生的问题学籍尚未处理或结转" in html(r) and graduations(app) == 0
    # 结转 from the page (ProblemView's bulk action) comes back to the page, and then it passes.
    r = client.post("/problemview/bulk", data={"op": "carry", "rowid": side_id, "reason": "随学生结转到初中学校处理",
                                               "next": here})
    assert r.status_code == 302 and r.headers["Location"].endswith(here)
    with app.app_context():
        assert db.session.get(problems.ProblemSide, side_id).treatment == Treatment.CARRIED
    page = html(client.get(here))
    assert "检查通过" in page
    assert client.post("/graduationview/graduate", data={"student_id": ids, "graduated_on": DAY}).status_code == 302
    assert statuses(app, ids) == [StudentStatus.GRADUATED] * 2


def test_the_county_looks_read_only_and_may_not_graduate(app, as_user):
    ids = students(app, 2)
    west = students(app, 1, start=20, who=WEST_SCHOOL)
    county = as_user(COUNTY)
    page = html(county.get("/graduationview/list/"))
    assert 'id="school-overview"' in page and "东湖第一小学" in page and "西湖第一小学" not in page
    with app.app_context():
        school_id = db.session.get(Student, ids[0]).school_id
        west_school = db.session.get(Student, west[0]).school_id
    page = html(county.get(f"/graduationview/list/?school={school_id}"))
    assert name_of(1) in page and name_of(2) in page
    assert 'name="student_id"' not in page and 'name="class_id"' not in page and "检查所选" not in page
    assert county.get(f"/graduationview/list/?school={west_school}").status_code == 404
    r = county.post("/graduationview/graduate", data={"student_id": ids, "graduated_on": DAY}, follow_redirects=True)
    assert "只有学校学籍管理员可以办理毕业" in html(r)
    assert statuses(app, ids) == [StudentStatus.IN_SCHOOL] * 2


# ---------------------------------------------------------------- 毕业生查询 and 毕业信息

def test_bulk_destination_and_date_then_one_by_one(app, as_user):
    ids = students(app, 3)
    gids = graduated(app, ids)
    client = as_user(SCHOOL)
    page = html(client.get("/graduateview/list/"))
    assert "下载毕业信息模板" in page and "/importview/graduation_info/template" in page
    assert 'action="/importview/graduation_info/"' in page and "导出 Excel" in page
    assert all(f'name="rowid" value="{g}"' in page for g in gids) and "/graduateview/reject/" not in page

    r = client.post("/graduateview/update", data={"rowid": gids[:2], "destination": "09", "graduated_on": "2025-07-01",
                                                  "next": "/graduateview/list/"})
    assert r.status_code == 302
    assert [info(app, g)[:3] for g in gids] == [("2025-07-01", None, "09"), ("2025-07-01", None, "09"),
                                                (DAY, None, None)]
    page = html(client.get("/graduateview/list/?destination=09"))
    assert "普通初中" in page and name_of(1) in page and name_of(3) not in page
    page = html(client.get("/graduateview/list/?destination=none"))
    assert name_of(3) in page and name_of(1) not in page

    # Bad input: a Chinese message, nothing changed.
    before = [info(app, g) for g in gids]
    page = html(client.post("/graduateview/update", data={"destination": "09"}, follow_redirects=True))
    assert "请先勾选要修改的毕业生" in page
    page = html(client.post("/graduateview/update", data={"rowid": gids}, follow_redirects=True))
    assert "请填写要修改的毕业信息" in page
    page = html(client.post("/graduateview/update", data={"rowid": gids, "destination": "火星"}, follow_redirects=True))
    assert "毕业去向“火星”不在国家代码表中" in page
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    page = html(client.post("/graduateview/update", data={"rowid": gids, "graduated_on": tomorrow},
                            follow_redirects=True))
    assert "毕业日期不能晚于今天" in page
    assert [info(app, g) for g in gids] == before

    # One graduate: the certificate number, a new 去向, clearing works; a bad number is refused.
    page = html(client.get(f"/graduateview/edit/{gids[2]}"))
    assert 'name="certificate_no"' in page and 'name="destination"' in page
    version = info(app, gids[2])[4]
    page = html(client.post(f"/graduateview/edit/{gids[2]}", data={
        "graduated_on": DAY, "certificate_no": "DH 2027", "destination": "", "version": version}))
    assert "毕业证书编号不能含空格，最长 40 个字符" in page and "has-error" in page
    assert info(app, gids[2]) == before[2]
    r = client.post(f"/graduateview/edit/{gids[2]}", data={
        "graduated_on": DAY, "certificate_no": "DH2027003", "destination": "10", "version": version})
    assert r.status_code == 302
    assert info(app, gids[2])[:3] == (DAY, "DH2027003", "10")
    page = html(client.get("/graduateview/list/"))
    assert "DH2027003" in page and "就业" in page
    # A stale version (another officer saved meanwhile) is refused.
    page = html(client.post(f"/graduateview/edit/{gids[2]}", data={
        "graduated_on": DAY, "certificate_no": "X1", "destination": "10", "version": version}))
    assert "该记录已被他人修改，请刷新后重试" in page and info(app, gids[2])[1] == "DH2027003"


def test_destination_filled_by_admission_is_marked(app, as_user):
    ids = students(app, 1)
    gid = graduated(app, ids)[0]
    with app.app_context():
        graduation.record_admission(db.session, db.session.get(Student, ids[0]), "21")
        db.session.commit()
    page = html(as_user(SCHOOL).get("/graduateview/list/"))
    assert "普通初中" in page and "招生回填" in page
    assert info(app, gid)[2] == "09"


def test_other_schools_and_counties_get_404(app, as_user):
    ids = students(app, 1)
    gid = graduated(app, ids)[0]
    for who in (OTHER_COUNTY, WEST_SCHOOL, SAME_COUNTY_SCHOOL):
        client = as_user(who)
        assert client.get(f"/graduateview/edit/{gid}").status_code == 404, who
        assert client.get(f"/graduateview/reject/{gid}").status_code == 404, who
        assert client.post(f"/graduateview/reject/{gid}", data={"reason": "数据有误"}).status_code == 404, who
        assert name_of(1) not in html(client.get("/graduateview/list/")), who
    for who in (WEST_SCHOOL, SAME_COUNTY_SCHOOL):
        assert as_user(who).post("/graduateview/update", data={"rowid": gid, "destination": "10"}).status_code == 404
    # Hand-made ids, out of range too (PostgreSQL refuses those in a query): 404 or a message, no 500.
    school, county = as_user(SCHOOL), as_user(COUNTY)
    huge = 2 ** 40
    assert school.get(f"/graduateview/edit/{huge}").status_code == 404
    assert county.get(f"/graduateview/reject/{huge}").status_code == 404
    assert county.get(f"/graduationview/list/?school={huge}").status_code == 200
    assert county.get("/graduationview/list/?school=abc&page=-3").status_code == 200
    assert "请选择要毕业的班级或学生" in html(school.get(f"/graduationview/check?student_id={huge}&class_id=x",
                                                        follow_redirects=True))
    assert "请先勾选要修改的毕业生" in html(school.post("/graduateview/update", data={"rowid": huge, "destination": "10"},
                                                      follow_redirects=True))
    for url in (f"/graduateview/list/?school={huge}&grade=99&destination=zz&page=abc",
                f"/rejectedgraduateview/list/?school={huge}&school_code=abc"):
        assert county.get(url).status_code == 200, url
    assert info(app, gid)[2:4] == (None, GraduationState.GRADUATED)
    assert statuses(app, ids) == [StudentStatus.GRADUATED]


# ---------------------------------------------------------------- 驳回

def test_the_county_rejects_with_a_reason_and_the_rejected_list_shows_it(app, as_user):
    ids = students(app, 2)
    gids = graduated(app, ids)
    county = as_user(COUNTY)
    page = html(county.get("/graduateview/list/"))
    assert f"/graduateview/reject/{gids[0]}" in page and 'name="rowid"' not in page
    page = html(county.get(f"/graduateview/reject/{gids[0]}"))
    assert name_of(1) in page and 'name="reason"' in page

    version = info(app, gids[0])[4]
    page = html(county.post(f"/graduateview/reject/{gids[0]}", data={"reason": "  ", "version": version}))
    assert "请填写驳回理由" in page
    assert info(app, gids[0])[3] == GraduationState.GRADUATED and statuses(app, ids[:1]) == [StudentStatus.GRADUATED]

    r = county.post(f"/graduateview/reject/{gids[0]}", data={"reason": "出生日期有误，须先办理关键数据变更",
                                                            "version": version, "next": "/graduateview/list/"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/graduateview/list/")
    assert "已驳回" in html(county.get(r.headers["Location"]))
    assert info(app, gids[0])[3] == GraduationState.REJECTED
    assert statuses(app, ids) == [StudentStatus.IN_SCHOOL, StudentStatus.GRADUATED]
    assert name_of(1) not in html(county.get("/graduateview/list/"))
    # Twice: a message, nothing more.
    page = html(county.post(f"/graduateview/reject/{gids[0]}", data={"reason": "再驳回"}, follow_redirects=True))
    assert "该毕业生已被驳回" in page
    with app.app_context():
        g = db.session.get(Graduation, gids[0])
        assert g.rejected_reason == "出生日期有误，须先办理关键数据变更"
        who = g.rejected_by.real_name or g.rejected_by.username
        sid = g.student_id

    for client in (county, as_user(SCHOOL)):
        page = html(client.get("/rejectedgraduateview/list/"))
        assert name_of(1) in page and "出生日期有误，须先办理关键数据变更" in page and who in page
        assert f'href="/studentview/show/{sid}"' in page and "在校" in page and name_of(2) not in page
    assert name_of(1) not in html(as_user(OTHER_COUNTY).get("/rejectedgraduateview/list/"))
    # The student is 在校 again: the school may graduate them again (a new row).
    graduated(app, ids[:1])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Graduation)
                                 .where(Graduation.student_id == ids[0])) == 2


def test_a_school_and_the_read_only_role_may_not_reject(app, as_user):
    ids = students(app, 1)
    gid = graduated(app, ids)[0]
    page = html(as_user(SCHOOL).post(f"/graduateview/reject/{gid}", data={"reason": "试试"}, follow_redirects=True))
    assert "只有县级及以上学籍管理员可以驳回毕业生" in page
    viewer = as_user("sheng_viewer")
    page = html(viewer.get("/graduateview/list/"))
    assert name_of(1) in page and "/graduateview/reject/" not in page and 'name="rowid"' not in page
    viewer.post(f"/graduateview/reject/{gid}", data={"reason": "试试"})
    viewer.post("/graduateview/update", data={"rowid": gid, "destination": "10"})
    assert info(app, gid)[2:4] == (None, GraduationState.GRADUATED)
    assert statuses(app, ids) == [StudentStatus.GRADUATED]


# ---------------------------------------------------------------- export

def test_export_of_the_list_masks_as_the_list_does(app, as_user):
    ids = students(app, 2)
    gids = graduated(app, ids)
    client = as_user(SCHOOL)
    client.post("/graduateview/update", data={"rowid": gids[0], "destination": "09"})
    r = client.post("/graduateview/export_workbook/?destination=09")
    assert r.status_code == 200 and r.mimetype == XLSX
    ws = load_workbook(io.BytesIO(r.data)).worksheets[0]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    header = next(i for i, row in enumerate(values) if row and row[0] == "姓名")
    assert values[header] == ["姓名", "学籍号", "学校", "毕业年级", "班级", "毕业日期", "证书编号", "毕业去向"]
    body = [row for row in values[header + 1:] if row and row[0]]
    assert len(body) == 1 and body[0][0] == name_of(1) and body[0][1] == xueji(app, ids[0])
    assert body[0][3] == "小学六年级" and body[0][7] == "普通初中"
    # The city sees ID numbers masked: on the list and in the file.
    city = as_user("city_360100")
    page = html(city.get("/graduateview/list/"))
    assert xueji(app, ids[0]) not in page and xueji(app, ids[0])[:7] + "********" in page
    r = city.post("/graduateview/export_workbook/")
    text = " ".join(str(c.value) for row in load_workbook(io.BytesIO(r.data)).worksheets[0].iter_rows() for c in row)
    assert xueji(app, ids[0]) not in text and name_of(2) in text


def test_large_exports_run_as_a_job_and_the_rejected_list_exports_too(app, as_user):
    ids = students(app, 2)
    gids = graduated(app, ids)
    county = as_user(COUNTY)
    county.post(f"/graduateview/reject/{gids[0]}", data={"reason": "学籍信息有误"})
    r = county.post("/rejectedgraduateview/export_workbook/")
    assert r.status_code == 200 and r.mimetype == XLSX
    text = " ".join(str(c.value) for row in load_workbook(io.BytesIO(r.data)).worksheets[0].iter_rows() for c in row)
    assert "驳回理由" in text and "学籍信息有误" in text and name_of(1) in text and name_of(2) not in text
    before = app.config.get("EXPORT_SYNC_ROWS")
    app.config["EXPORT_SYNC_ROWS"] = 0
    try:
        r = county.post("/graduateview/export_workbook/")
    finally:
        app.config["EXPORT_SYNC_ROWS"] = before if before is not None else 5000
    assert r.status_code == 302 and "/jobview/list" in r.headers["Location"]
    job = finish_jobs(app, last_job(app))
    assert job.state == JobState.FINISHED, job.message
    ws = load_workbook(job.result_file).worksheets[0]
    text = " ".join(str(c.value) for row in ws.iter_rows() for c in row)
    assert name_of(2) in text and name_of(1) not in text


# ---------------------------------------------------------------- the 毕业信息 workbook

def fill(template_bytes, rows):
    wb = load_workbook(io.BytesIO(template_bytes))
    ws = wb.worksheets[0]
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(client, data, filename="毕业信息.xlsx"):
    return client.post("/importview/graduation_info/", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def last_job(app):
    with app.app_context():
        return db.session.scalar(select(func.max(Job.id)))


def test_the_workbook_import_through_the_screen_is_idempotent(app, as_user):
    ids = students(app, 2)
    gids = graduated(app, ids)
    client = as_user(SCHOOL)
    page = html(client.get("/importview/"))
    assert "/importview/graduation_info/" in page and "/importview/new_students/" in page and "毕业信息" in page
    page = html(client.get("/importview/graduation_info/"))
    assert "批量导入：毕业信息" in page and "/importview/graduation_info/template" in page
    template = client.get("/importview/graduation_info/template")
    assert template.status_code == 200 and template.mimetype == XLSX
    ws = load_workbook(io.BytesIO(template.data)).worksheets[0]
    assert [c.value for c in ws[1]] == ["学籍号*", "姓名*", "毕业日期", "毕业证书编号", "毕业去向"]

    rows = [[xueji(app, ids[0]), name_of(1), datetime.date(2025, 7, 1), "DH2027001", "普通初中"],
            [xueji(app, ids[1]).lower(), name_of(2), None, "DH2027002", "10"]]  # a code and a lower-case g
    data = fill(template.data, rows)
    r = upload(client, data)
    assert r.status_code == 302 and "/jobview/list" in r.headers["Location"]
    job = finish_jobs(app, last_job(app))
    assert job.state == JobState.FINISHED and "共 2 行，全部导入成功" in job.message, job.message
    assert info(app, gids[0])[:3] == ("2025-07-01", "DH2027001", "09")
    assert info(app, gids[1])[:3] == (DAY, "DH2027002", "10")  # an empty date cell keeps the date
    versions = [info(app, g)[4] for g in gids]
    upload(client, data)
    job = finish_jobs(app, last_job(app))
    assert "全部导入成功" in job.message
    assert [info(app, g)[4] for g in gids] == versions  # the same file again changes nothing
    assert info(app, gids[0])[:3] == ("2025-07-01", "DH2027001", "09")


def test_bad_rows_come_back_annotated_and_nothing_is_written(app, as_user, tmp_path):
    ids = students(app, 3)
    gids = graduated(app, ids)
    before = [info(app, g) for g in gids]
    template = as_user(SCHOOL).get("/importview/graduation_info/template").data
    rows = [[xueji(app, ids[0]), name_of(1), None, "DH1", "普通初中"],          # fine
            [xueji(app, ids[1]), name_of(2), None, None, "火星"],                # not a 去向
            [xueji(app, ids[2]), "张冠李", None, "DH3", "就业"],                  # wrong name
            ["G360102209901010000", "查无此人", None, "DH4", None],              # unknown 学籍号
            [xueji(app, ids[0]), name_of(1), None, None, "就业"],                 # twice in the file
            [xueji(app, ids[1]), name_of(2), None, None, None],                   # nothing to change
            ]
    path = os.path.join(tmp_path, "毕业信息.xlsx")
    with open(path, "wb") as fh:
        fh.write(fill(template, rows))
    with app.app_context():
        summary = engine.run_import(db.session, account(db.session, SCHOOL), specs.get("graduation_info"), path,
                                    "毕业信息.xlsx")
        db.session.commit()
    assert (summary["read"], summary["accepted"], summary["rejected"]) == (6, 0, 5), summary
    assert [info(app, g) for g in gids] == before
    ws = load_workbook(summary["error_file"]).worksheets[0]
    errors = {r: ws.cell(row=r, column=6).value for r in range(2, 8)}
    assert ws.cell(row=1, column=6).value == "错误原因" and errors[2] is None
    assert "“火星”不是有效的毕业去向" in errors[3]
    assert f"姓名与学籍号不符（系统中为 {name_of(3)}）" in errors[4]
    assert "本校没有该学籍号的毕业生" in errors[5]
    assert "学籍号与本文件第 2 行重复" in errors[6]
    assert "请至少填写毕业日期、毕业证书编号、毕业去向中的一项" in errors[7]


def test_only_schools_import_graduation_info(app, as_user):
    assert as_user(COUNTY).get("/importview/graduation_info/").status_code == 403
    assert as_user(COUNTY).get("/importview/graduation_info/template").status_code == 403
    # Another school's graduate is "none of ours".
    ids = students(app, 1)
    gid = graduated(app, ids)[0]
    other = as_user(SAME_COUNTY_SCHOOL)
    template = other.get("/importview/graduation_info/template").data
    upload(other, fill(template, [[xueji(app, ids[0]), name_of(1), None, "X9", "就业"]]))
    job = finish_jobs(app, last_job(app))
    assert "1 行有误，未导入任何数据" in job.message
    assert info(app, gid)[1:3] == (None, None)
