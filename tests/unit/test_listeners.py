"""Listeners called as plain functions: a fake `ack`, a context dict, the real services on SQLite."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.container import AppContext
from bot.ids import ActionId, BlockId, CallbackId
from commands.compose import review
from commands.compose_state import ComposeMeta, ConfirmMeta
from commands.confirm import send_alert
from commands.context import APP_CONTEXT
from commands.gate import IDENTITY, SENDER, SlackIdentity
from sandbox.slack_requests import state_value
from services.authorization import Authorized, ClinicChoice
from services.clock import ManualClock
from services.db import make_session_factory
from services.models import Client, MassAlert, Role
from services.settings import Settings
from tests.fakes import RecordingNotifier
from tests.integration.recipient_builders import Builder

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 9:00 AM in Chicago: "rest of today" runs until midnight


@dataclass
class FakeAck:
    """Records what the listener answered Slack with."""

    answers: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **answer: Any) -> None:
        self.answers.append(answer)


@dataclass
class Clinic:
    ctx: AppContext
    notifier: RecordingNotifier
    clinic_id: int
    choice: ClinicChoice


@pytest.fixture
def clinic(sqlite_engine: Engine) -> Clinic:
    sessions = make_session_factory(sqlite_engine)
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(name="Happy Paws, Downtown", sms_from="+15005550006", slack_channel_id="C0FRONT")
        user = b.user(clinic, "ana@happypaws.test", Role.ADMIN, name="Dr. Ana Lee")
        b.visit(b.pet(b.client(clinic, "Jane Doe", "+13125550101")), NOW + timedelta(hours=3))
        b.visit(
            b.pet(b.client(clinic, "Olive Optout", "+13125550150", opted_out_at=NOW)),
            NOW + timedelta(hours=4),
        )
        clinic_id, choice = clinic.id, ClinicChoice(clinic.id, clinic.name, user.id, "Dr. Ana Lee")
    notifier = RecordingNotifier()
    ctx = AppContext(Settings(), sessions, ManualClock(NOW), notifier=notifier)
    return Clinic(ctx, notifier, clinic_id, choice)


def context(clinic: Clinic) -> dict[str, Any]:
    """What the global middleware and the permission middleware leave in Bolt's context."""
    return {
        APP_CONTEXT: clinic.ctx,
        SENDER: Authorized([clinic.choice]),
        IDENTITY: SlackIdentity("T0TEAM", "U0ANA", None, "C0FRONT"),
    }


def compose_body(clinic: Clinic, message: str, preset: str = "rest-of-today") -> dict[str, Any]:
    meta = ComposeMeta(clinic.clinic_id, "America/Chicago", 12.0, "C0FRONT", [(clinic.clinic_id, "Downtown")])
    values = {
        BlockId.RANGE: {ActionId.RANGE_SELECT: state_value("static_select", preset)},
        BlockId.MESSAGE: {ActionId.MESSAGE_INPUT: state_value("plain_text_input", message)},
    }
    return {"view": {"id": "V0COMPOSE", "private_metadata": meta.dumps(), "state": {"values": values}}}


def test_review_refuses_a_message_over_the_limit_inline(clinic: Clinic) -> None:
    ack = FakeAck()
    review(ack, compose_body(clinic, "Closing early. " * 30), context(clinic))
    [answer] = ack.answers
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {  # 449: the trailing space is trimmed before counting
        BlockId.MESSAGE: "The message is 449 characters; the limit is 320. Shorten it by 129."
    }


def test_review_of_a_range_nobody_can_be_texted_in_says_who_is_left_out(clinic: Clinic) -> None:
    with clinic.ctx.sessions() as session, session.begin():
        jane = session.scalars(select(Client).where(Client.full_name == "Jane Doe")).one()
        jane.opted_out_at = NOW
    ack = FakeAck()
    review(ack, compose_body(clinic, "Closing at 3 PM today."), context(clinic))
    assert ack.answers == [
        {
            "response_action": "errors",
            "errors": {
                BlockId.RANGE: "Nobody in this range can be texted (2 opted out). Choose another range."
            },
        }
    ]


def test_review_pushes_the_confirmation_carrying_the_reviewed_message(clinic: Clinic) -> None:
    ack = FakeAck()
    review(ack, compose_body(clinic, "  Closing at 3 PM today.  "), context(clinic))
    [answer] = ack.answers
    assert answer["response_action"] == "push"
    view = answer["view"]
    assert view["callback_id"] == CallbackId.CONFIRM
    carried = ConfirmMeta.loads(view["private_metadata"])
    assert carried.message == "Closing at 3 PM today." and carried.channel_id == "C0FRONT"
    assert "1 client" in json.dumps(view["blocks"])


def test_send_clicked_twice_creates_one_alert_and_one_activity_entry(clinic: Clinic) -> None:
    now = clinic.ctx.clock.now()
    carried = ConfirmMeta(
        clinic.clinic_id, now, now + timedelta(hours=12), "Closing at 3 PM today.", "C0FRONT"
    )
    body = {"view": {"id": "V0CONFIRM", "private_metadata": carried.dumps()}}
    acks = [FakeAck(), FakeAck()]
    for ack in acks:
        send_alert(ack, body, context(clinic))
    assert [a.answers for a in acks] == [[{"response_action": "clear"}]] * 2
    with clinic.ctx.sessions() as session:
        alerts = session.scalars(select(MassAlert)).all()
        assert [(a.created_by_name, a.to_send, a.skipped_count) for a in alerts] == [("Dr. Ana Lee", 1, 1)]
    assert len(clinic.notifier.started) == 1
