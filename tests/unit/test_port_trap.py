"""The suite's guard against tests that use a default port (tests.support.ports)."""
from __future__ import annotations

import os
import socket
import time

from tests.support.ports import PORT_SETTINGS, PortTrap, trap


def test_every_port_setting_points_at_the_trap_in_this_process() -> None:
    ports = trap().ports
    assert set(ports) == set(PORT_SETTINGS)
    for name in PORT_SETTINGS:
        assert os.environ[name] == str(ports[name]), name
    from zona_privada.settings import load_settings

    settings = load_settings(dict(os.environ))
    assert settings.smtp_port == ports["ZONA_SMTP_PORT"] and settings.web_port == ports["ZONA_WEB_PORT"]
    assert settings.sms_gateway_url == ""


def test_a_connection_to_a_trapped_port_is_recorded() -> None:
    own = PortTrap().start()  # not the session's: its hits must stay the suite's own
    with socket.create_connection(("127.0.0.1", own.ports["ZONA_SMTP_PORT"]), timeout=2):
        pass
    deadline = time.monotonic() + 2
    while not own.hits and time.monotonic() < deadline:
        time.sleep(0.01)
    assert own.take_hits() == [f"ZONA_SMTP_PORT (trap port {own.ports['ZONA_SMTP_PORT']})"]
    assert own.take_hits() == []
