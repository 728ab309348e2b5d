"""`mass-alert serve` in Socket Mode.

Slack reaches the app over a WebSocket; Twilio and /healthz stay on HTTP.
"""

from __future__ import annotations

import json
import socket
import struct
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_sdk.socket_mode.builtin.internals import (
    _build_data_frame_for_sending,
    _generate_sec_websocket_key,
    _validate_sec_websocket_accept,
)

from bot import serve
from bot.ids import CallbackId
from sandbox import polling
from sandbox.slack import SandboxSlack, SlackCall
from sandbox.slack_requests import slash_command_body
from sandbox.slack_socket import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, SandboxSocketMode
from sandbox.twilio import SandboxTwilio
from services import db
from services.settings import Settings
from tests.e2e.slack_world import ADMIN, CHANNEL, SECRET, TWILIO_SID, TWILIO_TOKEN, seed_database


@dataclass
class SocketWorld:
    slack: SandboxSlack
    socket_mode: SandboxSocketMode
    served: serve.Served


def wait_for(found: Any, what: str, timeout: float = 10.0) -> Any:
    return polling.wait_for(found, what, timeout)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SocketWorld]:
    url = f"sqlite:///{tmp_path / 'socket.db'}"
    db.upgrade(url)
    slack = SandboxSlack().start()
    socket_mode = SandboxSocketMode(app_id=slack.app_id).start().attach(slack)
    twilio = SandboxTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN).start()
    served: serve.Served | None = None
    try:
        slack.add_channel(CHANNEL, "frontdesk")
        slack.add_user(ADMIN, email="ana@happypaws.test", real_name="Dr. Ana Lee")
        settings = Settings(
            database_url=url,
            reports_dir=tmp_path / "reports",
            slack_bot_token=slack.bot_token,
            slack_signing_secret=SECRET,
            slack_app_token=slack.app_token,
            slack_api_url=slack.url,
            twilio_account_sid=TWILIO_SID,
            twilio_auth_token=TWILIO_TOKEN,
            twilio_api_url=twilio.url,
        )
        seed_database(url, slack.team_id)
        served = serve.start(settings, host="127.0.0.1", port=0, worker=False, callbacks_to_self=True)
        yield SocketWorld(slack, socket_mode, served)
    finally:
        if served is not None:
            served.close()
        socket_mode.stop()
        twilio.stop()
        slack.stop()


def slash_command_payload(slack: SandboxSlack, trigger_id: str) -> dict[str, str]:
    """A slash command's Socket Mode payload: the same fields Slack would form-encode over HTTP, as JSON."""
    body = slash_command_body(
        user_id=ADMIN,
        channel_id=CHANNEL,
        trigger_id=trigger_id,
        team_id=slack.team_id,
        team_domain=slack.team_domain,
        api_app_id=slack.app_id,
    )
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def test_slash_command_over_socket_mode_is_acked_and_opens_the_compose_modal(world: SocketWorld) -> None:
    slack, socket_mode = world.slack, world.socket_mode
    link = socket_mode.wait_connected()
    assert link.sent[0]["type"] == "hello"
    (opened,) = slack.calls_to("apps.connections.open")
    assert opened.response["ok"] and opened.response["url"].startswith(socket_mode.url + "?ticket=")
    wait_for(lambda: link.pings, "the client's first ping (answered with a pong)")

    trigger = slack.new_trigger_id()
    envelope_id = socket_mode.push("slash_commands", slash_command_payload(slack, trigger))
    ack = socket_mode.wait_ack(envelope_id)
    assert ack["envelope_id"] == envelope_id
    assert not ack.get("payload")  # a plain ack(): the modal carries the answer

    def loading() -> SlackCall | None:
        return next(
            (
                c
                for c in slack.calls_to("views.open")
                if c.params.get("trigger_id") == trigger and c.response.get("ok")
            ),
            None,
        )

    call = wait_for(loading, "views.open with the slash command's trigger")
    assert call.params["view"]["callback_id"] == CallbackId.LOADING
    view_id = call.response["view"]["id"]

    def compose() -> dict[str, Any] | None:
        view = slack.views.get(view_id)
        return view if view and view.get("callback_id") == CallbackId.COMPOSE else None

    wait_for(compose, "the loading modal to be updated with the form")
    assert any(
        c.params.get("view_id") == view_id and c.response.get("ok") for c in slack.calls_to("views.update")
    )

    with urllib.request.urlopen(f"{world.served.base_url}/healthz", timeout=5) as reply:
        assert reply.status == 200
        assert json.loads(reply.read()) == {"ok": True}
    with urllib.request.urlopen(f"{world.served.base_url}/readyz", timeout=5) as reply:
        assert json.loads(reply.read())["database"] == "ok"
    with pytest.raises(urllib.error.HTTPError) as refused:  # Slack reaches the app over the socket only
        urllib.request.urlopen(urllib.request.Request(f"{world.served.events_url}", data=b"{}"), timeout=5)
    assert refused.value.code == 404


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def _recv_frame(sock: socket.socket) -> tuple[int, bytes]:
    first, second = _recv_exact(sock, 2)
    assert not second & 0x80, "server frames must not be masked"
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _recv_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _recv_exact(sock, 8))
    return first & 0x0F, _recv_exact(sock, length)


def test_the_socket_sandbox_speaks_rfc_6455() -> None:
    """Handshake, hello, masked frames of every length class, ping/pong and the close handshake."""
    with SandboxSocketMode() as server:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            key = _generate_sec_websocket_key()
            sock.sendall(
                (
                    f"GET /link?ticket=t HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            lines = head.decode().split("\r\n")
            assert lines[0].startswith("HTTP/1.1 101")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:]) if k
            }
            assert _validate_sec_websocket_accept(key, headers)

            opcode, data = _recv_frame(sock)
            assert opcode == OP_TEXT and json.loads(data)["type"] == "hello"

            for size in (10, 300, 70_000):  # 7-bit, 16-bit and 64-bit lengths
                text = json.dumps({"envelope_id": f"e{size}", "payload": {"pad": "x" * size}})
                sock.sendall(_build_data_frame_for_sending(text, OP_TEXT))
            sock.sendall(_build_data_frame_for_sending("are you there", OP_PING))
            assert _recv_frame(sock) == (OP_PONG, b"are you there")
            assert {e: len(server.acks[e]["payload"]["pad"]) for e in ("e10", "e300", "e70000")} == {
                "e10": 10,
                "e300": 300,
                "e70000": 70_000,
            }

            envelope_id = server.push("events_api", {"event": {"type": "app_home_opened"}})
            opcode, data = _recv_frame(sock)
            pushed = json.loads(data)
            assert (
                opcode == OP_TEXT and pushed["envelope_id"] == envelope_id and pushed["type"] == "events_api"
            )
            assert pushed["accepts_response_payload"] is True

            sock.sendall(_build_data_frame_for_sending(struct.pack("!H", 1000), OP_CLOSE))
            assert _recv_frame(sock) == (OP_CLOSE, struct.pack("!H", 1000))
            assert sock.recv(1) == b""
        wait_for(lambda: server.current() is None, "the session to close", timeout=5)
