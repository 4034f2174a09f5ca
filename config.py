"""Settings. Every value can be overridden by an environment variable of the same name."""
import os
import secrets
from pathlib import Path

from flask_appbuilder.security.manager import AUTH_DB

BASE_DIR = Path(__file__).resolve().parent
_INSTANCE = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))


def _env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _secret_key(instance_dir):
    """Use SECRET_KEY if given; otherwise generate one once and keep it under instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    instance_dir.mkdir(parents=True, exist_ok=True)
    key_file = instance_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


MENUS_ALL = ("^(Org|Admin|OrgUnits|Regions|Accounts|AuditLog|MyJobs|Registry|Approvals|Students|Lookup"
             "|MyRequests|Inbox|OpenRequests|Departures|Settings|Calendars|ProcessSettings|Problems|NearDuplicates"
             "|SchoolYear|SchoolYears|Classes|Graduation|Graduates|RejectedGraduates|Promotions|YearEndReport"
             "|Admission|Plans|AdmissionList|Admissions|DuplicateAdmissions|AdmissionExport)$")
MENUS_OFFICERS = MENUS_ALL.replace("|MyRequests", "")  # 我的申请 is the initiating school's screen
MENUS_UPPER = MENUS_OFFICERS.replace("|Lookup", "")  # province/city search the registry itself instead
# 学籍异动 configuration (业务日历, 业务设置): defined by province, city and county administrators.
SETTINGS_VIEWS = "^(CalendarView|CalendarApi|ProcessSettingView|ProcessSettingApi)$"
# Read-only traces of students who transferred away, and the transfer API's lookups.
MOVEMENT_READ = "^(DepartureView|TransferApi)$"
# 问题学籍: every level handles or oversees them; 疑似重复 (near duplicates) is for the authorities.
PROBLEM_VIEWS = "^(ProblemView|ProblemApi|NearDuplicateView)$"
# 学年学期, 班级, 毕业, 升级: every level; the services decide who does what (the province opens years
# and runs/undoes the 升级, schools keep classes and graduate, counties 驳回 graduates).
SCHOOL_YEAR_VIEWS = ("^(SchoolYearView|ClassView|PromotionView|YearEndReportView|GraduationView|GraduateView"
                     "|RejectedGraduateView|SchoolYearApi)$")
SCHOOL_YEAR_MENUS = "|SchoolYear|SchoolYears|Classes|Graduation|Graduates|RejectedGraduates|Promotions|YearEndReport"
# 招生入学 (issue 9): plans, the unified list, admissions and their approvals, duplicates, 分班, the export.
ADMISSION_VIEWS = ("^(PlanView|AdmissionListView|AdmissionView|SelfAdmissionView|ArchiveAdmissionView"
                   "|DuplicateAdmissionView|ClassAssignmentView|AdmissionExportView|AdmissionApi)$")
ADMISSION_MENUS = ("|Admission|Plans|AdmissionList|Admissions|SelfAdmission|ArchiveAdmission|DuplicateAdmissions"
                   "|ClassAssignment|AdmissionExport")
# 中招 (issues 10, 11): every view, API and menu entry is named Zk…; the services decide what each level
# may do (the province configures the exam, counties run 考务 and review, schools register and collect).
ZHONGKAO_VIEWS = r"^Zk\w*$"
ZHONGKAO_MENUS = r"^Zk\w*$"
ADMIN_VIEWS = "^(OrgUnitView|OrgUnitApi|AccountView|AuditLogView|AuditLogApi|JobView|RegionView|RegionApi|HomeView)$"
READ_VIEWS = "^(StudentView|StudentApi)$"
READ_PERMS = "^can_(list|show|get|info|export_workbook|search|history)$"  # history: a student's 异动 history


class Config:
    APP_NAME = os.environ.get("APP_NAME", "学籍与中招管理平台")
    SECRET_KEY = None  # resolved lazily in create_app (needs INSTANCE_DIR)
    INSTANCE_DIR = str(_INSTANCE)

    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{_INSTANCE / 'registry.db'}"
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # Empty: jobs run in-process in a background thread (embedded default).
    REDIS_URL = os.environ.get("REDIS_URL", "")
    JOB_QUEUE = os.environ.get("JOB_QUEUE", "registry")
    JOB_RESULT_DIR = os.environ.get("JOB_RESULT_DIR", str(_INSTANCE / "job_results"))

    LOAD_DEMO = _env_bool("LOAD_DEMO", True)
    DEMO_STUDENTS = int(os.environ.get("DEMO_STUDENTS", 20000))  # students in the first-start demo

    # 审批待办: a step waiting longer than this many working days is overdue (highlighted, counted).
    OVERDUE_WORKING_DAYS = int(os.environ.get("OVERDUE_WORKING_DAYS", 5))
    # 升级 may be undone by the province for this many days after it ran (a wrong time point, a forgotten 毕业).
    PROMOTION_GRACE_DAYS = int(os.environ.get("PROMOTION_GRACE_DAYS", 14))
    # Arm the in-process timer / RQ scheduled job for the 升级 time point when the app starts.
    SCHEDULER_ENABLED = _env_bool("SCHEDULER_ENABLED", True)

    # Flask-AppBuilder
    AUTH_TYPE = AUTH_DB
    AUTH_ROLE_ADMIN = "平台管理员"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False
    FAB_CREATE_DB = False  # Alembic owns the schema
    FAB_UPDATE_PERMS = _env_bool("FAB_UPDATE_PERMS", False)  # roles are code (FAB_ROLES)
    FAB_ADD_SECURITY_API = False
    FAB_API_SWAGGER_UI = True
    FAB_SECURITY_MANAGER_CLASS = "app.security.RegistrySecurityManager"
    FAB_INDEX_VIEW = "app.views.home.HomeView"
    FAB_BASE_TEMPLATE = "registry_base.html"
    FAB_PASSWORD_COMPLEXITY_ENABLED = True
    FAB_PASSWORD_COMPLEXITY_VALIDATOR = "app.services.passwords.check_password_strength"
    APP_THEME = ""
    AUTH_RATE_LIMITED = False

    # 导出 Excel: lists up to this many rows download at once; larger ones become a job (我的任务).
    EXPORT_SYNC_ROWS = int(os.environ.get("EXPORT_SYNC_ROWS", 5000))
    IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", 50 * 1024 * 1024))
    MAX_CONTENT_LENGTH = IMPORT_MAX_BYTES + 1024 * 1024  # the web server refuses larger bodies (413)
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", 5))
    LOGIN_LOCK_MINUTES = int(os.environ.get("LOGIN_LOCK_MINUTES", 15))

    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {
        "zh": {"flag": "cn", "name": "中文"},
        "en": {"flag": "gb", "name": "English"},
    }

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 8 * 3600

    # Permissions per role template: regexes over (view, permission), checked by FAB.
    # Levels (rank) and the org kind each role may be bound to live in app/security.py.
    # View/API names used below: StudentView, LookupView, MyRequestsView, InboxView, OpenRequestsView,
    # AttachmentView, StudentApi, RequestApi (registry); TransferInView, ProvinceTransferInView,
    # DepartureView, TransferApi (学籍异动); CalendarView, CalendarApi, ProcessSettingView,
    # ProcessSettingApi (业务日历, 业务设置); menus Registry, Approvals, Students, Lookup, MyRequests, Inbox,
    # OpenRequests, TransferIn, ProvinceTransferIn, Departures, Settings, Calendars, ProcessSettings.
    FAB_ROLES = {
        "平台管理员": [[".*", ".*"]],
        "省级管理员": [
            [ZHONGKAO_VIEWS, ".*"],
            [ZHONGKAO_MENUS, "menu_access"],
            [ADMIN_VIEWS, ".*"],
            [READ_VIEWS, READ_PERMS],
            ["^(InboxView|OpenRequestsView|RequestApi|AttachmentView)$", ".*"],
            [SETTINGS_VIEWS, ".*"],
            [MOVEMENT_READ, READ_PERMS],
            [PROBLEM_VIEWS, ".*"],
            [SCHOOL_YEAR_VIEWS, ".*"],
            [ADMISSION_VIEWS, ".*"],
            [MENUS_UPPER, "menu_access"],
        ],
        "市级管理员": [
            [ZHONGKAO_VIEWS, ".*"],
            [ZHONGKAO_MENUS, "menu_access"],
            [ADMIN_VIEWS, ".*"],
            [READ_VIEWS, READ_PERMS],
            ["^(InboxView|OpenRequestsView|RequestApi|AttachmentView)$", ".*"],
            [SETTINGS_VIEWS, ".*"],
            [MOVEMENT_READ, READ_PERMS],
            [PROBLEM_VIEWS, ".*"],
            [SCHOOL_YEAR_VIEWS, ".*"],
            [ADMISSION_VIEWS, ".*"],
            [MENUS_UPPER, "menu_access"],
        ],
        "县级管理员": [
            [ZHONGKAO_VIEWS, ".*"],
            [ZHONGKAO_MENUS, "menu_access"],
            [ADMIN_VIEWS, ".*"],
            [READ_VIEWS, READ_PERMS],
            ["^(LookupView|InboxView|OpenRequestsView|RequestApi|AttachmentView)$", ".*"],
            ["^StudentApi$", "^can_lookup$"],
            ["^ImportView$", "^can_(upload|template)$"],  # 招生结果 (admission_list); each spec's may_use decides
            [SETTINGS_VIEWS, ".*"],
            [MOVEMENT_READ, READ_PERMS],
            [PROBLEM_VIEWS, ".*"],
            [SCHOOL_YEAR_VIEWS, ".*"],
            [ADMISSION_VIEWS, ".*"],
            [MENUS_OFFICERS, "menu_access"],
        ],
        "学校学籍管理员": [
            [ZHONGKAO_VIEWS, ".*"],
            [ZHONGKAO_MENUS, "menu_access"],
            ["^(OrgUnitView|OrgUnitApi)$", READ_PERMS],
            ["^(AccountView|JobView|RegionView|RegionApi|HomeView)$", ".*"],
            ["^(StudentView|StudentApi|LookupView|MyRequestsView|RequestApi|AttachmentView|ImportView|ImportApi)$", ".*"],
            # 学籍异动: 转入 / 跨省转入 forms, the trace of students who left, school confirmations in 审批待办
            ["^(TransferInView|ProvinceTransferInView|DepartureView|TransferApi|InboxView|ProblemView|ProblemApi)$", ".*"],
            ["^(CalendarView|CalendarApi|ProcessSettingView|ProcessSettingApi)$", READ_PERMS],
            [SCHOOL_YEAR_VIEWS, ".*"],
            [ADMISSION_VIEWS, ".*"],
            ["^(Org|Admin|OrgUnits|Regions|Accounts|MyJobs|Registry|Students|Lookup|MyRequests|Imports"
             "|TransferIn|ProvinceTransferIn|Departures|Approvals|Inbox|Settings|Calendars|Problems"
             + SCHOOL_YEAR_MENUS + ADMISSION_MENUS + ")$", "menu_access"],
        ],
        "只读查询员": [
            [ZHONGKAO_VIEWS, READ_PERMS],
            [ZHONGKAO_MENUS, "menu_access"],
            ["^(OrgUnitView|OrgUnitApi|AuditLogView|AuditLogApi|RegionView|RegionApi)$", READ_PERMS],
            [READ_VIEWS, READ_PERMS],
            [MOVEMENT_READ, READ_PERMS],
            ["^(ProblemView|ProblemApi)$", READ_PERMS],
            [SCHOOL_YEAR_VIEWS, READ_PERMS],
            [ADMISSION_VIEWS, READ_PERMS],
            ["^(JobView|HomeView)$", ".*"],
            ["^(Org|Admin|OrgUnits|Regions|AuditLog|MyJobs|Registry|Students|Problems"
             + SCHOOL_YEAR_MENUS + ADMISSION_MENUS.replace("|SelfAdmission|ArchiveAdmission", "")  # schools admit
             + ")$", "menu_access"],
        ],
    }


def load_config(overrides=None):
    """A config object for create_app: class defaults, then explicit overrides (tests)."""
    cfg = {k: getattr(Config, k) for k in dir(Config) if k.isupper()}
    if overrides:
        cfg.update(overrides)
    instance_dir = Path(cfg["INSTANCE_DIR"])
    instance_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _secret_key(instance_dir)
    return cfg
