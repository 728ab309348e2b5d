"""A clinic's message templates: named texts (merge fields allowed) that fill the compose modal's message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services import merge_fields
from services.errors import InvalidInput, NotFound
from services.models import AlertTemplate

#: A name fits a Slack static select option's text (75 characters).
NAME_MAX = 75
#: Twilio refuses a message body over 1,600 characters (error 21617).
TEXT_MAX = 1600


@dataclass(frozen=True)
class Template:
    """One stored template."""

    id: int
    name: str
    text: str


def check_template(name: str, text: str) -> tuple[str, str]:
    """The name and text trimmed; InvalidInput (field "name" or "message") when empty, too long, or naming
    an unknown merge field."""
    name, text = " ".join(name.split()), text.strip()
    if not name:
        raise InvalidInput("Give the template a name.", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"A template name can be at most {NAME_MAX} characters.", field="name")
    if not text:
        raise InvalidInput("Type the message to save as a template.", field="message")
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"A template can be at most {TEXT_MAX:,} characters.", field="message")
    merge_fields.check_fields(text)
    return name, text


def add_template(
    sessions: sessionmaker[Session], clinic_id: int, name: str, text: str, *, by_name: str, now: datetime
) -> Template:
    """Store a new template; InvalidInput (field "name") when the clinic already has one by that name."""
    name, text = check_template(name, text)
    taken = InvalidInput(f"This clinic already has a template named “{name}”.", field="name")
    try:
        with sessions() as session, session.begin():
            if _named(session, clinic_id, name) is not None:
                raise taken
            row = AlertTemplate(
                clinic_id=clinic_id, name=name, text=text, created_by_name=by_name, created_at=now
            )
            session.add(row)
            session.flush()
            return Template(row.id, row.name, row.text)
    except IntegrityError:  # the same name saved twice at once
        raise taken from None


def _named(session: Session, clinic_id: int, name: str) -> AlertTemplate | None:
    return session.scalars(
        select(AlertTemplate).where(AlertTemplate.clinic_id == clinic_id, AlertTemplate.name == name)
    ).first()


def list_templates(sessions: sessionmaker[Session], clinic_id: int) -> list[Template]:
    """The clinic's templates by name."""
    with sessions() as session:
        rows = session.scalars(
            select(AlertTemplate).where(AlertTemplate.clinic_id == clinic_id).order_by(AlertTemplate.name)
        )
        return [Template(r.id, r.name, r.text) for r in rows]


def get_template(sessions: sessionmaker[Session], clinic_id: int, template_id: int) -> Template:
    """One template of this clinic (NotFound for another clinic's or a removed one)."""
    with sessions() as session:
        row = session.get(AlertTemplate, template_id)
        if row is None or row.clinic_id != clinic_id:
            raise NotFound("That template was removed; pick another.")
        return Template(row.id, row.name, row.text)


def remove_template(sessions: sessionmaker[Session], clinic_id: int, name: str) -> None:
    """Delete the clinic's template by name (NotFound when it has none by that name)."""
    with sessions() as session, session.begin():
        found = session.execute(
            delete(AlertTemplate).where(
                AlertTemplate.clinic_id == clinic_id, AlertTemplate.name == " ".join(name.split())
            )
        )
        if not found.rowcount:  # type: ignore[attr-defined]  # CursorResult of a DELETE has rowcount
            raise NotFound(f"No template named “{name}”.")
