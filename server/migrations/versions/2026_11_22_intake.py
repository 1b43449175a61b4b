"""intake: grouping counts, reopened incidents, report photos, API clients, rate limits, planned outages

Revision ID: dfe3c4a7f5f6
Revises: 8a92e011ddcb
Create Date: 2026-11-22 02:41:26.845226
"""
from typing import Sequence, Union

from alembic import op
import geoalchemy2
import sqlalchemy as sa
import sqlmodel
from geoalchemy2 import Geometry

revision: str = 'dfe3c4a7f5f6'
down_revision: Union[str, None] = '8a92e011ddcb'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('api_client',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash'),
    sa.UniqueConstraint('name')
    )
    op.create_table('rate_hit',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window_start')
    )
    op.create_geospatial_table('planned_outage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), server_default='', nullable=False),
    sa.Column('area', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled', sa.Boolean(), server_default='false', nullable=False),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('idx_planned_outage_area', 'planned_outage', ['area'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.add_column('incident', sa.Column('customers_affected', sa.Integer(), server_default='0', nullable=False))
    op.add_column('incident', sa.Column('repeat_calls', sa.Integer(), server_default='0', nullable=False))
    op.add_column('incident', sa.Column('last_report_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('incident', sa.Column('reopened_from_id', sa.Integer(), nullable=True))
    op.add_column('incident', sa.Column('flag', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    op.create_foreign_key('incident_reopened_from_id_fkey', 'incident', 'incident', ['reopened_from_id'], ['id'])
    op.execute('''
        UPDATE incident i SET
            customers_affected = (SELECT count(*) FROM customer c WHERE c.transformer_id = i.transformer_id),
            last_report_at = (SELECT max(r.created_at) FROM report r WHERE r.incident_id = i.id)
    ''')
    op.add_column('report', sa.Column('photo', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))


def downgrade() -> None:
    op.drop_column('report', 'photo')
    op.drop_constraint('incident_reopened_from_id_fkey', 'incident', type_='foreignkey')
    op.drop_column('incident', 'flag')
    op.drop_column('incident', 'reopened_from_id')
    op.drop_column('incident', 'last_report_at')
    op.drop_column('incident', 'repeat_calls')
    op.drop_column('incident', 'customers_affected')
    op.drop_geospatial_index('idx_planned_outage_area', table_name='planned_outage', postgresql_using='gist', column_name='area')
    op.drop_geospatial_table('planned_outage')
    op.drop_table('rate_hit')
    op.drop_table('api_client')
