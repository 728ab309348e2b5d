"""The Slack Web API client every part of the app uses, counting Slack's errors for /metrics."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from services.metrics import count_api_error


class CountingWebClient(WebClient):
    """slack_sdk's WebClient; each error Slack answers (`ok: false`, 429) counts once in
    mass_alert_api_errors_total{service="slack", code=<Slack's error string>}, then raises as before."""

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as error:
            count_api_error("slack", str(error.response.get("error") or error.response.status_code))
            raise
