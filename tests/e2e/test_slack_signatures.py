"""Requests into /slack/events must carry Slack's signature, made with our secret, less than 5 minutes ago."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.slack_requests import post, slash_command_body, view_submission_payload
from tests.e2e.slack_world import ADMIN, CHANNEL, SECRET, World, running_world


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[World]:
    with running_world(f"sqlite:///{tmp_path / 'e2e.db'}", tmp_path / "reports") as running:
        yield running


def command(world: World) -> bytes:
    return slash_command_body(
        user_id=ADMIN,
        channel_id=CHANNEL,
        trigger_id=world.slack.new_trigger_id(),
        team_id=world.slack.team_id,
    )


def test_a_forged_signature_is_refused_with_401(lite: World) -> None:
    status, _ = post(lite.served.events_url, command(lite), "not-our-secret")
    assert status == 401
    forged_submit = view_submission_payload(
        user_id=ADMIN,
        trigger_id="1.2.3",
        team_id=lite.slack.team_id,
        view={
            "id": "V1",
            "callback_id": "mass_alert_confirm",
            "private_metadata": "{}",
            "state": {"values": {}},
        },
    )
    assert post(lite.served.events_url, forged_submit, "not-our-secret")[0] == 401
    assert lite.slack.calls_to("views.open") == [] and lite.alert_ids() == []


def test_a_stale_signature_is_refused_with_401(lite: World) -> None:
    status, _ = post(lite.served.events_url, command(lite), SECRET, timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    assert lite.slack.calls_to("views.open") == []


def test_a_fresh_signature_with_our_secret_is_served(lite: World) -> None:
    status, _ = post(lite.served.events_url, command(lite), SECRET)
    assert status == 200
    lite.wait_for(lambda: lite.slack.calls_to("views.open"), "the loading modal")
    lite.wait_for(lambda: lite.slack.calls_to("views.update"), "the form replacing the loading modal")


def test_health_and_twilio_routes_are_served_beside_slack(lite: World) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{lite.served.base_url}/healthz", timeout=5) as answer:
        assert answer.status == 200 and b'"ok": true' in answer.read()
    status, _ = post(
        f"{lite.served.base_url}/twilio/status",
        b"MessageSid=SM1&MessageStatus=delivered",
        SECRET,
        content_type="application/x-www-form-urlencoded",
    )
    assert status == 403  # no valid X-Twilio-Signature
