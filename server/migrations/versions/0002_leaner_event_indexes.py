"""leaner event indexes, portal high-water marks

Every index on ``events`` is paid for on each stored event. ``ix_events_type`` (five
distinct values) helps no query and goes; ``ix_events_record_time`` becomes a BRIN index
on PostgreSQL (rows arrive in record-time order); ``ix_events_capture_job_id`` only
covers captured events. ``portal_marks`` lets the portal forwarder read only the events
stored since its last run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_CAPTURED = sa.text("capture_job_id IS NOT NULL")


def upgrade() -> None:
    """Apply this revision."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_events_type", table_name="events")
    op.drop_index("ix_events_capture_job_id", table_name="events")
    op.create_index(
        "ix_events_capture_job_id",
        "events",
        ["capture_job_id"],
        postgresql_where=_CAPTURED,
        sqlite_where=_CAPTURED,
    )
    if postgresql:
        op.drop_index("ix_events_record_time", table_name="events")
        op.create_index("ix_events_record_time", "events", ["record_time"], postgresql_using="brin")
    op.create_table(
        "portal_marks",
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("last_event_pk", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("target", name=op.f("pk_portal_marks")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("portal_marks")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_events_record_time", table_name="events")
        op.create_index("ix_events_record_time", "events", ["record_time"])
    op.drop_index("ix_events_capture_job_id", table_name="events")
    op.create_index("ix_events_capture_job_id", "events", ["capture_job_id"])
    op.create_index("ix_events_type", "events", ["type"])
