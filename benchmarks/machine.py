"""How fast the machine at hand runs Python: to tell a slower machine from a slower bot.

The CPU figures (per poll, per GB moved) move with the machine: the same bot on the same class of 2-core
machine gave 0.44 ms a poll one day and 0.76 the day before. A fixed workload, timed at the start and at
the end of a run, puts a number beside them (lower: faster), so runs of different days can be compared.
"""

from __future__ import annotations

import json
import timeit

# Python's own work of the kind the bot does most: Picker API sessions turned to JSON and back, then sorted.
SESSIONS = [
    {"id": f"session-{i}", "mediaItemsSet": i % 7 == 0, "pollingConfig": {"pollInterval": "5s", "timeoutIn": f"{i}s"}}
    for i in range(2_000)
]


def _workload() -> None:
    parsed = json.loads(json.dumps(SESSIONS))
    parsed.sort(key=lambda session: session["pollingConfig"]["timeoutIn"])


def python_reference() -> float:
    """Milliseconds the workload takes at best of seven (timeit's way: the least disturbed run)."""
    return min(timeit.repeat(_workload, number=5, repeat=7)) * 1000
