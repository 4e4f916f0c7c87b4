"""Which rows of PSE's bank list a member may pick."""
from __future__ import annotations

from domain.pse_banks import BankChoice, is_placeholder, selectable
from workers.schedule import beat_schedule
from zona_privada.settings import load_pse_settings, load_settings


def test_placeholders_blanks_repeats_and_non_digit_codes_are_left_out() -> None:
    rows = [
        ("0", "A continuación seleccione su banco"),
        ("", "SIN CÓDIGO"),
        ("1022", "  BANCO   UNIÓN COLOMBIANO "),
        ("1292", ""),
        ("10322", "BANCO DE CINCO DÍGITOS"),
        ("1022", "REPETIDO"),
        ("12A4", "CÓDIGO RARO"),
        (None, None),
        ("00000", "CEROS"),
    ]
    assert selectable(rows) == [BankChoice("1022", "BANCO UNIÓN COLOMBIANO"), BankChoice("10322", "BANCO DE CINCO DÍGITOS")]


def test_placeholder_codes() -> None:
    assert is_placeholder("0") and is_placeholder(" ") and is_placeholder(None) and is_placeholder("0000")
    assert not is_placeholder("1022")


def test_beat_checks_the_bank_list_at_the_configured_period(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ZONA_PSE_BANKS_CHECK_S", "1800")
    env = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h:6379/0", "ZONA_ENV": "production",
           "ZONA_SECRET_KEY": "k", "ZONA_DECOY_SECRET": "d", "ZONA_FLOWER_PASSWORD": "p"}
    entry = beat_schedule(load_settings(env))["refresh-pse-banks"]
    assert entry["task"] == "workers.pse_tasks.refresh_pse_banks"
    assert entry["schedule"] == 1800.0 == load_pse_settings().banks_check_s
