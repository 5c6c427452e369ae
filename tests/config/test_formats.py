"""One house style for dates (config/formats/en/formats.py): the pages, the emails,
the admin and the charts wrote the same day as "Monday, November 24, 2025",
"Monday 24 November 2025", "Nov 24, 2025", "24 Nov 2025", "Nov 24" and "24 Nov"
(a survey, 6 December 2026). Long: "Monday 24 November 2025"; short: "24 Nov 2025";
where the year goes without saying: "Mon 24 Nov"."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from newsletter import curation
from newsletter.dashboard import dashboard_charts
from newsletter.models import Delivery, Edition, EditionPaper, Paper
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

DAY = dt.date(2025, 11, 24)  # a Monday
FRIDAY = dt.date(2025, 11, 21)
# Any way of writing 24 November 2025 (or the 21st) other than the house's: month
# before day ("November 24", "Nov 24", "Nov. 24"), a comma after the weekday, a zero
# before the day ("03 Nov") or a number for the month ("11/24/2025").
NOT_THE_HOUSE_WAY = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}\b"
    r"|\b(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, "
    r"|\b0\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r"|\b\d{1,2}/\d{1,2}/\d{4}\b"
)


def _visible(html: str) -> str:
    """What a reader reads: no tags, attributes (datetime="2025-11-24"), URLs or styles."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", html)


def _assert_house_way(text: str, where: str) -> None:
    wrong = sorted({m.group(0) for m in NOT_THE_HOUSE_WAY.finditer(text)})
    assert not wrong, f"{where} writes dates another way: {wrong}"


@pytest.fixture
def sent_edition(db):
    topic = TopicFactory(name="Agents")
    for n, day in enumerate((FRIDAY, DAY, DAY)):
        paper = PaperFactory(trending_date=day, title=f"Paper {n} on agents", upvotes=90 - n,
                             published_on=dt.date(2025, 11, 3))
        PaperTopicFactory(paper=paper, topic=topic, score=0.9, matched_terms=["agents"])
    editions = []
    for day in (FRIDAY, DAY):
        edition = Edition.objects.create(date=day, frozen_at=timezone.now(),
                                         dispatched_at=dt.datetime(2025, 11, 24, 7, 5, tzinfo=dt.UTC))
        for position, paper in enumerate(Paper.objects.filter(trending_date=day)):
            EditionPaper.objects.create(edition=edition, paper=paper, position=position)
        editions.append(edition)
    return editions[-1]


@pytest.mark.django_db
def test_the_digest_email_writes_dates_the_house_way(sent_edition):
    preview = curation.edition_preview(edition=sent_edition, subscriber=None)
    assert preview.subject.startswith("Daily Papers Digest, 24 Nov 2025")  # previewed in a later year
    assert preview.text.splitlines()[0] == "Daily Papers Digest · Monday 24 November 2025"
    assert "Monday 24 November 2025" in _visible(preview.html)
    for where, text in (("subject", preview.subject), ("text part", preview.text),
                        ("HTML part", _visible(preview.html))):
        _assert_house_way(text, f"the digest's {where}")


@pytest.mark.django_db
def test_the_reader_pages_write_dates_the_house_way(client, sent_edition):
    paper = Paper.objects.filter(trending_date=DAY).first()
    pages = {
        "the archive": "/editions/",
        "an edition's page": "/editions/2025-11-24/",
        "a day's papers": "/papers/2025-11-24/",
        "a paper's page": paper.get_absolute_url(),
    }
    for where, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        text = _visible(response.content.decode())
        _assert_house_way(text, where)
        assert "Monday 24 November 2025" in text, where
    assert "Fri 21 Nov" in _visible(client.get("/editions/2025-11-24/").content.decode())  # the day before
    assert "Published 3 Nov 2025" in " ".join(_visible(client.get(paper.get_absolute_url()).content.decode()).split())


@pytest.mark.django_db
def test_the_preference_centre_and_the_view_in_browser_page_write_dates_the_house_way(client, sent_edition):
    from newsletter.archive import delivery_view_url
    from subscribers.tokens import subscriber_manage_url

    # A weekly reader whose day is five days off: the page names the day.
    today = timezone.localdate()
    weekly = SubscriberFactory(frequency="weekly", weekday=(today.weekday() + 5) % 7)
    manage = _visible(client.get(subscriber_manage_url(subscriber=weekly)).content.decode())
    day = today + dt.timedelta(days=5)
    assert f"on {day:%A} {day.day} {day:%B}" in " ".join(manage.split())
    _assert_house_way(manage, "the preference centre")
    reader = SubscriberFactory()
    delivery = Delivery.objects.create(subscriber=reader, edition=sent_edition, status=Delivery.Status.SENT,
                                       sent_at=dt.datetime(2025, 11, 24, 15, 44, tzinfo=dt.UTC))
    copy = _visible(client.get(delivery_view_url(delivery=delivery)).content.decode())
    _assert_house_way(copy, "the view-in-browser page")
    assert "Monday 24 November 2025" in copy and "sent 24 Nov, 15:44 UTC" in " ".join(copy.split())


@pytest.mark.django_db
def test_the_admins_edition_page_and_the_dashboard_write_dates_the_house_way(editor_client, sent_edition):
    page = _visible(editor_client.get(f"/admin/newsletter/edition/{sent_edition.pk}/change/").content.decode())
    page = " ".join(page.split())
    assert "Monday 24 November 2025" in page
    assert "The dispatcher last ran for it 24 Nov, 07:05 UTC" in page
    _assert_house_way(page, "the admin's edition page")
    editions = _visible(editor_client.get("/admin/newsletter/edition/").content.decode())
    assert "24 Nov 2025" in editions
    _assert_house_way(editions, "the admin's editions")
    charts = dashboard_charts(today=DAY)
    axis = " | ".join(re.findall(r'class="ax"[^>]*>([^<]+)</text>', " ".join(str(c) for c in charts.values())))
    assert "Mon 24 Nov" in axis
    _assert_house_way(axis, "the dashboard's charts")


# A template may name a pattern of its own only for a machine (an ISO date in a
# URL or a datetime attribute) or for a weekday's name alone ("Friday's list").
MACHINE_OR_WEEKDAY = {"Y-m-d", "c", "l", "D"}
# The outbox (a development tool) shows a message's Date header as a mail client would.
HEADER_DATE = ("newsletter/outbox_detail.html", "D, j M Y H:i:s T")


def test_no_template_writes_a_date_in_a_pattern_of_its_own():
    templates = Path(settings.BASE_DIR) / "templates"
    found = []
    for path in sorted(templates.rglob("*")):
        if path.suffix not in {".html", ".txt", ".mjml"}:
            continue
        for pattern in re.findall(r"""\|\s*date\s*:\s*["']([^"']*)["']""", path.read_text()):
            name = str(path.relative_to(templates))
            if pattern.endswith("_FORMAT") or pattern in MACHINE_OR_WEEKDAY or (name, pattern) == HEADER_DATE:
                continue
            found.append(f"{name}: {pattern!r}")
    assert not found, f"dates in a template's own pattern (name a house format, config/formats/en/formats.py): {found}"


def test_no_python_formats_a_date_in_a_pattern_of_its_own():
    """formats.date_format with a pattern instead of a house format's name."""
    found = []
    for package in ("config", "newsletter", "subscribers", "mail"):
        for path in sorted((Path(settings.BASE_DIR) / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for call in re.findall(r"date_format\([^()]*(?:\([^()]*\)[^()]*)*\)", path.read_text()):
                pattern = re.search(r""",\s*["']([^"']*)["']\s*\)$""", call)
                if pattern and not pattern.group(1).endswith("_FORMAT"):
                    found.append(f"{path.name}: {call}")
    assert not found, found


def test_no_python_writes_a_date_or_a_moment_in_strftime_of_its_own():
    """A day and month in one strftime pattern ("%A %-d %B, %H:%M UTC": the schedules'
    last and next run), or a time with a zone written by hand ("%H:%M %Z"), is a date
    the house formats already write (DATETIME_FORMAT, DATE_FORMAT): it read "Monday 7
    December, 05:30 UTC" beside "7 Dec 2026, 05:30 UTC" for the same kind of moment.
    A weekday or month name alone in a sentence is a name; ISO dates are machine."""
    found = []
    for package in ("config", "newsletter", "subscribers", "mail"):
        for path in sorted((Path(settings.BASE_DIR) / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            patterns = re.findall(r"strftime\(\s*[\"']([^\"']*)[\"']", text) + re.findall(r"\{[^{}:]+:(%[^{}]*)\}", text)
            for pattern in patterns:
                day_and_month = re.search(r"%-?[de]", pattern) and re.search(r"%[bB]", pattern)
                zone_by_hand = re.search(r"%H:%M", pattern) and re.search(r"%Z|UTC", pattern)
                if day_and_month or zone_by_hand:
                    found.append(f"{path.name}: {pattern!r}")
    assert not found, f"dates in a strftime pattern of their own (name a house format): {found}"
