"""distrib: a press release in, feeds, calendars, channel posts and reminders out — each once, on time."""

import zoneinfo

__version__ = "0.1.0"

# Time-zone rules come from the tzdata package we depend on, not from whatever files the host has:
# the same release gives the same instants and abbreviations on every machine (DESIGN §4).
zoneinfo.reset_tzpath(to=())
