"""A broadcast's confirmation is used once: sending the same confirmed form again sends nothing more.

Revision ID: i16bcastonce1
Revises: h15atrisk001
Create Date: 2026-11-22 10:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'i16bcastonce1'
down_revision: Union[str, None] = 'h15atrisk001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('broadcast', sa.Column('confirmation', sa.String(length=64), nullable=True))
    op.create_unique_constraint('broadcast_confirmation_key', 'broadcast', ['confirmation'])


def downgrade() -> None:
    op.drop_constraint('broadcast_confirmation_key', 'broadcast', type_='unique')
    op.drop_column('broadcast', 'confirmation')
