"""Import 100,000 appointment rows into SQLite and PostgreSQL: rows per second and peak memory."""

# Run: `.venv/bin/python -m benchmarks.bench_import [--rows N] [--dates iso|us] [--skip-postgres]`.
# PostgreSQL is taken from BENCH_DATABASE_URL, else TEST_DATABASE_URL, else the local default; each run uses
# a fresh schema that is dropped afterwards. Every import runs in its own child process, so its peak RSS
# (ru_maxrss) is measured alone. Target: >= 5,000 rows/s and <= 300 MB peak RSS.

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

from services import db
from services.clinics import add_clinic
from services.importer import COLUMNS, import_csv

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_ROWS_PER_S = 5000
TARGET_RSS_MB = 300


def _phone(client: int, area_codes: list[str]) -> str:
    """A distinct number per client, typed the ways exports hold them (labels, extensions, two numbers)."""
    if client % 50 == 7:
        return "555-01"  # unusable, kept and flagged
    number = f"({area_codes[client % 8]}) {200 + client // 10_000 % 700:03d}-{client % 10_000:04d}"
    kind = client % 20
    if kind == 1:
        return f"{number} mobile"
    if kind == 2:
        return f"{number} (cell)"
    if kind == 3:
        return f"{number} ext. {client % 90 + 10}"
    if kind == 4:
        return f"home {number}, cell ({area_codes[(client + 1) % 8]}) 555-01{client % 100:02d}"
    return number


def generate_csv(path: Path, rows: int, seed: int = 11, *, dates: str = "iso") -> None:
    """A clinic export: ~40% as many clients and ~60% as many patients as appointment rows.

    `dates` "iso" writes half the times clinic-local (2026-12-01T09:00) and half with an offset;
    "us" writes them as month/day/year with a 12-hour clock (12/01/2026 9:00 AM), all clinic-local.
    """
    rng = random.Random(seed)
    clients = max(1, rows * 2 // 5)
    patients = max(clients, rows * 3 // 5)
    owner = [i % clients for i in range(patients)]  # every client has a pet, some have several
    start = datetime(2026, 12, 1, 8, 0, tzinfo=ZoneInfo("America/Chicago"))
    area_codes = ["312", "773", "872", "630", "847", "708", "224", "331"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow([*COLUMNS, "patient_deceased"])
        for index in range(rows):
            patient = index if index < patients else rng.randrange(patients)
            client = owner[patient]
            when = start + timedelta(days=rng.randrange(30), minutes=30 * rng.randrange(20))
            later = when + timedelta(minutes=30)
            if dates == "us":
                begin = when.strftime("%m/%d/%Y %I:%M %p")
                finish = "" if rng.random() < 0.2 else later.strftime("%m/%d/%Y %I:%M %p")
            else:
                local = rng.random() < 0.5  # half clinic-local without an offset, half with one
                begin = when.strftime("%Y-%m-%dT%H:%M") if local else when.isoformat()
                finish = "" if rng.random() < 0.2 else later.isoformat()
            status = rng.choice(["", "scheduled", "Confirmed", "cancelled", "completed", "no_show"])
            out.writerow(
                [
                    f"C{client:07d}",
                    f"Client {client} Name",
                    _phone(client, area_codes),
                    f"P{patient:07d}",
                    f"Pet {patient}",
                    f"A{index:08d}",
                    begin,
                    finish,
                    status,
                    "yes" if patient % 50 == 3 else "no" if patient % 2 else "",
                ]
            )


def _child(url: str, clinic_id: int, csv_path: str) -> None:
    """Run one import and print its measurements as JSON (runs in a fresh process)."""
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    began = time.perf_counter()
    report = import_csv(factory, clinic_id, csv_path)
    seconds = time.perf_counter() - began
    engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                # CPU time of this process (parsing, phonenumbers, the driver), start-up included:
                # under load it shows how much of the wall time was the importer's own work.
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "rows": report.rows_read,
                "peak_mb": peak_kb / 1024,
                "created": report.appointments.created,
                "unchanged": report.appointments.unchanged,
                "clients": report.clients.total,
                "patients": report.patients.total,
                "bad_rows": len(report.bad_rows),
                "flagged": len(report.flagged_phones),
                "noted": len(report.phone_notes),
            }
        )
    )


def _measure(url: str, clinic_id: int, csv_path: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_import", "--child", url, str(clinic_id), str(csv_path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    numbers: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return numbers


def _prepare(url: str) -> int:
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        with db.transaction(db.make_session_factory(engine)) as session:
            return add_clinic(
                session, name="Benchmark Clinic", timezone="America/Chicago", sms_from="+15005550006"
            ).id
    finally:
        engine.dispose()


def _report(backend: str, label: str, numbers: dict[str, float]) -> None:
    rate = numbers["rows"] / numbers["seconds"]
    ok = rate >= TARGET_ROWS_PER_S and numbers["peak_mb"] <= TARGET_RSS_MB
    print(
        f"{backend:<11} {label:<10} {int(numbers['rows']):>8} rows {numbers['seconds']:>7.2f} s "
        f"(process CPU {numbers['cpu_seconds']:.2f} s) "
        f"{rate:>9.0f} rows/s  peak RSS {numbers['peak_mb']:>6.1f} MB  "
        f"(created {int(numbers['created'])}, unchanged {int(numbers['unchanged'])}, "
        f"refused {int(numbers['bad_rows'])}, phones flagged {int(numbers['flagged'])} / noted "
        f"{int(numbers['noted'])})  "
        f"{'meets target' if ok else 'MISSES TARGET'}"
    )


def _run(backend: str, url: str, csv_path: Path) -> None:
    clinic_id = _prepare(url)
    _report(backend, "first", _measure(url, clinic_id, csv_path))
    _report(backend, "re-import", _measure(url, clinic_id, csv_path))


def main() -> int:
    """Generate the file, import it twice on each backend and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--dates", choices=["iso", "us"], default="iso", help="how the file writes times (default iso)"
    )
    parser.add_argument("--child", nargs=3, metavar=("URL", "CLINIC_ID", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.child[2])
        return 0

    csv_path = OUT / f"import_{args.rows}_{args.dates}.csv"
    began = time.perf_counter()
    generate_csv(csv_path, args.rows, dates=args.dates)
    size_mb = csv_path.stat().st_size / 1e6
    print(
        f"generated {csv_path}: {args.rows} rows, {args.rows * 2 // 5} clients, {args.rows * 3 // 5} pets, "
        f"{size_mb:.1f} MB, in {time.perf_counter() - began:.1f} s"
    )

    sqlite_file = OUT / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
    _run("sqlite", f"sqlite:///{sqlite_file}", csv_path)

    if args.skip_postgres:
        return 0
    pg_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:
        print(f"postgresql skipped: cannot reach {pg_url}: {type(error).__name__}: {error}")
        return 0
    sep = "&" if "?" in pg_url else "?"
    try:
        _run("postgresql", f"{pg_url}{sep}options={quote(f'-csearch_path={schema}')}", csv_path)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
