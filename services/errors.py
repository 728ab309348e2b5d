"""Domain errors: each carries a message a clinic admin can act on."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal or failure the user should read; `str(error)` is the plain message."""


class NotFound(DomainError):
    """A named clinic, user or alert does not exist."""


class InvalidInput(DomainError):
    """A value given by the user breaks a rule; `field` names the input when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
