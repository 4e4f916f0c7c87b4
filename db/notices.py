"""What the member is told by e-mail or SMS about their access. Written into the outbox
in the same transaction as the fact; the temporary key itself is never written (the
outbox keeps a placeholder, the task fills it in)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from db import outbox
from domain.bogota_calendar import BOGOTA

SIGNATURE = "Cooperativa Alianza\nEste es un mensaje automático, por favor no lo respondas."
TEMP_KEY_SUBJECT = "Tu clave temporal de la Zona Privada de Asociados"


def _bogota(moment: datetime) -> str:
    return moment.astimezone(BOGOTA).strftime("%d/%m/%Y %H:%M")


def temp_key(session: Session, *, member_id: int, name: str, channel: str, recipient: str,
             expires_at: datetime, ttl_s: int) -> int:
    minutes = max(1, ttl_s // 60)
    if channel == "sms":
        body = (f"Cooperativa Alianza: tu clave temporal es {outbox.SECRET_PLACEHOLDER}. "
                f"Vence en {minutes} min y sirve una sola vez. No la compartas.")
    else:
        body = (
            f"Hola {name}:\n\n"
            f"Tu clave temporal para ingresar a la Zona Privada de Asociados es: {outbox.SECRET_PLACEHOLDER}\n\n"
            f"Es válida por {minutes} minutos (hasta las {_bogota(expires_at)}, hora de Bogotá) y sirve una sola vez. "
            "Digítala con el teclado virtual; el sistema te pedirá cambiarla por una clave personal.\n\n"
            "Si no la solicitaste, ignora este mensaje y comunícate con la cooperativa.\n\n" + SIGNATURE
        )
    return outbox.enqueue(session, channel=channel, recipient=recipient, subject=TEMP_KEY_SUBJECT, body=body,
                          dedupe_key=f"tempkey:{member_id}:{expires_at.timestamp():.6f}")


def account_locked(session: Session, *, member_id: int, name: str, email: str, locked_until: datetime,
                   ip: str | None) -> int:
    body = (
        f"Hola {name}:\n\n"
        "Por seguridad bloqueamos temporalmente el acceso a tu Zona Privada de Asociados después de varios "
        f"intentos de ingreso con una clave incorrecta (último intento desde la dirección IP {ip or 'desconocida'}).\n\n"
        f"Podrás intentarlo de nuevo a partir de las {_bogota(locked_until)} (hora de Bogotá). "
        "Si no fuiste tú, solicita una clave temporal y comunícate con la cooperativa.\n\n" + SIGNATURE
    )
    return outbox.enqueue(session, channel="email", recipient=email, subject="Bloqueo temporal de tu acceso a la Zona Privada",
                          body=body, dedupe_key=f"lock:{member_id}:{locked_until.timestamp():.6f}")


def password_changed(session: Session, *, member_id: int, name: str, email: str, at: datetime, ip: str | None) -> int:
    body = (
        f"Hola {name}:\n\n"
        f"La clave de tu Zona Privada de Asociados fue cambiada el {_bogota(at)} (hora de Bogotá) "
        f"desde la dirección IP {ip or 'desconocida'}.\n\n"
        "Si no fuiste tú, comunícate de inmediato con la cooperativa.\n\n" + SIGNATURE
    )
    return outbox.enqueue(session, channel="email", recipient=email, subject="Cambio de clave en la Zona Privada",
                          body=body, dedupe_key=f"pwchange:{member_id}:{at.timestamp():.6f}")


DEVICE_CODE_SUBJECT = "Código para reconocer tu dispositivo"


def device_code(session: Session, *, member_id: int, name: str, channel: str, recipient: str, reference: str,
                ttl_s: int) -> int:
    """The code that lets a new device show the member's image and phrase; the worker
    puts the code in place of the placeholder just before delivery."""
    minutes = max(1, ttl_s // 60)
    if channel == "sms":
        body = (f"Cooperativa Alianza: tu codigo para reconocer este dispositivo es {outbox.SECRET_PLACEHOLDER}. "
                f"Vence en {minutes} min. No lo compartas.")
    else:
        body = (
            f"Hola {name}:\n\n"
            f"Para ver tu imagen y tu frase de seguridad en un dispositivo nuevo, ingresa este código: "
            f"{outbox.SECRET_PLACEHOLDER}\n\n"
            f"Es válido por {minutes} minutos y sirve una sola vez.\n\n"
            "Si no estás ingresando a la Zona Privada, no compartas este código y comunícate con la cooperativa.\n\n"
            + SIGNATURE
        )
    return outbox.enqueue(session, channel=channel, recipient=recipient, subject=DEVICE_CODE_SUBJECT, body=body,
                          dedupe_key=f"device:{member_id}:{reference}")


def contact_changed(session: Session, *, member_id: int, name: str, channel: str, recipient: str,
                    changed: list[str], at: datetime, ip: str | None) -> int:
    """Told to the contact that was there BEFORE the change (the one a thief would want
    silenced); it names what changed, never the new values in full."""
    what = ", ".join(changed)
    if channel == "sms":
        body = (f"Cooperativa Alianza: el {_bogota(at)} se cambió {what} de tu Zona Privada. "
                "Si no fuiste tú, llama a la cooperativa.")
        subject = "Cambio de datos personales"
    else:
        body = (f"Hola {name}:\n\nEl {_bogota(at)} (hora de Bogotá), desde la dirección IP {ip or 'desconocida'}, "
                f"se cambió en tu Zona Privada de Asociados: {what}.\n\n"
                "Si no fuiste tú, comunícate de inmediato con la cooperativa.\n\n" + SIGNATURE)
        subject = "Cambio de tus datos personales en la Zona Privada"
    return outbox.enqueue(session, channel=channel, recipient=recipient, subject=subject, body=body,
                          dedupe_key=f"contact:{member_id}:{channel}:{at.timestamp():.6f}")
