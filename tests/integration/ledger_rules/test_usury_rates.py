"""The certified usury rates are data with their source, loaded by migration and by
`./zona usury load FILE`; a bad file is refused in Spanish and changes nothing."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from db.accruals import accrue_late_interest
from db.engine import session_scope
from db.models import UsuryRateRow
from db.usury import DEFAULT_FILE, read_certifications
from zona_privada.cli import main

pytestmark = pytest.mark.integration

HEADER = "period,usura_ea_percent,source\n"


def rates() -> dict[date, tuple[Decimal, str]]:
    with session_scope() as session:
        return {r.period: (r.ea, r.source) for r in session.execute(select(UsuryRateRow)).scalars()}


def test_the_shipped_file_holds_the_certified_october_2025_rate_with_its_source(clean_db: str) -> None:
    assert main(["usury", "load", str(DEFAULT_FILE)]) == 0
    loaded = rates()
    ea, source = loaded[date(2025, 10, 1)]
    assert ea == Decimal("0.2436")
    assert "SFC" in source and "24,36" in source and "https://" in source
    confirmed = [c for c in read_certifications(DEFAULT_FILE) if c.ea is not None]
    assert len(loaded) == len(confirmed)
    # An unconfirmed month is listed in the file, not loaded: no cap is made up for it.
    assert date(2026, 4, 1) not in loaded


def test_migration_loads_the_certified_rates(database_url: str) -> None:
    """clean_db empties the table; migrating up through 0007 fills it again."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from db.engine import get_engine
    from db.migrate import alembic_config, upgrade_head

    before_0007 = ScriptDirectory.from_config(alembic_config()).get_revision("0007").down_revision
    with get_engine().begin() as conn:
        command.downgrade(alembic_config(conn), str(before_0007))
    with get_engine().begin() as conn:
        assert "usury_rates" not in {r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables"))}
    with get_engine().begin() as conn:
        upgrade_head(conn)
    assert rates()[date(2026, 1, 1)][0] == Decimal("0.2436")


BAD_FILES = {
    "encabezado": ("period;rate;source\n2026-03;25.52;x\n", "encabezado"),
    "periodo": (HEADER + "03/2026,25.52,SFC\n", "no es un mes"),
    "fracción": (HEADER + "2026-03,0.2552,SFC\n", "porcentaje"),
    "número": (HEADER + "2026-03,veinticinco,SFC\n", "no es un número"),
    "fuente": (HEADER + "2026-03,25.52,\n", "falta la fuente"),
    "repetido": (HEADER + "2026-03,25.52,SFC\n2026-03,25.50,SFC\n", "repetido"),
    "columnas": (HEADER + "2026-03,25.52\n", "columnas"),
    "vacío": (HEADER + "2026-04,,no confirmado\n", "ninguna tasa"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_refused_in_spanish_and_changes_nothing(
    clean_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    main(["usury", "load", str(DEFAULT_FILE)])
    before = rates()
    content, message = BAD_FILES[case]
    # A good row first: a refused file loads none of its rows, not just the bad one.
    lines = content.split("\n", 1)
    bad = tmp_path / "certificacion.csv"
    bad.write_text(lines[0] + "\n2025-10,30.00,corregida\n" + lines[1] if case not in ("encabezado", "vacío") else content)
    capsys.readouterr()
    assert main(["usury", "load", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "no se cargó nada" in err and message in err
    assert rates() == before


def test_a_missing_or_binary_file_is_refused(clean_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usury", "load", str(tmp_path / "no-existe.csv")]) == 1
    assert "no existe el archivo" in capsys.readouterr().err
    binary = tmp_path / "tasas.csv"
    binary.write_bytes(b"\xff\xfe\x00period")
    assert main(["usury", "load", str(binary)]) == 1
    assert "UTF-8" in capsys.readouterr().err
    assert rates() == {}


def test_loading_the_next_certification_lets_the_accrual_catch_up(demo_on, tmp_path: Path) -> None:  # noqa: ANN001
    """Without March 2026 loaded, the 16 March run charges through 28 February; once the
    March certification is loaded, a run the same day charges 1-16 March."""
    with session_scope() as session:
        session.execute(text("DELETE FROM usury_rates WHERE period >= '2026-03-01'"))
    day = date(2026, 3, 16)
    with session_scope() as session:
        run = accrue_late_interest(session, day, late_ea=Decimal("0.22"))
    assert run.uncertified_from == date(2026, 3, 1) and run.installments == 1
    march = tmp_path / "marzo.csv"
    source = next(c.source for c in read_certifications(DEFAULT_FILE) if c.period == date(2026, 3, 1))
    march.write_text(HEADER + f'2026-03,25.52,"{source}"\n')
    assert main(["usury", "load", str(march)]) == 0
    with session_scope() as session:
        run = accrue_late_interest(session, day, late_ea=Decimal("0.22"))
    assert run.uncertified_from is None and run.installments == 2
    with session_scope() as session:
        spans = session.execute(text(
            "SELECT accrued_through, days FROM late_interest_accruals ORDER BY id")).all()
    assert spans == [(date(2026, 2, 28), 18), (date(2026, 3, 16), 16), (date(2026, 3, 16), 6)]
