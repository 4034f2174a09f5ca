"""批量导入 through HTTP: the template generated from the spec (dropdowns, comments, formats) and its
round trip through the engine, the upload screen → job → 审批待办, the annotated result file on
我的任务, valid-only and dry-run, bad files, 413, who may reach it, and the JWT API."""
import datetime
import io
import os
import re

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select

from app.extensions import db
from app.imports import engine, spec as specs
from app.imports.specs import new_students
from app.imports.template import write_template
from app.models import Job, JobState, Request, Student
from tests.conftest import account, finish_jobs

SCHOOL = "school_3601020001"         # 东湖第一小学 (东湖区)
OTHER_SCHOOL = "school_3601020002"   # the same county, another school
COUNTY = "county_360102"
COLUMNS = new_students.COLUMNS
FIELD_COL = {c.field: i + 1 for i, c in enumerate(COLUMNS)}  # 1-based sheet columns
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def values(seq, **over):
    """A row of the 新生注册 sheet as an officer fills the template in: names from the dropdowns,
    a real date in the date column, ID numbers as text."""
    from app.services.identity import build_id_number
    born = datetime.date(2019, 3, 1) + datetime.timedelta(days=seq % 300)
    v = {c.field: c.example for c in COLUMNS}
    v.update(name=f"导入{chr(0x4e00 + seq)}{chr(0x4e00 + seq + 7)}", gender="男", birth_date=born,
             id_number=build_id_number("360102", born, (2 * seq + 1) % 1000),
             guardian_id_number=None, guardian_id_type=None)
    v.update(over)
    return v


def column_formats(ws):
    """{1-based column: number format} from the template's column styles (openpyxl groups columns)."""
    out = {}
    for dim in ws.column_dimensions.values():
        for c in range(dim.min or 0, (dim.max or 0) + 1):
            out[c] = dim.number_format
    return out


def fill(template_bytes, rows):
    """Fill rows into the downloaded template with openpyxl, each cell keeping its column's format."""
    wb = load_workbook(io.BytesIO(template_bytes))
    ws = wb.worksheets[0]
    formats = column_formats(ws)
    for r, row in enumerate(rows, start=2):
        for field, col in FIELD_COL.items():
            value = row.get(field)
            if value is None:
                continue
            cell = ws.cell(row=r, column=col, value=value)
            cell.number_format = formats.get(col, "General")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template(client, spec="new_students"):
    r = client.get(f"/importview/{spec}/template")
    assert r.status_code == 200, r.status_code
    return r


def upload(client, data, filename="新生.xlsx", follow=False, **flags):
    form = {"file": (io.BytesIO(data), filename)}
    form.update({k: "y" for k, on in flags.items() if on})
    return client.post("/importview/new_students/", data=form, content_type="multipart/form-data",
                       follow_redirects=follow)


def jobs(app):
    with app.app_context():
        return db.session.scalars(select(Job).order_by(Job.id)).all()


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def last_job_id(app):
    with app.app_context():
        return db.session.scalar(select(func.max(Job.id)))


# ---------------------------------------------------------------- the template

def test_template_has_headers_comments_dropdowns_and_formats(as_user):
    r = template(as_user(SCHOOL))
    assert r.mimetype == XLSX
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    assert "%E6%96%B0%E7%94%9F%E6%B3%A8%E5%86%8C%E6%A8%A1%E6%9D%BF.xlsx" in r.headers["Content-Disposition"]  # 新生注册模板
    wb = load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames == ["新生注册", "说明", "代码表"]
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[1]]
    assert headers == [c.header + ("*" if c.required else "") for c in COLUMNS]
    assert headers[0] == "姓名*" and "班级" in headers
    assert ws.max_row == 1, "the data sheet is empty: no example row that could be imported"
    assert ws.freeze_panes == "A2"
    # Every header cell explains its column.
    for i, col in enumerate(COLUMNS, start=1):
        text = ws.cell(row=1, column=i).comment.text
        assert col.header in text and ("必填" if col.required else "选填") in text
        if col.comment:
            assert col.comment in text
        if col.kind == specs.CODE:
            assert "从下拉列表选择" in text
    # Dropdowns: names for code columns, 是/否 for yes/no columns.
    by_col = {}
    for dv in ws.data_validations.dataValidation:
        for rng in str(dv.sqref).split():
            by_col[re.match(r"[A-Z]+", rng).group(0)] = dv
    letter = {c.field: get_column_letter(i) for c, i in zip(COLUMNS, range(1, len(COLUMNS) + 1))}
    assert by_col[letter["gender"]].type == "list" and by_col[letter["gender"]].formula1 == '"男,女"'
    assert str(by_col[letter["gender"]].sqref).startswith(f"{letter['gender']}2:")
    assert by_col[letter["only_child"]].formula1 == '"是,否"'
    assert "汉族" in by_col[letter["ethnicity"]].formula1 and "01" not in by_col[letter["ethnicity"]].formula1
    assert "居民身份证" in by_col[letter["guardian_id_type"]].formula1
    assert by_col[letter["gender"]].showErrorMessage and by_col[letter["gender"]].errorStyle in (None, "stop")
    # Formats: text for ID numbers, regions and free text; yyyy-mm-dd for dates; widths from the spec.
    formats = column_formats(ws)
    assert formats[FIELD_COL["id_number"]] == "@" and formats[FIELD_COL["guardian_id_number"]] == "@"
    assert formats[FIELD_COL["hukou_code"]] == "@" and formats[FIELD_COL["name"]] == "@"
    assert formats[FIELD_COL["birth_date"]] == "yyyy-mm-dd"
    assert round(ws.column_dimensions[letter["id_number"]].width) in (22, 23)
    # 说明: every column with its example; 代码表: code and name of every table used.
    info = [[c for c in row if c is not None] for row in wb["说明"].iter_rows(values_only=True)]
    flat = " ".join(str(c) for row in info for c in row)
    for col in COLUMNS:
        assert any(row[:1] == [col.header] and str(col.example) in map(str, row) for row in info), col.header
    assert "代码表" in flat and "GB/T 3304" in flat
    codes = [[c for c in row] for row in wb["代码表"].iter_rows(values_only=True)]
    pairs = {(row[i], row[i + 1]) for row in codes for i in range(len(row) - 1)}
    assert ("01", "汉族") in pairs and ("1", "男") in pairs and ("CHN", "中国") in pairs and ("51", "父亲") in pairs
    assert wb["代码表"].protection.sheet


def test_long_code_lists_reference_the_code_sheet(app, tmp_path):
    """A list too long for Excel's 255 characters points at its range on 代码表 (forced here)."""
    path = os.path.join(tmp_path, "t.xlsx")
    with app.app_context():
        write_template(path, new_students.SPEC, inline_limit=0)
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    checked = 0
    for dv in ws.data_validations.dataValidation:
        col = re.match(r"[A-Z]+", str(dv.sqref)).group(0)
        column = COLUMNS[[get_column_letter(i + 1) for i in range(len(COLUMNS))].index(col)]
        if column.kind != specs.CODE:
            continue
        m = re.fullmatch(r"'代码表'!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", dv.formula1)
        assert m, dv.formula1
        cells = wb["代码表"][f"{m.group(1)}{m.group(2)}:{m.group(3)}{m.group(4)}"]
        from app.codes import tables
        assert [c[0].value for c in cells] == list(tables.table(column.table).values())
        checked += 1
    assert checked == sum(1 for c in COLUMNS if c.kind == specs.CODE)


@pytest.mark.parametrize("inline_limit", [255, 0])
def test_template_round_trip_through_the_engine(app, as_user, tmp_path, inline_limit):
    if inline_limit == 255:
        data = template(as_user(SCHOOL)).data
    else:
        out = io.BytesIO()
        with app.app_context():
            write_template(out, new_students.SPEC, inline_limit=inline_limit)
        data = out.getvalue()
    from app.services.identity import build_id_number
    girl = values(2, gender="女")
    girl["id_number"] = build_id_number("360102", girl["birth_date"], 22)  # even sequence: female
    rows = [values(1), girl, values(3, ethnicity="回族", grade="小学二年级")]
    path = os.path.join(tmp_path, "filled.xlsx")
    with open(path, "wb") as fh:
        fh.write(fill(data, rows))
    ws = load_workbook(path).worksheets[0]
    assert ws.cell(row=2, column=FIELD_COL["id_number"]).number_format == "@"
    assert ws.cell(row=2, column=FIELD_COL["birth_date"]).number_format == "yyyy-mm-dd"
    with app.app_context():
        actor = account(db.session, SCHOOL)
        summary = engine.run_import(db.session, actor, specs.get("new_students"), path, "filled.xlsx")
        db.session.commit()
        assert (summary["read"], summary["accepted"], summary["rejected"]) == (3, 3, 0), summary
        got = {s.id_number: s for s in db.session.scalars(select(Student))}
        s = got[rows[2]["id_number"]]
        assert s.ethnicity == "03" and s.grade == "12" and s.birth_date == rows[2]["birth_date"]
        assert got[rows[1]["id_number"]].gender == "2"


# ---------------------------------------------------------------- the screen

def test_menu_and_page(as_user):
    client = as_user(SCHOOL)
    home = client.get("/").get_data(as_text=True)
    assert "批量导入" in home and "/importview/" in home
    r = client.get("/importview/")  # a school has two imports now: 新生注册 and 毕业信息
    listing = r.get_data(as_text=True)
    assert r.status_code == 200 and "/importview/new_students/" in listing and "/importview/graduation_info/" in listing
    page = client.get("/importview/new_students/").get_data(as_text=True)
    for text in ("批量导入：新生注册", "下载模板", "/importview/new_students/template", "选择文件",
                 "只导入正确的行（有误的行返回标注文件）", "仅校验，不写入", "上传并导入", "县（区）教育局",
                 "/studentview/register", "/myrequestsview/list/", "姓名、性别、出生日期"):
        assert text in page, text
    assert 'type="file"' in page and 'enctype="multipart/form-data"' in page


def test_upload_through_the_screen_reaches_the_county_inbox(app, as_user):
    client = as_user(SCHOOL)
    data = fill(template(client).data, [values(i) for i in range(1, 4)])
    r = upload(client, data)
    assert r.status_code == 302 and "/jobview/list" in r.headers["Location"]
    job_id = last_job_id(app)
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert f"已提交导入任务 #{job_id}，可在“我的任务”查看进度" in page
    job = finish_jobs(app, job_id)
    assert job.state == JobState.FINISHED, job.message
    assert "共 3 行，全部导入成功" in job.message and job.result_file is None
    assert count(app, Student) == 3 and count(app, Request) == 3
    inbox = as_user(COUNTY).get("/inboxview/list/").get_data(as_text=True)
    for row in (values(1), values(2), values(3)):
        assert row["name"] in inbox
    mine = client.get("/importview/new_students/").get_data(as_text=True)
    assert f"#{job_id}" in mine and "新生.xlsx" in mine and "全部导入成功" in mine


def test_a_bad_row_comes_back_as_the_annotated_workbook(app, as_user):
    client = as_user(SCHOOL)
    rows = [values(1), values(2, ethnicity="火星族"), values(3)]
    upload(client, fill(template(client).data, rows))
    job = finish_jobs(app, last_job_id(app))
    assert job.state == JobState.FINISHED and "1 行有误，未导入任何数据" in job.message
    assert count(app, Student) == 0
    r = client.get(f"/jobview/download/{job.id}")
    assert r.status_code == 200 and r.data[:4] == b"PK\x03\x04"
    ws = load_workbook(io.BytesIO(r.data)).worksheets[0]
    assert ws.cell(row=1, column=len(COLUMNS) + 1).value == "错误原因"
    assert "火星族" in ws.cell(row=3, column=len(COLUMNS) + 1).value
    assert ws.cell(row=2, column=len(COLUMNS) + 1).value is None
    # The download is the actor's own: another school's officer gets a 404.
    assert as_user(OTHER_SCHOOL).get(f"/jobview/download/{job.id}").status_code == 404
    status = client.get("/jobview/status").get_json()
    assert status[0]["id"] == job.id and status[0]["download_url"].endswith(f"/jobview/download/{job.id}")


def test_valid_only_checkbox_imports_the_good_rows(app, as_user):
    client = as_user(SCHOOL)
    rows = [values(1), values(2, birth_date=datetime.date(2030, 1, 1)), values(3)]
    upload(client, fill(template(client).data, rows), valid_only=True)
    job = finish_jobs(app, last_job_id(app))
    assert "已导入 2 行，1 行有误未导入" in job.message
    assert count(app, Student) == 2
    ws = load_workbook(io.BytesIO(client.get(f"/jobview/download/{job.id}").data)).worksheets[0]
    assert ws.max_row == 2 and "晚于今天" in ws.cell(row=2, column=len(COLUMNS) + 1).value


def test_dry_run_writes_nothing(app, as_user):
    client = as_user(SCHOOL)
    r = upload(client, fill(template(client).data, [values(1), values(2)]), dry_run=True, follow=True)
    assert "已提交校验任务" in r.get_data(as_text=True)
    job = finish_jobs(app, last_job_id(app))
    assert job.message.startswith("新生注册：试校验：共 2 行") and count(app, Student) == 0


@pytest.mark.parametrize("data, filename, message", [
    (b"just some text, not a workbook", "名单.xlsx", "上传的文件不是 Excel 工作簿"),
    (b"%PDF-1.7 not a sheet", "名单.pdf", "上传的文件不是 Excel 工作簿"),
    (b"", "空.xlsx", "请选择要上传的文件"),
])
def test_a_file_that_is_no_workbook_gets_a_chinese_message_and_no_job(app, as_user, data, filename, message):
    client = as_user(SCHOOL)
    r = upload(client, data, filename)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert message in page and "重新选择文件" in page
    assert count(app, Job) == 0


def test_no_file_chosen(app, as_user):
    r = as_user(SCHOOL).post("/importview/new_students/", data={}, content_type="multipart/form-data")
    assert r.status_code == 200 and "请选择要上传的文件" in r.get_data(as_text=True)
    assert count(app, Job) == 0


def test_a_body_over_the_limit_gets_a_chinese_413(app, as_user):
    client = as_user(SCHOOL)
    before = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 2048
    try:
        r = upload(client, b"PK\x03\x04" + b"x" * 8192)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = before
    assert r.status_code == 413
    page = r.get_data(as_text=True)
    assert "上传的文件过大" in page and "MB" in page and "Request Entity Too Large" not in page
    assert "下载模板" in page  # the upload page again, not a dead end
    assert count(app, Job) == 0


def test_the_size_limit_of_start_import_reads_in_chinese(app, as_user):
    client = as_user(SCHOOL)
    before = app.config["IMPORT_MAX_BYTES"]
    app.config["IMPORT_MAX_BYTES"] = 1024
    try:
        r = upload(client, b"PK\x03\x04" + b"x" * 4096)
    finally:
        app.config["IMPORT_MAX_BYTES"] = before
    assert r.status_code == 200 and "文件过大" in r.get_data(as_text=True) and count(app, Job) == 0


@pytest.mark.parametrize("username", [COUNTY, "city_360100", "sheng_admin", "sheng_viewer"])
def test_officers_above_schools_cannot_reach_the_new_student_import(app, as_user, username):
    client = as_user(username)
    assert client.get("/importview/").status_code == 403
    assert client.get("/importview/new_students/").status_code == 403
    assert client.get("/importview/new_students/template").status_code == 403
    assert upload(client, b"PK\x03\x04").status_code == 403
    assert "/importview/" not in client.get("/").get_data(as_text=True)
    assert count(app, Job) == 0


def test_unknown_spec_is_404(as_user):
    client = as_user(SCHOOL)
    assert client.get("/importview/nonsense/").status_code == 404
    assert client.get("/importview/nonsense/template").status_code == 404


def test_the_platform_admin_sees_no_import_it_may_not_use(as_user):
    client = as_user("admin")
    page = client.get("/importview/").get_data(as_text=True)
    assert "没有可用的批量导入" in page
    assert client.get("/importview/new_students/").status_code == 403


# ---------------------------------------------------------------- the API

def test_api_upload_status_result_and_template(app, api_token):
    client, auth = api_token(SCHOOL)
    r = client.get("/api/v1/import/new_students/template", headers=auth)
    assert r.status_code == 200 and r.mimetype == XLSX
    assert load_workbook(io.BytesIO(r.data)).sheetnames[0] == "新生注册"
    data = fill(r.data, [values(1), values(2)])
    r = client.post("/api/v1/import/new_students", headers=auth, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(data), "api.xlsx")})
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["state"] == "queued" and body["job_id"] and "已提交导入任务" in body["message"]
    finish_jobs(app, body["job_id"])
    r = client.get(f"/api/v1/import/job/{body['job_id']}", headers=auth)
    assert r.status_code == 200
    status = r.get_json()
    assert status["state"] == "finished" and status["progress"] == 100 and "全部导入成功" in status["message"]
    assert status["result_url"] is None and count(app, Student) == 2
    # A bad row, valid rows only: the result file is the annotated workbook.
    data = fill(template_bytes_of(client, auth), [values(3), values(4, gender="未知")])
    r = client.post("/api/v1/import/new_students", headers=auth, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(data), "api2.xlsx"), "valid_only": "true"})
    job_id = r.get_json()["job_id"]
    finish_jobs(app, job_id)
    status = client.get(f"/api/v1/import/job/{job_id}", headers=auth).get_json()
    assert "已导入 1 行" in status["message"] and status["result_url"].endswith(f"/api/v1/import/job/{job_id}/result")
    r = client.get(status["result_url"], headers=auth)
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data)).worksheets[0]
    assert "未知" in ws.cell(row=2, column=len(COLUMNS) + 1).value
    assert count(app, Student) == 3


def template_bytes_of(client, auth):
    return client.get("/api/v1/import/new_students/template", headers=auth).data


def test_api_scoping_and_chinese_errors(app, api_token):
    client, auth = api_token(SCHOOL)
    r = client.post("/api/v1/import/new_students", headers=auth, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(b"hello"), "x.xlsx")})
    assert r.status_code == 422 and "不是 Excel 工作簿" in r.get_json()["message"]
    r = client.post("/api/v1/import/new_students", headers=auth, content_type="multipart/form-data", data={})
    assert r.status_code == 422 and r.get_json()["message"] == "请选择要上传的文件"
    assert count(app, Job) == 0
    r = client.post("/api/v1/import/nonsense", headers=auth, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(b"PK\x03\x04"), "x.xlsx")})
    assert r.status_code == 404 and "未知的导入类型" in r.get_json()["message"]
    assert client.get("/api/v1/import/nonsense/template", headers=auth).status_code == 404
    # Another school's job, an export job of another actor, a job that does not exist: 404 alike.
    other, other_auth = api_token(OTHER_SCHOOL)
    data = fill(template_bytes_of(other, other_auth), [values(9)])
    job_id = other.post("/api/v1/import/new_students", headers=other_auth, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(data), "o.xlsx")}).get_json()["job_id"]
    finish_jobs(app, job_id)
    for url in (f"/api/v1/import/job/{job_id}", f"/api/v1/import/job/{job_id}/result", "/api/v1/import/job/999999"):
        r = client.get(url, headers=auth)
        assert r.status_code == 404 and r.get_json()["message"] == "记录不存在或不在您的管辖范围内", url
    assert other.get(f"/api/v1/import/job/{job_id}", headers=other_auth).status_code == 200
    # Without a token: 401 in Chinese.
    r = client.get(f"/api/v1/import/job/{job_id}")
    assert r.status_code == 401 and "请先登录" in r.get_json()["message"]
    # A county officer may not use the new-student import through the API either.
    county, county_auth = api_token(COUNTY)
    r = county.post("/api/v1/import/new_students", headers=county_auth, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(data), "c.xlsx")})
    assert r.status_code == 403 and "权限" in r.get_json()["message"]
    assert county.get("/api/v1/import/new_students/template", headers=county_auth).status_code == 403
    assert county.get(f"/api/v1/import/job/{job_id}", headers=county_auth).status_code in (403, 404)


def test_api_413_in_chinese(app, api_token):
    client, auth = api_token(SCHOOL)
    before = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 2048
    try:
        r = client.post("/api/v1/import/new_students", headers=auth, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(b"PK\x03\x04" + b"x" * 8192), "big.xlsx")})
    finally:
        app.config["MAX_CONTENT_LENGTH"] = before
    assert r.status_code == 413 and "上传的文件过大" in r.get_json()["message"]
    assert count(app, Job) == 0


def test_api_token_errors_in_chinese(api_token):
    client, auth = api_token(SCHOOL)
    r = client.get("/api/v1/import/new_students/template")
    assert r.status_code == 401 and "请先登录" in r.get_json()["message"]
    r = client.get("/api/v1/import/new_students/template", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 422 and "访问令牌无效" in r.get_json()["message"]


def test_several_imports_are_listed_and_each_has_its_page(app, as_user, monkeypatch):
    extra = specs.SheetSpec(name="t_extra", label="测试导入", sheet_title="测试", columns=COLUMNS[:2],
                            clean_row=lambda s, a, v: v, write=lambda s, a, r, p: {}, intro="仅用于测试的导入")
    monkeypatch.setitem(specs.SPECS, "t_extra", extra)
    client = as_user(SCHOOL)
    page = client.get("/importview/").get_data(as_text=True)
    assert "/importview/new_students/" in page and "/importview/t_extra/" in page and "仅用于测试的导入" in page
    page = client.get("/importview/t_extra/").get_data(as_text=True)
    assert "批量导入：测试导入" in page and "其他批量导入" in page and "/studentview/register" not in page
    wb = load_workbook(io.BytesIO(client.get("/importview/t_extra/template").data))
    assert wb.sheetnames[0] == "测试" and [c.value for c in wb.worksheets[0][1]] == ["姓名*", "性别*"]


def test_openapi_describes_the_import_api(as_user):
    spec = as_user("admin").get("/api/v1/_openapi").get_json()
    paths = spec["paths"]
    for path in ("/api/v1/import/{spec}", "/api/v1/import/job/{pk}", "/api/v1/import/job/{pk}/result",
                 "/api/v1/import/{spec}/template"):
        assert path in paths, sorted(p for p in paths if "import" in p)
    assert "multipart/form-data" in paths["/api/v1/import/{spec}"]["post"]["requestBody"]["content"]


def test_student_list_links_to_the_workbook_import_for_schools_only(as_user):
    assert "/importview/new_students/" in as_user("school_3601020001").get("/studentview/list/").get_data(as_text=True)
    assert "/importview/new_students/" not in as_user("county_360102").get("/studentview/list/").get_data(as_text=True)
