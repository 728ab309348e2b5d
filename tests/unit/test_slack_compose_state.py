"""The compose modal's private_metadata and input parsing: what survives between Slack round trips."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.ids import ActionId, BlockId
from commands.compose_state import (
    METADATA_MAX,
    ComposeInput,
    ComposeMeta,
    ConfirmMeta,
    Counted,
    compose_clinic,
    field_block,
    resolve_range,
)
from sandbox.slack_requests import action, state_value
from services.errors import InvalidInput

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 9:00 AM in Chicago


def meta(**changes: object) -> ComposeMeta:
    base: dict[str, object] = dict(
        clinic_id=1,
        tz="America/Chicago",
        pace=12.0,
        channel_id="C0FRONT",
        choices=[(1, "Happy Paws, Downtown"), (2, "Happy Paws, Riverside")],
    )
    base.update(changes)
    return ComposeMeta(**base)  # type: ignore[arg-type]


def test_metadata_round_trips_every_field() -> None:
    original = meta(
        preset="custom",
        custom_start=datetime(2026, 12, 2, 15, tzinfo=UTC),
        custom_end=datetime(2026, 12, 3, 15, tzinfo=UTC),
        range_error="A range can be at most 7 days",
        counted=Counted(42, NOW, NOW, {"opted_out": 2, "no_mobile": 1}),
    )
    assert ComposeMeta.loads(original.dumps()) == original


def test_metadata_fits_slacks_limit_even_with_hundreds_of_clinics() -> None:
    many = meta(choices=[(i, f"Happy Paws clinic number {i} with a long name " * 3) for i in range(500)])
    text = many.dumps()
    assert len(text) <= METADATA_MAX
    kept = ComposeMeta.loads(text)
    assert kept.clinic_id == 1 and 0 < len(kept.choices) < 500


def test_inputs_are_read_from_state_and_the_fired_action_wins() -> None:
    view = {
        "state": {
            "values": {
                BlockId.RANGE: {ActionId.RANGE_SELECT: state_value("static_select", "rest-of-today")},
                BlockId.MESSAGE: {ActionId.MESSAGE_INPUT: state_value("plain_text_input", "Closing early")},
                BlockId.CUSTOM_START: {ActionId.CUSTOM_START: state_value("datetimepicker", 1_796_000_000)},
            }
        }
    }
    fired = action("static_select", ActionId.RANGE_SELECT, BlockId.RANGE, "today+2")
    typed = ComposeInput.from_view(view, fired)
    assert typed.preset == "today+2" and typed.message == "Closing early"
    assert typed.custom_start == datetime.fromtimestamp(1_796_000_000, UTC) and typed.custom_end is None


def test_a_picked_clinic_counts_only_when_it_was_offered() -> None:
    def body(picked: int) -> dict[str, object]:
        return {
            "view": {
                "private_metadata": meta().dumps(),
                "state": {
                    "values": {BlockId.CLINIC: {ActionId.CLINIC_SELECT: state_value("static_select", picked)}}
                },
            }
        }

    assert compose_clinic(body(2)) == 2
    assert compose_clinic(body(99)) == 1  # a value the modal never offered falls back to the modal's clinic


def test_an_incomplete_custom_range_waits_live_and_is_refused_at_review() -> None:
    waiting = meta(preset="custom", custom_start=datetime(2026, 12, 2, 15, tzinfo=UTC))
    assert resolve_range(waiting, NOW, strict=False) is None
    with pytest.raises(InvalidInput) as refused:
        resolve_range(waiting, NOW, strict=True)
    assert field_block(refused.value.field) == BlockId.CUSTOM_END


def test_confirm_metadata_keeps_the_reviewed_range_exactly() -> None:
    carried = ConfirmMeta(1, NOW.replace(microsecond=123456), NOW.replace(day=3), "Closing early", "C0FRONT")
    again = ConfirmMeta.loads(carried.dumps())
    assert again == carried and again.rng.start == carried.start


def test_the_urgent_checkbox_is_read_and_carried_to_send() -> None:
    checked = {"selected_options": [{"value": "urgent", "text": {"type": "plain_text", "text": "Urgent"}}]}
    view = {"state": {"values": {BlockId.URGENT: {ActionId.URGENT_CHECK: checked}}}}
    assert ComposeInput.from_view(view).urgent is True
    empty = {"state": {"values": {BlockId.URGENT: {ActionId.URGENT_CHECK: {"selected_options": []}}}}}
    assert ComposeInput.from_view(empty).urgent is False and ComposeInput.from_view({}).urgent is False
    carried = ConfirmMeta(1, NOW, NOW.replace(day=3), "Closing early", "C0FRONT", urgent=True)
    assert ConfirmMeta.loads(carried.dumps()).urgent is True
    assert ConfirmMeta.loads(replace(carried, urgent=False).dumps()).urgent is False
