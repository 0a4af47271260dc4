"""Performance benchmark: the real bot process (`python -m bot`) against the emulators with realistic costs.

Run ``python -m benchmarks`` (full, ~10 min) or ``python -m benchmarks --smoke`` (tiny, < 60 s, for CI);
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

The naive baseline (``benchmarks/baseline.py``) runs inside this process with httpx against the same
emulators and costs: poll, list, then download one, send one (sendPhoto / sendVideo), nothing in parallel.

Other measurements: peak RSS of the bot process (VmHWM, and VmRSS sampled every 50 ms from /proc);
polling at scale (Picker calls per session vs elapsed/P, CPU seconds from /proc/<pid>/stat per 1,000 polls,
event-loop lag from the bot's ``GET /metrics`` histogram ``bot_event_loop_lag_seconds``); and another
user's /pick answered while a delivery runs.
"""
