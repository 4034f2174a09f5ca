"""Background jobs: one row per run, visible to the actor on 我的任务."""
import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.org import LabelledEnum, _enum_column


class JobState(LabelledEnum):
    QUEUED = ("queued", _l("排队中"))
    RUNNING = ("running", _l("执行中"))
    FINISHED = ("finished", _l("已完成"))
    FAILED = ("failed", _l("失败"))


class Job(db.Model):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id"), nullable=False, index=True)
    state: Mapped[JobState] = mapped_column(_enum_column(JobState), nullable=False, default=JobState.QUEUED)
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict | None] = mapped_column(JSON)
    result_file: Mapped[str | None] = mapped_column(String(255))
    rq_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    started_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    actor = relationship("Account", foreign_keys=[actor_id])

    @property
    def kind_label(self):
        from app.jobs import JOB_KINDS

        spec = JOB_KINDS.get(self.kind)
        return str(spec.label) if spec else self.kind
