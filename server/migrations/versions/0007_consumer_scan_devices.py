"""consumer scan devices

Consumer views of a code record a keyed hash of the viewing device and of its network,
so a clone warning counts distinct devices rather than requests.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("consumer_scans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("device_key", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("network_key", sa.String(length=64), server_default="", nullable=False)
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("consumer_scans", schema=None) as batch_op:
        batch_op.drop_column("network_key")
        batch_op.drop_column("device_key")
