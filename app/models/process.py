"""学籍异动 configuration and traces: business calendars, per-unit process settings, and the
read-only trace a school keeps of a student who transferred away (籍随人走)."""
import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.org import LabelledEnum, _enum_column


class WindowMode(LabelledEnum):
    CLOSED = ("closed", _l("暂停发起"))     # no new requests between the dates (e.g. 7月21日至8月14日)
    OPEN = ("open", _l("办理期限"))         # new requests only between the dates
    HOLIDAY = ("holiday", _l("节假日"))     # not a working day (deadlines in working days skip it)


class BusinessWindow(db.Model):
    """A calendar rule of one unit (province, city or county) for its whole subtree."""

    __tablename__ = "business_window"
    __audit__ = True
    __table_args__ = (Index("ix_business_window_process", "process", "mode"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False, index=True)
    process: Mapped[str] = mapped_column(String(40), nullable=False)  # calendar key, e.g. "transfer"; "*" for holidays
    mode: Mapped[WindowMode] = mapped_column(_enum_column(WindowMode), nullable=False)
    starts_on: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[datetime.date] = mapped_column(Date, nullable=False)  # inclusive (…8月14日24时)
    title: Mapped[str] = mapped_column(String(128), nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)

    org_unit = relationship("OrgUnit")

    @property
    def audit_org_path(self):
        return self.org_unit.path if self.org_unit is not None else None

    def __str__(self):
        return f"{self.title}（{self.starts_on:%Y-%m-%d} 至 {self.ends_on:%Y-%m-%d}）"


class ProcessSetting(db.Model):
    """One setting of one unit for its subtree (e.g. the order in which two counties approve a
    transfer); the nearest unit up the tree that set it wins."""

    __tablename__ = "process_setting"
    __audit__ = True
    __table_args__ = (UniqueConstraint("org_unit_id", "key", name="uq_process_setting_unit_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    key: Mapped[str] = mapped_column(String(60), nullable=False)
    value: Mapped[str] = mapped_column(String(60), nullable=False)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now,
                                                          onupdate=datetime.datetime.now)

    org_unit = relationship("OrgUnit")

    @property
    def audit_org_path(self):
        return self.org_unit.path if self.org_unit is not None else None

    def __str__(self):
        return f"{self.key} = {self.value}"


class DepartureTrace(db.Model):
    """What the former school keeps after a transfer: who left, to where, when. Not the record."""

    __tablename__ = "departure_trace"
    __table_args__ = (Index("ix_departure_trace_from_path", "from_path",
                            postgresql_ops={"from_path": "varchar_pattern_ops"}),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(Integer, ForeignKey("student.id"), nullable=False, index=True)
    request_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("request.id"))
    from_school_id: Mapped[int] = mapped_column(Integer, ForeignKey("org_unit.id"), nullable=False)
    from_path: Mapped[str] = mapped_column(String(255), nullable=False)  # scoping: the former school's subtree
    to_school_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("org_unit.id"))  # None: out of province
    to_name: Mapped[str] = mapped_column(String(255), nullable=False)   # "南昌市西湖区 西湖第一小学" / "广东省 …"
    student_name: Mapped[str] = mapped_column(String(64), nullable=False)
    personal_id: Mapped[str | None] = mapped_column(String(20))
    grade: Mapped[str | None] = mapped_column(String(2))
    class_name: Mapped[str | None] = mapped_column(String(32))
    left_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)

    from_school = relationship("OrgUnit", foreign_keys=[from_school_id])
    to_school = relationship("OrgUnit", foreign_keys=[to_school_id])

    def __str__(self):
        return f"{self.student_name} 转出至 {self.to_name}（{self.left_at:%Y-%m-%d}）"
