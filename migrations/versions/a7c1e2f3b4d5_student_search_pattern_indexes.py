"""student search indexes with pattern ops (prefix LIKE uses them under any collation)

Revision ID: a7c1e2f3b4d5
Revises: 319083dc544b
Create Date: 2026-11-24 23:30:00
"""
from alembic import op

revision = "a7c1e2f3b4d5"
down_revision = "319083dc544b"
branch_labels = None
depends_on = None

INDEXES = {"ix_student_name_initials": "name_initials", "ix_student_id_number": "id_number"}


def _recreate(with_pattern_ops):
    for name, column in INDEXES.items():
        with op.batch_alter_table("student", schema=None) as batch_op:
            batch_op.drop_index(name)
            ops = {"postgresql_ops": {column: "varchar_pattern_ops"}} if with_pattern_ops else {}
            batch_op.create_index(name, [column], unique=False, **ops)


def upgrade():
    _recreate(True)


def downgrade():
    _recreate(False)
