"""信息采集 and confirmation (issue 10 item 3): the school edits, uploads a photo (checked and cropped),
the candidate checks, the 报名登记表 PDF (Chinese text, photo, activation code), signing locks the
data, and after the lock only an 信息变更申请 approved by the county changes it, audited. Bad input
and other counties are refused with nothing changed."""
import datetime
import io
import shutil
import subprocess

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Candidate
from app.models.requests import Request, RequestState
from app.models.student import Attachment
from app.models.zhongkao import CandidateCategory, HukouKind, InfoState, ZkPhoto
from app.services import identity, requests
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.zhongkao import forms, info, registration
from tests.integration.zk_support import (EAST, JUNIOR, WEST, acc, candidates, ctx, make_exam,  # noqa: F401
                                          populate, register_county, school)

pytestmark = pytest.mark.usefixtures("ctx")

EAST_SCHOOL = f"school_{JUNIOR[EAST]}"
WEST_SCHOOL = f"school_{JUNIOR[WEST]}"


def picture(w=400, h=560, fmt="JPEG", color=(200, 60, 60), mode="RGB"):
    img = Image.new(mode, (w, h), color)
    for y in range(h // 4, h // 2):            # a darker band: the crop must keep the middle
        for x in range(w // 4, 3 * w // 4, 7):
            img.putpixel((x, y), (20, 20, 120) if mode == "RGB" else (20, 20, 120, 255))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


@pytest.fixture
def exam():
    populate(240)
    e = make_exam()
    register_county(e, EAST)
    register_county(e, WEST)
    return e


def cand(county=EAST, k=0):
    return candidates(county)[k]


def fresh(c):
    db.session.expire_all()
    return db.session.get(Candidate, c.id)


def snapshot(c):
    c = fresh(c)
    return {k: getattr(c, k) for k in info.FIELD_LABELS} | {"info_state": c.info_state, "version": c.version,
                                                             "has_photo": c.has_photo}


def with_photo(c, who=EAST_SCHOOL):
    info.save_photo(db.session, acc(who), c.id, "me.jpg", picture())
    db.session.commit()


def locked(c, who=EAST_SCHOOL):
    with_photo(c, who)
    info.confirm(db.session, acc(who), [c.id])
    db.session.commit()
    return fresh(c)


def manual(**over):
    number = identity.build_id_number("360102", datetime.date(2010, 3, 4), 13)
    data = {"school_id": school(JUNIOR[EAST]).id, "name": "往届甲", "gender": "1" if int(number[16]) % 2 else "2",
            "birth_date": "2010-03-04", "id_number": number, "graduated_school_name": "南昌市第九中学"}
    data.update(over)
    c = registration.register_manual(db.session, acc(EAST_SCHOOL), data)
    db.session.commit()
    return c


# ---------------------------------------------------------------- editing

def test_school_edits_collected_information_with_codes_checked(exam):
    c = cand()
    changed = info.update_info(db.session, acc(EAST_SCHOOL), c.id, {
        "phone": "13912345678", "guardian_name": "张父", "guardian_relation": "63", "guardian_phone": "0791888888",
        "hukou_code": "360402", "hukou_address": "东湖区某路 1 号", "home_address": "东湖区某小区",
        "hukou_kind": "migrant", "intent": "vocational", "csrf_token": "ignored"}, expected_version=c.version)
    db.session.commit()
    c = fresh(c)
    assert {"phone", "guardian_relation", "hukou_code", "hukou_kind", "intent"} <= set(changed)
    assert (c.phone, c.guardian_relation, c.hukou_code) == ("13912345678", "63", "360402000000")
    assert (c.hukou_kind, c.intent.value) == (HukouKind.MIGRANT, "vocational")
    audited = db.session.scalars(select(AuditLog.field).where(AuditLog.entity == "zk_candidate",
                                                              AuditLog.entity_id == str(c.id),
                                                              AuditLog.actor_name == EAST_SCHOOL)).all()
    assert {"phone", "guardian_relation", "hukou_code"} <= set(audited)
    # the county may edit for the school, too
    info.update_info(db.session, acc(f"county_{EAST}"), c.id, {"phone": "13900000000"})
    db.session.commit()
    assert fresh(c).phone == "13900000000"


@pytest.mark.parametrize("data,message", [
    ({"phone": "12ab"}, "联系电话应为 7–13 位数字"),
    ({"guardian_relation": "00"}, "监护人关系代码不正确"),
    ({"hukou_code": "999999"}, "不在行政区划代码表中"),
    ({"intent": "大学"}, "请选择正确的报考意向"),
    ({"category": "past"}, "考生是应届生"),
    ({"name": "改名"}, "来自学籍"),
    ({"home_address": "长" * 201}, "不能超过 200 个字"),
])
def test_bad_values_are_refused_and_nothing_changes(exam, data, message):
    c = cand()
    before = snapshot(c)
    with pytest.raises(DomainError, match=message):
        info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"phone": "13800000001", **data})
    db.session.rollback()
    assert snapshot(c) == before


def test_stale_version_and_wrong_actors_are_refused(exam):
    c = cand()
    old = c.version
    info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"phone": "13800000001"})
    db.session.commit()
    with pytest.raises(DomainError, match="已被他人修改"):
        info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"phone": "13800000002"}, expected_version=old)
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        info.update_info(db.session, acc("sheng_viewer"), c.id, {"phone": "13800000003"})
    with pytest.raises(PermissionDenied):
        info.update_info(db.session, acc("city_360100"), c.id, {"phone": "13800000003"})
    db.session.rollback()
    assert fresh(c).phone == "13800000001"


def test_another_county_gets_not_found_everywhere(exam):
    c = cand(EAST)
    before = snapshot(c)
    west = acc(f"county_{WEST}")
    with pytest.raises(NotFound):
        info.update_info(db.session, west, c.id, {"phone": "13800000009"})
    with pytest.raises(NotFound):
        info.save_photo(db.session, west, c.id, "a.jpg", picture())
    with pytest.raises(NotFound):
        info.confirm(db.session, west, [c.id])
    with pytest.raises(NotFound):
        forms.registration_forms_pdf(db.session, west, [c.id])
    with pytest.raises(NotFound):
        forms.registration_forms_pdf(db.session, acc(WEST_SCHOOL), school_id=school(JUNIOR[EAST]).id)
    with pytest.raises(NotFound):
        info.update_info(db.session, west, "abc", {"phone": "13800000009"})
    db.session.rollback()
    assert snapshot(c) == before


def test_manual_candidates_identity_is_checked_like_registration(exam):
    c = manual()
    with pytest.raises(DomainError, match="校验位错误"):
        info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"id_number": c.id_number[:-1] + "0"
                                                             if c.id_number[-1] != "0" else c.id_number[:-1] + "1"})
    db.session.rollback()
    with pytest.raises(DomainError, match="出生日期"):
        info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"birth_date": "2010-03-05"})
    db.session.rollback()
    taken = cand(EAST, 1)
    with pytest.raises(DomainError, match="已经报名"):
        info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"id_number": taken.id_number,
                                                             "birth_date": taken.birth_date.isoformat(),
                                                             "gender": taken.gender})
    db.session.rollback()
    info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"name": "往届乙", "ethnicity": "02"})
    db.session.commit()
    assert (fresh(c).name, fresh(c).ethnicity) == ("往届乙", "02")
    with pytest.raises(DomainError, match="只能是往届生"):
        info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"category": CandidateCategory.FRESH.value})


# ---------------------------------------------------------------- photos

def test_photo_is_cropped_to_the_standard(exam):
    c = cand()
    info.save_photo(db.session, acc(EAST_SCHOOL), c.id, "zhao.PNG", picture(600, 900, "PNG", mode="RGBA",
                                                                              color=(255, 255, 255, 0)))
    db.session.commit()
    stored = info.photo(db.session, c.id)
    img = Image.open(io.BytesIO(stored.data))
    assert (img.format, img.size, img.mode) == ("JPEG", (358, 441), "RGB")
    assert (stored.width, stored.height) == (358, 441)
    assert fresh(c).has_photo
    # replacing works and is audited; a wide-ish photo is centre-cropped (the dark band stays)
    info.save_photo(db.session, acc(EAST_SCHOOL), c.id, "b.jpg", picture(400, 450))
    db.session.commit()
    img = Image.open(io.BytesIO(info.photo(db.session, c.id).data))
    assert img.size == (358, 441)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity == "zk_candidate", AuditLog.entity_id == str(c.id), AuditLog.field == "photo")) == 2


def _bomb_png():
    """A tiny PNG whose header claims 20,000 × 20,000 pixels (the pixels are never decoded)."""
    import struct
    import zlib
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("name,data,message", [
    ("photo.jpg", b"this is not an image at all" * 10, "不是有效的 JPG/PNG 图片"),
    ("notes.txt", picture(), "只能是 JPG 或 PNG"),
    ("photo.gif", b"GIF89a" + b"\0" * 100, "只能是 JPG 或 PNG"),
    ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 500, "不是有效的 JPG/PNG 图片"),   # a JPEG header, then junk
    ("photo.png", b"PNG-SIGNATURE-THEN-JPEG", "不是有效的 JPG/PNG 图片"),
    ("big.jpg", b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024 + 1), "不能超过 2 MB"),
    ("small.jpg", picture(200, 260), "尺寸太小"),
    ("wide.jpg", picture(600, 400), "竖幅证件照"),
    ("bomb.png", _bomb_png(), "像素过大"),
    ("empty.jpg", b"", "请选择要上传的照片"),
])
def test_bad_photos_are_refused_and_nothing_changes(exam, name, data, message):
    c = cand()
    if data == b"PNG-SIGNATURE-THEN-JPEG":  # the magic bytes lie about the content
        data = b"\x89PNG\r\n\x1a\n" + picture()[8:]
    before = snapshot(c)
    with pytest.raises(DomainError, match=message):
        info.save_photo(db.session, acc(EAST_SCHOOL), c.id, name, data)
    db.session.rollback()
    assert snapshot(c) == before
    assert info.photo(db.session, c.id) is None


# ---------------------------------------------------------------- check, confirm, lock

def test_candidate_checks_then_school_confirms_and_the_data_is_locked(exam):
    c = cand()
    with pytest.raises(DomainError, match="尚未上传您的照片"):
        info.candidate_check(db.session, fresh(c))
    db.session.rollback()
    with pytest.raises(DomainError, match="还没有照片"):
        info.confirm(db.session, acc(EAST_SCHOOL), [c.id])
    db.session.rollback()
    with_photo(c)
    info.candidate_check(db.session, fresh(c), now=datetime.datetime(2027, 4, 1, 9))
    db.session.commit()
    assert (fresh(c).info_state, fresh(c).checked_at) == (InfoState.CHECKED, datetime.datetime(2027, 4, 1, 9))
    # an edit after the candidate checked sends it back for another check
    info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"phone": "13811112222"})
    db.session.commit()
    assert fresh(c).info_state == InfoState.COLLECTING
    info.candidate_check(db.session, fresh(c))
    db.session.commit()

    other = cand(EAST, 1)
    with_photo(other)  # not checked by the candidate: allowed, reported
    result = info.confirm(db.session, acc(EAST_SCHOOL), [c.id, other.id])
    db.session.commit()
    assert {x.id for x in result["confirmed"]} == {c.id, other.id}
    assert [x.id for x in result["unchecked"]] == [other.id]
    c = fresh(c)
    assert c.locked and c.confirmed_by_id == acc(EAST_SCHOOL).id and c.confirmed_at is not None
    # a second click is a no-op with a message, not an error
    again = info.confirm(db.session, acc(EAST_SCHOOL), [c.id])
    db.session.commit()
    assert again["confirmed"] == [] and [x.id for x in again["already"]] == [c.id]

    before = snapshot(c)
    with pytest.raises(DomainError, match="已签字确认并锁定，如需更改请提交信息变更申请"):
        info.update_info(db.session, acc(EAST_SCHOOL), c.id, {"phone": "13800009999"})
    db.session.rollback()
    with pytest.raises(DomainError, match="已签字确认并锁定"):
        info.update_info(db.session, acc(f"county_{EAST}"), c.id, {"phone": "13800009999"})
    db.session.rollback()
    with pytest.raises(DomainError, match="已签字确认并锁定"):
        info.save_photo(db.session, acc(EAST_SCHOOL), c.id, "x.jpg", picture())
    db.session.rollback()
    with pytest.raises(DomainError, match="锁定"):
        info.candidate_check(db.session, fresh(c))
    db.session.rollback()
    with pytest.raises(DomainError, match="锁定"):
        registration.cancel_registration(db.session, acc(EAST_SCHOOL), c.id)
    db.session.rollback()
    assert snapshot(c) == before


def test_confirm_is_all_or_nothing_and_scoped(exam):
    a, b = cand(EAST, 0), cand(EAST, 1)
    with_photo(a)
    with pytest.raises(DomainError, match=b.name):
        info.confirm(db.session, acc(EAST_SCHOOL), [a.id, b.id])
    db.session.rollback()
    assert fresh(a).info_state == InfoState.COLLECTING
    west = cand(WEST)
    with pytest.raises(NotFound):
        info.confirm(db.session, acc(EAST_SCHOOL), [a.id, west.id])
    db.session.rollback()
    assert fresh(a).info_state == InfoState.COLLECTING
    with pytest.raises(DomainError, match="请先勾选考生"):
        info.confirm(db.session, acc(EAST_SCHOOL), [])


# ---------------------------------------------------------------- change requests after the lock

def test_change_request_approved_by_the_county_is_applied_and_audited(exam, app):
    c = locked(cand())
    with pytest.raises(DomainError, match="请填写变更理由"):
        info.request_change(db.session, acc(EAST_SCHOOL), c.id, {"guardian_phone": "13700000000"}, "")
    with pytest.raises(DomainError, match="没有需要变更的内容"):
        info.request_change(db.session, acc(EAST_SCHOOL), c.id, {"phone": c.phone}, "无")
    with pytest.raises(PermissionDenied):
        info.request_change(db.session, acc(f"county_{EAST}"), c.id, {"phone": "13700000000"}, "县里")
    db.session.rollback()
    req = info.request_change(db.session, acc(EAST_SCHOOL), c.id,
                              {"guardian_phone": "13700000000", "guardian_relation": "52"}, "监护人电话变更",
                              files=[("证明.pdf", b"%PDF-1.4 evidence")])
    db.session.commit()
    assert req.state == RequestState.PENDING and req.student_id is None
    assert db.session.scalar(select(Attachment.request_id).where(Attachment.request_id == req.id)) == req.id
    rows = requests.REQUEST_TYPES[info.CHANGE].describe(req)
    assert rows[0] == ("考生", "", f"{c.name}（报名号 {c.reg_no}）")
    assert any(r[0] == "监护人关系" and r[2] == "母亲" for r in rows)
    assert any(r[0] == "监护人电话" and r[2] == "13700000000" for r in rows)
    # one open request per candidate
    with pytest.raises(DomainError, match="尚未办结的信息变更申请"):
        info.request_change(db.session, acc(EAST_SCHOOL), c.id, {"phone": "13700000001"}, "再来")
    db.session.rollback()
    # the data stays as it was until the county approves; the county of another district cannot
    assert fresh(c).guardian_phone != "13700000000"
    with pytest.raises(NotFound):
        requests.approve(db.session, acc(f"county_{WEST}"), req.id)
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        requests.approve(db.session, acc(EAST_SCHOOL), req.id)
    db.session.rollback()
    requests.approve(db.session, acc(f"county_{EAST}"), req.id, "同意")
    db.session.commit()
    c = fresh(c)
    assert (c.guardian_phone, c.guardian_relation) == ("13700000000", "52")
    assert c.locked  # still locked
    reasons = db.session.scalars(select(AuditLog.reason).where(
        AuditLog.entity == "zk_candidate", AuditLog.entity_id == str(c.id), AuditLog.field == "guardian_phone")).all()
    assert any(r and f"申请号 {req.id}" in r for r in reasons)


def test_change_request_rejected_leaves_the_data_unchanged(exam):
    c = locked(cand())
    before = snapshot(c)
    with pytest.raises(DomainError, match="尚未签字确认"):
        info.request_change(db.session, acc(EAST_SCHOOL), cand(EAST, 1).id, {"phone": "13700000000"}, "x")
    db.session.rollback()
    with pytest.raises(DomainError, match="监护人关系代码不正确"):
        info.request_change(db.session, acc(EAST_SCHOOL), c.id, {"guardian_relation": "00"}, "x")
    db.session.rollback()
    req = info.request_change(db.session, acc(EAST_SCHOOL), c.id, {"home_address": "新地址"}, "搬家")
    db.session.commit()
    requests.reject(db.session, acc(f"county_{EAST}"), req.id, "无证明材料")
    db.session.commit()
    assert snapshot(c) == before
    # after a rejection a new request may be made
    info.request_change(db.session, acc(EAST_SCHOOL), c.id, {"home_address": "新地址"}, "搬家（附证明）")
    db.session.commit()


def test_identity_change_of_a_manual_candidate_through_a_request(exam):
    c = manual()
    locked(c)
    number = identity.build_id_number("360103", datetime.date(2010, 3, 4), 13)
    req = info.request_change(db.session, acc(EAST_SCHOOL), c.id, {"id_number": number, "name": "往届丙"}, "证件号录错")
    db.session.commit()
    assert any(r[0] == "身份证号" for r in info._describe(req))
    requests.approve(db.session, acc(f"county_{EAST}"), req.id)
    db.session.commit()
    assert (fresh(c).id_number, fresh(c).name) == (number, "往届丙")


# ---------------------------------------------------------------- 报名登记表

def _pdf_text(tmp_path, data):
    """The PDF's text (pdftotext) and its pages as PNG (pdftoppm: it must convert)."""
    folder = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    path = folder / "forms.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True).stdout.decode()
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(folder / "page")], check=True)
    return text, sorted(folder.glob("page*.png"))


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_registration_form_pdf_has_chinese_fields_photo_and_activation_code(exam, tmp_path):
    a, b = cand(EAST, 0), cand(EAST, 1)
    long_address = "江西省南昌市东湖区" + "幸福路一百二十三号院" * 18 + "末尾"   # wraps in its box
    info.update_info(db.session, acc(EAST_SCHOOL), a.id, {"guardian_relation": "52", "home_address": "东湖区幸福路",
                                                          "hukou_address": long_address})
    with_photo(a)
    data = forms.registration_forms_pdf(db.session, acc(EAST_SCHOOL), [a.id, b.id])
    db.session.commit()
    assert data.startswith(b"%PDF")
    (tmp_path / "two.pdf").write_bytes(data)
    text, pages = _pdf_text(tmp_path, data)
    assert len(pages) == 2
    for expected in ("2027年初中学业水平考试报名登记表", a.reg_no, b.reg_no, a.name, "监护人签名", "考生签名",
                     "本人已核对以上信息，确认无误", "母亲", "东湖区幸福路", "激活码", "学校不得代设密码"):
        assert expected in text.replace(" ", "") or expected in text, expected
    assert "照片" in text  # b has no photo: the empty box is labelled
    assert "末尾" in text  # the long address is all there
    # the codes are fresh and only their hashes are kept
    a, b = fresh(a), fresh(b)
    assert a.activation_code_hash and b.activation_code_hash
    # an activated candidate's form says so, and prints no code
    a.activated_at = datetime.datetime(2027, 4, 2)
    db.session.commit()
    text, _pages = _pdf_text(tmp_path, forms.registration_forms_pdf(db.session, acc(EAST_SCHOOL), [a.id]))
    db.session.commit()
    assert "账号已激活" in text.replace(" ", "") and "激活码：" not in text
    # a whole school
    data = forms.registration_forms_pdf(db.session, acc(f"county_{EAST}"), school_id=school(JUNIOR[EAST]).id)
    db.session.commit()
    text, pages = _pdf_text(tmp_path, data)
    assert len(pages) == len(candidates(EAST))
    shutil.copy(pages[0].with_name("forms.pdf"), tmp_path / "school.pdf")


def test_printing_needs_an_officer_and_a_choice(exam):
    with pytest.raises(PermissionDenied):
        forms.registration_forms_pdf(db.session, acc("sheng_viewer"), [cand().id])
    with pytest.raises(DomainError, match="请先勾选考生"):
        forms.registration_forms_pdf(db.session, acc(EAST_SCHOOL))
    assert db.session.scalar(select(func.count()).select_from(ZkPhoto)) == 0
    assert db.session.scalar(select(func.count()).select_from(Request)) == 0
