"""Open intents by (deadline, id): the batch claim's order, so its LIMIT stops early.

The savings drain claims `ORDER BY step_deadline_at, id LIMIT n FOR UPDATE SKIP LOCKED`.
On an index of the deadline alone PostgreSQL had to read EVERY ready intent, probe each
for a PSE attempt and sort them all before taking n: a claim cost grew with the backlog,
the backlog with the claim's cost, and at 120-150 payments/s offered the worker's share of
PostgreSQL's CPU rose to 5-17 ms per payment while the queue ran away (issue 12). With
the id in the index the scan returns rows already in the claim's order and stops after n.

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# Kept literal (not imported from the models): a migration must not change when the code does.
OPEN_PREDICATE = "state IN ('created', 'funding', 'funded')"


def upgrade() -> None:
    op.drop_index("ix_payment_intents_pending_deadline", table_name="payment_intents")
    op.create_index("ix_payment_intents_pending_deadline", "payment_intents", ["step_deadline_at", "id"],
                    unique=False, postgresql_where=sa.text(OPEN_PREDICATE))


def downgrade() -> None:
    op.drop_index("ix_payment_intents_pending_deadline", table_name="payment_intents")
    op.create_index("ix_payment_intents_pending_deadline", "payment_intents", ["step_deadline_at"],
                    unique=False, postgresql_where=sa.text(OPEN_PREDICATE))
