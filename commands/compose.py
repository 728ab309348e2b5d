"""/mass-alert (and the shortcut and Home button): loading modal, the live form, and review with inline errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.container import AppContext
from bot.ids import ActionId, BlockId, CallbackId
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
from bot.views.wording import skipped_summary
from commands.compose_state import (
    ComposeInput,
    ComposeMeta,
    ConfirmMeta,
    Counted,
    compose_clinic,
    field_block,
    resolve_range,
)
from commands.gate import check_sender, chosen, identity_of, require_sender
from services import alerts, recipients
from services.authorization import Authorized
from services.clinics import find_clinic
from services.errors import InvalidInput
from services.recipients import RecipientSummary
from services.segments import measure

log = logging.getLogger(__name__)

COMMAND = "/mass-alert"
#: Bolt context key: the loading modal opened for this request (the error handler shows refusals there).
LOADING_VIEW = "loading_view_id"
RANGE_ACTIONS = (ActionId.CLINIC_SELECT, ActionId.RANGE_SELECT, ActionId.CUSTOM_START, ActionId.CUSTOM_END)


@dataclass(frozen=True)
class ClinicFacts:
    """What the modal needs to know about a clinic."""

    clinic_id: int
    name: str
    tz: str
    pace: float
    channel_id: str | None


def clinic_facts(ctx: AppContext, clinic_id: int) -> ClinicFacts:
    """Name, time zone, effective pace and linked channel of one clinic."""
    with ctx.sessions() as session:
        clinic = find_clinic(session, str(clinic_id))
        pace = alerts.effective_pace(clinic, ctx.settings.alert_pace_seconds)
        return ClinicFacts(clinic.id, clinic.name, clinic.timezone, pace, clinic.slack_channel_id)


def with_clinic(ctx: AppContext, meta: ComposeMeta, clinic_id: int) -> ComposeMeta:
    """The metadata switched to another clinic (its zone and pace)."""
    facts = clinic_facts(ctx, clinic_id)
    return replace(meta, clinic_id=clinic_id, tz=facts.tz, pace=facts.pace)


def recount(ctx: AppContext, meta: ComposeMeta, now: datetime) -> ComposeMeta:
    """The metadata with a fresh count for its range, or the reason the range is refused."""
    try:
        rng = resolve_range(meta, now, strict=False)
    except InvalidInput as refused:
        return replace(meta, counted=None, range_error=str(refused))
    if rng is None:
        return replace(meta, counted=None, range_error=None)
    with ctx.sessions() as session:
        summary = recipients.summarize(session, meta.clinic_id, rng, now)
    return replace(meta, counted=Counted.of(summary), range_error=None)


def render(ctx: AppContext, meta: ComposeMeta, message: str, now: datetime) -> dict[str, Any]:
    """The compose view for this metadata and the message typed so far."""
    max_chars = ctx.settings.alert_max_chars
    stats = MessageStats.of(measure(message, max_chars), max_chars) if message else None
    counted = meta.counted
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
            stats=stats,
            pace_seconds=meta.pace,
            sending_time=alerts.estimate_duration(counted.count, meta.pace) if counted else None,
            as_of=now,
            private_metadata=meta.dumps(),
        )
    )


def first_form(ctx: AppContext, sender: Authorized, channel_id: str | None) -> dict[str, Any]:
    """The form as it first opens: the channel's clinic (else the first), the default range counted."""
    choices = [(c.clinic_id, c.clinic_name) for c in sender.choices]
    facts = clinic_facts(ctx, sender.choices[0].clinic_id)
    meta = ComposeMeta(
        clinic_id=facts.clinic_id, tz=facts.tz, pace=facts.pace, channel_id=channel_id, choices=choices
    )
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


def zero_reason(summary: RecipientSummary) -> str:
    """Why Review refuses a range nobody in it can be texted."""
    if summary.skipped_total:
        reasons = skipped_summary({str(k): v for k, v in summary.skipped_by_reason.items()})
        return f"Nobody in this range can be texted ({reasons}). Choose another range."
    return "No client has an upcoming appointment in this range, so there is nobody to text. Choose another range."


def _entry(ctx: AppContext) -> Any:
    def open_compose(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
        ack()
        opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view())["view"]
        context[LOADING_VIEW] = opened["id"]
        identity = identity_of(body)
        sender = check_sender(ctx, client, identity)
        update_view(client, opened, first_form(ctx, sender, identity.channel_id))

    return open_compose


def _range_changed(ctx: AppContext) -> Any:
    def recount_view(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        meta = ComposeMeta.loads(view["private_metadata"])
        typed = ComposeInput.from_view(view, body["actions"][0])
        if typed.clinic_id not in (None, meta.clinic_id) and typed.clinic_id in {c for c, _ in meta.choices}:
            meta = with_clinic(ctx, meta, typed.clinic_id)  # type: ignore[arg-type]
        now = ctx.clock.now()
        update_view(client, view, render(ctx, recount(ctx, typed.over(meta), now), typed.message, now))

    return recount_view


def _typed(ctx: AppContext) -> Any:
    def restat_view(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        typed = ComposeInput.from_view(view, body["actions"][0])
        update_view(
            client,
            view,
            render(ctx, ComposeMeta.loads(view["private_metadata"]), typed.message, ctx.clock.now()),
        )

    return restat_view


def _see_who(ctx: AppContext) -> Any:
    def push_skipped(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        meta = ComposeMeta.loads(body["view"]["private_metadata"])
        now = ctx.clock.now()
        people: list[SkippedPerson] = []
        rng = resolve_range(meta, now, strict=False)
        if rng is not None:
            with ctx.sessions() as session:
                found = recipients.compute(session, meta.clinic_id, rng, now)
            people = [SkippedPerson(s.full_name, str(s.reason), s.detail) for s in found.skipped]
        client.views_push(trigger_id=body["trigger_id"], view=skipped_view(people))

    return push_skipped


@dataclass(frozen=True)
class Reviewed:
    """A form that passed review: what the confirmation shows, or the inline errors by block id."""

    errors: dict[str, str]
    view: dict[str, Any] | None = None


def review_form(ctx: AppContext, meta: ComposeMeta, message: str, now: datetime) -> Reviewed:
    """Check the range, the message and that someone can be texted; build the confirmation when all pass."""
    max_chars = ctx.settings.alert_max_chars
    errors: dict[str, str] = {}
    rng = None
    try:
        rng = resolve_range(meta, now, strict=True)
    except InvalidInput as refused:
        errors[field_block(refused.field)] = str(refused)
    info = measure(message, max_chars)
    if not message:
        errors[BlockId.MESSAGE] = "Type the message to send."
    elif info.too_long:
        errors[BlockId.MESSAGE] = (
            f"The message is {info.length:,} characters; the limit is {max_chars:,}. "
            f"Shorten it by {-info.remaining:,}."
        )
    summary = None
    if rng is not None:
        with ctx.sessions() as session:
            summary = recipients.summarize(session, meta.clinic_id, rng, now)
        if summary.count == 0:
            errors[BlockId.RANGE] = zero_reason(summary)
    if errors or rng is None or summary is None:
        return Reviewed({str(block): text for block, text in errors.items()})
    facts = clinic_facts(ctx, meta.clinic_id)
    channel = meta.channel_id or facts.channel_id
    carried = ConfirmMeta(meta.clinic_id, rng.start, rng.end, message, channel)
    return Reviewed(
        {},
        confirm_view(
            ConfirmState(
                tz=meta.tz,
                clinic_name=facts.name,
                recipients=summary.count,
                first_appointment=summary.first_appointment,
                last_appointment=summary.last_appointment,
                message=message,
                pace_seconds=meta.pace,
                eta=now + alerts.estimate_duration(summary.count, meta.pace),
                segments=info.segments,
                encoding=info.encoding,
                skipped=summary.skipped_total,
                channel_id=channel,
                private_metadata=carried.dumps(),
            )
        ),
    )


def _review(ctx: AppContext) -> Any:
    def review(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        view = body["view"]
        meta = ComposeMeta.loads(view["private_metadata"])
        clinic_id = chosen(context).clinic_id  # authorized again by the middleware, for this clinic
        if clinic_id != meta.clinic_id:
            meta = with_clinic(ctx, meta, clinic_id)
        typed = ComposeInput.from_view(view)
        reviewed = review_form(ctx, typed.over(meta), typed.message.strip(), ctx.clock.now())
        if reviewed.errors:
            ack(response_action="errors", errors=reviewed.errors)
        else:
            ack(response_action="push", view=reviewed.view)

    return review


def register(app: App, ctx: AppContext) -> None:
    """The entry points, the live updates and the review step."""
    entry = _entry(ctx)
    app.command(COMMAND)(entry)
    app.shortcut(str(CallbackId.SHORTCUT))(entry)
    app.action(str(ActionId.HOME_NEW_ALERT))(entry)
    changed = _range_changed(ctx)
    for action_id in RANGE_ACTIONS:
        app.action(str(action_id))(changed)
    app.action(str(ActionId.MESSAGE_INPUT))(_typed(ctx))
    app.action(str(ActionId.SEE_WHO))(_see_who(ctx))
    app.view(
        str(CallbackId.COMPOSE), middleware=[require_sender(ctx, lambda body, _ctx: compose_clinic(body))]
    )(_review(ctx))
