"""信息采集与确认 screens: list with filters, edit form, photo upload and preview, printing the
报名登记表, 记录签字确认, the change request after the lock through the 审批待办 inbox, 重新发放激活码
shown once; another county's candidate is a 404 by URL; bad input is a Chinese message, no 500."""
import io
import re

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.models import Candidate
from app.models.requests import Request, RequestState
from app.models.zhongkao import InfoState
from app.services.zhongkao import info
from tests.conftest import login
from tests.integration.zk_support import (EAST, JUNIOR, WEST, acc, candidates, ctx, make_exam,  # noqa: F401
                                          populate, register_county, school)

pytestmark = pytest.mark.usefixtures("ctx")

EAST_SCHOOL = f"school_{JUNIOR[EAST]}"
ENGLISH = re.compile(r">\s*(None|List|Show|Edit|Delete|Add|Save|Back|Search|Actions?|True|False)\s*<")


class _OwnContext(FlaskClient):
    """Each request in an application context of its own: the test's context (ctx) would otherwise
    share `g`, and with it the signed-in user, between the clients of different accounts."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def as_user(app):
    def make(username):
        client = _OwnContext(app, app.response_class, use_cookies=True)
        assert login(client, username).status_code == 200
        return client
    return make


def jpeg(w=400, h=560):
    out = io.BytesIO()
    Image.new("RGB", (w, h), (90, 140, 200)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def exam():
    populate(240)
    e = make_exam()
    register_county(e, EAST)
    register_county(e, WEST)
    return e


def fresh(cid):
    db.session.expire_all()
    return db.session.get(Candidate, cid)


def page(resp):
    text = resp.get_data(as_text=True)
    assert not ENGLISH.search(text), ENGLISH.search(text)
    return text


def test_list_filters_and_scope(exam, as_user):
    c = as_user(EAST_SCHOOL)
    east = candidates(EAST)
    r = c.get("/zkinfo/list/")
    assert r.status_code == 200
    text = page(r)
    assert "信息采集与确认" in text and east[0].reg_no in text and "打印本校全部考生的报名登记表" in text
    assert candidates(WEST)[0].reg_no not in text
    info.save_photo(db.session, acc(EAST_SCHOOL), east[0].id, "a.jpg", jpeg())
    db.session.commit()
    text = page(c.get("/zkinfo/list/?photo=yes"))
    assert east[0].reg_no in text and east[1].reg_no not in text
    text = page(c.get("/zkinfo/list/?photo=no&info_state=collecting&school=abc&q=%25"))
    assert east[0].reg_no not in text
    # the city reads, without the buttons
    r = as_user("city_360100").get("/zkinfo/list/")
    assert r.status_code == 200 and "记录签字确认（所选）" not in page(r)


def test_edit_form_saves_and_shows_errors_in_chinese(exam, as_user):
    c = as_user(EAST_SCHOOL)
    cand = candidates(EAST)[0]
    r = c.get(f"/zkinfo/edit/{cand.id}")
    assert r.status_code == 200 and "采集信息" in page(r)
    form = {"version": cand.version, "category": "fresh", "hukou_kind": "local", "intent": "general",
            "phone": "12ab", "guardian_name": "张三", "guardian_relation": "51", "guardian_phone": "13800000000",
            "hukou_code": "360102", "hukou_address": "", "home_address": "东湖区"}
    before = fresh(cand.id).phone
    r = c.post(f"/zkinfo/edit/{cand.id}", data=form)
    assert r.status_code == 422 and "联系电话应为 7–13 位数字" in page(r)
    assert fresh(cand.id).phone == before
    form["phone"] = "13912345678"
    r = c.post(f"/zkinfo/edit/{cand.id}", data=form, follow_redirects=True)
    assert r.status_code == 200 and "已保存" in page(r)
    assert fresh(cand.id).phone == "13912345678"
    # the same (now stale) form again: refused, not overwritten
    form["phone"] = "13900000000"
    r = c.post(f"/zkinfo/edit/{cand.id}", data=form)
    assert r.status_code == 422 and "已被他人修改" in page(r)
    assert fresh(cand.id).phone == "13912345678"


def test_photo_upload_preview_and_bad_files(exam, as_user):
    c = as_user(EAST_SCHOOL)
    cand = candidates(EAST)[0]
    r = c.post(f"/zkinfo/upload/{cand.id}", data={"photo": (io.BytesIO(b"hello, not a picture"), "photo.jpg")},
               content_type="multipart/form-data", follow_redirects=True)
    assert r.status_code == 200 and "不是有效的 JPG/PNG 图片" in page(r)
    assert not fresh(cand.id).has_photo
    r = c.post(f"/zkinfo/upload/{cand.id}", data={"photo": (io.BytesIO(b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024)),
                                                            "huge.jpg")},
               content_type="multipart/form-data", follow_redirects=True)
    assert "不能超过 2 MB" in page(r)
    r = c.post(f"/zkinfo/upload/{cand.id}", data={"photo": (io.BytesIO(jpeg(100, 130)), "small.jpg")},
               content_type="multipart/form-data", follow_redirects=True)
    assert "尺寸太小" in page(r)
    assert c.get(f"/zkinfo/photo/{cand.id}").status_code == 404
    r = c.post(f"/zkinfo/upload/{cand.id}", data={"photo": (io.BytesIO(jpeg()), "me.jpg")},
               content_type="multipart/form-data", follow_redirects=True)
    assert "已保存" in page(r) and f"/zkinfo/photo/{cand.id}" in page(r)
    r = c.get(f"/zkinfo/photo/{cand.id}")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(r.data)).size == (358, 441)


def test_another_county_gets_404_by_url(exam, as_user):
    cand = candidates(EAST)[0]
    info.save_photo(db.session, acc(EAST_SCHOOL), cand.id, "a.jpg", jpeg())
    db.session.commit()
    before = fresh(cand.id).version
    w = as_user(f"county_{WEST}")
    assert w.get(f"/zkinfo/edit/{cand.id}").status_code == 404
    assert w.get(f"/zkinfo/photo/{cand.id}").status_code == 404
    assert w.post(f"/zkinfo/edit/{cand.id}", data={"phone": "13800000000"}).status_code == 404
    assert w.post(f"/zkinfo/upload/{cand.id}", data={"photo": (io.BytesIO(jpeg()), "x.jpg")},
                  content_type="multipart/form-data").status_code == 404
    assert w.post("/zkinfo/confirm", data={"rowid": [cand.id]}).status_code == 404
    assert w.post("/zkinfo/print", data={"rowid": [cand.id]}).status_code == 404
    assert w.post("/zkinfo/print", data={"school": school(JUNIOR[EAST]).id}).status_code == 404
    assert w.post(f"/zkinfo/activation/{cand.id}").status_code == 404
    assert w.post(f"/zkinfo/change/{cand.id}", data={"reason": "x"}).status_code == 404
    assert w.get("/zkinfo/edit/99999999999").status_code == 404
    assert w.post("/zkinfo/confirm", data={"rowid": ["abc"]}).status_code == 404
    c = fresh(cand.id)
    assert c.version == before and c.info_state == InfoState.COLLECTING and c.activation_code_hash is None


def test_print_confirm_change_request_and_activation(exam, as_user, app):
    c = as_user(EAST_SCHOOL)
    a, b = candidates(EAST)[:2]
    # print the selected ones: a PDF download
    r = c.post("/zkinfo/print", data={"rowid": [a.id, b.id]})
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    assert "attachment" in r.headers["Content-Disposition"]
    assert fresh(a.id).activation_code_hash  # codes were issued for the printout
    r = c.post("/zkinfo/print", data={"school": school(JUNIOR[EAST]).id})
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    r = c.post("/zkinfo/print", data={}, follow_redirects=True)
    assert "请先勾选考生" in page(r)

    # confirm: without a photo refused; with one locked; a second click is a message
    r = c.post("/zkinfo/confirm", data={"rowid": [a.id]}, follow_redirects=True)
    assert "还没有照片" in page(r) and fresh(a.id).info_state == InfoState.COLLECTING
    info.save_photo(db.session, acc(EAST_SCHOOL), a.id, "a.jpg", jpeg())
    db.session.commit()
    r = c.post("/zkinfo/confirm", data={"rowid": [a.id]}, follow_redirects=True)
    text = page(r)
    assert "已记录 1 名考生的签字确认" in text and "尚未在考生服务平台核对信息" in text
    assert fresh(a.id).locked
    r = c.post("/zkinfo/confirm", data={"rowid": [a.id]}, follow_redirects=True)
    assert r.status_code == 200 and "无需重复确认" in page(r)

    # locked: the form is disabled with the notice, an edit post is refused and nothing changes
    text = page(c.get(f"/zkinfo/edit/{a.id}"))
    assert "考生信息已签字确认并锁定" in text and "提交信息变更申请" in text and "<fieldset disabled>" in text
    old = fresh(a.id).phone
    r = c.post(f"/zkinfo/edit/{a.id}", data={"phone": "13711112222", "version": fresh(a.id).version})
    assert r.status_code == 422 and "已签字确认并锁定" in page(r)
    assert fresh(a.id).phone == old

    # change request: the form, then the county's inbox shows before → after, approval applies it
    form = {k: v for k, _l, _kind, _ch, v, _m in __import__("app.views.zhongkao.info", fromlist=["x"])._field_rows(
        fresh(a.id))}
    form.update({"guardian_phone": "13600000000", "reason": ""})
    r = c.post(f"/zkinfo/change/{a.id}", data=form)
    assert r.status_code == 422 and "请填写变更理由" in page(r)
    form["reason"] = "监护人换号"
    form["evidence"] = (io.BytesIO(b"%PDF-1.4 proof"), "证明.pdf")
    r = c.post(f"/zkinfo/change/{a.id}", data=form, content_type="multipart/form-data", follow_redirects=True)
    assert "已提交信息变更申请" in page(r)
    req = db.session.scalar(select(Request).where(Request.type == info.CHANGE))
    assert req.state == RequestState.PENDING
    assert "尚未办结的信息变更申请" in page(c.get(f"/zkinfo/edit/{a.id}"))
    county = as_user(f"county_{EAST}")
    r = county.get("/inboxview/list/")
    assert r.status_code == 200 and "中考考生信息变更" in page(r)
    r = c.get("/myrequestsview/list/")
    assert r.status_code == 200 and "中考考生信息变更" in page(r)
    text = page(county.get(f"/inboxview/show/{req.id}"))
    assert "中考考生信息变更" in text and "监护人电话" in text and "13600000000" in text
    assert as_user(f"county_{WEST}").get(f"/inboxview/show/{req.id}").status_code == 404
    r = county.post(f"/inboxview/approve/{req.id}", data={"comment": "同意", "version": req.version},
                    follow_redirects=True)
    assert r.status_code == 200
    assert fresh(a.id).guardian_phone == "13600000000"

    # 重新发放激活码: shown once with the warning
    r = c.post(f"/zkinfo/activation/{b.id}")
    text = page(r)
    code = re.search(r'id="activation-code"[^>]*>([A-Z0-9]+)<', text).group(1)
    assert len(code) == 8 and "只显示这一次" in text and r.headers["Cache-Control"].startswith("private")
    assert code not in page(c.get(f"/zkinfo/edit/{b.id}"))


def test_read_only_account_cannot_write(exam, as_user):
    cand = candidates(EAST)[0]
    v = as_user("sheng_viewer")
    r = v.get(f"/zkinfo/edit/{cand.id}")
    assert r.status_code == 200 and "保存" not in re.sub(r"<title>.*?</title>", "", page(r))
    assert v.post(f"/zkinfo/edit/{cand.id}", data={"phone": "13800000000"}).status_code in (302, 403)
    assert v.post("/zkinfo/confirm", data={"rowid": [cand.id]}).status_code in (302, 403)
    assert v.post("/zkinfo/print", data={"rowid": [cand.id]}).status_code in (302, 403)
    assert fresh(cand.id).activation_code_hash is None and fresh(cand.id).phone != "13800000000"
