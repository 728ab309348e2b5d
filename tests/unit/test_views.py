"""The Block Kit builders: every screen state passes Slack's rules and says what the admin needs."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.ids import ActionId, BlockId, CallbackId, keyed, keyed_pattern, split_key
from bot.views import (
    RANGE_PRESETS,
    ComposeState,
    ConfirmState,
    MessageStats,
    SkippedPerson,
    activity_message,
    compose_view,
    confirm_view,
    home_view,
    loading_view,
    refusal_view,
    skipped_view,
)
from bot.views.activity import report_comment
from bot.views.home import HomeClinic, HomePage, HomeScheduled
from bot.views.models import ChannelAccess
from bot.views.wording import format_estimate, format_span, format_when, progress_bar, skipped_summary
from services.notify import AlertSnapshot
from services.scheduled import ScheduledAlert
from services.sending_hours import ALL_DAY, DEFAULT_HOURS
from tests.blockkit import all_text, assert_valid_message, assert_valid_view, check_message, check_view

TZ = "America/Chicago"
LA = "America/Los_Angeles"
# Tue 1 Dec 2026 9:00 AM CST is 15:00 UTC.
NINE_AM = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def block(view_or_blocks: dict[str, Any] | list[dict[str, Any]], block_id: str) -> dict[str, Any]:
    blocks = view_or_blocks["blocks"] if isinstance(view_or_blocks, dict) else view_or_blocks
    return next(b for b in blocks if b.get("block_id") == block_id)


def compose(**changes: Any) -> ComposeState:
    base: dict[str, Any] = dict(
        tz=TZ,
        clinic_choices=[(1, "Happy Paws, Downtown")],
        clinic_id=1,
        preset="today+1",
        recipients=42,
        first_appointment=NINE_AM + timedelta(days=1),
        last_appointment=NINE_AM + timedelta(days=2, hours=7, minutes=30),
        skipped_by_reason={"opted_out": 2, "no_mobile": 1},
        message="We're closing at 3 PM today because of the storm.",
        stats=MessageStats(length=50, remaining=270, segments=1, encoding="GSM-7", max_chars=320),
        sending_time=timedelta(seconds=41 * 12),
        as_of=NINE_AM,
        private_metadata=json.dumps({"channel_id": "C0FRONT", "clinic_id": 1}),
    )
    base.update(changes)
    return ComposeState(**base)


#: When the channel entry is drawn in the activity tests.
AS_OF = NINE_AM + timedelta(minutes=3)


def snapshot(**changes: Any) -> AlertSnapshot:
    base: dict[str, Any] = dict(
        id=12,
        clinic_id=1,
        clinic_name="Happy Paws",
        timezone=TZ,
        created_by_name="Dr. Ana Lee",
        slack_user_id="U0ADMIN",
        message="We're closing at 3 PM today. Please call 555-0100 to reschedule.",
        range_start=NINE_AM,
        range_end=NINE_AM + timedelta(days=3),
        state="sending",
        pace_seconds=12.0,
        texted=42,
        not_texted=3,
        not_texted_reasons=Counter({"opted_out": 2, "no_mobile": 1}),
        sent=17,
        failed=1,
        pending=24,
        created_at=NINE_AM,
        eta=NINE_AM + timedelta(minutes=8),
        first_appointment=NINE_AM + timedelta(days=1),
        last_appointment=NINE_AM + timedelta(days=2),
    )
    base.update(changes)
    return AlertSnapshot(**base)


def home_item(
    alert_id: int,
    created_at: datetime,
    created_by_name: str,
    state: str,
    texted: int,
    sent: int,
    failed: int,
    **changes: Any,
) -> AlertSnapshot:
    """One alert in the Home list (counts as the Home tab shows them)."""
    fields: dict[str, Any] = dict(
        id=alert_id,
        created_at=created_at,
        created_by_name=created_by_name,
        state=state,
        texted=texted,
        sent=sent,
        failed=failed,
        pending=texted - sent - failed,
        eta=None,
    )
    return snapshot(**(fields | changes))


# ---------------------------------------------------------------- formatting


def test_times_are_shown_in_clinic_time_with_the_zone_abbreviation() -> None:
    assert format_when(NINE_AM, TZ) == "Tue 1 Dec 9:00 AM CST"
    same_day = format_span(NINE_AM, NINE_AM + timedelta(hours=7, minutes=30), TZ)
    assert same_day == "Tue 1 Dec 9:00 AM – 4:30 PM CST"
    two_days = format_span(NINE_AM, NINE_AM + timedelta(days=1, hours=7, minutes=30), TZ)
    assert two_days == "Tue 1 Dec 9:00 AM – Wed 2 Dec 4:30 PM CST"


def test_a_span_across_the_dst_change_names_both_zones() -> None:
    start = datetime(2027, 3, 13, 15, 0, tzinfo=UTC)  # Sat 13 Mar 9:00 AM CST
    end = datetime(2027, 3, 15, 14, 0, tzinfo=UTC)  # Mon 15 Mar 9:00 AM CDT
    assert format_span(start, end, TZ) == "Sat 13 Mar 9:00 AM CST – Mon 15 Mar 9:00 AM CDT"


def test_durations_counts_and_progress_read_naturally() -> None:
    assert format_estimate(42 * 12) == "about 9 min"
    assert format_estimate(30) == "less than a minute"
    assert format_estimate(100 * 12 * 10) == "about 3 h 20 min"
    assert skipped_summary({"no_mobile": 1, "opted_out": 2}) == "2 opted out, 1 has no mobile number"
    assert skipped_summary({"no_mobile": 3}) == "3 have no mobile number"
    assert progress_bar(0, 42) == "░" * 14
    assert progress_bar(21, 42) == "▓" * 7 + "░" * 7
    assert progress_bar(42, 42) == "▓" * 14


def test_ids_keyed_per_item_round_trip() -> None:
    action_id = keyed(ActionId.OPEN_REPORT, 12)
    assert split_key(action_id) == ("open_report", "12")
    assert split_key("see_who") == ("see_who", None)
    assert keyed_pattern(ActionId.OPEN_REPORT).match(action_id)
    assert keyed_pattern(ActionId.OPEN_REPORT).match("open_report")
    assert not keyed_pattern(ActionId.OPEN_REPORT).match("open_reports:1")


# ---------------------------------------------------------------- modals


def test_loading_and_refusal_views_are_valid_and_explain() -> None:
    loading = loading_view()
    assert_valid_view(loading)
    assert loading["callback_id"] == CallbackId.LOADING
    refusal = refusal_view("Only clinic admins can send mass text alerts. Ask an admin of Happy Paws.")
    assert_valid_view(refusal)
    assert "Only clinic admins" in all_text(refusal)
    assert "submit" not in refusal


def test_compose_view_shows_count_span_skipped_characters_and_pace() -> None:
    view = compose_view(compose())
    assert_valid_view(view)
    assert view["callback_id"] == CallbackId.COMPOSE
    assert view["submit"]["text"] == "Review" and view["close"]["text"] == "Cancel"
    text = all_text(view)
    assert "42 clients will be texted" in text
    assert "Wed 2 Dec 9:00 AM – Thu 3 Dec 4:30 PM CST" in text
    assert "3 will not be texted: 2 opted out, 1 has no mobile number" in text
    assert "270 characters left · fits in one text" in text
    assert "1 text every 12 s: about 9 min for 42 clients" in text
    see_who = block(view, BlockId.SKIPPED_SUMMARY)["accessory"]
    assert see_who["action_id"] == ActionId.SEE_WHO
    # one clinic: no clinic picker
    assert all(b.get("block_id") != BlockId.CLINIC for b in view["blocks"])
    assert json.loads(view["private_metadata"])["channel_id"] == "C0FRONT"


def test_compose_range_select_has_every_preset_and_dispatches_on_change() -> None:
    view = compose_view(compose(preset="today+3"))
    range_block = block(view, BlockId.RANGE)
    assert range_block["type"] == "input" and range_block["dispatch_action"] is True
    select = range_block["element"]
    assert [(o["value"], o["text"]["text"]) for o in select["options"]] == list(RANGE_PRESETS)
    assert select["initial_option"]["value"] == "today+3"
    assert RANGE_PRESETS[-1] == ("custom", "Custom range…")


def test_message_input_updates_while_typing() -> None:
    message = block(compose_view(compose()), BlockId.MESSAGE)
    element = message["element"]
    assert message["dispatch_action"] is True
    assert element["type"] == "plain_text_input" and element["multiline"] is True
    assert element["dispatch_action_config"] == {"trigger_actions_on": ["on_character_entered"]}
    assert element["initial_value"].startswith("We're closing")


def test_input_block_ids_stay_the_same_across_every_state() -> None:
    states = [
        compose(),
        compose(recipients=None, stats=None, message=""),
        compose(range_error="A range can be at most 7 days", recipients=None),
        compose(preset="custom", custom_start=NINE_AM, custom_end=NINE_AM + timedelta(days=2)),
        compose(recipients=0, skipped_by_reason={}),
    ]
    for state in states:
        view = compose_view(state)
        assert_valid_view(view)
        inputs = {(b["block_id"], b["element"]["action_id"]) for b in view["blocks"] if b["type"] == "input"}
        assert (BlockId.RANGE, ActionId.RANGE_SELECT) in inputs
        assert (BlockId.MESSAGE, ActionId.MESSAGE_INPUT) in inputs


def test_several_clinics_get_a_picker_with_the_current_one_chosen() -> None:
    view = compose_view(
        compose(clinic_choices=[(1, "Happy Paws, Downtown"), (2, "Happy Paws, Uptown")], clinic_id=2)
    )
    assert_valid_view(view)
    picker = block(view, BlockId.CLINIC)
    assert picker["element"]["action_id"] == ActionId.CLINIC_SELECT
    assert picker["element"]["initial_option"]["text"]["text"] == "Happy Paws, Uptown"
    assert view["blocks"][0]["block_id"] == BlockId.CLINIC


def test_a_hundred_and_fifty_clinics_still_fit_a_select() -> None:
    long_name = "with a rather long name that goes on and on and on"
    choices = [(i, f"Clinic number {i} {long_name}") for i in range(150)]
    view = compose_view(compose(clinic_choices=choices, clinic_id=149))
    assert_valid_view(view)
    element = block(view, BlockId.CLINIC)["element"]
    assert len(element["options"]) == 100
    assert element["initial_option"]["value"] == "149"


def test_custom_range_shows_two_datetime_pickers_and_the_rules() -> None:
    start, end = NINE_AM + timedelta(days=1), NINE_AM + timedelta(days=3, hours=8)
    view = compose_view(compose(preset="custom", custom_start=start, custom_end=end))
    assert_valid_view(view)
    start_el = block(view, BlockId.CUSTOM_START)["element"]
    end_el = block(view, BlockId.CUSTOM_END)["element"]
    assert start_el["type"] == end_el["type"] == "datetimepicker"
    assert start_el["initial_date_time"] == int(start.timestamp())
    assert end_el["initial_date_time"] == int(end.timestamp())
    assert block(view, BlockId.CUSTOM_START)["dispatch_action"] is True
    hint = all_text(block(view, BlockId.CUSTOM_HINT))
    assert "Up to 7 days" in hint and "CST" in hint


def test_custom_range_without_dates_yet_is_valid() -> None:
    view = compose_view(
        compose(
            preset="custom",
            recipients=None,
            first_appointment=None,
            last_appointment=None,
            skipped_by_reason={},
        )
    )
    assert_valid_view(view)
    assert "initial_date_time" not in block(view, BlockId.CUSTOM_START)["element"]
    assert "Choose a range" in all_text(block(view, BlockId.RECIPIENTS))


def test_range_error_is_shown_under_the_range_and_no_count() -> None:
    error = "A range can be at most 7 days"
    view = compose_view(compose(preset="custom", range_error=error, recipients=None))
    assert_valid_view(view)
    ids = [b.get("block_id") for b in view["blocks"]]
    assert ids.index(BlockId.RANGE_ERROR) > ids.index(BlockId.CUSTOM_END)
    assert "A range can be at most 7 days" in all_text(block(view, BlockId.RANGE_ERROR))
    assert BlockId.RECIPIENTS not in ids


def test_zero_recipients_are_said_plainly() -> None:
    view = compose_view(
        compose(recipients=0, first_appointment=None, last_appointment=None, skipped_by_reason={})
    )
    assert_valid_view(view)
    assert "No clients will be texted" in all_text(view)
    assert "no upcoming appointments" in all_text(view)
    assert "for 0 clients" not in all_text(view)


def test_zero_recipients_because_everyone_is_skipped() -> None:
    view = compose_view(compose(recipients=0, skipped_by_reason={"opted_out": 4}))
    assert_valid_view(view)
    text = all_text(view)
    assert "No clients will be texted" in text and "4 will not be texted: 4 opted out" in text


def test_ucs2_message_says_seventy_per_text() -> None:
    stats = MessageStats(length=75, remaining=245, segments=2, encoding="UCS-2", max_chars=320, forcing="🌩️")
    view = compose_view(compose(message="Closed today 🌩️ " * 4, stats=stats))
    assert_valid_view(view)
    text = all_text(block(view, BlockId.MESSAGE_STATS))
    assert "245 characters left · long message: each client receives it as 2 texts" in text
    assert "🌩️ (cloud with lightning) needs the UCS-2 encoding: 70 characters per text" in text


def test_too_long_message_is_flagged_with_the_excess() -> None:
    stats = MessageStats(length=332, remaining=-12, segments=3, encoding="GSM-7", max_chars=320)
    view = compose_view(compose(message="x" * 332, stats=stats))
    assert_valid_view(view)
    assert stats.too_long
    assert "12 characters too many" in all_text(block(view, BlockId.MESSAGE_STATS))


def test_empty_message_states_the_limits() -> None:
    view = compose_view(compose(message="", stats=None))
    assert_valid_view(view)
    assert "initial_value" not in block(view, BlockId.MESSAGE)["element"]
    assert "Up to 320 characters" in all_text(block(view, BlockId.MESSAGE_STATS))


def test_stats_come_straight_from_the_segments_service() -> None:
    from services.segments import count_message

    emoji = MessageStats.of(count_message("Closed today 🌩", 320), 320)
    assert emoji.encoding == "UCS-2" and emoji.max_chars == 320 and emoji.forcing == "🌩"
    assert "70 characters per text" in all_text(compose_view(compose(stats=emoji)))
    empty = compose_view(compose(message="", stats=MessageStats.of(count_message("", 320), 320)))
    assert "Up to 320 characters" in all_text(block(empty, BlockId.MESSAGE_STATS))


def test_message_with_slack_control_characters_is_escaped_in_text() -> None:
    state = ConfirmState(
        tz=TZ,
        clinic_name="Paws & Claws <Downtown>",
        recipients=1,
        first_appointment=NINE_AM,
        last_appointment=NINE_AM,
        message="<!channel> & friends",
        pace_seconds=12,
        eta=NINE_AM,
    )
    view = confirm_view(state)
    assert_valid_view(view)
    text = all_text(view)
    assert "&lt;!channel&gt; &amp; friends" in text and "<!channel>" not in text
    assert "Paws &amp; Claws &lt;Downtown&gt;" in text


def test_skipped_view_groups_by_reason() -> None:
    people = [
        SkippedPerson("Jane Doe", "opted_out"),
        SkippedPerson("Sam Roe", "opted_out"),
        SkippedPerson("Al Poe", "no_mobile", "landline 555-0101"),
    ]
    view = skipped_view(people)
    assert_valid_view(view)
    assert view["callback_id"] == CallbackId.SKIPPED and view["close"]["text"] == "Back"
    text = all_text(view)
    assert "*Opted out* (2)" in text and "Jane Doe" in text and "landline 555-0101" in text
    assert "more" not in text


def test_many_skipped_are_capped_with_and_n_more() -> None:
    people = [
        SkippedPerson(f"Client number {i:05d} with a long full name", reason, "no valid number here")
        for i in range(6000)
        for reason in ["opted_out" if i % 3 else "no_mobile"]
    ]
    view = skipped_view(people, total=6500)
    assert_valid_view(view)
    assert len(view["blocks"]) <= 100
    names_shown = all_text(view).count("Client number")
    assert 0 < names_shown < 6000
    assert f"…and {6500 - names_shown:,} more." in all_text(view)


def test_confirm_view_names_recipients_span_eta_and_message() -> None:
    state = ConfirmState(
        tz=TZ,
        clinic_name="Happy Paws",
        recipients=42,
        first_appointment=NINE_AM + timedelta(days=1),
        last_appointment=NINE_AM + timedelta(days=2, hours=7, minutes=30),
        message="We're closing at 3 PM.\nPlease call 555-0100.",
        pace_seconds=12,
        eta=NINE_AM + timedelta(minutes=8, seconds=24),
        skipped=3,
        channel_id="C0FRONT",
        private_metadata='{"alert": "draft"}',
    )
    view = confirm_view(state)
    assert_valid_view(view)
    assert view["callback_id"] == CallbackId.CONFIRM
    assert view["submit"]["text"] == "Send 42 texts" and view["close"]["text"] == "Back"
    text = all_text(view)
    assert "*42 clients* with appointments Wed 2 Dec 9:00 AM – Thu 3 Dec 4:30 PM CST?" in text
    assert ">We're closing at 3 PM.\n>Please call 555-0100." in text
    assert "done around 9:08 AM CST" in text and "<#C0FRONT>" in text
    assert "3 clients in the range will not be texted" in text


def test_confirm_view_for_one_client_and_a_huge_count_fits_the_button() -> None:
    one = confirm_view(
        ConfirmState(
            tz=TZ,
            clinic_name="A",
            recipients=1,
            first_appointment=None,
            last_appointment=None,
            message="Hi",
            pace_seconds=12,
            eta=None,
            segments=2,
            encoding="UCS-2",
        )
    )
    assert_valid_view(one)
    assert one["submit"]["text"] == "Send 1 text"
    assert "Long message: each client receives it as 2 texts and the clinic is billed for 2." in all_text(one)
    many = confirm_view(
        ConfirmState(
            tz=TZ,
            clinic_name="A",
            recipients=1_234_567,
            first_appointment=None,
            last_appointment=None,
            message="Hi",
            pace_seconds=12,
            eta=None,
        )
    )
    assert_valid_view(many)


# ---------------------------------------------------------------- activity message


def test_sending_activity_shows_progress_eta_and_a_guarded_cancel_button() -> None:
    text, blocks = activity_message(snapshot(), AS_OF)
    assert_valid_message(text, blocks)
    assert "17 of 42 sent · 1 failed" in text
    status = block(blocks, BlockId.ACTIVITY_STATUS)
    assert "`▓▓▓▓▓▓░░░░░░░░`" in status["text"]["text"]
    assert "17 of 42 sent · 1 failed · about 5 min left" in status["text"]["text"]
    button = status["accessory"]
    assert button["action_id"] == ActionId.CANCEL_ALERT and button["value"] == "12"
    assert button["style"] == "danger"
    assert button["confirm"]["confirm"]["text"] == "Cancel alert"
    assert "24 clients" in button["confirm"]["text"]["text"]
    header = all_text(block(blocks, BlockId.ACTIVITY_HEADER))
    assert "Mass text alert #12" in header and "Dr. Ana Lee" in header and "9:00 AM CST" in header
    scope = all_text(block(blocks, BlockId.ACTIVITY_SCOPE))
    assert "Appointments Wed 2 Dec 9:00 AM – Thu 3 Dec 9:00 AM CST" in scope
    # texted and not texted side by side, never a total that mixes them (issue 12, item 11)
    assert "42 clients to be texted · 3 not texted: 2 opted out, 1 has no mobile number" in scope
    assert "45" not in scope


def test_an_alert_held_by_quiet_hours_says_it_is_paused_until_the_window_opens() -> None:
    # 9:03 PM in Chicago; the 24 texts left wait for 8:00 AM there (clients' time), nothing in flight.
    night = datetime(2026, 12, 2, 3, 3, tzinfo=UTC)
    opens = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    paused = snapshot(paused_until=opens, paused_zone=TZ, eta=night + timedelta(minutes=5))
    text, blocks = activity_message(paused, night)
    assert_valid_message(text, blocks)
    status = block(blocks, BlockId.ACTIVITY_STATUS)
    said = status["text"]["text"]
    assert "`▓▓▓▓▓▓░░░░░░░░`  17 of 42 sent · 1 failed" in said
    assert "⏸️ Paused for quiet hours until 8:00 AM tomorrow (clients' time) · 24 texts waiting" in said
    assert "left" not in said  # no time left counted as if the texts were going
    assert status["accessory"]["action_id"] == ActionId.CANCEL_ALERT  # still cancellable
    assert "Paused for quiet hours until 8:00 AM tomorrow" in text
    # Held in Los Angeles since before midnight: its opening is 8:00 AM there, the same day seen from LA.
    early = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)  # 11:30 PM in Los Angeles on 1 Dec
    la_opens = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    queued = snapshot(state="queued", sent=0, failed=0, pending=42, paused_until=la_opens, paused_zone=LA)
    text, blocks = activity_message(queued, early)
    assert_valid_message(text, blocks)
    said = block(blocks, BlockId.ACTIVITY_STATUS)["text"]["text"]
    assert said == "⏸️ Paused for quiet hours until 8:00 AM tomorrow (clients' time) · 42 texts waiting"
    assert "Queued" not in text
    # App Home's line says it too.
    item = home_item(7, NINE_AM, "Sam Ortiz", "sending", 30, 7, 0, paused_until=opens, paused_zone=TZ)
    home = home_view(HomePage(clinics=[HomeClinic(1, "Happy Paws")], items=[item]), now=night)
    assert_valid_view(home)
    assert "⏸️ Paused for quiet hours until 8:00 AM tomorrow (clients' time) · 7 of 30 sent" in all_text(home)


def test_queued_activity_can_be_cancelled() -> None:
    text, blocks = activity_message(snapshot(state="queued", sent=0, failed=0, pending=42), AS_OF)
    assert_valid_message(text, blocks)
    assert "Queued" in text
    assert block(blocks, BlockId.ACTIVITY_STATUS)["accessory"]["action_id"] == ActionId.CANCEL_ALERT


def test_completed_all_sent_is_green_without_cancel() -> None:
    text, blocks = activity_message(
        snapshot(
            state="completed",
            sent=42,
            failed=0,
            pending=0,
            completed_at=NINE_AM + timedelta(minutes=8),
            report_permalink="https://sandbox.slack.com/files/U1/F1/r.csv",
        ),
        AS_OF,
    )
    assert_valid_message(text, blocks)
    status = block(blocks, BlockId.ACTIVITY_STATUS)
    assert status["text"]["text"].startswith("✅ *All 42 texts sent*")
    assert "finished 9:08 AM CST" in status["text"]["text"]
    assert "accessory" not in status
    assert "All 42 texts sent" in text
    assert "https://sandbox.slack.com/files/U1/F1/r.csv" in all_text(block(blocks, BlockId.ACTIVITY_REPORT))


def test_completed_with_failures_is_red_with_count_and_reasons() -> None:
    text, blocks = activity_message(
        snapshot(
            state="completed",
            sent=39,
            failed=3,
            pending=0,
            failure_reasons=Counter({"landline": 2, "unreachable": 1}),
            report_permalink="https://sandbox.slack.com/files/U1/F1/r.csv",
        ),
        AS_OF,
    )
    assert_valid_message(text, blocks)
    status = block(blocks, BlockId.ACTIVITY_STATUS)["text"]["text"]
    assert status.startswith("🔴 *3 of 42 failed* · 39 sent · 2 landlines, 1 unreachable")
    assert "report below: who and why" in status
    assert "3 of 42 failed" in text


def test_cancelled_activity_says_who_and_how_many_were_not_texted() -> None:
    cancelled = snapshot(
        state="cancelled",
        sent=17,
        failed=1,
        pending=0,
        texted=18,
        not_texted=27,
        not_texted_reasons=Counter({"cancelled": 24, "opted_out": 2, "no_mobile": 1}),
        cancelled_by="Sam Ortiz",
    )
    text, blocks = activity_message(cancelled, AS_OF)
    assert_valid_message(text, blocks)
    status = block(blocks, BlockId.ACTIVITY_STATUS)
    assert "Cancelled by Sam Ortiz" in status["text"]["text"]
    assert "17 of 18 sent · 1 failed · 24 clients not texted" in status["text"]["text"]
    scope = all_text(block(blocks, BlockId.ACTIVITY_SCOPE))
    assert (
        "18 clients texted · 27 not texted: 24 were cancelled, 2 opted out, 1 has no mobile number" in scope
    )
    assert "accessory" not in status


def test_failed_alert_states_the_reason() -> None:
    text, blocks = activity_message(
        snapshot(
            state="failed",
            sent=0,
            failed=0,
            pending=0,
            error="The clinic's Twilio number cannot send texts (21408).",
        ),
        AS_OF,
    )
    assert_valid_message(text, blocks)
    assert "Alert stopped" in text
    assert "Twilio number cannot send" in all_text(blocks)


@pytest.mark.parametrize("state", ["queued", "sending", "completed", "cancelled", "failed"])
def test_only_a_stopped_entry_offers_resume_with_a_confirm_dialog(state: str) -> None:
    text, blocks = activity_message(snapshot(state=state, error="Twilio refused the auth token"), AS_OF)
    assert_valid_message(text, blocks)
    accessory = block(blocks, BlockId.ACTIVITY_STATUS).get("accessory") or {}
    if state != "failed":
        assert accessory.get("action_id") != ActionId.RESUME_ALERT
        return
    assert accessory["action_id"] == ActionId.RESUME_ALERT and accessory["value"] == "12"
    confirm = accessory["confirm"]
    assert confirm["confirm"]["text"] == "Resume" and "never texted" in confirm["text"]["text"]


def scheduled(**changes: Any) -> AlertSnapshot:
    """A scheduled alert that has not started: no client yet, 42 counted when it was scheduled."""
    base: dict[str, Any] = dict(
        state="scheduled",
        start_at=NINE_AM + timedelta(days=1, hours=-2),  # Wed 2 Dec 7:00 AM CST
        scheduled_count=42,
        texted=0,
        not_texted=0,
        not_texted_reasons=Counter(),
        sent=0,
        failed=0,
        pending=0,
        eta=None,
    )
    return snapshot(**(base | changes))


def test_a_scheduled_entry_says_when_by_whom_todays_count_and_offers_a_confirmed_cancel() -> None:
    text, blocks = activity_message(scheduled(), AS_OF)
    assert_valid_message(text, blocks)
    header = all_text([block(blocks, BlockId.ACTIVITY_HEADER)])
    assert header == "🕘 *Mass text alert #12* scheduled for Wed 2 Dec 7:00 AM CST by Dr. Ana Lee"
    assert "42 clients would be texted today (counted again when it starts)" in all_text(
        [block(blocks, BlockId.ACTIVITY_SCOPE)]
    )
    assert "closing at 3 PM" in all_text([block(blocks, BlockId.ACTIVITY_MESSAGE)])
    button = block(blocks, BlockId.ACTIVITY_STATUS)["accessory"]
    assert (button["action_id"], button["value"], button["style"]) == ("cancel_scheduled:12", "12", "danger")
    assert "will not start at Wed 2 Dec 7:00 AM CST; nobody is texted" in button["confirm"]["text"]["text"]
    assert text == "Mass text alert #12 by Dr. Ana Lee: Scheduled for Wed 2 Dec 7:00 AM CST"


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        (
            {"state": "cancelled", "cancelled_by": "Sam <Ortiz>"},
            "⏹️ *Cancelled by Sam &lt;Ortiz&gt;* before it started",
        ),
        (
            {
                "state": "failed",
                "error": "Texting was turned off for Happy Paws before this scheduled alert started",
            },
            "🔴 *Alert stopped*: Texting was turned off for Happy Paws",
        ),
    ],
)
def test_a_scheduled_entry_cancelled_or_stopped_before_it_started_has_no_button(
    changes: dict[str, Any], said: str
) -> None:
    text, blocks = activity_message(scheduled(scheduled_count=0, **changes), AS_OF)
    assert_valid_message(text, blocks)
    status = block(blocks, BlockId.ACTIVITY_STATUS)
    assert said in all_text([status]) and "nobody was texted" in all_text([status])
    assert "accessory" not in status  # neither Cancel nor Resume: there is nothing to resume
    assert all(b.get("type") != "actions" for b in blocks)


def test_a_started_scheduled_alert_is_the_usual_entry_timed_at_its_start() -> None:
    start = NINE_AM + timedelta(hours=1)
    text, blocks = activity_message(snapshot(start_at=start), AS_OF)
    assert_valid_message(text, blocks)
    assert "📣 *Mass text alert #12* · by Dr. Ana Lee · 10:00 AM CST" in all_text(blocks)
    assert block(blocks, BlockId.ACTIVITY_STATUS)["accessory"]["action_id"] == ActionId.CANCEL_ALERT


def test_home_lists_scheduled_alerts_first_with_cancel_for_admins_only() -> None:
    held = [
        HomeScheduled(
            ScheduledAlert(
                7, 1, "Happy Paws", TZ, NINE_AM + timedelta(hours=22), "Dr. Ana Lee", "Closed.\nSorry!"
            ),
            can_cancel=True,
        ),
        HomeScheduled(
            ScheduledAlert(8, 2, "Uptown", TZ, NINE_AM + timedelta(days=2), "Jordan Kim", "Parking <closed>"),
        ),
    ]
    page = HomePage(clinics=[HomeClinic(1, "Happy Paws"), HomeClinic(2, "Uptown")], items=[], scheduled=held)
    view = home_view(page, now=NINE_AM)
    assert_valid_view(view)
    ids = [b.get("block_id") for b in view["blocks"]]
    assert ids.index(BlockId.HOME_SCHEDULED) < ids.index(keyed(BlockId.HOME_SCHEDULED_ALERT, 7))
    first = block(view, keyed(BlockId.HOME_SCHEDULED_ALERT, 7))
    assert "*#7 · Happy Paws* scheduled for Wed 2 Dec 7:00 AM CST by Dr. Ana Lee\n>Closed." in all_text(
        [first]
    )
    assert "Sorry!" not in all_text([first])  # the first line only
    assert (first["accessory"]["action_id"], first["accessory"]["value"]) == ("cancel_scheduled:7", "7")
    other = block(view, keyed(BlockId.HOME_SCHEDULED_ALERT, 8))
    assert "accessory" not in other and "Parking &lt;closed&gt;" in all_text([other])


def test_home_shows_at_most_ten_scheduled_alerts_and_says_how_many_more() -> None:
    held = [
        HomeScheduled(
            ScheduledAlert(i, 1, "Happy Paws", TZ, NINE_AM + timedelta(hours=i), "Ana", "Closed."), True
        )
        for i in range(1, 14)
    ]
    view = home_view(HomePage(clinics=[HomeClinic(1, "Happy Paws")], items=[], scheduled=held), now=NINE_AM)
    assert_valid_view(view)
    shown = [b for b in view["blocks"] if str(b.get("block_id", "")).startswith(BlockId.HOME_SCHEDULED_ALERT)]
    assert len(shown) == 10 and "3 more scheduled alerts not shown here" in all_text(view)


def test_a_very_long_message_is_clipped_in_the_channel_entry() -> None:
    text, blocks = activity_message(snapshot(message="word " * 1000), AS_OF)
    assert_valid_message(text, blocks)
    assert len(block(blocks, BlockId.ACTIVITY_MESSAGE)["text"]["text"]) <= 1200


def test_operator_strings_are_escaped_in_the_entry_blocks_and_fallback_text() -> None:
    hostile = "<!channel> Ana & <@U0BOSS>"
    stopped = snapshot(
        state="failed",
        pending=0,
        created_by_name=hostile,
        error="Twilio said <!here> & more",
        message="<!everyone> come & see",
    )
    cancelled = snapshot(state="cancelled", pending=0, created_by_name=hostile, cancelled_by=hostile)
    for alert in (stopped, cancelled):
        text, blocks = activity_message(alert, AS_OF)
        assert_valid_message(text, blocks)
        for shown in (text, all_text(blocks)):
            assert "<!" not in shown and "<@" not in shown, shown
            assert "&lt;!channel&gt; Ana &amp; &lt;@U0BOSS&gt;" in shown


# ---------------------------------------------------------------- counts that agree (issue 12, item 11)


def test_modal_confirmation_entry_home_and_report_comment_give_the_same_numbers_in_the_same_words() -> None:
    skipped = {"opted_out": 3, "no_mobile": 2}
    modal = all_text(compose_view(compose(recipients=23, skipped_by_reason=skipped)))
    assert "23 clients will be texted" in modal
    assert "5 will not be texted: 3 opted out, 2 have no mobile number" in modal
    confirm = confirm_view(confirm_state(recipients=23, skipped=5, skipped_by_reason=skipped))
    assert confirm["submit"]["text"] == "Send 23 texts"
    assert "5 clients in the range will not be texted: 3 opted out, 2 have no mobile number" in all_text(
        confirm
    )
    done = snapshot(
        state="completed",
        texted=23,
        not_texted=5,
        not_texted_reasons=Counter(skipped),
        sent=21,
        failed=2,
        pending=0,
        failure_reasons=Counter({"landline": 2}),
        report_permalink="https://sandbox.slack.com/files/U1/F1/r.csv",
    )
    text, blocks = activity_message(done, AS_OF)
    entry = all_text(blocks)
    assert "23 clients texted · 5 not texted: 3 opted out, 2 have no mobile number" in entry
    assert "2 of 23 failed" in entry and "2 of 23 failed" in text
    assert "28" not in entry and "28" not in text
    home = all_text(home_view(HomePage(clinics=[HomeClinic(1, "Happy Paws")], items=[done]), now=AS_OF))
    assert "23 texted · 2 failed · 5 not texted" in home
    assert report_comment(done) == (
        "📎 Report of mass text alert #12: 23 clients texted, 2 failed · 5 not texted. "
        "Who and why is in the file."
    )


def test_snapshot_counts_add_up() -> None:
    alert = snapshot(texted=23, not_texted=5, sent=10, failed=2, pending=11)
    assert alert.total_clients == 28 and alert.to_send == 23 and alert.skipped_count == 5
    assert alert.sent + alert.failed + alert.pending == alert.texted


# ---------------------------------------------------------------- the bot's place in the channel (item 5)


def confirm_state(**changes: Any) -> ConfirmState:
    base: dict[str, Any] = dict(
        tz=TZ,
        clinic_name="Paws & Claws",
        recipients=3,
        first_appointment=None,
        last_appointment=None,
        message="Closed",
        pace_seconds=12,
        eta=None,
        channel_id="C0FRONT",
    )
    return ConfirmState(**(base | changes))


@pytest.mark.parametrize("access", [ChannelAccess.NOT_MEMBER, ChannelAccess.NOT_VISIBLE])
def test_confirmation_warns_when_the_bot_cannot_post_in_the_clinics_channel(access: ChannelAccess) -> None:
    view = confirm_view(confirm_state(channel_access=access))
    assert_valid_view(view)
    warning = all_text(block(view, BlockId.CONFIRM_CHANNEL))
    assert "I am not in <#C0FRONT>" in warning and "`/invite @Mass Text Alerts`" in warning
    assert "Progress, the outcome and the report go to <#C0FRONT>" in all_text(view)


@pytest.mark.parametrize("access", [ChannelAccess.MEMBER, ChannelAccess.UNKNOWN])
def test_confirmation_has_no_warning_when_the_bot_is_in_the_channel(access: ChannelAccess) -> None:
    view = confirm_view(confirm_state(channel_access=access))
    assert_valid_view(view)
    assert all(b.get("block_id") != BlockId.CONFIRM_CHANNEL for b in view["blocks"])


def test_confirmation_of_a_clinic_without_a_channel_says_the_admin_hears_by_dm() -> None:
    view = confirm_view(confirm_state(channel_id=None, channel_access=ChannelAccess.NOT_VISIBLE))
    assert_valid_view(view)
    text = all_text(view)
    assert "*Paws &amp; Claws* has no Slack channel linked" in text and "direct message" in text
    assert "this channel" not in text


# ---------------------------------------------------------------- home


def test_home_lists_recent_alerts_with_state_counts_sender_time_and_report() -> None:
    items = [
        home_item(
            12,
            NINE_AM + timedelta(hours=1, minutes=34),
            "Dr. Ana Lee",
            "completed",
            42,
            39,
            3,
            not_texted=3,
            report_permalink="https://sandbox.slack.com/files/U1/F12/r.csv",
        ),
        home_item(
            11,
            NINE_AM - timedelta(days=1),
            "Sam Ortiz",
            "completed",
            18,
            18,
            0,
            not_texted=0,
            report_permalink="https://sandbox.slack.com/files/U1/F11/r.csv",
        ),
        home_item(10, NINE_AM, "Sam Ortiz", "sending", 30, 7, 0, eta=NINE_AM + timedelta(minutes=4)),
    ]
    page = HomePage(clinics=[HomeClinic(1, "Happy Paws")], items=items, can_send=True)
    view = home_view(page, now=NINE_AM)
    assert_valid_view(view)
    assert view["type"] == "home"
    text = all_text(view)
    assert "Recent mass text alerts: Happy Paws" in text
    assert "*#12 · Happy Paws*  Tue 1 Dec 10:34 AM CST  by Dr. Ana Lee\n" in text
    assert "🔴 42 texted · 3 failed · 3 not texted" in text
    assert "✅ 18 texted · 0 failed · 0 not texted" in text
    assert "sending 7 of 30 · about 4 min left" in text
    report = block(view, keyed(BlockId.HOME_ALERT, 12))["accessory"]
    assert report["url"].endswith("F12/r.csv") and report["action_id"] == "open_report:12"
    assert "accessory" not in block(view, keyed(BlockId.HOME_ALERT, 10))


def test_home_without_alerts_or_clinic() -> None:
    empty = home_view(HomePage(clinics=[HomeClinic(1, "Happy Paws")], items=[], can_send=True))
    assert_valid_view(empty)
    assert "No mass text alerts in the last 90 days" in all_text(empty)
    unlinked = home_view(None, notice="Your Slack account is not linked to a clinic user.")
    assert_valid_view(unlinked)
    assert "not linked" in all_text(unlinked)
    assert all(b.get("block_id") != BlockId.HOME_ACTIONS for b in unlinked["blocks"])


def test_home_with_hundreds_of_alerts_stays_under_the_block_limit() -> None:
    items = [
        home_item(i, NINE_AM, "Sam", "completed", 5, 5, 0, report_permalink=f"https://x.test/{i}")
        for i in range(300)
    ]
    view = home_view(HomePage(clinics=[HomeClinic(1, "Happy Paws")], items=items, has_next=True))
    assert_valid_view(view)
    assert len(view["blocks"]) <= 100
    assert "Alerts 1–20 of the last 90 days" in all_text(view)
    assert block(view, BlockId.HOME_PAGES)["elements"][0]["action_id"] == ActionId.HOME_NEXT


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda v: v["title"].update(text="A title that is far too long"), "limit is 24"),
        (lambda v: v.update(private_metadata="x" * 3001), "private_metadata"),
        (lambda v: v["blocks"].append(dict(v["blocks"][0])), "not unique"),
        (lambda v: v.pop("submit"), "needs a submit"),
        (lambda v: v["blocks"].extend({"type": "divider"} for _ in range(100)), "the limit is 100"),
        (lambda v: v["blocks"][0]["element"]["options"][0]["text"].update(text="x" * 76), "limit is 75"),
        (
            lambda v: v["blocks"][0]["element"].update(
                initial_option={"text": {"type": "plain_text", "text": "Nope"}, "value": "nope"}
            ),
            "initial_option",
        ),
        (
            lambda v: v["blocks"].append({"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}),
            "limit is 3000",
        ),
        (
            lambda v: v["blocks"].append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}
            ),
            "1-10 elements",
        ),
        (
            lambda v: v["blocks"].append(
                {"type": "input", "element": {"type": "plain_text_input", "action_id": "a"}}
            ),
            "label",
        ),
        (
            lambda v: v["blocks"].append({"type": "header", "text": {"type": "mrkdwn", "text": "x"}}),
            "must be plain_text",
        ),
        (
            lambda v: v["blocks"].append({"type": "section", "text": {"type": "mrkdwn", "text": ""}}),
            "non-empty",
        ),
    ],
)
def test_checker_catches_what_slack_refuses(mutate: Any, problem: str) -> None:
    view = compose_view(compose())
    assert check_view(view) == []
    mutate(view)
    problems = check_view(view)
    assert any(problem in p for p in problems), problems


def test_checker_catches_message_problems() -> None:
    assert any("fallback text" in p for p in check_message("", [{"type": "divider"}]))
    assert any("limit is 50" in p for p in check_message("hi", [{"type": "divider"}] * 51))
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}
    assert any("limit is 75" in p for p in check_message("hi", [{"type": "actions", "elements": [button]}]))


def quiet_confirm(**changes: Any) -> ConfirmState:
    """A confirmation at Tue 1 Dec 8:50 PM CST with the default sending window, 40 clients held."""
    quiet: dict[str, Any] = dict(
        recipients=50,
        pace_seconds=60,
        eta=datetime(2026, 12, 2, 14, 39, tzinfo=UTC),
        sending_hours=DEFAULT_HOURS,
        held=40,
        resumes_at=datetime(2026, 12, 2, 14, 0, tzinfo=UTC),
        resumes_zone=TZ,
        as_of=datetime(2026, 12, 2, 2, 50, tzinfo=UTC),
    )
    return confirm_state(**(quiet | changes))


def test_confirm_view_warns_when_quiet_hours_pause_the_alert_overnight() -> None:
    view = confirm_view(quiet_confirm())
    assert_valid_view(view)
    warning = all_text([block(view, BlockId.CONFIRM_QUIET_HOURS)])
    assert "About 40 clients will be texted after 8:00 AM tomorrow (their time)" in warning
    assert "sending hours, 8:00 AM to 9:00 PM" in warning
    assert "done around Wed 2 Dec 8:39 AM CST" in all_text(view)  # the finish counts the night


def test_confirm_view_of_an_urgent_alert_says_it_ignores_the_window() -> None:
    view = confirm_view(quiet_confirm(urgent=True, held=0, resumes_at=None, resumes_zone=None))
    assert_valid_view(view)
    said = all_text([block(view, BlockId.CONFIRM_QUIET_HOURS)])
    assert "Urgent: texts go out at any hour, outside the sending hours (8:00 AM to 9:00 PM) too" in said


def test_confirm_view_says_nothing_of_quiet_hours_when_nothing_waits() -> None:
    for state in (quiet_confirm(held=0, resumes_at=None), quiet_confirm(sending_hours=ALL_DAY, urgent=True)):
        view = confirm_view(state)
        assert all(b.get("block_id") != BlockId.CONFIRM_QUIET_HOURS for b in view["blocks"])


def test_compose_view_offers_the_urgent_checkbox() -> None:
    view = compose_view(compose())
    assert_valid_view(view)
    urgent = block(view, BlockId.URGENT)
    assert urgent["optional"] is True and urgent["element"]["type"] == "checkboxes"
    assert urgent["element"]["action_id"] == ActionId.URGENT_CHECK
    assert "Urgent: send outside quiet hours" in all_text([urgent])
