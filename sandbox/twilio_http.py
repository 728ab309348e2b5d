"""The HTTP side of the sandbox Twilio: routes, Basic auth, JSON answers, inbound media files."""

from __future__ import annotations

import base64
import json
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sandbox import twilio_account
from sandbox.twilio_rules import HTTP_STATUS

if TYPE_CHECKING:
    from sandbox.twilio import SandboxTwilio

_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MEDIA = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)/Media/(?P<media>[^/.]+)$"
)
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")


def handler_for(sandbox: SandboxTwilio) -> type[BaseHTTPRequestHandler]:
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
            media = _MEDIA.match(parts.path)
            if method == "GET" and media and media["account"] == sandbox.account_sid:
                self._media(media["sid"], media["media"])
                return
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
            if sandbox.account_error is not None:
                code = sandbox.account_error
                return (*sandbox._error(HTTP_STATUS.get(code, 400), code), {})
            if (match := _MESSAGES.match(path)) and match["account"] == sandbox.account_sid:
                if method == "POST":
                    status, body, headers, delay = sandbox._create(form)
                    if sandbox.latency + delay > 0:
                        time.sleep(sandbox.latency + delay)
                    return status, body, headers
                return 200, sandbox._list(query), {}
            if method == "GET" and (found := twilio_account.route(sandbox, path, query)) is not None:
                return (*found, {})
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

        def _media(self, message_sid: str, media_sid: str) -> None:
            """An inbound MMS file: its bytes behind HTTP Basic auth, 401 without it, 404 if unknown."""
            found = sandbox.media_content(message_sid, media_sid)
            if not self._authorized():
                status, body = sandbox._error(401, 20003)
                self._send(status, body, {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            elif found is None:
                self._send(*sandbox._error(404, 20404), {})
            else:
                content_type, content = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

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
