"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "alarms",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("cleared", sa.Boolean(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_index("ix_alarms_line_id_raised_at", ["line_id", "raised_at"], unique=False)

    op.create_table(
        "capture_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "running",
                "succeeded",
                "failed",
                name="capturejobstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("duplicate_count", sa.Integer(), nullable=False),
        sa.Column(
            "errors", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_jobs")),
    )
    op.create_table(
        "consumer_scans",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=True),
        sa.Column("serial", sa.String(length=20), nullable=True),
        sa.Column("uri", sa.String(length=1000), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=500), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumer_scans")),
    )
    with op.batch_alter_table("consumer_scans", schema=None) as batch_op:
        batch_op.create_index("ix_consumer_scans_gtin_serial", ["gtin", "serial"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_consumer_scans_scanned_at"), ["scanned_at"], unique=False
        )

    op.create_table(
        "containment",
        sa.Column("child_epc", sa.String(length=512), nullable=False),
        sa.Column("parent_epc", sa.String(length=512), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("child_epc", name=op.f("pk_containment")),
    )
    with op.batch_alter_table("containment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_containment_parent_epc"), ["parent_epc"], unique=False)

    op.create_table(
        "dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=512), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dead_letters_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "events",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=True),
        sa.Column("biz_step", sa.String(length=512), nullable=True),
        sa.Column("disposition", sa.String(length=512), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_time_zone_offset", sa.String(length=6), nullable=False),
        sa.Column("record_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_point", sa.String(length=512), nullable=True),
        sa.Column("biz_location", sa.String(length=512), nullable=True),
        sa.Column("line_id", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column(
            "source",
            sa.Enum(
                "mqtt",
                "capture",
                name="eventsource",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("capture_job_id", sa.String(length=36), nullable=True),
        sa.Column(
            "document", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_biz_location"), ["biz_location"], unique=False)
        batch_op.create_index(
            "ix_events_biz_step_event_time", ["biz_step", "event_time"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_events_capture_job_id"), ["capture_job_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_events_event_time"), ["event_time"], unique=False)
        batch_op.create_index(
            "ix_events_line_id_event_time", ["line_id", "event_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_events_read_point"), ["read_point"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_record_time"), ["record_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_type"), ["type"], unique=False)

    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("tax_id", sa.String(length=20), nullable=True),
        sa.Column("gs1_company_prefix", sa.String(length=12), nullable=True),
        sa.Column("gln", sa.String(length=13), nullable=True),
        sa.Column("district", sa.String(length=200), nullable=False),
        sa.Column("province", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("website", sa.String(length=500), nullable=False),
        sa.Column("uses_barcodes", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("gln", name=op.f("uq_organisations_gln")),
        sa.UniqueConstraint("tax_id", name=op.f("uq_organisations_tax_id")),
    )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisations_gs1_company_prefix"), ["gs1_company_prefix"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_organisations_province"), ["province"], unique=False)

    op.create_table(
        "recalls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recalls")),
    )
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.create_index("ix_recalls_gtin_lot", ["gtin", "lot"], unique=False)

    op.create_table(
        "reconciliation_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("work_order", sa.String(length=64), nullable=False),
        sa.Column("balanced", sa.Boolean(), nullable=False),
        sa.Column(
            "report", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_reports")),
        sa.UniqueConstraint(
            "line_id", "work_order", name=op.f("uq_reconciliation_reports_line_id")
        ),
    )
    op.create_table(
        "status_reports",
        sa.Column("topic", sa.String(length=512), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", name=op.f("pk_status_reports")),
    )
    with op.batch_alter_table("status_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_status_reports_line_id"), ["line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_status_reports_site"), ["site"], unique=False)

    op.create_table(
        "event_epcs",
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("epc", sa.String(length=512), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "epc",
                "parent",
                "child",
                "input",
                "output",
                "quantity",
                "child_quantity",
                "input_quantity",
                "output_quantity",
                name="epcrole",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.event_id"],
            name=op.f("fk_event_epcs_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "epc", "role", name=op.f("pk_event_epcs")),
    )
    with op.batch_alter_table("event_epcs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_epcs_epc"), ["epc"], unique=False)

    op.create_table(
        "facilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("gln", sa.String(length=13), nullable=True),
        sa.Column("district", sa.String(length=200), nullable=False),
        sa.Column("province", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_facilities_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
        sa.UniqueConstraint("gln", name=op.f("uq_facilities_gln")),
    )
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_facilities_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "portal_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
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
            ["event_id"],
            ["events.event_id"],
            name=op.f("fk_portal_outbox_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_outbox")),
        sa.UniqueConstraint("target", "event_id", name=op.f("uq_portal_outbox_target")),
    )
    with op.batch_alter_table("portal_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portal_outbox_target_state_next",
            ["target", "state", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name_vi", sa.String(length=300), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("description_vi", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("image_url", sa.String(length=1000), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("brand", sa.String(length=200), nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("standards", sa.String(length=500), nullable=False),
        sa.Column("safety_warnings", sa.Text(), nullable=False),
        sa.Column("shelf_life_days", sa.Integer(), nullable=True),
        sa.Column("net_content", sa.String(length=100), nullable=False),
        sa.Column("key_product", sa.Boolean(), nullable=False),
        sa.Column(
            "ocop_group",
            sa.Enum(
                "food",
                "beverages",
                "herbs",
                "handicrafts",
                "ornamental",
                "community_tourism",
                name="ocopgroup",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("ocop_stars", sa.Integer(), nullable=True),
        sa.Column("certificate_number", sa.String(length=100), nullable=True),
        sa.Column("certificate_valid_from", sa.Date(), nullable=True),
        sa.Column("certificate_valid_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(gtin) = 14", name=op.f("ck_products_gtin14")),
        sa.CheckConstraint(
            "ocop_stars IS NULL OR (ocop_stars >= 1 AND ocop_stars <= 5)",
            name=op.f("ck_products_ocop_stars"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_products_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("gtin", name=op.f("uq_products_gtin")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_products_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "administrator",
                "technician",
                "operator",
                "inspector",
                "auditor",
                name="userrole",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_users_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "lines",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("site_gln", sa.String(length=13), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_lines_facility_id_facilities"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lines")),
    )
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lines_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lines_site"), ["site"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"], ["lines.id"], name=op.f("fk_devices_line_id_lines"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_line_id"), ["line_id"], unique=False)

    op.create_table(
        "line_commands",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["lines.id"],
            name=op.f("fk_line_commands_line_id_lines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_commands")),
    )
    with op.batch_alter_table("line_commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_line_commands_line_id"), ["line_id"], unique=False)

    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=False),
        sa.Column("production_date", sa.Date(), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("best_before_date", sa.Date(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("units_per_case", sa.Integer(), nullable=True),
        sa.Column("label_template", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "released",
                "running",
                "paused",
                "closed",
                "cancelled",
                name="workorderstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("commissioned", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("sampled", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["lines.id"],
            name=op.f("fk_work_orders_line_id_lines"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_work_orders_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
        sa.UniqueConstraint("line_id", "code", name=op.f("uq_work_orders_line_id")),
    )
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_orders_line_id"), ["line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_orders_lot"), ["lot"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_orders_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_orders_state"), ["state"], unique=False)

    op.create_table(
        "serial_blocks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["lines.id"],
            name=op.f("fk_serial_blocks_line_id_lines"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_serial_blocks_work_order_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serial_blocks")),
    )
    with op.batch_alter_table("serial_blocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_serial_blocks_gtin"), ["gtin"], unique=False)
        batch_op.create_index(batch_op.f("ix_serial_blocks_line_id"), ["line_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_serial_blocks_work_order_id"), ["work_order_id"], unique=False
        )

    op.create_table(
        "issued_serials",
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("block_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["block_id"],
            ["serial_blocks.id"],
            name=op.f("fk_issued_serials_block_id_serial_blocks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("gtin", "serial", name=op.f("pk_issued_serials")),
    )
    with op.batch_alter_table("issued_serials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issued_serials_block_id"), ["block_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("issued_serials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_serials_block_id"))

    op.drop_table("issued_serials")
    with op.batch_alter_table("serial_blocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_serial_blocks_work_order_id"))
        batch_op.drop_index(batch_op.f("ix_serial_blocks_line_id"))
        batch_op.drop_index(batch_op.f("ix_serial_blocks_gtin"))

    op.drop_table("serial_blocks")
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_orders_state"))
        batch_op.drop_index(batch_op.f("ix_work_orders_product_id"))
        batch_op.drop_index(batch_op.f("ix_work_orders_lot"))
        batch_op.drop_index(batch_op.f("ix_work_orders_line_id"))

    op.drop_table("work_orders")
    with op.batch_alter_table("line_commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_line_commands_line_id"))

    op.drop_table("line_commands")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_line_id"))

    op.drop_table("devices")
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lines_site"))
        batch_op.drop_index(batch_op.f("ix_lines_facility_id"))

    op.drop_table("lines")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_organisation_id"))

    op.drop_table("users")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_organisation_id"))

    op.drop_table("products")
    with op.batch_alter_table("portal_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_outbox_target_state_next")

    op.drop_table("portal_outbox")
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facilities_organisation_id"))

    op.drop_table("facilities")
    with op.batch_alter_table("event_epcs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_epcs_epc"))

    op.drop_table("event_epcs")
    with op.batch_alter_table("status_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_reports_site"))
        batch_op.drop_index(batch_op.f("ix_status_reports_line_id"))

    op.drop_table("status_reports")
    op.drop_table("reconciliation_reports")
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.drop_index("ix_recalls_gtin_lot")

    op.drop_table("recalls")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisations_province"))
        batch_op.drop_index(batch_op.f("ix_organisations_gs1_company_prefix"))

    op.drop_table("organisations")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_type"))
        batch_op.drop_index(batch_op.f("ix_events_record_time"))
        batch_op.drop_index(batch_op.f("ix_events_read_point"))
        batch_op.drop_index("ix_events_line_id_event_time")
        batch_op.drop_index(batch_op.f("ix_events_event_time"))
        batch_op.drop_index(batch_op.f("ix_events_capture_job_id"))
        batch_op.drop_index("ix_events_biz_step_event_time")
        batch_op.drop_index(batch_op.f("ix_events_biz_location"))

    op.drop_table("events")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letters_received_at"))

    op.drop_table("dead_letters")
    with op.batch_alter_table("containment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_containment_parent_epc"))

    op.drop_table("containment")
    with op.batch_alter_table("consumer_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consumer_scans_scanned_at"))
        batch_op.drop_index("ix_consumer_scans_gtin_serial")

    op.drop_table("consumer_scans")
    op.drop_table("capture_jobs")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index("ix_alarms_line_id_raised_at")

    op.drop_table("alarms")
