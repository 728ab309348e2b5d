"""`mass-alert retry ALERT_ID`: text again the clients a finished alert did not reach (services.retry)."""

from __future__ import annotations

import argparse

from bot.runtime import open_runtime
from services import alerts, retry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "retry",
        help="text again the clients a finished alert did not reach",
        description="Queue a linked alert to the clients whose text failed for a reason that may pass "
        "(phone off, carrier trouble, expired: " + ", ".join(retry.RETRYABLE_CODES) + ") or that the "
        "alert's stop left unsent. Nobody reached, opted out or with an invalid number is texted. "
        "A running `mass-alert worker` or `serve` sends it.",
    )
    parser.add_argument("alert_id", type=int, metavar="ALERT_ID", help="the finished alert's number")
    parser.add_argument("--sender-name", default="command line", help="who asks (shown on the entry)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        request = retry.RetryRequest(args.alert_id, args.sender_name)
        new_id, created = retry.create_retry(
            runtime.sessions,
            request,
            now=runtime.clock.now(),
            default_pace=runtime.settings.alert_pace_seconds,
        )
        snap = alerts.snapshot(runtime.sessions, new_id, runtime.clock.now())
    finally:
        runtime.close()
    if not created:
        print(f"Mass text alert #{args.alert_id} was already retried as #{new_id}.")
        return 0
    print(f"Mass text alert #{new_id} queued: {snap.to_send} client(s) not reached by #{args.alert_id}.")
    return 0
