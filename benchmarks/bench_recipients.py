"""Recipients of a 7-day range in the largest clinic: 1,000,000 appointments, 200,000 clients, 200 clinics.

Run: `.venv/bin/python -m benchmarks.bench_recipients [--fresh] [--runs 30] [--skip-postgres]`.
SQLite: benchmarks/out/recipients.db; PostgreSQL: schema `bench_recipients` at BENCH_DATABASE_URL (default:
TEST_DATABASE_URL, else local `test`). Both are kept between runs; --fresh rebuilds them.
Prints median and p95 of `compute` (full result) and `summarize` (the modal's count).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from services import recipients
from services.db import make_engine
from services.models import Appointment, Base
from services.timeranges import custom_range

CLINICS = 200
CLIENTS = 200_000
APPOINTMENTS = 1_000_000
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
WINDOW_START = NOW - timedelta(days=180)
WINDOW_MINUTES = 365 * 24 * 60
ZONES = ["America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles", "America/Phoenix"]
STATUSES = ["scheduled"] * 80 + ["confirmed"] * 8 + ["cancelled"] * 7 + ["completed"] * 3 + ["no_show"] * 2
OUT = Path(__file__).resolve().parent / "out"
SCHEMA = "bench_recipients"
CHUNK = 50_000


def _stamp(value: datetime) -> str:
    """Naive UTC text exactly as the UTCDateTime column stores it."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Dataset:
    """The generated rows, produced in chunks so a million appointments never sit in memory as dicts."""

    def __init__(self, seed: int = 20261201) -> None:
        self.rnd = random.Random(seed)
        weights = [1 / (rank + 1) ** 0.7 for rank in range(CLINICS)]
        total = sum(weights)
        sizes = [int(CLIENTS * w / total) for w in weights]
        sizes[0] += CLIENTS - sum(sizes)
        self.clinic_sizes = sizes
        self.client_clinic: list[int] = []
        for clinic_id, size in enumerate(sizes, start=1):
            self.client_clinic.extend([clinic_id] * size)
        self.client_patients: list[list[int]] = [[] for _ in range(CLIENTS)]

    def clinics(self) -> list[tuple]:
        return [
            (
                cid,
                f"Clinic {cid:03d}",
                ZONES[0] if cid == 1 else ZONES[cid % len(ZONES)],
                True,
                f"+1555{cid:07d}",
                _stamp(NOW),
            )
            for cid in range(1, CLINICS + 1)
        ]

    def clients(self) -> Iterator[list[tuple]]:
        rnd, chunk = self.rnd, []
        previous_phone: dict[int, str] = {}
        for index in range(CLIENTS):
            cid = index + 1
            clinic = self.client_clinic[index]
            roll = rnd.random()
            phone: str | None = f"+1312{cid:07d}"
            error = None
            raw = phone
            if roll < 0.04:
                phone, raw, error = None, f"555-{cid % 100:02d}", "too short for a phone number"
            elif roll < 0.09 and clinic in previous_phone:
                phone = raw = previous_phone[clinic]  # a household sharing one mobile
            if phone is not None:
                previous_phone[clinic] = phone
            opted = _stamp(NOW - timedelta(days=rnd.randint(1, 400))) if rnd.random() < 0.03 else None
            chunk.append((cid, clinic, str(cid), f"Client {cid:06d}", raw, phone, error, opted))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def patients(self) -> Iterator[list[tuple]]:
        rnd, chunk, pid = self.rnd, [], 0
        for index in range(CLIENTS):
            count = 1 + (rnd.random() < 0.35) + (rnd.random() < 0.1)
            for _ in range(count):
                pid += 1
                self.client_patients[index].append(pid)
                chunk.append(
                    (pid, self.client_clinic[index], index + 1, str(pid), f"Pet {pid}", rnd.random() < 0.02)
                )
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def appointments(self) -> Iterator[list[tuple]]:
        rnd, chunk = self.rnd, []
        for aid in range(1, APPOINTMENTS + 1):
            index = rnd.randrange(CLIENTS)
            patient = rnd.choice(self.client_patients[index])
            start = WINDOW_START + timedelta(minutes=15 * rnd.randrange(WINDOW_MINUTES // 15))
            chunk.append(
                (
                    aid,
                    self.client_clinic[index],
                    patient,
                    index + 1,
                    str(aid),
                    _stamp(start),
                    rnd.choice(STATUSES),
                )
            )
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


TABLES = {
    "clinics": "id, name, timezone, two_way_texting, sms_from, created_at",
    "clients": "id, clinic_id, external_id, full_name, phone_raw, phone_e164, phone_error, opted_out_at",
    "patients": "id, clinic_id, client_id, external_id, name, deceased",
    "appointments": "id, clinic_id, patient_id, client_id, external_id, start_at, status",
}


def _load(engine: Engine, write: Callable[[object, str, str, list[tuple]], None]) -> float:
    """Create the schema and bulk-load every table with `write`; returns seconds taken."""
    started = time.perf_counter()
    Base.metadata.create_all(engine)
    data = Dataset()
    sources = {
        "clinics": iter([data.clinics()]),
        "clients": data.clients(),
        "patients": data.patients(),
        "appointments": data.appointments(),
    }
    raw = engine.raw_connection()
    try:
        for table, columns in TABLES.items():
            for chunk in sources[table]:
                write(raw, table, columns, chunk)
            raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


# `raw` is the pooled DBAPI connection (sqlite3 or psycopg) from Engine.raw_connection(); its driver
# methods (in_transaction, COPY) are reached through SQLAlchemy's proxy, hence Any.
def _sqlite_write(raw: Any, table: str, columns: str, rows: list[tuple]) -> None:
    marks = ", ".join("?" for _ in columns.split(","))
    cursor = raw.cursor()
    if not raw.in_transaction:
        cursor.execute("BEGIN")
    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _postgres_write(raw: Any, table: str, columns: str, rows: list[tuple]) -> None:
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def build_sqlite(path: Path, fresh: bool) -> Engine:
    """The SQLite benchmark database (built when missing or when asked)."""
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    exists = path.exists()
    engine = make_engine(f"sqlite:///{path}")
    if not exists:
        path.parent.mkdir(parents=True, exist_ok=True)
        seconds = _load(engine, _sqlite_write)
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        print(f"sqlite: loaded in {seconds:.1f} s -> {path}")
    else:
        print(f"sqlite: reusing {path} (pass --fresh to rebuild)")
    return engine


def build_postgres(url: str, fresh: bool) -> Engine:
    """The PostgreSQL benchmark schema (built when missing or when asked), vacuumed and analysed."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        loaded = conn.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f"{SCHEMA}.appointments"})
        if loaded and not fresh:
            loaded = conn.scalar(text(f'SELECT count(*) FROM "{SCHEMA}".appointments')) == APPOINTMENTS
        if fresh or not loaded:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    engine = make_engine(f"{url}{sep}options={quote(f'-csearch_path={SCHEMA}')}")
    if fresh or not loaded:
        print(f"postgresql: loaded in {_load(engine, _postgres_write):.1f} s -> schema {SCHEMA}")
    else:
        print(f"postgresql: reusing schema {SCHEMA} (pass --fresh to rebuild)")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in TABLES:
            conn.execute(text(f"VACUUM (ANALYZE) {table}"))
        pages, visible = conn.execute(
            text("SELECT relpages, relallvisible FROM pg_class WHERE oid = 'appointments'::regclass")
        ).one()
    if pages and visible < 0.9 * pages:
        print(
            f"  warning: only {visible} of {pages} appointment pages are all-visible "
            "(another open transaction holds VACUUM back), so index-only scans will read the table too"
        )
    return engine


def _timed(engine: Engine, runs: int, call: Callable[[Session], object]) -> list[float]:
    """Milliseconds per call, each in its own session (as a request would be), after 3 warm-up calls."""
    samples = []
    for attempt in range(runs + 3):
        with Session(engine) as session:
            started = time.perf_counter()
            call(session)
            elapsed = (time.perf_counter() - started) * 1000
        if attempt >= 3:
            samples.append(elapsed)
    return samples


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(name: str, engine: Engine, runs: int) -> None:
    """Print the numbers for one backend."""
    with Session(engine) as session:
        counts = {t: session.scalar(text(f"SELECT count(*) FROM {t}")) for t in TABLES}
        largest = session.execute(
            select(Appointment.clinic_id, func.count())
            .group_by(Appointment.clinic_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        clinic_id = largest[0]
        tz = session.scalar(text("SELECT timezone FROM clinics WHERE id = :id"), {"id": clinic_id})
        rng = custom_range(NOW, NOW + timedelta(days=7), tz, NOW)
        in_range = session.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(
                Appointment.clinic_id == clinic_id,
                Appointment.start_at >= rng.start,
                Appointment.start_at < rng.end,
            )
        )
        full = recipients.compute(session, clinic_id, rng, NOW)
        summary = recipients.summarize(session, clinic_id, rng, NOW)
        assert summary == full.summary(), "summarize and compute disagree"
    print(
        f"\n{name}: {counts['clinics']} clinics, {counts['clients']} clients, {counts['patients']} patients, "
        f"{counts['appointments']} appointments"
    )
    print(
        f"  largest clinic #{clinic_id}: {largest[1]} appointments; {in_range} in the 7-day range; "
        f"{full.count} clients texted, {len(full.skipped)} skipped {dict(summary.skipped_by_reason)}"
    )
    for label, call in (
        ("compute (full result)", lambda s: recipients.compute(s, clinic_id, rng, NOW)),
        ("summarize (count only)", lambda s: recipients.summarize(s, clinic_id, rng, NOW)),
    ):
        samples = _timed(engine, runs, call)
        print(
            f"  {label:24s} median {statistics.median(samples):7.2f} ms   p95 {_p95(samples):7.2f} ms   "
            f"({runs} runs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fresh", action="store_true", help="rebuild the SQLite file and the PostgreSQL schema"
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    sqlite = build_sqlite(OUT / "recipients.db", args.fresh)
    measure("SQLite", sqlite, args.runs)
    sqlite.dispose()
    if not args.skip_postgres:
        url = (
            os.environ.get("BENCH_DATABASE_URL")
            or os.environ.get("TEST_DATABASE_URL")
            or ("postgresql+psycopg://postgres@127.0.0.1:5432/test")
        )
        postgres = build_postgres(url, args.fresh)
        measure("PostgreSQL", postgres, args.runs)
        postgres.dispose()


if __name__ == "__main__":
    main()
