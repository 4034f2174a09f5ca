"""考生服务平台 in a real browser on a phone-sized screen (390×844, Debian's Chromium via Playwright).

Starts the real app (`python run.py`, a small demo province) on a free port, registers the
graduating class for a 中考, uploads a photo and issues one activation code through the services
(as the county would on its screens), then a candidate activates, signs out and in again, and reads their pages.
Screenshots: /tmp/zk_portal_*.png (and $SCREENSHOT_DIR when set)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, _free_port, _stop, _tail, world  # noqa: F401

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT = 120
PASSWORD = "Kaoshi#2027x"
PHONE = {"width": 390, "height": 844}
ENGLISH = re.compile(r"\b(Login|Logout|Password|Submit|Home|Scores?|Error|Not Found|Too Many Requests|None)\b")

SETUP = r"""
import io, json
from PIL import Image
from sqlalchemy import select
from app import create_app
from app.extensions import db
from app.models import Account, Candidate
from app.services.zhongkao import accounts, exams, info, registration
app = create_app()
with app.app_context():
    s = db.session
    county = s.scalar(select(Account).where(Account.username == "county_360102"))
    admin = s.scalar(select(Account).where(Account.username == "sheng_admin"))
    exam = exams.current_exam(s) or exams.create_exam(s, admin, {"year": 2027})
    result = registration.register_graduating(s, admin, exam)
    s.commit()
    c = s.scalars(select(Candidate).order_by(Candidate.school_path, Candidate.seq)).first()
    assert c is not None, result
    county = s.scalar(select(Account).where(Account.username == "county_" + c.county.region_code))
    img = Image.new("RGB", (400, 500), (70, 130, 180))
    img.paste((245, 222, 179), (120, 80, 280, 300))
    buf = io.BytesIO(); img.save(buf, "PNG")
    info.save_photo(s, county, c.id, "photo.png", buf.getvalue())
    code = accounts.issue_activation_code(s, county, c)
    s.commit()
    print("ZK-JSON " + json.dumps({"id": c.id, "reg_no": c.reg_no, "id_number": c.id_number, "name": c.name,
                                   "school": c.school.name, "code": code}, ensure_ascii=False))
"""

# Publication: the province's time has come and the candidate has scores (as the import would leave them).
PUBLISH = r"""
import datetime, sys
from app import create_app
from app.extensions import db
from app.models import Candidate, ZkExam, ZkScore, ZkSubject
app = create_app()
with app.app_context():
    s = db.session
    c = s.get(Candidate, int(sys.argv[1]))
    exam = s.get(ZkExam, c.exam_id)
    exam.scores_publish_at = datetime.datetime.now() - datetime.timedelta(hours=1)
    total = 0
    for i, subject in enumerate(exam.subjects):
        score = float(subject.max_score) * (0.9 - i * 0.05)
        s.add(ZkScore(candidate_id=c.id, subject_id=subject.id, score=round(score, 1)))
        total += round(score, 1)
    c.total_score = round(total, 1)
    s.commit()
    print("ZK-TOTAL", c.total_score)
"""


def _env(tmp, port):
    env = dict(os.environ)
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "INSTANCE_DIR": tmp,
                "DATABASE_URL": f"sqlite:///{os.path.join(tmp, 'e2e.db')}", "REDIS_URL": "",
                "LOAD_DEMO": "1", "DEMO_STUDENTS": "3000", "PYTHONUNBUFFERED": "1"})
    env.pop("SECRET_KEY", None)
    return env


@pytest.fixture(scope="module")
def portal():
    """The real app on a free port plus one candidate with a fresh activation code."""
    tmp = tempfile.mkdtemp(prefix="zk-portal-e2e-")
    port = _free_port()
    env = _env(tmp, port)
    log_path = os.path.join(tmp, "server.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with code {proc.returncode}:\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{base}/portal/login", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not answer within {STARTUP_TIMEOUT}s:\n{_tail(log_path)}")
            time.sleep(0.3)
        out = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("ZK-JSON ")), None)
        assert line, f"setup failed:\n{out.stdout}\n{out.stderr[-3000:]}"
        data = json.loads(line[len("ZK-JSON "):])

        def publish():
            out = subprocess.run([sys.executable, "-c", PUBLISH, str(data["id"])], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
            assert "ZK-TOTAL" in out.stdout, out.stderr[-3000:]
            return out.stdout.split("ZK-TOTAL")[1].strip()
        data["publish"] = publish
        yield base, data
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def phone():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(locale="zh-CN", viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
        ctx.set_default_timeout(15_000)
        try:
            yield ctx.new_page()
        finally:
            ctx.close()
            browser.close()


def _shot(page, name):
    path = Path(f"/tmp/zk_portal_{name}.png")
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get("SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)
    return path


def _check_page(page, secrets=()):
    body = page.inner_text("body")
    assert not ENGLISH.search(body), f"English left on {page.url}: {ENGLISH.search(body).group(0)}\n{body[:800]}"
    for secret in secrets:
        assert secret not in body and secret not in page.content(), f"{secret!r} shown on {page.url}"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways on a phone ({width}px)"
    return body


def test_candidate_activates_and_uses_the_portal_on_a_phone(portal, phone):
    base, c = portal
    page = phone
    page.goto(f"{base}/portal/login")
    _check_page(page)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    _shot(page, "01_login")

    # a wrong code first: a clear Chinese message, nothing says which part was wrong
    page.click("text=用激活码激活账号")
    page.fill("#reg_no", c["reg_no"])
    page.fill("#id_number", c["id_number"])
    page.fill("#code", "AAAAAAAA")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    body = _check_page(page)
    assert "报名号、身份证号或激活码不正确" in body
    _shot(page, "02_activate_wrong")

    page.fill("#code", c["code"].lower())
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert page.url.rstrip("/").endswith("/portal"), page.inner_text("body")[:500]
    body = _check_page(page, secrets=(c["code"], c["id_number"], PASSWORD))
    for expected in ("账号已激活", c["name"], c["reg_no"], c["school"], c["id_number"][:6] + "********",
                     "采集中", "待学校审核", "我已核对信息无误", "成绩发布时间尚未确定"):
        assert expected in body, f"{expected} missing on the home page:\n{body[:1500]}"
    assert page.evaluate("document.querySelector('img.photo').naturalWidth") > 0  # own photo rendered
    _shot(page, "03_home")

    page.click("text=我已核对信息无误")
    page.wait_for_load_state("domcontentloaded")
    body = _check_page(page)
    assert "您已核对信息无误" in body and "考生已核对" in body
    _shot(page, "04_checked")

    page.click("nav >> text=成绩查询")
    page.wait_for_load_state("domcontentloaded")
    assert "成绩发布时间尚未确定" in _check_page(page)
    _shot(page, "05_scores")

    # another candidate's photo by URL: the portal's Chinese 404
    page.goto(f"{base}/portal/photo/{c['id'] + 1}")
    assert "页面不存在" in _check_page(page)

    page.goto(f"{base}/portal/")
    page.click("nav >> text=退出")
    page.wait_for_load_state("domcontentloaded")
    assert "您已退出" in _check_page(page)
    page.fill("#reg_no", c["reg_no"])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    body = _check_page(page, secrets=(c["id_number"],))
    assert c["name"] in body and "我的报名信息" in body
    page.click("nav >> text=修改密码")
    page.wait_for_load_state("domcontentloaded")
    _check_page(page)
    _shot(page, "06_password")

    # after publication: the scores, the total and the 复核 form
    total = c["publish"]()
    page.click("nav >> text=成绩查询")
    page.wait_for_load_state("domcontentloaded")
    body = _check_page(page)
    assert "语文" in body and total in body and "申请成绩复核" in body, body[:1500]
    page.select_option("#subject_id", label="数学")
    page.fill("#reason", "选择题得分与估分相差较大，申请复核。")
    page.click("text=提交复核申请")
    page.wait_for_load_state("domcontentloaded")
    body = _check_page(page)
    assert "复核申请已提交" in body and "待复核" in body, body[:1500]
    _shot(page, "07_scores_published")
