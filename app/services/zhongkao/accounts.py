"""考生账号: candidates have their own accounts, apart from staff accounts.

Staff only ever issue a one-time activation code (printed on the 报名登记表); the candidate proves
报名号 + 身份证号 + code and sets their own password. No function here lets staff see or set a
password. Only hashes are stored (and the audit log masks them).

Failed attempts (wrong code, ID number or password) count on the candidate row; after
MAX_FAILURES the account is locked for LOCK_MINUTES. Those counters are written with a plain
UPDATE (atomic `+ 1`, no version bump: a login must not make a school's open edit form stale) and
survive the refusal: the service raises `Refused` after flushing them, and the caller commits."""
import datetime
import hashlib
import math
import re
import secrets
import types

from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from app.models.zhongkao import Candidate
from app.services import clock, passwords
from app.services.context import acting_as
from app.services.errors import DomainError, PermissionDenied
from app.services.roles import RANK_SCHOOL, actor_rank
from app.services.zhongkao import registration

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a printed slip
CODE_LENGTH = 8
MAX_FAILURES = 5
LOCK_MINUTES = 15

WRONG_ACTIVATION = "报名号、身份证号或激活码不正确，请核对《报名登记表》后重试"
WRONG_LOGIN = "报名号或密码不正确"
NOT_ACTIVATED = "账号尚未激活，请先使用《报名登记表》上的激活码激活账号并设置密码"
# One dummy hash so an unknown 报名号 costs the same time as a known one.
_DUMMY_HASH = generate_password_hash("dummy-code", method="pbkdf2:sha256:1000")


class Refused(DomainError):
    """A refused sign-in or activation whose failure counter was flushed: commit, then show."""

    status = 401


def _settings():
    try:
        from flask import current_app, has_app_context
        if has_app_context():
            cfg = current_app.config
            return (int(cfg.get("LOGIN_MAX_FAILURES", MAX_FAILURES)), int(cfg.get("LOGIN_LOCK_MINUTES", LOCK_MINUTES)),
                    cfg.get("FAB_PASSWORD_HASH_METHOD", "scrypt"))
    except RuntimeError:
        pass
    return MAX_FAILURES, LOCK_MINUTES, "scrypt"


def _hash(secret):
    return generate_password_hash(secret, method=_settings()[2])


def normalize_code(code):
    """Codes are typed off paper: ignore case, spaces and dashes."""
    return re.sub(r"[\s\-]", "", code or "").upper()


def _self(candidate):
    """The candidate as the audit trail names them (candidates are not staff accounts)."""
    return types.SimpleNamespace(id=None, username=f"考生{candidate.reg_no}")


def password_stamp(candidate):
    """A short fingerprint of the current password hash: a portal session carries it, so a
    password change or re-activation ends every other session of the candidate."""
    return hashlib.sha256((candidate.password_hash or "").encode()).hexdigest()[:16]


# ---------------------------------------------------------------- staff: activation codes

def issue_activation_code(session, actor, candidate):
    """A new one-time activation code for a candidate in the actor's scope (school level or above).
    Returns the code in clear exactly once (for the 报名登记表); only its hash is kept, and any older
    code stops working. The password is not touched: the candidate sets it when activating."""
    if getattr(actor, "org_unit", None) is None or actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied("您没有发放考生激活码的权限")
    candidate_id = candidate.id if isinstance(candidate, Candidate) else candidate
    candidate = registration.get_candidate(session, actor, candidate_id)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    with acting_as(actor, "发放考生激活码"):
        candidate.activation_code_hash = _hash(code)
        candidate.activation_issued_at = clock.now()
        session.flush()
    return code


# ---------------------------------------------------------------- candidate: lock-out

def _lock_message(candidate, now):
    minutes = max(1, math.ceil((candidate.locked_until - now).total_seconds() / 60))
    return f"尝试次数过多，账号已暂时锁定，请 {minutes} 分钟后再试"


def _check_not_locked(candidate, now):
    if candidate.locked_until and candidate.locked_until > now:
        raise Refused(_lock_message(candidate, now))


def _fail(session, candidate, now, message):
    max_failures, lock_minutes, _ = _settings()
    count = session.execute(
        update(Candidate).where(Candidate.id == candidate.id)
        .values(failed_attempts=Candidate.failed_attempts + 1).returning(Candidate.failed_attempts)
        .execution_options(synchronize_session=False)).scalar_one()
    if count >= max_failures:
        until = now + datetime.timedelta(minutes=lock_minutes)
        session.execute(update(Candidate).where(Candidate.id == candidate.id)
                        .values(failed_attempts=0, locked_until=until)
                        .execution_options(synchronize_session=False))
        session.expire(candidate, ["failed_attempts", "locked_until"])
        raise Refused(f"尝试次数过多，账号已锁定 {lock_minutes} 分钟，请稍后再试")
    session.expire(candidate, ["failed_attempts"])
    raise Refused(message)


def _by_reg_no(session, reg_no):
    reg_no = (reg_no or "").strip()
    if not reg_no or len(reg_no) > 24:
        return None
    return session.scalar(select(Candidate).where(Candidate.reg_no == reg_no))


def _check_new_password(candidate, password, confirm):
    if not password:
        raise DomainError("请输入新密码", field="password")
    if confirm is not None and password != confirm:
        raise DomainError("两次输入的新密码不一致", field="confirm")
    msgs = passwords.problems(password)
    if candidate.reg_no and candidate.reg_no in password:
        msgs.append("密码不能包含报名号")
    dates = {candidate.birth_date.strftime("%Y%m%d")} if candidate.birth_date else set()
    if candidate.id_number and len(candidate.id_number) == 18:
        dates.add(candidate.id_number[6:14])
    if any(d in password for d in dates):
        msgs.append("密码不能包含出生日期")
    if candidate.id_number and candidate.id_number.upper() in password.upper():
        msgs.append("密码不能包含身份证号")
    if msgs:
        raise DomainError("；".join(msgs), field="password")


# ---------------------------------------------------------------- candidate: activate, sign in

def activate(session, reg_no, id_number, code, password, confirm, ip=None):
    """The candidate proves 报名号 + 身份证号 + activation code and sets their own password.
    The code is consumed. Wrong or unknown data all get one message (nothing says which part)."""
    now = clock.now()
    if not (reg_no or "").strip() or not (id_number or "").strip() or not (code or "").strip():
        raise DomainError("请填写报名号、身份证号和激活码")
    candidate = _by_reg_no(session, reg_no)
    if candidate is None:
        check_password_hash(_DUMMY_HASH, normalize_code(code))
        raise Refused(WRONG_ACTIVATION)
    _check_not_locked(candidate, now)
    code_ok = check_password_hash(candidate.activation_code_hash or _DUMMY_HASH, normalize_code(code)) \
        and candidate.activation_code_hash is not None
    id_ok = (candidate.id_number or "").upper() == id_number.strip().upper()
    if not (code_ok and id_ok):
        _fail(session, candidate, now, WRONG_ACTIVATION)
    _check_new_password(candidate, password, confirm)  # nothing consumed on a weak password
    with acting_as(_self(candidate), f"考生激活账号{'（IP ' + ip + '）' if ip else ''}"):
        candidate.password_hash = _hash(password)
        candidate.activation_code_hash = None
        candidate.activated_at = now
        candidate.failed_attempts = 0
        candidate.locked_until = None
        candidate.last_login_at = now
        session.flush()
    return candidate


def authenticate(session, reg_no, password):
    """报名号 + 密码 → the candidate, or Refused (counted) / DomainError."""
    now = clock.now()
    if not (reg_no or "").strip() or not password:
        raise DomainError("请输入报名号和密码")
    candidate = _by_reg_no(session, reg_no)
    if candidate is None:
        check_password_hash(_DUMMY_HASH, password)
        raise Refused(WRONG_LOGIN)
    _check_not_locked(candidate, now)
    if candidate.password_hash is None:
        raise DomainError(NOT_ACTIVATED)
    if not check_password_hash(candidate.password_hash, password):
        _fail(session, candidate, now, WRONG_LOGIN)
    session.execute(update(Candidate).where(Candidate.id == candidate.id)
                    .values(failed_attempts=0, locked_until=None, last_login_at=now)
                    .execution_options(synchronize_session=False))
    session.expire(candidate, ["failed_attempts", "locked_until", "last_login_at"])
    return candidate


def change_password(session, candidate, old, new, confirm):
    """The signed-in candidate changes their own password (knowing the current one)."""
    if candidate.password_hash is None or not old or not check_password_hash(candidate.password_hash, old):
        raise DomainError("原密码不正确", field="old_password")
    if new == old:
        raise DomainError("新密码不能与原密码相同", field="password")
    _check_new_password(candidate, new, confirm)
    with acting_as(_self(candidate), "考生修改密码"):
        candidate.password_hash = _hash(new)
        session.flush()
    return candidate
