"""What the endpoint fuzzing shares: the Hypothesis profiles, the per-example reset
and the strategies.

Two profiles, applied only to these tests through `fuzz` (a global profile would
also multiply the examples of tests/newsletter/test_relevance.py):
- "fuzz-ci" (CI=true): 1,000 examples per endpoint, derandomized, so every CI run
  tries the same inputs and a red build is reproducible, never a coin toss; no
  example database.
- "fuzz-local" (default): as many examples, a new random draw every run, and failing
  examples kept under var/hypothesis/ and replayed first next time. `make fuzz
  RUNS=20` (tests/fuzz/repeat.py) runs it 20 times, each on a seed it prints.
FUZZ_PROFILE picks one by name; HYPOTHESIS_EXAMPLES overrides the count of either.
Inputs that once failed stay pinned with @example in the tests. Examples are not
timed."""

from __future__ import annotations

import contextlib
import os
from http.cookies import SimpleCookie

from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

CI_EXAMPLES = 1000
LOCAL_EXAMPLES = 1000

_COMMON = {
    "deadline": None,
    # The `settings` and `django_capture_on_commit_callbacks` fixtures are set once
    # per test; the state an example changes is reset by `fresh_state`.
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                              HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile(
    "fuzz-ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, print_blob=True,
    **_COMMON,
)
settings.register_profile(
    "fuzz-local", max_examples=LOCAL_EXAMPLES, derandomize=False,
    database=DirectoryBasedExampleDatabase(str(django_settings.VAR_DIR / "hypothesis")), **_COMMON,
)


def profile_name() -> str:
    if os.environ.get("FUZZ_PROFILE"):
        return os.environ["FUZZ_PROFILE"]
    return "fuzz-ci" if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else "fuzz-local"


fuzz = settings(
    settings.get_profile(profile_name()),
    **({"max_examples": int(os.environ["HYPOTHESIS_EXAMPLES"])}
       if os.environ.get("HYPOTHESIS_EXAMPLES") else {}),
)


_client: Client | None = None


@receiver(setting_changed)
def _client_drop(**kwargs) -> None:
    # Middleware reads some settings once, when the client's handler loads it.
    global _client
    _client = None


def _client_clean() -> Client:
    """The test client with no cookies. One per process (a new one whenever a test
    changes settings): a new Client loads the middleware again on its first request,
    and WhiteNoise's then walks every static file, which was half the time of an
    example. Cookies are the only state a Client keeps between requests."""
    global _client
    if _client is None:
        _client = Client()
    _client.cookies = SimpleCookie()
    return _client


@contextlib.contextmanager
def fresh_state():
    """One example's world: a test client without cookies, an empty cache (rate
    limits), an empty outbox, and a database savepoint rolled back at the end, so
    no example sees what an earlier one wrote and a failure replays alone."""
    cache.clear()
    mail.outbox.clear()
    with transaction.atomic():
        yield _client_clean()
        transaction.set_rollback(True)


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
    # Every character UTF-8 can encode: all but the surrogates (Cs). Said as a category,
    # not codec="utf-8", which has Hypothesis try to encode all 1.1M code points once.
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=500, max_size=700),
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
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200),
    st.from_regex(r"[A-Za-z0-9_:.-]{0,300}", fullmatch=True),
)


def has_header_injection(response) -> bool:
    return any("\r" in f"{k}{v}" or "\n" in f"{k}{v}" for k, v in response.items())


def raw_markup_in(html: str) -> list[str]:
    return [m for m in RAW_MARKERS if m in html]
