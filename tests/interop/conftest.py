"""Fixtures shared by the interop tests: a real gateway process per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.interop.harness import GatewayProcess

GatewayFactory = Callable[..., GatewayProcess]


@pytest.fixture
def make_gateway(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[GatewayFactory]:
    """Start a gateway whose config text ``edit`` may change; stop it after.

    The gateway must stop cleanly (exit 0); when the test failed, its log and
    the pjsua2 peers' logs are kept under test-logs/.
    """
    started: list[GatewayProcess] = []

    def make(
        *, extra_config: str = "", edit: Callable[[str], str] | None = None
    ) -> GatewayProcess:
        process = GatewayProcess(tmp_path / "gw", extra_config=extra_config)
        if edit is not None:
            text = process.config_path.read_text(encoding="utf-8")
            process.config_path.write_text(edit(text), encoding="utf-8")
        started.append(process)
        process.start()
        return process

    yield make
    for process in started:
        code = process.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            target = process.keep_logs(request.node.name)
            for log in process.dir.glob("pjsua-*.log"):
                (target / log.name).write_bytes(log.read_bytes())
        assert code == 0


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> GatewayProcess:
    """A gateway on the defaults of `vcgw init` (sites, echo test number)."""
    return make_gateway()
