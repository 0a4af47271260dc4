"""Prometheus metrics, all in one registry built in bot/app.py and served on /metrics.

Requests to Google (by endpoint) and Telegram (by method): a latency histogram with one observation
per HTTP attempt, up to the answer (for media downloads: its headers, not the whole body), and an
error counter whose `error` label is the HTTP status (400 and up) or, when no answer came, the
exception's class. Whether Google accepts the bot's own configuration (`bot_google_config_ok`,
`bot_google_config_errors_total`), set as Google answers. Counts of pick sessions and items are read from
the database at scrape time, through an index and from counts kept by triggers: a scrape costs the same at any
size. How much per-chat and per-user state is kept in memory (`bot_memory_entries`, by kind): idle entries
are dropped, so it follows the chats and users active lately, not all there ever were. Event-loop lag comes
from a task that asks to wake every 100 ms and measures how late it woke; the process collector adds
memory, CPU and file descriptors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from bot.health import CONFIG_PARTS
from bot.outcomes import SkipReason
from storage.stats import ItemOutcomes, StatsRepository

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_INTERVAL = 0.1

_REASON_LABELS = frozenset(reason.value for reason in SkipReason)  # anything else is "other"


class Timing:
    """One request being timed. `status` records the HTTP answer: the request's time ends there (what
    the block does next with the answer is not the service's latency) and 400 and up is an error."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.answered_at: float | None = None

    def status(self, code: int) -> None:
        self.answered_at = time.monotonic()
        if code >= 400:
            self.error = str(code)


class RequestMetrics:
    """Latency and errors of the requests to one service, labelled by endpoint or method."""

    def __init__(self, registry: CollectorRegistry, service: str, label: str) -> None:
        self._latency = Histogram(
            f"bot_{service}_request_duration_seconds",
            f"Duration of one request to {service.capitalize()}, retries counted separately",
            [label],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self._errors = Counter(
            f"bot_{service}_request_errors",
            f"Requests to {service.capitalize()} that failed: HTTP status, or the exception when none came",
            [label, "error"],
            registry=registry,
        )

    @asynccontextmanager
    async def timed(self, name: str) -> AsyncIterator[Timing]:
        """Time the block; an exception escaping it before `Timing.status` was called is an error."""
        timing = Timing()
        started = time.monotonic()
        try:
            yield timing
        except Exception as exc:
            if timing.answered_at is None:
                timing.error = type(exc).__name__
            raise
        finally:
            ended = timing.answered_at if timing.answered_at is not None else time.monotonic()
            self._latency.labels(name).observe(ended - started)
            if timing.error is not None:
                self._errors.labels(name, timing.error).inc()


class GoogleConfigMetrics:
    """Whether Google accepts the bot's own configuration, by part (oauth_client, picker_api): a gauge, 1 until
    Google refuses that part and again once it accepts it, and a count of the refusals by Google's error."""

    def __init__(self, registry: CollectorRegistry, parts: Iterable[str]) -> None:
        self._ok = Gauge(
            "bot_google_config_ok",
            "1 while Google accepts the bot's own configuration (OAuth client, Picker API in the project), else 0",
            ["part"],
            registry=registry,
        )
        self._errors = Counter(
            "bot_google_config_errors",
            "Google's refusals of the bot's own configuration, by part and Google's error",
            ["part", "error"],
            registry=registry,
        )
        for part in parts:
            self._ok.labels(part).set(1)

    def refused(self, part: str, error: str) -> None:
        self._errors.labels(part, error).inc()
        self._ok.labels(part).set(0)

    def accepted(self, part: str) -> None:
        self._ok.labels(part).set(1)


class DatabaseCounts:
    """A collector of counts read from the database: `refresh` them just before each scrape."""

    def __init__(self, stats: StatsRepository) -> None:
        self._stats = stats
        self._sessions: dict[str, int] = {}
        self._items = ItemOutcomes(0, {})

    async def refresh(self) -> None:
        self._sessions = await self._stats.active_sessions()
        self._items = await self._stats.item_outcomes()

    def describe(self) -> Iterator[Metric]:
        return self._families({}, ItemOutcomes(0, {}))

    def collect(self) -> Iterator[Metric]:
        return self._families(self._sessions, self._items)

    @staticmethod
    def _families(sessions: dict[str, int], items: ItemOutcomes) -> Iterator[Metric]:
        active = GaugeMetricFamily("bot_pick_sessions_active", "Pick sessions under way, by status", labels=["status"])
        for status, count in sessions.items():
            active.add_metric([status], count)
        yield active
        yield CounterMetricFamily("bot_items_delivered", "Picked items delivered into Telegram", value=items.delivered)
        failed = CounterMetricFamily("bot_items_failed", "Picked items not delivered, by reason", labels=["reason"])
        by_label: dict[str, int] = {}
        for stored, count in items.failed.items():
            label = stored if stored in _REASON_LABELS else "other"
            by_label[label] = by_label.get(label, 0) + count
        for label, count in sorted(by_label.items()):
            failed.add_metric([label], count)
        yield failed


class Metrics:
    """Everything /metrics shows."""

    def __init__(self, registry: CollectorRegistry, stats: StatsRepository) -> None:
        self.registry = registry
        ProcessCollector(registry=registry)
        self.google = RequestMetrics(registry, "google", "endpoint")
        self.telegram = RequestMetrics(registry, "telegram", "method")
        self.google_config = GoogleConfigMetrics(registry, CONFIG_PARTS)
        self._lag = Histogram(
            "bot_event_loop_lag_seconds",
            f"How late the event loop woke a task that sleeps {LAG_INTERVAL:g} s at a time",
            registry=registry,
            buckets=LAG_BUCKETS,
        )
        self._counts = DatabaseCounts(stats)
        registry.register(self._counts)
        self._entries = Gauge(
            "bot_memory_entries",
            "Per-chat and per-user state kept in memory, by kind (idle entries are dropped)",
            ["kind"],
            registry=registry,
        )

    def identify(self, replica: str) -> None:
        """bot_replica_info{replica=...} 1: which of several replicas sharing one database this /metrics is."""
        Info(
            "bot_replica", "This process among the replicas sharing one database (REPLICA_NAME)", registry=self.registry
        ).info({"replica": replica})

    def watch_polls(self, behind: Callable[[], float]) -> None:
        """Show `behind()` at each scrape as bot_polls_behind_seconds."""
        Gauge(
            "bot_polls_behind_seconds",
            "How late the most overdue poll of a waiting pick is (grows when the Picker API quota holds polls back)",
            registry=self.registry,
        ).set_function(behind)

    def track(self, kind: str, count: Callable[[], int]) -> None:
        """Show `count()` at each scrape as bot_memory_entries{kind=...}."""
        self._entries.labels(kind).set_function(count)

    async def exposition(self) -> bytes:
        """The Prometheus text format, with the database counts read now."""
        await self._counts.refresh()
        return generate_latest(self.registry)

    async def watch_event_loop(self) -> None:
        """Run until cancelled: every LAG_INTERVAL, record how much later than asked the loop woke us."""
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            self._lag.observe(max(0.0, loop.time() - expected))
