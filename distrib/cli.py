"""The `distrib` command: parse arguments, call the core, print. Heavy imports stay inside commands."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distrib import __version__
from distrib.errors import DistribError, ReleaseError, UsageError

if TYPE_CHECKING:
    from distrib.config import Settings
    from distrib.models import Release
    from distrib.store import Store

log = logging.getLogger("distrib")

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        result: int = args.func(args)
        return result
    except ReleaseError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''}; nothing was stored.", file=sys.stderr)
        return exc.exit_code
    except DistribError as exc:
        if args.verbose:
            log.exception("failed")
        print(f"distrib: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("distrib: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        print(f"distrib: {type(exc).__name__}: {exc} (run with -v for details)", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
        help="debug logging, and a traceback on errors",
    )  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="distrib",
        description="Distribute a press release: feeds and calendars for journalists, posts for "
        "followers, reminders before deadlines and briefings — each delivered once, on time.",
        parents=[common],
    )
    parser.set_defaults(verbose=False)
    parser.add_argument("--version", action="version", version=f"distrib {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        p.set_defaults(func=func)
        return p

    p = add("check", cmd_check, "validate release files; exit 0, or 2 listing every problem")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the normalized releases as JSON")

    p = add("queue", cmd_queue, "validate, store and plan release files (re-queue = update)")
    p.add_argument("files", nargs="+", metavar="FILE")

    p = add("cancel", cmd_cancel, "cancel a queued release")
    p.add_argument("release_id", metavar="ID")
    p.add_argument("--reason", metavar="TEXT", help="why, shown in the cancellation")

    p = add("status", cmd_status, "releases and outbox states, with remote links")
    p.add_argument("release_id", nargs="?", metavar="ID")
    p.add_argument("--json", action="store_true", help="one JSON document")

    p = add("feeds", cmd_feeds, "write feed.atom, feed.rss and events.ics (atomically) for journalists")
    p.add_argument(
        "--out", metavar="DIR", type=Path, help="where to write them (default: DISTRIB_PUBLIC_DIR)"
    )

    p = add("serve", cmd_serve, "serve the feeds over HTTP (ETag, Last-Modified, 304, gzip)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.add_argument(
        "--refresh", type=float, default=60.0, metavar="SECONDS",
        help="rebuild the feeds this often, and whenever an embargo lifts (default 60; 0: only at start)",
    )  # fmt: skip
    return parser


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def _settings() -> Settings:
    from distrib.config import load

    return load()


def _open_store(settings: Settings) -> Store:
    from distrib.store import Store

    return Store(settings.database_url)


def _now() -> datetime:
    return datetime.now(UTC)


def _load_all(files: Sequence[str]) -> list[tuple[str, Release, str]]:
    """Parse every file before anything is stored; report all problems of all files at once."""
    from distrib.release import check_same_ids, load_release

    loaded: list[tuple[str, Release, str]] = []
    problems = []
    for name in files:
        try:
            release = load_release(name)
        except ReleaseError as exc:
            problems.extend(exc.problems)
            continue
        loaded.append((name, release, Path(name).read_text(encoding="utf-8")))
    problems.extend(check_same_ids([(name, release) for name, release, _ in loaded]))
    if problems:
        raise ReleaseError(problems)
    return loaded


# -- commands -----------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    loaded = _load_all(args.files)
    if args.json:
        docs = [release.to_dict() for _, release, _ in loaded]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, ensure_ascii=False, indent=2))
        return 0
    for name, release, _ in loaded:
        print(f"{name}: ok")
        print(describe_release(release))
    return 0


def describe_release(release: Release) -> str:
    """The normalized release, every time in UTC and in each of the release's zones."""
    from distrib.timefmt import stamp_utc, stamps

    zones = release.show_timezones
    lines = [
        f"  id         {release.id}  (content {release.content_hash()[:12]})",
        f"  title      {release.title}",
    ]
    if release.reference:
        lines.append(f"  reference  {release.reference}")
    lines += [
        f"  language   {release.language}",
        f"  published  {stamps(release.published, zones)}",
        f"  zones      {', '.join(zones)} (times in the file default to {release.timezone})",
    ]
    if release.url:
        lines.append(f"  url        {release.url}")
    if release.summary:
        lines.append(f"  summary    {release.summary}")
    lines.append(f"  handles    {' '.join(release.handles) or '-'}")
    lines.append(f"  hashtags   {' '.join(release.hashtags) or '-'}")
    channels = ", ".join(release.channels) if release.channels is not None else "every configured channel"
    lines.append(f"  channels   {channels}")
    for event in release.events:
        lines.append(f"  event {event.id}: {event.title}  [{event.timezone}]")
        lines.append(f"    start    {stamps(event.start, zones)}")
        if event.end:
            lines.append(f"    end      {stamps(event.end, zones)}")
        lines.append(f"    location {event.location or '-'}")
        lines.append(f"    stream   {event.stream_url or '- (none given)'}")
    for deadline in release.deadlines:
        gates = f" (gates {deadline.event})" if deadline.event else ""
        lines.append(f"  deadline {deadline.id}: {deadline.title}{gates}  [{deadline.timezone}]")
        if deadline.date_only:
            lines.append(
                f"    due      {deadline.due_date.isoformat()}, end of day in {deadline.timezone} "
                f"(until {stamp_utc(deadline.due)})"
            )
        lines.append(f"    until    {stamps(deadline.due, zones)}")
        if deadline.how:
            lines.append(f"    how      {deadline.how}")
    for contact in release.contacts:
        parts = [p for p in (contact.name, contact.role, contact.phone, contact.email) if p]
        lines.append(f"  contact    {', '.join(parts)}")
    for media in release.media:
        lines.append(f"  media      {media.url} {media.type or ''}".rstrip())
    lines.append(f"  body       {len(release.body):,} characters")
    return "\n".join(lines)


def cmd_queue(args: argparse.Namespace) -> int:
    loaded = _load_all(args.files)
    settings = _settings()
    store = _open_store(settings)
    try:
        for name, release, text in loaded:
            result = store.queue(release, str(Path(name).resolve()), text, _now())
            if result.outcome == "unchanged":
                print(
                    f"unchanged: {release.id} version {result.version} is already queued with "
                    "this content; nothing to do"
                )
            elif result.outcome == "new":
                print(f"queued: {release.id} version {result.version}")
            elif result.outcome == "requeued":
                print(f"queued again: {release.id} version {result.version} (it had been cancelled)")
            else:
                print(f"updated: {release.id} version {result.version} (was {result.version - 1})")
    finally:
        store.close()
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    store = _open_store(_settings())
    try:
        try:
            stored, changed = store.cancel(args.release_id, args.reason, _now())
        except KeyError:
            raise UsageError(f"no release with the id '{args.release_id}' is stored") from None
    finally:
        store.close()
    if changed:
        print(f"cancelled: {stored.release.id} version {stored.version}")
    else:
        print(f"already cancelled: {stored.release.id}; nothing to do")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from distrib.models import iso_z

    store = _open_store(_settings())
    try:
        if args.release_id:
            one = store.release(args.release_id)
            if one is None:
                raise UsageError(f"no release with the id '{args.release_id}' is stored")
            stored = [one]
        else:
            stored = store.releases()
        outbox = store.outbox_rows(args.release_id)
        versions = {s.release.id: store.versions(s.release.id) for s in stored} if args.release_id else {}
    finally:
        store.close()
    if args.json:
        doc: dict[str, Any] = {
            "releases": [
                {
                    "id": s.release.id,
                    "title": s.release.title,
                    "version": s.version,
                    "version_hash": s.version_hash,
                    "state": s.state.value,
                    "published": iso_z(s.release.published),
                    "queued_at": iso_z(s.queued_at),
                    "updated_at": iso_z(s.updated_at),
                    "cancelled_at": iso_z(s.cancelled_at) if s.cancelled_at else None,
                    "cancel_reason": s.cancel_reason,
                }
                for s in stored
            ],
            "outbox": outbox,
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print(format_status(stored, outbox, versions))
    return 0


def format_status(stored: list[Any], outbox: list[dict[str, Any]], versions: dict[str, Any]) -> str:
    from distrib.timefmt import stamp, stamp_utc

    if not stored:
        return "No releases stored yet. Queue one with: distrib queue FILE"
    lines = []
    for s in stored:
        r = s.release
        zone = r.show_timezones[0]
        lines.append(f"{r.id}  v{s.version}  {s.state.value}")
        lines.append(f"  {r.title}")
        lines.append(f"  published {stamp_utc(r.published)} ({stamp(r.published, zone)})")
        if s.cancel_reason:
            lines.append(f"  cancelled: {s.cancel_reason}")
        rows = [o for o in outbox if o["release_id"] == r.id]
        if rows:
            counts: dict[str, int] = {}
            for o in rows:
                counts[o["state"]] = counts.get(o["state"], 0) + 1
            lines.append("  outbox    " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
        for v in versions.get(r.id, []):
            lines.append(
                f"  version {v['version']}: {v['state']} at {stamp_utc(v['queued_at'])} "
                f"(content {v['version_hash'][:12]})"
            )
    return "\n".join(lines)


def cmd_feeds(args: argparse.Namespace) -> int:
    from distrib.feeds import write_feeds

    settings = _settings()
    store = _open_store(settings)
    try:
        result = write_feeds(store, settings, _now(), args.out)
    finally:
        store.close()
    entries = f"{result.entries} entr{'y' if result.entries == 1 else 'ies'}"
    print(f"{result.out_dir}: {entries} in the feeds, {result.calendar_releases} release(s) in the calendar")
    for path in result.written:
        print(f"  wrote     {path}")
    for path in result.removed:
        print(f"  removed   {path}")
    if result.unchanged:
        print(f"  unchanged {len(result.unchanged)} file{'s' if len(result.unchanged) != 1 else ''}")
    for topic in result.pinged:
        print(f"  WebSub hub told about {topic}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from distrib.feeds import refresh_loop, write_feeds
    from distrib.web import Server, make_app

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {args.port}")
    if args.refresh < 0:
        raise UsageError("--refresh must be 0 or more seconds")
    settings = _settings()
    store = _open_store(settings)
    stop = threading.Event()
    try:
        result = write_feeds(store, settings, _now())
        print(f"feeds in {result.out_dir}: {result.entries} entries, {len(result.written)} file(s) rewritten")
        try:
            server = Server(make_app(settings), args.host, args.port)
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
        if args.refresh > 0:
            threading.Thread(
                target=refresh_loop, args=(store, settings, stop), kwargs={"interval": args.refresh},
                name="distrib-feeds", daemon=True,
            ).start()  # fmt: skip
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a clean stop under systemd / docker
        for host, port in server.addresses:
            shown = f"[{host}]" if ":" in host else host
            print(f"serving http://{shown}:{port}/ (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.run(stop)
    finally:
        stop.set()
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
