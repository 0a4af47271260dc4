"""`python -m benchmarks [--smoke] [--only photos,videos,group,archives,polling]`: run the cases, print one table."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cases import DeliveryRun, PollingRun, deliver_naively, deliver_with_bot, percentile, poll_at_scale
from benchmarks.profile import FULL, MB, REAL, SMOKE, DeliveryCase, Plan
from benchmarks.report import Row, millis, render, seconds

CASES = ("photos", "videos", "group", "archives", "polling")


def megabytes(value: float) -> str:
    return f"{value / MB:.0f} MB"


def delivery_rows(case: DeliveryCase, run: DeliveryRun, naive: DeliveryRun | None, notes: list[str]) -> list[Row]:
    moved = sum(run.sizes)
    ratio = run.seconds / run.floor.total
    complete = run.delivered == case.count
    reference = f"floor {seconds(run.floor.total)} ({run.floor.binding})"
    if naive is not None:
        reference += f"; naive {seconds(naive.seconds)}"
    rows = [
        Row(
            f"Delivery: {case.title}, {megabytes(moved)} moved (×{case.scale:g})",
            f"{seconds(run.seconds)} = {ratio:.2f}× floor" + ("" if complete else f" ({run.delivered} delivered)"),
            reference,
            "≤ 1.15× floor",
            complete and ratio <= 1.15,
        )
    ]
    if naive is not None and case.key == "photos":
        speedup = naive.seconds / run.seconds
        rows.append(
            Row(
                f"Speed-up vs naive sequential: {case.title}",
                f"{speedup:.2f}×",
                f"naive {seconds(naive.seconds)}; even the floor is {naive.seconds / run.floor.total:.2f}×",
                "≥ 3×",
                speedup >= 3.0,
            )
        )
    floor = run.floor
    notes.append(
        f"- {case.title}: floor terms T_data {seconds(floor.data)}, T_flood(chat) {seconds(floor.flood_chat)}, "
        f"T_flood(overall) {seconds(floor.flood_overall)}; bot summary “{run.summary.splitlines()[0]}”, "
        f"{run.flood_refusals} flood refusals"
        + (f"; naive {naive.delivered}/{case.count} delivered, {naive.flood_refusals} refusals" if naive else "")
    )
    if case.in_group:
        notes.append(f"- {case.title}: {run.route}")
    notes += [f"- {case.title}: PROBLEM {p}" for p in run.problems]
    return rows


def memory_rows(runs: dict[str, tuple[DeliveryCase, DeliveryRun]]) -> list[Row]:
    rows: list[Row] = []
    idle = next((r.idle_rss for _, r in runs.values() if r.idle_rss), None)
    if idle is not None:
        rows.append(Row("RSS of the bot: idle (just started)", megabytes(idle), "VmRSS", "—", None))
    for case, run in runs.values():
        if case.memory and run.peak_rss is not None:
            rows.append(
                Row(
                    f"Peak RSS of the bot: {case.title}",
                    megabytes(run.peak_rss),
                    "VmHWM / VmRSS every 50 ms",
                    "≤ 150 MB",
                    run.peak_rss <= 150 * MB,
                )
            )
    if "photos" in runs and "videos" in runs:
        photos, videos = runs["photos"][1].peak_rss, runs["videos"][1].peak_rss
        if photos is not None and videos is not None:
            rows.append(
                Row(
                    "Peak RSS: videos − photos",
                    f"{(videos - photos) / MB:+.0f} MB",
                    "",
                    "≤ +20 MB",
                    videos - photos <= 20 * MB,
                )
            )
    return rows


def polling_rows(run: PollingRun) -> list[Row]:
    ratio = run.per_session / run.ideal
    lag = (
        f"p50 {millis(run.lag_p50)} / p99 {millis(run.lag_p99)}"
        if run.lag_p50 is not None and run.lag_p99 is not None
        else "n/a (needs /metrics)"
    )
    rows = [
        Row(
            f"Polling {run.sessions:,} waiting sessions: Picker calls/session",
            f"{run.per_session:.2f} = {ratio:.2f}× ideal (a poll per {run.window / max(run.per_session, 1e-9):.1f} s)",
            f"ideal {run.ideal:.2f} (elapsed {run.window:.0f} s / pollInterval)",
            "≤ 1.05× ideal",
            ratio <= 1.05 and run.violations == 0,
        ),
        Row(
            "Polling: CPU of the bot per 1,000 polls",
            f"{run.cpu_per_1000:.2f} s",
            f"{run.polls:,} polls in {run.window:.0f} s",
            "≤ 1 s (1 ms/poll)",
            run.cpu_per_1000 <= 1.0,
        ),
        Row(
            "Polling: event-loop lag in the bot",
            lag,
            "bot_event_loop_lag_seconds",
            "p99 ≤ 50 ms",
            None if run.lag_p99 is None else run.lag_p99 <= 0.050,
        ),
        Row("RSS of the bot with them waiting", megabytes(run.rss), "VmRSS", "—", None),
    ]
    if run.crowd_replies:
        crowd = run.crowd_replies
        rows.append(
            Row(
                f"{len(crowd)} users' /pick at the same moment → replies",
                f"p50 {seconds(percentile(crowd, 0.5))} / p99 {seconds(percentile(crowd, 0.99))}",
                f"last after {seconds(max(crowd))} = {len(crowd) / max(crowd):.1f} prompts/s; "
                f"Telegram: burst {run.overall_rate:g}, then {run.overall_rate:g}/s",
                "—",
                None,
            )
        )
    return rows


def reply_rows(replies: list[float], title: str) -> list[Row]:
    if not replies:
        return []
    p50, p99 = percentile(replies, 0.5), percentile(replies, 0.99)
    return [
        Row(
            "Another user's /pick → reply while delivering",
            f"p50 {seconds(p50)} / p99 {seconds(p99)}",
            f"{len(replies)} tries during {title}; max {seconds(max(replies))}",
            "p99 ≤ 1 s",
            p99 <= 1.0,
        )
    ]


async def run(
    plan: Plan, only: set[str], naive: bool, root: Path, trace: bool = False, bot_root: Path | None = None
) -> str:
    began = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []
    delivered: dict[str, tuple[DeliveryCase, DeliveryRun]] = {}
    replies: list[Row] = []
    for case in plan.deliveries:
        if case.key not in only:
            continue
        print(f"… {case.title} (bot)", file=sys.stderr, flush=True)
        bot_run = await deliver_with_bot(case, root / f"{case.key}-bot", plan.reply_spacing, bot_root)
        if trace:
            print(f"{case.title}: Telegram calls since Done", *bot_run.timeline, sep="\n", file=sys.stderr)
        naive_run = None
        if naive:
            print(f"… {case.title} (naive client)", file=sys.stderr, flush=True)
            naive_run = await deliver_naively(case, root / f"{case.key}-naive")
        delivered[case.key] = (case, bot_run)
        rows += delivery_rows(case, bot_run, naive_run, notes)
        replies += reply_rows(bot_run.replies, case.title)
    rows += memory_rows(delivered)
    if "polling" in only:
        print(f"… polling {plan.polling.sessions} sessions", file=sys.stderr, flush=True)
        polling = await poll_at_scale(plan.polling, root / "polling", bot_root)
        rows += polling_rows(polling)
        notes.append(
            f"- polling: setup (link, /pick, first poll of all {polling.sessions}) took {polling.setup_seconds:.0f} s; "
            f"{polling.violations} polling violations at Google; SIGTERM → exit took {polling.shutdown_seconds:.1f} s"
        )
        notes += [f"- polling: PROBLEM {p}" for p in polling.problems]
    rows += replies
    scales = ", ".join(f"{c.key} ×{c.scale:g}" for c in plan.deliveries if c.key in only)
    if "polling" in only:
        scales += f", polling ×{plan.polling.scale:g}"
    header = [
        f"Machine: {os.cpu_count()} CPU cores, Python {platform.python_version()}, {plan.name} run, "
        f"{(time.monotonic() - began) / 60:.1f} min",
        f"Real cost profile: {REAL.describe()}",
        f"Time scale k per case (latencies and pollInterval ÷k, bandwidths and flood rates ×k, bursts kept but "
        f"the group's, which follows the bot's max(10, rate/min)): {scales}",
        "Floor = max(T_data, T_flood(chat), T_flood(overall)), formulas in benchmarks/__init__.py; "
        "naive = download one, send one (benchmarks/baseline.py)",
    ]
    if bot_root is not None:
        header.append(f"Bot run from {bot_root} (a candidate checkout), not from this one")
    title = "Performance: python -m benchmarks" + (" --smoke" if plan is SMOKE else "")
    return render(title, header, rows, notes)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and counts (CI), well under a minute")
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive sequential client")
    parser.add_argument("--keep", type=Path, help="keep work directories (bot logs, databases) here")
    parser.add_argument("--trace", action="store_true", help="print each delivery's Telegram calls (stderr)")
    parser.add_argument(
        "--bot-root", type=Path, help="run the bot from this checkout (to measure a candidate change) instead"
    )
    args = parser.parse_args()
    only = {c.strip() for c in args.only.split(",") if c.strip()}
    unknown = only - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    plan = SMOKE if args.smoke else FULL
    bot_root = args.bot_root.resolve() if args.bot_root is not None else None
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        table = asyncio.run(run(plan, only, not args.no_naive, args.keep, args.trace, bot_root))
    else:
        with tempfile.TemporaryDirectory(prefix="photos-bench-") as tmp:
            table = asyncio.run(run(plan, only, not args.no_naive, Path(tmp), args.trace, bot_root))
    print(table)


if __name__ == "__main__":
    main()
