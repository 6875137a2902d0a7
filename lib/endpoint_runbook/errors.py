"""Errors a user can fix. Each message says what is wrong and what to do; tracebacks are for bugs."""

from __future__ import annotations

__all__ = ["RunbookError", "InputError", "NotFoundError", "CheckFailed"]


class RunbookError(Exception):
    """Base class: an expected failure with a message that tells the user what to do.

    ``code`` is stable (kebab-case) so callers and tests match on it, never on the wording.
    """

    code = "runbook-error"

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None):
        super().__init__(message)
        if code:
            self.code = code
        self.hint = hint

    def __str__(self) -> str:
        msg = super().__str__()
        return f"{msg} {self.hint}" if self.hint else msg


class InputError(RunbookError):
    """Bad input (parameters, paths, archives): nothing was changed."""

    code = "bad-input"


class NotFoundError(RunbookError):
    """A named AWS resource or object does not exist."""

    code = "not-found"


class CheckFailed(RunbookError):
    """A check (load check, smoke invocation, verification) did not pass."""

    code = "check-failed"
