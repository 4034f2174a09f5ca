"""Shared set-up for the 中招 tests: the year's exam and a graduating junior class registered."""
import datetime

import pytest

from sqlalchemy import select

from app.extensions import db
from app.models import Account, Candidate, OrgUnit
from app.services import clock, demo_students
from app.services.zhongkao import exams, registration

EAST, WEST, LIANXI = "360102", "360103", "360402"
JUNIOR = {EAST: "3601020002", WEST: "3601030002", LIANXI: "3604020002"}  # the junior school of each test county


@pytest.fixture
def ctx(app):
    """Run the test inside an application context (use: pytestmark = pytest.mark.usefixtures("ctx"),
    with `from tests.integration.zk_support import ctx`)."""
    funcs = app.before_request_funcs.setdefault(None, [])
    if _forget_login not in funcs:
        funcs.insert(0, _forget_login)
    with app.app_context():
        yield
        db.session.remove()


def _forget_login():
    """Flask-Login caches the signed-in user on the app context's `g`; under the outer context of
    `ctx` every test client would share it. Each request loads its own user from its cookie."""
    from flask import g
    g.pop("_login_user", None)
    g.pop("user", None)


def acc(username):
    return db.session.scalar(select(Account).where(Account.username == username))


def school(code):
    return db.session.scalar(select(OrgUnit).where(OrgUnit.school_code == code))


def freeze(monkeypatch, when):
    """Set the platform clock (services read clock.now/today)."""
    monkeypatch.setattr(clock, "now", lambda: when)


def make_exam(year=2027, **data):
    exam = exams.create_exam(db.session, acc("sheng_admin"), {"year": year, **data})
    db.session.commit()
    return exam


def populate(n=600):
    """n in-school students over the test province's schools (about a sixth in junior final grades)."""
    demo_students.generate_students(db.session, n, today=datetime.date(2027, 3, 1))
    db.session.commit()


def register_county(exam, county=EAST):
    result = registration.register_graduating(db.session, acc(f"county_{county}"), exam)
    db.session.commit()
    return result


def candidates(county=EAST):
    return db.session.scalars(select(Candidate).where(Candidate.school_path.contains(f"/{county}/"))
                              .order_by(Candidate.seq)).all()
