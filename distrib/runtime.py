"""Wiring for the long-running commands: channels that send, the worker, signals, outcome lines."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import channels
from channels.base import Sender
from distrib.config import Settings
from distrib.models import Status, iso_z
from distrib.store import Store, Transition
from distrib.timefmt import stamp, stamp_utc
from distrib.worker import Clock, Worker, WorkerConfig

log = logging.getLogger(__name__)


def sending_channels(settings: Settings, only: list[str] | None = None) -> dict[str, Sender]:
    """Every configured channel that can send, and always outbox-dir (local, needs no account):
    rows planned for it while nothing else was configured must still be deliverable."""
    names = only if only is not None else [*channels.configured(settings), channels.DEFAULT_CHANNEL]
    out: dict[str, Sender] = {}
    for name in dict.fromkeys(names):
        channel = channels.build(name, settings)
        if isinstance(channel, Sender):
            out[name] = channel
        else:
            log.warning("channel %s is configured but cannot send from this version", name)
    return out


def is_idempotent(name: str) -> bool:
    cls = channels.REGISTRY.get(name)
    return bool(cls and cls.idempotent)


def worker_config(settings: Settings) -> WorkerConfig:
    heartbeat = int(settings.get("DISTRIB_HEARTBEAT_SECONDS") or 1)
    return WorkerConfig(heartbeat_seconds=max(heartbeat, 1))


def make_worker(
    store: Store, settings: Settings, *, clock: Clock | None = None, only: list[str] | None = None
) -> Worker:
    return Worker(
        store,
        sending_channels(settings, only),
        clock=clock,
        config=worker_config(settings),
        idempotent=is_idempotent,
    )


def stop_on_signals() -> threading.Event:
    """SIGTERM and SIGINT ask the loops to stop; sends in progress finish and are recorded."""
    stop = threading.Event()

    def handle(signum: int, _frame: Any) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def outcome_json(t: Transition) -> dict[str, Any]:
    """One `run --simulate --json` line (DESIGN §9), plus the error, link and lateness."""
    item = t.item
    late = (t.at - item.due).total_seconds() if t.state == Status.SENT else None
    return {
        "at": iso_z(t.at),
        "key": item.key,
        "release_id": item.release_id,
        "channel": item.channel,
        "kind": item.kind.value,
        "due": iso_z(item.due),
        "state": t.state.value,
        "text": item.post.text,
        "attempt": item.attempts,
        "remote_url": t.remote_url,
        "error": t.error,
        "late_seconds": late,
    }


def outcome_line(t: Transition, zones: tuple[str, ...] = ()) -> str:
    """A line a person reads at a glance: when, what, where, how it went."""
    item = t.item
    when = "  ".join([stamp_utc(t.at), *(stamp(t.at, z)[11:] for z in zones)])
    what = item.kind.value if item.kind.value == "announcement" else f"{item.kind.value} {item.target}"
    if item.offset_seconds:
        from distrib.plan import format_offset

        what += f" ({format_offset(timedelta(seconds=item.offset_seconds))} before)"
    note = ""
    if t.state == Status.SENT and (t.at - item.due).total_seconds() > 60:
        note = f"  (late by {_duration(t.at - item.due)})"
    elif t.error and t.state != Status.SENT:
        note = f"  ({t.error})"
    return f"{when}  {t.state.value:<9} {item.channel:<11} {what}{note}"


def _duration(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p) or f"{seconds} s"


def printer(as_json: bool, zones: tuple[str, ...] = ()) -> Callable[[Transition], str]:
    if as_json:
        return lambda t: json.dumps(outcome_json(t), ensure_ascii=False)
    return lambda t: outcome_line(t, zones)


def parse_moment(text: str) -> datetime:
    """A --simulate bound: 2020-02-24, 2020-02-24T08:00, or with Z / an offset; bare means UTC."""
    value = text.strip().replace(" ", "T")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def write_feeds(store: Store, settings: Settings, now: datetime) -> list[Path]:
    """Write the journalists' files for `now` (deterministic, atomic); the paths of the main three."""
    from distrib import feeds

    result = feeds.write_feeds(store, settings, now)
    return [result.out_dir / name for name in (feeds.ATOM, feeds.RSS, feeds.ICS)]


def serve_and_work(
    store: Store, settings: Settings, worker: Worker, host: str, port: int, stop: threading.Event
) -> None:
    """`distrib run`: the HTTP server and the feed refresher in threads, the worker in this one."""
    from distrib import feeds, web

    write_feeds(store, settings, datetime.now(UTC))
    server = web.Server(web.make_app(settings), host, port)
    log.info("serving feeds", extra={"url": f"http://{host}:{server.port}/"})
    threads = [
        server.start(),
        threading.Thread(
            target=feeds.refresh_loop, args=(store, settings, stop), name="distrib-feeds", daemon=True
        ),
    ]
    threads[1].start()
    try:
        worker.run(stop)
    finally:
        stop.set()
        server.stop()
        for thread in threads:
            thread.join(timeout=10)
