"""admin: operator settings, crew skills, import runs

Revision ID: a11admin0001
Revises: d5d5eafc9895
Create Date: 2026-11-22 03:12:00
"""
from typing import Sequence, Union

from alembic import op
import geoalchemy2
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision: str = 'a11admin0001'
down_revision: Union[str, None] = 'd5d5eafc9895'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('operator_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sla_danger_on_site_minutes', sa.Integer(), nullable=True),
    sa.Column('sla_danger_restore_minutes', sa.Integer(), nullable=True),
    sa.Column('sla_restore_minutes', sa.Integer(), nullable=True),
    sa.Column('geofence_radius_m', sa.Integer(), nullable=True),
    sa.Column('group_radius_m', sa.Integer(), nullable=True),
    sa.Column('group_window_minutes', sa.Integer(), nullable=True),
    sa.Column('sms_sender', sqlmodel.sql.sqltypes.AutoString(length=15), nullable=True),
    sa.Column('updated_by_staff_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('geofence_radius_m > 0 AND group_radius_m > 0 AND group_window_minutes > 0', name='operator_settings_positive'),
    sa.CheckConstraint('id = 1', name='operator_settings_one_row'),
    sa.CheckConstraint('sla_danger_on_site_minutes > 0 AND sla_danger_restore_minutes > 0 AND sla_restore_minutes > 0', name='operator_settings_sla_positive'),
    sa.ForeignKeyConstraint(['updated_by_staff_id'], ['staff.id'], name=op.f('operator_settings_updated_by_staff_id_fkey'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('operator_settings_pkey'))
    )
    op.create_table('crew_skill',
    sa.Column('crew_id', sa.Integer(), nullable=False),
    sa.Column('skill', sa.String(length=30), nullable=False),
    sa.CheckConstraint("skill IN ('hv_lines', 'lv_network', 'transformers', 'underground_cable', 'live_line', 'vegetation', 'meters')", name='crew_skill_known'),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('crew_skill_crew_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('crew_id', 'skill', name=op.f('crew_skill_pkey'))
    )
    op.create_table('import_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('stored_as', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('inserted', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('problem_count', sa.Integer(), nullable=False),
    sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.CheckConstraint("kind IN ('zones','feeders','transformers','customers')", name='import_run_kind_known'),
    sa.CheckConstraint("status IN ('checked','applied','refused')", name='import_run_status_known'),
    sa.PrimaryKeyConstraint('id', name=op.f('import_run_pkey'))
    )


def downgrade() -> None:
    op.drop_table('import_run')
    op.drop_table('crew_skill')
    op.drop_table('operator_settings')
