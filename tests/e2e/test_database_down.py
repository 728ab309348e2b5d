"""The database goes away under a running worker: it backs off and says so once, then once when it is back.

The worker reaches PostgreSQL through a TCP relay this test controls; "down" closes every connection and
every new one at once (as a restarting server does). Before issue 10 each 50 ms tick logged a ~125-line
traceback for as long as the database was away.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from sandbox import polling
from sandbox.twilio import SandboxTwilio
from services import db
from tests.e2e.test_crash_recovery import SID, TOKEN, env_for, worker


class Relay:
    """A TCP relay to the database that can refuse everything (`down`) and come back (`up`)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = False
        self.refused = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                with self._lock:
                    self.refused += 1
                client.close()
                continue
            server = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, server]
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        pair = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select(list(pair), [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def go_down(self) -> None:
        self.down = True
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def close(self) -> None:
        self._stop = True
        self.go_down()
        self.listener.close()


def test_worker_logs_one_line_when_the_database_goes_and_one_when_it_is_back(
    db_url: str, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the relay stands between the worker and a PostgreSQL server")
    db.upgrade(db_url)
    parts = urlsplit(db_url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    relayed = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{relay.port}"))
    lines: list[str] = []
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False) as sandbox:
        proc = worker(env_for(relayed, sandbox, tmp_path))
        assert proc.stdout is not None
        stdout = proc.stdout
        reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
        reader.start()
        try:
            polling.wait_for(lambda: any("running" in line for line in lines), "the worker to start", 60)
            relay.go_down()
            polling.wait_for(lambda: relay.refused >= 6, "the worker to retry a few times", 60, interval=0.05)
            down_lines = len(lines)
            relay.down = False
            polling.wait_for(
                lambda: any("database reachable again" in line for line in lines), "the recovery line", 60
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            relay.close()
            reader.join(timeout=10)
    text = "".join(lines)
    assert text.count("database unreachable:") == 1, text[-3000:]
    assert "retrying" in next(line for line in lines if "database unreachable:" in line)
    assert text.count("database reachable again") == 1, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert down_lines <= 4, text[-3000:]  # "running", maybe the start-up notice, and the one line
