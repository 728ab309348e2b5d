"""`mass-alert clinic add|list`, `user add`, `import FILE.csv` and `demo-data`: loading a clinic's data."""

from __future__ import annotations

import argparse

from bot.runtime import Runtime, open_runtime
from services import db
from services.clinics import add_clinic, add_user, find_clinic, list_clinics
from services.demo_data import MIN_CLIENTS, create_demo_clinic, format_summary
from services.importer import ImportReport, import_csv
from services.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clinic = subparsers.add_parser("clinic", help="add or list clinics")
    clinic_verbs = clinic.add_subparsers(dest="clinic_verb", metavar="ACTION", required=True)
    add = clinic_verbs.add_parser("add", help="add a clinic")
    add.add_argument("--name", required=True)
    add.add_argument("--timezone", required=True, help="IANA time zone, e.g. America/Chicago")
    add.add_argument("--sender", help="the clinic's texting number, e.g. +13125550100")
    add.add_argument("--messaging-service", help="a Twilio Messaging Service SID (MG...)")
    add.add_argument(
        "--pace", type=float, help="seconds between alert texts (default from ALERT_PACE_SECONDS)"
    )
    add.add_argument(
        "--two-way-texting",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="whether the clinic has two-way texting (alerts need it; default on)",
    )
    add.add_argument("--slack-team", help="the Slack workspace id (T...)")
    add.add_argument("--slack-channel", help="the Slack channel for alert activity (C...)")
    add.add_argument(
        "--slack-enterprise", help="OAuth mode, Enterprise Grid org-wide install: the organization id (E...)"
    )
    add.add_argument("--contact-phone", help="the clinic's phone number for clients")
    add.set_defaults(func=_clinic_add)
    listing = clinic_verbs.add_parser("list", help="list clinics")
    listing.set_defaults(func=_clinic_list)

    user = subparsers.add_parser("user", help="add clinic users")
    user_verbs = user.add_subparsers(dest="user_verb", metavar="ACTION", required=True)
    user_add = user_verbs.add_parser("add", help="add a user to a clinic")
    user_add.add_argument("--clinic", required=True, help="clinic name or id")
    user_add.add_argument("--name", required=True)
    user_add.add_argument("--email", required=True)
    user_add.add_argument("--role", required=True, choices=["admin", "staff"], type=str.lower)
    user_add.add_argument("--slack-user", help="the user's Slack id (U...)")
    user_add.add_argument("--slack-team", help="the Slack workspace id (T...); default: the clinic's")
    user_add.set_defaults(func=_user_add)

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
            )
            print(
                f"added clinic {clinic.id}: {clinic.name} ({clinic.timezone}), sender "
                f"{clinic.messaging_service_sid or clinic.sms_from}, two-way texting "
                f"{'on' if clinic.two_way_texting else 'off'}"
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
                    f"pace {pace_text}  |  two-way texting {two_way}  |  {len(clinic.users)} user(s)"
                )
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
