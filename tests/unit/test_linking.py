"""LinkService: cached tokens read once while polling and never stale after a change of the link; unlinking;
which refusals of a refresh break a link (the user's grant) and which do not (the bot's own client)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry

from bot.crypto import Cipher
from bot.google.errors import LinkBroken, Misconfigured, NotLinked
from bot.google.oauth import PICKER_SCOPE, CodeExchangeFailed, GoogleOAuth
from bot.health import CONFIG_PARTS, GoogleConfig
from bot.linking import CallbackCode, LinkService, UnlinkCode, Unlinked
from bot.metrics import GoogleConfigMetrics, RequestMetrics
from bot.outcomes import Code, Refused
from emulators.google import GoogleEmulator
from storage.database import Database
from storage.links import GoogleLink, LinkRepository
from storage.oauth_states import OAuthStateRepository

SIGN_IN = "https://bot.example/oauth/start"


class FakeOAuth:
    """Google's token endpoint: every exchange or refresh hands out the next numbered access token."""

    def __init__(self) -> None:
        self.issued = 0
        self.refuse_refresh = False
        self.refuse_client = False  # the bot's client secret is wrong

    def _token(self) -> dict[str, Any]:
        self.issued += 1
        return {
            "access_token": f"access-{self.issued}",
            "refresh_token": "refresh",
            "expires_at": time.time() + 3600,
            "scope": PICKER_SCOPE,
        }

    def authorization_url(self, state: str, code_verifier: str) -> str:
        return f"https://accounts.example/auth?state={state}"

    async def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        return self._token()

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        if self.refuse_refresh:
            raise LinkBroken("refresh refused: invalid_grant")
        if self.refuse_client:
            raise Misconfigured("refresh refused: invalid_client", reason="invalid_client")
        return self._token()

    async def revoke(self, token: str) -> bool:
        return True

    async def email(self, access_token: str) -> str:
        return "someone@example.com"


class CountingLinks(LinkRepository):
    reads = 0

    async def get_link(self, user_id: int) -> GoogleLink | None:
        self.reads += 1
        return await super().get_link(user_id)


async def linked(service: LinkService, user_id: int) -> None:
    page = await service.start_link(user_id, user_id, "Someone (@someone)")
    start_id = page.removeprefix(SIGN_IN + "?s=")
    page_of = await service.sign_in_page(start_id)
    assert page_of is not None and (page_of.user_id, page_of.user_label) == (user_id, "Someone (@someone)")
    consent = await service.continue_link(start_id)
    assert consent is not None and await service.continue_link(start_id) is None  # once
    outcome = await service.complete_link(consent.rsplit("state=", 1)[1], "code", None)
    assert outcome.code is CallbackCode.LINKED


async def test_polling_reads_the_link_once_and_sees_every_change(db: Database) -> None:
    oauth, cipher = FakeOAuth(), Cipher(Fernet.generate_key().decode())
    links = CountingLinks(db, cipher)
    service = LinkService(cast(GoogleOAuth, oauth), links, OAuthStateRepository(db, cipher), sign_in_url=SIGN_IN)
    await linked(service, 7)
    links.reads = 0  # linking reads the previous link; polling is what is counted

    assert [await service.access_token(7) for _ in range(5)] == ["access-1"] * 5
    assert links.reads == 1

    # Google rejected the token: one refresh, then the fresh one for everybody.
    assert await service.access_token(7, rejected="access-1") == "access-2"
    assert await service.access_token(7, rejected="access-1") == "access-2"
    assert (await links.get_link(7)).token["access_token"] == "access-2"  # type: ignore[union-attr]

    await linked(service, 7)  # linked again (another account): the old token must not linger
    assert await service.access_token(7) == "access-3"

    await service.unlink(7)
    with pytest.raises(NotLinked):
        await service.access_token(7)


class GatedOAuth(FakeOAuth):
    """A refresh waits at `gate`, so that other callers arrive while it is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        await self.gate.wait()
        return await super().refresh(refresh_token)


async def test_a_fresh_token_takes_no_lock_and_a_rejected_one_is_refreshed_once(db: Database) -> None:
    oauth, cipher = GatedOAuth(), Cipher(Fernet.generate_key().decode())
    service = LinkService(
        cast(GoogleOAuth, oauth), LinkRepository(db, cipher), OAuthStateRepository(db, cipher), sign_in_url=SIGN_IN
    )
    await linked(service, 9)
    assert await service.access_token(9) == "access-1"

    # Polls are not held up by whoever holds the user's lock while the cached token is fresh.
    async with service._locks.hold(9):
        reader = asyncio.create_task(service.access_token(9))
        await asyncio.sleep(0)
        assert reader.done() and reader.result() == "access-1"

    # Three polls saw Google reject it: one refresh, all three get its token.
    callers = [asyncio.create_task(service.access_token(9, rejected="access-1")) for _ in range(3)]
    await asyncio.sleep(0)
    assert service.users_locked() == 1 and not any(caller.done() for caller in callers)
    oauth.gate.set()
    assert await asyncio.gather(*callers) == ["access-2"] * 3
    assert oauth.issued == 2


async def test_a_refused_refresh_breaks_the_link_for_good(db: Database) -> None:
    oauth, cipher = FakeOAuth(), Cipher(Fernet.generate_key().decode())
    service = LinkService(
        cast(GoogleOAuth, oauth), LinkRepository(db, cipher), OAuthStateRepository(db, cipher), sign_in_url=SIGN_IN
    )
    await linked(service, 8)
    assert await service.access_token(8) == "access-1"
    oauth.refuse_refresh = True
    with pytest.raises(LinkBroken):
        await service.access_token(8, rejected="access-1")
    with pytest.raises(LinkBroken):  # not the cached token Google just refused
        await service.access_token(8)


async def test_unlink_says_which_account_went_and_refuses_when_none_is_linked(db: Database) -> None:
    oauth, cipher = FakeOAuth(), Cipher(Fernet.generate_key().decode())
    service = LinkService(
        cast(GoogleOAuth, oauth), LinkRepository(db, cipher), OAuthStateRepository(db, cipher), sign_in_url=SIGN_IN
    )
    await linked(service, 9)
    assert await service.unlink(9) == Unlinked(UnlinkCode.REVOKED, "someone@example.com")
    with pytest.raises(Refused) as refused:
        await service.unlink(9)
    assert refused.value.code is Code.NOT_LINKED


async def test_a_refused_client_keeps_the_link_and_fixing_it_heals_it(db: Database) -> None:
    oauth, cipher = FakeOAuth(), Cipher(Fernet.generate_key().decode())
    links = LinkRepository(db, cipher)
    service = LinkService(cast(GoogleOAuth, oauth), links, OAuthStateRepository(db, cipher), sign_in_url=SIGN_IN)
    await linked(service, 10)
    oauth.refuse_client = True
    for _ in range(2):
        with pytest.raises(Misconfigured):
            await service.access_token(10, rejected="access-1")
    link = await links.get_link(10)
    assert link is not None and not link.broken
    oauth.refuse_client = False  # the operator fixed GOOGLE_CLIENT_SECRET
    assert await service.access_token(10, rejected="access-1") == "access-2"


@pytest.fixture
async def google() -> AsyncIterator[GoogleEmulator]:
    async with GoogleEmulator(client_id="cid", client_secret="secret", redirect_uris={"http://127.0.0.1/cb"}) as g:
        yield g


async def test_google_oauth_tells_a_refused_client_from_a_gone_grant(google: GoogleEmulator) -> None:
    registry = CollectorRegistry()
    config = GoogleConfig(GoogleConfigMetrics(registry, CONFIG_PARTS))
    oauth = GoogleOAuth(
        client_id="cid",
        client_secret="secret",
        redirect_uri="http://127.0.0.1/cb",
        auth_url=google.auth_url,
        token_url=google.token_url,
        revoke_url=google.revoke_url,
        userinfo_url=google.userinfo_url,
        metrics=RequestMetrics(registry, "google", "endpoint"),
        config=config,
    )
    try:
        verifier = "v" * 64
        async with httpx.AsyncClient() as browser:
            consent = await browser.get(oauth.authorization_url("state", verifier))
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        token = await oauth.exchange_code(code, verifier)

        google.client_secret = "rotated"  # RFC 6749 §5.2: 401 invalid_client
        with pytest.raises(Misconfigured) as refused:
            await oauth.refresh(token["refresh_token"])
        assert refused.value.reason == "invalid_client"
        assert not config.ok("oauth_client")
        assert await config.checks()["google_oauth_client"]() is False

        google.client_secret = "secret"
        assert (await oauth.refresh(token["refresh_token"]))["access_token"]
        assert config.ok("oauth_client")

        google.revoke_grant("alice@example.com")  # the user's grant is gone: invalid_grant
        with pytest.raises(LinkBroken):
            await oauth.refresh(token["refresh_token"])
        assert config.ok("oauth_client")
    finally:
        await oauth.aclose()


async def test_google_oauth_never_follows_a_redirect_with_its_secrets() -> None:
    """A redirect from an OAuth endpoint would take the bearer token (userinfo), the client secret or the code
    (token) to wherever it points: it is a failure, never followed."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(status=307, headers={"Location": "/collect"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    registry = CollectorRegistry()
    oauth = GoogleOAuth(
        client_id="cid",
        client_secret="secret",
        redirect_uri="http://127.0.0.1/cb",
        auth_url=base + "/auth",
        token_url=base + "/token",
        revoke_url=base + "/revoke",
        userinfo_url=base + "/userinfo",
        metrics=RequestMetrics(registry, "google", "endpoint"),
        config=GoogleConfig(GoogleConfigMetrics(registry, CONFIG_PARTS)),
    )
    try:
        with pytest.raises(CodeExchangeFailed):
            await oauth.email("ya29.bearer")
        with pytest.raises(CodeExchangeFailed):
            await oauth.exchange_code("4/code", "v" * 64)
        assert await oauth.revoke("1//refresh") is False
        assert seen == ["/userinfo", "/token", "/revoke"]  # never /collect
    finally:
        await oauth.aclose()
        await runner.cleanup()
