"""A short seeded chaos run (the long one: `python -m tests.chaos --runs 40`), and how its judge decides."""

from __future__ import annotations

from pathlib import Path

from bot import texts
from tests.chaos.engine import ItemFacts, ReasonLine, classify, parse_summary, reasons_given, run_chaos

CI_SEED = 7000
CI_RUNS = 4


async def test_short_seeded_chaos_run_keeps_the_invariant(tmp_path: Path) -> None:
    figures = await run_chaos(CI_SEED, CI_RUNS, workdir=tmp_path)
    report = figures.render()
    assert figures.duplicated == 0 and figures.lost == 0, report
    assert figures.ok, report
    assert sum(figures.faults.values()) >= CI_RUNS * 2, report  # faults really were injected
    assert figures.outcomes["delivered"] > 0, report


def test_an_item_is_delivered_once_reported_or_else_counted_as_a_failure() -> None:
    def facts(arrivals: int, *reasons: str, unreachable: bool = False) -> ItemFacts:
        return ItemFacts("a.jpg", arrivals, frozenset(reasons), unreachable)

    assert classify(facts(1)) == "delivered"
    assert classify(facts(1, texts.REASON_IN_DOUBT)) == "delivered"  # reported in doubt, and it did arrive
    assert classify(facts(0, texts.REASON_IN_DOUBT)) == "reported"
    assert classify(facts(0, texts.REASON_GOOGLE_DOWN)) == "reported"
    assert classify(facts(2)) == "duplicated"
    assert classify(facts(2, texts.REASON_UNCONFIRMED)) == "duplicated"
    assert classify(facts(0)) == "lost"
    assert classify(facts(0, unreachable=True)) == "unreachable"
    assert classify(facts(1, texts.REASON_GOOGLE_DOWN)) == "contradicted"


def test_summaries_are_read_back_including_the_files_past_the_fifth() -> None:
    names = [f"IMG_{n}.JPG" for n in range(7)]
    text = texts.summary(
        9,
        2,
        {
            texts.REASON_IN_DOUBT: names,
            texts.REASON_TOO_BIG.format(limit="50 MB"): ["big.mp4 (60 MB)"],
        },
    )
    lines = parse_summary(text)
    assert lines == [
        ReasonLine(7, texts.REASON_IN_DOUBT, tuple(names[:5])),
        ReasonLine(1, "over 50 MB", ("big.mp4",)),
    ]
    assert parse_summary("📤 Sending 3 / 9…") is None
    given = reasons_given([lines], [(texts.REASON_IN_DOUBT, names)])
    assert all(given[name] == {texts.REASON_IN_DOUBT} for name in names)
    assert given["big.mp4"] == {"over 50 MB"}
    # Without the database's word for which files those two more were, they are not counted as told.
    assert "IMG_6.JPG" not in reasons_given([lines], [(texts.REASON_IN_DOUBT, names[:6])])
