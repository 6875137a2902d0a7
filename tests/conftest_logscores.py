"""pytest plugin: prints the log corpus scores (seen, the first held-out score, the current held-out score) at the
end of a session that ran tests/test_logs_corpus.py. Loaded from tests/conftest.py."""

from __future__ import annotations

from typing import Any

import logscores
import pytest


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = logscores.summary()
    if not lines:
        return
    terminalreporter.section("log corpus scores (issue 23)")
    for line in lines:
        terminalreporter.write_line(line)
