import datetime as dt
import hashlib
import re
import unicodedata
from functools import cached_property, lru_cache
from urllib.parse import quote_plus

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.text import slugify

from mail.rendering import absolute_url

# The modern arXiv identifier (what Hugging Face papers carry): such a paper's page is
# /papers/<id>/. Any other paper's is /papers/p<pk>-<slug>/ (newsletter/urls.py).
ARXIV_ID_PATTERN = r"\d{4}\.\d{4,5}(?:v\d+)?"
_ARXIV_ID = re.compile(ARXIV_ID_PATTERN)
PAPER_SLUG_MAX_CHARS = 60


@lru_cache(maxsize=4096)
def paper_slug(title: str) -> str:
    """The readable part of a paper's URL; never empty."""
    return slugify(title)[:PAPER_SLUG_MAX_CHARS].strip("-") or "paper"


# The grammar of Topic.keywords, one line each (newsletter/relevance.py matches it):
# a term or phrase; "title:" before it, a term that counts only in titles; "not:"
# before it, a phrase that is another field's term of art, whose words do not count
# for this topic's other keywords ("not:post-training quantization" keeps
# "post-training" from matching a compression paper).
KEYWORD_TITLE_PREFIX = "title:"
KEYWORD_NOT_PREFIX = "not:"


def keyword_lines(text: str) -> list[str]:
    """The non-blank lines of a keywords field, stripped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def keyword_line_read(line: str) -> tuple[str, str]:
    """(phrase, kind) of one keyword line: kind is "title" or "not" after its prefix,
    else "any"."""
    line = line.strip()
    for prefix, kind in ((KEYWORD_TITLE_PREFIX, "title"), (KEYWORD_NOT_PREFIX, "not")):
        if line.lower().startswith(prefix):
            return line[len(prefix):].strip(), kind
    return line, "any"


def picture_version(source_url: str) -> str:
    """A picture's version in its URL on this site: a change of source is a new URL,
    so the old one may be cached for good."""
    return hashlib.sha256(source_url.encode()).hexdigest()[:12]


_PICTURE_EXTENSIONS = ("png", "jpg", "gif", "webp")


def picture_extension(source_url: str) -> str:
    """The extension a picture's URL on this site carries: its source's (png, as the
    API's thumbnails are, when the source names none)."""
    if source_url.startswith("data:image/"):
        kind = source_url[len("data:image/"):].split(";", 1)[0].split(",", 1)[0].lower()
    else:
        kind = source_url.split("?", 1)[0].rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower()
    kind = "jpg" if kind == "jpeg" else kind
    return kind if kind in _PICTURE_EXTENSIONS else "png"


def thumbnail_url_allowed(url: str) -> bool:
    """Whether a paper's picture may come from `url`: Hugging Face's thumbnails
    (settings.THUMBNAIL_HOSTS), over https. A picture from any other host is a pixel
    that host sees every reader's mail client and every visitor's browser fetch (who
    opened which digest, when, from where): an editor's account must not be able to
    put one there, as the note's sanitiser keeps them out (editions.note_html)."""
    if url.startswith("data:image/"):  # the picture itself: nobody's host is asked (tests, no network)
        return True
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].lower()
    return scheme.lower() == "https" and host in settings.THUMBNAIL_HOSTS


# The step between topics' positions: the default topics stand at 10, 20, ... (migration
# 0002), so an editor can put one between two others.
TOPIC_POSITION_STEP = 10
TOPIC_POSITION_MAX = 32767  # PositiveSmallIntegerField's


def topic_position_last() -> int:
    """A new topic's position unless the editor sets one: after every other topic, so
    it is last on the subscribe form and the preference centre, under the curated
    order (a new topic stood at 0, first, above them all: an editor's walkthrough).
    Topic.position's default: the admin's Add page shows it, and every Topic made
    without one (services.topic_create, the evaluation's added topics) gets it."""
    highest = Topic.objects.aggregate(highest=models.Max("position"))["highest"] or 0
    return min(highest + TOPIC_POSITION_STEP, TOPIC_POSITION_MAX)


class Topic(models.Model):
    """A subject readers subscribe to, defined by its name, description, optional
    keywords and its example papers: those editors marked, and for a default topic a
    few canonical papers of its field that come with it (newsletter/relevance.py
    scores papers against all of them; changing any re-scores papers)."""

    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=240, blank=True)
    keywords = models.TextField(
        blank=True,
        help_text="One term or phrase per line. Prefix a line with 'title:' to match only titles, "
                  "or with 'not:' for another field's term that contains one of these words and must "
                  "not count for this topic (e.g. 'not:post-training quantization').",
    )
    # An umbrella over other topics (relevance._broad_yield): its readers get the
    # papers about the field itself; one another topic explains better is that topic's.
    is_broad = models.BooleanField(
        default=False, verbose_name="broad topic",
        help_text="A broad field that contains other topics (as language models contain reasoning, "
                  "agents, alignment ...): a paper another topic explains better goes to that topic, "
                  "not to this one.",
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=topic_position_last,
                                                help_text="Display order, lowest first.")
    exemplars = models.ManyToManyField(
        "Paper", blank=True, related_name="exemplar_of",
        help_text="Papers that show what the topic is about (the papers list's "
                  "'Use as an example of a topic' action).",
    )
    # A default topic's canonical papers of its field, shipped with it (migration
    # 0011): [{"title", "abstract"}], counted as examples like the papers above.
    builtin_examples = models.JSONField(
        default=list, blank=True, editable=False,
        help_text="Canonical papers of the field that come with a default topic.",
    )
    # Stored vectors (newsletter/embeddings.py): the definition (name, description,
    # keywords) and the centroid of the examples; recomputed when either changes.
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    exemplar_embedding = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def name_and_state(self) -> str:
        """The topic as the editors' pages offer and list it: one an editor switched off
        says so. Readers keep following it (switched on again, it is theirs again), but
        it is in no digest: the readers' list named it like the others for a reader
        who got only the others, and the readers' and papers' forms ("Add a topic to
        selected papers…") offered it unmarked (editors' walkthroughs, 7 December)."""
        return self.name if self.is_active else f"{self.name} (switched off: in no digest)"

    @property
    def keyword_list(self) -> list[str]:
        return keyword_lines(self.keywords)

    @property
    def defining_terms(self) -> list[str]:
        """The keywords that say what the topic is, without their markers: not the
        "not:" phrases, which name other fields (embeddings.topic_text)."""
        return [phrase for phrase, kind in map(keyword_line_read, self.keyword_list) if phrase and kind != "not"]


# The names a byline gives (digest cards, the site's cards, feeds); the paper's page
# lists them all.
BYLINE_NAMES = 3


class Paper(models.Model):
    """One paper as it trended on Hugging Face Daily Papers."""

    arxiv_id = models.CharField(max_length=32, null=True, blank=True)
    # Lower-cased title with punctuation and whitespace collapsed: the upsert key
    # of entries that carry no arXiv id (newsletter/ingest.py, title_normalise).
    title_key = models.CharField(max_length=500, editable=False)
    title = models.CharField(max_length=500)
    abstract = models.TextField(blank=True)
    ai_summary = models.TextField(blank=True)
    ai_keywords = models.JSONField(default=list, blank=True)
    authors = models.JSONField(default=list, blank=True, help_text="Names of visible authors.")
    author_count = models.PositiveIntegerField(default=0)
    organization = models.CharField(max_length=200, blank=True, help_text="Display name.")
    organization_slug = models.CharField(max_length=100, blank=True)
    published_on = models.DateField(null=True, blank=True, help_text="arXiv publication date.")
    trending_date = models.DateField(help_text="The Daily Papers date it trended on.")
    upvotes = models.PositiveIntegerField(default=0)
    num_comments = models.PositiveIntegerField(default=0)
    github_repo = models.URLField(max_length=300, blank=True)
    github_stars = models.PositiveIntegerField(null=True, blank=True)
    project_page = models.URLField(max_length=300, blank=True)
    thumbnail_url = models.URLField(max_length=300, blank=True)
    # When this site last failed to fetch the picture (newsletter/pictures.py,
    # picture_get: the one place that learns it), None while it has it or has not tried:
    # such a paper shows no picture (picture_url) until a later fetch brings it.
    picture_missing_at = models.DateTimeField(null=True, blank=True, editable=False)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    pinned = models.BooleanField(default=False, help_text="Editors' pick: shown first.")
    hidden = models.BooleanField(default=False, help_text="Never shown or mailed.")
    topics = models.ManyToManyField(Topic, through="PaperTopic", related_name="papers")
    # Text embedding of title + abstract (+ AI summary; embeddings.paper_text), computed once
    # when the paper is imported or edited (newsletter/embeddings.py).
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-trending_date", "-pinned", "-upvotes", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["arxiv_id"],
                condition=Q(arxiv_id__isnull=False),
                name="paper_arxiv_id_unique",
                violation_error_message="A paper with this arXiv id is already here.",
            ),
            # Entries without an arXiv id are keyed by their normalised title.
            models.UniqueConstraint(
                fields=["title_key"],
                condition=Q(arxiv_id__isnull=True),
                name="paper_title_key_unique_without_arxiv_id",
            ),
            models.CheckConstraint(condition=~Q(title=""), name="paper_title_not_empty"),
        ]
        indexes = [
            # Serves paper_list_trending / edition assembly: "visible papers of one
            # Daily Papers date, pinned first, by upvotes", and the home page.
            models.Index(
                fields=["trending_date", "-pinned", "-upvotes"],
                condition=Q(hidden=False),
                name="paper_day_trend_idx",
            ),
            # Serves the weekly digest and the archive: papers of a date range.
            models.Index(fields=["trending_date"], name="paper_trending_date_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def arxiv_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}" if self.arxiv_id else ""

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.arxiv_id}" if self.arxiv_id else ""

    @property
    def hf_url(self) -> str:
        return f"https://huggingface.co/papers/{self.arxiv_id}" if self.arxiv_id else ""

    @property
    def url(self) -> str:
        """Where a reader goes to read it: the HF page, else arXiv, else the project."""
        return self.hf_url or self.project_page or self.github_repo

    @property
    def picture_url(self) -> str:
        """The thumbnail as pages, the admin and digests show it: this site's copy
        (picture_served_url); none when this site could not fetch it last time it tried
        (picture_missing_at): an email runs no script, so a picture that 404s was a
        broken box at the top of the reader's digest, and on pages without JavaScript."""
        return "" if self.picture_missing_at else self.picture_served_url

    @property
    def picture_served_url(self) -> str:
        """Where this site serves the picture (newsletter/pictures.py, a path: digests
        put SITE_URL before it), so no reader's client asks Hugging Face for it, whether
        or not it could be fetched; none from a host other than Hugging Face's
        (thumbnail_url_allowed), should one be stored."""
        source = self.thumbnail_url
        if not source or not thumbnail_url_allowed(source):
            return ""
        return f"/pictures/{self.pk}-{picture_version(source)}.{picture_extension(source)}"

    @property
    def hf_search_url(self) -> str:
        """Hugging Face's paper search for the title: the way out for a paper whose
        data has no link of its own."""
        return f"https://huggingface.co/papers?q={quote_plus(self.title)}"

    def get_absolute_url(self) -> str:
        """The paper's page on this site (newsletter/views.py, paper_detail): by arXiv
        id when it has one, else by primary key and title. Built by hand, not with
        reverse(): every digest card of a batch asks for it; tests/newsletter/
        test_paper_page.py holds it equal to the URL patterns."""
        if self.arxiv_id and _ARXIV_ID.fullmatch(self.arxiv_id):
            return f"/papers/{self.arxiv_id}/"
        return f"/papers/p{self.pk}-{paper_slug(self.title)}/"

    @property
    def page_url(self) -> str:
        """get_absolute_url with the site's address: the link emails carry."""
        return absolute_url(self.get_absolute_url())

    @property
    def topic_chips(self) -> "list[PaperTopic]":
        """The topics this paper is about, most relevant first: its chips on cards and
        on its page. Of the rows selectors' prefetch loaded (`topic_rows`), those
        relevance.topics_about keeps."""
        from .relevance import topics_about

        return topics_about(self.topic_rows, score=lambda row: row.score,
                            by_editor=lambda row: row.source == PaperTopic.Source.EDITOR)

    @cached_property
    def chip_names(self) -> list[str]:
        """The names on the paper's card (templates/newsletter/_paper_card.html): its
        topic_chips. A reader's web copy sets the ones their email showed beside it
        instead (Delivery.chips, archive.delivery_papers)."""
        return [row.topic.name for row in self.topic_chips]

    @property
    def topic_tags(self) -> "list[tuple[PaperTopic, bool]]":
        """Every topic the paper passes for (`topic_rows`), each with whether it is one
        of its chips: what editors see, the passes that are no chip set apart."""
        chips = {row.pk for row in self.topic_chips}
        return [(row, row.pk in chips) for row in self.topic_rows]

    @property
    def authors_total(self) -> int:
        """How many authors the paper has: the API's count (hidden authors included),
        or the names there are when fewer were counted (an editor's paper, its count
        left at 0). The one count the byline and the paper's page both read."""
        return max(self.author_count, len(self.authors))

    @property
    def authors_unnamed(self) -> int:
        """Authors the API counted but did not name."""
        return self.authors_total - len(self.authors)

    @property
    def byline(self) -> str:
        """Each name isolated when written right to left (bidi_isolated): the byline
        is read in the page's direction, whatever the names' scripts. Its "and N
        more" counts from authors_total, as the page's list does: from author_count
        alone, five names counted 0 read "Ada, Alan, Grace", two dropped unsaid."""
        if self.authors:
            shown = ", ".join(bidi_isolated(name) for name in self.authors[:BYLINE_NAMES])
            more = self.authors_total - BYLINE_NAMES
            return f"{shown} and {more} more" if more > 0 else shown
        if self.organization:
            return bidi_isolated(self.organization)
        if self.author_count:
            return f"{self.author_count} author{'s' if self.author_count != 1 else ''}"
        return ""


def bidi_isolated(text: str) -> str:
    """Text with a right-to-left letter (Hebrew, Arabic) between Unicode's first-strong
    isolate and its pop (U+2068, U+2069), for a line read left to right: two Hebrew
    names with ", " between them were one right-to-left run, shown second name first,
    and a number after an Arabic name moved in front of it. Other text as it is."""
    # ASCII first: it has no right-to-left letter, and it is nearly every name and
    # title (the subject and bylines of every digest pass here).
    if not text.isascii() and any(unicodedata.bidirectional(c) in ("R", "AL") for c in text):
        return f"\u2068{text}\u2069"
    return text


class PaperTopic(models.Model):
    """How relevant a paper is to a topic, and why."""

    class Source(models.TextChoices):
        AUTO = "auto", "Automatic"
        EDITOR = "editor", "Editor"

    # No index of their own (db_index=False): paper_topic_unique starts with the
    # paper, papertopic_topic_score_idx with the topic (tests/architecture/test_indexes.py).
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="topic_scores", db_index=False)
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="paper_scores", db_index=False)
    # 0 with source=editor means an editor removed the topic from the paper;
    # re-scoring never overwrites an editor's row (newsletter/relevance.py).
    score = models.FloatField(default=0)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.AUTO)
    matched_terms = models.JSONField(default=list, blank=True)
    # True when the paper is closer to the topic's example papers than to its
    # definition: the digest then says "close to the topic's examples".
    near_examples = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["paper", "topic"], name="paper_topic_unique"),
            models.CheckConstraint(condition=Q(score__gte=0), name="paper_topic_score_not_negative"),
        ]
        indexes = [
            # Serves "papers of a topic by score" (topic feeds, topic preview).
            models.Index(fields=["topic", "-score"], name="papertopic_topic_score_idx"),
        ]

    def __str__(self) -> str:
        # The label of the row on a paper's admin page (it read "74 ~ 16: 0.54").
        if self.source == self.Source.EDITOR:
            state = "taken off by an editor" if self.score == 0 else "added by an editor"
        else:
            state = f"passes, score {self.score:.2f}"
        return f"{self.topic.name}: {state}"


class OutboxEmail(models.Model):
    """An email kept by the local outbox backend (newsletter/outbox.py) instead of
    being sent: what the embedded default does, so a person can open it."""

    to = models.TextField()
    from_email = models.CharField(max_length=300)
    subject = models.CharField(max_length=500)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Each attachment as {"name", "mimetype", "b64"} (the data export's JSON file):
    # the outbox page offers them to download, as a mail client would. The database's
    # default serves the release before it (migration 0028).
    attachments = models.JSONField(default=list, db_default=[], blank=True)
    message_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"


class PageTagDebt(models.Model):
    """A public pages' cache tag a process could not bump (Redis away when a change
    committed, newsletter/page_cache.py): kept here too, so that it is bumped once Redis
    is back even if that process is gone (page_cache.tag_debts_settle, every minute)."""

    tag = models.CharField(max_length=255, unique=True)
    owed_since = models.DateTimeField()

    def __str__(self) -> str:
        return self.tag




class PaperFetchOutcome(models.TextChoices):
    IMPORTED = "imported", "Imported"
    UNAVAILABLE = "unavailable", "Hugging Face unavailable"
    REFUSED = "refused", "Refused"
    EMPTY = "empty", "Nothing listed"


class PaperFetchKind(models.TextChoices):
    MORNING = "morning", "The morning fetch or its retries (tasks.papers_fetch_today)"
    SECOND = "second", "The next morning's fetch of the list again (ingest.papers_fetch_morning)"
    HAND = "hand", "An operator's manage.py fetch_papers --date"


class PaperFetch(models.Model):
    """The morning fetch of one Daily Papers date (tasks.papers_fetch_today), as its
    last attempt left it, for the editors: on the edition page of a date without
    papers and on the dashboard. Written by ingest.paper_fetch_record only, at every
    attempt (imported, unavailable and tried again, refused, nothing listed yet).
    Before, the outcome was only in the worker's log: an edition page said "They are
    fetched every morning" after twelve hours of Hugging Face answering 503."""

    Outcome = PaperFetchOutcome
    Kind = PaperFetchKind

    date = models.DateField(unique=True)
    attempted_at = models.DateTimeField(help_text="The last attempt.")
    attempts = models.PositiveIntegerField(default=1)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    # ingest.Problem as dicts (where, what, field, outcome): what the last import
    # left out or skipped, at most ingest.PROBLEMS_KEPT of them.
    problems = models.JSONField(default=list, blank=True)
    problems_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True, help_text="What the fetch said: the error, or its summary.")
    # Why Hugging Face could not be read, in a few words ("HTTP 503"), said after
    # "could not reach Hugging Face" (ingest.paper_fetch_failure_record).
    cause = models.CharField(max_length=80, blank=True, default="", db_default="")
    # Which fetch the last attempt was (ingest.paper_fetch_record's callers).
    kind = models.CharField(max_length=8, choices=PaperFetchKind.choices,
                            default=PaperFetchKind.MORNING, db_default=PaperFetchKind.MORNING)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Roughly when it stops trying: the last retry's earliest time, or noon for an
    # empty list (tasks.EMPTY_LIST_UNTIL).
    tries_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=PaperFetchOutcome.values), name="paper_fetch_outcome_valid"),
            models.CheckConstraint(condition=Q(kind__in=PaperFetchKind.values), name="paper_fetch_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"Fetch of {self.date.isoformat()}: {self.get_outcome_display().lower()}"

    @property
    def failed(self) -> bool:
        return self.outcome in (self.Outcome.UNAVAILABLE, self.Outcome.REFUSED)

    @property
    def attempt_said(self) -> str:
        """The last attempt, as the editors' pages begin its sentence."""
        at = self.attempted_at.astimezone(dt.UTC)
        # The house formats (config/formats/en/formats.py); TIME_FORMAT names the zone.
        time = formats.time_format(at, "TIME_FORMAT")
        if self.kind == self.Kind.HAND:
            return f"The fetch by hand (manage.py fetch_papers) on {formats.date_format(at, 'DATE_FORMAT')} at {time}"
        if self.kind == self.Kind.SECOND:
            return (f"The second fetch of {formats.date_format(self.date, 'DATE_FORMAT')}’s list, on "
                    f"{formats.date_format(at, 'DATE_FORMAT')} at {time},")
        if at.date() != self.date:  # a retry past midnight UTC (a schedule moved late)
            return f"The morning fetch, on {formats.date_format(at, 'DATE_FORMAT')} at {time},"
        return f"The morning fetch at {time}"

    @property
    def problems_said(self) -> list[str]:
        return [f"{p['where']}: {p['what']}" + (f" ({p['outcome']})" if p.get("outcome") else "")
                for p in self.problems]


# The editor's note is at the top of every digest of its edition: a few paragraphs
# at most. Without a cap, a pasted article took the digest past Gmail's clipping size
# (102 KB), hiding the unsubscribe link (tests/newsletter/test_digest_rendering.py's
# worst case holds this much note).
NOTE_MAX_CHARS = 1000


class Edition(models.Model):
    """One Daily Papers date: the papers readers get that day, in order. Frozen when
    its first digest goes out, so the archive shows what readers got."""

    date = models.DateField(unique=True)
    note = models.TextField(
        blank=True, max_length=NOTE_MAX_CHARS, help_text="Editor's note (Markdown), shown at the top."
    )
    on_hold = models.BooleanField(
        default=False, help_text="While on hold, no digest of this edition goes out."
    )
    # The last dispatcher run that queued this edition's readers due at its time
    # (newsletter/delivery.py, edition_dispatch): the runs after it that did not come
    # (beat or the workers down, the list late, the edition held) owe their readers
    # this edition at the next run (newsletter/due.py, catch_up_since).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    # Set when an editor reorders the papers: re-assembly then keeps their order
    # instead of re-sorting by trend (newsletter/editions.py, edition_assemble).
    order_set_by_editor = models.BooleanField(default=False)
    papers = models.ManyToManyField(Paper, through="EditionPaper", related_name="editions")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date"]

    def __str__(self) -> str:
        # As its emails and its admin page write the day ("Monday 24 November 2025"):
        # the admin's breadcrumbs, messages and history name it so too.
        return f"Edition of {formats.date_format(self.date)}"


class EditionNote(models.Model):
    """The editor's note of an edition as it stood from `set_at` (one row per change,
    curation.edition_note_set): readers are sent the note of the moment, so a
    reader's web copy shows the one their email had (archive.delivery_note)."""

    # Found by edition_note_set_at_idx, which starts with it.
    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="note_versions", db_index=False)
    note = models.TextField(blank=True)
    set_at = models.DateTimeField()

    class Meta:
        ordering = ["edition", "set_at"]
        indexes = [models.Index(fields=["edition", "set_at"], name="edition_note_set_at_idx")]

    def __str__(self) -> str:
        return (f"Note of {formats.date_format(self.edition.date, 'SHORT_DATE_FORMAT')} from "
                f"{formats.date_format(timezone.localtime(self.set_at), 'DATETIME_FORMAT')}")


class EditionPaper(models.Model):
    # Found by edition_paper_unique, which starts with it.
    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="entries", db_index=False)
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="edition_entries")
    position = models.PositiveSmallIntegerField()
    # Whether the paper was an editors' pick in this edition (Paper.pinned when it was
    # assembled: editions.edition_assemble; fixed once the edition is frozen). What
    # its archive page and its readers' web copies show (archive.edition_papers,
    # archive.delivery_papers): a pin or unpin after the send changes the paper's
    # page, and the editions not sent yet, not what readers got.
    pinned = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["edition", "position"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "paper"], name="edition_paper_unique"),
            models.UniqueConstraint(fields=["edition", "position"], name="edition_position_unique"),
        ]


class Delivery(models.Model):
    """The ledger: one row per (subscriber, edition). Claimed before the provider is
    called and marked after, so retries, double ticks and crashes never send twice
    (newsletter/delivery.py holds the rules)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    # Neither key has an index of its own: the reader's rows are found by
    # delivery_subscriber_edition_unique, an edition's by delivery_edition_status_idx
    # or delivery_edition_reader_idx, which start with them. Their own two were 2 of
    # the ledger's 9 indexes, written on every row (tests/architecture/test_indexes.py).
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    edition = models.ForeignKey(Edition, on_delete=models.PROTECT, related_name="deliveries", db_index=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The claim is a lease (newsletter/delivery.py, rule 3): `sending` rows belong to
    # their worker until this instant, which its heartbeat keeps pushing forward;
    # `pending` rows waiting for a retry should have been taken again by then.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    # What the reader got, for "never repeat a paper" and the personal archive page.
    paper_ids = models.JSONField(default=list, blank=True)
    # How many of paper_ids were the reader's picks; the rest were the "also trending"
    # block, or on a day nothing matched, the papers offered instead. Null on rows sent
    # before it was kept (their page lists every paper as one list).
    picked = models.PositiveSmallIntegerField(null=True, blank=True)
    # Each pick's "why" line as the email had it (for paper_ids[:picked], in order),
    # then on a day nothing matched, what it said beside each closest paper ("closest
    # to Agents", digest.Digest.reasons), for the reader's web copy. Empty on rows
    # sent before it was kept, and on rows the sweep settled from a journal entry
    # written before it was journalled. The database's default serves the release
    # before it, which inserts rows without it (migration 0028; README, "Upgrading").
    reasons = models.JSONField(default=list, db_default=[], blank=True)
    # The topics the email showed beside each of paper_ids (digest.card_topics: a
    # pick's are the reader's own), for the web copy to show the same. Empty on rows
    # sent before it was kept (their copy shows each paper's topics on the site).
    chips = models.JSONField(default=list, db_default=[], blank=True)
    # Whether it went out as the reader's weekly digest (its web copy says "week of
    # …", not one day's). Null on rows sent before it was kept.
    weekly = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "edition"], name="delivery_subscriber_edition_unique"
            ),
        ]
        indexes = [
            # Serves the stale-claim sweep and the admin's ledger: rows by status.
            models.Index(fields=["status", "claimed_at"], name="delivery_status_claimed_idx"),
            # Serves "papers this reader already got" (ranking) and per-edition figures.
            models.Index(fields=["edition", "status"], name="delivery_edition_status_idx"),
            # Serves the webhook's fallback lookup of a delivery by the ESP's message id
            # (newsletter/webhooks.py) when an event carries no delivery_id metadata.
            models.Index(fields=["provider_message_id"], name="delivery_provider_msgid_idx"),
            # Serves the lease sweep (every 20 s): only rows holding a lease are in it.
            models.Index(
                fields=["lease_expires_at"], name="delivery_lease_idx",
                condition=Q(lease_expires_at__isnull=False),
            ),
            # Serves the admin's ledger in its order (-created_at, then -id, which the
            # admin adds): its first page read the newest 100 of every row, a sort of
            # the whole table (1.1 s at 2 million rows, docs/benchmarks.md).
            models.Index(fields=["created_at", "id"], name="delivery_created_idx"),
            # Serves the sends of a span of days: the dashboard's days not counted yet
            # (dashboard.sends_counted, SentDay) and an edition's first send from its
            # freezing on (curation.edition_figures). Those read every row of the
            # ledger (0.5 to 0.8 s at 2 million rows, docs/benchmarks.md).
            models.Index(fields=["sent_at"], name="delivery_sent_idx", condition=Q(status="sent")),
            # Serves "no row of this edition yet" (due.subscribers_due: the dispatcher and
            # the edition page's "Send now" audience): the edition's rows side by side,
            # read once, or probed where they are, where the unique constraint's
            # (subscriber, edition) had one probe per reader all over the index (150 to
            # 250 ms at 8.4 million rows, docs/benchmarks.md, "The admin at scale,
            # fourth pass"). Built CONCURRENTLY (newsletter 0036).
            models.Index(fields=["edition", "subscriber"], name="delivery_edition_reader_idx"),
        ]
        # And on PostgreSQL, not named here (SQLite has no GIN): delivery_paper_ids_gin,
        # the rows that carried a paper (selectors.deliveries_carrying), newsletter 0040.

    @staticmethod
    def events_prefetch() -> models.Prefetch:
        """Each delivery's provider events, oldest first, as `delivery.events_in_order`:
        one query for a page of deliveries, by the events' delivery index, from which
        `provider_latest` is the last. The ledger's list ("Sent · bounced") and a
        reader's deliveries ("bounced on …: 550 5.1.1 user unknown") both read it."""
        return models.Prefetch(
            "events",
            queryset=DeliveryEvent.objects.only("delivery_id", "event_type", "description", "occurred_at")
            .order_by("occurred_at", "pk"),
            to_attr="events_in_order",
        )

    @property
    def provider_latest(self) -> "DeliveryEvent | None":
        """What the provider said last of this digest (delivered, bounced, marked as
        spam…), or None. The rows must be read with `events_prefetch` (one query for
        a page of them)."""
        return self.events_in_order[-1] if self.events_in_order else None

    def __str__(self) -> str:
        # The delivery's page title in the admin (it read "2/402: sent"). No address:
        # a row may be logged. The edition's date when it is loaded already.
        edition = (f"of {formats.date_format(self.edition.date, 'SHORT_DATE_FORMAT')}" if Delivery.edition.is_cached(self)
                   else f"of edition {self.edition_id}")
        return f"Digest {edition} to reader {self.subscriber_id}: {self.get_status_display().lower()}"


class SentDay(models.Model):
    """The digests sent on one day of the past (in the time zone `zone`), counted
    once the day is over for good (dashboard.sends_counted): the dashboard's month
    of sends counted 2 million rows at each load (0.4 to 0.8 s, docs/benchmarks.md).
    A past day's count does not change: a digest's sent_at is the time it went
    out, and the rows an erasure deletes later were sent all the same."""

    day = models.DateField()
    zone = models.CharField(max_length=64)
    sent = models.PositiveIntegerField()
    counted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "zone"], name="sent_day_unique")]

    def __str__(self) -> str:
        return f"{self.sent} sent on {self.day.isoformat()} ({self.zone})"


class EditionTally(models.Model):
    """An edition's sent and failed digests, counted once nothing more will change
    them (newsletter/tallies.py): no row of it pending or sending, so no worker will
    touch its rows. The editions' list counted every edition's rows at each load
    (4 to 12 ms an edition at 84,000 rows, so 0.4 to 1.2 s a page of 100 and more
    with every edition, docs/benchmarks.md). Whatever makes its rows change again
    (new rows, an editor's retry, an erasure) makes it stale in the same transaction
    (tallies.edition_tallies_stale), and `generation` keeps a count taken before that
    from being kept after it."""

    edition = models.OneToOneField(Edition, on_delete=models.CASCADE, primary_key=True, related_name="tally")
    # Null while stale: the list counts the rows.
    sent = models.PositiveIntegerField(null=True)
    failed = models.PositiveIntegerField(null=True)
    generation = models.PositiveIntegerField(default=0)
    counted_at = models.DateTimeField(null=True)
    # The edition's rows an erasure deleted, by what they were (tallies.
    # edition_tallies_rows_deleting): counted in its figures all the same, as SentDay
    # counts them (docs/data-retention.md, "Figures"). The database's default serves
    # the release before it, which inserts tallies without them.
    sent_gone = models.PositiveIntegerField(default=0, db_default=0)
    failed_gone = models.PositiveIntegerField(default=0, db_default=0)
    skipped_gone = models.PositiveIntegerField(default=0, db_default=0)
    bounced_gone = models.PositiveIntegerField(default=0, db_default=0)
    complained_gone = models.PositiveIntegerField(default=0, db_default=0)
    # Set when the retention began deleting the edition's rows (retention.
    # deliveries_prune): its page's figures as they stood then (curation.
    # EditionFigures as a dict), which it shows from then on.
    pruned_at = models.DateTimeField(null=True)
    figures = models.JSONField(null=True)

    def __str__(self) -> str:
        figures = f"{self.sent} sent, {self.failed} failed" if self.sent is not None else "stale"
        return f"Tally of edition {self.edition_id}: {figures}"


class DeliveryEvent(models.Model):
    """A tracking event from the ESP (anymail's normalised event), idempotent on
    the ESP's event id."""

    delivery = models.ForeignKey(
        Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    event_id = models.CharField(max_length=200, unique=True)
    event_type = models.CharField(max_length=30)
    recipient_hash = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Of an editor's test send (curation.edition_test_send, digest.DIGEST_TEST_TAG),
    # not of a digest to a reader: it suppresses the address as any event does, and
    # counts in no figures (dashboard.sends_per_day counted it as a digest's bounce
    # or complaint: it is in no ledger row). The database's default serves the
    # release before it, which inserts events without it (migration 0044).
    of_test_send = models.BooleanField(default=False, db_default=False)
    # The email it is about, by the tag it was sent with (mail.building: "digest", a
    # journey email's kind such as "confirm", an editor's email's template) as the
    # ESP reported it back; "digest" whenever it is matched to a ledger row, "" when
    # it is neither matched nor tagged. The dashboard's digest figures leave out the
    # events of other emails (a mistyped address's confirmation bounces; it was
    # counted as a digest's bounce) and show them apart. The database's default
    # serves the release before, which inserts events without it (migration 0045).
    email = models.CharField(max_length=40, blank=True, default="", db_default="")

    @property
    def kind_said(self) -> str:
        """The event's type as an editor reads it, wherever it is shown: "soft bounced"
        and "not spam" for the two stored under names of ours (newsletter/webhooks.py,
        SOFT_BOUNCED and NOT_SPAM), which the ledger showed as they are stored."""
        return self.event_type.replace("_", " ")

    def __str__(self) -> str:
        # A row on a delivery's admin page (it read "DeliveryEvent object (1)").
        return f"{self.kind_said} on {formats.date_format(self.occurred_at, 'DATETIME_FORMAT')}"

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            # Serves soft-bounce counting per address over 30 days and the dashboard.
            models.Index(fields=["recipient_hash", "event_type", "occurred_at"], name="event_rcpt_type_idx"),
            # Serves the daily forgetting of payloads (webhooks.delivery_event_payloads_forget):
            # only the events still holding one, by age. It read every event (210 ms
            # at 900,000 to find the day's few, and growing with the table).
            models.Index(fields=["created_at"], name="event_payload_kept_idx", condition=~Q(payload={})),
            # Serves every read of the events of one kind: the ledger's "provider
            # event" filter (their deliveries from the index alone), and by time an
            # edition's bounces and complaints since it went out (curation.
            # edition_figures) and the dashboard's per day. Each read every event
            # (0.1 to 0.9 s at 900,000, docs/benchmarks.md).
            models.Index(fields=["event_type", "occurred_at", "delivery"], name="event_type_idx"),
            # Serves the retention's deletion of the events past their time, oldest
            # first, a batch at a time (retention.delivery_events_prune).
            models.Index(fields=["occurred_at"], name="event_occurred_idx"),
        ]


class Feedback(models.Model):
    """A reader's "more like this" / "less like this" on a paper, or a click on the
    paper's link in their digest (a milder "more", reported by the ESP)."""

    class Vote(models.IntegerChoices):
        MORE = 1, "More like this"
        LESS = -1, "Less like this"

    class Source(models.TextChoices):
        VOTE = "vote", "Voted"
        CLICK = "click", "Opened from the digest"

    # Found by feedback_once_per_paper, which starts with it.
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="feedback", db_index=False
    )
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="feedback")
    vote = models.SmallIntegerField(choices=Vote.choices)
    # A click is always a MORE; an explicit vote on the same paper replaces it.
    source = models.CharField(max_length=5, choices=Source.choices, default=Source.VOTE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "paper"], name="feedback_once_per_paper"),
            models.CheckConstraint(condition=Q(vote__in=[1, -1]), name="feedback_vote_valid"),
            models.CheckConstraint(condition=Q(source="vote") | Q(vote=1), name="feedback_click_is_more"),
        ]
