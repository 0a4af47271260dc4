"""Waiting picks polled by one replica, then by two, on one PostgreSQL database (issue 14): Picker calls per session
against the ideal in both, and the CPU each replica spends (two should each spend about half of what one does).

Both runs start from the same seed (users, links, Google sessions, last polls) in a fresh database of a private
cluster (tests/postgres.py). The second replica starts after the first took every pick, as in a rolling start: the
first lets half of them go at its next lease round, and the window is measured once each holds its share.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg

from benchmarks.profile import POLLING, POLLING_QUOTA, Costs
from benchmarks.report import Row
from benchmarks.seed import Waiting, grant_tokens, open_session, seed_database
from benchmarks.world import THIS_BOT, BotUnderTest, World, cpu_seconds, wait_until
from tests.harness import BotProcess
from tests.postgres import PostgresCluster, binaries


@dataclass(frozen=True)
class ReplicasCase:
    sessions: int  # waiting picks left by a previous run (seeded)
    window: float  # seconds measured, once every replica polls its share steadily
    scale: float
    lease_seconds: float  # LEASE_SECONDS: the first replica lets picks go within a third of it
    picker_quota: float = POLLING_QUOTA  # the project's Picker API requests a minute, all replicas together

    @property
    def costs(self) -> Costs:
        return replace(POLLING, picker_quota=self.picker_quota).scaled(self.scale)


CASES = {
    "full": ReplicasCase(sessions=10_000, window=60.0, scale=1, lease_seconds=30.0),
    "smoke": ReplicasCase(sessions=40, window=3.0, scale=10, lease_seconds=3.0),
}


@dataclass
class ReplicaRun:
    """One run: `len(cpu)` replicas polling the seeded picks for `window` seconds."""

    window: float
    polls: int
    per_session: float
    ideal: float
    cpu: list[float]  # CPU seconds of each replica in the window
    held: list[int]  # picks each replica held when the window began
    violations: int  # polls Google's emulator saw sooner than pollInterval after the previous one
    fewest: int  # polls of the session polled least in the window (0: one was forgotten)


@dataclass
class ReplicasRun:
    sessions: int
    runs: list[ReplicaRun] = field(default_factory=list)  # one replica, then two
    skipped: str | None = None
    problems: list[str] = field(default_factory=list)


async def poll_on_replicas(case: ReplicasCase, workdir: Path, subject: BotUnderTest = THIS_BOT) -> ReplicasRun:
    result = ReplicasRun(case.sessions)
    bindir = binaries()
    if bindir is None:
        result.skipped = "PostgreSQL is not installed here (no /usr/lib/postgresql/*/bin/initdb)"
        if os.environ.get("CI") == "true":
            result.problems.append(f"{result.skipped}; CI installs it (.ci/run)")
        return result
    cluster = PostgresCluster.start(bindir)
    try:
        for replicas in (1, 2):
            run, problems = await _run(
                case, replicas, workdir / f"{replicas}", await cluster.create_database(), subject
            )
            result.runs.append(run)
            result.problems += [f"{replicas} replica(s): {p}" for p in problems]
    finally:
        cluster.stop()
    return result


async def _run(
    case: ReplicasCase, count: int, workdir: Path, url: str, subject: BotUnderTest
) -> tuple[ReplicaRun, list[str]]:
    costs = case.costs
    world = World(workdir, subject)
    await world.start(costs)
    replicas: list[BotProcess] = []
    try:
        google = world.google
        for n in range(count):
            replica = world.make_bot(costs)
            replica.name = f"r{n}"
            replica.env.update(
                DATABASE_URL=url,
                REPLICA_NAME=replica.name,
                LEASE_SECONDS=f"{case.lease_seconds:g}",
                TEMP_DIR=str(workdir / f"tmp-r{n}"),
            )
            replicas.append(replica)
        users = list(range(10_000, 10_000 + case.sessions))
        tokens = await grant_tokens(google, users, replicas[0].env["PUBLIC_URL"] + "/oauth/callback")
        rng, now = random.Random(2), time.time()
        waiting = [Waiting(u, open_session(google, u), now - rng.uniform(0, costs.poll_interval)) for u in users]
        await seed_database(url, list(zip(users, tokens, strict=True)), waiting, costs.poll_interval)
        for user in users:
            world.tg.add_user(user, f"User {user}")
        world.apply_costs(costs)
        for n, replica in enumerate(replicas):
            await replica.start(timeout=60, receiving=n == 0)
        sessions = [w.session for w in waiting]
        patience = 60 + case.sessions / 20
        await wait_until(lambda: all(s.polls for s in sessions), patience, "every session polled")
        held = await _wait_shared(url, [r.name for r in replicas], case.sessions, patience)
        await asyncio.sleep(costs.poll_interval + 1)  # a whole interval polled by the holders of the window

        pids = [r.proc.pid for r in replicas if r.proc is not None]
        cpu_before, began = [cpu_seconds(pid) for pid in pids], google.now()
        violations_before = len(google.violations)
        await asyncio.sleep(case.window)
        cpu_after, ended = [cpu_seconds(pid) for pid in pids], google.now()
        each = [sum(1 for t in s.polls if began <= t < ended) for s in sessions]
        polls = sum(each)
        run = ReplicaRun(
            window=ended - began,
            polls=polls,
            per_session=polls / case.sessions,
            ideal=costs.ideal_polls(ended - began, case.sessions),
            cpu=[after - before for before, after in zip(cpu_before, cpu_after, strict=True)],
            held=held,
            violations=len(google.violations) - violations_before,
            fewest=min(each),
        )
        problems = []
        for replica in replicas:
            code = await replica.stop()
            if code != 0:
                problems.append(f"{replica.name} exited with {code}")
        return run, problems
    finally:
        for replica in replicas:
            if replica.proc is not None:
                await replica.kill()
        await world.close()


async def _wait_shared(url: str, names: list[str], sessions: int, limit: float) -> list[int]:
    """Until every replica holds its fair share of the picks (within a few); returns how many each holds."""
    fair = -(-sessions // len(names))
    slack = max(2, fair // 20)  # bot/leases.py lets picks go only above its share by more than this
    deadline = time.monotonic() + limit
    conn = await asyncpg.connect(url)
    try:
        while True:
            rows = await conn.fetch(
                "SELECT holder, count(*) AS picks FROM leases WHERE work = 'session' GROUP BY holder"
            )
            held = {row["holder"]: int(row["picks"]) for row in rows}
            counts = [held.get(name, 0) for name in names]
            if sum(counts) == sessions and all(abs(n - fair) <= slack for n in counts):
                return counts
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replicas hold {counts} of {sessions} picks after {limit:.0f} s")
            await asyncio.sleep(0.5)  # the leases live in another process's database
    finally:
        await conn.close()


def replicas_rows(result: ReplicasRun, notes: list[str]) -> list[Row]:
    notes += [f"- polling-replicas: PROBLEM {p}" for p in result.problems]
    if result.skipped is not None:
        notes.append(f"- polling-replicas: skipped, {result.skipped}")
        return []
    rows = []
    for run in result.runs:
        ratio = run.per_session / run.ideal
        replicas = len(run.cpu)
        rows.append(
            Row(
                f"Polling {result.sessions:,} waiting picks on {replicas} replica{'s' * (replicas > 1)} (PostgreSQL): "
                "Picker calls/session",
                f"{run.per_session:.2f} = {ratio:.2f}× ideal; picks held {' / '.join(map(str, run.held))}",
                f"ideal {run.ideal:.2f}; fewest of one session {run.fewest}; {run.violations} polls sooner than "
                "pollInterval",
                "0.95–1.05× ideal",
                0.95 <= ratio <= 1.05 and run.violations == 0,
            )
        )
    if len(result.runs) == 2:
        one, two = result.runs
        busiest = max(two.cpu) / max(one.cpu[0], 1e-9)
        rows.append(
            Row(
                "… CPU per replica in the window: 1 replica → each of 2",
                f"{one.cpu[0]:.1f} s → {' / '.join(f'{c:.1f}' for c in two.cpu)} s (busiest {busiest:.2f}×)",
                "per 1,000 polls: "
                f"{one.cpu[0] / max(one.polls, 1) * 1000:.2f} s → {sum(two.cpu) / max(two.polls, 1) * 1000:.2f} s",
                "≈ ½ (≤ 0.6×)",
                busiest <= 0.6,
            )
        )
    return rows
