"""recordings: the index of recorded segments and gaps per camera (issue 13)

Revision ID: a4c7e2b9d6f1
Revises: a7d3c9e1f5b2
Create Date: 2026-12-12 10:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "a4c7e2b9d6f1"
down_revision: str | Sequence[str] | None = "a7d3c9e1f5b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("start_at", sa.Float(), nullable=False),
        sa.Column("end_at", sa.Float(), nullable=False),
        sa.Column("ref", sa.String(length=512), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("locked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index("ix_recordings_camera_start", "recordings", ["camera_id", "start_at"])
    op.create_index("ix_recordings_node_start", "recordings", ["node_id", "start_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_recordings_node_start", table_name="recordings")
    op.drop_index("ix_recordings_camera_start", table_name="recordings")
    op.drop_table("recordings")
