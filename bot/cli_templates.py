"""`mass-alert template add|list|remove --clinic C`: a clinic's message templates."""

from __future__ import annotations

import argparse

from bot.container import AppContext
from bot.runtime import open_runtime
from services import templates
from services.clinics import find_clinic
from services.merge_fields import FIELDS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "template",
        help="add, list or remove a clinic's message templates",
        description="A clinic's named messages, picked in the compose modal to fill the message. "
        "Merge fields: " + ", ".join("{" + name + "}" for name in FIELDS) + ".",
    )
    verbs = parser.add_subparsers(dest="template_verb", metavar="add|list|remove", required=True)
    add = verbs.add_parser("add", help="save a template")
    add.add_argument("--clinic", required=True, help="the clinic's name or numeric id")
    add.add_argument(
        "--name", required=True, help=f"the template's name (up to {templates.NAME_MAX} characters)"
    )
    add.add_argument(
        "--text", required=True, help="the message; merge fields such as {client_first_name} allowed"
    )
    add.set_defaults(func=_add)
    listing = verbs.add_parser("list", help="list the clinic's templates")
    listing.add_argument("--clinic", required=True, help="the clinic's name or numeric id")
    listing.set_defaults(func=_list)
    remove = verbs.add_parser("remove", help="delete a template by name")
    remove.add_argument("--clinic", required=True, help="the clinic's name or numeric id")
    remove.add_argument("--name", required=True, help="the template's name")
    remove.set_defaults(func=_remove)


def _clinic(runtime: AppContext, ref: str) -> tuple[int, str]:
    """The clinic's id and name (NotFound when there is none by that name or id)."""
    with runtime.sessions() as session:
        clinic = find_clinic(session, ref)
        return clinic.id, clinic.name


def _add(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        clinic_id, clinic_name = _clinic(runtime, args.clinic)
        saved = templates.add_template(
            runtime.sessions, clinic_id, args.name, args.text, by_name="command line", now=runtime.clock.now()
        )
    finally:
        runtime.close()
    print(f"Template “{saved.name}” saved for {clinic_name}.")
    return 0


def _list(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        clinic_id, clinic_name = _clinic(runtime, args.clinic)
        found = templates.list_templates(runtime.sessions, clinic_id)
    finally:
        runtime.close()
    if not found:
        print(f"{clinic_name} has no templates.")
        return 0
    for template in found:
        print(f"{template.name}: {template.text}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    runtime = open_runtime()
    try:
        clinic_id, clinic_name = _clinic(runtime, args.clinic)
        templates.remove_template(runtime.sessions, clinic_id, args.name)
    finally:
        runtime.close()
    print(f"Template “{args.name}” removed from {clinic_name}.")
    return 0
