"""LinkService: cached tokens read once while polling and never stale after a change of the link; unlinking."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
from cryptography.fernet import Fernet

from bot.crypto import Cipher
from bot.google.errors import LinkBroken, NotLinked
from bot.google.oauth import PICKER_SCOPE, GoogleOAuth
from bot.linking import CallbackCode, LinkService, UnlinkCode, Unlinked
from bot.outcomes import Code, Refused
from storage.database import Database
from storage.links import GoogleLink, LinkRepository
from storage.oauth_states import OAuthStateRepository


class FakeOAuth:
    """Google's token endpoint: every exchange or refresh hands out the next numbered access token."""

    def __init__(self) -> None:
        self.issued = 0
        self.refuse_refresh = False

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
    url = await service.start_link(user_id, user_id)
    outcome = await service.complete_link(url.rsplit("state=", 1)[1], "code", None)
    assert outcome.code is CallbackCode.LINKED


async def test_polling_reads_the_link_once_and_sees_every_change(db: Database) -> None:
    oauth, cipher = FakeOAuth(), Cipher(Fernet.generate_key().decode())
    links = CountingLinks(db, cipher)
    service = LinkService(cast(GoogleOAuth, oauth), links, OAuthStateRepository(db, cipher))
    await linked(service, 7)

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


async def test_a_refused_refresh_breaks_the_link_for_good(db: Database) -> None:
    oauth, cipher = FakeOAuth(), Cipher(Fernet.generate_key().decode())
    service = LinkService(cast(GoogleOAuth, oauth), LinkRepository(db, cipher), OAuthStateRepository(db, cipher))
    await linked(service, 8)
    assert await service.access_token(8) == "access-1"
    oauth.refuse_refresh = True
    with pytest.raises(LinkBroken):
        await service.access_token(8, rejected="access-1")
    with pytest.raises(LinkBroken):  # not the cached token Google just refused
        await service.access_token(8)


async def test_unlink_says_which_account_went_and_refuses_when_none_is_linked(db: Database) -> None:
    oauth, cipher = FakeOAuth(), Cipher(Fernet.generate_key().decode())
    service = LinkService(cast(GoogleOAuth, oauth), LinkRepository(db, cipher), OAuthStateRepository(db, cipher))
    await linked(service, 9)
    assert await service.unlink(9) == Unlinked(UnlinkCode.REVOKED, "someone@example.com")
    with pytest.raises(Refused) as refused:
        await service.unlink(9)
    assert refused.value.code is Code.NOT_LINKED
