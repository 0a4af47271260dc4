"""The aiohttp server: Google's OAuth redirect; /healthz, /readyz and /metrics for operators; Telegram's
webhook in webhook mode."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from html import escape

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST

from bot import i18n, texts
from bot.linking import SIGN_IN_PATH, CallbackCode, CallbackOutcome, LinkService
from bot.texts import Speaker
from bot.webhook import WEBHOOK_PATH

log = logging.getLogger(__name__)

OutcomeListener = Callable[[CallbackOutcome], Awaitable[None]]
Probe = Callable[[], Awaitable[bool]]
Checks = Callable[[], Awaitable[dict[str, bool]]]
Exposition = Callable[[], Awaitable[bytes]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Mount = Callable[[web.Application], None]
LanguageOf = Callable[[int], Awaitable[Speaker]]  # the language a Telegram user reads, by their id

MAX_PARAM_LENGTH = 2048

# Outcomes that used up a real state answer with a redirect to a page for the outcome alone, so that
# reloading it shows the same page (reloading the callback would replay the used state: "not valid"), and
# the one-time code and state leave the address bar. Its URL holds nothing but the outcome word and the language.
DONE_PATH = "/oauth/done"
_SETTLED = frozenset(
    {
        CallbackCode.LINKED,
        CallbackCode.DENIED,
        CallbackCode.SCOPE_MISSING,
        CallbackCode.EXCHANGE_FAILED,
        CallbackCode.MISCONFIGURED,
        CallbackCode.CANCELLED,
    }
)
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}

_PAGES: dict[CallbackCode, tuple[int, tuple[str, str], bool]] = {
    CallbackCode.LINKED: (200, texts.PAGE_LINKED, True),
    CallbackCode.DENIED: (200, texts.PAGE_DENIED, False),
    CallbackCode.SCOPE_MISSING: (200, texts.PAGE_SCOPE_MISSING, False),
    CallbackCode.EXCHANGE_FAILED: (502, texts.PAGE_EXCHANGE_FAILED, False),
    CallbackCode.MISCONFIGURED: (503, texts.PAGE_MISCONFIGURED, False),
    CallbackCode.CANCELLED: (200, texts.PAGE_CANCELLED, False),
    CallbackCode.BAD_STATE: (400, texts.PAGE_BAD_STATE, False),
    CallbackCode.EXPIRED_STATE: (400, texts.PAGE_BAD_STATE, False),
}

_HEAD = """<!doctype html>
<html lang="{lang}" dir="{direction}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, sans-serif; font-size: 1rem; margin: 0; padding: 0 1rem;
       background: #f4f6f8; color: #1f2328; }}
/* Logical properties, so that rtl pages mirror; long words wrap, never scroll */
main {{ max-width: 28rem; margin-block: 12vh 1rem; margin-inline: auto; padding: 2rem 1.5rem; background: #fff;
       border-radius: 16px; box-shadow: 0 2px 12px rgba(0,0,0,.08); text-align: center; overflow-wrap: anywhere; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #0e1621; color: #e9eef3; }}
  main {{ background: #17212b; box-shadow: none; }}
}}
.button:focus-visible {{ outline: 3px solid #1b7fc0; outline-offset: 3px; }}
.icon {{ font-size: 3rem; }}
b {{ unicode-bidi: plaintext; }}  /* dir="auto" in CSS: the user's name takes its own direction, isolated */
h1 {{ font-size: 1.4rem; margin: .5rem 0; }}
p {{ line-height: 1.5; }}
.button {{ display: block; box-sizing: border-box; width: 100%; min-height: 48px; margin-block-start: 1.5rem;
           padding: .9rem; border: 0; border-radius: 10px; background: #2aabee; color: #fff; text-decoration: none;
           font: inherit; font-weight: 600; font-size: 1.05rem; cursor: pointer; }}
.button.secondary {{ margin-block-start: .75rem; background: transparent; color: inherit;
                     box-shadow: inset 0 0 0 2px #8a96a3; }}
.address {{ display: block; box-sizing: border-box; width: 100%; min-height: 48px; margin-block-start: 1rem;
            padding: .6rem; border: 2px solid #8a96a3; border-radius: 10px; font: inherit; font-size: 1rem; }}
</style></head>
"""

_PAGE = (
    _HEAD
    + """<body><main>
<div class="icon" aria-hidden="true">{icon}</div>
<h1>{title}</h1>
<p>{body}</p>
<a class="button" href="{back}">{button}</a>
</main></body></html>
"""
)

# The bot's own page before Google's consent: whose Telegram account the photos will go to. Its form posts
# back to SIGN_IN_PATH (relative, like the outcome redirect); GET only shows, so a link preview acts on nothing.
# In an embedded web view, where Google refuses the consent, {proceed} is the step to open the page in a browser.
_SIGN_IN_PAGE = (
    _HEAD
    + """<body><main>
<div class="icon" aria-hidden="true">🔐</div>
<h1>{title}</h1>
<p>{body}</p>
<p>{warning}</p>
{proceed}
<form method="post" action="{action}">
<input type="hidden" name="s" value="{start_id}">
<button class="button secondary" type="submit" name="answer" value="not_me">{not_me}</button>
</form>
</main></body></html>
"""
)

_CONTINUE = """<form method="post" action="{action}">
<input type="hidden" name="s" value="{start_id}">
<button class="button" type="submit" name="answer" value="continue">{label}</button>
</form>"""

# The field shows the page's own address as the browser knows it (right behind any proxy); the button copies
# it, and where the clipboard is refused the field is selected for a long-press copy.
_OPEN_IN_BROWSER = """<h2>{heading}</h2>
<p>{explain}</p>
<input class="address" id="address" type="url" dir="ltr" readonly aria-label="{heading}" value="">
<button class="button" type="button" id="copy">{copy}</button>
<p id="copied" role="status" data-copied="{copied}" data-by-hand="{by_hand}"></p>
<script>
const field = document.getElementById("address"), told = document.getElementById("copied");
field.value = location.href;
document.getElementById("copy").addEventListener("click", async () => {{
  try {{ await navigator.clipboard.writeText(field.value); told.textContent = told.dataset.copied; }}
  catch {{ field.select(); told.textContent = told.dataset.byHand; }}
}});
</script>"""


def embedded_web_view(user_agent: str) -> bool:
    """Whether the User-Agent is an app's embedded web view, where Google answers "Error 403:
    disallowed_useragent". Android's WebView adds "; wv)" to its UA, and stripping that token is what makes
    Google accept it (flutter_user_agent#11, PianoNic/Snepilatch#293); an iOS WKWebView sends an iPhone/iPad
    UA without "Safari/" (flutter_user_agent#11), while Safari, SFSafariViewController, Chrome and Firefox for
    iOS all carry it. Telegram documents no marker of its own: its Android in-app browser is a WebView (caught
    by "; wv)"), its iOS one SFSafariViewController (allowed). An assumption where wrong: a web view missed
    here gets Continue and Google's refusal page, as before; a browser taken for a web view still gets the
    address to copy."""
    if "; wv)" in user_agent:
        return True
    apple_mobile = "iPhone" in user_agent or "iPad" in user_agent
    return apple_mobile and "Safari/" not in user_agent


class _MalformedRequests(logging.Filter):
    """aiohttp logs every request it cannot parse (junk bytes, an over-long line or header) as an error with a
    traceback. Anyone who can reach the port can send those: they become one line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "refused a malformed HTTP request (%s %s)", (error.code, type(error).__name__)
            record.exc_info, record.exc_text = None, None
            if record.levelno > logging.INFO:
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_malformed_requests() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _MalformedRequests) for f in server_log.filters):
        server_log.addFilter(_MalformedRequests())


def _language(t: Speaker) -> dict[str, str]:
    """The page's lang and dir attributes."""
    direction = "rtl" if t.locale.character_order == "right-to-left" else "ltr"
    return {"lang": t.language.replace("_", "-"), "direction": direction}


def reader(request: web.Request) -> Speaker:
    """The language of a page nobody's Telegram account is known for: the browser's Accept-Language."""
    return texts.speaker(i18n.from_accept_language(request.headers.get("Accept-Language")) or i18n.SOURCE)


def render_page(t: Speaker, code: CallbackCode, bot_username: str) -> web.Response:
    status, (title, body), success = _PAGES[code]
    page = _PAGE.format(
        **_language(t),
        title=escape(t(title)),
        body=escape(t(body)),
        icon="✅" if success else "⚠️",
        back=escape(f"https://t.me/{bot_username}"),
        button=escape(t(texts.PAGE_BUTTON)),
    )
    return web.Response(
        status=status,
        text=page,
        content_type="text/html",
        headers=_NO_STORE,
    )


def bearer_matches(request: web.Request, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # aiohttp keeps bytes that are not UTF-8 as surrogates: encode them back rather than fail
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(errors="surrogateescape"), token.encode()
    )


def render_sign_in(t: Speaker, start_id: str, user_label: str, *, in_app: bool) -> web.Response:
    action, start = escape(SIGN_IN_PATH.rsplit("/", 1)[1]), escape(start_id)
    if in_app:
        proceed = _OPEN_IN_BROWSER.format(
            heading=escape(t(texts.PAGE_OPEN_IN_BROWSER)),
            explain=escape(t(texts.PAGE_OPEN_IN_BROWSER_WHY)),
            copy=escape(t(texts.PAGE_COPY_LINK)),
            copied=escape(t(texts.PAGE_LINK_COPIED)),
            by_hand=escape(t(texts.PAGE_COPY_BY_HAND)),
        )
    else:
        proceed = _CONTINUE.format(action=action, start_id=start, label=escape(t(texts.PAGE_SIGN_IN_CONTINUE)))
    page = _SIGN_IN_PAGE.format(
        **_language(t),
        title=escape(t(texts.PAGE_SIGN_IN_TITLE)),
        body=escape(t(texts.PAGE_SIGN_IN_BODY, name="{name}")).format(name=f"<b>{escape(user_label)}</b>"),
        warning=escape(t(texts.PAGE_SIGN_IN_WARNING)),
        proceed=proceed,
        action=action,
        start_id=start,
        not_me=escape(t(texts.PAGE_SIGN_IN_NOT_ME)),
    )
    return web.Response(text=page, content_type="text/html", headers=_NO_STORE)


def build_web_app(
    links: LinkService,
    on_outcome: OutcomeListener,
    bot_username: Callable[[], str],
    ready: Probe,
    *,
    replica: str,
    readiness: Checks,
    metrics: Exposition,
    metrics_token: str | None = None,
    telegram_webhook: Handler | None = None,
    mount: Mount | None = None,
    language_of: LanguageOf,
) -> web.Application:
    """The bot's routes; ``mount`` adds more beside them (only `python -m bot demo` does: its page). A page
    whose Telegram user is known is in their language (`language_of`), any other in the browser's."""

    async def oauth_callback(request: web.Request) -> web.Response:
        query = request.rel_url.query
        state, code, error = query.get("state"), query.get("code"), query.get("error")
        if any(v is not None and len(v) > MAX_PARAM_LENGTH for v in (state, code, error)):
            state = None
        return await settle(request, await links.complete_link(state, code, error))

    async def settle(request: web.Request, outcome: CallbackOutcome) -> web.Response:
        """Tell the user in Telegram, then answer the browser: a settled outcome by a redirect to its page
        (relative, from /oauth/…: right behind a PUBLIC_URL with a path too)."""
        log.info(
            "OAuth outcome: %s (user %s)",
            outcome.code,
            outcome.user_id,
            extra={"user_id": outcome.user_id, "chat_id": outcome.chat_id},
        )
        if outcome.chat_id is not None:
            try:
                await on_outcome(outcome)
            except Exception:
                log.exception("could not tell user %s about the OAuth outcome", outcome.user_id)
        t = reader(request) if outcome.user_id is None else await language_of(outcome.user_id)
        if outcome.code in _SETTLED:
            done = f"done?result={outcome.code}&lang={t.language}"  # the page's language: its state is used up
            return web.Response(status=303, headers={**_NO_STORE, "Location": done})
        return render_page(t, outcome.code, bot_username())

    async def sign_in_page(request: web.Request) -> web.Response:
        start_id = request.rel_url.query.get("s", "")
        pending = await links.sign_in_page(start_id) if 0 < len(start_id) <= MAX_PARAM_LENGTH else None
        if pending is None:
            return render_page(reader(request), CallbackCode.BAD_STATE, bot_username())
        in_app = embedded_web_view(request.headers.get("User-Agent", ""))
        return render_sign_in(await language_of(pending.user_id), start_id, pending.user_label, in_app=in_app)

    async def sign_in_answer(request: web.Request) -> web.Response:
        form = await request.post()
        start_id, answer = form.get("s"), form.get("answer")
        if not isinstance(start_id, str) or not 0 < len(start_id) <= MAX_PARAM_LENGTH:
            return render_page(reader(request), CallbackCode.BAD_STATE, bot_username())
        if answer == "not_me":
            return await settle(request, await links.cancel_link(start_id))
        if answer != "continue":
            raise web.HTTPBadRequest()
        consent = await links.continue_link(start_id)
        if consent is None:
            return render_page(reader(request), CallbackCode.BAD_STATE, bot_username())
        return web.Response(status=303, headers={**_NO_STORE, "Location": consent})

    async def oauth_done(request: web.Request) -> web.Response:
        result, language = request.rel_url.query.get("result", ""), request.rel_url.query.get("lang", "")
        if result not in _SETTLED:
            raise web.HTTPNotFound()
        t = texts.speaker(language) if language in i18n.LANGUAGES else reader(request)
        return render_page(t, CallbackCode(result), bot_username())

    async def healthz(request: web.Request) -> web.Response:
        ok = await ready()
        body = {"status": "ok" if ok else "unavailable", "replica": replica}
        return web.json_response(body, status=200 if ok else 503)

    async def readyz(request: web.Request) -> web.Response:
        results = await readiness()
        failing = sorted(name for name, ok in results.items() if not ok)
        body = {
            "status": "unavailable" if failing else "ready",
            "checks": {name: "ok" if ok else "failing" for name, ok in results.items()},
        }
        return web.json_response(body, status=503 if failing else 200)

    async def prometheus(request: web.Request) -> web.Response:
        if metrics_token is not None and not bearer_matches(request, metrics_token):
            return web.Response(status=401, text="401: Unauthorized", headers={"WWW-Authenticate": "Bearer"})
        return web.Response(body=await metrics(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    quiet_malformed_requests()
    app = web.Application(middlewares=[_log_requests])
    app.router.add_get("/oauth/callback", oauth_callback)
    app.router.add_get(DONE_PATH, oauth_done)
    app.router.add_get(SIGN_IN_PATH, sign_in_page)
    app.router.add_post(SIGN_IN_PATH, sign_in_answer)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    if telegram_webhook is not None:
        app.router.add_post(WEBHOOK_PATH, telegram_webhook)
    if mount is not None:
        mount(app)
    return app


@web.middleware
async def _log_requests(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Access log without query strings: the OAuth callback's query holds the one-time code."""
    response = await handler(request)
    log.debug("%s %s -> %s", request.method, request.path, response.status)
    return response
