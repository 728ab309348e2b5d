"""The SmsGateway port, Twilio's error codes in plain words, and the Twilio implementation."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from services.metrics import count_api_error
from services.twilio_errors import ErrorKind, lookup

log = logging.getLogger(__name__)

__all__ = [
    "ErrorKind",
    "Media",
    "MessageInfo",
    "SendRequest",
    "SendResult",
    "SmsError",
    "SmsGateway",
    "TwilioGateway",
    "classify",
    "describe",
    "validate_signature",
]

#: How far before `since` a message found by `find_sent` may have been created (clock skew).
FIND_SKEW = timedelta(minutes=2)
#: How many recent messages `find_sent` reads when the date filter finds nothing.
FIND_FALLBACK_LIMIT = 50
#: Twilio's ValidityPeriod bounds in seconds (Messages resource: 1 to 36,000; else error 21624).
VALIDITY_MIN, VALIDITY_MAX = 1, 36_000
#: The largest inbound MMS file read (Twilio accepts up to 5 MB of media per message).
MAX_MEDIA_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class SendRequest:
    """One text to send: To in E.164, and the clinic's From number and/or Messaging Service."""

    to: str
    body: str
    from_: str | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None


@dataclass(frozen=True)
class Media:
    """One inbound MMS file: its content type (MediaContentTypeN) and bytes."""

    content_type: str
    content: bytes


@dataclass(frozen=True)
class SendResult:
    """Twilio accepted the message: its SID and first status (queued, accepted, ...)."""

    sid: str
    status: str


@dataclass(frozen=True)
class MessageInfo:
    """A message as Twilio reports it now."""

    sid: str
    status: str
    to: str
    from_: str | None
    body: str
    error_code: int | None
    error_message: str | None
    date_created: datetime | None
    messaging_service_sid: str | None = None


class SmsError(Exception):
    """A send, fetch or list failed; `kind` says what to do and `reason` is plain language."""

    def __init__(
        self,
        kind: ErrorKind,
        reason: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after

    @classmethod
    def from_code(
        cls,
        code: int | None,
        http_status: int | None,
        retry_after: float | None = None,
        *,
        message: str | None = None,
        request: SendRequest | None = None,
    ) -> SmsError:
        """The error Twilio's answer (code, HTTP status, its message, for this request) means."""
        to = request.to if request is not None else None
        from_ = request.from_ if request is not None else None
        kind, reason = classify(code, http_status, message=message, to=to, from_=from_)
        return cls(kind, reason, code=code, http_status=http_status, retry_after=retry_after)

    def __repr__(self) -> str:
        return f"SmsError({self.kind!s}, {self.reason!r}, code={self.code}, http_status={self.http_status})"


_TEMPORARY_5XX = "Twilio had a temporary problem; the text may or may not have been sent"


def _with_code(text: str, code: int) -> str:
    return f"{text} (Twilio {code})"


def classify(
    code: int | None,
    http_status: int | None,
    *,
    message: str | None = None,
    to: str | None = None,
    from_: str | None = None,
) -> tuple[ErrorKind, str]:
    """The kind and plain-language reason for a Twilio error code and/or HTTP status.

    Listed codes follow `services.twilio_errors.TWILIO_ERRORS` (21606 decided by Twilio's `message` and the
    request's `to`/`from_`); account and sender errors say what to fix.
    """
    if code is not None and (row := lookup(code, message, to, from_)) is not None:
        return row.kind, row.text(code)
    if http_status == 429:
        return ErrorKind.RETRY, "Twilio asked to slow down (HTTP 429)" if code is None else _with_code(
            "Twilio asked to slow down", code
        )
    if http_status is not None and http_status >= 500:
        return ErrorKind.IN_DOUBT, f"{_TEMPORARY_5XX} (HTTP {http_status})" if code is None else _with_code(
            _TEMPORARY_5XX, code
        )
    if code is None and http_status == 401:
        return ErrorKind.CONFIG, "Twilio refused the account SID or auth token (HTTP 401)"
    if code is not None:
        return ErrorKind.UNKNOWN, f"Twilio error {code}"
    if http_status is not None:
        return ErrorKind.UNKNOWN, f"Twilio answered HTTP {http_status}"
    return ErrorKind.UNKNOWN, "Twilio error (no code given)"


def describe(code: int | None) -> str:
    """A plain reason for a carrier outcome code (the report's Error Details); empty for None."""
    if code is None:
        return ""
    row = lookup(code)
    return row.text(code) if row is not None else f"Twilio error {code}"


class SmsGateway(Protocol):
    """The port the dispatcher sends through."""

    def send(self, req: SendRequest) -> SendResult:
        """Create the message; raise SmsError (IN_DOUBT when Twilio may have it)."""
        ...

    def fetch(self, sid: str) -> MessageInfo:
        """The message's current state; raise SmsError."""
        ...

    def find_sent(
        self, to: str, from_: str | None, messaging_service_sid: str | None, since: datetime
    ) -> list[MessageInfo]:
        """Outbound messages to `to` created since `since` (minus a small skew), newest first."""
        ...


def validate_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """True when `signature` is Twilio's X-Twilio-Signature for this URL and form parameters."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After header (seconds or HTTP date), or None."""
    if not headers:
        return None
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# twilio ships no py.typed, so mypy sees TwilioHttpClient as Any; subclassing it is the point here.
class _BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's HTTP client that sends every request to `base_url`, keeping the path and query."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(pool_connections=True, timeout=timeout, logger=log)
        self._base = urlsplit(base_url) if base_url else None
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        assert self.session is not None
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._local = threading.local()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Send to the overridden base and remember this thread's last response."""
        if self._base is not None:
            parts = urlsplit(url)
            prefix = self._base.path.rstrip("/")
            url = urlunsplit((self._base.scheme, self._base.netloc, prefix + parts.path, parts.query, ""))
        self._local.last = None
        response = super().request(method, url, *args, **kwargs)
        self._local.last = response
        return response

    def last_response(self) -> Response | None:
        """The response this thread received last (for error bodies and Retry-After)."""
        return getattr(self._local, "last", None)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        log.debug("Twilio %s %s", kwargs["method"], kwargs["url"])

    def log_response(self, status_code: int, response: Any) -> None:
        log.debug("Twilio answered %s", status_code)


def _nothing_reached_twilio(error: requests.exceptions.RequestException) -> bool:
    """True when the request failed before any byte could have reached Twilio."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, (requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        return True
    if isinstance(error, requests.exceptions.ConnectionError):
        text = repr(error.args[0]) if error.args else repr(error)
        # urllib3 wraps "could not connect" (refused, DNS) as NewConnectionError / NameResolutionError.
        return "NewConnectionError" in text or "NameResolutionError" in text
    return False


def _info(message: Any) -> MessageInfo:
    """A MessageInfo from the twilio library's MessageInstance."""
    created = message.date_created if isinstance(message.date_created, datetime) else None
    return MessageInfo(
        sid=message.sid,
        status=str(message.status),
        to=message.to or "",
        from_=message.from_,
        body=message.body or "",
        error_code=message.error_code,
        error_message=message.error_message,
        date_created=created.astimezone(UTC) if created is not None else None,
        messaging_service_sid=message.messaging_service_sid,
    )


class TwilioGateway:
    """SmsGateway on the official twilio client, with a timeout and an optional base-URL override."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_url: str | None = None,
        timeout: float = 10.0,
        validity_seconds: int | None = None,
    ) -> None:
        if validity_seconds is not None and not VALIDITY_MIN <= validity_seconds <= VALIDITY_MAX:
            raise ValueError(
                f"validity_seconds must be {VALIDITY_MIN} to {VALIDITY_MAX}, got {validity_seconds}"
            )
        self._http = _BaseUrlHttpClient(api_url, timeout)
        self._client = Client(account_sid, auth_token, account_sid=account_sid, http_client=self._http)
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self._timeout = timeout
        self.validity_seconds = validity_seconds
        # Load the SDK's lazily imported Messages modules now (60-200 ms): otherwise the first create
        # of a process reaches Twilio that much after its pace stamp (services.delivery.turn).
        _ = self._client.messages

    def fetch_media(self, url: str, max_bytes: int = MAX_MEDIA_BYTES) -> Media:
        """One inbound MMS file (MediaUrlN) read with the account's HTTP Basic auth, as Twilio requires.

        Raises SmsError (RETRY when it could not be read now) and ValueError when it is over `max_bytes`.
        """
        try:
            with requests.get(url, auth=self._auth, timeout=self._timeout, stream=True) as response:
                if response.status_code != 200:
                    raise SmsError(
                        ErrorKind.RETRY,
                        f"Twilio answered HTTP {response.status_code} for the picture",
                        http_status=response.status_code,
                    )
                content = b""
                for chunk in response.iter_content(64 * 1024):
                    content += chunk
                    if len(content) > max_bytes:
                        raise ValueError(f"the file is over {max_bytes:,} bytes")
                kind = response.headers.get("Content-Type", "application/octet-stream")
        except requests.exceptions.RequestException as error:
            raise SmsError(ErrorKind.RETRY, f"Could not read the picture from Twilio: {error}") from error
        return Media(kind.split(";")[0].strip(), content)

    def _error(self, error: Exception, request: SendRequest | None = None) -> SmsError:
        """The SmsError for an exception raised while talking to Twilio."""
        if isinstance(error, requests.exceptions.RequestException):
            if _nothing_reached_twilio(error):
                return SmsError(ErrorKind.RETRY, "Could not connect to Twilio; nothing was sent")
            if isinstance(error, requests.exceptions.Timeout):
                return SmsError(
                    ErrorKind.IN_DOUBT, "Twilio did not answer in time; the text may have been sent"
                )
            return SmsError(ErrorKind.IN_DOUBT, "The connection to Twilio broke; the text may have been sent")
        response = self._http.last_response()
        status = response.status_code if response is not None else None
        code: int | None = None
        message: str | None = None
        if isinstance(error, TwilioRestException):
            status = error.status
            code = error.code if isinstance(error.code, int) else None
            message = error.msg
        elif response is not None:
            try:
                payload = json.loads(response.text)
                code = payload.get("code") if isinstance(payload, dict) else None
            except ValueError:
                code = None
        if code is not None and code == status:
            code = None  # the library puts the HTTP status in `code` when the body has none
        headers = response.headers if response is not None else None
        count_api_error("twilio", code or status)
        return SmsError.from_code(code, status, _retry_after(headers), message=message, request=request)

    def send(self, req: SendRequest) -> SendResult:
        """Create the message at Twilio, with smart encoding on and the validity period when set.

        SmartEncoded=true makes Twilio replace Unicode look-alikes (curly quotes, dashes, NBSP) with GSM-7
        characters, so the text is billed as `services.segments.measure` counts it.
        """
        if not req.from_ and not req.messaging_service_sid:
            raise SmsError.from_code(21603, None)
        kwargs: dict[str, Any] = {"to": req.to, "body": req.body, "smart_encoded": True}
        if self.validity_seconds is not None:
            kwargs["validity_period"] = self.validity_seconds
        if req.from_:
            kwargs["from_"] = req.from_
        if req.messaging_service_sid:
            kwargs["messaging_service_sid"] = req.messaging_service_sid
        if req.status_callback:
            kwargs["status_callback"] = req.status_callback
        try:
            message = self._client.messages.create(**kwargs)
        except (TwilioException, requests.exceptions.RequestException) as error:
            raise self._error(error, req) from error
        except ValueError as error:  # a 2xx whose body is not JSON: Twilio may well have the message
            raise SmsError(
                ErrorKind.IN_DOUBT,
                "Twilio's answer could not be read; the text may have been sent",
                http_status=getattr(self._http.last_response(), "status_code", None),
            ) from error
        if not message.sid:
            raise SmsError(
                ErrorKind.IN_DOUBT, "Twilio's answer had no message id; the text may have been sent"
            )
        return SendResult(sid=message.sid, status=str(message.status))

    def account_status(self) -> str:
        """The account's status ("active", "suspended", "closed"); SmsError when Twilio refuses (20003)."""
        try:
            return str(self._client.api.v2010.accounts(self.account_sid).fetch().status)
        except (TwilioException, requests.exceptions.RequestException) as error:
            raise self._error(error) from error

    def owns_number(self, number: str) -> bool:
        """Whether `number` (E.164) is one of the account's IncomingPhoneNumbers."""
        try:
            return bool(self._client.incoming_phone_numbers.list(phone_number=number, limit=1))
        except (TwilioException, requests.exceptions.RequestException) as error:
            raise self._error(error) from error

    def has_messaging_service(self, sid: str) -> bool:
        """Whether the Messaging Service `sid` (MG...) belongs to the account (404 / 20404: it does not)."""
        try:
            self._client.messaging.v1.services(sid).fetch()
        except (TwilioException, requests.exceptions.RequestException) as error:
            failure = self._error(error)
            if failure.code == 20404 or failure.http_status == 404:
                return False
            raise failure from error
        return True

    def fetch(self, sid: str) -> MessageInfo:
        """The message's current state at Twilio."""
        try:
            return _info(self._client.messages(sid).fetch())
        except (TwilioException, requests.exceptions.RequestException) as error:
            failure = self._error(error)
            if failure.code == 20404 or (failure.code is None and failure.http_status == 404):
                raise SmsError(
                    ErrorKind.PERMANENT,
                    f"Twilio has no message {sid} (Twilio 20404)",
                    code=20404,
                    http_status=404,
                ) from error
            raise failure from error

    def find_sent(
        self, to: str, from_: str | None, messaging_service_sid: str | None, since: datetime
    ) -> list[MessageInfo]:
        """Outbound messages to `to` created since `since` (minus FIND_SKEW), newest first."""
        start = since.astimezone(UTC) - FIND_SKEW
        filters: dict[str, Any] = {"to": to}
        if from_:
            filters["from_"] = from_
        try:
            found = self._client.messages.list(
                date_sent_after=start.strftime("%Y-%m-%d"), page_size=50, **filters
            )
            # A message still queued has no date_sent, so no DateSent filter finds it: always read the
            # latest few too (an earlier text of the same day must not hide the queued one).
            found += self._client.messages.list(
                limit=FIND_FALLBACK_LIMIT, page_size=FIND_FALLBACK_LIMIT, **filters
            )
        except (TwilioException, requests.exceptions.RequestException) as error:
            raise self._error(error) from error
        result: list[MessageInfo] = []
        seen: set[str] = set()
        for message in found:
            info = _info(message)
            if info.sid in seen or not str(message.direction or "outbound").startswith("outbound"):
                continue
            if messaging_service_sid and info.messaging_service_sid not in (None, messaging_service_sid):
                continue
            if info.date_created is not None and info.date_created < start:
                continue
            seen.add(info.sid)
            result.append(info)
        result.sort(key=lambda m: m.date_created or start, reverse=True)
        return result
