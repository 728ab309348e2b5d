"""Callback, block and action ids: the view builders and the listeners share these names."""

from __future__ import annotations

import re
from enum import StrEnum


class CallbackId(StrEnum):
    """The `callback_id` of each modal, shortcut and home view."""

    LOADING = "mass_alert_loading"
    COMPOSE = "mass_alert_compose"
    CONFIRM = "mass_alert_confirm"
    SKIPPED = "mass_alert_skipped"
    REFUSED = "mass_alert_refused"
    SHORTCUT = "mass_alert_shortcut"
    HOME = "mass_alert_home"


class BlockId(StrEnum):
    """Block ids; input block ids never change between updates so typed text survives views.update."""

    LOADING = "loading"
    REFUSAL = "refusal"
    CLINIC = "clinic"
    RANGE = "range"
    RANGE_ERROR = "range_error"
    CUSTOM_START = "custom_start"
    CUSTOM_END = "custom_end"
    CUSTOM_HINT = "custom_hint"
    RECIPIENTS = "recipients"
    SKIPPED_SUMMARY = "skipped_summary"
    MESSAGE = "message"
    MESSAGE_STATS = "message_stats"
    MESSAGE_FIELDS = "message_fields"
    MESSAGE_EXAMPLE = "message_example"
    TEMPLATE_PICK = "template_pick"
    TEMPLATE_NAME = "template_name"
    TEMPLATE_SAVE = "template_save"
    TEMPLATE_NOTE = "template_note"
    SEND_AT = "send_at"
    CONFIRM_SCHEDULE = "confirm_schedule"
    HOME_TEMPLATES = "home_templates"
    PACE = "pace"
    CONFIRM_SUMMARY = "confirm_summary"
    CONFIRM_MESSAGE = "confirm_message"
    CONFIRM_ETA = "confirm_eta"
    CONFIRM_CHANNEL = "confirm_channel"
    CONFIRM_QUIET_HOURS = "confirm_quiet_hours"
    URGENT = "urgent"
    SKIPPED_LIST = "skipped_list"
    ACTIVITY_HEADER = "activity_header"
    ACTIVITY_MESSAGE = "activity_message"
    ACTIVITY_SCOPE = "activity_scope"
    ACTIVITY_STATUS = "activity_status"
    ACTIVITY_REPORT = "activity_report"
    ACTIVITY_RETRY = "activity_retry"
    ACTIVITY_RETRY_OF = "activity_retry_of"
    HOME_HEADER = "home_header"
    HOME_ACTIONS = "home_actions"
    HOME_NOTICE = "home_notice"
    HOME_ALERT = "home_alert"
    HOME_MORE = "home_more"
    HOME_FILTER = "home_filter"
    HOME_PAGES = "home_pages"
    HOME_LINK = "home_link"
    HOME_SCHEDULED = "home_scheduled"
    HOME_SCHEDULED_ALERT = "home_scheduled_alert"
    CONVERSATION_ROOT = "conversation_root"
    CONVERSATION_QUOTE = "conversation_quote"
    CONVERSATION_CONTEXT = "conversation_context"


class ActionId(StrEnum):
    """Action ids of the interactive elements."""

    CLINIC_SELECT = "clinic_select"
    RANGE_SELECT = "range_select"
    CUSTOM_START = "custom_start_picker"
    CUSTOM_END = "custom_end_picker"
    MESSAGE_INPUT = "message_input"
    TEMPLATE_SELECT = "template_select"
    TEMPLATE_NAME_INPUT = "template_name_input"
    TEMPLATE_SAVE = "template_save"
    SEND_AT_PICKER = "send_at_picker"
    URGENT_CHECK = "urgent_check"
    SEE_WHO = "see_who"
    CANCEL_ALERT = "cancel_alert"
    CANCEL_SCHEDULED = "cancel_scheduled"
    RESUME_ALERT = "resume_alert"
    RETRY_ALERT = "retry_alert"
    OPEN_REPORT = "open_report"
    CLOSE_CONVERSATION = "close_conversation"
    HOME_NEW_ALERT = "home_new_alert"
    HOME_CLINIC_FILTER = "home_clinic_filter"
    HOME_PREVIOUS = "home_previous"
    HOME_NEXT = "home_next"
    HOME_LINK_CLINIC = "home_link_clinic"


_SEPARATOR = ":"


def keyed(base: StrEnum, key: int | str) -> str:
    """An id made unique per item (`open_report:12`), for repeated blocks and buttons."""
    return f"{base}{_SEPARATOR}{key}"


def split_key(value: str) -> tuple[str, str | None]:
    """Split `open_report:12` into ("open_report", "12"); a plain id gives (id, None)."""
    base, sep, key = value.partition(_SEPARATOR)
    return base, (key if sep else None)


def versioned(block: StrEnum, version: int) -> str:
    """An input's block id after the server refilled it `version` times: `message`, then `message:1`...
    (Slack keeps typed text over a new initial_value while the block id stays the same)."""
    return str(block) if version == 0 else keyed(block, version)


def keyed_pattern(base: StrEnum) -> re.Pattern[str]:
    """A regex matching `base` alone or keyed, for Bolt's `app.action(...)`."""
    return re.compile(rf"^{re.escape(str(base))}(?:{_SEPARATOR}.+)?$")
