"""Sandbox Socket Mode: a loopback WebSocket endpoint that speaks to the app as Slack's Socket Mode does.

Standard library only. It implements the server side of RFC 6455 that Slack's SDK clients use: the HTTP/1.1
upgrade with Sec-WebSocket-Accept, unmasked text frames to the client, masked frames from the client (7-bit,
16-bit and 64-bit lengths, fragments), ping -> pong, and the close handshake.

On connect it sends Slack's `hello`. The test then pushes envelopes exactly as Slack does
(`{"envelope_id", "type", "accepts_response_payload", "payload"}`) and reads back the app's acks
(`{"envelope_id", "payload"?}`).

    socket_mode = SandboxSocketMode().start()
    socket_mode.attach(slack)          # apps.connections.open now hands out this server's ws:// URL
    link = socket_mode.wait_connected()
    envelope_id = socket_mode.push("slash_commands", {...})
    ack = socket_mode.wait_ack(envelope_id)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import socket
import struct
import threading
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sandbox.polling import wait_for

if TYPE_CHECKING:
    from sandbox.slack import SandboxSlack

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: Close codes used here (RFC 6455 section 7.4.1).
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_PROTOCOL_ERROR = 1000, 1001, 1002
MAX_HEADER_BYTES = 16 * 1024


def accept_key(sec_websocket_key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID))."""
    digest = hashlib.sha1((sec_websocket_key.strip() + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One server->client frame: never masked (RFC 6455 section 5.1)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length <= 125:
        header = struct.pack("!BB", first, length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


class _Closed(Exception):
    """The peer went away (EOF or a socket error)."""


class _ProtocolError(Exception):
    """The client broke RFC 6455 (e.g. an unmasked frame)."""


class Link:
    """One accepted WebSocket connection (one Socket Mode session)."""

    def __init__(self, owner: SandboxSocketMode, sock: socket.socket, path: str) -> None:
        self.owner = owner
        self.path = path
        self._sock = sock
        self._send_lock = threading.Lock()
        self._buffer = b""
        self.open = True
        #: Every JSON message sent to the client, and every text message received from it (parsed if JSON).
        self.sent: list[dict[str, Any]] = []
        self.received: list[Any] = []
        self.pings: list[bytes] = []
        self.close_code: int | None = None
        self._thread = threading.Thread(target=self._run, name="sandbox-socket-link", daemon=True)

    # --- sending -----------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        with self._send_lock:
            if not self.open:
                raise ConnectionError("the Socket Mode link is closed")
            self._sock.sendall(data)

    def send_json(self, message: dict[str, Any]) -> None:
        """Send one text frame holding `message` as JSON."""
        text = json.dumps(message, separators=(",", ":")).encode("utf-8")
        with self.owner._lock:
            self.sent.append(message)
        self._write(encode_frame(OP_TEXT, text))

    def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "") -> None:
        """Send a close frame (best effort) and drop the connection."""
        with contextlib.suppress(OSError):
            self._write(encode_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")))
        self._drop()

    def _drop(self) -> None:
        with self._send_lock:
            if not self.open:
                return
            self.open = False
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    # --- receiving ---------------------------------------------------------------------------

    def _read_exact(self, count: int) -> bytes:
        while len(self._buffer) < count:
            try:
                chunk = self._sock.recv(max(4096, count - len(self._buffer)))
            except OSError as error:
                raise _Closed() from error
            if not chunk:
                raise _Closed()
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read_exact(2)
        fin, opcode = bool(first & 0x80), first & 0x0F
        masked, length = bool(second & 0x80), second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
        if not masked:
            raise _ProtocolError("client frames must be masked")
        mask = self._read_exact(4)
        data = self._read_exact(length)
        return fin, opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def _run(self) -> None:
        fragments: list[bytes] = []
        fragment_opcode: int | None = None
        try:
            while self.open:
                fin, opcode, data = self._read_frame()
                if opcode == OP_PING:
                    with self.owner._lock:
                        self.pings.append(data)
                    self._write(encode_frame(OP_PONG, data))
                elif opcode == OP_PONG:
                    continue
                elif opcode == OP_CLOSE:
                    self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                    with contextlib.suppress(OSError):
                        self._write(encode_frame(OP_CLOSE, data[:2]))  # echo the code, as RFC 6455 asks
                    break
                elif opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                    if opcode != OP_CONTINUATION:
                        fragments, fragment_opcode = [], opcode
                    fragments.append(data)
                    if fin and fragment_opcode is not None:
                        whole, kind = b"".join(fragments), fragment_opcode
                        fragments, fragment_opcode = [], None
                        if kind == OP_TEXT:
                            self.owner._received(self, whole.decode("utf-8"))
        except _ProtocolError:
            with contextlib.suppress(OSError):
                self._write(encode_frame(OP_CLOSE, struct.pack("!H", CLOSE_PROTOCOL_ERROR)))
        except (_Closed, OSError, ValueError):
            pass
        finally:
            self._drop()


class SandboxSocketMode:
    """A loopback Socket Mode endpoint on 127.0.0.1; records every session, envelope and ack."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, app_id: str = "A0MASSALERT", path: str = "/link"
    ) -> None:
        self.app_id = app_id
        self.path = path
        self._address = (host, port)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.RLock()
        self._numbers = itertools.count(1)
        self.links: list[Link] = []
        #: The app's acks by envelope id, and every envelope pushed (in order).
        self.acks: dict[str, dict[str, Any]] = {}
        self.envelopes: list[dict[str, Any]] = []

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """ws://127.0.0.1:PORT/link (apps.connections.open adds the ticket)."""
        if self._listener is None:
            raise RuntimeError("the Socket Mode sandbox is not started; call start() first")
        host, port = self._listener.getsockname()[:2]
        return f"ws://{host}:{port}{self.path}"

    def start(self) -> SandboxSocketMode:
        """Listen and accept on a daemon thread; returns self."""
        if self._listener is not None:
            return self
        listener = socket.create_server(self._address)
        listener.settimeout(0.05)
        self._listener = listener
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name="sandbox-socket-mode", daemon=True)
        self._thread.start()
        return self

    def attach(self, slack: SandboxSlack) -> SandboxSocketMode:
        """Make the Slack sandbox's apps.connections.open hand out this server's URL."""
        slack.socket_url = self.url
        return self

    def stop(self) -> None:
        """Close every session (1001 going away) and stop listening."""
        if self._listener is None:
            return
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._listener.close()
        self._listener = None
        self._thread = None
        for link in list(self.links):
            link.close(CLOSE_GOING_AWAY)
            link._thread.join(timeout=5)

    def __enter__(self) -> SandboxSocketMode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(
                target=self._open, args=(sock,), name="sandbox-socket-handshake", daemon=True
            ).start()

    # --- the opening handshake ---------------------------------------------------------------

    def _open(self, sock: socket.socket) -> None:
        sock.settimeout(5.0)
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = sock.recv(1024)
                if not chunk or len(request) > MAX_HEADER_BYTES:
                    sock.close()
                    return
                request += chunk
            head, rest = request.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = [*lines[0].split(" "), "", "", ""][:3]
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:])
                if name
            }
            key = headers.get("sec-websocket-key", "")
            upgrade_ok = (
                method == "GET"
                and headers.get("upgrade", "").lower() == "websocket"
                and "upgrade" in headers.get("connection", "").lower()
                and headers.get("sec-websocket-version") == "13"
                and key
                and target.split("?", 1)[0] == self.path
            )
            if not upgrade_ok:
                sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                sock.close()
                return
            sock.sendall(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
                ).encode("ascii")
            )
            sock.settimeout(None)
        except OSError:
            sock.close()
            return
        link = Link(self, sock, target)
        link._buffer = rest  # a client may send its first frame right behind the request
        with self._lock:
            self.links.append(link)
            count = sum(1 for each in self.links if each.open)
        link._thread.start()
        try:
            link.send_json(
                {
                    "type": "hello",
                    "num_connections": count,
                    "debug_info": {
                        "host": "applink-sandbox",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self.app_id},
                }
            )
        except OSError:
            link._drop()

    # --- messages ----------------------------------------------------------------------------

    def _received(self, link: Link, text: str) -> None:
        try:
            message: Any = json.loads(text)
        except ValueError:
            message = text
        with self._lock:
            link.received.append(message)
            if isinstance(message, dict) and isinstance(message.get("envelope_id"), str):
                self.acks[message["envelope_id"]] = message

    def current(self) -> Link | None:
        """The newest open session, if any."""
        with self._lock:
            return next((link for link in reversed(self.links) if link.open), None)

    def push(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool = True,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> str:
        """Send one envelope (slash_commands, interactive, events_api) on the newest session; its id."""
        link = self.current()
        if link is None:
            raise ConnectionError("no Socket Mode session is connected")
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
            "payload": payload,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        with self._lock:
            self.envelopes.append(envelope)
        link.send_json(envelope)
        return envelope_id

    def _wait(self, found: Any, what: str, timeout: float) -> Any:
        def locked() -> Any:
            with self._lock:
                return found()

        return wait_for(locked, what, timeout)

    def wait_connected(self, timeout: float = 5.0) -> Link:
        """The newest session once it is open and greeted with `hello`."""
        return self._wait(
            lambda: (link := self.current()) is not None and link.sent and link,
            "a Socket Mode session",
            timeout,
        )

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The app's ack of one envelope."""
        return self._wait(lambda: self.acks.get(envelope_id), f"the ack of envelope {envelope_id}", timeout)
