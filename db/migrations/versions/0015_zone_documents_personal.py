"""The member's zone (issue 11): issued documents for the public verification page, and
the member's address and city for Mis Datos Personales.

Revisions 0011 and 0012 were reserved for these and landed empty: databases made since
are already past them, so their content is here, where every database still gets it.

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Kept literal (not imported from the models): a migration must not change when the code does.
KINDS = ("estado_cuenta", "aportes", "saldos", "tributario", "paz_y_salvo")


def upgrade() -> None:
    op.create_table(
        "member_documents",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id", name="fk_member_documents_member_id_members"),
                  nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("period", sa.String(40), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_member_documents"),
        sa.UniqueConstraint("code", name="uq_member_documents_code"),
        sa.UniqueConstraint("sha256", name="uq_member_documents_sha256"),
        sa.CheckConstraint(f"kind IN {KINDS!r}", name="ck_member_documents_kind"),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_member_documents_sha256_hex"),
    )
    op.create_index("ix_member_documents_member_issued", "member_documents", ["member_id", "issued_at"])
    # Issued documents are evidence: like the journal, never edited once written.
    op.execute("""
        CREATE FUNCTION member_documents_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'member_documents rows are immutable';
        END $$;
        CREATE TRIGGER member_documents_no_update BEFORE UPDATE ON member_documents
            FOR EACH ROW EXECUTE FUNCTION member_documents_immutable();
    """)
    # Where the member lives, as they keep it up to date in "Mis Datos Personales";
    # empty until they first give it (the cooperative's file did not hold it here).
    op.add_column("members", sa.Column("address", sa.String(120), nullable=True))
    op.add_column("members", sa.Column("city", sa.String(60), nullable=True))


def downgrade() -> None:
    op.drop_column("members", "city")
    op.drop_column("members", "address")
    op.execute("DROP TRIGGER IF EXISTS member_documents_no_update ON member_documents")
    op.execute("DROP FUNCTION IF EXISTS member_documents_immutable()")
    op.drop_index("ix_member_documents_member_issued", table_name="member_documents")
    op.drop_table("member_documents")
