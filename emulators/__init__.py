"""Faithful emulators of the services the bot talks to: Google (OAuth, Photos Picker API, media) and the
Telegram Bot API. The tests and the demo both run the real bot against them; the bot never imports them."""
