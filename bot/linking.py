"""Linking a Telegram user to a Google account, and keeping their access token fresh."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bot.google.errors import GoogleUnavailable, LinkBroken, Misconfigured, NotLinked
from bot.google.oauth import PICKER_SCOPE, CodeExchangeFailed, GoogleOAuth, granted_scopes
from bot.outcomes import Code, Refused
from bot.user_state import FreshTokens, UserLocks
from storage.links import GoogleLink, LinkRepository
from storage.oauth_states import OAuthState, OAuthStateRepository, PendingSignIn

log = logging.getLogger(__name__)

STATE_TTL = 600.0
SIGN_IN_PATH = "/oauth/start"  # the bot's own page before Google's consent, on PUBLIC_URL
REFRESH_LEEWAY = 60.0
MAX_PASTE = 4096  # characters of a pasted address: Google's redirect is well under 1000
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CallbackCode(StrEnum):
    """How Google's redirect ended (also the word in the outcome page's address)."""

    LINKED = "linked"
    DENIED = "denied"
    SCOPE_MISSING = "scope_missing"
    EXCHANGE_FAILED = "exchange_failed"
    MISCONFIGURED = "misconfigured"  # Google refused the bot's own OAuth client: the operator must fix it
    CANCELLED = "cancelled"  # "This isn't me" on the sign-in page
    BAD_STATE = "bad_state"  # unknown, used or missing: nobody to tell
    EXPIRED_STATE = "expired_state"


@dataclass(frozen=True)
class CallbackOutcome:
    code: CallbackCode
    user_id: int | None = None
    chat_id: int | None = None
    email: str | None = None
    then_pick_chat_id: int | None = None


def pasted_redirect(text: str, redirect_uri: str) -> dict[str, str] | None:
    """The query (state, code, error) of Google's redirect to `redirect_uri` as pasted from a browser's address
    bar (which may leave out the scheme); None for any other text, another address or a repeated parameter."""
    text = text.strip()
    if not text or len(text) > MAX_PASTE or any(c.isspace() for c in text):
        return None
    expected = urlsplit(redirect_uri)
    try:
        given = urlsplit(text if "://" in text else f"{expected.scheme}://{text}")
        port, expected_port = given.port, expected.port
    except ValueError:  # a port that is not a number
        return None
    scheme = given.scheme.lower()
    if (
        scheme != expected.scheme
        or given.hostname != expected.hostname
        or "@" in given.netloc
        or (port or _DEFAULT_PORTS.get(scheme)) != (expected_port or _DEFAULT_PORTS.get(scheme))
        or given.path != expected.path
    ):
        return None
    query = parse_qs(given.query, keep_blank_values=True)
    if any(len(query.get(name, ())) > 1 for name in ("state", "code", "error")):
        return None
    return {name: values[0] for name, values in query.items() if name in ("state", "code", "error")}


class UnlinkCode(StrEnum):
    REVOKED = "revoked"
    REVOKE_FAILED = "revoke_failed"  # forgotten here, but Google did not confirm the revocation


@dataclass(frozen=True)
class Unlinked:
    code: UnlinkCode
    email: str


class LinkService:
    def __init__(
        self,
        oauth: GoogleOAuth,
        links: LinkRepository,
        states: OAuthStateRepository,
        *,
        sign_in_url: str,
        by_paste: bool = False,
    ) -> None:
        self._oauth = oauth
        self._sign_in_url = sign_in_url
        # Sign-in by pasting the address (PUBLIC_URL on this machine, the browser maybe on a phone): the
        # sign-in button goes to Google's consent itself, since the bot's own page cannot be reached either.
        self.by_paste = by_paste
        self._links = links
        self._states = states
        self._locks = UserLocks()
        # The current token of each active link, decrypted: polling thousands of sessions must not read
        # and decrypt a row per poll. Every change of a link goes through this class and drops its entry.
        self._tokens = FreshTokens(REFRESH_LEEWAY)

    def users_locked(self) -> int:
        """How many users' locks are kept (only while held or awaited)."""
        return len(self._locks)

    def tokens_cached(self) -> int:
        """How many decrypted tokens are kept (only while fresh)."""
        return len(self._tokens)

    async def start_link(
        self, user_id: int, chat_id: int, user_label: str, then_pick_chat_id: int | None = None
    ) -> str:
        """The address of a sign-in page on the bot's own domain, bound to this user and chat by a fresh
        single-use id (256 bits). The page names `user_label` before anyone reaches Google's consent: the
        consent URL is a bearer capability, and a forwarded one would link the victim's account.

        Signing in by paste, it is Google's consent URL itself: there a forwarded one links nothing unless its
        victim also sends the address Google redirected to back to whoever forwarded it (the pasted address
        only counts in the chat of the user who asked for it)."""
        start_id = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 chars of [A-Za-z0-9_-]: a valid PKCE verifier
        await self._states.save_sign_in(
            start_id, user_id, chat_id, user_label, verifier, time.time() + STATE_TTL, then_pick_chat_id
        )
        if self.by_paste:
            consent = await self.continue_link(start_id)
            assert consent is not None  # saved just now
            return consent
        return f"{self._sign_in_url}?{urlencode({'s': start_id})}"

    async def sign_in_page(self, start_id: str) -> PendingSignIn | None:
        """Whose sign-in the page is, or None when it cannot be continued."""
        pending = await self._states.peek_sign_in(start_id)
        return None if pending is None or pending.expired else pending

    async def continue_link(self, start_id: str) -> str | None:
        """Google's consent URL for a sign-in page, once: it gets a fresh single-use state (256 bits)."""
        state = secrets.token_urlsafe(32)
        verifier = await self._states.continue_sign_in(start_id, state)
        return None if verifier is None else self._oauth.authorization_url(state, verifier)

    async def cancel_link(self, start_id: str) -> CallbackOutcome:
        """ "This isn't me": the sign-in ends here, unused."""
        pending = await self._states.cancel_sign_in(start_id)
        if pending is None:
            return CallbackOutcome(CallbackCode.BAD_STATE)
        code = CallbackCode.EXPIRED_STATE if pending.expired else CallbackCode.CANCELLED
        log.info("user %s: sign-in page answered %s", pending.user_id, code)
        return CallbackOutcome(code, pending.user_id, pending.chat_id)

    async def complete_link(self, state: str | None, code: str | None, error: str | None) -> CallbackOutcome:
        """Handle Google's redirect. The state is consumed whatever happens next."""
        pending = await self._states.pop_oauth_state(state) if state else None
        return await self._settle(pending, code, error)

    async def complete_pasted(self, user_id: int, text: str) -> CallbackOutcome:
        """Google's redirect as `user_id` pasted its address into their chat: the callback's checks, and the state
        must be theirs (another user's is left alone, for its owner). Anything else is BAD_STATE, changing nothing."""
        query = pasted_redirect(text, self._oauth.redirect_uri) or {}
        state = query.get("state")
        pending = await self._states.pop_oauth_state(state, user_id) if state else None
        return await self._settle(pending, query.get("code"), query.get("error"))

    async def _settle(self, pending: OAuthState | None, code: str | None, error: str | None) -> CallbackOutcome:
        """The rest of a sign-in once its state is consumed: the code exchanged and the grant checked and kept."""
        if pending is None:
            return CallbackOutcome(CallbackCode.BAD_STATE)
        user_id, chat_id = pending.user_id, pending.chat_id
        if pending.expired:
            return CallbackOutcome(CallbackCode.EXPIRED_STATE, user_id, chat_id)
        if error or not code:
            return CallbackOutcome(CallbackCode.DENIED, user_id, chat_id)
        try:
            token = await self._oauth.exchange_code(code, pending.code_verifier)
        except CodeExchangeFailed as exc:
            log.warning("code exchange failed for user %s: %s", user_id, exc)
            return CallbackOutcome(CallbackCode.EXCHANGE_FAILED, user_id, chat_id)
        except Misconfigured:
            return CallbackOutcome(CallbackCode.MISCONFIGURED, user_id, chat_id)  # the operator alarm is raised
        linked = False
        try:
            outcome = await self._keep(pending, token)
            linked = outcome.code is CallbackCode.LINKED
            return outcome
        finally:
            if not linked:  # a grant the bot will never use must not stay alive at Google
                await self._revoke(token)

    async def _keep(self, pending: OAuthState, token: dict[str, Any]) -> CallbackOutcome:
        """Check and store the grant Google issued; the previous link's grant is revoked when it was of
        another Google account (revoking one of the same account would end the new grant too)."""
        user_id, chat_id = pending.user_id, pending.chat_id
        if PICKER_SCOPE not in granted_scopes(token):
            return CallbackOutcome(CallbackCode.SCOPE_MISSING, user_id, chat_id)
        try:
            email = await self._oauth.email(token["access_token"])
        except CodeExchangeFailed as exc:
            log.warning("code exchange failed for user %s: %s", user_id, exc)
            return CallbackOutcome(CallbackCode.EXCHANGE_FAILED, user_id, chat_id)
        if not token.get("refresh_token"):
            log.warning("Google returned no refresh token for user %s", user_id)
        previous = await self._links.get_link(user_id)
        async with self._locks.hold(user_id):  # not while access_token() caches the old one
            await self._links.save_link(user_id, email, token, " ".join(sorted(granted_scopes(token))))
            self._tokens.drop(user_id)
        if previous is not None and previous.email != email:
            revoked = await self._revoke(previous.token)
            log.info("user %s linked another Google account; the previous grant revoked: %s", user_id, revoked)
        log.info("user %s linked a Google account", user_id)
        return CallbackOutcome(CallbackCode.LINKED, user_id, chat_id, email, pending.then_pick_chat_id)

    async def _revoke(self, token: dict[str, Any]) -> bool:
        """Revoke a grant at Google by its refresh token (else its access token); False if not confirmed."""
        value = token.get("refresh_token") or token.get("access_token")
        return bool(value) and await self._oauth.revoke(str(value))

    async def status(self, user_id: int) -> GoogleLink | None:
        return await self._links.get_link(user_id)

    async def unlink(self, user_id: int) -> Unlinked:
        """Revoke at Google, then forget locally whatever Google said. Raises Refused(NOT_LINKED)."""
        link = await self._links.get_link(user_id)
        if link is None:
            raise Refused(Code.NOT_LINKED)
        revoked = await self._revoke(link.token)
        async with self._locks.hold(user_id):
            await self._links.delete_link(user_id)
            self._tokens.drop(user_id)
        log.info("user %s unlinked (revoked at Google: %s)", user_id, revoked)
        return Unlinked(UnlinkCode.REVOKED if revoked else UnlinkCode.REVOKE_FAILED, link.email)

    async def access_token(self, user_id: int, *, rejected: str | None = None) -> str:
        """A valid access token, refreshed ahead of expiry, or when Google just rejected `rejected`.

        Concurrent callers that all saw the same 401 cause one refresh: the others find the
        stored token already differs from the one that was rejected.
        """
        # A fresh cached token needs no lock (polling asks for one a poll): the lock is only for a refresh.
        cached = self._tokens.get(user_id)
        if cached is not None and cached.get("access_token") != rejected:
            return str(cached["access_token"])
        async with self._locks.hold(user_id):
            token = self._tokens.get(user_id)
            if token is None:
                link = await self._links.get_link(user_id)
                if link is None:
                    raise NotLinked("no Google account linked")
                if link.broken:
                    raise LinkBroken("the Google link is broken")
                token = link.token
            if token.get("access_token") == rejected or self._expiring(token):
                self._tokens.drop(user_id)
                token = await self._refresh(user_id, token)
            self._tokens.put(user_id, token)
            return str(token["access_token"])

    @staticmethod
    def _expiring(token: dict[str, Any]) -> bool:
        return float(token.get("expires_at", 0)) - REFRESH_LEEWAY <= time.time()

    async def _refresh(self, user_id: int, token: dict[str, Any]) -> dict[str, Any]:
        refresh_token = token.get("refresh_token")
        if not refresh_token:
            await self._links.mark_broken(user_id)
            raise LinkBroken("no refresh token")
        try:
            fresh = await self._oauth.refresh(str(refresh_token))
        except LinkBroken:
            await self._links.mark_broken(user_id)
            log.warning("Google refused to refresh the token of user %s: link marked broken", user_id)
            raise
        except Misconfigured:  # the bot's client, not the user's grant: the link stays for when it is fixed
            log.info("token refresh for user %s refused for the bot's client; the link is kept", user_id)
            raise
        except GoogleUnavailable:
            log.warning("token refresh for user %s failed for now", user_id)
            raise
        await self._links.update_token(user_id, fresh)
        log.info("refreshed the access token of user %s", user_id)
        return fresh
