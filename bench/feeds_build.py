"""Benchmark: build feed.atom, feed.rss and events.ics from 10,000 stored releases (SQLite).

Run: .venv/bin/python bench/feeds_build.py [--releases 10000] [--runs 15]

The store is seeded in one transaction (queueing 10,000 files one by one would time fsyncs, not feeds):
one release every 8 hours for ~9 years up to `now`, plus 20 still under embargo; each with its own ~2 KB
Markdown body, one event 10 days after publication and one date-only deadline 7 days after, in four zones.
Reported, as the median [min–max] of --runs runs:
  cold   query + build of the three files, every in-process cache emptied first and no disk cache
         (the very first `distrib feeds`)
  warm   the same with the caches a long-running `distrib serve` / `distrib run` keeps between rebuilds
  disk   cold again, but with the disk cache an earlier run left in <data dir>/cache/feeds: what a one-shot
         `distrib feeds` from cron pays after its first run
  write  the whole `write_feeds` (also the index, per-language and per-release .ics, compare, atomic writes)
         in a running service
  cron   that `write_feeds` in a fresh process with the disk cache of an earlier run
Target (DESIGN §10): ≤ 50 ms to build.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from distrib import feeds
from distrib.config import Settings
from distrib.disk_cache import DiskCache
from distrib.models import Deadline, Event, Release, ReleaseState
from distrib.store import Store, calendar_releases, feed_releases, release_versions, releases

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ZONES = ("Europe/Paris", "Europe/Moscow", "America/New_York", "Asia/Tokyo")
BODY = "\n\n".join(
    f"Paragraph {i} of the release, with **bold** words, a [link](https://www.esa.int/news/{i}) and "
    "enough plain text to look like a real press release about missions, launches and briefings." * 2
    for i in range(6)
)


def make_release(n: int, published: datetime, event_share: float = 1.0) -> Release:
    zone = ZONES[n % len(ZONES)]
    with_events = (n * event_share) % 1 < event_share  # evenly spread: every 1/share-th release
    start = published + timedelta(days=10)
    return Release(
        id=f"bench-{n:05d}",
        title=f"Release {n}: mission update and press briefing",
        published=published,
        timezone=zone,
        show_timezones=(zone, "Europe/Paris") if zone != "Europe/Paris" else (zone,),
        summary=f"Summary of release {n}: what happens, when and where.",
        hashtags=("#Space", f"#Mission{n % 7}"),
        events=()
        if not with_events
        else (
            Event(
                id="briefing",
                title="Press briefing",
                start=start,
                end=start + timedelta(hours=1),
                timezone=zone,
                location="Main auditorium",
            ),
        ),
        deadlines=()
        if not with_events
        else (
            Deadline(
                id="accreditation",
                title="Accreditation",
                due=published + timedelta(days=7),
                timezone=zone,
                date_only=True,
                how="Apply by email with your press card.",
            ),
        ),
        body=f"{BODY}\n\nEnds release {n}.",  # each body its own: Markdown is rendered once per body
    )


def seed(store: Store, count: int, event_share: float = 1.0) -> None:
    rows, versions = [], []
    for n in range(count + 20):
        published = NOW - timedelta(hours=8 * (count - 1 - n))  # the last 20 are in the future
        release = make_release(n, published, event_share)
        parsed = json.dumps(release.to_dict(), ensure_ascii=False, sort_keys=True)
        queued = published - timedelta(days=1)
        rows.append(
            {
                "id": release.id,
                "version": 1,
                "version_hash": release.content_hash(),
                "state": ReleaseState.QUEUED.value,
                "source": "bench",
                "parsed": parsed,
                "language": "en",
                "published_at": published,
                "horizon_at": feeds.horizon(release),
                "queued_at": queued,
                "updated_at": queued,
                "cancelled_at": None,
                "cancel_reason": None,
            }
        )
        versions.append(
            {
                "release_id": release.id,
                "version": 1,
                "version_hash": release.content_hash(),
                "state": ReleaseState.QUEUED.value,
                "source_text": "",
                "parsed": parsed,
                "queued_at": queued,
            }
        )
    with store.write() as conn:
        conn.execute(releases.insert(), rows)
        conn.execute(release_versions.insert(), versions)
        assert conn.execute(sa.select(sa.func.count()).select_from(releases)).scalar() == count + 20


def clear_caches() -> None:
    """What a fresh process starts with: no in-process cache (the disk cache stays)."""
    feeds.forget_in_process_caches()


def build_three(
    store: Store, config: feeds.FeedConfig, cache_dir: Path | None = None
) -> tuple[int, int, int]:
    cache = DiskCache(cache_dir) if cache_dir else None
    entries = feed_releases(store, NOW, limit=config.limit)
    upcoming = calendar_releases(store, NOW, NOW - feeds.CALENDAR_PAST)
    atom = feeds.build_atom(entries, config, NOW, cache=cache)
    rss = feeds.build_rss(entries, config, NOW, cache=cache)
    ics = feeds.build_calendar(upcoming, config, NOW, cache=cache)
    if cache:
        cache.prune()
    return len(atom), len(rss), len(ics)


def timed(fn, runs: int, before=None) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def show(label: str, ms: list[float]) -> None:
    print(
        f"{label:<6} median {statistics.median(ms):6.1f} ms  [{min(ms):.1f}–{max(ms):.1f}]  ({len(ms)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--event-share", type=float, default=1.0,
        help="fraction of releases with an event and a deadline (default 1.0: every one, the worst case)",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        t0 = time.perf_counter()
        seed(store, args.releases, args.event_share)
        print(f"seeded {args.releases:,} releases (+20 under embargo) in {time.perf_counter() - t0:.1f} s")
        settings = Settings.from_env(
            {"DISTRIB_PUBLIC_DIR": str(Path(tmp) / "public"), "DISTRIB_DATA_DIR": str(Path(tmp) / "data")}
        )
        config = feeds.FeedConfig.from_settings(settings)
        cache_dir = feeds.feed_cache(settings).directory
        sizes = build_three(store, config, cache_dir)  # also fills the disk cache
        assert build_three(store, config) == sizes
        upcoming = calendar_releases(store, NOW, NOW - feeds.CALENDAR_PAST)
        n_events = sum(len(s.release.events) + len(s.release.deadlines) for s in upcoming)
        print(
            f"{config.limit} entries; calendar: {len(upcoming)} releases, {n_events} VEVENTs; "
            f"bytes atom/rss/ics = {sizes[0]:,}/{sizes[1]:,}/{sizes[2]:,}"
        )
        show("cold", timed(lambda: build_three(store, config), args.runs, before=clear_caches))
        show("warm", timed(lambda: build_three(store, config), args.runs))
        show("disk", timed(lambda: build_three(store, config, cache_dir), args.runs, before=clear_caches))
        feeds.write_feeds(store, settings, NOW)
        show("write", timed(lambda: feeds.write_feeds(store, settings, NOW), args.runs))
        show("cron", timed(lambda: feeds.write_feeds(store, settings, NOW), args.runs, before=clear_caches))
        store.close()


if __name__ == "__main__":
    main()
