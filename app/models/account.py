"""Staff accounts: FAB's ab_user extended with the org unit, real name and lock-out state."""
import datetime

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship


class Account(User):
    __tablename__ = "ab_user"
    __table_args__ = {"extend_existing": True}
    __audit__ = True

    org_unit_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True
    )
    real_name: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    locked_until: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    org_unit = relationship("OrgUnit", foreign_keys=[org_unit_id])

    @property
    def audit_org_path(self):
        return self.org_unit.path if self.org_unit else None

    @property
    def role_names(self):
        return "、".join(r.name for r in self.roles)

    def __str__(self):
        return f"{self.real_name or self.username}（{self.username}）"
