"""distrib: a press release in, feeds, calendars, channel posts and reminders out — each once, on time."""

__version__ = "0.1.0"
