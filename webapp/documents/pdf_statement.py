"""The statement of account as a PDF: per product, opening balance, each movement with
its journal entry's description, closing balance, due and overdue."""
from __future__ import annotations

from db.zone.statement import Statement
from domain.bogota_calendar import BOGOTA
from domain.money import format_cop

from .pdf_layout import DocumentPdf, Holder, Stamp

WIDTHS = (24, 116, 56)  # date, description, amount (mm; the Letter page's text width is 196)
RIGHT = ("L", "L", "R")


def statement_pdf(statement: Statement, holder: Holder, stamp: Stamp) -> bytes:
    pdf = DocumentPdf("Estado de cuenta", holder, stamp)
    pdf.paragraph(f"Periodo: {statement.period.label}", bold=True)
    for group, products in statement.by_group():
        pdf.ln(2)
        pdf.paragraph(group, bold=True, size=12)
        for p in products:
            pdf.paragraph(f"{p.product.name} No. {p.product.number}", bold=True)
            pdf.row(("Fecha", "Descripción", "Valor"), WIDTHS, bold=True, aligns=RIGHT)
            pdf.row(("", "Saldo inicial", format_cop(p.opening)), WIDTHS, aligns=RIGHT)
            for m in p.movements:
                pdf.row((m.posted_at.astimezone(BOGOTA).strftime("%d/%m/%Y"), m.description[:70],
                         format_cop(m.amount)), WIDTHS, aligns=RIGHT)
            pdf.row(("", "Saldo final", format_cop(p.closing)), WIDTHS, bold=True, aligns=RIGHT)
            if p.product.obligation_id is not None:
                pdf.row(("", "Próxima cuota por pagar", format_cop(p.due)), WIDTHS, aligns=RIGHT)
                pdf.row(("", "Valor vencido (en mora)", format_cop(p.overdue)), WIDTHS, aligns=RIGHT)
    return pdf.output_bytes()
