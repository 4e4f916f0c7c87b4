"""The PSE provider interface: what the payment workers need from PSE, whoever carries
it (ACH directly, or a gateway such as PlacetoPay, Wompi or PayU behind the same calls).

Results carry ACH's own return codes and transaction states as strings; the errors say
what the caller may conclude: nothing happened (retry later), or a create was sent and
its answer is unknown (mark the attempt unknown, never send it again).
"""
from __future__ import annotations

from datetime import date
from typing import Protocol

# The messages are pure values in domain/ (db/ stores them); re-exported here for callers.
from domain.pse_messages import (  # noqa: F401
    STATE_OK,
    STATE_NOT_AUTHORIZED,
    STATE_PENDING,
    STATE_FAILED,
    FINAL_STATES,
    SUCCESS,
    FAIL_TIMEOUT,
    FAIL_INVALIDSTATE,
    PERSONA_NATURAL,
    PERSONA_JURIDICA,
    Bank,
    CreateRequest,
    CreateResult,
    TransactionInfo,
    FinalizeResult,
    ConciliationFile,
    ConciliationResult,
)

class PseError(Exception):
    """A call to PSE did not give an answer to act on."""


class PseUnavailable(PseError):
    """PSE could not be reached or kept failing transiently; retries are exhausted.
    For a create this means the request never got through: nothing was created."""


class PseOutcomeUnknown(PseError):
    """A createTransactionPayment was sent and its answer was lost (read time-out,
    connection cut, unreadable answer): the bank may have it. Never send it again."""


class PseRejectedRequest(PseError):
    """PSE answered with a SOAP fault: it refused the request itself (definitive)."""


class PseProvider(Protocol):
    def banks(self) -> list[Bank]:
        """Selectable banks (placeholder rows left out)."""

    def create(self, request: CreateRequest) -> CreateResult:
        """Raises PseOutcomeUnknown when the request may have reached the bank."""

    def query(self, cus: str) -> TransactionInfo: ...

    def finalize(self, cus: str) -> FinalizeResult: ...

    def conciliation(self, day: date, cycle: str | None = None) -> ConciliationResult: ...
