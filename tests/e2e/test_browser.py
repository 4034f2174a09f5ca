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
