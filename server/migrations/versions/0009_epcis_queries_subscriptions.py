"""EPCIS named queries and subscriptions

The namespaces each captured event came with (``event_contexts``), named queries
(``epcis_queries``), their webhook subscriptions (``epcis_subscriptions``) and the
durable outbox of query documents to post (``epcis_subscription_outbox``).

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "event_contexts",
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("namespaces", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.event_id"],
            name=op.f("fk_event_contexts_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_contexts")),
    )
    op.create_table(
        "epcis_queries",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("query", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_epcis_queries")),
    )
    op.create_table(
        "epcis_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("query_name", sa.String(length=200), nullable=False),
        sa.Column("dest", sa.String(length=512), nullable=False),
        sa.Column("secret", sa.String(length=500), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("schedule", _JSON, nullable=False),
        sa.Column("report_if_empty", sa.Boolean(), nullable=False),
        sa.Column("epc_format", sa.String(length=40), nullable=False),
        sa.Column("initial_record_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_pk", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_name"],
            ["epcis_queries.name"],
            name=op.f("fk_epcis_subscriptions_query_name_epcis_queries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_subscriptions")),
    )
    with op.batch_alter_table("epcis_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_epcis_subscriptions_query_name"), ["query_name"], unique=False
        )
    op.create_table(
        "epcis_subscription_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "sent",
                "failed",
                name="outboxstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["epcis_subscriptions.id"],
            name=op.f("fk_epcis_subscription_outbox_subscription_id_epcis_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_subscription_outbox")),
    )
    with op.batch_alter_table("epcis_subscription_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_epcis_subscription_outbox_subscription_id"),
            ["subscription_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_epcis_subscription_outbox_state_next", ["state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("epcis_subscription_outbox")
    op.drop_table("epcis_subscriptions")
    op.drop_table("epcis_queries")
    op.drop_table("event_contexts")
