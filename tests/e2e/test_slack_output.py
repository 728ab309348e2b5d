"""What the app posts, end to end (issue 12, items 4, 5, 10, 11): only in the clinic's channel, a warning
before Send when the bot is not there, progress edits within Slack's rate tier, counts that agree.

The served app over HTTP, signed requests as Slack sends them, sandbox Slack and Twilio.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.ids import BlockId
from bot.main import Overrides
from bot.notifier import SlackNotifier, build_client
from bot.slack_edits import EditBudget
from services import alerts
from services.models import Role
from services.settings import Settings
from services.timeranges import TimeRange
from tests.blockkit import all_text
from tests.e2e.slack_world import (
    ADMIN,
    CHANNEL,
    OTHER_CHANNEL,
    UPTOWN_CHANNEL,
    World,
    running_world,
    tomorrow_at,
)
from tests.e2e.test_slack_flow import block_text, created_alert, report_rows, review, send
from tests.integration.recipient_builders import Builder

#: A direct message between the admin and a colleague: the bot is not in it.
PEOPLE_DM = "D0ANAANDSAM"


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    """On SQLite and PostgreSQL."""
    with running_world(db_url, tmp_path / "reports") as running:
        yield running
        assert running.problems() == []


def top_level(world: World, channel: str) -> list[dict[str, Any]]:
    return [m for m in world.messages(channel) if not m.get("thread_ts")]


# ---------------------------------------------------------------- item 4: only the clinic's channel


@pytest.mark.parametrize("typed_in", [UPTOWN_CHANNEL, OTHER_CHANNEL, PEOPLE_DM])
def test_typed_anywhere_the_alert_reports_only_in_the_clinics_channel(world: World, typed_in: str) -> None:
    ana = world.user(ADMIN, typed_in)
    confirm = review(ana)
    assert confirm.shown is not None
    eta = block_text(confirm.shown, BlockId.CONFIRM_ETA)
    assert f"<#{CHANNEL}>" in eta and f"<#{typed_in}>" not in all_text(confirm.shown)
    assert ana.submit(confirm.shown["id"]).body == {"response_action": "clear"}
    (alert_id,) = created_alert(world)
    done = world.wait_finished(alert_id)
    assert world.snapshot(alert_id).slack_channel_id == CHANNEL

    (entry,) = top_level(world, CHANNEL)
    assert "2 of 5 failed" in entry["text"]
    (upload,) = world.slack.uploaded_files.values()
    assert upload.channels == [CHANNEL] and done.report_permalink == upload.info["permalink"]
    assert len(report_rows(world, alert_id)) == 7
    posted_where_typed = [
        c for c in world.slack.calls_to("chat.postMessage") if c.params["channel"] == typed_in
    ]
    assert posted_where_typed == []

    # the admin is pointed to the clinic's channel where they typed (or by DM when the bot cannot be there)
    if typed_in == PEOPLE_DM:
        (pointer,) = world.messages(world.slack.dm_channel(ADMIN))
        text = pointer["text"]
    else:
        (shown,) = world.slack.ephemerals[typed_in]
        assert shown["user"] == ADMIN
        text = shown["text"]
    assert f"<#{CHANNEL}>" in text and f"#{alert_id}" in text and "report" in text
    assert "Client 1" not in text and "+1312" not in text  # a pointer, never the report


def test_typed_in_the_clinics_own_channel_there_is_no_pointer(world: World) -> None:
    alert_id = send(world, world.user())
    world.wait_finished(alert_id)
    assert world.slack.ephemerals == {}
    assert world.messages(world.slack.dm_channel(ADMIN)) == []


# ---------------------------------------------------------------- item 5: warned before Send


def test_the_confirmation_warns_when_the_bot_is_not_in_the_clinics_channel(world: World) -> None:
    world.slack.remove_bot(CHANNEL)
    confirm = review(world.user())
    assert confirm.shown is not None
    warning = block_text(confirm.shown, BlockId.CONFIRM_CHANNEL)
    assert f"I am not in <#{CHANNEL}>" in warning and "`/invite @Mass Text Alerts`" in warning
    info = world.slack.calls_to("conversations.info")
    assert [c.params["channel"] for c in info] == [CHANNEL] and info[0].response["channel"][
        "is_member"
    ] is False

    world.slack.invite_bot(CHANNEL)
    again = review(world.user())
    assert again.shown is not None
    assert all(b.get("block_id") != BlockId.CONFIRM_CHANNEL for b in again.shown["blocks"])


def test_a_private_clinic_channel_the_bot_was_never_invited_to_is_warned_about_too(world: World) -> None:
    world.slack.add_channel(CHANNEL, "frontdesk", private=True, member=False)
    confirm = review(world.user())
    assert confirm.shown is not None
    assert "`/invite @Mass Text Alerts`" in block_text(confirm.shown, BlockId.CONFIRM_CHANNEL)


# ---------------------------------------------------------------- item 11: counts that agree


def test_the_entry_home_and_report_count_like_the_modal(world: World) -> None:
    ana = world.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "today+1")
    modal = all_text(ana.view(view["id"]))
    assert "5 clients will be texted" in modal and "2 will not be texted" in modal
    alert_id = send(world, ana)
    done = world.wait_finished(alert_id)
    (entry,) = top_level(world, CHANNEL)
    shown = all_text(entry["blocks"])
    assert "5 clients texted · 2 not texted: 1 has no mobile number, 1 opted out" in shown
    assert "2 of 5 failed" in shown and "7 clients" not in shown
    assert (done.texted, done.not_texted, done.failed) == (5, 2, 2)
    assert "5 texted · 2 failed · 2 not texted" in all_text(ana.open_home())
    (upload,) = world.slack.uploaded_files.values()
    assert (
        upload.initial_comment is not None
        and "5 clients texted, 2 failed · 2 not texted" in upload.initial_comment
    )
    rows = report_rows(world, alert_id)
    assert sum(row["SMS Status"] == "Not sent" for row in rows.values()) == done.not_texted


# ---------------------------------------------------------------- item 10: Slack's rate tiers

#: The sandbox's chat.update tier, shrunk: this many calls per window per workspace.
TIER_CALLS, TIER_WINDOW = 10, 2.0
ALERTS = 20


def _budgeted(settings: Settings) -> Overrides:
    budget = EditBudget(calls=TIER_CALLS - 2, window=TIER_WINDOW, burst=2, reserve=1)
    notifier = SlackNotifier(build_client(settings), edit_budget=budget)
    return Overrides(notifier=notifier, progress_interval_seconds=0.05)


@pytest.fixture
def busy(db_url: str, tmp_path: Path) -> Iterator[World]:
    """A world whose notifier keeps chat.update within TIER_CALLS per TIER_WINDOW; progress wanted often."""
    with running_world(db_url, tmp_path / "reports", pace=0.15, overrides=_budgeted) as running:
        yield running
        assert running.problems() == []


def test_twenty_alerts_in_one_workspace_stay_within_the_chat_update_tier(busy: World) -> None:
    world = busy
    channels = [f"C0CLINIC{i:02d}" for i in range(ALERTS)]
    clinic_ids = []
    with world.sessions() as session, session.begin():
        b = Builder(session)
        for i, channel in enumerate(channels):
            world.slack.add_channel(channel, f"clinic-{i}")
            clinic = b.clinic(
                name=f"Happy Paws {i:02d}",
                tz="America/Chicago",
                sms_from=f"+1415555{i:04d}",
                slack_team_id=world.slack.team_id,
                slack_channel_id=channel,
            )
            b.user(clinic, "ana@happypaws.test", Role.ADMIN, name="Dr. Ana Lee")
            for n in range(4):
                b.visit(
                    b.pet(b.client(clinic, f"Client {i}-{n}", f"+1312556{i:02d}{n:02d}")), tomorrow_at(9 + n)
                )
            session.flush()
            clinic_ids.append(clinic.id)
    world.slack.enable_rate_limits(window=TIER_WINDOW, limits={"chat.update": TIER_CALLS}, post_limit=5)
    now = datetime.now(UTC)
    notifier = world.context.notifier
    assert notifier is not None
    ids = []
    for clinic_id in clinic_ids:
        request = alerts.AlertRequest(
            clinic_id, "Dr. Ana Lee", TimeRange(now, now + timedelta(days=3)), "Storm: closed today."
        )
        alert_id, _ = alerts.create_alert(world.sessions, request, now=now, default_pace=0.15, max_chars=320)
        alerts.show_entry(world.sessions, alert_id, notifier, now)
        ids.append(alert_id)

    finished = [world.wait_finished(alert_id, timeout=90.0) for alert_id in ids]

    updates = world.slack.calls_to("chat.update")
    assert [c for c in updates if c.status == 429] == []  # no edit was refused: the budget held
    assert len({c.params["ts"] for c in updates}) == ALERTS  # every entry was edited
    for channel, done in zip(channels, finished, strict=True):
        assert done.succeeded and done.sent == 4
        (entry,) = top_level(world, channel)
        assert "All 4 texts sent" in entry["text"]  # the outcome, never overwritten by a late progress
        assert "report below" in all_text(entry["blocks"])
        assert any(f.channels == [channel] and f.completed for f in world.slack.uploaded_files.values())
    assert len(world.slack.uploaded_files) == ALERTS


def test_a_rate_limited_edit_waits_out_retry_after_and_the_outcome_still_shows(busy: World) -> None:
    world = busy
    world.slack.ratelimit_next("chat.update", retry_after=1, count=2)
    alert_id = send(world, world.user())
    done = world.wait_finished(alert_id)
    updates = world.slack.calls_to("chat.update")
    refused = [c for c in updates if c.status == 429]
    assert len(refused) == 2
    later = [c.at for c in updates if c.at > refused[-1].at]
    assert later and min(later) - refused[-1].at >= 1.0  # nothing edited before Retry-After passed
    (entry,) = top_level(world, CHANNEL)
    assert "2 of 5 failed" in entry["text"] and done.report_permalink is not None
