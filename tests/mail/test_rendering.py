"""The plain-text part's tidying (mail/rendering.py)."""

import random
import re

from mail.rendering import TEXT_WIDTH, text_tidy, text_wrap


def test_text_tidy_collapses_runs_of_blank_lines_as_before():
    """Runs of three or more newlines become one blank line, two stay; the pattern
    was rewritten for speed (docs/benchmarks.md), so it is held to the old one."""
    assert text_tidy("\n\na\n\n\n\nb\n\nc\n\n\n") == "a\n\nb\n\nc\n"
    old = re.compile(r"\n{3,}")
    rng = random.Random(7)
    for _ in range(500):
        text = "".join(rng.choice(["\n", "\n", " ", "x", "\r\n", "\t"]) for _ in range(rng.randint(0, 60)))
        assert text_tidy(text) == old.sub("\n\n", text).strip() + "\n"


def test_text_wrap_keeps_addresses_whole_and_continues_at_the_indent():
    url = "https://example.com/" + "x" * 90
    text = f"Read the thread at {url} and then the paper everyone is talking about this week."
    lines = text_wrap(text, indent=3).splitlines()
    assert lines[0] == "Read the thread at" and lines[1] == f"   {url}"
    assert all(line.startswith("   ") and len(line) <= TEXT_WIDTH for line in lines[2:])
    assert text_wrap("short", indent=3) == "short" and text_wrap("") == ""
    item = "- " + "word " * 20
    assert text_wrap(item).splitlines()[1].startswith("  word")  # a list item hangs under its words
