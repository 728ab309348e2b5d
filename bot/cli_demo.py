"""`mass-alert demo`: one whole alert on this machine, driven exactly as Slack would drive it.

A fresh SQLite demo database (demo-output/demo.db), the demo clinic, sandbox Slack and Twilio on loopback,
the real app served by waitress with the dispatcher in-process at a short pace, and Dr. Ana Lee's signed
slash command, picks, typing, review and confirmation. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import logging
import re
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot import serve
from bot.console import outcome_line, progress_line
from bot.container import AppContext
from bot.ids import BlockId
from bot.main import Overrides, build
from sandbox.slack import SandboxSlack
from sandbox.slack_user import SlackUser
from sandbox.twilio import SandboxTwilio
from services import alerts, db, recipients
from services.demo_data import create_demo_clinic
from services.notify import AlertSnapshot
from services.sending_hours import ALL_DAY
from services.settings import Settings
from services.timeranges import preset_range

TEAM, CHANNEL, CHANNEL_NAME = "T0DEMO0001", "C0DEMO0001", "frontdesk"
ADMIN, ADMIN_NAME, ADMIN_EMAIL = "U0DEMOADMN", "Dr. Ana Lee", "ana.lee@happypaws.example"
PRESET = "today+1"
MESSAGE = (
    "Happy Paws Downtown: a storm is coming, so we close at 3 PM today and open at 10 AM tomorrow. "
    "If your visit is affected, please call 555-0100 to reschedule. Stay safe!"
)
#: The demo's texts should take about this long in total, whatever the number of clients.
SENDING_BUDGET_SECONDS = 15.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="send one whole alert through the app on this machine (sandbox Slack and Twilio)",
        description="Runs a complete mass text alert locally: demo clinic, the app on loopback, sandbox "
        "Slack and Twilio, signed Slack requests. Texts go only to the sandbox.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo-output"),
        help="where the demo database and report go (default: demo-output)",
    )
    parser.add_argument("--pace", type=float, help="seconds between texts (default: fits the run in ~15 s)")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    result = run_demo(args.out, pace=args.pace, stream=sys.stdout)
    return 0 if result.report_path else 1


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced."""

    alert: AlertSnapshot
    report_path: Path | None
    channel_text: str
    seconds: float


class _Printer:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.number = 0

    def heading(self, title: str) -> None:
        self.number += 1
        line = f"{self.number}. {title}"
        print(f"\n{line}\n{'─' * min(len(line), 78)}", file=self.stream, flush=True)

    def __call__(self, text: str = "", indent: int = 3) -> None:
        pad = " " * indent
        for line in text.splitlines() or [""]:
            print(pad + line, file=self.stream, flush=True)


def _fresh_database(out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    db.upgrade(url)
    return url


def plain_text(text: str, channels: dict[str, str] | None = None) -> str:
    """Slack mrkdwn as a person reads it: links by label, channels by name, no markup characters."""
    names = channels or {}
    text = re.sub(r"<#(\w+)(?:\|[^>]*)?>", lambda m: "#" + names.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    text = re.sub(r"`([^`\n]+)`", r"\1", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return "\n".join(("│ " + line[1:]) if line.startswith(">") else line for line in text.splitlines())


def blocks_text(blocks: list[dict[str, Any]], channels: dict[str, str] | None = None) -> str:
    """The readable lines of a view's or message's blocks (sections, contexts, headers, input labels)."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            lines.append(plain_text((block.get("text") or {}).get("text", ""), channels))
            accessory = block.get("accessory") or {}
            if accessory.get("type") == "button":
                lines[-1] += f"   [ {accessory['text']['text']} ]"
        elif kind == "context":
            lines.append(
                plain_text("  ".join(e.get("text", "") for e in block.get("elements", [])), channels)
            )
        elif kind == "input":
            element = block.get("element") or {}
            chosen = (element.get("initial_option") or {}).get("text", {}).get("text", "")
            lines.append(
                f"{block['label']['text']}: {chosen}".rstrip(": ") if chosen else block["label"]["text"]
            )
    return "\n".join(line for line in lines if line.strip())


def render_message(message: dict[str, Any], channels: dict[str, str] | None = None) -> str:
    """A channel message as a Slack user reads it, files included."""
    who = "Mass Text Alerts (app)"
    body = (
        blocks_text(message["blocks"], channels)
        if message.get("blocks")
        else plain_text(message.get("text", ""), channels)
    )
    lines = [f"{who}{' · in thread' if message.get('thread_ts') else ''}", body]
    for file in message.get("files") or []:
        lines.append(f"📎 {file['name']} ({file.get('title', '')}) {file.get('permalink', '')}")
    if message.get("history"):
        lines.append(f"(edited {len(message['history'])} times while sending)")
    return "\n".join(line for line in lines if line)


def _block(view: dict[str, Any], block_id: str) -> str:
    found = [b for b in view.get("blocks", []) if b.get("block_id") == block_id]
    return blocks_text(found, {CHANNEL: CHANNEL_NAME})


def _watch(
    ctx: AppContext, alert_id: int, say: _Printer, stream: TextIO, timeout: float = 50.0
) -> AlertSnapshot:
    """Print a progress bar until the alert is over and its outcome has been posted."""
    interactive = stream.isatty()
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        snap = alerts.snapshot(ctx.sessions, alert_id, ctx.clock.now())
        line = progress_line(snap)
        if line != last:
            if interactive:
                print(f"\r   {line}", end="", file=stream, flush=True)
            else:
                say(line)
            last = line
        if snap.finished and snap.report_permalink:
            break
        if time.monotonic() > deadline:
            say("(gave up waiting: the alert is still running)")
            break
        time.sleep(0.2)
    if interactive:
        print(file=stream)
    say(outcome_line(snap))
    return snap


def run_demo(out: Path, *, pace: float | None = None, stream: TextIO = sys.stdout) -> DemoResult:
    """Run the whole demo; prints as it goes and returns the alert's outcome."""
    started = time.monotonic()
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)
    say = _Printer(stream)
    say.heading("Setting up: demo database, sandbox Slack and Twilio, the app on loopback")
    url = _fresh_database(out)
    now = datetime.now(UTC)
    boot = build(Settings(database_url=url))
    try:
        # Any hour: the demo sends its alert whenever it is run (a clinic's default window is 08:00-21:00).
        summary = create_demo_clinic(
            boot.sessions,
            now=now,
            slack_team_id=TEAM,
            slack_channel_id=CHANNEL,
            admin_slack_user_id=ADMIN,
            sending_hours=ALL_DAY,
        )
        with boot.sessions() as session:
            count = recipients.summarize(
                session, summary.clinic_id, preset_range(PRESET, summary.timezone, now), now
            ).count
    finally:
        boot.close()
    pace = pace if pace is not None else round(min(0.5, max(0.05, SENDING_BUDGET_SECONDS / max(count, 1))), 2)
    say(f"Database: {out / 'demo.db'} (SQLite, fresh; your own mass_alert.db is untouched)")
    say(
        f"Clinic: {summary.clinic_name} ({summary.timezone}): {summary.clients} clients, "
        f"{summary.upcoming_appointments} upcoming appointments"
    )
    slack = SandboxSlack(team_id=TEAM, team_domain="happypaws", team_name="Happy Paws").start()
    twilio = SandboxTwilio(callback_delay=0.2).start()
    served = None
    try:
        slack.add_channel(CHANNEL, CHANNEL_NAME)
        slack.add_user(ADMIN, email=ADMIN_EMAIL, real_name=ADMIN_NAME, tz=summary.timezone, name="ana.lee")
        secret = secrets.token_hex(16)
        settings = Settings(
            database_url=url,
            alert_pace_seconds=pace,
            sender_max_per_second=20.0,
            completion_grace_seconds=15.0,
            dispatch_interval_seconds=0.05,
            reports_dir=out / "reports",
            slack_bot_token=slack.bot_token,
            slack_signing_secret=secret,
            slack_api_url=slack.url,
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_api_url=twilio.url,
        )
        # A progress notice every 2 s instead of 5: the demo's alert is over in about 15 s.
        served = serve.start(
            settings,
            Overrides(progress_interval_seconds=2.0),
            host="127.0.0.1",
            port=0,
            callbacks_to_self=True,
        )
        ctx = served.context
        say(f"Sandbox Slack: {slack.url}   Sandbox Twilio: {twilio.url}")
        say(f"The app (waitress): {served.events_url}, Twilio callbacks to {served.base_url}/twilio/status")
        say(f"Pace for the demo: 1 text every {pace:g} s (a real clinic's default is 12 s)")

        ana = SlackUser(
            slack,
            served.events_url,
            secret,
            user_id=ADMIN,
            channel_id=CHANNEL,
            channel_name=CHANNEL_NAME,
            user_name="ana.lee",
            timeout=20.0,
        )
        say.heading(f"{ADMIN_NAME} types /mass-alert in #{CHANNEL_NAME}")
        view = ana.slash_command()
        say("The modal opens (a loading skeleton first, then the form):")
        say(blocks_text(view["blocks"]), indent=5)

        say.heading("She picks “Rest of today and tomorrow”: the count updates live")
        ana.choose_range(view["id"], PRESET)
        view = ana.view(view["id"])
        say(_block(view, BlockId.RECIPIENTS), indent=5)
        say(_block(view, BlockId.SKIPPED_SUMMARY), indent=5)

        say.heading("She types the message: characters left and texts update live")
        say(f"“{MESSAGE}”", indent=5)
        ana.type_message(view["id"], MESSAGE)
        view = ana.view(view["id"])
        say(_block(view, BlockId.MESSAGE_STATS), indent=5)
        say(_block(view, BlockId.PACE), indent=5)

        say.heading("Review: the confirmation view")
        answer = ana.submit(view["id"])
        if answer.shown is None or answer.body.get("response_action") != "push":
            raise RuntimeError(f"the review was refused: {answer.body}")
        say(blocks_text(answer.shown["blocks"], {CHANNEL: CHANNEL_NAME}), indent=5)
        say(f"[ Back ]   [ {answer.shown['submit']['text']} ]", indent=5)

        say.heading("Send: the alert goes out at the clinic's pace")
        sent = ana.submit(answer.shown["id"])
        if sent.body.get("response_action") != "clear":
            raise RuntimeError(f"the confirmation was refused: {sent.body}")
        # Slack gets its answer first; the alert is created right after it.
        newest = ana.wait_for(
            lambda: alerts.recent_alerts(ctx.sessions, [summary.clinic_id], ctx.clock.now(), limit=1),
            "the confirmed alert to be created",
        )
        snap = _watch(ctx, newest[0].id, say, stream)

        say.heading(f"What #{CHANNEL_NAME} shows (as a Slack user reads it)")
        messages = slack.messages.get(CHANNEL, [])
        channel_text = "\n\n".join(render_message(m, {CHANNEL: CHANNEL_NAME}) for m in messages)
        say(channel_text, indent=5)

        say.heading("The report")
        report = Path(snap.report_path).resolve() if snap.report_path else None
        if report is not None and report.exists():
            say(f"Saved at {report}")
            rows = report.read_text(encoding="utf-8").splitlines()
            say(f"{len(rows) - 1} rows; the first few:")
            for row in rows[:6]:
                say(row if len(row) <= 150 else row[:149] + "…", indent=5)
        seconds = time.monotonic() - started
        say.heading(f"Done in {seconds:.0f} s")
        say("Next: README.md explains how to create the Slack app from app.yaml and run `mass-alert serve`.")
        return DemoResult(snap, report, channel_text, seconds)
    finally:
        if served is not None:
            served.close()
        twilio.stop()
        slack.stop()
