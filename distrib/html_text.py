"""HTML page -> the article's text blocks and page metadata (BeautifulSoup + lxml), without page chrome."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

# Elements that never hold article text.
_DROP_TAGS = (
    "script", "style", "noscript", "template", "iframe", "svg", "canvas", "form", "button", "input",
    "select", "textarea", "nav", "aside", "dialog", "object", "embed", "map",
)  # fmt: skip
_DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "dialog", "alertdialog", "menu", "menubar"}
# id/class words of page furniture. Matched per word so "social-media" text sections stay.
_CHROME = re.compile(
    r"(?:^|[\s_-])(?:cookies?|consent|gdpr|cookie-?banner|nav|navbar|navigation|menu|breadcrumbs?|"
    r"share|sharing|share-?buttons|newsletter|popup|modal|skip|skip-?link|sidebar|advert|ads|"
    r"related|footer|site-?header|masthead|language-?(?:switcher|selector)|lang-?switch|toolbar)(?:$|[\s_-])",
    re.IGNORECASE,
)
_BLOCK_TAGS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "dt", "dd", "td", "th",
               "address", "figcaption", "caption"}  # fmt: skip
_CONTAINER_TAGS = {"div", "section", "article", "main", "body", "header", "footer", "ul", "ol", "dl",
                   "table", "tbody", "thead", "tr", "figure", "span", "center", "font"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TextBlock:
    """One paragraph, list item or heading of article text (links kept as Markdown)."""

    text: str
    heading: bool = False
    item: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    blocks: list[TextBlock]
    title: str | None = None
    published: str | None = None  # as the page's metadata writes it (ISO 8601)
    url: str | None = None
    image: str | None = None
    description: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


def html_to_page(html: str, base_url: str | None = None) -> Page:
    """Keep the article: the largest <article>, else <main>, else the body, minus navigation,
    cookie banners, scripts and other furniture."""
    from bs4 import BeautifulSoup

    soup: Any = BeautifulSoup(html, "lxml")
    meta = _meta(soup)
    canonical = soup.find("link", rel="canonical")
    url = _absolute(_attr(canonical, "href") or meta.get("og:url"), base_url) or base_url
    image = _absolute(meta.get("og:image") or meta.get("twitter:image"), base_url)
    published = (
        meta.get("article:published_time")
        or meta.get("datepublished")
        or meta.get("date")
        or meta.get("dc.date")
        or meta.get("dcterms.date")
        or meta.get("pubdate")
    )
    page_title = soup.title.get_text(" ", strip=True) if soup.title else None

    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if getattr(tag, "decomposed", False) or tag.attrs is None:
            continue
        role = str(tag.get("role") or "").lower()
        marks = " ".join([*(tag.get("class") or []), str(tag.get("id") or "")])
        hidden = tag.get("hidden") is not None or tag.get("aria-hidden") == "true"
        furniture = role in _DROP_ROLES or hidden or (marks.strip() and _CHROME.search(marks))
        if furniture and tag.name not in ("body", "html", "main", "article"):
            tag.decompose()
    if published is None:
        stamp = soup.find("time", attrs={"datetime": True})
        published = _attr(stamp, "datetime")
        if published is None:
            item = soup.find(attrs={"itemprop": "datePublished"})
            published = _attr(item, "content") or _attr(item, "datetime")

    articles = soup.find_all("article")
    root: Any = (
        max(articles, key=lambda a: len(a.get_text(" ", strip=True)))
        if articles
        else soup.find("main") or soup.find(attrs={"role": "main"}) or soup.body or soup
    )
    # A page-level <header>/<footer> outside the article is furniture; inside it, it may hold the h1.
    if root is soup.body or root is soup:
        for tag in root.find_all(["header", "footer"]):
            if tag.find("h1") is None:
                tag.decompose()
    blocks: list[TextBlock] = []
    _walk(root, blocks, base_url)
    h1 = root.find("h1") or soup.find("h1")
    title = h1.get_text(" ", strip=True) if h1 is not None else None
    if not title:
        title = meta.get("og:title") or page_title
    return Page(
        blocks=blocks,
        title=_clean(title) if title else None,
        published=published,
        url=url,
        image=image,
        description=meta.get("og:description") or meta.get("description"),
        meta=meta,
    )


def _attr(tag: Any, name: str) -> str | None:
    if tag is None or not hasattr(tag, "get"):
        return None
    value = tag.get(name)
    if isinstance(value, list):
        value = " ".join(value)
    return str(value).strip() or None if value is not None else None


def _meta(soup: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        key = _attr(tag, "property") or _attr(tag, "name") or _attr(tag, "itemprop")
        value = _attr(tag, "content")
        if key and value:
            out.setdefault(key.lower(), value)
    return out


def _absolute(url: str | None, base: str | None) -> str | None:
    if not url:
        return None
    full = urljoin(base, url) if base else url
    return full if urlsplit(full).scheme in ("http", "https") else None


def _walk(node: Any, out: list[TextBlock], base: str | None) -> None:
    for child in node.children:
        name = getattr(child, "name", None)
        if name is None:
            text = _clean(str(child))
            if text and node.name not in _BLOCK_TAGS:
                out.append(TextBlock(text))  # loose text directly inside a container
            continue
        if name in _BLOCK_TAGS and not child.find([*list(_BLOCK_TAGS - {"td", "th"}), "div"]):
            heading = name in ("h1", "h2", "h3", "h4", "h5", "h6")
            for line in _inline(child, base).split("\n"):
                text = _clean(line)
                if text:
                    out.append(TextBlock(text, heading=heading, item=name == "li"))
        elif name == "br":
            continue
        else:
            _walk(child, out, base)


def _inline(node: Any, base: str | None) -> str:
    """Text of an element with links as Markdown and <br> as a line break."""
    parts: list[str] = []
    for child in node.children:
        name = getattr(child, "name", None)
        if name is None:
            parts.append(str(child))
        elif name == "br":
            parts.append("\n")
        elif name == "a":
            text = _clean(child.get_text(" "))
            href = _attr(child, "href") or ""
            if href.startswith("mailto:"):
                address = href[7:].split("?")[0]
                parts.append(text if address.lower() in text.lower() else f"{text} <{address}>".strip())
            elif href.startswith("tel:"):
                parts.append(text or href[4:])
            else:
                full = _absolute(href, base)
                if full and text and full != text:
                    parts.append(f"[{text}]({full})")
                else:
                    parts.append(full or text)
        elif name in ("p", "div", "li") or name in _BLOCK_TAGS:
            parts.append("\n" + _inline(child, base) + "\n")
        else:
            parts.append(_inline(child, base))
    return "".join(parts)


def _clean(text: str) -> str:
    return re.sub(r"[ \t\r\f\v\u00a0\u2009\u202f]+", " ", text).strip()
