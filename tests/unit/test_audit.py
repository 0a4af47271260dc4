"""CI's dependency audit: which pip-audit reports fail the build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "audit.py"


def judge(report: object) -> subprocess.CompletedProcess[str]:
    stdin = report if isinstance(report, str) else json.dumps(report)
    return subprocess.run([sys.executable, str(SCRIPT)], input=stdin, capture_output=True, text=True, timeout=30)


def dep(name: str, *vulns: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "version": "1.0", "vulns": list(vulns)}


def test_a_vulnerability_with_a_fix_fails() -> None:
    result = judge({"dependencies": [dep("aiohttp", {"id": "PYSEC-1", "fix_versions": ["1.1"]}), dep("httpx")]})
    assert result.returncode == 1
    assert "VULNERABLE: aiohttp 1.0: PYSEC-1, fixed in 1.1" in result.stdout


def test_a_vulnerability_without_a_fix_is_listed_but_passes() -> None:
    result = judge({"dependencies": [dep("qrcode", {"id": "GHSA-x", "fix_versions": []})]})
    assert result.returncode == 0
    assert "known, unfixed: qrcode 1.0: GHSA-x" in result.stdout


def test_a_check_that_could_not_run_warns_and_passes() -> None:
    skipped = {"name": "pillow", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    result = judge({"dependencies": [dep("httpx"), skipped]})
    assert result.returncode == 0
    assert "WARNING: dependency audit could not check 1 of 2 packages" in result.stdout
    assert "1 packages checked" in result.stdout
    nothing = judge("")
    assert nothing.returncode == 0 and "did not run" in nothing.stdout
