"""The model data's download and extraction onto an instance, timed as SageMaker times it.

``ModelDataDownloadTimeoutInSeconds`` (ProductionVariant, 60–3600; the API reference: the time to download *and
extract* the model from S3 onto the instance) bounds both; past it the instance never starts its container and the
endpoint fails (an update: stays on its previous config). :class:`DownloadClock` is the boto3 transfer ``Callback``
of the download (and the reader of the extraction), so the bytes really flow while it counts:

- paced to the stack's in-region bandwidth (``rate`` bytes/s; None: as fast as loopback goes). The stack's S3 link
  limit (``s3_bandwidth``) stands for the user's link and leaves the stack's own traffic alone; this one stands for
  SageMaker's link from S3 to the instance. The pacing sleeps in the transfer's reading thread, so the socket is
  read no faster than ``rate`` (TCP holds the rest back);
- bounded by the deadline: the chunk that would arrive after it is not waited for; :class:`DownloadTimedOut` is
  raised, the transfer aborts and the partial file is removed by the caller.

SageMaker's own FailureReason for this case was not found in public issues or pages; :data:`TIMEOUT_REASON` words it
plainly.
"""

from __future__ import annotations

import threading
import time
from typing import Any, BinaryIO

__all__ = ["DownloadClock", "DownloadTimedOut", "TIMEOUT_REASON"]

TIMEOUT_REASON = ("The model data for production variant {variant} was not downloaded and extracted within "
                  "ModelDataDownloadTimeoutInSeconds ({timeout:g} s): {done} of {total} bytes of {url} had arrived. "
                  "Increase ModelDataDownloadTimeoutInSeconds (at most 3600) or make the model data smaller.")


class DownloadTimedOut(Exception):
    """The deadline passed during the download or the extraction."""


class DownloadClock:
    """Counts, paces (``rate``) and times (``timeout`` s from now) one model's download and extraction."""

    def __init__(self, timeout: float | None, rate: float | None):
        if rate is not None and rate <= 0:
            raise ValueError("the model download bandwidth must be positive (bytes/s)")
        self.timeout, self.rate = timeout, rate
        self.t0 = time.monotonic()
        self.deadline = self.t0 + timeout if timeout else None
        self.received = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.deadline is not None or self.rate is not None

    def __call__(self, n: int) -> None:
        """boto3's transfer ``Callback``: ``n`` more bytes arrived."""
        with self._lock:  # the transfer's threads share one link
            self.received += n
            due = self.t0 + self.received / self.rate if self.rate else time.monotonic()
            now = time.monotonic()
            if self.deadline is not None and due > self.deadline:
                time.sleep(max(0.0, self.deadline - now))  # these bytes would arrive after the deadline
                raise DownloadTimedOut()
            if due > now:
                time.sleep(due - now)
        self.check()

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DownloadTimedOut()

    def reader(self, f: BinaryIO) -> Any:
        """``f`` read with the deadline checked at every read (the extraction counts too)."""
        return _TimedReader(f, self)


class _TimedReader:
    def __init__(self, f: BinaryIO, clock: DownloadClock):
        self.f, self.clock = f, clock

    def read(self, n: int = -1) -> bytes:
        self.clock.check()
        return self.f.read(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)
