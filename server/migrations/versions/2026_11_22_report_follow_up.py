"""report follow-up: "is your power back?" answers and the report filed anew on "no"

Revision ID: d5d5eafc9895
Revises: dfe3c4a7f5f6
Create Date: 2026-11-22 02:44:31.020488
"""
from typing import Sequence, Union

from alembic import op
import geoalchemy2
import sqlalchemy as sa
import sqlmodel


revision: str = 'd5d5eafc9895'
down_revision: Union[str, None] = 'dfe3c4a7f5f6'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('report', sa.Column('power_back', sa.Boolean(), nullable=True))
    op.add_column('report', sa.Column('follow_up_id', sa.Integer(), nullable=True))
    op.create_foreign_key(op.f('report_follow_up_id_fkey'), 'report', 'report', ['follow_up_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('report_follow_up_id_fkey'), 'report', type_='foreignkey')
    op.drop_column('report', 'follow_up_id')
    op.drop_column('report', 'power_back')
