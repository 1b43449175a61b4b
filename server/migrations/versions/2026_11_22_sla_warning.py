"""The operator sets how early a job counts as at risk of missing its SLA target.

Revision ID: h15atrisk001
Revises: g14audit0001
Create Date: 2026-11-22 09:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'h15atrisk001'
down_revision: Union[str, None] = 'g14audit0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('operator_settings', sa.Column('sla_at_risk_percent', sa.Integer(), nullable=True))
    op.create_check_constraint('operator_settings_at_risk_share', 'operator_settings',
                               'sla_at_risk_percent BETWEEN 1 AND 99')


def downgrade() -> None:
    op.drop_constraint('operator_settings_at_risk_share', 'operator_settings', type_='check')
    op.drop_column('operator_settings', 'sla_at_risk_percent')
