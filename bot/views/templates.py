"""App Home's Templates section: each clinic's message templates, by name, with their text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock

from bot.ids import BlockId, keyed
from bot.views.common import SECTION_TEXT_MAX, clip, context, escape, mrkdwn_section, plain

#: Home tab blocks this section may use at most.
MAX_BLOCKS = 8
#: Slack's limit of blocks in one Home tab view.
HOME_BLOCKS_MAX = 100


def templates_section(
    by_clinic: Sequence[tuple[int, str, Sequence[tuple[str, str]]]], used: int = 0
) -> list[dict[str, Any]]:
    """Blocks (as dicts, to append to a published view) listing `(clinic id, clinic name, [(name, text)])`;
    one section per clinic, clipped to Slack's 3,000 characters. Empty when no clinic has a template or
    the view's `used` blocks leave no room for a header, one clinic and the hint."""
    limit = min(MAX_BLOCKS, HOME_BLOCKS_MAX - used)
    if limit < 4 or not any(found for _, _, found in by_clinic):
        return []
    blocks: list[Block] = [DividerBlock(), HeaderBlock(text=plain("Message templates", 150))]
    for clinic_id, clinic_name, found in by_clinic:
        if len(blocks) >= limit - 1:
            break
        if not found:
            continue
        lines = [f"*{escape(clinic_name)}*"]
        lines += [f"• *{escape(name)}*: {escape(clip(text, 200))}" for name, text in found]
        blocks.append(
            mrkdwn_section(clip("\n".join(lines), SECTION_TEXT_MAX), keyed(BlockId.HOME_TEMPLATES, clinic_id))
        )
    blocks.append(
        context(
            "Pick one in the /mass-alert form to fill the message; save one there, or with "
            "`mass-alert template add`.",
            block_id=BlockId.HOME_TEMPLATES,
        )
    )
    return [block.to_dict() for block in blocks]
