"""The wizard's choices, kept in the server-side session, and the reading of each step's
form into them.

Every amount a member types goes through `parse_whole_pesos`; every id a form posts is
checked against the member's own obligations and accounts (another member's id, or a
made-up one, is a 404 with the same Spanish message either way). What the member saw on
"Verificación" is stored with its idempotency key, so "Finalizar" submits exactly that
body and nothing the browser could have changed on the way.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from werkzeug.datastructures import MultiDict

from db.member_summary import ObligationLine, SavingsLine
from db.payments.errors import MSG_NOT_YOURS_ACCOUNT, MSG_NOT_YOURS_OBLIGATION
from db.payments.intents import build_request
from db.payments.planning import ObligationPlan
from domain.amortization import PrepaymentMode
from domain.money import MoneyInputError, format_cop, parse_whole_pesos, to_money
from db.payments.errors import MSG_UNKNOWN_BANK
from domain.payment_request import (
    KIND_PAYMENT,
    KIND_TRANSFER,
    MSG_BAD_PREPAYMENT_MODE,
    MSG_NO_LINES,
    MSG_PSE_BANK,
    MSG_PSE_USER_TYPE,
    PaymentRequest,
    request_hash,
)

from . import issued_keys

WIZARD = "pagos_asistente"
ISSUED_MAX = 5  # a few tabs or a replay still find their key; older ones are forgotten

TIPO_VENTANILLA = "ventanilla"
TIPO_INDIVIDUAL = "individual"
FORMA_DEBITO = "debito"
FORMA_PSE = "pse"
FORMA_MULTIPLE = "multiple"
# A "source" value of the Múltiples block (beside account ids) and of the transfer's origin.
PSE_SOURCE = "pse"
PERSON_TYPES = {"natural": 0, "juridica": 1}  # PSE's userType: 0 persona natural, 1 persona jurídica
# PSE's standard text when the bank list cannot be had (pse-reference §1.4, PlacetoPay).
MSG_NO_BANKS = "No se pudo obtener la lista de Entidades Financieras, por favor intente más tarde"

MSG_CHOOSE_TIPO = "Seleccione el tipo de pago"
MSG_NOTHING_OVERDUE = "No tiene obligaciones vencidas. Use la opción Pago de obligaciones individualmente"
MSG_CHOOSE_FORMA = "Seleccione una forma de pago"
MSG_CHOOSE_ACCOUNT = "Seleccione la cuenta de ahorros a debitar"
MSG_CHOOSE_ACCOUNTS = "Seleccione al menos dos cuentas y el valor a debitar de cada una"
MSG_ONE_BLANK = "Deje en blanco el valor de una sola cuenta (de ella se debita el saldo restante)"
MSG_SPLIT_MISMATCH = "La suma de los valores por cuenta debe ser igual al total a pagar"
MSG_TRANSFER_TARGET = "Seleccione la cuenta de destino"
MSG_TRANSFER_SOURCE = "Seleccione la cuenta de origen"
MSG_TRANSFER_SAME = "La cuenta de origen y la de destino deben ser distintas"


class StepError(Exception):
    """The form of a step was refused: `status` 422 (re-show the step with `message` and
    the per-field `fields`) or 404 (an id that is not the member's)."""

    def __init__(self, message: str, *, status: int = 422, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.fields = dict(fields or {})


@dataclass
class Wizard:
    """What the member has chosen so far (JSON-able, lives in the session)."""

    kind: str = KIND_PAYMENT
    tipo: str | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    forma: str | None = None
    funding: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((Decimal(line["amount"]) for line in self.lines), Decimal("0.00"))

    def body(self) -> dict[str, Any]:
        return {"kind": self.kind, "lines": self.lines, "funding": self.funding}

    def request(self) -> PaymentRequest:
        """The normalized request; raises PaymentInputError (Spanish) when inconsistent."""
        return build_request(kind=self.kind, lines=self.lines, funding=self.funding)

    def ready_for(self, step: str) -> bool:
        if step == "obligaciones":
            return self.kind == KIND_PAYMENT and self.tipo is not None
        if step == "formas":
            return self.kind == KIND_PAYMENT and bool(self.lines)
        return bool(self.lines) and bool(self.funding)


def load(session: Mapping[str, Any]) -> Wizard:
    raw = session.get(WIZARD) or {}
    return Wizard(
        kind=raw.get("kind", KIND_PAYMENT),
        tipo=raw.get("tipo"),
        lines=list(raw.get("lines") or []),
        forma=raw.get("forma"),
        funding=list(raw.get("funding") or []),
    )


def save(session: dict[str, Any], wizard: Wizard) -> None:
    session[WIZARD] = {"kind": wizard.kind, "tipo": wizard.tipo, "lines": wizard.lines, "forma": wizard.forma,
                       "funding": wizard.funding}


def clear(session: dict[str, Any]) -> None:
    session.pop(WIZARD, None)


# ---------------------------------------------------------------- ids from forms


def _form_id(value: object) -> int | None:
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    number = int(text)
    return number if number > 0 else None


def owned_id(value: object, owned: Mapping[int, object], message: str) -> int:
    """An id posted by a form that must be one of the member's; anything else is a 404."""
    number = _form_id(value)
    if number is None or number not in owned:
        raise StepError(message, status=404)
    return number


def _suffix_ids(form: MultiDict, prefix: str) -> list[str]:
    return [name[len(prefix):] for name in form if name.startswith(prefix)]


# ---------------------------------------------------------------- step 1: Tipo de Pago


def read_tipo(form: MultiDict) -> str:
    tipo = form.get("tipo")
    if tipo not in (TIPO_VENTANILLA, TIPO_INDIVIDUAL):
        raise StepError(MSG_CHOOSE_TIPO)
    return tipo


def overdue_wizard_lines(overdue: Sequence[Any]) -> list[dict[str, Any]]:
    if not overdue:
        raise StepError(MSG_NOTHING_OVERDUE)
    return [{"obligation_id": line.obligation_id, "amount": str(line.amount)} for line in overdue]


# ---------------------------------------------------------------- step 2: Obligaciones


def read_obligations(
    form: MultiDict, rows: Mapping[int, ObligationLine], plans: Mapping[int, ObligationPlan]
) -> list[dict[str, Any]]:
    """The lines the member chose: the next installment (checkbox `cuota`) or "Otro valor"
    (`otro_<id>`, whole pesos), with the prepayment choice (`modo_<id>`) for loans."""
    for raw in form.getlist("cuota") + _suffix_ids(form, "otro_") + _suffix_ids(form, "modo_"):
        owned_id(raw, rows, MSG_NOT_YOURS_OBLIGATION)
    checked = {_form_id(raw) for raw in form.getlist("cuota")}
    errors: dict[str, str] = {}
    lines: list[dict[str, Any]] = []
    for obligation_id, row in rows.items():
        typed = (form.get(f"otro_{obligation_id}") or "").strip()
        if typed:
            try:
                amount = to_money(parse_whole_pesos(typed))
            except MoneyInputError as exc:
                errors[f"otro_{obligation_id}"] = exc.message
                continue
        elif obligation_id in checked:
            amount = to_money(row.next_installment)
        else:
            continue
        plan = plans[obligation_id]
        if amount > plan.max_payable:
            errors[f"otro_{obligation_id}"] = (
                f"El valor supera lo adeudado en {plan.label} (máximo {format_cop(plan.max_payable)})"
            )
            continue
        line: dict[str, Any] = {"obligation_id": obligation_id, "amount": str(amount)}
        if amount > plan.owed_now:
            mode = form.get(f"modo_{obligation_id}")
            if mode is None and not typed:
                # "Pagar cuota" on a loan before its due date: the interest not yet accrued
                # is not charged (Ley 1555 de 2012), so that part of the installment
                # prepays principal. The form preselects "Reducir el plazo" and Verificación
                # shows it before "Finalizar"; the member may go back and choose otherwise.
                mode = PrepaymentMode.REDUCE_TERM.value
            if mode not in {m.value for m in PrepaymentMode}:
                errors[f"modo_{obligation_id}"] = MSG_BAD_PREPAYMENT_MODE
                continue
            line["prepayment_mode"] = mode
        lines.append(line)
    if errors:
        raise StepError(next(iter(errors.values())), fields=errors)
    if not lines:
        raise StepError(MSG_NO_LINES)
    return lines


# ---------------------------------------------------------------- step 3: Formas de Pago


def read_funding(form: MultiDict, total: Decimal, accounts: Mapping[int, SavingsLine],
                 excluded: Sequence[int] = (), banks: Mapping[str, str] | None = None
                 ) -> tuple[str, list[dict[str, Any]]]:
    """`forma` = debito (one `cuenta`), pse (`banco`, `tipo_persona`) or multiple
    (`cuentas`, each with `valor_<id>`, where "pse" is one more source; one value may be
    left blank to take the rest). `banks` (code → name) is PSE's cached list, None when
    there is none: then PSE cannot be chosen."""
    usable = {i: a for i, a in accounts.items() if i not in excluded}
    forma = form.get("forma")
    if forma == FORMA_PSE:
        return forma, [pse_source(form, total, banks)]
    if forma == FORMA_DEBITO:
        if not form.get("cuenta"):
            raise StepError(MSG_CHOOSE_ACCOUNT)
        account_id = owned_id(form.get("cuenta"), usable, MSG_NOT_YOURS_ACCOUNT)
        return forma, [{"savings_account_id": account_id, "amount": str(to_money(total))}]
    if forma == FORMA_MULTIPLE:
        return forma, _split(form, total, usable, banks)
    raise StepError(MSG_CHOOSE_FORMA)


def pse_source(form: MultiDict, amount: Decimal, banks: Mapping[str, str] | None) -> dict[str, Any]:
    """The PSE source: a bank of the cached list (placeholders were never stored) and the
    person type. Checked here so the step re-shows with the reason; `create_intent`
    checks the bank against the list again."""
    if banks is None:
        raise StepError(MSG_NO_BANKS, fields={"banco": MSG_NO_BANKS})
    code = (form.get("banco") or "").strip()
    if not code:
        raise StepError(MSG_PSE_BANK, fields={"banco": MSG_PSE_BANK})
    if code not in banks:
        raise StepError(MSG_UNKNOWN_BANK, fields={"banco": MSG_UNKNOWN_BANK})
    user_type = PERSON_TYPES.get(form.get("tipo_persona") or "")
    if user_type is None:
        raise StepError(MSG_PSE_USER_TYPE, fields={"tipo_persona": MSG_PSE_USER_TYPE})
    return {"pse": True, "amount": str(to_money(amount)), "bank_code": code, "user_type": user_type}


def _split(form: MultiDict, total: Decimal, usable: Mapping[int, SavingsLine],
           banks: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    for raw in _suffix_ids(form, "valor_"):
        if raw != PSE_SOURCE:
            owned_id(raw, usable, MSG_NOT_YOURS_ACCOUNT)
    raw_chosen = form.getlist("cuentas")
    with_pse = PSE_SOURCE in raw_chosen
    chosen_ids = sorted({owned_id(raw, usable, MSG_NOT_YOURS_ACCOUNT) for raw in raw_chosen if raw != PSE_SOURCE})
    chosen: list[int | str] = [*chosen_ids, *([PSE_SOURCE] if with_pse else [])]
    if len(chosen) < 2:
        raise StepError(MSG_CHOOSE_ACCOUNTS)
    amounts: dict[int | str, Decimal | None] = {}
    errors: dict[str, str] = {}
    for source in chosen:
        typed = (form.get(f"valor_{source}") or "").strip()
        if not typed:
            amounts[source] = None
            continue
        try:
            amounts[source] = to_money(parse_whole_pesos(typed))
        except MoneyInputError as exc:
            errors[f"valor_{source}"] = exc.message
    if errors:
        raise StepError(next(iter(errors.values())), fields=errors)
    blanks = [i for i, amount in amounts.items() if amount is None]
    if len(blanks) > 1:
        raise StepError(MSG_ONE_BLANK)
    typed_sum = sum((a for a in amounts.values() if a is not None), Decimal("0.00"))
    if blanks:
        rest = to_money(total) - typed_sum
        if rest <= 0:
            raise StepError(MSG_SPLIT_MISMATCH)
        amounts[blanks[0]] = rest
    elif typed_sum != to_money(total):
        raise StepError(f"{MSG_SPLIT_MISMATCH} ({format_cop(total)})")
    out: list[dict[str, Any]] = [{"savings_account_id": i, "amount": str(amounts[i])} for i in chosen_ids]
    if with_pse:
        amount = amounts[PSE_SOURCE]
        assert amount is not None
        out.append(pse_source(form, amount, banks))
    return out


# ---------------------------------------------------------------- Transferencias


def read_transfer(form: MultiDict, accounts: Mapping[int, SavingsLine],
                  banks: Mapping[str, str] | None = None) -> Wizard:
    """`destino` (one's own account), `valor`, and `origen`: another of one's accounts,
    "pse" (`banco`, `tipo_persona`) or "multiple" (the Múltiples block of Formas de Pago)."""
    errors: dict[str, str] = {}
    if not form.get("destino"):
        errors["destino"] = MSG_TRANSFER_TARGET
    if not form.get("origen"):
        errors["origen"] = MSG_TRANSFER_SOURCE
    target = owned_id(form.get("destino"), accounts, MSG_NOT_YOURS_ACCOUNT) if form.get("destino") else None
    origin = form.get("origen") or ""
    source = None
    if origin and origin not in (PSE_SOURCE, FORMA_MULTIPLE):
        source = owned_id(origin, accounts, MSG_NOT_YOURS_ACCOUNT)
    amount: Decimal | None = None
    try:
        amount = to_money(parse_whole_pesos(form.get("valor") or ""))
    except MoneyInputError as exc:
        errors["valor"] = exc.message
    if target is not None and target == source:
        errors["origen"] = MSG_TRANSFER_SAME
    if errors:
        raise StepError(next(iter(errors.values())), fields=errors)
    assert target is not None and amount is not None
    lines = [{"target_savings_account_id": target, "amount": str(amount)}]
    if origin == PSE_SOURCE:
        return Wizard(kind=KIND_TRANSFER, lines=lines, forma=FORMA_PSE, funding=[pse_source(form, amount, banks)])
    if origin == FORMA_MULTIPLE:
        usable = {i: a for i, a in accounts.items() if i != target}
        return Wizard(kind=KIND_TRANSFER, lines=lines, forma=FORMA_MULTIPLE,
                      funding=_split(form, amount, usable, banks))
    assert source is not None
    return Wizard(kind=KIND_TRANSFER, lines=lines, forma=FORMA_DEBITO,
                  funding=[{"savings_account_id": source, "amount": str(amount)}])


def forma_of(funding: Sequence[Mapping[str, Any]]) -> str:
    """How "Verificación" names the funding (the manual's "Forma de Recaudo")."""
    with_pse = any(f.get("pse") for f in funding)
    if with_pse and len(funding) == 1:
        return "PSE"
    if with_pse:
        return "Múltiples opciones de pago"
    return "Débito de cuentas de ahorro"


# ---------------------------------------------------------------- idempotency keys


def new_key() -> str:
    return secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]


def issue_key(session: dict[str, Any], wizard: Wizard, *, total_text: str, otp_required: bool) -> dict[str, Any]:
    """The key for the body shown on "Verificación". Shown again (a refresh, a return from
    "Anterior") with the same body and not yet submitted, the same key: whatever the
    member does with those pages, one body is one payment. Kept beside the session, one
    atomic step per change (see issued_keys), so tabs and polls cannot lose a key."""
    body = wizard.body()
    digest = request_hash(wizard.request())
    entry = {"key": new_key(), "body": body, "digest": digest, "total": total_text, "otp": otp_required}
    return issued_keys.for_session(session, ISSUED_MAX).issue(digest, entry["key"], entry)


def find_issued(session: Mapping[str, Any], key: object) -> dict[str, Any] | None:
    if not isinstance(key, str) or not key or len(key) > 64:
        return None
    return issued_keys.for_session(session, ISSUED_MAX).find(key)


def remember_intent(session: dict[str, Any], key: str, intent_id: int) -> None:
    issued_keys.for_session(session, ISSUED_MAX).remember_intent(key, intent_id)
