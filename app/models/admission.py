"""招生入学: enrollment plans (招生计划数), the county's unified admission list (统一招生名单),
admissions (录取, each moving through the approval engine) and duplicate admissions (重复招生)."""
import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.org import LabelledEnum, _enum_column


class AdmissionKind(LabelledEnum):
    UNIFIED = ("unified", _l("统一招生"))
    SELF = ("self", _l("自主招生"))
    ARCHIVE = ("archive", _l("跨省招生（调取新生档案）"))


class AdmissionState(LabelledEnum):
    PENDING = ("pending", _l("待核办"))
    ADMITTED = ("admitted", _l("已录取"))
    REJECTED = ("rejected", _l("未通过"))
    WITHDRAWN = ("withdrawn", _l("已撤销"))


class ClaimState(LabelledEnum):
    """What the admitting school did about a duplicate admission (重复招生学校处理)."""
    NONE = ("none", _l("未处理"))
    PROVING = ("proving", _l("佐证核办中"))
    PROVED = ("proved", _l("佐证已通过"))


class DuplicateState(LabelledEnum):
    OPEN = ("open", _l("待学校处理"))
    ARBITRATION = ("arbitration", _l("待仲裁"))
    RESOLVED = ("resolved", _l("已解决"))


class EnrollmentPlan(db.Model):
    """招生计划数 of one school, year and entry grade. `used` counts the seats held by pending and
    approved admissions; the CHECK keeps it within the quota whatever writes it."""

    __tablename__ = "enrollment_plan"
    __audit__ = True
    __table_args__ = (
        UniqueConstraint("year_id", "school_id", "grade", name="uq_enrollment_plan_school_grade"),
        CheckConstraint("used >= 0 AND used <= quota", name="ck_enrollment_plan_within_quota"),
        Index("ix_enrollment_plan_school_path", "school_path", postgresql_ops={"school_path": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year_id: Mapped[int] = mapped_column(Integer, ForeignKey("school_year.id"), nullable=False)
    school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    school_path: Mapped[str] = mapped_column(String(255), nullable=False)
    grade: Mapped[str] = mapped_column(String(2), nullable=False)  # the entry grade: 21, 31, 41
    quota: Mapped[int] = mapped_column(Integer, nullable=False)
    used: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    set_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now,
                                                          onupdate=datetime.datetime.now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    year = relationship("SchoolYear")
    school = relationship("OrgUnit")

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_org_path(self):
        return self.school_path

    @property
    def free(self):
        return self.quota - self.used

    def __str__(self):
        from app.services.grades import grade_label
        return f"{self.school.name if self.school else ''} {grade_label(self.grade)}招生计划"


class AdmissionListRow(db.Model):
    """One row of a county's 统一招生 result: who goes to which school; the school then admits."""

    __tablename__ = "admission_list_row"
    __audit__ = True
    __table_args__ = (
        UniqueConstraint("year_id", "county_id", "student_id", name="uq_admission_list_student"),
        Index("ix_admission_list_to_school", "to_school_id", "year_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year_id: Mapped[int] = mapped_column(Integer, ForeignKey("school_year.id"), nullable=False)
    county_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    county_path: Mapped[str] = mapped_column(String(255), nullable=False)
    student_id: Mapped[int] = mapped_column(Integer, ForeignKey("student.id"), nullable=False, index=True)
    from_school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    to_school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    grade: Mapped[str] = mapped_column(String(2), nullable=False)
    score: Mapped[float | None] = mapped_column(Numeric(6, 1))  # 中考成绩, when the list carries it
    admission_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("admission.id"))
    imported_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    imported_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)

    year = relationship("SchoolYear")
    student = relationship("Student")
    from_school = relationship("OrgUnit", foreign_keys=[from_school_id])
    to_school = relationship("OrgUnit", foreign_keys=[to_school_id])
    admission = relationship("Admission", foreign_keys=[admission_id])

    @property
    def audit_org_path(self):
        return self.county_path

    def __str__(self):
        return f"统一招生名单：{self.student.name if self.student else ''}"


LIVE_ADMISSION_WHERE = text("state IN ('pending', 'admitted') AND student_id IS NOT NULL")
OPEN_DUPLICATE_WHERE = text("state <> 'resolved'")


class Admission(db.Model):
    """录取: a school admits a graduate (or, across provinces, a record it fetches) into its entry
    grade. Its approval is a Request (新生录取核办, 外地就读学生核办); it holds a seat of the plan
    while pending or admitted."""

    __tablename__ = "admission"
    __audit__ = True
    __table_args__ = (
        # A school admits a student once a year (a double click, a re-imported list).
        Index("uq_admission_live_school", "year_id", "student_id", "school_id", unique=True,
              postgresql_where=LIVE_ADMISSION_WHERE, sqlite_where=LIVE_ADMISSION_WHERE),
        Index("ix_admission_student_state", "student_id", "state"),
        Index("ix_admission_school_state", "school_id", "year_id", "state"),
        Index("ix_admission_school_path", "school_path", postgresql_ops={"school_path": "varchar_pattern_ops"}),
        Index("ix_admission_from_path", "from_path", postgresql_ops={"from_path": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year_id: Mapped[int] = mapped_column(Integer, ForeignKey("school_year.id"), nullable=False)
    kind: Mapped[AdmissionKind] = mapped_column(_enum_column(AdmissionKind), nullable=False)
    state: Mapped[AdmissionState] = mapped_column(_enum_column(AdmissionState), nullable=False,
                                                  default=AdmissionState.PENDING)
    student_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("student.id"))  # archive: set on approval
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)  # admitting
    school_path: Mapped[str] = mapped_column(String(255), nullable=False)
    grade: Mapped[str] = mapped_column(String(2), nullable=False)
    from_school_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("org_unit.id"))  # graduating school
    from_path: Mapped[str | None] = mapped_column(String(255))
    from_school_name: Mapped[str | None] = mapped_column(String(120))  # another province's school, as typed
    plan_id: Mapped[int] = mapped_column(Integer, ForeignKey("enrollment_plan.id"), nullable=False)
    list_row_id: Mapped[int | None] = mapped_column(Integer)  # the 统一招生 row (which points back, with its FK)
    request_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("request.id"))
    duplicate_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("duplicate_admission.id"), index=True)
    claim: Mapped[ClaimState] = mapped_column(_enum_column(ClaimState), nullable=False, default=ClaimState.NONE)
    claim_request_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("request.id"))
    score: Mapped[float | None] = mapped_column(Numeric(6, 1))
    outcome: Mapped[str | None] = mapped_column(Text)  # why it ended (驳回理由, 撤销, 仲裁结果)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    year = relationship("SchoolYear")
    student = relationship("Student")
    school = relationship("OrgUnit", foreign_keys=[school_id])
    from_school = relationship("OrgUnit", foreign_keys=[from_school_id])
    plan = relationship("EnrollmentPlan")
    request = relationship("Request", foreign_keys=[request_id])
    claim_request = relationship("Request", foreign_keys=[claim_request_id])
    duplicate = relationship("DuplicateAdmission", back_populates="admissions", foreign_keys=[duplicate_id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_org_path(self):
        return self.school_path

    @property
    def live(self):
        return self.state in (AdmissionState.PENDING, AdmissionState.ADMITTED)

    def __str__(self):
        return f"录取：{self.name}（{self.school.name if self.school else ''}）"


class DuplicateAdmission(db.Model):
    """重复招生: one student with live admissions at several schools in one year. The schools
    withdraw or prove (佐证, approved by their counties); when every remaining claim is proved, the
    lowest common superior arbitrates: at most one admission stands."""

    __tablename__ = "duplicate_admission"
    __audit__ = True
    __table_args__ = (
        Index("uq_duplicate_admission_open", "year_id", "student_id", unique=True,
              postgresql_where=OPEN_DUPLICATE_WHERE, sqlite_where=OPEN_DUPLICATE_WHERE),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year_id: Mapped[int] = mapped_column(Integer, ForeignKey("school_year.id"), nullable=False)
    student_id: Mapped[int] = mapped_column(Integer, ForeignKey("student.id"), nullable=False, index=True)
    state: Mapped[DuplicateState] = mapped_column(_enum_column(DuplicateState), nullable=False,
                                                  default=DuplicateState.OPEN)
    paths: Mapped[str] = mapped_column(Text, nullable=False, default="")  # every school's path, for scope
    arbiter_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("org_unit.id"))
    winner_id: Mapped[int | None] = mapped_column(Integer)  # the admission that stands (an Admission id)
    resolution: Mapped[str | None] = mapped_column(Text)
    arbitrated_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    arbitrated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    detected_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    resolved_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    year = relationship("SchoolYear")
    student = relationship("Student")
    arbiter = relationship("OrgUnit")
    admissions = relationship("Admission", back_populates="duplicate", foreign_keys="Admission.duplicate_id",
                              order_by="Admission.id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_org_path(self):
        paths = [p for p in (self.paths or "").split("|") if p]
        if not paths:
            return None
        common = paths[0]
        for p in paths[1:]:
            while not p.startswith(common):
                common = common[:common.rstrip("/").rfind("/") + 1]
        return common

    def __str__(self):
        return f"重复招生 {self.id}（{self.student.name if self.student else ''}）"
