"""CI hook for the performance benchmark: `python -m benchmarks --smoke` runs end to end and prints its table.

No timing is asserted here (CI machines vary); the full run is `python -m benchmarks` (README "Performance").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_smoke_prints_the_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "| check" in out and "| result" in out, out
    assert "CPU cores" in out and "PROBLEM" not in out, out
    assert "Machine speed: a fixed Python workload" in out, out
    for check in (
        "Delivery: ",
        "Peak RSS of the bot",
        "CPU of the bot per GB moved",
        "the bytes alone",
        "Crowd: ",
        "completion ÷ fair share",
        "group budgets held",
        "/pick at the same moment → last prompt",
        "Polling ",
        "CPU of the bot per 1,000 polls",
        "another user's /pick → reply meanwhile",
        "Start-up with",
        "first polls of the overdue picks",
        "/pick → reply",
    ):
        assert check in out, f"{check!r} missing from:\n{out}"
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| check")]
    assert all(line.rstrip().rstrip("|").split("|")[-1].strip() in ("PASS", "FAIL", "n/a", "—") for line in rows), out
