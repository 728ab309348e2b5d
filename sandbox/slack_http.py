"""The HTTP side of the sandbox Slack: Web API routes (Bearer or Basic auth), upload URLs, file downloads."""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox.slack_errors import SlackApiFailure

if TYPE_CHECKING:
    from sandbox.slack import SandboxSlack

JSON_FIELDS = ("view", "blocks", "attachments", "files")


def decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    decoded = dict(params)
    for key in JSON_FIELDS:
        value = decoded.get(key)
        if isinstance(value, str) and value:
            try:
                decoded[key] = json.loads(value)
            except json.JSONDecodeError:
                raise SlackApiFailure("invalid_blocks" if key == "blocks" else "invalid_arguments") from None
    return decoded


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        data = json.loads(body.decode("utf-8"))
        return data if isinstance(data, dict) else {}
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def handler_for(sandbox: SandboxSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _read(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _api(self, method: str, params: dict[str, Any]) -> None:
            auth = self.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            token = token or params.pop("token", None)
            params.pop("token", None)
            basic: tuple[str, str] | None = None
            if auth.lower().startswith("basic "):
                try:
                    user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
                    basic = (user, password)
                except (ValueError, UnicodeDecodeError):
                    basic = None
            status, headers, payload = sandbox.handle(method, params, token, basic=basic)
            self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path.startswith("/api/"):
                self._api(unquote(parts.path[5:]), dict(parse_qsl(parts.query, keep_blank_values=True)))
            elif parts.path.startswith("/files/"):
                file_id = parts.path.split("/")[2]
                content = sandbox.file_content(file_id)
                if content is None:
                    self._send(404, b"not found", "text/plain")
                else:
                    self._send(200, content, "application/octet-stream")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self._read()
            if parts.path.startswith("/upload/v1/"):
                status, text = sandbox.handle_upload(parts.path.rsplit("/", 1)[-1], body)
                self._send(status, text.encode(), "text/plain")
                return
            if not parts.path.startswith("/api/"):
                self._send(404, b"not found", "text/plain")
                return
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            try:
                params.update(_parse_body(self.headers.get("Content-Type", ""), body))
            except (ValueError, UnicodeDecodeError):
                self._send(200, b'{"ok": false, "error": "invalid_json"}', "application/json")
                return
            self._api(unquote(parts.path[5:]), params)

    return Handler
