"""Error pages in the user's language: Werkzeug's own pages (404, 500, CSRF 400...) are English."""
import logging

from flask import current_app, render_template, request
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("请求无效"), _l("请求无效或页面已过期，请返回上一页刷新后重试。")),
    401: (_l("请先登录"), _l("请先登录后再访问此页面。")),
    403: (_l("没有权限"), _l("您没有访问此页面的权限。")),
    404: (_l("页面不存在"), _l("您访问的页面不存在，或不在您的管理范围内。")),
    405: (_l("不支持的操作"), _l("此页面不支持该操作方式。")),
    413: (_l("内容过大"), _l("提交的内容过大（例如上传的文件超过大小限制），请缩小或拆分后重试。")),
    429: (_l("操作过于频繁"), _l("操作过于频繁，请稍后再试。")),
    500: (_l("系统错误"), _l("服务器内部错误，请稍后重试；如果问题持续，请联系平台管理员。")),
}
GENERIC = (_l("出错了"), _l("请求未能完成，请稍后重试。"))


def handle_http_error(error):
    if error.code is None or error.code < 400 or request.path.startswith("/api/"):
        return error  # redirects, and the JSON API keeps its own error bodies
    title, message = MESSAGES.get(error.code, GENERIC)
    try:
        appbuilder = current_app.appbuilder
        html = render_template("error.html", appbuilder=appbuilder, base_template=appbuilder.base_template,
                               code=error.code, title=title, message=message)
    except Exception:  # e.g. a broken database session behind a 500: a page without the menu
        log.exception("error page could not be rendered")
        html = (f'<!DOCTYPE html><html lang="zh"><meta charset="utf-8"><title>{escape(title)}</title>'
                f"<h1>{escape(title)}</h1><p>{escape(message)}</p><p><a href=\"/\">{escape(_l('返回首页'))}</a></p>")
    return html, error.code


def register(app):
    app.register_error_handler(HTTPException, handle_http_error)
