"""Domain errors. The HTTP layer maps each to one problem response, in one place."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    """Missing, or belongs to another tenant: the two are indistinguishable on purpose."""

    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    """The request is well formed but clashes with the current state."""

    status = 409
    title = "Conflict"


class Invalid(DomainError):
    """A field is wrong in a way only the database can tell (an unknown id, say)."""

    status = 422
    title = "Invalid request"

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", [(field, message)])
