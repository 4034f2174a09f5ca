"""promotion throughput: indexes and constraints the 1M-student promotion writes through

Revision ID: e1a9c0b2d3f4
Revises: ee87c5f204da
Create Date: 2026-11-25 06:30:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = 'e1a9c0b2d3f4'
down_revision = 'ee87c5f204da'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
