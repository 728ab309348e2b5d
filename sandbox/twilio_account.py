"""The sandbox Twilio's account resources: the Account, its IncomingPhoneNumbers and Messaging Services.

Shapes follow Twilio's REST API reference (Accounts, IncomingPhoneNumber list filtered by PhoneNumber,
Messaging v1 Service); only the fields the app and `mass-alert check` read are filled in. The account
owns the sandbox's `from_numbers` (every well-formed number when none are given, as creates accept any
From then) and the Messaging Services added with `SandboxTwilio.add_messaging_service`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from sandbox.twilio import SandboxTwilio

ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)\.json$")
NUMBERS = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers\.json$")
SERVICE = re.compile(r"^/v1/Services/(?P<sid>MG[0-9a-fA-F]{32})$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def account_json(sandbox: SandboxTwilio) -> dict[str, Any]:
    """GET /2010-04-01/Accounts/{AccountSid}.json: an active full account."""
    return {
        "sid": sandbox.account_sid,
        "friendly_name": "Sandbox account",
        "status": "active",
        "type": "Full",
        "owner_account_sid": sandbox.account_sid,
        "uri": f"/2010-04-01/Accounts/{sandbox.account_sid}.json",
    }


def owns_number(sandbox: SandboxTwilio, number: str) -> bool:
    """Whether the account has `number` among its IncomingPhoneNumbers."""
    if sandbox.from_numbers is not None:
        return number in sandbox.from_numbers
    return bool(_E164.match(number))


def numbers_page(sandbox: SandboxTwilio, query: dict[str, str]) -> dict[str, Any]:
    """GET .../IncomingPhoneNumbers.json?PhoneNumber=+1...: the matching numbers as one page."""
    wanted = query.get("PhoneNumber", "")
    if wanted:
        numbers = [wanted] if owns_number(sandbox, wanted) else []
    else:
        numbers = sorted(sandbox.from_numbers or ())
    base = f"/2010-04-01/Accounts/{sandbox.account_sid}/IncomingPhoneNumbers.json"
    uri = f"{base}?{urlencode({k: v for k, v in query.items() if k != 'PageToken'})}"
    items = [
        {
            "sid": f"PN{index:032x}",
            "account_sid": sandbox.account_sid,
            "phone_number": number,
            "friendly_name": number,
            "capabilities": {"sms": True, "mms": True, "voice": True},
        }
        for index, number in enumerate(numbers, start=1)
    ]
    return {
        "incoming_phone_numbers": items,
        "start": 0,
        "end": max(0, len(items) - 1),
        "page": 0,
        "page_size": int(query.get("PageSize", "50") or 50),
        "first_page_uri": uri,
        "next_page_uri": None,
        "previous_page_uri": None,
        "uri": uri,
    }


def service_json(sandbox: SandboxTwilio, sid: str) -> dict[str, Any] | None:
    """GET https://messaging.twilio.com/v1/Services/{Sid}; None when the account has no such service."""
    if sid not in sandbox.messaging_services:
        return None
    return {
        "sid": sid,
        "account_sid": sandbox.account_sid,
        "friendly_name": f"Sandbox service {sid[-4:]}",
        "url": f"https://messaging.twilio.com/v1/Services/{sid}",
    }


def route(sandbox: SandboxTwilio, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
    """The answer to a GET of an account resource, or None when `path` is not one."""
    if (match := ACCOUNT.match(path)) and match["account"] == sandbox.account_sid:
        return 200, account_json(sandbox)
    if (match := NUMBERS.match(path)) and match["account"] == sandbox.account_sid:
        return 200, numbers_page(sandbox, query)
    if match := SERVICE.match(path):
        found = service_json(sandbox, match["sid"])
        if found is None:
            return sandbox._error(404, 20404, f"The requested resource {path} was not found")
        return 200, found
    return None
