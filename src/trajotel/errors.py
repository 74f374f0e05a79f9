"""One exception hierarchy. Every user-facing error says what happened, where, and what to do next."""

from __future__ import annotations


class TrajotelError(Exception):
    """Base class. ``hint`` is the one-line 'what to do next' the CLI prints under the message."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ConfigError(TrajotelError):
    """A configuration value is missing, malformed or contradictory."""


class StoreError(TrajotelError):
    """The ClickHouse store could not be opened, migrated, written or read."""


class StoreLockedError(StoreError):
    """The embedded store directory is held by another process (chdb allows one process per path)."""


class InvalidInputError(TrajotelError):
    """Input (an OTLP request, a query, a file) was malformed; nothing already accepted is affected."""


class BackpressureError(TrajotelError):
    """The collector is full; the sender should retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, retry_after_s: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class NotFoundError(TrajotelError):
    """A requested object (trajectory, endpoint) does not exist."""
