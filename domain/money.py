"""Money: rounding, what members type, how amounts are shown, and GMF (DESIGN §3).

Money is always `Decimal`; a float never enters this module.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
PESO = Decimal("1")

# Gravamen a los Movimientos Financieros: 4 per thousand on debits (Estatuto
# Tributario art. 872) unless the savings account is marked exempt.
GMF_RATE = Decimal("0.004")
# Half up to the peso: $125 debited pays $0.50 → $1, never banker's rounding.
GMF_ROUNDING = ROUND_HALF_UP

_MAX_INPUT_CHARS = 40
_ASCII_DIGITS = frozenset("0123456789")
# Spaces members (or copy-paste from a bank statement) use to group thousands.
_SPACE_SEPARATORS = frozenset(" \u00a0\u202f")
_SEPARATORS = frozenset(".,") | _SPACE_SEPARATORS
_MINUS_SIGNS = ("-", "\u2212")

MSG_EMPTY = "Ingrese un valor"
MSG_INVALID = "Ingrese un valor numérico válido"
MSG_CENTAVOS = "Ingrese el valor en pesos, sin centavos"
MSG_NOT_POSITIVE = "El valor debe ser mayor que cero"
MSG_TOO_LARGE = "El valor excede el máximo permitido"


class MoneyInputError(ValueError):
    """An amount typed by a member was refused; `str()` is shown to the member as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def to_money(value: Decimal | int | str) -> Decimal:
    """Quantize to cents, half up (the cooperative's and the ledger's convention)."""
    if isinstance(value, float):  # a float has already lost the cents; refuse it loudly
        raise TypeError("money must not be a float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_whole_pesos(value: Decimal) -> Decimal:
    """Quantize to whole pesos, half up: what gets billed or withheld."""
    return value.quantize(PESO, rounding=ROUND_HALF_UP)


def parse_whole_pesos(text: str, *, max_cop: Decimal = Decimal("999999999999")) -> Decimal:
    """Read an amount typed by a member: whole pesos, with optional `$` and thousands groups.

    Raises only `MoneyInputError`, whatever the input, so the web form can show `str(err)`.
    """
    if len(text) > _MAX_INPUT_CHARS:
        raise MoneyInputError(MSG_INVALID)
    body = text.strip()
    if not body:
        raise MoneyInputError(MSG_EMPTY)
    negative, body = _strip_sign_and_currency(body)
    value = _parse_grouped_digits(body)
    if negative or value <= 0:
        raise MoneyInputError(MSG_NOT_POSITIVE)
    if value > max_cop:
        raise MoneyInputError(MSG_TOO_LARGE)
    return value


def _strip_sign_and_currency(body: str) -> tuple[bool, str]:
    """Accept `-$5.000`, `$-5.000`, `$ 5.000`; the sign is only remembered to refuse it."""
    negative = False
    if body.startswith(_MINUS_SIGNS):
        negative, body = True, body[1:].lstrip()
    if body.startswith("$"):
        body = body[1:].lstrip()
    if not negative and body.startswith(_MINUS_SIGNS):
        negative, body = True, body[1:].lstrip()
    return negative, body


def _parse_grouped_digits(body: str) -> Decimal:
    groups, separators = _split_groups(body)
    if _has_centavos(groups, separators):
        if set(groups[-1]) != {"0"}:
            # "38.000,50" or "38000.5": the member typed centavos, tell them so.
            raise MoneyInputError(MSG_CENTAVOS)
        # "$12,345.00", an amount as the app shows it, pasted back: zero centavos are
        # no centavos, and the whole part is read as any other amount.
        groups, separators = groups[:-1], separators[:-1]
    if not _is_thousands_grouping(groups, separators):
        raise MoneyInputError(MSG_INVALID)
    try:
        return Decimal("".join(groups))
    except InvalidOperation as exc:  # defensive: groups are ASCII digits already
        raise MoneyInputError(MSG_INVALID) from exc


def _split_groups(body: str) -> tuple[list[str], list[str]]:
    """Split into digit groups and the single separator between each pair of them."""
    groups: list[str] = [""]
    separators: list[str] = []
    for char in body:
        if char in _ASCII_DIGITS:
            groups[-1] += char
        elif char in _SEPARATORS and groups[-1]:
            separators.append(" " if char in _SPACE_SEPARATORS else char)
            groups.append("")
        else:
            # Unicode digits, letters, markup, doubled separators: never guess.
            raise MoneyInputError(MSG_INVALID)
    if not groups[-1]:
        raise MoneyInputError(MSG_INVALID)
    return groups, separators


def _has_centavos(groups: list[str], separators: list[str]) -> bool:
    """A final `.`/`,` followed by 1–2 digits after a well-formed whole part."""
    if len(groups) < 2 or not 1 <= len(groups[-1]) <= 2:
        return False
    decimal_mark, grouping_marks = separators[-1], set(separators[:-1])
    return (
        decimal_mark != " "
        and decimal_mark not in grouping_marks
        and _is_thousands_grouping(groups[:-1], separators[:-1])
    )


def _is_thousands_grouping(groups: list[str], separators: list[str]) -> bool:
    if len(groups) == 1:
        return True
    # "1.234,567" mixes separators: ambiguous, so refused rather than guessed.
    return (
        len(set(separators)) == 1
        and 1 <= len(groups[0]) <= 3
        and all(len(group) == 3 for group in groups[1:])
    )


def format_cop(amount: Decimal) -> str:
    """Show an amount as the manual does: `$1,234,567.00`, `-$1,500.00`."""
    cents = to_money(amount)
    sign = "-" if cents < 0 else ""  # also keeps Decimal("-0.00") from showing as "-$0.00"
    return f"{sign}${abs(cents):,.2f}"


def gmf(amount: Decimal) -> Decimal:
    """GMF (4×1000) owed on a debit of `amount` from a non-exempt savings account.

    The peso has no circulating fraction and GMF is withheld and declared to the DIAN in
    whole pesos, so the tax is rounded half up to the peso (`GMF_ROUNDING`), as the core
    banking does. This is the one GMF rounding rule: code and tests compute with it.
    """
    if amount < 0:
        raise ValueError("GMF is computed on a debit amount, which cannot be negative")
    return (amount * GMF_RATE).quantize(PESO, rounding=GMF_ROUNDING)
