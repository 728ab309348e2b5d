"""The HTTP surface as one WSGI app: /slack/events, /twilio/status, /twilio/inbound, /healthz, and in OAuth
mode /slack/install and /slack/oauth_redirect."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from services.clock import Clock
from services.delivery.callbacks import apply_status_callback
from services.sms import validate_signature

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_BODY = 1024 * 1024
SLACK_PATHS = frozenset({"/slack/events"})
#: Bolt's OAuth flow (bot.oauth.INSTALL_PATH, REDIRECT_PATH).
OAUTH_PATHS = frozenset({"/slack/install", "/slack/oauth_redirect"})
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@dataclass(frozen=True)
class Reply:
    """An HTTP answer."""

    status: str
    body: str
    content_type: str = "text/plain; charset=utf-8"


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(min(length, MAX_BODY)) if length > 0 else b""


def public_url(environ: dict[str, Any], base_url: str | None) -> str:
    """The URL Twilio called: PUBLIC_BASE_URL + path + query (else rebuilt from the Host header)."""
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    if base_url:
        root = base_url.rstrip("/")
    else:
        scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http")
        root = f"{scheme}://{environ.get('HTTP_HOST') or environ.get('SERVER_NAME', 'localhost')}"
    return f"{root}{path}" + (f"?{query}" if query else "")


class TwilioRoutes:
    """Twilio's webhooks: every request's X-Twilio-Signature is checked before anything else."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        auth_token: str | None,
        public_base_url: str | None,
        inbound: Callable[[dict[str, str]], str] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.auth_token = auth_token
        self.public_base_url = public_base_url
        self.inbound_handler = inbound

    def _verified(self, environ: dict[str, Any]) -> dict[str, str] | None:
        body = _read_body(environ).decode("utf-8", errors="replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        url = public_url(environ, self.public_base_url)
        signature = environ.get("HTTP_X_TWILIO_SIGNATURE")
        if not self.auth_token or not validate_signature(self.auth_token, url, form, signature):
            log.warning("refused a Twilio webhook with a missing or wrong signature for %s", url)
            return None
        return form

    def status(self, environ: dict[str, Any]) -> Reply:
        """A message status callback; the query names the delivery (d) or conversation text (m)."""
        form = self._verified(environ)
        if form is None:
            return Reply("403 Forbidden", "invalid Twilio signature")
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        params = {**form, **{k: v for k, v in query.items() if k in ("d", "m", "a")}}
        apply_status_callback(self.sessions, params, self.clock.now())
        return Reply("204 No Content", "")

    def inbound(self, environ: dict[str, Any]) -> Reply:
        """An incoming text from a client; answered with TwiML (possibly empty)."""
        form = self._verified(environ)
        if form is None:
            return Reply("403 Forbidden", "invalid Twilio signature")
        if self.inbound_handler is None:
            return Reply("200 OK", EMPTY_TWIML, "text/xml; charset=utf-8")
        return Reply("200 OK", self.inbound_handler(form), "text/xml; charset=utf-8")


class WebApp:
    """Routes requests to Bolt's WSGI handler, the Twilio webhooks and the health check."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        twilio: TwilioRoutes | None,
        slack: WSGIApp | None = None,
        *,
        oauth: bool = False,
    ) -> None:
        self.sessions = sessions
        self.twilio = twilio
        self.slack = slack
        #: OAuth mode: Bolt also answers Add to Slack and Slack's redirect back (GET).
        self.slack_paths = SLACK_PATHS | (OAUTH_PATHS if oauth else frozenset())

    def health(self) -> Reply:
        """200 when the database answers, 503 otherwise."""
        try:
            with self.sessions() as session:
                session.execute(text("SELECT 1"))
        except Exception as error:
            return Reply(
                "503 Service Unavailable",
                json.dumps({"ok": False, "database": str(error)}),
                "application/json",
            )
        return Reply("200 OK", json.dumps({"ok": True, "database": "ok"}), "application/json")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path in self.slack_paths and self.slack is not None:
            return self.slack(environ, start_response)
        reply: Reply
        if path == "/healthz" and method in ("GET", "HEAD"):
            reply = self.health()
        elif path in ("/twilio/status", "/twilio/inbound") and self.twilio is not None:
            if method != "POST":
                reply = Reply("405 Method Not Allowed", "POST only")
            else:
                try:
                    reply = (
                        self.twilio.status(environ)
                        if path == "/twilio/status"
                        else self.twilio.inbound(environ)
                    )
                except Exception:
                    log.exception("handling %s", path)
                    reply = Reply("500 Internal Server Error", "error")
        else:
            reply = Reply("404 Not Found", "not found")
        body = reply.body.encode("utf-8")
        start_response(
            reply.status, [("Content-Type", reply.content_type), ("Content-Length", str(len(body)))]
        )
        return [body]


class HttpServer:
    """waitress running on a background thread; `close()` stops it from its own loop thread."""

    def __init__(self, app: WSGIApp, host: str, port: int, threads: int) -> None:
        import threading

        from waitress.server import create_server

        self.server: Any = create_server(
            app, host=host, port=port, threads=threads, clear_untrusted_proxy_headers=False
        )
        self.task_dispatcher = self.server.task_dispatcher
        self.thread = threading.Thread(target=self._run, name="http", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # the listening socket closed under select() during shutdown
            self.server.run()

    @property
    def effective_host(self) -> str:
        return str(self.server.effective_host)

    @property
    def effective_port(self) -> int:
        return int(self.server.effective_port)

    def close(self) -> None:
        """Finish the requests being answered, close every socket in the loop's own thread, join it."""
        from waitress import wasyncore

        if not self.thread.is_alive():
            return
        self.task_dispatcher.shutdown(timeout=5)
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self.thread.join(timeout=5)


def serve_in_thread(app: WSGIApp, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> HttpServer:
    """Start waitress on a background thread (``.effective_port``, ``.close()``)."""
    return HttpServer(app, host, port, threads)
