"""The personal key rules, worded as the cooperative's manual words them (DESIGN §3)."""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass

_ALLOWED = frozenset(string.ascii_letters + string.digits)

MSG_UPPER = "Una letra mayúscula"
MSG_LOWER = "Una letra minúscula"
MSG_DIGIT = "Un número"
MSG_ONLY_ALNUM = "Use solo letras y números"
MSG_FORBIDDEN = "La clave no puede ser igual a la clave temporal ni a su número de documento"


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    # The manual: "Una letra mayúscula Una letra minúscula Un número Mínimo 4 caracteres
    # Máximo 8 caracteres". The key is typed on a virtual keyboard of letters and digits only.
    min_length: int = 4
    max_length: int = 8
    require_upper: bool = True
    require_lower: bool = True
    require_digit: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError("min_length must be at least 1 and not above max_length")

    def describe(self) -> list[str]:
        """The rules, in the manual's order, for the change-password screen."""
        rules: list[str] = []
        if self.require_upper:
            rules.append(MSG_UPPER)
        if self.require_lower:
            rules.append(MSG_LOWER)
        if self.require_digit:
            rules.append(MSG_DIGIT)
        rules += [self._min_rule(), self._max_rule()]
        return rules

    def violations(self, password: str, *, forbidden: Iterable[str] = ()) -> list[str]:
        """The rules `password` breaks, in the manual's order; empty means acceptable."""
        broken: list[str] = []
        if self.require_upper and not any(c in string.ascii_uppercase for c in password):
            broken.append(MSG_UPPER)
        if self.require_lower and not any(c in string.ascii_lowercase for c in password):
            broken.append(MSG_LOWER)
        if self.require_digit and not any(c in string.digits for c in password):
            broken.append(MSG_DIGIT)
        if len(password) < self.min_length:
            broken.append(self._min_rule())
        if len(password) > self.max_length:
            broken.append(self._max_rule())
        if any(c not in _ALLOWED for c in password):
            broken.append(MSG_ONLY_ALNUM)
        if password and password in {value for value in forbidden if value}:
            broken.append(MSG_FORBIDDEN)
        return broken

    def _min_rule(self) -> str:
        return f"Mínimo {self.min_length} caracteres"

    def _max_rule(self) -> str:
        return f"Máximo {self.max_length} caracteres"
