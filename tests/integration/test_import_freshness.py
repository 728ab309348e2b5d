"""How fresh the appointments are: each import records its time, and the compose modal says it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.views.compose import compose_view
from bot.views.models import ComposeState
from services import db
from services.clinics import add_clinic
from services.compose import clinic_facts
from services.errors import InvalidInput
from services.importer import COLUMNS, import_csv
from tests.blockkit import all_text

TZ = "America/Chicago"


@pytest.fixture
def clinic_id(sessions: sessionmaker[Session]) -> int:
    with db.transaction(sessions) as session:
        return add_clinic(session, name="Happy Paws", timezone=TZ, sms_from="+13125550100").id


def test_an_import_records_when_and_a_refused_file_does_not(
    sessions: sessionmaker[Session], clinic_id: int, tmp_path: Path
) -> None:
    assert clinic_facts(sessions, clinic_id, 12.0).appointments_as_of is None
    good = tmp_path / "export.csv"
    good.write_text(
        ",".join(COLUMNS) + "\nC1,Ann Smith,(312) 555-0101,P1,Rex,A1,2026-12-02T09:00,,\n", encoding="utf-8"
    )
    before = datetime.now(UTC)
    import_csv(sessions, clinic_id, good)
    after = datetime.now(UTC)
    stamped = clinic_facts(sessions, clinic_id, 12.0).appointments_as_of
    assert stamped is not None and before <= stamped <= after
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(
        (",".join(COLUMNS) + "\nC2,Zoë,(312) 555-0102,P2,Rex,A2,2026-12-02T10:00,,\n").encode("latin-1")
    )
    with pytest.raises(InvalidInput):
        import_csv(sessions, clinic_id, bad)
    assert clinic_facts(sessions, clinic_id, 12.0).appointments_as_of == stamped


def modal_text(imported: datetime | None, now: datetime) -> str:
    state = ComposeState(tz=TZ, clinic_id=1, recipients=3, as_of=now, appointments_as_of=imported)
    return all_text(compose_view(state))


def test_the_compose_modal_says_when_appointments_were_imported_in_clinic_time() -> None:
    now = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)  # noon in Chicago
    imported = datetime(2026, 12, 2, 13, 2, tzinfo=UTC)  # 7:02 AM in Chicago
    assert "appointments as of 7:02 AM" in modal_text(imported, now)
    assert "appointments as of Tue 1 Dec 7:02 AM" in modal_text(imported - timedelta(days=1), now)
    assert "appointments as of" not in modal_text(None, now)
