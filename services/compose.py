"""What the compose modal asks of the domain: a clinic's facts, a live count, who is skipped, and review.

Plain values in, plain values out (frozen dataclasses); the Slack listeners in `commands.compose` turn
them into views. The rules a review applies are the ones `alerts.create_alert` applies again at
confirmation (`alerts.check_message`, `alerts.check_recipients`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from services import alerts, merge_fields, recipients
from services.clinics import find_clinic
from services.errors import InvalidInput
from services.recipients import RecipientSummary, Skipped
from services.segments import SegmentInfo
from services.sending_hours import ALL_DAY, Finish, SendingHours, alert_finish
from services.timeranges import TimeRange


@dataclass(frozen=True)
class ClinicFacts:
    """What the modal needs to know about a clinic: its IANA zone, pace (seconds per text), channel, and
    when its appointments were last imported (UTC; None: never by `mass-alert import`)."""

    clinic_id: int
    name: str
    tz: str
    pace: float
    channel_id: str | None
    appointments_as_of: datetime | None = None
    hours: SendingHours = ALL_DAY


@dataclass(frozen=True)
class Confirmation:
    """What the confirmation view shows for a reviewed form."""

    clinic_name: str
    channel_id: str | None
    rng: TimeRange
    summary: RecipientSummary
    segments: int
    encoding: str
    #: Seconds between two texts of this alert, and when the last text should go at that pace (counting
    #: the sending window unless urgent).
    pace: float
    eta: datetime
    #: The clinic's sending window, whether the alert is urgent (sent through it), and who waits for it.
    hours: SendingHours = ALL_DAY
    urgent: bool = False
    finish: Finish | None = None


@dataclass(frozen=True)
class Review:
    """A reviewed form: the refusals (each InvalidInput names its field), or the confirmation."""

    refusals: list[InvalidInput]
    confirmation: Confirmation | None = None


def clinic_facts(sessions: sessionmaker[Session], clinic_id: int, default_pace: float) -> ClinicFacts:
    """Name, time zone, effective pace and linked channel of one clinic (NotFound when there is none)."""
    with sessions() as session:
        clinic = find_clinic(session, str(clinic_id))
        pace = alerts.effective_pace(clinic, default_pace)
        return ClinicFacts(
            clinic.id,
            clinic.name,
            clinic.timezone,
            pace,
            clinic.slack_channel_id,
            clinic.appointments_imported_at,
            clinic.sending_hours,
        )


def count(sessions: sessionmaker[Session], clinic_id: int, rng: TimeRange, now: datetime) -> RecipientSummary:
    """How many clients of the clinic would be texted for `rng`, their appointments' span, who is skipped."""
    with sessions() as session:
        return recipients.summarize(session, clinic_id, rng, now)


def skipped(sessions: sessionmaker[Session], clinic_id: int, rng: TimeRange, now: datetime) -> list[Skipped]:
    """Every client in `rng` who will not be texted, with the reason."""
    with sessions() as session:
        return list(recipients.compute(session, clinic_id, rng, now).skipped)


@dataclass(frozen=True)
class MessagePreview:
    """A message as the clinic's clients will read it: the first recipient's text and the measure of the
    longest (the texts per client and characters left the modal shows)."""

    example: str | None
    longest: SegmentInfo | None
    #: The longest text itself, for counting characters as a person sees them.
    longest_text: str | None = None


def preview_message(
    sessions: sessionmaker[Session],
    clinic_id: int,
    rng: TimeRange,
    message: str,
    now: datetime,
    max_chars: int,
) -> MessagePreview:
    """The message rendered for every recipient of `rng` (merge fields filled in); one recipients read.
    InvalidInput (field "message") on an unknown merge field."""
    merge_fields.check_fields(message)
    with sessions() as session:
        clinic = find_clinic(session, str(clinic_id))
        ids = [r.client_id for r in recipients.compute(session, clinic_id, rng, now).recipients]
        rendered = merge_fields.render_all(session, clinic, rng, now, ids, message, max_chars)
    return MessagePreview(rendered.example, rendered.longest, rendered.longest_text)


def review(
    sessions: sessionmaker[Session],
    *,
    clinic_id: int,
    rng: TimeRange | InvalidInput,
    message: str,
    now: datetime,
    default_pace: float,
    max_chars: int,
    start_at: datetime | None = None,
    urgent: bool = False,
) -> Review:
    """Check the range (`rng` is the refusal when it could not be resolved), the message and that someone
    can be texted; the confirmation when all pass. Its channel is always the clinic's own (where the alert
    reports), wherever /mass-alert was typed (issue 12). Its finish counts the clinic's sending window from
    `start_at` ("Send at"; None: now) unless `urgent`.
    """
    refusals: list[InvalidInput] = []
    if isinstance(rng, InvalidInput):
        refusals.append(rng)
    info = None
    try:
        info = alerts.check_message(message, max_chars)
    except InvalidInput as refused:
        refusals.append(refused)
    summary = None
    if isinstance(rng, TimeRange):
        summary = count(sessions, clinic_id, rng, now)
        try:
            alerts.check_recipients(summary.count, {str(k): n for k, n in summary.skipped_by_reason.items()})
        except InvalidInput as refused:
            refusals.append(refused)
    if info is not None and isinstance(rng, TimeRange) and merge_fields.used_fields(message):
        longest = preview_message(sessions, clinic_id, rng, message, now, max_chars).longest
        if longest is not None:
            try:
                alerts.check_length(longest, max_chars)
            except InvalidInput as refused:
                refusals.append(refused)
            info = longest
    if refusals or info is None or summary is None or not isinstance(rng, TimeRange):
        return Review(refusals)
    facts = clinic_facts(sessions, clinic_id, default_pace)
    finish = estimate(sessions, facts, rng, now, start_at, urgent, summary.count)
    return Review(
        [],
        Confirmation(
            clinic_name=facts.name,
            channel_id=facts.channel_id,
            rng=rng,
            summary=summary,
            segments=info.segments,
            encoding=info.encoding,
            pace=facts.pace,
            eta=finish.finish,
            hours=facts.hours,
            urgent=urgent,
            finish=finish,
        ),
    )


def estimate(
    sessions: sessionmaker[Session],
    facts: ClinicFacts,
    rng: TimeRange,
    now: datetime,
    start_at: datetime | None,
    urgent: bool,
    count: int,
) -> Finish:
    """When the alert's last text should go, counting the sending window in each client's zone (the
    recipients are read only when the window can hold a text: not urgent, not all day)."""
    start = max(now, start_at or now)
    if urgent or facts.hours.all_day:
        return Finish(start + alerts.estimate_duration(count, facts.pace))
    with sessions() as session:
        phones = [r.phone_e164 for r in recipients.compute(session, facts.clinic_id, rng, now).recipients]
    return alert_finish(start, phones, facts.tz, facts.pace, facts.hours)
