"""SMS through an HTTP gateway: `POST {base}/messages` with JSON `{"to", "text"}` and an
`Idempotency-Key`, so a retried request never sends the same SMS twice.

requests + tenacity with a stop and a wait (DESIGN §4 rule 9): connection errors,
timeouts and 5xx are retried a bounded number of times; a 4xx is final."""
from __future__ import annotations

from dataclasses import dataclass, field

import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential


class SmsDeliveryError(Exception):
    """The gateway could not be reached or failed; the message may be retried later."""


class SmsRejected(Exception):
    """The gateway refused the message (bad number, bad request): retrying will not help."""


class _Transient(Exception):
    pass


@dataclass
class SmsGatewayClient:
    base_url: str
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 5.0
    attempts: int = 3
    session: requests.Session = field(default_factory=requests.Session)

    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        """Returns the gateway's message id."""
        if not self.base_url:
            raise SmsDeliveryError("no SMS gateway configured (ZONA_SMS_GATEWAY_URL)")

        @retry(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.2, max=2),
            reraise=True,
        )
        def _post() -> str:
            try:
                response = self.session.post(
                    f"{self.base_url.rstrip('/')}/messages",
                    json={"to": to, "text": text},
                    headers={"Idempotency-Key": idempotency_key},
                    timeout=(self.connect_timeout_s, self.read_timeout_s),
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Transient(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code >= 500:
                raise _Transient(f"gateway answered {response.status_code}")
            if response.status_code >= 400:
                raise SmsRejected(f"gateway refused the message: {response.status_code} {response.text[:200]}")
            return str(response.json().get("id", ""))

        try:
            return _post()
        except _Transient as exc:
            raise SmsDeliveryError(str(exc)) from exc
