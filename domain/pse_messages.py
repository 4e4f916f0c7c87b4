"""PSE's messages as plain values (ACH's field names and codes, pse-reference §1): what
a PSE provider returns and what the payment steps in db/ store. Pure types, so that
`db` can take them without importing any client (DESIGN §1); the provider interface and
its errors are in integrations/pse/provider.py."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

# transactionState values of getTransactionInformation (WSDL).
STATE_OK = "OK"
STATE_NOT_AUTHORIZED = "NOT_AUTHORIZED"
STATE_PENDING = "PENDING"
STATE_FAILED = "FAILED"
FINAL_STATES = frozenset({STATE_OK, STATE_NOT_AUTHORIZED, STATE_FAILED})

SUCCESS = "SUCCESS"
FAIL_TIMEOUT = "FAIL_TIMEOUT"
FAIL_INVALIDSTATE = "FAIL_INVALIDSTATE"

PERSONA_NATURAL = "0"
PERSONA_JURIDICA = "1"


@dataclass(frozen=True, slots=True)
class Bank:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class CreateRequest:
    ticket_id: int                     # ours, committed before the call: the idempotency key
    bank_code: str
    amount: Decimal
    return_url: str                    # entityurl: where the bank sends the member back
    user_type: str = PERSONA_NATURAL   # 0 natural, 1 jurídica
    vat: Decimal = Decimal("0")
    references: tuple[str, ...] = ()   # de-facto: payer IP, document type, document number
    description: str = ""
    solicite_date: date | None = None  # today in America/Bogota when None
    currency: str = "COP"


@dataclass(frozen=True, slots=True)
class CreateResult:
    return_code: str
    cus: str | None = None             # trazabilityCode
    bank_url: str | None = None
    cycle: str | None = None

    @property
    def ok(self) -> bool:
        return self.return_code == SUCCESS


@dataclass(frozen=True, slots=True)
class TransactionInfo:
    return_code: str
    state: str | None = None
    cus: str | None = None
    ticket_id: int | None = None
    entity_code: str | None = None
    amount: Decimal | None = None
    vat: Decimal | None = None
    solicite_date: date | None = None
    bank_process_date: date | None = None
    cycle: str | None = None

    @property
    def final(self) -> bool:
        return self.return_code == SUCCESS and self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class FinalizeResult:
    return_code: str
    cus: str | None = None


@dataclass(frozen=True, slots=True)
class ConciliationFile:
    name: str
    content: str


@dataclass(frozen=True, slots=True)
class ConciliationResult:
    return_code: str
    files: tuple[ConciliationFile, ...] = field(default_factory=tuple)
