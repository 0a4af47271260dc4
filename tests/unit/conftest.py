"""Shared unit-test fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.database import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database, closed even when the test fails (an open one keeps pytest from exiting)."""
    database = Database(tmp_path / "bot.sqlite3")
    await database.open()
    yield database
    await database.close()
