"""Database set-up after migrations: the role rows (their permissions are code in FAB_ROLES)."""
from flask_appbuilder.security.sqla.models import Role
from sqlalchemy import select

from app.services.roles import ROLE_TEMPLATES


def ensure_roles(session, public_role="Public"):
    existing = set(session.scalars(select(Role.name)))
    for name in list(ROLE_TEMPLATES) + [public_role]:
        if name not in existing:
            session.add(Role(name=name))
    session.flush()
