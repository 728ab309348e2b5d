"""The /mass-alert modals: loading skeleton, refusal, the compose form and the pushed "See who" list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    DateTimePickerElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.blocks.basic_components import DispatchActionConfig
from slack_sdk.models.views import View

from bot.ids import ActionId, BlockId, CallbackId, versioned
from bot.views.common import (
    MODAL_BLOCKS_MAX,
    OPTION_TEXT_MAX,
    PLAIN_INPUT_MAX,
    SECTION_TEXT_MAX,
    context,
    escape,
    mrkdwn_section,
    plain,
    quote,
)
from bot.views.models import CUSTOM_PRESET, RANGE_PRESETS, ComposeState, MessageStats, SkippedPerson
from bot.views.wording import (
    appointments_as_of,
    forcing_words,
    format_estimate,
    format_pace,
    format_span,
    plural,
    reason_label,
    texts_per_client,
    will_be_texted,
    will_not_be_texted,
    zone_abbreviation,
)
from services.merge_fields import FIELDS
from services.templates import NAME_MAX as TEMPLATE_NAME_MAX

TITLE = "Mass Text Alert"
PLACEHOLDER = "e.g. We're closing at 3 PM today because of the storm. Please call to reschedule."
#: Slack caps a static select at 100 options.
MAX_SELECT_OPTIONS = 100


def _modal(
    callback_id: CallbackId,
    blocks: Sequence[Block],
    *,
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str = "",
    title: str = TITLE,
) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=str(callback_id),
        title=plain(title, 24),
        submit=plain(submit, 24) if submit else None,
        close=plain(close, 24),
        blocks=list(blocks),
        private_metadata=private_metadata or None,
    )
    return view.to_dict()


def loading_view(private_metadata: str = "") -> dict[str, Any]:
    """The skeleton opened at once, inside the trigger's 3 s window."""
    blocks = [mrkdwn_section("⏳ Looking up your clinic and its upcoming appointments…", BlockId.LOADING)]
    return _modal(CallbackId.LOADING, blocks, private_metadata=private_metadata)


def refusal_view(message: str, title: str = TITLE) -> dict[str, Any]:
    """A modal that tells the person why they cannot send an alert and what to do."""
    blocks = [mrkdwn_section(f"🚫 {escape(message)}", BlockId.REFUSAL)]
    return _modal(CallbackId.REFUSED, blocks, close="Close", title=title)


def _option(value: str, label: str) -> Option:
    return Option(value=value, text=plain(label, OPTION_TEXT_MAX))


def _clinic_block(state: ComposeState) -> InputBlock:
    choices = state.clinic_choices[:MAX_SELECT_OPTIONS]
    if state.clinic_id is not None and all(cid != state.clinic_id for cid, _ in choices):
        chosen = [c for c in state.clinic_choices if c[0] == state.clinic_id]
        choices = chosen + choices[: MAX_SELECT_OPTIONS - 1]
    options = [_option(str(cid), name) for cid, name in choices]
    initial = next((o for o in options if o.value == str(state.clinic_id)), None)
    return InputBlock(
        block_id=BlockId.CLINIC,
        label=plain("Clinic", 2000),
        dispatch_action=True,
        element=StaticSelectElement(
            action_id=ActionId.CLINIC_SELECT,
            placeholder=plain("Choose a clinic", 150),
            options=options,
            initial_option=initial,
        ),
    )


def _range_blocks(state: ComposeState) -> list[Block]:
    options = [_option(value, label) for value, label in RANGE_PRESETS]
    initial = next((o for o in options if o.value == state.preset), None)
    blocks: list[Block] = [
        InputBlock(
            block_id=BlockId.RANGE,
            label=plain("Appointments in", 2000),
            dispatch_action=True,
            element=StaticSelectElement(
                action_id=ActionId.RANGE_SELECT,
                placeholder=plain("Choose a range", 150),
                options=options,
                initial_option=initial,
            ),
        )
    ]
    if state.preset == CUSTOM_PRESET:
        zone = zone_abbreviation(state.custom_start or state.custom_end or state.as_of or _anchor(), state.tz)
        for block_id, action_id, label, value in (
            (BlockId.CUSTOM_START, ActionId.CUSTOM_START, "Start", state.custom_start),
            (BlockId.CUSTOM_END, ActionId.CUSTOM_END, "End", state.custom_end),
        ):
            blocks.append(
                InputBlock(
                    block_id=block_id,
                    label=plain(label, 2000),
                    dispatch_action=True,
                    element=DateTimePickerElement(
                        action_id=action_id,
                        initial_date_time=int(value.timestamp()) if value is not None else None,
                    ),
                )
            )
        blocks.append(
            context(
                f"Up to {state.max_range_days} days; any date ahead. The clinic's time is {zone}; "
                "the pickers show your own Slack time zone, and the span below is in clinic time.",
                block_id=BlockId.CUSTOM_HINT,
            )
        )
    if state.range_error:
        blocks.append(mrkdwn_section(f"⚠️ *{escape(state.range_error)}*", BlockId.RANGE_ERROR))
    return blocks


def _anchor() -> datetime:
    # The zone abbreviation needs an instant; callers pass `as_of`, this is the last resort.
    return datetime.now(UTC)


def _recipient_blocks(state: ComposeState) -> list[Block]:
    if state.range_error:
        return []
    if state.recipients is None:
        prompt = "👥 Choose a range to see how many clients will be texted."
        return [mrkdwn_section(prompt, BlockId.RECIPIENTS)]
    if state.recipients == 0:
        text = (
            "👥 *No clients will be texted*: nobody with an upcoming appointment in this range can be texted."
        )
        if not state.skipped_total:
            text = "👥 *No clients will be texted*: there are no upcoming appointments in this range."
    else:
        text = f"👥 *{will_be_texted(state.recipients)}*"
        if state.first_appointment and state.last_appointment:
            span = format_span(state.first_appointment, state.last_appointment, state.tz)
            text += f"\nappointments {span}"
    if state.appointments_as_of is not None:
        text += f"\n{appointments_as_of(state.appointments_as_of, state.as_of, state.tz)}"
    blocks: list[Block] = [mrkdwn_section(text, BlockId.RECIPIENTS)]
    if state.skipped_total:
        blocks.append(
            mrkdwn_section(
                will_not_be_texted(state.skipped_total, state.skipped_by_reason),
                BlockId.SKIPPED_SUMMARY,
                accessory=ButtonElement(
                    text=plain("See who", 75), action_id=ActionId.SEE_WHO, value="see_who"
                ),
            )
        )
    return blocks


def _stats_text(stats: MessageStats | None, max_chars: int) -> str:
    if stats is None or stats.length == 0:
        return f"Up to {max_chars:,} characters · 160 per text, 70 if it contains emoji"
    texts = texts_per_client(stats.segments)
    encoding = f" · {escape(forcing_words(stats.forcing))}" if stats.forcing else ""
    if stats.too_long:
        excess = f"⚠️ *{plural(-stats.remaining, 'character')} too many*"
        return f"{excess}: the limit is {stats.max_chars:,} · {texts}{encoding}"
    return f"{plural(stats.remaining, 'character')} left · {texts}{encoding}"


def _merge_field_blocks(state: ComposeState) -> list[Block]:
    """Under the message: an unknown field's hint, the first recipient's text, the fields one can use."""
    blocks: list[Block] = []
    if state.fields_error:
        blocks.append(mrkdwn_section(f"⚠️ *{escape(state.fields_error)}*", BlockId.MESSAGE_FIELDS))
    elif state.example_message is not None:
        text = "*The first client reads:*\n" + quote(state.example_message, SECTION_TEXT_MAX - 30)
        blocks.append(mrkdwn_section(text, BlockId.MESSAGE_EXAMPLE))
    if not state.fields_error:
        names = " ".join(f"`{{{name}}}`" for name in FIELDS)
        blocks.append(context(f"Merge fields: {names}", block_id=BlockId.MESSAGE_FIELDS))
    return blocks


def _template_pick_blocks(state: ComposeState) -> list[Block]:
    """A picker of the clinic's templates (none shown when it has none)."""
    if not state.templates:
        return []
    options = [_option(str(tid), name) for tid, name in state.templates[:MAX_SELECT_OPTIONS]]
    picker = StaticSelectElement(
        action_id=ActionId.TEMPLATE_SELECT,
        placeholder=plain("Fill the message from a template", 150),
        options=options,
    )
    return [ActionsBlock(block_id=BlockId.TEMPLATE_PICK, elements=[picker])]


def _send_at_blocks(state: ComposeState) -> list[Block]:
    """Send now (left empty) or at a picked time; the count above is today's."""
    return [
        InputBlock(
            block_id=BlockId.SEND_AT,
            label=plain("Send at (optional)", 2000),
            optional=True,
            hint=plain(
                "Leave empty to send now. A scheduled alert counts its clients again when it starts; "
                "the count above is today's.",
                2000,
            ),
            element=DateTimePickerElement(action_id=ActionId.SEND_AT_PICKER),
        )
    ]


#: The urgent checkbox's one option (its value is what the listener reads).
URGENT_VALUE = "urgent"


def _urgent_block() -> InputBlock:
    """Urgent: sent through the clinic's sending window (quiet hours), recorded on the alert."""
    option = Option(
        value=URGENT_VALUE,
        text=plain("Urgent: send outside quiet hours", OPTION_TEXT_MAX),
        description=plain(
            "Texts go out at any hour, even outside the clinic's sending hours.", OPTION_TEXT_MAX
        ),
    )
    return InputBlock(
        block_id=BlockId.URGENT,
        label=plain("Quiet hours", 2000),
        optional=True,
        element=CheckboxesElement(action_id=ActionId.URGENT_CHECK, options=[option]),
    )


def _template_save_blocks(state: ComposeState) -> list[Block]:
    """An optional name input and "Save as template"; what the last save did."""
    blocks: list[Block] = [
        InputBlock(
            block_id=versioned(BlockId.TEMPLATE_NAME, state.version),
            label=plain("Template name", 2000),
            optional=True,
            hint=plain("To reuse this message: name it, then click Save as template.", 2000),
            element=PlainTextInputElement(
                action_id=ActionId.TEMPLATE_NAME_INPUT,
                max_length=TEMPLATE_NAME_MAX,
                placeholder=plain("e.g. Storm closure", 150),
            ),
        ),
        ActionsBlock(
            block_id=BlockId.TEMPLATE_SAVE,
            elements=[
                ButtonElement(
                    text=plain("Save as template", 75), action_id=ActionId.TEMPLATE_SAVE, value="save"
                )
            ],
        ),
    ]
    if state.template_note:
        blocks.append(context(escape(state.template_note), block_id=BlockId.TEMPLATE_NOTE))
    return blocks


def _message_blocks(state: ComposeState) -> list[Block]:
    max_chars = state.stats.max_chars if state.stats else 320
    stats = _stats_text(state.stats, max_chars)
    if state.stats_longest and state.stats is not None:
        stats = f"Longest text: {stats}"
    return [
        InputBlock(
            block_id=versioned(BlockId.MESSAGE, state.version),
            label=plain("Message", 2000),
            dispatch_action=True,
            element=PlainTextInputElement(
                action_id=ActionId.MESSAGE_INPUT,
                multiline=True,
                max_length=PLAIN_INPUT_MAX,
                initial_value=state.message[:PLAIN_INPUT_MAX] or None,
                placeholder=plain(PLACEHOLDER, 150),
                dispatch_action_config=DispatchActionConfig(trigger_actions_on=["on_character_entered"]),
            ),
        ),
        context(stats, block_id=BlockId.MESSAGE_STATS),
        *_merge_field_blocks(state),
    ]


def _pace_text(state: ComposeState) -> str:
    text = f"For information only, not marketing. {format_pace(state.pace_seconds)}"
    if state.recipients and state.sending_time is not None:
        duration = format_estimate(state.sending_time.total_seconds())
        text += f": {duration} for {plural(state.recipients, 'client')}"
    return text + "."


def compose_view(state: ComposeState) -> dict[str, Any]:
    """The compose form; input block ids never change, so typed text survives every update."""
    blocks: list[Block] = []
    if len(state.clinic_choices) > 1:
        blocks.append(_clinic_block(state))
    blocks += _range_blocks(state)
    blocks += _recipient_blocks(state)
    blocks += _template_pick_blocks(state)
    blocks += _message_blocks(state)
    blocks.append(context(_pace_text(state), block_id=BlockId.PACE))
    blocks += _send_at_blocks(state)
    blocks.append(_urgent_block())
    blocks += _template_save_blocks(state)
    return _modal(
        CallbackId.COMPOSE, blocks, submit="Review", close="Cancel", private_metadata=state.private_metadata
    )


def skipped_view(
    people: Sequence[SkippedPerson], total: int | None = None, private_metadata: str = ""
) -> dict[str, Any]:
    """The pushed "See who" list, grouped by reason and capped to Slack's limits with "and N more"."""
    total = len(people) if total is None else max(total, len(people))
    groups: dict[str, list[SkippedPerson]] = {}
    for person in people:
        groups.setdefault(person.reason, []).append(person)
    blocks: list[Block] = [
        context(
            f"{plural(total, 'client')} with appointments in the range will not be texted. "
            "Consider calling them instead."
        )
    ]
    budget = MODAL_BLOCKS_MAX - 2  # the intro above and a possible "and N more" below
    shown = 0
    for reason, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        if budget < 1:
            break
        lines = []
        for person in members:
            detail = f" – {escape(person.detail)}" if person.detail else ""
            lines.append(f"• {escape(person.name)}{detail}")
        chunk = f"*{escape(reason_label(reason))}* ({len(members):,})"
        for line in lines:
            if len(chunk) + 1 + len(line) > SECTION_TEXT_MAX:
                if budget <= 1:
                    break
                blocks.append(mrkdwn_section(chunk))
                budget -= 1
                chunk = ""
            chunk = f"{chunk}\n{line}" if chunk else line
            shown += 1
        if chunk and budget > 0:
            blocks.append(mrkdwn_section(chunk))
            budget -= 1
    if total > shown:
        blocks.append(context(f"…and {total - shown:,} more."))
    return _modal(
        CallbackId.SKIPPED, blocks, close="Back", title="Not texted", private_metadata=private_metadata
    )
