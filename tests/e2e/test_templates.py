"""Message templates: managed on the command line, picked and saved in the compose modal (signed requests)."""

from __future__ import annotations

import os
from typing import Any

from bot.ids import ActionId, BlockId, versioned
from sandbox.slack_requests import action, state_value
from services import db, templates
from services.clinics import add_clinic
from services.db import transaction
from tests.blockkit import all_text
from tests.e2e import test_slack_flow
from tests.e2e.slack_world import World
from tests.e2e.test_send_cli import run_cli

#: The SQLite-only world and the block reader of the main flow's tests.
lite = test_slack_flow.lite
block_text = test_slack_flow.block_text

STORM = "Hi {client_first_name}, {clinic_name} closes at 3 PM today because of the storm."


def input_value(view: dict[str, Any], block_id: str) -> str | None:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    value: str | None = block["element"].get("initial_value")
    return value


def test_template_add_list_remove_on_the_command_line(db_url: str) -> None:
    db.upgrade(db_url)
    sessions = db.make_session_factory(db.make_engine(db_url))
    with transaction(sessions) as session:
        add_clinic(session, name="Happy Paws", timezone="America/Chicago", sms_from="+15005550006")
    env = {**os.environ, "DATABASE_URL": db_url}
    added = run_cli(["template", "add", "--clinic", "Happy Paws", "--name", "Storm", "--text", STORM], env)
    assert added.returncode == 0, added.stderr
    assert "Template “Storm” saved for Happy Paws." in added.stdout
    again = run_cli(["template", "add", "--clinic", "Happy Paws", "--name", "Storm", "--text", "x"], env)
    assert again.returncode == 1 and "already has a template named “Storm”" in again.stderr
    typo = run_cli(
        ["template", "add", "--clinic", "Happy Paws", "--name", "Typo", "--text", "Hi {name}"], env
    )
    assert typo.returncode == 1 and "{name} is not a merge field" in typo.stderr
    listed = run_cli(["template", "list", "--clinic", "Happy Paws"], env)
    assert listed.stdout.strip() == f"Storm: {STORM}"
    removed = run_cli(["template", "remove", "--clinic", "Happy Paws", "--name", "Storm"], env)
    assert removed.returncode == 0, removed.stderr
    assert run_cli(["template", "list", "--clinic", "Happy Paws"], env).stdout.strip() == (
        "Happy Paws has no templates."
    )
    gone = run_cli(["template", "remove", "--clinic", "Happy Paws", "--name", "Storm"], env)
    assert gone.returncode == 1 and "No template named “Storm”" in gone.stderr


def test_save_the_message_as_a_template_then_pick_it_to_fill_the_message(lite: World) -> None:
    ana = lite.user()
    view = ana.slash_command()
    vid = view["id"]
    assert not any(b.get("block_id") == BlockId.TEMPLATE_PICK for b in view["blocks"])  # none saved yet
    ana.choose_range(vid, "today+1")
    ana.type_message(vid, STORM)
    name_block = versioned(BlockId.TEMPLATE_NAME, 0)
    lite.slack.set_input(
        vid, name_block, ActionId.TEMPLATE_NAME_INPUT, state_value("plain_text_input", "Storm")
    )
    ana.act(vid, action("button", ActionId.TEMPLATE_SAVE, BlockId.TEMPLATE_SAVE, "save"))
    saved = ana.view(vid)
    assert "Saved as the template “Storm”" in block_text(saved, BlockId.TEMPLATE_NOTE)
    assert "Storm" in block_text(saved, BlockId.TEMPLATE_PICK)
    assert input_value(saved, versioned(BlockId.MESSAGE, 1)) == STORM  # the message stays
    (stored,) = templates.list_templates(lite.sessions, lite.clinic_id)
    assert (stored.name, stored.text) == ("Storm", STORM)
    home = all_text(ana.open_home())  # App Home lists it under its clinic
    assert "Message templates" in home and "*Storm*: Hi {client_first_name}, {clinic_name} closes" in home

    # The same name again is refused under the button, and nothing is stored twice.
    lite.slack.set_input(
        vid,
        versioned(BlockId.TEMPLATE_NAME, 1),
        ActionId.TEMPLATE_NAME_INPUT,
        state_value("plain_text_input", "Storm"),
    )
    ana.act(vid, action("button", ActionId.TEMPLATE_SAVE, BlockId.TEMPLATE_SAVE, "save"))
    assert "already has a template named “Storm”" in block_text(ana.view(vid), BlockId.TEMPLATE_NOTE)
    assert len(templates.list_templates(lite.sessions, lite.clinic_id)) == 1

    # Type something else, then pick the template: the message is the template's text again.
    ana.act(
        vid,
        action("plain_text_input", ActionId.MESSAGE_INPUT, versioned(BlockId.MESSAGE, 1), "Something else"),
        state_value("plain_text_input", "Something else"),
    )
    ana.act(
        vid,
        action(
            "static_select", ActionId.TEMPLATE_SELECT, BlockId.TEMPLATE_PICK, str(stored.id), text="Storm"
        ),
        state_value("static_select", str(stored.id), text="Storm"),
    )
    picked = ana.view(vid)
    assert input_value(picked, versioned(BlockId.MESSAGE, 2)) == STORM
    assert "Filled from the template “Storm”" in block_text(picked, BlockId.TEMPLATE_NOTE)
    assert "Hi Client, Happy Paws, Downtown closes" in block_text(picked, BlockId.MESSAGE_EXAMPLE)
    lite.slack.set_input(
        vid, versioned(BlockId.MESSAGE, 2), ActionId.MESSAGE_INPUT, state_value("plain_text_input", STORM)
    )
    answer = ana.submit(vid)
    assert answer.body["response_action"] == "push"
    assert answer.shown is not None and "closes at 3 PM today" in all_text(answer.shown)
