"""Test data builders for clinics, clients, pets and appointments (real rows, no fakes needed)."""

from __future__ import annotations

from datetime import datetime
from itertools import count

from sqlalchemy.orm import Session

from services.models import Appointment, AppointmentStatus, Client, Clinic, ClinicUser, Patient, Role

_ids = count(1)


class Builder:
    """Adds rows through one session and flushes so ids are known at once."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def clinic(self, name: str = "Happy Paws", tz: str = "America/Chicago", **kwargs: object) -> Clinic:
        """A clinic (two-way texting on unless told otherwise), sending at any hour unless given
        `sending_hours_start`/`_end`: tests run at every hour (the product's default is 08:00-21:00)."""
        kwargs.setdefault("sending_hours_start", 0)
        kwargs.setdefault("sending_hours_end", 24 * 60)
        clinic = Clinic(name=name, timezone=tz, **kwargs)
        self.session.add(clinic)
        self.session.flush()
        return clinic

    def user(
        self, clinic: Clinic, email: str, role: str = Role.ADMIN, name: str = "Ana Lee", **kwargs: object
    ) -> ClinicUser:
        """A clinic user."""
        user = ClinicUser(clinic_id=clinic.id, full_name=name, email=email, role=role, **kwargs)
        self.session.add(user)
        self.session.flush()
        return user

    def client(
        self,
        clinic: Clinic,
        name: str,
        phone: str | None = "+15555550100",
        *,
        raw: str | None = None,
        error: str | None = None,
        opted_out_at: datetime | None = None,
    ) -> Client:
        """A client; `phone` is the parsed E.164 number (None when unusable), `raw` what was on file."""
        client = Client(
            clinic_id=clinic.id,
            external_id=f"c{next(_ids)}",
            full_name=name,
            phone_raw=raw if raw is not None else phone,
            phone_e164=phone,
            phone_error=error,
            opted_out_at=opted_out_at,
        )
        self.session.add(client)
        self.session.flush()
        return client

    def pet(self, client: Client, name: str = "Max", deceased: bool = False) -> Patient:
        """A patient of `client`."""
        patient = Patient(
            clinic_id=client.clinic_id,
            client_id=client.id,
            external_id=f"p{next(_ids)}",
            name=name,
            deceased=deceased,
        )
        self.session.add(patient)
        self.session.flush()
        return patient

    def visit(
        self, pet: Patient, start_at: datetime, status: str = AppointmentStatus.SCHEDULED
    ) -> Appointment:
        """An appointment of `pet` starting at `start_at`."""
        appointment = Appointment(
            clinic_id=pet.clinic_id,
            client_id=pet.client_id,
            patient_id=pet.id,
            external_id=f"a{next(_ids)}",
            start_at=start_at,
            status=status,
        )
        self.session.add(appointment)
        self.session.flush()
        return appointment
