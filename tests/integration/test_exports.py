"""导出 Excel on every list screen (app/exports/): the export has exactly the list's rows for the
same filters, never another county's, the list's Chinese labels and cell values (names not codes),
masked ID numbers unless the role allows full ones; large exports go through a job whose file only
its owner downloads; every export is audited."""
import io
import re
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog
from app.models.job import Job, JobState
from app.models.student import Student, StudentStatus
from tests.conftest import PASSWORD, account, finish_jobs, unit

COUNTY = "county_360102"         # 东湖区
OTHER_COUNTY = "county_360103"   # 西湖区
SCHOOL = "school_3601020001"     # 东湖第一小学
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FULL_ID = re.compile(r"^\d{17}[\dX]$")
MASKED_ID = re.compile(r"^\d{6}\*{8}\d{3}[\dX]$")
STUDENT_HEADERS = ["学籍号", "姓名", "性别", "出生日期", "身份证件号", "学校", "年级", "班级", "状态"]


# ---------------------------------------------------------------- helpers

def read_xlsx(data):
    book = load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: [["" if v is None else v for v in row] for row in ws.iter_rows(values_only=True)]
            for ws in book.worksheets}


def export(client, path, query=""):
    """POST the export of a list; returns (header, rows) of a streamed file."""
    r = client.post(f"{path}export_workbook/" + (f"?{query}" if query else ""))
    assert r.status_code == 200, (path, query, r.status_code, r.headers.get("Location"))
    assert r.mimetype == XLSX and r.data[:2] == b"PK"
    sheets = read_xlsx(r.data)
    assert len(sheets) == 1
    rows = next(iter(sheets.values()))
    return rows[0], rows[1:]


class ListTable(HTMLParser):
    """The header and cells of a Flask-AppBuilder list table, as text."""

    def __init__(self):
        super().__init__()
        self.header, self.rows, self._cell, self._row, self._in_table = [], [], None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and "table-bordered" in (dict(attrs).get("class") or ""):
            self._in_table = True
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._in_table and tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(("th" if tag == "th" else "td", "".join(self._cell).strip()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row and all(kind == "th" for kind, _ in self._row):
                self.header = [text for _, text in self._row]
            elif self._row:
                self.rows.append([text for _, text in self._row])
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def list_page(client, path, query):
    html = client.get(f"{path}list/?{query}").get_data(as_text=True)
    table = ListTable()
    table.feed(html)
    return table, html


def normalised(rows):
    return [[str(v) for v in row] for row in rows]


@pytest.fixture
def students(app):
    """300 in-school demo students spread over the six test schools (东湖, 西湖, 濂溪)."""
    from app.services.demo_students import generate_students
    with app.app_context():
        generate_students(db.session, 300)
        db.session.commit()


def ids(app, *keys):
    with app.app_context():
        return [unit(db.session, k).id for k in keys]


def audit_rows(app, username, action="export"):
    with app.app_context():
        return db.session.scalars(select(AuditLog).where(AuditLog.actor_name == username, AuditLog.action == action)
                                 .order_by(AuditLog.id)).all()


def count_students(app, path_prefix):
    from app.models.org import OrgUnit
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Student).join(OrgUnit, OrgUnit.id == Student.school_id)
                                 .where(OrgUnit.path.startswith(path_prefix)))


# ---------------------------------------------------------------- the same rows as the list

def test_student_export_is_the_list_with_its_filters(app, as_user, students):
    c = as_user(COUNTY)
    (school_id,) = ids(app, "3601020001")
    query = f"_flt_0_school={school_id}&_flt_0_status=in_school&_oc_StudentView=name&_od_StudentView=asc"
    header, rows = export(c, "/studentview/", query)
    table, _html = list_page(c, "/studentview/", query + "&psize_StudentView=1000")
    assert header == STUDENT_HEADERS == table.header[-len(header):]
    assert 10 < len(rows) == len(table.rows)
    # Cell for cell what the list shows (the list's own formatters), in the list's order.
    assert normalised(rows) == [r[-len(header):] for r in table.rows]
    assert {r[5] for r in rows} == {"东湖第一小学"}
    # A name filter and a page size / page number: every page, same filter.
    name = rows[0][1]
    header, by_name = export(c, "/studentview/", f"_flt_0_name={name}&page_StudentView=3&psize_StudentView=1")
    assert by_name and all(r[1] == name for r in by_name)
    with app.app_context():
        expected = db.session.scalar(select(func.count()).select_from(Student).where(Student.name == name))
    assert len(by_name) <= expected


def test_headers_are_chinese_labels_and_values_names_not_codes(app, as_user, students):
    header, rows = export(as_user(COUNTY), "/studentview/")
    assert header == STUDENT_HEADERS
    assert {r[2] for r in rows} <= {"男", "女"}                 # not 1/2
    from app.codes import tables
    assert {r[6] for r in rows} <= {label for _code, label in tables.choices("grade")}  # 小学一年级, not 11
    assert {r[8] for r in rows} == {"在校"}                      # not in_school
    assert all(r[5].endswith(("小学", "中学", "学校")) for r in rows)  # school names, not ids
    assert all(isinstance(r[0], str) and r[0].startswith("G") for r in rows)  # 学籍号 stays text
    header, rows = export(as_user(COUNTY), "/orgunitview/")
    assert header == ["名称", "机构类型", "学校标识码", "办学类型", "办学性质", "行政区划", "上级机构", "可招生", "启用"]
    county_row = next(r for r in rows if r[0] == "东湖区教育体育局")
    assert county_row[1] == "县(区)" and county_row[5] == "江西省南昌市东湖区" and county_row[6] == "南昌市教育局"
    school_row = next(r for r in rows if r[0] == "东湖第一小学")
    assert school_row[2] == "3601020001" and isinstance(school_row[2], str)  # text, not a number
    assert school_row[3] == "小学" and school_row[7] in ("是", "否")
    header, rows = export(as_user(COUNTY), "/regionview/", "_flt_0_code=3601")
    assert header == ["区划代码", "名称", "全称", "级别"]
    assert ["360102", "东湖区", "江西省南昌市东湖区", "县级"] in rows


def test_every_list_has_the_button_and_exports(app, as_user, students):
    lists = {
        COUNTY: ["/orgunitview/", "/regionview/", "/accountview/", "/auditlogview/", "/studentview/",
                 "/inboxview/", "/openrequestsview/"],
        SCHOOL: ["/myrequestsview/", "/studentview/", "/accountview/"],
        "sheng_viewer": ["/orgunitview/", "/regionview/", "/auditlogview/", "/studentview/"],
    }
    for username, paths in lists.items():
        c = as_user(username)
        for path in paths:
            html = c.get(f"{path}list/?_flt_0_name=x").get_data(as_text=True)
            assert "导出 Excel" in html, (username, path)
            form = re.search(r'<form method="post" class="export-workbook"[^>]*action="([^"]+)"', html)
            assert form and form.group(1).startswith(f"{path}export_workbook/"), (username, path)
            assert "_flt_0_name=x" in form.group(1)  # the list's filters go with the export
            header, _rows = export(c, path)
            assert header and all(re.search(r"[\u4e00-\u9fff]", h) for h in header), (path, header)
    # No button, no export where the role has no such list.
    viewer = as_user("sheng_viewer")
    assert viewer.post("/accountview/export_workbook/").status_code in (302, 403)


# ---------------------------------------------------------------- scope from outside

def test_crafted_urls_never_export_another_county(app, as_user, students):
    c = as_user(COUNTY)
    west_school, west_school2 = ids(app, "3601030001", "3601030002")
    with app.app_context():
        west = db.session.scalars(select(Student).where(Student.school_id == west_school)).first()
        west_no, west_name = west.xueji_no, west.name
    own = count_students(app, "/360000/360100/360102/")
    assert own and count_students(app, "/360000/360100/360103/")
    for query in (f"_flt_0_school={west_school}", f"_flt_0_school={west_school}&_flt_0_school={west_school2}",
                  f"_flt_3_xueji_no={west_no}", f"_flt_0_xueji_no={west_no[:8]}", f"_flt_0_id={west.id}",
                  "_oc_StudentView=id&_od_StudentView=asc", f"_flt_9_school={west_school}"):
        _header, rows = export(c, "/studentview/", query)
        assert all(r[5].startswith("东湖") for r in rows), query
        assert not any(r[0] == west_no for r in rows), query
    # A malformed id: SQLite compares it (no row), PostgreSQL refuses it (a Chinese message, no file).
    r = c.post("/studentview/export_workbook/?_flt_0_school=abc")
    if r.status_code == 200:
        assert all(row[5].startswith("东湖") for row in next(iter(read_xlsx(r.data).values()))[1:])
    else:
        assert r.status_code == 302 and "查询条件无效" in c.get(r.headers["Location"]).get_data(as_text=True)
    _header, rows = export(c, "/studentview/", f"_flt_1_school={west_school}")  # 不等于: everything of 东湖 only
    assert len(rows) == own and all(r[5].startswith("东湖") for r in rows)
    if west_name:
        _header, rows = export(c, "/studentview/", f"_flt_0_name={west_name}")
        assert all(r[5].startswith("东湖") for r in rows)
    # Units, accounts and the audit trail: the same.
    _h, rows = export(c, "/orgunitview/", f"_flt_0_parent={west_school}")
    assert not any("西湖" in r[0] or "濂溪" in r[0] for r in rows)
    _h, rows = export(c, "/accountview/", "_flt_0_username=county_360103")
    assert rows == []
    as_user(OTHER_COUNTY).post("/orgunitview/export_workbook/")  # 西湖 leaves an audit entry
    _h, rows = export(c, "/auditlogview/", "_flt_0_actor_name=county_360103")
    assert rows == []
    # The audit entry of the crafted export does not name the other county's school either.
    crafted = [a for a in audit_rows(app, COUNTY) if f"#{west_school}" in (a.new_value or "")]
    assert crafted and not any("西湖" in (a.new_value or "") for a in audit_rows(app, COUNTY))


def test_crafted_urls_in_a_background_export(app, as_user, students, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 5)
    c = as_user(COUNTY)
    (west_school,) = ids(app, "3601030001")
    r = c.post(f"/studentview/export_workbook/?_flt_1_school={west_school}")
    assert r.status_code == 302 and "/jobview/list" in r.headers["Location"]
    job = _last_job(app, COUNTY)
    assert finish_jobs(app, job.id).state == JobState.FINISHED
    rows = next(iter(read_xlsx(c.get(f"/jobview/download/{job.id}").data).values()))[1:]
    assert len(rows) == count_students(app, "/360000/360100/360102/")
    assert all(r[5].startswith("东湖") for r in rows)


# ---------------------------------------------------------------- 信息保密

@pytest.mark.parametrize("username,full", [("sheng_viewer", False), ("city_360100", False), ("sheng_admin", False),
                                           (COUNTY, True), (SCHOOL, True)])
def test_id_numbers_masked_unless_the_role_allows_and_audited(app, as_user, students, username, full):
    _header, rows = export(as_user(username), "/studentview/")
    assert rows
    pattern = FULL_ID if full else MASKED_ID
    assert all(pattern.match(r[4]) for r in rows), rows[0]
    assert all(r[0][1:] == r[4] for r in rows)  # 学籍号 G+ID is masked exactly like the ID number
    entry = audit_rows(app, username)[-1]
    assert entry.entity == "student" and entry.entity_label == "学生学籍"
    assert entry.new_value.startswith(f"{len(rows)} 行")
    if full:
        assert entry.field == "id_number" and "含完整身份证件号" in entry.reason
    else:
        assert entry.field is None and "完整身份证件号" not in entry.reason


def test_audit_entry_names_list_filters_and_count(app, as_user, students):
    c = as_user(COUNTY)
    (school_id,) = ids(app, "3601020001")
    _h, rows = export(c, "/studentview/", f"_flt_0_school={school_id}&_flt_0_status=in_school")
    entry = audit_rows(app, COUNTY)[-1]
    assert entry.action == "export" and entry.actor_name == COUNTY
    assert entry.new_value == f"{len(rows)} 行；筛选条件：学校 等于 东湖第一小学；状态 等于 “在校”"
    assert entry.org_path == "/360000/360100/360102/"
    # The audit screen shows it as 导出, and the 西湖 officer cannot see it.
    html = c.get("/auditlogview/list/").get_data(as_text=True)
    assert "导出" in html and "学生学籍" in html
    _h, seen = export(as_user(OTHER_COUNTY), "/auditlogview/")
    assert not any(r[1] == COUNTY for r in seen)
    # The audit log's own export: ID numbers inside logged values follow the reader's role.
    _h, logged = export(as_user("city_360100"), "/auditlogview/", "_flt_0_actor_name=county_360102")
    assert logged and all(r[2] == "导出" for r in logged)


# ---------------------------------------------------------------- large exports: a job

def _last_job(app, username):
    with app.app_context():
        owner = account(db.session, username)
        return db.session.scalars(select(Job).where(Job.actor_id == owner.id).order_by(Job.id.desc())).first()


@pytest.mark.parametrize("username,full", [(COUNTY, True), ("sheng_viewer", False)])
def test_large_export_is_a_job_downloadable_by_its_owner_only(app, as_user, students, monkeypatch, username, full):
    monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 10)
    c = as_user(username)
    r = c.post("/studentview/export_workbook/?_flt_0_status=in_school")
    assert r.status_code == 302 and "/jobview/list" in r.headers["Location"]
    html = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "已转为后台导出" in html and "我的任务" in html
    job = _last_job(app, username)
    assert job.kind == "export_list" and job.params["view"] == "StudentView"
    assert ["_flt_0_status", "in_school"] in job.params["args"]
    job = finish_jobs(app, job.id)
    assert job.state == JobState.FINISHED, job.message
    expected = count_students(app, "/360000/360100/360102/" if username == COUNTY else "/360000/")
    assert job.message == f"学生学籍：共导出 {expected} 行"
    status = next(j for j in c.get("/jobview/status").json if j["id"] == job.id)
    assert status["download_url"] == f"/jobview/download/{job.id}" and status["kind_label"] == "导出列表（Excel）"
    data = c.get(f"/jobview/download/{job.id}")
    assert data.status_code == 200
    rows = next(iter(read_xlsx(data.data).values()))
    assert rows[0] == STUDENT_HEADERS and len(rows) - 1 == expected
    # The worker had no request: masking followed the job's actor.
    assert all((FULL_ID if full else MASKED_ID).match(r[4]) for r in rows[1:])
    entry = audit_rows(app, username)[-1]
    assert f"后台任务 #{job.id}" in entry.reason and entry.new_value.startswith(f"{expected} 行")
    assert ("含完整身份证件号" in entry.reason) == full
    # Nobody else downloads it: not another county, not the own school, not the province.
    for other in (OTHER_COUNTY, SCHOOL, "sheng_admin"):
        if other != username:
            assert as_user(other).get(f"/jobview/download/{job.id}").status_code == 404, other


def test_a_job_for_an_unknown_list_fails_in_chinese(app):
    from app.jobs import enqueue
    with app.test_request_context():
        job_id = enqueue(db.session, account(db.session, COUNTY), "export_list", {"view": "NoSuchView", "args": []}).id
    job = finish_jobs(app, job_id)
    assert job.state == JobState.FAILED and job.message == "该列表不支持导出"


def test_the_former_directory_export_is_the_generic_one(app, as_user):
    c = as_user(COUNTY)
    assert c.post("/orgunitview/export").status_code == 302
    job = finish_jobs(app, _last_job(app, COUNTY).id)
    assert job.state == JobState.FINISHED and job.message == "共导出 3 个机构"
    rows = next(iter(read_xlsx(c.get(f"/jobview/download/{job.id}").data).values()))
    _h, listed = export(c, "/orgunitview/")
    assert rows[1:] == listed


# ---------------------------------------------------------------- approval lists

@pytest.fixture
def pending(app):
    """Two pending 新生注册: one at 东湖第一小学, one at 西湖第一小学."""
    import datetime

    from app.services import students as registry
    from app.services.identity import build_id_number
    made = {}
    with app.app_context():
        for username, county, seq, name in (("school_3601020001", "360102", 11, "张小明"),
                                            ("school_3601030001", "360103", 21, "李小红")):
            actor = account(db.session, username)
            birth = datetime.date(2019, 3, 1)
            data = {"name": name, "gender": "1" if seq % 2 else "2", "birth_date": birth.isoformat(),
                    "id_type": "1", "id_number": build_id_number(county, birth, seq), "ethnicity": "01",
                    "nationality": "CHN", "hmt_overseas": "00", "grade": "11", "class_name": "一班"}
            guardian = {"name": "家长", "relation": "51", "id_type": "1", "phone": "13900001111",
                        "id_number": build_id_number(county, datetime.date(1988, 5, 6), seq + 1)}
            _student, req, _w = registry.register_student(db.session, actor, data, [guardian])
            db.session.commit()
            made[username] = (req.id, data["id_number"])
    return made


def test_approval_lists_export_their_rows(app, as_user, pending):
    own_id, own_number = pending["school_3601020001"]
    west_id, _ = pending["school_3601030001"]
    header, rows = export(as_user(COUNTY), "/inboxview/")
    assert header == ["申请号", "类型", "学生", "学生身份证件号", "学校", "提交人", "提交时间", "等待天数"]
    assert [r[0] for r in rows] == [own_id]
    row = rows[0]
    assert row[1] == "新生注册" and row[2] == "张小明" and row[4] == "东湖第一小学" and row[7] == 0
    assert MASKED_ID.match(row[3]) and row[3] != own_number  # masked, as on the list
    (west_school,) = ids(app, "3601030001")
    assert export(as_user(COUNTY), "/inboxview/", f"school={west_school}")[1] == []
    _h, rows = export(as_user(COUNTY), "/inboxview/", "type=key_data_change")
    assert rows == []
    _h, rows = export(as_user("city_360100"), "/openrequestsview/")
    assert sorted(r[0] for r in rows) == sorted([own_id, west_id])
    assert {r[5] for r in rows} == {"东湖区教育体育局", "西湖区教育体育局"}
    _h, rows = export(as_user(COUNTY), "/openrequestsview/", f"school={west_school}")
    assert rows == []
    header, rows = export(as_user(SCHOOL), "/myrequestsview/", "state=pending")
    assert header[:5] == ["申请号", "类型", "学生", "学生身份证件号", "状态"]
    assert [(r[0], r[4]) for r in rows] == [(own_id, "待核办")]
    assert export(as_user(SCHOOL), "/myrequestsview/", "state=approved")[1] == []
    entry = audit_rows(app, SCHOOL)[-1]
    assert entry.entity == "request" and entry.entity_label == "我的申请" and "状态" in entry.new_value


def test_large_approval_list_export_is_a_job(app, as_user, pending, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 1)
    c = as_user("city_360100")
    assert c.post("/openrequestsview/export_workbook/").status_code == 302
    job = finish_jobs(app, _last_job(app, "city_360100").id)
    assert job.state == JobState.FINISHED and job.message == "在办业务：共导出 2 行"
    rows = next(iter(read_xlsx(c.get(f"/jobview/download/{job.id}").data).values()))
    assert len(rows) == 3 and all(MASKED_ID.match(r[3]) for r in rows[1:])


def test_english_screen_exports_english_headers_and_audits_in_chinese(app, as_user, students, monkeypatch):
    c = as_user(COUNTY)
    c.get("/lang/en")
    html = c.get("/studentview/list/").get_data(as_text=True)
    assert "Export to Excel" in html
    (school_id,) = ids(app, "3601020001")
    header, rows = export(c, "/studentview/", f"_flt_0_school={school_id}&_flt_0_status=in_school")
    assert "学籍号" not in header and not any(re.search(r"[\u4e00-\u9fff]", h) for h in header), header
    entry = audit_rows(app, COUNTY)[-1]
    assert entry.entity_label == "学生学籍" and "学校 等于 东湖第一小学；状态 等于 “在校”" in entry.new_value
    # The job remembers the screen's language.
    monkeypatch.setitem(app.config, "EXPORT_SYNC_ROWS", 5)
    assert c.post("/studentview/export_workbook/").status_code == 302
    job = finish_jobs(app, _last_job(app, COUNTY).id)
    assert job.params["locale"] == "en" and job.state == JobState.FINISHED
    rows = next(iter(read_xlsx(c.get(f"/jobview/download/{job.id}").data).values()))
    assert rows[0] == header


# ---------------------------------------------------------------- CSRF, writer

@pytest.fixture
def csrf_app(app):
    from app import create_app
    cfg = {k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "INSTANCE_DIR", "JOB_RESULT_DIR", "SECRET_KEY",
                                      "FAB_PASSWORD_HASH_METHOD", "REDIS_URL", "JOB_QUEUE")}
    return create_app({**cfg, "WTF_CSRF_ENABLED": True, "TESTING": True})


def test_export_is_a_post_with_the_csrf_token(csrf_app):
    c = csrf_app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', c.get("/login/").get_data(as_text=True)).group(1)
    c.post("/login/", data={"username": COUNTY, "password": PASSWORD, "csrf_token": token})
    assert c.get("/orgunitview/export_workbook/").status_code == 405
    assert c.post("/orgunitview/export_workbook/").status_code == 400  # forged: no token
    html = c.get("/orgunitview/list/?_flt_0_name=东湖第一").get_data(as_text=True)
    form = re.search(r'<form method="post" class="export-workbook"[^>]*action="([^"]+)">\s*'
                     r'<input type="hidden" name="csrf_token" value="([^"]+)"', html)
    action = form.group(1).replace("&amp;", "&")
    r = c.post(action, data={"csrf_token": form.group(2)})
    assert r.status_code == 200
    rows = next(iter(read_xlsx(r.data).values()))
    assert sorted(row[0] for row in rows[1:]) == ["东湖第一初级中学", "东湖第一小学"]


def test_writer_continues_on_a_new_sheet_past_the_row_limit(tmp_path, monkeypatch):
    from app.exports import writer
    monkeypatch.setattr(writer, "MAX_ROWS", 5)
    path = tmp_path / "x.xlsx"
    with writer.XlsxListWriter(str(path), "学生学籍", ["姓名", "年龄"]) as w:
        assert w.write_rows([[f"学生{i}", i] for i in range(10)]) == 10
    sheets = read_xlsx(path.read_bytes())
    assert list(sheets) == ["学生学籍", "学生学籍（2）", "学生学籍（3）"]
    assert all(rows[0] == ["姓名", "年龄"] for rows in sheets.values())
    assert [r for rows in sheets.values() for r in rows[1:]] == [[f"学生{i}", i] for i in range(10)]
    with writer.XlsxListWriter(str(path), "空", ["姓名"]) as w:
        w.write_rows([])
    assert read_xlsx(path.read_bytes()) == {"空": [["姓名"]]}
