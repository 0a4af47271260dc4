"""Google OAuth 2.0 (web-server flow with PKCE) through authlib's httpx client."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from bot.google.errors import GoogleUnavailable, LinkBroken

if TYPE_CHECKING:
    from bot.metrics import RequestMetrics

PICKER_SCOPE = "https://www.googleapis.com/auth/photospicker.mediaitems.readonly"
SCOPES = ("openid", "email", PICKER_SCOPE)


class CodeExchangeFailed(Exception):
    """Google refused the authorisation code (or could not be reached)."""


class GoogleOAuth:
    """Consent URL, code exchange, refresh, revoke and userinfo. Knows nothing about Telegram."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        auth_url: str,
        token_url: str,
        revoke_url: str,
        userinfo_url: str,
        metrics: RequestMetrics,
        timeout: float = 20.0,
    ) -> None:
        self._metrics = metrics
        self._auth_url = auth_url
        self._token_url = token_url
        self._revoke_url = revoke_url
        self._userinfo_url = userinfo_url
        # One client for every user: it carries no per-user token; each call passes what it needs.
        self._client = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            scope=" ".join(SCOPES),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def authorization_url(self, state: str, code_verifier: str) -> str:
        url, _ = self._client.create_authorization_url(
            self._auth_url, state=state, code_verifier=code_verifier, access_type="offline", prompt="consent"
        )
        return str(url)

    async def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        try:
            async with self._metrics.timed("oauth.exchange"):
                token = await self._client.fetch_token(
                    self._token_url, grant_type="authorization_code", code=code, code_verifier=code_verifier
                )
        except (OAuthError, httpx.HTTPError, ValueError) as exc:
            raise CodeExchangeFailed(type(exc).__name__) from None
        return _with_expiry(dict(token))

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A fresh access token; raises LinkBroken on invalid_grant, GoogleUnavailable otherwise."""
        try:
            async with self._metrics.timed("oauth.refresh"):
                token = await self._client.refresh_token(self._token_url, refresh_token=refresh_token)
        except OAuthError as exc:
            if exc.error in ("invalid_grant", "unauthorized_client", "invalid_client"):
                raise LinkBroken(f"refresh refused: {exc.error}") from None
            raise GoogleUnavailable(f"refresh failed: {exc.error}") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise GoogleUnavailable(f"refresh failed: {type(exc).__name__}") from None
        fresh = dict(token)
        fresh.setdefault("refresh_token", refresh_token)
        return _with_expiry(fresh)

    async def revoke(self, token: str) -> bool:
        """Revoke the grant at Google; False when Google could not confirm it."""
        try:
            async with self._metrics.timed("oauth.revoke") as timing:
                response = await self._client.revoke_token(self._revoke_url, token=token)
                timing.status(response.status_code)
        except (OAuthError, httpx.HTTPError):
            return False
        return bool(response.status_code == 200)

    async def email(self, access_token: str) -> str:
        try:
            async with self._metrics.timed("oauth.userinfo") as timing:
                response = await self._client.request(
                    "GET", self._userinfo_url, headers={"Authorization": f"Bearer {access_token}"}, withhold_token=True
                )
                timing.status(response.status_code)
            response.raise_for_status()
            email = response.json().get("email")
        except (httpx.HTTPError, ValueError) as exc:
            raise CodeExchangeFailed(f"userinfo failed: {type(exc).__name__}") from None
        if not isinstance(email, str) or not email:
            raise CodeExchangeFailed("userinfo has no email")
        return email


def _with_expiry(token: dict[str, Any]) -> dict[str, Any]:
    """Make sure the token knows its absolute expiry (authlib sets expires_at; be explicit)."""
    if "expires_at" not in token and "expires_in" in token:
        token["expires_at"] = int(time.time()) + int(token["expires_in"])
    return token


def granted_scopes(token: dict[str, Any]) -> set[str]:
    return set(str(token.get("scope", "")).split())
