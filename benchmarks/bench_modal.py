"""The live modal under load: a range change in a clinic with 100,000 appointments, measured server-side.

Run: `.venv/bin/python -m benchmarks.bench_modal [--runs 60] [--fresh] [--skip-postgres]`.
The real app is served by waitress on loopback with sandbox Slack; each run posts a signed block_actions
(range select) exactly as Slack does and measures, from the moment the POST starts:
  ack    - the app's HTTP answer (Slack needs it within 3 s),
  update - the views.update request arriving at the Slack sandbox (the recount and the new view).
Slack's own network is not part of it (everything is on 127.0.0.1). Target: median update <= 100 ms.
SQLite: benchmarks/out/modal.db (kept; --fresh rebuilds). PostgreSQL: schema `bench_modal` at
BENCH_DATABASE_URL (else TEST_DATABASE_URL), when reachable.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, create_engine, func, insert, select, text

from bot import serve
from bot.ids import ActionId, BlockId
from sandbox.slack import SandboxSlack
from sandbox.slack_requests import action, state_value
from sandbox.slack_user import SlackUser
from services import db
from services.models import Appointment, Client, Clinic, ClinicUser, Patient
from services.settings import Settings

APPOINTMENTS = 100_000
CLIENTS = 25_000
PETS = 35_000
DAYS_BACK, DAYS_AHEAD = 90, 270
TZ = "America/Chicago"
SECRET = "bench-signing-secret"
ADMIN = "U0BENCHADM"
CHANNEL = "C0BENCH"
OUT = Path(__file__).resolve().parent / "out"
SCHEMA = "bench_modal"
PRESETS = ["today+6", "today+1", "today+3", "rest-of-today", "today+5", "today+2", "today+4"]
LABELS = {"rest-of-today": "Rest of today", "today+1": "Rest of today and tomorrow"}


class TimedSlack(SandboxSlack):
    """The Slack sandbox noting when each views.update request arrives."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.update_arrivals: list[float] = []

    def handle(self, method: str, params: dict[str, Any], token: str | None) -> Any:
        if method == "views.update":
            self.update_arrivals.append(time.perf_counter())
        return super().handle(method, params, token)


def insert_clinic(conn: Connection, team_id: str, now: datetime) -> None:
    """Clinic 1 ("Bench Clinic", linked to CHANNEL) and its admin ADMIN, Slack-linked in `team_id`."""
    conn.execute(
        insert(Clinic),
        [
            {
                "id": 1,
                "name": "Bench Clinic",
                "timezone": TZ,
                "two_way_texting": True,
                "sms_from": "+15005550006",
                "slack_team_id": team_id,
                "slack_channel_id": CHANNEL,
                "created_at": now,
            }
        ],
    )
    conn.execute(
        insert(ClinicUser),
        [
            {
                "clinic_id": 1,
                "full_name": "Dr. Bench",
                "email": "bench@clinic.test",
                "role": "admin",
                "slack_team_id": team_id,
                "slack_user_id": ADMIN,
            }
        ],
    )


def _load(url: str, team_id: str) -> None:
    """One clinic: 25,000 clients, 35,000 pets, 100,000 appointments over a year around now."""
    engine = db.make_engine(url)
    rnd = random.Random(20261201)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as conn:
        insert_clinic(conn, team_id, now)
        clients = []
        for cid in range(1, CLIENTS + 1):
            roll = rnd.random()
            phone = None if roll < 0.04 else f"+1312{cid:07d}"
            clients.append(
                {
                    "id": cid,
                    "clinic_id": 1,
                    "external_id": str(cid),
                    "full_name": f"Client {cid:05d}",
                    "phone_raw": phone or "555-01",
                    "phone_e164": phone,
                    "phone_error": None if phone else "too short",
                    "opted_out_at": now - timedelta(days=3) if roll > 0.97 else None,
                }
            )
        conn.execute(insert(Client), clients)
        owners = [rnd.randint(1, CLIENTS) if pid > CLIENTS else pid for pid in range(1, PETS + 1)]
        conn.execute(
            insert(Patient),
            [
                {
                    "id": pid,
                    "clinic_id": 1,
                    "client_id": owner,
                    "external_id": str(pid),
                    "name": f"Pet {pid}",
                    "deceased": False,
                }
                for pid, owner in enumerate(owners, start=1)
            ],
        )
        minutes = (DAYS_BACK + DAYS_AHEAD) * 24 * 4
        rows = []
        for aid in range(1, APPOINTMENTS + 1):
            pet = rnd.randint(1, PETS)
            start = now - timedelta(days=DAYS_BACK) + timedelta(minutes=15 * rnd.randrange(minutes))
            rows.append(
                {
                    "id": aid,
                    "clinic_id": 1,
                    "patient_id": pet,
                    "client_id": owners[pet - 1],
                    "external_id": str(aid),
                    "start_at": start,
                    "status": "cancelled" if rnd.random() < 0.06 else "scheduled",
                }
            )
            if len(rows) == 20_000:
                conn.execute(insert(Appointment), rows)
                rows = []
        if rows:
            conn.execute(insert(Appointment), rows)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    engine.dispose()
    print(f"  loaded 100,000 appointments in {time.perf_counter() - started:.1f} s")


def _sqlite_url(fresh: bool, team_id: str) -> str:
    path = OUT / "modal.db"
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        db.upgrade(url)
        _load(url, team_id)
    return url


def postgres_schema_url(schema: str, fresh: bool) -> str | None:
    """A migrated PostgreSQL schema at BENCH_DATABASE_URL (else TEST_DATABASE_URL); None when unreachable."""
    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not base:
        return None
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if fresh:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        admin.dispose()
    except Exception as error:
        print(f"postgresql: skipped ({type(error).__name__}: {error})")
        return None
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    db.upgrade(url)
    return url


def _postgres_url(fresh: bool, team_id: str) -> str | None:
    url = postgres_schema_url(SCHEMA, fresh)
    if url is None:
        return None
    engine = db.make_engine(url)
    with engine.connect() as conn:
        loaded = conn.scalar(select(func.count()).select_from(Appointment))
    engine.dispose()
    if loaded != APPOINTMENTS:
        _load(url, team_id)
    return url


def _grown(count: Callable[[], int], before: int) -> Callable[[], bool]:
    """A wait_for condition: `count()` has gone past `before` (bound now, not at the loop's next turn)."""
    return lambda: count() > before


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def serve_without_worker(url: str, slack: SandboxSlack) -> serve.Served:
    """The app served on loopback over `url` and `slack`, with no dispatcher (nothing is texted)."""
    settings = Settings(
        database_url=url,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=SECRET,
        slack_api_url=slack.url,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="x",
    )
    return serve.start(settings, host="127.0.0.1", port=0, worker=False)


def measure(url: str, runs: int) -> dict[str, list[float]]:
    """Serve the app on `url` and time `runs` range changes; milliseconds per run."""
    slack = TimedSlack(team_id="T0BENCH01").start()
    slack.add_channel(CHANNEL, "frontdesk")
    slack.add_user(ADMIN, email="bench@clinic.test", real_name="Dr. Bench")
    served = serve_without_worker(url, slack)
    acks: list[float] = []
    updates: list[float] = []
    try:
        user = SlackUser(slack, served.events_url, SECRET, user_id=ADMIN, channel_id=CHANNEL)
        view_id = user.slash_command()["id"]
        for run in range(runs + 3):  # the first three warm the caches and connections up
            preset = PRESETS[run % len(PRESETS)]
            label = LABELS.get(preset, preset)
            entry = action("static_select", ActionId.RANGE_SELECT, BlockId.RANGE, preset, text=label)
            slack.set_input(
                view_id,
                BlockId.RANGE,
                ActionId.RANGE_SELECT,
                state_value("static_select", preset, text=label),
            )
            body = user.block_actions_body(view_id, entry)
            before = len(slack.update_arrivals)
            started = time.perf_counter()
            status, _ = user.send(body)
            acked = time.perf_counter()
            if status != 200:
                raise RuntimeError(f"the app answered {status}")
            user.wait_for(_grown(lambda: len(slack.update_arrivals), before), "views.update")
            arrived = slack.update_arrivals[before]
            user.wait_for(_grown(lambda: len(slack.calls_to("views.update")), before), "the update's answer")
            if run >= 3:
                acks.append((acked - started) * 1000)
                updates.append((arrived - started) * 1000)
    finally:
        served.close()
        slack.stop()
    return {"ack": acks, "update": updates}


def report(name: str, results: dict[str, list[float]]) -> None:
    """Print median, p95 and max of each measurement."""
    for what, values in results.items():
        print(
            f"  {name:<10} {what:<7} median {statistics.median(values):6.1f} ms   p95 "
            f"{_percentile(values, 0.95):6.1f} ms   max {max(values):6.1f} ms   (n={len(values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--fresh", action="store_true", help="rebuild the benchmark databases")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(
        "Range change -> ack and -> views.update at the Slack sandbox;"
        f" one clinic, {APPOINTMENTS:,} appointments"
    )
    targets = [("sqlite", _sqlite_url(args.fresh, "T0BENCH01"))]
    if not args.skip_postgres and (pg := _postgres_url(args.fresh, "T0BENCH01")) is not None:
        targets.append(("postgresql", pg))
    worst = 0.0
    for name, url in targets:
        results = measure(url, args.runs)
        report(name, results)
        worst = max(worst, statistics.median(results["update"]))
    verdict = "meets" if worst <= 100 else "MISSES"
    print(f"  target: median update <= 100 ms -> {verdict} (worst median {worst:.1f} ms)")


if __name__ == "__main__":
    main()
