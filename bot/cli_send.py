"""`mass-alert send` (create an alert as its confirmation would) and `mass-alert worker` (the dispatcher)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from bot.cli_preview import resolve_range
from bot.cli_serve import prepare_process
from bot.console import ConsoleNotifier, outcome_line, progress_line
from bot.container import AppContext
from bot.main import Overrides, build, crash_points, delivery_worker, slack_notifier
from bot.views.wording import done_around, paused_overnight, urgent_words
from services import alerts, recipients
from services.clinics import find_clinic
from services.errors import DomainError
from services.sending_hours import alert_finish
from services.settings import TWILIO, load_settings
from services.timeranges import PRESETS, format_instant, format_span, parse_local


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    names = ", ".join(name for name, _ in PRESETS)
    send = subparsers.add_parser(
        "send", help="send a mass text alert to every client with an appointment in a range"
    )
    send.add_argument("--clinic", required=True, help="the clinic's name or numeric id")
    which = send.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", metavar="NAME", help=f"a preset range: {names}")
    which.add_argument(
        "--start", metavar="ISO", help="custom range start (clinic time unless an offset is given)"
    )
    send.add_argument("--end", metavar="ISO", help="custom range end (exclusive); required with --start")
    send.add_argument("--message", required=True, help="the informational text to send")
    send.add_argument(
        "--as", dest="sender_name", default="Command line", help="who is sending (shown in reports)"
    )
    send.add_argument(
        "--at",
        metavar="ISO",
        help="send later: the start time (clinic time unless an offset is given); a preset range counts "
        "from then, and the recipients are computed when it starts",
    )
    send.add_argument(
        "--urgent",
        action="store_true",
        help="send through the clinic's sending hours (quiet hours): texts go out at any hour",
    )
    send.add_argument("--yes", action="store_true", help="confirm without asking")
    send.add_argument("--wait", action="store_true", help="run the dispatcher here until the alert completes")
    send.set_defaults(func=_send)
    worker = subparsers.add_parser("worker", help="run the dispatcher alone (no Slack server)")
    worker.set_defaults(func=_worker)


def _confirm(text: str) -> bool:
    if not sys.stdin.isatty():
        raise DomainError("Nothing sent: add --yes to confirm without a prompt.")
    return input(f"{text} [y/N] ").strip().lower() in ("y", "yes")


def _send(args: argparse.Namespace) -> int:
    settings = load_settings(require=(TWILIO,) if args.wait else ())
    # The terminal shows its own progress bar: no progress notices from the finalizer.
    quiet = Overrides(
        notifier=ConsoleNotifier(), progress_interval_seconds=10**9, crash_points=crash_points(os.environ)
    )
    ctx = build(settings, quiet)
    try:
        now = ctx.clock.now()
        with ctx.sessions() as session:
            clinic = find_clinic(session, args.clinic)
            start_at = parse_local(args.at, clinic.timezone, "at") if args.at else None
            rng = resolve_range(clinic.timezone, max(now, start_at or now), args.preset, args.start, args.end)
            result = recipients.compute(session, clinic.id, rng, now)
            pace = alerts.effective_pace(clinic, settings.alert_pace_seconds)
            clinic_id, tz, hours = clinic.id, clinic.timezone, clinic.sending_hours
        if result.count and result.first_appointment and result.last_appointment:
            span = format_span(result.first_appointment, result.last_appointment, tz)
            phones = [r.phone_e164 for r in result.recipients]
            start = max(now, start_at or now)
            done = alert_finish(start, phones, tz, pace, hours, urgent=args.urgent)
            print(f"Send this text to {result.count} clients with appointments {span}?")
            print(f"> {args.message}")
            print(
                f"1 text every {pace:g} s: {done_around(done.finish, now, tz)}. "
                f"{len(result.skipped)} will not be texted."
            )
            if args.urgent and not hours.all_day:
                print(urgent_words(hours))
            elif done.held and done.resumes_at is not None and done.resumes_zone is not None:
                print(paused_overnight(done.held, done.resumes_at, done.resumes_zone, now, hours))
        if not args.yes and not _confirm(f"Send {result.count} texts?"):
            print("Nothing sent.")
            return 1
        alert_id, _ = alerts.create_alert(
            ctx.sessions,
            alerts.AlertRequest(
                clinic_id=clinic_id,
                created_by_name=args.sender_name,
                rng=rng,
                message=args.message,
                start_at=start_at,
                urgent=args.urgent,
            ),
            now=ctx.clock.now(),
            default_pace=settings.alert_pace_seconds,
            max_chars=settings.alert_max_chars,
        )
        if start_at is not None and start_at > now:
            when = format_instant(start_at, tz)
            print(f"Mass text alert #{alert_id} scheduled for {when}; recipients are counted again then.")
            channel = slack_notifier(ctx)  # its entry, with Cancel, in the clinic's channel
            if channel is not None:
                alerts.show_entry(ctx.sessions, alert_id, channel, ctx.clock.now())
        else:
            print(f"Mass text alert #{alert_id} queued.")
        if not args.wait:
            print("A running `mass-alert worker` or `mass-alert serve` sends it.")
            return 0
        return _wait_for(ctx, alert_id)
    finally:
        ctx.close()


def _wait_for(ctx: AppContext, alert_id: int) -> int:
    worker = delivery_worker(ctx)
    worker.start()
    interactive = sys.stdout.isatty()
    last = ""
    try:
        while True:
            snap = alerts.snapshot(ctx.sessions, alert_id, ctx.clock.now())
            if snap.report_path and snap.finished:
                break
            line = progress_line(snap)
            if line != last:
                print(("\r" + line) if interactive else line, end="" if interactive else "\n", flush=True)
                last = line
            time.sleep(0.2)
    finally:
        worker.stop()
    if interactive:
        print()
    snap = alerts.snapshot(ctx.sessions, alert_id, ctx.clock.now())
    print(outcome_line(snap))
    print(f"Report: {snap.report_path}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    # Slack notices when a bot token is set, else the terminal; crash injection is read here, at the edge.
    settings = load_settings(require=(TWILIO,))
    prepare_process(settings)
    ctx = build(settings, Overrides(crash_points=crash_points(os.environ)))
    worker = delivery_worker(ctx)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    print(f"dispatcher {worker.holder} running; Ctrl-C to stop", flush=True)
    try:
        stop.wait()
    finally:
        worker.stop()
        ctx.close()
    return 0
