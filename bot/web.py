"""The HTTP surface as one WSGI app: /slack/events, /twilio/status, /twilio/inbound, /healthz, /readyz,
/metrics."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services import metrics
from services.clock import Clock, SystemClock
from services.delivery.callbacks import apply_status_callback
from services.logs import DependencyState
from services.schema import head_revision, revision_of, short_reason
from services.sms import validate_signature

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_BODY = 1024 * 1024
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


#: The dispatcher's heartbeat runs every 2 s (services/scheduler.py); older than this, it is stuck.
HEARTBEAT_STALE = timedelta(seconds=30)


def _json(status: str, body: dict[str, Any]) -> Reply:
    return Reply(status, json.dumps(body), "application/json")


class OpsRoutes:
    """/healthz (liveness), /readyz (readiness) and /metrics; no answer names a host, driver or error.

    `heartbeat` returns when this process's dispatcher last beat (None: not yet); pass it only when this
    process dispatches. Why the database is unready goes to the log, once per change of state.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        heartbeat: Callable[[], datetime | None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.heartbeat = heartbeat
        self.head = head_revision()
        self.database = DependencyState("the database", log)
        self.schema = DependencyState("the database schema", log)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(metrics.DatabaseCollector(sessions, clock))

    def healthz(self) -> Reply:
        """200 while the process answers requests (liveness: nothing else is asked)."""
        return _json("200 OK", {"ok": True})

    def readyz(self) -> Reply:
        """200 when the database answers at the newest schema and this process's dispatcher (if any)
        beat within HEARTBEAT_STALE; 503 naming only which check failed."""
        checks: dict[str, str] = {}
        try:
            with self.sessions() as session:
                current = revision_of(session.connection())
            self.database.ok()
            checks["database"] = "ok"
            checks["schema"] = "ok" if current == self.head else "not at head"
            if current == self.head:
                self.schema.ok()
            else:
                self.schema.failed(
                    f"at {current}, this version needs {self.head}: run `mass-alert db upgrade`"
                )
        except SQLAlchemyError as error:
            self.database.failed(short_reason(error))
            checks["database"] = "unavailable"
        if self.heartbeat is not None:
            beat = self.heartbeat()
            fresh = beat is not None and self.clock.now() - beat <= HEARTBEAT_STALE
            checks["dispatcher"] = "ok" if fresh else "no recent heartbeat"
        ready = all(value == "ok" for value in checks.values())
        return _json("200 OK" if ready else "503 Service Unavailable", {"ok": ready, **checks})

    def metrics(self) -> Reply:
        """Prometheus text exposition; 503 (and a log line) when the database cannot be read."""
        try:
            body = metrics.render(self.registry)
        except SQLAlchemyError as error:
            self.database.failed(short_reason(error))
            return Reply("503 Service Unavailable", "metrics unavailable")
        return Reply("200 OK", body.decode("utf-8"), metrics.CONTENT_TYPE)

    def route(self, path: str, method: str) -> Reply | None:
        """The answer for an ops path (None: not one of them)."""
        handlers = {"/healthz": self.healthz, "/readyz": self.readyz, "/metrics": self.metrics}
        if path not in handlers:
            return None
        if method not in ("GET", "HEAD"):
            return Reply("405 Method Not Allowed", "GET only")
        return handlers[path]()


def timed(route: str, app: WSGIApp) -> WSGIApp:
    """`app` observed in mass_alert_webhook_seconds{route} (until its answer body is produced)."""

    def run(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        try:
            return app(environ, start_response)
        finally:
            metrics.WEBHOOK_SECONDS.labels(route=route).observe(time.perf_counter() - started)

    return run


class WebApp:
    """Routes requests to Bolt's WSGI handler, the Twilio webhooks and the ops routes."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        twilio: TwilioRoutes | None,
        slack: WSGIApp | None = None,
        ops: OpsRoutes | None = None,
    ) -> None:
        self.sessions = sessions
        self.twilio = twilio
        self.slack = timed("/slack/events", slack) if slack is not None else None
        self.ops = ops or OpsRoutes(sessions, twilio.clock if twilio is not None else SystemClock())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/slack/events" and self.slack is not None:
            return self.slack(environ, start_response)
        if path in ("/twilio/status", "/twilio/inbound"):
            return timed(path, self._answer)(environ, start_response)
        return self._answer(environ, start_response)

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        reply = self.ops.route(path, method)
        if reply is not None:
            return self._send(reply, start_response)
        if path in ("/twilio/status", "/twilio/inbound") and self.twilio is not None:
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
        return self._send(reply, start_response)

    @staticmethod
    def _send(reply: Reply, start_response: Callable[..., Any]) -> Iterable[bytes]:
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
