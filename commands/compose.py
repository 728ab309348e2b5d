"""/mass-alert (the shortcut, Home's button): the loading modal, the live form, review with inline errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.container import AppContext
from bot.ids import ActionId, BlockId
from bot.notifier import channel_access
from bot.views import (
    ComposeState,
    ConfirmState,
    MessageStats,
    SkippedPerson,
    compose_view,
    confirm_view,
    loading_view,
    skipped_view,
)
from bot.views.common import context as context_block
from bot.views.wording import skipped_summary
from commands.compose_state import (
    ComposeInput,
    ComposeMeta,
    ConfirmMeta,
    Counted,
    field_block,
    resolve_range,
)
from commands.context import app_context
from commands.errors import LOADING_VIEW
from commands.gate import check_sender, chosen, identity_of
from services import alerts, compose, merge_fields, templates
from services.alerts import NobodyToText
from services.authorization import Authorized
from services.compose import clinic_facts
from services.errors import InvalidInput, NotFound
from services.segments import count_message
from services.timeranges import TimeRange, format_instant

log = logging.getLogger(__name__)

COMMAND = "/mass-alert"
RANGE_ACTIONS = (ActionId.CLINIC_SELECT, ActionId.RANGE_SELECT, ActionId.CUSTOM_START, ActionId.CUSTOM_END)


def with_clinic(ctx: AppContext, meta: ComposeMeta, clinic_id: int) -> ComposeMeta:
    """The metadata switched to another clinic (its zone, pace and templates)."""
    facts = clinic_facts(ctx.sessions, clinic_id, ctx.settings.alert_pace_seconds)
    return with_templates(ctx, replace(meta, clinic_id=clinic_id, tz=facts.tz, pace=facts.pace))


def with_templates(ctx: AppContext, meta: ComposeMeta) -> ComposeMeta:
    """The metadata with the clinic's templates read again (for the modal's picker)."""
    found = templates.list_templates(ctx.sessions, meta.clinic_id)
    return replace(meta, templates=[(t.id, t.name) for t in found])


def authorized(
    ctx: AppContext, client: WebClient, body: dict[str, Any], meta: ComposeMeta, clinic_id: int
) -> ComposeMeta:
    """The metadata for `clinic_id` once the acting person is authorized for it again (NotAuthorized
    otherwise), with the clinic's time zone and pace read from the database, not from the view."""
    check_sender(ctx, client, identity_of(body), clinic_id)
    return with_clinic(ctx, meta, clinic_id)


def recount(ctx: AppContext, meta: ComposeMeta, now: datetime) -> ComposeMeta:
    """The metadata with a fresh count for its range, or the reason the range is refused."""
    try:
        rng = resolve_range(meta, now, strict=False)
    except InvalidInput as refused:
        return replace(meta, counted=None, range_error=str(refused))
    if rng is None:
        return replace(meta, counted=None, range_error=None)
    summary = compose.count(ctx.sessions, meta.clinic_id, rng, now)
    return replace(meta, counted=Counted.of(summary), range_error=None)


@dataclass(frozen=True)
class MergeShown:
    """What the modal shows of a message with merge fields: the longest text's measure, the first
    recipient's text, or the unknown fields' refusal."""

    stats: MessageStats | None = None
    example: str | None = None
    error: str | None = None

    @property
    def longest(self) -> bool:
        """True when `stats` measure the longest rendered text, not the typed one."""
        return self.stats is not None


def merge_shown(ctx: AppContext, meta: ComposeMeta, message: str, now: datetime) -> MergeShown:
    """Render a message with merge fields for the range's recipients (one recipients read; nothing for a
    message without fields, so typing plain text still needs no database read)."""
    if not merge_fields.used_fields(message):
        return MergeShown()
    max_chars = ctx.settings.alert_max_chars
    try:
        merge_fields.check_fields(message)
        rng = resolve_range(meta, now, strict=False)
    except InvalidInput as refused:
        return MergeShown(error=str(refused)) if refused.field == "message" else MergeShown()
    if rng is None or not meta.counted or not meta.counted.count:
        return MergeShown()
    shown = compose.preview_message(ctx.sessions, meta.clinic_id, rng, message, now, max_chars)
    longest = shown.longest_text
    stats = MessageStats.of(count_message(longest, max_chars), max_chars) if longest else None
    return MergeShown(stats, shown.example)


def render(
    ctx: AppContext, meta: ComposeMeta, message: str, now: datetime, template_note: str | None = None
) -> dict[str, Any]:
    """The compose view for this metadata and the message typed so far (`template_note`: what the last
    template pick or save did)."""
    max_chars = ctx.settings.alert_max_chars
    stats = MessageStats.of(count_message(message, max_chars), max_chars) if message else None
    merged = merge_shown(ctx, meta, message, now)
    counted = meta.counted
    facts = clinic_facts(ctx.sessions, meta.clinic_id, ctx.settings.alert_pace_seconds)
    return compose_view(
        ComposeState(
            tz=meta.tz,
            clinic_choices=meta.choices,
            clinic_id=meta.clinic_id,
            preset=meta.preset,
            custom_start=meta.custom_start,
            custom_end=meta.custom_end,
            recipients=counted.count if counted else None,
            first_appointment=counted.first if counted else None,
            last_appointment=counted.last if counted else None,
            skipped_by_reason=counted.skipped if counted else {},
            range_error=meta.range_error,
            message=message,
            stats=merged.stats or stats,
            stats_longest=merged.longest,
            example_message=merged.example,
            fields_error=merged.error,
            templates=meta.templates,
            version=meta.version,
            template_note=template_note,
            pace_seconds=meta.pace,
            sending_time=alerts.estimate_duration(counted.count, meta.pace) if counted else None,
            as_of=now,
            appointments_as_of=facts.appointments_as_of,
            private_metadata=meta.dumps(),
        )
    )


def first_form(ctx: AppContext, sender: Authorized, channel_id: str | None) -> dict[str, Any]:
    """The form as it first opens: the channel's clinic (else the first), the default range counted."""
    choices = [(c.clinic_id, c.clinic_name) for c in sender.choices]
    facts = clinic_facts(ctx.sessions, sender.choices[0].clinic_id, ctx.settings.alert_pace_seconds)
    meta = ComposeMeta(
        clinic_id=facts.clinic_id, tz=facts.tz, pace=facts.pace, channel_id=channel_id, choices=choices
    )
    meta = with_templates(ctx, meta)
    now = ctx.clock.now()
    return render(ctx, recount(ctx, meta, now), "", now)


def update_view(client: WebClient, current: dict[str, Any], view: dict[str, Any]) -> None:
    """views.update guarded by the hash; a conflict means a newer update is on its way, so drop this one."""
    try:
        client.views_update(view_id=current["id"], hash=current.get("hash"), view=view)
    except SlackApiError as error:
        if error.response.get("error") != "hash_conflict":
            raise
        log.debug("dropped a stale update of view %s", current["id"])


def refusal_text(refused: InvalidInput) -> str:
    """A review refusal in the modal's words: a range nobody can be texted in says who is left out."""
    if not isinstance(refused, NobodyToText):
        return str(refused)
    if refused.skipped_by_reason:
        reasons = skipped_summary(refused.skipped_by_reason)
        return f"Nobody in this range can be texted ({reasons}). Choose another range."
    return f"{refused} Choose another range."


def open_compose(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """/mass-alert, the shortcut or Home's button: the loading modal at once, then this person's form."""
    ack()
    opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view())["view"]
    context[LOADING_VIEW] = opened["id"]
    ctx = app_context(context)
    identity = identity_of(body)
    sender = check_sender(ctx, client, identity)
    update_view(client, opened, first_form(ctx, sender, identity.channel_id))


def recount_view(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """A clinic or range pick: count again and update the form."""
    ack()
    ctx = app_context(context)
    view = body["view"]
    meta = ComposeMeta.loads(view["private_metadata"])
    typed = ComposeInput.from_view(view, body["actions"][0])
    offered = {c for c, _ in meta.choices}
    picked = typed.clinic_id if typed.clinic_id is not None and typed.clinic_id in offered else None
    meta = authorized(ctx, client, body, meta, picked if picked is not None else meta.clinic_id)
    now = ctx.clock.now()
    update_view(client, view, render(ctx, recount(ctx, typed.over(meta), now), typed.message, now))


def restat_view(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """Typing in the message: characters left and texts, from the last count (a database read only when
    the message has merge fields: the longest text and the first client's are rendered)."""
    ack()
    ctx = app_context(context)
    view = body["view"]
    typed = ComposeInput.from_view(view, body["actions"][0])
    meta = ComposeMeta.loads(view["private_metadata"])
    update_view(client, view, render(ctx, meta, typed.message, ctx.clock.now()))


def push_skipped(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """ "See who": push the list of clients in the range who will not be texted, and why."""
    ack()
    ctx = app_context(context)
    meta = ComposeMeta.loads(body["view"]["private_metadata"])
    meta = authorized(ctx, client, body, meta, meta.clinic_id)
    now = ctx.clock.now()
    rng = resolve_range(meta, now, strict=False)
    found = compose.skipped(ctx.sessions, meta.clinic_id, rng, now) if rng is not None else []
    people = [SkippedPerson(s.full_name, str(s.reason), s.detail) for s in found]
    client.views_push(trigger_id=body["trigger_id"], view=skipped_view(people))


def review_view(
    ctx: AppContext,
    meta: ComposeMeta,
    message: str,
    now: datetime,
    client: WebClient | None = None,
    typed: ComposeInput | None = None,
) -> dict[str, Any]:
    """The answer to Review: inline errors by block id, or the confirmation view pushed (warning when the
    bot cannot post in the clinic's channel, checked with `client`; the finish and the quiet-hours pause
    counted from `typed`'s "Send at", or its urgent mark said)."""
    at, urgent = (typed.send_at, typed.urgent) if typed is not None else (None, False)
    try:
        rng: TimeRange | InvalidInput | None = resolve_range(meta, now, strict=True)
    except InvalidInput as refused:
        rng = refused
    assert rng is not None  # strict: an incomplete range is refused, not None
    reviewed = compose.review(
        ctx.sessions,
        clinic_id=meta.clinic_id,
        rng=rng,
        message=message,
        now=now,
        default_pace=ctx.settings.alert_pace_seconds,
        max_chars=ctx.settings.alert_max_chars,
        start_at=at,
        urgent=urgent,
    )
    done = reviewed.confirmation
    if done is None:
        errors = {str(field_block(r.field, meta.version)): refusal_text(r) for r in reviewed.refusals}
        return {"response_action": "errors", "errors": errors}
    # The channel carried on is where /mass-alert was typed: the alert reports in the clinic's own channel.
    carried = ConfirmMeta(
        meta.clinic_id, done.rng.start, done.rng.end, message, meta.channel_id, urgent=urgent
    )
    finish = done.finish
    view = confirm_view(
        ConfirmState(
            tz=meta.tz,
            clinic_name=done.clinic_name,
            recipients=done.summary.count,
            first_appointment=done.summary.first_appointment,
            last_appointment=done.summary.last_appointment,
            message=message,
            pace_seconds=done.pace,
            eta=done.eta,
            segments=done.segments,
            encoding=done.encoding,
            skipped=done.summary.skipped_total,
            skipped_by_reason={str(k): n for k, n in done.summary.skipped_by_reason.items()},
            channel_id=done.channel_id,
            channel_access=channel_access(client, done.channel_id),
            private_metadata=carried.dumps(),
            sending_hours=done.hours,
            urgent=done.urgent,
            held=finish.held if finish is not None else 0,
            resumes_at=finish.resumes_at if finish is not None else None,
            resumes_zone=finish.resumes_zone if finish is not None else None,
            as_of=now,
        )
    )
    return {"response_action": "push", "view": view}


def schedule_refusal(typed: ComposeInput, now: datetime) -> dict[str, Any] | None:
    """Inline error for a "Send at" time that is not in the future."""
    if typed.send_at is None or typed.send_at > now:
        return None
    text = "Pick a time in the future, or leave it empty to send now."
    return {"response_action": "errors", "errors": {str(BlockId.SEND_AT): text}}


def with_schedule(answer: dict[str, Any], at: datetime | None, tz: str) -> dict[str, Any]:
    """The pushed confirmation with the start time said (and carried to Send)."""
    if at is None or answer.get("response_action") != "push":
        return answer
    view = answer["view"]
    carried = replace(ConfirmMeta.loads(view["private_metadata"]), at=at)
    view["private_metadata"] = carried.dumps()
    note = f"🕘 *Scheduled*: starts {format_instant(at, tz)}; its clients are counted again then."
    view["blocks"].append(context_block(note, block_id=BlockId.CONFIRM_SCHEDULE).to_dict())
    return answer


def review(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient | None = None) -> None:
    """Review (the compose view's submission): inline errors, or push the confirmation."""
    ctx = app_context(context)
    view = body["view"]
    meta = ComposeMeta.loads(view["private_metadata"])
    # Authorized again by the middleware, for this clinic; its zone and pace come from the database.
    meta = with_clinic(ctx, meta, chosen(context).clinic_id)
    typed = ComposeInput.from_view(view)
    now = ctx.clock.now()
    refused = schedule_refusal(typed, now)
    if refused is not None:
        ack(**refused)
        return
    answer = review_view(ctx, typed.over(meta), typed.message.strip(), now, client, typed)
    ack(**with_schedule(answer, typed.send_at, meta.tz))


def template_click(
    body: dict[str, Any], context: dict[str, Any]
) -> tuple[AppContext, dict[str, Any], ComposeInput, ComposeMeta]:
    """A template pick or save in the compose view: the context, the view, its inputs and its metadata."""
    view = body["view"]
    typed = ComposeInput.from_view(view, body["actions"][0])
    return app_context(context), view, typed, typed.over(ComposeMeta.loads(view["private_metadata"]))


def pick_template(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """A template picked: the message is replaced by its text (a new message block id shows it)."""
    ack()
    ctx, view, typed, meta = template_click(body, context)
    now = ctx.clock.now()
    if typed.template_id is None:
        return
    try:
        picked = templates.get_template(ctx.sessions, meta.clinic_id, typed.template_id)
    except NotFound as gone:
        update_view(client, view, render(ctx, with_templates(ctx, meta), typed.message, now, str(gone)))
        return
    meta = replace(meta, version=meta.version + 1)
    update_view(
        client, view, render(ctx, meta, picked.text, now, f"Filled from the template “{picked.name}”.")
    )


def save_template(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """Save as template: the typed message under the typed name; the picker lists it at once. A refusal
    (no name, a name taken, an unknown merge field) is said under the button, the inputs kept."""
    ack()
    ctx, view, typed, meta = template_click(body, context)
    now = ctx.clock.now()
    try:
        saved = templates.add_template(
            ctx.sessions,
            meta.clinic_id,
            typed.template_name,
            typed.message,
            by_name=chosen(context).user_full_name,
            now=now,
        )
    except InvalidInput as refused:
        update_view(client, view, render(ctx, meta, typed.message, now, f"⚠️ Not saved: {refused}"))
        return
    meta = replace(with_templates(ctx, meta), version=meta.version + 1)  # clears the name input
    update_view(client, view, render(ctx, meta, typed.message, now, f"Saved as the template “{saved.name}”."))
