"""initial schema: network assets, staff, crews, reports, incidents and their timeline

Revision ID: 8a92e011ddcb
Revises: 
Create Date: 2026-11-22 02:30:02.642517
"""
from typing import Sequence, Union

from alembic import op
import geoalchemy2
import sqlalchemy as sa
import sqlmodel
from geoalchemy2 import Geography
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = '8a92e011ddcb'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE SEQUENCE incident_code_seq")
    op.execute('''
        CREATE FUNCTION next_incident_code() RETURNS text LANGUAGE sql AS $$
            SELECT 'FL-' || CASE WHEN n < 1000000 THEN lpad(n::text, 6, '0') ELSE n::text END
            FROM nextval('incident_code_seq') AS n
        $$
    ''')
    op.create_geospatial_table('crew',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('home_zone_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='off_shift', nullable=False),
    sa.Column('position', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography'), nullable=True),
    sa.Column('position_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('off_shift', 'available', 'assigned', 'en_route', 'on_site')", name='crew_status_known'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_geospatial_index('idx_crew_position', 'crew', ['position'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('road',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), server_default='', nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='street', nullable=False),
    sa.Column('route', Geometry(geometry_type='LINESTRING', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('idx_road_route', 'road', ['route'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), server_default='en', nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('agent','dispatcher','lineman','supervisor','admin')", name='staff_role_known'),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('staff_session',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_index(op.f('ix_staff_session_staff_id'), 'staff_session', ['staff_id'], unique=False)
    op.create_geospatial_table('zone',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('responsible_staff_id', sa.Integer(), nullable=True),
    sa.Column('area', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['responsible_staff_id'], ['staff.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_geospatial_index('idx_zone_area', 'zone', ['area'], unique=False, postgresql_using='gist', postgresql_ops={})
    # crew -> zone closes the cycle zone -> staff -> crew, so it is added once all three exist.
    op.create_foreign_key('crew_home_zone_id_fkey', 'crew', 'zone', ['home_zone_id'], ['id'])
    op.create_geospatial_table('feeder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=True),
    sa.Column('route', Geometry(geometry_type='LINESTRING', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_geospatial_index('idx_feeder_route', 'feeder', ['route'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_feeder_zone_id'), 'feeder', ['zone_id'], unique=False)
    op.create_geospatial_table('transformer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('feeder_id', sa.Integer(), nullable=True),
    sa.Column('location', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['feeder_id'], ['feeder.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_geospatial_index('idx_transformer_location', 'transformer', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_transformer_feeder_id'), 'transformer', ['feeder_id'], unique=False)
    op.create_geospatial_table('customer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_no', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), server_default='en', nullable=False),
    sa.Column('transformer_id', sa.Integer(), nullable=True),
    sa.Column('location', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography'), nullable=True),
    sa.ForeignKeyConstraint(['transformer_id'], ['transformer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('meter_no')
    )
    op.create_geospatial_index('idx_customer_location', 'customer', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_customer_phone'), 'customer', ['phone'], unique=False)
    op.create_index(op.f('ix_customer_transformer_id'), 'customer', ['transformer_id'], unique=False)
    op.create_geospatial_table('incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), server_default=sa.text('next_incident_code()'), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='reported', nullable=False),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='normal', nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('cause', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('location', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography'), nullable=True),
    sa.Column('transformer_id', sa.Integer(), nullable=True),
    sa.Column('feeder_id', sa.Integer(), nullable=True),
    sa.Column('zone_id', sa.Integer(), nullable=True),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('report_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('etr', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('en_route_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_site_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('restored_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rev', sa.BigInteger(), server_default='1', nullable=False),
    sa.CheckConstraint("priority IN ('normal','high')", name='incident_priority_known'),
    sa.CheckConstraint("status IN ('reported', 'assigned', 'en_route', 'on_site', 'restored', 'closed', 'cancelled')", name='incident_status_known'),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], ),
    sa.ForeignKeyConstraint(['feeder_id'], ['feeder.id'], ),
    sa.ForeignKeyConstraint(['transformer_id'], ['transformer.id'], ),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_geospatial_index('idx_incident_location', 'incident', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_incident_crew_id'), 'incident', ['crew_id'], unique=False)
    op.create_index(op.f('ix_incident_status'), 'incident', ['status'], unique=False)
    op.create_index(op.f('ix_incident_transformer_id'), 'incident', ['transformer_id'], unique=False)
    op.create_index(op.f('ix_incident_zone_id'), 'incident', ['zone_id'], unique=False)
    op.create_geospatial_table('incident_event',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('client_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('server_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('location', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography'), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_incident_event_incident_id'), 'incident_event', ['incident_id'], unique=False)
    # The timeline is append-only: the application can never rewrite history.
    op.execute('''
        CREATE FUNCTION incident_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'incident_event is append-only (% refused)', TG_OP;
        END $$;
        CREATE TRIGGER incident_event_append_only BEFORE UPDATE OR DELETE ON incident_event
            FOR EACH ROW EXECUTE FUNCTION incident_event_append_only();
    ''')
    op.create_geospatial_table('report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('meter_no', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), server_default='', nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), server_default='en', nullable=False),
    sa.Column('location', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography'), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('tracking_token', sqlmodel.sql.sqltypes.AutoString(length=43), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("category IN ('no_power','low_voltage','danger','damage')", name='report_category_known'),
    sa.CheckConstraint("channel IN ('web','ussd','sms','agent','api')", name='report_channel_known'),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tracking_token')
    )
    op.create_geospatial_index('idx_report_location', 'report', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_report_incident_id'), 'report', ['incident_id'], unique=False)
    op.create_index(op.f('ix_report_phone'), 'report', ['phone'], unique=False)


def downgrade() -> None:
    op.drop_constraint('crew_home_zone_id_fkey', 'crew', type_='foreignkey')
    op.drop_index(op.f('ix_report_phone'), table_name='report')
    op.drop_index(op.f('ix_report_incident_id'), table_name='report')
    op.drop_geospatial_index('idx_report_location', table_name='report', postgresql_using='gist', column_name='location')
    op.drop_geospatial_table('report')
    op.drop_index(op.f('ix_incident_event_incident_id'), table_name='incident_event')
    op.drop_geospatial_table('incident_event')
    op.drop_index(op.f('ix_incident_zone_id'), table_name='incident')
    op.drop_index(op.f('ix_incident_transformer_id'), table_name='incident')
    op.drop_index(op.f('ix_incident_status'), table_name='incident')
    op.drop_index(op.f('ix_incident_crew_id'), table_name='incident')
    op.drop_geospatial_index('idx_incident_location', table_name='incident', postgresql_using='gist', column_name='location')
    op.drop_geospatial_table('incident')
    op.drop_index(op.f('ix_customer_transformer_id'), table_name='customer')
    op.drop_index(op.f('ix_customer_phone'), table_name='customer')
    op.drop_geospatial_index('idx_customer_location', table_name='customer', postgresql_using='gist', column_name='location')
    op.drop_geospatial_table('customer')
    op.drop_index(op.f('ix_transformer_feeder_id'), table_name='transformer')
    op.drop_geospatial_index('idx_transformer_location', table_name='transformer', postgresql_using='gist', column_name='location')
    op.drop_geospatial_table('transformer')
    op.drop_index(op.f('ix_feeder_zone_id'), table_name='feeder')
    op.drop_geospatial_index('idx_feeder_route', table_name='feeder', postgresql_using='gist', column_name='route')
    op.drop_geospatial_table('feeder')
    op.drop_geospatial_index('idx_zone_area', table_name='zone', postgresql_using='gist', column_name='area')
    op.drop_geospatial_table('zone')
    op.drop_index(op.f('ix_staff_session_staff_id'), table_name='staff_session')
    op.drop_table('staff_session')
    op.drop_table('staff')
    op.drop_geospatial_index('idx_road_route', table_name='road', postgresql_using='gist', column_name='route')
    op.drop_geospatial_table('road')
    op.drop_geospatial_index('idx_crew_position', table_name='crew', postgresql_using='gist', column_name='position')
    op.drop_geospatial_table('crew')
    op.execute("DROP FUNCTION incident_event_append_only() CASCADE")
    op.execute("DROP FUNCTION next_incident_code()")
    op.execute("DROP SEQUENCE incident_code_seq")
