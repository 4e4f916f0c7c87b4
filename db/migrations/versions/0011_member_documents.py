"""Issued documents (issue 11): statements and certificates with their verification codes, for the public verification page.

Revision ID: 0011
Revises: 0010
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0011"
down_revision = "0010"
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


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS member_documents_no_update ON member_documents")
    op.execute("DROP FUNCTION IF EXISTS member_documents_immutable()")
    op.drop_index("ix_member_documents_member_issued", table_name="member_documents")
    op.drop_table("member_documents")
