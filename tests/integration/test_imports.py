"""The import engine with the 新生注册 spec: whole-file validation, annotated workbook, valid-only,
idempotent re-upload, and every kind of bad file."""
import datetime
import os

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.extensions import db
from app.imports import engine, spec as specs
from app.imports.specs import new_students  # noqa: F401
from app.models import Request, Student, StudentStatus
from app.services import requests
from app.services.errors import DomainError
from app.services.identity import build_id_number
from tests.conftest import account

HEADERS = [c.header for c in new_students.COLUMNS]
ID = HEADERS.index("身份证件号")


def row(seq, **over):
    born = datetime.date(2019, 3, 1) + datetime.timedelta(days=seq % 300)
    values = {c.field: c.example for c in new_students.COLUMNS}
    values.update(name=f"学生{chr(0x4e00 + seq)}", gender="男", birth_date=born.isoformat(),
                  id_number=build_id_number("360102", born, (2 * seq + 1) % 1000), guardian_id_number=None,
                  guardian_id_type=None, school_code=None)
    values.update(over)
    return [values[c.field] for c in new_students.COLUMNS]


def workbook(tmp_path, rows, headers=HEADERS, name="新生.xlsx"):
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for r in rows:
        ws.append(r)
    path = os.path.join(tmp_path, name)
    wb.save(path)
    return path


def run(path, who="school_3601020001", **kw):
    actor = account(db.session, who)
    summary = engine.run_import(db.session, actor, specs.get("new_students"), path, os.path.basename(path), **kw)
    db.session.commit()
    return summary


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_clean_workbook_becomes_registration_requests(app, tmp_path):
    path = workbook(tmp_path, [row(i) for i in range(1, 6)])
    with app.app_context():
        summary = run(path)
        assert (summary["read"], summary["accepted"], summary["rejected"]) == (5, 5, 0)
        assert count(Student) == 5 and count(Request) == 5
        s = db.session.scalars(select(Student)).first()
        assert s.status == StudentStatus.REGISTERING and s.personal_id and s.guardians[0].name == "张大明"
        assert s.hukou_code == "360102000000" and s.gender == "1" and s.grade == "11"
        east = account(db.session, "county_360102")
        assert requests.pending_count(db.session, east) == 5
        requests.approve(db.session, east, db.session.scalars(select(Request)).first().id)
        db.session.commit()
        assert s.status == StudentStatus.IN_SCHOOL and s.xueji_no == "G" + s.id_number


def test_any_bad_row_means_nothing_written_and_an_annotated_workbook(app, tmp_path):
    rows = [row(1), row(2, id_number=row(2)[ID][:-1] + ("0" if row(2)[ID][-1] != "0" else "1")),
            row(3, birth_date="2030-01-01"), row(4, gender="女"), row(5, ethnicity="火星族"), row(1)]
    path = workbook(tmp_path, rows)
    with app.app_context():
        summary = run(path)
        assert (summary["read"], summary["accepted"], summary["rejected"]) == (6, 0, 5)
        assert count(Student) == 0 and count(Request) == 0
    ws = load_workbook(summary["error_file"]).active
    header = [c.value for c in ws[1]]
    assert header[-1] == "错误原因" and header[:-1] == HEADERS
    reasons = {r[0].row: r[-1].value for r in ws.iter_rows(min_row=2)}
    assert reasons[2] is None
    assert "校验位错误" in reasons[3] and "晚于今天" in reasons[4] and "显示性别为男" in reasons[5]
    assert "火星族" in reasons[6] and "与本文件第 2 行重复" in reasons[7]
    id_cell = ws.cell(row=3, column=HEADERS.index("身份证件号") + 1)
    assert id_cell.fill.fgColor.rgb.endswith("FFC7CE") and "校验位错误" in id_cell.comment.text


def test_valid_rows_only_when_chosen_and_reupload_creates_no_duplicates(app, tmp_path):
    path = workbook(tmp_path, [row(1), row(2), row(3, birth_date="2030-01-01")])
    with app.app_context():
        summary = run(path, valid_only=True)
        assert (summary["accepted"], summary["rejected"]) == (2, 1) and count(Student) == 2
        ws = load_workbook(summary["error_file"]).active
        assert ws.max_row == 2  # only the bad row comes back
        again = run(path, valid_only=True)
        assert again["accepted"] == 0 and again["rejected"] == 3 and count(Student) == 2
        ws = load_workbook(again["error_file"]).active
        assert "已在 东湖区教育体育局 东湖第一小学 建立学籍" in ws.cell(row=2, column=len(HEADERS) + 1).value


def test_a_student_of_another_county_is_refused(app, tmp_path):
    with app.app_context():
        west = workbook(tmp_path, [row(7)], name="west.xlsx")
        run(west, "school_3601030001")
        summary = run(workbook(tmp_path, [row(7)]))
        assert summary["accepted"] == 0 and count(Student) == 1
        ws = load_workbook(summary["error_file"]).active
        assert "西湖区教育体育局" in ws.cell(row=2, column=len(HEADERS) + 1).value


def test_headers_by_name_with_spaces_fullwidth_and_extra_columns(app, tmp_path):
    order = list(reversed(range(len(HEADERS))))
    headers = [f" {HEADERS[i]}＊ " if i % 3 == 0 else HEADERS[i] for i in order] + ["备注"]
    rows = [[r[i] for i in order] + ["随便写"] for r in (row(1), row(2))]
    with app.app_context():
        assert run(workbook(tmp_path, rows, headers))["accepted"] == 2


def test_excel_shapes_of_values(app, tmp_path):
    """Date serials, dates as dates, numbers for codes and regions, full-width digits, spaces."""
    r = row(1)
    i = {c.field: n for n, c in enumerate(new_students.COLUMNS)}
    born = datetime.date.fromisoformat(r[i["birth_date"]])
    r[i["birth_date"]] = born  # a real date cell
    r[i["hukou_code"]] = 360102  # a number cell
    r[i["commute_distance"]] = 2.5
    r[i["id_number"]] = " " + r[i["id_number"]].translate(str.maketrans("0123456789", "０１２３４５６７８９")) + " "
    r2 = row(2)
    r2[i["birth_date"]] = (datetime.date.fromisoformat(r2[i["birth_date"]]) - datetime.date(1899, 12, 30)).days
    with app.app_context():
        summary = run(workbook(tmp_path, [r, r2]))
        assert summary["accepted"] == 2, summary
        s = db.session.scalars(select(Student).order_by(Student.id)).first()
        assert s.birth_date == born and s.hukou_code == "360102000000" and str(s.commute_distance) == "2.5"


def test_id_numbers_stored_as_numbers_are_refused(app, tmp_path):
    r = row(1)
    r[ID] = float(r[ID][:15])  # what Excel does to an 18-digit number
    r2 = row(2)
    r2[ID] = "3.60102E+17"
    with app.app_context():
        summary = run(workbook(tmp_path, [r, r2]))
        ws = load_workbook(summary["error_file"]).active
        assert "文本" in ws.cell(row=2, column=len(HEADERS) + 1).value
        assert "科学计数法" in ws.cell(row=3, column=len(HEADERS) + 1).value


@pytest.mark.parametrize("maker, message", [
    (lambda p: open(p, "wb").write(b"just some text, not a workbook"), "不是 Excel 工作簿"),
    (lambda p: open(p, "wb").write(b"PK\x03\x04broken zip"), "已损坏"),
    (lambda p: open(p, "wb").write(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600), "加密"),
])
def test_bad_files(app, tmp_path, maker, message):
    path = os.path.join(tmp_path, "x.xlsx")
    maker(path)
    with app.app_context():
        with pytest.raises(DomainError, match=message):
            run(path)
        assert count(Student) == 0


def test_empty_sheet_missing_columns_formulas_merged_headers(app, tmp_path):
    with app.app_context():
        with pytest.raises(DomainError, match="工作表是空的"):
            run(workbook(tmp_path, [], name="empty.xlsx"))
        with pytest.raises(DomainError, match="缺少必填列：姓名"):
            run(workbook(tmp_path, [row(1)[1:]], HEADERS[1:], name="noname.xlsx"))
        wb = Workbook()
        ws = wb.active
        ws.append(HEADERS)
        ws.append(row(1))
        ws["A2"] = '=CONCATENATE("张","三")'
        wb.save(os.path.join(tmp_path, "f.xlsx"))
        with pytest.raises(DomainError, match="公式"):
            run(os.path.join(tmp_path, "f.xlsx"))
        wb = Workbook()
        ws = wb.active
        ws.append(HEADERS)
        ws.append(row(1))
        ws.merge_cells("A1:B1")
        wb.save(os.path.join(tmp_path, "m.xlsx"))
        with pytest.raises(DomainError, match="合并单元格"):
            run(os.path.join(tmp_path, "m.xlsx"))
        assert count(Student) == 0


def test_too_many_rows(app, tmp_path, monkeypatch):
    from app.imports import reader
    monkeypatch.setattr(reader, "MAX_ROWS", 3)
    with app.app_context():
        with pytest.raises(DomainError, match="最多 3 行"):
            run(workbook(tmp_path, [row(i) for i in range(1, 6)]))


def test_only_schools_import_new_students(app, tmp_path):
    with app.app_context():
        with pytest.raises(DomainError, match="学校学籍管理员"):
            run(workbook(tmp_path, [row(1)]), "county_360102")


def test_csv_in_gbk(app, tmp_path):
    import csv
    path = os.path.join(tmp_path, "新生.csv")
    with open(path, "w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        w.writerow(["" if v is None else v for v in row(1)])
    with app.app_context():
        assert run(path)["accepted"] == 1


def test_import_job_runs_in_the_background_with_the_annotated_file_as_result(app, tmp_path):
    from app.jobs.imports import start_import
    from tests.conftest import finish_jobs
    good = workbook(tmp_path, [row(1), row(2)], name="good.xlsx")
    bad = workbook(tmp_path, [row(3), row(4, gender="女")], name="bad.xlsx")
    with app.test_request_context():
        actor = account(db.session, "school_3601020001")
        ok_id = start_import(db.session, actor, "new_students", "good.xlsx", open(good, "rb").read()).id
        bad_id = start_import(db.session, actor, "new_students", "bad.xlsx", open(bad, "rb").read()).id
        with pytest.raises(DomainError, match="不能超过"):
            start_import(db.session, actor, "new_students", "big.xlsx", b"PK\x03\x04" + b"x" * app.config["IMPORT_MAX_BYTES"])
        with pytest.raises(DomainError, match="学校学籍管理员"):
            start_import(db.session, account(db.session, "county_360102"), "new_students", "good.xlsx", b"PK")
    job = finish_jobs(app, ok_id)
    assert job.state.value == "finished" and "全部导入成功" in job.message and job.result_file is None
    job = finish_jobs(app, bad_id)
    assert job.state.value == "finished" and "未导入任何数据" in job.message
    assert job.result_file and load_workbook(job.result_file).active.cell(row=3, column=len(HEADERS) + 1).value
    with app.app_context():
        assert count(Student) == 2


def test_cli_import(app, tmp_path):
    path = workbook(tmp_path, [row(1), row(2, birth_date="2030-01-01")])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "new_students", path, "--as", "school_3601020001", "--dry-run"])
    assert "试校验：共 2 行" in result.output and os.path.exists(path.replace(".xlsx", "_错误标注.xlsx"))
    result = runner.invoke(args=["import", "new_students", path, "--as", "school_3601020001", "--valid-only"])
    assert "已导入 1 行" in result.output
    result = runner.invoke(args=["import", "new_students", path, "--as", "county_360102"])
    assert result.exit_code != 0 and "学校学籍管理员" in result.output
    with app.app_context():
        assert count(Student) == 1


def test_school_code_outside_the_uploaders_scope(app, tmp_path):
    path = workbook(tmp_path, [row(1, school_code="3601020001"), row(2, school_code="3601030001")])
    with app.app_context():
        summary = run(path)
        assert summary["accepted"] == 0 and count(Student) == 0
        ws = load_workbook(summary["error_file"]).active
        assert ws.cell(row=2, column=len(HEADERS) + 1).value is None
        assert "学校标识码 3601030001 不是本校" in ws.cell(row=3, column=len(HEADERS) + 1).value


def test_template_names_with_full_width_brackets_are_accepted(app, tmp_path):
    """上下学方式 names as the template's own dropdown offers them (full-width brackets)."""
    i = HEADERS.index("上下学方式")
    r1, r2 = row(1), row(2)
    r1[i], r2[i] = "自行车（含电动自行车）", "公共交通（含城市公交、农村客运、地铁）"
    with app.app_context():
        assert run(workbook(tmp_path, [r1, r2]))["accepted"] == 2
        assert sorted(db.session.scalars(select(Student.commute_mode))) == ["2", "3"]
