"""E-mail over SMTP (the SMTP sink in development and tests, a relay in production).

Bounded: a connect/read timeout on every call; retries are the Celery task's business."""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


class EmailDeliveryError(Exception):
    """The relay refused or could not be reached; the message may be retried."""


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    timeout_s: float = 10.0
    starttls: bool = False
    username: str | None = None
    password: str | None = None

    def build(self, to: str, subject: str, body: str, *, message_id_domain: str = "zona-privada") -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=message_id_domain)
        message.set_content(body, charset="utf-8")
        return message

    def send(self, to: str, subject: str, body: str) -> str:
        """Sends one message; returns its Message-ID."""
        message = self.build(to, subject, body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise EmailDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return str(message["Message-ID"])
