"""`python -m bot demo`: the real bot against the emulated Telegram and Google, with a page that plays the
Telegram client (a private chat, a group with two members, a channel)."""
