"""The Picker API quota as the bot keeps it: 0.95 of the project's requests a minute, shared among replicas;
requests that never wait go below zero, and polls wait until it is paid back."""

from __future__ import annotations

import pytest

from bot.google.quota import PickerQuota


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_it_holds_one_seconds_worth_and_refills_at_the_quotas_rate() -> None:
    clock = Clock()
    quota = PickerQuota(6000, clock)  # 100 a second; the bot keeps to 95
    for _ in range(95):
        assert quota.wait() == 0
        quota.spend()
    assert quota.wait() == pytest.approx(1 / 95)
    assert quota.wait(16) == pytest.approx(16 / 95)  # the poller waits for a batch, to read them in one go
    clock.now = 1 / 95
    assert quota.wait() == 0
    clock.now = 100.0  # idle for long: still one second's worth, no more
    for _ in range(95):
        quota.spend()
    assert quota.wait() > 0


def test_in_any_minute_polls_and_a_burst_of_other_requests_stay_within_the_quota() -> None:
    """Polls take every token as it comes; other requests (a crowd's /pick) spend at once, even below zero, and the
    polls after them wait until it is paid back. Counted over the minute, all of them fit in Google's 6,000."""
    clock = Clock()
    quota = PickerQuota(6000, clock)
    made = 0
    for step in range(6000):
        clock.now = step / 100
        if step == 3000:
            for _ in range(150):  # 150 at once, while polls took everything
                quota.spend()
                made += 1
        while quota.wait() == 0:
            quota.spend()
            made += 1
    # One second's worth, then 95 a second for 60 s: the burst came out of the polls' share, not on top of it.
    assert made == pytest.approx(95 + 95 * 59.99, abs=2)
    assert made <= 6000


def test_replicas_share_it_equally_and_a_small_quota_still_lets_one_request_through() -> None:
    clock = Clock()
    quota = PickerQuota(6000, clock)
    quota.share(2)
    spent = 0
    while quota.wait() == 0:
        quota.spend()
        spent += 1
    assert spent == 47  # one second's worth of its share (47.5): a poll waits for a whole token
    assert quota.wait() == pytest.approx(0.5 / 47.5)
    quota.share(1)
    assert quota.wait() == pytest.approx(0.5 / 95)

    small = PickerQuota(60, clock)  # 0.95 a second: less than one in a second, yet one fits
    assert small.wait() == 0
    small.spend()
    assert small.wait() == small.wait(16) == pytest.approx(1 / 0.95)  # it never holds 16
