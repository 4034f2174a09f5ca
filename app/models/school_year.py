"""The school year (学年学期), classes (班级), graduation (毕业) and promotion (升级)."""
import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.org import LabelledEnum, _enum_column


class TermKind(LabelledEnum):
    AUTUMN = ("autumn", _l("秋季学期"))
    SPRING = ("spring", _l("春季学期"))


class SchoolYear(db.Model):
    """A 学年 opened by the province, e.g. 2026-2027学年; its promotion time point (升级时点, e.g.
    2027年8月10日24时) is when every non-final grade moves up into the next year."""

    __tablename__ = "school_year"
    __audit__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_year: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    starts_on: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    promotion_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    org_unit_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)  # the province
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    org_unit = relationship("OrgUnit")
    terms = relationship("SchoolTerm", back_populates="year", order_by="SchoolTerm.starts_on",
                         cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def name(self):
        return f"{self.start_year}-{self.start_year + 1}学年"

    @property
    def audit_org_path(self):
        return self.org_unit.path if self.org_unit is not None else None

    def __str__(self):
        return self.name


class SchoolTerm(db.Model):
    __tablename__ = "school_term"
    __audit__ = True
    __table_args__ = (UniqueConstraint("year_id", "kind", name="uq_school_term_year_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year_id: Mapped[int] = mapped_column(Integer, ForeignKey("school_year.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[TermKind] = mapped_column(_enum_column(TermKind), nullable=False)
    starts_on: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[datetime.date] = mapped_column(Date, nullable=False)

    year = relationship("SchoolYear", back_populates="terms")

    @property
    def audit_org_path(self):
        return self.year.audit_org_path if self.year is not None else None

    def __str__(self):
        return f"{self.year.name if self.year else ''}{self.kind.label}"


ACTIVE_CLASS_WHERE = text("active")


class SchoolClass(db.Model):
    """A 班级: a cohort (2026级) of one stage of a school with its number; its grade moves up with
    the promotion, and it retires (active = false) when its grade graduates."""

    __tablename__ = "school_class"
    __audit__ = True
    __table_args__ = (
        UniqueConstraint("school_id", "stage", "cohort_year", "class_no", name="uq_school_class_cohort_no"),
        Index("ix_school_class_school_grade", "school_id", "grade"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    stage: Mapped[str] = mapped_column(String(1), nullable=False)  # first digit of the grade code
    cohort_year: Mapped[int] = mapped_column(Integer, nullable=False)  # 入学年份（级）
    grade: Mapped[str] = mapped_column(String(2), nullable=False)
    class_no: Mapped[int] = mapped_column(Integer, nullable=False)
    head_teacher: Mapped[str | None] = mapped_column(String(64))
    capacity: Mapped[int | None] = mapped_column(Integer)  # 额定人数: 分班 never puts more students in
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    promotion_run_id: Mapped[int | None] = mapped_column(Integer)  # the run that last moved it up
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    school = relationship("OrgUnit")

    __mapper_args__ = {"version_id_col": version}

    @property
    def name(self):
        return f"{self.class_no}班"

    @property
    def audit_org_path(self):
        return self.school.path if self.school is not None else None

    def __str__(self):
        from app.services.grades import grade_label
        return f"{grade_label(self.grade)}{self.name}（{self.cohort_year}级）"


class GraduationState(LabelledEnum):
    GRADUATED = ("graduated", _l("已毕业"))
    REJECTED = ("rejected", _l("已驳回"))


ACTIVE_GRADUATION_WHERE = text("state = 'graduated'")


class Graduation(db.Model):
    """One graduation of one student from one stage (小学/初中/高中/中职), with its 毕业信息. A county's
    驳回 keeps the row (state 已驳回, reason) for the 毕业生驳回查询; re-graduating adds a new row."""

    __tablename__ = "graduation"
    __audit__ = True
    __table_args__ = (
        Index("uq_graduation_student_stage", "student_id", "stage", unique=True,
              postgresql_where=ACTIVE_GRADUATION_WHERE, sqlite_where=ACTIVE_GRADUATION_WHERE),
        Index("ix_graduation_school_state", "school_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(Integer, ForeignKey("student.id"), nullable=False, index=True)
    school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    school_path: Mapped[str] = mapped_column(String(255), nullable=False)  # scope without a join
    stage: Mapped[str] = mapped_column(String(1), nullable=False)
    grade: Mapped[str] = mapped_column(String(2), nullable=False)
    class_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("school_class.id"))
    year_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("school_year.id"))
    state: Mapped[GraduationState] = mapped_column(_enum_column(GraduationState), nullable=False,
                                                   default=GraduationState.GRADUATED)
    graduated_on: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    certificate_no: Mapped[str | None] = mapped_column(String(40))
    destination: Mapped[str | None] = mapped_column(String(2))          # 毕业去向 code
    destination_by_admission: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    rejected_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    rejected_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    student = relationship("Student")
    school = relationship("OrgUnit")
    school_class = relationship("SchoolClass")
    year = relationship("SchoolYear")
    rejected_by = relationship("Account", foreign_keys=[rejected_by_id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_org_path(self):
        return self.school_path

    def __str__(self):
        return f"{self.student.name if self.student else ''}的毕业记录"


class PromotionState(LabelledEnum):
    DONE = ("done", _l("已升级"))
    REVERTED = ("reverted", _l("已撤销"))


DONE_RUN_WHERE = text("state = 'done'")


class PromotionRun(db.Model):
    """One 升级 of the whole province at the end of a school year; at most one stands per year
    (the partial unique index makes running twice a no-op even from two processes at once)."""

    __tablename__ = "promotion_run"
    __audit__ = True
    __table_args__ = (
        Index("uq_promotion_run_year_done", "year_id", unique=True,
              postgresql_where=DONE_RUN_WHERE, sqlite_where=DONE_RUN_WHERE),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year_id: Mapped[int] = mapped_column(Integer, ForeignKey("school_year.id"), nullable=False)
    state: Mapped[PromotionState] = mapped_column(_enum_column(PromotionState), nullable=False,
                                                  default=PromotionState.DONE)
    scheduled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # by the time point, not by hand
    ran_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)
    ran_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    promoted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    classes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    held: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    grace_until: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)
    reverted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    reverted_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    reverted_reason: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float | None] = mapped_column(db.Float)

    year = relationship("SchoolYear")
    ran_by = relationship("Account", foreign_keys=[ran_by_id])
    reverted_by = relationship("Account", foreign_keys=[reverted_by_id])

    @property
    def audit_org_path(self):
        return self.year.audit_org_path if self.year is not None else None

    def __str__(self):
        return f"{self.year.name if self.year else ''}升级（第 {self.id} 次）"


class HoldReason(LabelledEnum):
    SUSPENDED = ("suspended", _l("休学"))
    OPEN_REQUEST = ("open_request", _l("有在办业务"))
    NOT_GRADUATED = ("not_graduated", _l("毕业年级未毕业"))


class PromotionHold(db.Model):
    """A student the promotion left in their grade, and why (the year-end report lists them)."""

    __tablename__ = "promotion_hold"
    __table_args__ = (Index("ix_promotion_hold_run_school", "run_id", "school_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, ForeignKey("promotion_run.id", ondelete="CASCADE"), nullable=False)
    student_id: Mapped[int] = mapped_column(Integer, ForeignKey("student.id"), nullable=False, index=True)
    school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    school_path: Mapped[str] = mapped_column(String(255), nullable=False)
    grade: Mapped[str] = mapped_column(String(2), nullable=False)
    reason: Mapped[HoldReason] = mapped_column(_enum_column(HoldReason), nullable=False)
    request_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("request.id"))
    promoted_later_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)  # 补升级

    run = relationship("PromotionRun")
    student = relationship("Student")
    school = relationship("OrgUnit")
    request = relationship("Request")
