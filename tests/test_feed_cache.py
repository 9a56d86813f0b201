"""The disk cache of feed pieces: a fresh process reuses an earlier run's bytes, never stale ones."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from distrib import feeds
from distrib.config import Settings
from distrib.disk_cache import DiskCache, cache_key
from distrib.feeds import FeedConfig, feed_cache, render_all, write_feeds
from distrib.models import Release
from distrib.store import Store
from tests.conftest import NOW
from tests.test_feeds import AFTER, PUBLISHED, variant

EXOMARS_ICS = "releases/esa-2020-05-exomars-call-for-media.ics"


def settings_for(tmp_path: Path, **extra: str) -> Settings:
    env = {"DISTRIB_PUBLIC_DIR": str(tmp_path / "public"), "DISTRIB_DATA_DIR": str(tmp_path / "data")}
    return Settings.from_env({**env, **extra})


def fresh_process() -> None:
    """What a new `distrib feeds` starts with: nothing in memory, the files of earlier runs on disk."""
    feeds.forget_in_process_caches()


def cache_files(settings: Settings) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(feed_cache(settings).directory.iterdir())}


def public_files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def pure(store: Store, config: FeedConfig, now: object) -> dict[str, bytes]:
    """The files built without any cache (in memory, from scratch)."""
    fresh_process()
    files, *_ = render_all(store, config, now)  # type: ignore[arg-type]
    return files


@pytest.fixture
def two_releases(store: Store, exomars: Release) -> Store:
    store.queue(exomars, "f.md", "v1", NOW)
    other = variant(
        exomars, 1, published=PUBLISHED - timedelta(days=1), language="fr", body="Un *autre* texte."
    )
    store.queue(other, "g.md", "v1", NOW)
    return store


def test_a_fresh_process_reads_the_pieces_from_disk_and_writes_the_same_bytes(
    two_releases: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    write_feeds(two_releases, settings, AFTER)
    first = public_files(settings.public_dir)
    on_disk = cache_files(settings)
    assert on_disk
    assert all(name.endswith(".cache") for name in on_disk)

    fresh_process()

    def rebuilt(*args: object) -> None:
        raise AssertionError("rebuilt instead of read from the cache")

    for name in ("_build_release_vevents", "_build_vtimezone", "_calendar_head", "body_html"):
        monkeypatch.setattr(feeds, name, rebuilt)
    write_feeds(two_releases, settings, AFTER, tmp_path / "again")
    assert public_files(tmp_path / "again") == first
    assert cache_files(settings) == on_disk
    monkeypatch.undo()

    # The same bytes as without any cache, whether the cache was empty (built) or full (read).
    config = FeedConfig.from_settings(settings)
    fresh_process()
    read = DiskCache(feed_cache(settings).directory)
    from_disk, *_ = render_all(two_releases, config, AFTER, cache=read)
    assert read.built == 0
    assert read.disk_hits == len(read.used) == len(on_disk)
    fresh_process()
    empty = DiskCache(tmp_path / "empty")
    built, *_ = render_all(two_releases, config, AFTER, cache=empty)
    assert empty.disk_hits == 0
    assert empty.built == len(empty.used)
    assert from_disk == built == pure(two_releases, config, AFTER)
    assert {"feed.atom", "fr/feed.atom", "fr/events.ics", EXOMARS_ICS} <= set(from_disk)


def test_a_changed_release_misses_and_only_its_pieces_are_rebuilt(
    store: Store, exomars: Release, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    config = FeedConfig.from_settings(settings)
    store.queue(exomars, "f.md", "v1", NOW)
    write_feeds(store, settings, AFTER)
    fresh_process()

    moved = dataclasses.replace(
        exomars, events=tuple(dataclasses.replace(e, location="Room 2 in Moscow") for e in exomars.events)
    )
    store.queue(moved, "f.md", "v2", AFTER + timedelta(hours=1))
    later = AFTER + timedelta(hours=2)
    cache = DiskCache(feed_cache(settings).directory)
    files, *_ = render_all(store, config, later, cache=cache)
    assert cache.built == 1  # the release's VEVENTs; its body, the zones and the headers were read
    assert b"Room 2 in Moscow" in files["events.ics"]
    assert b"SEQUENCE:2" in files[EXOMARS_ICS]
    assert files == pure(store, config, later)


def test_a_cancel_misses(store: Store, exomars: Release, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    config = FeedConfig.from_settings(settings)
    store.queue(exomars, "f.md", "v1", NOW)
    write_feeds(store, settings, AFTER)
    fresh_process()

    cancelled_at = AFTER + timedelta(hours=3)
    store.cancel(exomars.id, "Postponed.", cancelled_at)
    cache = DiskCache(feed_cache(settings).directory)
    files, *_ = render_all(store, config, cancelled_at, cache=cache)
    assert cache.built == 1
    assert b"STATUS:CANCELLED" in files["events.ics"]
    assert b"STATUS:CONFIRMED" not in files["events.ics"]
    assert files == pure(store, config, cancelled_at)


def test_a_config_change_misses(store: Store, exomars: Release, tmp_path: Path) -> None:
    store.queue(exomars, "f.md", "v1", NOW)
    write_feeds(store, settings_for(tmp_path), AFTER)
    fresh_process()

    settings = settings_for(tmp_path, DISTRIB_FEED_TAG="press.example.org,2024")
    result = write_feeds(store, settings, AFTER)
    assert {"events.ics", EXOMARS_ICS} <= set(result.written)
    ics = (settings.public_dir / "events.ics").read_bytes()
    assert b"@press.example.org" in ics
    assert b"@127.0.0.1" not in ics
    assert public_files(settings.public_dir) == pure(store, FeedConfig.from_settings(settings), AFTER)


def test_corrupt_cache_files_are_ignored_and_replaced(
    two_releases: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path)
    write_feeds(two_releases, settings, AFTER)
    first = public_files(settings.public_dir)
    good = cache_files(settings)
    directory = feed_cache(settings).directory
    for n, name in enumerate(good):
        data = good[name]
        damaged = [
            data[: len(data) // 2],  # torn
            b"",  # empty
            data[:-3] + b"XYZ",  # payload no longer matches its sha256
            b"\x80\x04\x95 not even ours",  # e.g. somebody's pickle
        ][n % 4]
        (directory / name).write_bytes(damaged)
    fresh_process()

    with caplog.at_level(logging.DEBUG, logger="distrib.disk_cache"):
        write_feeds(two_releases, settings, AFTER, tmp_path / "again")
    assert public_files(tmp_path / "again") == first
    assert cache_files(settings) == good  # rebuilt, byte for byte
    assert "corrupt or not ours" in caplog.text


def test_a_payload_that_does_not_decode_is_a_miss(tmp_path: Path) -> None:
    key = cache_key("test", 1)
    payload = b"[not json"
    digest = hashlib.sha256(payload).hexdigest()
    tmp_path.joinpath(f"{key}.cache").write_bytes(f"distrib-cache 1 {key} {digest}\n".encode() + payload)

    cache = DiskCache(tmp_path)
    value = cache.get(key, lambda: [1, 2], lambda v: json.dumps(v).encode(), json.loads)
    assert value == [1, 2]
    assert cache.built == 1
    fresh_process()
    again = DiskCache(tmp_path)
    assert again.get(key, lambda: [3], lambda v: json.dumps(v).encode(), json.loads) == [1, 2]
    assert again.disk_hits == 1


def test_pruning_keeps_what_the_build_used(two_releases: Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    config = FeedConfig.from_settings(settings)
    directory = feed_cache(settings).directory
    write_feeds(two_releases, settings, AFTER)
    used = set(cache_files(settings))
    stale = {cache_key("old", n) + ".cache" for n in range(5)} | {f".{cache_key('old', 9)}.abc.tmp"}
    for name in stale:
        (directory / name).write_bytes(b"old")
    (directory / "NOTES.txt").write_text("not ours: left alone")

    # Under the limit, or when this build wrote nothing: no pruning.
    fresh_process()
    reading = DiskCache(directory, max_files=3)
    render_all(two_releases, config, AFTER, cache=reading)
    assert reading.written == 0
    assert reading.prune() == []
    fresh_process()
    roomy = DiskCache(directory)
    (directory / sorted(used)[0]).unlink()
    render_all(two_releases, config, AFTER, cache=roomy)
    assert roomy.written == 1
    assert roomy.prune() == []

    # Past the limit after writing: everything this build did not use goes, what it used stays.
    fresh_process()
    (directory / sorted(used)[0]).unlink()
    tight = DiskCache(directory, max_files=len(used))
    render_all(two_releases, config, AFTER, cache=tight)
    assert tight.written == 1
    assert sorted(tight.prune()) == sorted(stale)
    assert {key + ".cache" for key in tight.used} == used
    assert {p.name for p in directory.iterdir()} == used | {"NOTES.txt"}


def test_a_running_service_records_what_it_uses_from_memory_too(two_releases: Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    config = FeedConfig.from_settings(settings)
    directory = feed_cache(settings).directory
    write_feeds(two_releases, settings, AFTER)
    warm = DiskCache(directory)
    render_all(two_releases, config, AFTER, cache=warm)
    assert warm.disk_hits == warm.built == 0
    assert {key + ".cache" for key in warm.used} == set(cache_files(settings))


def test_an_unwritable_cache_never_fails_the_build(
    two_releases: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "data").write_text("a file where the data directory should be")
    settings = settings_for(tmp_path)
    with caplog.at_level(logging.WARNING, logger="distrib.disk_cache"):
        write_feeds(two_releases, settings, AFTER)
        write_feeds(two_releases, settings, AFTER + timedelta(hours=1))
    assert public_files(settings.public_dir) == pure(two_releases, FeedConfig.from_settings(settings), AFTER)
    assert caplog.text.count("cannot write") == 1
