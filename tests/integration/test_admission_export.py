"""导出招生Excel (app/views/admission_export.py): the graduate list the admission office works from —
its columns (those of the 招生结果 import), the default graduating year, the stage, scope from outside
(hand-made URLs too), masking and audit, the background job for large lists, and the round trip:
the exported file with 录取学校标识码 filled imports as the county's 招生结果."""
import io
import os
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.extensions import db
from app.imports import engine, spec as specs
from app.models import AdmissionListRow, AuditLog, SchoolYear
from app.models.job import Job, JobState
from app.views.admission_export import HEADERS
from tests.conftest import finish_jobs
from tests.integration.test_admissions import (EAST, WEST, acc, approve_admission, graduate, open_years, plan,
                                               season, unit)  # noqa: F401  (season: the fixture)
from tests.integration.test_registry_services import approve, register

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COUNTY, OTHER_COUNTY = "county_360102", "county_360103"
FULL = re.compile(r"^G\d{17}[\dX]$")
MASKED = re.compile(r"^G\d{6}\*{8}\d{3}[\dX]$")


def read(data):
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert len(book.worksheets) == 1
    rows = [["" if v is None else v for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]
    return rows[0], rows[1:]


def export(client, query=""):
    r = client.post("/admissionexportview/export_workbook/" + (f"?{query}" if query else ""))
    assert r.status_code == 200, (query, r.status_code, r.headers.get("Location"))
    assert r.mimetype == XLSX and r.data[:2] == b"PK"
    return r.data


def junior_graduate(seq, county=EAST, name=None):
    """A 初中三年级 student of the county's junior school, graduated."""
    from app.services import graduation
    school = f"school_{county}0002"
    s, req = register(school, seq=seq, name=name or f"初三{'甲乙丙丁戊'[seq % 5]}")
    approve(req, f"county_{county}")
    s.grade = "23"
    db.session.commit()
    graduation.graduate(db.session, acc(school), student_ids=[s.id])
    db.session.commit()
    return s


@pytest.fixture
def graduates(app, world, season):
    """东湖区: three primary graduates (one admitted, one pending) and a junior graduate; 西湖区: one
    primary graduate. Graduated in July 2027 (year 2026-2027); the admission season of 2027-2028."""
    with app.app_context():
        open_years()
        a, b, c = graduate(1, name="甲同学"), graduate(2, name="乙同学"), graduate(3, name="丙同学")
        j = junior_graduate(4)
        w = graduate(5, county=WEST, name="西湖生")
        season.admission()
        plan(EAST, 10)
        adm = admissions_self(a)
        approve_admission(adm, COUNTY)
        admissions_self(b)
        return {k: (v.id, v.xueji_no, v.name) for k, v in dict(a=a, b=b, c=c, j=j, w=w).items()}


def admissions_self(student, school="school_3601020002"):
    from app.services import admissions
    adm = admissions.self_admit(db.session, acc(school), student.xueji_no, student.name)
    db.session.commit()
    return adm


def year_id(app, start):
    with app.app_context():
        return db.session.scalar(select(SchoolYear.id).where(SchoolYear.start_year == start))


# ---------------------------------------------------------------- content

def test_the_workbook_has_the_import_columns_and_the_graduates(app, as_user, graduates):
    c = as_user(COUNTY)
    page = c.get("/admissionexportview/list/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "导出招生Excel" in html and "2026-2027学年" in html and "东湖第一小学" in html
    assert "共 3 名毕业生，其中已录取 1 人、录取待核办 1 人" in html
    assert 'action="/admissionexportview/export_workbook/' in html
    assert "/importview/admission_list/" in html  # the county imports the result from here

    header, rows = read(export(c))
    assert header == HEADERS == ["个人标识码(学籍号)", "学生姓名", "性别", "出生日期", "毕业学校标识码", "毕业学校名称",
                                 "毕业班级", "录取学校标识码", "教育阶段", "已录取学校"]
    by_name = {r[1]: r for r in rows}
    assert sorted(by_name) == ["丙同学", "乙同学", "甲同学"]  # the junior graduate and 西湖 are not in it
    a = by_name["甲同学"]
    assert a[0] == graduates["a"][1] and FULL.match(a[0])  # the county sees full 学籍号
    # (毕业班级: the graduation's class; without one, the class name the graduate still carries — an
    # admitted student's is the new school's, so it is left out)
    assert a[2:] == ["男", "2019-03-07", "3601020001", "东湖第一小学", "", "", "初中", "东湖第一初级中学"]
    assert by_name["乙同学"][6:] == ["1班", "", "初中", "东湖第一初级中学（待核办）"]
    assert by_name["丙同学"][6:] == ["1班", "", "初中", ""]
    entry = db_audit(app, COUNTY)
    assert entry.entity == "graduation" and entry.entity_label == "2026-2027学年小学毕业生招生名单"
    assert entry.new_value.startswith("3 行；筛选条件：毕业学年：2026-2027学年；毕业生：小学毕业生")
    assert "含完整身份证件号" in entry.reason

    # 初中毕业生 → 高中招生
    header, rows = read(export(c, "stage=2"))
    assert [(r[1], r[4], r[8]) for r in rows] == [("初三戊", "3601020002", "高中")]
    # the default year is the admission year's graduates (2026-2027); 2027-2028 has none; all years: the same
    assert read(export(c, f"year={year_id(app, 2027)}"))[1] == []
    assert len(read(export(c, "year=all"))[1]) == 3
    assert len(read(export(c, "year=abc&stage=9"))[1]) == 3  # nonsense falls back to the defaults


def db_audit(app, username):
    with app.app_context():
        return db.session.scalars(select(AuditLog).where(AuditLog.actor_name == username, AuditLog.action == "export")
                                  .order_by(AuditLog.id.desc())).first()


@pytest.mark.parametrize("username,full", [("city_360100", False), ("sheng_viewer", False), ("sheng_admin", False)])
def test_above_the_county_the_whole_subtree_with_masked_numbers(app, as_user, graduates, username, full):
    c = as_user(username)
    _h, rows = read(export(c))
    assert sorted(r[1] for r in rows) == ["丙同学", "乙同学", "甲同学", "西湖生"]
    assert all(MASKED.match(r[0]) for r in rows), rows[0]
    assert "含完整身份证件号" not in db_audit(app, username).reason
    html = c.get("/admissionexportview/list/").get_data(as_text=True)
    assert "部分隐藏" in html and "/importview/admission_list/" not in html
    with app.app_context():
        east = unit("3601020001").parent_id
    _h, rows = read(export(c, f"org={east}"))  # narrowed to 东湖区
    assert sorted(r[1] for r in rows) == ["丙同学", "乙同学", "甲同学"]


def test_a_school_exports_its_own_graduates(app, as_user, graduates):
    c = as_user("school_3601020001")
    with app.app_context():
        west_school = unit("3601030001").id
    _h, rows = read(export(c, f"org={west_school}"))  # a school's org parameter is ignored: its own
    assert sorted(r[1] for r in rows) == ["丙同学", "乙同学", "甲同学"] and FULL.match(rows[0][0])
    _h, rows = read(export(as_user("school_3601020002"), "stage=2"))
    assert [r[1] for r in rows] == ["初三戊"]


# ---------------------------------------------------------------- scope from outside

def test_another_county_gets_none_of_them_whatever_the_url_says(app, as_user, graduates):
    c = as_user(OTHER_COUNTY)
    _h, rows = read(export(c))
    assert [r[1] for r in rows] == ["西湖生"]
    with app.app_context():
        east_school, east = unit("3601020001").id, unit("3601020001").parent_id
    for org in (east_school, east):
        assert c.get(f"/admissionexportview/list/?org={org}").status_code == 404
        assert c.post(f"/admissionexportview/export_workbook/?org={org}").status_code == 404
    for query in ("year=all", "stage=1&year=all", f"org={east}&org=", "org=99999999999", "org=-1"):
        r = c.post(f"/admissionexportview/export_workbook/?{query}")
        if r.status_code == 200:
            assert "东湖" not in " ".join(str(v) for row in read(r.data)[1] for v in row), query
        else:
            assert r.status_code == 404, query
    html = c.get("/admissionexportview/list/").get_data(as_text=True)
    assert "东湖第一小学" not in html and "甲同学" not in html


def test_a_large_export_runs_as_a_job_with_the_same_scope(app, as_user, graduates, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 1)
    c = as_user(COUNTY)
    query = f"year={year_id(app, 2026)}&stage=1"  # explicit: a worker process has the real clock
    r = c.post(f"/admissionexportview/export_workbook/?{query}")
    assert r.status_code == 302 and "/jobview/list" in r.headers["Location"]
    with app.app_context():
        job = db.session.scalars(select(Job).order_by(Job.id.desc())).first()
        assert job.kind == "export_list" and job.params["view"] == "AdmissionExportView"
    job = finish_jobs(app, job.id)
    assert job.state == JobState.FINISHED, job.message
    assert job.message == "2026-2027学年小学毕业生招生名单：共导出 3 行"
    header, rows = read(c.get(f"/jobview/download/{job.id}").data)
    assert header == HEADERS and sorted(r[1] for r in rows) == ["丙同学", "乙同学", "甲同学"]
    assert all(FULL.match(r[0]) for r in rows)
    assert f"后台任务 #{job.id}" in db_audit(app, COUNTY).reason


def test_who_reaches_the_screen(app, as_user):
    for username in (COUNTY, "city_360100", "sheng_admin", "sheng_viewer", "school_3601020001"):
        c = as_user(username)
        assert c.get("/admissionexportview/list/").status_code == 200, username
        assert "/admissionexportview/list/" in c.get("/").get_data(as_text=True) or username.startswith("school"), username


# ---------------------------------------------------------------- the round trip

def test_the_exported_file_filled_in_imports_as_the_admission_list(app, as_user, world, season, tmp_path):
    with app.app_context():
        open_years()
        people = [graduate(i) for i in range(1, 4)]
        season.admission()
        plan(EAST, 10)
        expected = {p.id for p in people}
    data = export(as_user(COUNTY))
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    to_col, stage_col = header.index("录取学校标识码") + 1, header.index("教育阶段") + 1
    for r in range(2, ws.max_row + 1):
        ws.cell(row=r, column=to_col, value="3601020002")
        assert ws.cell(row=r, column=stage_col).value == "初中"
    path = os.path.join(tmp_path, "招生结果.xlsx")
    wb.save(path)
    with app.app_context():
        summary = engine.run_import(db.session, acc(COUNTY), specs.get("admission_list"), path, "招生结果.xlsx")
        db.session.commit()
        assert (summary["accepted"], summary["rejected"]) == (3, 0), summary
        assert summary["message"].endswith("（新增 3 人，变更 0 人，未变 0 人）")
        rows = db.session.scalars(select(AdmissionListRow)).all()
        assert {r.student_id for r in rows} == expected and {r.to_school.school_code for r in rows} == {"3601020002"}
        assert db.session.scalar(select(func.count()).select_from(AdmissionListRow)) == 3
