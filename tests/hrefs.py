"""Every link the suite renders goes somewhere: no empty or "#" href in any page
(through the test client or the live server of the browser tests) or email.

`HrefCheckMiddleware` (in config/settings_test.py) reads every HTML or Atom
response; the `_hrefs_checked` fixture (tests/conftest.py) reads every email a test
sent and fails the test that rendered a dead link, naming the page and the link."""

from __future__ import annotations

import re
import threading
from html.parser import HTMLParser

_lock = threading.Lock()
_found: list[str] = []

_LINK_TAGS = {"a", "link", "area"}
_URL = re.compile(r"https?://\S+")
# Every href attribute whose value could read as "" or "#" once unescaped and
# stripped: no value at all, or a value of only whitespace and "#" (followed by
# anything after a "&", which unescaping may turn into either). A page without one
# has no dead link and is not parsed: html.parser, pure Python, took a quarter of
# the time of a request for a form page (the fuzz suite renders the subscribe and
# manage forms thousands of times). Name boundaries and value forms as html.parser's
# attrfind_tolerant; tests/test_hrefs.py checks it against the parse.
_HREF_MAYBE_DEAD = re.compile(
    r"""(?<=['"\s/])href(?![^\s/=>])"""
    r"""(?:\s*=+\s*(?:"[\s#]*(?:&[^"]*)?"|'[\s#]*(?:&[^']*)?'|\#*(?:&[^\s>]*)?(?=[\s>]|$))"""
    r"""|(?!\s*=))""",
    re.IGNORECASE,
)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.dead: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in _LINK_TAGS:
            return
        attrs = dict(attrs)
        if "href" not in attrs:
            return
        # An <a role="button" href="#"> is a script control, not a link (Django
        # admin's "Select all"); it leads nowhere on purpose.
        if attrs.get("role") == "button":
            return
        href = (attrs["href"] or "").strip()
        if href in ("", "#"):
            self.dead.append(self.get_starttag_text() or f"<{tag} href={href!r}>")


def dead_links(html: str) -> list[str]:
    """The start tags of links in `html` whose href is empty or "#"."""
    if not _HREF_MAYBE_DEAD.search(html):
        return []
    return dead_links_parsed(html)


def dead_links_parsed(html: str) -> list[str]:
    """dead_links without the quick look first: every tag parsed."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.dead


def dead_text_links(text: str) -> list[str]:
    """Lines of a plain-text email that announce a link and give no address: a line
    ending in ":" ("Read: ") with no URL on it or on the next non-blank line."""
    lines = [line.rstrip() for line in text.splitlines()]
    dead = []
    for i, line in enumerate(lines):
        if not line.endswith(":"):
            continue
        following = next((nxt for nxt in lines[i + 1:] if nxt.strip()), "")
        if not _URL.match(following.strip()):
            dead.append(line.strip())
    return dead


def record(where: str, dead: list[str]) -> None:
    if dead:
        with _lock:
            _found.extend(f"{where}: {tag}" for tag in dead)


def take() -> list[str]:
    with _lock:
        found = list(_found)
        _found.clear()
    return found


class HrefCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        kind = response.get("Content-Type", "")
        if getattr(response, "streaming", False) or not (
            kind.startswith("text/html") or "xml" in kind
        ):
            return response
        record(f"{request.method} {request.get_full_path()}", dead_links(response.content.decode(errors="replace")))
        return response
