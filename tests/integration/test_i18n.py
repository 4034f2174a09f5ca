"""Chinese first, English on request.

1. The catalogues: every message extracted from our sources (babel.cfg) has a real, non-fuzzy
   translation in translations/zh and translations/en. Adding a string without a translation fails
   here; scripts/update_translations.sh updates the catalogues (docs/i18n.md).
2. The screens: a crawler logs in as each kind of user, opens every menu page and the
   list/show/add/edit pages of every view (plus login, home, password, search widget, flash
   messages and an error page) and fails on any English word a user can see under the default
   locale: text, title/placeholder/aria-label/alt attributes, button values, <option> texts, and
   the labels of FAB's search-filter widget. `?_l_=en` must switch the same screens to English.
"""
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
FAB_MARK = "FAB override"


# --------------------------------------------------------------------------- catalogues

def _extracted():
    """msgid -> [locations] of every message in our sources, as pybabel extract -F babel.cfg sees them."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def _catalog(lang):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def test_extraction_finds_our_strings():
    found = _extracted()
    # Python (lazy_gettext as _l), Jinja2 templates and model enums are all covered by babel.cfg.
    assert "机构与学校" in found and "导出 Excel" in found and "排队中" in found
    assert len(found) > 100


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_message_is_translated(lang):
    catalog = _catalog(lang)
    problems = []
    for msgid, where in sorted(_extracted().items()):
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"missing   {msgid!r}  ({where[0]})")
        elif entry.fuzzy:
            problems.append(f"fuzzy     {msgid!r}  ({where[0]})")
        elif not (entry.string if isinstance(entry.string, str) else all(entry.string)):
            problems.append(f"empty     {msgid!r}  ({where[0]})")
    assert not problems, (
        f"translations/{lang}/LC_MESSAGES/messages.po lacks translations; run "
        "scripts/update_translations.sh and fill them in:\n" + "\n".join(problems)
    )


def test_catalogues_are_clean():
    for lang in ("zh", "en"):
        catalog = _catalog(lang)
        assert not [m.id for m in catalog if m.id and m.fuzzy], f"{lang}: fuzzy entries"
        assert not [m.id for m in catalog if m.id and not m.string], f"{lang}: empty entries"
        assert not catalog.obsolete, f"{lang}: obsolete (#~) entries"
        for m in catalog:
            # Flask-Babel's lazy strings render as markup (LazyString.__html__): no raw HTML characters.
            texts = [m.string] if isinstance(m.string, str) else list(m.string)
            assert not [t for t in texts if re.search(r"[<>&]", t)], (lang, m.id, "use words, not < > &")
            # Placeholders survive translation.
            if m.id and isinstance(m.id, str):
                names = sorted(re.findall(r"%\((\w+)\)s", m.id))
                assert names == sorted(re.findall(r"%\((\w+)\)s", m.string)), (lang, m.id)
    zh = _catalog("zh")
    fab = [m for m in zh if m.id and any(FAB_MARK in c for c in m.user_comments)]
    assert len(fab) > 20, "the zh catalogue must keep its Flask-AppBuilder override section"
    for m in fab:
        text = m.string if isinstance(m.string, str) else "".join(m.string)
        assert re.search(r"[\u4e00-\u9fff]", text), f"FAB override without Chinese: {m.id!r}"


def test_our_catalogue_overrides_fab(app):
    """Flask-Babel merges FAB's catalogue first and ours after it: ours wins on the same msgid."""
    from flask_babel import gettext, refresh

    with app.test_request_context("/?_l_=zh"):
        refresh()
        assert gettext("Add") == "新增"                  # FAB's zh catalogue lacks it
        assert gettext("Record Count") == "记录数"       # FAB has "记录数目": ours overrides
        assert gettext("机构与学校") == "机构与学校"
    with app.test_request_context("/?_l_=en"):
        refresh()
        assert gettext("Add") == "Add"
        assert gettext("机构与学校") == "Organisations and Schools"


# --------------------------------------------------------------------------- screens

# Latin words a Chinese user may legitimately see.
ALLOWED_WORDS = {"Excel", "API", "ID", "English"}
ALLOWED_TOKEN = re.compile(
    r"^(admin|sheng_admin|sheng_viewer|(city|county|school)_\d+"  # demo user names
    r"|[\w.+-]+@[\w-]+(\.[\w-]+)+"                                 # e-mail addresses
    r"|[\w-]+\.xlsx)$"                                             # result files
)
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_.@+-]*")
WORD = re.compile(r"[A-Za-z]{3,}")
SHOWN_ATTRS = ("title", "placeholder", "aria-label", "alt", "data-placeholder", "data-original-title")
FILTER_SCRIPT = re.compile(r"new AdminFilters\(\s*'#filter_form',", re.S)


def english_words(text):
    words = []
    for token in TOKEN.findall(text):
        token = token.rstrip(".-")
        if ALLOWED_TOKEN.match(token):
            continue
        words += [w for w in WORD.findall(token) if w not in ALLOWED_WORDS]
    return words


class VisibleText(HTMLParser):
    """What a user can read: text outside <script>/<style>, shown attributes, button values,
    option texts; plus the labels and filter names that FAB's search widget builds in JS."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.items = []  # (where, text)
        self._skip = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self._skip.append(tag)
        for name in SHOWN_ATTRS:
            if attrs.get(name):
                self.items.append((f"<{tag} {name}>", attrs[name]))
        if tag == "input" and attrs.get("type") in ("submit", "button", "reset") and attrs.get("value"):
            self.items.append((f"<{tag} value>", attrs["value"]))

    def handle_endtag(self, tag):
        if self._skip and tag == self._skip[-1]:
            self._skip.pop()

    def handle_data(self, data):
        if self._skip:
            if self._skip[-1] == "script":
                self._search_widget(data)
            return
        if data.strip():
            self.items.append(("text", data.strip()))

    def _search_widget(self, script):
        match = FILTER_SCRIPT.search(script)
        if not match:
            return
        decoder, pos, args = json.JSONDecoder(), match.end(), []
        for _ in range(3):  # label_columns, form_fields, search_filters
            while script[pos] in " \t\r\n,":
                pos += 1
            value, pos = decoder.raw_decode(script, pos)
            args.append(value)
        labels, form_fields, search_filters = args
        for label in labels.values():
            self.items.append(("search label", str(label)))
        for field_html in form_fields.values():
            inner = VisibleText()
            inner.feed(field_html)
            self.items += [(f"search field {w}", t) for w, t in inner.items]
        for filters in search_filters.values():
            for name in filters:
                self.items.append(("search filter", str(name)))


def visible(html):
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return parser.items


def english_on(html):
    return [(where, text, words) for where, text in visible(html) if (words := english_words(text))]


def test_visible_text_parser():
    html = """<html><head><title>标题</title><style>.x{color:red}</style></head><body>
    <script>var hidden = "Not shown";</script>
    <a title="Edit record"><span class="sr-only">Edit</span></a>
    <input placeholder="Search"><input type="submit" value="Save">
    <select><option value="__None">__None</option><option>东湖区</option></select>
    <p>账号 county_360102（county_360102@demo.invalid）导出 Excel</p></body></html>"""
    found = {text for _where, text, _words in english_on(html)}
    assert found == {"Edit record", "Edit", "Search", "Save", "__None"}


ANONYMOUS_PAGES = ["/login/"]


def _links(html, pattern):
    return list(dict.fromkeys(re.findall(pattern, html)))


def _menu_links(html):
    return [h for h in _links(html, r'href="(/[a-z]+view/list/)"')]


def _pages_of(client, home_html):
    """Every menu page, and for each view its list page and the first show/add/edit pages."""
    pages = ["/", "/password/change"]
    for list_url in _menu_links(home_html):
        prefix = list_url[: -len("list/")]
        pages.append(list_url)
        html = client.get(list_url).get_data(as_text=True)
        for kind in ("show", "edit"):
            pages += _links(html, rf'href="({re.escape(prefix)}{kind}/[^"?]+)')[:1]
        pages += _links(html, rf'href="({re.escape(prefix)}add)"')[:1]
        # Second page (pagination widget with page links) where there is one.
        pages += _links(html, rf'href="({re.escape(prefix)}list/\?[^"]*page_[^"]*)"')[:1]
    return list(dict.fromkeys(pages))


def _add_job(app, username):
    import datetime

    from app.extensions import db
    from app.models.job import Job, JobState
    from tests.conftest import account

    with app.app_context():
        user = account(db.session, username)
        now = datetime.datetime.now()
        db.session.add(Job(kind="export_org_units", actor_id=user.id, state=JobState.FINISHED, progress=100,
                           message="已导出 3 条", params={}, created_at=now, started_at=now, finished_at=now))
        db.session.commit()


USERS = ["admin", "sheng_admin", "county_360102", "school_3601020001", "sheng_viewer"]


@pytest.mark.parametrize("username", USERS)
def test_screens_show_no_english(app, as_user, username):
    _add_job(app, username)
    client = as_user(username)
    home = client.get("/").get_data(as_text=True)
    assert _menu_links(home), "no menu links found on the home page"
    pages = _pages_of(client, home)
    problems = []
    for url in pages:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        problems += [f"{url}  {where}: {text!r}" for where, text, _ in english_on(resp.get_data(as_text=True))]
    assert not problems, f"English words on {username}'s screens:\n" + "\n".join(sorted(set(problems)))
    if username == "admin":  # the crawl really reached every kind of page
        expected = [f"/{v}/{k}" for v in ("orgunitview", "accountview") for k in ("list/", "show/", "edit/", "add")]
        expected += [f"/{v}/{k}" for v in ("regionview", "auditlogview", "jobview") for k in ("list/", "show/")]
        missing = [e for e in expected if not any(url.startswith(e) for url in pages)]
        assert not missing, f"crawler did not reach {missing}"


def test_login_and_error_pages_show_no_english(client):
    problems = []
    for url in ANONYMOUS_PAGES:
        resp = client.get(url)
        assert resp.status_code == 200
        problems += [f"{url}  {w}: {t!r}" for w, t, _ in english_on(resp.get_data(as_text=True))]
    resp = client.post("/login/", data={"username": "county_360102", "password": "wrong"}, follow_redirects=True)
    problems += [f"failed login  {w}: {t!r}" for w, t, _ in english_on(resp.get_data(as_text=True))]
    resp = client.get("/no/such/page")
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    assert "页面不存在" in html and "navbar" in html  # the full page, not the bare fallback
    problems += [f"404  {w}: {t!r}" for w, t, _ in english_on(html)]
    assert not problems, "\n".join(problems)


def test_error_pages_for_logged_in_users_show_no_english(as_user):
    client = as_user("county_360102")
    problems = []
    for url, status, title in [("/no/such/page", 404, "页面不存在"), ("/orgunitview/show/999999", 404, "页面不存在"),
                               ("/auditlogview/add", 403, "没有权限")]:  # FAB aborts 403 for logged-in users
        resp = client.get(url)
        assert resp.status_code == status, url
        assert title in resp.get_data(as_text=True) and "navbar" in resp.get_data(as_text=True), url
        problems += [f"{url}  {w}: {t!r}" for w, t, _ in english_on(resp.get_data(as_text=True))]
    assert not problems, "\n".join(problems)


def test_flash_messages_and_filters_are_chinese(as_user):
    from app.extensions import db  # noqa: F401

    client = as_user("county_360102")
    problems = []

    def check(label, resp):
        assert resp.status_code == 200, label
        problems.extend(f"{label}  {w}: {t!r}" for w, t, _ in english_on(resp.get_data(as_text=True)))
        return resp.get_data(as_text=True)

    # A search with an active filter (the filter widget renders it server side).
    check("search", client.get("/orgunitview/list/?_flt_0_name=东湖"))
    check("search region", client.get("/regionview/list/?_flt_0_code=3601"))
    # Edit a school without changes: FAB's "Changed Row" flash.
    html = client.get("/orgunitview/list/?_flt_0_school_code=3601020001").get_data(as_text=True)
    pk = re.search(r'href="/orgunitview/edit/(\d+)', html).group(1)
    form = {"name": "东湖第一小学", "school_code": "3601020001", "school_type": "primary",
            "ownership": "public", "address": "东湖", "may_enroll": "y", "active": "y"}
    html = check("edit", client.post(f"/orgunitview/edit/{pk}", data=form, follow_redirects=True))
    assert "alert-success" in html or "alert-danger" in html
    # A bulk action with nothing selected.
    check("action", client.post("/orgunitview/action_post", data={"action": "deactivate"}, follow_redirects=True))
    # Access denied: FAB flashes "Access is Denied" to anonymous users and sends them to the login page.
    html = check("denied", client.application.test_client().get("/orgunitview/list/", follow_redirects=True))
    assert "访问被拒绝" in html
    assert not problems, "\n".join(problems)


def test_validation_messages_are_chinese(as_user):
    """WTForms/FAB validation messages go through WTForms' catalogue, with ours merged over it."""
    client = as_user("county_360102")
    problems = []
    for url, data in [
        ("/accountview/add", {"username": "", "org_unit": "abc", "roles": ["无此角色"]}),
        ("/password/change", {"old_password": "", "password": "", "confirm": ""}),
        ("/orgunitview/add", {"kind": "school", "name": "某校", "parent": "999999"}),
    ]:
        resp = client.post(url, data=data)
        assert resp.status_code == 200, url
        html = resp.get_data(as_text=True)
        problems += [f"{url}  {w}: {t!r}" for w, t, _ in english_on(html)]
    assert "该字段是必填字段" in client.post("/password/change", data={}).get_data(as_text=True)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- English on request

def test_english_switch(as_user):
    client = as_user("county_360102")
    zh = client.get("/orgunitview/list/").get_data(as_text=True)
    assert "机构与学校" in zh and "Organisations and Schools" not in zh
    en = client.get("/orgunitview/list/?_l_=en").get_data(as_text=True)
    assert "Organisations and Schools" in en       # menu and title
    assert "Administration" in en and "My Jobs" in en
    assert "Add Filter" in en
    assert "系统管理" not in en
    # The language menu (LocaleView) sticks for the session.
    client.get("/lang/en")
    en = client.get("/").get_data(as_text=True)
    assert "Change password" in en and "Hello," in en
    client.get("/lang/zh")
    zh = client.get("/").get_data(as_text=True)
    assert "修改密码" in zh and "Change password" not in zh


def test_english_login_page(client):
    html = client.get("/login/?_l_=en").get_data(as_text=True)
    assert "Sign in" in html and "User name" in html


# --------------------------------------------------------------------------- registry screens

def _registry_world(app):
    """Students in every state the registry screens show: 在校 with an open 误操作删除 request,
    and a rejected registration (重新提交)."""
    import datetime

    from app.extensions import db
    from app.services import requests as engine, students
    from app.services.identity import build_id_number
    from tests.conftest import account

    with app.app_context():
        school, county = account(db.session, "school_3601020001"), account(db.session, "county_360102")
        ids = []
        for seq, name in [(11, "张小明"), (13, "李小华")]:
            born = datetime.date(2019, 3, 1)
            data = {"name": name, "gender": "1", "birth_date": born, "id_type": "1",
                    "id_number": build_id_number("360102", born, seq), "ethnicity": "01", "grade": "11",
                    "class_name": "一班", "birthplace_code": "360102", "only_child": True}
            student, req, _ = students.register_student(
                db.session, school, data, [{"name": "家长", "relation": "51", "phone": "13900001111"}])
            ids.append((student.id, req.id))
        engine.approve(db.session, county, ids[0][1])
        engine.reject(db.session, county, ids[1][1], "班级填写有误")
        students.request_deletion(db.session, school, ids[0][0], "重复建籍")
        db.session.commit()
        return ids[0][0], ids[1][0]


def test_registry_screens_show_no_english(app, as_user):
    in_school, rejected = _registry_world(app)
    pages = {
        "school_3601020001": ["/studentview/list/", f"/studentview/show/{in_school}", f"/studentview/show/{rejected}",
                              f"/studentview/edit/{in_school}", f"/studentview/key_change/{in_school}",
                              f"/studentview/request_deletion/{in_school}", f"/studentview/resubmit/{rejected}",
                              "/studentview/register", "/lookupview/lookup", "/studentview/list/?_flt_0_status=in_school"],
        "county_360102": ["/studentview/list/", f"/studentview/show/{in_school}", "/lookupview/lookup"],
        "sheng_viewer": ["/studentview/list/", f"/studentview/show/{in_school}"],
    }
    posts = {"school_3601020001": [
        ("/lookupview/lookup", {"name": "张小明", "id_number": "360102201903010113"}),
        ("/lookupview/lookup", {"name": "王五", "id_number": "110101201001010011"}),
        ("/studentview/register", {"name": "王五", "gender": "2", "birth_date": "2030-01-01"}),
        (f"/studentview/edit/{in_school}", {"version": "0", "class_name": "二班", "nationality": "CHN", "hmt_overseas": "00"}),
    ]}
    problems = []
    for username, urls in pages.items():
        client = as_user(username)
        for url in urls:
            resp = client.get(url)
            assert resp.status_code == 200, (username, url, resp.status_code)
            problems += [f"{username} {url}  {w}: {t!r}" for w, t, _ in english_on(resp.get_data(as_text=True))]
        for url, data in posts.get(username, []):
            resp = client.post(url, data=data, follow_redirects=True)
            assert resp.status_code == 200, (username, url, resp.status_code)
            problems += [f"{username} POST {url}  {w}: {t!r}" for w, t, _ in english_on(resp.get_data(as_text=True))]
    assert not problems, "English words on the registry screens:\n" + "\n".join(sorted(set(problems)))
    en = as_user("school_3601020001").get(f"/studentview/show/{in_school}?_l_=en").get_data(as_text=True)
    assert "Student Record" in en and "Guardians" in en and "学籍变动记录" not in en
