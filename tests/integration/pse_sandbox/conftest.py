"""Fixtures for the sandbox tests; the Sandbox helper lives in tests.support.pse."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.pse.ach import AchPseProvider
from tests.support.pse import CLIENT_ENV, SANDBOX_ENV, Sandbox  # noqa: F401  (re-exported)


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("pse")
    box = Sandbox(root / "logs", root / "state")
    box.start()
    yield box
    box.stop()


@pytest.fixture()
def sandbox(sandbox_process: Sandbox) -> Sandbox:
    if sandbox_process.proc is None or not sandbox_process.proc.alive():
        sandbox_process.start()
    sandbox_process.control("reset", {})
    return sandbox_process


@pytest.fixture()
def provider(sandbox: Sandbox) -> AchPseProvider:
    return sandbox.provider()
