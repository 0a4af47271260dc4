"""Typed client for the Google Photos Picker API, and streaming media downloads.

It speaks HTTP through aiohttp, not httpx: polling thousands of sessions is mostly small requests, and
aiohttp's client spends about a tenth of httpx's CPU on each (httpcore scans its whole pool per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from bot.google.errors import (
    GoogleError,
    GoogleUnavailable,
    LinkBroken,
    MediaUnavailable,
    Misconfigured,
    SessionGone,
    TooLarge,
    TooManySessions,
)
from bot.google.quota import PickerQuota
from bot.google.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after
from bot.poller import POLLS_IN_FLIGHT

if TYPE_CHECKING:
    from bot.health import GoogleConfig
    from bot.metrics import RequestMetrics

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
MAX_PAGES = 200  # of mediaItems.list: a pick holds at most 2000 items, 100 a page (empty pages happen)
# ErrorInfo reasons (google/api/error_reason.proto) of the project's request quota: a 429 with one of these is
# throttling that passes; any other 429 of sessions.create is the user's too many open sessions.
QUOTA_REASONS = frozenset({"RATE_LIMIT_EXCEEDED", "RESOURCE_QUOTA_EXCEEDED"})
# ErrorInfo reasons that put the bot's Cloud project at fault (the Picker API not enabled, billing, a
# suspended project): only the operator can fix them, relinking cannot.
OPERATOR_REASONS = frozenset(
    {"SERVICE_DISABLED", "BILLING_DISABLED", "CONSUMER_SUSPENDED", "CONSUMER_INVALID", "USER_PROJECT_DENIED"}
)
# Where a user's bearer token may go: https on Google's media domains for media (baseUrls are on
# lh3.googleusercontent.com), on googleapis.com for Picker API calls, and the host of an overridden
# PICKER_API_URL (the emulators).
MEDIA_DOMAINS = ("googleusercontent.com", "googlevideo.com", "ggpht.com")
API_DOMAINS = ("googleapis.com",)
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Metric names of the Picker API calls, by HTTP method and first path segment.
_ENDPOINTS = {
    ("POST", "sessions"): "sessions.create",
    ("GET", "sessions"): "sessions.get",
    ("DELETE", "sessions"): "sessions.delete",
    ("GET", "mediaItems"): "mediaItems.list",
}


T = TypeVar("T")
Response = AbstractAsyncContextManager[aiohttp.ClientResponse]
# Temp room for a download, given its announced size (None: not announced): the most bytes it may write.
Reserve = Callable[[int | None], Awaitable[int]]


class TokenSource(Protocol):
    async def access_token(self, user_id: int, *, rejected: str | None = None) -> str: ...


@dataclass(frozen=True)
class PickingSession:
    id: str
    picker_uri: str
    media_items_set: bool
    poll_interval: float | None
    timeout_in: float | None
    expire_time: float


@dataclass(frozen=True)
class PickedMediaItem:
    id: str
    type: str
    base_url: str
    mime_type: str
    filename: str
    width: int | None
    height: int | None
    processing_status: str | None
    create_time: float | None = None  # when it was taken (createTime: capture time, not upload time)
    camera: str | None = None  # cameraMake and cameraModel, as one name


def parse_duration(value: object) -> float | None:
    """A google.protobuf.Duration in JSON ("5s", "1799.5s") as seconds."""
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+(\.\d{1,9})?s", value):
        return None
    return float(value[:-1])


def parse_timestamp(value: object) -> float | None:
    """RFC 3339 UTC ("2025-01-01T12:00:00.123456789Z") as epoch seconds."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", value)
    if match is None:
        return None
    fraction = (match.group(2) or "")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(match.group(1) + fraction + zone).timestamp()


def _dict(value: object) -> dict[str, Any]:
    """A JSON object from Google, or {} for anything else where an object belongs."""
    return value if isinstance(value, dict) else {}


def _web_url(value: str) -> bool:
    """An http(s) URL: what a pickerUri must be before it goes into a button (never javascript: and co.)."""
    parts = urlsplit(value)
    return parts.scheme in ("https", "http") and bool(parts.netloc)


def _session(data: dict[str, Any]) -> PickingSession:
    polling = _dict(data.get("pollingConfig"))
    session_id, picker_uri = data.get("id"), data.get("pickerUri")
    expire_time = parse_timestamp(data.get("expireTime"))
    if (
        not isinstance(session_id, str)
        or not isinstance(picker_uri, str)
        or not _web_url(picker_uri)
        or expire_time is None
    ):
        raise GoogleError("malformed PickingSession from Google", 200)
    interval = parse_duration(polling.get("pollInterval"))
    return PickingSession(
        id=session_id,
        picker_uri=picker_uri,
        media_items_set=data.get("mediaItemsSet") is True,
        # Polling with no pause at all would hammer Google: a pollInterval of 0 or less means "not given".
        poll_interval=interval if interval is not None and interval > 0 else None,
        timeout_in=parse_duration(polling.get("timeoutIn")),
        expire_time=expire_time,
    )


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None


def _item(data: dict[str, Any]) -> PickedMediaItem | None:
    """A picked item, or None when it lacks what we need to fetch it."""
    media = _dict(data.get("mediaFile"))
    meta = _dict(media.get("mediaFileMetadata"))
    item_id, base_url = data.get("id"), media.get("baseUrl")
    if not isinstance(item_id, str) or not isinstance(base_url, str):
        return None
    video = _dict(meta.get("videoMetadata"))
    status = video.get("processingStatus")
    mime = str(media.get("mimeType") or "application/octet-stream")
    kind = data.get("type")
    if kind not in ("PHOTO", "VIDEO"):
        kind = "VIDEO" if mime.startswith("video/") else "PHOTO"
    return PickedMediaItem(
        id=item_id,
        type=str(kind),
        base_url=base_url,
        mime_type=mime,
        filename=str(media.get("filename") or item_id),
        width=_int(meta.get("width")),
        height=_int(meta.get("height")),
        processing_status=str(status) if kind == "VIDEO" and status is not None else None,
        create_time=parse_timestamp(data.get("createTime")),
        camera=_camera(meta.get("cameraMake"), meta.get("cameraModel")),
    )


def _camera(make: object, model: object) -> str | None:
    """One name for the camera: "Google Pixel 8" from make "Google" and model "Pixel 8"; a model that already names
    its maker ("Canon EOS R6" by "Canon") is not doubled. At most 60 characters (it is the EXIF's, anyone's)."""
    parts = [p.strip() for p in (make, model) if isinstance(p, str) and p.strip()]
    if len(parts) == 2 and parts[1].lower().startswith(parts[0].lower()):
        parts = parts[1:]
    return " ".join(parts)[:60] or None


# Picker API calls: every poll in flight has its own connection (HTTP/1.1 carries one call at a time), and /pick
# and listings have room of their own beside them, never queued behind polls. Opened only as calls need them.
API_CONNECTIONS = POLLS_IN_FLIGHT + 32
MEDIA_CONNECTIONS = 64  # media downloads, unless told (bot/app.py sizes it to the deliveries' downloads)
API_POOL_WAIT = 10.0  # the most a call waits for a pooled connection (aiohttp's `connect` timeout)…
MEDIA_POOL_WAIT = 60.0  # …and a download: both then count as a network error and are retried


@dataclass(frozen=True)
class GoogleHttp:
    """Separate connection pools for the Picker API and media, so that downloads taking every connection
    never hold up polling or /pick. They serve every user, so they keep no cookies: a cookie set in one
    user's answer must never ride along on another user's request."""

    api: aiohttp.ClientSession
    media: aiohttp.ClientSession

    async def close(self) -> None:
        await self.api.close()
        await self.media.close()

    async def __aenter__(self) -> GoogleHttp:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


def _pool(connections: int, pool_wait: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, connect=pool_wait, sock_connect=10.0, sock_read=60.0),
        connector=aiohttp.TCPConnector(limit=connections),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def google_session(media_connections: int = MEDIA_CONNECTIONS) -> GoogleHttp:
    return GoogleHttp(api=_pool(API_CONNECTIONS, API_POOL_WAIT), media=_pool(media_connections, MEDIA_POOL_WAIT))


@dataclass(frozen=True)
class ErrorBody:
    """What Google's error body says: `error.status` (e.g. RESOURCE_EXHAUSTED) and the reasons of its
    `google.rpc.ErrorInfo` details (e.g. SERVICE_DISABLED), in order; empty when absent or not JSON."""

    status: str = ""
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return self.reasons[0] if self.reasons else ""


def parse_error_body(body: bytes) -> ErrorBody:
    """`{"error": {"code", "message", "status", "details": [{"@type": "…ErrorInfo", "reason", …}]}}`
    (Google's error model, AIP-193); anything odd in it counts as absent."""
    try:
        data = json.loads(body)
    except ValueError:
        return ErrorBody()
    error = _dict(_dict(data).get("error"))
    status = error.get("status")
    details = error.get("details")
    reasons = tuple(
        detail["reason"]
        for detail in (details if isinstance(details, list) else [])
        if isinstance(detail, dict)
        and str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo")
        and isinstance(detail.get("reason"), str)
    )
    return ErrorBody(status if isinstance(status, str) else "", reasons)


class BearerHosts:
    """Where a user's bearer token may be sent (never to any other host, redirects included): https on
    `domains`, or the host of the configured PICKER_API_URL."""

    def __init__(self, api_url: str, domains: tuple[str, ...]) -> None:
        self._api = URL(api_url)
        self._domains = domains

    def allow(self, url: URL) -> bool:
        host = (url.host or "").lower()
        if url.scheme == "https" and any(host == d or host.endswith("." + d) for d in self._domains):
            return True
        return url.scheme == self._api.scheme and host == (self._api.host or "").lower()


class _Retry(Exception):
    """An answer worth another attempt (429, 5xx); `retry_after` is its Retry-After header."""

    def __init__(self, retry_after: str | None) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _retry_if_transient(response: aiohttp.ClientResponse) -> None:
    if response.status in RETRYABLE_STATUSES:
        raise _Retry(response.headers.get("Retry-After"))


class PickerClient:
    """Picker API calls with auth refresh on 401 and bounded backoff on 429/5xx/network errors."""

    def __init__(
        self,
        base_url: str,
        http: GoogleHttp,
        tokens: TokenSource,
        metrics: RequestMetrics,
        config: GoogleConfig,
        quota: PickerQuota,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._quota = quota  # every Picker API request counts against the project's quota
        self._http = http
        self._tokens = tokens
        self._metrics = metrics
        self._config = config
        self._retry = retry or RetryPolicy()
        self._media_hosts = BearerHosts(base_url, MEDIA_DOMAINS)
        self._api_hosts = BearerHosts(base_url, API_DOMAINS)
        # Retry-After speaks for the whole project's quota, not one request: every request to that
        # kind of endpoint ("api" or "media") waits until it has passed.
        self._not_before: dict[str, float] = {"api": 0.0, "media": 0.0}

    async def create_session(self, user_id: int, max_items: int | None) -> PickingSession:
        body: dict[str, Any] = {}
        if max_items is not None:
            body["pickingConfig"] = {"maxItemCount": str(max_items)}
        return _session(await self._call(user_id, "POST", "/sessions", json=body))

    async def get_session(self, user_id: int, session_id: str) -> PickingSession:
        """A poll: the poller counted its first request against the quota as it started it (bot/poller.py)."""
        return _session(await self._call(user_id, "GET", f"/sessions/{session_id}", prepaid=True))

    async def delete_session(self, user_id: int, session_id: str) -> None:
        """Delete at Google; an already-gone session counts as deleted."""
        with contextlib.suppress(SessionGone):
            await self._call(user_id, "DELETE", f"/sessions/{session_id}")

    async def list_items(self, user_id: int, session_id: str) -> list[PickedMediaItem]:
        """Every picked item, following nextPageToken (pages may be short or empty).

        What makes no sense is left out with one warning a page: malformed items, an item seen before, and a
        page token that is not a string or comes round again (paging would never end).
        """
        items: list[PickedMediaItem] = []
        seen_items: set[str] = set()
        seen_tokens: set[str] = set()
        token: str | None = None
        for _ in range(MAX_PAGES):
            params = {"sessionId": session_id, "pageSize": "100"}
            if token:
                params["pageToken"] = token
            page = await self._call(user_id, "GET", "/mediaItems", params=params)
            listed = page.get("mediaItems")
            raws = listed if isinstance(listed, list) else []
            odd = 0 if isinstance(listed, list | None) else 1
            for raw in raws:
                item = _item(raw) if isinstance(raw, dict) else None
                if item is None or item.id in seen_items:
                    odd += 1
                    continue
                seen_items.add(item.id)
                items.append(item)
            if odd:
                log.warning("skipped %s malformed or repeated media items in session %s", odd, session_id)
            next_token = page.get("nextPageToken")
            if not next_token:
                return items
            if not isinstance(next_token, str) or next_token in seen_tokens:
                log.warning("stopped listing session %s: Google's nextPageToken makes no sense", session_id)
                return items
            seen_tokens.add(next_token)
            token = next_token
        log.warning("stopped listing session %s after %s pages", session_id, MAX_PAGES)
        return items

    async def download(self, user_id: int, url: str, dest: Path, limit: int, reserve: Reserve | None = None) -> int:
        """Stream `url` (a baseUrl with its suffix) into `dest`; returns the byte count.

        Raises TooLarge without fetching the body when it would exceed `limit` bytes. `reserve` is awaited when
        an answer with the media starts, once its announced size fits, with that size (None: not announced);
        it returns the most bytes the body may have (room on disk), which is enforced as they arrive.
        """

        def send(token: str) -> Response:
            return self._get_media(URL(url, encoded=True), token)

        async def save(response: aiohttp.ClientResponse) -> int:
            _retry_if_transient(response)
            if response.status != 200:
                raise MediaUnavailable(f"media answered {response.status}", response.status)
            if _error_page(response.headers.get("Content-Type")):
                raise MediaUnavailable("media answered with a page, not media", response.status)
            # Asked for identity; should bytes come encoded all the same, aiohttp decodes them and itself
            # checks Content-Length, which then counts the encoded bytes, not the media's.
            encoded = response.headers.get("Content-Encoding", "identity").strip().lower() != "identity"
            expected = None if encoded else _int(response.headers.get("Content-Length"))
            if expected is not None and expected > limit:
                raise TooLarge(expected)
            room = limit if reserve is None else await reserve(expected)
            size = await _write(response.content.iter_chunked(CHUNK), dest, limit, room)
            if expected is not None and size != expected:
                raise aiohttp.ClientPayloadError("body shorter than Content-Length")  # retried like a cut
            return size

        return await self._request(user_id, "media", "media", send, save)

    @contextlib.asynccontextmanager
    async def _get_media(self, url: URL, token: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET media bytes as they are stored (`identity`: a compressed answer's Content-Length would not
        be the media's), following redirects only within BearerHosts, the bearer token going along."""
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
        for _ in range(MAX_REDIRECTS + 1):
            if not self._media_hosts.allow(url):
                log.warning("media URL on %s, not one of Google's media hosts: not requested", url.host)
                raise MediaUnavailable("media URL off Google's hosts")
            async with self._http.media.get(url, headers=headers, allow_redirects=False) as response:
                location = response.headers.get("Location")
                if response.status not in _REDIRECTS or not location:
                    yield response
                    return
            url = url.join(URL(location, encoded=True))
        raise MediaUnavailable("too many redirects")

    async def _call(
        self, user_id: int, method: str, path: str, *, prepaid: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """One Picker API call; each request it makes counts against the quota (the first not if `prepaid`)."""
        endpoint = _ENDPOINTS.get((method, path.split("/")[1]), "other")

        url = URL(self._base + path)
        if not self._api_hosts.allow(url):
            log.warning("Picker API URL on %s, not one of Google's hosts: not requested", url.host)
            raise GoogleError("Picker API URL off Google's hosts")

        def send(token: str) -> Response:
            nonlocal prepaid
            if prepaid:
                prepaid = False
            else:
                self._quota.spend()
            # The API never redirects: a redirect is an answer (an error), never followed with the token.
            headers = {"Authorization": f"Bearer {token}"}
            return self._http.api.request(method, url, headers=headers, allow_redirects=False, **kwargs)

        async def parse(response: aiohttp.ClientResponse) -> dict[str, Any]:
            body = await response.read()
            if response.status == 200:
                self._config.accepted("picker_api")
                return _json_object(body)
            error = parse_error_body(body)
            too_many_sessions = (
                endpoint == "sessions.create" and response.status == 429 and not QUOTA_REASONS & set(error.reasons)
            )
            if not too_many_sessions:
                _retry_if_transient(response)
            raise self._refusal(response.status, error)

        return await self._request(user_id, "api", endpoint, send, parse)

    def _refusal(self, status: int, error: ErrorBody) -> GoogleError:
        """The error for a Picker API answer that is final: what it means, from its status and ErrorInfo."""
        message = " ".join(filter(None, (f"Google answered {status}", error.status, error.reason)))
        operator = next((reason for reason in error.reasons if reason in OPERATOR_REASONS), None)
        if status == 403 and operator is not None:
            self._config.refused("picker_api", operator)
            return Misconfigured(message, status, error.status, operator)
        kind: type[GoogleError] = GoogleError
        if status == 404:
            kind = SessionGone
        elif status == 429:
            kind = TooManySessions
        elif status in (401, 403):
            # ACCESS_TOKEN_SCOPE_INSUFFICIENT is fixed by consenting again; so, as far as anyone knows, is
            # a 403 without a reason the bot knows (ASSUMPTION: Google documents no other).
            kind = LinkBroken
        return kind(message, status, error.status, error.reason)

    async def _request(
        self,
        user_id: int,
        kind: str,
        endpoint: str,
        send: Callable[[str], Response],
        handle: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    ) -> T:
        """One request with the user's token, retried: a 401 refreshes the token once; network errors and
        what `handle` finds worth another attempt (it raises _Retry for 429/5xx, aiohttp.ClientError for a
        cut body) back off (Retry-After holds back every request of that `kind`); anything else `handle`
        returns or raises is the answer."""
        refreshed = False
        rejected: str | None = None
        for attempt in range(self._retry.attempts):
            token = await self._token(user_id, rejected, attempt)
            if token is None:
                continue
            rejected = None
            await self._respect_retry_after(kind)
            try:
                async with self._metrics.timed(endpoint) as timing, send(token) as response:
                    timing.status(response.status)
                    if response.status == 401 and not refreshed:
                        refreshed, rejected = True, token
                        continue
                    return await handle(response)
            except _Retry as retry:
                await self._backoff(attempt, retry.retry_after, kind)
            except (aiohttp.ClientError, TimeoutError):
                await self._backoff(attempt, None)
        raise GoogleUnavailable(f"{endpoint} kept failing")

    async def _token(self, user_id: int, rejected: str | None, attempt: int) -> str | None:
        """The access token for the next attempt (refreshed if Google just rejected `rejected`), or None
        after backing off when the token endpoint failed for now: that is retried like any other failure,
        and the rejected token is never sent again (a second 401 would read as a revoked grant)."""
        try:
            return await self._tokens.access_token(user_id, rejected=rejected)
        except GoogleUnavailable:
            log.info("token refresh for user %s failed for now (attempt %s)", user_id, attempt + 1)
            await self._backoff(attempt, None)
            return None

    async def _backoff(self, attempt: int, retry_after: str | None, kind: str = "api") -> None:
        if attempt + 1 >= self._retry.attempts:
            return
        if parse_retry_after(retry_after) is not None:
            loop = asyncio.get_running_loop()
            wait_until = loop.time() + self._retry.delay(attempt, retry_after)
            self._not_before[kind] = max(self._not_before[kind], wait_until)
            return
        await asyncio.sleep(self._retry.delay(attempt, None))

    async def _respect_retry_after(self, kind: str) -> None:
        wait = self._not_before[kind] - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)


def _error_page(content_type: str | None) -> bool:
    """Text, HTML or JSON where photo or video bytes belong: an error page that came with status 200."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind.startswith("text/") or kind in ("application/json", "application/xhtml+xml")


async def _write(chunks: AsyncIterator[bytes], dest: Path, limit: int, room: int) -> int:
    """Write the body, stopping as soon as it is over `limit` (TooLarge) or over the `room` reserved for it on
    disk: more bytes than the answer announced (MediaUnavailable), before they are written."""
    size = 0
    # Someone's photos: readable by the bot's user only while they wait on disk for their upload.
    with os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge(size)
            if size > room:
                raise MediaUnavailable(f"media answered more than the {room} bytes it announced")
            handle.write(chunk)
    return size


def _json_object(body: bytes) -> dict[str, Any]:
    """The JSON object Google answered, or {} for anything else."""
    try:
        return _dict(json.loads(body))
    except ValueError:
        return {}
