"""sync: crew devices and their mutations, the change log, conflicts; notes, check-ins, photos, materials

Revision ID: b05sync00001
Revises: a11admin0001
Create Date: 2026-11-22 03:12:01
"""
from typing import Sequence, Union

from alembic import op
import geoalchemy2
import sqlalchemy as sa
import sqlmodel
from geoalchemy2 import Geography
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = 'b05sync00001'
down_revision: Union[str, None] = 'a11admin0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

APPEND_ONLY = ('note', 'checkin', 'material_use', 'crew_ping', 'sync_mutation')


def upgrade() -> None:
    op.create_table('sync_change',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('xid', sa.BigInteger(), server_default=sa.text('(pg_current_xact_id()::text::bigint)'), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('crew_id', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('sync_change_pkey'))
    )
    op.create_index('ix_sync_change_crew_id_xid', 'sync_change', ['crew_id', 'xid'], unique=False)
    op.create_table('sync_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('epoch', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('floor_xid', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint('id = 1', name='sync_state_one_row'),
    sa.PrimaryKeyConstraint('id', name=op.f('sync_state_pkey'))
    )
    op.create_table('crew_ping',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('crew_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('location', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography', nullable=False), nullable=False),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('client_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('server_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('crew_ping_crew_id_fkey')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('crew_ping_staff_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('crew_ping_pkey'))
    )
    op.create_index(op.f('ix_crew_ping_crew_id'), 'crew_ping', ['crew_id'], unique=False)
    op.create_table('sync_client',
    sa.Column('client_id', sa.Uuid(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('last_mutation_id', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_push_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('sync_client_staff_id_fkey')),
    sa.PrimaryKeyConstraint('client_id', name=op.f('sync_client_pkey'))
    )
    op.create_index(op.f('ix_sync_client_staff_id'), 'sync_client', ['staff_id'], unique=False)
    op.create_table('checkin',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('location', Geography(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeogFromText', name='geography', nullable=False), nullable=False),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('client_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('server_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('checkin_crew_id_fkey')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('checkin_incident_id_fkey')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('checkin_staff_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('checkin_pkey'))
    )
    op.create_index(op.f('ix_checkin_incident_id'), 'checkin', ['incident_id'], unique=False)
    op.create_table('incident_field',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('value', postgresql.JSONB(astext_type=Text()), nullable=True),
    sa.Column('event_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client_id', sa.Uuid(), nullable=False),
    sa.Column('mutation_id', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('incident_field_incident_id_fkey')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('incident_field_staff_id_fkey')),
    sa.PrimaryKeyConstraint('incident_id', 'name', name=op.f('incident_field_pkey'))
    )
    op.create_table('material_use',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('item', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('client_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('server_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('quantity > 0', name='material_use_quantity_positive'),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('material_use_crew_id_fkey')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('material_use_incident_id_fkey')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('material_use_staff_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('material_use_pkey'))
    )
    op.create_index(op.f('ix_material_use_incident_id'), 'material_use', ['incident_id'], unique=False)
    op.create_table('note',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('author_role', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('client_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('server_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("author_role IN ('crew', 'dispatcher', 'supervisor')", name='note_author_role_known'),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('note_crew_id_fkey')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('note_incident_id_fkey')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('note_staff_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('note_pkey'))
    )
    op.create_index(op.f('ix_note_incident_id'), 'note', ['incident_id'], unique=False)
    op.create_table('photo',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('caption', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False),
    sa.Column('client_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('server_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('photo_crew_id_fkey')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('photo_incident_id_fkey')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('photo_staff_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('photo_pkey'))
    )
    op.create_index(op.f('ix_photo_incident_id'), 'photo', ['incident_id'], unique=False)
    op.create_table('sync_conflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('crew_side', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('server_side', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('resolution_note', sqlmodel.sql.sqltypes.AutoString(length=500), server_default='', nullable=False),
    sa.CheckConstraint("kind IN ('not_assigned', 'cancelled', 'restored_after_cancel')", name='sync_conflict_kind_known'),
    sa.CheckConstraint("resolution IS NULL OR resolution IN ('accepted', 'dismissed')", name='sync_conflict_resolution_known'),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('sync_conflict_crew_id_fkey')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('sync_conflict_incident_id_fkey')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['staff.id'], name=op.f('sync_conflict_resolved_by_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('sync_conflict_pkey'))
    )
    op.create_index(op.f('ix_sync_conflict_incident_id'), 'sync_conflict', ['incident_id'], unique=False)
    op.create_index('ix_sync_conflict_open', 'sync_conflict', ['incident_id', 'crew_id', 'kind'], unique=True, postgresql_where=sa.text('resolved_at IS NULL'))
    op.create_table('sync_mutation',
    sa.Column('client_id', sa.Uuid(), nullable=False),
    sa.Column('mutation_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('sent', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('client_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('event_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('clock_flag', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('base_rev', sa.BigInteger(), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=Text()), server_default='{}', nullable=False),
    sa.Column('conflict_id', sa.Integer(), nullable=True),
    sa.Column('server_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('xid', sa.BigInteger(), server_default=sa.text('(pg_current_xact_id()::text::bigint)'), nullable=False),
    sa.CheckConstraint("outcome IN ('applied', 'rejected', 'conflict')", name='sync_mutation_outcome_known'),
    sa.ForeignKeyConstraint(['client_id'], ['sync_client.client_id'], name=op.f('sync_mutation_client_id_fkey')),
    sa.ForeignKeyConstraint(['conflict_id'], ['sync_conflict.id'], name=op.f('sync_mutation_conflict_id_fkey')),
    sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('sync_mutation_crew_id_fkey')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('sync_mutation_staff_id_fkey')),
    sa.PrimaryKeyConstraint('client_id', 'mutation_id', name=op.f('sync_mutation_pkey'))
    )
    op.create_index(op.f('ix_sync_mutation_incident_id'), 'sync_mutation', ['incident_id'], unique=False)

    # One row: a random epoch names this database's change log, so a cursor from elsewhere means a reset.
    op.execute("INSERT INTO sync_state (id, epoch, floor_xid) "
               "VALUES (1, substr(md5(random()::text || clock_timestamp()::text), 1, 12), 0)")
    # Every change to an incident that has a crew goes into the change log, for that crew — and for the crew
    # it was taken from — written by the database itself so no writer (intake, dispatch, sync) can forget it.
    # NOTIFY is delivered at commit: the poke stream never says "pull now" before the change is visible.
    op.execute("""
        CREATE FUNCTION sync_log_incident_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.crew_id IS NOT NULL THEN
                INSERT INTO sync_change (incident_id, crew_id) VALUES (NEW.id, NEW.crew_id);
                PERFORM pg_notify('faultline_sync', NEW.crew_id::text);
            END IF;
            IF TG_OP = 'UPDATE' AND OLD.crew_id IS NOT NULL AND OLD.crew_id IS DISTINCT FROM NEW.crew_id THEN
                INSERT INTO sync_change (incident_id, crew_id) VALUES (NEW.id, OLD.crew_id);
                PERFORM pg_notify('faultline_sync', OLD.crew_id::text);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER incident_sync_change AFTER INSERT OR UPDATE ON incident
            FOR EACH ROW EXECUTE FUNCTION sync_log_incident_change();
    """)
    # Field records and the mutation log are append-only, like the incident timeline.
    op.execute("""
        CREATE FUNCTION sync_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
        END $$;
    """)
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION sync_append_only()")


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION sync_append_only()")
    op.execute("DROP TRIGGER incident_sync_change ON incident")
    op.execute("DROP FUNCTION sync_log_incident_change()")
    op.drop_index(op.f('ix_sync_mutation_incident_id'), table_name='sync_mutation')
    op.drop_table('sync_mutation')
    op.drop_index('ix_sync_conflict_open', table_name='sync_conflict', postgresql_where=sa.text('resolved_at IS NULL'))
    op.drop_index(op.f('ix_sync_conflict_incident_id'), table_name='sync_conflict')
    op.drop_table('sync_conflict')
    op.drop_index(op.f('ix_photo_incident_id'), table_name='photo')
    op.drop_table('photo')
    op.drop_index(op.f('ix_note_incident_id'), table_name='note')
    op.drop_table('note')
    op.drop_index(op.f('ix_material_use_incident_id'), table_name='material_use')
    op.drop_table('material_use')
    op.drop_table('incident_field')
    op.drop_index(op.f('ix_checkin_incident_id'), table_name='checkin')
    op.drop_table('checkin')
    op.drop_index(op.f('ix_sync_client_staff_id'), table_name='sync_client')
    op.drop_table('sync_client')
    op.drop_index(op.f('ix_crew_ping_crew_id'), table_name='crew_ping')
    op.drop_table('crew_ping')
    op.drop_table('sync_state')
    op.drop_index('ix_sync_change_crew_id_xid', table_name='sync_change')
    op.drop_table('sync_change')
