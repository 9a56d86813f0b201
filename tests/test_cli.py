"""The command line as a comms officer uses it: check, queue, status, cancel, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from distrib.cli import main
from tests.conftest import EXAMPLE


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_prints_every_time_in_utc_and_the_release_zones(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", str(EXAMPLE))
    assert (code, err) == (0, "")
    assert "start    2020-03-12 11:00 UTC, 2020-03-12 14:00 MSK, 2020-03-12 12:00 CET" in out
    assert "end      2020-03-12 12:00 UTC, 2020-03-12 15:00 MSK, 2020-03-12 13:00 CET" in out
    assert "due      2020-02-28, end of day in Europe/Paris (until 2020-02-28 23:00 UTC)" in out
    assert "published  2020-02-24 08:00 UTC, 2020-02-24 11:00 MSK, 2020-02-24 09:00 CET" in out


def test_check_json_is_the_normalized_release(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "--json", str(EXAMPLE))
    doc = json.loads(out)
    assert code == 0
    assert doc["events"][0]["start"] == "2020-03-12T11:00:00Z"
    assert doc["deadlines"][0]["due"] == "2020-02-28T23:00:00Z"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BAD = """\
---
id: bad
title:
published: 2026-03-01 09:00
timezone: Europe/Pariss
---
"""


def test_bad_input_lists_every_problem_exits_2_and_stores_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = write(tmp_path, "bad.md", BAD)
    code, out, err = run(capsys, "queue", str(EXAMPLE), str(bad))
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"{bad}:3: title: is empty",
        f"{bad}:5: timezone: unknown time zone 'Europe/Pariss'; did you mean 'Europe/Paris'?",
        "2 problems; nothing was stored.",
    ]
    assert not (tmp_path / "data").exists()  # not even the database file was created


def test_queue_twice_then_change_then_status(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = run(capsys, "queue", str(EXAMPLE))[1]
    assert out.startswith("queued: esa-2020-05-exomars-call-for-media version 1\n")
    assert "  7 posts pending on outbox-dir; next: announcement at 2020-02-24 08:00 UTC" in out
    code, out, _ = run(capsys, "queue", str(EXAMPLE))
    assert code == 0
    assert out.startswith("unchanged: esa-2020-05-exomars-call-for-media version 1 is already queued")
    changed = write(
        tmp_path,
        "moved.md",
        EXAMPLE.read_text().replace("start: 2020-03-12 14:00", "start: 2020-03-12 14:30"),
    )
    assert run(capsys, "queue", str(changed))[1].startswith(
        "updated: esa-2020-05-exomars-call-for-media version 2 (was 1)\n"
    )
    code, out, _ = run(capsys, "status", "--json")
    doc = json.loads(out)
    assert code == 0
    assert set(doc) >= {"releases", "outbox"}
    (release,) = doc["releases"]
    assert (release["id"], release["version"], release["state"]) == (
        "esa-2020-05-exomars-call-for-media",
        2,
        "queued",
    )
    assert release["published"] == "2020-02-24T08:00:00Z"
    assert (tmp_path / "data" / "distrib.sqlite3").exists()


def test_cancel_and_unknown_ids(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "queue", str(EXAMPLE))
    code, out, _ = run(capsys, "cancel", "esa-2020-05-exomars-call-for-media", "--reason", "postponed")
    assert (code, out) == (0, "cancelled: esa-2020-05-exomars-call-for-media version 2\n")
    assert run(capsys, "cancel", "esa-2020-05-exomars-call-for-media")[1].startswith("already cancelled")
    code, _, err = run(capsys, "cancel", "nope")
    assert (code, err) == (2, "distrib: no release with the id 'nope' is stored\n")
    code, out, _ = run(capsys, "status", "esa-2020-05-exomars-call-for-media")
    assert "cancelled: postponed" in out
    assert "version 2: cancelled" in out


def test_status_on_an_empty_store_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "status")[1] == "No releases stored yet. Queue one with: distrib queue FILE\n"


def test_missing_file_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", "nowhere.md")
    assert code == 2
    assert err.splitlines()[0] == "nowhere.md:0: file: No such file or directory"


def test_runtime_failure_is_one_line_unless_verbose(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTRIB_DATABASE_URL", "sqlite:////proc/no-such-dir/x.sqlite3")
    code, _, err = run(capsys, "status")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    code, _, err = run(capsys, "-v", "status")
    assert code == 1
    assert "Traceback" in err


def test_installed_entry_point_help_and_version() -> None:
    exe = Path(sys.executable).parent / "distrib"
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "check" in done.stdout
    assert "queue" in done.stdout
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("distrib ")
    bad = subprocess.run([str(exe), "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2
