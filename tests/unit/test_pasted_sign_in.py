"""Sign-in by paste: which pasted texts are Google's redirect to the bot's own callback address."""

from __future__ import annotations

import pytest

from bot.linking import pasted_redirect

REDIRECT = "http://localhost:8080/oauth/callback"


@pytest.mark.parametrize(
    "text",
    [
        "http://localhost:8080/oauth/callback?state=S&code=4/0AC&scope=openid",
        "  http://localhost:8080/oauth/callback?state=S&code=4%2F0AC\n",  # as copied, with spaces around
        "localhost:8080/oauth/callback?state=S&code=4/0AC",  # an address bar that hides the scheme
        "HTTP://LOCALHOST:8080/oauth/callback?code=4/0AC&state=S#",
    ],
)
def test_the_redirect_as_browsers_show_it(text: str) -> None:
    assert pasted_redirect(text, REDIRECT) == {"state": "S", "code": "4/0AC"}


def test_a_refusal_at_google_keeps_its_error() -> None:
    query = pasted_redirect(f"{REDIRECT}?error=access_denied&state=S", REDIRECT)
    assert query == {"error": "access_denied", "state": "S"}


def test_default_ports_are_the_same_address() -> None:
    assert pasted_redirect("https://bot.example/oauth/callback?state=S", "https://bot.example:443/oauth/callback")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "http://localhost:8081/oauth/callback?state=S&code=C",  # another port
        "http://127.0.0.1:8080/oauth/callback?state=S&code=C",  # another host, though the same machine
        "http://localhost:8080.evil.example/oauth/callback?state=S&code=C",
        "http://evil.example/?u=http://localhost:8080/oauth/callback&state=S&code=C",
        "http://evil@localhost:8080/oauth/callback?state=S&code=C",  # userinfo: not what a browser shows
        "https://localhost:8080/oauth/callback?state=S&code=C",  # another scheme
        "http://localhost:8080/oauth/callback/x?state=S&code=C",  # another path
        "http://localhost:8080/oauth/done?result=linked",
        "http://localhost:99999/oauth/callback?state=S",  # a port that cannot be
        "http://localhost:8080/oauth/callback?state=S&state=T&code=C",  # which state?
        "http://localhost:8080/oauth/callback?state=S&code=C and more words",
        "http://localhost:8080/oauth/callback?state=" + "S" * 5000,
    ],
)
def test_anything_else_is_not_the_redirect(text: str) -> None:
    assert pasted_redirect(text, REDIRECT) is None
