"""The one approval engine's tables: a Request of some type moving through RequestSteps."""
import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.org import LabelledEnum, _enum_column


class RequestState(LabelledEnum):
    PENDING = ("pending", _l("待核办"))
    APPROVED = ("approved", _l("已通过"))
    REJECTED = ("rejected", _l("已驳回"))
    CANCELLED = ("cancelled", _l("已撤销"))


class StepRole(LabelledEnum):
    APPROVE = ("approve", _l("审批"))
    CONFIRM = ("confirm", _l("学校确认"))        # the other school of a transfer agrees
    EXTERNAL = ("external", _l("外省确认"))      # the province confirms what the other province did
    ARBITRATE = ("arbitrate", _l("仲裁"))        # the lowest common superior of two disagreeing parties


class Party(LabelledEnum):
    OUT = ("out", _l("转出方"))
    IN = ("in", _l("转入方"))


class StepDecision(LabelledEnum):
    WAITING = ("waiting", _l("未到"))
    PENDING = ("pending", _l("待审批"))
    APPROVED = ("approved", _l("同意"))
    REJECTED = ("rejected", _l("驳回"))
    CANCELLED = ("cancelled", _l("已撤销"))
    SKIPPED = ("skipped", _l("仲裁后免审"))  # a later step made moot by a final arbitration


OPEN_LOCK_WHERE = text("state = 'pending' AND locks_student")
OPEN_SUBJECT_WHERE = text("state = 'pending' AND subject_key IS NOT NULL")


class Request(db.Model):
    __tablename__ = "request"
    __audit__ = True
    __table_args__ = (
        # One open locking request per student, enforced by the database too.
        Index("uq_request_open_lock", "student_id", unique=True,
              postgresql_where=OPEN_LOCK_WHERE, sqlite_where=OPEN_LOCK_WHERE),
        # One open request per subject that has no record here yet (a 跨省转入 by ID number).
        Index("uq_request_open_subject", "subject_key", unique=True,
              postgresql_where=OPEN_SUBJECT_WHERE, sqlite_where=OPEN_SUBJECT_WHERE),
        Index("ix_request_type_state", "type", "state"),
        Index("ix_request_school_state", "school_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    state: Mapped[RequestState] = mapped_column(_enum_column(RequestState), nullable=False, default=RequestState.PENDING)
    student_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("student.id"), index=True)
    school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)  # initiating unit
    initiator_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id"), nullable=False)
    locks_student: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    subject_key: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)  # the last decision's comment / cancel reason
    current_step: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now, index=True)
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    student = relationship("Student")
    school = relationship("OrgUnit")
    initiator = relationship("Account", foreign_keys=[initiator_id])
    steps = relationship("RequestStep", back_populates="request", order_by="RequestStep.seq",
                         cascade="all, delete-orphan")
    attachments = relationship("Attachment", primaryjoin="Attachment.request_id == Request.id", viewonly=True)

    @property
    def audit_org_path(self):
        return self.school.path if self.school is not None else None

    @property
    def type_label(self):
        from app.services.requests import REQUEST_TYPES
        spec = REQUEST_TYPES.get(self.type)
        return str(spec.label) if spec else self.type

    def __str__(self):
        return f"{self.type_label} #{self.id}"


class RequestStep(db.Model):
    __tablename__ = "request_step"
    __audit__ = True  # who decided what, when, with which comment
    __table_args__ = (Index("ix_request_step_org_decision", "org_unit_id", "decision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(Integer, ForeignKey("request.id", ondelete="CASCADE"), nullable=False, index=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    org_unit_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    decision: Mapped[StepDecision] = mapped_column(_enum_column(StepDecision), nullable=False, default=StepDecision.WAITING)
    role: Mapped[StepRole] = mapped_column(_enum_column(StepRole), nullable=False, default=StepRole.APPROVE)
    party: Mapped[Party | None] = mapped_column(_enum_column(Party))  # side of a two-sided request
    arrived_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)  # when it became this step's turn
    actor_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    request = relationship("Request", back_populates="steps")
    org_unit = relationship("OrgUnit")
    actor = relationship("Account", foreign_keys=[actor_id])

    @property
    def audit_org_path(self):
        return self.request.audit_org_path if self.request is not None else None

    def __str__(self):
        return f"{self.request}：第 {self.seq} 步（{self.org_unit.name if self.org_unit else ''}）"
