"""`mass-alert clinic add|list|show|update`, `user add|list|update|remove`, `import FILE.csv` and `demo-data`:
a clinic's data and the operator's verbs (each change logged by services.clinics)."""

from __future__ import annotations

import argparse

from bot.runtime import Runtime, open_runtime
from services import db
from services.clinics import (
    CLINIC_FIELDS,
    add_clinic,
    add_user,
    find_clinic,
    find_user,
    list_clinics,
    list_users,
    remove_user,
    update_clinic,
    update_user,
)
from services.demo_data import MIN_CLIENTS, create_demo_clinic, format_summary
from services.errors import DomainError
from services.importer import ImportReport, import_csv
from services.models import ClinicUser
from services.sending_hours import DEFAULT_HOURS
from services.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clinic = subparsers.add_parser("clinic", help="add, list, show or update clinics")
    clinic_verbs = clinic.add_subparsers(dest="clinic_verb", metavar="ACTION", required=True)
    add = clinic_verbs.add_parser("add", help="add a clinic")
    add.add_argument("--name", required=True)
    add.add_argument("--timezone", required=True, help="IANA time zone, e.g. America/Chicago")
    _clinic_options(add, default=None)
    add.set_defaults(func=_clinic_add)
    listing = clinic_verbs.add_parser("list", help="list clinics")
    listing.set_defaults(func=_clinic_list)
    show = clinic_verbs.add_parser("show", help="every setting of one clinic and its users")
    show.add_argument("clinic", metavar="CLINIC", help="clinic name or id")
    show.set_defaults(func=_clinic_show)
    update = clinic_verbs.add_parser(
        "update",
        help="change a clinic's settings (only the options given)",
        description="Change only the options given; an empty value ('') clears an optional one, "
        "--pace default returns to ALERT_PACE_SECONDS.",
    )
    update.add_argument("clinic", metavar="CLINIC", help="clinic name or id")
    update.add_argument("--name", default=argparse.SUPPRESS)
    update.add_argument("--timezone", default=argparse.SUPPRESS, help="IANA time zone, e.g. America/Chicago")
    _clinic_options(update, default=argparse.SUPPRESS)
    update.set_defaults(func=_clinic_update)

    user = subparsers.add_parser("user", help="add, list, update or remove clinic users")
    user_verbs = user.add_subparsers(dest="user_verb", metavar="ACTION", required=True)
    user_add = user_verbs.add_parser("add", help="add a user to a clinic")
    user_add.add_argument("--clinic", required=True, help="clinic name or id")
    user_add.add_argument("--name", required=True)
    user_add.add_argument("--email", required=True)
    user_add.add_argument("--role", required=True, choices=["admin", "staff"], type=str.lower)
    user_add.add_argument("--slack-user", help="the user's Slack id (U...)")
    user_add.add_argument("--slack-team", help="the Slack workspace id (T...); default: the clinic's")
    user_add.set_defaults(func=_user_add)
    user_list = user_verbs.add_parser("list", help="list users (of one clinic with --clinic)")
    user_list.add_argument("--clinic", help="clinic name or id")
    user_list.set_defaults(func=_user_list)
    user_update = user_verbs.add_parser(
        "update",
        help="change a user's role, email, name or Slack link (only the options given)",
        description="Change only the options given; --slack-user '' unlinks the user from Slack.",
    )
    user_update.add_argument("user", metavar="USER", help="the user's email, Slack user id or id")
    user_update.add_argument("--clinic", required=True, help="clinic name or id")
    user_update.add_argument("--name", dest="full_name", default=argparse.SUPPRESS)
    user_update.add_argument("--email", default=argparse.SUPPRESS)
    user_update.add_argument("--role", choices=["admin", "staff"], type=str.lower, default=argparse.SUPPRESS)
    user_update.add_argument(
        "--slack-user", dest="slack_user_id", default=argparse.SUPPRESS, help="Slack user id (U...)"
    )
    user_update.add_argument(
        "--slack-team", dest="slack_team_id", default=argparse.SUPPRESS, help="Slack workspace id (T...)"
    )
    user_update.set_defaults(func=_user_update)
    user_remove = user_verbs.add_parser("remove", help="remove a user from a clinic")
    user_remove.add_argument("user", metavar="USER", help="the user's email, Slack user id or id")
    user_remove.add_argument("--clinic", required=True, help="clinic name or id")
    user_remove.set_defaults(func=_user_remove)

    load = subparsers.add_parser("import", help="import clients, pets and appointments from a CSV file")
    load.add_argument("file", metavar="FILE.csv")
    load.add_argument("--clinic", required=True, help="clinic name or id")
    load.add_argument(
        "--region", help="region for numbers without +country code (default DEFAULT_PHONE_REGION)"
    )
    load.add_argument(
        "--day-first",
        action="store_true",
        help="read dates such as 01/12/2026 as day/month/year (default: month/day/year)",
    )
    load.set_defaults(func=_import)

    demo = subparsers.add_parser("demo-data", help="create the demo clinics and print a summary")
    demo.add_argument(
        "--clients", type=int, default=300, help=f"clients in the main demo clinic (>= {MIN_CLIENTS})"
    )
    demo.set_defaults(func=_demo_data)


#: `clinic add` / `clinic update` option -> services.clinics keyword.
CLINIC_OPTIONS = {
    "name": "name",
    "timezone": "timezone",
    "sender": "sms_from",
    "messaging_service": "messaging_service_sid",
    "pace": "alert_pace_seconds",
    "two_way_texting": "two_way_texting",
    "slack_team": "slack_team_id",
    "slack_channel": "slack_channel_id",
    "slack_enterprise": "slack_enterprise_id",
    "contact_phone": "contact_phone",
    "sending_hours": "sending_hours",
}


def _pace(value: str) -> float | None:
    """Seconds between alert texts; "default" (or "") for ALERT_PACE_SECONDS."""
    if value.strip().lower() in ("", "default"):
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None


def _clinic_options(parser: argparse.ArgumentParser, default: object) -> None:
    """The clinic settings shared by `clinic add` and `clinic update` (`default` SUPPRESS: only given)."""
    parser.add_argument("--sender", default=default, help="the clinic's texting number, e.g. +13125550100")
    parser.add_argument("--messaging-service", default=default, help="a Twilio Messaging Service SID (MG...)")
    parser.add_argument(
        "--pace",
        type=_pace,
        default=default,
        help="seconds between alert texts (default from ALERT_PACE_SECONDS)",
    )
    parser.add_argument(
        "--two-way-texting",
        action=argparse.BooleanOptionalAction,
        default=True if default is None else default,
        help="whether the clinic has two-way texting (alerts need it; default on)",
    )
    parser.add_argument("--slack-team", default=default, help="the Slack workspace id (T...)")
    parser.add_argument(
        "--slack-channel", default=default, help="the Slack channel for alert activity (C...)"
    )
    parser.add_argument(
        "--slack-enterprise",
        default=default,
        help="OAuth mode, Enterprise Grid org-wide install: the organization id (E...)",
    )
    parser.add_argument("--contact-phone", default=default, help="the clinic's phone number for clients")
    parser.add_argument(
        "--sending-hours",
        default=DEFAULT_HOURS.label() if default is None else default,
        metavar="HH:MM-HH:MM",
        help="the window alert texts go in, in each client's time zone (default 08:00-21:00; an end before "
        "the start spans midnight; 00:00-24:00 sends at any hour)",
    )


def _clinic_add(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        with db.transaction(runtime.sessions) as session:
            clinic = add_clinic(
                session,
                name=args.name,
                timezone=args.timezone,
                sms_from=args.sender,
                messaging_service_sid=args.messaging_service,
                alert_pace_seconds=args.pace,
                two_way_texting=args.two_way_texting,
                slack_team_id=args.slack_team,
                slack_channel_id=args.slack_channel,
                contact_phone=args.contact_phone,
                region=runtime.settings.default_region,
                slack_enterprise_id=args.slack_enterprise,
                sending_hours=args.sending_hours,
            )
            print(
                f"added clinic {clinic.id}: {clinic.name} ({clinic.timezone}), sender "
                f"{clinic.messaging_service_sid or clinic.sms_from}, two-way texting "
                f"{'on' if clinic.two_way_texting else 'off'}, sending hours {clinic.sending_hours}"
            )
    finally:
        runtime.close()
    return 0


def _clinic_list(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        with runtime.sessions() as session:
            clinics = list_clinics(session)
            if not clinics:
                print(
                    "no clinics yet; add one with: "
                    "mass-alert clinic add --name ... --timezone ... --sender ..."
                )
            for clinic in clinics:
                pace = clinic.alert_pace_seconds
                if pace is None:
                    pace_text = f"{runtime.settings.alert_pace_seconds:g} s (default)"
                else:
                    pace_text = f"{pace:g} s"
                sender = clinic.messaging_service_sid or clinic.sms_from
                two_way = "on" if clinic.two_way_texting else "off"
                print(
                    f"{clinic.id:>4}  {clinic.name}  |  {clinic.timezone}  |  sender {sender}  |  "
                    f"pace {pace_text}  |  sending hours {clinic.sending_hours}  |  "
                    f"two-way texting {two_way}  |  {len(clinic.users)} user(s)"
                )
    finally:
        runtime.close()
    return 0


def _clinic_show(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        with runtime.sessions() as session:
            clinic = find_clinic(session, args.clinic)
            pace = clinic.alert_pace_seconds
            rows = [
                ("id", str(clinic.id)),
                ("name", clinic.name),
                ("time zone", clinic.timezone),
                ("sender number", clinic.sms_from or "-"),
                ("messaging service", clinic.messaging_service_sid or "-"),
                (
                    "pace",
                    f"{runtime.settings.alert_pace_seconds:g} s (default)" if pace is None else f"{pace:g} s",
                ),
                ("sending hours", f"{clinic.sending_hours} (each client's time zone)"),
                ("two-way texting", "on" if clinic.two_way_texting else "off"),
                ("Slack workspace", clinic.slack_team_id or "-"),
                ("Slack channel", clinic.slack_channel_id or "-"),
                ("contact phone", clinic.contact_phone or "-"),
            ]
            for label, value in rows:
                print(f"{label + ':':<19} {value}")
            users = list_users(session, clinic)
            print(f"{'users:':<19} {len(users)}")
            for user in users:
                print("  " + _user_line(user))
    finally:
        runtime.close()
    return 0


def _clinic_update(args: argparse.Namespace) -> int:
    changes = {
        field: getattr(args, option) for option, field in CLINIC_OPTIONS.items() if hasattr(args, option)
    }
    if not changes:
        raise DomainError(
            "Nothing to change: give at least one option (see mass-alert clinic update --help)."
        )
    runtime = open_runtime()
    try:
        with db.transaction(runtime.sessions) as session:
            clinic = find_clinic(session, args.clinic)
            before = {field: getattr(clinic, field) for field in CLINIC_FIELDS}
            update_clinic(session, clinic, region=runtime.settings.default_region, **changes)
            changed = [field for field in CLINIC_FIELDS if getattr(clinic, field) != before[field]]
            described = (
                ", ".join(f"{field} {getattr(clinic, field)}" for field in changed) or "nothing changed"
            )
            print(f"updated clinic {clinic.id} ({clinic.name}): {described}")
    finally:
        runtime.close()
    return 0


def _user_line(user: ClinicUser) -> str:
    link = f"Slack {user.slack_team_id}/{user.slack_user_id}" if user.slack_user_id else "not linked to Slack"
    return f"{user.id:>4}  {user.full_name} <{user.email}>  |  {user.role}  |  {link}"


def _user_list(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        with runtime.sessions() as session:
            clinic = find_clinic(session, args.clinic) if args.clinic else None
            users = list_users(session, clinic)
            if not users:
                print("no users yet; add one with: mass-alert user add --clinic ... --name ... --email ...")
            current = None
            for user in users:
                if user.clinic.name != current:
                    current = user.clinic.name
                    print(f"{current}:")
                print("  " + _user_line(user))
    finally:
        runtime.close()
    return 0


def _user_update(args: argparse.Namespace) -> int:
    fields = ("full_name", "email", "role", "slack_user_id", "slack_team_id")
    changes = {field: getattr(args, field) for field in fields if hasattr(args, field)}
    if not changes:
        raise DomainError("Nothing to change: give at least one option (see mass-alert user update --help).")
    runtime = open_runtime()
    try:
        with db.transaction(runtime.sessions) as session:
            user = find_user(session, find_clinic(session, args.clinic), args.user)
            changed = update_user(session, user, **changes)
            print(f"updated {user.full_name} <{user.email}>: " + (", ".join(changed) or "nothing changed"))
            print("  " + _user_line(user))
    finally:
        runtime.close()
    return 0


def _user_remove(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        with db.transaction(runtime.sessions) as session:
            clinic = find_clinic(session, args.clinic)
            user = find_user(session, clinic, args.user)
            name, email = user.full_name, user.email
            remove_user(session, user)
            print(f"removed {name} <{email}> from {clinic.name}")
    finally:
        runtime.close()
    return 0


def _user_add(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        with db.transaction(runtime.sessions) as session:
            clinic = find_clinic(session, args.clinic)
            user = add_user(
                session,
                clinic=clinic,
                full_name=args.name,
                email=args.email,
                role=args.role,
                slack_user_id=args.slack_user,
                slack_team_id=args.slack_team,
            )
            link = f", Slack {user.slack_team_id}/{user.slack_user_id}" if user.slack_user_id else ""
            print(f"added {user.role} {user.full_name} <{user.email}> to {clinic.name}{link}")
    finally:
        runtime.close()
    return 0


#: `mass-alert import` exit status when some rows were refused (the others were imported). A file
#: refused whole exits 1 like every other refused command; a file imported whole exits 0.
EXIT_ROWS_REFUSED = 3


def print_import_report(report: ImportReport, clinic_name: str) -> None:
    """Rows created, updated, unchanged and refused, counts per kind, then every row-level problem."""
    rows = report.appointments  # one appointment per imported row
    if report.rows_read and report.rows_refused == report.rows_read:
        print(f"nothing was imported into {clinic_name}: all {report.rows_read} row(s) were refused")
    elif report.rows_read == 0:
        print(f"nothing was imported into {clinic_name}: the file has a header and no rows")
    print(
        f"{report.rows_read} row(s) read for {clinic_name}: {rows.created} created, {rows.updated} updated, "
        f"{rows.unchanged} unchanged, {report.rows_refused} refused"
    )
    for label, counts in (
        ("clients", report.clients),
        ("pets", report.patients),
        ("appointments", report.appointments),
    ):
        print(
            f"  {label:<13} {counts.created:>7} created {counts.updated:>7} updated "
            f"{counts.unchanged:>7} unchanged"
        )
    if report.ignored_columns:
        print("  ignored extra column(s): " + ", ".join(report.ignored_columns))
    if report.phone_notes:
        print(f"{len(report.phone_notes)} phone number(s) read with a note:")
        for noted in report.phone_notes:
            print(f"  line {noted.line}: client {noted.client_external_id}: '{noted.raw}': {noted.note}")
    if report.flagged_phones:
        print(f"{len(report.flagged_phones)} client(s) have a number that cannot be texted (kept as given):")
        for flagged in report.flagged_phones:
            print(f"  line {flagged.line}: client {flagged.client_external_id}: {flagged.reason}")
    if report.bad_rows:
        print(f"{len(report.bad_rows)} row(s) refused, not imported:")
        for bad in report.bad_rows:
            print(f"  line {bad.line}: {bad.reason}")


def _import(args: argparse.Namespace) -> int:
    """Exit status 0 when every row was imported, 3 when some were refused, 1 (raised) when the file was."""
    runtime = open_runtime()
    try:
        with runtime.sessions() as session:
            clinic = find_clinic(session, args.clinic)
        region = (args.region or runtime.settings.default_region).upper()
        report = import_csv(runtime.sessions, clinic.id, args.file, region=region, day_first=args.day_first)
        print_import_report(report, clinic.name)
    finally:
        runtime.close()
    return EXIT_ROWS_REFUSED if report.rows_refused else 0


def _demo_data(args: argparse.Namespace) -> int:
    settings = load_settings()
    db.upgrade(settings.database_url)
    runtime: Runtime = open_runtime(settings=settings)
    try:
        summary = create_demo_clinic(runtime.sessions, now=runtime.clock.now(), clients=args.clients)
        print(format_summary(summary))
    finally:
        runtime.close()
    return 0
