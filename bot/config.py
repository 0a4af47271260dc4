"""Settings: read and validate the environment once, into one frozen object."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
GOOGLE_USERINFO_URL = "https://openidconnect.googleapis.com/v1/userinfo"
PICKER_API_URL = "https://photospicker.googleapis.com/v1"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token
METRICS_TOKEN = re.compile(r"[!-~]{16,256}")  # what fits an Authorization header, long enough not to guess


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


@dataclass(frozen=True)
class Settings:
    telegram_bot_token: str
    telegram_api_url: str
    telegram_local_mode: bool
    telegram_local_files: bool  # the local Bot API server reads the bot's files: send file:// paths
    album_max_bytes: int  # the most one album uploads in one request
    telegram_private_rate: float
    telegram_group_rate_per_minute: float
    google_client_id: str
    google_client_secret: str
    public_url: str
    sign_in_by_paste: bool  # the browser may be on another device: Google's redirect address is pasted into the chat
    http_host: str
    http_port: int
    database_url: str  # sqlite:///… or postgresql://… (holds the database password: never print it)
    database_path: Path | None  # the SQLite file; None on PostgreSQL
    encryption_key: str | None
    google_auth_url: str
    google_token_url: str
    google_revoke_url: str
    google_userinfo_url: str
    picker_api_url: str
    # The Cloud project's Picker API quota (Google's default: 100,000 a minute), for all replicas together.
    picker_requests_per_minute: float
    log_level: str
    video_processing_timeout: float
    max_active_picks: int
    picks_per_hour: int
    max_items_per_pick: int
    telegram_webhook_url: str | None
    telegram_webhook_secret: str | None
    log_format: str
    admin_user_ids: frozenset[int]
    # Deliveries running at once; more wait in line for a free slot. A private chat takes 1 message/s, about a
    # tenth of a 100 Mbit/s uplink in photos: 8 left it idle while the 9th user waited (README "At scale").
    max_deliveries: int
    temp_dir: Path  # downloads wait here for their upload
    temp_budget_bytes: int  # the most all deliveries' downloads may take in temp_dir at once
    temp_min_free_bytes: int  # a download starts only while the disk has this much free
    metrics_token: str | None  # when set, /metrics wants "Authorization: Bearer <it>"
    http_idle_timeout: float  # seconds a connection may sit idle or half-way through a request's headers
    retention_days: float  # a finished pick's items are deleted this long after it ended
    dedup_days: float  # how long a chat remembers what it was sent, to skip repeats (0: off)
    archive_offer_minutes: float  # a pick longer than this as albums is offered as archives first (0: never)
    archive_offer_wait: float  # seconds the offer waits for the picker's answer; silence means albums
    replica_name: str  # this process among those sharing one PostgreSQL database: logs, /healthz, metrics
    lease_seconds: float  # how long a replica's claim on a piece of work lasts without a heartbeat

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/oauth/callback"

    @property
    def data_dir(self) -> Path:
        """Where the SQLite database, the generated key and secret and temporary downloads live."""
        return _data_dir(self.database_path)

    @property
    def database_password(self) -> str:
        """The password in DATABASE_URL ("" when none), to mask wherever the bot writes."""
        if self.database_path is not None:
            return ""
        return urlsplit(self.database_url).password or ""


def load_dotenv(path: Path) -> dict[str, str]:
    """Parse a simple KEY=VALUE .env file (comments, blank lines, optional quotes)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _required(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required: {what}.")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}.")
    return value.rstrip("/")


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}.")
    return value


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {raw!r}.")
    return int(raw)


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, got {raw!r}.")


def _optional_url(env: Mapping[str, str], name: str) -> str | None:
    return _url(env, name, "") if env.get(name, "").strip() else None


def _sign_in_by_paste(env: Mapping[str, str]) -> bool:
    """SIGN_IN_BY_PASTE; unset, on when PUBLIC_URL is this machine (like the default http://localhost:8080)."""
    if env.get("SIGN_IN_BY_PASTE", "").strip():
        return _bool(env, "SIGN_IN_BY_PASTE")
    return _loopback(urlsplit(_url(env, "PUBLIC_URL", "http://localhost:8080")).hostname)


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _webhook_url(env: Mapping[str, str], local_mode: bool) -> str | None:
    """Telegram delivers webhooks over HTTPS only (Bot API, setWebhook). A local Bot API server also takes
    plain http (its README): with TELEGRAM_LOCAL_MODE, or on a loopback host, which only a server on this
    machine can reach."""
    url = _optional_url(env, "TELEGRAM_WEBHOOK_URL")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" and not (local_mode or _loopback(parts.hostname)):
        raise ConfigError(
            f"TELEGRAM_WEBHOOK_URL must start with https:// (Telegram sends webhooks over HTTPS only; plain http "
            f"works only with a local Bot API server, TELEGRAM_LOCAL_MODE=true), got {url!r}."
        )
    return url


def _local_files(env: Mapping[str, str], local_mode: bool) -> bool:
    local_files = _bool(env, "TELEGRAM_LOCAL_FILES")
    if local_files and not local_mode:
        raise ConfigError(
            "TELEGRAM_LOCAL_FILES=true needs TELEGRAM_LOCAL_MODE=true: only a local Bot API server reads files "
            "from the bot's disk."
        )
    return local_files


def _webhook_secret(env: Mapping[str, str]) -> str | None:
    value = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
    if value and not WEBHOOK_SECRET.fullmatch(value):
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -.")
    return value or None


def _metrics_token(env: Mapping[str, str]) -> str | None:
    value = env.get("METRICS_TOKEN", "").strip()
    if value and not METRICS_TOKEN.fullmatch(value):
        raise ConfigError("METRICS_TOKEN must be 16-256 printable ASCII characters without spaces.")
    return value or None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}.")
    return value


def _user_ids(env: Mapping[str, str], name: str) -> frozenset[int]:
    raw = env.get(name, "").strip()
    parts = [part.strip() for part in raw.split(",")] if raw else []
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ConfigError(f"{name} must be Telegram user ids separated by commas, like 12345,67890; got {raw!r}.")
    return frozenset(int(part) for part in parts)


def _data_dir(database_path: Path | None) -> Path:
    return Path("data") if database_path is None else database_path.parent


def _shown(url: str) -> str:
    """The value for an error message, unless it may hold a password (an "@", or a "user:password" colon after the
    scheme's): a malformed URL cannot be trusted to say where its password is."""
    if "@" in url or url.count(":") > 1:
        return "a value not shown here (it may hold a password)"
    return repr(url)


def parse_database_url(env: Mapping[str, str]) -> tuple[str, Path | None]:
    """DATABASE_URL, and the SQLite file it names (None for PostgreSQL)."""
    raw = env.get("DATABASE_URL", "").strip() or "sqlite:///data/bot.sqlite3"
    if raw.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(raw)
        try:
            parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
        except ValueError:
            parts = parts._replace(netloc="")
        if not parts.hostname or parts.path.strip("/") == "":
            raise ConfigError(
                f"DATABASE_URL must look like postgresql://user:password@host:port/dbname, got {_shown(raw)}."
            )
        return raw, None
    if not raw.startswith("sqlite:///") or raw == "sqlite:///":
        raise ConfigError(
            "DATABASE_URL must look like sqlite:///relative/path.sqlite3, sqlite:////absolute/path.sqlite3 or "
            f"postgresql://user:password@host:port/dbname, got {_shown(raw)}."
        )
    return raw, Path(raw.removeprefix("sqlite:///"))


def _temp_dir(env: Mapping[str, str], database_path: Path | None) -> Path:
    """TEMP_DIR, or the data folder's tmp. The bot empties it of its own folders at start-up."""
    raw = env.get("TEMP_DIR", "").strip()
    if not raw:
        return _data_dir(database_path) / "tmp"
    if "\0" in raw:
        raise ConfigError(f"TEMP_DIR must be a folder path, got {raw!r}.")
    return Path(raw)


def _shared_secrets_set(encryption_key: str | None, webhook_url: str | None, webhook_secret: str | None) -> None:
    """On PostgreSQL every replica must hold the same key and webhook secret: one generated into a file on one
    machine would not be known to the others."""
    if encryption_key is None:
        raise ConfigError(
            "ENCRYPTION_KEY is required with PostgreSQL: every replica must decrypt the same stored tokens, so a "
            "key generated on one machine cannot serve; make one with: python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'."
        )
    if webhook_url is not None and webhook_secret is None:
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET is required with PostgreSQL in webhook mode: every replica must accept the "
            "same secret, so one generated on one machine cannot serve; choose 1-256 characters of A-Z, a-z, "
            "0-9, _ and -."
        )


def _replica_name(env: Mapping[str, str]) -> str:
    value = env.get("REPLICA_NAME", "").strip() or f"{socket.gethostname()}-{os.getpid()}"
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
        raise ConfigError("REPLICA_NAME must be 1-64 characters of A-Z, a-z, 0-9, '.', ':', '_' and '-'.")
    return value


def _port(env: Mapping[str, str]) -> int:
    raw = env.get("HTTP_PORT", "").strip() or "8080"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"HTTP_PORT must be a port number between 1 and 65535, got {raw!r}.")
    return int(raw)


def load_settings(env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
    """Build Settings from the environment, with `.env` values filling in what the environment lacks."""
    merged: dict[str, str] = load_dotenv(dotenv if dotenv is not None else Path(".env"))
    merged.update(os.environ if env is None else env)

    token = _required(merged, "TELEGRAM_BOT_TOKEN", "the bot token from @BotFather, like 123456:ABC-DEF")
    if ":" not in token or not token.split(":", 1)[0].isdigit():
        raise ConfigError("TELEGRAM_BOT_TOKEN must look like 123456:ABC-DEF (the token from @BotFather).")
    log_level = (merged.get("LOG_LEVEL", "").strip() or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}.")
    encryption_key = merged.get("ENCRYPTION_KEY", "").strip() or None
    if encryption_key is not None:
        from bot.crypto import is_valid_key

        if not is_valid_key(encryption_key):
            raise ConfigError(
                "ENCRYPTION_KEY must be a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'."
            )
    local_mode = _bool(merged, "TELEGRAM_LOCAL_MODE")
    database_url, database_path = parse_database_url(merged)
    webhook_url = _webhook_url(merged, local_mode)
    webhook_secret = _webhook_secret(merged)
    if database_path is None:
        _shared_secrets_set(encryption_key, webhook_url, webhook_secret)
    return Settings(
        telegram_bot_token=token,
        telegram_api_url=_url(merged, "TELEGRAM_API_URL", "https://api.telegram.org"),
        telegram_local_mode=local_mode,
        telegram_local_files=_local_files(merged, local_mode),
        album_max_bytes=round(_number(merged, "ALBUM_MAX_MB", 200.0, minimum=1) * 1_000_000),
        telegram_private_rate=_number(merged, "TELEGRAM_PRIVATE_RATE", 1.0, minimum=0.01),
        telegram_group_rate_per_minute=_number(merged, "TELEGRAM_GROUP_RATE_PER_MINUTE", 20.0, minimum=0.1),
        google_client_id=_required(merged, "GOOGLE_CLIENT_ID", "the OAuth client ID from Google Cloud Console"),
        google_client_secret=_required(
            merged, "GOOGLE_CLIENT_SECRET", "the OAuth client secret from Google Cloud Console"
        ),
        public_url=_url(merged, "PUBLIC_URL", "http://localhost:8080"),
        sign_in_by_paste=_sign_in_by_paste(merged),
        http_host=merged.get("HTTP_HOST", "").strip() or "0.0.0.0",
        http_port=_port(merged),
        database_url=database_url,
        database_path=database_path,
        encryption_key=encryption_key,
        google_auth_url=_url(merged, "GOOGLE_AUTH_URL", GOOGLE_AUTH_URL),
        google_token_url=_url(merged, "GOOGLE_TOKEN_URL", GOOGLE_TOKEN_URL),
        google_revoke_url=_url(merged, "GOOGLE_REVOKE_URL", GOOGLE_REVOKE_URL),
        google_userinfo_url=_url(merged, "GOOGLE_USERINFO_URL", GOOGLE_USERINFO_URL),
        picker_api_url=_url(merged, "PICKER_API_URL", PICKER_API_URL),
        picker_requests_per_minute=_number(merged, "PICKER_REQUESTS_PER_MINUTE", 100_000.0, minimum=60),
        log_level=log_level,
        video_processing_timeout=_number(merged, "VIDEO_PROCESSING_TIMEOUT", 600.0, minimum=0),
        max_active_picks=_whole(merged, "MAX_ACTIVE_PICKS", 3, 1, 100),
        picks_per_hour=_whole(merged, "PICKS_PER_HOUR", 20, 1, 10_000),
        max_items_per_pick=_whole(merged, "MAX_ITEMS_PER_PICK", 2000, 1, 2000),
        telegram_webhook_url=webhook_url,
        telegram_webhook_secret=webhook_secret,
        log_format=_choice(merged, "LOG_FORMAT", LOG_FORMATS),
        admin_user_ids=_user_ids(merged, "ADMIN_USER_IDS"),
        max_deliveries=_whole(merged, "MAX_DELIVERIES", 32, 1, 1000),
        temp_dir=_temp_dir(merged, database_path),
        temp_budget_bytes=round(_number(merged, "TEMP_BUDGET_MB", 2000.0, minimum=1) * 1_000_000),
        temp_min_free_bytes=round(_number(merged, "TEMP_MIN_FREE_MB", 500.0, minimum=0) * 1_000_000),
        metrics_token=_metrics_token(merged),
        http_idle_timeout=_number(merged, "HTTP_IDLE_TIMEOUT", 15.0, minimum=0.1),
        retention_days=_number(merged, "RETENTION_DAYS", 30.0, minimum=0.001),
        dedup_days=_number(merged, "DEDUP_DAYS", 365.0, minimum=0),
        archive_offer_minutes=_number(merged, "ARCHIVE_OFFER_MINUTES", 3.0, minimum=0),
        archive_offer_wait=_number(merged, "ARCHIVE_OFFER_WAIT", 120.0, minimum=1),
        replica_name=_replica_name(merged),
        lease_seconds=_number(merged, "LEASE_SECONDS", 30.0, minimum=1),
    )
