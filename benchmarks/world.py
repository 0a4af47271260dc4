"""The emulated world for one case: both emulators, the real bot process, and what we read about it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from benchmarks.profile import Costs
from emulators.google import PICKER_SCOPE, GoogleEmulator
from emulators.telegram import MessageRecord, TelegramEmulator
from tests.harness import CLIENT_ID, CLIENT_SECRET, ENCRYPTION_KEY, TOKEN, BotProcess, Person, bot_env

SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendVideo", "sendDocument", "sendMediaGroup"})
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class BotUnderTest:
    """Which bot the cases run: this checkout's as configured by default, or another checkout's (`root`), or with
    settings changed (`env`), to measure what a change buys."""

    root: Path | None = None
    env: tuple[tuple[str, str], ...] = ()


THIS_BOT = BotUnderTest()


class World:
    """Fresh emulators (and optionally a bot) in `workdir`; costs are applied when asked."""

    def __init__(self, workdir: Path, subject: BotUnderTest = THIS_BOT) -> None:
        self.workdir = workdir
        self.subject = subject
        self.tg = TelegramEmulator(token=TOKEN, bot_username="photos_bench_bot")
        self.google = GoogleEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        self.bot: BotProcess | None = None

    async def start(self, costs: Costs) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self.tg.start()
        await self.google.start()
        self.google.poll_interval = costs.poll_interval
        self.google.api_latency = costs.picker_latency
        self.google.picker_requests_per_minute = round(costs.picker_quota)

    def make_bot(self, costs: Costs) -> BotProcess:
        env = bot_env(
            self.workdir,
            self.tg,
            self.google,
            ENCRYPTION_KEY=ENCRYPTION_KEY,
            LOG_LEVEL="INFO",
            TELEGRAM_PRIVATE_RATE=f"{costs.private_rate:g}",
            TELEGRAM_GROUP_RATE_PER_MINUTE=f"{costs.group_rate_per_minute:g}",
            PICKER_REQUESTS_PER_MINUTE=f"{costs.picker_quota:g}",
        )
        if self.subject.root is not None:
            env["PYTHONPATH"] = str(self.subject.root)
        env.update(self.subject.env)
        self.google.redirect_uris.add(env["PUBLIC_URL"] + "/oauth/callback")
        self.bot = BotProcess(env=env, workdir=self.workdir, tg=self.tg)
        return self.bot

    def apply_costs(self, costs: Costs) -> None:
        """Latency, bandwidth and flood limits on both emulators (flood buckets start full)."""
        self.google.media_latency = costs.google_latency
        self.google.media_bandwidth = costs.google_bandwidth
        self.google.poll_interval = costs.poll_interval
        self.tg.set_latency(None, costs.telegram_latency)
        self.tg.set_upload_bandwidth(costs.telegram_uplink)
        self.tg.set_flood_limits(
            private_per_second=costs.private_rate,
            group_per_minute=costs.group_rate_per_minute,
            overall_per_second=costs.overall_rate,
            private_burst=costs.private_burst,
            group_burst=costs.group_burst,
        )

    async def stop_bot(self, limit: float = 60.0) -> tuple[int | None, float]:
        """SIGTERM; (exit code, seconds it took), or (None, limit) when it had to be killed after `limit` s."""
        assert self.bot is not None and self.bot.proc is not None
        proc = self.bot.proc
        began = time.monotonic()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = await asyncio.wait_for(proc.wait(), limit)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            code = None
        self.bot.proc = None
        return code, time.monotonic() - began

    async def close(self) -> None:
        if self.bot is not None and self.bot.proc is not None:
            await self.stop_bot()
        await self.google.stop()
        await self.tg.stop()

    def person(self, user_id: int, name: str) -> Person:
        self.tg.add_user(user_id, name, username=name.lower())
        return Person(self.tg, self.google, user_id, name, f"{name.lower()}@example.com")

    def flood_refusals(self) -> int:
        """Sends Telegram refused for flood (429, or an album's 400 "retry after")."""
        return sum(
            1
            for c in self.tg.calls
            if c.method in SEND_METHODS and (c.status == 429 or "retry after" in str(c.response).lower())
        )

    async def wait_buckets_full(self, chat_ids: list[int], costs: Costs) -> None:
        """Sleep until the flood buckets of `chat_ids` (and the bot's own pacer) are full again."""
        now = time.monotonic()
        wait = 0.0
        for chat_id in chat_ids:
            rate = costs.private_rate if chat_id > 0 else costs.group_rate_per_minute / 60.0
            for call in self.tg.calls:
                if call.method in SEND_METHODS and call.status == 200 and _chat_of(call.params) == chat_id:
                    count = len(call.params.get("media") or ()) or 1
                    wait = max(wait, call.time + count / rate - now)
        await asyncio.sleep(wait + 0.3)


def _chat_of(params: dict[str, Any]) -> int | None:
    try:
        return int(params["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


def new_bot_messages(tg: TelegramEmulator, chat_ids: list[int], seen: dict[int, int]) -> list[MessageRecord]:
    return [m for c in chat_ids for m in tg.messages(c)[seen.get(c, 0) :]]


def message_counts(tg: TelegramEmulator, chat_ids: list[int]) -> dict[int, int]:
    return {c: len(tg.messages(c)) for c in chat_ids}


def has_picker_button(message: MessageRecord) -> bool:
    return "Open Google Photos" in str(message.reply_markup)


async def link(person: Person) -> None:
    """The real /link flow through the bot: consent at the Google emulator, the bot's callback."""
    await person.link()
    await person.tg.wait_for_message(person.user_id, lambda m: "Linked to" in (m.text or ""), timeout=30)


async def google_token(
    http: httpx.AsyncClient, google: GoogleEmulator, email: str, redirect_uri: str
) -> dict[str, Any]:
    """An OAuth token from the Google emulator (authorization code + PKCE), as authlib would store it."""
    google.redirect_uris.add(redirect_uri)
    google.consent.email = email
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    consent = await http.get(
        google.auth_url,
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": f"openid email {PICKER_SCOPE}",
            "access_type": "offline",
            "prompt": "consent",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(16),
        },
    )
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    answer = await http.post(
        google.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    answer.raise_for_status()
    token: dict[str, Any] = answer.json()
    token["expires_at"] = int(time.time()) + int(token["expires_in"])
    return token


# --------------------------------------------------------------------------------------------------
# The bot process as the kernel sees it


def read_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid` in bytes."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class RssSampler:
    """Samples VmRSS every `every` seconds until stopped; `peak` also takes VmHWM into account."""

    pid: int
    every: float = 0.05
    samples: list[int] = field(default_factory=list)
    hwm: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)

    def sample(self) -> None:
        try:
            status = read_status(self.pid)
        except (OSError, ValueError):
            return
        self.samples.append(status.get("VmRSS", 0))
        self.hwm = max(self.hwm, status.get("VmHWM", 0))

    async def stop(self) -> None:
        self.sample()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def peak(self) -> int:
        return max([self.hwm, *self.samples])


# --------------------------------------------------------------------------------------------------
# /metrics (Prometheus text) — event-loop lag histogram

_BUCKET = re.compile(r'^bot_event_loop_lag_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\}\s+([0-9.eE+-]+)', re.M)


async def lag_histogram(http: httpx.AsyncClient, base_url: str) -> dict[float, float] | None:
    """Cumulative bucket counts of bot_event_loop_lag_seconds, or None when the bot has no such metric."""
    try:
        response = await http.get(f"{base_url}/metrics")
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    buckets = {float(le): float(count) for le, count in _BUCKET.findall(response.text)}
    return buckets or None


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """Quantile `q` of the observations made between two scrapes (upper bound of the bucket it falls in,
    linearly interpolated inside it, as Prometheus does)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None
    rank, previous_bound, previous_count = q * total, 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            inside = count - previous_count
            fraction = (rank - previous_count) / inside if inside else 1.0
            return previous_bound + (bound - previous_bound) * fraction
        previous_bound, previous_count = bound, count
    return previous_bound


async def wait_until(predicate: Callable[[], bool], limit: float, what: str) -> None:
    """Poll `predicate` (state in other processes or files) until it holds, or fail after `limit` s."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {limit:.0f} s waiting for {what}")
        await asyncio.sleep(0.25)
