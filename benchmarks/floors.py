"""The least time any client could take to deliver a pick, given the emulated costs (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.profile import Costs

ALBUM = 10  # items in a full album (the bot's, and Telegram's most)


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


def _bucket(first: float, media: int, summaries: int, burst: float, rate: float, latency: float) -> float:
    """When the last message can be accepted, given one token bucket (full at Done) that `media` messages and
    then `summaries` more (each after its own media were confirmed) draw on, the first at `first`."""
    last_media = first + max(0.0, media - burst) / rate
    if not summaries:
        return last_media + latency
    return max(first + max(0.0, media + summaries - burst) / rate, last_media + latency)


def _flood(first: float, media: int, summary_here: bool, burst: float, rate: float, latency: float) -> float:
    """When the summary can be accepted, given one token bucket (full at Done) that the media draw on."""
    return _bucket(first, media, 1 if summary_here else 0, burst, rate, latency)


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


@dataclass(frozen=True)
class UserPick:
    """One user's share of a crowd: the bytes served for their items, their detection delay, their target chat."""

    sizes: list[int]
    detection: float
    chat: int  # < 0: a group, shared with other users of the crowd

    @property
    def in_group(self) -> bool:
        return self.chat < 0


@dataclass(frozen=True)
class CrowdFloor:
    total: float  # the last summary of all, at the earliest
    data: float  # every user's bytes through the one uplink
    chats: float  # the busiest chat's bucket (a shared group: all its users' items and summaries)
    overall: float  # every message of every user through the bot-wide bucket
    first: list[float]  # per user: their first message accepted, at the earliest (t_1)
    fair: list[float]  # per user: completion under a perfectly fair share of the bottleneck
    first_fair: list[float]  # per user: their first album of ALBUM items, under the same fair share

    @property
    def binding(self) -> str:
        named = {"uplink": self.data, "chat flood": self.chats, "overall flood": self.overall}
        return max(named, key=lambda k: named[k])


def crowd_floor(users: list[UserPick], costs: Costs) -> CrowdFloor:
    """Lower bounds for several users' picks delivered at once (see the package docstring, "Crowds")."""
    lg, bg, lt, bt = costs.google_latency, costs.google_bandwidth, costs.telegram_latency, costs.telegram_uplink
    group_burst, group_rate = float(costs.group_burst), costs.group_rate_per_minute / 60.0
    first = [u.detection + lg + min(u.sizes) / min(bg, bt) + lt for u in users]
    everything = [s for u in users for s in u.sizes]
    data = min(u.detection for u in users) + lg + max(sum(everything) / bt, max(everything) / bg) + 2 * lt
    overall = _bucket(min(first), len(everything), len(users), costs.overall_burst, costs.overall_rate, lt)

    members: dict[int, list[int]] = {}  # chat → the users delivering into it (indexes)
    for i, u in enumerate(users):
        members.setdefault(u.chat, []).append(i)

    def messages_into(chat: int) -> tuple[int, int]:
        """The media and the summaries a chat gets: every item of its users, and one summary each."""
        return sum(len(users[i].sizes) for i in members[chat]), len(members[chat])

    def chat_term(chat: int) -> float:
        media, summaries = messages_into(chat)
        burst, rate = (group_burst, group_rate) if chat < 0 else (float(costs.private_burst), costs.private_rate)
        return _bucket(min(first[i] for i in members[chat]), media, summaries, burst, rate, lt)

    by_chat = {chat: chat_term(chat) for chat in members}
    # Fair share: users in private chats split the uplink and the bot-wide budget evenly; users in groups are
    # held to their group's pace, so what their groups may send is set aside first: each group's full bucket at
    # once (its burst, up to the messages it has), then its rate, at the mean item size.
    sharers = [u for u in users if not u.in_group]
    groups = {u.chat for u in users if u.in_group}
    mean_size = sum(everything) / len(everything)
    uplink_left = bt - len(groups) * group_rate * mean_size
    overall_left = costs.overall_rate - len(groups) * group_rate
    burst_messages = sum(min(group_burst, sum(messages_into(chat))) for chat in groups)
    fair, first_fair = [], []
    for u, t1 in zip(users, first, strict=True):
        m = len(sharers) if not u.in_group else len(users)
        album = sum(u.sizes[:ALBUM])
        first_fair.append(max(t1, u.detection + lg + m * album / uplink_left + lt))
        if u.in_group:
            fair.append(by_chat[u.chat])
            continue
        shared_bytes = m * sum(u.sizes) + burst_messages * mean_size
        share_data = u.detection + lg + max(shared_bytes / uplink_left, max(u.sizes) / bg) + 2 * lt
        shared_messages = m * (len(u.sizes) + 1) + burst_messages
        share_overall = t1 + max(0.0, shared_messages - costs.overall_burst) / overall_left
        fair.append(max(by_chat[u.chat], share_data, share_overall))
    return CrowdFloor(
        max(data, max(by_chat.values()), overall), data, max(by_chat.values()), overall, first, fair, first_fair
    )


def prompts_floor(users: int, costs: Costs) -> float:
    """The last of `users` prompts, all asked for at once: the updates reach the bot after L_t (getUpdates), then
    one message per user through the bot-wide bucket (b_o full, r_o), each accepted L_t after it is sent."""
    return 2 * costs.telegram_latency + max(0.0, users - costs.overall_burst) / costs.overall_rate
