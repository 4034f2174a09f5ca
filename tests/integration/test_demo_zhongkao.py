"""The demo's 中考: the exam set, every graduating junior registered, the first county seated, and
one candidate who can sign in to the portal with the demo password; a second call changes nothing."""
from sqlalchemy import func, select

from app.extensions import db
from app.models import Candidate, Student, StudentStatus, ZkExam
from app.services import demo_zhongkao
from app.services.zhongkao import accounts
from tests.integration.zk_support import ctx, populate  # noqa: F401

import pytest

pytestmark = pytest.mark.usefixtures("ctx")


def test_demo_zhongkao_seed():
    populate()
    result = demo_zhongkao.seed(db.session)
    assert result is not None and result["registered"] > 0
    graduating = db.session.scalar(select(func.count()).select_from(Student).where(
        Student.status == StudentStatus.IN_SCHOOL, Student.grade == "23"))
    assert db.session.scalar(select(func.count()).select_from(Candidate)) == result["registered"] == graduating
    first_county = db.session.scalars(select(Candidate.county_id).order_by(Candidate.school_path)).first()
    seated = db.session.scalars(select(Candidate).where(Candidate.county_id == first_county)).all()
    assert seated and all(c.room_id and c.seat_no and c.exam_no for c in seated)
    reg_no, password = result["candidate"]
    assert accounts.authenticate(db.session, reg_no, password).reg_no == reg_no
    db.session.commit()
    assert demo_zhongkao.seed(db.session) is None
    assert db.session.scalar(select(func.count()).select_from(ZkExam)) == 1
    assert "考生服务平台" in demo_zhongkao.describe(result)
