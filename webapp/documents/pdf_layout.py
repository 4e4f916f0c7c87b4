"""The frame every issued PDF shares: the cooperative's heading, the member, the body
the caller writes, and at the foot the verification code with its QR code. fpdf2's core
fonts (Helvetica) cover Spanish in Latin-1, so nothing has to be embedded."""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from domain.bogota_calendar import BOGOTA

COOPERATIVE = "Cooperativa Alianza"
LINE_H = 5.5
QR_SIZE_MM = 28


@dataclass(frozen=True, slots=True)
class Holder:
    full_name: str
    identification: str


@dataclass(frozen=True, slots=True)
class Stamp:
    """What makes the PDF verifiable: its code and the public page the QR points to."""

    code: str
    verify_url: str
    issued_at: datetime


def latin1(text: str) -> str:
    """Core fonts are Latin-1: replace what would not print instead of failing to issue."""
    return text.replace("\u2014", "-").replace("\u2013", "-").encode("latin-1", "replace").decode("latin-1")


class DocumentPdf(FPDF):
    def __init__(self, title: str, holder: Holder, stamp: Stamp) -> None:
        super().__init__(format="Letter")
        self.doc_title = title
        self.holder = holder
        self.stamp = stamp
        self.set_title(latin1(title))
        self.set_author(COOPERATIVE)
        # The code also goes in the (uncompressed, ASCII) metadata, where the verification
        # page can read it back from an uploaded copy.
        self.set_subject(f"Verificacion {stamp.code}")
        self.set_creation_date(stamp.issued_at)
        self.set_auto_page_break(auto=True, margin=20)
        self.alias_nb_pages()
        self.add_page()
        self._first_page_heading()

    def header(self) -> None:
        self.set_font("helvetica", "B", 9)
        self.cell(0, 6, latin1(f"{COOPERATIVE} - {self.doc_title}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("helvetica", "", 8)
        self.cell(0, 5, latin1(f"Código de verificación {self.stamp.code} - página {self.page_no()} de {{nb}}"),
                  align="C")

    def _first_page_heading(self) -> None:
        self.set_font("helvetica", "B", 15)
        self.cell(0, 9, latin1(self.doc_title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("helvetica", "", 10)
        issued = self.stamp.issued_at.astimezone(BOGOTA).strftime("%d/%m/%Y %H:%M")
        for line in (f"Asociado: {self.holder.full_name}", f"Identificación: {self.holder.identification}",
                     f"Expedido el {issued} (hora de Bogotá)"):
            self.cell(0, LINE_H, latin1(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(3)

    def paragraph(self, text: str, *, bold: bool = False, size: int = 10) -> None:
        self.set_font("helvetica", "B" if bold else "", size)
        self.multi_cell(0, LINE_H, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def row(self, cells: Sequence[str], widths: Sequence[float], *, bold: bool = False,
            aligns: Sequence[str] | None = None) -> None:
        self.set_font("helvetica", "B" if bold else "", 8.5)
        aligns = aligns or ["L"] * len(cells)
        for text, width, align in zip(cells, widths, aligns, strict=True):
            self.cell(width, LINE_H, latin1(text), border="B" if bold else 0, align=align)
        self.ln(LINE_H)

    def verification_block(self) -> None:
        """Code and QR at the end: anyone can check the document at the public page."""
        if self.get_y() + QR_SIZE_MM + 10 > self.h - self.b_margin:
            self.add_page()
        self.ln(4)
        top = self.get_y()
        qr = io.BytesIO()
        segno.make(self.stamp.verify_url, error="m").save(qr, kind="png", scale=6, border=2)
        qr.seek(0)
        self.image(qr, x=self.l_margin, y=top, w=QR_SIZE_MM, h=QR_SIZE_MM)
        self.set_xy(self.l_margin + QR_SIZE_MM + 4, top + 2)
        self.set_font("helvetica", "B", 10)
        self.cell(0, LINE_H, latin1(f"Código de verificación: {self.stamp.code}"), new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_font("helvetica", "", 9)
        self.multi_cell(0, LINE_H, latin1(
            f"Verifique la autenticidad de este documento en {self.stamp.verify_url} "
            "escribiendo el código o cargando el archivo PDF."))

    def output_bytes(self) -> bytes:
        self.verification_block()
        return bytes(self.output())
