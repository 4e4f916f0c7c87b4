"""Personal data (issue 11): what Mis Datos Personales shows and changes (address, data-processing authorisation), and its audited changes.

Landed empty on main and was applied so: what it was reserved for is in 0015.

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
    pass


def downgrade() -> None:
    pass
