"""Personal data (issue 11): what Mis Datos Personales shows and changes (address, data-processing authorisation), and its audited changes.

Revision ID: 0012
Revises: 0011
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Where the member lives, as they keep it up to date in "Mis Datos Personales";
    # empty until they first give it (the cooperative's file did not hold it here).
    op.add_column("members", sa.Column("address", sa.String(120), nullable=True))
    op.add_column("members", sa.Column("city", sa.String(60), nullable=True))


def downgrade() -> None:
    op.drop_column("members", "city")
    op.drop_column("members", "address")
