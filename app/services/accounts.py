"""Staff accounts: real-name, bound to one org unit, roles of the creator's level or below,
password policy, lock-out and forced change of passwords set by someone else."""
import datetime
import re

from flask import current_app
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.sqla.models import Role
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from app.services.context import with_actor
from app.models.account import Account
from app.models.org import OrgUnit
from app.services import passwords, scope
from app.services.errors import DomainError, PermissionDenied
from app.services.roles import (
    RANK_SCHOOL, ROLE_TEMPLATES, actor_rank, role_fits_unit, role_rank,
)

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def hash_password(password):
    cfg = current_app.config
    return generate_password_hash(
        password,
        method=cfg.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
        salt_length=cfg.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
    )


def require_account_manager(actor):
    if actor_rank(actor) > RANK_SCHOOL:
        raise PermissionDenied("您没有管理账号的权限")


def _check_strength(password, username):
    try:
        passwords.check_password_strength(password, username)
    except PasswordComplexityValidationError as exc:
        raise DomainError(str(exc), field="password")


def _resolve_roles(session, actor, role_names, unit):
    names = [n for n in (role_names or []) if n]
    if not names:
        raise DomainError("请至少选择一个角色", field="roles")
    rank = actor_rank(actor)
    roles = []
    for name in names:
        if name not in ROLE_TEMPLATES:
            raise DomainError(f"角色“{name}”不存在", field="roles")
        if role_rank(name) < rank:
            raise PermissionDenied(f"不能授予高于本人级别的角色“{name}”")
        if not role_fits_unit(name, unit.kind):
            raise DomainError(f"角色“{name}”不能授予{unit.kind.label}级机构的账号", field="roles")
        role = session.scalar(select(Role).where(Role.name == name))
        if role is None:
            raise DomainError(f"角色“{name}”尚未初始化，请联系平台管理员", field="roles")
        roles.append(role)
    return roles


def _check_profile(real_name, phone):
    real_name = (real_name or "").strip()
    phone = (phone or "").strip()
    if not (2 <= len(real_name) <= 32):
        raise DomainError("请填写真实姓名（2–32 个字）", field="real_name")
    if not PHONE_RE.match(phone):
        raise DomainError("请填写有效的手机号或固定电话（如 13800000000 或 0791-88888888）", field="phone")
    return real_name, phone


@with_actor
def create_account(session, actor, *, username, real_name, phone, org_unit_id, role_names,
                   email=None, password=None):
    """Returns (account, initial_password). The initial password must be changed at first login."""
    require_account_manager(actor)
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise DomainError("用户名须为 3–64 位字母、数字、下划线、点或短横线", field="username")
    if session.scalar(select(func.count()).select_from(Account).where(func.lower(Account.username) == username.lower())):
        raise DomainError(f"用户名“{username}”已被使用", field="username")
    real_name, phone = _check_profile(real_name, phone)
    unit = scope.get(session, actor, OrgUnit, org_unit_id)
    roles = _resolve_roles(session, actor, role_names, unit)
    email = (email or "").strip() or f"{username.lower()}@accounts.invalid"
    if session.scalar(select(func.count()).select_from(Account).where(func.lower(Account.email) == email.lower())):
        raise DomainError("该电子邮箱已被其他账号使用", field="email")
    initial = password or passwords.generate_temporary()
    _check_strength(initial, username)
    account = Account(
        username=username, first_name=real_name, last_name="", real_name=real_name, phone=phone,
        email=email, active=True, org_unit=unit, org_unit_id=unit.id, roles=roles,
        password=hash_password(initial), must_change_password=True, fail_login_count=0,
    )
    session.add(account)
    session.flush()
    return account, initial


def _managed_account(session, actor, account_id):
    require_account_manager(actor)
    account = scope.get(session, actor, Account, account_id)
    if account.id != getattr(actor, "id", None) and actor_rank(account) < actor_rank(actor):
        raise PermissionDenied("不能管理级别高于本人的账号")
    return account


@with_actor
def update_account(session, actor, account_id, *, real_name=None, phone=None, active=None,
                   role_names=None):
    account = _managed_account(session, actor, account_id)
    if real_name is not None or phone is not None:
        account.real_name, account.phone = _check_profile(
            real_name if real_name is not None else account.real_name,
            phone if phone is not None else account.phone,
        )
        account.first_name = account.real_name
    if role_names is not None:
        if account.id == actor.id:
            raise PermissionDenied("不能修改本人的角色")
        account.roles = _resolve_roles(session, actor, role_names, account.org_unit)
    if active is not None:
        if account.id == actor.id and not active:
            raise PermissionDenied("不能停用本人账号")
        account.active = bool(active)
    session.flush()
    return account


@with_actor
def reset_password(session, actor, account_id):
    """Issue a new one-time password; the owner must change it at next login."""
    account = _managed_account(session, actor, account_id)
    if account.id == actor.id:
        raise DomainError("修改本人密码请使用“修改密码”")
    temporary = passwords.generate_temporary()
    account.password = hash_password(temporary)
    account.must_change_password = True
    account.locked_until = None
    account.fail_login_count = 0
    session.flush()
    return temporary


@with_actor
def unlock(session, actor, account_id):
    account = _managed_account(session, actor, account_id)
    account.locked_until = None
    account.fail_login_count = 0
    session.flush()
    return account


def change_own_password(session, account, old_password, new_password, confirm=None):
    if not account.password or not check_password_hash(account.password, old_password or ""):
        raise DomainError("原密码不正确", field="old_password")
    if confirm is not None and new_password != confirm:
        raise DomainError("两次输入的新密码不一致", field="confirm")
    if old_password == new_password:
        raise DomainError("新密码不能与原密码相同", field="password")
    _check_strength(new_password, account.username)
    account.password = hash_password(new_password)
    account.must_change_password = False
    session.flush()


def authenticate(session, username, password, now=None):
    """Returns (account, None) on success or (None, chinese_message). Counts failures and locks."""
    cfg = current_app.config
    now = now or datetime.datetime.now()
    generic = "用户名或密码错误"
    username = (username or "").strip()
    if not username or not password:
        return None, "请输入用户名和密码"
    account = session.scalar(select(Account).where(func.lower(Account.username) == username.lower()))
    if account is None or not account.password:
        check_password_hash(cfg["AUTH_DB_FAKE_PASSWORD_HASH_CHECK"], "password")  # constant time
        return None, generic
    if account.locked_until and account.locked_until > now:
        minutes = max(1, int((account.locked_until - now).total_seconds() // 60) + 1)
        return None, f"账号因多次密码错误已被锁定，请 {minutes} 分钟后再试或联系上级管理员解锁"
    if not check_password_hash(account.password, password):
        account.fail_login_count = (account.fail_login_count or 0) + 1
        left = cfg["LOGIN_MAX_FAILURES"] - account.fail_login_count
        if left <= 0:
            account.locked_until = now + datetime.timedelta(minutes=cfg["LOGIN_LOCK_MINUTES"])
            account.fail_login_count = 0
            session.commit()
            return None, f"密码连续错误次数过多，账号已锁定 {cfg['LOGIN_LOCK_MINUTES']} 分钟"
        session.commit()
        return None, f"{generic}，再错 {left} 次账号将被锁定"
    if not account.active:
        return None, "账号已停用，请联系上级管理员"
    account.fail_login_count = 0
    account.locked_until = None
    account.last_login = now
    account.login_count = (account.login_count or 0) + 1
    session.commit()
    return account, None
