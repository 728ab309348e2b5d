"""`mass-alert check`: is this deployment able to run? One line per check, exit 1 when any fails.

Configuration, the database (reachable, schema at head), the Slack bot token (`auth.test` and the
`x-oauth-scopes` it answers with, against the manifest's bot scopes), the Twilio account (fetched) and
each clinic's sender (one of the account's IncomingPhoneNumbers or Messaging Services), and
`PUBLIC_BASE_URL` when a clinic with two-way texting needs Twilio's webhooks. Nothing is created: a
missing SQLite file stays missing.
"""

from __future__ import annotations

import argparse
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.notifier import build_client
from bot.oauth import BOT_SCOPES
from services.db import make_engine, make_session_factory
from services.models import Clinic
from services.schema import schema_state, short_reason
from services.settings import SLACK, TWILIO, Settings, SettingsError, load_settings
from services.sms import SmsError, TwilioGateway


@dataclass(frozen=True)
class Check:
    """One check's outcome: `ok` None when it could not run because an earlier one failed."""

    name: str
    ok: bool | None
    detail: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        return f"{mark}  {self.name}" + (f": {self.detail}" if self.detail else "")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check the configuration, database, Slack token and Twilio account; exit 1 if any fails",
        description="One line per check; exit status 1 when any fails. Creates nothing.",
    )
    parser.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    failed = False
    for check in run_checks():
        print(check.line(), flush=True)
        failed = failed or check.ok is False
    return 1 if failed else 0


def run_checks() -> Iterator[Check]:
    """Every check in order; later ones are skipped when what they need failed."""
    try:
        settings = load_settings(require=(SLACK, TWILIO))
    except SettingsError as error:
        yield Check("configuration", False, "; ".join(error.problems))
        return
    yield Check("configuration", True)
    clinics, database = yield from _database(settings)
    yield _slack(settings)
    yield from _twilio(settings, clinics if database else None)
    yield _public_url(settings, clinics if database else None)


def _database(settings: Settings) -> Generator[Check, None, tuple[list[Clinic], bool]]:
    """Reachable and at head; returns (clinics, whether they could be read)."""
    engine = make_engine(settings.database_url)
    try:
        state = schema_state(engine)
        yield Check("database reachable", state.reachable, "" if state.reachable else state.problem)
        if not state.reachable:
            yield Check("database schema at head", None)
            return [], False
        yield Check("database schema at head", state.at_head, state.describe())
        if not state.at_head:
            return [], False
        try:
            with make_session_factory(engine)() as session:
                return list(session.scalars(select(Clinic).order_by(Clinic.name))), True
        except SQLAlchemyError as error:
            yield Check("clinics readable", False, short_reason(error))
            return [], False
    finally:
        engine.dispose()


def _slack(settings: Settings) -> Check:
    name = "Slack bot token"
    try:
        answer = build_client(settings).auth_test()
    except SlackApiError as error:
        return Check(
            name, False, f"Slack refused it ({error.response.get('error')}): use the app's xoxb- token"
        )
    except (SlackClientError, OSError) as error:
        return Check(name, False, f"Slack could not be reached ({type(error).__name__})")
    granted = {s.strip() for s in str(answer.headers.get("x-oauth-scopes", "")).split(",") if s.strip()}
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    team = f"workspace {answer.get('team')} ({answer.get('team_id')})"
    if missing:
        return Check(
            name,
            False,
            f"{team}: missing scope(s) {', '.join(missing)}; add them from app.yaml and reinstall the app",
        )
    return Check(name, True, team)


def _twilio(settings: Settings, clinics: list[Clinic] | None) -> Iterator[Check]:
    assert settings.twilio_account_sid and settings.twilio_auth_token  # required by load_settings
    gateway = TwilioGateway(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        api_url=settings.twilio_api_url,
        timeout=settings.twilio_timeout_seconds,
    )
    try:
        status = gateway.account_status()
    except SmsError as error:
        yield Check("Twilio account", False, error.reason)  # the reason names Twilio's code
        yield Check("clinic senders", None)
        return
    yield Check("Twilio account", status == "active", f"{settings.twilio_account_sid} is {status}")
    if clinics is None:
        yield Check("clinic senders", None)
        return
    if not clinics:
        yield Check("clinic senders", True, "no clinics yet (mass-alert clinic add)")
    for clinic in clinics:
        yield _sender(gateway, clinic)


def _sender(gateway: TwilioGateway, clinic: Clinic) -> Check:
    name = f"sender of {clinic.name}"
    try:
        if clinic.messaging_service_sid:
            ok = gateway.has_messaging_service(clinic.messaging_service_sid)
            what = f"Messaging Service {clinic.messaging_service_sid}"
        else:
            number = clinic.sms_from or ""
            ok = gateway.owns_number(number)
            what = f"number {number}"
    except SmsError as error:
        return Check(name, False, error.reason)
    if ok:
        return Check(name, True, what)
    return Check(name, False, f"{what} is not in this Twilio account; fix it with `mass-alert clinic update`")


def _public_url(settings: Settings, clinics: list[Clinic] | None) -> Check:
    name = "PUBLIC_BASE_URL"
    if settings.public_base_url:
        return Check(name, True, settings.public_base_url)
    two_way = [c.name for c in clinics or () if c.two_way_texting]
    if two_way:
        return Check(
            name,
            False,
            f"unset, but {', '.join(two_way)} text two-way: Twilio needs it to deliver replies "
            "(/twilio/inbound) and status callbacks",
        )
    return Check(name, True, "unset: message statuses are polled from Twilio")
