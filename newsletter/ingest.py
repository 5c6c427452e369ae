"""Getting Hugging Face Daily Papers into the database.

Three steps, each a plain function:
- fetch: `GET {HF_DAILY_PAPERS_URL}?date=…&limit=…&p=…`, page by page, with
  retries and backoff done by urllib3 (`papers_fetch`);
- validate and normalise every item of a response or file first (`_items_parse`),
  under one of two policies: an editor's own file or paste is refused whole when
  anything in it is wrong, with a message saying what and where, and nothing is
  written; the API's own list (`lenient`) is taken without what cannot be read, each
  such problem kept and logged (`Problem`): one bad field of one paper refused the
  whole day, and readers got no digest;
- upsert in one transaction, keyed by arXiv id, or by the normalised title for
  entries without one, then score the papers against topics (`papers_import`).

The morning task fetches today's list and then the list before it again
(`papers_fetch_morning`): a date's list grows through its day and its upvotes keep
coming, so a single fetch in the morning never saw the papers listed after it.

The JSON shape is described in ../shared/reference/README.md; the sample fixture
(newsletter/fixtures/daily_papers_2025-11-24.json) uses the same shape plus one
field of its own, `paper.numAuthors`, for a page that shows a count but no names.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
import urllib3
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .embeddings import paper_text
from .models import Paper, PaperFetch, thumbnail_url_allowed
from .page_cache import pages_changed
from .pictures import pictures_fetch_later
from .relevance import papers_score

logger = logging.getLogger(__name__)

# The API's largest page ("limit at most 100"); a day has about 25, so one
# request is the norm and paging is the exception.
PAGE_LIMIT = 100
# A day of 20 full pages would be 2,000 papers: past that, the API is looping.
MAX_PAGES = 20
# urllib3 Retry: attempts after the first on 429/5xx and connection errors, and
# its backoff factor (sleeps 0, 2×, 4×, 8× this between attempts, unless the
# server sent Retry-After, which wins up to RETRY_AFTER_MAX_SECONDS).
RETRY_ATTEMPTS = 4
RETRY_BACKOFF_SECONDS = 2.0
# Keeps a Retry-After well inside the Celery task's time limit.
RETRY_AFTER_MAX_SECONDS = 120
RETRY_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = "daily-papers-digest/0.1 (+https://github.com/; newsletter ingest)"
# The largest count a Paper holds: PositiveIntegerField's top on PostgreSQL. A vote
# or star count past it is nonsense, refused naming it (it was "integer out of range").
COUNT_MAX = 2**31 - 1
# How many problems an IngestError lists before "and N more".
MAX_PROBLEMS_SHOWN = 10
# How much of a value that cannot be read a problem quotes (a whole author list
# would fill an editor's screen and the fetch record).
VALUE_SHOWN_MAX = 120

_PUNCTUATION = re.compile(r"[\W_]+")


class IngestError(Exception):
    """A response or file that cannot be imported; the message says what and where."""


class IngestUnavailable(IngestError, ConnectionError):
    """The API could not be reached, or kept answering with an error status after
    the retries: worth trying again later. A ConnectionError, so the fetch task's
    autoretry_for (newsletter/tasks.py) retries it. `cause` says why in a few words
    an editor reads after "could not reach Hugging Face" ("HTTP 503")."""

    def __init__(self, message: str, *, cause: str = "no connection"):
        super().__init__(message)
        self.cause = cause


def _request_failure_cause(exc: requests.RequestException) -> str:
    """Why a request failed after its retries, in a few words. requests raises a read
    timeout that exhausted the retries as a ConnectionError around urllib3's
    MaxRetryError, so the timeout is looked for in its reason too (urllib3's refused
    connection, NewConnectionError, is a ConnectTimeoutError by descent), and a body
    that stopped coming after the headers as a ConnectionError around urllib3's
    ReadTimeoutError itself (told "no connection" until 8 December)."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    timed_out = (isinstance(reason, urllib3.exceptions.TimeoutError)
                 and not isinstance(reason, urllib3.exceptions.NewConnectionError))
    if timed_out or isinstance(exc, requests.Timeout):
        return f"no answer within {settings.HF_TIMEOUT_SECONDS:g} seconds"
    return "no connection"


@dataclass(frozen=True)
class Problem:
    """One thing an import could not read: which paper (`where`: "item 3 (paper
    2410.17243)"), what (`what`, with the value as it came, cut short), and the field
    it is about (`field`, "paper.upvotes"; "" for the item as a whole). `outcome`,
    under the lenient policy: SKIPPED (the paper was not imported: no readable title
    or id) or LEFT_OUT (only that field was); "" when the import was refused."""

    SKIPPED = "paper skipped"
    LEFT_OUT = "left out"

    where: str
    what: str
    field: str = ""
    outcome: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.what}" + (f" ({self.outcome})" if self.outcome else "")


@dataclass(frozen=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # listed again with nothing new: not written, no page refreshed
    # What the lenient policy left out or skipped (papers_import), to show an editor.
    problems: tuple[Problem, ...] = ()

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


# --- Fetching -------------------------------------------------------------------


def _session() -> requests.Session:
    """A session whose adapter retries idempotent GETs on connection errors and on
    429/5xx, with exponential backoff and the server's Retry-After honoured."""
    retry = Retry(
        total=RETRY_ATTEMPTS,
        status_forcelist=RETRY_STATUSES,
        allowed_methods={"GET"},
        backoff_factor=RETRY_BACKOFF_SECONDS,
        respect_retry_after_header=True,
        retry_after_max=RETRY_AFTER_MAX_SECONDS,
        # Hand back the last response instead of raising, so the error names its status.
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


def papers_fetch(*, date: dt.date) -> list[dict]:
    """The raw items of one Daily Papers date, all pages, duplicates dropped.
    A weekend or a quiet day is an empty list. Raises IngestUnavailable when the
    API cannot be reached or answers with an error or with what is not JSON,
    IngestError when it answers with JSON that is not a list of items."""
    url: str | None = settings.HF_DAILY_PAPERS_URL
    params: dict[str, Any] | None = {"date": date.isoformat(), "limit": PAGE_LIMIT, "p": 0}
    # Items are sorted by upvotes, which change while we page: the same paper can
    # be listed on two pages. Keyed by paper, the later (fresher) listing wins.
    items: dict[Any, dict] = {}
    read: set[tuple] = set()  # the pages fetched (_page_key)
    with _session() as session:
        for page in range(MAX_PAGES):
            where = f"Daily Papers for {date.isoformat()}, page {page} ({url})"
            try:
                response = session.get(url, params=params, timeout=settings.HF_TIMEOUT_SECONDS)
            except requests.RequestException as exc:
                raise IngestUnavailable(f"{where}: request failed after retries: {exc}",
                                        cause=_request_failure_cause(exc)) from exc
            where = f"Daily Papers for {date.isoformat()}, page {page} ({response.url})"
            if response.status_code != 200:
                raise IngestUnavailable(
                    f"{where}: HTTP {response.status_code}: {_snippet(response.text)}",
                    cause=f"HTTP {response.status_code}",
                )
            try:
                batch = json_read(response.content)
            except IngestError as exc:
                # A 200 that is not JSON is a CDN's page (Cloudflare's "Just a
                # moment…") or a body cut short: the API having a bad moment, tried
                # again like a 503. JSON of the wrong shape (below) would come again.
                raise IngestUnavailable(f"{where}: response {exc}: {_snippet(response.text)}",
                                        cause="its answer was not JSON") from exc
            if not isinstance(batch, list):
                raise IngestError(
                    f"{where}: expected a JSON array of items, got {type(batch).__name__}: "
                    f"{_snippet(response.text)}"
                )
            for item in batch:
                # An item without a readable key is kept as is, for validation to name.
                items[_item_identity(item) or object()] = item
            read |= {_page_key(r.url) for r in (*response.history, response)}
            next_link = response.links.get("next", {}).get("url")
            next_url = urljoin(response.url, next_link) if next_link else None
            # A next link on from an empty page, or back to a page read already (a
            # loop): the list is all in hand. Followed, it ran to MAX_PAGES and the
            # whole day was refused.
            if not batch or (next_url and _page_key(next_url) in read):
                return list(items.values())
            if next_url:
                url, params = next_url, None
            elif len(batch) >= PAGE_LIMIT:
                url = settings.HF_DAILY_PAPERS_URL
                params = {"date": date.isoformat(), "limit": PAGE_LIMIT, "p": page + 1}
            else:
                return list(items.values())
    raise IngestError(
        f"Daily Papers for {date.isoformat()}: still more pages after {MAX_PAGES} "
        f"(over {MAX_PAGES * PAGE_LIMIT} papers); refusing to page further."
    )


def _page_key(url: str) -> tuple:
    """A page's address whatever the order of its query parameters."""
    parts = urlsplit(url)
    return parts.netloc, parts.path, tuple(sorted(parse_qsl(parts.query)))


def _item_identity(item: Any) -> str | None:
    """The upsert key of a raw item, if it has one we can read (validation comes later)."""
    paper = item.get("paper") if isinstance(item, dict) else None
    if not isinstance(paper, dict):
        return None
    if isinstance(paper.get("id"), str) and paper["id"].strip():
        return "id:" + arxiv_id_bare(paper["id"].strip())
    title = paper.get("title") or item.get("title")
    return "title:" + title_normalise(tex_plain(title)) if isinstance(title, str) else None


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")


# --- Validation and normalisation -----------------------------------------------


# An arXiv id with its version ("2410.12345v2", "hep-th/9901001v3"). Hugging Face
# lists a paper by its bare id; an entry saved or pasted from arXiv may carry the
# version, and was a second paper (shown twice). Stored bare, it is the same one.
_ARXIV_ID_VERSIONED = re.compile(r"(\d{4}\.\d{4,5}|[A-Za-z-]+(?:\.[A-Za-z-]+)?/\d{7})v\d+")


def arxiv_id_bare(arxiv_id: str) -> str:
    """An arXiv id without its version: the upsert key of a paper that has one."""
    versioned = _ARXIV_ID_VERSIONED.fullmatch(arxiv_id)
    return versioned[1] if versioned else arxiv_id


# What an editor pastes for a paper's arXiv id: the id, "arXiv:<id>", or the address
# of its page on arXiv or Hugging Face ("https://arxiv.org/abs/2511.00001v2",
# ".../pdf/2511.00001v2.pdf", "https://huggingface.co/papers/2511.00001").
_ARXIV_ID_TYPED = re.compile(
    r"(?:arxiv:|(?:https?://)?(?:www\.|export\.)?(?:arxiv\.org/(?:abs|pdf|html)|huggingface\.co/papers)/)?"
    r"(?P<id>.+?)(?:\.pdf)?/?", re.IGNORECASE)


def arxiv_id_typed(text: str) -> str:
    """The bare arXiv id (arxiv_id_bare) of what an editor typed or pasted
    (_ARXIV_ID_TYPED); "" for nothing. Taken as typed until 8 December: "2511.00001v2"
    was a second paper beside 2511.00001 (the unique id did not see it), and a pasted
    address an id no page could be found by."""
    text = text.strip()
    return arxiv_id_bare(_ARXIV_ID_TYPED.fullmatch(text)["id"]) if text else ""


def title_normalise(title: str) -> str:
    """The key of a title: case-folded, punctuation and symbols replaced by spaces,
    whitespace collapsed ("Weak-to-Strong  Reasoning" == "weak to strong reasoning").
    Paper.title_key holds it; entries without an arXiv id are upserted on it."""
    text = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(_PUNCTUATION.sub(" ", text).split())[: Paper._meta.get_field("title_key").max_length]


# What JSON can carry that is not text: control codes (NUL among them) and lone
# UTF-16 surrogates ("\ud800"). PostgreSQL refuses NUL and the surrogates (an import
# was a DataError: the admin's paste a 500, the morning fetch a lost day) and a page
# would print the rest as garbage. Not the controls str.split() takes for whitespace
# (\t \n \v \f \r \x1c-\x1f \x85): those separate words.
_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")


def text_collapse(text: str) -> str:
    """Titles and abstracts arrive hard-wrapped ("…Scaling for\\n  Contrastive Loss");
    what is not text (_NOT_TEXT) is dropped."""
    return " ".join(_NOT_TEXT.sub("", text).split())


# An abstract is arXiv's, TeX markup and all, which every page and email would show
# as is ("mask a number by {bf x}", "``If we know…''", "up to 12.2\%"); titles too
# ("$k$-NN"). The markup that only styles text goes; the text stays; characters
# escaped for TeX (\% \& \_ \# \$) are themselves. Inline math loses its dollars
# when what is in it reads as text: short math without a command ($k$-means,
# $O(n^2)$), or whose commands are symbols with a character of their own (3$\times$,
# $\sim$10k, $\alpha$-entmax). Math with any other command ($\mathcal{L}_{\alpha}$)
# is left whole, as written: half of it turned to text would read worse than none.
_TEX_QUOTES = re.compile(r"``(.+?)''")
_TEX_STYLE_GROUP = re.compile(r"\{\\?(?:bf|it|em|rm|sl|sc|tt)\s+([^{}]*)\}")
_TEX_STYLE_COMMAND = re.compile(r"\\(?:textbf|textit|textrm|textsc|texttt|emph|underline)\{([^{}]*)\}")
_TEX_ESCAPED = re.compile(r"\\([%&_#$])")
# Inline math: from a dollar followed by a non-space to a dollar preceded by one, on
# one line, at most 40 characters (so the prices in "$5 and $10" are left alone: a
# space ends the first before the second dollar); an escaped dollar (\$5) is a dollar.
_TEX_MATH = re.compile(r"(?<!\\)\$(?=\S)([^$\n]{1,40}?)(?<=[^\s\\])\$")
_TEX_COMMAND = re.compile(r"\\([A-Za-z]+)")
TEX_SYMBOLS = {
    "times": "×", "sim": "~", "approx": "≈", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "pm": "±", "cdot": "·", "to": "→", "rightarrow": "→", "leftarrow": "←", "infty": "∞",
    "ell": "ℓ", "neq": "≠", "ne": "≠", "propto": "∝", "circ": "°",
    **{name: chr(code) for name, code in (
        ("alpha", 0x3B1), ("beta", 0x3B2), ("gamma", 0x3B3), ("delta", 0x3B4), ("epsilon", 0x3B5),
        ("zeta", 0x3B6), ("eta", 0x3B7), ("theta", 0x3B8), ("kappa", 0x3BA), ("lambda", 0x3BB),
        ("mu", 0x3BC), ("nu", 0x3BD), ("xi", 0x3BE), ("pi", 0x3C0), ("rho", 0x3C1), ("sigma", 0x3C3),
        ("tau", 0x3C4), ("phi", 0x3C6), ("chi", 0x3C7), ("psi", 0x3C8), ("omega", 0x3C9),
        ("Gamma", 0x393), ("Delta", 0x394), ("Theta", 0x398), ("Lambda", 0x39B), ("Pi", 0x3A0),
        ("Sigma", 0x3A3), ("Phi", 0x3A6), ("Psi", 0x3A8), ("Omega", 0x3A9),
    )},
}


def _tex_math_plain(match: re.Match) -> str:
    """One inline math span as text when every command in it is a symbol, else as written."""
    math = _TEX_ESCAPED.sub(r"\1", match[1])
    if re.search(r"\\(?![A-Za-z])", math) or any(name not in TEX_SYMBOLS for name in _TEX_COMMAND.findall(math)):
        return match[0]
    return _TEX_COMMAND.sub(lambda m: TEX_SYMBOLS[m[1]], math)


def tex_plain(text: str) -> str:
    """A title's or abstract's TeX styling read as plain text: ``quotes'' are curly
    quotes, {\\bf x}, \\textbf{x} and \\emph{x} are x, \\% is %, and inline math
    that reads as text loses its dollars ($k$-means is k-means, 3$\\times$ is 3×)."""
    text = _TEX_QUOTES.sub("\u201c\\1\u201d", text)
    text = _TEX_STYLE_GROUP.sub(r"\1", text)
    text = _TEX_STYLE_COMMAND.sub(r"\1", text)
    text = _TEX_MATH.sub(_tex_math_plain, text)
    return _TEX_ESCAPED.sub(r"\1", text)


@dataclass
class _Problems:
    """Collects every problem of a response, so one run shows them all."""

    source: str
    found: list[Problem] = field(default_factory=list)

    def add(self, where: str, message: str, *, field_name: str = "") -> None:
        self.found.append(Problem(where=where, what=message, field=field_name))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        shown = [str(p) for p in self.found[:MAX_PROBLEMS_SHOWN]]
        more = len(self.found) - len(shown)
        tail = f"; and {more} more" if more else ""
        count = len(self.found)
        raise IngestError(
            f"{self.source}: refused, nothing imported. "
            f"{count} problem{'s' if count != 1 else ''}: " + "; ".join(shown) + tail
        )


class _Reader:
    """Typed reads of one item's fields that record a problem instead of raising."""

    def __init__(self, problems: _Problems, where: str):
        self.problems = problems
        self.where = where

    def _bad(self, name: str, expected: str, value: Any) -> None:
        shown = repr(value)
        if len(shown) > VALUE_SHOWN_MAX:
            shown = shown[:VALUE_SHOWN_MAX] + "…"
        self.problems.add(self.where, f"{name} must be {expected}, got {shown}", field_name=name)

    def text(self, obj: dict, key: str, name: str, *, max_length: int | None = None) -> str:
        value = obj.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self._bad(name, "a string", value)
            return ""
        value = text_collapse(value)
        if max_length is not None and len(value) > max_length:
            self.problems.add(self.where, f"{name} is longer than {max_length} characters", field_name=name)
        return value

    def count(self, obj: dict, key: str, name: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        # bool is an int in Python; true is not a vote count.
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(name, "an integer", value)
            return None
        if value < 0:
            self._bad(name, "zero or more", value)
            return None
        if value > COUNT_MAX:
            self._bad(name, f"at most {COUNT_MAX}", value)
            return None
        return value

    def moment(self, obj: dict, key: str, name: str) -> dt.datetime | None:
        value = obj.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value)
                # In UTC here: 9999-12-31T23:00-05:00 is past the calendar (OverflowError).
                return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
            except (ValueError, OverflowError):
                pass
        self._bad(name, "an ISO 8601 date-time", value)
        return None

    def link(self, obj: dict, key: str, name: str) -> str:
        value = self.text(obj, key, name)
        # A link we cannot use is not worth refusing a whole day for: drop it, say so.
        if value and (not value.startswith(("http://", "https://")) or len(value) > 300):
            logger.warning("%s: %s dropped, not a usable http(s) URL: %r", self.where, name, value)
            return ""
        return value

    def picture(self, obj: dict, key: str, name: str) -> str:
        value = self.link(obj, key, name)
        if value and not thumbnail_url_allowed(value):
            logger.warning("%s: %s dropped, not one of Hugging Face's thumbnails (THUMBNAIL_HOSTS): %r",
                           self.where, name, value)
            return ""
        return value

    def object(self, obj: dict, key: str, name: str) -> dict | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self._bad(name, "an object", value)
            return None
        return value


def _item_label(index: int, item: Any) -> str:
    """'item 3 (paper 2410.17243)': 1-based, as a person counts, plus what it is."""
    label = f"item {index + 1}"
    paper = item.get("paper") if isinstance(item, dict) else None
    if isinstance(paper, dict):
        if isinstance(paper.get("id"), str) and paper["id"]:
            return f"{label} (paper {paper['id']})"
        if isinstance(paper.get("title"), str) and paper["title"].strip():
            title = text_collapse(paper["title"])
            return f"{label} (\"{title[:60]}{'…' if len(title) > 60 else ''}\")"
    return label


def trending_date_refusal(date: dt.date) -> str | None:
    """Why papers cannot be listed on `date`, or None: a date after tomorrow UTC
    (tomorrow's list opens before midnight in the Americas) is still to come. Taken,
    it was the site's newest day: alone on the front page, hiding today's
    (selectors.edition_dates_recent), and what send_digests --latest sent. The one
    rule for an item's own date, fetch_papers --date and the admin's paste form."""
    if date > timezone.now().astimezone(dt.UTC).date() + dt.timedelta(days=1):
        return f"{date.isoformat()} is a date still to come: give the date the papers trended on"
    return None


def _item_parse(
    item: Any, *, where: str, problems: _Problems, trending_date: dt.date | None,
    require_abstract: bool = False,
) -> dict | None:
    """One raw item → the Paper field values it sets, or None (problems recorded).
    `require_abstract`: an item without one is a problem (a paste by hand, where a
    title alone is a half-copied entry; the API's own list is taken as it comes)."""
    if not isinstance(item, dict):
        problems.add(where, f"must be an object, got {type(item).__name__}")
        return None
    paper = item.get("paper")
    if not isinstance(paper, dict):
        problems.add(where, "has no 'paper' object" if paper is None else "'paper' must be an object")
        return None
    read = _Reader(problems, where)
    title_max = Paper._meta.get_field("title").max_length
    title = tex_plain(read.text(paper, "title", "paper.title", max_length=title_max) or read.text(
        item, "title", "title", max_length=title_max
    ))
    if not title:
        problems.add(where, "has no title")

    arxiv_id = arxiv_id_bare(
        read.text(paper, "id", "paper.id", max_length=Paper._meta.get_field("arxiv_id").max_length))

    authors_raw = paper.get("authors")
    names: list[str] = []
    total_authors = 0
    if authors_raw is not None and not isinstance(authors_raw, list):
        read._bad("paper.authors", "a list", authors_raw)
    elif authors_raw:
        total_authors = len(authors_raw)
        for position, author in enumerate(authors_raw):
            if not isinstance(author, dict) or not isinstance(author.get("name"), str):
                read._bad(f"paper.authors[{position}]", "an object with a name", author)
                continue
            hidden = author.get("hidden", False)
            if not isinstance(hidden, bool):
                read._bad(f"paper.authors[{position}].hidden", "true or false", hidden)
            elif not hidden and (name := text_collapse(author["name"])):
                names.append(name)
    # A page that shows "9 authors" but no names (the sample fixture) gives a count.
    counted = read.count(paper, "numAuthors", "paper.numAuthors")
    author_count = total_authors or counted or 0

    org = read.object(paper, "organization", "paper.organization") or read.object(
        item, "organization", "organization"
    )
    org_name = org_slug = ""
    if org is not None:
        org_slug = read.text(
            org, "name", "organization.name",
            max_length=Paper._meta.get_field("organization_slug").max_length,
        )
        org_name = read.text(
            org, "fullname", "organization.fullname",
            max_length=Paper._meta.get_field("organization").max_length,
        ) or org_slug

    keywords = paper.get("ai_keywords")
    if keywords is None:
        keywords = []
    elif not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        read._bad("paper.ai_keywords", "a list of strings", keywords)
        keywords = []

    published = read.moment(paper, "publishedAt", "paper.publishedAt")
    withdrawn_at = read.moment(paper, "withdrawnAt", "paper.withdrawnAt")
    # When it went onto Daily Papers: the newer shape has it on the paper; on the
    # older one the item's publishedAt is that moment.
    on_daily = read.moment(paper, "submittedOnDailyAt", "paper.submittedOnDailyAt") or read.moment(
        item, "publishedAt", "publishedAt"
    )
    day = trending_date or (on_daily.astimezone(dt.UTC).date() if on_daily else None)
    if day is None:
        problems.add(where, "no Daily Papers date: give one (--date) or paper.submittedOnDailyAt")
    elif not trending_date and trending_date_refusal(day):
        problems.add(where, f"listed on Daily Papers on {day.isoformat()}, a date still to come: "
                            "give the date it trended (--date)")

    abstract = tex_plain(read.text(paper, "summary", "paper.summary"))
    if require_abstract and title and not abstract:
        problems.add(where, "has no abstract (paper.summary): paste the whole entry, as the API gives it")

    values = {
        "arxiv_id": arxiv_id or None,
        "title": title,
        "title_key": title_normalise(title),
        "abstract": abstract,
        "ai_summary": read.text(paper, "ai_summary", "paper.ai_summary"),
        "ai_keywords": [k for k in map(text_collapse, keywords) if k],
        "authors": names,
        "author_count": author_count,
        "organization": org_name,
        "organization_slug": org_slug,
        "published_on": published.astimezone(dt.UTC).date() if published else None,
        "trending_date": day,
        "upvotes": read.count(paper, "upvotes", "paper.upvotes") or 0,
        "num_comments": read.count(item, "numComments", "numComments") or 0,
        "github_repo": read.link(paper, "githubRepo", "paper.githubRepo"),
        "github_stars": read.count(paper, "githubStars", "paper.githubStars"),
        "project_page": read.link(paper, "projectPage", "paper.projectPage"),
        "thumbnail_url": read.picture(item, "thumbnail", "thumbnail"),
        "withdrawn_at": withdrawn_at,
    }
    return values


# The fields a paper is not imported without (under either policy): its upsert key.
_FIELDS_REQUIRED = {"paper.title", "title", "paper.id"}
# The row keys an unreadable field sets, left out of the row under the lenient policy:
# a paper already stored keeps its value (papers_import sets only the keys a row
# has), a new one gets the model's default. The dates an item is listed on set
# none: the date is the one fetched, or, without it, "no Daily Papers date" skips
# the item. A field not named here skips its paper: a key added to the row in
# _item_parse belongs here too.
_FIELD_ROW_KEYS = {
    "paper.summary": ("abstract",),
    "paper.ai_summary": ("ai_summary",),
    "paper.ai_keywords": ("ai_keywords",),
    "paper.authors": ("authors", "author_count"),
    "paper.numAuthors": ("author_count",),
    "paper.organization": ("organization", "organization_slug"),
    "organization": ("organization", "organization_slug"),
    "organization.name": ("organization", "organization_slug"),
    "organization.fullname": ("organization", "organization_slug"),
    "paper.publishedAt": ("published_on",),
    "paper.submittedOnDailyAt": (),
    "publishedAt": (),
    "paper.upvotes": ("upvotes",),
    "numComments": ("num_comments",),
    "paper.githubRepo": ("github_repo",),
    "paper.githubStars": ("github_stars",),
    "paper.projectPage": ("project_page",),
    "thumbnail": ("thumbnail_url",),
    "paper.withdrawnAt": ("withdrawn_at",),
}
_FIELD_POSITION = re.compile(r"\[\d+\].*")  # paper.authors[3].hidden is paper.authors


def _values_without_unreadable(values: dict | None, found: list[Problem]) -> dict | None:
    """The lenient policy on one item's problems (`found`, edited in place): its
    values without the fields that could not be read, or None (the item is skipped)
    when its title or id could not be, or the item as a whole is wrong."""
    fields = {_FIELD_POSITION.sub("", p.field) for p in found}
    if values is None or "" in fields or fields & _FIELDS_REQUIRED or fields - _FIELD_ROW_KEYS.keys():
        found[:] = [replace(p, outcome=Problem.SKIPPED) for p in found]
        return None
    found[:] = [replace(p, outcome=Problem.LEFT_OUT) for p in found]
    for name in fields:
        for key in _FIELD_ROW_KEYS[name]:
            values.pop(key, None)
    return values


def _items_parse(
    *, items: Any, source: str, trending_date: dt.date | None, require_abstract: bool = False,
    lenient: bool = False,
) -> tuple[list[dict], list[Problem]]:
    """Validate every item, then return their field values, one per paper (a paper
    listed twice counts once, the later listing wins), and the problems found.
    Strict (an editor's own file or paste): raises IngestError listing every
    problem, and nothing is returned, so nothing is written, when there is one.
    `lenient` (the API's list): a field that cannot be read is left out of its row
    and an item without a readable title or id is skipped (_values_without_unreadable),
    the problems returned; refused only when it is not a list, or nothing in it
    could be read."""
    problems = _Problems(source)
    if not isinstance(items, list):
        problems.add("top level", f"expected a JSON array of items, got {type(items).__name__}")
        problems.raise_if_any()
    by_key: dict[str, dict] = {}
    for index, item in enumerate(items):
        seen = len(problems.found)
        values = _item_parse(
            item, where=_item_label(index, item), problems=problems, trending_date=trending_date,
            require_abstract=require_abstract,
        )
        if lenient and len(problems.found) > seen:
            found = problems.found[seen:]
            values = _values_without_unreadable(values, found)
            problems.found[seen:] = found
        if values is not None:
            by_key[_values_key(values)] = values
    if not lenient or (items and not by_key):
        problems.raise_if_any()
    return list(by_key.values()), problems.found


def _values_key(values: dict) -> str:
    return f"id:{values['arxiv_id']}" if values["arxiv_id"] else f"title:{values['title_key']}"


# --- Writing --------------------------------------------------------------------

# Fields an import overwrites on a paper it already has. Never `pinned`: the
# editors'. `hidden` and `withdrawn_at` are only ever set (a withdrawn paper), and
# `trending_date` only moves earlier: the first day a paper trended stays its day.
_UPDATED_FIELDS = [
    "arxiv_id", "title", "title_key", "abstract", "ai_summary", "ai_keywords", "authors",
    "author_count", "organization", "organization_slug", "published_on", "upvotes",
    "num_comments", "github_repo", "github_stars", "project_page", "thumbnail_url",
    "withdrawn_at", "hidden", "trending_date", "updated_at",
]
# Not `picture_missing_at`: the picture task writes it while an import runs, and
# writing back the value read would undo its outcome. Only a new picture clears it.
_COMPARED_FIELDS = [name for name in _UPDATED_FIELDS if name != "updated_at"]


def _stored_values(paper: Paper) -> tuple:
    """What an import may overwrite on a paper: equal before and after, it is not
    written (nor its pages refreshed)."""
    return tuple(getattr(paper, name) for name in _COMPARED_FIELDS)


def _existing_match(rows: list[dict]) -> dict[str, Paper]:
    """The papers already stored, by the key of the incoming row they are. A row
    with an arXiv id matches that id, else an id-less paper of the same title (the
    sample fixture has no ids; the API later lists the same paper with one). A row
    without an id matches an id-less paper of the same title."""
    ids = [r["arxiv_id"] for r in rows if r["arxiv_id"]]
    keys = [r["title_key"] for r in rows]
    # One query, served by the two partial unique indexes of Paper.Meta
    # (paper_arxiv_id_unique, paper_title_key_unique_without_arxiv_id).
    existing = Paper.objects.filter(
        Q(arxiv_id__in=ids) | Q(arxiv_id__isnull=True, title_key__in=keys)
    )
    by_id: dict[str, Paper] = {}
    by_title: dict[str, Paper] = {}
    for paper in existing:
        if paper.arxiv_id:
            by_id[paper.arxiv_id] = paper
        else:
            by_title[paper.title_key] = paper

    matched: dict[str, Paper] = {}
    taken: set[int] = set()
    for row in rows:
        paper = (row["arxiv_id"] and by_id.get(row["arxiv_id"])) or by_title.get(row["title_key"])
        # An id-less paper claimed by a row with an id and by one without (same
        # title): the first takes it, the other becomes a paper of its own.
        if paper is not None and paper.pk not in taken:
            taken.add(paper.pk)
            matched[_values_key(row)] = paper
    return matched


def papers_import(
    *, items: Any, trending_date: dt.date | None = None, source: str = "import",
    require_abstract: bool = False, lenient: bool = False,
) -> ImportResult:
    """Upsert the papers of a Daily Papers response (a list of items). Everything
    is validated first; a malformed item refuses the whole import (IngestError),
    unless `lenient` (the API's own list, _items_parse): then what cannot be read is
    left out, each problem logged and in the result, and the rest imported.
    Re-importing updates counts and text, never duplicates, never unpins or
    unhides; a withdrawn paper is hidden. The papers are then scored against topics.
    `trending_date` is the date the items were listed for; without it each item's
    own date is used; `require_abstract` refuses an item without an abstract."""
    if trending_date and (refusal := trending_date_refusal(trending_date)):
        raise IngestError(f"{source}: {refusal}")
    rows, problems = _items_parse(items=items, source=source, trending_date=trending_date,
                                  require_abstract=require_abstract, lenient=lenient)
    for problem in problems:
        logger.warning("%s: %s", source, problem)
    if not rows:
        return ImportResult(problems=tuple(problems))
    with transaction.atomic():
        matched = _existing_match(rows)
        dates_touched: set[dt.date] = set()
        to_create: list[Paper] = []
        to_update: list[Paper] = []
        unchanged: list[Paper] = []
        pictures_new: list[Paper] = []
        for row in rows:
            paper = matched.get(_values_key(row))
            if paper is None:
                # A field left out (lenient) is the model's default.
                to_create.append(Paper(**row, hidden=row.get("withdrawn_at") is not None))
                dates_touched.add(row["trending_date"])
                continue
            before, listed_on, withdrawn_at = _stored_values(paper), paper.trending_date, paper.withdrawn_at
            first_day = min(paper.trending_date, row["trending_date"])
            text, picture = paper_text(paper), paper.thumbnail_url
            for name, value in row.items():
                setattr(paper, name, value)
            if paper_text(paper) != text:
                paper.embedding = None  # made again below; the same text keeps its vector
            if paper.thumbnail_url != picture:
                pictures_new.append(paper)
            paper.trending_date = first_day
            # A listing without withdrawnAt (the older shape has none) does not undo
            # a withdrawal: it was erased, and "Show again" brought the paper back.
            paper.withdrawn_at = row.get("withdrawn_at") or withdrawn_at
            paper.hidden = paper.hidden or row.get("withdrawn_at") is not None
            if _stored_values(paper) == before:
                unchanged.append(paper)  # the beat task's refetch of a quiet hour
                continue
            dates_touched |= {listed_on, first_day, row["trending_date"]}
            to_update.append(paper)
        if to_update:
            # bulk_update bypasses save(), so auto_now is ours to set. Updates go
            # first: one may give an id-less paper its id, freeing its title key.
            now = timezone.now()
            for paper in to_update:
                paper.updated_at = now
            Paper.objects.bulk_update(to_update, _UPDATED_FIELDS)
        if pictures_new:
            # A new picture: not tried yet (fetched below).
            Paper.objects.filter(pk__in=[p.pk for p in pictures_new]).update(picture_missing_at=None)
        # PostgreSQL and SQLite ≥ 3.35 hand back the new primary keys.
        Paper.objects.bulk_create(to_create)
        # Unchanged papers too: one left without a vector (a model upgrade) gets it.
        papers_score(papers=[*to_create, *to_update, *unchanged], only_missing=True)
        if dates_touched:
            pages_changed(dates=dates_touched, papers=[p.pk for p in to_update])
        # In the background: an import does not wait on the CDN. Every paper listed,
        # so one whose picture could not be had is asked again at each import that
        # lists it; one already on disk costs a file open (newsletter/pictures.py).
        pictures_fetch_later(paper_ids=[p.pk for p in (*to_create, *to_update, *unchanged)])
    logger.info("%s: %d papers, %d new, %d updated, %d unchanged",
                source, len(rows), len(to_create), len(to_update), len(unchanged))
    return ImportResult(created=len(to_create), updated=len(to_update), unchanged=len(unchanged),
                        problems=tuple(problems))


def papers_import_file(*, path: str | Path, trending_date: dt.date | None = None) -> ImportResult:
    """Import a JSON file in the API's shape (a saved response, or the sample fixture)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        items = json_read(data)
    except IngestError as exc:
        raise IngestError(f"{path}: {exc}") from exc
    return papers_import(items=items, trending_date=trending_date, source=str(path))


def json_read(data: str | bytes) -> Any:
    """A saved response's bytes or a pasted entry's text, as Python. Bytes may be
    UTF-8, -16 or -32, with or without a byte order mark (as Windows' editors and
    PowerShell save them). Raises IngestError saying what is wrong, and where."""
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"not Unicode text (UTF-8, -16 or -32): byte 0x{exc.object[exc.start]:02x} at "
            f"position {exc.start}; save it as UTF-8"
        ) from exc
    except json.JSONDecodeError as exc:
        raise IngestError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    # Python's own limits, which json raises as other errors (they were a 500).
    except ValueError as exc:
        raise IngestError(f"not valid JSON: a number of over {sys.get_int_max_str_digits()} digits") from exc
    except RecursionError as exc:
        raise IngestError("not valid JSON: nested too deeply") from exc


def papers_fetch_and_import(*, date: dt.date) -> ImportResult:
    """Fetch one Daily Papers date from the API and upsert it, leniently: a field
    of one paper the API got wrong leaves that field out, not the day (papers_import)."""
    items = papers_fetch(date=date)
    return papers_import(
        items=items, trending_date=date, source=f"Daily Papers for {date.isoformat()}", lenient=True,
    )


# The problems a PaperFetch keeps: the editors' list, not an archive (the log has all).
PROBLEMS_KEPT = 100


def paper_fetch_record(
    *, date: dt.date, at: dt.datetime, outcome: str, result: ImportResult | None = None,
    message: str = "", cause: str = "", kind: str = PaperFetch.Kind.MORNING,
    next_attempt_at: dt.datetime | None = None, tries_until: dt.datetime | None = None,
) -> None:
    """Record an attempt of the morning fetch of `date` (its PaperFetch: one row per
    date, the last attempt's outcome; `attempts` counts them). The problems are the
    last import's: a retry that could not reach the API keeps none. `kind`: which
    fetch it was (PaperFetch.Kind)."""
    problems = result.problems if result else ()
    if result and not message:
        message = (f"{result.total} papers: {result.created} new, {result.updated} updated, "
                   f"{result.unchanged} unchanged; {len(problems)} problems")
    values = {
        "attempted_at": at, "outcome": outcome, "kind": kind,
        "created": result.created if result else 0, "updated": result.updated if result else 0,
        "problems": [asdict(p) for p in problems[:PROBLEMS_KEPT]], "problems_count": len(problems),
        "message": message, "cause": cause, "next_attempt_at": next_attempt_at, "tries_until": tries_until,
    }
    PaperFetch.objects.update_or_create(
        date=date, defaults={**values, "attempts": F("attempts") + 1}, create_defaults=values)


# Why a fetch could not reach the API when the exception carries no cause of its own.
OUT_OF_TIME = "it took longer than the task may run"


def paper_fetch_failure_record(
    *, date: dt.date, at: dt.datetime, exc: BaseException, kind: str = PaperFetch.Kind.MORNING,
    next_attempt_at: dt.datetime | None = None, tries_until: dt.datetime | None = None,
) -> str:
    """Record a fetch of `date` that failed with `exc` (paper_fetch_record): refused
    when the API answered what cannot be read (IngestError), else unavailable, with
    why in a few words (IngestUnavailable.cause; the task's time ran out; no answer in
    time; no connection). Returns what the fetch said, for the log."""
    if isinstance(exc, SoftTimeLimitExceeded):
        message, cause = "out of the task's time", OUT_OF_TIME
    else:
        message = str(exc)
        cause = (exc.cause if isinstance(exc, IngestUnavailable)
                 else "" if isinstance(exc, IngestError)
                 else "no answer in time" if isinstance(exc, TimeoutError) else "no connection")
    refused = isinstance(exc, IngestError) and not isinstance(exc, IngestUnavailable)
    paper_fetch_record(
        date=date, at=at, message=message, cause=cause, kind=kind,
        outcome=PaperFetch.Outcome.REFUSED if refused else PaperFetch.Outcome.UNAVAILABLE,
        next_attempt_at=next_attempt_at, tries_until=tries_until)
    return message


def previous_list_date(date: dt.date) -> dt.date:
    """The Daily Papers date with a list before `date`: the weekday before it (the
    API lists nothing for weekend dates), Friday before a weekend or a Monday."""
    day = date - dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def papers_fetch_morning(*, today: dt.date) -> ImportResult:
    """The morning fetch: today's list, then the list before it again. Papers are
    submitted to Daily Papers at any hour of their date and upvoted for days, so the
    morning's fetch of a date is not the whole of it: refetched the next morning, when
    it is complete, its late papers come in with the day's final counts, to the site
    and to the next edition not sent yet (an edition already sent keeps what its
    readers got; editions._late_papers_q). Returns today's result. A refresh that
    fails, or runs out of the task's time (a rate-limited API's Retry-After), is
    logged, recorded as that date's fetch (paper_fetch_record: the editors see it)
    and left: today's papers are in, and retrying the task would fetch them again for
    nothing."""
    result = papers_fetch_and_import(date=today)
    before = previous_list_date(today)
    at = timezone.now()
    try:
        refreshed = papers_fetch_and_import(date=before)
    except (IngestError, SoftTimeLimitExceeded) as exc:  # IngestUnavailable too
        said = paper_fetch_failure_record(date=before, at=at, exc=exc, kind=PaperFetch.Kind.SECOND)
        logger.warning("Daily Papers for %s not refreshed: %s", before.isoformat(), said)
    else:
        paper_fetch_record(
            date=before, at=at, result=refreshed, kind=PaperFetch.Kind.SECOND,
            outcome=PaperFetch.Outcome.IMPORTED if refreshed.total else PaperFetch.Outcome.EMPTY)
        # Only a list fetched before has papers "after the last fetch": on a first
        # deploy, or after a morning the fetch missed, every paper is new and
        # papers_import's own line says so.
        if refreshed.created and (refreshed.updated or refreshed.unchanged):
            logger.info("Daily Papers for %s: %d papers listed after the last fetch",
                        before.isoformat(), refreshed.created)
    return result
