"""The per-user limit on a group's "Pick photos" button: counts presses in a sliding window, per user, and
forgets users gone quiet so it never grows with everyone who ever pressed."""

from __future__ import annotations

import time

import pytest

from bot.sharing import PressLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(time, "monotonic", fake)
    return fake


def test_presses_beyond_the_count_wait_for_the_window(clock: Clock) -> None:
    limit = PressLimit(3, 60.0)
    assert [limit.allow(1) for _ in range(4)] == [True, True, True, False]
    assert limit.allow(2)  # another user has their own count
    clock.now += 59.9
    assert not limit.allow(1)
    clock.now += 0.2
    assert [limit.allow(1) for _ in range(4)] == [True, True, True, False]


def test_users_gone_quiet_are_forgotten(clock: Clock) -> None:
    limit = PressLimit(3, 60.0)
    for user_id in range(1000):
        limit.allow(user_id)
    assert len(limit) == 1000
    clock.now += 61.0
    limit.allow(5000)
    assert len(limit) == 1
