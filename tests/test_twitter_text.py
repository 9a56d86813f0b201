"""X's weighted length against twitter-text's official conformance cases (conformance/validate.yml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from channels.twitter_text import extract_urls, parse_tweet
from channels.x import XChannel

CONFORMANCE = (
    Path(__file__).resolve().parents[2] / "shared" / "specs" / "twitter-text-conformance-validate.yml"
)
LOCAL_COPY = Path(__file__).resolve().parent / "data" / "twitter-text-conformance-validate.yml"
# WeightedTweetsCounterTest is written for config v2 (no emoji parsing); the other two for v3.
SECTIONS = {
    "WeightedTweetsCounterTest": False,
    "WeightedTweetsWithDiscountedEmojiCounterTest": True,
    "UnicodeDirectionalMarkerCounterTest": True,
}


def _cases() -> list[Any]:
    source = LOCAL_COPY if LOCAL_COPY.is_file() else CONFORMANCE
    tests = yaml.safe_load(source.read_text(encoding="utf-8"))["tests"]
    return [
        pytest.param(case, emoji, id=f"{section}: {case['description'][:60]}")
        for section, emoji in SECTIONS.items()
        for case in tests[section]
    ]


@pytest.mark.parametrize(("case", "emoji_parsing"), _cases())
def test_conformance(case: dict[str, Any], emoji_parsing: bool) -> None:
    result = parse_tweet(case["text"], emoji_parsing=emoji_parsing)
    assert result.weighted_length == case["expected"]["weightedLength"]
    assert result.valid == case["expected"]["valid"]


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("acme.ru", 23),
        ("www.acme.ru", 23),
        ("main.py", 23),
        ("https://www.esa.int/Newsroom?x=1", 23),
        ("пример.рф", 9),  # IDN without a scheme is text
        ("Привет", 6),  # Cyrillic weighs 1
        ("…", 2),
        ("€", 2),
        ("—“”«»", 5),
        ("❤️‍🔥", 2),
        ("🇫🇷", 2),
        ("a\r\nb", 3),
    ],
)
def test_weights(text: str, length: int) -> None:
    assert XChannel().length(text) == length


def test_url_spans_point_into_the_text() -> None:
    text = "See https://esa.int/a and esa.int."
    assert [(u.url, text[u.start : u.end]) for u in extract_urls(text)] == [
        ("https://esa.int/a", "https://esa.int/a"),
        ("esa.int", "esa.int"),
    ]
    assert [u.url for u in extract_urls(text, without_protocol=False)] == ["https://esa.int/a"]
