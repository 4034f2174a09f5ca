"""Models and migrations agree: autogenerate against the migrated test database finds nothing
(run on SQLite by default and on PostgreSQL in CI)."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def test_models_and_migrations_agree(app):
    with app.app_context():
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            diff = compare_metadata(ctx, db.metadata)
    assert diff == [], f"models differ from migrations: {diff}"


def test_fab_tables_are_migrated(app):
    from sqlalchemy import inspect
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {"ab_user", "ab_role", "ab_user_role", "ab_permission_view", "org_unit", "region", "audit_log", "job"} <= tables
