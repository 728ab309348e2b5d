"""The compose modal's data, parsed once: private_metadata between steps and the inputs of a payload."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bot.ids import ActionId, BlockId, split_key, versioned
from bot.views.compose import URGENT_VALUE
from bot.views.models import CUSTOM_PRESET, DEFAULT_PRESET, RANGE_PRESETS
from services.errors import InvalidInput
from services.recipients import RecipientSummary
from services.timeranges import TimeRange, custom_range, preset_range

#: Slack's private_metadata limit.
METADATA_MAX = 3000
_PRESETS = {value for value, _ in RANGE_PRESETS}


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _instant(value: Any) -> datetime | None:
    return None if value in (None, "") else datetime.fromtimestamp(int(value), UTC)


@dataclass(frozen=True)
class Counted:
    """The last recount shown in the modal (kept so typing needs no database read)."""

    count: int
    first: datetime | None = None
    last: datetime | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, summary: RecipientSummary) -> Counted:
        """From the recipients service's summary."""
        return cls(
            summary.count,
            summary.first_appointment,
            summary.last_appointment,
            {str(reason): n for reason, n in summary.skipped_by_reason.items()},
        )


@dataclass(frozen=True)
class ComposeMeta:
    """What the compose modal carries in private_metadata between updates."""

    clinic_id: int
    tz: str
    pace: float
    channel_id: str | None = None
    choices: list[tuple[int, str]] = field(default_factory=list)
    preset: str = DEFAULT_PRESET
    custom_start: datetime | None = None
    custom_end: datetime | None = None
    counted: Counted | None = None
    range_error: str | None = None
    #: The clinic's templates (id, name) for the modal's picker, read when the clinic is chosen or one saved.
    templates: list[tuple[int, str]] = field(default_factory=list)
    #: Bumped when the server fills the message (a template picked, one saved): the message and template
    #: name inputs get new block ids, the only way Slack shows a new initial_value over typed text.
    version: int = 0

    def dumps(self) -> str:
        """Compact JSON within Slack's 3,000 characters (long clinic lists are shortened)."""
        counted = None
        if self.counted is not None:
            c = self.counted
            counted = [c.count, _epoch(c.first), _epoch(c.last), c.skipped]
        data: dict[str, Any] = {
            "k": self.clinic_id,
            "tz": self.tz,
            "pace": self.pace,
            "ch": self.channel_id,
            "p": self.preset,
            "cs": _epoch(self.custom_start),
            "ce": _epoch(self.custom_end),
            "n": counted,
            "e": self.range_error,
            "o": [[cid, name[:60]] for cid, name in self.choices],
            "t": [[tid, name] for tid, name in self.templates],
            "v": self.version,
        }
        text = json.dumps(data, separators=(",", ":"))
        while len(text) > METADATA_MAX and (data["o"] or data["t"]):
            key = "t" if len(data["t"]) >= len(data["o"]) else "o"
            data[key] = data[key][: len(data[key]) // 2]
            text = json.dumps(data, separators=(",", ":"))
        return text

    @classmethod
    def loads(cls, text: str) -> ComposeMeta:
        """Parse what `dumps` wrote."""
        data = json.loads(text)
        counted = None
        if data.get("n") is not None:
            count, first, last, skipped = data["n"]
            counted = Counted(count, _instant(first), _instant(last), dict(skipped))
        return cls(
            clinic_id=int(data["k"]),
            tz=data["tz"],
            pace=float(data["pace"]),
            channel_id=data.get("ch"),
            choices=[(int(cid), name) for cid, name in data.get("o") or []],
            preset=data.get("p") or DEFAULT_PRESET,
            custom_start=_instant(data.get("cs")),
            custom_end=_instant(data.get("ce")),
            counted=counted,
            range_error=data.get("e"),
            templates=[(int(tid), name) for tid, name in data.get("t") or []],
            version=int(data.get("v") or 0),
        )


@dataclass(frozen=True)
class ComposeInput:
    """What the person has chosen and typed, read from a view's state (and the action that just fired)."""

    clinic_id: int | None = None
    preset: str | None = None
    custom_start: datetime | None = None
    custom_end: datetime | None = None
    message: str = ""
    template_name: str = ""
    template_id: int | None = None
    #: "Send at": the picked start time; None sends now.
    send_at: datetime | None = None
    #: The urgent checkbox: sent through the clinic's sending window (quiet hours).
    urgent: bool = False

    @classmethod
    def from_view(cls, view: dict[str, Any], action: dict[str, Any] | None = None) -> ComposeInput:
        """Parse the inputs; the fired action's own value wins over a possibly older state."""
        values: dict[str, dict[str, Any]] = {
            block: dict(actions) for block, actions in ((view.get("state") or {}).get("values") or {}).items()
        }
        if action is not None and action.get("block_id") and action.get("action_id"):
            values.setdefault(action["block_id"], {})[action["action_id"]] = action

        def get(block: str, action_id: str) -> dict[str, Any]:
            return values.get(block, {}).get(action_id) or {}

        def latest(block: str, action_id: str) -> str:
            """An input whose block id carries the meta's version (`message:2`): the newest one's value."""
            found = sorted(
                (int(key or 0), acts[action_id].get("value") or "")
                for name, acts in values.items()
                for base, key in [split_key(name)]
                if base == block and action_id in acts and (key or "0").isdigit()
            )
            if found:
                return str(found[-1][1])
            # Not typed in since the server filled it: Slack shows (and submits) its initial_value.
            shown = [
                (b.get("element") or {}).get("initial_value") or ""
                for b in view.get("blocks") or []
                if split_key(b.get("block_id") or "")[0] == block
                and (b.get("element") or {}).get("action_id") == action_id
            ]
            return str(shown[-1]) if shown else ""

        template = (get(BlockId.TEMPLATE_PICK, ActionId.TEMPLATE_SELECT).get("selected_option") or {}).get(
            "value"
        )
        clinic = (get(BlockId.CLINIC, ActionId.CLINIC_SELECT).get("selected_option") or {}).get("value")
        preset = (get(BlockId.RANGE, ActionId.RANGE_SELECT).get("selected_option") or {}).get("value")
        return cls(
            clinic_id=int(clinic) if clinic and str(clinic).isdigit() else None,
            preset=preset if preset in _PRESETS else None,
            custom_start=_instant(get(BlockId.CUSTOM_START, ActionId.CUSTOM_START).get("selected_date_time")),
            custom_end=_instant(get(BlockId.CUSTOM_END, ActionId.CUSTOM_END).get("selected_date_time")),
            message=latest(BlockId.MESSAGE, ActionId.MESSAGE_INPUT),
            template_name=latest(BlockId.TEMPLATE_NAME, ActionId.TEMPLATE_NAME_INPUT),
            template_id=int(template) if template and str(template).isdigit() else None,
            send_at=_instant(get(BlockId.SEND_AT, ActionId.SEND_AT_PICKER).get("selected_date_time")),
            urgent=any(
                option.get("value") == URGENT_VALUE
                for option in get(BlockId.URGENT, ActionId.URGENT_CHECK).get("selected_options") or []
            ),
        )

    def over(self, meta: ComposeMeta) -> ComposeMeta:
        """The metadata with this input's range choices applied (the clinic is checked by the caller)."""
        return replace(
            meta,
            preset=self.preset or meta.preset,
            custom_start=self.custom_start or meta.custom_start,
            custom_end=self.custom_end or meta.custom_end,
        )


def compose_clinic(body: dict[str, Any]) -> int | None:
    """The clinic a compose payload is about: the picker's choice if it was offered, else the metadata's."""
    view = body.get("view") or {}
    meta = ComposeMeta.loads(view.get("private_metadata") or "{}") if view.get("private_metadata") else None
    if meta is None:
        return None
    picked = ComposeInput.from_view(view).clinic_id
    offered = {cid for cid, _ in meta.choices}
    return picked if picked is not None and picked in offered else meta.clinic_id


def field_block(field_name: str | None, version: int = 0) -> str:
    """The input block an InvalidInput's field belongs under (the message's carries the meta's version)."""
    return {
        "start": BlockId.CUSTOM_START,
        "end": BlockId.CUSTOM_END,
        "message": versioned(BlockId.MESSAGE, version),
        "name": versioned(BlockId.TEMPLATE_NAME, version),
    }.get(field_name or "", BlockId.RANGE)


def resolve_range(meta: ComposeMeta, now: datetime, *, strict: bool) -> TimeRange | None:
    """The range chosen; None while a custom range is incomplete (InvalidInput when `strict`)."""
    if meta.preset != CUSTOM_PRESET:
        return preset_range(meta.preset, meta.tz, now)
    if meta.custom_start is None or meta.custom_end is None:
        if not strict:
            return None
        missing = "start" if meta.custom_start is None else "end"
        raise InvalidInput(f"Pick the {missing} of the custom range.", field=missing)
    return custom_range(meta.custom_start, meta.custom_end, meta.tz, now)


@dataclass(frozen=True)
class ConfirmMeta:
    """What the confirmation view carries to the confirm step."""

    clinic_id: int
    start: datetime
    end: datetime
    message: str
    channel_id: str | None = None
    #: "Send at": when the alert starts (None: now).
    at: datetime | None = None
    #: Urgent: sent through the clinic's sending window.
    urgent: bool = False

    def dumps(self) -> str:
        """Compact JSON (the message is at most the clinic's limit, far below 3,000 characters)."""
        return json.dumps(
            {
                "k": self.clinic_id,
                "s": self.start.timestamp(),
                "e": self.end.timestamp(),
                "m": self.message,
                "ch": self.channel_id,
                "a": _epoch(self.at),
                "u": 1 if self.urgent else 0,
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> ConfirmMeta:
        """Parse what `dumps` wrote."""
        data = json.loads(text)
        return cls(
            int(data["k"]),
            datetime.fromtimestamp(data["s"], UTC),
            datetime.fromtimestamp(data["e"], UTC),
            data["m"],
            data.get("ch"),
            _instant(data.get("a")),
            bool(data.get("u")),
        )

    @property
    def rng(self) -> TimeRange:
        """The range the admin reviewed."""
        return TimeRange(self.start, self.end)


def confirm_clinic(body: dict[str, Any]) -> int | None:
    """The clinic a confirmation payload is about."""
    text = (body.get("view") or {}).get("private_metadata")
    return ConfirmMeta.loads(text).clinic_id if text else None
