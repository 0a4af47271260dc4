"""One pick, QR code included, by the bot as `pip install .` installs it: the runtime dependencies alone.

CI runs this module with BOT_PYTHON naming a fresh venv that holds requirements.lock and the project (not
editable) and nothing else, so a runtime dependency that only the dev extra brings fails here. Without
BOT_PYTHON the pick runs like any other end-to-end test and the venv check is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from bot import texts
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import RENDITION, link, media, served_sha, start_pick, temp_files, wait_summary
from tests.harness import ROOT, BotProcess, Person, callback_data

BOT_PYTHON = os.environ.get("BOT_PYTHON")
# With BOT_PYTHON the bot imports the installed project, not the checkout the harness puts on PYTHONPATH.
INSTALLED = {"PYTHONPATH": ""} if BOT_PYTHON else {}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def dev_only_distributions() -> set[str]:
    """The dev extra's packages that the runtime does not need too, as pyproject.toml names them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {Requirement(spec).name for spec in project["dependencies"]}
    return {Requirement(spec).name for spec in project["optional-dependencies"]["dev"]} - runtime


# Run by BOT_PYTHON: its venv, where it imports the bot from, and which of the named packages it has.
PROBE = """
import sys
from importlib.metadata import PackageNotFoundError, distribution
import bot

def installed(name):
    try:
        return bool(distribution(name))
    except PackageNotFoundError:
        return False

print(sys.prefix)
print(bot.__file__)
print(*[name for name in sys.argv[1:] if installed(name)])
"""


@pytest.fixture
def make_bot(make_bot: Callable[..., BotProcess]) -> Callable[..., BotProcess]:
    def make(**overrides: str) -> BotProcess:
        return make_bot(**{**INSTALLED, **overrides})

    return make


@pytest.mark.skipif(BOT_PYTHON is None, reason="BOT_PYTHON names no runtime-only venv (CI sets it)")
def test_the_runtime_venv_has_the_installed_project_and_no_dev_tools(tmp_path: Path) -> None:
    assert BOT_PYTHON is not None
    env = {"PATH": os.environ.get("PATH", ""), **INSTALLED}
    probe = [BOT_PYTHON, "-c", PROBE, *sorted(dev_only_distributions())]
    answer = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    prefix, bot_file, dev_tools = answer.splitlines()
    assert prefix != sys.prefix, "BOT_PYTHON is the tests' own venv"
    assert Path(bot_file).is_relative_to(prefix), f"the bot was imported from {bot_file}, not installed"
    assert dev_tools == "", f"the runtime venv has dev tools: {dev_tools}"


async def test_a_pick_with_its_qr_code(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email)
    video = google.add_video(alice.email, size=200_000)
    await link(alice)
    prompt, session = await start_pick(alice)

    await alice.press(prompt, callback_data(prompt, "QR code"))
    qr = await tg.wait_for_message(alice.user_id, lambda m: m.kind == "photo")
    [upload] = [call.params["photo"] for call in tg.calls_of("sendPhoto") if call.status == 200]
    assert upload.head.startswith(PNG_SIGNATURE)

    google.pick(session.id, [photo, video])
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered all 2."
    # The translations came with the installation (package data): the Bengali menu is in Bengali.
    [first, *_] = tg.commands[tg.scope_key({"type": "all_private_chats"}, "bn")]
    assert first["description"] == texts.speaker("bn")(texts.COMMANDS[0][1]) != texts.ENGLISH(texts.COMMANDS[0][1])
    delivered = [m.file.sha256 for m in media(tg, alice.user_id) if m.message_id != qr.message_id and m.file]
    assert delivered == [served_sha(google, photo, RENDITION), served_sha(google, video, "=dv")]
    assert temp_files(bot) == []
