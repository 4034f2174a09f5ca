"""考生服务平台 (candidate portal): the candidates' own pages, apart from the staff screens.

A candidate signs in with 报名号 + own password (set at activation). The portal keeps its own
keys in the Flask session (never Flask-Login's): who is signed in, a per-login nonce and a
fingerprint of the password hash, so a password change or re-activation ends other sessions.
Signing in clears the whole session first (no fixation; no staff login riding along).
The sign-in and activation POSTs are rate-limited per IP (guessing codes across many 报名号)."""
import secrets

from flask import Blueprint, current_app, g, render_template, session
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.extensions import db
from app.models.zhongkao import Candidate
from app.services.zhongkao import accounts

bp = Blueprint("portal", __name__, url_prefix="/portal")
# The portal's own limiter (module level: decorators need it at import, and tests build several apps).
# Production with several workers: set RATELIMIT_STORAGE_URI (e.g. the Redis URL) so they share counts.
limiter = Limiter(key_func=get_remote_address)

SESSION_KEYS = ("zk_candidate_id", "zk_nonce", "zk_stamp")
DEFAULT_RATE_LIMIT = "20/minute"

ERRORS = {
    404: (_l("页面不存在"), _l("您访问的页面不存在。")),
    429: (_l("操作过于频繁"), _l("登录或激活尝试过于频繁，请稍等一分钟后再试。")),
}


def sign_in(candidate):
    from flask_login import current_user, logout_user
    if current_user.is_authenticated:
        logout_user()  # one browser is either a staff user's or a candidate's (drops "remember me" too)
    remember = session.get("_remember")
    session.clear()
    if remember:
        session["_remember"] = remember  # tells Flask-Login to delete its cookie on this response
    session["zk_candidate_id"] = candidate.id
    session["zk_nonce"] = secrets.token_urlsafe(16)
    session["zk_stamp"] = accounts.password_stamp(candidate)


def sign_out():
    session.clear()


def refresh_stamp(candidate):
    session["zk_stamp"] = accounts.password_stamp(candidate)


@bp.before_request
def load_candidate():
    g.zk_candidate = None
    cid = session.get("zk_candidate_id")
    if not cid or not session.get("zk_nonce"):
        return
    candidate = db.session.get(Candidate, cid)
    if candidate is None or candidate.password_hash is None \
            or session.get("zk_stamp") != accounts.password_stamp(candidate):
        for key in SESSION_KEYS:
            session.pop(key, None)
        return
    g.zk_candidate = candidate


@bp.errorhandler(404)
@bp.errorhandler(429)
def _error_page(error):
    code = getattr(error, "code", 500) or 500
    title, message = ERRORS.get(code, (_l("出错了"), _l("请求未能完成，请稍后重试。")))
    return render_template("portal/error.html", code=code, title=title, message=message), code


def rate_limit():
    return current_app.config.get("ZK_PORTAL_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def register(app):
    from app.portal import views  # noqa: F401  routes on bp

    # FAB defaults RATELIMIT_ENABLED to False (its own limiter is already set up by now, disabled
    # unless AUTH_RATE_LIMITED): switching it on here only arms this portal limiter.
    if app.config.get("ZK_PORTAL_RATE_LIMIT_ENABLED", True):
        app.config["RATELIMIT_ENABLED"] = True
        app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")  # per process; see the module doc
    limiter.init_app(app)
    app.register_blueprint(bp)
