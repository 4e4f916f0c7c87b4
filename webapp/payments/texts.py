"""How the payment pages show dates, labels and states, in Spanish (es-CO), Bogotá time."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from db.models import PseState
from db.payments.pse_views import STATE_LABELS
from domain.bogota_calendar import BOGOTA
from domain.money import format_cop

MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
          "noviembre", "diciembre")

# "Forma de Pago" column of the manual's Obligaciones table, by obligation kind.
PAYMENT_TYPE = {
    "aportes": "Cuota mensual",
    "ahorro_permanente": "Cuota mensual",
    "credito": "Cuota fija mensual",
    "tarjeta": "Pago mínimo mensual",
    "otra": "Cuota",
}
KIND_LABELS = {"payment": "Pago", "transfer": "Transferencia"}
STAGE_LABELS = {
    "recibido": "Recibido",
    "fondeado": "Fondeado",
    "aplicado": "Aplicado",
    "rechazado": "Rechazado",
    "fallido": "Fallido",
    "vencido": "Vencido",
    "reversado": "Reversado",
}
PREPAYMENT_LABELS = {"reduce_term": "Reducir el plazo", "reduce_installment": "Reducir el valor de la cuota"}
# Shown on Verificación under a prepayment, before "Finalizar" (Ley 1555 de 2012).
PREPAYMENT_NOTES = {
    "reduce_term": "Los intereses se cobran solo hasta hoy. El valor que supera lo adeudado a la fecha "
                   "se abona a capital: se mantiene el valor de la cuota y se reduce el plazo.",
    "reduce_installment": "Los intereses se cobran solo hasta hoy. El valor que supera lo adeudado a la fecha "
                          "se abona a capital: se mantiene el plazo y se reduce el valor de la cuota.",
}
PRODUCT_LABELS = {"rentadiario": "Rentadiario", "rentahorrito": "Rentahorrito"}


def short_date(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "—"


def long_date(day: date) -> str:
    return f"{day.day} de {MONTHS[day.month - 1]} de {day.year}"


def bogota_moment(moment: datetime | str | None) -> str:
    """`25 de noviembre de 2026, 5:40 p. m.` in Bogotá time."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    local = moment.astimezone(BOGOTA)
    hour = local.hour % 12 or 12
    suffix = "a. m." if local.hour < 12 else "p. m."
    return f"{long_date(local.date())}, {hour}:{local.minute:02d} {suffix}"


def iso_date_text(value: str | None) -> str:
    return short_date(date.fromisoformat(value)) if value else "—"

# PSE's states as the member reads them (pse_views.STATE_LABELS words each stored state).
USER_TYPE_LABELS = {0: "Persona natural", 1: "Persona jurídica"}


def pse_part(part: dict[str, object] | None) -> dict[str, str] | None:
    """The PSE part of a payment (from `db.payments.intents.pse_parts`) as shown beside the
    savings part: bank, CUS, amount, PSE's state."""
    if not part:
        return None
    return {
        "banco": str(part["bank_name"]),
        "cus": str(part["cus"] or "—"),
        "valor": format_cop(Decimal(str(part["amount"]))),
        "estado": STATE_LABELS[PseState(str(part["state"]))],
        "ticket": str(part["ticket_id"]),
    }
