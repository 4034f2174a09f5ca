"""The audit trail: who changed which field of which record, when, and why."""
import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity", "entity_id"),
        Index("ix_audit_log_org_path", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime, nullable=False, default=datetime.datetime.now, index=True
    )
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str | None] = mapped_column(String(128))
    entity: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(64))
    entity_label: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # create/update/delete/bulk
    field: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(255))
    # Org path of the record's owner at the time of the change: scopes who may read this entry.
    org_path: Mapped[str | None] = mapped_column(String(255))

    # Values of fields that carry an ID number, as the reader may see them (信息保密).
    @property
    def old_value_shown(self):
        from app.services.context import current_actor
        from app.services.privacy import shown_field
        return shown_field(current_actor(), self.field, self.old_value)

    @property
    def new_value_shown(self):
        from app.services.context import current_actor
        from app.services.privacy import shown_field
        return shown_field(current_actor(), self.field, self.new_value)
