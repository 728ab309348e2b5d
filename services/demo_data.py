"""Demo clinics with realistic, deterministic data, including every hard case the alert flow must handle."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.clinics import add_clinic, add_user
from services.errors import InvalidInput
from services.models import Appointment, AppointmentStatus, Client, Clinic, Patient
from services.phones import normalize_phone
from services.sending_hours import DEFAULT_HOURS, SendingHours

UPTOWN = "Happy Paws, Uptown"
RIVERSIDE = "Happy Paws, Riverside"
STAFF_SLACK_USER = "U0DEMOSTAF"
UPTOWN_ADMIN_SLACK_USER = "U0DEMOUPTN"
#: Twilio test numbers that make a send fail: invalid number, not SMS capable, blocked.
FAILING_TEST_NUMBERS = ("+15005550001", "+15005550009", "+15005550004")
MIN_CLIENTS = 20
OPEN_AT = time(8, 0)
SLOTS_PER_DAY = 19  # 30-minute slots starting 08:00 .. 17:00, the last ending 17:30
DAYS_AHEAD = 30

_FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Ethan",
    "Harper",
    "Aiden",
    "Evelyn",
    "Jackson",
    "Abigail",
    "Kai",
    "Priya",
    "Wei",
    "Fatima",
    "Diego",
    "Chloe",
    "Omar",
    "Grace",
    "Hiro",
    "Zoe",
    "Andre",
]
_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Nguyen",
    "Patel",
    "Kim",
    "Chen",
    "O'Brien",
    "Kowalski",
    "Okafor",
    "Haddad",
    "Schmidt",
    "Rossi",
]
_PETS = [
    "Bella",
    "Max",
    "Luna",
    "Charlie",
    "Lucy",
    "Cooper",
    "Daisy",
    "Milo",
    "Bailey",
    "Rocky",
    "Sadie",
    "Tucker",
    "Molly",
    "Bear",
    "Stella",
    "Duke",
    "Zoey",
    "Oliver",
    "Penny",
    "Leo",
    "Coco",
    "Biscuit",
    "Mochi",
    "Pepper",
    "Ziggy",
    "Nala",
    "Simba",
    "Gizmo",
    "Willow",
    "Toby",
]
_AREA_CODES = ["312", "773", "872", "630", "847", "708", "224", "331", "779", "815"]
_PHONE_FORMATS = ["({a}) 555-01{n}", "{a}-555-01{n}", "+1 {a} 555 01{n}", "{a}.555.01{n}", "1{a}55501{n}"]


_Visit = tuple[int, int, str]  # (day offset from today, slot, status)
_Pet = tuple[str, bool, list[_Visit]]  # (name, deceased, visits)


@dataclass
class DemoSummary:
    """What the demo clinic holds, for a person about to try an alert."""

    clinic_id: int
    clinic_name: str
    timezone: str
    created: bool
    clients: int
    patients: int
    upcoming_appointments: int
    upcoming_clients: int
    per_day: list[tuple[date, int]]
    hard_cases: dict[str, int]
    other_clinics: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    """One client to create: who, which number, and each pet's appointments."""

    name: str
    phone: str | None
    pets: list[_Pet]
    opted_out_days_ago: int | None = None


def _slot_start(day: date, slot: int, zone: ZoneInfo) -> datetime:
    # Aware arithmetic on the same zone moves the wall clock, so 08:00 + n slots stays in business hours.
    return datetime.combine(day, OPEN_AT, tzinfo=zone) + timedelta(minutes=30 * slot)


def _status(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.06:
        return AppointmentStatus.CANCELLED.value
    if roll < 0.40:
        return AppointmentStatus.CONFIRMED.value
    return AppointmentStatus.SCHEDULED.value


def _regular_pets(rng: random.Random, soon: bool = False) -> list[_Pet]:
    pets = []
    for _ in range(rng.choices([1, 2, 3], weights=[70, 22, 8])[0]):
        visits = [
            (rng.randrange(3 if soon else DAYS_AHEAD), rng.randrange(SLOTS_PER_DAY), _status(rng))
            for _ in range(rng.choices([0, 1, 2], weights=[10, 72, 18])[0])
        ]
        if rng.random() < 0.25:  # a visit in the past two months
            past = "no_show" if rng.random() < 0.15 else "completed"
            visits.append((-rng.randrange(1, 60), rng.randrange(SLOTS_PER_DAY), past))
        pets.append((rng.choice(_PETS), False, visits))
    coming = any(day >= 1 and status != "cancelled" for _, _, visits in pets for day, _, status in visits)
    if soon and not coming:
        # A hard case must show up in an alert for the next few days.
        pets[0][2].append((rng.randrange(1, 4), rng.randrange(SLOTS_PER_DAY), "scheduled"))
    return pets


def _plans(rng: random.Random, count: int) -> list[_Plan]:
    """The Downtown clients: the hard cases first, then ordinary clients."""
    pool = [(a, f"{n:02d}") for a in _AREA_CODES for n in range(100)]
    rng.shuffle(pool)
    numbers = iter(pool)

    def person() -> str:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"

    def phone() -> str:
        area, last = next(numbers)
        return rng.choice(_PHONE_FORMATS).format(a=area, n=last)

    shared = phone()
    scheduled = AppointmentStatus.SCHEDULED.value
    plans = [
        _Plan("Maria Garcia", shared, _regular_pets(rng, soon=True)),
        _Plan("Luis Garcia", shared, _regular_pets(rng, soon=True)),
        *[_Plan(person(), number, _regular_pets(rng, soon=True)) for number in FAILING_TEST_NUMBERS],
        _Plan(person(), phone(), _regular_pets(rng, soon=True), opted_out_days_ago=12),
        _Plan(person(), phone(), _regular_pets(rng, soon=True), opted_out_days_ago=90),
        _Plan(person(), "555-01", _regular_pets(rng, soon=True)),
        _Plan(person(), "+44 20 7946 0000", _regular_pets(rng, soon=True)),
        _Plan(person(), "call after 5pm", _regular_pets(rng, soon=True)),
        _Plan(person(), None, _regular_pets(rng, soon=True)),
        # A deceased pet whose next appointment was never cancelled; the owner has no other pet.
        _Plan(person(), phone(), [("Shadow", True, [(2, 4, scheduled), (-20, 6, "completed")])]),
        # Several pets and several appointments, two of them on the same day.
        _Plan(
            person(),
            phone(),
            [
                ("Pickles", False, [(1, 2, "confirmed"), (1, 3, scheduled), (9, 5, scheduled)]),
                ("Noodle", False, [(1, 2, scheduled), (4, 10, "cancelled")]),
                ("Waffles", False, [(6, 14, scheduled), (-7, 1, "completed")]),
            ],
        ),
    ]
    while len(plans) < count:
        plans.append(_Plan(person(), phone(), _regular_pets(rng)))
    return plans[:count]


def _fill(session: Session, clinic: Clinic, plans: list[_Plan], prefix: str, now: datetime) -> None:
    """Write the planned clients, pets and appointments of one clinic."""
    zone = ZoneInfo(clinic.timezone)
    today = now.astimezone(zone).date()
    clients = []
    for index, plan in enumerate(plans, start=1):
        result = normalize_phone(plan.phone)
        opted_out = None if plan.opted_out_days_ago is None else now - timedelta(days=plan.opted_out_days_ago)
        clients.append(
            Client(
                clinic_id=clinic.id,
                external_id=f"{prefix}-C{index:05d}",
                full_name=plan.name,
                phone_raw=plan.phone,
                phone_e164=result.e164,
                phone_error=result.error,
                opted_out_at=opted_out,
            )
        )
    session.add_all(clients)
    session.flush()
    pets: list[tuple[Patient, list[tuple[int, int, str]]]] = []
    for client, plan in zip(clients, plans, strict=True):
        for name, deceased, visits in plan.pets:
            patient = Patient(
                clinic_id=clinic.id,
                client_id=client.id,
                name=name,
                deceased=deceased,
                external_id=f"{prefix}-P{len(pets) + 1:05d}",
            )
            pets.append((patient, visits))
    session.add_all([patient for patient, _ in pets])
    session.flush()
    appointments: list[Appointment] = []
    for patient, visits in pets:
        for day, slot, status in visits:
            start = _slot_start(today + timedelta(days=day), slot, zone)
            if start <= now and status not in ("completed", "no_show", "cancelled"):
                status = AppointmentStatus.COMPLETED.value  # earlier today: already seen
            appointments.append(
                Appointment(
                    clinic_id=clinic.id,
                    patient_id=patient.id,
                    client_id=patient.client_id,
                    external_id=f"{prefix}-A{len(appointments) + 1:06d}",
                    start_at=start,
                    end_at=start + timedelta(minutes=30),
                    status=status,
                    reason=None,
                )
            )
    session.add_all(appointments)
    session.flush()


def create_demo_clinic(
    session_factory: sessionmaker[Session],
    *,
    now: datetime,
    name: str = "Happy Paws, Downtown",
    timezone: str = "America/Chicago",
    clients: int = 300,
    seed: int = 7,
    slack_team_id: str = "T0DEMO0001",
    slack_channel_id: str = "C0DEMO0001",
    admin_slack_user_id: str = "U0DEMOADMN",
    sms_from: str = "+15005550006",
    sending_hours: SendingHours = DEFAULT_HOURS,
) -> DemoSummary:
    """Create the demo clinics (or leave them as they are when present) and summarise the main one.

    `sending_hours` is every demo clinic's sending window (the clinics' default, 08:00-21:00, unless
    given: `mass-alert demo` sends at any hour so that it runs whenever it is started)."""
    if now.tzinfo is None:
        raise InvalidInput("The demo needs an aware 'now' (with a time zone).")
    if clients < MIN_CLIENTS:
        raise InvalidInput(f"The demo clinic needs at least {MIN_CLIENTS} clients to hold every hard case.")
    created = False
    with session_factory() as session, session.begin():
        clinic = session.scalars(select(Clinic).where(func.lower(Clinic.name) == name.lower())).first()
        if clinic is None:
            created = True
            rng = random.Random(seed)
            clinic = add_clinic(
                session,
                name=name,
                timezone=timezone,
                sms_from=sms_from,
                two_way_texting=True,
                slack_team_id=slack_team_id,
                slack_channel_id=slack_channel_id,
                sending_hours=sending_hours,
            )
            add_user(
                session,
                clinic=clinic,
                full_name="Dr. Ana Lee",
                email="ana.lee@happypaws.example",
                role="admin",
                slack_user_id=admin_slack_user_id,
            )
            add_user(
                session,
                clinic=clinic,
                full_name="Sam Ortiz",
                email="sam.ortiz@happypaws.example",
                role="staff",
                slack_user_id=STAFF_SLACK_USER,
            )
            _fill(session, clinic, _plans(rng, clients), "DT", now)
            _add_sister_clinics(
                session, rng, now, timezone, slack_team_id, admin_slack_user_id, sms_from, sending_hours
            )
        clinic_id = clinic.id
    with session_factory() as session:
        return summarize_clinic(session, clinic_id, now, created=created)


def _add_sister_clinics(
    session: Session,
    rng: random.Random,
    now: datetime,
    timezone: str,
    team: str,
    admin_user: str,
    sms_from: str,
    sending_hours: SendingHours,
) -> None:
    """Uptown (two-way texting off) and Riverside (Dr. Ana Lee is admin there too)."""
    for sister, channel, two_way, prefix in (
        (UPTOWN, "C0DEMO0002", False, "UT"),
        (RIVERSIDE, "C0DEMO0003", True, "RS"),
    ):
        if session.scalars(select(Clinic.id).where(Clinic.name == sister)).first() is not None:
            continue
        clinic = add_clinic(
            session,
            name=sister,
            timezone=timezone,
            sms_from=sms_from,
            two_way_texting=two_way,
            slack_team_id=team,
            slack_channel_id=channel,
            sending_hours=sending_hours,
        )
        if two_way:
            add_user(
                session,
                clinic=clinic,
                full_name="Dr. Ana Lee",
                email="ana.lee@happypaws.example",
                role="admin",
                slack_user_id=admin_user,
            )
        else:
            add_user(
                session,
                clinic=clinic,
                full_name="Jordan Kim",
                email="jordan.kim@happypaws.example",
                role="admin",
                slack_user_id=UPTOWN_ADMIN_SLACK_USER,
            )
        pool = [f"({a}) 555-01{n:02d}" for a in ("217", "309", "618") for n in range(100)]
        numbers = rng.sample(pool, 20)
        plans = [
            _Plan(f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", number, _regular_pets(rng, soon=index < 5))
            for index, number in enumerate(numbers)
        ]
        _fill(session, clinic, plans, prefix, now)


def summarize_clinic(
    session: Session, clinic_id: int, now: datetime, *, created: bool = False
) -> DemoSummary:
    """Counts, upcoming appointments per local day for a week, and the hard cases present."""
    clinic = session.get(Clinic, clinic_id)
    if clinic is None:
        raise InvalidInput(f"There is no clinic with id {clinic_id}.")
    zone = ZoneInfo(clinic.timezone)
    live = Appointment.status != AppointmentStatus.CANCELLED.value
    in_clinic = Appointment.clinic_id == clinic_id
    ahead = Appointment.start_at >= now
    own_clients = Client.clinic_id == clinic_id

    def count(query: Select[Any]) -> int:
        return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)

    today = now.astimezone(zone).date()
    week_end = datetime.combine(today + timedelta(days=7), time(0), tzinfo=zone)
    starts = session.scalars(
        select(Appointment.start_at).where(in_clinic, live, ahead, Appointment.start_at < week_end)
    ).all()
    by_day = Counter(start.astimezone(zone).date() for start in starts)
    per_day = [(today + timedelta(days=n), by_day.get(today + timedelta(days=n), 0)) for n in range(7)]

    several = func.count() > 1
    hard_cases = {
        "clients with several pets": count(
            select(Patient.client_id)
            .where(Patient.clinic_id == clinic_id)
            .group_by(Patient.client_id)
            .having(several)
        ),
        "clients with several upcoming appointments": count(
            select(Appointment.client_id)
            .where(in_clinic, live, ahead)
            .group_by(Appointment.client_id)
            .having(several)
        ),
        "cancelled upcoming appointments": count(select(Appointment.id).where(in_clinic, ~live, ahead)),
        "past appointments": count(select(Appointment.id).where(in_clinic, Appointment.start_at < now)),
        "opted-out clients": count(select(Client.id).where(own_clients, Client.opted_out_at.is_not(None))),
        "unusable phone numbers (kept as given)": count(
            select(Client.id).where(own_clients, Client.phone_e164.is_(None))
        ),
        "phone numbers shared by several clients": count(
            select(Client.phone_e164)
            .where(own_clients, Client.phone_e164.is_not(None))
            .group_by(Client.phone_e164)
            .having(several)
        ),
        "deceased patients": count(
            select(Patient.id).where(Patient.clinic_id == clinic_id, Patient.deceased.is_(True))
        ),
        "Twilio test numbers that fail": count(
            select(Client.id).where(own_clients, Client.phone_e164.in_(FAILING_TEST_NUMBERS))
        ),
    }
    return DemoSummary(
        clinic_id=clinic.id,
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        created=created,
        clients=count(select(Client.id).where(own_clients)),
        patients=count(select(Patient.id).where(Patient.clinic_id == clinic_id)),
        upcoming_appointments=count(select(Appointment.id).where(in_clinic, live, ahead)),
        upcoming_clients=count(select(Appointment.client_id).where(in_clinic, live, ahead).distinct()),
        per_day=per_day,
        hard_cases=hard_cases,
        other_clinics=list(
            session.scalars(select(Clinic.name).where(Clinic.id != clinic_id).order_by(Clinic.name))
        ),
    )


def format_summary(summary: DemoSummary) -> str:
    """A short human summary: totals, a week of upcoming appointments in clinic time, the hard cases."""
    state = "created" if summary.created else "already present, left as it was"
    lines = [
        f"Demo clinic '{summary.clinic_name}' ({summary.timezone}): {state}",
        f"  {summary.clients} clients, {summary.patients} pets, {summary.upcoming_appointments} upcoming "
        f"appointments for {summary.upcoming_clients} clients",
        "",
        "  Upcoming appointments, next 7 days (clinic time):",
    ]
    for day, count in summary.per_day:
        lines.append(f"    {day.strftime('%a %Y-%m-%d')}  {count:>4}  {'#' * min(count, 50)}")
    lines += ["", "  Hard cases present:"]
    lines += [f"    {label:<42} {count:>4}" for label, count in summary.hard_cases.items()]
    if summary.other_clinics:
        lines += ["", "  Other clinics: " + "; ".join(summary.other_clinics)]
    return "\n".join(lines)
