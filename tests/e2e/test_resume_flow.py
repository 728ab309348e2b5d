"""Resume from Slack and from the command line (issue 11): a stopped alert carries on in the same entry."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from bot.ids import ActionId, BlockId
from sandbox.slack import UploadedFile
from tests.e2e.slack_world import CHANNEL, PHONES, STAFF, UNREACHABLE, World, running_world
from tests.e2e.test_slack_flow import send


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    """On SQLite and PostgreSQL."""
    with running_world(db_url, tmp_path / "reports") as running:
        yield running
        assert running.problems() == []


def reports_of(world: World, alert_id: int) -> list[UploadedFile]:
    """The alert's CSV reports shared in Slack, oldest first."""
    return [
        f
        for f in list(world.slack.uploaded_files.values())
        if f.completed and f.filename.startswith(f"mass-alert-{alert_id}-")
    ]


def stopped_alert(world: World) -> tuple[int, str]:
    """An alert the account error 20003 stopped before any text; (its id, its entry's ts)."""
    world.twilio.fail_account(20003)
    alert_id = send(world, world.user())
    world.wait_for(lambda: world.snapshot(alert_id).state == "failed", "the alert to stop")
    world.wait_finished(alert_id)
    entry = world.wait_for(world.messages, "the activity entry")[0]
    shown = world.wait_for(
        lambda: (m := world.slack.message(CHANNEL, entry["ts"])) and "Alert stopped" in m["text"] and m,
        "the stopped entry",
    )
    assert "TWILIO_AUTH_TOKEN" in str(shown["blocks"])  # what to fix
    return alert_id, entry["ts"]


def test_resume_button_is_for_admins_and_texts_each_client_once(world: World) -> None:
    alert_id, ts = stopped_alert(world)
    assert world.twilio.messages == []
    world.twilio.fail_account(None)  # fixed

    sam = world.user(STAFF)
    assert (
        sam.click_message_button(CHANNEL, ts, BlockId.ACTIVITY_STATUS, ActionId.RESUME_ALERT, str(alert_id))
        == 200
    )
    refusal = world.wait_for(lambda: world.slack.ephemerals.get(CHANNEL), "the refusal shown to Sam")
    assert refusal[0]["user"] == STAFF and "only Admins" in refusal[0]["text"]
    assert world.snapshot(alert_id).state == "failed"

    ana = world.user()
    assert (
        ana.click_message_button(CHANNEL, ts, BlockId.ACTIVITY_STATUS, ActionId.RESUME_ALERT, str(alert_id))
        == 200
    )
    reports = world.wait_for(
        lambda: len(found := reports_of(world, alert_id)) == 2 and found, "the resumed alert's report", 30.0
    )
    done = world.snapshot(alert_id)
    assert done.state == "completed"
    reachable = [*PHONES, UNREACHABLE]
    assert Counter(m.to for m in world.twilio.messages) == Counter(dict.fromkeys(reachable, 1))
    assert done.error is None and done.sent + done.failed == len(reachable) + 1  # + the landline's refusal
    assert len([m for m in world.messages() if "thread_ts" not in m]) == 1  # the same entry carried on
    final = world.slack.message(CHANNEL, ts)
    assert final is not None and "Alert stopped" not in final["text"]
    assert reports[0].filename == reports[1].filename  # the same report, shared again with the outcome
    text = (reports[-1].content or b"").decode("utf-8")
    statuses = {
        row["Client Phone Number"].strip(): row["SMS Status"] for row in csv.DictReader(io.StringIO(text))
    }
    assert [statuses[phone] for phone in PHONES] == ["Delivered"] * len(PHONES)


def test_the_resume_command_exits_by_what_it_did(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", world.context.settings.database_url)
    alert_id, _ = stopped_alert(world)
    assert cli_main(["resume", "999999"]) == 1
    world.twilio.fail_account(None)
    assert cli_main(["resume", str(alert_id)]) == 0
    world.wait_for(lambda: len(reports_of(world, alert_id)) == 2, "the resumed alert's report", 30.0)
    assert cli_main(["resume", str(alert_id)]) == 1  # completed, not stopped
    assert Counter(m.to for m in world.twilio.messages) == Counter(dict.fromkeys([*PHONES, UNREACHABLE], 1))
