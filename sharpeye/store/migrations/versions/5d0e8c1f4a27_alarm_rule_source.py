"""alarm rules say where they come from (registry file or API)

Revision ID: 5d0e8c1f4a27
Revises: 7c9f73b159a2
Create Date: 2026-11-25 12:20:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "5d0e8c1f4a27"
down_revision: str | Sequence[str] | None = "7c9f73b159a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Rules that exist already were made through the API or seeded by an older demo: "api"
    # keeps them editable; a registry rule with the same id takes them over on the next sync.
    with op.batch_alter_table("alarm_rules") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="api")
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("alarm_rules") as batch:
        batch.drop_column("source")
