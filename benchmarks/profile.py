"""What the emulated world costs, and the cases the benchmark runs (full and --smoke)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

MB = 1_000_000
# Of the project's Picker API quota, what polls may take: a client keeps the rest for the calls that must not wait
# (/pick, listings, deletions) and for the minute's edges (bot/google/quota.py keeps to the same).
QUOTA_FOR_POLLS = 0.95


@dataclass(frozen=True)
class Costs:
    """Costs of the emulated Google and Telegram, in real seconds and bytes (time scale 1).

    ``scaled(k)`` compresses time k-fold: latencies and the poll interval shrink k times, bandwidths
    and flood rates grow k times, bursts (message counts) stay. Ratios such as measured/floor are
    unchanged by k as long as the machine keeps up and the bot has no fixed delays of its own.
    """

    google_latency: float = 0.5  # s before the first byte of every media request (lh3 renders the size)
    google_bandwidth: float = 8 * MB  # bytes/s of one media response (per connection)
    telegram_latency: float = 0.3  # s added to every Bot API request (all methods, getUpdates too)
    telegram_uplink: float = 12.5 * MB  # bytes/s of uploads to Telegram, all requests together (100 Mbit/s)
    private_rate: float = 1.0  # messages/s into one private chat
    private_burst: int = 10
    group_rate_per_minute: float = 20.0  # messages/min into one group
    overall_rate: float = 30.0  # messages/s into all chats together (burst: the same number)
    poll_interval: float = 5.0  # pollInterval Google tells the client
    picker_latency: float = 0.0  # s before every Picker API answer (the polling cases: PICKER_LATENCY)
    # The project's Picker API requests a minute, all callers together: Google's default (PICKER_API.md §7).
    picker_quota: float = 100_000.0
    scale: float = 1.0

    def scaled(self, k: float) -> Costs:
        return replace(
            self,
            google_latency=self.google_latency / k,
            google_bandwidth=self.google_bandwidth * k,
            telegram_latency=self.telegram_latency / k,
            telegram_uplink=self.telegram_uplink * k,
            private_rate=self.private_rate * k,
            group_rate_per_minute=self.group_rate_per_minute * k,
            overall_rate=self.overall_rate * k,
            poll_interval=self.poll_interval / k,
            picker_latency=self.picker_latency / k,
            picker_quota=self.picker_quota * k,
            scale=self.scale * k,
        )

    @property
    def group_burst(self) -> int:
        """Telegram's group burst (20 at 20/min). The bot's pacer holds max(10, rate/min) per group and
        cannot be told otherwise, so at a scaled rate the emulator mirrors that to keep the two models
        equal (at scale 1 both are 20)."""
        return max(10, round(self.group_rate_per_minute))

    @property
    def overall_burst(self) -> int:
        return max(1, round(self.overall_rate))

    def ideal_polls(self, seconds: float, sessions: int) -> float:
        """Polls of each of `sessions` waiting picks in `seconds`: one every pollInterval, or fewer when the
        polls' part of the project's quota allows fewer for all of them."""
        return seconds * min(1 / self.poll_interval, self.picker_quota * QUOTA_FOR_POLLS / 60 / sessions)

    def describe(self) -> str:
        return (
            f"Google media {self.google_latency:g} s/request + {self.google_bandwidth / MB:g} MB/s per connection; "
            f"Telegram {self.telegram_latency:g} s/request (every method) + {self.telegram_uplink / MB:g} MB/s "
            f"shared uplink; flood {self.private_rate:g} msg/s burst {self.private_burst} per private chat, "
            f"{self.group_rate_per_minute:g}/min burst {self.group_burst} per group, {self.overall_rate:g}/s "
            f"overall; pollInterval {self.poll_interval:g} s"
            + (f", Picker API {self.picker_latency:g} s/call" if self.picker_latency else "")
            + f", Picker API quota {self.picker_quota:,.0f}/min"
        )


REAL = Costs()
# Google publishes no latency for the Picker API. Assumed: a call from a server near Google's front ends takes about
# 0.1 s. It matters only to polling at scale: waiting picks ÷ pollInterval × latency polls are in flight at once
# (10,000 at 5 s: 200), which the bot must allow (bot/poller.py POLLS_IN_FLIGHT). If Google is slower, more polls
# are in flight; up to POLLS_IN_FLIGHT ÷ (latency + the bot's own time per poll) polls a second are kept up.
PICKER_LATENCY = 0.1
POLLING = replace(REAL, picker_latency=PICKER_LATENCY)
# 10,000 picks polled every 5 s make 120,000 Picker API requests a minute: over Google's default quota (100,000,
# which allows ~8,000 waiting picks), so a project that has them has asked Google for more (README, setup step 7).
# The polling cases assume it did (--picker-quota runs them on another).
POLLING_QUOTA = 150_000.0


@dataclass(frozen=True)
class DeliveryCase:
    key: str
    title: str
    count: int
    kind: Literal["PHOTO", "VIDEO"]
    size: int  # bytes of each original (photos vary ±20% around it)
    scale: float
    in_group: bool = False
    reply_tries: int = 0  # another user's /pick tries while this case runs (responsiveness)
    memory: bool = False  # report this case's peak RSS
    archives: bool = False  # the chat's /settings chose Archive (ZIP): the originals come as ZIP files

    @property
    def costs(self) -> Costs:
        return REAL.scaled(self.scale)


@dataclass(frozen=True)
class CrowdCase:
    """`users` users pick `photos` photos each at the same moment; `in_groups` of them pick in one of `groups`
    shared groups (spread round-robin), the others in their private chats."""

    key: str
    title: str
    users: int
    photos: int
    size: int  # bytes of each original (±20%)
    scale: float
    in_groups: int = 0
    groups: int = 0
    replicas: int = 1  # more than one: that many bot processes on one PostgreSQL database share the deliveries

    @property
    def costs(self) -> Costs:
        """Replicas share the bot-wide 30/s, which the bot keeps at Telegram's real rate at any k: there the emulator
        holds them to that same 30/s, so that the case shows whether together they keep to it."""
        scaled = REAL.scaled(self.scale)
        return replace(scaled, overall_rate=REAL.overall_rate) if self.replicas > 1 else scaled


@dataclass(frozen=True)
class PicksCase:
    users: int  # linked users whose /pick arrives at the same moment
    scale: float

    @property
    def costs(self) -> Costs:
        return REAL.scaled(self.scale)


@dataclass(frozen=True)
class PollingCase:
    sessions: int  # waiting picks left by a previous run (seeded), polled by the bot
    window: float  # seconds measured, after every session polls steadily
    scale: float
    reply_tries: int  # another user's /pick during the window (responsiveness meanwhile)
    picker_quota: float = POLLING_QUOTA  # the project's Picker API requests a minute

    @property
    def costs(self) -> Costs:
        return replace(POLLING, picker_quota=self.picker_quota).scaled(self.scale)


@dataclass(frozen=True)
class StartupCase:
    items: int  # item rows of delivered picks in the database
    sessions: int  # waiting picks, all overdue for a poll (the bot was down `downtime` s)
    scale: float
    downtime: float = 10.0

    @property
    def costs(self) -> Costs:
        return REAL.scaled(self.scale)


@dataclass(frozen=True)
class Plan:
    name: str
    deliveries: tuple[DeliveryCase, ...]
    crowds: tuple[CrowdCase, ...]
    picks: PicksCase
    polling: PollingCase
    startup: StartupCase
    reply_spacing: float  # seconds between two /pick tries of the other user


FULL = Plan(
    name="full",
    deliveries=(
        DeliveryCase("photos", "100 photos", 100, "PHOTO", 3 * MB, scale=2, reply_tries=20, memory=True),
        DeliveryCase("videos", "20 videos", 20, "VIDEO", 40 * MB, scale=2, memory=True),
        DeliveryCase("group", "400 photos → group", 400, "PHOTO", 3 * MB, scale=10, in_group=True),
        # ×3, not ×10 like the albums: 1206 MB each way costs the bot about 9 CPU-s and the emulators about 13, which
        # at ×10 (a 10 s floor) is all of two cores, so the case measured the machine, not the bot.
        DeliveryCase(
            "archives", "400 photos → group as archives", 400, "PHOTO", 3 * MB, scale=3, in_group=True, archives=True
        ),
    ),
    crowds=(
        CrowdCase("crowd", "30 users × 40 photos", 30, 40, 3 * MB, scale=2),
        CrowdCase("crowd-groups", "30 users × 40 photos, 10 in 3 groups", 30, 40, 3 * MB, 2, in_groups=10, groups=3),
        # ×1: the bot-wide 30/s is not scaled, and at ×2 each replica's half of it made the case harsher than reality
        # (benchmarks/__init__.py).
        CrowdCase("crowd-replicas", "30 users × 40 photos, 2 replicas", 30, 40, 3 * MB, scale=1, replicas=2),
    ),
    picks=PicksCase(users=100, scale=1),
    polling=PollingCase(sessions=10_000, window=60.0, scale=1, reply_tries=20),
    startup=StartupCase(items=1_000_000, sessions=2000, scale=1),
    reply_spacing=1.0,
)

SMOKE = Plan(
    name="smoke",
    deliveries=(
        DeliveryCase("photos", "12 photos", 12, "PHOTO", 300_000, scale=20, reply_tries=3, memory=True),
        DeliveryCase("videos", "2 videos", 2, "VIDEO", 2 * MB, scale=20, memory=True),
        DeliveryCase("group", "24 photos → group", 24, "PHOTO", 300_000, scale=20, in_group=True),
        DeliveryCase(
            "archives", "24 photos → group as archives", 24, "PHOTO", 300_000, scale=20, in_group=True, archives=True
        ),
    ),
    crowds=(
        CrowdCase("crowd", "3 users × 4 photos", 3, 4, 300_000, scale=20),
        CrowdCase("crowd-groups", "5 users × 4 photos, 3 in 2 groups", 5, 4, 300_000, 20, in_groups=3, groups=2),
        CrowdCase("crowd-replicas", "6 users × 4 photos, 2 replicas", 6, 4, 300_000, scale=20, replicas=2),
    ),
    picks=PicksCase(users=10, scale=10),
    polling=PollingCase(sessions=20, window=3.0, scale=10, reply_tries=3),
    startup=StartupCase(items=10_000, sessions=30, scale=10, downtime=1.0),
    reply_spacing=0.3,
)
