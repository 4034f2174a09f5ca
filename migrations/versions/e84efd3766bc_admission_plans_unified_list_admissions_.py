"""admission: plans, unified list, admissions, duplicate admissions; class capacity

Revision ID: e84efd3766bc
Revises: e1a9c0b2d3f4
Create Date: 2026-11-25 06:09:33

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e84efd3766bc'
down_revision = 'e1a9c0b2d3f4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('enrollment_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('school_path', sa.String(length=255), nullable=False),
    sa.Column('grade', sa.String(length=2), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=False),
    sa.Column('used', sa.Integer(), server_default='0', nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('used >= 0 AND used <= quota', name='ck_enrollment_plan_within_quota'),
    sa.ForeignKeyConstraint(['school_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['set_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['year_id'], ['school_year.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('year_id', 'school_id', 'grade', name='uq_enrollment_plan_school_grade')
    )
    with op.batch_alter_table('enrollment_plan', schema=None) as batch_op:
        batch_op.create_index('ix_enrollment_plan_school_path', ['school_path'], unique=False, postgresql_ops={'school_path': 'varchar_pattern_ops'})

    op.create_table('duplicate_admission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('open', 'arbitration', 'resolved', name='duplicatestate', native_enum=False, length=20), nullable=False),
    sa.Column('paths', sa.Text(), nullable=False),
    sa.Column('arbiter_id', sa.Integer(), nullable=True),
    sa.Column('winner_id', sa.Integer(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('arbitrated_by_id', sa.Integer(), nullable=True),
    sa.Column('arbitrated_at', sa.DateTime(), nullable=True),
    sa.Column('detected_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['arbiter_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['arbitrated_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], ),
    sa.ForeignKeyConstraint(['year_id'], ['school_year.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('duplicate_admission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_admission_student_id'), ['student_id'], unique=False)
        batch_op.create_index('uq_duplicate_admission_open', ['year_id', 'student_id'], unique=True, postgresql_where=sa.text("state <> 'resolved'"), sqlite_where=sa.text("state <> 'resolved'"))

    op.create_table('admission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('unified', 'self', 'archive', name='admissionkind', native_enum=False, length=20), nullable=False),
    sa.Column('state', sa.Enum('pending', 'admitted', 'rejected', 'withdrawn', name='admissionstate', native_enum=False, length=20), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('school_path', sa.String(length=255), nullable=False),
    sa.Column('grade', sa.String(length=2), nullable=False),
    sa.Column('from_school_id', sa.Integer(), nullable=True),
    sa.Column('from_path', sa.String(length=255), nullable=True),
    sa.Column('from_school_name', sa.String(length=120), nullable=True),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('list_row_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('duplicate_id', sa.Integer(), nullable=True),
    sa.Column('claim', sa.Enum('none', 'proving', 'proved', name='claimstate', native_enum=False, length=20), nullable=False),
    sa.Column('claim_request_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Numeric(precision=6, scale=1), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['claim_request_id'], ['request.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['duplicate_id'], ['duplicate_admission.id'], ),
    sa.ForeignKeyConstraint(['from_school_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['enrollment_plan.id'], ),
    sa.ForeignKeyConstraint(['request_id'], ['request.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], ),
    sa.ForeignKeyConstraint(['year_id'], ['school_year.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('admission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admission_duplicate_id'), ['duplicate_id'], unique=False)
        batch_op.create_index('ix_admission_from_path', ['from_path'], unique=False, postgresql_ops={'from_path': 'varchar_pattern_ops'})
        batch_op.create_index('ix_admission_school_path', ['school_path'], unique=False, postgresql_ops={'school_path': 'varchar_pattern_ops'})
        batch_op.create_index('ix_admission_school_state', ['school_id', 'year_id', 'state'], unique=False)
        batch_op.create_index('ix_admission_student_state', ['student_id', 'state'], unique=False)
        batch_op.create_index('uq_admission_live_school', ['year_id', 'student_id', 'school_id'], unique=True, postgresql_where=sa.text("state IN ('pending', 'admitted') AND student_id IS NOT NULL"), sqlite_where=sa.text("state IN ('pending', 'admitted') AND student_id IS NOT NULL"))

    op.create_table('admission_list_row',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year_id', sa.Integer(), nullable=False),
    sa.Column('county_id', sa.Integer(), nullable=False),
    sa.Column('county_path', sa.String(length=255), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('from_school_id', sa.Integer(), nullable=False),
    sa.Column('to_school_id', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=2), nullable=False),
    sa.Column('score', sa.Numeric(precision=6, scale=1), nullable=True),
    sa.Column('admission_id', sa.Integer(), nullable=True),
    sa.Column('imported_by_id', sa.Integer(), nullable=True),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['admission_id'], ['admission.id'], ),
    sa.ForeignKeyConstraint(['county_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['from_school_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['imported_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], ),
    sa.ForeignKeyConstraint(['to_school_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['year_id'], ['school_year.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('year_id', 'county_id', 'student_id', name='uq_admission_list_student')
    )
    with op.batch_alter_table('admission_list_row', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admission_list_row_student_id'), ['student_id'], unique=False)
        batch_op.create_index('ix_admission_list_to_school', ['to_school_id', 'year_id'], unique=False)

    op.add_column('school_class', sa.Column('capacity', sa.Integer(), nullable=True))


def downgrade():
    # Dependants first: the list rows point at admissions, admissions at plans and duplicate cases.
    op.drop_column('school_class', 'capacity')
    op.drop_table('admission_list_row')
    op.drop_table('admission')
    op.drop_table('duplicate_admission')
    op.drop_table('enrollment_plan')
