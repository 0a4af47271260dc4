"""Short seeded chaos runs, of one bot and of three replicas (the long ones: `python -m tests.chaos --runs 40`,
`--replicas 3`), and how their judge decides."""

from __future__ import annotations

from pathlib import Path

from bot import texts
from bot.outcomes import SkipReason
from tests.chaos.engine import (
    STOPPED,
    ChaosConfig,
    ItemFacts,
    ReasonLine,
    classify,
    parse_summary,
    reasons_given,
    reported_label,
    run_chaos,
    stored_reason,
)
from tests.chaos.fleet import logged_counts
from tests.postgres import PostgresCluster

CI_SEED = 7000
CI_RUNS = 4
REPLICAS_SEED = 7100
REPLICAS_RUNS = 2  # about 2 minutes on a loaded 2-core machine


async def test_short_seeded_chaos_run_keeps_the_invariant(tmp_path: Path) -> None:
    figures = await run_chaos(CI_SEED, CI_RUNS, workdir=tmp_path)
    report = figures.render()
    assert figures.duplicated == 0 and figures.lost == 0, report
    assert figures.ok, report
    assert sum(figures.faults.values()) >= CI_RUNS * 2, report  # faults really were injected
    assert figures.outcomes["delivered"] > 0, report


async def test_short_seeded_chaos_run_of_three_replicas_keeps_the_invariant(
    tmp_path: Path, postgres: PostgresCluster
) -> None:
    config = ChaosConfig(replicas=3, database_url=postgres.url("postgres"))
    figures = await run_chaos(REPLICAS_SEED, REPLICAS_RUNS, config, workdir=tmp_path)
    report = figures.render()
    assert figures.duplicated == 0 and figures.lost == 0, report
    assert figures.ok, report
    assert figures.outcomes["delivered"] > 0, report
    counts = figures.replicas.values()
    assert sum(c.kills for c in counts) >= REPLICAS_RUNS, report  # every run SIGKILLs a replica at least once
    assert sum(c.picks_taken for c in counts) > 0, report  # …and some of their picks moved to another replica


def test_an_item_is_delivered_once_reported_or_else_counted_as_a_failure() -> None:
    in_doubt, unconfirmed = (
        texts.ENGLISH.skip_reason(SkipReason.IN_DOUBT),
        texts.ENGLISH.skip_reason(SkipReason.UNCONFIRMED),
    )
    google_down = texts.ENGLISH.skip_reason(SkipReason.GOOGLE_DOWN)

    def facts(arrivals: int, *reasons: str, unreachable: bool = False) -> ItemFacts:
        return ItemFacts("a.jpg", arrivals, frozenset(reasons), unreachable)

    assert classify(facts(1)) == "delivered"
    assert classify(facts(1, in_doubt)) == "delivered"  # reported in doubt, and it did arrive
    assert classify(facts(1, unconfirmed)) == "delivered"
    assert classify(facts(0, in_doubt)) == "reported"
    assert classify(facts(0, google_down)) == "reported"
    assert classify(facts(2)) == "duplicated"
    assert classify(facts(2, unconfirmed)) == "duplicated"
    assert classify(facts(0)) == "lost"
    assert classify(facts(0, unreachable=True)) == "unreachable"
    assert classify(facts(1, google_down)) == "contradicted"


def test_summaries_are_read_back_including_the_files_past_the_fifth() -> None:
    names = [f"IMG_{n}.JPG" for n in range(7)]
    in_doubt, too_big = stored_reason("in_doubt", None), stored_reason("too_big", "50000000")
    assert too_big == "over 50 MB"  # the stored code and detail, worded as the summary words them
    text = texts.ENGLISH.summary(9, 2, {in_doubt: names, too_big: ["big.mp4 (60 MB)"]})
    lines = parse_summary(text)
    assert lines == [
        ReasonLine(7, in_doubt, tuple(names[:5])),
        ReasonLine(1, "over 50 MB", ("big.mp4",)),
    ]
    assert parse_summary("📤 Sending 3 / 9…") is None
    given = reasons_given([lines], [(in_doubt, names)])
    assert all(given[name] == {in_doubt} for name in names)
    assert given["big.mp4"] == {"over 50 MB"}
    # Without the database's word for which files those two more were, they are not counted as told.
    assert "IMG_6.JPG" not in reasons_given([lines], [(in_doubt, names[:6])])


def test_reported_items_are_counted_by_the_stored_reason_code() -> None:
    refused = {stored_reason("telegram_refused", error) for error in ("Bad Request: a", "Bad Request: b")}
    assert len(refused) == 2  # two summary lines…
    assert {reported_label(("skipped", "telegram_refused"), {words}) for words in refused} == {"telegram_refused"}
    assert reported_label(("skipped", "too_big"), {"over 50 MB"}) == "too_big"
    assert reported_label(None, {STOPPED}) == STOPPED  # its pick was stopped before anything was stored


def test_what_each_replica_did_is_counted_from_its_log_lines() -> None:
    logs = "\n".join(
        (
            "12:00:01 r1 INFO bot.leases: replica r1 receives updates (getUpdates)",
            "12:00:02 r1 INFO bot.leases: replica r1 took pick 4",
            "12:00:03 r1 INFO bot.leases: replica r1 took 3 picks nobody held: 5, 6, 7",
            "12:00:04 r1 INFO bot.picking: pick 8 goes to replica r0, which sends into chat -100",
            "12:00:05 r1 WARNING bot.leases: replica r1 lost its lease on session 9 to another replica",
            "telegram.error.Conflict: Conflict: terminated by other getUpdates request; make sure that only one bot",
            "12:00:06 r1 INFO bot.picking: pick 10 started by user 111 in chat 111",
        )
    )
    assert logged_counts(logs) == {
        "picks_taken": 4,
        "picks_handed": 1,
        "updates_taken": 1,
        "conflicts": 1,
        "leases_lost": 1,
    }
