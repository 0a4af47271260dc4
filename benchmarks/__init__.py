"""Performance benchmark: the real bot process (`python -m bot`) against the emulators with realistic costs.

Run ``python -m benchmarks`` (full, ~20 min) or ``python -m benchmarks --smoke`` (tiny, < 60 s, for CI);
it prints one table (see README "Performance").

Cost model (``benchmarks/profile.py``; every case compresses time k-fold: latencies and pollInterval ÷k,
bandwidths and flood rates ×k, bursts unchanged):

- Google media: every request waits L_g before its first byte, then streams at B_g per connection
  (``GoogleEmulator.media_latency`` / ``media_bandwidth``); Picker API calls cost nothing.
- Telegram: every Bot API request waits L_t (``set_latency(None, …)``); uploaded file bytes of all
  requests together cross one uplink of B_t bytes/s (``set_upload_bandwidth``); flood limits are token
  buckets, full at Done: per private chat burst b=10 refilling r=1/s, per group b=max(10, 20)=20 at
  r=20/min, bot-wide b_o=30 at r_o=30/s; an album counts one message per item.
- Google says pollInterval P; polls must be at least P apart.

Floor: the least time from Done (``google.pick``) to the summary message that *any* client could take.
Let N items of s_1..s_N bytes (the bytes Google actually served for the rendition that has to move: the
2560-px rendition ``=w2560-h2560`` of a photo, ``=dv`` of a video), S = Σ s_i, s_min, s_max, and D the
detection delay: Done happens right after a poll was answered at t_p, so the earliest next poll is
D = max(0, t_p + P − t_Done).

    T_data  = D + L_g + max(S / B_t, s_max / B_g) + 2·L_t
              (nothing arrives before L_g; every byte crosses the uplink; the largest item crosses one
              connection; the last send's L_t, then the summary's L_t after it was confirmed)

    t_1     = D + L_g + s_min / min(B_g, B_t) + L_t
              (the earliest any message can be accepted: one item fetched and uploaded)

    T_flood(b, r) for one bucket that the N media and the summary draw on:
        last media  ≥ t_1 + max(0, N − b) / r            (b tokens at t_1, then r per second)
        summary     ≥ max(t_1 + max(0, N + 1 − b) / r,  last media + L_t)
      (if the summary goes to another chat, only "last media + L_t" applies for the target chat's bucket)

    floor = max(T_data, T_flood(b, r) of the target chat, T_flood(b_o, r_o) bot-wide)

Each term is a lower bound on its own, so their maximum is one too. The bot sends one extra message
(its status line) that a minimal client need not, which the floor does not grant it.

Crowds (``crowd_floor`` in ``benchmarks/floors.py``): M users, user u with N_u items of S_u bytes in all,
detection D_u and t_1(u) as above; all tap Done at the same moment.

    T_data      = min D_u + L_g + max(Σ S_u / B_t, s_max / B_g) + 2·L_t      (every byte through the one uplink)
    T_chat(c)   = the bucket term for chat c with every item and summary of the users delivering into it
                  (a shared group: all its users' items, then one summary each)
    T_overall   = the bucket term (b_o, r_o) for every item and every summary of every user
    floor       = max(T_data, max_c T_chat(c), T_overall)

A perfectly fair share gives each of the m users in private chats 1/m of the uplink and of the bot-wide
budget, after setting aside what the groups can use at their pace: their buckets' bursts at once
(β = Σ_g min(b_g, messages into g) messages, β·s̄ bytes at the mean item size s̄), then G groups × r_g
messages/s: fair(u) = max(T_chat(u's chat), D_u + L_g + max((m·S_u + β·s̄) / B_t', s_max(u) / B_g) + 2·L_t,
t_1(u) + max(0, m·(N_u + 1) + β − b_o) / r_o'), with B_t' = B_t − G·r_g·s̄ and r_o' = r_o − G·r_g.
A user in a group gets their group's T_chat. Each user's first album of ten (A_u bytes) at that share comes
no sooner than max(t_1(u), D_u + L_g + m·A_u / B_t' + L_t). The bot's 30/s bot-wide pacing is not scaled with k (it is
Telegram's fixed limit), so a case is run at a k where that term does not bind (``crowd`` ×2: 1,230
messages at 30/s take 41 s, the uplink 60 s). The same crowd on two replicas sharing one PostgreSQL database
(``crowd-replicas``) has the same floor, but there the emulator's bot-wide bucket stays at the real 30/s (the
rate the replicas split between them) instead of ×k, so the case shows whether together they keep to it; and it
runs at k = 1. Each replica's half of 30/s holds one album of ten in flight (15 tokens, the messages on their way
counted as spent), so each waits out every album's answer and then the five tokens still missing (1/3 s, less
the part of the next upload that may start ahead of them). At ×2 the answers and uploads halve but 30/s does not:
the wait after an answer was 0.14 s of an album's ~1 s (0.085 s of ~2 s at ×1), no album was uploading for 7–11%
of the sending time (3.6% at ×1), and the case measured 1.16–1.18× a floor it meets at ×1 (1.04–1.08×).

The last prompt of N users' /pick at once (``prompts_floor``): the updates reach the bot L_t after they
were sent (getUpdates), then one prompt each through the bot-wide bucket:
2·L_t + max(0, N − b_o) / r_o.

The naive baseline (``benchmarks/baseline.py``) runs inside this process with httpx against the same
emulators and costs: poll, list, then download one, send one (sendPhoto / sendVideo), nothing in parallel.

Other measurements: peak RSS of the bot process (VmHWM, and VmRSS sampled every 50 ms from /proc);
CPU seconds of the bot (/proc/<pid>/stat) per GB moved (bytes Google served plus request bodies of the sends,
from Done to the summary); polling at scale (waiting picks left by a previous run, ``benchmarks/seed.py``:
Picker calls per session vs elapsed/P, CPU per 1,000 polls, event-loop lag from the bot's ``GET /metrics``
histogram ``bot_event_loop_lag_seconds``, RSS, another user's /pick meanwhile); start-up onto a database
of item rows and overdue waiting picks (``GET /readyz`` 200, and how the first polls are spread); and another
user's /pick answered while a delivery runs.
"""
