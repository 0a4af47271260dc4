"""Google OAuth 2.0 (web-server flow with PKCE) through authlib's httpx client."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from bot.google.errors import GoogleUnavailable, LinkBroken, Misconfigured

if TYPE_CHECKING:
    from bot.health import GoogleConfig
    from bot.metrics import RequestMetrics

PICKER_SCOPE = "https://www.googleapis.com/auth/photospicker.mediaitems.readonly"
SCOPES = ("openid", "email", PICKER_SCOPE)
# RFC 6749 §5.2: the token endpoint's judgement of the client itself (its id, secret or allowed grants), not
# of the user's grant: a wrong or rotated GOOGLE_CLIENT_SECRET answers these for every user alike.
CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


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
        config: GoogleConfig,
        timeout: float = 20.0,
    ) -> None:
        self._metrics = metrics
        self._config = config
        self.redirect_uri = redirect_uri
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
            # Each call goes to its configured endpoint only: a redirect would take the bearer token, the
            # client secret or a refresh token to wherever it points.
            follow_redirects=False,
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
        except OAuthError as exc:
            if self._judged_client(exc.error):
                raise Misconfigured(f"code exchange refused: {exc.error}", reason=str(exc.error)) from None
            raise CodeExchangeFailed(exc.error) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise CodeExchangeFailed(type(exc).__name__) from None
        self._judged_client(None)
        return _with_expiry(dict(token))

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A fresh access token. Raises LinkBroken when the grant is gone (invalid_grant), Misconfigured when
        Google refuses the bot's client itself, GoogleUnavailable otherwise."""
        try:
            async with self._metrics.timed("oauth.refresh"):
                token = await self._client.refresh_token(self._token_url, refresh_token=refresh_token)
        except OAuthError as exc:
            if self._judged_client(exc.error):
                raise Misconfigured(f"refresh refused: {exc.error}", reason=str(exc.error)) from None
            if exc.error == "invalid_grant":
                raise LinkBroken(f"refresh refused: {exc.error}") from None
            raise GoogleUnavailable(f"refresh failed: {exc.error}") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise GoogleUnavailable(f"refresh failed: {type(exc).__name__}") from None
        self._judged_client(None)
        fresh = dict(token)
        fresh.setdefault("refresh_token", refresh_token)
        return _with_expiry(fresh)

    def _judged_client(self, error: str | None) -> bool:
        """Tell the config health what the token endpoint's answer (`error`: None when it issued a token)
        says of the bot's client; True when it refused the client itself."""
        if error in CLIENT_ERRORS:
            self._config.refused("oauth_client", str(error))
            return True
        if error is None:
            self._config.accepted("oauth_client")
        return False

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
