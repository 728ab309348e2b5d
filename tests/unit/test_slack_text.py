"""Staff answers as written: Slack's escaped text and markup turned into what the person meant."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk import WebClient

from bot.slack_text import SlackDirectory, clip_escaped, escape, to_plain
from sandbox.slack import SandboxSlack
from sandbox.slack_events import channel_mention, link, user_mention
from sandbox.slack_events import escape as slack_escape

NAMES = {"U0ANA": "Ana", "U0BOB": "Dr. Bob & Co"}
CHANNELS = {"C0FRONT": "frontdesk"}


def plain(text: str) -> str:
    return to_plain(text, user=NAMES.get, channel=CHANNELS.get)


@pytest.mark.parametrize(
    ("sent", "meant"),
    [
        ("Max &amp; Bella are ready", "Max & Bella are ready"),
        ("5 &lt; 6 &gt; 4", "5 < 6 > 4"),
        ("I typed &amp;lt; on purpose", "I typed &lt; on purpose"),
        (
            "Book here: <https://vet.example/book?a=1&amp;b=2|Book online>",
            "Book here: https://vet.example/book?a=1&b=2",
        ),
        ("See <https://vet.example>", "See https://vet.example"),
        ("Mail <mailto:desk@vet.example|desk@vet.example>", "Mail desk@vet.example"),
        ("<@U0ANA> will call you", "Ana will call you"),
        ("Ask <@U0BOB>", "Ask Dr. Bob & Co"),
        ("Ask <@U0NOBODY|carl>", "Ask carl"),
        ("Ask <@U0NOBODY>", "Ask someone"),
        ("in <#C0FRONT|frontdesk>", "in #frontdesk"),
        ("in <#C0FRONT>", "in #frontdesk"),
        ("in <#C0GONE>", "in #channel"),
        ("<!here> and <!channel> and <!everyone>", "@here and @channel and @everyone"),
        ("<!subteam^S0VETS|@vets> please", "@vets please"),
        ("on <!date^1392734382^{date}|Feb 18, 2014>", "on Feb 18, 2014"),
        ("See you :wave: :dog: :+1::skin-tone-3:", "See you 👋 🐶 👍🏼"),
        ("Open 9:00 to 13:30:00 :not_an_emoji_here:", "Open 9:00 to 13:30:00 :not_an_emoji_here:"),
        ("x:zzq:smile: ok", "x:zzq😄 ok"),
    ],
)
def test_slack_text_becomes_what_the_person_meant(sent: str, meant: str) -> None:
    assert plain(sent) == meant


_typed = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters=":"), max_size=40)
_urls = st.from_regex(r"https://[a-z]{1,10}\.example/[a-z0-9&=?]{0,12}", fullmatch=True)
_parts = st.one_of(
    _typed.map(lambda t: (slack_escape(t), t)),
    st.tuples(_urls, st.one_of(st.none(), _typed)).map(lambda p: (link(slack_escape(p[0]), p[1]), p[0])),
    st.sampled_from(sorted(NAMES)).map(lambda u: (user_mention(u), NAMES[u])),
    st.just((channel_mention("C0FRONT", "frontdesk"), "#frontdesk")),
    st.sampled_from(["here", "channel", "everyone"]).map(lambda w: (f"<!{w}>", f"@{w}")),
    st.sampled_from([":dog:", ":cat:", ":+1:"]).map(
        lambda e: (e, {":dog:": "🐶", ":cat:": "🐱"}.get(e, "👍"))
    ),
)


@given(st.lists(_parts, max_size=8))
def test_converting_never_leaves_markup_and_keeps_every_typed_character(parts: list[tuple[str, str]]) -> None:
    sent = " ".join(s for s, _ in parts)
    meant = " ".join(m for _, m in parts)
    out = plain(sent)
    assert out == meant
    typed = "".join(m for _, m in parts)
    for markup in ("&amp;", "&lt;", "&gt;", "<@", "<#", "<!", "<http", "<mailto"):
        if markup not in typed:
            assert markup not in out


@given(_typed)
def test_escaping_then_converting_gives_the_text_back(text: str) -> None:
    assert plain(slack_escape(text)) == text


@given(st.text(max_size=60), st.integers(min_value=1, max_value=60))
def test_clipping_escaped_text_never_cuts_an_entity(text: str, limit: int) -> None:
    clipped = clip_escaped(escape(text), limit)
    assert len(clipped) <= max(limit, 1)
    body = clipped.removesuffix("…")
    assert body.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0


def test_names_are_looked_up_once_until_they_expire() -> None:
    now = [0.0]
    directory = SlackDirectory(ttl=60, now=lambda: now[0])
    text = "<@U0ANA> and <@U0ANA> in <#C0X>, not <@U0GONE>"
    with SandboxSlack() as slack:
        slack.add_user("U0ANA", real_name="Ana Lee", display_name="")
        slack.add_channel("C0X", "frontdesk")
        client = WebClient(base_url=slack.url, token=slack.bot_token)

        def lookups() -> int:
            return len(slack.calls_to("users.info")) + len(slack.calls_to("conversations.info"))

        assert directory.plain(client, "T1", text) == "Ana Lee and Ana Lee in #frontdesk, not someone"
        assert lookups() == 3  # U0GONE is unknown (user_not_found): not remembered
        directory.plain(client, "T1", text)
        assert lookups() == 4
        now[0] = 61
        directory.plain(client, "T1", text)
        assert lookups() == 7
