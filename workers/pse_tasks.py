"""PSE tasks (issue 10). Each task is one short step; none holds a database transaction
open across a call to PSE (DESIGN §4): read or claim in one transaction, commit, call
PSE, store the answer in another, then enqueue what follows. The domain work is in
db/payments/pse.py; these only wire it to Celery and to the provider.

- `pse_send`: the create, at most once per ticket (SENT is committed before it leaves).
- `pse_query`: getTransactionInformation; the return page and the beat poller ask for it.
- `pse_finalize`: finalizeTransactionPayment once the approved money is booked.
- `poll_pse` (beat): queries due by the stored schedule, tickets whose send message was
  lost, sends never answered (→ unknown), finalizes owed.
- `conciliate_pse` (beat): the day's conciliation file against our transactions.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from celery import Task, shared_task
from sqlalchemy import text

from db.engine import session_scope
from db.payments import pse
from db.payments.pse_conciliation import conciliate
from db.pse_banks import needs_refresh, replace_banks
from domain.bogota_calendar import bogota_date
from domain.pse_polling import Phase, parse_phases
from integrations.pse.provider import PseError, PseOutcomeUnknown, PseProvider, PseRejectedRequest, PseUnavailable
from zona_privada.metrics import PSE_CALLS
from zona_privada.settings import PseSettings, get_settings, load_pse_settings

from .faults import fault_point

log = logging.getLogger(__name__)
T = TypeVar("T")


def provider_for(settings: PseSettings) -> PseProvider:
    # Imported here so that loading the task module never builds a SOAP client (zeep
    # reads the WSDL); only a worker that runs a PSE task pays for it.
    from integrations.pse.ach import AchPseProvider

    return AchPseProvider(settings)


def _counted(operation: str, call: Callable[[], T]) -> T:
    """One PSE call, counted by operation and outcome (ok, or the error's class) for
    /metrics: a write to this process's metrics file, nothing more."""
    try:
        result = call()
    except Exception as exc:
        PSE_CALLS.labels(operation, type(exc).__name__).inc()
        raise
    PSE_CALLS.labels(operation, "ok").inc()
    return result


@lru_cache(maxsize=1)
def _provider() -> PseProvider:
    """One client per worker process (the WSDL is parsed once; the requests session
    keeps its connections)."""
    return provider_for(load_pse_settings())


@lru_cache(maxsize=1)
def _phases() -> tuple[Phase, ...]:
    return parse_phases(load_pse_settings().query_phases)


def refresh_bank_list(provider: PseProvider, settings: PseSettings, *, force: bool = False,
                      now: datetime | None = None) -> int | None:
    """Fetches PSE's bank list when the cached one is a day old (or `force`) and stores
    it. Returns how many banks were stored, or None when nothing was due or PSE gave
    nothing usable; a failure keeps the old list and is tried again at the next check."""
    now = now or datetime.now(timezone.utc)
    if not force:
        with session_scope() as session:
            if not needs_refresh(session, now, timedelta(seconds=settings.banks_refresh_s)):
                return None
    try:
        banks = _counted("getBankList", provider.banks)
    except PseError as exc:
        log.warning("pse_bank_list_unavailable", extra={"error": type(exc).__name__, "detail": str(exc)[:200]})
        return None
    with session_scope() as session:
        stored = replace_banks(session, [(b.code, b.name) for b in banks], now)
    if stored:
        log.info("pse_bank_list_refreshed", extra={"banks": stored})
    else:
        log.warning("pse_bank_list_empty", extra={"rows": len(banks)})
    return stored or None


@shared_task(name="workers.pse_tasks.refresh_pse_banks", acks_late=True)
def refresh_pse_banks(force: bool = False) -> int | None:
    settings = load_pse_settings()
    return refresh_bank_list(provider_for(settings), settings, force=force)


# ---------------------------------------------------------------- the payment steps

_TX_OF_INTENT_SQL = text("""
    SELECT t.id FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
    WHERE f.intent_id = :intent_id ORDER BY t.id DESC LIMIT 1""")


def _tx_of_intent(intent_id: int) -> int | None:
    with session_scope() as session:
        return session.execute(_TX_OF_INTENT_SQL, {"intent_id": intent_id}).scalar_one_or_none()


def send_transaction(tx_id: int, provider: PseProvider | None = None) -> str:
    """createTransactionPayment for one ticket, at most once. Returns what happened."""
    with session_scope() as session:
        order = pse.begin_send(session, tx_id)
    if order is None:
        return "nothing_to_send"
    # From here the create may be out: a crash leaves SENT, which the poller turns
    # unknown (never sent again) and conciliation resolves.
    fault_point("pse_send", "after_commit")
    provider = provider or _provider()
    try:
        result = _counted("createTransactionPayment", lambda: provider.create(order.request))
    except PseOutcomeUnknown as exc:
        with session_scope() as session:
            pse.record_send_lost(session, tx_id, str(exc))
        return "unknown"
    except (PseUnavailable, PseRejectedRequest) as exc:
        with session_scope() as session:
            pse.record_send_refused(session, tx_id, type(exc).__name__)
        return "refused"
    except PseError as exc:
        with session_scope() as session:
            pse.record_send_lost(session, tx_id, str(exc))
        return "unknown"
    with session_scope() as session:
        step = pse.record_created(session, tx_id, result, phases=_phases())
        fault_point("pse_send", "before_commit")
    return "created" if result.ok else f"refused:{result.return_code} ({step.outcome.value})"


def query_transaction(tx_id: int, provider: PseProvider | None = None) -> str:
    """getTransactionInformation for one transaction still pending at PSE; the answer is
    stored (and the intent moved) in one transaction, then settle/finalize enqueued."""
    with session_scope() as session:
        cus = pse.query_target(session, tx_id)
    if cus is None:
        return "nothing_to_query"
    provider = provider or _provider()
    try:
        info = _counted("getTransactionInformation", lambda: provider.query(cus))
    except PseError as exc:
        # Nothing learned: the lease on next_poll_at runs out and the poller asks again.
        log.warning("pse query failed", extra={"pse_transaction_id": tx_id, "error": type(exc).__name__,
                                               "detail": str(exc)[:200]})
        return "no_answer"
    with session_scope() as session:
        answer = pse.record_answer(session, tx_id, info, phases=_phases())
        fault_point("pse_query", "before_commit")
    fault_point("pse_query", "after_commit")
    from .payment_tasks import enqueue_step

    for step in pse.settle_next(answer.step):
        enqueue_step(step, answer.step.intent_id)
    if answer.finalize:
        pse_finalize_tx.apply_async(args=[tx_id])
    return info.state or info.return_code


def finalize_transaction(tx_id: int, provider: PseProvider | None = None) -> str:
    with session_scope() as session:
        cus = pse.finalize_target(session, tx_id)
    if cus is None:
        return "nothing_to_finalize"
    provider = provider or _provider()
    try:
        result = _counted("finalizeTransactionPayment", lambda: provider.finalize(cus))
    except PseError as exc:
        log.warning("pse finalize failed", extra={"pse_transaction_id": tx_id, "error": type(exc).__name__})
        return "no_answer"
    with session_scope() as session:
        pse.record_finalized(session, tx_id, result.return_code)
    return result.return_code


@shared_task(name="workers.pse_tasks.pse_send", bind=True, acks_late=True)
def pse_send(self: Task, intent_id: int) -> str:
    """The step after the holds (by intent, as every payment step)."""
    fault_point("pse_send", "task_start")
    tx_id = _tx_of_intent(intent_id)
    return send_transaction(tx_id) if tx_id is not None else "no_ticket"


@shared_task(name="workers.pse_tasks.pse_send_tx", acks_late=True)
def pse_send_tx(tx_id: int) -> str:
    """The poller's re-drive of a ticket whose send message was lost."""
    return send_transaction(tx_id)


@shared_task(name="workers.pse_tasks.pse_query", acks_late=True)
def pse_query(tx_id: int) -> str:
    fault_point("pse_query", "task_start")
    return query_transaction(tx_id)


@shared_task(name="workers.pse_tasks.pse_finalize", bind=True, acks_late=True)
def pse_finalize(self: Task, intent_id: int) -> str:
    """After the settle applied the payment (by intent, as every payment step)."""
    fault_point("pse_finalize", "task_start")
    tx_id = _tx_of_intent(intent_id)
    return finalize_transaction(tx_id) if tx_id is not None else "no_ticket"


@shared_task(name="workers.pse_tasks.pse_finalize_tx", acks_late=True)
def pse_finalize_tx(tx_id: int) -> str:
    return finalize_transaction(tx_id)


def enqueue_query_now(tx_id: int) -> None:
    """What the return page calls after its commit: the query's answer is the truth; the
    member's return itself never changes a state (DESIGN §5)."""
    pse_query.apply_async(args=[tx_id])


@shared_task(name="workers.pse_tasks.poll_pse", acks_late=True)
def poll_pse() -> dict[str, int]:
    """Beat: hand what is due to the workers. Claims are leased on the rows, so a run
    that overlaps another (or a slow worker) never queries one transaction twice."""
    settings = get_settings()
    with session_scope() as session:
        due = pse.sweep(session, settings=settings, lease_s=max(settings.pse_send_timeout_s, 1.0))
    for tx_id in due.unknown:
        with session_scope() as session:
            pse.record_send_lost(session, tx_id, "El envío no registró respuesta a tiempo")
    for tx_id in due.queries:
        pse_query.apply_async(args=[tx_id])
    for tx_id in due.sends:
        pse_send_tx.apply_async(args=[tx_id])
    for tx_id in due.finalizes:
        pse_finalize_tx.apply_async(args=[tx_id])
    return {"queries": len(due.queries), "sends": len(due.sends), "unknown": len(due.unknown),
            "finalizes": len(due.finalizes)}


def conciliate_day(day: date, *, final: bool, provider: PseProvider | None = None) -> dict[str, object]:
    """Fetch the conciliation file of `day` and compare; `final` once the day is over:
    then the previous day's file is read too, and a create sent that previous day that
    is still unknown and in neither file never reached PSE."""
    provider = provider or _provider()
    try:
        result = _counted("getConciliationFile", lambda: provider.conciliation(day))
        earlier = (_counted("getConciliationFile", lambda: provider.conciliation(day - timedelta(days=1)))
                   if final else None)
    except PseError as exc:
        log.warning("pse conciliation file unavailable", extra={"day": day.isoformat(), "error": type(exc).__name__})
        return {"day": day.isoformat(), "error": type(exc).__name__}
    content = "\n".join(f.content for f in result.files)
    earlier_tickets: frozenset[int] = frozenset()
    if earlier is not None:
        from domain.pse_conciliation import parse

        earlier_tickets = frozenset(r.ticket_id for r in parse("\n".join(f.content for f in earlier.files))[0])
    with session_scope() as session:
        outcome = conciliate(session, day, content, final=final, return_code=result.return_code,
                             earlier_tickets=earlier_tickets)
    follow = outcome.pop("follow_up")  # type: ignore[misc]
    from .payment_tasks import enqueue_step

    for step, intent_id in follow["steps"]:  # type: ignore[index]
        enqueue_step(step, intent_id)
    for tx_id in follow["finalize"]:  # type: ignore[index]
        pse_finalize_tx.apply_async(args=[tx_id])
    log.info("pse conciliation", extra={"day": day.isoformat(), **{k: v for k, v in outcome.items()
                                                                      if isinstance(v, int)}})
    return {"day": day.isoformat(), **outcome}


@shared_task(name="workers.pse_tasks.conciliate_pse", acks_late=True)
def conciliate_pse(day: str | None = None, final: bool | None = None) -> list[dict[str, object]]:
    """Beat: yesterday's file (final) and today's so far; or one given day."""
    today = bogota_date(datetime.now(timezone.utc))
    if day is not None:
        wanted = date.fromisoformat(day)
        return [conciliate_day(wanted, final=wanted < today if final is None else final)]
    return [conciliate_day(today - timedelta(days=1), final=True), conciliate_day(today, final=False)]
