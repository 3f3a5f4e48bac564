"""searchable attributes of sightings (vehicle colour, clothing colours), indexed with time;
sightings indexed by when they were last seen, for retention

Revision ID: e8f2b4c6a0d1
Revises: d5c8a1f3e7b9
Create Date: 2026-12-07 15:45:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "e8f2b4c6a0d1"
down_revision: str | Sequence[str] | None = "d5c8a1f3e7b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema. Sightings stored before carry no attributes: nothing to fill."""
    op.create_table(
        "sighting_attributes",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("sighting_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", "value", "sighting_id"),
    )
    op.create_index(
        "ix_sighting_attributes_time", "sighting_attributes", ["name", "value", "first_seen"]
    )
    op.create_index("ix_sightings_last_seen", "sightings", ["last_seen"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_sightings_last_seen", table_name="sightings")
    op.drop_index("ix_sighting_attributes_time", table_name="sighting_attributes")
    op.drop_table("sighting_attributes")
