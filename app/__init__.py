"""Application factory."""
import logging

from flask import Flask

from config import load_config


def create_app(config=None):
    """config: a dict of overrides on top of config.Config (and its environment variables)."""
    from flask_appbuilder import AppBuilder

    from app.extensions import csrf, db, migrate
    from app import i18n
    from app.services import audit

    settings = load_config(config)
    app = Flask(__name__, instance_path=settings["INSTANCE_DIR"], instance_relative_config=False)
    app.config.update(settings)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)

    i18n.compile_catalogs(app.config["BABEL_TRANSLATION_DIRECTORIES"])
    i18n.merge_into_wtforms_translations()
    from app import models  # noqa: F401  register every table on the shared metadata
    from app.services import students  # noqa: F401  request types and scoping rules of the registry
    from app.services import calendars, status_changes, transfers  # noqa: F401  学籍异动 types, calendars
    from app.services import problems  # noqa: F401  问题学籍 request types, scoping, the end hook
    from app.services import graduation, promotion, school_years  # noqa: F401  学年学期, 毕业, 升级 scoping
    from app.services import admissions  # noqa: F401  招生入学 request types and scoping

    db.init_app(app)
    _tune_sqlite(app, db)
    migrate.init_app(app, db, render_as_batch=True, directory=str(_root() / "migrations"))
    csrf.init_app(app)
    audit.install()
    from app.services import attachments
    attachments.install()

    with app.app_context():
        appbuilder = AppBuilder()  # one per app: FAB keeps per-app view lists
        appbuilder.init_app(app, db.session)
        _register_views(appbuilder)
        appbuilder.post_init()
        from app.api import install_token_messages
        install_token_messages(appbuilder.sm.jwt_manager)
        for bp in ("OrgUnitApi", "RegionApi", "AuditLogApi", "SecurityApi", "StudentApi", "RequestApi", "ImportApi", "SchoolYearApi"):
            if bp in app.blueprints:
                csrf.exempt(app.blueprints[bp])  # JWT, not cookies

    from app import portal
    portal.register(app)  # 考生服务平台 (/portal): candidates' own sign-in and pages

    from app.security import force_password_change
    app.before_request(force_password_change)

    from app.views import errors
    errors.register(app)  # Chinese error pages

    from app import cli
    cli.register(app)
    return app


def _root():
    from pathlib import Path
    return Path(__file__).resolve().parent.parent


def _tune_sqlite(app, db):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA case_sensitive_like=ON")  # lets LIKE 'prefix%' use the path index
            cur.close()


def _register_views(appbuilder):
    from flask_babel import lazy_gettext as _l

    from app.api import AuditLogApi, OrgUnitApi, RegionApi
    from app.views.accounts import AccountView, PasswordView
    from app.views.audit import AuditLogView
    from app.views.jobs import JobView
    from app.views.org import OrgUnitView, RegionView

    org = dict(category="Org", category_label=_l("机构与学校"), category_icon="fa-sitemap")
    admin = dict(category="Admin", category_label=_l("系统管理"), category_icon="fa-cogs")
    appbuilder.add_view(OrgUnitView, "OrgUnits", label=_l("机构与学校"), icon="fa-university", **org)
    appbuilder.add_view(RegionView, "Regions", label=_l("行政区划"), icon="fa-map", **org)
    appbuilder.add_view(AccountView, "Accounts", label=_l("账号管理"), icon="fa-users", **admin)
    appbuilder.add_view(AuditLogView, "AuditLog", label=_l("审计日志"), icon="fa-history", **admin)
    appbuilder.add_view(JobView, "MyJobs", label=_l("我的任务"), icon="fa-tasks", **admin)
    appbuilder.add_view_no_menu(PasswordView)
    appbuilder.add_api(OrgUnitApi)
    appbuilder.add_api(RegionApi)
    appbuilder.add_api(AuditLogApi)

    from app.api import movements as movement_api, problems as problem_api, registry as registry_api
    from app.views import imports as import_views, requests as request_views, students as student_views
    from app.views import movements as movement_views, near_duplicates as near_duplicate_views
    from app.views import problems as problem_views, process_settings as settings_views
    student_views.register(appbuilder)
    movement_views.register(appbuilder)
    import_views.register(appbuilder)
    request_views.register(appbuilder)
    settings_views.register(appbuilder)
    problem_views.register(appbuilder)
    near_duplicate_views.register(appbuilder)
    from app.views import graduation as graduation_views, school_year as school_year_views
    from app.api import school_year as school_year_api
    school_year_views.register(appbuilder)
    graduation_views.register(appbuilder)
    from app.views import admission_plans as admission_plan_views
    admission_plan_views.register(appbuilder)  # 招生计划, 招生结果管理, 自主招生, 调取新生档案
    from app.views import admission_cases as admission_case_views
    admission_case_views.register(appbuilder)  # 录取管理, 重复招生 (menu 招生入学)
    from app.views.class_assignment import ClassAssignmentView
    appbuilder.add_view(ClassAssignmentView, "ClassAssignment", label=_l("学生分班"), icon="fa-th-large",
                        category="Admission", category_label=_l("招生入学"), category_icon="fa-user-plus")
    from app.views import admission_export as admission_export_views
    admission_export_views.register(appbuilder)  # 导出招生Excel (menu 招生入学)
    from app.views import zhongkao as zhongkao_views
    zhongkao_views.register(appbuilder)  # 中招管理
    registry_api.register(appbuilder)
    school_year_api.register(appbuilder)
    movement_api.register(appbuilder)
    problem_api.register(appbuilder)
    from app.api import admission as admission_api
    admission_api.register(appbuilder)
    from app.api import zhongkao as zhongkao_api
    zhongkao_api.register(appbuilder)
