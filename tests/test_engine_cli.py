"""The engine from the command line: demo, run --simulate, run --once, worker --once, resolve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distrib.cli import main
from distrib.store import Outbox, Store
from tests.conftest import EXAMPLE, sqlite_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_writes_the_campaign_and_prints_its_timeline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "demo")
    assert (code, err) == (0, "")
    assert "Mon 24 Feb 08:00" in out
    assert "12 Mar 13:50 MSK" in out  # the 10-minute briefing reminder, in Moscow time
    assert "7 posts written to outbox/" in out
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert len(files) == 7
    assert files[0].startswith("20200224T0800Z-esa-2020-05-exomars-call-for-media_announcement")
    announcement = (tmp_path / "outbox" / files[0]).read_text()
    assert "14:00–15:00 MSK (12:00–13:00 CET)" in announcement
    assert {p.name for p in (tmp_path / "public").iterdir()} >= {"feed.atom", "feed.rss", "events.ics"}
    assert "Press briefing" in (tmp_path / "public" / "events.ics").read_text()
    code, again, _ = run(capsys, "demo")  # a demo starts from scratch every time
    assert (code, again) == (0, out)


def test_queue_then_simulate_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "queue", str(EXAMPLE))
    code, out, _ = run(capsys, "run", "--simulate", "2020-02-24", "2020-03-13", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(x["kind"], x["due"], x["state"]) for x in lines][:2] == [
        ("announcement", "2020-02-24T08:00:00Z", "sent"),
        ("deadline-reminder", "2020-02-25T23:00:00Z", "sent"),
    ]
    assert len(lines) == 7
    assert set(lines[0]) >= {"at", "key", "release_id", "channel", "kind", "due", "state", "text"}
    assert "@ESA_ExoMars #ExoMars" in lines[0]["text"]
    assert run(capsys, "run", "--simulate", "2020-02-24", "2020-03-13")[1] == ""  # nothing goes out twice


def test_simulate_rejects_bad_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", "--simulate", "2020-03-13", "2020-02-24")
    assert (code, err) == (2, "distrib: --simulate: UNTIL is before FROM\n")
    assert run(capsys, "run", "--simulate", "soon", "later")[0] == 2


def test_run_once_sends_what_is_due_late_and_writes_feeds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, "queue", str(EXAMPLE))
    code, out, _ = run(capsys, "run", "--once")
    assert code == 0
    # Queued years after the campaign: the announcement still goes out (late, once); reminders are too late.
    states = [line.split()[3] for line in out.splitlines()]
    assert sorted(states) == ["sent"] + ["skipped"] * 6
    assert "(late by" in out
    assert (tmp_path / "public" / "feed.atom").exists()
    assert run(capsys, "worker", "--once")[1] == ""


def test_resolve_settles_an_uncertain_post(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from datetime import timedelta

    run(capsys, "queue", str(EXAMPLE))
    store = Store(sqlite_url(tmp_path / "data"))
    outbox = Outbox(store)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    (first, *_) = outbox.claim(now, "dead", timedelta(seconds=1), limit=1)
    assert outbox.begin_attempt(first, now, timedelta(seconds=1))
    outbox.sweep(now + timedelta(minutes=1), lambda _: False)
    store.close()
    code, out, _ = run(capsys, "status")
    assert "needs you: 1 uncertain" in out
    assert run(capsys, "resolve", first.key, "--sent") == (0, f"recorded as sent: {first.key}\n", "")
    code, _, err = run(capsys, "resolve", first.key, "--resend")
    assert code == 2
    assert "only uncertain or failed posts can be resolved" in err
    assert run(capsys, "resolve", "nope", "--sent")[0] == 2


def test_run_serves_feeds_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exe = Path(sys.executable).parent / "distrib"
    subprocess.run([str(exe), "queue", str(EXAMPLE)], cwd=tmp_path, check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIB_")}
    proc = subprocess.Popen(
        [str(exe), "run", "--port", str(port)], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait for the worker, not for a timer
            if "worker started" in line:
                break
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feed.atom", timeout=10) as answer:
            assert answer.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
            assert b"ESA and Roscosmos" in answer.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        rest = proc.stderr.read()
        assert "stopping on SIGTERM" in rest
        assert "worker stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert (tmp_path / "outbox").is_dir()  # the late announcement went out while it ran
