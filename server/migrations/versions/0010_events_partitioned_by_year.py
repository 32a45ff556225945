"""events partitioned by year of event time (PostgreSQL)

On PostgreSQL ``events`` becomes a table partitioned by RANGE of ``event_time``, one
partition per calendar year (UTC) plus a default partition for anything outside them.
A history is read and kept by time: the province's yearly indicators prune to one
partition, retention drops a year's partition instead of deleting rows, and each
partition's indexes stay the size of a year.

A partitioned table's unique constraints must include the partition key, so the event
ID's uniqueness becomes ``(event_id, event_time)``. That stays exact for redelivery: an
event's time is part of the event (and of its hash ID), so a redelivered event has the
same pair and is refused. For the same reason nothing can reference ``events.event_id``
any more: the foreign keys of ``event_epcs``, ``event_contexts`` and ``portal_outbox``
are dropped (nothing deletes events row by row; the store writes those rows only for
events it stored).

The rows are copied into the new table, keeping their ``pk``; yearly partitions are
created for every year holding events and for this year and the next, and
``lineside_event_partitions(first, last)`` (created here, called by
:func:`server.db.partitions.ensure_event_partitions`) adds later years, moving any of
their rows out of the default partition. SQLite keeps its plain table.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

#: Tables whose ``event_id`` referenced ``events.event_id``.
_REFERENCING = ("event_epcs", "event_contexts", "portal_outbox")

_COLUMNS = """
    pk bigint NOT NULL DEFAULT nextval('events_pk_seq'::regclass),
    event_id varchar(200) NOT NULL,
    type varchar(40) NOT NULL,
    action varchar(10),
    biz_step varchar(512),
    disposition varchar(512),
    event_time timestamptz NOT NULL,
    event_time_zone_offset varchar(6) NOT NULL,
    record_time timestamptz NOT NULL,
    read_point varchar(512),
    biz_location varchar(512),
    line_id varchar(64),
    device_id varchar(64),
    seq bigint,
    source varchar(32) NOT NULL,
    capture_job_id varchar(36),
    document jsonb NOT NULL,
    organisation_id integer,
    CONSTRAINT ck_events_eventsource CHECK (source IN ('mqtt', 'capture'))
"""

#: The secondary indexes of ``events`` (as revision 0002 left them).
_INDEXES = """
CREATE INDEX ix_events_biz_location ON events (biz_location);
CREATE INDEX ix_events_biz_step_event_time ON events (biz_step, event_time);
CREATE INDEX ix_events_event_time ON events (event_time);
CREATE INDEX ix_events_line_id_event_time ON events (line_id, event_time);
CREATE INDEX ix_events_read_point ON events (read_point);
CREATE INDEX ix_events_capture_job_id ON events (capture_job_id)
    WHERE capture_job_id IS NOT NULL;
CREATE INDEX ix_events_record_time ON events USING brin (record_time);
CREATE INDEX ix_events_organisation_id ON events (organisation_id);
"""

_THIS_YEAR = "SELECT extract(year FROM now() AT TIME ZONE 'UTC')::integer"

_PARTITION_FUNCTION = """
CREATE FUNCTION lineside_event_partitions(first_year integer, last_year integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    year integer;
    made integer := 0;
    name text;
    low timestamptz;
    high timestamptz;
BEGIN
    FOR year IN first_year..last_year LOOP
        name := format('events_y%s', year);
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        low := make_timestamptz(year, 1, 1, 0, 0, 0, 'UTC');
        high := make_timestamptz(year + 1, 1, 1, 0, 0, 0, 'UTC');
        EXECUTE format(
            'CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        -- Rows of that year that went to the default partition move to their own.
        EXECUTE format(
            'WITH moved AS (DELETE FROM events_default WHERE event_time >= %L'
            ' AND event_time < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
            low, high, name);
        EXECUTE format(
            'ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            name, low, high);
        made := made + 1;
    END LOOP;
    RETURN made;
END
$$;
"""


def upgrade() -> None:
    """Apply this revision."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in _REFERENCING:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_event_id_events")
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    op.execute("ALTER SEQUENCE events_pk_seq OWNED BY NONE")
    op.execute(f"CREATE TABLE events ({_COLUMNS}) PARTITION BY RANGE (event_time)")
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    op.execute(_PARTITION_FUNCTION)
    # A partition for this year, the next, and every plausible year holding events;
    # stray timestamps (year 1970, 2999) stay in the default partition.
    this_year = int(bind.exec_driver_sql(_THIS_YEAR).scalar_one())
    held = bind.exec_driver_sql(
        "SELECT DISTINCT extract(year FROM event_time AT TIME ZONE 'UTC')::integer"
        " FROM events_unpartitioned"
    ).scalars()
    years = {this_year, this_year + 1} | {y for y in held if 2000 <= y <= this_year + 1}
    for year in sorted(years):
        op.execute(f"SELECT lineside_event_partitions({year}, {year})")
    op.execute("INSERT INTO events SELECT * FROM events_unpartitioned")
    op.execute("DROP TABLE events_unpartitioned")
    op.execute("ALTER SEQUENCE events_pk_seq OWNED BY events.pk")
    # Constraints and indexes after the copy: one build each instead of row by row.
    op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (pk, event_time)")
    op.execute("ALTER TABLE events ADD CONSTRAINT uq_events_event_id UNIQUE (event_id, event_time)")
    op.execute(_INDEXES)


def downgrade() -> None:
    """Revert this revision: one plain table again, with its foreign keys."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    op.execute("ALTER SEQUENCE events_pk_seq OWNED BY NONE")
    op.execute(f"CREATE TABLE events ({_COLUMNS})")
    op.execute("INSERT INTO events SELECT * FROM events_partitioned")
    op.execute("DROP TABLE events_partitioned")
    op.execute("DROP FUNCTION lineside_event_partitions(integer, integer)")
    op.execute("ALTER SEQUENCE events_pk_seq OWNED BY events.pk")
    op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (pk)")
    op.execute("ALTER TABLE events ADD CONSTRAINT uq_events_event_id UNIQUE (event_id)")
    op.execute(_INDEXES)
    for table in _REFERENCING:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_event_id_events FOREIGN KEY"
            " (event_id) REFERENCES events (event_id) ON DELETE CASCADE"
        )
