"""信息采集 and confirmation (中招): the school collects a candidate's contact, guardian, 户籍 and photo,
the candidate checks it in the portal, the school prints the 报名登记表 (forms.py), candidate and
guardian sign it, and the school records the signature: the data is then locked. After the lock only
an 信息变更申请 (request type zk_info_change) approved by the candidate's county changes it.

Every rule is here; screens, the portal and the API call these functions. Candidate is audited
automatically on flush, so every field change leaves who / when / old → new (and, for an approved
change request, the request as the reason)."""
import datetime
import enum
import io
import os
import types
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import insert, select

from app.codes import tables
from app.codes.regions import region_label
from app.models.audit import AuditLog
from app.models.org import OrgKind
from app.models.requests import Request, RequestState
from app.models.student import Student, StudentStatus
from app.models.zhongkao import (Candidate, CandidateCategory, CandidateOrigin, HukouKind, InfoState, StudyIntent,
                                 ZkPhoto)
from app.services import attachments, clock, identity, requests, scope
from app.services.context import acting_as, with_actor
from app.services.dates import parse_date
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.roles import RANK_SCHOOL, actor_rank
from app.services.zhongkao import registration, values

LOCKED = "考生信息已签字确认并锁定，如需更改请提交信息变更申请，经县级审核通过后更改"
STALE = "该考生信息已被他人修改，请刷新后重试"
CHANGE = "zk_info_change"

# Photo standard (报名照片): JPEG/PNG upload, cropped to 358×441 (the usual 一寸 ID-photo pixels).
PHOTO_MAX_BYTES = 2 * 1024 * 1024
PHOTO_MIN_W, PHOTO_MIN_H = 260, 320
PHOTO_RATIO_MIN, PHOTO_RATIO_MAX = 1.1, 1.6       # height / width: portrait-ish
PHOTO_W, PHOTO_H = 358, 441
PHOTO_QUALITY = 85
# Decompression-bomb guard checked on the header before any pixel is decoded (a 2 MB PNG can
# claim 100,000 × 100,000 pixels); far above any camera's output.
PHOTO_MAX_PIXELS = 40_000_000
_MAGIC = {"JPEG": (b"\xff\xd8\xff",), "PNG": (b"\x89PNG\r\n\x1a\n",)}
_EXTENSIONS = {".jpg", ".jpeg", ".png"}

# Collected fields any candidate's school may edit, and the identity fields it may edit only for a
# 往届/外省 candidate entered by hand (a registry candidate's identity is the registry's: it changes
# there by 关键数据变更, then the candidate is registered from it).
FIELD_LABELS = {
    "phone": "联系电话", "guardian_name": "监护人姓名", "guardian_relation": "监护人关系",
    "guardian_phone": "监护人电话", "hukou_code": "户籍所在地", "hukou_address": "户籍地址",
    "home_address": "家庭住址", "category": "考生类别", "hukou_kind": "户籍类别", "intent": "报考意向",
    "name": "姓名", "gender": "性别", "birth_date": "出生日期", "id_number": "身份证号", "ethnicity": "民族",
    "graduated_school_name": "毕业学校",
}
COLLECTED = ("phone", "guardian_name", "guardian_relation", "guardian_phone", "hukou_code", "hukou_address",
             "home_address", "category", "hukou_kind", "intent")
IDENTITY = ("name", "gender", "birth_date", "id_number", "ethnicity", "graduated_school_name")
ENUMS = {"category": CandidateCategory, "hukou_kind": HukouKind, "intent": StudyIntent}


# ---------------------------------------------------------------- who

def _collector(actor, doing="办理信息采集"):
    """Schools collect their candidates' information; the county may act for them."""
    unit = getattr(actor, "org_unit", None)
    if unit is None or actor_rank(actor) > RANK_SCHOOL or unit.kind not in (OrgKind.SCHOOL, OrgKind.COUNTY):
        raise PermissionDenied(f"只有学校（或县区）中考管理人员可以{doing}")
    return unit


def is_manual(candidate):
    return candidate.origin in (CandidateOrigin.MANUAL, CandidateOrigin.OUT_OF_PROVINCE)


def editable_fields(candidate):
    return COLLECTED + (IDENTITY if is_manual(candidate) else ())


def _check_version(candidate, expected_version):
    if expected_version in (None, ""):
        return
    if not str(expected_version).isdigit() or int(expected_version) != candidate.version:
        raise DomainError(STALE)


# ---------------------------------------------------------------- values







def _hukou_code(session, value):
    from app.services.students import region_code_12  # the registry's rule for 户口所在地
    return region_code_12(session, value, "户籍所在地", "hukou_code")


def _clean(session, candidate, data):
    """The submitted fields (only those present in `data`) checked and converted; a field the
    actor may not change for this candidate is refused, never silently dropped."""
    allowed = editable_fields(candidate)
    clean = {}
    for key in data:
        if key not in FIELD_LABELS:
            continue
        if key not in allowed:
            raise DomainError(f"学籍库应届考生的{FIELD_LABELS[key]}来自学籍，不能在此修改；"
                              f"如有错误请在学籍中办理关键数据变更", field=key)
    get = data.get
    for key in ("phone", "guardian_phone"):
        if key in data:
            clean[key] = values.phone(get(key), FIELD_LABELS[key], key)
    if "guardian_name" in data:
        clean["guardian_name"] = values.text(get("guardian_name"), "监护人姓名", "guardian_name", 64)
    if "guardian_relation" in data:
        code = str(get("guardian_relation") or "").strip() or None
        if code is not None and not tables.is_valid("guardian_relation", code):
            code = tables.code_for("guardian_relation", code)
            if code is None:
                raise DomainError("监护人关系代码不正确", field="guardian_relation")
        clean["guardian_relation"] = code
    if "hukou_code" in data:
        clean["hukou_code"] = _hukou_code(session, get("hukou_code"))
    for key, limit in (("hukou_address", 200), ("home_address", 200)):
        if key in data:
            clean[key] = values.text(get(key), FIELD_LABELS[key], key, limit)
    for key, enum_cls in ENUMS.items():
        if key in data:
            clean[key] = values.choice(get(key), enum_cls, FIELD_LABELS[key], key)
    if "category" in clean:
        if candidate.origin == CandidateOrigin.REGISTRY and clean["category"] != CandidateCategory.FRESH:
            raise DomainError("学籍库报名的考生是应届生，考生类别不能改为往届", field="category")
        if candidate.origin == CandidateOrigin.MANUAL and clean["category"] != CandidateCategory.PAST:
            raise DomainError("手工报名的本省考生只能是往届生", field="category")
    if is_manual(candidate):
        _clean_identity(session, candidate, data, clean)
    return clean


def _clean_identity(session, candidate, data, clean):
    get = data.get
    if "name" in data:
        clean["name"] = values.text(get("name"), "姓名", "name", 64, required=True)
    if "graduated_school_name" in data:
        clean["graduated_school_name"] = values.text(get("graduated_school_name"), "毕业学校", "graduated_school_name",
                                               100, required=True)
    if "ethnicity" in data:
        code = str(get("ethnicity") or "").strip()
        if not tables.is_valid("ethnicity", code):
            raise DomainError("民族代码不正确", field="ethnicity")
        clean["ethnicity"] = code
    if "gender" in data:
        gender = str(get("gender") or "").strip()
        if gender not in identity.GENDER_NAMES:
            raise DomainError("请选择性别", field="gender")
        clean["gender"] = gender
    if "birth_date" in data:
        birth = get("birth_date")
        if birth in (None, ""):
            raise DomainError("请填写出生日期", field="birth_date")
        if not isinstance(birth, datetime.date):
            birth = parse_date(birth, "出生日期格式应为 年-月-日（如 2011-05-01）", "birth_date")
        clean["birth_date"] = birth
    if {"id_number", "birth_date", "gender"} & set(data):
        # The three must agree, whichever of them changed (like registration.register_manual).
        check = identity.check_id_number(get("id_number", candidate.id_number),
                                         birth_date=clean.get("birth_date", candidate.birth_date),
                                         gender=clean.get("gender", candidate.gender))
        if check.number != candidate.id_number:
            _id_number_free(session, candidate, check.number)
        if "id_number" in data:
            clean["id_number"] = check.number


def _id_number_free(session, candidate, number):
    taken = session.scalar(select(Candidate.id).where(Candidate.exam_id == candidate.exam_id,
                                                      Candidate.id_number == number, Candidate.id != candidate.id))
    if taken is not None:
        raise DomainError(f"身份证号 {identity.mask(number)} 的考生已经报名，不能重复", field="id_number")
    record = session.scalar(select(Student.id).where(
        Student.id_number == number, Student.status.in_([StudentStatus.IN_SCHOOL, StudentStatus.SUSPENDED])))
    if record is not None:
        raise DomainError("该身份证号属于本省在校学生，不能作为往届/外省考生报名", field="id_number")


def _changes(candidate, clean):
    return {k: v for k, v in clean.items() if getattr(candidate, k) != v}


def _apply(candidate, changes):
    for key, value in changes.items():
        setattr(candidate, key, value)
    if changes:
        _recheck(candidate)


def _recheck(candidate):
    """The candidate checked other data (or another photo): they check again."""
    if candidate.info_state == InfoState.CHECKED:
        candidate.info_state, candidate.checked_at = InfoState.COLLECTING, None


# ---------------------------------------------------------------- 信息采集

@with_actor
def update_info(session, actor, candidate_id, data, expected_version=None):
    """The school (or county) edits a candidate's collected information before the lock.
    Returns the changed field names (empty: nothing changed)."""
    _collector(actor)
    candidate = registration.get_candidate(session, actor, candidate_id)
    if candidate.locked:
        raise DomainError(LOCKED)
    _check_version(candidate, expected_version)
    changes = _changes(candidate, _clean(session, candidate, data or {}))
    _apply(candidate, changes)
    session.flush()
    return sorted(changes)


def photo(session, candidate_id):
    """The stored photo or None. No scope check: callers fetch the candidate through their scope."""
    return session.get(ZkPhoto, candidate_id)


def _audit_photo(session, actor, candidate, note):
    """ZkPhoto holds bytes, not fields: one audit row says the photo was (re)placed."""
    session.execute(insert(AuditLog), [{
        "created_at": datetime.datetime.now(), "actor_id": getattr(actor, "id", None),
        "actor_name": getattr(actor, "username", None) or "系统", "entity": "zk_candidate",
        "entity_id": str(candidate.id), "entity_label": str(candidate)[:255], "action": "update",
        "field": "photo", "old_value": None, "new_value": note, "reason": None, "org_path": candidate.school_path}])


def standard_photo(filename, data):
    """Check an uploaded photo and return (JPEG bytes, width, height) of the standard crop.
    Refuses anything that is not a real JPEG/PNG of a sensible size and shape."""
    name = os.path.basename(filename or "").strip()
    if not data:
        raise DomainError("请选择要上传的照片", field="photo")
    if name and os.path.splitext(name)[1].lower() not in _EXTENSIONS:
        raise DomainError(f"照片只能是 JPG 或 PNG 图片（{name}）", field="photo")
    if len(data) > PHOTO_MAX_BYTES:
        raise DomainError(f"照片文件不能超过 2 MB（现为 {len(data) / 1024 / 1024:.1f} MB），请压缩后再上传",
                          field="photo")
    kind = next((k for k, marks in _MAGIC.items() if any(data.startswith(m) for m in marks)), None)
    bad = f"{name or '该文件'} 不是有效的 JPG/PNG 图片，请重新拍摄或导出后上传"
    if kind is None:
        raise DomainError(bad, field="photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format != kind:
                    raise DomainError(bad, field="photo")
                if probe.width * probe.height > PHOTO_MAX_PIXELS:
                    raise DomainError("照片像素过大（超过 4000 万像素），请缩小后再上传", field="photo")
                probe.verify()  # structure and checksums, without decoding everything
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                img = ImageOps.exif_transpose(img)  # phone pictures stand upright as seen
                return _crop(img)
    except DomainError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DomainError("照片像素过大（超过 4000 万像素），请缩小后再上传", field="photo")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise DomainError(bad, field="photo")


def _crop(img):
    width, height = img.size
    if width < PHOTO_MIN_W or height < PHOTO_MIN_H:
        raise DomainError(f"照片尺寸太小（{width}×{height} 像素），至少应为 {PHOTO_MIN_W}×{PHOTO_MIN_H} 像素",
                          field="photo")
    ratio = height / width
    if not PHOTO_RATIO_MIN <= ratio <= PHOTO_RATIO_MAX:
        raise DomainError(f"照片应为竖幅证件照（高宽比 {PHOTO_RATIO_MIN}–{PHOTO_RATIO_MAX}，现为 {ratio:.2f}），"
                          "请裁剪为半身正面照后再上传", field="photo")
    target = PHOTO_W / PHOTO_H
    if width / height > target:   # too wide: trim the sides
        w = round(height * target)
        box = ((width - w) // 2, 0, (width - w) // 2 + w, height)
    else:                         # too tall: trim top and bottom equally
        h = round(width / target)
        box = (0, (height - h) // 2, width, (height - h) // 2 + h)
    img = img.crop(box)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        white = Image.new("RGB", img.size, (255, 255, 255))
        white.paste(img, mask=img.split()[-1])
        img = white
    img = img.convert("RGB").resize((PHOTO_W, PHOTO_H), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=PHOTO_QUALITY, optimize=True)
    return out.getvalue(), PHOTO_W, PHOTO_H


@with_actor
def save_photo(session, actor, candidate_id, filename, data):
    """Upload (or replace) the candidate's photo: checked, cropped to the standard, stored."""
    _collector(actor, "上传考生照片")
    candidate = registration.get_candidate(session, actor, candidate_id)
    if candidate.locked:
        raise DomainError(LOCKED)
    jpeg, width, height = standard_photo(filename, data)
    stored = photo(session, candidate.id)
    if stored is None:
        stored = ZkPhoto(candidate_id=candidate.id)
        session.add(stored)
    stored.data, stored.content_type, stored.width, stored.height = jpeg, "image/jpeg", width, height
    stored.uploaded_at, stored.uploaded_by_id = clock.now(), getattr(actor, "id", None)
    replaced = candidate.has_photo
    candidate.has_photo = True
    _recheck(candidate)
    _audit_photo(session, actor, candidate, f"{'更换' if replaced else '上传'}照片（{width}×{height}，"
                                            f"{max(len(jpeg) // 1024, 1)} KB）")
    session.flush()
    return stored


# ---------------------------------------------------------------- 考生核对 (portal)

def candidate_check(session, candidate, now=None):
    """The candidate confirms in the portal that the collected data is right."""
    if candidate.info_state == InfoState.CONFIRMED:
        raise DomainError("您的信息已签字确认并锁定；如需更改，请联系学校提交信息变更申请")
    if not candidate.has_photo:
        raise DomainError("学校尚未上传您的照片，暂不能核对确认；请联系学校")
    if candidate.info_state == InfoState.CHECKED:
        return candidate
    who = types.SimpleNamespace(id=None, username=f"考生{candidate.reg_no}")
    with acting_as(who, reason="考生在考生服务平台核对信息"):
        candidate.info_state, candidate.checked_at = InfoState.CHECKED, now or clock.now()
        session.flush()
    return candidate


# ---------------------------------------------------------------- 签字确认 (lock)

def _scoped(session, actor, candidate_ids):
    ids = []
    for value in candidate_ids or []:
        text = str(value).strip()
        if not text.isdigit() or len(text) > 12:
            raise NotFound("记录不存在或不在您的管辖范围内")
        ids.append(int(text))
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise DomainError("请先勾选考生")
    rows = session.scalars(select(Candidate).where(Candidate.id.in_(ids), scope.clause(actor, Candidate))
                           .order_by(Candidate.school_path, Candidate.seq)).all()
    if len(rows) != len(ids):
        raise NotFound("记录不存在或不在您的管辖范围内")
    return rows


@with_actor
def confirm(session, actor, candidate_ids):
    """The school records that candidate and guardian signed the printed 报名登记表: locked.
    All or nothing; already confirmed ones are skipped. Returns {"confirmed", "already", "unchecked"}
    (lists of candidates; unchecked: confirmed although the candidate had not checked in the portal)."""
    _collector(actor, "记录签字确认")
    rows = _scoped(session, actor, candidate_ids)
    already = [c for c in rows if c.info_state == InfoState.CONFIRMED]
    todo = [c for c in rows if c.info_state != InfoState.CONFIRMED]
    missing = [c.name for c in todo if not c.has_photo]
    if missing:
        raise DomainError(f"{registration._names(missing)} 还没有照片，请先上传照片、打印报名登记表并签字后再确认")
    unchecked = [c for c in todo if c.info_state != InfoState.CHECKED]
    now = clock.now()
    for c in todo:
        c.info_state, c.confirmed_at, c.confirmed_by_id = InfoState.CONFIRMED, now, actor.id
    session.flush()
    return {"confirmed": todo, "already": already, "unchecked": unchecked}


# ---------------------------------------------------------------- 信息变更申请 (after the lock)

def _raw(value):
    """A value as the request's payload keeps it (JSON)."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def display(field, value):
    """A stored or payload value as a reader sees it: code names, not codes."""
    if value in (None, ""):
        return ""
    if field == "guardian_relation":
        return tables.label("guardian_relation", value)
    if field == "ethnicity":
        return tables.label("ethnicity", value)
    if field == "gender":
        return identity.GENDER_NAMES.get(str(value), str(value))
    if field == "hukou_code":
        return region_label(value)
    if field in ENUMS:
        try:
            return str(ENUMS[field](_raw(value)).label)
        except ValueError:
            return str(value)
    return str(_raw(value))


def open_change(session, candidate_id):
    return session.scalar(select(Request).where(Request.subject_key == f"zkcand:{candidate_id}",
                                                Request.state == RequestState.PENDING))


@with_actor
def request_change(session, actor, candidate_id, data, reason, files=()):
    """信息变更申请: the school asks the candidate's county to change locked data. `files`:
    (filename, bytes) pairs of evidence (optional)."""
    unit = getattr(actor, "org_unit", None)
    if unit is None or unit.kind != OrgKind.SCHOOL or actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied("信息变更申请由考生所在学校提出")
    candidate = registration.get_candidate(session, actor, candidate_id)
    if not candidate.locked:
        raise DomainError("考生信息尚未签字确认，可以直接修改，无需申请变更")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写变更理由", field="reason")
    if len(reason) > 500:
        raise DomainError("变更理由不能超过 500 个字", field="reason")
    existing = open_change(session, candidate.id)
    if existing is not None:
        raise DomainError(f"该考生已有尚未办结的信息变更申请（申请号 {existing.id}），请等待县级审核或撤销后再申请")
    changes = _changes(candidate, _clean(session, candidate, data or {}))
    if not changes:
        raise DomainError("没有需要变更的内容：填写的信息与现有信息相同")
    payload = {"candidate_id": candidate.id, "reg_no": candidate.reg_no, "name": candidate.name,
               "fields": sorted(changes),
               "before": {k: _raw(getattr(candidate, k)) for k in changes},
               "after": {k: _raw(v) for k, v in changes.items()}}
    req = requests.start(session, actor, CHANGE, school=candidate.school, student=None, payload=payload,
                         reason=reason, subject_key=f"zkcand:{candidate.id}")
    for filename, content in files or ():
        if filename or content:
            att = attachments.save(session, actor, filename, content, "evidence", candidate.school_path)
            att.request_id = req.id
    session.flush()
    return req


def _on_approve(session, actor, req):
    """Apply the approved values to the locked record (re-checked: time has passed since)."""
    p = req.payload or {}
    candidate = session.get(Candidate, p.get("candidate_id"))
    if candidate is None:
        raise DomainError("该考生已不存在，不能变更")
    changes = _changes(candidate, _clean(session, candidate, p.get("after") or {}))
    for key, value in changes.items():
        setattr(candidate, key, value)
    session.flush()


def _describe(req):
    p = req.payload or {}
    rows = [("考生", "", f"{p.get('name', '')}（报名号 {p.get('reg_no', '')}）")]
    before, after = p.get("before") or {}, p.get("after") or {}
    for key in p.get("fields") or sorted(after):
        # id_number stays raw: the approval screens mask it per the reader's role
        shown = (lambda v: v or "") if key == "id_number" else (lambda v, k=key: display(k, v))
        rows.append((FIELD_LABELS.get(key, key), shown(before.get(key)), shown(after.get(key))))
    return rows


def _route(session, req):
    return requests.route_to_county(session, req)


requests.register(requests.RequestType(CHANGE, "中考考生信息变更", locks=False, route=_route,
                                       on_approve=_on_approve, describe=_describe))
