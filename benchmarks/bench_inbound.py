"""Inbound replies over HTTP: server time per signed webhook, then a steady 200 replies/s for 30 s.

Run: `.venv/bin/python -m benchmarks.bench_inbound [--rate 200] [--seconds 30] [--skip-postgres]`.
The app (waitress on 127.0.0.1, the /twilio/inbound route with the Slack relay pointed at a sandbox
Slack) runs in this process; a second process drives it with Twilio-signed requests over keep-alive
connections on loopback, so the load generator does not share the server's interpreter lock.
SQLite: a fresh file under benchmarks/out/; PostgreSQL: a fresh schema at BENCH_DATABASE_URL (default:
TEST_DATABASE_URL, else local `test`). 3% of the requests repeat an earlier MessageSid (Twilio's retries).
The relay posts to Slack on background lanes (`--lanes 4`, what production should run); `--lanes 0`
posts inside the webhook request instead, so its server time includes the Slack call.
Prints the server-time median/p95/p99, the rate reached, errors, and the row counts that prove every
reply was stored, and relayed to Slack, exactly once.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import multiprocessing
import os
import queue
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from slack_sdk import WebClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.container import AppContext
from bot.conversation_relay import ConversationRelay
from bot.inbound import make_inbound_handler
from bot.web import TwilioRoutes, WebApp, serve_in_thread
from sandbox.signing import SIGNATURE_HEADER, twilio_signature
from sandbox.slack import SandboxSlack
from services.clock import SystemClock
from services.db import make_engine, make_session_factory
from services.models import Base, Client, Clinic, Conversation, ConversationMessage, InboundEvent, Patient
from services.settings import Settings

OUT = Path(__file__).resolve().parent / "out"
TOKEN = "bench-twilio-token"
ACCOUNT = "AC" + "3" * 32
CLINIC_NUMBER = "+15005550006"
CHANNEL = "C0BENCH"
RETRY_SHARE = 0.03
LATENCY_REQUESTS = 300
SENDERS = 24


# --- the load generator (runs in its own process) ---------------------------------------------------


def _drive(port: int, requests: list[tuple[str, str]], rate: float, senders: int, out: Any) -> None:
    """Send `requests` (body, signature) at `rate` per second; report statuses, latencies and lateness."""
    work: queue.Queue[tuple[int, str, str] | None] = queue.Queue()
    statuses: list[int] = [0] * len(requests)
    latencies: list[float] = [0.0] * len(requests)
    lateness: list[float] = [0.0] * len(requests)
    start = time.perf_counter() + 0.2
    due = [start + i / rate for i in range(len(requests))]

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (item := work.get()) is not None:
            index, body, signature = item
            began = time.perf_counter()
            lateness[index] = began - due[index]
            try:
                conn.request(
                    "POST",
                    "/twilio/inbound",
                    body=body,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        SIGNATURE_HEADER: signature,
                    },
                )
                response = conn.getresponse()
                response.read()
                statuses[index] = response.status
            except (OSError, http.client.HTTPException):
                statuses[index] = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies[index] = time.perf_counter() - began
        conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    for index, (body, signature) in enumerate(requests):
        wait = due[index] - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        work.put((index, body, signature))
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    out.send(
        {
            "statuses": statuses,
            "latencies": latencies,
            "lateness": lateness,
            "elapsed": time.perf_counter() - start,
        }
    )


# --- the server side ---------------------------------------------------------------------------------


class Timed:
    """WSGI middleware recording the server time of each request (call to last byte produced)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        began = time.perf_counter()
        body = list(self.app(environ, start_response))
        spent = time.perf_counter() - began
        with self._lock:
            self.times.append(spent)
        return body


def seed(sessions: sessionmaker[Session], clients: int) -> list[str]:
    """One clinic linked to the channel, `clients` clients with a pet each; their numbers."""
    phones = [f"+1312{5550000 + i:07d}" for i in range(clients)]
    with sessions() as session, session.begin():
        clinic = Clinic(
            name="Bench Paws",
            timezone="America/Chicago",
            sms_from=CLINIC_NUMBER,
            contact_phone="(312) 555-0100",
            slack_channel_id=CHANNEL,
        )
        session.add(clinic)
        session.flush()
        session.add_all(
            Client(
                clinic_id=clinic.id, external_id=f"c{i}", full_name=f"Client {i}", phone_raw=p, phone_e164=p
            )
            for i, p in enumerate(phones)
        )
        session.flush()
        ids = session.scalars(select(Client.id).order_by(Client.id)).all()
        session.add_all(
            Patient(clinic_id=clinic.id, client_id=cid, external_id=f"p{cid}", name=f"Pet {cid}")
            for cid in ids
        )
    return phones


def signed_requests(
    port: int, phones: list[str], count: int, prefix: str, rnd: random.Random
) -> tuple[list[tuple[str, str]], int]:
    """`count` signed inbound forms (some repeating an earlier MessageSid); and how many distinct sids."""
    url = f"http://127.0.0.1:{port}/twilio/inbound"
    made: list[tuple[str, str]] = []
    distinct = 0
    for i in range(count):
        if made and rnd.random() < RETRY_SHARE:
            made.append(made[rnd.randrange(len(made))])
            continue
        distinct += 1
        sid = f"SM{prefix}{i:08d}".ljust(34, "0")[:34]
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": f"Reply {prefix}-{i}: can we come later?",
            "FromCountry": "US",
            "To": CLINIC_NUMBER,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT,
            "From": rnd.choice(phones),
            "ApiVersion": "2010-04-01",
        }
        made.append((urlencode(params), twilio_signature(TOKEN, url, params)))
    return made, distinct


def drive(port: int, requests: list[tuple[str, str]], rate: float, senders: int = SENDERS) -> dict[str, Any]:
    """Run the load generator in a child process and wait for its numbers."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_drive, args=(port, requests, rate, senders, send))
    process.start()
    result: dict[str, Any] = receive.recv()
    process.join()
    return result


def _serve_slack(conn: Any) -> None:
    """Child process: a sandbox Slack; sends its URL, then the channel's post count when asked."""
    with SandboxSlack() as slack:
        slack.add_channel(CHANNEL, "bench")
        conn.send((slack.url, slack.bot_token))
        conn.recv()
        conn.send(len(slack.messages.get(CHANNEL, [])))


def start_slack() -> tuple[str, str, Callable[[], int]]:
    """Run the sandbox Slack in its own process; (url, token, a function returning its post count)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve_slack, args=(child,), daemon=True)
    process.start()
    url, token = parent.recv()

    def posts() -> int:
        parent.send("count")
        value: int = parent.recv()
        process.join(timeout=10)
        return value

    return url, token, posts


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Outcome:
    """The numbers measured on one backend."""

    backend: str
    median_ms: float
    p95_ms: float
    p99_ms: float
    load_median_ms: float
    load_p95_ms: float
    rate: float
    sent: int
    errors: int
    late_p95_ms: float
    stored_events: int
    stored_messages: int
    expected: int
    duplicate_bodies: int
    relayed: int
    slack_posts: int
    conversations: int
    claimed_unposted: int


def run_backend(backend: str, url: str, rate: float, seconds: float, clients: int, lanes: int) -> Outcome:
    """Serve the inbound route on a fresh database, measure it alone and under load, count the rows."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    phones = seed(sessions, clients)
    clock = SystemClock()
    rnd = random.Random(20261201)
    slack_url, slack_token, slack_posts = start_slack()
    client = WebClient(base_url=slack_url, token=slack_token)
    ctx = AppContext(Settings(), sessions, clock, client)
    relay = ConversationRelay(sessions, client, clock, lanes=lanes)
    routes = TwilioRoutes(sessions, clock, TOKEN, None, inbound=make_inbound_handler(ctx, relay))
    timed = Timed(WebApp(sessions, routes))
    server = serve_in_thread(timed)
    port = server.effective_port
    routes.public_base_url = f"http://127.0.0.1:{port}"
    try:
        warm, warm_distinct = signed_requests(port, phones, LATENCY_REQUESTS, "w", rnd)
        quiet = drive(port, warm, rate=1e6, senders=1)  # back to back on one connection: a lone webhook
        lone = list(timed.times)
        timed.times.clear()
        total = int(rate * seconds)
        load, load_distinct = signed_requests(port, phones, total, "l", rnd)
        loud = drive(port, load, rate=rate)
        under_load = list(timed.times)
        relay.wait_idle(120)
        deadline = time.monotonic() + 120
        while relay.sync() and time.monotonic() < deadline:  # replies left over by a full backlog
            pass
    finally:
        server.close()
        relay.close()
    with sessions() as session:
        events = session.scalar(select(func.count()).select_from(InboundEvent)) or 0
        messages = session.scalar(select(func.count()).select_from(ConversationMessage)) or 0
        distinct_bodies = session.scalar(select(func.count(func.distinct(ConversationMessage.body)))) or 0
        relayed = (
            session.scalar(
                select(func.count())
                .select_from(ConversationMessage)
                .where(ConversationMessage.slack_ts.is_not(None))
            )
            or 0
        )
        conversations = session.scalar(select(func.count()).select_from(Conversation)) or 0
        waiting = (
            session.scalar(
                select(func.count())
                .select_from(ConversationMessage)
                .where(
                    ConversationMessage.slack_ts.is_(None), ConversationMessage.relay_claimed_at.is_not(None)
                )
            )
            or 0
        )
    posts = slack_posts()
    engine.dispose()
    statuses = quiet["statuses"] + loud["statuses"]
    return Outcome(
        backend=backend,
        median_ms=statistics.median(lone) * 1000,
        p95_ms=percentile(lone, 0.95) * 1000,
        p99_ms=percentile(lone, 0.99) * 1000,
        load_median_ms=statistics.median(under_load) * 1000,
        load_p95_ms=percentile(under_load, 0.95) * 1000,
        rate=len(load) / loud["elapsed"],
        sent=len(statuses),
        errors=sum(1 for s in statuses if s != 200),
        late_p95_ms=percentile(loud["lateness"], 0.95) * 1000,
        stored_events=events,
        stored_messages=messages,
        expected=warm_distinct + load_distinct,
        duplicate_bodies=messages - distinct_bodies,
        relayed=relayed,
        slack_posts=posts,
        conversations=conversations,
        claimed_unposted=waiting,
    )


def sqlite_url() -> str:
    """A fresh SQLite file under benchmarks/out/."""
    OUT.mkdir(exist_ok=True)
    path = OUT / "inbound.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def postgres_url() -> tuple[str, Callable[[], None]] | None:
    """A fresh PostgreSQL schema and the function that drops it; None when PostgreSQL cannot be reached."""
    base = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    schema = f"bench_inbound_{uuid.uuid4().hex[:6]}"
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:
        print(f"PostgreSQL skipped: {error}")
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}", drop


def report(o: Outcome, rate: float) -> None:
    """Print one backend's numbers."""
    correct = (
        o.errors == 0
        and o.stored_events == o.expected
        and o.stored_messages == o.expected
        and o.duplicate_bodies == 0
        and o.relayed == o.expected
        and o.slack_posts == o.expected
    )
    fast = o.median_ms <= 20 and o.rate >= 0.97 * rate
    print(f"\n== {o.backend} == (load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(
        f"server time per webhook, alone:      median {o.median_ms:.1f} ms · p95 {o.p95_ms:.1f} ms · "
        f"p99 {o.p99_ms:.1f} ms  (target: median <= 20 ms)"
    )
    print(
        f"server time per webhook, under load: median {o.load_median_ms:.1f} ms · p95 {o.load_p95_ms:.1f} ms"
    )
    print(
        f"load: {o.rate:.0f} requests/s reached of {rate:.0f}/s asked · {o.sent} requests · "
        f"{o.errors} errors · p95 start lateness {o.late_p95_ms:.0f} ms"
    )
    print(
        f"rows: {o.stored_events} inbound events, {o.stored_messages} messages for {o.expected} distinct "
        f"MessageSids · {o.duplicate_bodies} duplicates · {o.conversations} conversations"
    )
    print(
        f"slack: {o.relayed} messages relayed, {o.slack_posts} posts in the channel, "
        f"{o.claimed_unposted} still claimed by a relayer"
    )
    print(
        f"result: {'no error, no duplicate, every reply relayed' if correct else 'WRONG ROWS OR ERRORS'}; "
        f"{'targets met' if fast else 'targets NOT met (server time or rate)'}"
    )


def main() -> None:
    """Run the benchmark on SQLite and PostgreSQL and print the numbers."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" is reported below
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument(
        "--lanes",
        type=int,
        default=4,
        help="background Slack relay lanes (0: post inside the webhook request)",
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        outcome = run_backend("SQLite", sqlite_url(), args.rate, args.seconds, args.clients, args.lanes)
        report(outcome, args.rate)
    if not args.skip_postgres and (pg := postgres_url()) is not None:
        url, drop = pg
        try:
            outcome = run_backend("PostgreSQL", url, args.rate, args.seconds, args.clients, args.lanes)
            report(outcome, args.rate)
        finally:
            drop()


if __name__ == "__main__":
    main()
