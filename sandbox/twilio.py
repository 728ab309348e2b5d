"""A loopback Twilio: the Messages API subset the app uses, test numbers, and signed status callbacks."""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from sandbox.signing import SIGNATURE_HEADER, twilio_signature
from sandbox.twilio_http import handler_for
from sandbox.twilio_records import (
    API_VERSION,
    Arrival,
    CallbackRecord,
    RequestRecord,
    SandboxMessage,
    copy_message,
    sent_matches,
)
from sandbox.twilio_rules import (
    ASYNC_CODES,
    DEFAULT_KEYWORDS,
    DEFAULT_REPLIES,
    ERROR_MESSAGES,
    HTTP_STATUS,
    MAGIC_FROM,
    MAGIC_TO,
    VALIDITY_EXPIRED,
    VALIDITY_MAX,
    VALIDITY_MIN,
    keyword_of,
    segments,
    smart_encode,
)
from services.clock import Clock

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_FINAL = frozenset({"delivered", "undelivered", "failed", "received"})


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
        opt_out_handling: bool = False,
        advanced_opt_out: bool = False,
        queue_delay: float = 0.0,
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
        #: Twilio's own STOP/START/HELP handling (long codes, toll-free): it replies and blocks with 21610.
        self.opt_out_handling = opt_out_handling
        #: Advanced Opt-Out: the inbound webhook carries OptOutType and custom keywords count.
        self.advanced_opt_out = advanced_opt_out
        #: Keyword (upper case) -> OptOutType; add custom ones with add_keyword().
        self.keywords: dict[str, str] = dict(DEFAULT_KEYWORDS)
        #: OptOutType -> the confirmation text the sandbox sends back.
        self.replies: dict[str, str] = dict(DEFAULT_REPLIES)
        #: (sender, recipient) pairs blocked after STOP: a create answers 21610 until START.
        self.opt_outs: set[tuple[str, str]] = set()
        #: Seconds each outbound message waits as `queued` before `sent` (set_queue_delay per sender).
        self.queue_delay = queue_delay
        self.sender_queue_delay: dict[str, float] = {}
        #: To prefix -> error code answered at create (21408, 21612, 21606, 21211, ...).
        self.to_prefix_errors: dict[str, int] = {}
        #: From -> error code: 2xxxx refused at create, 3xxxx accepted then failed with it.
        self.sender_errors: dict[str, int] = {}
        #: Answered to every API request while set (20003 authentication, 20005 account not active).
        self.account_error: int | None = None
        self._arrivals: list[Arrival] = []
        self._hold_on_drop = 0
        self._delays: list[float] = []
        self._media: dict[str, tuple[str, bytes]] = {}
        #: Messaging Service SIDs (MG...) of this account (add_messaging_service).
        self.messaging_services: set[str] = set()

    # ----- lifecycle of the server -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (use as TWILIO_API_URL)."""
        if self._server is None:
            raise RuntimeError("SandboxTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxTwilio:
        """Listen and start the status-callback worker."""
        if self._server is not None:
            return self
        self._stopping = False
        self._server = ThreadingHTTPServer((self._host, self._port), handler_for(self))
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

    def drop_response_for(self, n: int, *, hold_queued: bool = False) -> None:
        """Create the next `n` messages but close the connection without answering (a lost response).

        With `hold_queued` each of them stays `queued` with no date_sent (so a DateSent filter does not
        find it) and sends no callback until release_held().
        """
        with self._lock:
            self._drops += n
            if hold_queued:
                self._hold_on_drop += n

    def delay_response_for(self, n: int, seconds: float) -> None:
        """Create the next `n` messages at once but answer each only after `seconds` (a client timeout)."""
        with self._lock:
            self._delays.extend([seconds] * n)

    def release_held(self) -> list[str]:
        """Let every held message go on (queued -> sent -> final, with callbacks); their SIDs."""
        with self._lock:
            released = [sid for sid in self._order if self._messages[sid].held]
            for sid in released:
                self._messages[sid].held = False
                self._schedule(sid, 0, self.callback_delay)
            return released

    def refuse_to_prefix(self, prefix: str, code: int) -> None:
        """Refuse creates whose To starts with `prefix` with `code` (e.g. "+44", 21408 region not enabled)."""
        with self._lock:
            self.to_prefix_errors[prefix] = code

    def refuse_from(self, from_: str, code: int | None) -> None:
        """Fail sends from `from_` with `code` (None clears it).

        2xxxx codes are refused at create (21606 not message-capable, 21659 not a Twilio number); 3xxxx
        codes are accepted and then fail with that code (30034 unregistered 10DLC, 30032 toll-free not
        verified), as Twilio reports them.
        """
        with self._lock:
            if code is None:
                self.sender_errors.pop(from_, None)
            else:
                self.sender_errors[from_] = code

    def add_messaging_service(self, sid: str) -> None:
        """Give the account the Messaging Service `sid` (MG + 32 hex); fetching others answers 20404."""
        with self._lock:
            self.messaging_services.add(sid)

    def fail_account(self, code: int | None) -> None:
        """Answer every API request with `code` (20003, 20005) until called with None."""
        with self._lock:
            self.account_error = code

    def set_queue_delay(self, seconds: float, from_: str | None = None) -> None:
        """Keep messages `queued` for `seconds` before sending (for one sender, or all when None).

        A message whose ValidityPeriod is shorter than its wait fails with 30036 (Validity Period Expired)
        when the period ends, and its status callback says so.
        """
        with self._lock:
            if from_ is None:
                self.queue_delay = seconds
            else:
                self.sender_queue_delay[from_] = seconds

    def add_keyword(self, word: str, opt_out_type: str) -> None:
        """A custom Advanced Opt-Out keyword ("ALTO" or "ARRÊT" -> "STOP"); counts with advanced_opt_out."""
        if opt_out_type not in DEFAULT_REPLIES:
            raise ValueError(f"OptOutType must be STOP, START or HELP, not {opt_out_type!r}")
        with self._lock:
            self.keywords[word.strip().upper()] = opt_out_type

    def arrivals(self) -> list[Arrival]:
        """Every create request as it reached the sandbox (before any latency), in order."""
        with self._lock:
            return list(self._arrivals)

    def arrivals_by_sender(self, *, created_only: bool = True) -> dict[str, list[float]]:
        """From -> monotonic times (seconds) its creates reached the sandbox; only stored ones by default."""
        out: dict[str, list[float]] = {}
        for arrival in self.arrivals():
            if arrival.from_ is not None and (arrival.sid is not None or not created_only):
                out.setdefault(arrival.from_, []).append(arrival.monotonic)
        return out

    def min_gap(self, from_: str) -> float | None:
        """The smallest time in seconds between two stored creates from `from_`; None with fewer than two."""
        times = sorted(self.arrivals_by_sender().get(from_, []))
        return min((b - a for a, b in itertools.pairwise(times)), default=None)

    def set_outcome(self, to: str, status: str, error_code: int | None = None) -> None:
        """Make messages to `to` end as `status` (delivered, undelivered, failed) with `error_code`."""
        with self._lock:
            self.carrier_outcomes[to] = (status, error_code)

    @property
    def messages(self) -> list[SandboxMessage]:
        """Copies of every message (outbound and inbound), in creation order."""
        with self._lock:
            return [copy_message(self._messages[sid]) for sid in self._order]

    def message(self, sid: str) -> SandboxMessage:
        """A copy of one message."""
        with self._lock:
            return copy_message(self._messages[sid])

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
        self,
        url: str,
        *,
        from_: str,
        to: str,
        body: str,
        message_sid: str | None = None,
        media: Sequence[tuple[str, bytes]] = (),
    ) -> int:
        """Post a signed inbound-message webhook to `url` as Twilio does; return the HTTP status.

        `media` is a list of (content type, bytes): the webhook then carries NumMedia, MediaUrlN and
        MediaContentTypeN, and the sandbox serves each file at its URL behind HTTP Basic auth (account
        SID and auth token), 401 otherwise. With opt_out_handling, a STOP/START/HELP keyword makes the
        sandbox send its own confirmation to `from_` and block (or unblock) sends from `to` with 21610;
        with advanced_opt_out the webhook carries OptOutType.
        """
        sid = message_sid or _new_sid("MM" if media else "SM")
        params = {
            "ToCountry": "US",
            "ToState": "",
            "SmsMessageSid": sid,
            "NumMedia": str(len(media)),
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
            "NumSegments": str(segments(body)),
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        with self._lock:
            for index, (content_type, content) in enumerate(media):
                media_sid = _new_sid("ME")
                self._media[f"{sid}/{media_sid}"] = (content_type, content)
                params[f"MediaUrl{index}"] = f"{self.url}{self._media_path(sid, media_sid)}"
                params[f"MediaContentType{index}"] = content_type
            if sid not in self._messages:
                self._settled(sid, to=to, from_=from_, body=body, direction="inbound", num_media=len(media))
            kind = self._opt_out_type(body)
            if kind is not None:
                if kind == "STOP":
                    self.opt_outs.add((to, from_))
                elif kind == "START":
                    self.opt_outs.discard((to, from_))
                self._reply(from_=to, to=from_, body=self.replies[kind])
                if self.advanced_opt_out:
                    params["OptOutType"] = kind
        return self._post(url, params).status or 0

    def _opt_out_type(self, body: str) -> str | None:
        """The keyword's OptOutType when Twilio's own handling applies to `body` (lock held)."""
        if not self.opt_out_handling:
            return None
        keywords = self.keywords if self.advanced_opt_out else DEFAULT_KEYWORDS
        return keyword_of(body, keywords)

    def _reply(self, *, from_: str, to: str, body: str) -> None:
        """Record the confirmation Twilio itself sends for a keyword (lock held); no status callback."""
        self._settled(_new_sid("SM"), to=to, from_=from_, body=body, direction="outbound-reply")

    def _settled(
        self, sid: str, *, to: str, from_: str, body: str, direction: str, num_media: int = 0
    ) -> SandboxMessage:
        """Store a message already at its final status: received (inbound) or delivered (lock held)."""
        now = self._now()
        final = "received" if direction == "inbound" else "delivered"
        message = SandboxMessage(
            sid=sid,
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            messaging_service_sid=None,
            body=body,
            status=final,
            direction=direction,
            date_created=now,
            date_updated=now,
            date_sent=now,
            history=[(final, now)],
            num_media=num_media,
        )
        self._messages[sid] = message
        self._order.append(sid)
        return message

    def keyword_replies(self, to: str | None = None) -> list[SandboxMessage]:
        """The confirmations the sandbox itself sent for STOP/START/HELP (to one number, or all)."""
        return [m for m in self.messages if m.direction == "outbound-reply" and to in (None, m.to)]

    def _media_path(self, message_sid: str, media_sid: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"

    def media_content(self, message_sid: str, media_sid: str) -> tuple[str, bytes] | None:
        """(content type, bytes) of one inbound media file, or None."""
        with self._lock:
            return self._media.get(f"{message_sid}/{media_sid}")

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

    def _create(self, form: dict[str, str]) -> tuple[int, dict[str, Any] | None, dict[str, str], float]:
        """Decide a create's answer: (status, body or None to drop the connection, headers, extra delay)."""
        arrived, wall = time.monotonic(), datetime.now(UTC)
        to = form.get("To", "").strip()
        from_ = form.get("From", "").strip() or None
        with self._lock:
            status, body, headers, delay, sid = self._decide(form, to, from_)
            self._arrivals.append(Arrival(from_, to, wall, arrived, status, sid))
        return status, body, headers, delay

    def _decide(
        self, form: dict[str, str], to: str, from_: str | None
    ) -> tuple[int, dict[str, Any] | None, dict[str, str], float, str | None]:
        service = form.get("MessagingServiceSid", "").strip() or None
        body = form.get("Body", "")
        headers: dict[str, str] = {}
        if self._rate_limited > 0:
            self._rate_limited -= 1
            headers["Retry-After"] = f"{self.retry_after:g}"
            return (*self._error(429, 20429), headers, 0.0, None)
        code = self._validate(to, from_, service, body)
        validity: int | None = None
        if code is None and form.get("ValidityPeriod", "").strip():
            try:
                validity = int(form["ValidityPeriod"])
            except ValueError:
                validity = -1
            if not VALIDITY_MIN <= validity <= VALIDITY_MAX:
                code = 21624
        if code is not None:
            return (*self._error(HTTP_STATUS.get(code, 400), code), headers, 0.0, None)
        failing = self.failure_ratio > 0 and self._rng.random() < self.failure_ratio
        if failing and not self.failures_create_message:
            return (*self._error(500, None, "Internal Server Error"), headers, 0.0, None)
        smart = form.get("SmartEncoded", "").strip().lower() == "true"
        message = self._store(
            to, from_, service, smart_encode(body) if smart else body, form.get("StatusCallback") or None
        )
        message.original_body = body
        message.validity_period = validity
        wait = self.sender_queue_delay.get(from_ or "", self.queue_delay)
        if validity is not None and wait > validity:
            message.queue_wait, message.fail_code = float(validity), VALIDITY_EXPIRED
        else:
            message.queue_wait = wait
        if from_ in self.sender_errors and self.sender_errors[from_] in ASYNC_CODES:
            message.fail_code = self.sender_errors[from_]
        if failing:
            return (*self._error(500, None, "Internal Server Error"), headers, 0.0, message.sid)
        delay = self._delays.pop(0) if self._delays else 0.0
        if self._drops > 0:
            self._drops -= 1
            if self._hold_on_drop > 0:
                self._hold_on_drop -= 1
                message.held = True
                self._steps = [step for step in self._steps if step.sid != message.sid]
                heapq.heapify(self._steps)
            return 201, None, headers, delay, message.sid
        return 201, message.to_json(), headers, delay, message.sid

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
        sender_code = self.sender_errors.get(from_ or "")
        if sender_code is not None and sender_code not in ASYNC_CODES:
            return sender_code
        if to in MAGIC_TO:
            return MAGIC_TO[to]
        if not _E164.match(to):
            return 21211
        for prefix, code in self.to_prefix_errors.items():
            if to.startswith(prefix):
                return code
        if ((from_ or service or ""), to) in self.opt_outs:
            return 21610
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
        """Messages matching To, From and DateSent filters, newest first, one page.

        As Twilio filters: `DateSent` (that UTC day, a time part ignored as the SDK sends midnight),
        `DateSent<` (on or before) and `DateSent>` (on or after) compare date_sent, by day for YYYY-MM-DD
        and by instant for a full ISO 8601 time; a message
        with no date_sent yet (still queued) matches no DateSent filter. There is no DateCreated filter.
        """
        page_size = max(1, min(1000, int(query.get("PageSize", "50") or 50)))
        page = max(0, int(query.get("Page", "0") or 0))
        with self._lock:
            found = [self._messages[sid] for sid in reversed(self._order)]
            if "To" in query:
                found = [m for m in found if m.to == query["To"]]
            if "From" in query:
                found = [m for m in found if m.from_ == query["From"]]
            for name in ("DateSent", "DateSent>", "DateSent<"):
                if name in query:
                    found = [m for m in found if sent_matches(m.date_sent, name, query[name])]
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
        if message.fail_code is not None:
            return ["queued", "failed"]
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
                code = message.fail_code if message.fail_code is not None else code
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
            wait = message.queue_wait if step.index == 0 else 0.0
            self._schedule(step.sid, step.index + 1, self.callback_delay + wait)
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
