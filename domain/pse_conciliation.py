"""Daily conciliation with PSE (issue 10 §5): ACH's file against our attempts.

ACH's conciliation layout is not public; the sandbox writes a `;`-separated file with a
header (integrations/pse_sandbox/README.md). Reading goes by the header's column names,
so a reordered file is read right and a missing column is an error, not a shifted field.

What comes out:
- resolutions: an attempt we hold as unknown or pending that the file decides (a create
  whose answer was lost is resolved here, never by sending it again);
- mismatches, each for the review queue: approved there and rejected here (or the other
  way round), amounts or CUS that differ, a transaction there that we never created,
  and one of ours decided that day that is missing there.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

COLUMNS = ("ticketId", "trazabilityCode", "financialInstitutionCode", "transactionValue", "vatValue",
           "transactionState", "soliciteDate", "bankProcessDate", "transactionCycle")
FINAL = frozenset({"OK", "NOT_AUTHORIZED", "FAILED"})
APPROVED = "OK"
# Our pse_transactions states that PSE may still decide.
UNDECIDED_HERE = frozenset({"SENT", "UNKNOWN", "PENDING"})


class MismatchKind(StrEnum):
    APPROVED_THERE_NOT_HERE = "aprobada_en_pse_no_aqui"
    APPROVED_HERE_NOT_THERE = "aprobada_aqui_no_en_pse"
    AMOUNT_DIFFERS = "valor_distinto"
    CUS_DIFFERS = "cus_distinto"
    MISSING_HERE = "desconocida_aqui"
    MISSING_THERE = "ausente_en_pse"
    UNREADABLE_LINE = "linea_ilegible"


@dataclass(frozen=True, slots=True)
class FileRow:
    ticket_id: int
    cus: str
    bank_code: str
    amount: Decimal
    vat: Decimal
    state: str
    solicite_date: date
    bank_process_date: date
    cycle: str


@dataclass(frozen=True, slots=True)
class OurTransaction:
    ticket_id: int
    cus: str | None
    amount: Decimal
    state: str                       # pse_transactions.state
    decided_on: date | None = None   # the Bogotá date we got a final state, if any


@dataclass(frozen=True, slots=True)
class Resolution:
    ticket_id: int
    cus: str
    state: str                       # the final state ACH reports


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: MismatchKind
    ticket_id: int | None
    detail: str
    ours_amount: Decimal | None = None
    theirs_amount: Decimal | None = None
    our_state: str | None = None
    their_state: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    rows: tuple[FileRow, ...]
    resolutions: tuple[Resolution, ...]
    mismatches: tuple[Mismatch, ...]


class ConciliationFileError(ValueError):
    """The file as a whole cannot be read (no header, a column missing)."""


def parse(content: str) -> tuple[list[FileRow], list[Mismatch]]:
    """Rows of the file; a line that cannot be read becomes a mismatch of its own (it
    may hide a payment) instead of stopping the rest."""
    lines = [ln.strip() for ln in content.replace("\r\n", "\n").split("\n") if ln.strip()]
    if not lines:
        return [], []
    header = [h.strip() for h in lines[0].split(";")]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ConciliationFileError(f"faltan columnas en el archivo de conciliación: {', '.join(missing)}")
    at = {name: header.index(name) for name in COLUMNS}
    rows: list[FileRow] = []
    bad: list[Mismatch] = []
    for number, line in enumerate(lines[1:], start=2):
        fields = [f.strip() for f in line.split(";")]
        try:
            if len(fields) != len(header):
                raise ValueError(f"{len(fields)} campos, se esperaban {len(header)}")
            get = lambda name: fields[at[name]]  # noqa: E731
            state = get("transactionState")
            if state not in FINAL | {"PENDING"}:
                raise ValueError(f"estado {state!r}")
            rows.append(FileRow(
                ticket_id=int(get("ticketId")), cus=get("trazabilityCode"), bank_code=get("financialInstitutionCode"),
                amount=Decimal(get("transactionValue")), vat=Decimal(get("vatValue")), state=state,
                solicite_date=date.fromisoformat(get("soliciteDate")),
                bank_process_date=date.fromisoformat(get("bankProcessDate")), cycle=get("transactionCycle")))
        except (ValueError, InvalidOperation) as exc:
            bad.append(Mismatch(MismatchKind.UNREADABLE_LINE, None, f"línea {number}: {exc}"))
    return rows, bad


def compare(rows: Iterable[FileRow], ours: Iterable[OurTransaction], day: date) -> tuple[list[Resolution], list[Mismatch]]:
    """Compares the file of `day` with our transactions. `ours` must hold every one of
    our transactions the file could name, plus those we decided on `day` (those are
    expected there)."""
    by_ticket = {t.ticket_id: t for t in ours}
    seen: set[int] = set()
    resolutions: list[Resolution] = []
    mismatches: list[Mismatch] = []
    for row in rows:
        seen.add(row.ticket_id)
        mine = by_ticket.get(row.ticket_id)
        if mine is None:
            mismatches.append(Mismatch(MismatchKind.MISSING_HERE, row.ticket_id,
                                       f"PSE reporta el ticket {row.ticket_id} (CUS {row.cus}) que no existe aquí",
                                       theirs_amount=row.amount, their_state=row.state))
            continue
        if mine.cus and mine.cus != row.cus:
            mismatches.append(Mismatch(MismatchKind.CUS_DIFFERS, row.ticket_id, f"CUS {mine.cus} aquí, {row.cus} en PSE",
                                       our_state=mine.state, their_state=row.state))
        if mine.amount != row.amount:
            mismatches.append(Mismatch(MismatchKind.AMOUNT_DIFFERS, row.ticket_id,
                                       f"valor {mine.amount} aquí, {row.amount} en PSE",
                                       ours_amount=mine.amount, theirs_amount=row.amount,
                                       our_state=mine.state, their_state=row.state))
        if row.state not in FINAL:
            continue
        if mine.state in UNDECIDED_HERE:
            # Resolved from the file; a differing amount still goes to review above and
            # the caller must not apply an approval whose amount differs.
            resolutions.append(Resolution(row.ticket_id, row.cus, row.state))
        elif (row.state == APPROVED) != (mine.state == APPROVED):
            kind = MismatchKind.APPROVED_THERE_NOT_HERE if row.state == APPROVED else MismatchKind.APPROVED_HERE_NOT_THERE
            mismatches.append(Mismatch(kind, row.ticket_id, f"{mine.state} aquí, {row.state} en PSE",
                                       ours_amount=mine.amount, theirs_amount=row.amount,
                                       our_state=mine.state, their_state=row.state))
    for mine in by_ticket.values():
        if mine.ticket_id not in seen and mine.state in FINAL and mine.decided_on == day:
            mismatches.append(Mismatch(MismatchKind.MISSING_THERE, mine.ticket_id,
                                       f"ticket {mine.ticket_id} ({mine.state}) no aparece en el archivo de PSE",
                                       ours_amount=mine.amount, our_state=mine.state))
    return resolutions, mismatches


def reconcile(content: str, ours: Iterable[OurTransaction], day: date) -> Outcome:
    rows, unreadable = parse(content)
    resolutions, mismatches = compare(rows, ours, day)
    return Outcome(rows=tuple(rows), resolutions=tuple(resolutions), mismatches=tuple(unreadable + mismatches))
