"""Every state change the database sees, recorded by triggers, to check against the step
table (issue 9 item 1): whatever path a payment test takes, each move an intent or a
funding attempt makes must be one the machine allows.

The log lives in a schema of its own (`test_audit`): the tests' TRUNCATE of the models
leaves it whole, and so does `zona seed --reset` (DROP SCHEMA public), which takes the
triggers with it but not what they recorded."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain.payment_states import ATTEMPT_TRANSITIONS, INTENT_TRANSITIONS, AttemptState, IntentState

_INSTALL = [
    "CREATE SCHEMA IF NOT EXISTS test_audit",
    """CREATE TABLE IF NOT EXISTS test_audit.state_transitions (
           id bigserial PRIMARY KEY, tbl text NOT NULL, row_id bigint NOT NULL, old_state text, new_state text NOT NULL)""",
    """CREATE OR REPLACE FUNCTION test_audit.record_transition() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           IF TG_OP = 'INSERT' THEN
               INSERT INTO test_audit.state_transitions (tbl, row_id, old_state, new_state)
               VALUES (TG_TABLE_NAME, NEW.id, NULL, NEW.state::text);
           ELSIF OLD.state IS DISTINCT FROM NEW.state THEN
               INSERT INTO test_audit.state_transitions (tbl, row_id, old_state, new_state)
               VALUES (TG_TABLE_NAME, NEW.id, OLD.state::text, NEW.state::text);
           END IF;
           RETURN NULL;
       END $$""",
    "DROP TRIGGER IF EXISTS test_record_transition ON payment_intents",
    """CREATE TRIGGER test_record_transition AFTER INSERT OR UPDATE OF state ON payment_intents
       FOR EACH ROW EXECUTE FUNCTION test_audit.record_transition()""",
    "DROP TRIGGER IF EXISTS test_record_transition ON funding_attempts",
    """CREATE TRIGGER test_record_transition AFTER INSERT OR UPDATE OF state ON funding_attempts
       FOR EACH ROW EXECUTE FUNCTION test_audit.record_transition()""",
]


def install(engine: Engine) -> None:
    with engine.begin() as conn:
        for statement in _INSTALL:
            conn.execute(text(statement))


def recorded(engine: Engine) -> list[tuple[str, int, str | None, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(  # type: ignore[misc]
            "SELECT tbl, row_id, old_state, new_state FROM test_audit.state_transitions ORDER BY id"))]


def illegal(rows: list[tuple[str, int, str | None, str]]) -> list[tuple[str, int, str | None, str]]:
    """The recorded moves the state machines do not allow (rows start in their initial state)."""
    bad = []
    for row in rows:
        table, _row_id, old, new = row
        if table == "payment_intents":
            ok = IntentState(new) is IntentState.CREATED if old is None else \
                IntentState(new) in INTENT_TRANSITIONS[IntentState(old)]
        else:
            ok = AttemptState(new) is AttemptState.PENDING if old is None else \
                AttemptState(new) in ATTEMPT_TRANSITIONS[AttemptState(old)]
        if not ok:
            bad.append(row)
    return bad
