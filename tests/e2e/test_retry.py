"""“Text the N not reached”: the entry's button (admins only, confirmed), the linked alert, its report.

The served app over HTTP, signed requests as Slack sends them, sandbox Slack and Twilio.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ids import ActionId, BlockId
from services import retry
from tests.blockkit import all_text
from tests.e2e.slack_world import CHANNEL, LANDLINE, PHONES, STAFF, UNREACHABLE, World, running_world
from tests.e2e.test_slack_flow import report_rows, send

REFUSED_RETRYABLE, REFUSED_INVALID = PHONES[2], PHONES[1]


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    """On SQLite and PostgreSQL."""
    with running_world(db_url, tmp_path / "reports") as running:
        yield running
        assert running.problems() == []


def test_a_retry_texts_only_the_clients_whose_failure_may_pass(world: World) -> None:
    # Refused at create: one with a carrier failure worth retrying, one with an invalid number. The world's
    # landline (21614) is permanent too; its unreachable handset (30003 in the callback) is worth retrying.
    world.twilio.refuse_to_prefix(REFUSED_RETRYABLE, 30003)
    world.twilio.refuse_to_prefix(REFUSED_INVALID, 21211)
    original = send(world, world.user())
    done = world.wait_finished(original)
    assert (done.sent, done.failed, done.not_reached) == (1, 4, 2)
    entry = world.wait_for(
        lambda: next(
            (m for m in world.messages() if "Text the 2 not reached" in all_text(m["blocks"])), None
        ),
        "the button on the finished entry",
    )

    # The phones are back on; a staff member may not retry, an admin may.
    world.twilio.to_prefix_errors.clear()
    world.twilio.carrier_outcomes.clear()
    before = len(world.twilio.messages)
    args = (CHANNEL, entry["ts"], BlockId.ACTIVITY_RETRY, ActionId.RETRY_ALERT, str(original))
    assert world.user(STAFF).click_message_button(*args) == 200
    refusal = world.wait_for(lambda: world.slack.ephemerals.get(CHANNEL), "the refusal shown to Sam")
    assert refusal[0]["user"] == STAFF and "only Admins" in refusal[0]["text"]
    assert world.alert_ids() == [original]
    assert world.user().click_message_button(*args) == 200
    retried = world.wait_for(lambda: next((a for a in world.alert_ids() if a != original), None), "the retry")
    again = world.wait_finished(retried)
    assert (again.to_send, again.sent, again.failed, again.retry_of, again.retry_number) == (
        2,
        2,
        0,
        original,
        1,
    )
    texted = sorted(m.to for m in world.twilio.messages[before:])
    assert texted == sorted([REFUSED_RETRYABLE, UNREACHABLE])  # never the delivered, invalid or landline

    # Its entry names the original; the original's entry has no button any more; a second click is a no-op.
    retry_entry = world.wait_for(
        lambda: next((m for m in world.messages() if f"Mass text alert #{retried}" in m["text"]), None),
        "the retry's entry",
    )
    assert f"Retry #1 of mass text alert #{original}" in all_text(retry_entry["blocks"])
    shown = world.slack.message(CHANNEL, entry["ts"])
    assert shown is not None and "not reached" not in all_text(shown["blocks"])
    request = retry.RetryRequest(original, "Dr. Ana Lee")
    assert retry.create_retry(world.sessions, request, now=done.created_at, default_pace=1.0) == (
        retried,
        False,
    )

    rows = report_rows(world, retried)
    by_phone = {row["Client Phone Number"].strip(): row for row in rows.values()}
    assert set(by_phone) == {REFUSED_RETRYABLE, UNREACHABLE}
    assert all(row["SMS Status"] == "Delivered" for row in by_phone.values())
    assert all(
        row["Error Details"] == f"Reached on retry #1 of mass text alert #{original}"
        for row in by_phone.values()
    )
    assert LANDLINE not in by_phone
