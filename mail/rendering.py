"""Email rendering: Django templates -> MJML -> HTML (mjml-python, the Rust MRML
engine) -> CSS inlined (css-inline), plus the plain-text part and the subject.

Every email is three templates: `emails/NAME.subject.txt`, `emails/NAME.txt` and
`emails/NAME.mjml` (STYLE.md §7). Templates are compiled once per process by
Django's cached loader; the inliner is built once here."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import css_inline
import mjml
from django.conf import settings
from django.template.loader import get_template

# MRML does not inline CSS, and Gmail drops <style> in some views: inline what
# can be inlined and keep the @media rules (phone width, dark mode) in <style>.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
# No web fonts: a system font stack renders everywhere and costs no request.
_MJML_FONTS: dict[str, str] = {}
_WHITESPACE = re.compile(r"\s+")
# Runs of 3+ newlines, written with a literal prefix: the regex engine then jumps
# from one "\n\n\n" to the next instead of trying a repeat at every character;
# `\n{3,}` cost ~100 us per digest's text part, a few % of a digest's CPU
# (profile in docs/benchmarks.md). The same matches.
_BLANK_LINES = re.compile(r"\n\n\n+")
# The plain-text part's lines (RFC 5322 asks for 78 characters at most): 72 leaves
# room for the "> " a client puts before each line of a reply or a forward.
TEXT_WIDTH = 72


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def absolute_url(path: str) -> str:
    """A path of this site as the link an email (or anything read away from the
    site) carries: SITE_URL, kept without its trailing slash by the settings, before
    it. The one place such a link is made (tests/architecture holds the code to it)."""
    return f"{settings.SITE_URL}{path}"


def email_base_context() -> dict:
    return {
        "site_url": settings.SITE_URL,
        "postal_address": settings.POSTAL_ADDRESS,
        "site_name": "Daily Papers Digest",
    }


def mjml_compile(source: str, *, keep_comments: bool = False) -> str:
    """An MJML document as HTML (MRML), CSS not inlined yet. `keep_comments` keeps
    the HTML comments of <mj-raw> (the cut marks of a digest proof,
    newsletter/digest_render.py)."""
    return mjml.mjml2html(source, disable_comments=not keep_comments, fonts=_MJML_FONTS)


def css_inline(html: str) -> str:
    return _INLINER.inline(html)


def mjml_to_html(source: str, *, keep_comments: bool = False) -> str:
    """Compile an MJML document and inline its CSS."""
    return css_inline(mjml_compile(source, keep_comments=keep_comments))


def subject_clean(subject: str) -> str:
    """One line, no CR/LF (header injection), no runs of spaces."""
    return _WHITESPACE.sub(" ", subject).strip()


def text_tidy(text: str) -> str:
    """The plain-text part as sent: no runs of blank lines, one final newline."""
    return _BLANK_LINES.sub("\n\n", text).strip() + "\n"


NO_BREAK_SPACE = "\u00a0"


def text_wrap(text: str, *, indent: int = 0) -> str:
    """`text` wrapped for a plain-text part at TEXT_WIDTH, for a place `indent`
    characters into its line: the template writes what comes before the first line
    ("1. ", three spaces), the next lines start with `indent` spaces, and a line
    that begins "- " (a list item of the editor's note) hangs under its words.
    Words are never broken, nor at their hyphens: an address longer than the line
    stays whole, on a line of its own. A no-break space (U+00A0, where the HTML part
    has &nbsp;: "▲ 18 upvotes" in templates/emails/digest.txt) joins its words as
    one, and leaves as a plain space. Each line of `text` is wrapped on its own."""
    lines = []
    for line in text.splitlines() or [""]:
        if indent + len(line) <= TEXT_WIDTH:
            lines.append(line)
            continue
        hang = " " * (indent + (2 if line.startswith("- ") else 0))
        wrapped = textwrap.wrap(line, width=TEXT_WIDTH, initial_indent=" " * indent, subsequent_indent=hang,
                                break_long_words=False, break_on_hyphens=False)
        lines.append("\n".join(wrapped)[indent:])
    return "\n".join(lines).replace(NO_BREAK_SPACE, " ")


def email_render(*, template: str, context: dict) -> RenderedEmail:
    ctx = {**email_base_context(), **context}
    subject = get_template(f"emails/{template}.subject.txt", using="text").render(ctx)
    text = get_template(f"emails/{template}.txt", using="text").render(ctx)
    source = get_template(f"emails/{template}.mjml", using="django").render(ctx)
    return RenderedEmail(
        subject=subject_clean(subject),
        text=text_tidy(text),
        html=mjml_to_html(source),
    )
