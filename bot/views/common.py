"""Block Kit plumbing shared by the builders: Slack's limits, mrkdwn escaping, clipping, blocks.

The words themselves (times, estimates, counts) are in bot.views.wording."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    BlockElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

#: Slack's limits used by the builders (https://docs.slack.dev/reference/block-kit).
SECTION_TEXT_MAX = 3000
MODAL_BLOCKS_MAX = 100
CONTEXT_ELEMENTS_MAX = 10
OPTION_TEXT_MAX = 75
PLAIN_INPUT_MAX = 3000


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `limit` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis


def quote(text: str, limit: int = SECTION_TEXT_MAX) -> str:
    """The message as a mrkdwn block quote, escaped and clipped to fit a section."""
    lines = escape(text).splitlines() or [""]
    quoted = "\n".join(f">{line}" for line in lines)
    return clip(quoted, limit)


def mrkdwn_section(
    text: str, block_id: str | None = None, *, accessory: BlockElement | None = None
) -> SectionBlock:
    """A section with mrkdwn text clipped to Slack's 3,000 characters, and an optional accessory."""
    text_object = MarkdownTextObject(text=clip(text, SECTION_TEXT_MAX))
    return SectionBlock(text=text_object, block_id=block_id, accessory=accessory)


def context(*texts: str, block_id: str | None = None) -> ContextBlock:
    """A context block of up to ten mrkdwn texts."""
    elements = [MarkdownTextObject(text=clip(t, SECTION_TEXT_MAX)) for t in texts if t][:CONTEXT_ELEMENTS_MAX]
    return ContextBlock(elements=elements, block_id=block_id)


def plain(text: str, limit: int) -> PlainTextObject:
    """A plain_text object clipped to `limit`."""
    return PlainTextObject(text=clip(text, limit), emoji=True)
