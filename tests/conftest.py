"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres import PostgresCluster, binaries, skip_or_fail


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One private PostgreSQL cluster for the whole test session, started on first use."""
    bindir = binaries()
    if bindir is None:
        skip_or_fail("PostgreSQL is not installed (apt-get install postgresql)")
    cluster = PostgresCluster.start(bindir)
    yield cluster
    cluster.stop()
