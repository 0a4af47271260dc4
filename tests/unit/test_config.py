"""Settings: defaults, .env loading, and one clear line for every bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

BASE = {
    "TELEGRAM_BOT_TOKEN": "123:abc",
    "GOOGLE_CLIENT_ID": "cid",
    "GOOGLE_CLIENT_SECRET": "secret",
}


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(BASE, dotenv=tmp_path / "none")
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.redirect_uri == "http://localhost:8080/oauth/callback"
    assert settings.database_path == Path("data/bot.sqlite3")
    assert settings.picker_api_url == "https://photospicker.googleapis.com/v1"
    assert settings.picker_requests_per_minute == 100_000  # Google's default quota (PICKER_API.md §7)
    assert (settings.http_host, settings.http_port, settings.log_level) == ("0.0.0.0", 8080, "INFO")
    assert settings.encryption_key is None and not settings.telegram_local_mode
    assert settings.telegram_webhook_url is None and settings.telegram_webhook_secret is None
    assert settings.log_format == "text" and settings.admin_user_ids == frozenset()
    assert settings.album_max_bytes == 200_000_000 and not settings.telegram_local_files
    assert (settings.archive_offer_minutes, settings.archive_offer_wait) == (3.0, 120.0)


def test_operations_settings(tmp_path: Path) -> None:
    settings = load_settings(
        {
            **BASE,
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook/",
            "TELEGRAM_WEBHOOK_SECRET": "A-z_09",
            "LOG_FORMAT": "JSON",
            "ADMIN_USER_IDS": " 12345, 67890 ,5",
        },
        dotenv=tmp_path / "none",
    )
    assert settings.telegram_webhook_url == "https://bot.example.com/telegram/webhook"
    assert settings.telegram_webhook_secret == "A-z_09"
    assert settings.log_format == "json"
    assert settings.admin_user_ids == {12345, 67890, 5}
    assert load_settings({**BASE, "TELEGRAM_WEBHOOK_URL": " "}, dotenv=tmp_path / "none").telegram_webhook_url is None


def test_absolute_database_path_has_four_slashes(tmp_path: Path) -> None:
    settings = load_settings({**BASE, "DATABASE_URL": "sqlite:////var/lib/bot/db.sqlite3"}, dotenv=tmp_path / "x")
    assert settings.database_path == Path("/var/lib/bot/db.sqlite3")


def test_dotenv_fills_in_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('# comment\nTELEGRAM_BOT_TOKEN="9:from-file"\nGOOGLE_CLIENT_ID=file-id\nHTTP_PORT=9000\n')
    settings = load_settings({"GOOGLE_CLIENT_ID": "env-id", "GOOGLE_CLIENT_SECRET": "s"}, dotenv=dotenv)
    assert settings.telegram_bot_token == "9:from-file"
    assert settings.google_client_id == "env-id"
    assert settings.http_port == 9000


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
        ({"GOOGLE_CLIENT_SECRET": " "}, "GOOGLE_CLIENT_SECRET"),
        ({"HTTP_PORT": "eighty"}, "HTTP_PORT"),
        ({"HTTP_PORT": "70000"}, "HTTP_PORT"),
        ({"PUBLIC_URL": "bot.example.com"}, "PUBLIC_URL"),
        ({"DATABASE_URL": "postgres://x"}, "DATABASE_URL"),
        ({"ENCRYPTION_KEY": "short"}, "ENCRYPTION_KEY"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"TELEGRAM_LOCAL_MODE": "maybe"}, "TELEGRAM_LOCAL_MODE"),
        ({"TELEGRAM_PRIVATE_RATE": "0"}, "TELEGRAM_PRIVATE_RATE"),
        ({"PICKER_API_URL": "ftp://x"}, "PICKER_API_URL"),
        ({"TELEGRAM_WEBHOOK_URL": "bot.example.com/hook"}, "TELEGRAM_WEBHOOK_URL"),
        ({"TELEGRAM_WEBHOOK_URL": "http://bot.example.com/hook"}, "TELEGRAM_WEBHOOK_URL"),
        ({"TELEGRAM_LOCAL_FILES": "true"}, "TELEGRAM_LOCAL_FILES"),
        ({"ALBUM_MAX_MB": "0.5"}, "ALBUM_MAX_MB"),
        ({"TELEGRAM_WEBHOOK_SECRET": "has spaces"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_WEBHOOK_SECRET": "x" * 257}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_WEBHOOK_SECRET": "päss"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"ADMIN_USER_IDS": "12,abc"}, "ADMIN_USER_IDS"),
        ({"ADMIN_USER_IDS": "12;34"}, "ADMIN_USER_IDS"),
        ({"ADMIN_USER_IDS": "-5"}, "ADMIN_USER_IDS"),
        ({"ADMIN_USER_IDS": "1,,2"}, "ADMIN_USER_IDS"),
        ({"ADMIN_USER_IDS": "١٢"}, "ADMIN_USER_IDS"),
        ({"ARCHIVE_OFFER_MINUTES": "-1"}, "ARCHIVE_OFFER_MINUTES"),
        ({"ARCHIVE_OFFER_MINUTES": "soon"}, "ARCHIVE_OFFER_MINUTES"),
        ({"ARCHIVE_OFFER_WAIT": "0"}, "ARCHIVE_OFFER_WAIT"),
        ({"PICKER_REQUESTS_PER_MINUTE": "59"}, "PICKER_REQUESTS_PER_MINUTE"),
        ({"PICKER_REQUESTS_PER_MINUTE": "lots"}, "PICKER_REQUESTS_PER_MINUTE"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings({**BASE, **change}, dotenv=tmp_path / "none")


def test_malformed_admin_ids_stop_start_up_with_one_line(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), **BASE, "ADMIN_USER_IDS": "alice"}
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error: ADMIN_USER_IDS must be Telegram user ids separated by commas, like 12345,67890; "
        "got 'alice'."
    ]


def test_missing_variable_stops_start_up_with_one_line(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "GOOGLE_CLIENT_ID": "x", "GOOGLE_CLIENT_SECRET": "y"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "TELEGRAM_BOT_TOKEN is required" in lines[0]
    assert "Traceback" not in result.stderr


def test_plain_http_webhooks_only_for_a_local_bot_api_server(tmp_path: Path) -> None:
    """Telegram's cloud delivers webhooks over HTTPS only; a local Bot API server also over plain http. A
    loopback host can only be reached by a server on this machine, so that one is taken too."""
    none = tmp_path / "none"
    for url in ("http://127.0.0.1:8080/telegram/webhook", "http://localhost:8080/hook", "http://[::1]/hook"):
        assert load_settings({**BASE, "TELEGRAM_WEBHOOK_URL": url}, dotenv=none).telegram_webhook_url == url
    local = {**BASE, "TELEGRAM_LOCAL_MODE": "true", "TELEGRAM_WEBHOOK_URL": "http://bot:8080/hook"}
    assert load_settings(local, dotenv=none).telegram_webhook_url == "http://bot:8080/hook"


def test_local_files_and_album_size(tmp_path: Path) -> None:
    env = {**BASE, "TELEGRAM_LOCAL_MODE": "1", "TELEGRAM_LOCAL_FILES": "yes", "ALBUM_MAX_MB": "20"}
    settings = load_settings(env, dotenv=tmp_path / "none")
    assert settings.telegram_local_files and settings.album_max_bytes == 20_000_000


def test_an_http_webhook_stops_start_up_with_one_line(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), **BASE, "TELEGRAM_WEBHOOK_URL": "http://bot.example.com/x"}
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error: TELEGRAM_WEBHOOK_URL must start with https:// (Telegram sends webhooks over HTTPS "
        "only; plain http works only with a local Bot API server, TELEGRAM_LOCAL_MODE=true), "
        "got 'http://bot.example.com/x'."
    ]


def test_metrics_token_idle_timeout_and_retention(tmp_path: Path) -> None:
    defaults = load_settings(BASE, dotenv=tmp_path / "none")
    assert (defaults.metrics_token, defaults.http_idle_timeout, defaults.retention_days) == (None, 15.0, 30.0)
    settings = load_settings(
        {**BASE, "METRICS_TOKEN": "tok_0123456789-abc", "HTTP_IDLE_TIMEOUT": "2.5", "RETENTION_DAYS": "7"},
        dotenv=tmp_path / "none",
    )
    assert (settings.metrics_token, settings.http_idle_timeout, settings.retention_days) == (
        "tok_0123456789-abc",
        2.5,
        7.0,
    )
    for name, bad in (
        ("METRICS_TOKEN", "short"),
        ("METRICS_TOKEN", "has a space in it 0123456789"),
        ("HTTP_IDLE_TIMEOUT", "0"),
        ("HTTP_IDLE_TIMEOUT", "soon"),
        ("RETENTION_DAYS", "0"),
        ("RETENTION_DAYS", "forever"),
    ):
        with pytest.raises(ConfigError, match=name) as refused:
            load_settings({**BASE, name: bad}, dotenv=tmp_path / "none")
        assert "\n" not in str(refused.value)


def test_delivery_slots_and_temp_space(tmp_path: Path) -> None:
    defaults = load_settings(BASE, dotenv=tmp_path / "none")
    assert (defaults.max_deliveries, defaults.temp_dir) == (32, Path("data/tmp"))
    assert (defaults.temp_budget_bytes, defaults.temp_min_free_bytes) == (2_000_000_000, 500_000_000)
    settings = load_settings(
        {
            **BASE,
            "DATABASE_URL": "sqlite:////srv/bot/bot.sqlite3",
            "MAX_DELIVERIES": "3",
            "TEMP_BUDGET_MB": "150.5",
            "TEMP_MIN_FREE_MB": "0",
        },
        dotenv=tmp_path / "none",
    )
    assert (settings.max_deliveries, settings.temp_dir) == (3, Path("/srv/bot/tmp"))
    assert (settings.temp_budget_bytes, settings.temp_min_free_bytes) == (150_500_000, 0)
    assert load_settings({**BASE, "TEMP_DIR": "/scratch/bot"}, dotenv=tmp_path / "none").temp_dir == Path(
        "/scratch/bot"
    )
    for name, bad in (
        ("MAX_DELIVERIES", "0"),
        ("MAX_DELIVERIES", "many"),
        ("TEMP_BUDGET_MB", "0.5"),
        ("TEMP_BUDGET_MB", "lots"),
        ("TEMP_MIN_FREE_MB", "-1"),
        ("TEMP_DIR", "a\0b"),
    ):
        with pytest.raises(ConfigError, match=name) as refused:
            load_settings({**BASE, name: bad}, dotenv=tmp_path / "none")
        assert "\n" not in str(refused.value)


KEY = "u6X0m5XvKJ9Zg0wq5Y2lRr1b1dDk0m2tQm8Yy9eQf3E="


def test_postgresql_and_replica_settings(tmp_path: Path) -> None:
    url = "postgresql://bot:pa55word@db.example.com:5433/photos?sslmode=require"
    settings = load_settings({**BASE, "DATABASE_URL": url, "ENCRYPTION_KEY": KEY}, dotenv=tmp_path / "none")
    assert settings.database_url == url and settings.database_path is None
    assert settings.database_password == "pa55word"
    assert settings.temp_dir == Path("data/tmp")
    assert settings.lease_seconds == 30 and settings.replica_name.endswith(f"-{os.getpid()}")
    assert load_settings({**BASE, "DATABASE_URL": "postgres://h/db", "ENCRYPTION_KEY": KEY}).database_password == ""
    named = load_settings(
        {**BASE, "DATABASE_URL": url, "ENCRYPTION_KEY": KEY, "REPLICA_NAME": "web-2", "LEASE_SECONDS": "10"},
        dotenv=tmp_path / "none",
    )
    assert (named.replica_name, named.lease_seconds) == ("web-2", 10)
    assert load_settings(BASE, dotenv=tmp_path / "none").database_password == ""
    with pytest.raises(ConfigError, match="REPLICA_NAME"):
        load_settings({**BASE, "REPLICA_NAME": "two words"}, dotenv=tmp_path / "none")
    with pytest.raises(ConfigError, match="LEASE_SECONDS"):
        load_settings({**BASE, "LEASE_SECONDS": "0"}, dotenv=tmp_path / "none")


def test_postgresql_needs_the_key_and_webhook_secret_every_replica_shares(tmp_path: Path) -> None:
    postgres = {**BASE, "DATABASE_URL": "postgresql://bot:pw@db/photos"}
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY is required with PostgreSQL"):
        load_settings(postgres, dotenv=tmp_path / "none")
    webhook = {**postgres, "ENCRYPTION_KEY": KEY, "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook"}
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET is required with PostgreSQL"):
        load_settings(webhook, dotenv=tmp_path / "none")
    assert load_settings({**webhook, "TELEGRAM_WEBHOOK_SECRET": "s3cret"}, dotenv=tmp_path / "none")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bot:hunter2-secret@db.example.com:port/photos",
        "postgresql://bot:hunter2-secret@db.example.com:5432",
        "mysql://bot:hunter2-secret@db.example.com/photos",
        "postgresql://bot:hunter2-secret@/photos",
        "postgresql://bot:hunter2/secret@db.example.com/photos",  # a "/" in the password: no host left
        "postgresql://bot:hunter2-secret",
    ],
)
def test_a_malformed_database_url_stops_start_up_without_its_password(tmp_path: Path, url: str) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), **BASE, "DATABASE_URL": url, "ENCRYPTION_KEY": KEY}
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Configuration error: DATABASE_URL must look like"), lines
    assert "hunter2" not in result.stderr + result.stdout and "not shown here" in lines[0]
