"""The least time any client could take to deliver a pick, given the emulated costs (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.profile import Costs


@dataclass(frozen=True)
class Floor:
    total: float
    data: float  # T_data: bytes through Google's connections and Telegram's uplink
    flood_chat: float  # T_flood for the target chat's bucket
    flood_overall: float  # T_flood for the bot-wide bucket

    @property
    def binding(self) -> str:
        named = {"data": self.data, "flood": self.flood_chat, "overall flood": self.flood_overall}
        return max(named, key=lambda k: named[k])


def _flood(first: float, media: int, summary_here: bool, burst: float, rate: float, latency: float) -> float:
    """When the summary can be accepted, given one token bucket (full at Done) that the media draw on."""
    last_media = first + max(0.0, media - burst) / rate
    if not summary_here:
        return last_media + latency
    return max(first + max(0.0, media + 1 - burst) / rate, last_media + latency)


def delivery_floor(
    sizes: list[int],
    costs: Costs,
    *,
    detection: float,
    in_group: bool,
    summary_in_target: bool = True,
    archive_limit: int | None = None,
) -> Floor:
    """Lower bound on Done → summary for items of `sizes` bytes (what Google serves for the rendition); with
    `archive_limit`, sent as ZIP files of at most that many bytes: the fewest that hold them are the messages."""
    lg, bg, lt, bt = costs.google_latency, costs.google_bandwidth, costs.telegram_latency, costs.telegram_uplink
    total_bytes, smallest, largest = sum(sizes), min(sizes), max(sizes)
    data = detection + lg + max(total_bytes / bt, largest / bg) + 2 * lt
    first = detection + lg + smallest / min(bg, bt) + lt
    if in_group:
        burst, rate = float(costs.group_burst), costs.group_rate_per_minute / 60.0
    else:
        burst, rate = float(costs.private_burst), costs.private_rate
    messages = len(sizes) if archive_limit is None else -(-total_bytes // archive_limit)
    chat = _flood(first, messages, summary_in_target, burst, rate, lt)
    overall = _flood(first, messages, True, float(costs.overall_burst), costs.overall_rate, lt)
    return Floor(max(data, chat, overall), data, chat, overall)
