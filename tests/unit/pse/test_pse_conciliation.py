"""Conciliation: ACH's file against our attempts; every kind of mismatch found."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.pse_conciliation import (ConciliationFileError, MismatchKind, OurTransaction, Resolution, parse,
                                     reconcile)
from integrations.pse_sandbox.app import conciliation_line

DAY = date(2026, 12, 2)
HEADER = "ticketId;trazabilityCode;financialInstitutionCode;transactionValue;vatValue;transactionState;" \
         "soliciteDate;bankProcessDate;transactionCycle"


def line(ticket: int, cus: str, amount: str, state: str) -> str:
    # The sandbox's own writer, so the reader is tested against what the sandbox sends.
    return conciliation_line(ticket, cus, "1022", Decimal(amount), Decimal("0"), state, "2026-12-02", "2026-12-02", "3")


def test_every_kind_of_difference_is_found_and_unknowns_are_resolved() -> None:
    content = "\n".join([HEADER,
                         line(1, "CUS1", "38000.00", "OK"),              # matches
                         line(2, "CUS2", "50000.00", "OK"),              # lost create: unknown here
                         line(3, "CUS3", "20000.00", "NOT_AUTHORIZED"),  # pending here: resolved rejected
                         line(4, "CUS4", "10000.00", "OK"),              # rejected here
                         line(5, "CUS5", "99999.00", "OK"),              # amount differs
                         line(6, "CUS6", "1000.00", "OK"),               # never created here
                         "7;CUS7;1022;no-es-numero;0;OK;2026-12-02;2026-12-02;3"])
    ours = [OurTransaction(1, "CUS1", Decimal("38000.00"), "OK", DAY),
            OurTransaction(2, None, Decimal("50000.00"), "UNKNOWN"),
            OurTransaction(3, "CUS3", Decimal("20000.00"), "PENDING"),
            OurTransaction(4, "CUS4", Decimal("10000.00"), "NOT_AUTHORIZED", DAY),
            OurTransaction(5, "CUS5", Decimal("9999.00"), "OK", DAY),
            OurTransaction(8, "CUS8", Decimal("5000.00"), "OK", DAY),           # missing there
            OurTransaction(9, "CUS9", Decimal("5000.00"), "OK", date(2026, 12, 1))]  # another day: not expected
    out = reconcile(content, ours, DAY)
    assert out.resolutions == (Resolution(2, "CUS2", "OK"), Resolution(3, "CUS3", "NOT_AUTHORIZED"))
    kinds = sorted((m.kind, m.ticket_id) for m in out.mismatches if m.ticket_id is not None)
    assert kinds == sorted([(MismatchKind.APPROVED_THERE_NOT_HERE, 4), (MismatchKind.AMOUNT_DIFFERS, 5),
                            (MismatchKind.MISSING_HERE, 6), (MismatchKind.MISSING_THERE, 8)])
    unreadable = [m for m in out.mismatches if m.kind is MismatchKind.UNREADABLE_LINE]
    assert len(unreadable) == 1 and "línea 8" in unreadable[0].detail


def test_columns_are_read_by_name_and_a_missing_column_is_refused() -> None:
    reordered = "transactionState;ticketId;trazabilityCode;financialInstitutionCode;transactionValue;vatValue;" \
                "soliciteDate;bankProcessDate;transactionCycle\nOK;12;CUS12;1022;38000.00;0;2026-12-02;2026-12-02;1"
    rows, bad = parse(reordered)
    assert bad == [] and rows[0].ticket_id == 12 and rows[0].amount == Decimal("38000.00") and rows[0].state == "OK"
    with pytest.raises(ConciliationFileError, match="transactionValue"):
        parse(HEADER.replace("transactionValue;", "") + "\n1;C;1022;0;OK;2026-12-02;2026-12-02;1")
    assert parse("") == ([], [])


def test_approved_here_and_rejected_there_is_a_mismatch() -> None:
    out = reconcile("\n".join([HEADER, line(1, "C1", "100.00", "FAILED")]),
                    [OurTransaction(1, "C1", Decimal("100.00"), "OK", DAY)], DAY)
    assert [m.kind for m in out.mismatches] == [MismatchKind.APPROVED_HERE_NOT_THERE] and out.resolutions == ()
