"""What a member asks to pay, normalized and hashed (DESIGN §4 rule 5; formance's idea:
the idempotency key is stored with a hash of the body, so the same key with another body
is refused instead of silently returning the first payment).

Pure: the web's form fields and the API's JSON both end up as these values, and every
amount a member can influence is checked here before any database work.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from domain.amortization import PrepaymentMode
from domain.money import MSG_CENTAVOS, MSG_INVALID, MSG_NOT_POSITIVE, MSG_TOO_LARGE, to_money

KIND_PAYMENT = "payment"
KIND_TRANSFER = "transfer"
KINDS = (KIND_PAYMENT, KIND_TRANSFER)

# Bounds on everything a request carries (Tiger style): a form never needs more.
MAX_LINES = 40
MAX_FUNDING_SOURCES = 5
MAX_AMOUNT_COP = Decimal("999999999999")
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")

MSG_BAD_KEY = "La solicitud no es válida: recargue la página de verificación e intente de nuevo"
MSG_NO_LINES = "Seleccione al menos una obligación o cuenta de destino"
MSG_TOO_MANY_LINES = "Seleccione menos obligaciones en un mismo pago"
MSG_NO_FUNDING = "Seleccione al menos una forma de pago"
MSG_TOO_MANY_SOURCES = "Seleccione como máximo cinco cuentas de origen"
MSG_DUPLICATE_OBLIGATION = "Una obligación aparece dos veces en el pago"
MSG_DUPLICATE_SOURCE = "Una cuenta de origen aparece dos veces"
MSG_BAD_KIND = "Tipo de operación no válido"
MSG_BAD_LINE = "Cada línea debe indicar una obligación o una cuenta de destino"
MSG_LINE_KIND = "Un pago solo incluye obligaciones y una transferencia solo cuentas de destino"
MSG_SELF_TRANSFER = "La cuenta de origen y la de destino deben ser distintas"
MSG_FUNDING_MISMATCH = "La suma de las formas de pago no coincide con el total a pagar"
MSG_BAD_PREPAYMENT_MODE = "Elija si el abono reduce el plazo o el valor de la cuota"
MSG_PSE_BANK = "Seleccione la entidad financiera desde la que pagará por PSE"
MSG_PSE_USER_TYPE = "Seleccione el tipo de persona: natural o jurídica"
MSG_PSE_TWICE = "Un pago solo puede tener un débito por PSE"
MSG_PSE_WITH_ACCOUNT = "El débito por PSE no lleva cuenta de ahorros de la cooperativa"
_BANK_CODE = re.compile(r"^[0-9]{1,10}$")


class PaymentInputError(ValueError):
    """A request was refused before anything was written; `str()` is shown as is (Spanish)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class LineRequest:
    """Pay `amount` of an obligation, or deposit it into one's own savings account."""

    amount: Decimal
    obligation_id: int | None = None
    target_savings_account_id: int | None = None
    prepayment_mode: PrepaymentMode | None = None


@dataclass(frozen=True, slots=True)
class FundingRequest:
    """Debit `amount` (GMF comes on top for non-exempt accounts) from a savings account."""

    amount: Decimal
    savings_account_id: int | None = None
    pse: bool = False
    # PSE only: the bank the member chose (financialInstitutionCode) and the person type
    # (userType: 0 natural, 1 jurídica), both sent in createTransactionPayment.
    bank_code: str | None = None
    user_type: int | None = None


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    kind: str
    lines: tuple[LineRequest, ...]
    funding: tuple[FundingRequest, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))

    @property
    def obligation_ids(self) -> tuple[int, ...]:
        return tuple(line.obligation_id for line in self.lines if line.obligation_id is not None)

    @property
    def source_account_ids(self) -> tuple[int, ...]:
        return tuple(f.savings_account_id for f in self.funding if f.savings_account_id is not None)

    @property
    def target_account_ids(self) -> tuple[int, ...]:
        return tuple(
            line.target_savings_account_id for line in self.lines if line.target_savings_account_id is not None
        )

    @property
    def uses_pse(self) -> bool:
        return any(f.pse for f in self.funding)

    @property
    def pse_source(self) -> FundingRequest | None:
        return next((f for f in self.funding if f.pse), None)

    @property
    def savings_funding(self) -> tuple[FundingRequest, ...]:
        return tuple(f for f in self.funding if not f.pse)


def check_idempotency_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY_PATTERN.match(key):
        raise PaymentInputError(MSG_BAD_KEY)
    return key


def request_amount(value: object) -> Decimal:
    """An amount as the server accepts it: Decimal, int or a plain numeric string; at most
    two decimals (an installment may carry cents), positive, bounded. Floats are refused:
    they have already lost the cents. Typed "Otro valor" goes through parse_whole_pesos."""
    if isinstance(value, bool) or isinstance(value, float):
        raise PaymentInputError(MSG_INVALID)
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str) and 0 < len(value) <= 24:
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise PaymentInputError(MSG_INVALID) from None
    else:
        raise PaymentInputError(MSG_INVALID)
    if not amount.is_finite():
        raise PaymentInputError(MSG_INVALID)
    if amount <= 0:
        raise PaymentInputError(MSG_NOT_POSITIVE)
    if amount > MAX_AMOUNT_COP:
        raise PaymentInputError(MSG_TOO_LARGE)
    if amount != amount.quantize(Decimal("0.01")):
        raise PaymentInputError(MSG_CENTAVOS)
    return to_money(amount)


def _positive_id(value: object) -> int:
    if isinstance(value, bool):
        raise PaymentInputError(MSG_BAD_LINE)
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise PaymentInputError(MSG_BAD_LINE) from None
    if number <= 0 or str(number) != str(value).strip():
        raise PaymentInputError(MSG_BAD_LINE)
    return number


def _optional_id(value: object) -> int | None:
    return None if value in (None, "") else _positive_id(value)


def _mode(value: object) -> PrepaymentMode | None:
    if value in (None, ""):
        return None
    try:
        return PrepaymentMode(str(value))
    except ValueError:
        raise PaymentInputError(MSG_BAD_PREPAYMENT_MODE) from None


def _as_line(raw: LineRequest | Mapping[str, object], default_mode: PrepaymentMode | None) -> LineRequest:
    if isinstance(raw, LineRequest):
        raw = {
            "amount": raw.amount,
            "obligation_id": raw.obligation_id,
            "target_savings_account_id": raw.target_savings_account_id,
            "prepayment_mode": raw.prepayment_mode,
        }
    if not isinstance(raw, Mapping):
        raise PaymentInputError(MSG_BAD_LINE)
    obligation_id = _optional_id(raw.get("obligation_id"))
    target_id = _optional_id(raw.get("target_savings_account_id"))
    if (obligation_id is None) == (target_id is None):
        raise PaymentInputError(MSG_BAD_LINE)
    mode = _mode(raw.get("prepayment_mode")) or (default_mode if obligation_id is not None else None)
    return LineRequest(request_amount(raw.get("amount")), obligation_id, target_id, mode)


def _as_funding(raw: FundingRequest | Mapping[str, object]) -> FundingRequest:
    if isinstance(raw, FundingRequest):
        raw = {"amount": raw.amount, "savings_account_id": raw.savings_account_id, "pse": raw.pse,
               "bank_code": raw.bank_code, "user_type": raw.user_type}
    if not isinstance(raw, Mapping):
        raise PaymentInputError(MSG_NO_FUNDING)
    if raw.get("pse"):
        return _as_pse(raw)
    account_id = raw.get("savings_account_id")
    if account_id in (None, ""):
        raise PaymentInputError(MSG_NO_FUNDING)
    return FundingRequest(request_amount(raw.get("amount")), _positive_id(account_id))


def _as_pse(raw: Mapping[str, object]) -> FundingRequest:
    if raw.get("savings_account_id") not in (None, ""):
        raise PaymentInputError(MSG_PSE_WITH_ACCOUNT)
    bank = raw.get("bank_code")
    bank = bank.strip() if isinstance(bank, str) else bank
    # "0" is PSE's placeholder row ("A continuación seleccione su banco"), never a bank.
    if not isinstance(bank, str) or not _BANK_CODE.match(bank) or int(bank) == 0:
        raise PaymentInputError(MSG_PSE_BANK)
    user_type = raw.get("user_type")
    if isinstance(user_type, str) and user_type.strip() in ("0", "1"):
        user_type = int(user_type.strip())
    if isinstance(user_type, bool) or user_type not in (0, 1):
        raise PaymentInputError(MSG_PSE_USER_TYPE)
    return FundingRequest(request_amount(raw.get("amount")), None, True, bank, int(user_type))  # type: ignore[arg-type]


def normalize_request(
    kind: object,
    lines: Iterable[LineRequest | Mapping[str, object]],
    funding: Iterable[FundingRequest | Mapping[str, object]],
    prepayment_mode: object = None,
) -> PaymentRequest:
    """Check the shape and every amount; order lines and sources canonically (by id) so
    the same form always hashes the same, whatever order the browser sent it in."""
    if kind not in KINDS:
        raise PaymentInputError(MSG_BAD_KIND)
    default_mode = _mode(prepayment_mode)
    raw_lines = list(lines)[: MAX_LINES + 1]
    raw_funding = list(funding)[: MAX_FUNDING_SOURCES + 1]
    if not raw_lines:
        raise PaymentInputError(MSG_NO_LINES)
    if len(raw_lines) > MAX_LINES:
        raise PaymentInputError(MSG_TOO_MANY_LINES)
    if not raw_funding:
        raise PaymentInputError(MSG_NO_FUNDING)
    if len(raw_funding) > MAX_FUNDING_SOURCES:
        raise PaymentInputError(MSG_TOO_MANY_SOURCES)
    norm_lines = [_as_line(raw, default_mode) for raw in raw_lines]
    norm_funding = [_as_funding(raw) for raw in raw_funding]
    request = PaymentRequest(
        kind=str(kind),
        lines=tuple(sorted(norm_lines, key=lambda l: (l.obligation_id or 0, l.target_savings_account_id or 0))),
        funding=tuple(sorted(norm_funding, key=lambda f: f.savings_account_id or 0)),
    )
    _check_consistency(request)
    return request


def _check_consistency(request: PaymentRequest) -> None:
    if request.kind == KIND_PAYMENT and request.target_account_ids:
        raise PaymentInputError(MSG_LINE_KIND)
    if request.kind == KIND_TRANSFER and request.obligation_ids:
        raise PaymentInputError(MSG_LINE_KIND)
    targets = request.obligation_ids + request.target_account_ids
    if len(targets) != len(set(targets)):
        raise PaymentInputError(MSG_DUPLICATE_OBLIGATION)
    if sum(1 for f in request.funding if f.pse) > 1:
        raise PaymentInputError(MSG_PSE_TWICE)
    sources = request.source_account_ids
    if len(sources) != len(set(sources)):
        raise PaymentInputError(MSG_DUPLICATE_SOURCE)
    if set(sources) & set(request.target_account_ids):
        raise PaymentInputError(MSG_SELF_TRANSFER)
    if sum((f.amount for f in request.funding), Decimal("0.00")) != request.total:
        raise PaymentInputError(MSG_FUNDING_MISMATCH)
    if request.total > MAX_AMOUNT_COP:
        raise PaymentInputError(MSG_TOO_LARGE)


def request_hash(request: PaymentRequest) -> str:
    """SHA-256 of the canonical JSON of the normalized request."""
    body = {
        "kind": request.kind,
        "lines": [
            [l.obligation_id, l.target_savings_account_id, str(l.amount), l.prepayment_mode and l.prepayment_mode.value]
            for l in request.lines
        ],
        "funding": [[f.savings_account_id, f.pse, str(f.amount)] + ([f.bank_code, f.user_type] if f.pse else [])
                    for f in request.funding],
    }
    return hashlib.sha256(json.dumps(body, separators=(",", ":"), sort_keys=True).encode()).hexdigest()
