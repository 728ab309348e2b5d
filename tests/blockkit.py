"""A Block Kit rules checker for tests: the limits Slack enforces on views and messages.

Limits from https://docs.slack.dev/reference/block-kit (blocks, elements, composition objects) and
https://docs.slack.dev/reference/views/modal-views. `check_view` / `check_message` return the list of
problems (empty when valid); the `assert_*` helpers fail a test with all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BLOCK_KEYS: dict[str, set[str]] = {
    "section": {"text", "fields", "accessory", "expand"},
    "divider": set(),
    "header": {"text"},
    "context": {"elements"},
    "actions": {"elements"},
    "input": {"label", "element", "dispatch_action", "hint", "optional"},
    "image": {"image_url", "alt_text", "title", "slack_file"},
}
INPUT_ELEMENTS = {
    "plain_text_input",
    "static_select",
    "datetimepicker",
    "datepicker",
    "timepicker",
    "checkboxes",
    "radio_buttons",
    "number_input",
    "email_text_input",
    "url_text_input",
    "multi_static_select",
    "users_select",
    "conversations_select",
    "channels_select",
}
ACTION_ELEMENTS = {
    "button",
    "static_select",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "users_select",
    "conversations_select",
    "channels_select",
    "checkboxes",
    "radio_buttons",
}
ACCESSORY_ELEMENTS = {
    "button",
    "static_select",
    "overflow",
    "datepicker",
    "timepicker",
    "image",
    "checkboxes",
    "radio_buttons",
    "users_select",
    "conversations_select",
    "channels_select",
}
ELEMENT_KEYS: dict[str, set[str]] = {
    "button": {"text", "action_id", "url", "value", "style", "confirm", "accessibility_label"},
    "static_select": {
        "action_id",
        "options",
        "option_groups",
        "initial_option",
        "confirm",
        "focus_on_load",
        "placeholder",
    },
    "plain_text_input": {
        "action_id",
        "initial_value",
        "multiline",
        "min_length",
        "max_length",
        "dispatch_action_config",
        "focus_on_load",
        "placeholder",
    },
    "datetimepicker": {"action_id", "initial_date_time", "confirm", "focus_on_load"},
    "image": {"image_url", "alt_text", "slack_file"},
}


class _Checker:
    def __init__(self, surface: str) -> None:
        self.surface = surface
        self.problems: list[str] = []
        self.block_ids: set[str] = set()
        self.action_ids: set[str] = set()

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def text(
        self, where: str, obj: Any, limit: int, *, plain_only: bool = False, required: bool = True
    ) -> None:
        if obj is None:
            if required:
                self.fail(where, "text object missing")
            return
        if not isinstance(obj, dict):
            self.fail(where, f"text must be a text object, got {type(obj).__name__}")
            return
        kind = obj.get("type")
        if kind not in ("plain_text", "mrkdwn"):
            self.fail(where, f"text type must be plain_text or mrkdwn, got {kind!r}")
        if plain_only and kind != "plain_text":
            self.fail(where, "must be plain_text")
        if kind == "mrkdwn" and "emoji" in obj:
            self.fail(where, "emoji is only allowed on plain_text")
        value = obj.get("text")
        if not isinstance(value, str) or not value:
            self.fail(where, "text must be a non-empty string")
        elif len(value) > limit:
            self.fail(where, f"text is {len(value)} characters, the limit is {limit}")

    def identifier(self, where: str, value: Any, seen: set[str], kind: str) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not value:
            self.fail(where, f"{kind} must be a non-empty string")
            return
        if len(value) > 255:
            self.fail(where, f"{kind} {value[:40]!r}… is longer than 255 characters")
        if value in seen:
            self.fail(where, f"{kind} {value!r} is not unique")
        seen.add(value)

    def confirm(self, where: str, obj: Any) -> None:
        if not isinstance(obj, dict):
            self.fail(where, "confirm must be an object")
            return
        self.text(f"{where}.title", obj.get("title"), 100, plain_only=True)
        self.text(f"{where}.text", obj.get("text"), 300)
        self.text(f"{where}.confirm", obj.get("confirm"), 30, plain_only=True)
        self.text(f"{where}.deny", obj.get("deny"), 30, plain_only=True)
        if obj.get("style") not in (None, "primary", "danger"):
            self.fail(where, f"confirm style {obj.get('style')!r} is not primary or danger")

    def option(self, where: str, obj: Any) -> None:
        if not isinstance(obj, dict):
            self.fail(where, "option must be an object")
            return
        self.text(f"{where}.text", obj.get("text"), 75, plain_only=True)
        value = obj.get("value")
        if not isinstance(value, str) or not value or len(value) > 150:
            self.fail(where, f"option value must be 1-150 characters, got {value!r}")
        if "description" in obj:
            self.text(f"{where}.description", obj["description"], 75, plain_only=True)

    def element(self, where: str, el: Any, allowed: set[str]) -> None:
        if not isinstance(el, dict):
            self.fail(where, "element must be an object")
            return
        kind = el.get("type")
        if kind not in allowed:
            self.fail(where, f"element type {kind!r} is not allowed here")
            return
        if kind in ELEMENT_KEYS:
            extra = set(el) - ELEMENT_KEYS[kind] - {"type"}
            if extra:
                self.fail(where, f"unknown fields {sorted(extra)} on {kind}")
        if kind != "image":
            self.identifier(where, el.get("action_id"), self.action_ids, "action_id")
        if "confirm" in el:
            self.confirm(f"{where}.confirm", el["confirm"])
        if "placeholder" in el:
            self.text(f"{where}.placeholder", el["placeholder"], 150, plain_only=True)
        if kind == "button":
            self.text(f"{where}.text", el.get("text"), 75, plain_only=True)
            if el.get("style") not in (None, "primary", "danger"):
                self.fail(where, f"button style {el.get('style')!r} is not primary or danger")
            if len(str(el.get("value", ""))) > 2000:
                self.fail(where, "button value is longer than 2000 characters")
            if len(str(el.get("url", ""))) > 3000:
                self.fail(where, "button url is longer than 3000 characters")
        elif kind == "static_select":
            options = el.get("options") or []
            if not options and not el.get("option_groups"):
                self.fail(where, "a static_select needs options")
            if len(options) > 100:
                self.fail(where, f"{len(options)} options; a static_select holds at most 100")
            for i, opt in enumerate(options):
                self.option(f"{where}.options[{i}]", opt)
            initial = el.get("initial_option")
            if initial is not None:
                self.option(f"{where}.initial_option", initial)
                if initial not in options:
                    self.fail(where, "initial_option is not exactly one of the options")
        elif kind == "plain_text_input":
            max_length = el.get("max_length")
            if max_length is not None and not (1 <= max_length <= 3000):
                self.fail(where, f"max_length {max_length} is outside 1-3000")
            initial = el.get("initial_value")
            if initial is not None and (not isinstance(initial, str) or len(initial) > (max_length or 3000)):
                self.fail(where, "initial_value is not a string within max_length")
            config = el.get("dispatch_action_config")
            if config is not None:
                triggers = set(config.get("trigger_actions_on") or [])
                if not triggers or triggers - {"on_enter_pressed", "on_character_entered"}:
                    self.fail(where, f"trigger_actions_on {sorted(triggers)} is not valid")
        elif kind == "datetimepicker":
            initial = el.get("initial_date_time")
            if initial is not None and (not isinstance(initial, int) or len(str(initial)) != 10):
                self.fail(where, f"initial_date_time must be a 10-digit unix timestamp, got {initial!r}")
        elif kind == "image" and not el.get("alt_text"):
            self.fail(where, "an image needs alt_text")

    def block(self, where: str, block: Any) -> None:
        if not isinstance(block, dict):
            self.fail(where, "block must be an object")
            return
        kind = block.get("type")
        if kind not in BLOCK_KEYS:
            self.fail(where, f"unknown or unsupported block type {kind!r}")
            return
        extra = set(block) - BLOCK_KEYS[kind] - {"type", "block_id"}
        if extra:
            self.fail(where, f"unknown fields {sorted(extra)} on {kind}")
        self.identifier(where, block.get("block_id"), self.block_ids, "block_id")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.fail(where, "a section needs text or fields")
            if "text" in block:
                self.text(f"{where}.text", block["text"], 3000)
            fields = block.get("fields") or []
            if len(fields) > 10:
                self.fail(where, f"{len(fields)} fields; the limit is 10")
            for i, field in enumerate(fields):
                self.text(f"{where}.fields[{i}]", field, 2000)
            if "accessory" in block:
                self.element(f"{where}.accessory", block["accessory"], ACCESSORY_ELEMENTS)
        elif kind == "header":
            self.text(f"{where}.text", block.get("text"), 150, plain_only=True)
        elif kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 10:
                self.fail(where, f"a context holds 1-10 elements, got {len(elements)}")
            for i, el in enumerate(elements):
                if isinstance(el, dict) and el.get("type") == "image":
                    self.element(f"{where}.elements[{i}]", el, {"image"})
                else:
                    self.text(f"{where}.elements[{i}]", el, 3000)
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 25:
                self.fail(where, f"an actions block holds 1-25 elements, got {len(elements)}")
            for i, el in enumerate(elements):
                self.element(f"{where}.elements[{i}]", el, ACTION_ELEMENTS)
        elif kind == "input":
            if self.surface == "message":
                self.fail(where, "input blocks belong in modals")
            self.text(f"{where}.label", block.get("label"), 2000, plain_only=True)
            if "hint" in block:
                self.text(f"{where}.hint", block["hint"], 2000, plain_only=True)
            if "element" not in block:
                self.fail(where, "an input block needs an element")
            else:
                self.element(f"{where}.element", block["element"], INPUT_ELEMENTS)
            for flag in ("dispatch_action", "optional"):
                if flag in block and not isinstance(block[flag], bool):
                    self.fail(where, f"{flag} must be a boolean")
        elif kind == "image" and not block.get("alt_text"):
            self.fail(where, "an image needs alt_text")

    def blocks(self, blocks: Any, limit: int) -> None:
        if not isinstance(blocks, list):
            self.fail("blocks", "must be a list")
            return
        if len(blocks) > limit:
            self.fail("blocks", f"{len(blocks)} blocks; the limit is {limit}")
        for i, block in enumerate(blocks):
            self.block(f"blocks[{i}]", block)


def check_view(view: dict[str, Any]) -> list[str]:
    """Every rule a modal or Home view breaks (empty when Slack would accept it)."""
    kind = view.get("type")
    checker = _Checker(kind if isinstance(kind, str) else "?")
    if kind not in ("modal", "home"):
        checker.fail("type", f"view type must be modal or home, got {kind!r}")
    checker.blocks(view.get("blocks"), 100)
    if kind == "modal":
        checker.text("title", view.get("title"), 24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                checker.text(key, view[key], 24, plain_only=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and "submit" not in view:
            checker.fail("submit", "a modal with input blocks needs a submit button")
    for key, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            checker.fail(key, f"must be a string of at most {limit} characters")
    allowed = {
        "type",
        "title",
        "blocks",
        "close",
        "submit",
        "private_metadata",
        "callback_id",
        "clear_on_close",
        "notify_on_close",
        "external_id",
        "submit_disabled",
    }
    extra = set(view) - allowed
    if extra:
        checker.fail("view", f"unknown fields {sorted(extra)}")
    return checker.problems


def check_message(text: str, blocks: Iterable[dict[str, Any]]) -> list[str]:
    """Every rule a chat.postMessage / chat.update payload breaks."""
    checker = _Checker("message")
    if not isinstance(text, str) or not text.strip():
        checker.fail("text", "a message needs fallback text for notifications and screen readers")
    elif len(text) > 40000:
        checker.fail("text", "longer than 40,000 characters")
    checker.blocks(list(blocks), 50)
    return checker.problems


def assert_valid_view(view: dict[str, Any]) -> None:
    """Fail with every problem when `view` breaks a Block Kit rule."""
    problems = check_view(view)
    assert not problems, "invalid view:\n" + "\n".join(problems)


def assert_valid_message(text: str, blocks: Iterable[dict[str, Any]]) -> None:
    """Fail with every problem when a message breaks a Block Kit rule."""
    problems = check_message(text, blocks)
    assert not problems, "invalid message:\n" + "\n".join(problems)


def all_text(payload: dict[str, Any] | list[Any]) -> str:
    """Every `text` string in a view or blocks, joined: what a user would read."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for key, value in node.items():
                if key != "text" or not isinstance(value, str):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload)
    return "\n".join(found)
