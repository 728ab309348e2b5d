"""Client replies over HTTP: sandbox Twilio posts signed inbound texts, sandbox Slack records the threads."""

from __future__ import annotations

import csv
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import commands
from bot.container import AppContext
from bot.conversation_relay import ConversationRelay
from bot.inbound import make_inbound_handler
from bot.web import TwilioRoutes, WebApp, serve_in_thread
from sandbox.polling import wait_for
from sandbox.signing import SIGNATURE_HEADER, twilio_signature
from sandbox.slack import SandboxSlack
from sandbox.slack_events import (
    channel_mention,
    escape,
    file_share_event,
    link,
    message_changed_event,
    message_deleted_event,
    message_event,
    user_mention,
)
from sandbox.slack_requests import action, block_actions_payload, event_body, post
from sandbox.twilio import SandboxTwilio
from services import alerts
from services.clock import ManualClock
from services.db import make_session_factory
from services.delivery import DispatchConfig, Dispatcher
from services.models import (
    AlertDelivery,
    Client,
    Clinic,
    Conversation,
    ConversationMessage,
    InboundEvent,
    Role,
)
from services.reports import write_report
from services.settings import Settings
from services.sms import TwilioGateway
from services.timeranges import TimeRange
from tests.integration.recipient_builders import Builder

SID = "AC" + "2" * 32
TOKEN = "sandbox-twilio-token"
SECRET = "sandbox-signing-secret"
CLINIC_NUMBER = "+15005550006"
CHANNEL = "C0FRONT"
STAFF = "U0STAFF"
#: How long a test waits for what Bolt does after acking an event (listeners run after the ack).
WAIT_SECONDS = 5.0
JANE, BOB, CARL, STRANGER = "+13125550101", "+13125550102", "+13125550103", "+13125550199"


@dataclass
class Stack:
    """The served app (Twilio routes + Bolt) with sandbox Slack and Twilio, and the dispatcher."""

    sessions: sessionmaker[Session]
    clock: ManualClock
    slack: SandboxSlack
    twilio: SandboxTwilio
    base: str
    relay: ConversationRelay
    dispatcher: Dispatcher
    clinic_id: int
    client_ids: dict[str, int]
    ctx: AppContext
    routes: TwilioRoutes

    @property
    def inbound_url(self) -> str:
        return f"{self.base}/twilio/inbound"

    def text(self, body: str, from_: str = JANE, sid: str | None = None) -> int:
        """The sandbox posts a signed inbound text; the HTTP status."""
        return self.twilio.simulate_inbound(
            self.inbound_url, from_=from_, to=CLINIC_NUMBER, body=body, message_sid=sid
        )

    def top_level(self) -> list[dict[str, Any]]:
        return [m for m in self.slack.messages.get(CHANNEL, []) if "thread_ts" not in m]

    def thread(self, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.slack.messages.get(CHANNEL, []) if m.get("thread_ts") == ts]

    def alert(self, message: str = "Closing at 3 PM today (storm).", sender: str | None = None) -> int:
        rng = TimeRange(self.clock.now(), self.clock.now() + timedelta(days=7))
        alert_id, _ = alerts.create_alert(
            self.sessions,
            alerts.AlertRequest(
                clinic_id=self.clinic_id,
                created_by_name="Dr. Ana Lee",
                rng=rng,
                message=message,
                slack_user_id=sender,
            ),
            now=self.clock.now(),
            default_pace=12.0,
            max_chars=320,
        )
        return alert_id

    def staff_types(self, thread_ts: str, text: str, user: str = STAFF, ts: str | None = None) -> int:
        event = {
            "type": "message",
            "channel": CHANNEL,
            "user": user,
            "text": text,
            "team": "T0SANDBOX",
            "ts": ts or f"{time.time():.6f}",
            "thread_ts": thread_ts,
            "channel_type": "channel",
            "event_ts": f"{time.time():.6f}",
        }
        status, _ = post(f"{self.base}/slack/events", event_body(event), SECRET)
        return status

    def event(self, event: dict[str, Any]) -> int:
        """Slack delivers one signed Events API callback; the HTTP status."""
        status, _ = post(f"{self.base}/slack/events", event_body(event), SECRET)
        return status

    def send_answers(self) -> list[str]:
        """Let the dispatcher send the queued staff answers; the bodies texted to Jane."""
        for _ in range(3):  # conversation texts keep the sender's hard rate
            self.clock.advance(1)
            self.dispatcher.tick()
        return [body for to, body in self.outbound() if to == JANE]

    def outbound(self) -> list[tuple[str, str]]:
        return [(m.to, m.body) for m in self.twilio.messages if m.direction == "outbound-api"]


def signed_inbound(
    url: str, params: dict[str, str], token: str = TOKEN, signature: str | None = None
) -> tuple[int, str]:
    """POST an inbound form as Twilio does (or with the given signature); (status, body)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    sig = twilio_signature(token, url, params) if signature is None else signature
    if sig:
        headers[SIGNATURE_HEADER] = sig
    request = urllib.request.Request(url, data=urlencode(params).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def form(body: str, from_: str = JANE, sid: str = "SM" + "0" * 32) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": SID,
        "From": from_,
        "To": CLINIC_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }


def count(sessions: sessionmaker[Session], model: type, *where: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _seed(sessions: sessionmaker[Session], clock: ManualClock) -> tuple[int, dict[str, int]]:
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic(
            sms_from=CLINIC_NUMBER,
            contact_phone="(312) 555-0100",
            slack_channel_id=CHANNEL,
            slack_team_id="T0SANDBOX",
        )
        b.user(clinic, "ana@happypaws.example", Role.STAFF, slack_team_id="T0SANDBOX", slack_user_id=STAFF)
        ids: dict[str, int] = {}
        for i, (key, name, phone, pets) in enumerate(
            (
                ("jane", "Jane Doe", JANE, ("Max", "Bella")),
                ("bob", "Bob Roe", BOB, ("Rex",)),
                ("carl", "Carl Poe", CARL, ("Tom",)),
            )
        ):
            client = b.client(clinic, name, phone)
            for pet in pets:
                b.visit(b.pet(client, pet), clock.now() + timedelta(hours=20 + i))
            ids[key] = client.id
        b.pet(session.get(Client, ids["jane"]), "Old Rex", deceased=True)  # type: ignore[arg-type]
        return clinic.id, ids


@contextmanager
def open_stack(engine: Engine, tmp_path: Path, settings: Settings, **twilio_options: Any) -> Iterator[Stack]:
    """The stack with these settings; `twilio_options` configure the sandbox Twilio (opt-out handling...)."""
    sessions = make_session_factory(engine)
    clock = ManualClock()
    clinic_id, client_ids = _seed(sessions, clock)
    with (
        SandboxSlack() as slack,
        SandboxTwilio(account_sid=SID, auth_token=TOKEN, clock=clock, **twilio_options) as twilio,
    ):
        slack.add_channel(CHANNEL, "frontdesk")
        slack.add_user(STAFF, email="ana@happypaws.example", real_name="Ana Lee")
        slack.add_user("U0OUTSIDER", email="someone@elsewhere.example", real_name="Out Sider")
        client = WebClient(base_url=slack.url, token=slack.bot_token)
        gateway = TwilioGateway(
            SID, TOKEN, api_url=twilio.url, validity_seconds=settings.alert_validity_seconds
        )
        relay = ConversationRelay(sessions, client, clock, media_reader=gateway.fetch_media)
        ctx = AppContext(settings, sessions, clock, client, relay=relay)
        # Listeners run before the HTTP answer, so a test sees their effect as soon as the post returns.
        app = App(signing_secret=SECRET, client=client, process_before_response=True)
        commands.register(app, ctx)
        routes = TwilioRoutes(sessions, clock, TOKEN, None, inbound=make_inbound_handler(ctx, relay))
        server = serve_in_thread(WebApp(sessions, routes, SlackRequestHandler(app)))
        base = f"http://127.0.0.1:{server.effective_port}"
        routes.public_base_url = base
        config = DispatchConfig(public_base_url=base, reports_dir=tmp_path)
        dispatcher = Dispatcher(sessions, gateway, clock, config)
        try:
            yield Stack(
                sessions, clock, slack, twilio, base, relay, dispatcher, clinic_id, client_ids, ctx, routes
            )
        finally:
            server.close()


@pytest.fixture
def stack(engine: Engine, tmp_path: Path) -> Iterator[Stack]:
    # The sandbox answers no keyword itself here, as on an account with Twilio's opt-out handling off.
    with open_stack(engine, tmp_path, Settings(twilio_opt_out_replies="app")) as opened:
        yield opened


def _texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_reply_to_an_alert_starts_a_thread_and_the_next_reply_joins_it(stack: Stack) -> None:
    alert_id = stack.alert()
    for _ in range(3):
        stack.dispatcher.tick()
        stack.clock.advance(13)
    assert sorted(to for to, _ in stack.outbound()) == [JANE, BOB, CARL]
    assert count(stack.sessions, Conversation) == 0  # alert texts open no conversation
    assert stack.text("Can we come tomorrow instead?") == 200
    [root] = stack.top_level()
    shown = _texts(root["blocks"])
    assert f"Reply from Jane Doe* (Max, Bella) to mass alert #{alert_id}" in shown
    assert "Old Rex" not in shown and "Can we come tomorrow instead?" in shown
    assert '"action_id": "close_conversation"' in shown
    assert stack.text("Around 10 would be great") == 200
    assert stack.top_level() == [root]
    [answer] = stack.thread(root["ts"])
    assert "Jane Doe" in answer["text"] and "Around 10 would be great" in answer["text"]
    assert count(stack.sessions, Conversation) == 1
    assert count(stack.sessions, ConversationMessage, ConversationMessage.direction == "inbound") == 2


def test_staff_answer_leaves_ahead_of_the_alert_texts_and_shows_delivered(stack: Stack) -> None:
    stack.alert()
    stack.dispatcher.tick()  # Jane's alert text leaves; Bob's and Carl's wait for their 12 s slots
    assert stack.outbound()[0][0] == JANE
    stack.clock.advance(1)
    stack.text("Are you open Saturday?")
    [root] = stack.top_level()
    assert stack.staff_types(root["ts"], "Yes, 9 to 1. See you!") == 200
    ack = wait_for(
        lambda: [m for m in stack.thread(root["ts"]) if "Texting Jane Doe" in m["text"]],
        "the answer's acknowledgement in the thread",
        WAIT_SECONDS,
    )
    assert ack, "the answer was not acknowledged in the thread"
    stack.clock.advance(1)
    for _ in range(3):
        stack.dispatcher.tick()
        stack.clock.advance(13)
    sent = stack.outbound()
    assert sent[1] == (JANE, "Yes, 9 to 1. See you!")
    assert [to for to, _ in sent] == [JANE, JANE, BOB, CARL]
    assert stack.twilio.wait_idle(5)
    with stack.sessions() as session:
        answer = session.scalars(
            select(ConversationMessage).where(ConversationMessage.direction == "outbound")
        ).one()
        assert answer.status == "delivered" and answer.author_slack_user_id == STAFF
    assert stack.relay.sync() == 1
    updated = stack.slack.message(CHANNEL, ack[0]["ts"])
    assert updated is not None and "Delivered to Jane Doe" in updated["text"]
    assert stack.relay.sync() == 0  # shown once


def test_bot_posts_and_outsiders_in_the_thread_are_not_texted(stack: Stack) -> None:
    stack.text("Hello?")
    [root] = stack.top_level()
    stack.staff_types(root["ts"], "Who is this?", user="U0OUTSIDER")
    refusal = wait_for(
        lambda: stack.slack.ephemerals.get(CHANNEL), "the refusal to an outsider", WAIT_SECONDS
    )
    assert refusal and "only users of this clinic" in refusal[0]["text"]
    assert refusal[0]["thread_ts"] == root["ts"]
    event = {
        "type": "message",
        "channel": CHANNEL,
        "bot_id": "B0MASSALERT",
        "user": "U0MASSALERT",
        "text": "echo",
        "ts": f"{time.time():.6f}",
        "thread_ts": root["ts"],
    }
    assert post(f"{stack.base}/slack/events", event_body(event), SECRET)[0] == 200
    assert count(stack.sessions, ConversationMessage, ConversationMessage.direction == "outbound") == 0


def test_answer_to_an_opted_out_client_is_refused_in_the_thread(stack: Stack) -> None:
    stack.text("Thanks")
    [root] = stack.top_level()
    stack.text("STOP")
    stack.staff_types(root["ts"], "Sorry to see you go")
    refusal = wait_for(
        lambda: stack.slack.ephemerals.get(CHANNEL), "the refusal to text an opted-out client", WAIT_SECONDS
    )
    assert refusal and "Jane Doe opted out" in refusal[0]["text"]
    assert count(stack.sessions, ConversationMessage, ConversationMessage.direction == "outbound") == 0
    assert any("replied STOP" in m["text"] for m in stack.thread(root["ts"]))


def test_opt_out_in_the_middle_of_a_running_alert(stack: Stack, tmp_path: Path) -> None:
    alert_id = stack.alert()
    stack.dispatcher.tick()
    status, answer = signed_inbound(stack.inbound_url, form("Stop", from_=BOB))
    assert status == 200 and answer.count("<Message>") == 1 and "unsubscribed from Happy Paws" in answer
    for _ in range(4):
        stack.clock.advance(13)
        stack.dispatcher.tick()
    assert [to for to, _ in stack.outbound()] == [JANE, CARL]
    with stack.sessions() as session:
        bob = session.scalars(
            select(AlertDelivery).where(
                AlertDelivery.alert_id == alert_id, AlertDelivery.client_id == stack.client_ids["bob"]
            )
        ).one()
        assert bob.status == "skipped" and bob.skip_reason == "opted_out"
    with write_report(stack.sessions, alert_id, tmp_path).open(newline="", encoding="utf-8-sig") as handle:
        rows = {r["Client Full Name"]: r for r in csv.DictReader(handle)}
    assert (
        rows["Bob Roe"]["SMS Status"] == "Not sent"
        and "opted out" in rows["Bob Roe"]["Error Details"].lower()
    )
    [notice] = stack.top_level()  # no conversation: one line in the channel
    assert "Bob Roe" in notice["text"] and "opted out" in notice["text"]
    assert count(stack.sessions, Conversation) == 0


def jane_opted_out(stack: Stack) -> bool:
    with stack.sessions() as session:
        when = session.scalar(select(Client.opted_out_at).where(Client.id == stack.client_ids["jane"]))
        return when is not None


def test_every_keyword_variant_over_http_answers_once(stack: Stack) -> None:
    words = [
        "STOP",
        "stop",
        " Stop! ",
        "STOPALL",
        "Unsubscribe.",
        "CANCEL",
        "end",
        "Quit",
        "REVOKE",
        "OPT OUT",
        "opt-out",
        "optout",
        '"STOP"',
    ]
    for number, word in enumerate(words):
        sid = f"SM{number:032d}"
        status, answer = signed_inbound(stack.inbound_url, form(word, sid=sid))
        assert status == 200 and answer.count("<Message>") == 1 and "unsubscribed" in answer, word
        assert jane_opted_out(stack), word
        assert signed_inbound(stack.inbound_url, form(word, sid=sid))[1].count("<Message>") == 0  # retried
        status, answer = signed_inbound(stack.inbound_url, form("START", sid=f"SS{number:032d}"))
        assert "resubscribed" in answer
        assert not jane_opted_out(stack), word
    status, answer = signed_inbound(stack.inbound_url, form("HELP", sid="SH" + "0" * 32))
    assert "Happy Paws" in answer and "(312) 555-0100" in answer
    assert count(stack.sessions, Conversation) == 0


def test_retried_webhook_is_handled_once(stack: Stack) -> None:
    sid = "SM" + "7" * 32
    for _ in range(3):
        assert stack.text("Running 10 minutes late", sid=sid) == 200
    assert len(stack.top_level()) == 1 and stack.thread(stack.top_level()[0]["ts"]) == []
    assert count(stack.sessions, ConversationMessage) == 1 and count(stack.sessions, InboundEvent) == 1


def test_simultaneous_replies_open_one_conversation_and_one_thread(stack: Stack) -> None:
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def send(i: int) -> None:
        barrier.wait()
        statuses.append(stack.text(f"message {i}"))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert statuses == [200] * 6
    stack.clock.advance(1)
    stack.relay.sync()  # replies that joined while the thread was being started
    assert count(stack.sessions, Conversation) == 1
    [root] = stack.top_level()
    bodies = [_texts(root["blocks"])] + [m["text"] for m in stack.thread(root["ts"])]
    assert len(bodies) == 6
    assert sorted(next(f"message {i}" for i in range(6) if f"message {i}" in b) for b in bodies) == [
        f"message {i}" for i in range(6)
    ]


def test_forged_or_unsigned_webhooks_are_refused(stack: Stack) -> None:
    url = stack.inbound_url
    params = form("Hi")
    assert signed_inbound(url, params, signature="")[0] == 403
    assert signed_inbound(url, params, token="not-the-token")[0] == 403
    tampered = twilio_signature(TOKEN, url, {**params, "Body": "other"})
    assert signed_inbound(url, params, signature=tampered)[0] == 403
    assert signed_inbound(url, params, signature=twilio_signature(TOKEN, url + "?x=1", params))[0] == 403
    assert count(stack.sessions, InboundEvent) == 0 and stack.top_level() == []
    assert signed_inbound(url, params)[0] == 200
    assert count(stack.sessions, InboundEvent) == 1


def test_unknown_number_opens_an_unknown_contact_thread(stack: Stack) -> None:
    stack.text("Hi, is this the vet?", from_=STRANGER)
    [root] = stack.top_level()
    assert "unknown number" in _texts(root["blocks"]) and STRANGER in _texts(root["blocks"])
    with stack.sessions() as session:
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.unknown_contact and conversation.client_id is None


def test_close_then_a_new_reply_opens_a_new_thread(stack: Stack) -> None:
    stack.text("Thank you!")
    [root] = stack.top_level()
    message = stack.slack.message(CHANNEL, root["ts"])
    assert message is not None
    button = action(
        "button",
        "close_conversation",
        "conversation_root",
        value=json.loads(_texts(message["blocks"]))[0]["accessory"]["value"],
        text="Close conversation",
    )
    body = block_actions_payload(
        user_id=STAFF,
        trigger_id=stack.slack.new_trigger_id(),
        actions=[button],
        channel_id=CHANNEL,
        message=message,
    )
    assert post(f"{stack.base}/slack/events", body, SECRET)[0] == 200
    closed = wait_for(
        lambda: "Closed by" in _texts((stack.slack.message(CHANNEL, root["ts"]) or {}).get("blocks", [])),
        "the thread's first message to show it closed",
        WAIT_SECONDS,
    )
    assert closed
    shown = _texts(stack.slack.message(CHANNEL, root["ts"])["blocks"])  # type: ignore[index]
    assert f"<@{STAFF}>" in shown and "close_conversation" not in shown and "Thank you!" in shown
    stack.staff_types(root["ts"], "You're welcome")
    refusal = wait_for(
        lambda: stack.slack.ephemerals.get(CHANNEL),
        "the refusal to answer a closed conversation",
        WAIT_SECONDS,
    )
    assert refusal and "closed" in refusal[0]["text"]
    stack.text("Oh, one more thing")
    assert len(stack.top_level()) == 2
    with stack.sessions() as session:
        assert sorted(session.scalars(select(Conversation.status))) == ["active", "closed"]


def test_background_relay_keeps_each_thread_in_order(stack: Stack) -> None:
    relay = ConversationRelay(stack.sessions, stack.ctx.client, stack.clock, lanes=3)
    stack.routes.inbound_handler = make_inbound_handler(stack.ctx, relay)
    try:
        for i in range(5):
            for phone in (JANE, BOB):
                assert stack.text(f"{phone} says {i}", from_=phone) == 200
        assert relay.wait_idle(10)
    finally:
        relay.close()
    stack.clock.advance(1)
    stack.relay.sync()
    roots = stack.top_level()
    assert len(roots) == 2
    for root in roots:
        phone = JANE if JANE in _texts(root["blocks"]) else BOB
        said = [m["text"] for m in stack.thread(root["ts"])]
        assert [t[t.index("says") :] for t in said] == [f"says {i}" for i in range(1, 5)], phone


def test_background_relay_stores_where_every_reply_went_once_idle(stack: Stack) -> None:
    relay = ConversationRelay(stack.sessions, stack.ctx.client, stack.clock, lanes=2)
    stack.routes.inbound_handler = make_inbound_handler(stack.ctx, relay)
    try:
        for i in range(4):
            assert stack.text(f"Reply {i}") == 200
        assert relay.wait_idle(10)
        with stack.sessions() as session:
            stored = session.execute(
                select(ConversationMessage.slack_ts, ConversationMessage.relay_claimed_at)
            ).all()
        assert len(stored) == 4 and all(ts and claimed_at is None for ts, claimed_at in stored)
    finally:
        relay.close()


def test_a_picture_without_text_is_noted_in_the_thread(stack: Stack) -> None:
    status, _ = signed_inbound(stack.inbound_url, {**form(""), "NumMedia": "1"})
    assert status == 200
    [root] = stack.top_level()
    assert "1 picture or file sent" in _texts(root["blocks"])


# --- staff answers as written (issue 12, item 6) ------------------------------------------------------


_STAMPS = itertools.count(1)


def said(user: str, text: str, thread_ts: str) -> dict[str, Any]:
    """A person's message in a thread, with a ts of its own (the sandbox's ts and the helper's can meet)."""
    return message_event(CHANNEL, user, text, thread_ts=thread_ts, ts=f"1900000000.{next(_STAMPS):06d}")


def _notes(stack: Stack, ts: str, words: str) -> list[dict[str, Any]]:
    return [m for m in stack.thread(ts) if words in m["text"]]


def test_staff_answer_is_texted_as_the_person_meant_it(stack: Stack) -> None:
    stack.slack.add_user("U0VET", real_name="Ana Lee", display_name="Dr. Ana")
    stack.text("Is Max ready?")
    [root] = stack.top_level()
    typed = (
        f"Max {escape('&')} Bella are ready :dog: {user_mention('U0VET')} will call. "
        f"See {link('https://vet.example/pickup?a=1&b=2', 'pick-up times')} or "
        f"{link('https://vet.example')} ({channel_mention(CHANNEL, 'frontdesk')}, <!here>) {escape('<3')}"
    )
    assert stack.event(said(STAFF, typed, root["ts"])) == 200
    assert stack.event(said(STAFF, f"{user_mention('U0VET')} again", root["ts"]))
    assert stack.send_answers() == [
        "Max & Bella are ready 🐶 Dr. Ana will call. See https://vet.example/pickup?a=1&b=2 or "
        "https://vet.example (#frontdesk, @here) <3",
        "Dr. Ana again",
    ]
    looked_up = [c for c in stack.slack.calls_to("users.info") if c.params.get("user") == "U0VET"]
    assert len(looked_up) == 1  # the display name is cached


def test_a_file_attached_to_an_answer_is_not_texted_and_the_author_is_told(stack: Stack) -> None:
    stack.text("Can you send the invoice?")
    [root] = stack.top_level()
    invoice = stack.slack.add_user_file(STAFF, "invoice.pdf", b"%PDF-1.4", "application/pdf")
    with_text = file_share_event(
        CHANNEL, STAFF, f"Sent by email {escape('&')} attached here", [invoice], thread_ts=root["ts"]
    )
    with_text["ts"] = f"1900000000.{next(_STAMPS):06d}"
    assert stack.event(with_text) == 200
    told = wait_for(lambda: stack.slack.ephemerals.get(CHANNEL), "the note about the file", WAIT_SECONDS)
    assert "attachments are not texted" in told[0]["text"] and "was sent" in told[0]["text"]
    assert told[0]["user"] == STAFF and told[0]["thread_ts"] == root["ts"]
    assert stack.send_answers() == ["Sent by email & attached here"]
    alone = file_share_event(CHANNEL, STAFF, "", [invoice], thread_ts=root["ts"])
    alone["ts"] = f"1900000000.{next(_STAMPS):06d}"
    assert stack.event(alone) == 200
    told = wait_for(lambda: stack.slack.ephemerals[CHANNEL][1:], "the refusal of a file alone", WAIT_SECONDS)
    assert told[0]["text"].startswith("📎 Not sent")
    assert stack.send_answers() == ["Sent by email & attached here"]
    assert count(stack.sessions, ConversationMessage, ConversationMessage.direction == "outbound") == 1


def test_an_answer_edited_or_deleted_after_it_went_out_gets_a_note_once(stack: Stack) -> None:
    stack.text("What time tomorrow?")
    [root] = stack.top_level()
    typed = said(STAFF, "At 10", root["ts"])
    assert stack.event(typed) == 200
    assert stack.send_answers() == ["At 10"]
    preview = message_changed_event(CHANNEL, typed, "At 10")  # Slack adds a link preview: same text
    stack.event(preview)  # answered 200 once every event is (issue 12, item 1)
    assert _notes(stack, root["ts"], "cannot be recalled") == []
    edit = message_changed_event(CHANNEL, typed, "At 11")
    assert stack.event(edit) == 200
    assert stack.event(edit) == 200  # Slack's retry of the same event
    [note] = _notes(stack, root["ts"], "cannot be recalled")
    assert "edited" in note["text"] and "already went to Jane Doe" in note["text"]
    assert stack.event(message_deleted_event(CHANNEL, typed)) == 200
    assert "deleted" in _notes(stack, root["ts"], "cannot be recalled")[1]["text"]
    outsider = said("U0OUTSIDER", "hmm", root["ts"])
    assert stack.event(message_changed_event(CHANNEL, outsider, "hmm?")) == 200
    assert len(_notes(stack, root["ts"], "cannot be recalled")) == 2
    assert stack.send_answers() == ["At 10"]  # nothing texted again


# --- what clients type is data (issue 12, item 7) -----------------------------------------------------

HOSTILE = "<!channel> <@U123> &lt; *bold* <https://evil|x>"
#: Markup the app itself writes: the staff member who closed a thread, the clinic's channel.
_OURS = re.compile(rf"<@{STAFF}>|<#{CHANNEL}>")
_ENTITY = re.compile(r"&(amp|lt|gt);")


def _strings(value: Any) -> Iterator[str]:
    """Every text a Slack call carries: `text` and each text object in its blocks."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def assert_inert(stack: Stack) -> int:
    """No Slack call carried `<`, `>` or `&` that Slack would parse as markup, except the app's own; the
    number of texts checked."""
    checked = 0
    for call in stack.slack.calls:
        if call.method not in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            continue
        for text in _strings({"text": call.params.get("text"), "blocks": call.params.get("blocks")}):
            rest = _ENTITY.sub("", _OURS.sub("", text))
            rest = re.sub(r"(?m)^>", "", rest)  # a block quote's marker
            assert not set(rest) & set("<>&"), f"{call.method} carried markup: {text!r}"
            checked += 1
    return checked


def test_what_a_client_texts_reaches_slack_as_text_in_every_field(stack: Stack) -> None:
    with stack.sessions() as session, session.begin():
        jane = session.get(Client, stack.client_ids["jane"])
        assert jane is not None
        jane.full_name = "Jane <!here> & Co"
        b = Builder(session)
        b.pet(jane, "<@U0STAFF> Rex")
    stack.alert("Closing <early> & reopening", sender=STAFF)
    stack.dispatcher.tick()
    assert stack.text(HOSTILE) == 200  # opens the thread
    assert stack.text(HOSTILE) == 200  # joins it
    assert stack.text(HOSTILE, from_=STRANGER) == 200
    assert stack.text(HOSTILE, from_="<!here>") == 200  # a sender id that is no phone number
    assert stack.text("STOP", from_=BOB) == 200
    [root, *_] = stack.top_level()
    assert stack.staff_types(root["ts"], "Noted") == 200
    stack.slack.remove_bot(CHANNEL)
    assert stack.text(HOSTILE) == 200  # refused by the channel: forwarded by DM
    assert stack.slack.messages.get(stack.slack.dm_channel(STAFF))
    shown = _texts(root["blocks"])
    assert "&lt;!channel&gt;" in shown and "Jane &lt;!here&gt; &amp; Co" in shown
    assert assert_inert(stack) >= 10


# --- replies the channel refuses (issue 12, item 5) ---------------------------------------------------


def _dms(stack: Stack, user: str) -> list[dict[str, Any]]:
    return stack.slack.messages.get(stack.slack.dm_channel(user), [])


def test_replies_go_by_dm_while_the_bot_is_out_of_the_channel_and_are_posted_once_it_is_back(
    stack: Stack,
) -> None:
    stack.alert(sender=STAFF)
    stack.dispatcher.tick()
    stack.slack.remove_bot(CHANNEL)
    assert stack.text("Can we come at 4?") == 200
    assert stack.top_level() == []
    [dm] = _dms(stack, STAFF)
    shown = _texts(dm["blocks"])
    assert "Can we come at 4?" in shown and "Reply from Jane Doe" in shown and "not_in_channel" in shown
    assert "/invite @Mass Text Alerts" in shown and f"<#{CHANNEL}>" in shown
    assert stack.text("Or 5?") == 200  # no thread yet: the next sync tries once and forwards it
    stack.relay.sync()
    assert [_texts(m["blocks"]).count("Or 5?") for m in _dms(stack, STAFF)] == [0, 1]
    posts = len(stack.slack.calls_to("chat.postMessage"))
    stack.clock.advance(30)
    assert stack.relay.sync() == 0
    assert len(stack.slack.calls_to("chat.postMessage")) == posts  # backing off: no try, no second DM
    stack.slack.invite_bot(CHANNEL)
    stack.clock.advance(31)
    assert stack.relay.sync() == 2
    [root] = stack.top_level()
    assert "Can we come at 4?" in _texts(root["blocks"])
    assert ["Or 5?" in m["text"] for m in stack.thread(root["ts"])] == [True]
    assert len(_dms(stack, STAFF)) == 2
    assert stack.relay.sync() == 0


@pytest.mark.parametrize("error", ["is_archived", "channel_not_found"])
def test_a_refused_thread_reply_goes_to_the_clinic_admins_and_waits_longer_each_time(
    stack: Stack, error: str
) -> None:
    with stack.sessions() as session, session.begin():
        clinic = session.get(Clinic, stack.clinic_id)
        assert clinic is not None
        Builder(session).user(clinic, "boss@happypaws.example", Role.ADMIN, slack_user_id="U0BOSS")
        Builder(session).user(clinic, "off@happypaws.example", Role.ADMIN)  # no Slack link
    stack.slack.add_user("U0BOSS", real_name="Bo Ss")
    stack.text("Hello")  # no alert answered: the clinic's admins are told
    [root] = stack.top_level()
    stack.slack.fail_next("chat.postMessage", error)  # the DM itself is a chat.postMessage: one at a time
    stack.text("Are you there?")
    [dm] = _dms(stack, "U0BOSS")
    assert error in dm["text"] and "Are you there?" in _texts(dm["blocks"])
    for _ in range(2):  # refused again: no second DM, a longer wait each time
        stack.clock.advance(61)
        stack.slack.fail_next("chat.postMessage", error)
        stack.relay.sync()
    assert len(_dms(stack, "U0BOSS")) == 1 and stack.thread(root["ts"]) == []
    stack.clock.advance(61)
    assert stack.relay.sync() == 0  # still waiting (the reply has waited over two minutes)
    stack.clock.advance(240)
    assert stack.relay.sync() == 1
    assert [m["text"] for m in stack.thread(root["ts"])] == ["💬 *Jane Doe*: Are you there?"]
