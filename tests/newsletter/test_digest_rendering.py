import datetime as dt
import re

import pytest

from newsletter.digest import (
    ABSTRACT_MAX_CHARS,
    SHORT_NAME_MAX_CHARS,
    SUBJECT_MAX_CHARS,
    SUBJECT_TITLE_MAX_CHARS,
    WEEKDAY_NAMED_WITHIN,
    card_topics,
    digest_context,
    digest_make,
    digest_subject,
    edition_period,
    subject_title,
    week_span,
)
from newsletter.editions import edition_assemble, edition_freeze
from newsletter.models import Edition, Paper
from newsletter.ranking import DigestSelection, RankedPaper, ranking_data_load
from subscribers.models import MAX_PAPERS_PER_DIGEST, Subscriber
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

DAY = dt.date(2025, 11, 24)
LONG_ABSTRACT = " ".join(["We propose a method that learns continually without forgetting."] * 12)


def digest_message(
    *, papers: int = 5, note: str = "", title: str | None = None, second_topic: str = "",
    scores: tuple[float, float] = (1.0, 0.5), pictures: tuple[int, ...] = (),
    late: tuple[int, ...] = (), lead: dict | None = None, every: dict | None = None,
    also_title: str = "Something else entirely",
    now: dt.datetime = dt.datetime(2025, 11, 24, 12, tzinfo=dt.UTC), **reader,
):
    """The digest email one reader would get, made by the one digest builder.
    `second_topic`: another topic the reader follows, which the first paper is also in
    (`scores`: the first paper's scores for the two topics).
    `pictures`: the papers (by position) that have a picture (the API's thumbnail).
    `late`: the papers (by position) added to Friday's list after Friday's edition
    went out, which the edition takes (newsletter/editions.py).
    `lead`: fields of the first paper other than the defaults (its abstract, authors).
    `every`: fields of every picked paper other than the defaults (`title`: its start,
    ended by the paper's position). `also_title`: the start of the others' titles.
    `now`: when it is made (default: midday of the papers' day, UTC)."""
    topic = TopicFactory(name="Continual learning")
    friday = DAY - dt.timedelta(days=3)
    if late:
        PaperFactory(trending_date=friday, title="Listed on Friday before its edition went out")
        edition_freeze(edition=edition_assemble(date=friday))
    other = TopicFactory(name=second_topic) if second_topic else None
    for n in range(papers):
        paper = PaperFactory(**{
            "trending_date": friday if n in late else DAY, "upvotes": 200 - 10 * n, "num_comments": 3,
            "title": title if (title and n == 0) else f"Learning without forgetting, part {n}",
            "abstract": LONG_ABSTRACT, "github_repo": "https://github.com/example/repo" if n % 2 else "",
            "authors": ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"], "author_count": 7,
            "thumbnail_url": picture_url(n) if n in pictures else "",
            **(lead if lead and n == 0 else {}),
            **{k: f"{v}{n:02d}" if k == "title" else v for k, v in (every or {}).items()},
        })
        PaperTopicFactory(paper=paper, topic=topic, score=scores[0] if n == 0 else 1.0,
                          matched_terms=["catastrophic forgetting"])
        if other and n == 0:
            PaperTopicFactory(paper=paper, topic=other, score=scores[1], matched_terms=["robot"])
    for n in range(3):
        PaperFactory(trending_date=DAY, upvotes=50 - n, title=f"{also_title} {n}")
    edition = edition_assemble(date=DAY)
    Edition.objects.filter(pk=edition.pk).update(note=note)
    edition.refresh_from_db()
    subscriber = SubscriberFactory(papers_per_digest=min(papers, 20) or 1, **reader)
    subscriber.topics.add(topic, *([other] if other else []))
    data = ranking_data_load(date=DAY, subscriber_ids=[subscriber.id])
    message = digest_make(edition=edition, subscriber=subscriber, data=data, now=now).message
    return message, message.alternatives[0][0]


_ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def picture_url(n: int) -> str:
    return f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2511.{n:05d}.png"


@pytest.mark.django_db
def test_the_first_pick_shows_its_picture_linked_to_its_page_and_no_other_card_does():
    message, html = digest_message(papers=4, pictures=(0, 1, 2))
    cards = html.split('<div class="card"')[1:]
    first = cards[0]
    link = re.search(r'<a class="picture"[^>]*>', first)
    image = re.search(r'<img class="picture"[^>]*>', first)
    assert link and image, first[:400]
    # Attributes in the order the inliner writes them.
    link, image = dict(_ATTRIBUTE.findall(link.group(0))), dict(_ATTRIBUTE.findall(image.group(0)))
    page_url = re.search(r'<h3 class="title"[^>]*><a href="([^"]+)"', first).group(1)
    assert link["href"] == page_url  # the picture opens the paper's page, as its title does
    # This site's copy (newsletter/pictures.py): opening the email asks no other host.
    lead = Paper.objects.get(thumbnail_url=picture_url(0))
    assert image["src"] == f"http://testserver{lead.picture_url}" and lead.picture_url.startswith("/pictures/")
    assert image["width"] == "530" and "max-width: 530px" in image["style"]  # a phone shrinks it
    # Decorative beside the title link: no second stop for a keyboard or a screen reader.
    assert image["alt"] == "" and link["aria-hidden"] == "true" and link["tabindex"] == "-1"
    # Papers 1 and 2 have pictures too, but only the lead card shows one.
    assert html.count("<img") == 1
    assert "huggingface.co/social-thumbnails" not in html
    assert "<img" not in message.body and "/pictures/" not in message.body


@pytest.mark.django_db
def test_a_first_pick_without_a_picture_shows_none():
    _, html = digest_message(papers=3, pictures=(1,))
    assert "<img" not in html


@pytest.mark.django_db
def test_the_subject_has_the_brand_the_date_the_top_paper_and_how_many_more():
    message, _ = digest_message(papers=5)
    assert message.subject == "Daily Papers Digest, Mon 24 Nov: Learning without… +4 more"
    assert len(message.subject) <= SUBJECT_MAX_CHARS


@pytest.mark.parametrize(
    ("titles", "weekly", "expected"),
    [
        (["RLP: Reinforcement as a Pretraining Objective",
          "TÜLU 3: Pushing Frontiers in Open Language Model Post-Training",
          "Weak-to-Strong Reasoning", "A", "B"], False,
         "Daily Papers Digest, Mon 24 Nov: RLP, TÜLU 3 +3 more"),
        (["Reverse Thinking Makes LLMs Stronger Reasoners"], True,
         "Daily Papers Digest, week of 18–24 Nov: Reverse Thinking Makes LLMs…"),
        ([], False, "Daily Papers Digest, Mon 24 Nov"),
        (["Agents: planning", "Agents: memory"], False,
         "Daily Papers Digest, Mon 24 Nov: Agents: planning, Agents: memory"),
        (["x" * 200, "Second"], False, "Daily Papers Digest, Mon 24 Nov: " + "x" * 28 + "… +1 more"),
    ],
)
def test_the_subject_fits_as_many_short_names_as_the_limit_allows(titles, weekly, expected):
    subject = digest_subject(site_name="Daily Papers Digest", date=DAY, year=DAY.year, weekly=weekly, titles=titles)
    assert subject == expected
    assert len(subject) <= SUBJECT_MAX_CHARS


@pytest.mark.django_db
@pytest.mark.parametrize(("now", "frequency", "day"), [
    (dt.datetime(2026, 12, 6, 7, tzinfo=dt.UTC), "daily", "24 Nov 2025"),
    (dt.datetime(2025, 11, 25, 7, tzinfo=dt.UTC), "daily", "Mon 24 Nov"),
    (dt.datetime(2026, 12, 6, 7, tzinfo=dt.UTC), "weekly", "week of 18–24 Nov 2025"),
    (dt.datetime(2025, 11, 25, 7, tzinfo=dt.UTC), "weekly", "week of 18–24 Nov"),
])
def test_the_subject_of_an_edition_sent_in_another_year_says_its_year(now, frequency, day):
    """The sample edition of 24 November 2025, sent in December 2026, was "Daily Papers
    Digest, Mon 24 Nov: …": read as this November's. Its day is written as the house
    writes a day beside another year (editions.day_beside): with its year; a weekly
    digest's week likewise (it read "week of 18–24 Nov")."""
    message, _ = digest_message(papers=5, now=now, frequency=frequency)
    assert message.subject.startswith(f"Daily Papers Digest, {day}: Learning")
    assert len(message.subject) <= SUBJECT_MAX_CHARS


@pytest.mark.django_db
def test_each_paper_has_its_links_reason_byline_upvotes_and_chips():
    message, html = digest_message(papers=2)
    # Titles open the paper's page on the site, which has every link the data has.
    assert 'href="http://testserver/papers/2511.' in html
    assert 'href="https://arxiv.org/abs/' in html and 'href="https://arxiv.org/pdf/' in html
    assert 'href="https://github.com/example/repo"' in html
    assert "Continual learning · matched: catastrophic forgetting" in html
    assert "Ada Lovelace, Alan Turing, Grace Hopper and 4 more" in html
    # The count says what it counts; the arrow is not read out.
    assert '<b><span aria-hidden="true">▲</span>&nbsp;200</b>&nbsp;upvotes' in html and "▲ 200 upvotes" in message.body
    assert "More like this" in html and "Less like this" in html
    assert ">Also trending today</h2>" in html  # set in capitals by the style
    assert "Something else entirely 0" in html


@pytest.mark.django_db
def test_the_abstract_is_cut_to_about_two_lines():
    _, html = digest_message(papers=1)
    assert LONG_ABSTRACT not in html
    assert "We propose a method" in html and "…" in html


@pytest.mark.django_db
def test_the_footer_has_manage_unsubscribe_browser_view_and_postal_address(settings):
    message, html = digest_message()
    assert "http://testserver/editions/2025-11-24/" in html
    assert "Unsubscribe" in html and "Manage your preferences" in html
    assert settings.POSTAL_ADDRESS in html
    for url in ("http://testserver/editions/2025-11-24/", settings.POSTAL_ADDRESS):
        assert url in message.body


@pytest.mark.django_db
def test_there_is_a_preheader_and_a_text_part_that_reads_on_its_own():
    message, html = digest_message(papers=3)
    assert "3 papers picked for you today" in html
    body = message.body
    assert "1. Learning without forgetting, part 0" in body
    assert "Continual learning · matched: catastrophic forgetting" in body
    assert "https://arxiv.org/pdf/" in body
    assert "<" not in body.replace("<http", "")  # no markup in the text part


@pytest.mark.django_db
def test_the_text_part_reads_in_a_text_client_with_the_same_picks_in_the_same_order():
    """A text-only client (mutt, a screen reader's plain view, a watch) shows the
    text part as it is: lines of up to 78 characters (the note, long titles, bylines
    and abstracts ran to 300 and more, and a reply quoted them as one line each), an
    address whole on its line, never followed by a full stop that a client's
    linkifier takes in ("subscribed at http://testserver/." opened "/."), no markup
    or entities, the manage and unsubscribe links, and the HTML's papers in its order."""
    note = ("**Big day** for agents & tools: read [the thread](https://example.com/thread) "
            "and the paper everyone talks about.\n\n- a list item that goes on and on about something that matters "
            "a great deal to readers\n- two")
    message, html = digest_message(
        papers=4, note=note, title="A very long title about continual learning in large models " * 4,
        lead={"authors": [LONG_NAME] * 4, "author_count": 9}, time_zone="America/New_York",
    )
    body = message.body
    address = re.compile(r"https?://\S+")
    for line in body.splitlines():
        assert len(line) <= 78 or (address.search(line) and " " not in line.strip().split(": ", 1)[-1]), line
        assert not re.search(r"https?://\S*[.,;]$", line), line
    assert not re.search(r"</?[a-zA-Z][^>]*>|&[a-z]+;|&#\d+;|\*\*", body)
    assert "3. Learning without forgetting, part 2" in body
    assert "   We propose a method that learns continually without forgetting. We\n   propose" in body
    # A list item of the note hangs under its words.
    assert "- a list item that goes on and on about something that matters a great\n  deal to readers\n" in body
    assert "\nhttp://testserver/\n" in body
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert f"\nUnsubscribe: {unsubscribe}\n" in body
    assert re.search(r"\nManage your preferences: http://testserver/manage/\S+\n", body)
    # The same papers in the same order: each one's page, as the HTML's titles link it.
    pages = re.compile(r"http://testserver/papers/[^\s\"/]+/")
    in_html = pages.findall("".join(re.findall(r'<h3 class="title[^"]*"[^>]*><a href="[^"]+"', html)))
    assert len(in_html) == 4 + 3 and pages.findall(body) == in_html


@pytest.mark.django_db
def test_titles_are_escaped_in_html_and_the_subject_is_one_line():
    message, html = digest_message(papers=2, title='Attention <script>alert("x")</script> & more\nInjected: header')
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "\n" not in message.subject


@pytest.mark.django_db
def test_the_editors_note_is_markdown_made_safe():
    note = "**Big day** for [agents](https://example.com).\n\n<script>alert(1)</script><img src=x onerror=alert(1)>"
    _, html = digest_message(note=note)
    assert "<strong>Big day</strong>" in html
    assert 'href="https://example.com"' in html
    assert "<script>alert(1)" not in html and "onerror" not in html


@pytest.mark.django_db
def test_the_why_line_is_not_repeated_by_a_chip_and_other_topics_are():
    """The reason names the paper's topic; a chip only adds the topics it does not."""
    _, html = digest_message(papers=1, second_topic="Robotics", scores=(0.6, 0.55))
    card = re.sub(r'<div class="preview".*?</div>', "", html).split("Also trending")[0]
    assert card.count("Continual learning · matched: catastrophic forgetting") == 1
    assert ">Continual learning</span>" not in card
    assert re.search(r'<span class="chip"[^>]*>Robotics</span>', card)


@pytest.mark.django_db
def test_a_topic_the_paper_only_just_passes_for_gets_no_chip_in_the_digest_either():
    """The reader follows both topics; the paper is about the first (0.6) and only
    just passes for the second (0.31): the card says the first, as the site's does."""
    _, html = digest_message(papers=1, second_topic="Robotics", scores=(0.6, 0.31))
    card = re.sub(r'<div class="preview".*?</div>', "", html).split("Also trending")[0]
    assert "Continual learning · matched: catastrophic forgetting" in card
    assert ">Robotics</span>" not in card


@pytest.mark.django_db
def test_the_header_says_how_many_papers_not_the_first_papers_reason():
    _, html = digest_message(papers=3)
    header = re.sub(r'<div class="preview".*?</div>', "", html.split('<p class="why"')[0])
    assert "Monday 24 November 2025 · 3 papers picked for you today" in header
    assert "matched" not in header


@pytest.mark.django_db
def test_the_preview_text_names_the_picks_topics_not_the_first_papers_reason():
    _, html = digest_message(papers=3, second_topic="Robotics", scores=(0.6, 0.55))
    preview = re.search(r'<div class="preview"[^>]*>([^<]*)</div>', html).group(1)
    assert preview == "3 papers picked for you today, on Continual learning and Robotics"


@pytest.mark.django_db
@pytest.mark.parametrize(("zone", "hour", "said"), [
    ("America/New_York", 7, "a digest every weekday around 07:00 EST (America/New_York)"),
    ("Asia/Tokyo", 18, "a digest every weekday around 18:00 JST (Asia/Tokyo)"),
])
def test_the_footer_says_when_the_digest_comes_in_the_readers_zone(zone, hour, said):
    message, html = digest_message(papers=2, time_zone=zone, delivery_hour=hour)
    assert f"Your schedule: {said}." in html
    assert f"Your schedule: {said}." in message.body


@pytest.mark.django_db
def test_feedback_links_are_words_no_emoji_glyph_that_may_render_as_a_box():
    message, html = digest_message(papers=2)
    emoji = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
    assert not emoji.search(html) and not emoji.search(message.body)
    assert ">More like this</a>" in html and ">Less like this</a>" in html


# Gmail clips an email whose HTML passes 102 KB; kept under with room to spare.
GMAIL_CLIP_BYTES = 102 * 1000
HTML_BUDGET_BYTES = 100 * 1024 - 2 * 1024
LONG_NAME = "Maximilian-Alexander Żółtowski-Grzegorzewski-Wiśniewski"


@pytest.mark.django_db
@pytest.mark.parametrize("letter", ["a", "語"], ids=["latin", "three-byte-script"])
def test_the_largest_digest_the_product_can_make_stays_under_gmails_clipping_size(letter):
    """Gmail clips an email past 102 KB and hides the rest behind "[Message clipped]":
    the unsubscribe link and the postal address with it. The worst case: the most
    papers a reader can ask for, every title as long as Paper.title holds (500
    characters, in a script of three bytes a letter too), long bylines and code links,
    a second topic's chip, the reader's keywords in the why line, the picture, and the
    longest note an editor may write (NOTE_MAX_CHARS, links in it). Before the card's
    title was cut (CARD_TITLE_MAX_CHARS), the three-byte case was 101,012 bytes, the
    Latin one 80,388 (now 81,212 and 73,328), and the note had no limit: with 2,200
    characters of note the three-byte case was 105,800."""
    from newsletter.digest import CARD_TITLE_MAX_CHARS
    from newsletter.models import NOTE_MAX_CHARS

    title = (letter * 9 + " ") * 49 + letter * 8  # 498 characters, the position makes 500
    note = ("A [long link](https://example.com/" + "p" * 40 + ") for readers. ") * 20
    _, html = digest_message(
        papers=MAX_PAPERS_PER_DIGEST, note=note[:NOTE_MAX_CHARS], pictures=(0,),
        second_topic="Robotics and embodied agents", keywords="retrieval, reasoning, agents",
        every={"title": title, "authors": [LONG_NAME] * 4, "author_count": 40,
               "github_repo": "https://github.com/" + "r" * 280},
        also_title=title[:490],
    )
    size = len(html.encode())
    assert size < HTML_BUDGET_BYTES < GMAIL_CLIP_BYTES, size
    cards = re.findall(r'<h3 class="title[^"]*"[^>]*><a [^>]*>([^<]*)</a>', html)
    assert len(cards) == MAX_PAPERS_PER_DIGEST + 3  # the picks and the also-trending
    assert all(len(t) <= CARD_TITLE_MAX_CHARS and t.endswith("…") for t in cards)
    assert 'href="https://example.com/' in html  # the note is in
    after_last_card = html.rsplit(cards[-1], 1)[1]
    assert "Unsubscribe</a>" in after_last_card and "Example Street" in after_last_card


@pytest.mark.django_db
def test_the_preview_text_is_hidden_without_a_low_contrast_colour_or_tiny_font():
    """Spam filters score text in a colour close to its background (SpamAssassin's
    HTML_FONT_LOW_CONTRAST): the preview is hidden by display and size only."""
    _, html = digest_message(papers=2)
    preview = re.search(r'<div class="preview" style="([^"]*)">([^<]*)</div>', html)
    assert preview and preview.group(2).startswith("2 papers picked for you today")
    style = preview.group(1).replace(" ", "")
    assert "display:none" in style
    assert "color" not in style and "font-size" not in style and "opacity" not in style
    assert html.count(preview.group(2)) == 1  # not also shown in the header


@pytest.mark.django_db
@pytest.mark.parametrize(("zone", "now", "picked", "also"), [
    # 07:00 on Tuesday in Tokyo is still Monday in UTC: the reader gets Monday's papers.
    ("Asia/Tokyo", dt.datetime(2025, 11, 24, 22, tzinfo=dt.UTC), "", "on Monday"),
    ("Europe/Paris", dt.datetime(2025, 11, 24, 6, tzinfo=dt.UTC), " today", "today"),
    # An edition sent (or test-sent) weeks after its day names the date.
    ("UTC", dt.datetime(2025, 12, 19, 7, tzinfo=dt.UTC), "", "on 24 November"),
])
def test_the_digest_says_today_only_when_its_papers_day_is_the_readers_today(zone, now, picked, also):
    message, html = digest_message(papers=2, time_zone=zone, now=now)
    header = re.sub(r'<div class="preview".*?</div>', "", html.split('<p class="why"')[0])
    assert f"Monday 24 November 2025 · 2 papers picked for you{picked}</p>" in header
    preview = re.search(r'<div class="preview"[^>]*>([^<]*)</div>', html).group(1)
    assert preview.startswith(f"2 papers picked for you{picked}, on Continual learning")
    # In words for a screen reader (set in capitals by the style), in capitals in the text part.
    assert f">Also trending {also}</h2>" in html and f">Picked for you{picked}</h2>" in html
    assert f"PICKED FOR YOU{picked.upper()}\n" in message.body and f"ALSO TRENDING {also.upper()}" in message.body
    if not picked:
        assert "today" not in html.lower() and "today" not in message.body.lower()


@pytest.mark.django_db
def test_a_weekly_digest_says_so_and_names_the_days_it_covers():
    """It read "Your week to Monday 24 November 2025": which week? The seven days
    whose papers it takes are named, in both parts and the subject."""
    message, html = digest_message(papers=2, frequency="weekly")
    assert "picked for you this week" in html
    assert "Your week, 18–24 November 2025 ·" in html
    assert message.body.splitlines()[0].endswith("week of 18–24 November 2025")
    assert message.subject.startswith("Daily Papers Digest, week of 18–24 Nov: ")


@pytest.mark.parametrize(("date", "long", "short", "read_a_year_after"), [
    (dt.date(2025, 11, 24), "18–24 November 2025", "18–24 Nov", "18–24 Nov 2025"),
    (dt.date(2025, 12, 3), "27 November – 3 December 2025", "27 Nov – 3 Dec", "27 Nov – 3 Dec 2025"),
    (dt.date(2026, 1, 2), "27 December 2025 – 2 January 2026", "27 Dec 2025 – 2 Jan", "27 Dec 2025 – 2 Jan 2026"),
])
def test_a_weeks_days_are_named_across_months_and_years(date, long, short, read_a_year_after):
    """In a subject (beside the reader's year) a day has its year when it is another,
    as editions.day_beside writes one: the week across New Year read in January says
    the December's."""
    assert week_span(date) == long
    assert (week_span(date, year=date.year), week_span(date, year=date.year + 1)) == (short, read_a_year_after)


@pytest.mark.django_db
def test_the_digest_says_it_is_made_for_light_and_dark_so_mail_apps_use_its_dark_rules():
    """Apple Mail and Outlook for Mac use an email's prefers-color-scheme rules only
    when it declares both schemes (the meta, under both names, and the property);
    otherwise they darken it their own way. The digest had the dark rules but not
    the declaration."""
    _, html = digest_message(papers=2)
    head = html.split("</head>")[0]
    assert '<meta name="color-scheme" content="light dark">' in head
    assert '<meta name="supported-color-schemes" content="light dark">' in head
    root = re.search(r"<html [^>]*>", html).group(0)
    assert 'style="color-scheme: light dark;supported-color-schemes: light dark;"' in root
    assert "@media (prefers-color-scheme: dark)" in head


@pytest.mark.django_db
def test_outlook_for_windows_gets_msos_fixed_width_tables_and_sizes_in_attributes():
    """Outlook for Windows (Word's engine) ignores max-width and most CSS sizes: MRML's
    conditional tables give it the 600 px body, its settings block the 96 dpi scale,
    and the picture's width is an attribute; the CSS inliner keeps all of them."""
    _, html = digest_message(papers=3, pictures=(0,))
    assert re.search(r'<!--\[if mso \| IE\]><table [^>]*align="center" width="600"', html)
    assert "<o:PixelsPerInch>96</o:PixelsPerInch>" in html and 'xmlns:o="urn:schemas-microsoft-com:office:office"' in html
    assert re.search(r'<img class="picture" width="530" ', html)


@pytest.mark.django_db
def test_no_inlined_colour_is_important_so_the_dark_mode_rules_can_win():
    """A `style="color: ... !important"` on an element beats every rule of the <style>
    block, the dark-mode ones included; only the dark rules themselves may use it."""
    _, html = digest_message(papers=3, note="A note.")
    inline_styles = re.findall(r'style="([^"]*)"', html)
    assert inline_styles and not [s for s in inline_styles if "!important" in s]
    assert html.startswith("<!DOCTYPE html><html lang=\"en\"")
    assert len(re.findall(r'<h3 class="title"', html)) == 3


@pytest.mark.django_db
def test_the_text_part_says_what_the_html_cards_say():
    """The HTML part's card shows a pick's comments, and an also-trending item its
    authors; the text part showed neither (a newcomer's walkthrough of the outbox,
    6 December 2026). Nor the pick's other topics, its chips (the why line names the
    one it matched): "also in Robotics" in text."""
    message, html = digest_message(papers=2, second_topic="Robotics", scores=(0.6, 0.55))
    cards = {c.split("part ")[1][0]: c for c in html.split('<div class="card"')[1:] if "part " in c}
    texts = {c.split("part ")[1][0]: c for c in re.split(r"\n\d\. ", message.body)[1:3]}
    assert "3 comments" in cards["0"] and "3 comments" in texts["0"]
    # Part 0 is in Robotics too: a chip in HTML, "also in Robotics" in text.
    assert re.search(r'<span class="chip"[^>]*>Robotics</span>', cards["0"])
    assert "   Continual learning · matched: catastrophic forgetting · also in Robotics\n" in texts["0"]
    # Part 1 is in no other topic: no chip, nothing after its why line.
    assert 'class="chip"' not in cards["1"] and "also in" not in texts["1"]
    assert "   Continual learning · matched: catastrophic forgetting\n" in texts["1"]
    also_html = html.split("Something else entirely 0")[1].split("Something else entirely 1")[0]
    also_text = message.body.split("- Something else entirely 0")[1].split("\n- ")[0]
    assert "Ada Lovelace, Alan Turing" in also_html and "Ada Lovelace, Alan Turing" in also_text


@pytest.mark.django_db
def test_an_abstract_that_fits_is_shown_whole_and_a_cut_one_ends_on_a_word_not_a_comma():
    """The card's abstract is cut at ABSTRACT_MAX_CHARS: one of exactly that length
    fits and keeps its last word with no "…"; a cut one ends on a whole word, without
    the comma that followed it ("alpha,…"). (The AI summary is shown when a paper has one.)"""
    fits = ("abcd " * 32)[:-1] + "z"
    assert len(fits) == ABSTRACT_MAX_CHARS
    message, html = digest_message(papers=2, lead={"ai_summary": fits},
                                   every={"abstract": "x" * 140 + " alpha, betagammadeltaepsilonzeta"})
    text = " ".join(message.body.split())  # the text part is wrapped at 78 characters
    assert f"{fits}</p>" in html and f"{fits} Read:" in text
    assert "alpha…</p>" in html and "alpha,…" not in html
    assert "alpha… Read:" in text and "alpha,…" not in text


def test_a_title_or_short_name_exactly_at_its_limit_is_kept_whole():
    """A title of exactly the limit is not cut ("…" read as if something were missing),
    and a name before the colon of exactly SHORT_NAME_MAX_CHARS still names the paper
    in the subject."""
    assert subject_title("t" * SUBJECT_TITLE_MAX_CHARS) == "t" * SUBJECT_TITLE_MAX_CHARS
    assert subject_title("t" * (SUBJECT_TITLE_MAX_CHARS + 1)).endswith("…")
    name = "N" * SHORT_NAME_MAX_CHARS
    subject = digest_subject(site_name="DPD", date=DAY, year=DAY.year, weekly=False,
                             titles=[f"{name}: a long explanation of what it does"])
    assert subject == f"DPD, Mon 24 Nov: {name}"


def _ranked(title: str, topics: list[str], reason: str = "Trending") -> RankedPaper:
    return RankedPaper(paper=PaperFactory(trending_date=DAY, title=title), score=1.0, relevance=1.0,
                       reason=reason, topics=topics)


@pytest.mark.django_db
def test_a_paper_in_four_topics_shows_three_chips():
    ranked = _ranked("Many topics", ["Agents", "Vision", "Robotics", "Speech"])
    assert card_topics(ranked) == ["Agents", "Vision", "Robotics"]
    assert card_topics(ranked, 1) == ["Agents", "Vision", "Robotics"]


@pytest.mark.django_db
@pytest.mark.parametrize(("picks", "also", "summary", "preheader"), [
    ([["Agents"]], [], "1 paper picked for you today", "1 paper picked for you today, on Agents"),
    ([["Agents", "Vision"], ["Robotics"], ["Speech"]], [],
     "3 papers picked for you today", "3 papers picked for you today, on Agents, Vision, Robotics and more"),
    ([["Agents", "Vision"], ["Robotics"]], [],
     "2 papers picked for you today", "2 papers picked for you today, on Agents, Vision and Robotics"),
    ([], [["Agents"]], "1 trending paper today", "1 trending paper today"),
    ([], [["Agents"], []], "2 trending papers today", "2 trending papers today"),
])
def test_the_header_and_preview_text_count_in_words_that_agree_with_the_number(picks, also, summary, preheader):
    """"1 papers picked for you" is what a reader of one paper a day would read; and
    the preview text names three topics, then says there are more (it named three of
    four as if they were all)."""
    edition = edition_assemble(date=DAY)
    selection = DigestSelection(
        papers=[_ranked(f"Pick {n}", topics, reason=f"{topics[0]} · matched: x") for n, topics in enumerate(picks)],
        also_trending=[_ranked(f"Also {n}", topics) for n, topics in enumerate(also)],
    )
    context = digest_context(edition=edition, selection=selection, today=DAY)
    assert (context["summary"], context["preheader"]) == (summary, preheader)


@pytest.mark.parametrize(("today", "when"), [
    (DAY + dt.timedelta(days=1), "on Monday"),
    (DAY + dt.timedelta(days=WEEKDAY_NAMED_WITHIN), "on Monday"),
    (DAY + dt.timedelta(days=WEEKDAY_NAMED_WITHIN + 1), "on 24 November"),
    (DAY - dt.timedelta(days=WEEKDAY_NAMED_WITHIN), "on Monday"),
])
def test_a_papers_day_is_named_by_its_weekday_within_six_days_and_by_its_date_further_off(today, when):
    """A week later "on Monday" would read as the Monday just gone; within six days
    the weekday is the one the reader thinks of."""
    period = edition_period(date=DAY, weekly=False, today=today)
    assert (period.when, period.picked) == (when, "")


@pytest.mark.django_db
@pytest.mark.parametrize(("frequency", "said"), [("daily", True), ("weekly", False)])
def test_only_a_daily_digest_says_a_paper_of_fridays_list_came_late(frequency, said):
    """Monday's daily digest says a paper added to Friday's list after Friday's digest
    came late; a weekly digest takes the week's papers, Friday's among them, and says
    nothing of the kind (it would have called every earlier day's paper late). So
    does the digest an editor is test-sent, made without the reader's links."""
    message, _ = digest_message(papers=3, late=(1,), frequency=frequency, weekday=0)
    test_send = digest_make(
        edition=Edition.objects.get(date=DAY), subscriber=(reader := Subscriber.objects.get()),
        data=ranking_data_load(date=DAY, subscriber_ids=[reader.id]), personal_links=False,
        now=dt.datetime(2025, 11, 24, 12, tzinfo=dt.UTC),
    ).message
    label = "added to Friday’s list after its edition went out"
    for sent in (message, test_send):
        sent_html = sent.alternatives[0][0].replace("&#x27;", "'").replace("&#39;", "'")
        assert (label in sent_html, label in sent.body) == (said, said)
        assert "added to" not in sent_html.split("part 0")[1].split("part 1")[0]


@pytest.mark.django_db
def test_a_title_on_two_lines_makes_a_one_line_subject_that_sends():
    """A paper's title with a line break (as some arXiv titles come) at its start made
    a subject of two lines, which no mail server takes as a header: the digest
    could not be sent. It reads on one line."""
    message, _ = digest_message(papers=2, title="Two lines\nof a title")
    assert message.subject.startswith("Daily Papers Digest, Mon 24 Nov: Two lines of a title")
    message.message()  # what the backend sends: a header of one line


@pytest.mark.django_db
def test_a_digest_names_its_days_as_its_masthead_does_whatever_the_process_locale(german_time_locale):
    """Under a German LC_TIME a digest made on Tuesday said "Monday 24 November 2025"
    in its masthead (the date filter: Django's names) and "ALSO TRENDING ON MONTAG",
    "added to Freitag's list" (strftime's names) under it."""
    message, html = digest_message(late=(1,), now=dt.datetime(2025, 11, 25, 12, tzinfo=dt.UTC))

    for part in (message.body, html):
        assert "Monday 24 November 2025" in part
        assert "added to Friday’s list after its edition went out" in part
    assert "ALSO TRENDING ON MONDAY" in message.body


@pytest.mark.django_db
def test_the_text_parts_upvotes_keep_their_arrow_on_the_line_of_their_count():
    """The plain-text part of a digest (the outbox, 7 December 2026) read
    "- Orca: Progressive Learning from Complex Explanation Traces of GPT-4 (▲" with
    "18 upvotes)" on the next line: the wrap broke between the arrow and its count,
    which the HTML part keeps together with no-break spaces. The text part keeps
    them together too, as plain spaces."""
    # "- " + title + " (▲" fills the 72 characters of a line to the arrow.
    title = "Progressive Learning from Complex Explanation Traces of a Model"
    message, _ = digest_message(papers=2, also_title=title.ljust(65, "s"))
    assert [line for line in message.body.splitlines() if line.rstrip().endswith("▲")] == []
    assert "(▲ 50 upvotes)" in message.body.replace("\n  ", " ") and "\u00a0" not in message.body
