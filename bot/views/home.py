"""App Home: the history of a person's clinics' mass alerts, newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    Option,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.ids import ActionId, BlockId, CallbackId, keyed
from bot.views.activity import cancel_scheduled_button
from bot.views.common import OPTION_TEXT_MAX, clip, context, escape, mrkdwn_section, plain
from bot.views.wording import (
    format_estimate,
    format_span,
    format_when,
    outcome_counts,
    paused_for_quiet_hours,
    plural,
    scheduled_for,
)
from services.notify import AlertSnapshot
from services.scheduled import ScheduledAlert

#: Alerts on one page: one section each, well inside Slack's 100 blocks of a Home tab
#: (https://docs.slack.dev/surfaces/app-home) with the header, filter, buttons and page line.
PAGE_SIZE = 20
#: How far back the history goes.
HISTORY_DAYS = 90
#: Slack caps a static select at 100 options; the first is "All my clinics".
MAX_FILTER_CLINICS = 99
#: How much of each alert's message the list shows.
MESSAGE_PREVIEW = 300
#: Scheduled alerts listed above the history (the rest: `mass-alert scheduled`).
MAX_SCHEDULED = 10
ALL_CLINICS = "all"
READ_ONLY = "You can follow your clinics' alerts here; only a clinic's Admins can send one."


@dataclass(frozen=True)
class HomeQuery:
    """Which page of which clinic's history: carried in the filter's and the page buttons' values."""

    clinic_id: int | None = None
    page: int = 0

    def value(self) -> str:
        """`all:0`, `12:3`: the button value Slack sends back."""
        return f"{ALL_CLINICS if self.clinic_id is None else self.clinic_id}:{self.page}"

    @classmethod
    def parse(cls, value: str | None) -> HomeQuery:
        """The query in a button or option value; anything unreadable is the first page of all clinics."""
        clinic, _, page = (value or "").partition(":")
        clinic_id = int(clinic) if clinic.isdigit() else None
        return cls(clinic_id, int(page) if page.isdigit() else 0)


@dataclass(frozen=True)
class HomeClinic:
    """A clinic in the viewer's filter."""

    clinic_id: int
    name: str


@dataclass(frozen=True)
class HomeScheduled:
    """A scheduled alert of the viewer's clinics; `can_cancel` when they are an Admin of its clinic."""

    alert: ScheduledAlert
    can_cancel: bool = False


@dataclass(frozen=True)
class HomePage:
    """What the Home tab shows: the viewer's clinics, one page of alerts and whether more follow.

    `can_send` is False for Staff (and clinics with two-way texting off): the tab is then read-only.
    """

    clinics: Sequence[HomeClinic]
    items: Sequence[AlertSnapshot]
    query: HomeQuery = HomeQuery()
    can_send: bool = False
    has_next: bool = False
    #: Alerts waiting for their start time, soonest first (the Scheduled section above the history).
    scheduled: Sequence[HomeScheduled] = ()


def _state_text(item: AlertSnapshot, now: datetime | None) -> str:
    counts = outcome_counts(item.texted, item.failed, item.not_texted)
    if item.state in ("queued", "sending") and item.paused_until and item.paused_zone and now is not None:
        paused = paused_for_quiet_hours(item.paused_until, item.paused_zone, now)
        return f"⏸️ {paused} · {item.sent + item.failed:,} of {item.to_send:,} sent · {counts}"
    if item.state == "queued":
        return f"⏳ queued · {item.to_send:,} to text"
    if item.state == "sending":
        left = ""
        if item.eta is not None and now is not None and item.eta > now:
            left = f" · {format_estimate((item.eta - now).total_seconds())} left"
        return f"📤 sending {item.sent + item.failed:,} of {item.to_send:,}{left} · {counts}"
    if item.state == "cancelled":
        return f"⏹️ cancelled · {counts}"
    if item.state == "failed" or item.failed:
        return f"🔴 {counts}"
    return f"✅ {counts}"


def _alert_block(item: AlertSnapshot, now: datetime | None) -> SectionBlock:
    tz = item.timezone
    message = escape(clip(" ".join(item.message.split()), MESSAGE_PREVIEW))
    text = (
        f"*#{item.id} · {escape(item.clinic_name)}*  {format_when(item.created_at, tz)}  "
        f"by {escape(item.created_by_name)}\n"
        f">{message}\n"
        f"Appointments {format_span(item.range_start, item.range_end, tz)}\n"
        f"{_state_text(item, now)}"
    )
    accessory = None
    if item.report_permalink:
        accessory = ButtonElement(
            text=plain("Report", 75),
            url=item.report_permalink,
            action_id=keyed(ActionId.OPEN_REPORT, item.id),
        )
    return mrkdwn_section(text, keyed(BlockId.HOME_ALERT, item.id), accessory=accessory)


def _scheduled_blocks(items: Sequence[HomeScheduled]) -> list[Block]:
    """The Scheduled section: when, by whom and the message's first line, with Cancel for the clinic's
    Admins (the entry's button: same confirm dialog, same listener); at most MAX_SCHEDULED shown."""
    if not items:
        return []
    blocks: list[Block] = [mrkdwn_section("*Scheduled*", BlockId.HOME_SCHEDULED)]
    for item in items[:MAX_SCHEDULED]:
        a = item.alert
        when = format_when(a.start_at, a.timezone)
        first_line = escape(clip((a.message.strip().splitlines() or [""])[0], MESSAGE_PREVIEW))
        text = (
            f"🕘 *#{a.id} · {escape(a.clinic_name)}* {scheduled_for(when, escape(a.created_by_name))}\n"
            f">{first_line}"
        )
        button = cancel_scheduled_button(a.id, when) if item.can_cancel else None
        blocks.append(mrkdwn_section(text, keyed(BlockId.HOME_SCHEDULED_ALERT, a.id), accessory=button))
    if len(items) > MAX_SCHEDULED:
        more = len(items) - MAX_SCHEDULED
        blocks.append(
            context(
                f"{plural(more, 'more scheduled alert')} not shown here: `mass-alert scheduled` lists all."
            )
        )
    blocks.append(DividerBlock())
    return blocks


def _filter_block(page: HomePage) -> ActionsBlock:
    options = [Option(value=HomeQuery(None).value(), text=plain("All my clinics", OPTION_TEXT_MAX))]
    options += [
        Option(value=HomeQuery(c.clinic_id).value(), text=plain(c.name, OPTION_TEXT_MAX))
        for c in page.clinics[:MAX_FILTER_CLINICS]
    ]
    chosen = HomeQuery(page.query.clinic_id).value()
    return ActionsBlock(
        block_id=BlockId.HOME_FILTER,
        elements=[
            StaticSelectElement(
                action_id=ActionId.HOME_CLINIC_FILTER,
                placeholder=plain("Clinic", 150),
                options=options,
                initial_option=next((o for o in options if o.value == chosen), options[0]),
            )
        ],
    )


def _page_buttons(page: HomePage) -> ActionsBlock | None:
    query = page.query
    buttons = []
    if query.page > 0:
        buttons.append(
            ButtonElement(
                text=plain("Previous", 75),
                action_id=ActionId.HOME_PREVIOUS,
                value=HomeQuery(query.clinic_id, query.page - 1).value(),
            )
        )
    if page.has_next:
        buttons.append(
            ButtonElement(
                text=plain("Next", 75),
                action_id=ActionId.HOME_NEXT,
                value=HomeQuery(query.clinic_id, query.page + 1).value(),
            )
        )
    return ActionsBlock(block_id=BlockId.HOME_PAGES, elements=buttons) if buttons else None


def _title(page: HomePage) -> str:
    shown = [c for c in page.clinics if page.query.clinic_id in (None, c.clinic_id)]
    return "Recent mass text alerts: " + " · ".join(c.name for c in shown)


def home_view(
    page: HomePage | None, *, now: datetime | None = None, notice: str | None = None
) -> dict[str, Any]:
    """The Home tab: the last 90 days of alerts of the viewer's clinics, newest first, PAGE_SIZE a page.

    Scheduled alerts come first (when, by whom, the message's first line, Cancel for Admins). Each alert
    of the history shows its clinic, sender, message, range, texted / failed / not texted and its report,
    with times in that alert's own clinic zone; `now` (aware) gives a sending alert's time left. The
    clinic filter appears for people in several clinics, the New alert button only when `can_send`.
    `page` None (with a `notice`) is the tab of someone who is in no clinic.
    """
    if page is None or not page.clinics:
        blocks: list[Block] = [HeaderBlock(text=plain("Mass text alerts", 150), block_id=BlockId.HOME_HEADER)]
        if notice:
            blocks.append(mrkdwn_section(escape(notice), BlockId.HOME_NOTICE))
        return View(type="home", callback_id=str(CallbackId.HOME), blocks=blocks).to_dict()
    blocks = [HeaderBlock(text=plain(_title(page), 150), block_id=BlockId.HOME_HEADER)]
    if notice:
        blocks.append(mrkdwn_section(escape(notice), BlockId.HOME_NOTICE))
    if page.can_send:
        blocks.append(
            ActionsBlock(
                block_id=BlockId.HOME_ACTIONS,
                elements=[
                    ButtonElement(
                        text=plain("New mass text alert", 75),
                        action_id=ActionId.HOME_NEW_ALERT,
                        value="new",
                        style="primary",
                    ),
                ],
            )
        )
    else:
        blocks.append(context(READ_ONLY, block_id=BlockId.HOME_NOTICE if not notice else None))
    if len(page.clinics) > 1:
        blocks.append(_filter_block(page))
    blocks.append(DividerBlock())
    blocks += _scheduled_blocks(page.scheduled)
    items = page.items[:PAGE_SIZE]
    if not items:
        empty = f"No mass text alerts in the last {HISTORY_DAYS} days."
        if page.can_send:
            empty += " Type `/mass-alert` in your clinic's channel to send one."
        blocks.append(mrkdwn_section(empty))
    blocks += [_alert_block(item, now) for item in items]
    if items:
        first = page.query.page * PAGE_SIZE + 1
        blocks.append(
            context(
                f"Alerts {first:,}–{first + len(items) - 1:,} of the last {HISTORY_DAYS} days, newest first.",
                block_id=BlockId.HOME_MORE,
            )
        )
    buttons = _page_buttons(page)
    if buttons is not None:
        blocks.append(buttons)
    return View(type="home", callback_id=str(CallbackId.HOME), blocks=blocks).to_dict()
