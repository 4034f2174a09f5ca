"""问题学籍: findings of the province-wide detection, each linking the records involved (one side
per record, owned by the record's school)."""
import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.org import LabelledEnum, _enum_column


class ProblemKind(LabelledEnum):
    INVALID_ID = ("invalid_id", _l("身份证号错误"))
    DUPLICATE_ID = ("duplicate_id", _l("身份证号重复"))
    DUPLICATE_IDENTITY = ("duplicate_identity", _l("无身份证号且姓名、性别、出生日期重复"))


class ProblemState(LabelledEnum):
    UNTREATED = ("untreated", _l("未处理"))                 # no side has acted (双方均未处理)
    PARTLY = ("partly", _l("一方已佐证，另一方未处理"))
    ARBITRATION = ("arbitration", _l("待仲裁"))             # every remaining side proved its record
    ARBITRATED = ("arbitrated", _l("已仲裁，待未通过方处理"))
    RESOLVED = ("resolved", _l("已解决"))


class Treatment(LabelledEnum):
    NONE = ("none", _l("未处理"))
    DELETING = ("deleting", _l("删除审批中"))
    DELETED = ("deleted", _l("已删除"))
    PROVING = ("proving", _l("佐证审批中"))
    PROVED = ("proved", _l("佐证通过"))
    CHANGING = ("changing", _l("变更审批中"))
    WON = ("won", _l("仲裁通过"))
    LOST = ("lost", _l("仲裁未通过，须删除或变更"))
    CARRIED = ("carried", _l("结转下一学段处理"))


OPEN_PROBLEM_WHERE = text("state <> 'resolved'")


class ProblemRecord(db.Model):
    __tablename__ = "problem_record"
    __audit__ = True
    __table_args__ = (
        # Re-running detection never duplicates a finding: one open problem per (kind, key).
        Index("uq_problem_record_open_key", "kind", "key", unique=True,
              postgresql_where=OPEN_PROBLEM_WHERE, sqlite_where=OPEN_PROBLEM_WHERE),
        Index("ix_problem_record_state_kind", "state", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[ProblemKind] = mapped_column(_enum_column(ProblemKind), nullable=False)
    key: Mapped[str] = mapped_column(String(160), nullable=False)  # the ID number, name|sex|birth, or the record id
    detail: Mapped[str | None] = mapped_column(String(255))         # what is wrong (invalid ID: which check failed)
    state: Mapped[ProblemState] = mapped_column(_enum_column(ProblemState), nullable=False,
                                                default=ProblemState.UNTREATED)
    detected_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    resolved_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    resolution: Mapped[str | None] = mapped_column(Text)
    arbiter_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("org_unit.id"))  # lowest common superior
    arbitration_comment: Mapped[str | None] = mapped_column(Text)
    # An invalid-looking ID number proved right (佐证): detection leaves it alone while it is unchanged.
    accepted_value: Mapped[str | None] = mapped_column(String(32))
    arbitrated_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    arbitrated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    sides = relationship("ProblemSide", back_populates="problem", order_by="ProblemSide.id",
                         cascade="all, delete-orphan")
    arbiter = relationship("OrgUnit")

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_org_path(self):
        paths = [s.school_path for s in self.sides if s.school_path]
        if not paths:
            return None
        common = paths[0]
        for p in paths[1:]:
            while not p.startswith(common):
                common = common[:common.rstrip("/").rfind("/") + 1]
        return common

    def __str__(self):
        return f"问题学籍 {self.id}（{self.kind.label}）"


class ProblemSide(db.Model):
    """One record of a problem and what its school did about it."""

    __tablename__ = "problem_side"
    __audit__ = True
    __table_args__ = (
        Index("uq_problem_side_student", "problem_id", "student_id", unique=True),
        Index("ix_problem_side_school_path", "school_path", postgresql_ops={"school_path": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem_id: Mapped[int] = mapped_column(Integer, ForeignKey("problem_record.id", ondelete="CASCADE"),
                                            nullable=False)
    student_id: Mapped[int] = mapped_column(Integer, ForeignKey("student.id"), nullable=False, index=True)
    school_path: Mapped[str] = mapped_column(String(255), nullable=False)  # the owning school's path (scoping)
    treatment: Mapped[Treatment] = mapped_column(_enum_column(Treatment), nullable=False, default=Treatment.NONE)
    request_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("request.id"))  # the 删除/佐证 request
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now,
                                                          onupdate=datetime.datetime.now)

    problem = relationship("ProblemRecord", back_populates="sides")
    student = relationship("Student")
    request = relationship("Request")

    @property
    def audit_org_path(self):
        return self.school_path

    def __str__(self):
        return f"问题学籍 {self.problem_id} 的一方（{self.student.name if self.student else ''}）"
