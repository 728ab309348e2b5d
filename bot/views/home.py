"""App Home: the Activity list of the clinic's recent alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, DividerBlock, HeaderBlock
from slack_sdk.models.views import View

from bot.ids import ActionId, BlockId, CallbackId, keyed
from bot.views.common import context, escape, mrkdwn_section, plain
from bot.views.wording import format_estimate, format_when
from services.notify import AlertSnapshot

#: Header, actions, divider and a "more" line leave room for this many alerts in 100 blocks.
MAX_ITEMS = 90


def _state_text(item: AlertSnapshot, now: datetime | None) -> str:
    total = item.to_send
    if item.state == "queued":
        return f"⏳ queued · {total:,} to send"
    if item.state == "sending":
        left = ""
        if item.eta is not None and now is not None and item.eta > now:
            left = f" · {format_estimate((item.eta - now).total_seconds())} left"
        return f"📤 sending {item.sent + item.failed:,} of {total:,}{left}"
    if item.state == "cancelled":
        return f"⏹️ cancelled · {item.sent:,}/{total:,} sent"
    if item.state == "failed" or item.failed:
        return f"🔴 {item.sent:,}/{total:,} sent · {item.failed:,} failed"
    return f"✅ {item.sent:,}/{total:,} sent"


def home_view(
    clinic_name: str | None,
    items: Sequence[AlertSnapshot],
    tz: str,
    *,
    now: datetime | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    """The Home tab: recent alerts (newest first) with state, counts, sender, time and a link to each report.

    Times are shown in `tz`; `now` (aware) gives a sending alert's time left.
    """
    title = f"Recent mass text alerts: {clinic_name}" if clinic_name else "Mass text alerts"
    blocks: list[Block] = [HeaderBlock(text=plain(title, 150), block_id=BlockId.HOME_HEADER)]
    if notice:
        blocks.append(mrkdwn_section(escape(notice), BlockId.HOME_NOTICE))
    if clinic_name:
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
    blocks.append(DividerBlock())
    if clinic_name and not items:
        blocks.append(
            mrkdwn_section(
                "No mass text alerts yet. Type `/mass-alert` in your clinic's channel to send one."
            )
        )
    for item in items[:MAX_ITEMS]:
        line = (
            f"*#{item.id}*  {format_when(item.created_at, tz)}  {escape(item.created_by_name)}\n"
            f"{_state_text(item, now)}"
        )
        accessory = None
        if item.report_permalink:
            accessory = ButtonElement(
                text=plain("Report", 75),
                url=item.report_permalink,
                action_id=keyed(ActionId.OPEN_REPORT, item.id),
            )
        blocks.append(mrkdwn_section(line, keyed(BlockId.HOME_ALERT, item.id), accessory=accessory))
    if len(items) > MAX_ITEMS:
        blocks.append(context(f"…and {len(items) - MAX_ITEMS:,} older alerts.", block_id=BlockId.HOME_MORE))
    return View(type="home", callback_id=str(CallbackId.HOME), blocks=blocks).to_dict()
