"""PickerClient retries: a token refresh that fails for now is retried like any other failure."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from bot.google.errors import GoogleUnavailable
from bot.google.picker import PickerClient
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


def client(handler: httpx.MockTransport, tokens: FlakyTokens) -> PickerClient:
    metrics = RequestMetrics(CollectorRegistry(), "google", "endpoint")
    return PickerClient(
        "https://picker.test/v1", httpx.AsyncClient(transport=handler), tokens, metrics,
        RetryPolicy(attempts=5, base_delay=0.0),
    )


async def test_a_failed_refresh_after_a_401_is_retried_and_the_rejected_token_not_reused() -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        sent.append(token)
        return httpx.Response(200, json=SESSION) if token == "new" else httpx.Response(401)

    tokens = FlakyTokens()
    session = await client(httpx.MockTransport(answer), tokens).get_session(1, "s1")
    assert session.id == "s1"
    assert sent == ["old", "new"]  # the rejected token was never sent again (a second 401 reads as revoked)
    assert tokens.refresh_failures == 0


async def test_a_download_survives_a_failed_refresh(tmp_path: Path) -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        sent.append(token)
        return httpx.Response(200, content=b"jpeg bytes") if token == "new" else httpx.Response(401)

    size = await client(httpx.MockTransport(answer), FlakyTokens()).download(
        1, "https://lh3.test/ppa/key=d", tmp_path / "file", 1000
    )
    assert size == 10 and (tmp_path / "file").read_bytes() == b"jpeg bytes"
    assert sent == ["old", "new"]
