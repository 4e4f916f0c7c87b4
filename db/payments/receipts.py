"""The printable receipt of an applied payment and the e-mail that carries it.

Both are built from stored rows only (intent, lines, attempts, allocation rows), so a
receipt printed a year later shows exactly what was applied.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.bogota_calendar import BOGOTA
from domain.money import format_cop
from domain.payment_states import AttemptState, IntentState

from ..models import Allocation, Installment, Member, Obligation, PaymentIntent, SavingsAccount
from .errors import MSG_NOT_YOURS_INTENT, NotOwnedError

ZERO = Decimal("0.00")
MSG_NO_RECEIPT = "El pago aún no tiene comprobante"


def format_receipt_number(number: int) -> str:
    return f"{number:010d}"


def bogota_timestamp(moment: datetime) -> str:
    return moment.astimezone(BOGOTA).strftime("%d/%m/%Y %I:%M %p")


def _receipt_data(session: Session, intent: PaymentIntent) -> dict[str, object]:
    member = session.get(Member, intent.member_id)
    assert member is not None
    obligation_ids = [l.obligation_id for l in intent.lines if l.obligation_id is not None]
    account_ids = [a.savings_account_id for a in intent.attempts if a.savings_account_id is not None]
    account_ids += [l.target_savings_account_id for l in intent.lines if l.target_savings_account_id is not None]
    obligations = {o.id: o for o in session.execute(select(Obligation).where(Obligation.id.in_(obligation_ids))).scalars()}
    accounts = {a.id: a for a in session.execute(select(SavingsAccount).where(SavingsAccount.id.in_(account_ids))).scalars()}
    allocations = session.execute(
        select(Allocation, Installment.number)
        .outerjoin(Installment, Installment.id == Allocation.installment_id)
        .where(Allocation.intent_id == intent.id)
        .order_by(Allocation.id)
    ).all()
    lines = []
    for line in intent.lines:
        if line.obligation_id is not None:
            ob = obligations[line.obligation_id]
            label = f"{ob.description} {ob.number}"
        else:
            acc = accounts[line.target_savings_account_id]  # type: ignore[index]
            label = f"Depósito a {acc.product.value.capitalize()} {acc.number}"
        lines.append({
            "label": label,
            "amount": line.amount,
            "allocation": [
                {
                    "installment_number": number,
                    "is_prepayment": a.is_prepayment,
                    "late_interest": a.late_interest,
                    "fees": a.fees,
                    "interest": a.interest,
                    "principal": a.principal,
                }
                for a, number in allocations
                if a.line_id == line.id
            ],
        })
    sources = [
        {
            "label": f"{accounts[a.savings_account_id].product.value.capitalize()} {accounts[a.savings_account_id].number}",
            "amount": a.amount,
            "gmf": a.gmf_amount,
        }
        for a in intent.attempts
        if a.savings_account_id is not None and a.state is AttemptState.POSTED
    ]
    return {
        "member": member,
        "lines": lines,
        "sources": sources,
        "gmf": sum((s["gmf"] for s in sources), ZERO),
    }


def receipt(session: Session, member_id: int, intent_id: int) -> dict[str, object]:
    """The printable receipt (JSON-able; amounts already formatted as the manual does)."""
    intent = session.execute(
        select(PaymentIntent).where(PaymentIntent.id == intent_id, PaymentIntent.member_id == member_id)
    ).scalar_one_or_none()
    if intent is None:
        raise NotOwnedError(MSG_NOT_YOURS_INTENT)
    if intent.state is not IntentState.APPLIED or intent.receipt_number is None or intent.applied_at is None:
        raise NotOwnedError(MSG_NO_RECEIPT)
    data = _receipt_data(session, intent)
    member: Member = data["member"]  # type: ignore[assignment]
    total_gmf: Decimal = data["gmf"]  # type: ignore[assignment]
    return {
        "receipt_number": format_receipt_number(intent.receipt_number),
        "intent_id": intent.id,
        "kind": intent.kind.value,
        "applied_at": intent.applied_at.isoformat(),
        "fecha": bogota_timestamp(intent.applied_at),
        "asociado": member.full_name,
        "identificacion": f"{member.document_type} {member.document_number}",
        "total": format_cop(intent.total_amount),
        "gmf": format_cop(total_gmf),
        "total_debitado": format_cop(intent.total_amount + total_gmf),
        "lineas": [
            {
                "concepto": line["label"],
                "valor": format_cop(line["amount"]),
                "aplicacion": [
                    {
                        "cuota": "Abono a capital" if a["is_prepayment"] else f"Cuota {a['installment_number']}",
                        "interes_mora": format_cop(a["late_interest"]),
                        "seguros_y_comisiones": format_cop(a["fees"]),
                        "interes": format_cop(a["interest"]),
                        "capital": format_cop(a["principal"]),
                    }
                    for a in line["allocation"]
                ],
            }
            for line in data["lines"]  # type: ignore[union-attr]
        ],
        "origen": [
            {"cuenta": s["label"], "valor": format_cop(s["amount"]), "gmf": format_cop(s["gmf"])}
            for s in data["sources"]  # type: ignore[union-attr]
        ],
    }


def receipt_email(session: Session, intent: PaymentIntent, *, number_text: str | None = None) -> tuple[str, str]:
    """Subject and plain-text body of the receipt e-mail (queued in the outbox by the
    transaction that applies the payment). `number_text` stands in for the receipt
    number when the e-mail is composed before the number is taken."""
    assert (intent.receipt_number is not None or number_text is not None) and intent.applied_at is not None
    data = _receipt_data(session, intent)
    member: Member = data["member"]  # type: ignore[assignment]
    number = number_text or format_receipt_number(intent.receipt_number)  # type: ignore[arg-type]
    what = "transferencia" if intent.kind.value == "transfer" else "pago"
    out = [
        f"Estimado(a) {member.full_name}:",
        "",
        f"Su {what} fue aplicado el {bogota_timestamp(intent.applied_at)}.",
        f"Comprobante No. {number}",
        "",
    ]
    for line in data["lines"]:  # type: ignore[union-attr]
        out.append(f"- {line['label']}: {format_cop(line['amount'])}")
        for a in line["allocation"]:
            head = "Abono a capital" if a["is_prepayment"] else f"Cuota {a['installment_number']}"
            out.append(
                f"    {head}: mora {format_cop(a['late_interest'])}, seguros {format_cop(a['fees'])}, "
                f"interés {format_cop(a['interest'])}, capital {format_cop(a['principal'])}"
            )
    out.append("")
    for s in data["sources"]:  # type: ignore[union-attr]
        gmf_note = f" + GMF {format_cop(s['gmf'])}" if s["gmf"] else ""
        out.append(f"Débito de {s['label']}: {format_cop(s['amount'])}{gmf_note}")
    out += ["", f"Total: {format_cop(intent.total_amount)}", "", "Cooperativa - Zona Privada de Asociados"]
    return f"Comprobante de {what} No. {number}", "\n".join(out)
