"""Proactive flood pacing and reading Telegram's flood answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from telegram.error import BadRequest, RetryAfter

from bot.flood import FloodControl, ProgressSkipped, SendInfo, TokenBucket, UplinkSpeed, UploadClock, flood_wait
from bot.metrics import RequestMetrics


async def test_bucket_lets_an_album_through_then_paces() -> None:
    loop = asyncio.get_running_loop()
    bucket = TokenBucket(rate=100.0, capacity=10.0)
    start = loop.time()
    await bucket.take(10)
    assert loop.time() - start < 0.05
    bucket.landed(10)
    await bucket.take(5)
    assert loop.time() - start >= 0.045


async def test_penalty_blocks_the_bucket_for_retry_after() -> None:
    loop = asyncio.get_running_loop()
    bucket = TokenBucket(rate=1000.0, capacity=10.0)
    bucket.penalise(0.1)
    start = loop.time()
    await bucket.take(1)
    assert loop.time() - start >= 0.09


async def test_a_bucket_resized_keeps_no_more_than_its_new_burst() -> None:
    """Replicas sharing the bot-wide 30/s each resize their bucket to their share (bot/leases.py)."""
    bucket = TokenBucket(rate=30.0, capacity=30.0)
    bucket.resize(10.0)
    assert (bucket.rate, bucket.capacity) == (10.0, 10.0)
    await bucket.take(10)  # the whole new burst: the 20 tokens above it are gone
    assert not bucket.ready_within(5, 0.0)


def test_flood_wait_reads_retry_after_and_the_album_400_text() -> None:
    assert flood_wait(RetryAfter(7)) == 7
    album = BadRequest('Failed to send message #1 with the error message "Too Many Requests: retry after 8"')
    assert flood_wait(album) == 8
    assert flood_wait(BadRequest("Chat not found")) is None


async def _ok() -> bool:
    return True


def _flood(private_per_second: float, group_per_minute: float) -> FloodControl:
    return FloodControl(private_per_second, group_per_minute, RequestMetrics(CollectorRegistry(), "telegram", "method"))


async def test_group_and_private_chats_have_their_own_budgets() -> None:
    flood = _flood(private_per_second=0.1, group_per_minute=6)  # buckets of 10, refilling slowly
    for chat in (42, -100):
        for _ in range(10):
            await flood.process_request(_ok, (), {}, "sendMessage", {"chat_id": chat}, None)
    # An eleventh message waits for its chat's budget (10 s here): it does not go out now...
    blocked = asyncio.ensure_future(flood.process_request(_ok, (), {}, "sendMessage", {"chat_id": 42}, None))
    await asyncio.sleep(0.2)
    assert not blocked.done()
    blocked.cancel()
    # ...while edits, which Telegram does not count as messages, are not held up.
    assert await asyncio.wait_for(flood.process_request(_ok, (), {}, "editMessageText", {"chat_id": 42}, None), 1)


def _failing(*errors: Exception) -> tuple[Callable[[], Coroutine[Any, Any, bool]], list[int]]:
    """A request failing with `errors` in turn, then answering; and its count of calls."""
    calls = [0]

    async def request() -> bool:
        calls[0] += 1
        if calls[0] <= len(errors):
            raise errors[calls[0] - 1]
        return True

    return request, calls


async def test_retry_after_is_waited_out_and_the_send_retried() -> None:
    flood = _flood(private_per_second=1000, group_per_minute=60000)
    flaky, calls = _failing(RetryAfter(1), RetryAfter(1))
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await flood.process_request(flaky, (), {}, "sendPhoto", {"chat_id": 7}, None)
    assert calls == [3] and loop.time() - start >= 2


async def test_an_album_is_retried_only_when_the_flood_refusal_proves_nothing_went_out() -> None:
    flood = _flood(private_per_second=1000, group_per_minute=60000)
    album = {"chat_id": 7, "media": [1, 2]}
    first = BadRequest('Failed to send message #1 with the error message "Too Many Requests: retry after 1"')
    flaky, calls = _failing(first)
    assert await flood.process_request(flaky, (), {}, "sendMediaGroup", album, None)
    assert calls == [2]
    # A 429 refuses an album whole (TDLib sends it as one request): retried too.
    flaky, calls = _failing(RetryAfter(1))
    assert await flood.process_request(flaky, (), {}, "sendMediaGroup", album, None)
    assert calls == [2]
    # Item 2 refused: item 1 went out. The sender decides, not a retry.
    second = BadRequest('Failed to send message #2 with the error message "Too Many Requests: retry after 1"')
    flaky, calls = _failing(second)
    with pytest.raises(BadRequest):
        await flood.process_request(flaky, (), {}, "sendMediaGroup", album, None)
    assert calls == [1]
    # The chat's budget waits the flood out before anything else goes there.
    loop = asyncio.get_running_loop()
    start = loop.time()
    await flood.process_request(_ok, (), {}, "sendMessage", {"chat_id": 7}, None)
    assert loop.time() - start >= 0.9


async def test_a_refused_progress_edit_is_dropped_and_progress_waits_for_the_chat() -> None:
    flood = _flood(private_per_second=1000, group_per_minute=60000)
    progress = SendInfo(progress=True)
    refused, calls = _failing(RetryAfter(30))
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(RetryAfter):
        await flood.process_request(refused, (), {}, "editMessageText", {"chat_id": 7}, progress)
    assert calls == [1] and loop.time() - start < 0.5  # never slept on
    with pytest.raises(ProgressSkipped):  # not even asked until the 30 s are over
        await flood.process_request(_ok, (), {}, "editMessageText", {"chat_id": 7}, progress)
    assert await flood.process_request(_ok, (), {}, "editMessageText", {"chat_id": 8}, progress)  # other chats
    # Media for that chat are not held up by an edit's refusal.
    await asyncio.wait_for(flood.process_request(_ok, (), {}, "sendPhoto", {"chat_id": 7}, None), 1)


async def test_group_progress_edits_are_paced_across_every_pick_in_the_chat() -> None:
    flood = _flood(private_per_second=1000, group_per_minute=60000)
    progress = SendInfo(progress=True)
    assert await flood.process_request(_ok, (), {}, "editMessageText", {"chat_id": -100, "message_id": 1}, progress)
    # Another pick's progress line in the same group, right after: it waits its turn (6 s apart)...
    with pytest.raises(ProgressSkipped):
        await flood.process_request(_ok, (), {}, "editMessageText", {"chat_id": -100, "message_id": 2}, progress)
    # ...while an edit that matters still goes, and private chats are paced by each delivery alone.
    assert await flood.process_request(_ok, (), {}, "editMessageText", {"chat_id": -100, "message_id": 3}, None)
    for _ in range(3):
        assert await flood.process_request(_ok, (), {}, "editMessageText", {"chat_id": 42}, progress)


async def test_the_hand_over_hook_runs_after_each_flood_wait_right_before_the_request() -> None:
    flood = _flood(private_per_second=1000, group_per_minute=60000)
    events: list[str] = []

    async def handed_over() -> None:
        events.append("handed over")

    async def send() -> bool:
        events.append("request")
        if events.count("request") == 1:
            raise RetryAfter(1)
        return True

    info = SendInfo(upload_bytes=1000, on_handover=handed_over)
    assert await flood.process_request(send, (), {}, "sendPhoto", {"chat_id": 7}, info)
    assert events == ["handed over", "request", "handed over", "request"]
    # Requests that are not sends (an edit) never call it, even if given.
    assert await flood.process_request(_ok, (), {}, "editMessageText", {"chat_id": 7}, info)
    assert events.count("handed over") == 2


async def test_other_errors_are_not_retried() -> None:
    flood = _flood(private_per_second=1000, group_per_minute=60000)

    async def refused() -> bool:
        raise BadRequest("Chat not found")

    try:
        await flood.process_request(refused, (), {}, "sendMessage", {"chat_id": 7}, None)
    except BadRequest as exc:
        assert exc.message == "Chat not found"
    else:
        raise AssertionError("the error was swallowed")


async def test_a_long_upload_does_not_leave_the_bucket_in_debt() -> None:
    """The spend counts from the arrival; refill a full bucket could not have held is not taken back twice."""
    bucket = TokenBucket(rate=100.0, capacity=10.0)
    await bucket.take(2)  # 8 left: in flight, the bucket refills to 8 within 0.0 s, not to 10
    await asyncio.sleep(0.2)  # a "long" upload: 20 tokens of refill, but the bucket holds 10
    bucket.landed(2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await bucket.take(8)  # 8 of the 10 are there at once
    assert loop.time() - start < 0.05


async def test_a_send_that_never_left_gives_its_tokens_back() -> None:
    bucket = TokenBucket(rate=0.001, capacity=10.0)
    await bucket.take(10)
    bucket.landed(10, sent=False)  # e.g. the hand-over found the pick taken over: nothing went out
    assert bucket.ready_within(10, 0.0)


async def test_an_upload_starts_early_only_when_nothing_else_is_in_flight() -> None:
    """Starting early is safe when the upload lands after the refill it counts on; an album already on its way
    may land at the same moment, so then the tokens must be there."""
    bucket = TokenBucket(rate=10.0, capacity=10.0)
    await bucket.take(6)
    second = asyncio.ensure_future(bucket.take(6, ahead=0.5))  # 4 tokens + 0.5 s × 10/s would cover it
    await asyncio.sleep(0.3)
    assert not second.done()  # the first album may still land with it: 12 at once in a bucket of 10
    bucket.landed(6)
    await asyncio.wait_for(second, 2)


def _arrivals_refused(arrivals: list[tuple[float, int]], rate: float, burst: float) -> int:
    """How many of these arrivals (time, messages) Telegram's bucket of `burst` refilling `rate`/s refuses."""
    tokens, stamp, refused = burst, arrivals[0][0] if arrivals else 0.0, 0
    for at, count in sorted(arrivals):
        tokens = min(burst, tokens + (at - stamp) * rate)
        stamp = at
        if tokens >= count:
            tokens -= count
        else:
            refused += 1
    return refused


async def test_uploads_into_many_chats_ending_together_arrive_within_the_bot_wide_budget() -> None:
    """Many deliveries share the uplink: albums started one after the other as the bot-wide budget refilled all
    end when the uplink has carried them, together. Counted as spent until they land, no more start than
    Telegram takes at once (with spending at the start only, all 60 messages here landed in one instant)."""
    flood = FloodControl(1000, 60000, RequestMetrics(CollectorRegistry(), "telegram", "method"), overall_per_second=20)
    uplink_done = asyncio.Event()
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[float, int]] = []

    async def upload() -> bool:
        await uplink_done.wait()  # the shared uplink finishes every upload under way at once
        arrivals.append((loop.time(), 10))
        return True

    albums = [
        asyncio.ensure_future(
            flood.process_request(upload, (), {}, "sendMediaGroup", {"chat_id": chat, "media": list(range(10))}, None)
        )
        for chat in range(1, 7)
    ]
    await asyncio.sleep(1.6)  # time enough for the bucket's 20 + 1.6 s × 20/s = 52 messages to start
    uplink_done.set()
    await asyncio.gather(*albums)
    assert len(arrivals) == 6
    assert _arrivals_refused(arrivals, rate=20, burst=20) == 0


async def test_an_upload_starts_ahead_of_its_tokens_and_still_arrives_on_budget() -> None:
    """10 messages/s, albums of 10 taking 0.5 s to upload: the second album waits for its 10 tokens
    (1 s after the first arrived) while it uploads, not before."""
    flood = _flood(private_per_second=10, group_per_minute=60000)
    loop = asyncio.get_running_loop()
    starts: list[float] = []
    arrivals: list[float] = []

    async def upload() -> bool:
        starts.append(loop.time())
        await asyncio.sleep(0.5)
        arrivals.append(loop.time())
        return True

    album = {"chat_id": 7, "media": list(range(10))}
    for _ in range(2):
        await flood.process_request(upload, (), {}, "sendMediaGroup", album, SendInfo(upload_bytes=10_000_000))
    assert arrivals[1] - arrivals[0] >= 0.99  # never before Telegram has the budget for it
    assert starts[1] - arrivals[0] < 0.9  # but the upload overlapped the wait (0.72 s with a 0.28 s lead)


def test_only_big_uploads_that_had_the_uplink_alone_teach_its_speed() -> None:
    speed = UplinkSpeed()
    first, second = speed.begin(), speed.begin()  # two uploads share the uplink: alone, one is faster
    speed.end(first, 8_000_000, 1.0)
    speed.end(second, 8_000_000, 1.0)
    assert speed.lead(8_000_000) == 0
    alone = speed.begin()
    speed.end(alone, 16_000_000, None)  # no answer: no measurement
    assert speed.lead(8_000_000) == 0
    alone = speed.begin()
    speed.end(alone, 1_000_000, 0.01)  # small: its time is mostly latency, not the uplink's speed
    assert speed.lead(8_000_000) == 0
    alone = speed.begin()
    speed.end(alone, 16_000_000, 1.0)  # 16 MB/s: 8 MB take at least 0.5 s
    assert speed.lead(8_000_000) == pytest.approx(0.6 * 0.5 - 0.02)
    assert speed.lead(1_000_000) == 0  # too small to start early at all
    speed.forget()
    assert speed.lead(8_000_000) == 0


async def test_an_uploads_speed_is_timed_to_its_last_byte_read_not_to_the_answer() -> None:
    """The answer's latency (the server's work, the way back) varies with load: counted in, it makes uploads
    seem slower than they are, and the next one starts too early."""
    flood = _flood(private_per_second=1000, group_per_minute=60000)
    clock = UploadClock()
    loop = asyncio.get_running_loop()

    async def upload() -> bool:
        clock.read_at = loop.time() + 0.1  # the client read the files to the end after 0.1 s...
        await asyncio.sleep(0.5)  # ...and the answer came 0.4 s later
        return True

    size = 8_000_000
    await flood.process_request(upload, (), {}, "sendDocument", {"chat_id": 7}, SendInfo(size, clock))
    assert flood._uplink.lead(size) == pytest.approx(0.6 * 0.1 - 0.02, abs=0.01)


async def test_an_upload_still_in_its_socket_when_read_is_timed_at_the_pace_the_rest_went() -> None:
    """The files read to their end are in the socket's send queue, not yet at the server (bot/upload_socket.py);
    the connection's set-up before the first write is not the transfer, and is not stretched with it."""
    flood = _flood(private_per_second=1000, group_per_minute=60000)
    clock = UploadClock()
    loop = asyncio.get_running_loop()
    size = 8_000_000

    async def upload() -> bool:
        clock.wrote_at = loop.time() + 0.05  # connected after 0.05 s...
        clock.read_at = clock.wrote_at + 0.1  # ...read to the end 0.1 s later...
        clock.unsent = size // 2  # ...when half of it had not reached the server: it takes 0.05 + 0.2 s
        return True

    await flood.process_request(upload, (), {}, "sendDocument", {"chat_id": 7}, SendInfo(size, clock))
    assert flood._uplink.lead(size) == pytest.approx(0.6 * 0.25 - 0.02, abs=0.01)
