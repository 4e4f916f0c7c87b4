"""The period a statement or certificate covers, read from what the member typed, with
the Spanish message they see when it cannot be used. Pure: `today` comes from the caller."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from .bogota_calendar import BOGOTA, add_months

# Before the cooperative kept its ledger here nothing can be stated; a bound also keeps a
# typed year like 0002 out of the queries.
EARLIEST = date(2000, 1, 1)
# A statement longer than this is a ledger export, not a statement: it bounds the PDF.
MAX_MONTHS = 36
DEFAULT_MONTHS = 12


class PeriodError(ValueError):
    """`str()` is the message the member reads."""


@dataclass(frozen=True, slots=True)
class Period:
    start: date  # first Bogotá day included
    end: date  # last Bogotá day included

    @property
    def label(self) -> str:
        return f"{self.start:%d/%m/%Y} a {self.end:%d/%m/%Y}"

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """The period's Bogotá days as a UTC half-open interval [start, end), for posted_at."""
        start = datetime.combine(self.start, time.min, tzinfo=BOGOTA).astimezone(timezone.utc)
        end = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=BOGOTA).astimezone(timezone.utc)
        return start, end


def default_period(today: date) -> Period:
    """The last twelve months, ending today."""
    return Period(add_months(today, -DEFAULT_MONTHS), today)


def _parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"La fecha {what} no es válida. Escríbela como día/mes/año con el calendario.") from None


def parse_period(start_text: str | None, end_text: str | None, today: date) -> Period:
    """Empty fields take the default; a reversed, future or too old range is refused."""
    default = default_period(today)
    start = _parse_day(start_text, "inicial") if start_text and start_text.strip() else default.start
    end = _parse_day(end_text, "final") if end_text and end_text.strip() else default.end
    if start > end:
        raise PeriodError("La fecha inicial debe ser anterior o igual a la fecha final.")
    if start < EARLIEST or end > today:
        raise PeriodError(f"Las fechas deben estar entre el {EARLIEST:%d/%m/%Y} y hoy ({today:%d/%m/%Y}).")
    if add_months(start, MAX_MONTHS) < end:
        raise PeriodError(f"El periodo no puede ser mayor a {MAX_MONTHS} meses.")
    return Period(start, end)


def parse_year(text: str | None, today: date) -> int:
    """A tax year: a past year (the current one is not closed yet) from EARLIEST on."""
    try:
        year = int((text or "").strip())
    except ValueError:
        raise PeriodError("El año gravable no es válido: escribe un año de cuatro cifras.") from None
    if year < EARLIEST.year or year >= today.year:
        raise PeriodError(f"El año gravable debe estar entre {EARLIEST.year} y {today.year - 1}.")
    return year
