"""analytics sightings

Revision ID: 7c9f73b159a2
Revises: c1a2dd6932ae
Create Date: 2026-11-25 11:48:49.758691

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "7c9f73b159a2"
down_revision: str | Sequence[str] | None = "c1a2dd6932ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_sightings_camera_time": ["camera_id", "first_seen"],
    "ix_sightings_face_match": ["face_match"],
    "ix_sightings_plate": ["plate"],
}


def upgrade() -> None:
    """Upgrade schema."""
    inspector = sa.inspect(op.get_bind())
    # Before this revision the analytics workers made the table themselves (create_all, same
    # columns and index names): adopt such a table, rows and all, instead of failing on it.
    if not inspector.has_table("sightings"):
        op.create_table(
            "sightings",
            sa.Column("sighting_id", sa.String(length=64), nullable=False),
            sa.Column("camera_id", sa.String(length=64), nullable=False),
            sa.Column("track_id", sa.Integer(), nullable=False),
            sa.Column("class_name", sa.String(length=64), nullable=False),
            sa.Column("first_seen", sa.Float(), nullable=False),
            sa.Column("last_seen", sa.Float(), nullable=False),
            sa.Column("score", sa.Float(), nullable=False),
            sa.Column("plate", sa.String(length=16), nullable=True),
            sa.Column("plate_score", sa.Float(), nullable=True),
            sa.Column("face_match", sa.String(length=64), nullable=True),
            sa.Column("snapshot_ref", sa.String(length=512), nullable=True),
            sa.Column("payload", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("sighting_id", name=op.f("pk_sightings")),
        )
        present: set[str] = set()
    else:
        present = {str(ix["name"]) for ix in inspector.get_indexes("sightings")}
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        for name, columns in _INDEXES.items():
            if name not in present:
                batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        for name in reversed(_INDEXES):
            batch_op.drop_index(name)
    op.drop_table("sightings")
