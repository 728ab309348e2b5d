"""Alert texts and staff replies are settled by the same rules: status, Twilio error code, final time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from services.clock import ManualClock
from services.delivery import apply_status_callback, ensure_sender
from services.models import AlertDelivery, Conversation, ConversationMessage
from services.sms import ErrorKind, SmsError
from tests.fakes import FakeGateway
from tests.integration.test_delivery import SENDER, dispatcher, make_clinic, new_alert

PHONE = "+13125550001"


@dataclass(frozen=True)
class Settled:
    """What the report and the Slack thread show of one text."""

    status: str
    error_code: str | None
    error_message: str | None
    final_at: datetime | None


def queue_text(sessions: sessionmaker[Session], clock: ManualClock, kind: str) -> tuple[str, int]:
    """One text waiting to go to PHONE: an alert's text, or a staff reply in a conversation."""
    clinic_id, client_ids = make_clinic(sessions, clock, [PHONE])
    if kind == "alert":
        new_alert(sessions, clock, clinic_id)
        with sessions() as session:
            return "alert_deliveries", session.scalars(select(AlertDelivery.id)).one()
    with sessions() as session, session.begin():
        ensure_sender(session, f"from:{SENDER}", clock.now())
        conv = Conversation(clinic_id=clinic_id, client_id=client_ids[0], phone_e164=PHONE)
        session.add(conv)
        session.flush()
        reply = ConversationMessage(
            conversation_id=conv.id,
            direction="outbound",
            body="Yes, we are open until 3 PM.",
            sender_key=f"from:{SENDER}",
            to_phone=PHONE,
            status="queued",
        )
        session.add(reply)
        session.flush()
        return "conversation_messages", reply.id


def settled(sessions: sessionmaker[Session], table: str, row_id: int) -> Settled:
    """The row as stored; the status read as the plain string in the column, whatever the model's enum."""
    model = AlertDelivery if table == "alert_deliveries" else ConversationMessage
    with sessions() as session:
        stored = session.execute(text(f"SELECT status FROM {table} WHERE id = :id"), {"id": row_id}).scalar()
        row = session.get(model, row_id)
        assert row is not None and type(stored) is str
        return Settled(stored, row.error_code, row.error_message, row.final_at)


@pytest.mark.parametrize("kind", ["alert", "staff_reply"])
def test_reconciled_text_keeps_error_code_and_final_time(
    kind: str, sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    table, row_id = queue_text(sessions, clock, kind)
    gateway = FakeGateway(clock, lose_answer_for={PHONE})
    d = dispatcher(sessions, clock, gateway, tmp_path, in_doubt_recheck_seconds=5)
    d.tick()  # Twilio took the text but its answer was lost: in doubt
    assert settled(sessions, table, row_id).status == "in_doubt"
    # Meanwhile the carrier refused it: Twilio's Messages list shows it undelivered with 30006.
    gateway.sent[0].status, gateway.sent[0].error_code = "undelivered", 30006
    clock.advance(6)
    assert d.reconcile() == 1
    assert settled(sessions, table, row_id) == Settled(
        "undelivered", "30006", "Landline or unreachable carrier (Twilio 30006)", clock.now()
    )
    assert len(gateway.sent) == 1  # looked up, never resent


@pytest.mark.parametrize("kind", ["alert", "staff_reply"])
def test_text_refused_by_twilio_keeps_error_code_and_final_time(
    kind: str, sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    table, row_id = queue_text(sessions, clock, kind)
    refusal = SmsError(ErrorKind.PERMANENT, "The number is not a valid phone number", code=21211)
    gateway = FakeGateway(clock, errors={PHONE: refusal})
    dispatcher(sessions, clock, gateway, tmp_path).tick()
    assert settled(sessions, table, row_id) == Settled(
        "failed", "21211", "The number is not a valid phone number", clock.now()
    )


@pytest.mark.parametrize("kind", ["alert", "staff_reply"])
def test_final_status_callback_keeps_error_code_and_final_time(
    kind: str, sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    table, row_id = queue_text(sessions, clock, kind)
    gateway = FakeGateway(clock)
    d = dispatcher(sessions, clock, gateway, tmp_path, public_base_url="https://alerts.example")
    d.tick()
    assert settled(sessions, table, row_id).status == "accepted"
    assert settled(sessions, table, row_id).final_at is None
    clock.advance(3)
    key = "d" if kind == "alert" else "m"
    callback = {"MessageSid": gateway.sent[0].sid, key: str(row_id), "MessageStatus": "undelivered"}
    assert apply_status_callback(sessions, {**callback, "ErrorCode": "30003"}, clock.now())
    assert settled(sessions, table, row_id) == Settled(
        "undelivered", "30003", "Phone unreachable or switched off (Twilio 30003)", clock.now()
    )
    assert (
        f"/twilio/status?{key}={row_id}&a=" in gateway.sent[0].request.status_callback  # type: ignore[operator]
    )
