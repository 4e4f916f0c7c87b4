"""Errors the web maps to responses; every message is Spanish and shown as is."""
from __future__ import annotations

from collections.abc import Sequence

from domain.payment_request import PaymentInputError
from domain.requirements import Requirement

MSG_NOT_YOURS_OBLIGATION = "La obligación seleccionada no existe o no le pertenece"
MSG_NOT_YOURS_ACCOUNT = "La cuenta seleccionada no existe o no le pertenece"
MSG_NOT_YOURS_INTENT = "El pago solicitado no existe o no le pertenece"
MSG_KEY_REUSED = "Esta solicitud ya se envió con otros datos; vuelva a la verificación e intente de nuevo"
MSG_REQUIREMENTS = "No se cumplen los requisitos del pago"
MSG_UNKNOWN_BANK = "La entidad financiera elegida no está en la lista de PSE; elija otra"


class PaymentError(Exception):
    """Base: `message` is for the member, `http_status` for the web."""

    http_status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotOwnedError(PaymentError):
    """Another member's (or a non-existent) obligation, account or intent: the same answer
    either way, so ids cannot be probed."""

    http_status = 404


class IdempotencyConflict(PaymentError):
    """The same idempotency key came with another body (the web answers 422)."""

    http_status = 422

    def __init__(self) -> None:
        super().__init__(MSG_KEY_REUSED)


class RequirementsNotMet(PaymentError):
    http_status = 422

    def __init__(self, requirements: Sequence[Requirement]) -> None:
        reasons = list(dict.fromkeys(r.reason or MSG_REQUIREMENTS for r in requirements if not r.cumple))
        super().__init__("; ".join(reasons) or MSG_REQUIREMENTS)
        self.requirements = tuple(requirements)


# Everything the web turns into a 4xx with `str(err)` shown to the member.
PAYMENT_ERRORS: tuple[type[Exception], ...] = (PaymentError, PaymentInputError)

__all__ = [
    "PAYMENT_ERRORS",
    "IdempotencyConflict",
    "NotOwnedError",
    "PaymentError",
    "PaymentInputError",
    "RequirementsNotMet",
]
