"""Every command, shortcut and action answered exactly once: an error after `ack()` is told, not raised.

Bolt (1.x, `ThreadListenerRunner`) resets an acknowledgement when the listener raises after acking:
the request thread, which polls for the ack every 10 ms, then may see none and answers 404 after 3 s,
and Slack shows `operation_timeout` beside the refusal. So a listener wrapped here keeps its ack: a
later error goes to the person (`commands.errors.report`) and the listener returns normally. An error
before the ack still reaches the app's error handler, which answers in the ack's place.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from commands.errors import MalformedRequest, log, report

Listener = Callable[..., Any]


def answered_once(listener: Listener) -> Listener:
    """`listener` (a function of Bolt's ack, body, client and context) whose post-ack errors are reported."""
    wanted = set(inspect.signature(listener).parameters)

    def run(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> Any:
        given = {"ack": ack, "body": body, "client": client, "context": context}
        try:
            return listener(**{name: value for name, value in given.items() if name in wanted})
        except Exception as error:
            if ack.response is None:
                raise  # not answered yet: the error handler answers for it
            if isinstance(error, MalformedRequest):
                log.warning("malformed request after its ack: %s", error)
                return None
            report(error, body, context, client)
            return None

    # Not functools.wraps: Bolt injects arguments by the names of `inspect.unwrap(listener)`, and those
    # must be run's own. The names only make Bolt's log lines name the listener.
    run.__name__, run.__qualname__, run.__doc__ = listener.__name__, listener.__qualname__, listener.__doc__
    return run
