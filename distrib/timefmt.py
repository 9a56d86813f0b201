"""Show UTC instants in IANA zones with the zone's own abbreviation and the offset of that date."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from distrib.models import utc


def zone_abbreviation(moment: datetime, zone: str) -> str:
    """MSK, CET, CEST...; zones without letters (e.g. Asia/Dubai '+04') become 'UTC+04'."""
    name = utc(moment).astimezone(ZoneInfo(zone)).tzname() or zone
    if name[:1] in "+-":
        return f"UTC{name}"
    return name


def local(moment: datetime, zone: str) -> datetime:
    return utc(moment).astimezone(ZoneInfo(zone))


def stamp(moment: datetime, zone: str) -> str:
    """'2020-03-12 14:00 MSK' — the date is the local date in that zone."""
    return f"{local(moment, zone):%Y-%m-%d %H:%M} {zone_abbreviation(moment, zone)}"


def stamp_utc(moment: datetime) -> str:
    return f"{utc(moment):%Y-%m-%d %H:%M} UTC"


def stamps(moment: datetime, zones: tuple[str, ...] | list[str]) -> str:
    """'2020-03-12 11:00 UTC, 2020-03-12 14:00 MSK, 2020-03-12 12:00 CET'."""
    return ", ".join([stamp_utc(moment), *(stamp(moment, z) for z in zones)])
