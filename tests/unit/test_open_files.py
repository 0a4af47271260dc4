"""The bot raises its open-files soft limit to the hard one at start (bot/__main__.py)."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from bot.__main__ import raise_open_files_limit


@pytest.fixture
def limits() -> Iterator[tuple[int, int]]:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield before
    resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_a_low_soft_limit_is_raised_to_the_hard_one(limits: tuple[int, int]) -> None:
    _, hard = limits
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"the hard open-files limit here ({hard}) leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    raise_open_files_limit()

    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
