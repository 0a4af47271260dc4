"""Fixtures shared by the emulators' own tests: a Google emulator and a plain HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.emulators.google import GoogleEmulator

CLIENT_ID = "cid.apps.googleusercontent.com"
SECRET = "secret"
REDIRECT = "http://127.0.0.1:8765/oauth/callback"


@pytest.fixture
async def google() -> AsyncIterator[GoogleEmulator]:
    async with GoogleEmulator(client_id=CLIENT_ID, client_secret=SECRET, redirect_uris={REDIRECT}) as g:
        yield g


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
