"""PSE tasks (issue 10). Each task is one short step; none holds a database transaction
open across a call to PSE (DESIGN §4): read what is due, close, call, then write."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from celery import shared_task

from db.engine import session_scope
from db.pse_banks import needs_refresh, replace_banks
from integrations.pse.provider import PseError, PseProvider
from zona_privada.settings import PseSettings, load_pse_settings

log = logging.getLogger(__name__)


def provider_for(settings: PseSettings) -> PseProvider:
    # Imported here so that loading the task module never builds a SOAP client (zeep
    # reads the WSDL); only a worker that runs a PSE task pays for it.
    from integrations.pse.ach import AchPseProvider

    return AchPseProvider(settings)


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
        banks = provider.banks()
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
