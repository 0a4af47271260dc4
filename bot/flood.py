"""Staying under Telegram's flood limits for every message the bot sends, and waiting out 429s.

A python-telegram-bot rate limiter (so it sees every request): a token bucket per chat whose
capacity is one full album, so an album goes out at once and the chat's budget then refills at
the allowed rate (≈1 message/s in a private chat, 20/min in a group or channel), plus one bucket
for the whole bot (30/s). PTB's own AIORateLimiter does not cover the private-chat limit and
pauses every chat on one 429; here only the chat that got the 429 waits.

Telegram counts a message when it has arrived, so an upload may start before its tokens are there,
by a safe part of the time it will take (estimated from the recent uploads' speed): the upload then
overlaps the wait instead of following it. Only uploads that had the uplink to themselves teach how fast
it is, and a 429 makes the pacer forget what it learnt. Messages on their way count as spent until they
land: thirty deliveries uploading at once share the uplink and end together, and without that the bot-wide
bucket, refilled meanwhile, let more of them start than Telegram then took at once (4-8 refusals a crowd run).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter

from bot.metrics import RequestMetrics

log = logging.getLogger(__name__)

SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendVideo",
        "sendDocument",
        "sendMediaGroup",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
        "sendAnimation",
        "sendAudio",
        "sendVoice",
        "sendSticker",
    }
)
ALBUM = 10
MAX_FLOOD_RETRIES = 8

FLOOD_IN_TEXT = re.compile(r"retry after (\d+)", re.IGNORECASE)
ALBUM_ITEM_FAILED = re.compile(r"failed to send message #(\d+)", re.IGNORECASE)
EDIT_METHODS = frozenset({"editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup"})
# Telegram allows about 20 edits a minute in a group (grammY's docs citing a Telegram developer; limits can
# differ per chat, tdlib/telegram-bot-api#318). Progress lines take at most half of that, every pick in the
# chat together, leaving room for the edits that matter and for chats with a lower limit.
GROUP_PROGRESS_EDITS_PER_MINUTE = 10.0
# An upload starts early by LEAD_SAFETY of the least time it can take, less LEAD_JITTER: arriving even a
# moment before the budget is there costs a refusal and the whole upload again.
LEAD_SAFETY = 0.6
LEAD_JITTER = 0.02  # seconds
UPLINK_SAMPLES = 8
# A small upload is read into the socket's buffer at once, so its time says nothing of the uplink's speed:
# only uploads of this size or more teach it, or start early.
MEASURED_UPLOAD = 4_000_000
DROPPABLE_WAIT = 2.0  # seconds: a droppable reply that would wait longer for its chat's budget is dropped
PRUNE_EVERY = 10.0  # seconds between sweeps of the per-chat state for chats gone quiet (O(chats), ~1 ms at 10k)


@dataclass
class UploadClock:
    """An attempt's upload as MediaSender sees it (bot/upload_socket.py): when the request first wrote to its
    socket, when the HTTP client read the last byte of its files, and how many bytes were then still in the
    socket unacknowledged. That gives the upload's own time, without the server's work and the answer's way
    back, which vary with load and would make the pacer think uploads slower than they are, and start the next
    one too early. None: not known."""

    wrote_at: float | None = None
    read_at: float | None = None
    unsent: int | None = None

    def restart(self) -> None:
        self.wrote_at = self.read_at = self.unsent = None


@dataclass(frozen=True)
class SendInfo:
    """What a media send tells the rate limiter, as python-telegram-bot's `rate_limit_args` of that call."""

    upload_bytes: int = 0  # the files it uploads: an upload may start ahead of its tokens
    clock: UploadClock | None = None  # how long the upload itself took (see UploadClock)
    # Awaited right before the request actually goes to Telegram (after any flood wait, on every attempt):
    # delivery records the items as handed over there, since only from then can they have arrived.
    on_handover: Callable[[], Awaitable[None]] | None = None
    # A progress edit: skipped (ProgressSkipped) while the chat's edits are paced or refused, never waited for.
    progress: bool = False
    # A reply nobody misses (help, a "slow down"): dropped (ReplyDropped) when the chat's budget is far off,
    # so that waiting for it never holds an update handler.
    droppable: bool = False


class ProgressSkipped(TelegramError):
    """A progress edit that was not made: the next one will show where things stand."""


class ReplyDropped(TelegramError):
    """A droppable reply that was not sent: its chat's flood budget was too far off."""


class TokenBucket:
    """Telegram's budget as a token bucket, with the messages still on their way counted as spent already: a
    bucket that holds `capacity` cannot hold them too (in flight, refill stops at `capacity` − in flight). So
    however long uploads take and however they bunch on arrival, the messages arriving within any t seconds are
    at most `capacity` + `rate`·t, which is what Telegram lets through."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._in_flight = 0.0
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()
        self._landed = asyncio.Event()  # set (and replaced) whenever messages in flight land

    def _refill(self) -> float:
        now = time.monotonic()
        self._tokens = min(self.capacity - self._in_flight, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return now

    async def take(self, count: float, ahead: float = 0.0) -> None:
        """Wait until `count` tokens will be available `ahead` seconds from now (now, while other messages are in
        flight), then spend them; they are in flight until `landed` (first come, first served; the bucket may dip
        below zero until then)."""
        count = min(count, self.capacity)
        async with self._lock:
            while True:
                self._refill()
                # Early only when nothing else is on its way: what is in flight may land together with it.
                early = 0.0 if self._in_flight else ahead
                if self._tokens + early * self.rate >= count:
                    self._tokens -= count
                    self._in_flight += count
                    return
                landed = self._landed
                # Woken early when messages land: while others are in flight the refill alone may not get there.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, (count - self._tokens) / self.rate - early)):
                        await landed.wait()

    def landed(self, count: float, *, sent: bool = True) -> None:
        """What `take(count)` took is no longer in flight: it arrived (Telegram counted it now, whatever it
        answered), or, not `sent`, never left, and its tokens come back."""
        count = min(count, self.capacity)
        self._refill()
        self._in_flight -= count
        if not sent:
            self._tokens = min(self.capacity - self._in_flight, self._tokens + count)
        self._landed.set()
        self._landed = asyncio.Event()

    def resize(self, rate: float) -> None:
        """A new rate, with a burst of one second's worth (as the bot-wide bucket is made)."""
        self.rate = self.capacity = rate
        self._tokens = min(self._tokens, rate - self._in_flight)

    def ready_within(self, count: float, seconds: float) -> bool:
        """Whether `count` tokens will be there within `seconds`, with nobody waiting ahead."""
        tokens = min(self.capacity - self._in_flight, self._tokens + (time.monotonic() - self._stamp) * self.rate)
        return not self._lock.locked() and tokens + seconds * self.rate >= min(count, self.capacity)

    def idle_and_full(self, now: float) -> bool:
        """Nobody waits on it, nothing is in flight and it has refilled: the same as a bucket made afresh."""
        refilled = self._tokens + (now - self._stamp) * self.rate
        return not self._lock.locked() and self._in_flight == 0 and refilled >= self.capacity

    def penalise(self, seconds: float) -> None:
        """Telegram said retry_after: nothing more through this bucket until then."""
        self._tokens = min(self._tokens, -seconds * self.rate)
        self._stamp = time.monotonic()


class EditGate:
    """When a progress edit may go: not while Telegram's retry_after for the chat's edits runs, and in a group
    not sooner than 60/GROUP_PROGRESS_EDITS_PER_MINUTE s after the chat's last edit of any kind."""

    def __init__(self, group_progress_per_minute: float = GROUP_PROGRESS_EDITS_PER_MINUTE) -> None:
        self._gap = 60.0 / group_progress_per_minute
        self._last: dict[int, float] = {}
        self._refused_until: dict[int, float] = {}

    def progress_allowed(self, chat_id: int) -> bool:
        now = time.monotonic()
        if now < self._refused_until.get(chat_id, 0.0):
            return False
        last = self._last.get(chat_id)
        return chat_id > 0 or last is None or now - last >= self._gap  # groups and channels: negative ids

    def edited(self, chat_id: int) -> None:
        self._last[chat_id] = time.monotonic()

    def refused(self, chat_id: int, seconds: float) -> None:
        self._refused_until[chat_id] = time.monotonic() + seconds

    def prune(self, now: float) -> None:
        """Forget chats whose last edit and refusal no longer hold anything back."""
        self._last = {chat: at for chat, at in self._last.items() if chat < 0 and now - at < self._gap}
        self._refused_until = {chat: until for chat, until in self._refused_until.items() if until > now}


class UplinkSpeed:
    """How fast an upload can go: the fastest of the recent uploads that had the uplink to themselves, in
    bytes/s (their answer's latency included, so it errs slow). Uploads that shared the uplink with
    another are not measured: alone, the next one could be faster than they were."""

    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=UPLINK_SAMPLES)
        self._in_flight = 0
        self._started = 0

    def begin(self) -> int | None:
        """An upload starts; returns its ticket if it starts alone (else None)."""
        alone = self._in_flight == 0
        self._in_flight += 1
        self._started += 1
        return self._started if alone else None

    def end(self, ticket: int | None, size: int, seconds: float | None) -> None:
        """It ended (`seconds` None: without an answer). Measured only if no other upload began meanwhile, and
        only if big enough that its time is mostly the transfer, not the answer's latency."""
        self._in_flight -= 1
        if ticket == self._started and seconds is not None and seconds > 0 and size >= MEASURED_UPLOAD:
            self._samples.append(size / seconds)

    def forget(self) -> None:
        self._samples.clear()

    def lead(self, size: int) -> float:
        """Seconds an upload of `size` bytes can safely start before its tokens are there."""
        if size < MEASURED_UPLOAD or not self._samples:
            return 0.0
        return max(0.0, LEAD_SAFETY * size / max(self._samples) - LEAD_JITTER)


def _upload_time(clock: UploadClock | None, started: float, size: int) -> float:
    """Seconds from the request's start until its `size` bytes of files were read (or its answer, when that is
    not known), the transfer stretched by what was then still unacknowledged in the socket, at the pace the rest
    went. Only the transfer: a new connection's set-up, stretched too, would overstate the time, and the lead."""
    if clock is None or clock.read_at is None:
        return time.monotonic() - started
    if clock.wrote_at is None or clock.unsent is None or clock.unsent >= size:
        return clock.read_at - started
    sent = size - clock.unsent
    return clock.wrote_at - started + (clock.read_at - clock.wrote_at) * size / sent


def flood_wait(exc: Exception) -> float | None:
    """Seconds Telegram asked us to wait: RetryAfter, or the text of a 400 for a partly failed album."""
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
    if isinstance(exc, BadRequest):
        match = FLOOD_IN_TEXT.search(exc.message)
        if match:
            return float(match.group(1))
    return None


def failed_item(error: TelegramError) -> int | None:
    """The 1-based album item a Bot API error names: the items before it were sent and stay in the chat
    (telegram-bot-api Client.cpp: 'Failed to send message #N with the error message "…"')."""
    match = ALBUM_ITEM_FAILED.search(error.message)
    return int(match.group(1)) if match else None


def _maybe_partly_sent(error: TelegramError) -> bool:
    """A flood refusal of an album that may have sent some of its items. A 429 sent none: TDLib sends an album
    as one request, which a flood wait refuses whole, and the Bot API server passes that 429 through
    (Client.cpp, is_special_error_code); the older 400 form names the item refused, and items before it went."""
    item = failed_item(error)
    return item is not None and item > 1


def _messages_in(endpoint: str, data: dict[str, Any]) -> int:
    if endpoint == "sendMediaGroup":
        return len(data.get("media") or ()) or 1
    if endpoint in ("copyMessages", "forwardMessages"):
        return len(data.get("message_ids") or ()) or 1
    return 1


def _chat_id(data: dict[str, Any]) -> int | None:
    try:
        return int(data["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None  # @channelusername: no per-chat bucket, the overall one still applies


class FloodControl(BaseRateLimiter[SendInfo]):
    """Also times every Bot API request (each attempt) into `metrics`, by method."""

    def __init__(
        self,
        private_per_second: float,
        group_per_minute: float,
        metrics: RequestMetrics,
        overall_per_second: float = 30.0,
    ):
        self._metrics = metrics
        self._private_rate = private_per_second
        self._group_rate = group_per_minute / 60.0
        self._group_capacity = max(float(ALBUM), group_per_minute)
        self._overall_per_second = overall_per_second
        self._overall = TokenBucket(overall_per_second, overall_per_second)
        self._chats: dict[int, TokenBucket] = {}
        self._uplink = UplinkSpeed()
        self._edits = EditGate()
        self._pruned_at = time.monotonic()

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def _prune(self) -> None:
        """Drop the state of chats gone quiet, at most every PRUNE_EVERY seconds, so that it stays as small as
        the chats recently sent to."""
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        self._chats = {chat: bucket for chat, bucket in self._chats.items() if not bucket.idle_and_full(now)}
        self._edits.prune(now)

    def share_overall(self, replicas: int) -> None:
        """Several replicas send for one bot: each keeps to an equal share of the bot-wide limit."""
        self._overall.resize(self._overall_per_second / replicas)

    def tracked_chats(self) -> int:
        """How many chats' flood state is kept."""
        return len(self._chats)

    def _bucket(self, chat_id: int) -> TokenBucket:
        self._prune()
        bucket = self._chats.get(chat_id)
        if bucket is None:
            # Private chats have positive ids; groups and channels negative ones.
            if chat_id > 0:
                bucket = TokenBucket(self._private_rate, float(ALBUM))
            else:
                bucket = TokenBucket(self._group_rate, self._group_capacity)
            self._chats[chat_id] = bucket
        return bucket

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: SendInfo | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = _chat_id(data)
        is_send = endpoint in SEND_METHODS
        edited_chat = chat_id if endpoint in EDIT_METHODS else None
        buckets = [self._overall] if chat_id is None else [self._bucket(chat_id), self._overall]
        count = _messages_in(endpoint, data)
        given = rate_limit_args or SendInfo()
        info = given if is_send else SendInfo()
        progress = edited_chat is not None and given.progress
        if edited_chat is not None and progress and not self._edits.progress_allowed(edited_chat):
            raise ProgressSkipped(f"progress edit in chat {chat_id} skipped: edits there are paced or refused")
        if info.droppable and chat_id is not None and not self._bucket(chat_id).ready_within(count, DROPPABLE_WAIT):
            raise ReplyDropped(f"{endpoint} to chat {chat_id} dropped: its flood budget is too far off")
        size = info.upload_bytes
        for attempt in range(MAX_FLOOD_RETRIES + 1):
            taken: list[TokenBucket] = []
            sent = False
            ticket: int | None = None
            took: float | None = None
            try:
                if is_send:
                    ahead = self._uplink.lead(size)
                    for bucket in buckets:
                        await bucket.take(count, ahead)
                        taken.append(bucket)
                if info.on_handover is not None:
                    await info.on_handover()
                if edited_chat is not None:
                    self._edits.edited(edited_chat)
                ticket = self._uplink.begin() if size else None
                sent = True
                async with self._metrics.timed(endpoint):
                    started = time.monotonic()
                    if info.clock is not None:
                        info.clock.restart()
                    answer = await callback(*args, **kwargs)
                    took = _upload_time(info.clock, started, size)
                    return answer
            except (RetryAfter, BadRequest) as exc:
                wait = flood_wait(exc)
                if wait is None or attempt == MAX_FLOOD_RETRIES:
                    raise
                if edited_chat is not None:
                    self._edits.refused(edited_chat, wait)  # edits have their own limit: sends go on
                    if progress:
                        raise  # never waited for: progress shows again once the wait is over
                elif chat_id is not None:
                    self._uplink.forget()  # if an early start was the cause, start on time until measured again
                    self._bucket(chat_id).penalise(wait)
                    if is_send and count > 1 and _maybe_partly_sent(exc):
                        raise  # re-sending the album could send its first items twice: the sender decides
                log.info("flood control on %s in chat %s: waiting %.0f s", endpoint, chat_id, wait)
                if not is_send or chat_id is None:
                    await asyncio.sleep(wait)
            finally:
                if sent and size:
                    self._uplink.end(ticket, size, took)
                for bucket in taken:
                    bucket.landed(count, sent=sent)
        raise AssertionError("unreachable")
