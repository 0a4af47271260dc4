"""`python -m bot migrate-db --to postgresql://…`: move the SQLite database named by DATABASE_URL into an empty
PostgreSQL database, so that several replicas can share it (README, "Several replicas on PostgreSQL")."""

from __future__ import annotations

import argparse
import asyncio
import sys
from urllib.parse import urlsplit

import asyncpg

from bot.config import ConfigError, Settings, load_settings, parse_database_url
from bot.crypto import KEY_FILE_NAME
from bot.logs import RedactingFormatter
from storage.database import SchemaTooNew, SqliteDatabase
from storage.postgres import PostgresDatabase, describe
from storage.transfer import TargetNotEmpty, copy_into


def main(args: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bot migrate-db",
        description="Copy the SQLite database named by DATABASE_URL into an empty PostgreSQL database.",
    )
    parser.add_argument("--to", required=True, metavar="postgresql://user:password@host:port/dbname")
    target = parser.parse_args(args).to
    try:
        settings = load_settings()
        url, path = parse_database_url({"DATABASE_URL": target})
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    if settings.database_path is None or path is not None:
        message = "DATABASE_URL must name the SQLite database to copy from, --to a postgresql:// URL to copy into."
        print(f"Configuration error: {message}", file=sys.stderr)
        sys.exit(2)
    password = urlsplit(url).password or ""
    try:
        print(asyncio.run(_copy(settings, url)))
    except (SchemaTooNew, TargetNotEmpty, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"Cannot migrate: {RedactingFormatter('%(message)s', [password]).redact(str(exc))}", file=sys.stderr)
        sys.exit(1)


async def _copy(settings: Settings, url: str) -> str:
    """Copy, and say what was copied and what the replicas need next."""
    assert settings.database_path is not None
    source, target = SqliteDatabase(settings.database_path), PostgresDatabase(url)
    await source.open()
    try:
        await target.open()
        try:
            copied = await copy_into(source, target, describe(url))
        finally:
            await target.close()
    finally:
        await source.close()
    rows = copied.tables
    key = (
        "ENCRYPTION_KEY as now"
        if settings.encryption_key
        else f"ENCRYPTION_KEY set to the key in {settings.data_dir / KEY_FILE_NAME}"
    )
    return (
        f"Copied {settings.database_path} into {describe(url)}: {rows.get('google_links', 0)} links, "
        f"{rows.get('pick_sessions', 0)} picks, {rows.get('pick_items', 0)} items. Start the replicas with "
        f"DATABASE_URL set to it and {key}."
    )
