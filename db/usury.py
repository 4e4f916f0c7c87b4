"""The certified usury rates: read a certification file, load it, read the caps back.

The file is the layout of db/data/usury_rates.csv: `period` (YYYY-MM),
`usura_ea_percent` (E.A. in percent as certified; empty when the month is not
confirmed), `source`. A bad file is refused whole with a message in Spanish naming the
line, and nothing is written.
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from domain.bogota_calendar import add_months
from domain.rates import UsuryRate

from .models import UsuryRateRow

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "usury_rates.csv"
COLUMNS = ("period", "usura_ea_percent", "source")
# A consumer usury rate outside this band is a typo (a fraction typed as a percent, a
# missing digit), not a certification: every one since 1990 lies well inside it.
_PLAUSIBLE_PERCENT = (Decimal("5"), Decimal("100"))
_MAX_SOURCE = 400


class UsuryFileError(ValueError):
    """The certification file cannot be loaded; the message is for a person, in Spanish."""


@dataclass(frozen=True, slots=True)
class Certification:
    period: date  # first day of the month
    ea: Decimal | None  # a fraction; None: the month is listed but not confirmed
    source: str


def _period(raw: str, line: int) -> date:
    try:
        year, month = raw.strip().split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise UsuryFileError(f"línea {line}: el periodo {raw!r} no es un mes AAAA-MM") from None


def _ea(raw: str, line: int) -> Decimal | None:
    text = raw.strip().replace(",", ".")
    if not text:
        return None
    try:
        percent = Decimal(text)
    except InvalidOperation:
        raise UsuryFileError(f"línea {line}: la tasa {raw!r} no es un número") from None
    low, high = _PLAUSIBLE_PERCENT
    if not percent.is_finite() or not low <= percent <= high:
        raise UsuryFileError(
            f"línea {line}: la tasa {raw!r} no es una tasa de usura efectiva anual en porcentaje "
            f"(se espera entre {low} y {high}, p. ej. 24.36)")
    return percent / 100


def read_certifications(path: Path) -> list[Certification]:
    """Parse and check the whole file; raise UsuryFileError on the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsuryFileError(f"no existe el archivo {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsuryFileError(f"no se puede leer {path} como texto UTF-8: {exc}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or tuple(c.strip() for c in rows[0]) != COLUMNS:
        raise UsuryFileError(f"la primera línea debe ser el encabezado {','.join(COLUMNS)}")
    out: list[Certification] = []
    seen: set[date] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(COLUMNS):
            raise UsuryFileError(f"línea {line}: se esperan {len(COLUMNS)} columnas y hay {len(row)}")
        period, ea, source = _period(row[0], line), _ea(row[1], line), row[2].strip()
        if not source:
            raise UsuryFileError(f"línea {line}: falta la fuente (resolución o publicación) de la tasa")
        if len(source) > _MAX_SOURCE:
            raise UsuryFileError(f"línea {line}: la fuente pasa de {_MAX_SOURCE} caracteres")
        if period in seen:
            raise UsuryFileError(f"línea {line}: el periodo {period:%Y-%m} está repetido")
        seen.add(period)
        out.append(Certification(period, ea, source))
    if not any(c.ea is not None for c in out):
        raise UsuryFileError("el archivo no trae ninguna tasa certificada")
    return out


def load_certifications(session: Session, certifications: Sequence[Certification]) -> int:
    """Upsert the confirmed months (a corrected certification replaces the month's row);
    months listed without a rate are left as they are. Returns the months written."""
    values = [{"period": c.period, "ea": c.ea, "source": c.source} for c in certifications if c.ea is not None]
    statement = pg_insert(UsuryRateRow).values(values)
    session.execute(statement.on_conflict_do_update(
        index_elements=["period"],
        set_={"ea": statement.excluded.ea, "source": statement.excluded.source, "loaded_at": statement.excluded.loaded_at},
    ))
    return len(values)


def load_usury_file(session: Session, path: Path) -> int:
    return load_certifications(session, read_certifications(path))


def usury_table(session: Session, first_day: date, last_day: date) -> list[UsuryRate]:
    """The certified caps covering `first_day`..`last_day`, as the domain reads them."""
    rows = session.execute(
        select(UsuryRateRow.period, UsuryRateRow.ea)
        .where(UsuryRateRow.period <= last_day, UsuryRateRow.period >= first_day.replace(day=1))
        .order_by(UsuryRateRow.period)
    ).all()
    return [UsuryRate(period, add_months(period, 1) - timedelta(days=1), ea) for period, ea in rows]
