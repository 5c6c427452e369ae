"""The plain-text part's tidying (mail/rendering.py)."""

import random
import re

from mail.rendering import text_tidy


def test_text_tidy_collapses_runs_of_blank_lines_as_before():
    """Runs of three or more newlines become one blank line, two stay; the pattern
    was rewritten for speed (docs/benchmarks.md), so it is held to the old one."""
    assert text_tidy("\n\na\n\n\n\nb\n\nc\n\n\n") == "a\n\nb\n\nc\n"
    old = re.compile(r"\n{3,}")
    rng = random.Random(7)
    for _ in range(500):
        text = "".join(rng.choice(["\n", "\n", " ", "x", "\r\n", "\t"]) for _ in range(rng.randint(0, 60)))
        assert text_tidy(text) == old.sub("\n\n", text).strip() + "\n"
