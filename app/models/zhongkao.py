"""中招 part 1: the year's exam (中考), its candidates (考生, with their own accounts), 加分/照顾 items,
exam sites, rooms and seats (考务), subjects, scores and score reviews (复核).

Candidates are not registry students: a candidate row is a copy taken at registration (应届 from the
graduating junior class, 往届/外省 entered by hand), so the exam keeps what was confirmed and signed
even when the registry changes later. `student_id` links back where there is a record."""
import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, Numeric,
                        String, Text, UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.org import LabelledEnum, _enum_column


class CandidateCategory(LabelledEnum):
    FRESH = ("fresh", _l("应届"))
    PAST = ("past", _l("往届"))


class HukouKind(LabelledEnum):
    LOCAL = ("local", _l("户籍"))
    MIGRANT = ("migrant", _l("随迁"))


class StudyIntent(LabelledEnum):
    GENERAL = ("general", _l("普通高中意向"))
    VOCATIONAL = ("vocational", _l("职业学校意向"))


class CandidateOrigin(LabelledEnum):
    REGISTRY = ("registry", _l("学籍库应届"))
    MANUAL = ("manual", _l("手工报名（往届）"))
    OUT_OF_PROVINCE = ("out_of_province", _l("手工报名（外省）"))


class InfoState(LabelledEnum):
    """信息采集: collected by the school, checked by the candidate in the portal, then signed and locked."""
    COLLECTING = ("collecting", _l("采集中"))
    CHECKED = ("checked", _l("考生已核对"))
    CONFIRMED = ("confirmed", _l("已签字确认（锁定）"))


class QualState(LabelledEnum):
    """资格审核, level by level: the school submits, the county and then the city approve."""
    PENDING = ("pending", _l("待学校审核"))
    SUBMITTED = ("submitted", _l("审核中"))
    APPROVED = ("approved", _l("资格审核通过"))
    REJECTED = ("rejected", _l("资格审核未通过"))


class BonusState(LabelledEnum):
    PENDING = ("pending", _l("待县级审核"))
    APPROVED = ("approved", _l("已认定"))
    REJECTED = ("rejected", _l("不予认定"))


class SubjectKind(LabelledEnum):
    WRITTEN = ("written", _l("笔试科目"))
    PE = ("pe", _l("体育"))
    LAB = ("lab", _l("实验操作"))
    GRADED = ("graded", _l("等级科目"))


class ReviewState(LabelledEnum):
    PENDING = ("pending", _l("待复核"))
    CHANGED = ("changed", _l("复核后更正"))
    UNCHANGED = ("unchanged", _l("复核无误"))


class ZkExam(db.Model):
    """One year's 中考 and its configuration (set by the province)."""

    __tablename__ = "zk_exam"
    __audit__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # 报名号 pattern: {year} {yy} {county} (6-digit county code) {seq} (per county); e.g. {year}{county}{seq:05d}
    reg_no_pattern: Mapped[str] = mapped_column(String(60), nullable=False, default="{yy}{county}{seq:05d}")
    # 准考证号 pattern: {yy} {county} {site} {room} {seat}
    exam_no_pattern: Mapped[str] = mapped_column(String(60), nullable=False,
                                                 default="{yy}{county}{site:02d}{room:03d}{seat:02d}")
    registration_opens: Mapped[datetime.date | None] = mapped_column(Date)
    registration_closes: Mapped[datetime.date | None] = mapped_column(Date)
    room_size: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    # 分配生: continuous enrollment at the junior school for at least this many years (and, if set, 户籍 local)
    allocation_years: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    allocation_local_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    timetable: Mapped[str | None] = mapped_column(Text)  # JSON: [{"date", "start", "end", "subject"}]
    scores_publish_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    review_closes: Mapped[datetime.date | None] = mapped_column(Date)  # last day to ask for 复核
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    subjects = relationship("ZkSubject", back_populates="exam", order_by="ZkSubject.sort_order",
                            cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_org_path(self):
        return None  # province-wide

    def __str__(self):
        return self.name


class ZkSubject(db.Model):
    """A subject of the year and how it counts in the total (总分 = Σ weight × score; 等级 via grade_table)."""

    __tablename__ = "zk_subject"
    __audit__ = True
    __table_args__ = (UniqueConstraint("exam_id", "code", name="uq_zk_subject_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exam_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_exam.id", ondelete="CASCADE"), nullable=False)
    code: Mapped[str] = mapped_column(String(10), nullable=False)
    name: Mapped[str] = mapped_column(String(30), nullable=False)
    kind: Mapped[SubjectKind] = mapped_column(_enum_column(SubjectKind), nullable=False, default=SubjectKind.WRITTEN)
    max_score: Mapped[float] = mapped_column(Numeric(6, 1), nullable=False, default=100)
    weight: Mapped[float] = mapped_column(Numeric(5, 2), nullable=False, default=1)
    counts_in_total: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    grade_table: Mapped[str | None] = mapped_column(Text)  # JSON {"A": 50, "B": 40, …} for 等级 subjects
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    exam = relationship("ZkExam", back_populates="subjects")

    @property
    def audit_org_path(self):
        return None

    def __str__(self):
        return self.name


class Candidate(db.Model):
    """中考考生: registration, collected information, qualification, seat, account and total score."""

    __tablename__ = "zk_candidate"
    __audit__ = True
    __table_args__ = (
        UniqueConstraint("reg_no", name="uq_zk_candidate_reg_no"),
        UniqueConstraint("exam_no", name="uq_zk_candidate_exam_no"),
        UniqueConstraint("room_id", "seat_no", name="uq_zk_candidate_seat"),
        # one registration per person and year, whichever way they came in
        Index("uq_zk_candidate_person", "exam_id", "id_number", unique=True,
              postgresql_where=text("id_number IS NOT NULL"), sqlite_where=text("id_number IS NOT NULL")),
        Index("uq_zk_candidate_student", "exam_id", "student_id", unique=True,
              postgresql_where=text("student_id IS NOT NULL"), sqlite_where=text("student_id IS NOT NULL")),
        Index("ix_zk_candidate_school", "exam_id", "school_id"),
        Index("ix_zk_candidate_path", "school_path", postgresql_ops={"school_path": "varchar_pattern_ops"}),
        Index("ix_zk_candidate_county_seq", "exam_id", "county_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exam_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_exam.id"), nullable=False)
    reg_no: Mapped[str] = mapped_column(String(24), nullable=False)        # 报名号
    seq: Mapped[int] = mapped_column(Integer, nullable=False)              # sequence within the county
    exam_no: Mapped[str | None] = mapped_column(String(24))                # 准考证号 (after seating)
    student_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("student.id"))
    origin: Mapped[CandidateOrigin] = mapped_column(_enum_column(CandidateOrigin), nullable=False,
                                                    default=CandidateOrigin.REGISTRY)
    category: Mapped[CandidateCategory] = mapped_column(_enum_column(CandidateCategory), nullable=False,
                                                        default=CandidateCategory.FRESH)
    hukou_kind: Mapped[HukouKind] = mapped_column(_enum_column(HukouKind), nullable=False, default=HukouKind.LOCAL)
    intent: Mapped[StudyIntent] = mapped_column(_enum_column(StudyIntent), nullable=False, default=StudyIntent.GENERAL)
    # identity (copied from the registry or checked like the registry's)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    gender: Mapped[str] = mapped_column(String(1), nullable=False)
    birth_date: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    id_type: Mapped[str] = mapped_column(String(2), nullable=False, default="1")
    id_number: Mapped[str | None] = mapped_column(String(32))
    ethnicity: Mapped[str] = mapped_column(String(2), nullable=False, default="01")
    # where: the county that runs the registration and the school (报名点) the candidate belongs to
    county_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    school_path: Mapped[str] = mapped_column(String(255), nullable=False)
    graduated_school_name: Mapped[str | None] = mapped_column(String(100))  # 往届/外省: the school they left
    class_name: Mapped[str | None] = mapped_column(String(32))
    # 信息采集
    phone: Mapped[str | None] = mapped_column(String(20))
    guardian_name: Mapped[str | None] = mapped_column(String(64))
    guardian_relation: Mapped[str | None] = mapped_column(String(2))
    guardian_phone: Mapped[str | None] = mapped_column(String(20))
    hukou_code: Mapped[str | None] = mapped_column(String(12))
    hukou_address: Mapped[str | None] = mapped_column(String(200))
    home_address: Mapped[str | None] = mapped_column(String(200))
    has_photo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    info_state: Mapped[InfoState] = mapped_column(_enum_column(InfoState), nullable=False, default=InfoState.COLLECTING)
    checked_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)       # candidate checked in the portal
    confirmed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)     # signed form recorded: locked
    confirmed_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    # 资格审核 and 分配生 (指标到校) eligibility, with the basis computed from the registry history
    qual_state: Mapped[QualState] = mapped_column(_enum_column(QualState), nullable=False, default=QualState.PENDING)
    qual_request_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("request.id"))
    qual_note: Mapped[str | None] = mapped_column(String(255))
    allocation_eligible: Mapped[bool | None] = mapped_column(Boolean)
    allocation_basis: Mapped[str | None] = mapped_column(Text)
    # 考务
    room_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("zk_room.id"))  # indexed by uq_zk_candidate_seat
    seat_no: Mapped[int | None] = mapped_column(Integer)
    # account (own password; staff only ever issue activation codes)
    activation_code_hash: Mapped[str | None] = mapped_column(String(255))
    activation_issued_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    activated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    failed_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    locked_until: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    # scores (total computed from zk_score by the year's formula)
    total_score: Mapped[float | None] = mapped_column(Numeric(7, 1))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now,
                                                          onupdate=datetime.datetime.now)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    exam = relationship("ZkExam")
    student = relationship("Student")
    county = relationship("OrgUnit", foreign_keys=[county_id])
    school = relationship("OrgUnit", foreign_keys=[school_id])
    room = relationship("ZkRoom")

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_org_path(self):
        return self.school_path

    @property
    def locked(self):
        return self.info_state == InfoState.CONFIRMED

    def __str__(self):
        return f"{self.name}（报名号 {self.reg_no}）"


class ZkPhoto(db.Model):
    """The candidate's photo, cropped to the standard size (kept apart: candidate rows stay small)."""

    __tablename__ = "zk_photo"

    candidate_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_candidate.id", ondelete="CASCADE"),
                                              primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    content_type: Mapped[str] = mapped_column(String(30), nullable=False, default="image/jpeg")
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    uploaded_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    uploaded_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))


class ZkBonus(db.Model):
    """A 加分/照顾 item a candidate claims, with evidence, reviewed by the county."""

    __tablename__ = "zk_bonus"
    __audit__ = True
    __table_args__ = (UniqueConstraint("candidate_id", "item", name="uq_zk_bonus_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_candidate.id", ondelete="CASCADE"),
                                              nullable=False, index=True)
    item: Mapped[str] = mapped_column(String(4), nullable=False)      # code table zk_bonus_item
    points: Mapped[float] = mapped_column(Numeric(4, 1), nullable=False, default=0)
    note: Mapped[str | None] = mapped_column(String(255))
    evidence_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("attachment.id"))
    state: Mapped[BonusState] = mapped_column(_enum_column(BonusState), nullable=False, default=BonusState.PENDING)
    reviewed_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    reviewed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    review_note: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)

    candidate = relationship("Candidate")

    @property
    def audit_org_path(self):
        return self.candidate.school_path if self.candidate is not None else None

    def __str__(self):
        return f"加分/照顾项目 {self.item}"


class ZkSite(db.Model):
    """考点: an exam site run by a county."""

    __tablename__ = "zk_site"
    __audit__ = True
    __table_args__ = (UniqueConstraint("exam_id", "county_id", "number", name="uq_zk_site_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exam_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_exam.id"), nullable=False)
    county_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    county_path: Mapped[str] = mapped_column(String(255), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)    # 考点号 within the county (1–99)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    address: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    county = relationship("OrgUnit")
    rooms = relationship("ZkRoom", back_populates="site", order_by="ZkRoom.number", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def audit_org_path(self):
        return self.county_path

    def __str__(self):
        return f"第{self.number:02d}考点 {self.name}"


class ZkRoom(db.Model):
    """考场: a room of a site with its capacity (seats 1…capacity)."""

    __tablename__ = "zk_room"
    __audit__ = True
    __table_args__ = (UniqueConstraint("site_id", "number", name="uq_zk_room_number"),
                      CheckConstraint("capacity > 0", name="ck_zk_room_capacity"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_site.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    number: Mapped[int] = mapped_column(Integer, nullable=False)    # 考场号 within the site
    capacity: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    location: Mapped[str | None] = mapped_column(String(100))       # e.g. 教学楼A 201

    site = relationship("ZkSite", back_populates="rooms")

    @property
    def audit_org_path(self):
        return self.site.county_path if self.site is not None else None

    def __str__(self):
        return f"第{self.number:03d}考场"


class ZkScore(db.Model):
    """One subject's score of one candidate (等级 subjects keep the grade and its converted points)."""

    __tablename__ = "zk_score"
    __table_args__ = (UniqueConstraint("candidate_id", "subject_id", name="uq_zk_score"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_candidate.id", ondelete="CASCADE"),
                                              nullable=False)
    subject_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_subject.id"), nullable=False)
    score: Mapped[float | None] = mapped_column(Numeric(6, 1))
    grade: Mapped[str | None] = mapped_column(String(4))
    imported_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)

    subject = relationship("ZkSubject")


class ZkScoreReview(db.Model):
    """复核: a candidate asks for a subject's score to be checked; the outcome is recorded."""

    __tablename__ = "zk_score_review"
    __audit__ = True
    __table_args__ = (
        Index("uq_zk_score_review_open", "candidate_id", "subject_id", unique=True,
              postgresql_where=text("state = 'pending'"), sqlite_where=text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_candidate.id", ondelete="CASCADE"),
                                              nullable=False, index=True)
    subject_id: Mapped[int] = mapped_column(Integer, ForeignKey("zk_subject.id"), nullable=False)
    reason: Mapped[str] = mapped_column(String(255), nullable=False)
    state: Mapped[ReviewState] = mapped_column(_enum_column(ReviewState), nullable=False, default=ReviewState.PENDING)
    old_score: Mapped[float | None] = mapped_column(Numeric(6, 1))
    new_score: Mapped[float | None] = mapped_column(Numeric(6, 1))
    outcome_note: Mapped[str | None] = mapped_column(String(255))
    decided_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)

    candidate = relationship("Candidate")
    subject = relationship("ZkSubject")

    @property
    def audit_org_path(self):
        return self.candidate.school_path if self.candidate is not None else None

    def __str__(self):
        return f"成绩复核 {self.subject.name if self.subject else ''}"
