"""`distrib preview`: every post per channel and kind with its send time; nothing is stored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from distrib.cli import main
from tests.conftest import EXAMPLE, ROOT

BRIEFING = "Thu 12 March, 14:00–15:00 MSK (12:00–13:00 CET)"


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    assert main(["preview", str(EXAMPLE), "--json", *args]) == 0
    doc: dict = json.loads(capsys.readouterr().out)  # type: ignore[type-arg]
    return doc


def test_json_shape(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = _json(capsys)
    assert doc["release"]["id"] == "esa-2020-05-exomars-call-for-media"
    assert doc["release"]["events"] == [
        {
            "id": "briefing",
            "title": "Press briefing",
            "start": "2020-03-12T11:00:00Z",
            "end": "2020-03-12T12:00:00Z",
            "timezone": "Europe/Moscow",
        }
    ]
    assert doc["release"]["deadlines"] == [
        {"id": "accreditation", "title": "Media accreditation", "due": "2020-02-28T23:00:00Z"}
    ]
    assert doc["channels"] == ["outbox-dir"]  # nothing configured: the embedded default
    assert [(p["kind"], p["due"]) for p in doc["posts"]] == [
        ("announcement", "2020-02-24T08:00:00Z"),
        ("deadline-reminder", "2020-02-25T23:00:00Z"),
        ("deadline-reminder", "2020-02-27T23:00:00Z"),
        ("deadline-reminder", "2020-02-28T20:00:00Z"),
        ("event-reminder", "2020-03-11T11:00:00Z"),
        ("event-reminder", "2020-03-12T10:00:00Z"),
        ("event-reminder", "2020-03-12T10:50:00Z"),
    ]
    for post in doc["posts"]:
        assert post["channel"] == "outbox-dir"
        for part in post["parts"]:
            assert set(part) >= {"text", "length", "limit"}
            assert part["length"] <= part["limit"]
    assert list(tmp_path.iterdir()) == []  # no database, no outbox files


def test_all_channels(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, "--all-channels")
    assert doc["channels"] == ["x", "telegram", "mastodon", "bluesky", "webhook", "email", "outbox-dir"]
    assert len(doc["posts"]) == 7 * 7
    x = next(p for p in doc["posts"] if p["channel"] == "x" and p["kind"] == "announcement")
    assert BRIEFING in x["parts"][0]["text"]
    assert x["parts"][0]["limit"] == 280
    bluesky = next(p for p in doc["posts"] if p["channel"] == "bluesky")
    assert any(
        f["features"][0]["$type"] == "app.bsky.richtext.facet#tag" for f in bluesky["parts"][0]["facets"]
    )


def test_configured_channels_are_previewed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"):
        monkeypatch.setenv(name, "set")
    assert _json(capsys)["channels"] == ["telegram"]


def test_reminder_policy_from_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTRIB_DEADLINE_REMINDERS", "1d")
    monkeypatch.setenv("DISTRIB_EVENT_REMINDERS", "none")
    assert [p["kind"] for p in _json(capsys)["posts"]] == ["announcement", "deadline-reminder"]


def test_templates_dir_setting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "templates", tmp_path / "t")
    (tmp_path / "t" / "default" / "announcement.txt.j2").write_text("NEW: {{ title }} {{ tags }}\n")
    monkeypatch.setenv("DISTRIB_TEMPLATES_DIR", str(tmp_path / "t"))
    texts = [p["parts"][0]["text"] for p in _json(capsys)["posts"] if p["kind"] == "announcement"]
    assert texts == ["NEW: Call for Media: ESA and Roscosmos to discuss ExoMars plans @ESA_ExoMars #ExoMars"]


def test_template_error_exits_2_naming_the_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "templates", tmp_path / "t")
    (tmp_path / "t" / "default" / "announcement.txt.j2").write_text("{{ title }}\n{{ titel }}\n")
    monkeypatch.setenv("DISTRIB_TEMPLATES_DIR", str(tmp_path / "t"))
    assert main(["preview", str(EXAMPLE)]) == 2
    assert "default/announcement.txt.j2:2: 'titel' is undefined" in capsys.readouterr().err


def test_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", str(EXAMPLE), "--all-channels"]) == 0
    out = capsys.readouterr().out
    assert "Timeline" in out
    assert "== telegram ==" in out
    assert "Feed entry" in out
    assert "due 2020-03-12 10:50 UTC, 2020-03-12 13:50 MSK, 2020-03-12 11:50 CET" in out
    assert BRIEFING in out
    assert "/280]" in out


def test_bad_input_exits_2_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("timezone: Europe/Moscow", "timezone: Europe/Moskva")
    )
    assert main(["preview", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:" in err
    assert "Europe/Moskva" in err


def test_help_stays_light() -> None:
    heavy = "('jinja2', 'babel', 'regex', 'channels')"
    code = f"import sys, distrib.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
