"""Which rows of PSE's bank list a member may pick (pure rules, shared by the client
that fetches the list and the cache that stores it)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# PSE's first row is a prompt, not a bank (PayU's sandbox: pseCode "0", "A continuación
# seleccione su banco"); lists have also used blank and all-zero codes the same way.
PLACEHOLDER_CODES = frozenset({"", "0", "00", "000", "0000", "00000"})


@dataclass(frozen=True, slots=True)
class BankChoice:
    code: str
    name: str


def is_placeholder(code: str | None) -> bool:
    return (code or "").strip() in PLACEHOLDER_CODES


def selectable(rows: Iterable[tuple[str | None, str | None]]) -> list[BankChoice]:
    """The rows a member may pick, in PSE's order: placeholders, blank names, codes that
    are not digits and repeated codes left out; names cut to what we store."""
    seen: set[str] = set()
    out: list[BankChoice] = []
    for raw_code, raw_name in rows:
        code, name = (raw_code or "").strip(), " ".join((raw_name or "").split())
        if is_placeholder(code) or not name or not code.isdigit() or len(code) > 10 or code in seen:
            continue
        seen.add(code)
        out.append(BankChoice(code=code, name=name[:120]))
    return out
