"""organisations as tenants

GS1 company prefixes per organisation (``company_prefixes``); the organisation of each
line (with the offline serial reserve it is allowed), recall, event, capture job and
dead letter. Existing rows are filled in from what they already point at: a line from
its facility, a recall from its product, an event from its line, a prefix from
``organisations.gs1_company_prefix`` (the first organisation that named it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "company_prefixes",
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_company_prefixes_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_company_prefixes")),
    )
    with op.batch_alter_table("company_prefixes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_company_prefixes_organisation_id"), ["organisation_id"], unique=False
        )
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("offline_reserve", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_lines_organisation_id"), ["organisation_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_lines_organisation_id_organisations"),
            "organisations",
            ["organisation_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_recalls_organisation_id"), ["organisation_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_recalls_organisation_id_organisations"),
            "organisations",
            ["organisation_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_events_organisation_id"), ["organisation_id"])
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("line_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_dead_letters_organisation_id"), ["organisation_id"])
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_capture_jobs_organisation_id"), ["organisation_id"])
    _fill_in()


def _fill_in() -> None:
    """Give existing rows the organisation they already point at."""
    op.execute(
        "UPDATE lines SET organisation_id = (SELECT f.organisation_id FROM facilities f"
        " WHERE f.id = lines.facility_id) WHERE facility_id IS NOT NULL"
    )
    op.execute(
        "UPDATE recalls SET organisation_id = (SELECT p.organisation_id FROM products p"
        " WHERE p.gtin = recalls.gtin)"
    )
    op.execute(
        "UPDATE events SET organisation_id = (SELECT l.organisation_id FROM lines l"
        " WHERE l.id = events.line_id) WHERE line_id IS NOT NULL"
    )
    op.execute(
        "INSERT INTO company_prefixes (prefix, organisation_id, created_at)"
        " SELECT o.gs1_company_prefix, MIN(o.id), CURRENT_TIMESTAMP FROM organisations o"
        " WHERE o.gs1_company_prefix IS NOT NULL GROUP BY o.gs1_company_prefix"
    )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_capture_jobs_organisation_id"))
        batch_op.drop_column("organisation_id")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letters_organisation_id"))
        batch_op.drop_column("organisation_id")
        batch_op.drop_column("line_id")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_organisation_id"))
        batch_op.drop_column("organisation_id")
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_recalls_organisation_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_recalls_organisation_id"))
        batch_op.drop_column("organisation_id")
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_lines_organisation_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_lines_organisation_id"))
        batch_op.drop_column("offline_reserve")
        batch_op.drop_column("organisation_id")
    with op.batch_alter_table("company_prefixes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_company_prefixes_organisation_id"))
    op.drop_table("company_prefixes")
