"""The progress edit scheduler on a hand-set clock: latest state only, the budget per workspace, completions
first, Retry-After honoured (issue 12, item 10)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack_edits import EditBudget, EditScheduler, ProgressEdit

#: 6 edits per 10 s: a burst of 2, then 0.4 a second.
BUDGET = EditBudget(calls=6, window=10.0, burst=2, reserve=1)


@dataclass
class Ticker:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def edit(team: str = "T1", text: str = "1 of 9 sent") -> ProgressEdit:
    return ProgressEdit(team, text, [])


def test_only_the_latest_progress_of_a_message_is_sent() -> None:
    scheduler = EditScheduler(BUDGET, Ticker())
    for sent in range(1, 6):
        scheduler.offer(("C1", "1.1"), edit(text=f"{sent} of 9 sent"))
    step = scheduler.next_progress()
    assert not isinstance(step, float) and step is not None
    assert step[1].text == "5 of 9 sent"
    scheduler.in_flight.clear()
    assert scheduler.next_progress() is None  # the four older states were dropped


def test_progress_never_spends_the_reserve_and_waits_for_the_refill() -> None:
    clock = Ticker()
    scheduler = EditScheduler(BUDGET, clock)
    for n in range(5):
        scheduler.offer((f"C{n}", "1.1"), edit())
    assert not isinstance(scheduler.next_progress(), float)  # burst 2, reserve 1: one goes now
    wait = scheduler.next_progress()
    assert isinstance(wait, float) and abs(wait - 2.5) < 1e-9  # one token at 0.4/s
    clock.now += 2.5
    assert not isinstance(scheduler.next_progress(), float)


def test_no_window_sees_more_calls_than_the_budget() -> None:
    clock = Ticker()
    scheduler = EditScheduler(BUDGET, clock)
    times: list[float] = []
    for step in range(400):  # offers keep coming every 0.05 s for 20 s
        clock.now = 100.0 + step * 0.05
        scheduler.offer((f"C{step % 7}", "1.1"), edit())
        while not isinstance(got := scheduler.next_progress(), float) and got is not None:
            scheduler.in_flight.discard(got[0])
            times.append(clock.now)
        if step % 9 == 0 and scheduler.take_urgent("T1") == 0:
            times.append(clock.now)
    for start in times:
        assert len([t for t in times if start <= t < start + BUDGET.window]) <= BUDGET.calls


def test_a_completion_goes_before_waiting_progress_and_holds_it_back() -> None:
    clock = Ticker()
    scheduler = EditScheduler(BUDGET, clock)
    scheduler.offer(("C1", "1.1"), edit())
    scheduler.offer(("C2", "2.2"), edit())
    assert not isinstance(scheduler.next_progress(), float)  # progress took the one above the reserve
    assert scheduler.take_urgent("T1") == 0  # the reserve is the completion's at once
    scheduler.urgent = 1  # another completion is waiting for a token
    clock.now += 60
    assert isinstance(scheduler.next_progress(), float)  # progress waits for it, tokens or not
    scheduler.urgent = 0
    assert scheduler.take_urgent("T1") == 0


def test_a_finished_message_takes_no_more_progress() -> None:
    scheduler = EditScheduler(BUDGET, Ticker())
    scheduler.offer(("C1", "1.1"), edit())
    scheduler.finish(("C1", "1.1"))
    scheduler.offer(("C1", "1.1"), edit(text="a late progress"))
    assert scheduler.next_progress() is None


def test_retry_after_pauses_only_that_workspace() -> None:
    clock = Ticker()
    scheduler = EditScheduler(BUDGET, clock)
    scheduler.pause("T1", 7.0)
    scheduler.offer(("C1", "1.1"), edit("T1"))
    wait = scheduler.next_progress()
    assert isinstance(wait, float) and abs(wait - 7.0) < 1e-9
    assert scheduler.take_urgent("T1") > 0  # a completion waits out Retry-After too
    scheduler.offer(("C9", "9.9"), edit("T2"))
    step = scheduler.next_progress()
    assert not isinstance(step, float) and step is not None and step[0] == ("C9", "9.9")
    clock.now += 7.0
    step = scheduler.next_progress()
    assert not isinstance(step, float) and step is not None and step[0] == ("C1", "1.1")
