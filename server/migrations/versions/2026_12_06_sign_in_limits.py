"""Sign-in limits: failed sign-ins kept for the administrator; each session's CSRF token bound to it.

Revision ID: j17signin001
Revises: i16bcastonce1
Create Date: 2026-12-06 22:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'j17signin001'
down_revision: Union[str, None] = 'i16bcastonce1'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('staff_session', sa.Column('csrf_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_table('sign_in_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.CheckConstraint("reason IN ('wrong_password', 'unknown_account', 'switched_off', 'locked')",
                       name='sign_in_failure_reason_known'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('sign_in_failure_staff_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('sign_in_failure_pkey'))
    )
    op.create_index(op.f('ix_sign_in_failure_at'), 'sign_in_failure', ['at'], unique=False)
    op.create_index(op.f('ix_sign_in_failure_address'), 'sign_in_failure', ['address'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sign_in_failure_address'), table_name='sign_in_failure')
    op.drop_index(op.f('ix_sign_in_failure_at'), table_name='sign_in_failure')
    op.drop_table('sign_in_failure')
    op.drop_column('staff_session', 'csrf_hash')
