"""Dispatch: crew shifts, merged incidents, the live event log behind the console.

Revision ID: e12dispatch01
Revises: d10audit0001
Create Date: 2026-11-22 06:10:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'e12dispatch01'
down_revision: Union[str, None] = 'd10audit0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'crew_shift',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('crew_id', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('started_by', sa.String(length=60), nullable=False),
        sa.Column('ended_by', sa.String(length=60), nullable=True),
        sa.CheckConstraint('ended_at IS NULL OR ended_at >= started_at', name=op.f('crew_shift_ends_after_start')),
        sa.ForeignKeyConstraint(['crew_id'], ['crew.id'], name=op.f('crew_shift_crew_id_fkey')),
        sa.PrimaryKeyConstraint('id', name=op.f('crew_shift_pkey')),
    )
    # A crew is on at most one shift at a time.
    op.create_index('ix_crew_shift_open', 'crew_shift', ['crew_id'], unique=True,
                    postgresql_where=sa.text('ended_at IS NULL'))
    op.create_index('ix_crew_shift_crew_id_started_at', 'crew_shift', ['crew_id', 'started_at'])
    op.add_column('incident', sa.Column('merged_into_id', sa.Integer(), nullable=True))
    op.create_foreign_key(op.f('incident_merged_into_id_fkey'), 'incident', 'incident', ['merged_into_id'], ['id'])
    op.create_table(
        'live_event',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('topic', sa.String(length=10), nullable=False),
        sa.Column('ref_id', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('live_event_pkey')),
    )
    # A crew's status follows from its shift and its work, worked out by the database on every change so
    # intake, the console and the sync service can never disagree about it.
    op.execute("""
        CREATE FUNCTION crew_status_now(crew_key integer) RETURNS text LANGUAGE sql STABLE AS $$
            SELECT CASE
                WHEN NOT EXISTS (SELECT 1 FROM crew_shift s WHERE s.crew_id = crew_key AND s.ended_at IS NULL)
                    THEN 'off_shift'
                ELSE coalesce((SELECT i.status FROM incident i
                               WHERE i.crew_id = crew_key AND i.status IN ('assigned', 'en_route', 'on_site')
                               ORDER BY array_position(ARRAY['assigned', 'en_route', 'on_site'], i.status::text) DESC
                               LIMIT 1), 'available')
            END
        $$;
        CREATE FUNCTION refresh_crew_status(crew_key integer) RETURNS void LANGUAGE sql AS $$
            UPDATE crew SET status = crew_status_now(crew_key)
            WHERE id = crew_key AND status IS DISTINCT FROM crew_status_now(crew_key)
        $$;
        CREATE FUNCTION crew_status_follows_incident() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.crew_id IS NOT NULL THEN PERFORM refresh_crew_status(NEW.crew_id); END IF;
            IF TG_OP = 'UPDATE' AND OLD.crew_id IS NOT NULL AND OLD.crew_id IS DISTINCT FROM NEW.crew_id THEN
                PERFORM refresh_crew_status(OLD.crew_id);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER incident_crew_status AFTER INSERT OR UPDATE OF crew_id, status ON incident
            FOR EACH ROW EXECUTE FUNCTION crew_status_follows_incident();
        CREATE FUNCTION crew_status_follows_shift() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM refresh_crew_status(NEW.crew_id);
            RETURN NULL;
        END $$;
        CREATE TRIGGER crew_shift_crew_status AFTER INSERT OR UPDATE ON crew_shift
            FOR EACH ROW EXECUTE FUNCTION crew_status_follows_shift();
    """)
    # The console's live feed: every change to an incident or a crew is logged and announced at commit.
    # The log lets a reconnecting browser catch up (Last-Event-ID); NOTIFY reaches every server process.
    op.execute("""
        CREATE FUNCTION live_announce() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            event_id bigint;
        BEGIN
            INSERT INTO live_event (topic, ref_id) VALUES (TG_ARGV[0], NEW.id) RETURNING id INTO event_id;
            PERFORM pg_notify('faultline_live', event_id::text || ' ' || TG_ARGV[0] || ' ' || NEW.id::text);
            RETURN NULL;
        END $$;
        CREATE TRIGGER incident_live AFTER INSERT OR UPDATE ON incident
            FOR EACH ROW EXECUTE FUNCTION live_announce('incident');
        CREATE TRIGGER crew_live AFTER INSERT OR UPDATE ON crew
            FOR EACH ROW EXECUTE FUNCTION live_announce('crew');
    """)
    # Crews already marked as working (demo data, earlier installs) start on shift, so nothing changes for them.
    op.execute("INSERT INTO crew_shift (crew_id, started_by) SELECT id, 'system' FROM crew "
               "WHERE status <> 'off_shift'")


def downgrade() -> None:
    op.execute("DROP TRIGGER crew_live ON crew")
    op.execute("DROP TRIGGER incident_live ON incident")
    op.execute("DROP FUNCTION live_announce()")
    op.execute("DROP TRIGGER crew_shift_crew_status ON crew_shift")
    op.execute("DROP FUNCTION crew_status_follows_shift()")
    op.execute("DROP TRIGGER incident_crew_status ON incident")
    op.execute("DROP FUNCTION crew_status_follows_incident()")
    op.execute("DROP FUNCTION refresh_crew_status(integer)")
    op.execute("DROP FUNCTION crew_status_now(integer)")
    op.drop_table('live_event')
    op.drop_constraint(op.f('incident_merged_into_id_fkey'), 'incident', type_='foreignkey')
    op.drop_column('incident', 'merged_into_id')
    op.drop_index('ix_crew_shift_crew_id_started_at', table_name='crew_shift')
    op.drop_index('ix_crew_shift_open', table_name='crew_shift')
    op.drop_table('crew_shift')
