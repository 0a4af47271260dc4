"""PickerClient retries: a token refresh that fails for now is retried like any other failure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from bot.google.errors import GoogleUnavailable
from bot.google.picker import PickerClient, google_session
from bot.google.retry import RetryPolicy
from bot.metrics import RequestMetrics

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


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    fake = FakeGoogle("")

    async def handle(request: web.Request) -> web.Response:
        fake.tokens.append(request.headers["Authorization"].removeprefix("Bearer "))
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
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with google_session() as session:
        yield session


def client(http: aiohttp.ClientSession, base: str, tokens: FlakyTokens) -> PickerClient:
    metrics = RequestMetrics(CollectorRegistry(), "google", "endpoint")
    return PickerClient(base + "/v1", http, tokens, metrics, RetryPolicy(attempts=5, base_delay=0.0))


async def test_a_failed_refresh_after_a_401_is_retried_and_the_rejected_token_not_reused(
    google: FakeGoogle, http: aiohttp.ClientSession
) -> None:
    def answer(request: web.Request) -> web.Response:
        return web.json_response(SESSION) if google.tokens[-1] == "new" else web.Response(status=401)

    google.answer = answer
    tokens = FlakyTokens()
    session = await client(http, google.url, tokens).get_session(1, "s1")
    assert session.id == "s1"
    assert google.tokens == ["old", "new"]  # the rejected token was never sent again (a second 401 reads as revoked)
    assert tokens.refresh_failures == 0


async def test_a_download_survives_a_failed_refresh(
    google: FakeGoogle, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    def answer(request: web.Request) -> web.Response:
        if google.tokens[-1] == "new":
            return web.Response(body=b"jpeg bytes", content_type="image/jpeg")
        return web.Response(status=401)

    google.answer = answer
    size = await client(http, google.url, FlakyTokens()).download(1, google.url + "/ppa/key=d", tmp_path / "file", 1000)
    assert size == 10 and (tmp_path / "file").read_bytes() == b"jpeg bytes"
    assert google.tokens == ["old", "new"]


async def test_a_cookie_set_for_one_user_never_goes_with_another_users_request(
    google: FakeGoogle, http: aiohttp.ClientSession
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
