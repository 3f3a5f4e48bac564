"""evidence locks: snapshots and clips a case keeps past retention

Revision ID: a7d3c9e1f5b2
Revises: e8f2b4c6a0d1
Create Date: 2026-12-07 18:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "a7d3c9e1f5b2"
down_revision: str | Sequence[str] | None = "e8f2b4c6a0d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "evidence_locks",
        sa.Column("ref", sa.String(length=300), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("case", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("locked_by", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=True),
        sa.Column("locked_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("ref"),
    )
    op.create_index("ix_evidence_locks_camera", "evidence_locks", ["camera_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_evidence_locks_camera", table_name="evidence_locks")
    op.drop_table("evidence_locks")
