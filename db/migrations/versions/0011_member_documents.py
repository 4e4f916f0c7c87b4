"""Issued documents (issue 11): statements and certificates with their verification codes, for the public verification page.

Landed empty on main and was applied so: what it was reserved for is in 0015.

Revision ID: 0011
Revises: 0010
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
