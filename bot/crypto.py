"""Encryption at rest for OAuth tokens and PKCE verifiers (Fernet)."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

KEY_FILE_NAME = "encryption.key"


def is_valid_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def create_private_file(path: Path, data: bytes) -> None:
    """Write a new file readable by the owner only (mode 0600 from the first byte)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def load_or_create_key(configured: str | None, data_dir: Path) -> str:
    """Return ENCRYPTION_KEY, or the key generated once and kept beside the database."""
    if configured:
        return configured
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    create_private_file(path, Fernet.generate_key())
    log.warning(
        "ENCRYPTION_KEY is not set: generated a key and stored it in %s (mode 0600). "
        "Back it up with the database: without it stored Google links cannot be read.",
        path,
    )
    return path.read_text(encoding="ascii").strip()


def warn_if_exposed(paths: Iterable[Path]) -> None:
    """Log a warning for each existing file that the group or other users may read or write (the database
    holds encrypted tokens, the key decrypts them)."""
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning(
                "%s is open to other users of this machine (mode %03o): make it owner-only with chmod 600", path, mode
            )


class Cipher:
    """Encrypts short secrets (tokens) to opaque bytes and back."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        return self._fernet.decrypt(ciphertext).decode()
