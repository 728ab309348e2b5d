"""`mass-alert resume ALERT_ID`: carry on an alert an account or sender error stopped, once it is fixed."""

from __future__ import annotations

import argparse
import sys

from bot.main import build
from services import alerts
from services.errors import NotFound
from services.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    resume = subparsers.add_parser(
        "resume", help="resume a stopped alert: text the clients never handed to Twilio (same report)"
    )
    resume.add_argument("alert_id", type=int, metavar="ALERT_ID", help="the number of the stopped alert")
    resume.add_argument(
        "--as", dest="by_name", default="Command line", help="who is resuming (shown in the log)"
    )
    resume.set_defaults(func=_resume)


def _resume(args: argparse.Namespace) -> int:
    """Exit 0 when resumed; 1 with one plain line when the alert is unknown or not stopped."""
    ctx = build(load_settings())
    try:
        done = alerts.resume_alert(ctx.sessions, args.alert_id, by_name=args.by_name, now=ctx.clock.now())
    except (NotFound, alerts.NotStopped) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        ctx.close()
    left_out = f"; {done.opted_out} opted out meanwhile and are left out" if done.opted_out else ""
    print(
        f"Mass text alert #{args.alert_id} resumed: {done.requeued} client(s) to text{left_out}. "
        "A running `mass-alert worker` or `mass-alert serve` sends them."
    )
    return 0
