"""`distrib demo`: the ExoMars campaign end to end on a simulated clock, into local files."""

from __future__ import annotations

import importlib.resources
from datetime import UTC, datetime, timedelta
from pathlib import Path

from distrib.config import Settings
from distrib.models import PostKind, Release, Status
from distrib.release import parse_release
from distrib.store import Store, Transition

EXAMPLE_NAME = "esa-n5-2020-exomars-call-for-media.md"
START = datetime(2020, 2, 24, tzinfo=UTC)
UNTIL = datetime(2020, 3, 13, tzinfo=UTC)


def example_path() -> Path:
    """The ExoMars release file: from the checkout, else from the installed package."""
    checkout = Path(__file__).resolve().parent.parent / "examples" / EXAMPLE_NAME
    if checkout.is_file():
        return checkout
    return Path(str(importlib.resources.files("distrib._examples").joinpath(EXAMPLE_NAME)))


def run(settings: Settings) -> str:
    """Queue the example in a fresh demo database, simulate the campaign, write posts and feeds."""
    from distrib import runtime
    from distrib.planner import Planner
    from distrib.worker import VirtualClock, simulate

    path = example_path()
    text = path.read_text(encoding="utf-8")
    release = parse_release(text, str(path))
    database = settings.data_dir / "demo.sqlite3"
    for leftover in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)  # every demo starts from the same empty state
    store = Store(f"sqlite:///{database}")
    try:
        planner = Planner.from_settings(settings)
        planner = Planner(planner.renderer, planner.policy, ("outbox-dir",), settings)
        store.queue(release, str(path), text, START, hook=planner.on_queued)
        clock = VirtualClock(START)
        worker = runtime.make_worker(store, settings, clock=clock, only=["outbox-dir"])
        transitions = list(simulate(worker, clock, UNTIL))
        written = runtime.write_feeds(store, settings, UNTIL)
    finally:
        store.close()
    return timeline(release, transitions, settings, written)


def timeline(release: Release, transitions: list[Transition], settings: Settings, feeds: list[Path]) -> str:
    from distrib.timefmt import local, zone_abbreviation

    zones = release.show_timezones
    head = "  ".join([f"{'when (UTC)':<16}", *(f"{z.split('/')[-1]:<17}" for z in zones), "post"])
    lines = [
        f"distrib demo: {release.title} ({release.reference or release.id})",
        f"simulated {START:%Y-%m-%d} to {UNTIL:%Y-%m-%d} UTC on a virtual clock, posting to outbox-dir",
        "",
        f"  {head}",
    ]
    for t in transitions:
        item = t.item
        cells = [f"{t.at:%a %d %b %H:%M}"]
        cells += [f"{local(t.at, zone):%d %b %H:%M} {zone_abbreviation(t.at, zone)}" for zone in zones]
        what = _describe(release, item.kind, item.target, item.offset_seconds)
        outcome = "" if t.state == Status.SENT else f"  [{t.state.value}: {t.error}]"
        widths = [16] + [17] * len(zones)
        lines.append(
            "  " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)) + f"  {what}{outcome}"
        )
    sent = sum(t.state == Status.SENT for t in transitions)
    lines += [
        "",
        f"{sent} posts written to {settings.outbox_dir}/ (one file each, named by due time and key).",
        "Feeds for journalists: " + (", ".join(str(p) for p in feeds) or "none written"),
        f"Read every post: distrib preview {example_path()}",
    ]
    return "\n".join(lines)


def _describe(release: Release, kind: PostKind, target: str, offset_seconds: int) -> str:
    from distrib.plan import format_offset

    if kind == PostKind.ANNOUNCEMENT:
        return "announcement"
    name = target.split("@")[0]
    item = release.event(name) or release.deadline(name)
    title = item.title if item else name
    lead = f", {format_offset(timedelta(seconds=offset_seconds))} before" if offset_seconds else ""
    return f"{kind.value.replace('-', ' ')}: {title}{lead}"
