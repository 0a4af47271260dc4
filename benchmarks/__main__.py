"""`python -m benchmarks [--smoke] [--only CASE,…]`: run the cases, print one table."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.bytes_alone import cpu_per_byte
from benchmarks.cases import (
    DeliveryRun,
    PicksRun,
    PollingRun,
    StartupRun,
    deliver_naively,
    deliver_with_bot,
    percentile,
    poll_at_scale,
    prompts_at_once,
    start_up,
)
from benchmarks.crowd import CaseSkipped, CrowdRun, deliver_crowd
from benchmarks.machine import python_reference
from benchmarks.profile import FULL, MB, REAL, SMOKE, DeliveryCase, Plan
from benchmarks.replicas import CASES as REPLICAS
from benchmarks.replicas import poll_on_replicas, replicas_rows
from benchmarks.report import Row, millis, render, seconds
from benchmarks.world import THIS_BOT, BotUnderTest

CASES = (
    "photos",
    "videos",
    "group",
    "archives",
    "crowd",
    "crowd-groups",
    "crowd-replicas",
    "picks",
    "polling",
    "polling-replicas",
    "startup",
)
GB = 1_000_000_000


def megabytes(value: float) -> str:
    return f"{value / MB:.0f} MB"


def delivery_rows(
    case: DeliveryCase, run: DeliveryRun, naive: DeliveryRun | None, alone: float | None, notes: list[str]
) -> list[Row]:
    """`alone`: CPU-s per GB the bare client spent moving the same bytes (photos only)."""
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
            "≤ 1.05× floor",
            complete and ratio <= 1.05,
        )
    ]
    if naive is not None and case.key == "photos":
        speedup = naive.seconds / run.seconds
        rows.append(
            Row(
                f"Speed-up vs naive sequential: {case.title}",
                f"{speedup:.2f}×",
                f"naive {seconds(naive.seconds)}; even the floor is {naive.seconds / run.floor.total:.2f}×",
                "—",
                None,
            )
        )
    if case.kind == "VIDEO" or case.key in ("photos", "archives"):
        meanwhile = f", with another user's {len(run.replies)} /pick meanwhile" if run.replies else ""
        rows.append(cost_row(case.title, run.cpu, run.moved, meanwhile))
    if alone is not None:
        rows.append(
            Row(
                f"CPU per GB moved: {case.title}, the bytes alone",
                f"{alone:.2f} CPU-s/GB",
                "the same sizes by a bare aiohttp + httpx client on loopback (benchmarks/bytes_alone.py), a floor",
                "—",
                None,
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


def cost_row(title: str, cpu: float, moved: int, meanwhile: str = "") -> Row:
    per_gb = cpu / max(moved / GB, 1e-9)
    return Row(
        f"CPU of the bot per GB moved: {title}",
        f"{per_gb:.2f} CPU-s/GB",
        f"{cpu:.1f} CPU-s for {moved / MB:,.0f} MB (download + upload){meanwhile}",
        "≤ 5 CPU-s/GB",
        per_gb <= 5.0,
    )


def crowd_rows(run: CrowdRun, notes: list[str]) -> list[Row]:
    case, floor = run.case, run.floor
    expected = case.users * case.photos
    ratio = run.total / floor.total
    private = [i for i, p in enumerate(run.picks) if not p.in_group]
    fairness = [run.completion[i] / run.floor.fair[i] for i in private]
    first_target = 10.0 / case.scale
    first = [run.first_album[i] for i in range(case.users)]
    rows = [
        Row(
            f"Crowd: {case.title}, {run.moved / 2 / MB:,.0f} MB each way (×{case.scale:g})",
            f"{seconds(run.total)} = {ratio:.2f}× floor"
            + ("" if run.delivered == expected else f" ({run.delivered}/{expected} delivered)"),
            f"floor {seconds(floor.total)} ({floor.binding})",
            "≤ 1.10× floor",
            run.delivered == expected and ratio <= 1.10,
        ),
        Row(
            f"Crowd: {case.title}: every user's first album",
            f"p50 {seconds(percentile(first, 0.5))} / max {seconds(max(first))}",
            f"t_1 {seconds(min(floor.first))}–{seconds(max(floor.first))}; a full first album at a fair share of "
            f"the uplink {seconds(min(floor.first_fair))}–{seconds(max(floor.first_fair))}",
            f"≤ {first_target:g} s (10 s ÷{case.scale:g})",
            max(first) <= first_target,
        ),
        Row(
            f"Crowd: {case.title}: " + ("private users' " if case.in_groups else "") + "completion ÷ fair share",
            f"p95 {percentile(fairness, 0.95):.2f}× (max {max(fairness):.2f}×)",
            f"fair share {seconds(min(floor.fair[i] for i in private))}–{seconds(max(floor.fair[i] for i in private))}",
            "p95 ≤ 1.25×",
            percentile(fairness, 0.95) <= 1.25,
        ),
    ]
    if case.in_groups:
        grouped = [i for i, p in enumerate(run.picks) if p.in_group]
        rows.append(
            Row(
                f"Crowd: {case.title}: group budgets held",
                f"{run.group_refusals} refusals in the groups",
                f"groups' last summary {seconds(max(run.completion[i] for i in grouped))}, "
                f"their floor {seconds(floor.chats)}",
                "0 refusals",
                run.group_refusals == 0,
            )
        )
    rows.append(cost_row(case.title, run.cpu, run.moved))
    notes.append(
        f"- {case.title}: floor terms uplink {seconds(floor.data)}, busiest chat {seconds(floor.chats)}, "
        f"overall {seconds(floor.overall)}; {run.refusals} flood refusals; detection 0–"
        f"{seconds(max(p.detection for p in run.picks))}"
    )
    notes += [f"- {case.title}: {d}" for d in run.details]
    notes += [f"- {case.title}: PROBLEM {p}" for p in run.problems]
    return rows


def picks_rows(run: PicksRun, notes: list[str]) -> list[Row]:
    last = max(run.replies)
    notes += [f"- {run.users} /pick at once: PROBLEM {p}" for p in run.problems]
    return [
        Row(
            f"{run.users} users' /pick at the same moment → last prompt",
            f"{seconds(last)} = {last / run.floor:.2f}× floor (p50 {seconds(percentile(run.replies, 0.5))})",
            f"floor {seconds(run.floor)} = 2·L_t + (N − b_o)/r_o",
            "≤ 1.2× floor",
            last <= 1.2 * run.floor,
        )
    ]


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
            f"ideal {run.ideal:.2f} (elapsed {run.window:.0f} s / pollInterval, within the quota)",
            "0.95–1.05× ideal",
            0.95 <= ratio <= 1.05 and run.violations == 0,
        ),
        Row(
            "Polling: CPU of the bot per 1,000 polls",
            f"{run.cpu_per_1000:.2f} s",
            f"{run.polls:,} polls in {run.window:.0f} s",
            "≤ 0.5 s (0.5 ms/poll)",
            run.cpu_per_1000 <= 0.5,
        ),
        Row(
            "Polling: event-loop lag in the bot",
            lag,
            "bot_event_loop_lag_seconds",
            "p99 ≤ 50 ms",
            None if run.lag_p99 is None else run.lag_p99 <= 0.050,
        ),
        Row("RSS of the bot with them waiting", megabytes(run.rss), "VmRSS", "≤ 250 MB", run.rss <= 250 * MB),
    ]
    if run.replies:
        p99 = percentile(run.replies, 0.99)
        rows.append(
            Row(
                "Polling: another user's /pick → reply meanwhile",
                f"p50 {seconds(percentile(run.replies, 0.5))} / p99 {seconds(p99)}",
                f"{len(run.replies)} tries; max {seconds(max(run.replies))}",
                "p99 ≤ 1 s",
                p99 <= 1.0,
            )
        )
    return rows


def startup_rows(run: StartupRun, notes: list[str]) -> list[Row]:
    even = run.sessions / 10
    polls = sorted(run.first_polls)
    notes += [f"- start-up: PROBLEM {p}" for p in run.problems]
    return [
        Row(
            f"Start-up with {run.items:,} item rows, {run.sessions:,} waiting picks: /readyz 200",
            f"{run.ready:.2f} s after the process started",
            "GET /readyz every 20 ms",
            "≤ 3 s",
            run.ready <= 3.0,
        ),
        Row(
            "Start-up: first polls of the overdue picks",
            f"from {seconds(polls[0])} to {seconds(polls[-1])}; busiest pollInterval/10 holds "
            f"{run.busiest_tenth} = {run.busiest_tenth / even:.1f}× an even share",
            f"pollInterval {run.poll_interval:g} s; even share {even:g}",
            "≤ 2× even share",
            run.busiest_tenth <= 2 * even,
        ),
    ]


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
    plan: Plan,
    only: set[str],
    naive: bool,
    root: Path,
    trace: bool = False,
    subject: BotUnderTest = THIS_BOT,
    sessions: int | None = None,
    picker_quota: float | None = None,
) -> str:
    began = time.monotonic()
    speed_at_start = python_reference()
    rows: list[Row] = []
    notes: list[str] = []
    delivered: dict[str, tuple[DeliveryCase, DeliveryRun]] = {}
    replies: list[Row] = []
    for case in plan.deliveries:
        if case.key not in only:
            continue
        print(f"… {case.title} (bot)", file=sys.stderr, flush=True)
        bot_run = await deliver_with_bot(case, root / f"{case.key}-bot", plan.reply_spacing, subject)
        if trace:
            print(f"{case.title}: Telegram calls since Done", *bot_run.timeline, sep="\n", file=sys.stderr)
        naive_run = None
        if naive:
            print(f"… {case.title} (naive client)", file=sys.stderr, flush=True)
            naive_run = await deliver_naively(case, root / f"{case.key}-naive")
        alone = None
        if case.key == "photos":
            cpu, moved = await cpu_per_byte(bot_run.sizes)
            alone = cpu / (moved / GB)
        delivered[case.key] = (case, bot_run)
        rows += delivery_rows(case, bot_run, naive_run, alone, notes)
        replies += reply_rows(bot_run.replies, case.title)
    rows += memory_rows(delivered)
    for crowd in plan.crowds:
        if crowd.key in only:
            print(f"… {crowd.title}", file=sys.stderr, flush=True)
            try:
                rows += crowd_rows(await deliver_crowd(crowd, root / crowd.key, subject), notes)
            except CaseSkipped as skipped:
                notes.append(f"- {crowd.title}: skipped, {skipped}")
    if "picks" in only:
        print(f"… {plan.picks.users} /pick at once", file=sys.stderr, flush=True)
        rows += picks_rows(await prompts_at_once(plan.picks, root / "picks", subject), notes)
    polling_case, replicas_case = plan.polling, REPLICAS[plan.name]
    if sessions is not None:
        polling_case = replace(polling_case, sessions=sessions)
        replicas_case = replace(replicas_case, sessions=sessions)
    if picker_quota is not None:
        polling_case = replace(polling_case, picker_quota=picker_quota)
        replicas_case = replace(replicas_case, picker_quota=picker_quota)
    if only & {"polling", "polling-replicas"}:
        quota = f"{polling_case.picker_quota:,.0f}"
        notes.append(f"- polling cases: the bot and Google keep to a Picker API quota of {quota} a minute (at ×1)")
    if "polling" in only:
        print(f"… polling {polling_case.sessions} sessions", file=sys.stderr, flush=True)
        polling = await poll_at_scale(polling_case, root / "polling", plan.reply_spacing, subject)
        rows += polling_rows(polling)
        notes.append(
            f"- polling: setup (seed, start, first poll of all {polling.sessions}) took {polling.setup_seconds:.0f} s; "
            f"{polling.violations} polling violations at Google; SIGTERM → exit took {polling.shutdown_seconds:.1f} s"
        )
        notes += [f"- polling: PROBLEM {p}" for p in polling.problems]
    if "polling-replicas" in only:
        print(f"… polling {replicas_case.sessions} sessions on 1 then 2 replicas", file=sys.stderr, flush=True)
        rows += replicas_rows(await poll_on_replicas(replicas_case, root / "polling-replicas", subject), notes)
    if "startup" in only:
        print(f"… start-up with {plan.startup.items:,} item rows", file=sys.stderr, flush=True)
        rows += startup_rows(await start_up(plan.startup, root / "startup", subject), notes)
    rows += replies
    scaled = (
        [(c.key, c.scale) for c in plan.deliveries]
        + [(c.key, c.scale) for c in plan.crowds]
        + [
            ("picks", plan.picks.scale),
            ("polling", plan.polling.scale),
            ("polling-replicas", REPLICAS[plan.name].scale),
            ("startup", plan.startup.scale),
        ]
    )
    scales = ", ".join(f"{key} ×{k:g}" for key, k in scaled if key in only)
    header = [
        f"Machine: {os.cpu_count()} CPU cores, Python {platform.python_version()}, {plan.name} run, "
        f"{(time.monotonic() - began) / 60:.1f} min",
        f"Machine speed: a fixed Python workload (benchmarks/machine.py) took {speed_at_start:.1f} ms at the start, "
        f"{python_reference():.1f} ms at the end (lower: faster; CPU figures move with it)",
        f"Real cost profile: {REAL.describe()}",
        f"Time scale k per case (latencies and pollInterval ÷k, bandwidths and flood rates ×k, bursts kept but "
        f"the group's, which follows the bot's max(10, rate/min)): {scales}",
        "Floor = max(T_data, T_flood(chat), T_flood(overall)), formulas in benchmarks/__init__.py; "
        "naive = download one, send one (benchmarks/baseline.py)",
    ]
    if subject.root is not None:
        header.append(f"Bot run from {subject.root} (a candidate checkout), not from this one")
    if subject.env:
        header.append("Bot settings changed: " + ", ".join(f"{k}={v}" for k, v in subject.env))
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
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run the bot with this setting, repeatable",
    )
    parser.add_argument(
        "--sessions", type=int, help="waiting picks in the polling cases (default: 10,000; --smoke: a few)"
    )
    parser.add_argument(
        "--picker-quota",
        type=float,
        help="the project's Picker API requests a minute in the polling cases (default: 150,000, room for 10,000 "
        "waiting picks; Google's default is 100,000)",
    )
    args = parser.parse_args()
    only = {c.strip() for c in args.only.split(",") if c.strip()}
    unknown = only - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    plan = SMOKE if args.smoke else FULL
    settings = [tuple(pair.split("=", 1)) for pair in args.bot_env]
    if any(len(pair) != 2 for pair in settings):
        parser.error("--bot-env takes NAME=VALUE")
    subject = BotUnderTest(
        args.bot_root.resolve() if args.bot_root is not None else None, tuple((k, v) for k, v in settings)
    )
    if args.sessions is not None and args.sessions < 1:
        parser.error("--sessions takes a positive number")
    if args.picker_quota is not None and args.picker_quota < 60:
        parser.error("--picker-quota takes 60 or more (the bot's least)")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        table = asyncio.run(
            run(plan, only, not args.no_naive, args.keep, args.trace, subject, args.sessions, args.picker_quota)
        )
    else:
        with tempfile.TemporaryDirectory(prefix="photos-bench-") as tmp:
            table = asyncio.run(
                run(plan, only, not args.no_naive, Path(tmp), args.trace, subject, args.sessions, args.picker_quota)
            )
    print(table)


if __name__ == "__main__":
    main()
