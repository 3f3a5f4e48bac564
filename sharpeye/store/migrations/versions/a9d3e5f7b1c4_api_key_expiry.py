"""api key expiry: every API key ends; rotation names the key that replaced it

Existing keys, which never expired, get 90 days from the upgrade (the default lifetime), so
no machine stops at the upgrade itself; rotate them before then.

Revision ID: a9d3e5f7b1c4
Revises: f4b7c2d9e1a3
Create Date: 2026-12-03 10:00:00.000000

"""

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "a9d3e5f7b1c4"
down_revision: str | Sequence[str] | None = "f4b7c2d9e1a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_LIFETIME_S = 90 * 86400


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("expires_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("replaced_by", sa.Integer(), nullable=True))
    keys = sa.table("api_keys", sa.column("expires_at", sa.Float()))
    op.execute(keys.update().values(expires_at=time.time() + DEFAULT_LIFETIME_S))
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("expires_at", existing_type=sa.Float(), nullable=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("replaced_by")
        batch.drop_column("expires_at")
