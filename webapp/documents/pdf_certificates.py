"""The certificates as PDFs: aportes, saldos, the yearly tax certificate and paz y salvo.
Each states figures the db/zone/certificates reads computed from the ledger."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from db.zone.certificates import TaxYear
from db.zone.statement import ProductStatement, Statement
from domain.money import format_cop

from .pdf_layout import DocumentPdf, Holder, Stamp

WIDTHS = (46, 80, 70)
ALIGNS = ("L", "L", "R")


def _balances_table(pdf: DocumentPdf, products: Sequence[ProductStatement], heading: str) -> None:
    pdf.row(("Producto", "Número", heading), WIDTHS, bold=True, aligns=ALIGNS)
    for p in products:
        pdf.row((p.product.name, p.product.number, format_cop(p.closing)), WIDTHS, aligns=ALIGNS)


def contributions_pdf(products: Sequence[ProductStatement], day: date, holder: Holder, stamp: Stamp) -> bytes:
    pdf = DocumentPdf("Certificado de aportes", holder, stamp)
    pdf.paragraph(
        f"La Cooperativa Alianza certifica que {holder.full_name}, identificado(a) con {holder.identification}, "
        f"es asociado(a) y al {day:%d/%m/%Y} registra los siguientes saldos de aportes sociales y ahorro permanente:")
    pdf.ln(2)
    _balances_table(pdf, products, f"Saldo al {day:%d/%m/%Y}")
    total = sum((p.closing for p in products), Decimal("0.00"))
    pdf.row(("Total", "", format_cop(total)), WIDTHS, bold=True, aligns=ALIGNS)
    return pdf.output_bytes()


def balances_pdf(statement: Statement, holder: Holder, stamp: Stamp) -> bytes:
    day = statement.period.end
    pdf = DocumentPdf("Certificado de saldos", holder, stamp)
    pdf.paragraph(
        f"La Cooperativa Alianza certifica que {holder.full_name}, identificado(a) con {holder.identification}, "
        f"al {day:%d/%m/%Y} registra los siguientes productos y saldos:")
    for group, products in statement.by_group():
        pdf.ln(2)
        pdf.paragraph(group, bold=True)
        _balances_table(pdf, products, f"Saldo al {day:%d/%m/%Y}")
    return pdf.output_bytes()


def tax_pdf(figures: TaxYear, holder: Holder, stamp: Stamp) -> bytes:
    pdf = DocumentPdf(f"Certificado tributario año gravable {figures.year}", holder, stamp)
    pdf.paragraph(
        f"Para efectos de la declaración de renta del año gravable {figures.year}, la Cooperativa Alianza certifica "
        f"que {holder.full_name}, identificado(a) con {holder.identification}, registró:")
    pdf.ln(2)
    for label, amount in (("Intereses pagados sobre créditos", figures.interest_paid_on_loans),
                          ("Intereses recibidos sobre ahorros y CDAT", figures.interest_earned_on_deposits),
                          ("Gravamen a los movimientos financieros (4x1000) retenido", figures.gmf_withheld)):
        pdf.row((label, "", format_cop(amount)), (110, 16, 70), aligns=ALIGNS)
    for group, products in figures.year_end.by_group():
        pdf.ln(2)
        pdf.paragraph(f"{group}: saldos a 31/12/{figures.year}", bold=True)
        _balances_table(pdf, products, f"Saldo a 31/12/{figures.year}")
    return pdf.output_bytes()


def clearance_pdf(day: date, holder: Holder, stamp: Stamp) -> bytes:
    pdf = DocumentPdf("Paz y salvo", holder, stamp)
    pdf.paragraph(
        f"La Cooperativa Alianza certifica que {holder.full_name}, identificado(a) con {holder.identification}, "
        f"se encuentra a paz y salvo por todo concepto con la cooperativa al {day:%d/%m/%Y}: no tiene saldos de "
        "créditos, tarjetas u otras obligaciones, ni valores vencidos.")
    return pdf.output_bytes()
