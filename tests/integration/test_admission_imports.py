"""招生入学 workbooks on the shared import engine: the county's 招生结果 (admission_list) and the
school's 自主招生 (self_admission) — templates with their dropdowns, good files, bad rows annotated
with nothing written, the same file twice, seats counted across the file, and who may upload what."""
import io
import os

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.extensions import db
from app.imports import engine, spec as specs
from app.imports.specs import admission_list, self_admission
from app.imports.template import write_template
from app.models import (Admission, AdmissionKind, AdmissionListRow, AdmissionState, AuditLog, EnrollmentPlan, Request,
                        Student)
from app.services import admissions
from app.services.errors import DomainError, PermissionDenied
from tests.integration.test_admissions import (EAST, WEST, acc, approve_admission, graduate, open_years, plan,
                                               season, unit)  # noqa: F401  (season: the fixture)
from tests.integration.test_registry_services import approve, register

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LIST_HEADERS = [c.header for c in admission_list.COLUMNS]
SELF_HEADERS = [c.header for c in self_admission.COLUMNS]
COUNTY, SCHOOL = "county_360102", "school_3601020002"   # 东湖区, its 第一初级中学


def workbook(tmp_path, headers, rows, name="招生.xlsx"):
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for r in rows:
        ws.append(r)
    path = os.path.join(tmp_path, name)
    wb.save(path)
    return path


def run(spec, path, who, **kw):
    summary = engine.run_import(db.session, acc(who), specs.get(spec), path, os.path.basename(path), **kw)
    db.session.commit()
    return summary


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def reasons(summary):
    """{sheet row: 错误原因} of the annotated workbook."""
    ws = load_workbook(summary["error_file"]).active
    header = [c.value for c in ws[1]]
    assert header[-1] == "错误原因"
    return {r[0].row: r[-1].value for r in ws.iter_rows(min_row=2)}


def list_row(student, to="3601020002", stage="初中", frm="3601020001", score=None, number=None):
    return [number or student.xueji_no, student.name, frm, to, stage, score]


def self_row(student, grade=None, score=None, reason=None, number=None):
    return [number or student.xueji_no, student.name, grade, score, reason]


def template_of(app, sheet):
    out = io.BytesIO()
    with app.app_context():
        write_template(out, sheet)
    return load_workbook(io.BytesIO(out.getvalue()))


def dropdowns(ws):
    return [dv.formula1 or "" for dv in ws.data_validations.dataValidation if dv.type == "list"]


# ---------------------------------------------------------------- templates

def test_the_admission_list_template_has_the_guides_five_columns_and_a_stage_dropdown(app):
    sheet = specs.get("admission_list")
    assert sheet is admission_list.SPEC and sheet.label == "招生结果"
    assert [(c.header, c.required) for c in sheet.columns] == [
        ("个人标识码(学籍号)", True), ("学生姓名", True), ("毕业学校标识码", True), ("录取学校标识码", True),
        ("教育阶段", True), ("中考成绩", False)]
    assert list(specs.SPECS)[:4] == ["new_students", "graduation_info", "admission_list", "self_admission"]
    wb = template_of(app, sheet)
    assert wb.sheetnames == ["招生结果", "说明", "代码表"]
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]] == ["个人标识码(学籍号)*", "学生姓名*", "毕业学校标识码*", "录取学校标识码*", "教育阶段*",
                                        "中考成绩"]
    assert ws.max_row == 1
    assert any("初中,高中,中职" in f for f in dropdowns(ws))
    assert "10 位学校标识码" in ws["C1"].comment.text and "中职" in ws["E1"].comment.text
    info = " ".join(str(c.value) for row in wb["说明"].iter_rows() for c in row if c.value)
    assert "招生部门" in info and "个人标识码（学籍号）" in info and "导出招生Excel" in info
    codes = " ".join(str(c.value) for row in wb["代码表"].iter_rows() for c in row if c.value)
    assert "教育阶段" in codes and "中职" in codes


def test_the_self_admission_template_has_an_entry_grade_dropdown(app):
    sheet = specs.get("self_admission")
    assert [(c.header, c.required) for c in sheet.columns] == [
        ("学籍号(或个人标识码)", True), ("姓名", True), ("录取年级", False), ("成绩", False), ("说明", False)]
    ws = template_of(app, sheet).worksheets[0]
    assert [c.value for c in ws[1]] == ["学籍号(或个人标识码)*", "姓名*", "录取年级", "成绩", "说明"]
    assert any("初中一年级,高中一年级,中职一年级" in f for f in dropdowns(ws))


def test_templates_through_the_screen_only_for_whom_they_are(app, as_user):
    county, school = as_user(COUNTY), as_user(SCHOOL)
    r = county.get("/importview/admission_list/template")
    assert r.status_code == 200 and r.mimetype == XLSX
    assert load_workbook(io.BytesIO(r.data)).worksheets[0]["A1"].value == "个人标识码(学籍号)*"
    assert school.get("/importview/admission_list/template").status_code == 403
    assert school.get("/importview/admission_list/").status_code == 403
    r = school.get("/importview/self_admission/template")
    assert r.status_code == 200 and load_workbook(io.BytesIO(r.data)).worksheets[0]["C1"].value == "录取年级"
    assert county.get("/importview/self_admission/").status_code == 403
    page = county.get("/importview/admission_list/").get_data(as_text=True)
    assert "批量导入：招生结果" in page and "/importview/admission_list/template" in page


# ---------------------------------------------------------------- 招生结果 (county)

def test_a_good_admission_list_imports_and_the_same_file_again_changes_nothing(app, world, season, tmp_path):
    with app.app_context():
        open_years()
        a, b, c = graduate(1), graduate(2), graduate(3)
        season.admission()
        plan(EAST, 10)
        path = workbook(tmp_path, LIST_HEADERS, [
            list_row(a, score=612.5),
            list_row(b, number=b.personal_id),                    # the 个人标识码 instead of the 学籍号
            [" " + c.xueji_no.lower() + " ", c.name, "3601020001", "3601020002", "2", None],  # a code, spaces
        ])
        summary = run("admission_list", path, COUNTY)
        assert (summary["read"], summary["accepted"], summary["rejected"]) == (3, 3, 0), summary
        assert summary["message"] == "共 3 行，全部导入成功（新增 3 人，变更 0 人，未变 0 人）"
        rows = db.session.scalars(select(AdmissionListRow).order_by(AdmissionListRow.id)).all()
        assert [(r.student_id, r.grade, r.to_school.school_code, r.from_school.school_code) for r in rows] == [
            (s.id, "21", "3601020002", "3601020001") for s in (a, b, c)]
        assert float(rows[0].score) == 612.5 and rows[1].score is None
        assert rows[0].year.start_year == 2027 and rows[0].county_path == unit("3601020001").parent.path

        again = run("admission_list", path, COUNTY)
        assert again["message"] == "共 3 行，全部导入成功（新增 0 人，变更 0 人，未变 3 人）"
        assert count(AdmissionListRow) == 3

        # a corrected score is a change, not a new row
        path = workbook(tmp_path, LIST_HEADERS, [list_row(a, score=615)], name="更正.xlsx")
        assert run("admission_list", path, COUNTY)["message"].endswith("（新增 0 人，变更 1 人，未变 0 人）")
        assert count(AdmissionListRow) == 3
        db.session.refresh(rows[0])
        assert float(rows[0].score) == 615.0
        # the school admits from the list
        done, failed = admissions.admit_from_list(db.session, acc(SCHOOL), [r.id for r in rows])
        db.session.commit()
        assert len(done) == 3 and not failed and {d.kind for d in done} == {AdmissionKind.UNIFIED}


def test_bad_rows_come_back_annotated_and_nothing_is_written(app, world, season, tmp_path):
    with app.app_context():
        open_years()
        a, b = graduate(1), graduate(2)
        west = graduate(3, county=WEST)                      # a 西湖区 graduate
        s, req = register("school_3601020001", seq=9, name="在校生")
        approve(req, COUNTY)                                 # in school, not graduated
        season.admission()
        plan(EAST, 10)
        plan(WEST, 10)
        rows = [
            list_row(a),                                     # 2: fine
            list_row(west, frm="3601030001"),                # 3: another county's school
            list_row(s),                                     # 4: not a graduate
            [b.xueji_no, "张冠李", "3601020001", "3601020002", "初中", None],  # 5: wrong name
            list_row(a, number=a.personal_id),               # 6: the same student again (by 个人标识码)
            list_row(b, to="3601030002"),                    # 7: admitting school of another county
            list_row(b, stage="大学"),                       # 8: not a stage
            list_row(b, to="3601020001"),                    # 9: a primary school has no plan for 初中
        ]
        summary = run("admission_list", workbook(tmp_path, LIST_HEADERS, rows), COUNTY)
        assert (summary["read"], summary["accepted"], summary["rejected"]) == (8, 0, 7)
        assert "未导入任何数据" in summary["message"]
        assert count(AdmissionListRow) == 0
        got = reasons(summary)
        assert got[2] is None
        assert "西湖第一小学" in got[3] and "不是本县（区）学校" in got[3]
        assert "在校生 不是东湖第一小学的毕业生" in got[4]
        assert "相符的学籍" in got[5]
        assert "与本文件第 2 行是同一学生" in got[6]
        assert "录取学校标识码不是本县（区）的学校" in got[7]
        assert "“大学”不是有效的教育阶段" in got[8]
        assert "没有" in got[9] and "招生计划" in got[9]
        ws = load_workbook(summary["error_file"]).active
        cell = ws.cell(row=3, column=LIST_HEADERS.index("毕业学校标识码") + 1)
        assert cell.fill.fgColor.rgb.endswith("FFC7CE") and "不是本县（区）学校" in cell.comment.text

        # "only the valid rows": the good one goes in, the rest come back
        summary = run("admission_list", workbook(tmp_path, LIST_HEADERS, rows, name="2.xlsx"), COUNTY,
                      valid_only=True)
        assert (summary["accepted"], summary["rejected"]) == (1, 7) and count(AdmissionListRow) == 1
        assert "新增 1 人" in summary["message"]


def test_a_listed_student_already_admitted_cannot_be_moved_by_a_new_upload(app, world, season, tmp_path):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 10)
        run("admission_list", workbook(tmp_path, LIST_HEADERS, [list_row(a, score=600)]), COUNTY)
        row = db.session.scalar(select(AdmissionListRow))
        admissions.admit_from_list(db.session, acc(SCHOOL), [row.id])
        db.session.commit()
        summary = run("admission_list", workbook(tmp_path, LIST_HEADERS, [list_row(a, score=650)], name="2.xlsx"),
                      COUNTY)
        assert summary["accepted"] == 0 and "已按名单由东湖第一初级中学录取（待核办）" in reasons(summary)[2]
        cell = load_workbook(summary["error_file"]).active.cell(row=2, column=LIST_HEADERS.index("中考成绩") + 1)
        assert "名单中的该行不能再修改" in cell.comment.text  # the changed cell is the one marked
        db.session.refresh(row)
        assert float(row.score) == 600.0
        # the same row as stored is still fine (nothing to change)
        again = run("admission_list", workbook(tmp_path, LIST_HEADERS, [list_row(a, score=600)], name="3.xlsx"), COUNTY)
        assert again["message"].endswith("（新增 0 人，变更 0 人，未变 1 人）")
        # the rule is the service's own: save_list_rows refuses the same row the workbook annotated,
        # naming the field; another admitting school is refused on 录取学校标识码
        values = admissions.list_row_values(db.session, acc(COUNTY), {
            "number": a.xueji_no, "name": a.name, "from_code": "3601020001", "to_code": "3601020002",
            "stage": "初中", "score": 650})
        with pytest.raises(DomainError, match="名单中的该行不能再修改") as refused:
            admissions.save_list_rows(db.session, acc(COUNTY), [values])
        assert refused.value.field == "score"
        db.session.rollback()
        field, message = admissions.list_row_refusal(row, {**values, "score": 600, "to_school_id": unit("3601020001").id})
        assert field == "to_code" and "不能改为其他学校" in message
        assert admissions.list_row_refusal(row, {**values, "score": 600}) is None  # as stored: nothing to refuse
        db.session.refresh(row)
        assert (float(row.score), row.to_school.school_code, row.grade) == (600.0, "3601020002", "21")
        assert count(AdmissionListRow) == 1


def test_scope_schools_cannot_upload_the_list_and_a_county_only_its_own(app, world, season, tmp_path, as_user):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 10)
        plan(WEST, 10)
        path = workbook(tmp_path, LIST_HEADERS, [list_row(a)])
        with pytest.raises(PermissionDenied, match="县（区）教育局"):
            run("admission_list", path, SCHOOL)
        for who in ("city_360100", "sheng_admin"):
            with pytest.raises(PermissionDenied):
                run("admission_list", path, who)
        # 西湖区 uploading 东湖区's graduates into 东湖区's school: every row refused
        summary = run("admission_list", workbook(tmp_path, LIST_HEADERS, [list_row(a), list_row(a, to="3601030002")],
                                                 name="w.xlsx"), "county_360103")
        assert summary["accepted"] == 0 and count(AdmissionListRow) == 0
        got = reasons(summary)
        assert "不是本县（区）学校" in got[2] and "不是本县（区）学校" in got[3]
        data = open(path, "rb").read()
    r = as_user(SCHOOL).post("/importview/admission_list/", data={"file": (io.BytesIO(data), "招生.xlsx")},
                             content_type="multipart/form-data")
    assert r.status_code == 403
    r = as_user("county_360102").post("/importview/admission_list/", data={"file": (io.BytesIO(data), "招生.xlsx")},
                                      content_type="multipart/form-data")
    assert r.status_code == 302 and "/jobview/list" in r.headers["Location"]  # queued as a job


# ---------------------------------------------------------------- 自主招生 (school)

def test_a_good_self_admission_file_admits_each_row_for_approval(app, world, season, tmp_path):
    with app.app_context():
        open_years()
        a, b = graduate(1), graduate(2)
        w = graduate(3, county=WEST)                         # a 西湖区 graduate: both counties approve
        season.admission()
        p = plan(EAST, 10)
        path = workbook(tmp_path, SELF_HEADERS, [
            self_row(a, grade="初中一年级", score=598.5, reason="特长生"),
            self_row(b, number=b.personal_id),               # no grade: the school's only entry grade
            self_row(w, grade="21"),
        ])
        dry = run("self_admission", path, SCHOOL, dry_run=True)
        assert dry["rejected"] == 0 and "未写入任何数据" in dry["message"]
        assert count(Admission) == 0 and count(Request, Request.type == "admission") == 0
        assert count(AuditLog, AuditLog.entity == "admission") == 0   # the trial left no trace
        db.session.refresh(p)
        assert p.used == 0

        summary = run("self_admission", path, SCHOOL)
        assert summary["message"] == "共 3 行，全部导入成功（已录取 3 人，待县（区）核办）", summary
        adms = db.session.scalars(select(Admission).order_by(Admission.id)).all()
        assert [(x.student_id, x.kind, x.state, x.grade) for x in adms] == [
            (s.id, AdmissionKind.SELF, AdmissionState.PENDING, "21") for s in (a, b, w)]
        assert float(adms[0].score) == 598.5 and adms[0].request.reason == "特长生"
        assert [st.org_unit.region_code for st in adms[2].request.steps] == [EAST, WEST]
        db.session.refresh(p)
        assert p.used == 3
        approve_admission(adms[0], COUNTY)
        assert db.session.get(Student, a.id).school.school_code == "3601020002"


def test_bad_self_admission_rows_are_annotated_and_nobody_is_admitted(app, world, season, tmp_path):
    with app.app_context():
        open_years()
        a, b = graduate(1), graduate(2)
        s, req = register("school_3601020001", seq=9, name="在校生")
        approve(req, COUNTY)
        season.admission()
        p = plan(EAST, 10)
        rows = [
            self_row(a),                                     # 2: fine
            [b.xueji_no, "别人", None, None, None],            # 3: wrong name
            self_row(s),                                     # 4: not a graduate
            self_row(b, grade="高中一年级"),                    # 5: a junior school takes no 高中一年级
            self_row(a, number=a.personal_id),               # 6: the same student twice
            self_row(b, score="六百"),                         # 7: not a number
        ]
        summary = run("self_admission", workbook(tmp_path, SELF_HEADERS, rows), SCHOOL)
        assert (summary["accepted"], summary["rejected"]) == (0, 5)
        assert count(Admission) == 0 and count(Request, Request.type == "admission") == 0
        db.session.refresh(p)
        assert p.used == 0
        got = reasons(summary)
        assert got[2] is None and "相符的学籍" in got[3] and "不是小学毕业生" in got[4]
        assert "不招收高中一年级" in got[5] and "与本文件第 2 行是同一学生" in got[6] and "应为数字" in got[7]


def test_seats_are_counted_across_the_file(app, world, season, tmp_path):
    with app.app_context():
        open_years()
        people = [graduate(i) for i in range(1, 5)]
        season.admission()
        p = plan(EAST, 3)
        admissions.self_admit(db.session, acc(SCHOOL), people[0].xueji_no, people[0].name)  # one seat held
        db.session.commit()
        path = workbook(tmp_path, SELF_HEADERS, [self_row(x) for x in people[1:]])  # 3 rows, 2 free seats
        summary = run("self_admission", path, SCHOOL)
        assert (summary["accepted"], summary["rejected"]) == (0, 1)
        got = reasons(summary)
        assert got[2] is None and got[3] is None
        assert "超出招生计划数：本校初中一年级招生计划数 3 人，已录取（含待核办）1 人，只剩 2 个名额，" \
               "本文件初中一年级共 3 行，第 4 行起超出" in got[4]
        assert count(Admission) == 1
        summary = run("self_admission", path, SCHOOL, valid_only=True)
        assert (summary["accepted"], summary["rejected"]) == (2, 1) and count(Admission) == 3
        db.session.refresh(p)
        assert p.used == p.quota == 3


def test_a_row_refused_while_writing_undoes_the_whole_file(app, world, season, tmp_path):
    """Between the check and the write another admission took the last seat: the write stops at that
    row, names the student, and the rows before it are undone by the spec itself (not only by the
    caller's rollback)."""
    with app.app_context():
        open_years()
        a, b, c = graduate(1), graduate(2), graduate(3)
        season.admission()
        p = plan(EAST, 2)
        me = acc(SCHOOL)
        _mapping, results = engine.validate(db.session, me, self_admission.SPEC, SELF_HEADERS,
                                            [self_row(a), self_row(b)])
        assert all(r.ok for r in results)
        admissions.self_admit(db.session, me, c.xueji_no, c.name)  # meanwhile: one of the two seats
        db.session.commit()
        with pytest.raises(DomainError, match=f"{b.name}：.*招生计划数 2 人已满.*本文件未录取任何学生"):
            self_admission.write(db.session, me, [r.record for r in results], lambda *a, **k: None)
        assert count(Admission) == 1 and count(Admission, Admission.student_id == a.id) == 0  # before any rollback
        assert count(Request, Request.type == "admission") == 1
        db.session.refresh(p)
        assert p.used == 1
        db.session.rollback()


def test_the_same_self_admission_file_twice_admits_nobody_twice(app, world, season, tmp_path):
    with app.app_context():
        open_years()
        a, b = graduate(1), graduate(2)
        season.admission()
        plan(EAST, 10)
        path = workbook(tmp_path, SELF_HEADERS, [self_row(a), self_row(b)])
        assert run("self_admission", path, SCHOOL)["accepted"] == 2
        again = run("self_admission", path, SCHOOL)
        assert (again["accepted"], again["rejected"]) == (0, 2)
        assert all("请勿重复录取" in m for m in reasons(again).values())
        assert count(Admission) == 2 and db.session.scalar(select(EnrollmentPlan.used)) == 2


def test_only_schools_self_admit_by_workbook(app, world, season, tmp_path):
    with app.app_context():
        open_years()
        a = graduate(1)
        season.admission()
        plan(EAST, 10)
        path = workbook(tmp_path, SELF_HEADERS, [self_row(a)])
        for who in (COUNTY, "city_360100", "sheng_admin"):
            with pytest.raises(PermissionDenied, match="学校学籍管理员"):
                run("self_admission", path, who)
        # another county's school admits across counties: allowed, with both counties' approval
        plan(WEST, 5)
        assert run("self_admission", path, "school_3601030002")["accepted"] == 1
        assert count(Admission) == 1
