"""What the endpoint fuzzing shares: the example budget and the strategies.

CI=true runs every property with at least 1,000 examples (issue #7); a developer's
run uses fewer so the suite stays quick (HYPOTHESIS_EXAMPLES overrides both).
Only these tests get this budget: a global profile would also multiply the
examples of tests/newsletter/test_relevance.py. Examples are not timed."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CI_EXAMPLES = 1000
DEV_EXAMPLES = 120


def examples() -> int:
    if os.environ.get("HYPOTHESIS_EXAMPLES"):
        return int(os.environ["HYPOTHESIS_EXAMPLES"])
    return CI_EXAMPLES if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else DEV_EXAMPLES


fuzz = settings(
    max_examples=examples(),
    deadline=None,
    database=None,
    # The Django test client and the `db` fixture are shared by the examples on
    # purpose: each example is one more request to the same site.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# Markup an attacker would put in a paper title, an author's name, a form field.
SCRIPTS = [
    "<script>alert(1)</script>",
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "javascript:alert(1)",
    "</textarea><script>alert(1)</script>",
    "{{ 7|add:7 }}{% now 'Y' %}",
]
# Raw markers that must never appear unescaped in HTML we serve or send.
RAW_MARKERS = ["<script>alert", "<img src=x", "<svg onload", "</textarea><script"]
HEADER_BREAKERS = ["\r\n", "\n", "\r", "\r\nBcc: victim@example.com", "%0d%0aSet-Cookie: x=1"]

nasty_text = st.one_of(
    st.text(max_size=80),
    st.sampled_from(SCRIPTS + HEADER_BREAKERS),
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=20), st.sampled_from(SCRIPTS + HEADER_BREAKERS),
              st.text(max_size=20)),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=500, max_size=700),
)

_local = st.from_regex(r"[A-Za-z0-9._%+-]{1,20}", fullmatch=True)
_unicode_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüßéñçøåæ", min_size=1, max_size=12)
_domain = st.builds(lambda a, b: f"{a}.{b}", _unicode_label, st.sampled_from(["de", "com", "org", "рф", "中国"]))
emails = st.one_of(
    st.emails(),
    st.builds(lambda lp, d: f"{lp}@{d}", _local, _domain),
    st.builds(lambda e, s: e + s, st.emails(), st.sampled_from(HEADER_BREAKERS + SCRIPTS)),
    nasty_text,
)
tokens = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200),
    st.from_regex(r"[A-Za-z0-9_:.-]{0,300}", fullmatch=True),
)


def has_header_injection(response) -> bool:
    return any("\r" in f"{k}{v}" or "\n" in f"{k}{v}" for k, v in response.items())


def raw_markup_in(html: str) -> list[str]:
    return [m for m in RAW_MARKERS if m in html]
