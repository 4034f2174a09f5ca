"""学籍: the student record, guardians, history spans and evidence attachments."""
import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (Boolean, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.org import LabelledEnum, _enum_column


class StudentStatus(LabelledEnum):
    REGISTERING = ("registering", _l("注册待核办"))
    IN_SCHOOL = ("in_school", _l("在校"))
    SUSPENDED = ("suspended", _l("休学"))
    GRADUATED = ("graduated", _l("毕业"))
    TRANSFERRED_OUT = ("transferred_out", _l("转出"))
    DROPPED_OUT = ("dropped_out", _l("退学"))
    LEFT_OTHER = ("left_other", _l("其他离校"))
    DECEASED = ("deceased", _l("死亡"))
    DELETED = ("deleted", _l("已删除"))


# A person has one record in the province (一人一籍) unless it was deleted or moved away. Records
# loaded from the previous system (origin 'legacy') may break it: finding and settling those is
# 问题学籍 (services/problems.py); everything entered here is unique, also against them.
INACTIVE_STATUSES = ("deleted", "transferred_out")
ACTIVE_WHERE = text("id_number IS NOT NULL AND status NOT IN ('deleted', 'transferred_out') AND origin = 'registry'")
ORIGIN_REGISTRY, ORIGIN_LEGACY = "registry", "legacy"
KEY_FIELDS = ("name", "gender", "birth_date", "id_type", "id_number", "ethnicity")


class Student(db.Model):
    __tablename__ = "student"
    __audit__ = True
    __table_args__ = (
        Index("uq_student_active_id_number", "id_number", unique=True,
              postgresql_where=ACTIVE_WHERE, sqlite_where=ACTIVE_WHERE),
        Index("ix_student_school_status", "school_id", "status"),
        # No index holds grade: the yearly 升级 rewrites ~75% of the students' grades, and a changed
        # indexed column makes PostgreSQL write a new entry in every index of the row; without one,
        # and with room in the row's page (fillfactor below), it updates the row in place (HOT).
        # The list's default order (school, grade, class, name) reads a school's rows by one of these
        # two indexes and sorts them (incremental sort): a province page stays ~15 ms at 1M students.
        Index("ix_student_school_class", "school_id", "class_name"),
        Index("ix_student_name", "name"),
        # pattern ops: prefix searches (LIKE 'x%') use these under any collation (bench/bench_students.py)
        Index("ix_student_name_initials", "name_initials", postgresql_ops={"name_initials": "varchar_pattern_ops"}),
        Index("ix_student_id_number", "id_number", postgresql_ops={"id_number": "varchar_pattern_ops"}),
        # Half of each page kept free: room for the new versions of the promoted rows in their own pages
        # (HOT). After a first 升级 without it the table is ~1.75× as large anyway (the new versions go
        # to new pages); with it, every year's 升级 and its 撤销 update in place (bench_school_year.py).
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # key data (关键数据): changed only through an approved 关键数据变更
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    name_initials: Mapped[str | None] = mapped_column(String(32))  # pinyin initials for search
    gender: Mapped[str] = mapped_column(String(1), nullable=False)
    birth_date: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    id_type: Mapped[str] = mapped_column(String(2), nullable=False, default="1")
    id_number: Mapped[str | None] = mapped_column(String(32))
    ethnicity: Mapped[str] = mapped_column(String(2), nullable=False, default="01")
    # numbers
    xueji_no: Mapped[str | None] = mapped_column(String(20), unique=True)       # 学籍号
    personal_id: Mapped[str | None] = mapped_column(String(20), unique=True)    # 个人标识码
    former_xueji_no: Mapped[str | None] = mapped_column(String(20))             # freed by deletion / ID change
    # other registry fields (national data standard)
    birthplace_code: Mapped[str | None] = mapped_column(String(12))   # 出生地, region code padded to 12
    hukou_code: Mapped[str | None] = mapped_column(String(12))        # 户口所在地
    native_place: Mapped[str | None] = mapped_column(String(64))      # 籍贯
    nationality: Mapped[str] = mapped_column(String(3), nullable=False, default="CHN")
    hmt_overseas: Mapped[str] = mapped_column(String(2), nullable=False, default="00")
    political_status: Mapped[str | None] = mapped_column(String(2))
    health_status: Mapped[str | None] = mapped_column(String(2))
    hukou_type: Mapped[str | None] = mapped_column(String(2))
    only_child: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    left_behind: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    migrant_child: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    orphan: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    martyr_child: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    commute_distance: Mapped[float | None] = mapped_column(Numeric(5, 1))  # km, one decimal
    commute_mode: Mapped[str | None] = mapped_column(String(2))
    needs_school_bus: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    enrollment_month: Mapped[str | None] = mapped_column(String(7))   # 入学年月 YYYY-MM
    enrollment_method: Mapped[str | None] = mapped_column(String(2))
    study_mode: Mapped[str | None] = mapped_column(String(2))
    # where the student is
    school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    grade: Mapped[str | None] = mapped_column(String(2))
    class_name: Mapped[str | None] = mapped_column(String(32))  # the class's name, kept with class_id
    class_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("school_class.id"), index=True)
    promotion_run_id: Mapped[int | None] = mapped_column(Integer)  # the 升级 that last moved the grade up
    status: Mapped[StudentStatus] = mapped_column(_enum_column(StudentStatus), nullable=False,
                                                  default=StudentStatus.REGISTERING, index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now,
                                                          onupdate=datetime.datetime.now)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    origin: Mapped[str] = mapped_column(String(10), nullable=False, default=ORIGIN_REGISTRY,
                                        server_default=ORIGIN_REGISTRY)

    school = relationship("OrgUnit")
    guardians = relationship("Guardian", back_populates="student", cascade="all, delete-orphan",
                             order_by="Guardian.id")
    history = relationship("StudentHistory", back_populates="student", cascade="all, delete-orphan",
                           order_by="StudentHistory.id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_org_path(self):
        return self.school.path if self.school is not None else None

    def __str__(self):
        # No 学籍号 here: a G-number carries the ID number, and this label lands in the audit log.
        return f"{self.name}（个人标识码 {self.personal_id or '未发号'}）"


class Guardian(db.Model):
    __tablename__ = "guardian"
    __audit__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(Integer, ForeignKey("student.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    relation: Mapped[str] = mapped_column(String(2), nullable=False)
    id_type: Mapped[str | None] = mapped_column(String(2))
    id_number: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(20))

    student = relationship("Student", back_populates="guardians")

    @property
    def audit_org_path(self):
        return self.student.audit_org_path if self.student is not None else None

    def __str__(self):
        return f"{self.name}（{self.student.name if self.student else ''}的监护人）"


class StudentHistory(db.Model):
    """Spans of (school, grade, class, status): what was true from when to when, and why."""

    __tablename__ = "student_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(Integer, ForeignKey("student.id", ondelete="CASCADE"), nullable=False, index=True)
    school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    grade: Mapped[str | None] = mapped_column(String(2))
    class_name: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    valid_from: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    valid_to: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(String(255))
    request_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("request.id"))

    student = relationship("Student", back_populates="history")
    school = relationship("OrgUnit")


class Attachment(db.Model):
    """Evidence (佐证, 无身份证号证明 …), stored under instance/attachments, scoped by org path."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    student_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("student.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("request.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    org_path: Mapped[str] = mapped_column(String(255), nullable=False)
    uploaded_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    uploaded_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
