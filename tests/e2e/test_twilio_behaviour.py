"""Twilio as it really behaves (issue 11), against the sandbox Twilio over HTTP: errors by what they depend
on, resuming a stopped alert, Twilio's own STOP/START/HELP, smart encoding, validity, pictures."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.inbound import make_inbound_handler
from sandbox.polling import wait_for
from services import alerts, recipients
from services.errors import NotFound
from services.models import AlertDelivery, Client, Clinic, MassAlert, SkipReason
from services.reports import write_report
from services.segments import measure
from services.settings import Settings, SettingsError, load_settings
from services.sms import SendRequest, TwilioGateway
from services.timeranges import TimeRange
from tests.e2e.test_replies import BOB, CARL, CLINIC_NUMBER, JANE, SID, TOKEN, Stack, open_stack
from tests.integration.recipient_builders import Builder

WAIT = 10.0


@pytest.fixture
def stack(engine: Engine, tmp_path: Path) -> Iterator[Stack]:
    """The default settings; the sandbox Twilio answers no keyword itself."""
    with open_stack(engine, tmp_path, Settings()) as opened:
        yield opened


@pytest.fixture
def twilio_replies(engine: Engine, tmp_path: Path) -> Iterator[Stack]:
    """The default setting (TWILIO_OPT_OUT_REPLIES=twilio) on an account with Twilio's opt-out handling."""
    with open_stack(engine, tmp_path, Settings(), opt_out_handling=True) as opened:
        yield opened


@pytest.fixture
def advanced(engine: Engine, tmp_path: Path) -> Iterator[Stack]:
    """Twilio's Advanced Opt-Out: OptOutType on the webhook, custom keywords."""
    with open_stack(engine, tmp_path, Settings(), opt_out_handling=True, advanced_opt_out=True) as opened:
        yield opened


@pytest.fixture
def app_replies(engine: Engine, tmp_path: Path) -> Iterator[Stack]:
    """TWILIO_OPT_OUT_REPLIES=app on an account whose opt-out handling is off."""
    with open_stack(engine, tmp_path, Settings(twilio_opt_out_replies="app")) as opened:
        yield opened


def rows_of(stack: Stack, alert_id: int) -> dict[str, AlertDelivery]:
    with stack.sessions() as session:
        found = session.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == alert_id)).all()
        return {row.phone_e164 or row.client_full_name: row for row in found}


def send_all(stack: Stack, turns: int = 4) -> None:
    """Let the dispatcher send every waiting text (one per pace)."""
    for _ in range(turns):
        stack.dispatcher.tick()
        stack.clock.advance(13)


def settled(stack: Stack, alert_id: int) -> bool:
    return all(r.status in ("delivered", "failed", "skipped") for r in rows_of(stack, alert_id).values())


def state_of(stack: Stack, alert_id: int) -> str:
    with stack.sessions() as session:
        alert = session.get(MassAlert, alert_id)
        assert alert is not None
        return alert.state


def report_rows(stack: Stack, alert_id: int, tmp_path: Path) -> dict[str, dict[str, str]]:
    with write_report(stack.sessions, alert_id, tmp_path / "check").open(
        newline="", encoding="utf-8-sig"
    ) as handle:
        return {r["Client Full Name"]: r for r in csv.DictReader(handle)}


# --- 1. errors by what they depend on --------------------------------------------------------------


ABROAD = "+447700900123"


def add_client_abroad(stack: Stack) -> None:
    """Ivy, on a UK number, with an appointment after the others'."""
    with stack.sessions() as session, session.begin():
        b = Builder(session)
        clinic = session.get(Clinic, stack.clinic_id)
        assert clinic is not None
        b.visit(b.pet(b.client(clinic, "Ivy Intl", ABROAD)), stack.clock.now() + timedelta(hours=23))


@pytest.mark.parametrize("code", [21408, 21612, 21606, 21211, 21614])
def test_a_region_blocked_client_fails_alone_and_the_alert_completes(
    stack: Stack, tmp_path: Path, code: int
) -> None:
    add_client_abroad(stack)
    stack.twilio.refuse_to_prefix("+44", code)  # e.g. 21408: the account may not text the UK
    alert_id = stack.alert()
    send_all(stack, turns=5)
    wait_for(lambda: settled(stack, alert_id), "every text settled", WAIT)
    stack.dispatcher.finalize()
    assert state_of(stack, alert_id) == "completed"
    rows = rows_of(stack, alert_id)
    assert {phone: row.status for phone, row in rows.items()} == {
        JANE: "delivered",
        BOB: "delivered",
        CARL: "delivered",
        ABROAD: "failed",
    }
    assert rows[ABROAD].error_code == str(code)
    report = report_rows(stack, alert_id, tmp_path)
    assert report["Ivy Intl"]["SMS Status"] == "Failed"
    assert f"Twilio {code}" in report["Ivy Intl"]["Error Details"]


def test_a_client_in_the_middle_failing_for_their_number_does_not_stop_the_rest(stack: Stack) -> None:
    stack.twilio.refuse_to_prefix(BOB, 21612)
    alert_id = stack.alert()
    send_all(stack)
    assert [to for to, _ in stack.outbound()] == [JANE, CARL]
    assert rows_of(stack, alert_id)[BOB].status == "failed"


@pytest.mark.parametrize(
    ("fault", "words"),
    [("account", "TWILIO_AUTH_TOKEN"), ("from", "does not belong")],
)
def test_an_account_or_sender_error_stops_the_alert_saying_what_to_fix(
    stack: Stack, fault: str, words: str
) -> None:
    if fault == "account":
        stack.twilio.fail_account(20003)
    else:
        stack.twilio.refuse_from(CLINIC_NUMBER, 21659)
    alert_id = stack.alert()
    send_all(stack)
    assert state_of(stack, alert_id) == "failed"
    snap = alerts.snapshot(stack.sessions, alert_id, stack.clock.now())
    assert snap.error is not None and words in snap.error and "To fix:" in snap.error
    statuses = Counter(row.status for row in rows_of(stack, alert_id).values())
    assert statuses == Counter({"failed": 1, "skipped": 2})


def test_an_unregistered_10dlc_sender_reported_after_accepting_stops_the_alert(stack: Stack) -> None:
    stack.twilio.refuse_from(CLINIC_NUMBER, 30034)
    alert_id = stack.alert()
    stack.dispatcher.tick()
    wait_for(lambda: state_of(stack, alert_id) == "failed", "the alert stopped by the 30034 callback", WAIT)
    snap = alerts.snapshot(stack.sessions, alert_id, stack.clock.now())
    assert snap.error is not None and "A2P 10DLC" in snap.error
    send_all(stack)
    assert len(stack.outbound()) == 1  # nobody after the first is texted from the unregistered number


# --- 2. resume ------------------------------------------------------------------------------------


def test_resume_after_fixing_the_account_texts_each_client_exactly_once(stack: Stack, tmp_path: Path) -> None:
    stack.twilio.fail_account(20003)
    alert_id = stack.alert()
    send_all(stack)
    assert state_of(stack, alert_id) == "failed"
    wait_for(lambda: settled(stack, alert_id), "the stop settled", WAIT)
    stack.dispatcher.finalize()
    first_report = alerts.snapshot(stack.sessions, alert_id, stack.clock.now()).report_path
    assert first_report is not None

    stack.twilio.fail_account(None)  # the admin fixed the auth token
    done = alerts.resume_alert(stack.sessions, alert_id, by_name="Dr. Ana Lee", now=stack.clock.now())
    assert (done.requeued, done.opted_out) == (3, 0)
    send_all(stack)
    wait_for(lambda: settled(stack, alert_id), "every text settled", WAIT)
    stack.dispatcher.finalize()

    assert Counter(to for to, _ in stack.outbound()) == Counter({JANE: 1, BOB: 1, CARL: 1})
    snap = alerts.snapshot(stack.sessions, alert_id, stack.clock.now())
    assert (snap.state, snap.sent, snap.failed, snap.error) == ("completed", 3, 0, None)
    assert snap.report_path == first_report  # the same report, written again with the outcome
    with Path(first_report).open(newline="", encoding="utf-8-sig") as handle:
        assert {r["SMS Status"] for r in csv.DictReader(handle)} == {"Delivered"}


def test_resume_skips_the_sent_and_the_opted_out(stack: Stack) -> None:
    alert_id = stack.alert()
    stack.dispatcher.tick()  # Jane's text goes out
    stack.clock.advance(13)
    stack.twilio.fail_account(20005)
    send_all(stack)  # Bob's is refused: the alert stops; Carl is never handed to Twilio
    assert state_of(stack, alert_id) == "failed"
    with stack.sessions() as session, session.begin():
        carl = session.get(Client, stack.client_ids["carl"])
        assert carl is not None
        carl.opted_out_at = stack.clock.now()
    stack.twilio.fail_account(None)
    done = alerts.resume_alert(stack.sessions, alert_id, by_name="Dr. Ana Lee", now=stack.clock.now())
    assert (done.requeued, done.opted_out) == (1, 1)
    send_all(stack)
    assert Counter(to for to, _ in stack.outbound()) == Counter({JANE: 1, BOB: 1})
    rows = rows_of(stack, alert_id)
    assert rows[CARL].status == "skipped" and rows[CARL].skip_reason == SkipReason.OPTED_OUT


def test_only_a_stopped_alert_can_be_resumed(stack: Stack) -> None:
    alert_id = stack.alert()
    with pytest.raises(alerts.NotStopped, match="not stopped"):
        alerts.resume_alert(stack.sessions, alert_id, by_name="x", now=stack.clock.now())
    with pytest.raises(NotFound):
        alerts.resume_alert(stack.sessions, 999_999, by_name="x", now=stack.clock.now())


# --- 3. Twilio's own STOP/START/HELP ------------------------------------------------------------


def record_answers(stack: Stack) -> list[str]:
    """Wrap the inbound handler so the test can count the app's own TwiML <Message> answers."""
    answers: list[str] = []
    handler: Callable[[dict[str, str]], str] = make_inbound_handler(stack.ctx, stack.relay)

    def recording(form: dict[str, str]) -> str:
        answer = handler(form)
        answers.append(answer)
        return answer

    stack.routes.inbound_handler = recording
    return answers


def confirmations(stack: Stack, answers: list[str], to: str = JANE) -> int:
    """Texts the client got back: Twilio's own keyword replies plus the app's <Message> answers."""
    return len(stack.twilio.keyword_replies(to)) + sum(a.count("<Message>") for a in answers)


def jane(stack: Stack) -> Client:
    with stack.sessions() as session:
        found = session.get(Client, stack.client_ids["jane"])
        assert found is not None
        return found


@pytest.mark.parametrize("keyword", ["STOP", "START", "HELP"])
def test_twilio_answers_the_keyword_and_the_app_only_records(twilio_replies: Stack, keyword: str) -> None:
    answers = record_answers(twilio_replies)
    assert twilio_replies.text(keyword) == 200
    assert confirmations(twilio_replies, answers) == 1
    assert (jane(twilio_replies).opted_out_at is not None) is (keyword == "STOP")


@pytest.mark.parametrize("keyword", ["STOP", "START", "HELP"])
def test_the_app_answers_when_twilio_does_not(app_replies: Stack, keyword: str) -> None:
    answers = record_answers(app_replies)
    assert app_replies.text(keyword) == 200
    assert confirmations(app_replies, answers) == 1
    assert (jane(app_replies).opted_out_at is not None) is (keyword == "STOP")


@pytest.mark.parametrize("word", ["ARRÊT", "Baja"])
def test_a_custom_keyword_twilio_calls_stop_opts_out(advanced: Stack, word: str) -> None:
    advanced.twilio.add_keyword(word, "STOP")
    answers = record_answers(advanced)
    assert advanced.text(word) == 200
    assert jane(advanced).opted_out_at is not None
    assert confirmations(advanced, answers) == 1
    advanced.twilio.add_keyword("VUELVO", "START")
    assert advanced.text("vuelvo") == 200
    assert jane(advanced).opted_out_at is None


def test_opt_out_type_wins_over_the_apps_own_list(advanced: Stack) -> None:
    advanced.twilio.keywords["YES"] = "HELP"  # the account made YES a HELP keyword
    assert advanced.text("STOP") == 200
    assert advanced.text("Yes") == 200
    assert jane(advanced).opted_out_at is not None  # the app's list would have read YES as START


def test_a_21610_opt_out_is_skipped_by_the_next_alerts_preview_and_report(
    stack: Stack, tmp_path: Path
) -> None:
    stack.twilio.opt_outs.add((CLINIC_NUMBER, BOB))  # Bob replied STOP to Twilio, which blocks the pair
    first = stack.alert()
    send_all(stack)
    assert rows_of(stack, first)[BOB].error_code == "21610"
    with stack.sessions() as session:
        bob = session.get(Client, stack.client_ids["bob"])
        assert bob is not None and bob.opted_out_at is not None and bob.opted_out_source == "carrier"
        rng = TimeRange(stack.clock.now(), stack.clock.now() + timedelta(days=7))
        preview = recipients.summarize(session, stack.clinic_id, rng, stack.clock.now())
        computed = recipients.compute(session, stack.clinic_id, rng, stack.clock.now())
    assert preview.count == 2 and preview.skipped_by_reason == {SkipReason.OPTED_OUT: 1}
    [skipped] = computed.skipped
    assert skipped.client_id == stack.client_ids["bob"] and "carrier" in skipped.detail

    sent_before = len(stack.outbound())
    second = stack.alert("Open again tomorrow.")
    send_all(stack)
    assert len(stack.outbound()) - sent_before == 2  # Bob is not tried again
    report = report_rows(stack, second, tmp_path)
    assert report["Bob Roe"]["SMS Status"] == "Not sent"
    assert "opted out" in report["Bob Roe"]["Error Details"].lower()


# --- 4. smart encoding and validity --------------------------------------------------------------

TRICKY = [
    "We\u2019re closed today \u2014 sorry!",
    "\u201cStorm\u201d closure\u2026 back tomorrow",
    "Closed\u00a0today\u2013tomorrow \u2022 call us",
    "Closed today \U0001f43e see you soon",
    "Fermé aujourd\u2019hui, à demain",
    "Cerrado hoy. Mañana abrimos a las 9\u2026 ¡Gracias!",
    "Ça va? Łódź clinic closed",
    "x" * 150 + "\u2019\u2019\u2019\u2019\u2019\u2019\u2019\u2019\u2019\u2019",
    "\u2026" * 55,
    "€" * 80 + "\u2014",
    "\U0001f43e" * 34 + "\u2019",
]


@pytest.mark.parametrize("text", TRICKY)
def test_the_counter_and_twilios_num_segments_agree(stack: Stack, text: str) -> None:
    gateway = TwilioGateway(SID, TOKEN, api_url=stack.twilio.url)
    sent = gateway.send(SendRequest(to=JANE, body=text, from_=CLINIC_NUMBER))
    message = stack.twilio.message(sent.sid)
    assert int(message.to_json()["num_segments"]) == measure(text, max_chars=10_000).segments
    assert message.original_body == text


def test_a_text_stuck_past_its_validity_period_is_reported_expired(engine: Engine, tmp_path: Path) -> None:
    with open_stack(engine, tmp_path, Settings(alert_validity_seconds=1)) as stack:
        stack.twilio.set_queue_delay(5.0, from_=CLINIC_NUMBER)
        alert_id = stack.alert()
        send_all(stack)
        assert {r.form.get("ValidityPeriod") for r in stack.twilio.requests if r.method == "POST"} == {"1"}
        wait_for(lambda: settled(stack, alert_id), "the texts to expire", WAIT)
        stack.dispatcher.finalize()
        rows = rows_of(stack, alert_id)
        assert {row.error_code for row in rows.values()} == {"30036"}
        report = report_rows(stack, alert_id, tmp_path)
        assert "validity period" in report["Jane Doe"]["Error Details"]
        snap = alerts.snapshot(stack.sessions, alert_id, stack.clock.now())
        assert snap.failure_summary == "3 expired in the carrier queue"
        assert state_of(stack, alert_id) == "completed"  # an expired text is that client's, not a stop


def test_validity_outside_twilios_limits_is_refused_at_startup() -> None:
    for bad in ("0", "36001", "soon"):
        with pytest.raises(SettingsError, match="ALERT_VALIDITY_SECONDS"):
            load_settings({"ALERT_VALIDITY_SECONDS": bad})
    assert load_settings({}).alert_validity_seconds == 14_400
    assert load_settings({"ALERT_VALIDITY_SECONDS": "36000"}).alert_validity_seconds == 36_000
    with pytest.raises(SettingsError, match="TWILIO_OPT_OUT_REPLIES"):
        load_settings({"TWILIO_OPT_OUT_REPLIES": "both"})


# --- 5. pictures ----------------------------------------------------------------------------------

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f7a3f30000000049454e44ae426082"
)


def test_a_picture_reaches_the_thread_as_the_file_itself(stack: Stack) -> None:
    status = stack.twilio.simulate_inbound(
        stack.inbound_url,
        from_=JANE,
        to=CLINIC_NUMBER,
        body="Is this swelling ok?",
        media=[("image/png", PNG)],
    )
    assert status == 200
    [root] = stack.top_level()
    upload = wait_for(
        lambda: next((f for f in stack.slack.uploaded_files.values() if f.completed), None),
        "the upload",
        WAIT,
    )
    assert upload.content == PNG
    assert upload.thread_ts == root["ts"] and upload.channels == ["C0FRONT"]
    assert upload.filename.endswith(".png")


def test_unsupported_media_is_named_with_its_type_and_size(stack: Stack) -> None:
    assert stack.text("Hi") == 200
    [root] = stack.top_level()
    status = stack.twilio.simulate_inbound(
        stack.inbound_url, from_=JANE, to=CLINIC_NUMBER, body="", media=[("video/3gpp", b"v" * 3072)]
    )
    assert status == 200
    lines = [m.get("text", "") for m in stack.thread(root["ts"])]
    assert any("video/3gpp, 3 KB" in line for line in lines), lines
    assert not stack.slack.uploaded_files


def test_a_smart_encoded_text_whose_answer_was_lost_is_found_not_sent_twice(
    engine: Engine, tmp_path: Path
) -> None:
    # Twilio keeps the substituted body ("We're"), not the one sent ("We’re"): reconciliation must match it.
    with open_stack(engine, tmp_path, Settings(), send_callbacks=False) as stack:
        stack.twilio.drop_response_for(1)
        alert_id = stack.alert("We\u2019re closed today \u2014 sorry\u2026")
        stack.dispatcher.tick()
        assert rows_of(stack, alert_id)[JANE].status == "in_doubt"
        for _ in range(8):
            stack.clock.advance(30)
            stack.dispatcher.reconcile()
            stack.dispatcher.tick()
        assert Counter(to for to, _ in stack.outbound()) == Counter({JANE: 1, BOB: 1, CARL: 1})
        assert rows_of(stack, alert_id)[JANE].twilio_sid is not None
