"""A private PostgreSQL cluster for the tests: Debian's binaries, `initdb` into a temporary folder, `pg_ctl` on a
free port, a password-protected superuser; one database per test."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest

from tests.harness import free_port

USER = "bot"


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/<major>/bin), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def skip_or_fail(reason: str) -> NoReturn:
    """Outside CI a missing PostgreSQL skips its tests; CI (CI=true) installs it, so there it fails them."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    pytest.skip(reason)


@dataclass
class PostgresCluster:
    root: Path
    bindir: Path
    port: int
    password: str
    owner: str | None  # the unprivileged user running the server when the tests run as root
    created: int = 0

    @classmethod
    def start(cls, bindir: Path) -> PostgresCluster:
        # PostgreSQL refuses to run as root: then the server runs as the postgres user (or nobody).
        owner = None
        if os.geteuid() == 0:
            owner = "postgres" if _user_exists("postgres") else "nobody"
        root = Path(tempfile.mkdtemp(prefix="bot-pg-"))  # not under pytest's root-only folder: owner must reach it
        cluster = cls(root, bindir, free_port(), secrets.token_urlsafe(16), owner)
        (root / "pwfile").write_text(cluster.password)
        if owner is not None:
            entry = pwd.getpwnam(owner)
            for path in (root, root / "pwfile"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        cluster._run(
            "initdb", "-D", str(root / "data"), "-U", USER, f"--pwfile={root / 'pwfile'}", "--auth=scram-sha-256",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {cluster.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        cluster._run("pg_ctl", "-D", str(root / "data"), "-l", str(root / "server.log"), "-o", options, "-w", "start")
        return cluster

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str, password: str | None = None) -> str:
        return f"postgresql://{USER}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A new empty database; returns its URL."""
        self.created += 1
        name = f"test_{self.created}"
        conn = await asyncpg.connect(self.url("postgres"))
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        return self.url(name)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
