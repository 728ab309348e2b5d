"""Client replies in the database: conversations joined or opened, keywords, staff answers, closing."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services import alerts
from services import conversations as conv
from services.clock import ManualClock
from services.delivery import DispatchConfig, Dispatcher
from services.errors import DomainError, InvalidInput
from services.models import AlertDelivery, Client, Conversation, ConversationMessage, InboundEvent
from services.timeranges import TimeRange
from tests.fakes import FakeGateway
from tests.integration.recipient_builders import Builder

CLINIC_NUMBER = "+15005550006"
JANE = "+13125550101"
BOB = "+13125550102"
SHARED = "+13125550103"
STRANGER = "+13125550199"


def setup_clinic(sessions: sessionmaker[Session], clock: ManualClock, **clinic: object) -> dict[str, int]:
    """Happy Paws with Jane, Bob and two clients sharing one number, each with a visit tomorrow."""
    with sessions() as session, session.begin():
        b = Builder(session)
        kwargs = {
            "sms_from": CLINIC_NUMBER,
            "contact_phone": "(312) 555-0100",
            "slack_channel_id": "C0FRONT",
            **clinic,
        }
        clinic_row = b.clinic(**kwargs)  # type: ignore[arg-type]
        ids = {"clinic": clinic_row.id}
        for key, name, phone in (
            ("jane", "Jane Doe", JANE),
            ("bob", "Bob Roe", BOB),
            ("ann", "Ann Lee", SHARED),
            ("max", "Max Lee", SHARED),
        ):
            client = b.client(clinic_row, name, phone)
            b.visit(b.pet(client, f"{name.split()[0]}'s dog"), clock.now() + timedelta(days=1))
            ids[key] = client.id
        return ids


_sids = itertools.count(1)


def reply(
    sessions: sessionmaker[Session],
    clock: ManualClock,
    body: str,
    *,
    from_: str = JANE,
    sid: str | None = None,
    to: str = CLINIC_NUMBER,
) -> conv.InboundResult:
    """An inbound text as the webhook hands it to the service."""
    return conv.handle_inbound(
        sessions,
        clinic_number=to,
        from_number=from_,
        body=body,
        message_sid=sid or f"SM{next(_sids):032d}",
        now=clock.now(),
    )


def send_alert(
    sessions: sessionmaker[Session], clock: ManualClock, clinic_id: int, tmp_path: Path, gateway: FakeGateway
) -> tuple[int, Dispatcher]:
    rng = TimeRange(clock.now(), clock.now() + timedelta(days=7))
    alert_id, _ = alerts.create_alert(
        sessions,
        alerts.AlertRequest(
            clinic_id=clinic_id,
            created_by_name="Dr. Ana Lee",
            rng=rng,
            message="Closing at 3 PM today (storm).",
        ),
        now=clock.now(),
        default_pace=12.0,
        max_chars=320,
    )
    d = Dispatcher(sessions, gateway, clock, DispatchConfig(reports_dir=tmp_path))
    return alert_id, d


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def messages(sessions: sessionmaker[Session], conversation_id: int) -> list[ConversationMessage]:
    with sessions() as session:
        return list(
            session.scalars(
                select(ConversationMessage)
                .where(ConversationMessage.conversation_id == conversation_id)
                .order_by(ConversationMessage.id)
            )
        )


def test_reply_to_an_alert_opens_a_conversation_then_joins_it(sessions, clock, tmp_path) -> None:
    ids = setup_clinic(sessions, clock)
    gateway = FakeGateway(clock)
    alert_id, d = send_alert(sessions, clock, ids["clinic"], tmp_path, gateway)
    for _ in range(5):
        d.tick()
        clock.advance(13)
    assert len(gateway.sent) == 3 and count(sessions, Conversation) == 0  # alert texts open nothing
    first = reply(sessions, clock, "Can we come tomorrow instead?")
    assert first.opened and first.client_id == ids["jane"] and first.client_name == "Jane Doe"
    assert first.reply is None and first.relay_claimed
    second = reply(sessions, clock, "Around 10?")
    assert not second.opened and second.conversation_id == first.conversation_id
    with sessions() as session:
        row = session.get(Conversation, first.conversation_id)
        assert row is not None and row.status == "active" and row.alert_id == alert_id
        assert row.phone_e164 == JANE and not row.unknown_contact
    assert [m.body for m in messages(sessions, first.conversation_id)] == [
        "Can we come tomorrow instead?",
        "Around 10?",
    ]
    header = conv.thread_header(sessions, first.conversation_id)
    assert header.client_name == "Jane Doe" and header.pets == ("Jane's dog",)
    assert header.alert_message == "Closing at 3 PM today (storm)." and header.channel_id == "C0FRONT"


def test_shared_number_goes_to_the_client_texted_last_and_names_the_others(sessions, clock, tmp_path) -> None:
    ids = setup_clinic(sessions, clock)
    gateway = FakeGateway(clock)
    alert_id, _ = send_alert(sessions, clock, ids["clinic"], tmp_path, gateway)
    with sessions() as session, session.begin():
        # Max was texted by the alert (Ann shared his number and was skipped).
        for row in session.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == alert_id)):
            if row.client_id == ids["max"]:
                row.requested_at = clock.now()
    result = reply(sessions, clock, "Is it both of our dogs?", from_=SHARED)
    assert result.client_id == ids["max"] and result.other_clients == ("Ann Lee",)
    header = conv.thread_header(sessions, result.conversation_id or 0)
    assert header.client_name == "Max Lee" and header.other_clients == ("Ann Lee",)
    assert header.alert_id == alert_id


def test_unknown_number_opens_an_unknown_contact_conversation(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    result = reply(sessions, clock, "Who is this?", from_=STRANGER)
    assert result.opened and result.unknown_contact and result.client_id is None
    header = conv.thread_header(sessions, result.conversation_id or 0)
    assert header.unknown_contact and header.client_name is None and header.phone == STRANGER


def test_clinic_found_by_messaging_service(sessions, clock) -> None:
    ids = setup_clinic(sessions, clock, sms_from=None, messaging_service_sid="MG" + "a" * 32)
    result = conv.handle_inbound(
        sessions,
        clinic_number="+18885550000",
        from_number=JANE,
        body="Hi",
        message_sid="SMms1",
        now=clock.now(),
        messaging_service_sid="MG" + "a" * 32,
    )
    assert result.clinic_id == ids["clinic"] and result.opened


def test_messaging_service_wins_over_a_clinic_with_the_same_number(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    with sessions() as session, session.begin():
        other = Builder(session).clinic("Other Paws", sms_from=None, messaging_service_sid="MG" + "b" * 32)
        other_id = other.id
    result = conv.handle_inbound(
        sessions,
        clinic_number=CLINIC_NUMBER,
        from_number=JANE,
        body="Hi",
        message_sid="SMms2",
        now=clock.now(),
        messaging_service_sid="MG" + "b" * 32,
    )
    assert result.clinic_id == other_id and result.unknown_contact and result.opened


def test_text_to_a_number_of_no_clinic_is_ignored(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    result = reply(sessions, clock, "Hello?", to="+18885550000")
    assert result.clinic_id is None and result.conversation_id is None
    assert count(sessions, Conversation) == 0


def test_retried_message_sid_is_handled_once(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    first = reply(sessions, clock, "STOP", sid="SMretry")
    again = reply(sessions, clock, "STOP", sid="SMretry")
    assert first.reply is not None and "unsubscribed" in first.reply
    assert again.duplicate and again.reply is None
    later = reply(sessions, clock, "See you", sid="SMretry2")
    twice = reply(sessions, clock, "See you", sid="SMretry2")
    assert twice.duplicate and twice.conversation_id is None
    assert len(messages(sessions, later.conversation_id or 0)) == 1
    assert count(sessions, InboundEvent) == 2


def test_simultaneous_replies_open_one_conversation(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    barrier = threading.Barrier(8)
    results: list[conv.InboundResult] = []
    errors: list[BaseException] = []

    def send(i: int) -> None:
        barrier.wait()
        try:
            results.append(
                conv.handle_inbound(
                    sessions,
                    clinic_number=CLINIC_NUMBER,
                    from_number=JANE,
                    body=f"reply {i}",
                    message_sid=f"SMsim{i}",
                    now=clock.now(),
                )
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len({r.conversation_id for r in results}) == 1
    assert sum(r.opened for r in results) == 1
    assert count(sessions, Conversation) == 1 and count(sessions, ConversationMessage) == 8


STOP_VARIANTS = [
    "STOP",
    "stop",
    "Stop",
    " STOP ",
    "STOP.",
    "stop!",
    "STOPALL",
    "stop all",
    "UNSUBSCRIBE",
    "Unsubscribe",
    "CANCEL",
    "cancel",
    "END",
    "end.",
    "QUIT",
    "quit",
    "REVOKE",
    "revoke",
    "OPT OUT",
    "opt out",
    "opt-out",
    "OPTOUT",
    "optout",
    "  Opt Out!  ",
    "¡Stop!",
    '"stop"',
    "Stop 🛑",
    "\tSTOP\n",
]


@pytest.mark.parametrize("word", STOP_VARIANTS)
def test_every_opt_out_word_and_variant_is_recognised(word: str) -> None:
    parsed = conv.parse_keyword(word)
    assert parsed is not None and parsed[0] == conv.Keyword.STOP


@pytest.mark.parametrize(
    "word",
    ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT", "  opt-out! "],
)
def test_opt_out_marks_every_client_on_the_number(word: str, sessions, clock) -> None:
    ids = setup_clinic(sessions, clock)
    result = reply(sessions, clock, word, from_=SHARED)
    assert result.keyword == conv.Keyword.STOP and result.changed_clients == 2
    assert result.reply is not None and "Happy Paws" in result.reply and "START" in result.reply
    assert result.conversation_id is None  # a keyword never opens a conversation
    with sessions() as session:
        assert session.get(Client, ids["ann"]).opted_out_at == clock.now()  # type: ignore[union-attr]
        assert session.get(Client, ids["max"]).opted_out_at == clock.now()  # type: ignore[union-attr]
        assert session.get(Client, ids["jane"]).opted_out_at is None  # type: ignore[union-attr]


@pytest.mark.parametrize("word", ["START", "Unstop", "yes!"])
def test_opt_in_keywords(word: str, sessions, clock) -> None:
    ids = setup_clinic(sessions, clock)
    reply(sessions, clock, "STOP")
    result = reply(sessions, clock, word)
    assert result.keyword == conv.Keyword.START and result.changed_clients == 1
    assert result.reply is not None and "resubscribed" in result.reply
    with sessions() as session:
        assert session.get(Client, ids["jane"]).opted_out_at is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "word", ["stop please", "I want to stop by tomorrow", "stopped", "STOP 2", "Cancel my visit"]
)
def test_sentences_are_not_keywords(word: str) -> None:
    assert conv.parse_keyword(word) is None


def test_yes_from_a_subscribed_client_is_an_ordinary_reply(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    result = reply(sessions, clock, "Yes")
    assert result.keyword is None and result.reply is None and result.opened


def test_help_answers_with_the_clinic_name_and_contact(sessions, clock) -> None:
    ids = setup_clinic(sessions, clock)
    result = reply(sessions, clock, "help")
    assert result.keyword == conv.Keyword.HELP and result.changed_clients == 0
    assert result.reply is not None and "Happy Paws" in result.reply and "(312) 555-0100" in result.reply
    with sessions() as session:
        assert session.get(Client, ids["jane"]).opted_out_at is None  # type: ignore[union-attr]


def test_keyword_joins_an_active_conversation(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    opened = reply(sessions, clock, "Can we come at 4?")
    stop = reply(sessions, clock, "STOP")
    assert stop.conversation_id == opened.conversation_id and not stop.opened
    assert [m.body for m in messages(sessions, opened.conversation_id or 0)] == ["Can we come at 4?", "STOP"]
    assert conv.thread_header(sessions, opened.conversation_id or 0).opted_out


def test_opt_out_during_a_running_alert_skips_the_rest(sessions, clock, tmp_path) -> None:
    ids = setup_clinic(sessions, clock)
    gateway = FakeGateway(clock)
    alert_id, d = send_alert(sessions, clock, ids["clinic"], tmp_path, gateway)
    d.tick()  # the first client's text leaves; the others wait for their 12 s slots
    assert len(gateway.sent) == 1
    first_to = gateway.sent[0].request.to
    later = BOB if first_to != BOB else JANE
    reply(sessions, clock, "STOP", from_=later)
    with sessions() as session:
        row = session.scalars(
            select(AlertDelivery).where(AlertDelivery.alert_id == alert_id, AlertDelivery.phone_e164 == later)
        ).one()
        assert row.status == "skipped" and row.skip_reason == "opted_out"
    for _ in range(6):
        clock.advance(13)
        d.tick()
    assert later not in [t.request.to for t in gateway.sent]
    assert len(gateway.sent) == 2  # the two other clients (one shared number is texted once)


def test_staff_reply_goes_in_the_priority_lane_ahead_of_alert_texts(sessions, clock, tmp_path) -> None:
    ids = setup_clinic(sessions, clock)
    gateway = FakeGateway(clock)
    _, d = send_alert(sessions, clock, ids["clinic"], tmp_path, gateway)
    d.tick()
    to = gateway.sent[0].request.to
    clock.advance(1)
    opened = reply(sessions, clock, "Are you open Saturday?", from_=to)
    message_id = conv.queue_staff_reply(
        sessions,
        conversation_id=opened.conversation_id or 0,
        body="Yes, 9 to 1.",
        author_slack_user_id="U0STAFF",
        now=clock.now(),
    )
    clock.advance(1)
    d.tick()
    assert [t.request.body for t in gateway.sent][-1] == "Yes, 9 to 1."
    assert gateway.sent[-1].request.to == to
    assert gateway.sent[-1].at - gateway.sent[0].at < timedelta(seconds=12)
    with sessions() as session:
        row = session.get(ConversationMessage, message_id)
        assert row is not None and row.status == "accepted" and row.author_slack_user_id == "U0STAFF"


def test_staff_reply_refused_when_opted_out_closed_or_empty(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    opened = reply(sessions, clock, "Hi")
    cid = opened.conversation_id or 0
    with pytest.raises(InvalidInput, match="Type the answer"):
        conv.queue_staff_reply(
            sessions, conversation_id=cid, body="  ", author_slack_user_id="U1", now=clock.now()
        )
    queued = conv.queue_staff_reply(
        sessions, conversation_id=cid, body="Hello Jane", author_slack_user_id="U1", now=clock.now()
    )
    reply(sessions, clock, "STOP")
    with sessions() as session:
        row = session.get(ConversationMessage, queued)
        assert row is not None and row.status == "failed" and "opted out" in (row.error_message or "")
    with pytest.raises(DomainError, match="Jane Doe opted out"):
        conv.queue_staff_reply(
            sessions, conversation_id=cid, body="Hello?", author_slack_user_id="U1", now=clock.now()
        )
    reply(sessions, clock, "START")
    conv.close_conversation(sessions, conversation_id=cid, now=clock.now())
    with pytest.raises(DomainError, match="closed"):
        conv.queue_staff_reply(
            sessions, conversation_id=cid, body="Hello?", author_slack_user_id="U1", now=clock.now()
        )


def test_staff_reply_retry_is_queued_once(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    cid = reply(sessions, clock, "Hi").conversation_id or 0
    conv.queue_staff_reply(
        sessions,
        conversation_id=cid,
        body="Hello",
        author_slack_user_id="U1",
        now=clock.now(),
        dedupe_key="slack:C0FRONT:1.2",
    )
    with pytest.raises(conv.AlreadyHandled):
        conv.queue_staff_reply(
            sessions,
            conversation_id=cid,
            body="Hello",
            author_slack_user_id="U1",
            now=clock.now(),
            dedupe_key="slack:C0FRONT:1.2",
        )
    assert [m.direction for m in messages(sessions, cid)] == ["inbound", "outbound"]


def test_close_then_a_new_reply_opens_a_new_conversation(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    first = reply(sessions, clock, "Thanks!")
    closed = conv.close_conversation(sessions, conversation_id=first.conversation_id or 0, now=clock.now())
    assert not closed.already_closed
    again = conv.close_conversation(sessions, conversation_id=first.conversation_id or 0, now=clock.now())
    assert again.already_closed
    second = reply(sessions, clock, "One more thing")
    assert second.opened and second.conversation_id != first.conversation_id
    with sessions() as session:
        statuses = sorted(session.scalars(select(Conversation.status)))
    assert statuses == ["active", "closed"]


def test_relay_claims_post_each_message_once(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    first = reply(sessions, clock, "First")
    second = reply(sessions, clock, "Second")  # joins while the thread is still being started
    cid = first.conversation_id or 0
    assert first.relay_claimed and not second.relay_claimed
    assert not conv.claim_thread(sessions, cid, clock.now())  # the first reply's request holds it
    assert [i.body for i in conv.claim_unposted(sessions, cid, clock.now())] == ["Second"]
    assert conv.claim_unposted(sessions, cid, clock.now()) == []
    assert conv.relay_backlog(sessions, clock.now()) == []
    clock.advance(conv.CLAIM_SECONDS + 1)  # the claims' holders died: they may be taken over
    assert conv.relay_backlog(sessions, clock.now()) == [cid]
    assert conv.claim_thread(sessions, cid, clock.now())
    conv.posted(
        sessions, message_id=first.message_id, slack_ts="1.000001", conversation_id=cid, channel_id="C0FRONT"
    )
    assert conv.find_by_thread(sessions, "C0FRONT", "1.000001") == cid
    assert [i.body for i in conv.claim_unposted(sessions, cid, clock.now())] == ["Second"]
    conv.release(sessions, message_ids=[second.message_id or 0])
    assert conv.relay_backlog(sessions, clock.now()) == [cid]
    third = reply(sessions, clock, "Third")  # the thread exists now: it takes the unposted second along
    assert third.relay_claimed and [i.body for i in third.earlier] == ["Second"]
    assert third.header is not None and third.header.thread_ts == "1.000001"
    assert conv.relay_backlog(sessions, clock.now()) == []


def test_staff_reply_status_updates_are_found_until_shown(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    cid = reply(sessions, clock, "Hi").conversation_id or 0
    mid = conv.queue_staff_reply(
        sessions, conversation_id=cid, body="Hello", author_slack_user_id="U1", now=clock.now()
    )
    conv.record_ack(sessions, mid, "5.000001", "queued")
    assert conv.replies_to_update(sessions, clock.now()) == []
    with sessions() as session, session.begin():
        row = session.get(ConversationMessage, mid)
        assert row is not None
        row.status = "delivered"
    assert conv.replies_to_update(sessions, clock.now()) == [mid]
    assert conv.mark_shown(sessions, mid, "5.000001", "queued", "delivered")
    assert not conv.mark_shown(sessions, mid, "5.000001", "queued", "delivered")
    assert conv.replies_to_update(sessions, clock.now()) == []
    assert conv.staff_reply(sessions, mid).shown == "delivered"


def test_a_failed_thread_start_is_retried_by_the_next_sync_without_waiting(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    first = reply(sessions, clock, "Hello?")
    cid = first.conversation_id or 0
    assert first.opened and first.relay_claimed
    # Slack refused the post: the relayer gives both claims back.
    conv.release(sessions, message_ids=[first.message_id or 0], conversation_id=cid)
    assert conv.relay_backlog(sessions, clock.now()) == [cid]
    assert conv.thread_header(sessions, cid).thread_ts is None
    assert conv.claim_thread(sessions, cid, clock.now())
    assert [i.body for i in conv.claim_unposted(sessions, cid, clock.now())] == ["Hello?"]
    conv.posted(
        sessions, message_id=first.message_id, slack_ts="2.000001", conversation_id=cid, channel_id="C0FRONT"
    )
    # Posted: nothing is left to relay, however long the claim would have lasted.
    clock.advance(conv.CLAIM_SECONDS * 10)
    assert conv.relay_backlog(sessions, clock.now()) == []
    assert not conv.claim_thread(sessions, cid, clock.now())
    assert conv.claim_unposted(sessions, cid, clock.now()) == []
    assert conv.thread_header(sessions, cid).root_body == "Hello?"


def test_a_claim_holds_for_claim_seconds_and_no_longer(sessions, clock) -> None:
    setup_clinic(sessions, clock)
    first = reply(sessions, clock, "First")
    second = reply(sessions, clock, "Second")  # waits for the thread the first reply's request is starting
    cid = first.conversation_id or 0
    assert [i.body for i in conv.claim_unposted(sessions, cid, clock.now())] == ["Second"]
    clock.advance(conv.CLAIM_SECONDS)
    assert conv.claim_unposted(sessions, cid, clock.now()) == []
    assert not conv.claim_thread(sessions, cid, clock.now())
    clock.advance(1)
    assert [i.message_id for i in conv.claim_unposted(sessions, cid, clock.now())] == [
        first.message_id,
        second.message_id,
    ]
    assert conv.claim_thread(sessions, cid, clock.now())
    assert not conv.claim_thread(sessions, cid, clock.now())  # the new claim holds
