"""`mass-alert scheduled [--clinic C]` and `mass-alert cancel ALERT_ID`: alerts held for "Send at"."""

from __future__ import annotations

import argparse
import sys

from bot.main import slack_notifier
from bot.runtime import open_runtime
from services import alerts, scheduled
from services.clinics import find_clinic
from services.timeranges import format_instant


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = subparsers.add_parser("scheduled", help="list alerts waiting for their start time")
    listing.add_argument("--clinic", help="only this clinic (name or numeric id)")
    listing.set_defaults(func=_list)
    cancel = subparsers.add_parser("cancel", help="cancel a scheduled or sending alert")
    cancel.add_argument("alert_id", type=int, metavar="ALERT_ID", help="the alert's number")
    cancel.add_argument("--as", dest="by_name", default="Command line", help="who cancels (shown in reports)")
    cancel.set_defaults(func=_cancel)


def _list(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        clinic_id = None
        if args.clinic:
            with runtime.sessions() as session:
                clinic_id = find_clinic(session, args.clinic).id
        held = scheduled.list_scheduled(runtime.sessions, clinic_id)
    finally:
        runtime.close()
    if not held:
        print("No scheduled alerts.")
    for alert in held:
        when = format_instant(alert.start_at, alert.timezone)
        print(f"#{alert.id} {alert.clinic_name}: {when} by {alert.created_by_name}: {alert.message}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    """Exit 0 when cancelled (a scheduled alert's entry then says so, when Slack is configured); 1 with one
    line on stderr for an unknown alert or one already over."""
    runtime = open_runtime()
    try:
        stopped = alerts.cancel_alert(
            runtime.sessions, args.alert_id, by_name=args.by_name, now=runtime.clock.now()
        )
        snap = alerts.snapshot(runtime.sessions, args.alert_id, runtime.clock.now())
        if stopped and snap.never_started and (channel := slack_notifier(runtime)) is not None:
            alerts.show_entry(runtime.sessions, args.alert_id, channel, runtime.clock.now())
    finally:
        runtime.close()
    if not stopped:
        print(
            f"error: mass text alert #{args.alert_id} is already {snap.state}; nothing to cancel.",
            file=sys.stderr,
        )
        return 1
    if snap.never_started:
        print(f"Mass text alert #{args.alert_id} cancelled before it started; nobody is texted.")
    else:
        print(f"Mass text alert #{args.alert_id} cancelled: its texts not sent yet will not be sent.")
    return 0
