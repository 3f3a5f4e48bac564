"""sightings say whether they carry a face, indexed with time for face search

Revision ID: b8e4f2a6c1d3
Revises: 5d0e8c1f4a27
Create Date: 2026-11-25 13:05:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "b8e4f2a6c1d3"
down_revision: str | Sequence[str] | None = "5d0e8c1f4a27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("sightings") as batch:
        batch.add_column(
            sa.Column("has_face", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Sightings stored before: their JSON holds the key only when there is an embedding
    # (written with exclude_none).
    op.execute(
        sa.text("UPDATE sightings SET has_face = :yes WHERE payload LIKE :key").bindparams(
            yes=True, key='%"face_embedding"%'
        )
    )
    op.create_index("ix_sightings_face_time", "sightings", ["has_face", "first_seen"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_sightings_face_time", table_name="sightings")
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("has_face")
