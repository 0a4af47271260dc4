"""Fixtures: both emulators on free ports, and the real bot process pointed at them."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot.webhook import WEBHOOK_PATH
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.harness import CLIENT_ID, CLIENT_SECRET, ENCRYPTION_KEY, TOKEN, BotProcess, Person, bot_env, sqlite_url
from tests.postgres import PostgresCluster

BOT_USERNAME = "photos_test_bot"
SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference" / "telegram" / "api.json"
# E2E_MODE=webhook runs every end-to-end test with the bot receiving updates by webhook instead of polling.
E2E_MODE = os.environ.get("E2E_MODE", "polling")
if E2E_MODE not in ("polling", "webhook"):
    raise ValueError(f"E2E_MODE must be polling or webhook, got {E2E_MODE!r}")
# E2E_DATABASE=postgresql runs every end-to-end test with the bot on a fresh database of the session's private
# PostgreSQL cluster (tests/postgres.py) instead of a SQLite file.
E2E_DATABASE = os.environ.get("E2E_DATABASE", "sqlite")
if E2E_DATABASE not in ("sqlite", "postgresql"):
    raise ValueError(f"E2E_DATABASE must be sqlite or postgresql, got {E2E_DATABASE!r}")
ON_POSTGRESQL = E2E_DATABASE == "postgresql"
# PostgreSQL refuses to start in webhook mode without a configured secret (a generated one cannot be shared).
WEBHOOK_SECRET = "e2e-webhook-secret"


@cache
def bot_api_spec() -> dict[str, Any] | None:
    """The machine-readable Bot API reference beside the repo (CI has it), or None."""
    return json.loads(SPEC.read_text()) if SPEC.exists() else None


def spec_problems(calls: list[Any], spec: dict[str, Any]) -> list[str]:
    """Every call against the Bot API spec: the method exists, parameters are known, required ones present."""
    problems = []
    for call in calls:
        method = spec["methods"].get(call.method)
        if method is None:
            problems.append(f"{call.method}: no such Bot API method")
            continue
        fields = {f["name"]: f for f in method.get("fields", [])}
        problems += [f"{call.method}: unknown parameter {name}" for name in set(call.params) - set(fields)]
        problems += [
            f"{call.method}: missing required {name}"
            for name, f in fields.items()
            if f["required"] and name not in call.params
        ]
    return problems


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(token=TOKEN, bot_username=BOT_USERNAME)
    await emulator.start()
    yield emulator
    await emulator.stop()
    emulator.assert_no_violations()
    # Every Bot API call of every end-to-end test is checked against the reference when it is there.
    spec = bot_api_spec()
    if spec is not None:
        problems = spec_problems(emulator.calls, spec)
        assert not problems, problems


@pytest.fixture
async def google() -> AsyncIterator[GoogleEmulator]:
    emulator = GoogleEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    emulator.poll_interval = 0.2
    await emulator.start()
    yield emulator
    await emulator.stop()
    emulator.assert_no_violations()


@pytest.fixture
def e2e_mode() -> str:
    """How the bot receives updates: "polling" or "webhook" (a test module may override this fixture)."""
    return E2E_MODE


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test's database, shared by the bots it makes (as their SQLite file in tmp_path would be): a fresh one
    on the session's cluster with E2E_DATABASE=postgresql, which alone starts that cluster."""
    if not ON_POSTGRESQL:
        return sqlite_url(tmp_path)
    postgres: PostgresCluster = request.getfixturevalue("postgres")
    return await postgres.create_database()


@pytest.fixture
async def make_bot(
    tmp_path: Path, tg: TelegramEmulator, google: GoogleEmulator, e2e_mode: str, database_url: str
) -> AsyncIterator[Callable[..., BotProcess]]:
    made: list[BotProcess] = []

    def make(**overrides: str) -> BotProcess:
        defaults = {"ENCRYPTION_KEY": ENCRYPTION_KEY, "DATABASE_URL": database_url}
        if ON_POSTGRESQL:
            # A fixed name, as a process manager gives: restarted, the bot takes its picks back at once instead
            # of after LEASE_SECONDS (what a SIGKILLed replica's picks wait for: tests/e2e/test_replicas.py).
            defaults |= {"TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET, "REPLICA_NAME": f"e2e-{len(made)}"}
        env = bot_env(tmp_path, tg, google, **{**defaults, **overrides})
        if e2e_mode == "webhook" and "TELEGRAM_WEBHOOK_URL" not in overrides:
            env["TELEGRAM_WEBHOOK_URL"] = env["PUBLIC_URL"] + WEBHOOK_PATH
        google.redirect_uris.add(env["PUBLIC_URL"] + "/oauth/callback")
        made.append(BotProcess(env=env, workdir=tmp_path, tg=tg))
        return made[-1]

    yield make
    # A test that failed (or forgot) leaves its bots running: they would hold their ports and CPU for good.
    for process in made:
        if process.proc is not None and process.proc.returncode is None:
            await process.kill()


@pytest.fixture
async def bot(make_bot: Callable[..., BotProcess]) -> AsyncIterator[BotProcess]:
    process = make_bot()
    await process.start()
    yield process
    if process.proc is not None:
        code = await process.stop()
        assert code == 0, process.logs()[-3000:]
    assert "Traceback" not in process.logs(), process.logs()[-5000:]


@pytest.fixture
def alice(tg: TelegramEmulator, google: GoogleEmulator) -> Person:
    tg.add_user(111, "Alice", username="alice")
    return Person(tg, google, 111, "Alice", "alice@example.com")


@pytest.fixture
def bob(tg: TelegramEmulator, google: GoogleEmulator) -> Person:
    tg.add_user(222, "Bob", username="bob")
    return Person(tg, google, 222, "Bob", "bob@example.com")
