"""PickerClient: retries (a token refresh that fails for now is retried like any other failure), what Google's
error bodies mean, and media downloads (identity encoding, redirects only within Google's media hosts)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from yarl import URL

from bot.google.errors import (
    GoogleError,
    GoogleUnavailable,
    LinkBroken,
    MediaUnavailable,
    Misconfigured,
    TooManySessions,
)
from bot.google.picker import (
    API_DOMAINS,
    MEDIA_DOMAINS,
    BearerHosts,
    ErrorBody,
    GoogleHttp,
    PickerClient,
    Reserve,
    google_session,
    parse_error_body,
)
from bot.google.quota import PickerQuota
from bot.google.retry import RetryPolicy
from bot.health import CONFIG_PARTS, GoogleConfig
from bot.metrics import GoogleConfigMetrics, RequestMetrics

SESSION = {"id": "s1", "pickerUri": "https://photos.google.com/picker/s1", "expireTime": "2030-01-01T00:00:00Z"}


class FlakyTokens:
    """Hands out "old" until it is rejected; the first refresh fails (Google's token endpoint said 503)."""

    def __init__(self) -> None:
        self.current = "old"
        self.refresh_failures = 1

    async def access_token(self, user_id: int, *, rejected: str | None = None) -> str:
        if rejected is not None and rejected == self.current:
            if self.refresh_failures:
                self.refresh_failures -= 1
                raise GoogleUnavailable("refresh failed: temporarily_unavailable")
            self.current = "new"
        return self.current


Answer = Callable[[web.Request], web.Response]


@dataclass
class FakeGoogle:
    """A local server answering every request with `answer`; `tokens` records each request's bearer token."""

    url: str
    answer: Answer = field(default=lambda request: web.Response(status=500))
    tokens: list[str] = field(default_factory=list)
    requests: list[web.Request] = field(default_factory=list)


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    fake = FakeGoogle("")

    async def handle(request: web.Request) -> web.Response:
        fake.tokens.append(request.headers["Authorization"].removeprefix("Bearer "))
        fake.requests.append(request)
        return fake.answer(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://localhost:{runner.addresses[0][1]}"  # a name, not an IP: aiohttp's cookie jar ignores IPs
    yield fake
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[GoogleHttp]:
    async with google_session() as session:
        yield session


class CountedQuota(PickerQuota):
    """The quota, remembering how many requests were counted against it."""

    def __init__(self) -> None:
        super().__init__(100_000)
        self.spent = 0

    def spend(self) -> None:
        super().spend()
        self.spent += 1


def client(
    http: GoogleHttp,
    base: str,
    tokens: FlakyTokens,
    config: GoogleConfig | None = None,
    quota: PickerQuota | None = None,
) -> PickerClient:
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry, "google", "endpoint")
    config = config or GoogleConfig(GoogleConfigMetrics(registry, CONFIG_PARTS))
    quota = quota or PickerQuota(100_000)
    return PickerClient(base + "/v1", http, tokens, metrics, config, quota, RetryPolicy(attempts=5, base_delay=0.0))


def google_error(status: int, name: str, *reasons: str) -> web.Response:
    """Google's error body, with an ErrorInfo per reason."""
    details = [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": r, "domain": "googleapis.com"} for r in reasons
    ]
    error: dict[str, Any] = {"code": status, "message": "…", "status": name}
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status)


async def test_a_failed_refresh_after_a_401_is_retried_and_the_rejected_token_not_reused(
    google: FakeGoogle, http: GoogleHttp
) -> None:
    def answer(request: web.Request) -> web.Response:
        return web.json_response(SESSION) if google.tokens[-1] == "new" else web.Response(status=401)

    google.answer = answer
    tokens = FlakyTokens()
    session = await client(http, google.url, tokens).get_session(1, "s1")
    assert session.id == "s1"
    assert google.tokens == ["old", "new"]  # the rejected token was never sent again (a second 401 reads as revoked)
    assert tokens.refresh_failures == 0


async def test_a_download_survives_a_failed_refresh(google: FakeGoogle, http: GoogleHttp, tmp_path: Path) -> None:
    def answer(request: web.Request) -> web.Response:
        if google.tokens[-1] == "new":
            return web.Response(body=b"jpeg bytes", content_type="image/jpeg")
        return web.Response(status=401)

    google.answer = answer
    size = await client(http, google.url, FlakyTokens()).download(1, google.url + "/ppa/key=d", tmp_path / "file", 1000)
    assert size == 10 and (tmp_path / "file").read_bytes() == b"jpeg bytes"
    assert google.tokens == ["old", "new"]


async def test_a_cookie_set_for_one_user_never_goes_with_another_users_request(
    google: FakeGoogle, http: GoogleHttp
) -> None:
    cookies: list[str | None] = []

    def answer(request: web.Request) -> web.Response:
        cookies.append(request.headers.get("Cookie"))
        response = web.json_response(SESSION)
        response.set_cookie("NID", f"for-{google.tokens[-1]}")
        return response

    google.answer = answer
    picker = client(http, google.url, FlakyTokens())
    await picker.get_session(1, "s1")
    await picker.get_session(2, "s1")
    assert cookies == [None, None]


def test_error_bodies_are_read_for_status_and_errorinfo_reasons() -> None:
    body = (
        b'{"error": {"code": 403, "status": "PERMISSION_DENIED", "details": ['
        b'{"@type": "type.googleapis.com/google.rpc.Help", "links": []},'
        b'{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED"}]}}'
    )
    parsed = parse_error_body(body)
    assert (parsed.status, parsed.reasons, parsed.reason) == (
        "PERMISSION_DENIED",
        ("SERVICE_DISABLED",),
        "SERVICE_DISABLED",
    )
    for odd in (b"", b"<html>", b"[1]", b'{"error": "bad"}', b'{"error": {"status": 5, "details": [{"reason": 1}]}}'):
        assert parse_error_body(odd) == ErrorBody("", ())


async def test_too_many_sessions_is_not_retried_but_project_quota_is(google: FakeGoogle, http: GoogleHttp) -> None:
    google.answer = lambda request: google_error(429, "RESOURCE_EXHAUSTED")
    with pytest.raises(TooManySessions):
        await client(http, google.url, FlakyTokens()).create_session(1, None)
    assert len(google.requests) == 1

    google.requests.clear()
    google.answer = lambda request: google_error(429, "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED")
    with pytest.raises(GoogleUnavailable):
        await client(http, google.url, FlakyTokens()).create_session(1, None)
    assert len(google.requests) == 5

    google.requests.clear()
    google.answer = lambda request: google_error(429, "RESOURCE_EXHAUSTED")  # not sessions.create: quota
    with pytest.raises(GoogleUnavailable):
        await client(http, google.url, FlakyTokens()).get_session(1, "s1")
    assert len(google.requests) == 5


async def test_every_picker_request_counts_against_the_quota_but_a_polls_first_one_was_counted_by_the_poller(
    google: FakeGoogle, http: GoogleHttp, tmp_path: Path
) -> None:
    quota = CountedQuota()
    picker = client(http, google.url, FlakyTokens(), quota=quota)
    google.answer = lambda request: web.json_response(SESSION)
    await picker.create_session(1, None)
    await picker.delete_session(1, "s1")
    assert quota.spent == 2

    answers = iter([web.Response(status=503), web.json_response(SESSION)])
    google.answer = lambda request: next(answers)
    await picker.get_session(1, "s1")  # the poller counted the first; the retry counts here
    assert (len(google.requests), quota.spent) == (4, 3)

    google.answer = lambda request: web.Response(body=b"jpeg", content_type="image/jpeg")
    await picker.download(1, google.url + "/lh3/photo=d", tmp_path / "photo", limit=100)
    assert quota.spent == 3  # media bytes have a quota of their own, 10 times larger (PICKER_API.md §7)


async def test_403_means_relink_only_for_a_missing_scope_and_service_disabled_is_the_operators(
    google: FakeGoogle, http: GoogleHttp
) -> None:
    config = GoogleConfig(GoogleConfigMetrics(CollectorRegistry(), CONFIG_PARTS))
    picker = client(http, google.url, FlakyTokens(), config)
    google.answer = lambda request: google_error(403, "PERMISSION_DENIED", "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
    with pytest.raises(LinkBroken):
        await picker.get_session(1, "s1")
    assert config.ok("picker_api")

    google.answer = lambda request: google_error(403, "PERMISSION_DENIED", "SERVICE_DISABLED")
    with pytest.raises(Misconfigured) as refused:
        await picker.get_session(1, "s1")
    assert (refused.value.status, refused.value.google_status, refused.value.reason) == (
        403,
        "PERMISSION_DENIED",
        "SERVICE_DISABLED",
    )
    assert not config.ok("picker_api") and config.ok("oauth_client")

    google.answer = lambda request: web.json_response(SESSION)  # the operator enabled the API
    await picker.get_session(1, "s1")
    assert config.ok("picker_api")


async def test_media_is_asked_for_unencoded_and_an_encoded_answer_still_counts_right(
    google: FakeGoogle, http: GoogleHttp, tmp_path: Path
) -> None:
    media = bytes(range(256)) * 400
    google.answer = lambda request: web.Response(
        body=gzip.compress(media), content_type="image/jpeg", headers={"Content-Encoding": "gzip"}
    )
    size = await client(http, google.url, FlakyTokens()).download(1, google.url + "/ppa/key=d", tmp_path / "f", 10**6)
    assert size == len(media) and (tmp_path / "f").read_bytes() == media
    assert [r.headers.get("Accept-Encoding") for r in google.requests] == ["identity"]


async def test_redirects_are_followed_only_within_googles_media_hosts(
    google: FakeGoogle, http: GoogleHttp, tmp_path: Path
) -> None:
    def answer(request: web.Request) -> web.Response:
        if request.path == "/ppa/key=d":
            return web.Response(status=302, headers={"Location": "/moved/key=d"})
        if request.path == "/moved/key=d":
            return web.Response(status=302, headers={"Location": google.url.replace("localhost", "127.0.0.1") + "/x"})
        return web.Response(body=b"from elsewhere", content_type="image/jpeg")

    google.answer = answer
    with pytest.raises(MediaUnavailable):
        await client(http, google.url, FlakyTokens()).download(1, google.url + "/ppa/key=d", tmp_path / "f", 1000)
    assert [r.path for r in google.requests] == ["/ppa/key=d", "/moved/key=d"]  # never /x on 127.0.0.1
    assert google.tokens == ["old", "old"]  # the bearer token went along within the allowed host


def test_media_hosts_are_googles_over_https_and_the_overridden_api_host() -> None:
    default = BearerHosts("https://photospicker.googleapis.com/v1", MEDIA_DOMAINS)
    assert default.allow(URL("https://lh3.googleusercontent.com/ppa/x=d"))
    assert default.allow(URL("https://video-downloads.googleusercontent.com/x"))
    assert not default.allow(URL("http://lh3.googleusercontent.com/ppa/x=d"))  # never in clear text
    assert not default.allow(URL("https://googleusercontent.com.evil.example/x"))
    assert not default.allow(URL("https://evilgoogleusercontent.com/x"))
    emulated = BearerHosts("http://127.0.0.1:8123/v1", MEDIA_DOMAINS)
    assert emulated.allow(URL("http://127.0.0.1:9999/lh3/x=d"))
    assert not emulated.allow(URL("http://localhost:8123/lh3/x=d"))


def test_api_hosts_are_googleapis_over_https_and_the_overridden_api_host() -> None:
    default = BearerHosts("https://photospicker.googleapis.com/v1", API_DOMAINS)
    assert default.allow(URL("https://photospicker.googleapis.com/v1/sessions"))
    assert not default.allow(URL("http://photospicker.googleapis.com/v1/sessions"))  # never in clear text
    assert not default.allow(URL("https://lh3.googleusercontent.com/v1/sessions"))  # a media host is no API
    assert not default.allow(URL("https://googleapis.com.evil.example/v1/sessions"))
    assert BearerHosts("http://127.0.0.1:8123/v1", API_DOMAINS).allow(URL("http://127.0.0.1:8123/v1/sessions"))


async def test_api_calls_never_follow_a_redirect(google: FakeGoogle, http: GoogleHttp) -> None:
    """A redirect would take the bearer token along (aiohttp keeps it within one origin): it is an error."""

    def answer(request: web.Request) -> web.Response:
        if request.path == "/v1/sessions":
            return web.Response(status=307, headers={"Location": "/collect"})
        return web.json_response(SESSION)

    google.answer = answer
    with pytest.raises(GoogleError):
        await client(http, google.url, FlakyTokens()).create_session(1, None)
    assert [r.path for r in google.requests] == ["/v1/sessions"]  # never /collect


async def test_a_download_reserves_the_announced_size_and_never_writes_past_its_room(
    google: FakeGoogle, http: GoogleHttp, tmp_path: Path
) -> None:
    """The room asked for is the Content-Length (None when the answer is encoded: that length counts the encoded
    bytes, not the media's); bytes beyond the room granted stop the download before they are written."""
    asked: list[int | None] = []

    def granting(room: int) -> Reserve:
        async def reserve(announced: int | None) -> int:
            asked.append(announced)
            return room

        return reserve

    media = bytes(range(256)) * 40  # 10240 bytes
    google.answer = lambda request: web.Response(body=media, content_type="image/jpeg")
    picker = client(http, google.url, FlakyTokens())
    assert await picker.download(1, google.url + "/ppa/key=d", tmp_path / "f", 10**6, granting(len(media))) == 10240
    assert asked == [10240]
    google.answer = lambda request: web.Response(
        body=gzip.compress(media), content_type="image/jpeg", headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(MediaUnavailable):
        await picker.download(1, google.url + "/ppa/key=d", tmp_path / "f", 10**6, granting(4000))
    assert asked[1:] == [None] and (tmp_path / "f").stat().st_size <= 4000


async def test_a_server_sending_more_than_it_announced_gets_no_more_room(http: GoogleHttp, tmp_path: Path) -> None:
    """A media server whose body runs past its Content-Length: aiohttp's parser refuses the answer before the
    bot sees it, so no room is taken for it and nothing is written; it is retried, then reported."""

    async def lying(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
        writer.write(head + b"x" * 3000)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(lying, "127.0.0.1", 0)
    url = f"http://localhost:{server.sockets[0].getsockname()[1]}"
    asked: list[int | None] = []

    async def reserve(announced: int | None) -> int:
        asked.append(announced)
        return announced or 10**6

    dest = tmp_path / "f"
    try:
        with pytest.raises(GoogleUnavailable):
            await client(http, url, FlakyTokens()).download(1, url + "/ppa/key=d", dest, 10**6, reserve)
    finally:
        server.close()
        await server.wait_closed()
    assert asked == [] and not dest.exists()
