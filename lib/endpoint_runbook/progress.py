"""Progress of a bounded wait: a notebook bar in Studio (``tqdm.auto``), plain lines headless."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Progress of a bounded wait: a ``tqdm.auto`` bar (a widget in Studio, text headless) when there is no
    callback or the callback asks for one (its ``bar`` attribute is true: the notebooks' ``rb.progress`` in a
    live notebook), else the caller's ``progress(msg)`` called when the message changes."""

    def __init__(self, progress: Callable[[str], Any] | None, *, total: float, desc: str, unit: str = "s"):
        self._cb = progress
        self._desc = desc
        self._last = ""
        self._bar = None
        if progress is None or getattr(progress, "bar", False):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=True,
                             bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} " + unit + " [{elapsed}]")
            self._cb = None
        else:
            self._say(desc)

    def _say(self, msg: str) -> None:
        if self._cb is not None and msg != self._last:
            self._last = msg
            self._cb(msg)

    def update(self, n: float, msg: str) -> None:
        if self._bar is not None:
            self._bar.n = min(n, self._bar.total)
            self._bar.set_description_str(f"{self._desc}: {msg}", refresh=False)
            self._bar.refresh()
        else:
            self._say(msg)

    def close(self, msg: str | None = None) -> None:
        if self._bar is not None:
            if msg:
                self._bar.set_description_str(f"{self._desc}: {msg}", refresh=False)
            self._bar.close()
        elif msg:
            self._say(msg)
