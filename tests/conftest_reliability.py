"""pytest plugin: writes the reliability report at the end of the session and fails the session when objects
were lost or something was wrongly deleted. Loaded from tests/conftest.py with
``pytest_plugins = ["conftest_reliability"]``. Sessions that recorded no case write nothing."""

from __future__ import annotations

from typing import Any

import pytest
import reliability

_STATE: dict[str, Any] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not reliability.cases():
        return
    path = reliability.report_path(session.config.rootpath)
    data = reliability.write_report(path)
    _STATE.update(path=path, data=data)
    if data["problems"] and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    data = _STATE.get("data")
    if not data:
        return
    tr = terminalreporter
    tr.section("reliability report")
    for line in reliability.format_table(data):
        tr.write_line(line)
    tr.write_line(f"written to {_STATE['path']}")
    for p in data["problems"]:
        tr.write_line(f"RELIABILITY FAILURE: {p}", red=True, bold=True)
