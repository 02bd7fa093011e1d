"""The one domain error: every service raises :class:`DomainError` (or a subclass) naming the field at fault,
and the API turns it into a 4xx JSON answer in one handler (``pertinent.api.errors``).

``errors`` is a list of ``{"field", "message"}``; ``status`` is the HTTP status it maps to and ``code`` the
machine-readable code clients read.

>>> str(NotFound.of("slot", "slot", "home"))
"slot: unknown slot 'home'"
>>> e = DomainError([{"field": "k", "message": "must be > 0"}]); (e.status, e.code, e.message)
(400, 'invalid_request', 'k: must be > 0')
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the domain refuses; subclasses set ``status`` and ``code``."""

    status = 400
    code = "invalid_request"

    def __init__(
        self,
        errors: list[dict[str, Any]] | None = None,
        message: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.errors = errors or [{"field": "body", "message": message or "invalid"}]
        first = self.errors[0]
        self.message = message or f"{first['field']}: {first['message']}"
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = headers
        super().__init__(self.message)

    @classmethod
    def field(cls, field: str, message: str) -> DomainError:
        """One error on one field."""
        return cls([{"field": field, "message": message}])


class InvalidInput(DomainError):
    """A body, query or configuration that does not validate (400)."""


class NotFound(DomainError):
    """An unknown slot, block, segment, item or user (404)."""

    status = 404
    code = "not_found"

    @classmethod
    def of(cls, field: str, what: str, name: str) -> NotFound:
        return cls([{"field": field, "message": f"unknown {what} '{name[:200]}'"}])


class Conflict(DomainError):
    """A change that would break something else, e.g. deleting a block a slot shows (409)."""

    status = 409
    code = "conflict"
