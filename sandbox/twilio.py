"""A loopback Twilio: the Messages API subset the app uses, test numbers, and signed status callbacks."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import heapq
import itertools
import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.signing import SIGNATURE_HEADER, twilio_signature
from services.clock import Clock

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"

#: Twilio's test numbers: a message to one of these fails at create with this code.
MAGIC_TO: dict[str, int] = {
    "+15005550001": 21211,
    "+15005550002": 21612,
    "+15005550003": 21408,
    "+15005550004": 21610,
    "+15005550009": 21614,
}
#: Twilio's test From numbers that fail at create.
MAGIC_FROM: dict[str, int] = {"+15005550001": 21212, "+15005550007": 21606, "+15005550008": 21611}

ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21212: "The 'From' number is not a valid phone number, shortcode, or alphanumeric sender ID.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21611: "This 'From' number has exceeded the maximum number of queued messages",
    21612: "The 'To' phone number is not currently reachable via SMS.",
    21614: "The 'To' number is not a valid mobile number.",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
_FINAL = frozenset({"delivered", "undelivered", "failed", "received"})


def _rfc2822(instant: datetime | None) -> str | None:
    """Twilio's date format, e.g. 'Tue, 01 Dec 2026 15:00:00 +0000'."""
    return format_datetime(instant.astimezone(UTC)) if instant is not None else None


def _segments(body: str) -> int:
    """A close estimate of the SMS segment count (GSM-7 for ASCII, else UCS-2)."""
    single, multi = (160, 153) if all(ord(c) < 128 for c in body) else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


@dataclass
class SandboxMessage:
    """A message the sandbox holds, with every status it went through and when."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    direction: str
    date_created: datetime
    date_updated: datetime
    status_callback: str | None = None
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    history: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def to_json(self) -> dict[str, Any]:
        """The message in Twilio's JSON shape."""
        base = self.uri[: -len(".json")]
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(_segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
            "to": self.to,
            "uri": self.uri,
        }


@dataclass(frozen=True)
class RequestRecord:
    """One API request the sandbox answered."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    status: int
    at: datetime


@dataclass(frozen=True)
class CallbackRecord:
    """One webhook the sandbox posted: status callback or inbound message."""

    url: str
    params: dict[str, str]
    signature: str
    status: int | None
    error: str | None
    at: datetime


@dataclass(order=True)
class _Step:
    due: float
    seq: int
    sid: str = field(compare=False)
    index: int = field(compare=False)


class SandboxTwilio:
    """A Twilio stand-in on 127.0.0.1; use as a context manager or call start() and stop()."""

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        failure_ratio: float = 0.0,
        failures_create_message: bool = False,
        seed: int = 0,
        carrier_outcomes: dict[str, tuple[str, int | None]] | None = None,
        callback_delay: float = 0.0,
        send_callbacks: bool = True,
        duplicate_callbacks: bool = False,
        shuffle_callbacks: bool = False,
        retry_after: float = 1.0,
        from_numbers: Iterable[str] | None = None,
        clock: Clock | None = None,
        callback_workers: int = 8,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.latency = latency
        self.failure_ratio = failure_ratio
        self.failures_create_message = failures_create_message
        self.carrier_outcomes: dict[str, tuple[str, int | None]] = dict(carrier_outcomes or {})
        self.callback_delay = callback_delay
        self.send_callbacks = send_callbacks
        self.duplicate_callbacks = duplicate_callbacks
        self.shuffle_callbacks = shuffle_callbacks
        self.retry_after = retry_after
        self.from_numbers = set(from_numbers) if from_numbers is not None else None
        self._clock = clock
        self._host, self._port = host, port
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._messages: dict[str, SandboxMessage] = {}
        self._order: list[str] = []
        self._requests: list[RequestRecord] = []
        self._callbacks: list[CallbackRecord] = []
        self._pending_callbacks: dict[str, list[dict[str, str]]] = {}
        self._rate_limited = 0
        self._drops = 0
        self._busy = 0
        self._steps: list[_Step] = []
        self._seq = itertools.count()
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._posters: ThreadPoolExecutor | None = None
        self._callback_workers = callback_workers

    # ----- lifecycle of the server -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (use as TWILIO_API_URL)."""
        if self._server is None:
            raise RuntimeError("SandboxTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxTwilio:
        """Listen and start the status-callback worker."""
        if self._server is not None:
            return self
        self._stopping = False
        self._server = ThreadingHTTPServer((self._host, self._port), _handler_for(self))
        self._server.daemon_threads = True
        self._posters = ThreadPoolExecutor(self._callback_workers, thread_name_prefix="sandbox-twilio-cb")
        server = self._server
        for name, target in (
            ("sandbox-twilio-http", lambda: server.serve_forever(poll_interval=0.02)),
            ("sandbox-twilio-steps", self._run_steps),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and drop pending lifecycle steps."""
        if self._server is None:
            return
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._posters is not None:
            self._posters.shutdown(wait=True, cancel_futures=True)
        self._threads, self._server, self._posters = [], None, None

    def __enter__(self) -> SandboxTwilio:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----- test controls and records -----------------------------------------------------------

    def rate_limit_burst(self, n: int) -> None:
        """Answer the next `n` creates with HTTP 429, code 20429 and a Retry-After header."""
        with self._lock:
            self._rate_limited += n

    def drop_response_for(self, n: int) -> None:
        """Create the next `n` messages but close the connection without answering (a lost response)."""
        with self._lock:
            self._drops += n

    def set_outcome(self, to: str, status: str, error_code: int | None = None) -> None:
        """Make messages to `to` end as `status` (delivered, undelivered, failed) with `error_code`."""
        with self._lock:
            self.carrier_outcomes[to] = (status, error_code)

    @property
    def messages(self) -> list[SandboxMessage]:
        """Copies of every message (outbound and inbound), in creation order."""
        with self._lock:
            return [_copy(self._messages[sid]) for sid in self._order]

    def message(self, sid: str) -> SandboxMessage:
        """A copy of one message."""
        with self._lock:
            return _copy(self._messages[sid])

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request answered, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def callbacks(self) -> list[CallbackRecord]:
        """Every webhook posted (status callbacks and inbound messages), in order."""
        with self._lock:
            return list(self._callbacks)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every lifecycle step and callback is done; False when `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._steps or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def simulate_inbound(
        self, url: str, *, from_: str, to: str, body: str, message_sid: str | None = None
    ) -> int:
        """Post a signed inbound-SMS webhook to `url` as Twilio does; return the HTTP status."""
        sid = message_sid or _new_sid("SM")
        now = self._now()
        with self._lock:
            if sid not in self._messages:
                self._messages[sid] = SandboxMessage(
                    sid=sid,
                    account_sid=self.account_sid,
                    to=to,
                    from_=from_,
                    messaging_service_sid=None,
                    body=body,
                    status="received",
                    direction="inbound",
                    date_created=now,
                    date_updated=now,
                    date_sent=now,
                    history=[("received", now)],
                )
                self._order.append(sid)
        params = {
            "ToCountry": "US",
            "ToState": "",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": body,
            "FromCountry": "US",
            "To": to,
            "ToZip": "",
            "NumSegments": str(_segments(body)),
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        return self._post(url, params).status or 0

    # ----- the API -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    def _record(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str], status: int
    ) -> None:
        with self._lock:
            self._requests.append(RequestRecord(method, path, query, form, status, self._now()))

    def _error(self, status: int, code: int | None, message: str | None = None) -> tuple[int, dict[str, Any]]:
        text = message or ERROR_MESSAGES.get(code or 0, "Error")
        body: dict[str, Any] = {"message": text, "status": status}
        if code is not None:
            body["code"] = code
            body["more_info"] = f"https://www.twilio.com/docs/errors/{code}"
        return status, body

    def _create(self, form: dict[str, str]) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """Decide a create's answer; returns (status, body or None to drop the connection, headers)."""
        to = form.get("To", "").strip()
        from_ = form.get("From", "").strip() or None
        service = form.get("MessagingServiceSid", "").strip() or None
        body = form.get("Body", "")
        headers: dict[str, str] = {}
        with self._lock:
            if self._rate_limited > 0:
                self._rate_limited -= 1
                headers["Retry-After"] = f"{self.retry_after:g}"
                return (*self._error(429, 20429), headers)
            code = self._validate(to, from_, service, body)
            if code is not None:
                return (*self._error(400, code), headers)
            failing = self.failure_ratio > 0 and self._rng.random() < self.failure_ratio
            if failing and not self.failures_create_message:
                return (*self._error(500, None, "Internal Server Error"), headers)
            message = self._store(to, from_, service, body, form.get("StatusCallback") or None)
            if failing:
                return (*self._error(500, None, "Internal Server Error"), headers)
            if self._drops > 0:
                self._drops -= 1
                return 201, None, headers
            return 201, message.to_json(), headers

    def _validate(self, to: str, from_: str | None, service: str | None, body: str) -> int | None:
        if not to:
            return 21604
        if not from_ and not service:
            return 21603
        if from_ is not None and from_ in MAGIC_FROM:
            return MAGIC_FROM[from_]
        if from_ is not None and (
            not _E164.match(from_) or (self.from_numbers is not None and from_ not in self.from_numbers)
        ):
            return 21606 if _E164.match(from_) else 21212
        if to in MAGIC_TO:
            return MAGIC_TO[to]
        if not _E164.match(to):
            return 21211
        if not body:
            return 21602
        if len(body) > 1600:
            return 21617
        return None

    def _store(
        self, to: str, from_: str | None, service: str | None, body: str, callback: str | None
    ) -> SandboxMessage:
        """Create a message and schedule its lifecycle (call with the lock held)."""
        now = self._now()
        status = "accepted" if service else "queued"
        message = SandboxMessage(
            sid=_new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            messaging_service_sid=service,
            body=body,
            status=status,
            direction="outbound-api",
            date_created=now,
            date_updated=now,
            status_callback=callback,
            history=[(status, now)],
        )
        self._messages[message.sid] = message
        self._order.append(message.sid)
        self._schedule(message.sid, 0, self.latency + self.callback_delay)
        return message

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        """Messages matching To, From and DateSent filters, newest first, one page."""

        def day(value: str) -> date:
            return date.fromisoformat(value[:10])

        page_size = max(1, min(1000, int(query.get("PageSize", "50") or 50)))
        page = max(0, int(query.get("Page", "0") or 0))
        with self._lock:
            found = [self._messages[sid] for sid in reversed(self._order)]
            if "To" in query:
                found = [m for m in found if m.to == query["To"]]
            if "From" in query:
                found = [m for m in found if m.from_ == query["From"]]
            for name, keep in (
                ("DateSent", lambda d, v: d == v),
                ("DateSent>", lambda d, v: d >= v),
                ("DateSent<", lambda d, v: d <= v),
            ):
                if name in query:
                    wanted = day(query[name])
                    found = [m for m in found if m.date_sent is not None and keep(m.date_sent.date(), wanted)]
            chunk = [m.to_json() for m in found[page * page_size : (page + 1) * page_size]]
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(number: int) -> str:
            extra = {"PageToken": f"PA{number}"} if number else {}
            return f"{base}?{urlencode({**filters, 'PageSize': page_size, 'Page': number, **extra})}"

        more = len(found) > (page + 1) * page_size
        return {
            "messages": chunk,
            "end": page * page_size + max(0, len(chunk) - 1),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "page": page,
            "page_size": page_size,
            "start": page * page_size,
            "uri": page_uri(page),
        }

    # ----- status lifecycle and callbacks ------------------------------------------------------

    def _plan(self, message: SandboxMessage) -> list[str]:
        """The statuses a message goes through after create."""
        final, _ = self.carrier_outcomes.get(message.to, ("delivered", None))
        return ["queued", "failed"] if final == "failed" else ["queued", "sent", final]

    def _schedule(self, sid: str, index: int, delay: float) -> None:
        heapq.heappush(self._steps, _Step(time.monotonic() + max(0.0, delay), next(self._seq), sid, index))
        self._changed.notify_all()

    def _run_steps(self) -> None:
        """Worker: apply due status steps in order and hand their callbacks to the posters."""
        with self._lock:
            while not self._stopping:
                if not self._steps:
                    self._changed.wait()
                    continue
                wait = self._steps[0].due - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                step = heapq.heappop(self._steps)
                self._busy += 1
                try:
                    posts = self._apply(step)
                except Exception:
                    self._busy -= 1
                    raise
                if posts and self._posters is not None:
                    self._posters.submit(self._post_then_continue, step, posts)
                else:
                    self._continue(step)

    def _apply(self, step: _Step) -> list[dict[str, str]]:
        """Move the message to this step's status; return the callbacks to post now (lock held)."""
        message = self._messages[step.sid]
        plan = self._plan(message)
        status = plan[step.index]
        now = self._now()
        if message.status != status:
            message.status = status
            message.date_updated = now
            message.history.append((status, now))
            if status == "sent":
                message.date_sent = now
            if status in ("undelivered", "failed"):
                _, code = self.carrier_outcomes.get(message.to, (status, None))
                message.error_code = code
                message.error_message = ERROR_MESSAGES.get(code or 0) if code else None
        if not (self.send_callbacks and message.status_callback):
            return []
        params = self._callback_params(message)
        if self.shuffle_callbacks:
            pending = self._pending_callbacks.setdefault(step.sid, [])
            pending.append(params)
            if step.index < len(plan) - 1:
                return []
            posts = self._pending_callbacks.pop(step.sid)
            self._rng.shuffle(posts)
        else:
            posts = [params]
        if self.duplicate_callbacks:
            posts = [p for p in posts for _ in range(2)]
        return posts

    def _callback_params(self, message: SandboxMessage) -> dict[str, str]:
        params = {
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "AccountSid": message.account_sid,
            "From": message.from_ or "",
            "To": message.to,
            "MessageStatus": message.status,
            "SmsStatus": message.status,
            "ApiVersion": API_VERSION,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        return params

    def _post_then_continue(self, step: _Step, posts: list[dict[str, str]]) -> None:
        url = self._messages[step.sid].status_callback or ""
        try:
            for params in posts:
                self._post(url, params)
        finally:
            with self._lock:
                self._continue(step)

    def _continue(self, step: _Step) -> None:
        """Schedule the message's next step, if any (lock held)."""
        self._busy -= 1
        message = self._messages[step.sid]
        if step.index + 1 < len(self._plan(message)) and not self._stopping:
            self._schedule(step.sid, step.index + 1, self.callback_delay)
        self._changed.notify_all()

    def _post(self, url: str, params: dict[str, str]) -> CallbackRecord:
        """POST a form signed as Twilio signs it; record the attempt."""
        signature = twilio_signature(self.auth_token, url, params)
        request = urllib.request.Request(
            url,
            data=urlencode(params).encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                SIGNATURE_HEADER: signature,
                "User-Agent": "TwilioProxy/1.1",
                "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
            },
        )
        status: int | None = None
        error: str | None = None
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status = response.status
                response.read()
        except urllib.error.HTTPError as http_error:
            status = http_error.code
            http_error.close()
        except (OSError, ValueError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        record = CallbackRecord(url, dict(params), signature, status, error, self._now())
        with self._lock:
            self._callbacks.append(record)
            self._changed.notify_all()
        return record


def _new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _copy(message: SandboxMessage) -> SandboxMessage:
    return dataclasses.replace(message, history=list(message.history))


def _handler_for(sandbox: SandboxTwilio) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to one sandbox."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "SandboxTwilio/1.0"
        disable_nagle_algorithm = True  # headers and body go out in two writes; do not wait 40 ms

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            status, body, headers = self._route(method, parts.path, query, form)
            sandbox._record(method, parts.path, query, form, status)
            if body is None:
                self.close_connection = True  # the message exists but the answer is lost
                return
            self._send(status, body, headers)

        def _route(
            self, method: str, path: str, query: dict[str, str], form: dict[str, str]
        ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
            if not self._authorized():
                return (*sandbox._error(401, 20003), {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            if (match := _MESSAGES.match(path)) and match["account"] == sandbox.account_sid:
                if method == "POST":
                    result = sandbox._create(form)
                    if sandbox.latency > 0:
                        time.sleep(sandbox.latency)
                    return result
                return 200, sandbox._list(query), {}
            match = _MESSAGE.match(path)
            if method == "GET" and match and match["account"] == sandbox.account_sid:
                with sandbox._lock:
                    message = sandbox._messages.get(match["sid"])
                    if message is not None:
                        return 200, message.to_json(), {}
            return (*sandbox._error(404, 20404, f"The requested resource {path} was not found"), {})

        def _authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return user == sandbox.account_sid and password == sandbox.auth_token

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main(argv: list[str] | None = None, *, ready: Callable[[SandboxTwilio], None] | None = None) -> None:
    """Run the sandbox in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.twilio", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each create")
    parser.add_argument("--callback-delay", type=float, default=0.5, help="seconds between status steps")
    parser.add_argument("--failure-ratio", type=float, default=0.0)
    parser.add_argument("--no-callbacks", action="store_true")
    args = parser.parse_args(argv)
    sandbox = SandboxTwilio(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        host=args.host,
        port=args.port,
        latency=args.latency,
        callback_delay=args.callback_delay,
        failure_ratio=args.failure_ratio,
        send_callbacks=not args.no_callbacks,
    )
    with sandbox:
        print(
            f"Sandbox Twilio at {sandbox.url} (TWILIO_API_URL={sandbox.url}, "
            f"TWILIO_ACCOUNT_SID={sandbox.account_sid})",
            flush=True,
        )
        if ready is not None:
            ready(sandbox)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
