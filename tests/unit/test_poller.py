"""The single poll scheduler: order, intervals, cancellation, many sessions."""

from __future__ import annotations

import asyncio

import pytest

from bot.google.quota import PickerQuota
from bot.poller import AHEAD, BATCH, POLLS_IN_FLIGHT, Poller, first_delays


async def by_id(session_ids: list[int]) -> dict[int, int]:
    """Sessions that are their own ids: every one is found."""
    return {session_id: session_id for session_id in session_ids}


async def test_polls_each_session_at_its_own_interval_until_told_to_stop() -> None:
    loop = asyncio.get_running_loop()
    seen: dict[int, list[float]] = {1: [], 2: []}
    done = asyncio.Event()

    async def poll(session_id: int) -> float | None:
        seen[session_id].append(loop.time())
        if len(seen[1]) >= 4 and len(seen[2]) >= 2:
            done.set()
        if len(seen[session_id]) >= (4 if session_id == 1 else 2):
            return None
        return 0.02 if session_id == 1 else 0.05

    poller = Poller(by_id, poll)
    poller.start()
    poller.schedule(1, 0)
    poller.schedule(2, 0)
    await asyncio.wait_for(done.wait(), 5)
    await poller.stop()
    gaps1 = [b - a for a, b in zip(seen[1], seen[1][1:], strict=False)]
    assert len(seen[1]) == 4 and all(gap >= 0.02 for gap in gaps1)
    assert len(seen[2]) == 2 and seen[2][1] - seen[2][0] >= 0.05
    assert poller.scheduled == 0


async def test_unscheduled_session_is_not_polled() -> None:
    polled: list[int] = []
    second = asyncio.Event()

    async def poll(session_id: int) -> float | None:
        polled.append(session_id)
        if session_id == 2:
            second.set()
        return None

    poller = Poller(by_id, poll)
    poller.start()
    poller.schedule(1, 0.05)
    poller.unschedule(1)
    poller.schedule(2, 0.1)
    await asyncio.wait_for(second.wait(), 5)
    await poller.stop()
    assert polled == [2]


async def test_a_failing_poll_does_not_stop_the_others() -> None:
    polled: list[int] = []
    ok = asyncio.Event()

    async def poll(session_id: int) -> float | None:
        polled.append(session_id)
        if session_id == 1:
            raise RuntimeError("boom")
        ok.set()
        return None

    poller = Poller(by_id, poll)
    poller.start()
    poller.schedule(1, 0)
    poller.schedule(2, 0.01)
    await asyncio.wait_for(ok.wait(), 5)
    await poller.stop()
    assert sorted(polled) == [1, 2]


async def test_a_poll_that_failed_is_tried_again_later() -> None:
    attempts: list[int] = []
    again = asyncio.Event()

    async def poll(session_id: int) -> float | None:
        attempts.append(session_id)
        if len(attempts) == 1:
            raise ConnectionError("the database went away for a moment")
        again.set()
        return None

    poller = Poller(by_id, poll, retry_after=0.01)
    poller.start()
    poller.schedule(1, 0)
    await asyncio.wait_for(again.wait(), 5)
    await poller.stop()
    assert attempts == [1, 1]


@pytest.mark.parametrize("again_after", [0.0, 0.05], ids=["due-during-the-poll", "due-after-it"])
async def test_a_schedule_made_while_its_poll_is_under_way_keeps_that_polls_interval(again_after: float) -> None:
    """A pick being started as the lease keeper adopts it is scheduled twice: whether that second due time comes
    while the poll under way still waits for Google (it is skipped then) or after it, the next poll comes once, the
    poll's interval after its answer."""
    loop = asyncio.get_running_loop()
    polls: list[float] = []
    answered: list[float] = []
    under_way, answer, next_poll = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def poll(session_id: int) -> float | None:
        polls.append(loop.time())
        if len(polls) > 1:
            next_poll.set()
            return None
        under_way.set()
        await answer.wait()  # Google is slow to answer this one
        answered.append(loop.time())
        return 0.2

    poller = Poller(by_id, poll)
    poller.start()
    poller.schedule(1, 0)
    await under_way.wait()
    poller.schedule(1, again_after)
    if again_after == 0.0:
        await asyncio.sleep(0.01)  # the scheduler's turn to find that time come (nothing to await: it skips it)
    answer.set()
    await asyncio.wait_for(next_poll.wait(), 5)
    await poller.stop()
    assert len(polls) == 2 and polls[1] - answered[0] >= 0.2, (polls, answered)


async def test_thousands_of_sessions_share_one_scheduler() -> None:
    count = 2000
    polls = 0
    finished = asyncio.Event()

    async def poll(session_id: int) -> float | None:
        nonlocal polls
        polls += 1
        if polls == count * 2:
            finished.set()
        return 0.05 if polls <= count else None

    poller = Poller(by_id, poll)
    poller.start()
    for session_id in range(count):
        poller.schedule(session_id, 0)
    await asyncio.wait_for(finished.wait(), 20)
    await poller.stop()
    assert polls == count * 2


async def test_polls_start_only_as_the_quota_has_room_for_them_the_most_overdue_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """200 picks due at once and a quota of 100 requests a second: 95 polls go at once (one second's worth of the
    0.95 the bot keeps to), the rest at 95 a second, in the order they were due; the rest of the heap waits."""
    loop = asyncio.get_running_loop()
    polled: list[tuple[float, int]] = []
    done = asyncio.Event()

    behind: list[float] = []

    async def poll(session_id: int) -> float | None:
        polled.append((loop.time(), session_id))
        behind.append(poller.behind())
        if len(polled) == 200:
            done.set()
        return None

    poller = Poller(by_id, poll, budget=PickerQuota(6000))
    began = loop.time()
    for session_id in range(200):
        poller.schedule(session_id, 0)
    poller.start()
    await asyncio.wait_for(done.wait(), 10)
    await poller.stop()
    for count, (at, _) in enumerate(polled, 1):
        assert count <= 95 + 95 * (at - began) + 1
    assert polled[-1][0] - began >= (200 - 96) / 95
    assert [session_id for _, session_id in polled] == list(range(200))
    # What /metrics shows (bot_polls_behind_seconds): the oldest waiting poll's lateness, then 0 once caught up.
    assert behind[150] == pytest.approx(polled[150][0] - began, abs=0.05)
    assert poller.behind() == 0
    assert "polls run late to stay within the Picker API quota: " in caplog.text  # the last were over 1 s late


def test_adopted_picks_due_already_are_spread_over_one_interval_the_longest_overdue_first() -> None:
    now = 1000.0
    overdue = [(n, now - 60 - n, 5.0) for n in range(100)]  # down a minute: 99 is the longest overdue
    delays = dict(first_delays([(500, now - 2, 5.0), (501, None, 5.0), *overdue], now, polled_since=now - 3600))
    assert delays[500] == 3.0  # its interval since the last poll ends then
    assert delays[501] == 5.0  # never polled: one interval from its creation's first poll
    spread = [delays[n] for n in reversed(range(100))]
    assert spread == sorted(spread) and spread[0] == 0.0 and spread[-1] < 5.0
    tenths = [sum(1 for d in spread if k * 0.5 <= d < (k + 1) * 0.5) for k in range(10)]
    assert tenths == [10] * 10  # evenly: no tenth of the interval holds more than its share


def test_a_dead_holder_may_have_polled_unrecorded_until_it_died() -> None:
    now = 1000.0
    delays = dict(first_delays([(1, now - 60, 5.0), (2, None, 5.0)], now, polled_since=now - 2))
    assert delays == {1: 3.0, 2: 5.0}  # as if polled 2 s ago, not a minute ago


def test_picks_held_back_by_their_dead_holder_are_spread_from_when_they_may_be_polled() -> None:
    """A restart 2 s ago onto 100 picks last polled a minute ago: all may be polled 3 s from now, spread from there
    over one interval (they all came due at that very moment)."""
    now = 1000.0
    delays = dict(first_delays([(n, now - 60 - n, 5.0) for n in range(100)], now, polled_since=now - 2))
    spread = [delays[n] for n in reversed(range(100))]
    assert spread == sorted(spread) and spread[0] == 3.0 and spread[-1] < 8.0
    tenths = [sum(1 for d in spread if 3 + k * 0.5 <= d < 3 + (k + 1) * 0.5) for k in range(10)]
    assert tenths == [10] * 10


async def test_polls_beyond_the_concurrency_wait_in_the_heap_where_they_can_still_be_let_go() -> None:
    started: list[int] = []
    under_way: list[int] = []  # how many polls ran at once, as each started
    answer = asyncio.Event()
    two_started, all_started = asyncio.Event(), asyncio.Event()
    running = 0

    async def poll(session_id: int) -> float | None:
        nonlocal running
        running += 1
        under_way.append(running)
        started.append(session_id)
        if len(started) == 2:
            two_started.set()
        if len(started) == 7:
            all_started.set()
        await answer.wait()
        running -= 1
        return None

    poller = Poller(by_id, poll, concurrency=2)
    poller.start()
    for session_id in range(1, 11):
        poller.schedule(session_id, 0)
    await asyncio.wait_for(two_started.wait(), 5)
    assert sorted(started) == [1, 2]  # the other eight are not under way: they wait their turn
    released = poller.release(3)
    assert len(released) == 3 and not {1, 2} & set(released)
    answer.set()
    await asyncio.wait_for(all_started.wait(), 5)  # the five left run as slots free up
    await poller.stop()
    assert sorted(started) == sorted(set(range(1, 11)) - set(released))
    assert max(under_way) == 2


async def test_a_slow_google_gets_as_many_polls_at_once_as_the_waiting_picks_need() -> None:
    """10,000 waiting picks at pollInterval 5 s, 0.1 s a call: 200 in flight. A cap of 64 kept such a bot at a third of
    its polls."""
    under_way = 0
    most = 0
    full = asyncio.Event()
    answer = asyncio.Event()

    async def poll(session_id: int) -> float | None:
        nonlocal under_way, most
        under_way += 1
        most = max(most, under_way)
        if under_way == POLLS_IN_FLIGHT:
            full.set()
        await answer.wait()
        under_way -= 1
        return None

    poller = Poller(by_id, poll)
    poller.start()
    for session_id in range(POLLS_IN_FLIGHT + 50):
        poller.schedule(session_id, 0)
    await asyncio.wait_for(full.wait(), 5)
    for _ in range(20):  # the 50 beyond the cap stay in the heap however long the answers take
        await asyncio.sleep(0)
    assert most == POLLS_IN_FLIGHT >= 200 and poller.scheduled == 50
    answer.set()
    await poller.stop()


async def test_the_sessions_due_together_are_read_in_one_go_each_polled_at_its_own_time() -> None:
    loop = asyncio.get_running_loop()
    reads: list[list[int]] = []
    polled: dict[int, float] = {}
    four = asyncio.Event()

    async def read(session_ids: list[int]) -> dict[int, int]:
        reads.append(sorted(session_ids))
        return {session_id: session_id for session_id in session_ids if session_id != 3}  # 3 is gone

    async def poll(session_id: int) -> float | None:
        polled[session_id] = loop.time()
        if len(polled) == 4:
            four.set()
        return None

    poller = Poller(read, poll)
    poller.start()
    scheduled_at = loop.time()
    delays = {session_id: 0.05 + session_id * AHEAD / 10 for session_id in range(1, 6)}  # all within AHEAD
    for session_id, delay in delays.items():
        poller.schedule(session_id, delay)
    await asyncio.wait_for(four.wait(), 5)
    await poller.stop()
    assert reads == [[1, 2, 3, 4, 5]]
    assert sorted(polled) == [1, 2, 4, 5] and poller.scheduled == 0
    assert all(polled[session_id] >= scheduled_at + delays[session_id] for session_id in polled)  # none sooner


async def test_a_read_that_failed_is_tried_again_later() -> None:
    reads = 0
    polled = asyncio.Event()

    async def read(session_ids: list[int]) -> dict[int, int]:
        nonlocal reads
        reads += 1
        if reads == 1:
            raise ConnectionError("the database went away for a moment")
        return {session_id: session_id for session_id in session_ids}

    async def poll(session_id: int) -> float | None:
        polled.set()
        return None

    poller = Poller(read, poll, retry_after=0.01)
    poller.start()
    poller.schedule(1, 0)
    await asyncio.wait_for(polled.wait(), 5)
    await poller.stop()
    assert reads == 2


async def test_a_poller_behind_reads_and_starts_them_a_batch_at_a_time() -> None:
    reads: list[int] = []
    polled: list[int] = []
    done = asyncio.Event()
    count = BATCH * 2 + 3

    async def read(session_ids: list[int]) -> dict[int, int]:
        reads.append(len(session_ids))
        return {session_id: session_id for session_id in session_ids}

    async def poll(session_id: int) -> float | None:
        polled.append(session_id)
        if len(polled) == count:
            done.set()
        return None

    poller = Poller(read, poll)
    poller.start()
    for session_id in range(count):
        poller.schedule(session_id, 0)  # all due at once, fewer than the concurrency
    await asyncio.wait_for(done.wait(), 5)
    await poller.stop()
    assert reads == [BATCH, BATCH, 3] and sorted(polled) == list(range(count))
