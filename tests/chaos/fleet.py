"""The bot's processes in a chaos run: one on SQLite, or replicas r0, r1, … sharing one PostgreSQL database, each
killed, stopped and restarted by the chaos driver, and what each of them did, counted from its logs."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from tests.harness import BotProcess

LEASE_SECONDS = 3.0  # the replicas' LEASE_SECONDS: short, so that takeovers happen within a run


@dataclass
class ReplicaCounts:
    kills: int = 0  # SIGKILLs
    stops: int = 0  # SIGTERMs before the run's end (the last stop of every run is not counted)
    picks_taken: int = 0  # picks it took over from a replica that died or stopped ("took pick" in its logs)
    picks_handed: int = 0  # picks it handed to the replica sending into their chat ("goes to replica")
    updates_taken: int = 0  # times it started receiving updates (the getUpdates lease)
    conflicts: int = 0  # getUpdates answered 409 while it was alive: another replica was calling it too
    leases_lost: int = 0  # leases another replica took from it while it ran (its renewals missed)

    def __add__(self, other: ReplicaCounts) -> ReplicaCounts:
        return ReplicaCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


LOGGED = {  # a ReplicaCounts field, counted by the log lines of bot/leases.py and bot/picking.py that say it
    # "took pick 7", or one line a round: "took 3 picks nobody held: 4, 5, 7"
    "picks_taken": re.compile(r"replica \S+ took (?:pick \d+|(\d+) picks nobody held)"),
    "picks_handed": re.compile(r"pick \d+ goes to replica \S+, which sends into chat"),
    "updates_taken": re.compile(r"replica \S+ receives updates \(getUpdates\)"),
    "conflicts": re.compile(r"Conflict: terminated by other getUpdates request"),
    "leases_lost": re.compile(r"replica \S+ lost its lease on "),
}


class Replica:
    """One slot (r0, r1, …). A restart may give its process another REPLICA_NAME, as the default hostname-pid
    would; it keeps its TEMP_DIR and its counts."""

    def __init__(self, slot: str, process: BotProcess) -> None:
        self.slot = slot
        self.process = process
        self.lock = asyncio.Lock()  # one start, stop or kill at a time
        self.counts = ReplicaCounts()
        self.restarting: asyncio.Task[None] | None = None
        self._generation = 0

    @property
    def up(self) -> bool:
        return self.process.proc is not None

    @property
    def name(self) -> str:
        return self.process.env.get("REPLICA_NAME", self.slot)

    def rename(self) -> None:
        self._generation += 1
        self.process.env["REPLICA_NAME"] = f"{self.slot}-{self._generation}"


class Fleet:
    def __init__(self, replicas: list[Replica], note: Callable[[str], None], problem: Callable[[str], None]) -> None:
        self.replicas = replicas
        self.note = note
        self.problem = problem
        self.ended: dict[str, str] = {}  # REPLICA_NAME -> how its last process ended ("SIGKILL", "SIGTERM")
        self.kill_times: list[float] = []  # time.monotonic() of every SIGKILL

    @property
    def shared(self) -> bool:
        """Replicas on PostgreSQL (else one bot on SQLite, restarted as it always was)."""
        return "REPLICA_NAME" in self.replicas[0].process.env

    def running(self) -> list[Replica]:
        """Up, and not being stopped or waiting to restart."""
        return [r for r in self.replicas if r.up and (r.restarting is None or r.restarting.done())]

    def named(self, name: str) -> Replica | None:
        return next((replica for replica in self.replicas if replica.name == name), None)

    async def start_all(self) -> None:
        """The first one receives the updates; the others wait their turn at the getUpdates lease."""
        for n, replica in enumerate(self.replicas):
            await replica.process.start(receiving=n == 0)

    async def kill(self, replica: Replica) -> bool:
        async with replica.lock:
            if not replica.up:
                return False
            await replica.process.kill()
            self.kill_times.append(time.monotonic())
            replica.counts.kills += 1
            self.ended[replica.name] = "SIGKILL"
            return True

    async def stop(self, replica: Replica, *, last: bool = False) -> bool:
        """SIGTERM, and a problem noted unless it exits cleanly within its bound."""
        async with replica.lock:
            if not replica.up:
                return False
            if not last:
                replica.counts.stops += 1
            self.ended[replica.name] = "SIGTERM"
            try:
                code = await replica.process.stop()
            except TimeoutError:
                self.problem(f"{replica.name} did not stop within 20 s of SIGTERM")
                await replica.process.kill()
                self.ended[replica.name] = "SIGKILL"
            else:
                if code != 0:
                    self.problem(f"{replica.name} exited with {code} on SIGTERM")
            return True

    async def start(self, replica: Replica, *, rename: bool = False) -> None:
        async with replica.lock:
            if replica.up:
                return
            if rename and self.shared:
                replica.rename()
            # One bot waits until it receives updates again; a replica may have to wait for the getUpdates lease.
            self.ended.pop(replica.name, None)
            # 60 s: on a loaded machine a replica has been seen to take 31 s from exec to serving /healthz.
            await replica.process.start(timeout=60, receiving=not self.shared)
            self.note(f"{replica.name} started" if self.shared else "bot restarted")

    def restart_later(self, replica: Replica, after: float, *, rename: bool, stop_first: bool = False) -> None:
        """Start it again `after` seconds from now (SIGTERM first with `stop_first`: a stop lets the upload under way
        finish); in the background, so that the chaos goes on meanwhile."""

        async def restart() -> None:
            try:
                if stop_first and not await self.stop(replica):
                    return
                await asyncio.sleep(after)
                await self.start(replica, rename=rename)
            except Exception as exc:
                self.problem(f"{replica.slot} did not restart: {type(exc).__name__}: {exc}")

        replica.restarting = asyncio.create_task(restart())

    async def all_up(self) -> None:
        """Restarts under way finish; whatever is still down starts."""
        await asyncio.gather(*(r.restarting for r in self.replicas if r.restarting is not None))
        for replica in self.replicas:
            await self.start(replica)

    async def stop_all(self) -> None:
        for replica in self.replicas:
            await self.stop(replica, last=True)

    async def end(self) -> None:
        """Whatever still runs is killed (a run that broke): nothing outlives the run."""
        for replica in self.replicas:
            if replica.restarting is not None:
                replica.restarting.cancel()
            if replica.up:
                await replica.process.kill()

    def logs(self) -> str:
        return "\n".join(replica.process.logs() for replica in self.replicas)

    def temp_dirs(self, workdir: Path) -> list[Path]:
        return [Path(r.process.env["TEMP_DIR"]) for r in self.replicas if "TEMP_DIR" in r.process.env] or [
            workdir / "data" / "tmp"
        ]

    def counts(self) -> dict[str, ReplicaCounts]:
        """Per slot, the counts kept here and those its logs tell."""
        found = {}
        for replica in self.replicas:
            logged = logged_counts(replica.process.logs())
            found[replica.slot] = ReplicaCounts(replica.counts.kills, replica.counts.stops, **logged)
        return found


def logged_counts(logs: str) -> dict[str, int]:
    """The LOGGED counts of one replica's logs; a line saying how many (its pattern's group) counts that many."""
    return {
        key: sum(int(m.group(1)) if pattern.groups and m.group(1) else 1 for m in pattern.finditer(logs))
        for key, pattern in LOGGED.items()
    }
