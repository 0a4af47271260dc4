"""Google Photos → Telegram bot."""

import os
import warnings

import authlib.deprecate  # noqa: F401  (installs its own "always" filter, which ours must follow)

# authlib 1.9 prefers the `httpx2` fork and warns once when it falls back to httpx, which is the
# client python-telegram-bot and we use. The warning is about authlib's future, not a fault here.
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
# Opt in to python-telegram-bot's future behaviour: durations (retry_after) as timedelta.
os.environ.setdefault("PTB_TIMEDELTA", "1")
