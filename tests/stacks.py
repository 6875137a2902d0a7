"""Local stacks for tests: on a free loopback port, in a state dir of their own, seeded when asked, always
taken down (with every model container they started)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

__all__ = ["running_stack"]


@contextlib.contextmanager
def running_stack(tmp_path_factory: Any, name: str, *, startup_timeout: float,
                  scenario: str | None = None, s3_bandwidth: float | None = None, **stack_options: Any) -> Iterator[Any]:
    """A started stack's StackInfo for the block; ``scenario`` (e.g. ``stygig-incident``) is seeded first;
    ``s3_bandwidth``: the link limit (bytes/s per connection) for S3 bodies; ``stack_options``: ``stack.up``'s
    others (``invocation_timeout``, ``serverless_idle``)."""
    from endpoint_runbook.local import scenarios, stack

    state_dir = tmp_path_factory.mktemp(name)
    info = stack.up(port=0, state_dir=state_dir, startup_timeout=startup_timeout, s3_bandwidth=s3_bandwidth,
                    **stack_options)
    try:
        if scenario:
            scenarios.seed(scenario, info.url)
        yield info
    finally:
        stack.down(state_dir)
