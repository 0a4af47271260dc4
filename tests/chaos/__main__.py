"""`python -m tests.chaos --runs N --seed S [--replicas R]`: seeded chaos runs; prints the figures, exits 1 on a
broken invariant. With R ≥ 2 replicas share a PostgreSQL database: a private cluster (Debian's binaries), or the
server of --database-url."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from tests.chaos.engine import KINDS, ChaosConfig, RunResult, run_chaos
from tests.postgres import PostgresCluster, binaries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="how many runs (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run; run n uses seed+n (default 1)")
    parser.add_argument("--workdir", type=Path, help="where runs keep their files (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep every run's folder, not only failing ones")
    parser.add_argument("--only", help=f"comma-separated fault kinds to inject (default all: {', '.join(KINDS)})")
    parser.add_argument("--log-level", default="INFO", help="the bot's LOG_LEVEL (default INFO)")
    parser.add_argument(
        "--replicas", type=int, default=1, help="replicas of the bot on one PostgreSQL database (default 1: SQLite)"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server where each run creates its own database (postgresql://user:password@host:port/db,"
        " a user allowed to CREATE DATABASE); default with --replicas 2 or more: a private cluster",
    )
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be 1 or more")
    kinds = frozenset(KINDS)
    if args.only:
        kinds = frozenset(k.strip() for k in args.only.split(",") if k.strip())
        unknown = kinds - set(KINDS)
        if unknown:
            parser.error(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    cluster = None
    if args.replicas >= 2 and args.database_url is None:
        bindir = binaries()
        if bindir is None:
            parser.error("--replicas needs PostgreSQL: apt-get install postgresql, or give --database-url")
        cluster = PostgresCluster.start(bindir)
    server = args.database_url or (cluster.url("postgres") if cluster is not None else None)
    config = ChaosConfig(
        kinds=kinds, keep=args.keep, log_level=args.log_level, replicas=args.replicas, database_url=server
    )

    def progress(run: RunResult) -> None:
        faults = sum(run.faults.values())
        print(
            f"run {run.seed}: {'ok' if run.ok else 'FAILED'} in {run.seconds:.0f} s, {faults} faults,"
            f" {run.items} items: " + ", ".join(f"{k} {v}" for k, v in sorted(run.outcomes.items())),
            file=sys.stderr,
            flush=True,
        )
        for problem in run.problems:
            print(f"  {problem}", file=sys.stderr, flush=True)

    # The emulators log a traceback whenever the bot hangs up mid-answer (a kill, a download it refuses):
    # expected here, and noise.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    try:
        figures = asyncio.run(run_chaos(args.seed, args.runs, config, args.workdir, progress))
    finally:
        if cluster is not None:
            cluster.stop()  # and its databases, a failing run's too (its folder and logs are kept)
    print(figures.render())
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
