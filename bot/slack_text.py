"""Slack's message text format, both ways: what a person typed in Slack as plain text for an SMS, and any
string as inert mrkdwn for Slack.

Slack sends message text with `&`, `<` and `>` escaped (`&amp;`, `&lt;`, `&gt;`) and markup in angle
brackets: links `<https://…|label>` / `<https://…>` / `<mailto:…|…>`, users `<@U…>` (or `<@U…|name>`),
channels `<#C…|name>`, special mentions `<!here>`, `<!channel>`, `<!everyone>`, `<!subteam^S…|@team>`,
`<!date^…|fallback>`, and emoji as `:shortcode:`
(https://docs.slack.dev/messaging/formatting-message-text).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import emoji
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

#: A name for a Slack id, or None when it is not known.
Resolve = Callable[[str], "str | None"]

_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_MARKUP = re.compile(r"<([^<>]*)>")
_SHORTCODE = re.compile(r":([a-z0-9_+'-]+):")
#: Slack's own shortcodes the emoji library's aliases lack (skin tones follow the emoji they modify).
_SLACK_ONLY = {
    "simple_smile": "🙂",
    "skin-tone-2": "\U0001f3fb",
    "skin-tone-3": "\U0001f3fc",
    "skin-tone-4": "\U0001f3fd",
    "skin-tone-5": "\U0001f3fe",
    "skin-tone-6": "\U0001f3ff",
}
#: What a special mention without a label reads as.
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}
#: Who a user mention reads as when users.info does not know the user.
SOMEONE = "someone"


def unescape(text: str) -> str:
    """Slack's three escapes undone in one pass (`&amp;lt;` is the typed text `&lt;`)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def escape(text: str) -> str:
    """`text` with `&`, `<` and `>` escaped, so Slack shows it as written and parses no markup in it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip_escaped(text: str, limit: int, ellipsis: str = "…") -> str:
    """Escaped `text` cut to at most `limit` characters (an ellipsis marks a cut), never inside an entity."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ellipsis


def _shortcode(name: str) -> str | None:
    if name in _SLACK_ONLY:
        return _SLACK_ONLY[name]
    found = emoji.emojize(f":{name}:", language="alias")
    return None if found == f":{name}:" else found


def emojize(text: str) -> str:
    """Slack shortcodes (`:dog:`, `:+1:`, `:skin-tone-3:`) as Unicode emoji; unknown ones stay `:name:`."""
    out: list[str] = []
    position = 0
    while (match := _SHORTCODE.search(text, position)) is not None:
        found = _shortcode(match.group(1))
        if found is None:  # `10:30:45` or a custom emoji: keep the colon and look again from the next one
            out.append(text[position : match.end() - 1])
            position = match.end() - 1
            continue
        out.append(text[position : match.start()] + found)
        position = match.end()
    out.append(text[position:])
    return "".join(out)


def _label(inner: str) -> tuple[str, str | None]:
    target, bar, label = inner.partition("|")
    return target, (unescape(label) if bar and label else None)


def _markup(inner: str, user: Resolve, channel: Resolve) -> str:
    """What one `<…>` means to a reader."""
    target, label = _label(inner)
    if target.startswith("@"):
        name = user(target[1:])
        return name or label or SOMEONE
    if target.startswith("#"):
        name = label or channel(target[1:])
        return f"#{name}" if name else "#channel"
    if target.startswith("!"):
        word = target[1:].split("^", 1)[0]
        if label:
            return label
        return _SPECIAL.get(word, f"@{word}")
    url = unescape(target)
    if url.startswith("mailto:"):
        return url[len("mailto:") :]
    if url.startswith("tel:"):
        return label or url[len("tel:") :]
    return url


def to_plain(text: str, *, user: Resolve, channel: Resolve) -> str:
    """The plain text a person meant by the Slack message `text`.

    Links become their URL (mailto: links the address), user mentions the person's display name from
    `user` (else the label, else "someone"), channel mentions `#name`, special mentions `@here` and the
    like (or their label), `&amp;`/`&lt;`/`&gt;` the characters typed, shortcodes their emoji. Typed text
    that looks like markup (`&lt;@U1&gt;`) comes out as typed (`<@U1>`).
    """
    out: list[str] = []
    position = 0
    for match in _MARKUP.finditer(text):
        out.append(emojize(unescape(text[position : match.start()])))
        out.append(_markup(match.group(1), user, channel))
        position = match.end()
    out.append(emojize(unescape(text[position:])))
    return "".join(out)


class SlackDirectory:
    """Display names of users (users.info) and names of channels (conversations.info), cached per
    workspace for `ttl` seconds, at most `size` of each; a failed look-up is None and not cached."""

    def __init__(self, *, ttl: float = 3600.0, size: int = 2000, now: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.size = size
        self._now = now
        self._cache: OrderedDict[tuple[str, str | None, str], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, str | None, str], fetch: Callable[[], str | None]) -> str | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > self._now():
                self._cache.move_to_end(key)
                return hit[1]
        try:
            value = fetch()
        except (SlackApiError, KeyError, TypeError):
            return None
        if value:
            with self._lock:
                self._cache[key] = (self._now() + self.ttl, value)
                self._cache.move_to_end(key)
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return value or None

    def user_name(self, client: WebClient, team_id: str | None, user_id: str) -> str | None:
        """The user's display name (else real name, else handle); None when users.info cannot tell."""

        def fetch() -> str | None:
            user = client.users_info(user=user_id)["user"]
            profile = user.get("profile") or {}
            for name in (profile.get("display_name"), profile.get("real_name"), user.get("real_name")):
                if name:
                    return str(name)
            return str(user.get("name") or "") or None

        return self._cached(("user", team_id, user_id), fetch)

    def channel_name(self, client: WebClient, team_id: str | None, channel_id: str) -> str | None:
        """The channel's name; None when conversations.info cannot tell."""

        def fetch() -> str | None:
            return str(client.conversations_info(channel=channel_id)["channel"].get("name") or "") or None

        return self._cached(("channel", team_id, channel_id), fetch)

    def plain(self, client: WebClient, team_id: str | None, text: str) -> str:
        """`to_plain(text)` with names looked up through `client` (cached)."""
        return to_plain(
            text,
            user=lambda user_id: self.user_name(client, team_id, user_id),
            channel=lambda channel_id: self.channel_name(client, team_id, channel_id),
        )
