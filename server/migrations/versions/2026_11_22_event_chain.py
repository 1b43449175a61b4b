"""audit: hash-chain the incident timeline so an edit or deletion made outside the application shows

Revision ID: d10audit0001
Revises: c09notify0001
Create Date: 2026-11-22 03:45:00

Each incident's events form a chain: event n stores seq = n, the hash of event n-1, and its own hash =
sha256(previous hash || the event's canonical text). The database computes it on INSERT (trigger), so every
writer — intake, sync, dispatch — is covered, and `faultline audit verify` recomputes it with the same
function. One chain per incident (not one for the whole table) so a storm's inserts do not queue behind
each other: they serialise only per incident (an advisory lock).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = 'd10audit0001'
down_revision: Union[str, None] = 'c09notify0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

DIGEST = """
    CREATE FUNCTION incident_event_digest(prev bytea, e incident_event) RETURNS bytea
    LANGUAGE sql IMMUTABLE AS $$
        SELECT sha256(coalesce(prev, ''::bytea) || convert_to(concat_ws('|',
            e.incident_id, e.seq, e.kind, e.actor,
            to_char(e.client_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
            to_char(e.server_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
            ST_AsEWKT(e.location), e.details::text), 'UTF8'))
    $$
"""

CHAIN = """
    CREATE FUNCTION incident_event_chain() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE last record;
    BEGIN
        PERFORM pg_advisory_xact_lock(3, NEW.incident_id);  -- one writer at a time per incident chain
        SELECT seq, hash INTO last FROM incident_event WHERE incident_id = NEW.incident_id
            ORDER BY seq DESC LIMIT 1;
        NEW.seq := coalesce(last.seq, 0) + 1;
        NEW.prev_hash := last.hash;
        NEW.hash := incident_event_digest(NEW.prev_hash, NEW);
        RETURN NEW;
    END $$;
    CREATE TRIGGER incident_event_chain BEFORE INSERT ON incident_event
        FOR EACH ROW EXECUTE FUNCTION incident_event_chain();
"""


def upgrade() -> None:
    op.add_column('incident_event', sa.Column('seq', sa.Integer(), nullable=True))
    op.add_column('incident_event', sa.Column('prev_hash', sa.LargeBinary(), nullable=True))
    op.add_column('incident_event', sa.Column('hash', sa.LargeBinary(), nullable=True))
    op.execute(DIGEST)
    # Chain the events already there, in the order they were written.
    op.execute("ALTER TABLE incident_event DISABLE TRIGGER incident_event_append_only")
    op.execute("""
        DO $$
        DECLARE e incident_event; last_incident integer := NULL; n integer; prev bytea;
        BEGIN
            FOR e IN SELECT * FROM incident_event ORDER BY incident_id, id LOOP
                IF last_incident IS DISTINCT FROM e.incident_id THEN
                    n := 0; prev := NULL; last_incident := e.incident_id;
                END IF;
                n := n + 1;
                e.seq := n; e.prev_hash := prev;
                UPDATE incident_event SET seq = n, prev_hash = prev, hash = incident_event_digest(prev, e)
                    WHERE id = e.id RETURNING hash INTO prev;
            END LOOP;
        END $$
    """)
    op.execute("ALTER TABLE incident_event ENABLE TRIGGER incident_event_append_only")
    op.execute(CHAIN)
    op.create_unique_constraint('incident_event_incident_id_seq_key', 'incident_event', ['incident_id', 'seq'])


def downgrade() -> None:
    op.drop_constraint('incident_event_incident_id_seq_key', 'incident_event', type_='unique')
    op.execute("DROP TRIGGER incident_event_chain ON incident_event")
    op.execute("DROP FUNCTION incident_event_chain()")
    op.execute("DROP FUNCTION incident_event_digest(bytea, incident_event)")
    op.drop_column('incident_event', 'hash')
    op.drop_column('incident_event', 'prev_hash')
    op.drop_column('incident_event', 'seq')
