"""The wizard's "Requisitos" table as pure rules over facts the database gathers.

The same evaluation advises the member (step 4 of the wizard, and `create_intent`) and
decides, under row locks, whether the worker applies or rejects the payment: one set of
rules, so what the member was told and what the worker enforces cannot drift apart.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from domain.balances import available_balance
from domain.money import format_cop, gmf

ZERO = Decimal("0.00")

REASON_INSUFFICIENT = "Saldo insuficiente"
REASON_DORMANT = "Cuenta inactiva"
REASON_EMBARGOED = "Cuenta embargada"
REASON_IN_PROGRESS = "Ya hay un pago en proceso para esta obligación"
REASON_PSE_PENDING = "Pago PSE PENDIENTE"
REASON_OVER_OWED = "El valor supera lo adeudado"
REASON_NOT_POSITIVE = "El valor debe ser mayor que cero"
REASON_NOT_ACTIVE_OBLIGATION = "La obligación no está activa"
REASON_TX_LIMIT = "Supera el límite por transacción"
REASON_DAY_LIMIT = "Supera el límite diario de pagos"

ACCOUNT_STATUS_ACTIVE = "active"
ACCOUNT_STATUS_DORMANT = "dormant"
ACCOUNT_STATUS_EMBARGOED = "embargoed"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One row of the table: Requisito / Observación / Evaluación."""

    code: str  # stable, for tests and the web: "saldo:7", "cuenta_activa:7", "valor:12", ...
    requisito: str
    observacion: str
    cumple: bool
    reason: str  # short reason stored on a rejected intent ("Saldo insuficiente")

    @property
    def evaluacion(self) -> str:
        return "Cumple" if self.cumple else "No cumple"

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "requisito": self.requisito,
            "observacion": self.observacion,
            "evaluacion": self.evaluacion,
            "cumple": self.cumple,
        }


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """A savings account a payment touches: as a source (`debit` > 0) or a target."""

    account_id: int
    label: str  # "Rentadiario RD-1077227777"
    status: str
    balance: Decimal
    held: Decimal
    minimum_balance: Decimal
    gmf_exempt: bool
    debit: Decimal  # what the payment takes from it, GMF excluded; 0 for a target
    # The GMF as decided with the month's exemption allowance and the kind of movement
    # (db/payments/gmf.py); without it, the flat rule on the exemption flag.
    gmf_due: Decimal | None = None

    @property
    def gmf(self) -> Decimal:
        if self.gmf_due is not None:
            return self.gmf_due
        return ZERO if self.gmf_exempt or self.debit <= 0 else gmf(self.debit)

    @property
    def available(self) -> Decimal:
        return available_balance(self.balance, self.held, self.minimum_balance)

    @property
    def needed(self) -> Decimal:
        return self.debit + self.gmf


@dataclass(frozen=True, slots=True)
class LineFacts:
    """One line: an obligation to pay (with what can be paid of it) or a target account."""

    code_id: int
    label: str
    amount: Decimal
    max_payable: Decimal | None  # None for a deposit into an own account
    obligation_active: bool = True
    in_progress: bool = False
    # A PSE transaction for this obligation that PSE has not decided yet (DESIGN §5):
    # the obligation is blocked; `pse_cus` is its CUS when PSE gave one.
    pse_pending: bool = False
    pse_cus: str | None = None


@dataclass(frozen=True, slots=True)
class LimitFacts:
    total: Decimal
    max_per_transaction: Decimal
    max_per_day: Decimal
    spent_today: Decimal  # today's (Bogotá) other payments, applied or in progress


def evaluate(
    accounts: Sequence[AccountFacts], lines: Sequence[LineFacts], limits: LimitFacts
) -> tuple[Requirement, ...]:
    rows: list[Requirement] = []
    for account in accounts:
        rows.append(_account_active(account))
        if account.debit > 0:
            rows.append(_available_balance(account))
    if not any(account.debit > 0 for account in accounts):
        rows.append(NO_SAVINGS_DEBIT)  # paid by PSE alone: the manual's row says so
    for line in lines:
        rows.append(_line_value(line))
        if line.max_payable is not None:
            rows.append(_not_in_progress(line))
    rows.append(_transaction_limit(limits))
    rows.append(_day_limit(limits))
    return tuple(rows)


# The manual's wording when nothing is debited from the member's savings (a PSE payment).
NO_SAVINGS_DEBIT = Requirement(
    "saldo:ninguna", "Validación saldo cuenta de Ahorros",
    "Requisito CUMPLE porque NO hay recaudos con cuentas de ahorro", True, "",
)


def first_failure(requirements: Sequence[Requirement]) -> Requirement | None:
    return next((r for r in requirements if not r.cumple), None)


def all_met(requirements: Sequence[Requirement]) -> bool:
    return first_failure(requirements) is None


def _available_balance(account: AccountFacts) -> Requirement:
    gmf_note = f" (incluye GMF {format_cop(account.gmf)})" if account.gmf > 0 else ""
    ok = account.available >= account.needed
    observation = f"Disponible {format_cop(account.available)}; a debitar {format_cop(account.needed)}{gmf_note}"
    if not ok:
        observation = f"{REASON_INSUFFICIENT}. {observation}"
    return Requirement(
        code=f"saldo:{account.account_id}",
        requisito=f"Saldo disponible en {account.label}",
        observacion=observation,
        cumple=ok,
        reason=REASON_INSUFFICIENT,
    )


def _account_active(account: AccountFacts) -> Requirement:
    match account.status:
        case "active":
            ok, observation, reason = True, "La cuenta está activa", ""
        case "dormant":
            ok, observation, reason = False, "La cuenta está inactiva", REASON_DORMANT
        case "embargoed":
            ok, observation, reason = False, "La cuenta tiene un embargo", REASON_EMBARGOED
        case _:
            ok, observation, reason = False, "Estado de la cuenta desconocido", REASON_DORMANT
    return Requirement(f"cuenta_activa:{account.account_id}", f"Cuenta {account.label} activa", observation, ok, reason)


def _line_value(line: LineFacts) -> Requirement:
    requisito = f"Valor a pagar de {line.label}" if line.max_payable is not None else f"Valor a depositar en {line.label}"
    if line.amount <= 0:
        return Requirement(f"valor:{line.code_id}", requisito, REASON_NOT_POSITIVE, False, REASON_NOT_POSITIVE)
    if not line.obligation_active:
        return Requirement(
            f"valor:{line.code_id}", requisito, REASON_NOT_ACTIVE_OBLIGATION, False, REASON_NOT_ACTIVE_OBLIGATION
        )
    if line.max_payable is not None and line.amount > line.max_payable:
        observation = f"{REASON_OVER_OWED}: {format_cop(line.amount)} de {format_cop(line.max_payable)}"
        return Requirement(f"valor:{line.code_id}", requisito, observation, False, REASON_OVER_OWED)
    observation = f"{format_cop(line.amount)}" + (
        f" de {format_cop(line.max_payable)} adeudados" if line.max_payable is not None else ""
    )
    return Requirement(f"valor:{line.code_id}", requisito, observation, True, "")


def pse_pending_message(reference: str, cus: str | None) -> str:
    """The standard PENDIENTE text PSE integrations show (pse-reference §1.4)."""
    return (
        f"En este momento su Número de Referencia o Factura ({reference}) presenta un proceso de pago cuya "
        "transacción se encuentra PENDIENTE de recibir confirmación por parte de su entidad financiera, por "
        "favor espere unos minutos y vuelva a consultar más tarde para verificar si su pago fue confirmado de "
        "forma exitosa. Si desea mayor información sobre el estado actual de su operación puede comunicarse a "
        "nuestras líneas de atención al cliente y preguntar por el estado de la transacción: "
        f"{cus or 'en trámite'}"
    )


def _not_in_progress(line: LineFacts) -> Requirement:
    if line.pse_pending:
        return Requirement(
            f"en_proceso:{line.code_id}", f"Sin pagos en proceso de {line.label}",
            pse_pending_message(line.label, line.pse_cus), False, REASON_PSE_PENDING,
        )
    if line.in_progress:
        return Requirement(
            f"en_proceso:{line.code_id}", f"Sin pagos en proceso de {line.label}", REASON_IN_PROGRESS, False,
            REASON_IN_PROGRESS,
        )
    return Requirement(
        f"en_proceso:{line.code_id}", f"Sin pagos en proceso de {line.label}", "No hay pagos en proceso", True, ""
    )


def _transaction_limit(limits: LimitFacts) -> Requirement:
    ok = limits.total <= limits.max_per_transaction
    observation = f"Total {format_cop(limits.total)}; máximo por transacción {format_cop(limits.max_per_transaction)}"
    return Requirement("limite_transaccion", "Límite por transacción", observation, ok, "" if ok else REASON_TX_LIMIT)


def _day_limit(limits: LimitFacts) -> Requirement:
    day_total = limits.spent_today + limits.total
    ok = day_total <= limits.max_per_day
    observation = f"Pagos de hoy {format_cop(day_total)}; máximo diario {format_cop(limits.max_per_day)}"
    return Requirement("limite_diario", "Límite diario", observation, ok, "" if ok else REASON_DAY_LIMIT)
