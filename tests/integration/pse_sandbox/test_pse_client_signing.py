"""X.509 signing of every message (zeep.wsse.signature with xmlsec) when settings name a
key and a certificate, as a direct ACH connection requires."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lxml import etree
from zeep.exceptions import SignatureVerificationFailed
from zeep.wsse.signature import verify_envelope

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def key_and_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("x509")
    key, cert = folder / "cliente.key", folder / "cliente.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=zona-privada-pruebas"], check=True, capture_output=True, timeout=60)
    return key, cert


def test_messages_are_signed_and_the_sandbox_accepts_them(sandbox, key_and_cert) -> None:  # noqa: ANN001
    key, cert = key_and_cert
    provider = sandbox.provider(ZONA_PSE_KEY_FILE=str(key), ZONA_PSE_CERT_FILE=str(cert))
    envelope = provider.client.create_message(provider.service, "getBankList",
                                              getBankListInformation={"entityCode": provider.settings.entity_code})
    assert envelope.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    verify_envelope(envelope, str(cert))  # raises when the signature does not hold
    tampered = etree.fromstring(etree.tostring(envelope).replace(provider.settings.entity_code.encode(), b"1"))
    with pytest.raises(SignatureVerificationFailed):
        verify_envelope(tampered, str(cert))
    # Signed messages still carry the UsernameToken the sandbox checks.
    assert len(provider.banks()) > 3


def test_a_sandbox_that_requires_signatures_refuses_unsigned_and_foreign_ones(tmp_path, key_and_cert,  # noqa: ANN001
                                                                            sandbox_process) -> None:  # noqa: ANN001
    from integrations.pse import PseRejectedRequest

    key, cert = key_and_cert
    other_key, other_cert = tmp_path / "otro.key", tmp_path / "otro.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(other_key), "-out",
                    str(other_cert), "-days", "1", "-subj", "/CN=intruso"], check=True, capture_output=True, timeout=60)
    box = type(sandbox_process)(tmp_path / "logs", tmp_path / "state", {"ZONA_PSE_SANDBOX_CLIENT_CERT": str(cert)})
    box.start()
    try:
        assert len(box.provider(ZONA_PSE_KEY_FILE=str(key), ZONA_PSE_CERT_FILE=str(cert)).banks()) > 3
        with pytest.raises(PseRejectedRequest, match="firma"):
            box.provider().banks()
        with pytest.raises(PseRejectedRequest, match="firma"):
            box.provider(ZONA_PSE_KEY_FILE=str(other_key), ZONA_PSE_CERT_FILE=str(other_cert)).banks()
    finally:
        box.stop()
