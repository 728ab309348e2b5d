"""A person using Slack, against the Slack sandbox.

Their clicks and keystrokes become the signed requests Slack sends to the app, and Slack's own part
(showing a pushed view, inline errors, closing) is applied to the sandbox.

Used by `mass-alert demo`, the end-to-end tests and the modal benchmark.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bot.ids import ActionId, BlockId, CallbackId
from bot.views.models import RANGE_PRESETS
from sandbox.polling import wait_for
from sandbox.slack import SandboxSlack
from sandbox.slack_events import EventAnswer, EventSender
from sandbox.slack_requests import (
    action,
    block_actions_payload,
    event_body,
    post,
    slash_command_body,
    state_value,
    view_submission_payload,
)

T = TypeVar("T")
_LABELS = dict(RANGE_PRESETS)


@dataclass(frozen=True)
class Answer:
    """The app's HTTP answer to one request, and (for submissions) the view Slack shows afterwards."""

    status: int
    body: dict[str, Any]
    shown: dict[str, Any] | None = None


class SlackUser:
    """One Slack member typing `/mass-alert` and working the modals, as Slack would report it to the app."""

    def __init__(
        self,
        sandbox: SandboxSlack,
        events_url: str,
        signing_secret: str,
        *,
        user_id: str,
        channel_id: str | None = None,
        channel_name: str = "frontdesk",
        user_name: str = "clinic.admin",
        timeout: float = 10.0,
    ) -> None:
        self.sandbox = sandbox
        self.events_url = events_url
        self.secret = signing_secret
        self.user_id = user_id
        self.channel_id = channel_id
        self.channel_name = channel_name
        self.user_name = user_name
        self.timeout = timeout
        #: Every Events API delivery this user caused, with the app's status and timing (see event()).
        self.events = EventSender(events_url, signing_secret, timeout=timeout)
        self._who: dict[str, Any] = {
            "user_id": user_id,
            "user_name": user_name,
            "team_id": sandbox.team_id,
            "team_domain": sandbox.team_domain,
            "api_app_id": sandbox.app_id,
        }

    # --- plumbing --------------------------------------------------------------------------

    def send(self, body: bytes) -> tuple[int, str]:
        """POST a signed body to the app (as Slack does)."""
        return post(self.events_url, body, self.secret, timeout=self.timeout)

    def event(
        self,
        event: dict[str, Any],
        *,
        retries: int = 0,
        retry_reason: str = "http_timeout",
        like_slack: bool = False,
    ) -> list[EventAnswer]:
        """Deliver an Events API callback wrapping `event` for this user's workspace, as Slack does.

        `retries` resends the same body (same event_id) with X-Slack-Retry-Num 1..n and X-Slack-Retry-Reason;
        `like_slack` instead retries only while the app fails to answer 2xx within 3 s (up to 3 times).
        Every answer is also kept in `self.events.answers`.
        """
        body = event_body(event, team_id=self.sandbox.team_id, api_app_id=self.sandbox.app_id)
        if like_slack:
            return self.events.deliver_like_slack(body)
        return self.events.deliver(body, retries=retries, retry_reason=retry_reason)

    def wait_for(self, found: Callable[[], T | None], what: str, timeout: float | None = None) -> T:
        """Poll until `found()` returns something truthy; TimeoutError naming `what` otherwise."""
        return wait_for(found, what, self.timeout if timeout is None else timeout)

    def view(self, view_id: str) -> dict[str, Any]:
        """A copy of the view as Slack holds it now (state included)."""
        with self.sandbox._lock:
            return copy.deepcopy(self.sandbox.views[view_id])

    def _hash(self, view_id: str) -> str | None:
        stored = self.sandbox.views.get(view_id)
        return None if stored is None else stored.get("hash")

    # --- entry points ----------------------------------------------------------------------

    def slash_command(self, text: str = "", *, settle: bool = True) -> dict[str, Any]:
        """Type `/mass-alert`; the modal once it has left its loading state (or at once with settle=False)."""
        trigger = self.sandbox.new_trigger_id()
        status, reply = self.send(
            slash_command_body(
                channel_id=self.channel_id or "",
                trigger_id=trigger,
                text=text,
                channel_name=self.channel_name,
                **self._who,
            )
        )
        if status != 200:
            raise AssertionError(f"the app answered the slash command with {status}: {reply}")

        def opened() -> str | None:
            for call in self.sandbox.calls_to("views.open"):
                if call.params.get("trigger_id") == trigger and call.response.get("ok"):
                    return str(call.response["view"]["id"])
            return None

        view_id = self.wait_for(opened, "views.open")
        if not settle:
            return self.view(view_id)
        return self.wait_for(lambda: self._settled(view_id), "the modal to leave its loading state")

    def _settled(self, view_id: str) -> dict[str, Any] | None:
        view = self.sandbox.views.get(view_id)
        return self.view(view_id) if view and view.get("callback_id") != CallbackId.LOADING else None

    def open_home(self) -> dict[str, Any]:
        """Open the app's Home tab; the view the app published."""
        before = len(self.sandbox.calls_to("views.publish"))
        event = {
            "type": "app_home_opened",
            "user": self.user_id,
            "channel": self.sandbox.dm_channel(self.user_id),
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        status, reply = self.send(
            event_body(event, team_id=self.sandbox.team_id, api_app_id=self.sandbox.app_id)
        )
        if status != 200:
            raise AssertionError(f"the app answered app_home_opened with {status}: {reply}")
        self.wait_for(lambda: len(self.sandbox.calls_to("views.publish")) > before, "views.publish")
        return copy.deepcopy(self.sandbox.home_views[self.user_id])

    def act_in_home(self, home: dict[str, Any], entry: dict[str, Any]) -> int:
        """Fire one block action (a click, a pick) in the Home tab `home` as it was published; the app's
        HTTP status."""
        body = block_actions_payload(
            trigger_id=self.sandbox.new_trigger_id(), actions=[entry], view=home, **self._who
        )
        return self.send(body)[0]

    # --- inside a modal --------------------------------------------------------------------

    def act(
        self, view_id: str, entry: dict[str, Any], state: dict[str, Any] | None = None, *, wait: bool = True
    ) -> int:
        """Fire one block action in a modal, recording the input's new state first.

        With `wait`, returns once the app has updated the view.
        """
        old = self._hash(view_id)
        if state is not None:
            self.sandbox.set_input(view_id, entry["block_id"], entry["action_id"], state)
        status, _ = self.send(self.block_actions_body(view_id, entry))
        if wait and status == 200:
            self.wait_for(
                lambda: self._hash(view_id) != old, f"the app to update the view after {entry['action_id']}"
            )
        return status

    def block_actions_body(self, view_id: str, entry: dict[str, Any]) -> bytes:
        """The signed-ready body of a block action in a modal, with the view as Slack holds it."""
        return block_actions_payload(
            trigger_id=self.sandbox.new_trigger_id(view_id),
            actions=[entry],
            view=self.view(view_id),
            **self._who,
        )

    def choose_range(self, view_id: str, preset: str, *, wait: bool = True) -> int:
        """Pick a range preset (or "custom")."""
        label = _LABELS[preset]
        return self.act(
            view_id,
            action("static_select", ActionId.RANGE_SELECT, BlockId.RANGE, preset, text=label),
            state_value("static_select", preset, text=label),
            wait=wait,
        )

    def choose_clinic(self, view_id: str, clinic_id: int, name: str = "clinic") -> int:
        """Pick a clinic in the clinic select."""
        return self.act(
            view_id,
            action("static_select", ActionId.CLINIC_SELECT, BlockId.CLINIC, clinic_id, text=name),
            state_value("static_select", clinic_id, text=name),
        )

    def pick_custom(self, view_id: str, start: datetime, end: datetime) -> None:
        """Set the custom range's start and end pickers."""
        for block, action_id, value in (
            (BlockId.CUSTOM_START, ActionId.CUSTOM_START, start),
            (BlockId.CUSTOM_END, ActionId.CUSTOM_END, end),
        ):
            stamp = int(value.timestamp())
            self.act(
                view_id,
                action("datetimepicker", action_id, block, stamp),
                state_value("datetimepicker", stamp),
            )

    def type_message(self, view_id: str, text: str, *, wait: bool = True) -> int:
        """Type the message (one dispatch of on_character_entered with the whole text)."""
        return self.act(
            view_id,
            action("plain_text_input", ActionId.MESSAGE_INPUT, BlockId.MESSAGE, text),
            state_value("plain_text_input", text),
            wait=wait,
        )

    def click_in_view(self, view_id: str, block_id: str, action_id: str, value: str = "") -> dict[str, Any]:
        """Click a button in a modal that pushes a view; the pushed view."""
        before = len(self.sandbox.calls_to("views.push"))
        entry = action("button", action_id, block_id, value or None)
        status, reply = self.send(self.block_actions_body(view_id, entry))
        if status != 200:
            raise AssertionError(f"the app answered the click with {status}: {reply}")
        self.wait_for(lambda: len(self.sandbox.calls_to("views.push")) > before, "views.push")
        return copy.deepcopy(self.sandbox.calls_to("views.push")[before].response["view"])

    def submission_body(self, view_id: str) -> bytes:
        """The body of a click on the modal's submit button."""
        return view_submission_payload(
            view=self.view(view_id), trigger_id=self.sandbox.new_trigger_id(view_id), **self._who
        )

    def submit(self, view_id: str) -> Answer:
        """Click the modal's submit button; Slack applies the app's answer (errors, push, update, clear)."""
        status, reply = self.send(self.submission_body(view_id))
        return self.apply(view_id, status, reply)

    def apply(self, view_id: str, status: int, reply: str) -> Answer:
        """Apply the app's answer to a submission as Slack would."""
        body = json.loads(reply) if reply.strip().startswith("{") else {}
        if status != 200:
            return Answer(status, body)
        return Answer(status, body, self.sandbox.apply_view_response(view_id, body))

    # --- on a channel message --------------------------------------------------------------

    def click_message_button(
        self, channel_id: str, ts: str, block_id: str, action_id: str, value: str, text: str = "Button"
    ) -> int:
        """Click a button on a channel message (after its confirm dialog, if any)."""
        message = self.sandbox.message(channel_id, ts)
        if message is None:
            raise AssertionError(f"no message {ts} in {channel_id}")
        entry = action("button", action_id, block_id, value, text=text)
        body = block_actions_payload(
            trigger_id=self.sandbox.new_trigger_id(),
            actions=[entry],
            channel_id=channel_id,
            channel_name=self.channel_name,
            message=copy.deepcopy(message),
            **self._who,
        )
        status, _ = self.send(body)
        return status
