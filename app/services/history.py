"""A student's whole 学籍 history (item 7 of 学籍异动): every (school, grade, class, status) span
and every request with its steps — for whoever may see the student now.

Visibility follows the record, not the requests: the school that received a transfer sees what
happened before it (籍随人走); the school the student left sees nothing any more (the record is out
of its scope; it keeps a DepartureTrace instead).
"""
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.models.requests import Request, RequestStep
from app.models.student import Student, StudentHistory
from app.services import scope


@dataclass
class History:
    student: Student
    spans: list = field(default_factory=list)      # StudentHistory, oldest first
    requests: list = field(default_factory=list)   # Request (steps loaded), newest first


def student_history(session, actor, student_id):
    """Raises NotFound outside the actor's scope (by URL or API alike)."""
    student = scope.get(session, actor, Student, student_id)
    spans = session.scalars(select(StudentHistory).where(StudentHistory.student_id == student.id)
                            .options(selectinload(StudentHistory.school))
                            .order_by(StudentHistory.valid_from, StudentHistory.id)).all()
    reqs = session.scalars(select(Request).where(Request.student_id == student.id)
                           .options(selectinload(Request.steps).selectinload(RequestStep.org_unit),
                                    selectinload(Request.steps).selectinload(RequestStep.actor),
                                    selectinload(Request.school), selectinload(Request.initiator))
                           .order_by(Request.created_at.desc(), Request.id.desc())).all()
    return History(student, list(spans), list(reqs))
