"""MAX_REQUEST_BYTES inside the WSGI app itself, whatever server runs it: larger bodies get 413 unread."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy.orm import sessionmaker

from bot.web import TwilioRoutes, WebApp, take_body
from services.clock import ManualClock

CAP = 4096


class Unreadable(io.RawIOBase):
    """A request body that must not be read (its declared length is over the cap)."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read although its Content-Length is over the cap")


class Counting(io.BytesIO):
    """A chunked body that records how much of it was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def call(app: WebApp, environ: dict[str, Any]) -> str:
    statuses: list[str] = []
    app(environ, lambda status, headers: statuses.append(status))
    return statuses[0]


def twilio_app() -> WebApp:
    sessions: sessionmaker[Any] = sessionmaker()
    return WebApp(sessions, TwilioRoutes(sessions, ManualClock(), "token", None), max_request_bytes=CAP)


def test_a_declared_length_over_the_cap_is_refused_without_reading() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/twilio/inbound",
        "CONTENT_LENGTH": str(100 * 1024 * 1024),
        "wsgi.input": Unreadable(),
    }
    assert call(twilio_app(), environ).startswith("413")


def test_a_chunked_body_over_the_cap_is_read_only_to_the_cap() -> None:
    body = Counting(b"a" * (CAP * 50))
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/twilio/status",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": body,
    }
    assert call(twilio_app(), environ).startswith("413")
    assert body.taken == CAP + 1


def test_a_body_at_the_cap_is_kept_whole_for_the_route() -> None:
    environ: dict[str, Any] = {"CONTENT_LENGTH": str(CAP), "wsgi.input": io.BytesIO(b"b" * CAP)}
    assert take_body(environ, CAP) == b"b" * CAP
    assert environ["wsgi.input"].read() == b"b" * CAP  # put back for whoever reads it next
