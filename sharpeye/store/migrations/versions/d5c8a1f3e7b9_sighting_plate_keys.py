"""the OCR-tolerant plate index: each plated sighting under its folded plate and every
one-deletion of it, with the time for range searches

Revision ID: d5c8a1f3e7b9
Revises: a9d3e5f7b1c4
Create Date: 2026-12-07 15:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "d5c8a1f3e7b9"
down_revision: str | Sequence[str] | None = "a9d3e5f7b1c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The folding as this revision wrote it (a migration must not change with the code).
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_CONFUSABLE = str.maketrans({"B": "8", "D": "0", "Q": "0", "O": "0", "I": "1", "Z": "2", "S": "5"})


def _keys(plate: str) -> set[str]:
    body = plate[1:] if plate[:1] in _PROVINCES else plate
    folded = body.upper().translate(_CONFUSABLE)
    return {folded} | {folded[:i] + folded[i + 1 :] for i in range(len(folded))}


def upgrade() -> None:
    """Upgrade schema."""
    table = op.create_table(
        "sighting_plate_keys",
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("sighting_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", "sighting_id"),
    )
    op.create_index("ix_sighting_plate_keys_key_time", "sighting_plate_keys", ["key", "first_seen"])
    # Index the plated sightings stored before, 5,000 at a time (keyset pages: no cursor
    # held open across the inserts, no table in memory).
    conn = op.get_bind()
    page = sa.text(
        "SELECT sighting_id, plate, first_seen FROM sightings "
        "WHERE plate IS NOT NULL AND sighting_id > :after ORDER BY sighting_id LIMIT 5000"
    )
    after = ""
    while rows := conn.execute(page, {"after": after}).all():
        op.bulk_insert(
            table,
            [
                {"key": k, "sighting_id": sid, "first_seen": first_seen}
                for sid, plate, first_seen in rows
                for k in _keys(plate)
            ],
        )
        after = rows[-1][0]


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_sighting_plate_keys_key_time", table_name="sighting_plate_keys")
    op.drop_table("sighting_plate_keys")
