"""What the Slack listeners and notifiers share: built once by the composition root, passed in."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from services.clock import Clock
from services.settings import Settings


@dataclass
class AppContext:
    """Settings, the database, the clock and the Slack Web API client of this process."""

    settings: Settings
    sessions: sessionmaker[Session]
    clock: Clock
    client: WebClient
