"""The HTTP surface as one WSGI app: /slack/events, /twilio/status, /twilio/inbound, /healthz, /readyz,
/metrics, and in OAuth mode /slack/install and /slack/oauth_redirect."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from commands.envelope import check_shape
from commands.errors import MalformedRequest
from services import metrics
from services.clock import Clock, SystemClock
from services.delivery.callbacks import apply_status_callback
from services.logs import DependencyState
from services.schema import head_revision, revision_of, short_reason
from services.sms import validate_signature

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: MAX_REQUEST_BYTES's default: 1 MiB, far above any request Slack or Twilio sends.
MAX_REQUEST_BYTES = 1024 * 1024
#: X-Slack-Request-Timestamp is Unix time in whole seconds.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
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
    """The body `take_body` left in `environ` (at most the cap)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


def take_body(environ: dict[str, Any], max_bytes: int) -> bytes | None:
    """Read the request body, never more than `max_bytes` + 1 bytes; None when it is larger.

    A declared Content-Length over the cap is refused before a byte of the body is read; a body without
    one (chunked) is read up to the cap and refused past it. The body read is put back into `environ`.
    """
    try:
        declared = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        declared = -1
    if declared > max_bytes:
        return None
    chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    if declared < 0 and not chunked:
        body = b""
    else:
        body = environ["wsgi.input"].read(max_bytes + 1 if declared < 0 else declared)
    if len(body) > max_bytes:
        return None
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _answer(start_response: Callable[..., Any], reply: Reply) -> list[bytes]:
    body = reply.body.encode("utf-8")
    start_response(reply.status, [("Content-Type", reply.content_type), ("Content-Length", str(len(body)))])
    return [body]


def parse_slack_body(text: str, content_type: str | None) -> dict[str, Any]:
    """The body as Bolt reads it (JSON; a form, whose `payload` field is JSON); ValueError when it is
    not an object in one of these forms."""
    if not text:
        return {}
    if (content_type or "").startswith("application/json") or text.startswith("{"):
        parsed: Any = json.loads(text)
    else:
        form = dict(parse_qsl(text, keep_blank_values=True))
        parsed = json.loads(form["payload"]) if "payload" in form else form
    if not isinstance(parsed, dict):
        raise ValueError("the body is not a JSON object or a form")
    return parsed


class SlackRoute:
    """/slack/events: size, signature and syntax checked before Bolt sees anything.

    In that order: a body over `max_bytes` is 413 (before it is read whole); a missing, stale or wrong
    X-Slack-Signature or a non-integer X-Slack-Request-Timestamp is 401; a body that is not UTF-8 JSON or
    a form (with JSON in `payload`), or lacks a field Slack always sends (`commands.envelope.check_shape`),
    is 400. Only then does Bolt dispatch it, so nothing unverified reaches
    a listener or the error handler. Signing: https://docs.slack.dev/authentication/verifying-requests-from-slack
    (v0 HMAC-SHA256, requests older than 5 minutes refused).
    """

    def __init__(self, app: App, signing_secret: str, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.verifier = SignatureVerifier(signing_secret)
        self.has_secret = bool(signing_secret)
        self.max_bytes = max_bytes
        self.oauth_pages = SlackRequestHandler(app)

    def _refusal(self, environ: dict[str, Any]) -> tuple[Reply | None, str]:
        """(A refusal, or None and the verified body text)."""
        if environ.get("REQUEST_METHOD", "GET") != "POST":
            return Reply("405 Method Not Allowed", "POST only"), ""
        body = take_body(environ, self.max_bytes)
        if body is None:
            return Reply("413 Content Too Large", f"the body is over {self.max_bytes} bytes"), ""
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Reply("400 Bad Request", "the body is not UTF-8"), ""
        if not (
            self.has_secret
            and _TIMESTAMP.fullmatch(timestamp)
            and self.verifier.is_valid(text, timestamp, signature)
        ):
            log.warning("refused a Slack request with a missing, stale or wrong signature")
            return Reply("401 Unauthorized", "invalid request"), ""
        try:
            check_shape(parse_slack_body(text, environ.get("CONTENT_TYPE")))
        except (ValueError, KeyError, MalformedRequest) as error:
            log.warning("refused a signed Slack request that does not parse: %s", error)
            return Reply("400 Bad Request", "malformed request"), ""
        return None, text

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and self.app.oauth_flow is not None:
            # OAuth mode: Add to Slack and Slack's redirect back are browser GETs, unsigned by design;
            # Bolt's OAuth flow checks them itself (the HMAC-signed state, then oauth.v2.access).
            return self.oauth_pages(environ, start_response)
        refusal, text = self._refusal(environ)
        if refusal is not None:
            return _answer(start_response, refusal)
        request = WsgiHttpRequest(environ)
        answer = self.app.dispatch(
            BoltRequest(body=text, query=request.query_string, headers=request.get_headers())
        )
        response = WsgiHttpResponse(status=answer.status, headers=answer.headers, body=answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()


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
    """Routes requests to Bolt (through SlackRoute), the Twilio webhooks and the ops routes."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        twilio: TwilioRoutes | None,
        slack: WSGIApp | None = None,
        ops: OpsRoutes | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        *,
        oauth: bool = False,
    ) -> None:
        self.sessions = sessions
        self.twilio = twilio
        self.slack = timed("/slack/events", slack) if slack is not None else None
        self.ops = ops or OpsRoutes(sessions, twilio.clock if twilio is not None else SystemClock())
        self.max_request_bytes = max_request_bytes
        #: OAuth mode: Bolt also answers Add to Slack and Slack's redirect back (GET).
        self.slack_paths = SLACK_PATHS | (OAUTH_PATHS if oauth else frozenset())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in self.slack_paths and self.slack is not None:
            return self.slack(environ, start_response)
        if path in ("/twilio/status", "/twilio/inbound"):
            return timed(path, self._answer)(environ, start_response)
        return self._answer(environ, start_response)

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        reply = self.ops.route(path, method)
        if reply is not None:
            return _answer(start_response, reply)
        if path in ("/twilio/status", "/twilio/inbound") and self.twilio is not None:
            if method != "POST":
                reply = Reply("405 Method Not Allowed", "POST only")
            elif take_body(environ, self.max_request_bytes) is None:
                reply = Reply("413 Content Too Large", f"the body is over {self.max_request_bytes} bytes")
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
        return _answer(start_response, reply)


class HttpServer:
    """waitress running on a background thread; `close()` stops it from its own loop thread."""

    def __init__(self, app: WSGIApp, host: str, port: int, threads: int, max_request_bytes: int) -> None:
        import threading

        from waitress.server import create_server

        # waitress answers 413 itself for a body over the cap (declared or chunked) before buffering it.
        self.server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            clear_untrusted_proxy_headers=False,
            max_request_body_size=max_request_bytes,
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
        try:
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        except OSError:  # the loop ended meanwhile (a socket error under select) and closed its trigger
            self.thread.join(timeout=5)
            wasyncore.close_all(self.server._map)
            return
        self.thread.join(timeout=5)


def serve_in_thread(
    app: WSGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    threads: int = 8,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> HttpServer:
    """Start waitress on a background thread (``.effective_port``, ``.close()``)."""
    return HttpServer(app, host, port, threads, max_request_bytes)
