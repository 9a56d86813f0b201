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
    except BrokenPipeError:
        # The reader went away (`distrib preview FILE | head`): not an error worth a message.
        sys.stderr.close()
        return 0
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
    )
    # Its own -v (not the shared parent's action object, whose default must stay SUPPRESS).
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, and a traceback on errors"
    )
    parser.add_argument("--version", action="version", version=f"distrib {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        p.set_defaults(func=func)
        return p

    p = add(
        "import", cmd_import,
        "draft a release file from published text/HTML (file, http(s) URL or -), listing what is missing",
    )  # fmt: skip
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("-o", "--output", metavar="FILE", help="write the draft here (default: standard output)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    p = add("check", cmd_check, "validate release files; exit 0, or 2 listing every problem")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the normalized releases as JSON")

    p = add(
        "preview",
        cmd_preview,
        "every post per channel and kind, the reminder timeline and the feed entry; nothing is stored",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--all-channels", action="store_true", help="every channel, configured or not")
    p.add_argument("--json", action="store_true", help="one JSON document (UTC times ending in Z)")

    p = add("queue", cmd_queue, "validate, store and plan release files (re-queue = update)")
    p.add_argument("files", nargs="+", metavar="FILE")

    p = add("cancel", cmd_cancel, "cancel a queued release")
    p.add_argument("release_id", metavar="ID")
    p.add_argument("--reason", metavar="TEXT", help="why, shown in the cancellation")

    p = add("status", cmd_status, "releases and outbox states, with remote links")
    p.add_argument("release_id", nargs="?", metavar="ID")
    p.add_argument("--json", action="store_true", help="one JSON document")

    p = add("resolve", cmd_resolve, "settle an uncertain (or failed) post: it did go out, or send it again")
    p.add_argument("key", metavar="KEY", help="the outbox key, as `distrib status` shows it")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--sent", action="store_true", help="it is on the channel: record it as sent")
    how.add_argument("--resend", action="store_true", help="it is not: send it again now")

    p = add("worker", cmd_worker, "deliver due posts until stopped (SIGTERM/SIGINT stop cleanly)")
    p.add_argument("--once", action="store_true", help="deliver what is due now, then exit")

    p = add("run", cmd_run, "the service: worker and HTTP server together (or --simulate)")
    p.add_argument("--once", action="store_true", help="deliver what is due now, write the feeds, exit")
    p.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    p.add_argument(
        "--simulate", nargs=2, metavar=("FROM", "UNTIL"),
        help="run the worker on a virtual clock jumping from due time to due time (UTC dates or times)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="with --simulate: one JSON line per outcome")

    p = add(
        "channels", cmd_channels,
        "list every channel: enabled or not, and which settings are missing; `check` verifies credentials",
    )  # fmt: skip
    p.add_argument(
        "action", nargs="?", choices=["check"],
        help="check: call each enabled channel's harmless verification (X get_me, Telegram getMe)",
    )  # fmt: skip

    add("demo", cmd_demo, "the ExoMars campaign end to end on a simulated clock, into local files")

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
    import os

    from distrib import logs

    level = (
        logging.DEBUG
        if verbose
        else getattr(logging, os.environ.get("DISTRIB_LOG_LEVEL", "WARNING").upper(), 30)
    )
    logs.setup(level, os.environ)


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


def cmd_import(args: argparse.Namespace) -> int:
    from distrib.draft_file import render_draft
    from distrib.import_source import read_source
    from distrib.importer import draft_from_source

    if args.output and Path(args.output).exists() and not args.force:
        raise UsageError(f"{args.output} already exists; choose another file or add --force")
    fetched = read_source(args.source)
    draft = draft_from_source(fetched.text, html=fetched.html, url=fetched.url)
    text = render_draft(draft, fetched.name)
    for warning in draft.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output:
        _write_atomically(Path(args.output), text)
        print(
            f"wrote {args.output} ({len(draft.warnings)} warning{'s' if len(draft.warnings) != 1 else ''})",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """Temp file in the same directory, then rename: a reader never sees half a draft."""
    import os
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path("."))
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_check(args: argparse.Namespace) -> int:
    from distrib import report

    loaded = _load_all(args.files)
    if args.json:
        docs = [release.to_dict() for _, release, _ in loaded]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, ensure_ascii=False, indent=2))
        return 0
    for name, release, _ in loaded:
        print(f"{name}: ok")
        print(report.describe_release(release))
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from distrib import preview

    ((_, release, _),) = _load_all([args.file])
    shown = preview.build(release, _settings(), all_channels=args.all_channels)
    if args.json:
        print(json.dumps(preview.to_json(shown), ensure_ascii=False, indent=2))
    else:
        print(preview.report(shown, _now()))
    return 0


def cmd_queue(args: argparse.Namespace) -> int:
    loaded = _load_all(args.files)
    settings = _settings()
    store = _open_store(settings)
    try:
        from distrib.planner import Planner

        planner = Planner.from_settings(settings)
        for name, release, text in loaded:
            before = {r["channel"] for r in store.outbox_rows(release.id)}
            result = store.queue(release, str(Path(name).resolve()), text, _now(), hook=planner.on_queued)
            if result.outcome == "unchanged":
                after = {r["channel"] for r in store.outbox_rows(release.id) if r["state"] == "pending"}
                added = sorted(after - before)
                print(
                    f"unchanged: {release.id} version {result.version} is already queued with "
                    "this content; "
                    + (
                        f"planned its posts on newly configured {', '.join(added)}"
                        if added
                        else "nothing to do"
                    )
                )
                continue
            if result.outcome == "new":
                print(f"queued: {release.id} version {result.version}")
            elif result.outcome == "requeued":
                print(f"queued again: {release.id} version {result.version} (it had been cancelled)")
            else:
                print(f"updated: {release.id} version {result.version} (was {result.version - 1})")
            print(_plan_summary(store, release.id))
    finally:
        store.close()
    return 0


def _plan_summary(store: Store, release_id: str) -> str:
    from distrib.timefmt import stamp_utc

    rows = [r for r in store.outbox_rows(release_id) if r["state"] == "pending"]
    if not rows:
        return "  nothing left to send"
    channels = sorted({r["channel"] for r in rows})
    first = rows[0]
    from distrib.models import parse_iso_z

    return (
        f"  {len(rows)} posts pending on {', '.join(channels)}; next: {first['kind']} at "
        f"{stamp_utc(parse_iso_z(first['due']))} (see `distrib status {release_id}`)"
    )


def cmd_cancel(args: argparse.Namespace) -> int:
    from distrib.planner import Planner

    settings = _settings()
    store = _open_store(settings)
    try:
        try:
            planner = Planner.from_settings(settings)
            stored, changed = store.cancel(args.release_id, args.reason, _now(), hook=planner.on_cancelled)
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
    from distrib import report
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
    print(report.status(stored, outbox, versions, detailed=bool(args.release_id)))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from distrib.store import Outbox

    store = _open_store(_settings())
    try:
        item = Outbox(store).resolve(args.key, sent=args.sent, now=_now())
    except KeyError:
        raise UsageError(f"no outbox row has the key '{args.key}' (see `distrib status ID`)") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    if args.sent:
        print(f"recorded as sent: {item.key}")
    else:
        print(f"will be sent again now: {item.key} (a running worker picks it up)")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from distrib import runtime

    settings = _settings()
    store = _open_store(settings)
    try:
        worker = runtime.make_worker(store, settings)
        if args.once:
            for transition in worker.tick():
                print(runtime.outcome_line(transition))
            return 0
        _service_logging(settings)
        worker.run(runtime.stop_on_signals())
    finally:
        store.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from distrib import runtime
    from distrib.worker import VirtualClock, simulate

    settings = _settings()
    store = _open_store(settings)
    try:
        if args.simulate:
            try:
                start, until = (runtime.parse_moment(m) for m in args.simulate)
            except ValueError as exc:
                raise UsageError(
                    f"--simulate takes two UTC dates or times, e.g. 2020-02-24 2020-03-13: {exc}"
                ) from None
            if until < start:
                raise UsageError("--simulate: UNTIL is before FROM")
            clock = VirtualClock(start)
            line = runtime.printer(args.json)
            for transition in simulate(runtime.make_worker(store, settings, clock=clock), clock, until):
                print(line(transition), flush=True)
            runtime.write_feeds(store, settings, clock.now())
            return 0
        worker = runtime.make_worker(store, settings)
        if args.once:
            for transition in worker.tick():
                print(runtime.outcome_line(transition))
            runtime.write_feeds(store, settings, _now())
            return 0
        _service_logging(settings)
        runtime.serve_and_work(store, settings, worker, args.host, args.port, runtime.stop_on_signals())
    finally:
        store.close()
    return 0


def cmd_channels(args: argparse.Namespace) -> int:
    from distrib import channel_status

    settings = _settings()
    if args.action == "check":
        results = channel_status.check_all(settings)
        print(channel_status.check_report(results))
        return 1 if any(r.failed for r in results) else 0
    print(channel_status.listing(settings))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from distrib import demo

    print(demo.run(_settings()))
    return 0


def _service_logging(settings: Settings) -> None:
    """Long-running commands log at INFO unless DISTRIB_LOG_LEVEL or -v says otherwise."""
    root = logging.getLogger()
    if root.level > logging.INFO and "DISTRIB_LOG_LEVEL" not in settings.env:
        root.setLevel(logging.INFO)


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
