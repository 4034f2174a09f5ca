"""Password policy: at least 8 characters, mixed classes, never the username."""
import re
import secrets
import string

from flask_appbuilder.exceptions import PasswordComplexityValidationError

MIN_LENGTH = 8


def problems(password, username=None):
    msgs = []
    if not password or len(password) < MIN_LENGTH:
        msgs.append(f"密码长度至少为 {MIN_LENGTH} 位")
    classes = sum(bool(re.search(p, password or "")) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    if classes < 3:
        msgs.append("密码须包含大写字母、小写字母、数字、特殊符号中的至少三类")
    if username and password and username.lower() in password.lower():
        msgs.append("密码不能包含用户名")
    return msgs


def check_password_strength(password, username=None):
    """FAB's FAB_PASSWORD_COMPLEXITY_VALIDATOR and our services call this."""
    msgs = problems(password, username)
    if msgs:
        raise PasswordComplexityValidationError("；".join(msgs))


def generate_temporary():
    """A policy-compliant one-time password for new accounts and resets."""
    alphabet = string.ascii_letters + string.digits
    while True:
        core = "".join(secrets.choice(alphabet) for _ in range(10))
        candidate = core + secrets.choice("@#%&*") + secrets.choice(string.digits)
        if not problems(candidate):
            return candidate
