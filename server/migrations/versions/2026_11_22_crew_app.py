"""Crew app: photo files uploaded from the field, the check-in geofence flag.

Revision ID: f13crewapp01
Revises: e12dispatch01
Create Date: 2026-11-22 07:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'f13crewapp01'
down_revision: Union[str, None] = 'e12dispatch01'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # NULL for the check-ins stored before the rule: they were never judged, and the row may not change.
    op.add_column('checkin', sa.Column('outside_geofence', sa.Boolean(), nullable=True))
    op.create_table(
        'photo_file',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('crew_id', sa.Integer(), nullable=True),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.Integer(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('latitude', sa.Float(), nullable=True),
        sa.Column('longitude', sa.Float(), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('photo_file_crew_id_fkey')),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('photo_file_staff_id_fkey')),
        sa.PrimaryKeyConstraint('id', name=op.f('photo_file_pkey')),
    )
    # A photo is accepted once and never replaced, like the other field records (sync_append_only: b05sync00001).
    op.execute("CREATE TRIGGER photo_file_append_only BEFORE UPDATE OR DELETE ON photo_file "
               "FOR EACH ROW EXECUTE FUNCTION sync_append_only()")


def downgrade() -> None:
    op.execute("DROP TRIGGER photo_file_append_only ON photo_file")
    op.drop_table('photo_file')
    op.drop_column('checkin', 'outside_geofence')
