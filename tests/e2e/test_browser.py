"""Real-browser test: the platform as a person sees it, in Debian's Chromium driven by Playwright.

Starts the real app (`python run.py`, demo province on first start) as a subprocess on a free port,
logs in as a county officer and checks the screens are Chinese and scoped to that county.

Browsers are never downloaded (`playwright install` is not allowed here): the test uses
/usr/bin/chromium from Debian (scripts/test.sh installs it when run as root) and skips without it.
Screenshots go to a pytest temp dir, and also to $SCREENSHOT_DIR when that is set.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Demo@2026"
COUNTY_USER = "county_360102"          # 东湖区 (南昌)
COUNTY_UNIT = "东湖区教育体育局"
OTHER_COUNTIES = ["西湖区", "西湖第", "青云谱", "青山湖", "濂溪"]
STARTUP_TIMEOUT = 60

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium, chromium-driver, fonts-noto-cjk; "
                "scripts/test.sh does so when run as root). Browsers are not downloaded via `playwright install`.",
                allow_module_level=True)


@pytest.fixture(autouse=True)
def world():
    """Overrides the autouse `world` fixture of tests/conftest.py: this test talks to its own server
    and database, so it must not reset (or even create) the integration tests' shared database."""
    yield None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, lines=200):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no server output: {exc})"


def _stop(proc):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # own session: the server and anything it started
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server():
    """The real app on a free port, with its own instance dir, yielding its base URL."""
    tmp = tempfile.mkdtemp(prefix="registry-e2e-")
    port = _free_port()
    env = dict(os.environ)
    env.update({
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "INSTANCE_DIR": tmp,
        # Always a SQLite file of its own, even when the run has DATABASE_URL/REDIS_URL (CI's
        # PostgreSQL/Redis pass): the integration tests in the same pytest run use that same
        # database and drop/recreate its schema at session start and reset tables per test, so a
        # server sharing it would collide with them. Empty REDIS_URL = in-process job worker.
        "DATABASE_URL": f"sqlite:///{os.path.join(tmp, 'e2e.db')}",
        "REDIS_URL": "",
        "LOAD_DEMO": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("SECRET_KEY", None)
    log_path = os.path.join(tmp, "server.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with code {proc.returncode} before serving:\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{base}/login/", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not answer 200 on /login/ within {STARTUP_TIMEOUT}s:\n{_tail(log_path)}")
            time.sleep(0.3)
        yield base
    finally:
        _stop(proc)
        log.close()
        if os.environ.get("E2E_KEEP_TMP"):
            print(f"e2e instance kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if proc.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL):
        print(f"server exit code {proc.returncode}; output:\n{_tail(log_path)}")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """shots(page, name): a full-page PNG in a temp dir, and in $SCREENSHOT_DIR when set."""
    tmp = tmp_path_factory.mktemp("screenshots")
    extra = os.environ.get("SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)

    def shoot(page, name):
        path = tmp / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if extra:
            shutil.copy(path, Path(extra) / path.name)
        return path

    yield shoot
    print(f"screenshots: {tmp}" + (f" and {extra}" if extra else ""))


def _login(browser, base, username):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    page.goto(f"{base}/login/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert "/login" not in page.url, f"login as {username} failed: {page.inner_text('body')[:500]}"
    return ctx, page


def _table(page):
    """The list view's rows as dicts keyed by the (Chinese) column headers, plus '_pk'."""
    table = page.locator("table:has(input[name=rowid])")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = []
    for tr in table.locator("tbody tr:has(input[name=rowid])").all():
        cells = [c.strip() for c in tr.locator("td").all_inner_texts()]
        row = dict(zip(headers, cells))
        row["_pk"] = tr.locator("input[name=rowid]").get_attribute("value")
        rows.append(row)
    return rows


def _record_count(page):
    """The list's total ("记录数目: 4" / "记录数: 4"): proves the rows shown are all there are."""
    body = page.inner_text("body")
    m = re.search(r"记录数目?\s*[:：]\s*(\d+)", body)
    assert m, f"no record count on the list page: {body[:500]}"
    return int(m.group(1))


def _open_menu(page, menu, href_part):
    """Navigate like a person: open a top-menu dropdown and click the entry."""
    page.locator("a.dropdown-toggle", has_text=menu).first.click()
    page.locator(f"ul.dropdown-menu a[href*='{href_part}']").first.click()
    page.wait_for_load_state("domcontentloaded")


def _assert_no_other_county(text, where):
    leaked = [name for name in OTHER_COUNTIES if name in text]
    assert not leaked, f"{where}: a county officer of 东湖区 sees other counties: {leaked}"


def _foreign_unit_ids(browser, base, shots):
    """As the province admin, the ids of 西湖区 units (another county of the same city)."""
    ctx, page = _login(browser, base, "sheng_admin")
    try:
        page.goto(f"{base}/orgunitview/list/?_flt_0_name={quote('西湖')}")
        shots(page, "04-province-admin-xihu")
        rows = [r for r in _table(page) if r.get("名称", "").startswith("西湖")]
        assert rows, f"province admin finds no 西湖区 unit: {page.inner_text('body')[:800]}"
        return {r["名称"]: r["_pk"] for r in rows}
    finally:
        ctx.close()


def test_county_officer_sees_only_own_county(server, browser, shots):
    base = server
    foreign = _foreign_unit_ids(browser, base, shots)
    ctx, page = _login(browser, base, COUNTY_USER)
    try:
        # Home: Chinese menus, the officer's own unit.
        shots(page, "01-county-home")
        lang = page.evaluate("document.documentElement.lang")
        assert lang in ("", None) or lang.lower().startswith("zh"), f"html lang is {lang!r}"
        nav = page.inner_text("body")
        for label in ("机构与学校", "系统管理"):
            assert label in nav, f"menu label {label} missing: {nav[:500]}"
        assert COUNTY_UNIT in nav
        _assert_no_other_county(nav, "home page")

        # 机构与学校: the county's own unit and its schools only.
        _open_menu(page, "机构与学校", "/orgunitview/list")
        shots(page, "02-county-org-list")
        assert "/orgunitview/list" in page.url
        rows = _table(page)
        assert len(rows) >= 2, f"expected the county unit and its schools, got {rows}"
        assert _record_count(page) == len(rows)
        names = [r["名称"] for r in rows]
        assert COUNTY_UNIT in names
        for r in rows:
            assert r["名称"].startswith("东湖"), f"unit outside 东湖区 listed: {r}"
            assert r["名称"] == COUNTY_UNIT or r["上级机构"] == COUNTY_UNIT, f"unit outside 东湖区 listed: {r}"
        _assert_no_other_county(page.inner_text("body"), "机构与学校 list")

        # 账号管理: the county's and its schools' accounts only.
        _open_menu(page, "系统管理", "/accountview/list")
        shots(page, "03-county-accounts")
        accounts = _table(page)
        assert accounts, "no accounts listed"
        assert _record_count(page) == len(accounts)
        usernames = {a["用户名"] for a in accounts}
        assert COUNTY_USER in usernames
        for a in accounts:
            assert a["用户名"] == COUNTY_USER or a["用户名"].startswith("school_360102"), f"foreign account listed: {a}"
            assert a["所属机构"].startswith("东湖"), f"foreign account listed: {a}"
        _assert_no_other_county(page.inner_text("body"), "账号管理 list")

        # Own school by URL: shown. Another county's school by URL: 404, not the data.
        own_pk = next(r["_pk"] for r in rows if r["名称"] != COUNTY_UNIT)
        resp = page.goto(f"{base}/orgunitview/show/{own_pk}")
        assert resp.status == 200 and "东湖" in page.inner_text("body")
        for name, pk in sorted(foreign.items()):
            for action in ("show", "edit"):
                resp = page.goto(f"{base}/orgunitview/{action}/{pk}")
                body = page.inner_text("body")
                if action == "show" and name.startswith("西湖第一小学"):
                    shots(page, "05-county-foreign-school-404")
                assert resp.status == 404, f"/orgunitview/{action}/{pk} ({name}) answered {resp.status}: {body[:300]}"
                assert name not in body and "西湖" not in body, f"{name} leaked on the 404 page"
                assert "404" in body or "Not Found" in body or "不存在" in body, body[:300]
    except Exception:
        shots(page, "99-failure")
        raise
    finally:
        ctx.close()


def test_county_search_filters_offer_only_own_units(server, browser, shots):
    ctx, page = _login(browser, server, COUNTY_USER)
    try:
        for url, column in (("/orgunitview/list/", "parent"), ("/accountview/list/", "org_unit")):
            page.goto(server + url)
            page.wait_for_load_state("load")  # the filter widgets are wired up by the page's scripts
            page.locator("a.accordion-toggle", has_text="搜索").first.click()   # the collapsed 搜索 panel
            select = page.locator(f"#filter_form select[name$='_{column}']").last
            for attempt in range(3):  # on a loaded CI box a click can land before the scripts are ready
                page.locator("#filter_form .dropdown-toggle").first.click()      # 添加过滤条件
                page.locator(f"#filter_form a.filter[name={column}]").click()
                try:
                    select.wait_for(state="attached", timeout=10_000)
                    break
                except Exception:
                    if attempt == 2:
                        raise
            options = [o.strip() for o in select.locator("option").all_inner_texts()]
            shots(page, f"06-county-filter-{column}")
            assert options, f"no options in the {column} filter"
            _assert_no_other_county(" ".join(options), f"{url} search filter {column}")
    finally:
        ctx.close()


def _inbox_decide(browser, base, shots, username, request_id, shot, comment):
    """Log in as `username`, find the request in 审批待办 via the menu, open it, approve it."""
    ctx, page = _login(browser, base, username)
    try:
        _open_menu(page, "审批", "/inboxview/list")
        link = page.locator(f"a[href*='/inboxview/show/{request_id}']").first
        assert link.count(), f"{username}: request {request_id} not in 审批待办: {page.inner_text('body')[:800]}"
        link.click()
        page.wait_for_load_state("domcontentloaded")
        page.fill("#approve-comment", comment)
        shots(page, shot)
        page.locator("form[action*='/inboxview/approve/'] button[type=submit]").click()
        page.wait_for_load_state("domcontentloaded")
        body = page.inner_text("body")
        assert f"申请号 {request_id}" in body and ("通过" in body or "同意" in body), body[:600]
    finally:
        ctx.close()


def test_cross_county_transfer_walkthrough(server, browser, shots):
    """One transfer from 东湖第一小学 (东湖区) to 西湖第一小学 (西湖区), through the screens only: the
    receiving school asks, the sending school confirms, both counties approve; then the record is
    at the new school with its history and the old school keeps only the 转出记录."""
    base = server
    # The sending school picks a student (its list shows the full 学籍号 to its own officer).
    ctx, page = _login(browser, base, "school_3601020001")
    try:
        page.goto(f"{base}/studentview/list/")
        table = page.locator("table:has(a[href*='/studentview/show/'])").first
        headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
        rows = []
        for tr in table.locator("tbody tr:has(a[href*='/studentview/show/'])").all():
            row = dict(zip(headers, [c.strip() for c in tr.locator("td").all_inner_texts()]))
            row["_pk"] = tr.locator("a[href*='/studentview/show/']").first.get_attribute("href").rstrip("/").split("/")[-1]
            rows.append(row)
        rows = [r for r in rows if r.get("状态") == "在校"]
        assert rows, page.inner_text("body")[:800]
        student = rows[-1]
        name, number, pk = student["姓名"], student["学籍号"], student["_pk"]
        assert number.startswith("G") and "*" not in number, student
    finally:
        ctx.close()

    # 1. The receiving school asks for the student (学籍管理 → 转入申请).
    ctx, page = _login(browser, base, "school_3601030001")
    try:
        _open_menu(page, "学籍管理", "/transferinview/start")
        page.fill("#name", name)
        page.fill("#number", number)
        page.select_option("#reason_code", "03")
        shots(page, "10-transfer-in-form")
        page.locator("button[type=submit], input[type=submit]").filter(has_text="提交转入申请").first.click()
        page.wait_for_load_state("domcontentloaded")
        body = page.inner_text("body")
        shots(page, "11-transfer-in-submitted")
        m = re.search(r"申请号\s*(\d+)", body)
        assert m and "等待东湖第一小学确认" in body, body[:800]
        request_id = int(m.group(1))
    finally:
        ctx.close()

    # 2.–4. The sending school confirms; the sending county, then the receiving county approve.
    _inbox_decide(browser, base, shots, "school_3601020001", request_id, "12-sending-school-confirms", "同意转出")
    _inbox_decide(browser, base, shots, "county_360102", request_id, "13-sending-county-approves", "情况属实")
    _inbox_decide(browser, base, shots, "county_360103", request_id, "14-receiving-county-approves", "同意接收")

    # 5. The record is at the new school, with its history from before.
    ctx, page = _login(browser, base, "school_3601030001")
    try:
        resp = page.goto(f"{base}/studentview/history/{pk}")
        body = page.inner_text("body")
        shots(page, "15-new-school-history")
        assert resp.status == 200 and name in body and "东湖第一小学" in body and "西湖第一小学" in body, body[:800]
        assert "转学（转入申请）" in body
    finally:
        ctx.close()

    # 6. The old school no longer sees the record, only the trace.
    ctx, page = _login(browser, base, "school_3601020001")
    try:
        resp = page.goto(f"{base}/studentview/show/{pk}")
        assert resp.status == 404 and name not in page.inner_text("body")
        _open_menu(page, "学籍管理", "/departureview/list")
        body = page.inner_text("body")
        shots(page, "16-old-school-departures")
        assert name in body and "西湖区 西湖第一小学" in body, body[:800]
    finally:
        ctx.close()


def test_problem_records_at_each_level(server, browser, shots):
    """The demo's records from the previous system, as each level sees them: the school its own
    records with the other side masked, the county and city their counts, the province its button."""
    seen = {}
    for username in ("school_3601020001", "county_360102", "city_360100", "sheng_admin"):
        ctx, page = _login(browser, server, username)
        try:
            _open_menu(page, "学籍管理", "/problemview/list")
            body = page.inner_text("body")
            shots(page, f"20-problems-{username}")
            assert "问题学籍" in body and "Traceback" not in body, body[:600]
            seen[username] = body
        finally:
            ctx.close()
    school = seen["school_3601020001"]
    assert "身份证号重复" in school and "西湖第一小学" in school and "********" in school, school[:800]
    for officer in ("county_360102", "city_360100"):
        assert "合计" in seen[officer] and "待本单位仲裁" in seen[officer], seen[officer][:800]
    assert "发起检测" in seen["sheng_admin"] and "发起检测" not in seen["city_360100"]


def test_school_year_screens_at_each_level(server, browser, shots):
    """学年与毕业升级 as people meet it: the province's year with its time point, a school's classes and
    graduation page, a county's year-end report; Chinese throughout, nothing of another county."""
    pages = {}
    for username, href, shot in (("sheng_admin", "/schoolyearview/list", "30-years-province"),
                                 ("school_3601020001", "/classview/list", "31-classes-school"),
                                 ("school_3601020001", "/graduationview/list", "32-graduation-school"),
                                 ("county_360102", "/graduateview/list", "33-graduates-county"),
                                 ("county_360102", "/yearendreportview/list", "34-report-county"),
                                 ("sheng_admin", "/promotionview/list", "35-promotions-province")):
        ctx, page = _login(browser, server, username)
        try:
            _open_menu(page, "学年与毕业升级", href)
            body = page.inner_text("body")
            shots(page, shot)
            assert "Traceback" not in body and "Internal Server Error" not in body, body[:600]
            assert not re.search(r"\b(List|Edit|Show|Search|Record|None)\b", body), (shot, body[:800])
            pages[shot] = body
        finally:
            ctx.close()
    years = pages["30-years-province"]
    assert "2026-2027学年" in years and "秋季学期" in years and "8-10 24:00" in years, years[:800]
    assert "1班" in pages["31-classes-school"] and "小学六年级" in pages["31-classes-school"]
    assert "小学六年级" in pages["32-graduation-school"]
    _assert_no_other_county(pages["33-graduates-county"], "毕业生查询")
    _assert_no_other_county(pages["34-report-county"], "学年报告")
    assert "下一次自动升级：2027-08-10 24:00" in pages["35-promotions-province"], pages["35-promotions-province"][:800]


# ---------------------------------------------------------------- 招生入学

DONGHU_JUNIOR = ("school_3601020002", "东湖第一初级中学", "3601020002")
XIHU_JUNIOR = ("school_3601030002", "西湖第一初级中学")
# Latin words a Chinese page may show: product names and file types, nothing of the UI's own.
ALLOWED_LATIN = {"Excel", "xlsx", "xls", "csv", "MB"}


def _assert_chinese(page, where):
    """The visible text is Chinese: no server error, no English word left untranslated."""
    body = page.inner_text("body")
    assert "Traceback" not in body and "Internal Server Error" not in body, (where, body[:800])
    latin = set(re.findall(r"[A-Za-z]{2,}", body)) - ALLOWED_LATIN
    assert not latin, f"{where}: English left on the page: {sorted(latin)}: {body[:800]}"
    return body


def _rows(page, selector):
    """A table's body rows as dicts keyed by its (Chinese) header cells."""
    table = page.locator(selector)
    headers = [h.strip() for h in table.locator("thead tr").first.locator("th").all_inner_texts()]
    return [dict(zip(headers, (c.strip() for c in tr.locator("td").all_inner_texts())))
            for tr in table.locator("tbody tr").all()]


def test_admission_season_walkthrough(server, browser, shots, tmp_path):
    """One admission season in the demo province (2026-2027学年), through the screens only: 东湖区 sets
    a quota, exports its primary graduates and imports the filled workbook as its 招生结果; 东湖第一初级中学
    admits the listed students and one more by 自主招生; 西湖第一初级中学 admits that graduate too (重复招生)
    and withdraws; 东湖区 approves the admissions in bulk; the school puts its new students into classes."""
    import openpyxl
    from playwright.sync_api import expect

    base = server
    school_user, school_name, school_code = DONGHU_JUNIOR
    xihu_user, xihu_name = XIHU_JUNIOR

    # 1.–2. The county: 招生计划 (a quota changed), 导出招生Excel, the filled workbook imported as 招生结果.
    ctx, page = _login(browser, base, COUNTY_USER)
    try:
        _open_menu(page, "招生入学", "/planview/list")
        body = _assert_chinese(page, "招生计划")
        shots(page, "40-county-plans")
        assert "招生计划" in body and "2026-2027学年" in body, body[:800]
        _assert_no_other_county(body, "招生计划")
        plans = _rows(page, "#plans")
        assert plans and all(r["学校"].startswith("东湖") and not r["学校"].isdigit() for r in plans), plans
        row = page.locator("#plans tbody tr", has_text=school_name).filter(has_text="初中一年级")
        old = int(row.locator("input[name=quota]").input_value())
        total_before = int(page.locator("#plans tfoot th").nth(1).inner_text())
        row.locator("input[name=quota]").fill(str(old + 5))
        row.locator("button[type=submit]").click()
        page.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(page, "招生计划 saved")
        shots(page, "41-county-plan-changed")
        assert f"已将{school_name}初中一年级招生计划数设为 {old + 5} 人" in body, body[:800]
        row = page.locator("#plans tbody tr", has_text=school_name).filter(has_text="初中一年级")
        assert row.locator("input[name=quota]").input_value() == str(old + 5)
        assert int(page.locator("#plans tfoot th").nth(1).inner_text()) == total_before + 5
        quota = old + 5

        _open_menu(page, "招生入学", "/admissionexportview/list")
        body = _assert_chinese(page, "导出招生Excel")
        shots(page, "42-county-export")
        m = re.search(r"共 (\d+) 名毕业生，其中已录取 0 人、录取待核办 0 人", body)
        assert m and int(m.group(1)) >= 4 and "当前招生学年：2026-2027学年" in body, body[:800]
        _assert_no_other_county(body, "导出招生Excel")
        graduates = int(m.group(1))
        with page.expect_download() as info:
            page.locator("form.export-workbook button[type=submit]").click()
        download = info.value
        assert download.suggested_filename.endswith(".xlsx") and "小学毕业生招生名单" in download.suggested_filename
        exported = tmp_path / "export.xlsx"
        download.save_as(exported)
        assert exported.stat().st_size > 0
        wb = openpyxl.load_workbook(exported)
        ws = wb.worksheets[0]
        header = [c.value for c in ws[1]]
        assert header[:2] == ["个人标识码(学籍号)", "学生姓名"] and "录取学校标识码" in header and "教育阶段" in header, header
        col = {h: i for i, h in enumerate(header)}
        data = [r for r in ws.iter_rows(min_row=2, values_only=True) if r[0]]
        assert len(data) == graduates, (len(data), graduates)
        assert all(r[col["毕业学校名称"]].startswith("东湖") and r[col["教育阶段"]] == "初中" for r in data), data[:3]
        assert all(r[0].startswith("G") and "*" not in r[0] for r in data), data[:3]
        listed = [(r[0], r[1]) for r in data[:3]]          # the admission office's result: 3 to 东湖第一初级中学
        extra_number, extra_name = data[3][0], data[3][1]  # one more, admitted by 自主招生 below
        for i in range(2, 5):
            ws.cell(i, col["录取学校标识码"] + 1).value = school_code
        ws.delete_rows(5, ws.max_row)
        result = tmp_path / "招生结果.xlsx"
        wb.save(result)

        _open_menu(page, "招生入学", "/admissionlistview/list")
        body = _assert_chinese(page, "招生结果管理")
        assert "招生结果管理" in body and "没有符合条件的名单记录" in body, body[:800]
        page.locator("a", has_text="Excel 导入招生结果").first.click()
        page.wait_for_load_state("domcontentloaded")
        _assert_chinese(page, "导入招生结果")
        page.set_input_files("#import-file", str(result))
        shots(page, "43-county-import-form")
        page.click("#import-submit")
        page.wait_for_load_state("domcontentloaded")
        body = page.inner_text("body")
        m = re.search(r"已提交导入任务 #(\d+)", body)
        assert m and "/jobview/list" in page.url, body[:800]
        job = page.locator("#job-progress tr", has_text=f"#{m.group(1)} ")
        expect(job).to_contain_text(re.compile("已完成|失败"), timeout=30_000)
        body = _assert_chinese(page, "我的任务")
        shots(page, "44-county-import-done")
        assert "已完成" in job.inner_text() and "全部导入成功（新增 3 人" in job.inner_text(), body[:800]

        _open_menu(page, "招生入学", "/admissionlistview/list")
        body = _assert_chinese(page, "招生结果管理 imported")
        shots(page, "45-county-admission-list")
        assert "名单共 3 名：待录取 3 名，录取待核办 0 名，已录取 0 名" in body, body[:800]
        rows = _rows(page, "#list-rows")
        assert sorted((r["学籍号"], r["姓名"]) for r in rows) == sorted(listed), rows
        assert all(r["录取学校"] == school_name and r["录取年级"] == "初中一年级" and r["状态"] == "待录取" for r in rows)
    except Exception:
        shots(page, "99-admission-county-failure")
        raise
    finally:
        ctx.close()

    # 3. 东湖第一初级中学: 统一招生录取 of the listed students, then 自主招生 of one more graduate.
    ctx, page = _login(browser, base, school_user)
    try:
        _open_menu(page, "招生入学", "/admissionlistview/list")
        body = _assert_chinese(page, "统一招生录取")
        shots(page, "46-school-unified-list")
        assert "统一招生录取" in body and f"初中一年级招生计划数 {quota} 人，已录取 0 人，待核办 0 人" in body, body[:800]
        assert sorted(r["姓名"] for r in _rows(page, "#list-rows")) == sorted(n for _no, n in listed)
        page.check("#check-all")
        page.click("#admit-button")
        page.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(page, "统一招生录取 admitted")
        shots(page, "47-school-unified-admitted")
        assert "已录取 3 名学生，录取申请已提交县（区）教育局核办（新生录取核办）" in body, body[:800]
        assert "没有待录取的学生" in body and f"已录取 0 人，待核办 3 人，剩余 {quota - 3} 人" in body, body[:800]

        _open_menu(page, "招生入学", "/selfadmissionview/list")
        _assert_chinese(page, "自主招生")
        page.fill("#f-number", extra_number)
        page.fill("#f-name", extra_name)
        page.fill("#f-score", "96.5")
        page.fill("#f-reason", "学生志愿")
        shots(page, "48-school-self-admission-form")
        page.locator("#self-admit button[type=submit]").click()
        page.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(page, "自主招生 admitted")
        shots(page, "49-school-self-admitted")
        assert f"已录取 {extra_name}（初中一年级）" in body and "跨县（区）" not in body, body[:800]
        mine = [r for r in _rows(page, "#admissions") if r.get("姓名") == extra_name]
        assert mine and mine[0]["状态"] == "录取待核办" and mine[0]["毕业学校"] == "东湖第一小学", mine
    except Exception:
        shots(page, "99-admission-school-failure")
        raise
    finally:
        ctx.close()

    # 4. 西湖第一初级中学 admits the same graduate: a 重复招生 both schools see; 西湖 withdraws.
    xctx, xpage = _login(browser, base, xihu_user)
    try:
        _open_menu(xpage, "招生入学", "/selfadmissionview/list")
        xpage.fill("#f-number", extra_number)
        xpage.fill("#f-name", extra_name)
        xpage.locator("#self-admit button[type=submit]").click()
        xpage.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(xpage, "自主招生 西湖")
        shots(xpage, "50-xihu-self-admitted")
        assert f"已录取 {extra_name}（初中一年级）" in body and "还需生源地县（区）（东湖区教育体育局）核办" in body, body[:800]
        _open_menu(xpage, "招生入学", "/duplicateadmissionview/list")
        body = _assert_chinese(xpage, "重复招生 西湖")
        shots(xpage, "51-xihu-duplicates")
        case = xpage.locator("#duplicates tbody tr", has_text=extra_name)
        assert case.count() == 1, body[:800]
        assert school_name in case.inner_text() and xihu_name in case.inner_text() and "待学校处理" in case.inner_text()

        ctx, page = _login(browser, base, school_user)
        try:
            _open_menu(page, "招生入学", "/admissionview/list")
            body = _assert_chinese(page, "录取管理 东湖")
            shots(page, "52-school-admissions-duplicate")
            row = page.locator("#admissions tbody tr", has_text=extra_name)
            assert row.count() == 1 and "重复招生" in row.inner_text() and "待核办" in row.inner_text(), body[:800]
            assert "重复招生（已解决）" not in row.inner_text()
            _open_menu(page, "招生入学", "/duplicateadmissionview/list")
            body = _assert_chinese(page, "重复招生 东湖")
            shots(page, "53-school-duplicates")
            seen = page.locator("#duplicates tbody tr", has_text=extra_name)
            assert seen.count() == 1 and xihu_name in seen.inner_text() and "本校" in seen.inner_text(), body[:800]
        finally:
            ctx.close()

        case.locator("a", has_text="查看").click()
        xpage.wait_for_load_state("domcontentloaded")
        _assert_chinese(xpage, "重复招生详情")
        shots(xpage, "54-xihu-duplicate-case")
        xpage.locator("#duplicate-admissions tbody tr", has_text=xihu_name).locator("a", has_text="撤销").click()
        xpage.wait_for_load_state("domcontentloaded")
        _assert_chinese(xpage, "撤销录取")
        xpage.fill("#reason", "学生选择到东湖第一初级中学就读")
        shots(xpage, "55-xihu-withdraw-form")
        xpage.locator("form button[type=submit]", has_text="撤销录取").click()
        xpage.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(xpage, "重复招生 resolved")
        shots(xpage, "56-xihu-case-resolved")
        assert f"已撤销 {extra_name} 的录取，招生计划名额已释放" in body, body[:800]
        info = xpage.inner_text("#duplicate-info")
        assert "已解决" in info and f"{school_name}的录取继续核办" in info, info
        ours = xpage.locator("#duplicate-admissions tbody tr", has_text=xihu_name).inner_text()
        assert "已撤销" in ours and "学生选择到东湖第一初级中学就读" in ours, ours
    except Exception:
        shots(xpage, "99-admission-xihu-failure")
        raise
    finally:
        xctx.close()

    # 5. 东湖区 approves the four admissions waiting at it, in bulk (新生录取核办).
    names = sorted([n for _no, n in listed] + [extra_name])
    ctx, page = _login(browser, base, COUNTY_USER)
    try:
        inbox = int(re.search(r"审批（(\d+)）", page.inner_text(".navbar")).group(1))
        _open_menu(page, "招生入学", "/admissionview/list")
        page.check("input[name=todo]")
        page.locator("form.well button[type=submit]", has_text="查询").click()
        page.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(page, "录取管理 county")
        _assert_no_other_county(body, "录取管理")
        rows = _rows(page, "#admissions")
        assert sorted(r["姓名"] for r in rows) == names, rows
        assert all(r["状态"].startswith("待核办") and r["当前核办单位"].startswith(COUNTY_UNIT) for r in rows), rows
        assert "重复招生（已解决）" in next(r["状态"] for r in rows if r["姓名"] == extra_name)
        page.check("#check-all")
        page.fill("#bulk-comment", "材料齐全，同意录取")
        shots(page, "57-county-bulk-approve")
        page.once("dialog", lambda d: d.accept())
        page.click("#bulk-approve")
        page.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(page, "录取管理 approved")
        shots(page, "58-county-approved")
        assert "已核办通过 4 名学生的录取" in body and "未能核办通过" not in body, body[:800]
        assert "没有符合条件的录取" in body, body[:800]   # nothing left waiting at 东湖区
        left = re.search(r"审批（(\d+)）", page.inner_text(".navbar"))
        assert (int(left.group(1)) if left else 0) == inbox - 4, (inbox, page.inner_text(".navbar"))
        page.goto(f"{base}/admissionview/list/?state=admitted")
        assert sorted(r["姓名"] for r in _rows(page, "#admissions")) == names
    except Exception:
        shots(page, "99-admission-approve-failure")
        raise
    finally:
        ctx.close()

    # 6. 东湖第一初级中学 puts its new students into classes: 班级管理, 自动分班 (preview, 确认分班), the print page.
    ctx, page = _login(browser, base, school_user)
    try:
        _open_menu(page, "招生入学", "/classassignmentview/list")
        body = _assert_chinese(page, "学生分班")
        shots(page, "59-school-class-assignment")
        pending = _rows(page, "#pending")
        assert sorted(r["姓名"] for r in pending) == names, pending
        assert all(r["毕业学校"] == "东湖第一小学" and r["性别"] in ("男", "女") for r in pending), pending
        existing = [r["班级"] for r in _rows(page, "#classes")]   # the demo's 2026级 classes, full already
        # 班级管理: two new classes of 初中一年级 for the newcomers.
        _open_menu(page, "学年与毕业升级", "/classview/list")
        page.select_option("#f-grade", "21")
        page.fill("#f-count", "2")
        page.fill("#f-teachers", "王老师、李老师")
        page.locator("#add-classes button[type=submit]").click()
        page.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(page, "班级管理")
        shots(page, "60-school-classes-added")
        m = re.search(r"已在初中一年级增加 2 个班：(\d+班)、(\d+班)", body)
        assert m, body[:800]
        new_classes = [m.group(1), m.group(2)]
        assert not set(new_classes) & set(existing), (new_classes, existing)

        # 自动分班 into the new classes only: 2 + 2, the boys spread, previewed before anything is written.
        _open_menu(page, "招生入学", "/classassignmentview/list")
        for r in _rows(page, "#classes"):
            if r["班级"] in existing:
                page.locator("#classes tbody tr").filter(has=page.get_by_text(r["班级"], exact=True)) \
                    .locator("input[name=class_id]").uncheck()
        page.fill("#f-seed", "2026")
        page.click("#auto-preview")
        page.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(page, "自动分班预览")
        shots(page, "61-school-auto-preview")
        boys = sum(1 for r in pending if r["性别"] == "男")
        summary = page.inner_text("#summary")
        assert f"共 4 名学生（男 {boys}，女 {4 - boys}）分入 2 个班" in summary, summary
        assert "各班人数最多相差 0 人" in summary and "男生人数最多相差 {} 人".format(boys % 2) in summary, summary
        assert "随机种子：2026" in summary
        headers = page.locator("#balance thead").inner_text()
        assert "分班前" in headers and "本次分入" in headers and "分班后" in headers and "男" in headers and "女" in headers
        balance = {}
        for tr in page.locator("#balance tbody tr").all():
            cells = [c.strip() for c in tr.locator("td").all_inner_texts()]
            balance[cells[0]] = {"added": int(cells[6]), "after": int(cells[8]), "boys": int(cells[9]),
                                 "girls": int(cells[10])}
        assert sorted(balance) == sorted(new_classes), balance
        assert all(b["added"] == b["after"] == 2 and b["boys"] + b["girls"] == 2 for b in balance.values()), balance
        assert sum(b["boys"] for b in balance.values()) == boys, balance
        assignments = _rows(page, "#assignments")
        assert sorted(r["姓名"] for r in assignments) == names, assignments
        page.click("#apply")
        page.wait_for_load_state("domcontentloaded")
        body = _assert_chinese(page, "确认分班")
        shots(page, "62-school-assigned")
        assert "分班完成：4 名学生已分入 2 个班（随机种子 2026）" in body, body[:800]
        assert "没有待分班的学生" in body
        after = {r["班级"]: r for r in _rows(page, "#classes")}
        assert all(after[c]["人数"] == "2" for c in new_classes), after

        target = assignments[0]["分入班级"]
        short = target.replace("初中一年级", "")
        row = page.locator("#classes tbody tr").filter(has=page.get_by_text(short, exact=True))
        link = row.locator("a", has_text="名单")
        href = link.get_attribute("href")
        page.goto(base + href)
        body = _assert_chinese(page, "分班名单")
        shots(page, "63-school-class-roster")
        assert f"{school_name} {target}学生名单" in body and "打印" in body, body[:800]
        mates = sorted(r["姓名"] for r in assignments if r["分入班级"] == target)
        printed = _rows(page, f"#roster-{href.rstrip('/').split('/')[-1]}")
        assert sorted(r["姓名"] for r in printed) == mates and all(r["学籍号"].startswith("G") for r in printed), printed
        assert "人数 2（男" in body, body[:800]
    except Exception:
        shots(page, "99-admission-classes-failure")
        raise
    finally:
        ctx.close()
