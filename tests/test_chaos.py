"""A short seeded chaos run (the long one: `python -m tests.chaos --runs 40`), and how its judge decides."""

from __future__ import annotations

from pathlib import Path

from bot import texts
from bot.outcomes import SkipReason
from tests.chaos.engine import (
    STOPPED,
    ItemFacts,
    ReasonLine,
    classify,
    parse_summary,
    reasons_given,
    reported_label,
    run_chaos,
    stored_reason,
)

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
