"""Delivering a picked session into Telegram: fetching, the pipeline, sending exactly once, reporting."""
