"""The sandbox's WS-Security check against what zeep's UsernameToken writes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree
from zeep.wsse.username import UsernameToken

from integrations.pse_sandbox.soap import SOAP_ENV, SoapFault
from integrations.pse_sandbox.wsse_check import verify_username_token


def envelope(token: UsernameToken) -> etree._Element:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope")
    etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    token.apply(env, {})
    return env


def check(env: etree._Element, seen: set[str] | None = None, **kw: object) -> None:
    seen = set() if seen is None else seen

    def remember(nonce: str) -> bool:
        if nonce in seen:
            return False
        seen.add(nonce)
        return True
    verify_username_token(env, username=kw.get("username", "u"), password=kw.get("password", "p"),  # type: ignore[arg-type]
                          window_s=60, remember_nonce=remember)


def test_a_digest_token_from_zeep_passes_once() -> None:
    seen: set[str] = set()
    env = envelope(UsernameToken("u", "p", use_digest=True))
    check(env, seen)
    with pytest.raises(SoapFault, match="nonce repetido"):
        check(env, seen)


# Factories, not tokens: a token's Created is taken when the test runs, not when the module
# is imported (a suite that reaches this test 30 s after collection would otherwise see
# the "+90 s" token inside the 60 s window and pass it).
@pytest.mark.parametrize(("make_token", "message"), [
    (lambda: UsernameToken("u", "p"), "PasswordDigest"),
    (lambda: UsernameToken("u", "mala", use_digest=True), "resumen"),
    (lambda: UsernameToken("otro", "p", use_digest=True), "resumen"),
    (lambda: UsernameToken("u", "p", use_digest=True, created=datetime.now(timezone.utc) - timedelta(seconds=90)),
     "ventana"),
    (lambda: UsernameToken("u", "p", use_digest=True, created=datetime.now(timezone.utc) + timedelta(seconds=90)),
     "ventana"),
])
def test_bad_tokens_are_refused(make_token, message: str) -> None:  # noqa: ANN001
    token = make_token()
    with pytest.raises(SoapFault, match=message):
        check(envelope(token))


def test_a_refused_token_does_not_spend_its_nonce() -> None:
    seen: set[str] = set()
    with pytest.raises(SoapFault):
        check(envelope(UsernameToken("u", "mala", use_digest=True, nonce="n1")), seen)
    assert seen == set()


def test_an_expired_timestamp_is_refused() -> None:
    from zeep.wsse import utils
    past = datetime.now(timezone.utc) - timedelta(seconds=30)
    ts = utils.WSU.Timestamp(utils.WSU.Created(past.isoformat()), utils.WSU.Expires((past + timedelta(seconds=5)).isoformat()))
    with pytest.raises(SoapFault, match="expiró"):
        check(envelope(UsernameToken("u", "p", use_digest=True, timestamp_token=ts)))


def test_the_clients_fresh_token_passes_every_time() -> None:
    from integrations.pse.ach import FreshUsernameToken
    seen: set[str] = set()
    token = FreshUsernameToken("u", "p", ttl_s=60)
    for _ in range(3):
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope")
        etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
        token.apply(env, {})
        check(env, seen)
    assert len(seen) == 3
