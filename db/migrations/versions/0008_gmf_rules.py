"""GMF: one exempt savings account per member, enforced by PostgreSQL.

Estatuto Tributario art. 879 num. 1: the holder marks ONE savings account as the one that
benefits from the monthly GMF exemption. A partial unique index on the member, over the
rows marked exempt, makes a second mark fail whatever code path writes it.

Rows that already break the rule are not fixed silently (which account keeps the
exemption is the member's choice, and it changes the tax withheld): the upgrade stops and
names them, so operations ask the members and un-mark the others first.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEX = "uq_savings_accounts_one_gmf_exempt_per_member"


def upgrade() -> None:
    offenders = op.get_bind().execute(sa.text(
        "SELECT member_id FROM savings_accounts WHERE gmf_exempt GROUP BY member_id HAVING count(*) > 1"
        " ORDER BY member_id")).scalars().all()
    if offenders:
        raise RuntimeError(
            f"members with more than one GMF-exempt savings account: {list(offenders)}; "
            "keep the one each member marked (ET art. 879 num. 1) and un-mark the others before upgrading")
    op.create_index(INDEX, "savings_accounts", ["member_id"], unique=True,
                    postgresql_where=sa.text("gmf_exempt"))


def downgrade() -> None:
    op.drop_index(INDEX, table_name="savings_accounts")
