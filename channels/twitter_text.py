"""X's weighted post length (twitter-text v3): URLs count 23, emoji 2, Latin and Cyrillic 1, the rest 2.

Why our own ~150 lines instead of a library: the only Python port, twitter-text-parser 3.0.0 (2023),
imports `pkg_resources` (gone in setuptools >= 82, a warning with 81, which our pytest turns into an
error) and ships a Unicode 12 emoji table. This module follows twitter-text's published algorithm
(config/v3.json) and its URL grammar, ported from twitter/twitter-text (Apache-2.0) via
twitter-text-parser (MIT); emoji sequences are found with the `regex` module's grapheme clusters,
which track current Unicode. tests/test_twitter_text.py runs twitter-text's own conformance cases
(WeightedTweetsCounterTest, WeightedTweetsWithDiscountedEmojiCounterTest,
UnicodeDirectionalMarkerCounterTest) against it.

Known difference: a grapheme cluster joined by ZWJ that is not an RGI emoji sequence counts 2 here,
where twitter-text (with its table) would count each piece; such sequences do not occur in releases.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import regex

from channels._tlds import CCTLDS, GTLDS

MAX_WEIGHTED_LENGTH = 280
TRANSFORMED_URL_LENGTH = 23
_SCALE = 100
_DEFAULT_WEIGHT = 200
# (first, last, weight) from config/v3.json: Latin-1 to Georgian, general punctuation, primes.
_RANGES = ((0x0000, 0x10FF, 100), (0x2000, 0x200D, 100), (0x2010, 0x201F, 100), (0x2032, 0x2037, 100))
_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40

# -- twitter-text's URL grammar (regexp/*.js), assembled by concatenation: PUNCT holds braces ----------
_PUNCT = r"\!'#%&'\(\)*\+,\\\-\.\/:;<=>\?@\[\]\^_{|}~\$/"
_SPACES = r"\x09-\x0D\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
_INVALID = r"\uFFFE\uFEFF\uFFFF"
_DIRECTIONAL = r"\u202A-\u202E\u061C\u200E\u200F\u2066\u2067\u2068\u2069"
_LATIN_ACCENTS = (
    r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263\u0268"
    r"\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF"
)
_CYRILLIC = r"\u0400-\u04FF"

_DOMAIN_CHARS = "[^" + _PUNCT + _SPACES + _INVALID + _DIRECTIONAL + "]"
_SUBDOMAIN = "(?:(?:" + _DOMAIN_CHARS + "(?:[_-]|" + _DOMAIN_CHARS + ")*)?" + _DOMAIN_CHARS + r"\.)"
_DOMAIN_NAME = "(?:(?:" + _DOMAIN_CHARS + "(?:-|" + _DOMAIN_CHARS + ")*)?" + _DOMAIN_CHARS + r"\.)"
_TLD_END = "(?=[^0-9a-zA-Z@+-]|$)"
_GTLD = "(?:(?:" + "|".join(GTLDS) + ")" + _TLD_END + ")"
_CCTLD = "(?:(?:" + "|".join(CCTLDS) + ")" + _TLD_END + ")"
_PUNYCODE = r"(?:xn--[\-0-9a-z]+)"
_DOMAIN = "(?:" + _SUBDOMAIN + "*" + _DOMAIN_NAME + "(?:" + _GTLD + "|" + _CCTLD + "|" + _PUNYCODE + "))"
_PATH_CHARS = "[a-z" + _CYRILLIC + r"0-9!\*';:=\+,\.\$\/%#\[\]\-\u2013_~@\|&" + _LATIN_ACCENTS + "]"
_BALANCED_PARENS = (
    r"\((?:" + _PATH_CHARS + "+|(?:" + _PATH_CHARS + r"*\(" + _PATH_CHARS + r"+\)" + _PATH_CHARS + r"*))\)"
)
_PATH_ENDING = "[\\+\\-a-z" + _CYRILLIC + "0-9=_#\\/" + _LATIN_ACCENTS + "]|(?:" + _BALANCED_PARENS + ")"
_PATH = (
    "(?:(?:" + _PATH_CHARS + "*(?:" + _BALANCED_PARENS + _PATH_CHARS + "*)*(?:" + _PATH_ENDING + "))"
    "|(?:@" + _PATH_CHARS + "+/))"
)
_QUERY_CHARS = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_ENDING = r"[a-z0-9\-_&=#/]"
_PRECEDING = "(?:[^A-Za-z0-9@＠$#＃" + _INVALID + "]|[" + _DIRECTIONAL + "]|^)"

_EXTRACT_URL = re.compile(
    "((" + _PRECEDING + ")"  # 1 whole, 2 preceding character
    "((https?:\\/\\/)?"  # 3 URL, 4 protocol
    "(" + _DOMAIN + ")"  # 5 domain
    "(?::([0-9]+))?"  # 6 port
    "(\\/" + _PATH + "*)?"  # 7 path
    "(\\?" + _QUERY_CHARS + "*" + _QUERY_ENDING + ")?"  # 8 query
    "))",
    re.IGNORECASE,
)
_ASCII_DOMAIN = re.compile(
    "(?:(?:[\\-a-z0-9" + _LATIN_ACCENTS + "]+)\\.)+(?:" + _GTLD + "|" + _CCTLD + "|" + _PUNYCODE + ")",
    re.IGNORECASE,
)
_TCO_URL = re.compile(
    r"^https?:\/\/t\.co\/([a-z0-9]+)(?:\?" + _QUERY_CHARS + "*" + _QUERY_ENDING + ")?", re.I
)
_INVALID_BEFORE_BARE_URL = re.compile(r"[-_./]$")
_INVALID_CHARS = re.compile("[" + _INVALID + "]")

_CLUSTER = regex.compile(r"\X")
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")
_KEYCAP = regex.compile("^[0-9#*]\ufe0f?\u20e3$")
_FLAG = regex.compile(r"^\p{Regional_Indicator}{1,2}$")


@dataclass(frozen=True, slots=True)
class UrlSpan:
    url: str
    start: int  # code point index in the NFC-normalised text
    end: int


@dataclass(frozen=True, slots=True)
class ParsedTweet:
    weighted_length: int
    valid: bool


def extract_urls(text: str, *, without_protocol: bool = True) -> list[UrlSpan]:
    """URLs as twitter-text finds them (bare domains with a known TLD too, unless told otherwise)."""
    if not text or ("." not in text if without_protocol else ":" not in text):
        return []
    found: list[UrlSpan] = []
    for match in _EXTRACT_URL.finditer(text):
        before, url, protocol, domain, path = match.group(2, 3, 4, 5, 7)
        end = match.end()
        start = end - len(url)
        if not _valid_url(url, protocol or "https://", domain):
            continue
        if protocol is None:
            if not without_protocol or _INVALID_BEFORE_BARE_URL.search(before):
                continue
            # Without a scheme only ASCII domains count as links (so 'пример.рф' stays text).
            last: UrlSpan | None = None
            for ascii_match in _ASCII_DOMAIN.finditer(domain):
                last = UrlSpan(ascii_match.group(0), start + ascii_match.start(), start + ascii_match.end())
                found.append(last)
            if last is None:
                continue
            if path:
                found[-1] = UrlSpan(url.replace(domain, last.url), last.start, end)
        else:
            tco = _TCO_URL.search(url)
            if tco:
                if tco.group(1) and len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                    continue
                url = tco.group(0)
                end = start + len(url)
            found.append(UrlSpan(url, start, end))
    return found


def _valid_url(url: str, protocol: str, domain: str) -> bool:
    # A label longer than 63 characters once punycode-encoded is not a host name, so not a link.
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    if not ascii_domain:
        return False
    return len(protocol) + len(url) + len(ascii_domain) - len(domain) <= _MAX_URL_LENGTH


def _is_emoji(cluster: str) -> bool:
    return bool(
        _PICTOGRAPHIC.search(cluster) or _KEYCAP.match(cluster) or _FLAG.match(cluster),
    )


def _weight(char: str) -> int:
    code = ord(char)
    for first, last, weight in _RANGES:
        if first <= code <= last:
            return weight
    return _DEFAULT_WEIGHT


def parse_tweet(text: str, *, emoji_parsing: bool = True) -> ParsedTweet:
    """The weighted length and validity of a post, as twitter-text v3 computes them.

    `emoji_parsing=False` gives config v2 (every code point of an emoji weighed alone), which
    twitter-text's WeightedTweetsCounterTest conformance cases use.
    """
    normalized = re.sub(r"\r\n|\r", "\n", unicodedata.normalize("NFC", text))
    urls = {span.start: span for span in extract_urls(normalized)}
    total = 0
    index = 0
    while index < len(normalized):
        span = urls.get(index)
        if span is not None:
            total += TRANSFORMED_URL_LENGTH * _SCALE
            index = span.start + len(span.url)
            continue
        match = _CLUSTER.match(normalized, index)
        cluster = match.group(0) if match else normalized[index]
        if emoji_parsing and _is_emoji(cluster):
            total += _DEFAULT_WEIGHT
            index += len(cluster)
            continue
        total += _weight(normalized[index])
        index += 1
    length = total // _SCALE
    valid = 0 < length <= MAX_WEIGHTED_LENGTH and not _INVALID_CHARS.search(normalized)
    return ParsedTweet(weighted_length=length, valid=valid)


def weighted_length(text: str) -> int:
    return parse_tweet(text).weighted_length
