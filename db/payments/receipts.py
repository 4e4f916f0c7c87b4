"""The printable receipt of an applied payment and the e-mail that carries it.

Both are built from stored rows only (intent, lines, attempts, allocation rows), so a
receipt printed a year later shows exactly what was applied. The e-mail is composed
when the outbox sends it, many at a time (`receipt_emails`), not inside the payment.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ColumnElement, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from domain.bogota_calendar import BOGOTA
from domain.money import format_cop
from domain.payment_states import AttemptState, IntentState

from ..models import (
    Allocation,
    FundingAttempt,
    Installment,
    IntentKind,
    Member,
    Obligation,
    PaymentIntent,
    PaymentIntentLine,
    PseTransaction,
    SavingsAccount,
    SavingsProduct,
)
from .errors import MSG_NOT_YOURS_INTENT, NotOwnedError

ZERO = Decimal("0.00")
MSG_NO_RECEIPT = "El pago aún no tiene comprobante"


def format_receipt_number(number: int) -> str:
    return f"{number:010d}"


def bogota_timestamp(moment: datetime) -> str:
    return moment.astimezone(BOGOTA).strftime("%d/%m/%Y %I:%M %p")


def receipt(session: Session, member_id: int, intent_id: int) -> dict[str, object]:
    """The printable receipt (JSON-able; amounts already formatted as the manual does)."""
    intent = session.execute(
        select(PaymentIntent).where(PaymentIntent.id == intent_id, PaymentIntent.member_id == member_id)
    ).scalar_one_or_none()
    if intent is None:
        raise NotOwnedError(MSG_NOT_YOURS_INTENT)
    if intent.state is not IntentState.APPLIED or intent.receipt_number is None or intent.applied_at is None:
        raise NotOwnedError(MSG_NO_RECEIPT)
    facts = _receipt_facts(session, [intent.id])[intent.id]
    total_gmf = sum((tax for _label, _amount, tax in facts.sources), ZERO)
    return {
        "receipt_number": format_receipt_number(intent.receipt_number),
        "intent_id": intent.id,
        "kind": intent.kind.value,
        "applied_at": intent.applied_at.isoformat(),
        "fecha": bogota_timestamp(intent.applied_at),
        "asociado": facts.member_name,
        "identificacion": facts.member_document,
        "total": format_cop(intent.total_amount),
        "gmf": format_cop(total_gmf),
        "total_debitado": format_cop(intent.total_amount + total_gmf),
        "lineas": [
            {
                "concepto": line.label,
                "valor": format_cop(line.amount),
                "aplicacion": [
                    {
                        "cuota": "Abono a capital" if a.is_prepayment else f"Cuota {a.installment_number}",
                        "interes_mora": format_cop(a.late_interest),
                        "seguros_y_comisiones": format_cop(a.fees),
                        "interes": format_cop(a.interest),
                        "capital": format_cop(a.principal),
                    }
                    for a in line.splits
                ],
            }
            for line in facts.lines
        ],
        "origen": [
            {"cuenta": label, "valor": format_cop(amount), "gmf": format_cop(tax)}
            for label, amount, tax in facts.sources
        ],
        # The part paid through PSE, beside the savings part (bank, CUS, amount).
        "pse": [
            {"banco": bank, "cus": cus or "—", "valor": format_cop(amount)}
            for bank, cus, amount in facts.pse
        ],
    }


def receipt_emails(session: Session, intent_ids: Collection[int]) -> dict[int, tuple[str, str]]:
    """Subject and body of each applied intent's receipt e-mail, built from its stored
    rows in a constant number of queries however many intents there are (the outbox
    composes a batch of receipts at send time). An intent that is not applied, or has
    no receipt number yet, is left out: it has nothing to show."""
    if not intent_ids:
        return {}
    facts = _receipt_facts(session, intent_ids)
    return {
        intent_id: _compose(f, format_receipt_number(f.receipt_number))
        for intent_id, f in facts.items()
        if f.state is IntentState.APPLIED and f.receipt_number is not None and f.applied_at is not None
    }


@dataclass(frozen=True, slots=True)
class _Split:
    """One allocation row: how much of a line went to one installment (or prepaid)."""

    installment_number: int | None
    is_prepayment: bool
    late_interest: Decimal
    fees: Decimal
    interest: Decimal
    principal: Decimal


@dataclass(slots=True)
class _ReceiptLine:
    label: str
    amount: Decimal
    splits: list[_Split] = field(default_factory=list)


@dataclass(slots=True)
class _ReceiptFacts:
    kind: IntentKind
    state: IntentState
    total_amount: Decimal
    applied_at: datetime | None
    receipt_number: int | None
    member_name: str
    member_document: str  # "CC 1077227777"
    lines: list[_ReceiptLine] = field(default_factory=list)
    sources: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)  # label, amount, GMF
    pse: list[tuple[str, str | None, Decimal]] = field(default_factory=list)  # bank, CUS, amount


def _any_of(ids: Collection[int]) -> ColumnElement[int]:
    # One statement text whatever the count (`= ANY(:ids)`), unlike an expanding IN.
    return any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))


def _receipt_facts(session: Session, intent_ids: Collection[int]) -> dict[int, _ReceiptFacts]:
    """Five queries: intents with their member, lines, allocation rows, posted debits from
    savings, posted PSE transactions."""
    ids = _any_of(intent_ids)
    facts = {
        row.id: _ReceiptFacts(row.kind, row.state, row.total_amount, row.applied_at, row.receipt_number,
                              f"{row.first_names} {row.last_names}", f"{row.document_type} {row.document_number}")
        for row in session.execute(
            select(PaymentIntent.id, PaymentIntent.kind, PaymentIntent.state, PaymentIntent.total_amount,
                   PaymentIntent.applied_at, PaymentIntent.receipt_number, Member.first_names, Member.last_names,
                   Member.document_type, Member.document_number)
            .join(Member, Member.id == PaymentIntent.member_id)
            .where(PaymentIntent.id == ids)
        )
    }
    lines: dict[int, _ReceiptLine] = {}
    for row in session.execute(
        select(PaymentIntentLine.intent_id, PaymentIntentLine.id, PaymentIntentLine.amount, Obligation.description,
               Obligation.number, SavingsAccount.product, SavingsAccount.number.label("account_number"))
        .outerjoin(Obligation, Obligation.id == PaymentIntentLine.obligation_id)
        .outerjoin(SavingsAccount, SavingsAccount.id == PaymentIntentLine.target_savings_account_id)
        .where(PaymentIntentLine.intent_id == ids)
        .order_by(PaymentIntentLine.id)
    ):
        label = (f"{row.description} {row.number}" if row.description is not None
                 else f"Depósito a {_account_label(row.product, row.account_number)}")
        lines[row.id] = _ReceiptLine(label, row.amount)
        facts[row.intent_id].lines.append(lines[row.id])
    for row in session.execute(
        select(Allocation.line_id, Installment.number, Allocation.is_prepayment, Allocation.late_interest,
               Allocation.fees, Allocation.interest, Allocation.principal)
        .outerjoin(Installment, Installment.id == Allocation.installment_id)
        .where(Allocation.intent_id == ids)
        .order_by(Allocation.id)
    ):
        lines[row.line_id].splits.append(
            _Split(row.number, row.is_prepayment, row.late_interest, row.fees, row.interest, row.principal))
    for row in session.execute(
        select(FundingAttempt.intent_id, FundingAttempt.amount, FundingAttempt.gmf_amount, SavingsAccount.product,
               SavingsAccount.number)
        .join(SavingsAccount, SavingsAccount.id == FundingAttempt.savings_account_id)
        .where(FundingAttempt.intent_id == ids, FundingAttempt.state == AttemptState.POSTED)
        .order_by(FundingAttempt.id)
    ):
        facts[row.intent_id].sources.append((_account_label(row.product, row.number), row.amount, row.gmf_amount))
    for row in session.execute(
        select(FundingAttempt.intent_id, PseTransaction.bank_name, PseTransaction.bank_code,
               PseTransaction.trazability_code, PseTransaction.amount)
        .join(PseTransaction, PseTransaction.attempt_id == FundingAttempt.id)
        .where(FundingAttempt.intent_id == ids, FundingAttempt.state == AttemptState.POSTED)
        .order_by(FundingAttempt.id)
    ):
        facts[row.intent_id].pse.append((row.bank_name or row.bank_code, row.trazability_code, row.amount))
    return facts


def _account_label(product: SavingsProduct, number: str) -> str:
    return f"{product.value.capitalize()} {number}"


def _compose(facts: _ReceiptFacts, number: str) -> tuple[str, str]:
    assert facts.applied_at is not None
    what = "transferencia" if facts.kind is IntentKind.TRANSFER else "pago"
    out = [
        f"Estimado(a) {facts.member_name}:",
        "",
        f"Su {what} fue {'aplicada' if facts.kind is IntentKind.TRANSFER else 'aplicado'} el "
        f"{bogota_timestamp(facts.applied_at)}.",
        f"Comprobante No. {number}",
        "",
    ]
    for line in facts.lines:
        out.append(f"- {line.label}: {format_cop(line.amount)}")
        for a in line.splits:
            head = "Abono a capital" if a.is_prepayment else f"Cuota {a.installment_number}"
            out.append(
                f"    {head}: mora {format_cop(a.late_interest)}, seguros {format_cop(a.fees)}, "
                f"interés {format_cop(a.interest)}, capital {format_cop(a.principal)}"
            )
    out.append("")
    for label, amount, tax in facts.sources:
        gmf_note = f" + GMF {format_cop(tax)}" if tax else ""
        out.append(f"Débito de {label}: {format_cop(amount)}{gmf_note}")
    for bank, cus, amount in facts.pse:
        out.append(f"Pago PSE desde {bank}: {format_cop(amount)} (CUS {cus or '—'})")
    out += ["", f"Total: {format_cop(facts.total_amount)}", "", "Cooperativa - Zona Privada de Asociados"]
    return f"Comprobante de {what} No. {number}", "\n".join(out)
