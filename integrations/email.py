"""E-mail over SMTP (the SMTP sink in development and tests, a relay in production).

Bounded: a connect/read timeout on every call; retries are the caller's business.
`SmtpMailer.send` delivers one message over its own connection (the web's immediate
messages); `SmtpMailer.session()` keeps one connection open for a batch (receipts), so
a busy minute costs a few connections instead of one per message."""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.charset import QP, Charset
from email.errors import MessageError
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid, parseaddr

# The relay closes the connection with this code ("service not available"): everything
# after it fails too, so it is the connection's failure, not the message's.
SMTP_CLOSING = 421

# UTF-8 bodies as quoted-printable: a person opening the .eml file can still read it.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


class EmailDeliveryError(Exception):
    """The relay refused or could not be reached; the message may be retried."""


class EmailRejected(EmailDeliveryError):
    """The relay refused this one message (its recipient or its content); the connection
    is still usable for the next one. `permanent` (a 5xx answer): retrying will not help."""

    def __init__(self, message: str, *, code: int | None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def permanent(self) -> bool:
        return self.code is None or self.code >= 500


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    timeout_s: float = 10.0
    starttls: bool = False
    username: str | None = None
    password: str | None = None

    def build(self, to: str, subject: str, body: str, *, message_id_domain: str = "zona-privada",
              message_id: str | None = None) -> MIMEText:
        """The message, with the classic (compat32) e-mail API: a quarter of the CPU of
        `EmailMessage` and its header registry (2.5 → 0.6 ms per receipt), which matters
        when receipts go out by the thousand. Its headers are not validated for us, so
        the recipient and subject are checked here: one address, no line breaks."""
        if any(c in value for value in (to, subject) for c in "\r\n"):
            raise ValueError("line break in a header")
        name, address = parseaddr(to)
        if name or address != to.strip() or address.count("@") != 1 or " " in address:
            raise ValueError(f"not one plain address: {to!r}")
        message = MIMEText(body, "plain", _UTF8_QP)
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id or make_msgid(domain=message_id_domain)
        return message

    def send(self, to: str, subject: str, body: str) -> str:
        """Sends one message over a connection of its own; returns its Message-ID."""
        with self.session() as connection:
            return connection.send(to, subject, body)

    @contextmanager
    def session(self) -> Iterator[SmtpConnection]:
        """One open, logged-in connection for many messages; closed (QUIT) on exit.
        Raises EmailDeliveryError when the relay cannot be reached."""
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        except (smtplib.SMTPException, OSError) as exc:
            raise EmailDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        try:
            try:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
            except (smtplib.SMTPException, OSError) as exc:
                raise EmailDeliveryError(f"{type(exc).__name__}: {exc}") from exc
            yield SmtpConnection(self, client)
        finally:
            _close(client)


@dataclass(frozen=True, slots=True)
class SmtpConnection:
    """A connection opened by `SmtpMailer.session()`."""

    mailer: SmtpMailer
    client: smtplib.SMTP

    def send(self, to: str, subject: str, body: str, *, message_id: str | None = None) -> str:
        """Sends one message; returns its Message-ID. EmailRejected: this message was
        refused and the connection goes on; any other EmailDeliveryError: the connection
        is gone. A stable `message_id` lets mail readers fold a resent copy into one."""
        try:
            message = self.mailer.build(to, subject, body, message_id=message_id)
        except (ValueError, IndexError, MessageError) as exc:  # the header parser on a malformed address
            raise EmailRejected(f"unusable message: {type(exc).__name__}: {exc}", code=None) from exc
        try:
            # The envelope recipient is exactly the stored one, never what a lenient
            # header parser salvages from it.
            self.client.send_message(message, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, answer = next(iter(exc.recipients.values()), (None, b""))
            raise _refusal(code, f"recipient refused: {code} {_text(answer)}") from exc
        except smtplib.SMTPDataError as exc:
            raise _refusal(exc.smtp_code, f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPNotSupportedError as exc:  # raised before anything is sent
            raise EmailRejected(f"relay cannot carry this message: {exc}", code=None) from exc
        except (smtplib.SMTPException, OSError) as exc:  # the sender refused, a timeout, a reset
            raise EmailDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return str(message["Message-ID"])


def _refusal(code: int | None, text: str) -> EmailDeliveryError:
    if code == SMTP_CLOSING:
        return EmailDeliveryError(text)
    return EmailRejected(text, code=code)


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
