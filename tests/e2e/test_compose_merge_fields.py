"""The compose modal with merge fields: the first client's text, the longest text's count, unknown fields.

The served app over HTTP, signed requests as Slack sends them, sandbox Slack and Twilio.
"""

from __future__ import annotations

from bot.ids import BlockId
from tests.blockkit import all_text
from tests.e2e import test_slack_flow
from tests.e2e.slack_world import World, tomorrow_at

#: The SQLite-only world and the block reader of the main flow's tests.
lite = test_slack_flow.lite
block_text = test_slack_flow.block_text


def test_the_modal_shows_the_first_clients_text_and_counts_the_longest(lite: World) -> None:
    ana = lite.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "today+1")
    assert "{client_first_name}" in block_text(ana.view(view["id"]), BlockId.MESSAGE_FIELDS)
    ana.type_message(view["id"], "Hi {client_first_name}, {pet_names} is booked {appointment_time}.")
    shown = ana.view(view["id"])
    at = tomorrow_at(9)
    assert f"Hi Client, Max is booked {at:%a} {at:%b} {at.day}, 9:00 AM." in block_text(
        shown, BlockId.MESSAGE_EXAMPLE
    )
    # 154 characters as typed (one text); "Happy Paws, Downtown" makes it 161: two texts for every client.
    ana.type_message(view["id"], "{clinic_name} " + "x" * 140)
    stats = block_text(ana.view(view["id"]), BlockId.MESSAGE_STATS)
    assert (
        "Longest text: 159 characters left · long message: each client receives it as 2 texts "
        "and the clinic is billed for 2"
    ) in stats
    answer = ana.submit(view["id"])
    assert answer.body["response_action"] == "push"
    assert answer.shown is not None and "2 texts" in all_text(answer.shown)


def test_an_unknown_merge_field_is_refused_while_typing_and_on_review(lite: World) -> None:
    ana = lite.user()
    view = ana.slash_command()
    ana.choose_range(view["id"], "today+1")
    ana.type_message(view["id"], "Hi {first_name}, we close at 3 PM.")
    hint = block_text(ana.view(view["id"]), BlockId.MESSAGE_FIELDS)
    assert "{first_name} is not a merge field" in hint and "{client_first_name}" in hint
    answer = ana.submit(view["id"])
    assert answer.body["response_action"] == "errors"
    assert set(answer.body["errors"]) == {BlockId.MESSAGE}
    assert "{first_name} is not a merge field" in answer.body["errors"][BlockId.MESSAGE]
    assert lite.alert_ids() == []
