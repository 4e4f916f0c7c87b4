"""The manual's figures live in the seed definitions only: everything else computes
them (a literal elsewhere would be a hard-coded result)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {ROOT / "db" / "demo_data.py"}
FIGURES = ["3500000", "3,500,000", "3.500.000", "172896", "172,896", "3327104", "3,327,104",
           "34200", "34,200", "5000000", "5,000,000"]
# Whole numbers only: 50000000 (a limit) is not 5000000 (a salary).
PATTERN = re.compile(r"(?<![\d,.])(?:" + "|".join(re.escape(f) for f in FIGURES) + r"|3,?800)(?:\.00)?(?![\d,])")


def code_files() -> list[Path]:
    files = []
    for folder in ("domain", "db", "integrations", "workers", "webapp", "zona_privada"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".html", ".js", ".css", ".txt", ".json"} and path not in ALLOWED:
                files.append(path)
    return files


def test_figures_only_in_seed_definitions() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in code_files()
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if PATTERN.search(line)
    ]
    assert offenders == []


def test_the_check_would_catch_a_literal() -> None:
    assert PATTERN.search('capacity = Decimal("3327104")')
    assert PATTERN.search("<td>$3,800.00</td>")
    assert not PATTERN.search("timeout_s = 38000")
    assert not PATTERN.search('limit = "50000000"')
