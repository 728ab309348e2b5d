"""Delivery benchmarks (issue 4).

(a) Many clinics sending at once at the default 12 s pace through sandbox Twilio with 150 ms latency:
    lateness of each text against its intended slot, the smallest gap per number, exactly-once.
(b) Conversation texts queued during (a): time from queued to sent.
(c) One 100,000-client alert: time to create it, time to write its report, peak RSS.
(floor) The same slots sent by a bare in-memory scheduler (no database, no claims, no turns) through the
    same Twilio SDK path to the same sandbox, in its own process: the machine's floor for (a)'s lateness.

    .venv/bin/python -m benchmarks.bench_delivery                      # everything, SQLite and PostgreSQL
    .venv/bin/python -m benchmarks.bench_delivery --backend sqlite --clinics 200 --duration 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from sandbox.twilio import SandboxTwilio
from services import alerts, db
from services.models import (
    AlertDelivery,
    Appointment,
    Client,
    Clinic,
    Conversation,
    ConversationMessage,
    Patient,
    Sender,
)
from services.reports import write_report
from services.timeranges import TimeRange

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SID = "AC" + "b" * 32
TOKEN = "bench-token"


#: Seconds the pacing run gives its worker processes to start before the first slot.
WARM_UP_SECONDS = 5.0


def fresh_database(backend: str, name: str) -> str:
    """A new empty database URL: a SQLite file or a PostgreSQL schema, migrated to head."""
    OUT.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = OUT / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        admin.dispose()
        url = f"{PG_URL}?options={quote(f'-csearch_path={name}')}"
    db.upgrade(url)
    return url


def seed_clinics(url: str, clinics: int, clients_each: int, now: datetime) -> None:
    """`clinics` clinics with `clients_each` clients, each with one appointment tomorrow."""
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(Clinic),
            [
                {
                    "id": c + 1,
                    "name": f"Clinic {c:04d}",
                    "timezone": "America/Chicago",
                    "two_way_texting": True,
                    "sending_hours_start": 0,  # any hour: the benchmark runs whenever it is started
                    "sending_hours_end": 24 * 60,
                    "sms_from": f"+1312{c:07d}",
                    "created_at": now,
                }
                for c in range(clinics)
            ],
        )
        rows = [(c, i) for c in range(clinics) for i in range(clients_each)]
        conn.execute(
            insert(Client),
            [
                {
                    "id": n + 1,
                    "clinic_id": c + 1,
                    "external_id": f"c{n}",
                    "full_name": f"Client {n}",
                    "phone_raw": f"+1415{n:07d}",
                    "phone_e164": f"+1415{n:07d}",
                }
                for n, (c, _) in enumerate(rows)
            ],
        )
        conn.execute(
            insert(Patient),
            [
                {"id": n + 1, "clinic_id": c + 1, "client_id": n + 1, "external_id": f"p{n}", "name": "Max"}
                for n, (c, _) in enumerate(rows)
            ],
        )
        conn.execute(
            insert(Appointment),
            [
                {
                    "clinic_id": c + 1,
                    "client_id": n + 1,
                    "patient_id": n + 1,
                    "external_id": f"a{n}",
                    "start_at": now + timedelta(days=1, minutes=i),
                    "status": "scheduled",
                }
                for n, (c, i) in enumerate(rows)
            ],
        )
    engine.dispose()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def run_pacing(
    backend: str,
    clinics: int,
    duration: float,
    latency: float,
    workers: int,
    burst: bool,
    timeout_share: float = 0.0,
) -> dict:
    """Parts (a) and (b).

    `timeout_share` of the alert creates are answered after the worker's Twilio timeout (1 s), so
    they are left in doubt and settled by the reconciler.
    """
    pace = 12.0
    url = fresh_database(backend, "bench_delivery")
    now = datetime.now(UTC)
    clients_each = int(duration // pace) + 1
    seed_clinics(url, clinics, clients_each, now)
    sessions = db.make_session_factory(db.make_engine(url))
    for c in range(clinics):
        alerts.create_alert(
            sessions,
            alerts.AlertRequest(
                c + 1, "Bench", TimeRange(now, now + timedelta(days=7)), "Storm closure at 3 PM today."
            ),
            now=now,
            default_pace=pace,
            max_chars=320,
        )
    if backend == "postgresql":
        with sessions() as session, session.begin():
            session.execute(text("ANALYZE"))  # what autovacuum does on a live database
    with sessions() as session, session.begin():  # nothing is due until the workers are up (below)
        session.execute(update(Sender).values(next_alert_at=datetime(2999, 1, 1, tzinfo=UTC)))
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, latency=latency, send_callbacks=False) as sandbox:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_URL": sandbox.url,
            "PUBLIC_BASE_URL": "http://127.0.0.1:9",
            "SEND_CONCURRENCY": "96",
            # Every worker's pool within PostgreSQL's max_connections (100) with room for this script.
            "DATABASE_POOL_SIZE": str(min(10, 80 // workers)),
            "DATABASE_MAX_OVERFLOW": str(max(0, min(30, 80 // workers) - 10)),
            "DISPATCH_INTERVAL_SECONDS": "0.05",
            "LOG_LEVEL": "WARNING",
            "COMPLETION_GRACE_SECONDS": "3600",
            **({"TWILIO_TIMEOUT_SECONDS": "1", "DELIVERY_LEASE_SECONDS": "4"} if timeout_share else {}),
        }

        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "worker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        # Let the workers start (interpreter, imports, connections, first claims) before any slot falls
        # due, so lateness measures the engine, not process start-up; then the first slot is in 1 s.
        time.sleep(WARM_UP_SECONDS)
        start = datetime.now(UTC) + timedelta(seconds=1)
        with sessions() as session, session.begin():
            for sender in session.scalars(select(Sender).order_by(Sender.id)):
                # Alerts confirmed one after another across one pace window (or all at once with --burst).
                offset = 0.0 if burst else (sender.id - 1) * pace / clinics
                sender.next_alert_at = start + timedelta(seconds=offset)
        conv_ids: list[int] = []
        rng = random.Random(1)
        seen_arrivals, owed = 0, 0.0
        try:
            deadline = time.monotonic() + 1 + duration
            next_conv = time.monotonic() + 3
            while time.monotonic() < deadline:
                if timeout_share:  # make the next creates time out, in proportion to what arrived
                    arrived = len(sandbox.arrivals())
                    owed += (arrived - seen_arrivals) * timeout_share
                    seen_arrivals = arrived
                    if owed >= 1:
                        sandbox.delay_response_for(int(owed), 2.0)
                        owed -= int(owed)
                if time.monotonic() >= next_conv:
                    conv_ids.append(
                        queue_conversation_text(sessions, rng.randrange(clinics) + 1, clients_each)
                    )
                    next_conv += 2
                time.sleep(0.05)
        finally:
            for proc in procs:
                proc.terminate()
            errors = [_stopped(proc) for proc in procs]
        messages = sandbox.messages
        arrivals = sandbox.arrivals()
    with sessions() as session:
        rows = session.execute(
            select(AlertDelivery.requested_at, AlertDelivery.slot_at, AlertDelivery.phone_e164).where(
                AlertDelivery.requested_at.is_not(None)
            )
        ).all()
        handed_over = session.scalar(
            select(func.count()).select_from(AlertDelivery).where(AlertDelivery.twilio_sid.is_not(None))
        )
        stuck = session.scalar(
            select(func.count())
            .select_from(AlertDelivery)
            .where(AlertDelivery.status.in_(("sending", "in_doubt")))
        )
        convs = session.execute(
            select(
                ConversationMessage.created_at, ConversationMessage.requested_at, ConversationMessage.status
            ).where(ConversationMessage.id.in_(conv_ids))
        ).all()
    late = [(r.requested_at - r.slot_at).total_seconds() * 1000 for r in rows]
    alert_msgs = [m for m in messages if m.body.startswith("Storm")]
    per_to: dict[str, int] = {}
    for m in alert_msgs:
        per_to[m.to] = per_to.get(m.to, 0) + 1
    # Gaps where Twilio records each create's arrival (monotonic), alert texts only.
    alert_sids = {m.sid for m in alert_msgs}
    by_sender: dict[str, list[float]] = {}
    for a in arrivals:
        if a.sid in alert_sids:
            by_sender.setdefault(a.from_ or "", []).append(a.monotonic)
    gaps = [b - a for times in by_sender.values() for a, b in pairwise(sorted(times))]
    min_gap = min(gaps, default=float("nan"))
    conv_wait = [(c.requested_at - c.created_at).total_seconds() * 1000 for c in convs if c.requested_at]
    return {
        "backend": backend,
        "workers": workers,
        "clinics": clinics,
        "duration_s": duration,
        "latency_ms": latency * 1000,
        "burst": burst,
        "timeout_share": timeout_share,
        "asked_texts_per_second": round(clinics / pace, 1),
        "alert_texts_sent": len(alert_msgs),
        "texts_per_second": round(len(alert_msgs) / duration, 1),
        "duplicates": sum(1 for n in per_to.values() if n > 1),
        "rows_with_provider_sid": handed_over,
        "rows_left_in_flight": stuck,
        "provider_messages_without_row": len(alert_msgs) - handed_over,
        "lateness_ms": {
            "p50": round(percentile(late, 50), 1),
            "p95": round(percentile(late, 95), 1),
            "p99": round(percentile(late, 99), 1),
            "max": round(max(late, default=0), 1),
        },
        "min_gap_s": round(min_gap, 3),
        "gaps_below_pace": sum(1 for g in gaps if g < pace),
        "gap_p50_s": round(percentile(gaps, 50), 3),
        "pace_s": pace,
        "conversation_texts": {
            "queued": len(conv_ids),
            "sent": len(conv_wait),
            "p50_ms": round(percentile(conv_wait, 50), 1),
            "p99_ms": round(percentile(conv_wait, 99), 1),
        },
        "worker_errors": [e.strip().splitlines()[-1] for e in errors if "Traceback" in e],
    }


def _stopped(proc: subprocess.Popen[str]) -> str:
    """A terminated worker's stderr; one that has not stopped 60 s after SIGTERM is killed and said so."""
    try:
        return proc.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[1] + "\nTraceback: worker still running 60 s after SIGTERM; killed"


def queue_conversation_text(sessions: sessionmaker[Session], clinic_id: int, clients_each: int) -> int:
    """A staff reply queued on a clinic's number while its alert is sending."""
    client_id = (clinic_id - 1) * clients_each + 1
    with sessions() as session, session.begin():
        phone = session.scalar(select(Client.phone_e164).where(Client.id == client_id))
        key = session.scalar(select(Clinic.sms_from).where(Clinic.id == clinic_id))
        conv = session.scalar(
            select(Conversation).where(Conversation.clinic_id == clinic_id, Conversation.status == "active")
        )
        if conv is None:
            conv = Conversation(clinic_id=clinic_id, client_id=client_id, phone_e164=phone)
            session.add(conv)
            session.flush()
        msg = ConversationMessage(
            conversation_id=conv.id,
            direction="outbound",
            body="See you at 4!",
            sender_key=f"from:{key}",
            to_phone=phone,
            status="queued",
            created_at=datetime.now(UTC),
        )
        session.add(msg)
        session.flush()
        return msg.id


def run_big_alert(backend: str, clients: int) -> dict:
    """Part (c), run in its own process so peak RSS is its own."""
    url = fresh_database(backend, "bench_big_alert")
    now = datetime.now(UTC)
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(Clinic),
            [
                {
                    "id": 1,
                    "name": "Big Clinic",
                    "timezone": "America/Chicago",
                    "two_way_texting": True,
                    "sending_hours_start": 0,  # any hour: the benchmark runs whenever it is started
                    "sending_hours_end": 24 * 60,
                    "sms_from": "+13125550000",
                    "created_at": now,
                }
            ],
        )
        for start in range(0, clients, 20000):
            chunk = range(start, min(clients, start + 20000))
            conn.execute(
                insert(Client),
                [
                    {
                        "id": n + 1,
                        "clinic_id": 1,
                        "external_id": f"c{n}",
                        "full_name": f"Client {n}",
                        "phone_raw": f"+1415{n:07d}",
                        "phone_e164": f"+1415{n:07d}",
                    }
                    for n in chunk
                ],
            )
            conn.execute(
                insert(Patient),
                [
                    {"id": n + 1, "clinic_id": 1, "client_id": n + 1, "external_id": f"p{n}", "name": "Max"}
                    for n in chunk
                ],
            )
            conn.execute(
                insert(Appointment),
                [
                    {
                        "clinic_id": 1,
                        "client_id": n + 1,
                        "patient_id": n + 1,
                        "external_id": f"a{n}",
                        "status": "scheduled",
                        "start_at": now + timedelta(hours=1, seconds=n * 5),
                    }
                    for n in chunk
                ],
            )
    engine.dispose()
    sessions = db.make_session_factory(db.make_engine(url))
    t0 = time.perf_counter()
    alert_id, _ = alerts.create_alert(
        sessions,
        alerts.AlertRequest(1, "Bench", TimeRange(now, now + timedelta(days=7)), "Storm closure."),
        now=now,
        default_pace=12,
        max_chars=320,
    )
    create_s = time.perf_counter() - t0
    with sessions() as session, session.begin():
        session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.alert_id == alert_id)
            .values(status="delivered", requested_at=now, final_at=now)
        )
    t0 = time.perf_counter()
    path = write_report(sessions, alert_id, OUT / "reports")
    report_s = time.perf_counter() - t0
    with path.open() as handle:
        lines = sum(1 for _ in handle) - 1
    return {
        "backend": backend,
        "clients": clients,
        "create_s": round(create_s, 2),
        "report_s": round(report_s, 2),
        "report_rows": lines,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_floor(clinics: int, duration: float, latency: float) -> dict:
    """The floor: a bare in-memory scheduler sends (a)'s slots (one text per number every 12 s, numbers
    spread over one pace) through services.sms.TwilioGateway to sandbox Twilio, in a worker process of its
    own (`--floor-only-url`) shaped like the app's: one claiming thread, 96 sending threads that sleep to
    their slot. Lateness is request time minus slot, as in (a)."""
    pace = 12.0
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, latency=latency, send_callbacks=False) as sandbox:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_delivery",
                "--floor-only-url",
                sandbox.url,
                "--clinics",
                str(clinics),
                "--duration",
                str(duration),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        late = [float(v) for v in out.stdout.split()]
        sent = len(sandbox.messages)
        by_sender = sandbox.arrivals_by_sender()
    gaps = [b - a for times in by_sender.values() for a, b in pairwise(sorted(times))]
    return {
        "part": "floor",
        "clinics": clinics,
        "duration_s": duration,
        "latency_ms": latency * 1000,
        "asked_texts_per_second": round(clinics / pace, 1),
        "texts_per_second": round(sent / duration, 1),
        "lateness_ms": {
            "p50": round(percentile(late, 50), 1),
            "p95": round(percentile(late, 95), 1),
            "p99": round(percentile(late, 99), 1),
            "max": round(max(late, default=0), 1),
        },
        "min_gap_s": round(min(gaps, default=float("nan")), 3),
        "errors": out.stderr.strip().splitlines()[-1:] if out.returncode else [],
    }


def floor_worker(url: str, clinics: int, duration: float) -> None:
    """The floor's process: print each text's lateness in ms (see run_floor)."""
    import heapq
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from services.sms import SendRequest, TwilioGateway

    pace, lookahead = 12.0, 0.5
    gateway = TwilioGateway(SID, TOKEN, api_url=url, timeout=10.0)
    start = time.time() + 1.0
    end = start + duration
    slots = [(start + i * pace / clinics, i) for i in range(clinics)]
    heapq.heapify(slots)
    late: list[float] = []
    lock = threading.Lock()

    def send(slot: float, i: int) -> None:
        wait = slot - time.time()
        if wait > 0:
            time.sleep(wait)
        sent_at = time.time()
        gateway.send(SendRequest(to=f"+1415{i:07d}", body="Storm closure.", from_=f"+1312{i:07d}"))
        with lock:
            late.append((sent_at - slot) * 1000)

    with ThreadPoolExecutor(max_workers=96) as pool:
        while slots and slots[0][0] < end:
            now = time.time()
            while slots and slots[0][0] <= now + lookahead and slots[0][0] < end:
                slot, i = heapq.heappop(slots)
                pool.submit(send, slot, i)
                heapq.heappush(slots, (slot + pace, i))
            time.sleep(0.05)
    print(" ".join(f"{v:.3f}" for v in late))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--clinics", default="1000", help="clinics, or a comma list for a capacity curve (250,1000,2000,4000)"
    )
    parser.add_argument(
        "--workers", type=int, help="worker processes (default: 1 on SQLite, 2 on PostgreSQL)"
    )
    parser.add_argument(
        "--timeout-share", type=float, default=0.0, help="share of alert creates that time out (0.05 = 5 %%)"
    )
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--burst", action="store_true", help="every alert's first slot at the same instant")
    parser.add_argument("--big-clients", type=int, default=100_000)
    parser.add_argument("--part", choices=("pacing", "big", "floor", "all"), default="all")
    parser.add_argument("--big-only-backend", help=argparse.SUPPRESS)
    parser.add_argument("--floor-only-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_only_url:
        floor_worker(args.floor_only_url, int(args.clinics), args.duration)
        return
    if args.part == "floor":
        for clinics in (int(c) for c in str(args.clinics).split(",")):
            print(json.dumps(run_floor(clinics, args.duration, args.latency)), flush=True)
        return
    if args.big_only_backend:
        print(json.dumps(run_big_alert(args.big_only_backend, args.big_clients)))
        return
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        if args.part in ("pacing", "all"):
            workers = args.workers or (1 if backend == "sqlite" else 2)
            for clinics in (int(c) for c in str(args.clinics).split(",")):
                result = run_pacing(
                    backend,
                    clinics,
                    args.duration,
                    args.latency,
                    workers,
                    args.burst,
                    args.timeout_share,
                )
                print(json.dumps(result), flush=True)
        if args.part in ("big", "all"):
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_delivery",
                    "--big-only-backend",
                    backend,
                    "--big-clients",
                    str(args.big_clients),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            print(out.stdout.strip() or out.stderr[-2000:], flush=True)


if __name__ == "__main__":
    main()
