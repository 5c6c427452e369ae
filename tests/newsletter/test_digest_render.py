"""The batch renderer (newsletter/digest_render.py) assembles each reader's digest from
a proof rendered once per edition. What a reader gets must be exactly what the
templates make for them (mail/rendering.py, email_render), hostile text included."""

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail

from mail.rendering import email_render
from newsletter import digest_render
from newsletter.delivery import deliveries_create, digest_send_batch
from newsletter.digest import digest_context, digest_make, digest_proof_context
from newsletter.editions import edition_assemble
from newsletter.models import Edition
from newsletter.ranking import digest_select, ranking_data_load
from newsletter.templatetags.digest_cuts import MARK
from subscribers.models import Subscriber
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

BASE_DIR = Path(__file__).resolve().parents[2]
DAY = dt.date(2025, 11, 24)
NOW = dt.datetime(2025, 11, 24, 7, 5, tzinfo=dt.UTC)
HOSTILE = """<script>alert(1)</script> & "quotes" 'apostrophes' \u00a0non-breaking < > &amp;"""


@pytest.fixture
def day(db):
    return day_create()


def day_create() -> dict:
    """A day of papers with hostile text in titles, abstracts, a topic name, the note."""
    agents = TopicFactory(name='Agents & "Tools" <RL>')
    vision = TopicFactory(name="Vision")
    papers = []
    for n in range(9):
        paper = PaperFactory(
            trending_date=DAY, upvotes=300 - 20 * n, num_comments=n % 3,
            title=f"Paper {n}: {HOSTILE}" if n % 4 == 0 else f"Agents that plan, part {n}",
            abstract=f"We study agents. {HOSTILE} " * (3 if n % 2 else 1),
            github_repo="https://github.com/example/a?x=1&y=\"2\"" if n % 3 == 0 else "",
            author_count=1 if n == 5 else 4,
            pinned=n == 7,
            # Some papers have a picture (the lead card shows it), one with a URL to escape.
            thumbnail_url=(f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{n}.png?a=1&b=\"x\"" if n % 2 == 0 else ""),
        )
        if n < 6:
            PaperTopicFactory(paper=paper, topic=agents, score=0.9 - n / 20,
                              matched_terms=["agent & tool", 'say "plan"'])
        if n in (2, 6):
            PaperTopicFactory(paper=paper, topic=vision, score=0.8, matched_terms=["vision"])
        papers.append(paper)
    edition = edition_assemble(date=DAY)
    Edition.objects.filter(pk=edition.pk).update(note=f"**Big day.** {HOSTILE}")
    edition.refresh_from_db()
    return {"edition": edition, "agents": agents, "vision": vision, "papers": papers}


def _readers(day):
    agents, vision = day["agents"], day["vision"]
    made = []
    for kwargs, topics in [
        ({}, [agents]),
        ({"frequency": Subscriber.Frequency.WEEKLY, "weekday": 0}, [agents, vision]),
        ({"keywords": 'plan, "tools" & more'}, [vision]),
        ({"exclude_keywords": "part 3, part 5"}, [agents]),
        ({}, []),  # everything: no also-trending block
        ({"keywords": "nothing at all matches this"}, []),  # only also-trending
        ({"only_with_code": True, "papers_per_digest": 2}, [agents]),
    ]:
        reader = SubscriberFactory(**kwargs)
        reader.topics.set(topics)
        made.append(reader)
    return made


def test_every_readers_assembled_digest_is_byte_for_byte_the_template_render(day):
    edition = day["edition"]
    readers = _readers(day)
    data = ranking_data_load(date=DAY, subscriber_ids=[r.id for r in readers])
    shapes = set()
    pictured = set()
    for reader in readers:
        selection = digest_select(subscriber=reader, date=DAY, data=data)
        context = digest_context(edition=edition, selection=selection, subscriber=reader)
        context["unsubscribe_url"] = f"https://example.com/u/{reader.pk}?a=1&b=\"x\""
        proof = digest_render.digest_proof(
            context=digest_proof_context(edition=edition, weekly=context["weekly"], data=data)
        )
        assembled = proof.render(context)
        expected = email_render(template="digest", context=context)
        assert assembled.subject == expected.subject
        assert assembled.text == expected.text
        assert assembled.html == expected.html
        shapes.add((bool(context["papers"]), bool(context["also_trending"]), context["weekly"]))
        lead = context["papers"][0] if context["papers"] else None
        pictured.add(bool(lead and lead["picture_url"]))
        assert assembled.html.count('<img class="picture"') == (1 if lead and lead["picture_url"] else 0)
    # The readers above cover every shape of digest: picks with and without the
    # also-trending block, only also-trending, daily and weekly; a first pick with a
    # picture and one without.
    assert {(True, True, False), (True, False, False), (False, True, False), (True, True, True)} <= shapes
    assert pictured == {True, False}


def empty_day_create() -> tuple[Edition, Subscriber]:
    """A day with nothing on the reader's topic (speech): four papers of other fields,
    embedded as an import does, and the topic made as the admin makes it (with its
    vectors), so the digest offers the papers closest to it."""
    from newsletter.relevance import papers_score
    from newsletter.services import topic_create

    day = [
        PaperFactory(trending_date=DAY, upvotes=40 - n, title=title, abstract=abstract)
        for n, (title, abstract) in enumerate([
            ("Agents that browse the web", "A language-model agent plans, clicks and fills in forms."),
            ("Faster attention kernels", "We fuse the attention computation into one GPU kernel."),
            ("Sparse rewards for diffusion", "Reinforcement learning fine-tunes an image diffusion model."),
            ("Message passing on molecular graphs", "A graph neural network predicts molecules' properties."),
        ])
    ]
    papers_score(papers=day)
    speech = topic_create(topic=TopicFactory.build(
        name="Speech & audio", slug="speech-audio", keywords="speech recognition\ntext-to-speech",
        description="Models that hear and speak: speech recognition, text-to-speech, audio."))
    reader = SubscriberFactory(papers_per_digest=5)
    reader.topics.add(speech)
    return edition_assemble(date=DAY), reader


@pytest.mark.django_db
def test_an_empty_days_digest_names_the_topic_each_closest_paper_is_near():
    """Assembled from a proof made for every reader, the closest papers' line ended in
    a bare " ·": the proof's item had the paper's own topic, the reader's had none
    (its nearest topic was dropped because its reason named it)."""
    edition, reader = empty_day_create()
    data = ranking_data_load(date=DAY, subscriber_ids=[reader.id])
    selection = digest_select(subscriber=reader, date=DAY, data=data)
    context = digest_context(edition=edition, selection=selection, subscriber=reader)
    context["unsubscribe_url"] = f"https://example.com/u/{reader.pk}"
    proof = digest_render.digest_proof(
        context=digest_proof_context(edition=edition, weekly=False, data=data))

    assembled = proof.render(context)

    assert assembled.html == email_render(template="digest", context=context).html
    assert len(selection.closest) == 3 and not selection.papers
    for ranked in selection.closest:
        # Its nearest topic, said as such: a bare "· Speech & audio" under "nothing
        # matched" read as a match (a reader's walkthrough of several days).
        assert f"{ranked.paper.upvotes}&nbsp;upvotes · {ranked.paper.byline} · closest to Speech &amp; audio</p>" in assembled.html
    assert " · </p>" not in assembled.html


def test_the_proof_leaves_no_marks_or_slots_in_what_readers_get(day):
    readers = _readers(day)
    edition = day["edition"]
    ids = deliveries_create(edition=edition, subscriber_ids=[r.id for r in readers], now=NOW)
    outcome = digest_send_batch(delivery_ids=ids, now=NOW)
    assert len(outcome.sent) == len(readers)
    for message in mail.outbox:
        html = message.alternatives[0][0]
        for body in (html, message.body, message.subject):
            assert f"dpd{MARK}" not in body and "@@dpd" not in body
        assert "<script>alert" not in html  # the hostile title stayed text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_text_that_spells_a_marker_stays_text(db, settings):
    """A hostile tester put "@@dpd:unsubscribe_url@@" in a paper's code link: every
    reader's email linked the site they chose with that reader's unsubscribe link;
    "@@dpd:nope@@" in a title failed the edition for 11 of 12 readers (KeyError); a
    cut marker in a title would cut the plain-text part. Markers now carry a random
    per-process part nobody can write, and each reader's email is what the templates
    render for them, the text shown as written."""
    from subscribers.tokens import subscriber_links

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    agents = TopicFactory(name="Marker agents")
    spelled = "@@dpd:manage_url@@ <!--dpd-cut:footer--> @@dpd:nope@@"
    for n in range(3):
        paper = PaperFactory(trending_date=DAY, upvotes=50 - n, title=f"Agents {n} {spelled}",
                             abstract=f"Agents plan. {spelled}",
                             github_repo=f"https://evil.example/code?u=@@dpd:unsubscribe_url@@&n={n}")
        PaperTopicFactory(paper=paper, topic=agents, score=0.9, matched_terms=["agents"])
    edition = edition_assemble(date=DAY)
    Edition.objects.filter(pk=edition.pk).update(note="[Your settings](https://evil.example/n?t=@@dpd:manage_url@@)")
    readers = [SubscriberFactory() for _ in range(3)]
    for reader in readers:
        reader.topics.set([agents])
    ids = deliveries_create(edition=edition, subscriber_ids=[r.id for r in readers], now=NOW)

    outcome = digest_send_batch(delivery_ids=ids, now=NOW)

    assert len(outcome.sent) == 3 and not outcome.failed
    for reader in readers:
        [message] = [m for m in mail.outbox if m.to == [reader.email]]
        html = message.alternatives[0][0]
        manage, _ = subscriber_links(subscriber=reader)
        assert "https://evil.example/code?u=@@dpd:unsubscribe_url@@&amp;n=0" in html
        assert "https://evil.example/n?t=@@dpd:manage_url@@" in html
        assert "evil.example/code?u=http" not in html and "evil.example/n?t=http" not in html
        assert "&lt;!--dpd-cut:footer--&gt;" in html and "<!--dpd-cut:footer-->" in message.body
        assert message.body.count(manage) == 1  # the footer's own link only


def test_the_markers_secret_is_long_and_new_in_every_process():
    """The part of a marker nobody can write: were it fixed (or short), it would be in
    the source for anyone to spell in a title, and a title could cut the text part."""
    code = "from newsletter.templatetags.digest_cuts import MARK; print(MARK)"
    marks = {subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True,
                            check=True).stdout.strip() for _ in range(2)} | {MARK}

    assert len(marks) == 3
    assert all(re.fullmatch(r"[0-9a-f]{16,}", mark) for mark in marks)


def test_a_sent_digest_is_what_the_templates_render_for_that_reader(day):
    """Through the real batch: the HTML handed to the ESP equals email_render's."""
    reader = _readers(day)[1]  # weekly, two topics
    edition = day["edition"]
    [delivery_id] = deliveries_create(edition=edition, subscriber_ids=[reader.id], now=NOW)
    digest_send_batch(delivery_ids=[delivery_id], now=NOW)
    [message] = mail.outbox
    html = message.alternatives[0][0]
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")
    view = message.body.split("View in browser: ")[1].split()[0]
    data = ranking_data_load(date=DAY, subscriber_ids=[reader.id])
    selection = digest_select(subscriber=reader, date=DAY, data=data)
    # Made on the reader's date at the send (the subject gives a day of another year its year).
    context = digest_context(edition=edition, selection=selection, subscriber=reader, today=NOW.date())
    context.update(unsubscribe_url=unsubscribe, view_in_browser_url=view)
    expected = email_render(template="digest", context=context)
    assert (message.subject, message.body, html) == (expected.subject, expected.text, expected.html)


def test_an_editors_change_to_a_paper_makes_a_new_proof(day):
    edition = day["edition"]
    reader = _readers(day)[0]
    data = ranking_data_load(date=DAY, subscriber_ids=[reader.id])
    first = digest_render.digest_proof(context=digest_proof_context(edition=edition, weekly=False, data=data))
    paper = day["papers"][1]
    paper.title = "A corrected title"
    paper.save()
    data = ranking_data_load(date=DAY, subscriber_ids=[reader.id])
    second = digest_render.digest_proof(context=digest_proof_context(edition=edition, weekly=False, data=data))
    assert second is not first
    selection = digest_select(subscriber=reader, date=DAY, data=data)
    context = digest_context(edition=edition, selection=selection, subscriber=reader)
    context["unsubscribe_url"] = "https://example.com/u/1"
    assert "A corrected title" in second.render(context).html


def test_a_proof_follows_the_site_url(day, settings):
    edition = day["edition"]
    reader = _readers(day)[0]
    data = ranking_data_load(date=DAY, subscriber_ids=[reader.id])
    selection = digest_select(subscriber=reader, date=DAY, data=data)
    for site in ("https://papers.example.com", "https://digest.example.org"):
        settings.SITE_URL = site
        context = digest_context(edition=edition, selection=selection, subscriber=reader)
        context["unsubscribe_url"] = f"{site}/u/1"
        proof = digest_render.digest_proof(
            context=digest_proof_context(edition=edition, weekly=False, data=data)
        )
        assert proof.render(context).html == email_render(template="digest", context=context).html
        assert f'href="{site}/"' in proof.render(context).html


@pytest.mark.parametrize(("zone", "said"), [
    ("America/New_York", "07:00 EST (America/New_York)"), ("Asia/Tokyo", "07:00 JST (Asia/Tokyo)"),
])
def test_a_sent_digest_says_when_the_next_comes_in_the_readers_zone(day, zone, said):
    """The batch loads the reader's zone with them (newsletter/delivery.py) and the
    footer shows their delivery hour with the zone's abbreviation on the edition's day."""
    reader = SubscriberFactory(time_zone=zone, delivery_hour=7)
    reader.topics.set([day["agents"]])
    ids = deliveries_create(edition=day["edition"], subscriber_ids=[reader.id], now=NOW)
    digest_send_batch(delivery_ids=ids, now=NOW)
    [message] = mail.outbox
    line = f"Your schedule: a digest every weekday around {said}."
    assert line in message.alternatives[0][0]
    assert line in message.body
    # Not in the words (a signed link's random characters may spell it).
    assert "UTC" not in re.sub(r"https?://\S+", "", message.body)


def test_one_batch_names_the_papers_day_by_each_readers_own_date(day):
    """At 22:00 UTC on Monday it is Tuesday morning in Tokyo and Monday evening in
    Paris: from the same proof, the Tokyo reader's digest says Monday's papers, the
    Paris reader's says today's."""
    tokyo = SubscriberFactory(time_zone="Asia/Tokyo", delivery_hour=7)
    paris = SubscriberFactory(time_zone="Europe/Paris", delivery_hour=23)
    for reader in (tokyo, paris):
        reader.topics.set([day["agents"]])
    ids = deliveries_create(edition=day["edition"], subscriber_ids=[tokyo.id, paris.id], now=NOW)
    digest_send_batch(delivery_ids=ids, now=dt.datetime(2025, 11, 24, 22, tzinfo=dt.UTC))
    by_reader = {m.to[0]: m for m in mail.outbox}
    tokyo_mail, paris_mail = by_reader[tokyo.email], by_reader[paris.email]
    assert "PICKED FOR YOU\n" in tokyo_mail.body and "ALSO TRENDING ON MONDAY" in tokyo_mail.body
    assert re.search(r"Monday 24 November 2025 · \d+ papers picked for you</p>", tokyo_mail.alternatives[0][0])
    assert "today" not in tokyo_mail.body.lower()
    assert "PICKED FOR YOU TODAY" in paris_mail.body and "ALSO TRENDING TODAY" in paris_mail.body


def test_a_test_sends_subject_shows_a_titles_ampersand_as_the_readers_does(db):
    """A test send (no reader's links) is rendered straight from the templates, the
    subject's included: it must say "Q&A", as a reader's copy does, never "Q&amp;A"."""
    agents = TopicFactory(name="Agents")
    PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title='Q&A for "agents" <RL>'), topic=agents, score=0.9)
    edition = edition_assemble(date=DAY)
    reader = SubscriberFactory()
    reader.topics.add(agents)
    data = ranking_data_load(date=DAY, subscriber_ids=[reader.id])
    test_send = digest_make(edition=edition, subscriber=reader, data=data, personal_links=False, now=NOW).message
    own = digest_make(edition=edition, subscriber=reader, data=data, now=NOW).message
    assert test_send.subject == own.subject
    assert test_send.subject.endswith(': Q&A for "agents" <RL>')


@pytest.mark.django_db
def test_an_also_trending_paper_with_no_byline_names_its_topics_in_the_text_part_as_in_the_html():
    """An editor added a paper with no authors, count or organisation: its
    also-trending line read "▲ 40 upvotes · Robotics" in the HTML part and nothing
    of its topics in the text part (the text part printed them only after a byline).
    Another such paper, in no topic, gets no line of spaces in the text part."""
    robotics = TopicFactory(name="Robotics")
    for n in range(3):
        paper = PaperFactory(trending_date=DAY, upvotes=50 - 10 * n, title=f"Robots that grasp, part {n}",
                             **({"authors": [], "author_count": 0} if n else {}))
        if n < 2:
            PaperTopicFactory(paper=paper, topic=robotics, score=0.9, matched_terms=["robot"])
    edition = edition_assemble(date=DAY)
    reader = SubscriberFactory(papers_per_digest=1)  # part 1 is past their count: also trending
    reader.topics.set([robotics])
    ids = deliveries_create(edition=edition, subscriber_ids=[reader.id], now=NOW)

    digest_send_batch(delivery_ids=ids, now=NOW)

    [message] = mail.outbox
    html = message.alternatives[0][0]
    assert re.search(r"▲</span>&nbsp;40&nbsp;upvotes · Robotics</p>", html)
    assert re.search(r"▲</span>&nbsp;30&nbsp;upvotes</p>", html)  # part 2: in no topic
    text = message.body.split("\n--\n")[0]
    item = text.split("- Robots that grasp, part 1")[1].split("\n- ")[0]
    assert "Robotics" in item, message.body
    assert not re.search(r"^[ \t]+$", text, re.MULTILINE), message.body


def test_a_picks_why_line_and_its_topics_are_read_as_separate_words(day):
    """A pick's "why" line then its topics as chips, back to back: read out (or shown
    without the chips' styles) as "… matched: plan, toolsVision"."""
    from tests.mail.test_rendering import text_read

    reader = SubscriberFactory()
    reader.topics.set([day["agents"], day["vision"]])
    data = ranking_data_load(date=DAY, subscriber_ids=[reader.id])
    context = digest_context(edition=day["edition"], selection=digest_select(subscriber=reader, date=DAY, data=data),
                             subscriber=reader)
    read = text_read(email_render(template="digest", context=context).html)

    chipped = [p for p in context["papers"] if p["topics"]]
    assert chipped
    for p in chipped:
        assert f"{p['reason']}{p['topics'][0]}" not in read
        assert f"{p['reason']} {p['topics'][0]}" in read
