"""What reaches the log: numbers masked, message bodies gone, one line per outage, JSON when asked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from services.logs import DependencyState, redact, setup_logging


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("texting +13125550128 now", "texting +1312***0128 now"),
        (
            "GET /Messages.json?To=%2B13125550128&PageSize=50",
            "GET /Messages.json?To=%2B1312***0128&PageSize=50",
        ),
        (
            "To=%2B13125550128&From=%2B15005550006&Body=Closed+today",
            "To=%2B1312***0128&From=%2B1500***0006&Body=(redacted)",
        ),
        (
            "payload {'To': '+447700900123', 'Body': 'Closed today'}",
            "payload {'To': '+4477***0123', 'Body': '(redacted)'}",
        ),
        ('{"text": "Closed today", "channel": "C1"}', '{"text": \'(redacted)\', "channel": "C1"}'),
        (
            "Sending a request - url: https://slack.com/api/chat.postMessage, query_params: {}, "
            "body_params: {'text': 'Closed today'}, files: {}, json_body: None, headers: {}",
            "Sending a request - url: https://slack.com/api/chat.postMessage, "
            "payload: (redacted), headers: {}",
        ),
        (
            "Responding with status: 200 body: \"{'m': 'Closed today'}\"",
            "Responding with status: 200 body: (redacted)",
        ),
        ("alert #12 stopped: Twilio 20003", "alert #12 stopped: Twilio 20003"),  # ids and codes stay
    ],
)
def test_redact_masks_numbers_and_drops_bodies(line: str, shown: str) -> None:
    assert redact(line) == shown


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    setup_logging("DEBUG", "json", out)
    try:
        yield out
    finally:
        setup_logging("WARNING", "text")


def test_json_lines_carry_level_logger_and_redacted_extras_and_tracebacks(stream: io.StringIO) -> None:
    log = logging.getLogger("twilio.http_client")
    log.debug("POST To=%s", "+13125550128", extra={"to": "+13125550128"})
    try:
        raise ValueError("Body=Closed today for +13125550128")
    except ValueError:
        log.exception("send failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["level"], first["logger"], first["message"]) == (
        "DEBUG",
        "twilio.http_client",
        "POST To=+1312***0128",
    )
    assert first["to"] == "+1312***0128"
    assert second["level"] == "ERROR" and "Body=(redacted)" in second["exc_info"]
    assert "13125550128" not in stream.getvalue() and "Closed today" not in stream.getvalue()


def test_text_format_is_one_readable_line() -> None:
    out = io.StringIO()
    setup_logging("INFO", "text", out)
    try:
        logging.getLogger("services.alerts").info("alert #3 created for +13125550128")
        logging.getLogger("services.alerts").debug("below the level")
    finally:
        setup_logging("WARNING", "text")
    (line,) = out.getvalue().splitlines()
    assert line.endswith("INFO services.alerts: alert #3 created for +1312***0128")


def test_a_dependency_down_is_logged_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    state = DependencyState("the database", logging.getLogger("tests.dependency"))
    with caplog.at_level(logging.INFO, logger="tests.dependency"):
        changes = [
            state.failed("refused"),
            state.failed("refused"),
            state.ok(),
            state.ok(),
            state.failed("x"),
        ]
    assert changes == [True, False, True, False, True]
    assert [r.getMessage() for r in caplog.records] == [
        "the database is unavailable: refused",
        "the database is available again",
        "the database is unavailable: x",
    ]
