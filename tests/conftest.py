"""Test harness. Runs on SQLite by default and on PostgreSQL/Redis when DATABASE_URL/REDIS_URL
are set (CI runs both). The database is migrated once per session with Alembic; every test starts
from the same small province: 江西 with 南昌 (东湖区, 西湖区) and 九江 (濂溪区), two schools each."""
import os
import tempfile
import uuid

import pytest
from sqlalchemy import delete, text

from app.services.demo import DEMO_PASSWORD

TEST_COUNTIES = ["360102", "360103", "360402"]
PASSWORD = DEMO_PASSWORD


def _database_url(tmpdir):
    url = os.environ.get("DATABASE_URL")
    return url or f"sqlite:///{os.path.join(tmpdir, 'test.db')}"


@pytest.fixture(scope="session")
def tmp_instance():
    with tempfile.TemporaryDirectory(prefix="registry-test-") as d:
        yield d


@pytest.fixture(scope="session")
def app(tmp_instance):
    from app import create_app
    from app.extensions import db

    url = _database_url(tmp_instance)
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url,
        "INSTANCE_DIR": tmp_instance,
        "JOB_RESULT_DIR": os.path.join(tmp_instance, "results"),
        "SECRET_KEY": "test-secret-key-with-at-least-32-bytes!!",
        "WTF_CSRF_ENABLED": False,
        "TESTING": True,
        "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        # A queue of our own so parallel or leftover runs on a shared Redis do not mix.
        "JOB_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
        "LOAD_DEMO": False,
        "SCHEDULER_ENABLED": False,  # tests/integration/test_promotion.py arms it explicitly
    })
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        from app.cli import setup_database
        from app.codes.regions import load_regions
        setup_database()
        load_regions(db.session)
        db.session.commit()
    return app


MUTABLE_TABLES = ["zk_score_review", "zk_score", "zk_bonus", "zk_photo", "zk_candidate", "zk_room", "zk_site",
                  "zk_subject", "zk_exam", "job", "audit_log", "admission_list_row", "admission", "duplicate_admission", "enrollment_plan", "promotion_hold", "graduation", "promotion_run", "school_term", "school_year",
                  "problem_side", "problem_record", "departure_trace", "business_window", "process_setting", "attachment", "student_history", "request_step", "request", "guardian",
                  "student", "school_class", "ab_user_role", "ab_user", "org_unit"]


def reset_world(app):
    from app.extensions import db
    from app.models import OrgUnit
    from app.services import demo

    with app.app_context():
        db.session.remove()
        db.session.execute(text("UPDATE org_unit SET parent_id = NULL"))  # RESTRICT is per row
        for table in MUTABLE_TABLES:
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        demo.load_demo(db.session, "360000", schools_per_county=2, only_counties=TEST_COUNTIES)
        db.session.remove()


@pytest.fixture(autouse=True)
def world(request, app):
    if "no_world" in request.keywords:
        yield None
        return
    reset_world(app)
    yield app
    from app.extensions import db
    with app.app_context():
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


def login(client, username, password=PASSWORD, follow=True):
    return client.post("/login/", data={"username": username, "password": password}, follow_redirects=follow)


@pytest.fixture
def as_user(app):
    """as_user('county_360102') -> a logged-in test client."""
    def make(username, password=PASSWORD):
        c = app.test_client()
        resp = login(c, username, password)
        assert resp.status_code == 200
        return c
    return make


@pytest.fixture
def db_session(app):
    from app.extensions import db
    with app.app_context():
        yield db.session
        db.session.rollback()


def account(session, username):
    from sqlalchemy import select
    from app.models import Account
    return session.scalar(select(Account).where(Account.username == username))


def unit(session, path_key):
    """The unit whose own key (region code or school code) is path_key."""
    from sqlalchemy import select
    from app.models import OrgUnit
    return session.scalar(select(OrgUnit).where(OrgUnit.path.endswith(f"/{path_key}/")))


@pytest.fixture
def api_token(app):
    def make(username, password=PASSWORD):
        c = app.test_client()
        r = c.post("/api/v1/security/login", json={"username": username, "password": password, "provider": "db"})
        assert r.status_code == 200, r.get_data(as_text=True)
        return c, {"Authorization": f"Bearer {r.json['access_token']}"}
    return make


def finish_jobs(app, job_id, timeout=120):
    """Wait for a job to end. With REDIS_URL set this is the production path: a real `rq worker`
    process (burst mode) built from the environment runs the queue; otherwise the in-process
    worker thread already runs it."""
    import subprocess
    import sys
    from app.jobs import wait_for
    from app.extensions import db

    if app.config.get("REDIS_URL"):
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "JOB_QUEUE": app.config["JOB_QUEUE"],
            "JOB_RESULT_DIR": app.config["JOB_RESULT_DIR"],
            "INSTANCE_DIR": app.config["INSTANCE_DIR"],
            "SECRET_KEY": app.config["SECRET_KEY"],
            "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        })
        rq = os.path.join(os.path.dirname(sys.executable), "rq")
        done = subprocess.run([rq, "worker", "--burst", "--url", app.config["REDIS_URL"], app.config["JOB_QUEUE"]],
                              env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout + done.stderr
    with app.app_context():
        return wait_for(db.session, job_id, timeout=timeout)
