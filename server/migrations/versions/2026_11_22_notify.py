"""notify: push subscriptions and the outbox (push and SMS, with attempts, next try, dedupe key)

Revision ID: c09notify0001
Revises: b05sync00001
Create Date: 2026-11-22 03:20:41
"""
from typing import Sequence, Union

from alembic import op
import geoalchemy2
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision: str = 'c09notify0001'
down_revision: Union[str, None] = 'b05sync00001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('push_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.Text(), nullable=False),
    sa.Column('p256dh', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('auth', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['report.id'], name=op.f('push_subscription_report_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('push_subscription_pkey')),
    sa.UniqueConstraint('endpoint', name=op.f('push_subscription_endpoint_key'))
    )
    op.create_index(op.f('ix_push_subscription_report_id'), 'push_subscription', ['report_id'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.Text(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('dedupe_key', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_try_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("channel IN ('push', 'sms')", name='outbox_channel_known'),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'gone')", name='outbox_status_known'),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('outbox_incident_id_fkey')),
    sa.ForeignKeyConstraint(['subscription_id'], ['push_subscription.id'], name=op.f('outbox_subscription_id_fkey'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('outbox_pkey')),
    sa.UniqueConstraint('dedupe_key', name=op.f('outbox_dedupe_key_key'))
    )
    op.create_index(op.f('ix_outbox_incident_id'), 'outbox', ['incident_id'], unique=False)
    op.create_index(op.f('ix_outbox_next_try_at'), 'outbox', ['next_try_at'], unique=False)


    op.create_table('broadcast',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=True),
    sa.Column('texts', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('created_by_staff_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['created_by_staff_id'], ['staff.id'], name=op.f('broadcast_created_by_staff_id_fkey'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], name=op.f('broadcast_zone_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('broadcast_pkey'))
    )


def downgrade() -> None:
    op.drop_table('broadcast')
    op.drop_table('outbox')
    op.drop_table('push_subscription')
