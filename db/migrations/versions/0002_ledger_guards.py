"""Ledger guards in PostgreSQL itself: balanced entries, immutable postings.

- A deferred constraint trigger on journal_entries checks at COMMIT that every entry
  posted in the transaction has at least two lines and that debits equal credits.
  It is per entry (not per line) so a bulk COPY of history pays one check per entry.
- Lines may only be added by the transaction that created their entry (statement
  trigger with a transition table, so COPY is checked in one join).
- UPDATE and DELETE of lines and entries raise: reversals are new entries.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n_lines integer;
    total_debit numeric;
    total_credit numeric;
BEGIN
    SELECT count(*), coalesce(sum(debit), 0), coalesce(sum(credit), 0)
      INTO n_lines, total_debit, total_credit
      FROM journal_lines WHERE entry_id = NEW.id;
    IF n_lines < 2 THEN
        RAISE EXCEPTION 'journal entry % has % line(s); at least two are required', NEW.id, n_lines
            USING ERRCODE = 'check_violation';
    END IF;
    IF total_debit <> total_credit THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: debits % <> credits %', NEW.id, total_debit, total_credit
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entry_balanced
    AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();

CREATE FUNCTION ledger_lines_only_in_entry_txn() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stranger bigint;
BEGIN
    SELECT e.id INTO stranger
      FROM new_lines l JOIN journal_entries e ON e.id = l.entry_id
     WHERE e.created_txid <> txid_current()
     LIMIT 1;
    IF stranger IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % is already posted; post a new entry instead', stranger
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER journal_lines_only_in_entry_txn
    AFTER INSERT ON journal_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_lines_only_in_entry_txn();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% of % is not allowed: the ledger is append-only; post a reversal', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER journal_lines_immutable
    BEFORE UPDATE OR DELETE ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER journal_entries_immutable
    BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

DOWNGRADE = r"""
DROP TRIGGER IF EXISTS journal_entries_immutable ON journal_entries;
DROP TRIGGER IF EXISTS journal_lines_immutable ON journal_lines;
DROP TRIGGER IF EXISTS journal_lines_only_in_entry_txn ON journal_lines;
DROP TRIGGER IF EXISTS journal_entry_balanced ON journal_entries;
DROP FUNCTION IF EXISTS ledger_refuse_change();
DROP FUNCTION IF EXISTS ledger_lines_only_in_entry_txn();
DROP FUNCTION IF EXISTS ledger_check_entry_balanced();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
