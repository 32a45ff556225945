"""communes, hotline and product photos

Communes replace districts in reports (the 2025 reform: province -> commune), a consumer
hotline for each organisation, and product photos kept in the database so the consumer
page serves them itself (``product_photos``).

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("commune", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("hotline", sa.String(50), nullable=False, server_default=""))
    with op.batch_alter_table("facilities") as batch:
        batch.add_column(sa.Column("commune", sa.String(200), nullable=False, server_default=""))
    op.create_table(
        "product_photos",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_photos_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_photos")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("product_photos")
    with op.batch_alter_table("facilities") as batch:
        batch.drop_column("commune")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("hotline")
        batch.drop_column("commune")
