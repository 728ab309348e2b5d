"""Process logging: one handler on the root logger, text or JSON lines, phone numbers and texts redacted.

JSON lines come from python-json-logger (a kept library: field selection, timestamps, exception
rendering and JSON escaping are its job, not ours). Redaction is a `logging.Filter` on the root handler,
so it covers every logger that propagates, the SDKs' own debug output included (slack_sdk logs request
and response bodies, twilio and urllib3 log URLs whose query names numbers): an E.164 number keeps its
first four and last four digits (+1312***0128) and message bodies (`Body=`, `text`, Slack's payloads)
are replaced by a placeholder. Nothing here knows Slack or Twilio beyond those wire names.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

#: Attributes every LogRecord has; anything else came in through `extra=` and is redacted too.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message")
REDACTED = "(redacted)"

#: E.164 (ITU-T E.164: at most 15 digits) raw or percent-encoded as in a form or query (%2B).
_PHONE = re.compile(r"(?<![\w%])(\+|%2B)(\d{4})(\d{0,7})(\d{4})(?!\d)", re.IGNORECASE)
#: slack_sdk's debug lines: the request's parameters; slack_sdk's and slack_bolt's: everything after
#: "body:" (a response body or Bolt's answer: message text, blocks, a view's private_metadata).
_SLACK_REQUEST = re.compile(r"query_params: .*?(?=, headers: )", re.DOTALL)
_SLACK_RESPONSE = re.compile(r"(\bbody: ?).*\Z", re.DOTALL)
#: A message body as a form field (Twilio's Body=, Slack's text=) or a quoted key/value (JSON, a repr).
_FORM_BODY = re.compile(r"\b(Body|text|blocks)=[^&\s]*")
_QUOTED_BODY = re.compile(
    r"""(['"](?:Body|body|text|message|blocks)['"]\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\[.*?\](?=[,}]))""",
    re.DOTALL,
)


def mask_phone(match: re.Match[str]) -> str:
    """+13125550128 -> +1312***0128 (the plus sign kept as written, raw or %2B)."""
    return f"{match.group(1)}{match.group(2)}***{match.group(4)}"


def redact(text: str) -> str:
    """`text` with every E.164 number masked and every message body replaced by "(redacted)"."""
    text = _SLACK_REQUEST.sub(f"payload: {REDACTED}", text)
    text = _SLACK_RESPONSE.sub(rf"\1{REDACTED}", text)
    text = _FORM_BODY.sub(rf"\1={REDACTED}", text)
    text = _QUOTED_BODY.sub(rf"\1'{REDACTED}'", text)
    return _PHONE.sub(mask_phone, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record (message, `extra=` strings, stack) through `redact`; drops none. The exception
    text is redacted by the formatters (`exc_info` stays on the record for other handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _TextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class _JsonFormatter(JsonFormatter):
    def formatException(self, ei: Any) -> str:
        text = super().formatException(ei)
        return redact(text if isinstance(text, str) else "\n".join(text))


def make_formatter(log_format: str) -> logging.Formatter:
    """ "json": one object per line with time, level, logger and message (plus `extra=` fields);
    anything else: TEXT_FORMAT."""
    if log_format == "json":
        return _JsonFormatter(list(JSON_FIELDS), rename_fields={"levelname": "level", "name": "logger"})
    return _TextFormatter(TEXT_FORMAT)


#: The handler `setup_logging` installed, so a second call replaces it instead of adding another.
_installed: logging.Handler | None = None


def setup_logging(level: str = "WARNING", log_format: str = "text", stream: IO[str] | None = None) -> None:
    """Log records at `level` and above to `stream` (default stderr) through the redacting filter.

    Replaces any handler an earlier call (or logging.basicConfig) put on the root logger. APScheduler's
    "skipped: maximum number of running instances reached" is normal under load and is kept at ERROR.
    """
    global _installed
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler is _installed or type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    _installed = handler
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


class DependencyState:
    """Logs a dependency going down and coming back once per change, not once per check.

    `failed(reason)` logs a WARNING the first time (the reason only goes to the log); `ok()` logs an
    INFO line when it was down. Thread-safe; returns whether this call changed the state.
    """

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.name = name
        self.logger = logger
        self._down = False
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down

    def failed(self, reason: Any) -> bool:
        with self._lock:
            if self._down:
                return False
            self._down = True
        self.logger.warning("%s is unavailable: %s", self.name, reason)
        return True

    def ok(self) -> bool:
        with self._lock:
            if not self._down:
                return False
            self._down = False
        self.logger.info("%s is available again", self.name)
        return True
