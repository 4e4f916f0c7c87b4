"""The sandbox's control endpoint: timings, per-transaction schedules and the mismatches
a conciliation test plants in the conciliation file."""
from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests

from integrations.pse import CreateRequest, PseUnavailable

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def create(provider, ticket_id: int, bank: str = "1022"):  # noqa: ANN001, ANN201
    return provider.create(CreateRequest(ticket_id=ticket_id, bank_code=bank, amount=Decimal("50000.00"),
                                         return_url="http://127.0.0.1:9/pse/retorno"))


def test_timings_and_a_per_transaction_schedule(sandbox, provider) -> None:  # noqa: ANN001
    sandbox.control("timing", {"pending_s": 0.2})
    cus = create(provider, 400, bank="9104").cus
    time.sleep(0.4)
    assert provider.query(cus).state == "OK"
    other = create(provider, 401).cus
    sandbox.control(f"transactions/{other}", {"decide_after_s": 0.5, "decide_state": "NOT_AUTHORIZED"})
    assert provider.query(other).state == "PENDING"
    time.sleep(0.7)
    assert provider.query(other).state == "NOT_AUTHORIZED"
    bad = requests.post(f"{sandbox.base}/_control/transactions/{other}", json={"state": "ROBADO"}, timeout=5)
    assert bad.status_code == 400
    assert requests.post(f"{sandbox.base}/_control/transactions/1", json={"state": "OK"}, timeout=5).status_code == 404
    assert requests.post(f"{sandbox.base}/_control/faults", json={"mode": "magia"}, timeout=5).status_code == 400


def test_conciliation_mismatches_can_be_planted(sandbox, provider) -> None:  # noqa: ANN001
    day = datetime.now(ZoneInfo("America/Bogota")).date()
    approved = create(provider, 410, bank="9101").cus
    rejected = create(provider, 411, bank="9102").cus
    hidden = create(provider, 412, bank="9101").cus
    sandbox.control(f"transactions/{approved}", {"amount": "49000.00"})     # amounts differ
    sandbox.control(f"transactions/{rejected}", {"state": "OK"})            # approved there, rejected here
    sandbox.control(f"transactions/{hidden}", {"in_conciliation": False})   # ours missing there
    sandbox.control("conciliation", {"ticketId": 999, "trazabilityCode": "77", "amount": "1000", "state": "OK"})
    content = provider.conciliation(day).files[0].content
    rows = {line.split(";")[0]: line.split(";") for line in content.splitlines()[1:]}
    assert set(rows) == {"410", "411", "999"}
    assert rows["410"][3] == "49000.00" and rows["411"][5] == "OK" and rows["999"][1] == "77"


def test_the_fault_mix_reaches_queries_too(sandbox, provider) -> None:  # noqa: ANN001
    cus = create(provider, 420, bank="9101").cus
    sandbox.control("mix", {"http_5xx": 1.0})
    with pytest.raises(PseUnavailable):
        provider.query(cus)
    sandbox.control("mix", {})
    assert provider.query(cus).state == "OK"
