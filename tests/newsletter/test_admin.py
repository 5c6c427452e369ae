"""The editors' admin pages (newsletter/admin.py), as an editor uses them."""

import datetime as dt
import importlib
import json
import re
from html import unescape
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from newsletter.editions import edition_assemble
from newsletter.models import Delivery, Edition, Paper, PaperTopic, Topic
from subscribers.addresses import email_masked
from subscribers.models import Subscriber
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory
from tests.plans import list_query_plan

DAY = dt.date(2025, 11, 24)


def editor_group() -> Group:
    """The group newsletter/migrations/0004_editor_group.py creates (0024 and 0027
    change); made again here when a transactional (browser) test has flushed the
    migrated rows."""
    if not Group.objects.filter(name="Editor").exists():
        importlib.import_module("newsletter.migrations.0004_editor_group").editor_group_create(apps, None)
        importlib.import_module(
            "newsletter.migrations.0024_editor_moves_the_morning_fetch").editor_schedules_grant(apps, None)
        importlib.import_module("newsletter.migrations.0027_editor_sets_the_fetch_time").forward(apps, None)
    return Group.objects.get(name="Editor")


@pytest.fixture
def editor(db):
    user = User.objects.create_user("editor", "editor@example.org", "pw", is_staff=True)
    user.groups.add(editor_group())
    return user


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def topic(db):
    return TopicFactory(name="Forgetting studies", keywords="catastrophic forgetting")


@pytest.fixture
def edition(topic):
    for n in range(3):
        paper = PaperFactory(trending_date=DAY, upvotes=50 - n, title=f"Paper number {n}")
        PaperTopicFactory(paper=paper, topic=topic, score=1.0)
    return edition_assemble(date=DAY)


def test_the_editor_group_exists_and_cannot_delete_or_export_subscribers(editor):
    assert editor.has_perm("newsletter.change_paper")
    assert editor.has_perm("newsletter.change_edition")
    assert editor.has_perm("newsletter.view_delivery")
    assert editor.has_perm("subscribers.view_subscriber")
    assert not editor.has_perm("subscribers.delete_subscriber")
    assert not editor.has_perm("subscribers.export_subscriber_data")


def test_the_admin_index_links_todays_edition_and_the_dashboard(editor_client):
    html = editor_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:newsletter_edition_today") in html
    assert reverse("admin:newsletter_dashboard") in html


def test_todays_edition_opens_with_papers_preview_and_figures(editor_client, edition, topic):
    reader = SubscriberFactory()
    reader.topics.add(topic)
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    response = editor_client.get(url, {"preview_as": reader.pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Paper number 0" in html
    assert 'srcdoc="' in html and "phone" in html  # the email at two widths
    assert "Plain-text part" in html
    assert "Reader votes" in html and "“More like this” and “Less like this” votes" in html  # votes only: the ESP counts clicks
    # Counted as kept, not as cast: the figure drops when a reader forgets theirs.
    assert "that readers keep: a reader’s “Forget all of this” takes theirs away" in html
    # The line above the preview counts as the email does: its picks, then the
    # "also trending" block, not one sum of both.
    picked = re.search(r"(\d+) papers? picked for you", html).group(1)
    # The reader masked for an editor (subscribers.addresses.email_masked).
    assert re.search(rf"· {picked} picked( \+ \d+ also trending)? for {re.escape(email_masked(reader.email))}", html)


def test_an_editor_previews_the_edition_as_any_reader_by_their_address(editor_client, edition, topic, monkeypatch):
    """The "As" list holds the first readers by address (200): with 402 readers the
    reader of a support email was not in it, and only an id typed into the address
    bar previewed them (an editor's walkthrough). Their address does."""
    from newsletter import admin as newsletter_admin

    monkeypatch.setattr(newsletter_admin, "PREVIEW_READER_CHOICES", 2)
    for n in range(3):
        SubscriberFactory(email=f"aaa{n}@example.com")
    support = SubscriberFactory(email="zed.support@example.com")
    support.topics.add(topic)
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    page = editor_client.get(url).content.decode()
    assert "zed.support@example.com" not in page
    assert "The list holds the first 2 readers by address; type another's." in page

    shown = editor_client.get(url, {"preview_email": " Zed.Support@Example.com "}).content.decode()
    assert "for z…@example.com (reader" in shown and "Paper number 0" in shown
    assert f'<option value="{support.pk}" selected>' in shown
    missing = editor_client.get(url, {"preview_email": "nobody@example.com"}, follow=True).content.decode()
    assert "No reader has the address “nobody@example.com”:" in unescape(missing)


def test_an_address_no_reader_has_is_said_beside_the_preview_and_stays_typed(editor_client, edition):
    """An editor's walkthrough: a mistyped address showed the preview of a reader
    with no topics, the page scrolled to it (#preview), and the only word of the
    mistake was a message at the top of the page, out of sight; the address typed
    was gone from the field. Now it is said beside the field, which keeps it."""
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    page = unescape(editor_client.get(url, {"preview_email": "bobby@exampel.com"}).content.decode())
    preview = page[page.index('id="preview"'):]
    assert "No reader has the address “bobby@exampel.com”: below is the digest of a reader with no topics." in preview
    assert 'value="bobby@exampel.com"' in preview and 'aria-describedby="preview-email-unknown"' in preview
    assert page.count("No reader has the address") == 1  # not also at the top
    # The address kept in the field does not undo a reader then chosen in the list.
    reader = SubscriberFactory(email="bob@example.com")
    chosen = unescape(editor_client.get(url, {"preview_as": reader.pk, "preview_email": "bobby@exampel.com"}).content.decode())
    assert "below is the digest of the reader chosen in the list." in chosen
    assert f'<option value="{reader.pk}" selected>' in chosen


@pytest.mark.postgresql
def test_the_preview_lists_its_readers_by_address_from_the_address_index(editor_client, edition):
    """The "As" list's first readers by address are read in order from
    subscriber_email_upper_idx, not sorted from every receiving reader (26-38 ms at
    100,000 readers, docs/benchmarks.md, "The admin at scale, fourth pass"); the
    order ignores case."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.plans import query_plan

    for email in ("bob@example.com", "Ann@example.com", "carl@example.com"):
        SubscriberFactory(email=email)
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    with CaptureQueriesContext(connection) as queries:
        listed = editor_client.get(url).context["readers"]
    assert [r.email.lower() for r in listed] == ["ann@example.com", "bob@example.com", "carl@example.com"]
    listed = next(q["sql"] for q in queries if 'ORDER BY UPPER("subscribers_subscriber"."email")' in q["sql"])
    plan = query_plan(listed)
    assert "subscriber_email_upper_idx" in plan and "Sort" not in plan, plan


def test_an_editors_preview_as_a_reader_leaves_out_the_readers_own_links(editor_client, admin_client, edition, topic):
    """A reader's preference-centre, vote and unsubscribe links act as them: in the
    readers' admin only a superuser sees them, and the preview showed them to every
    editor. An editor's preview is the test send's (same email, without them); an
    administrator's is what the reader gets, byte for byte."""
    reader = SubscriberFactory()
    reader.topics.add(topic)
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])

    editors = unescape(editor_client.get(url, {"preview_as": reader.pk}).content.decode())
    assert "Paper number 0" in editors
    assert "/manage/" not in editors and "/unsubscribe/" not in editors
    assert "This reader's own links" in editors and "are left out" in editors

    admins = unescape(admin_client.get(url, {"preview_as": reader.pk}).content.decode())
    assert "/manage/" in admins and "/unsubscribe/" in admins
    assert "are left out" not in admins


def test_the_edition_pages_buttons_name_their_paper_and_its_red_figures_say_why(editor_client, edition, topic):
    """A screen reader's list of buttons read "Pin, Hide, Pin, Hide..."; a failed
    count was only red."""
    reader = SubscriberFactory()
    Delivery.objects.create(subscriber=reader, edition=edition, status=Delivery.Status.FAILED)
    html = editor_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode()
    for label in ("Pin “Paper number 0”", "Hide “Paper number 1”", "Move “Paper number 2” up"):
        assert f'aria-label="{label}"' in html
    assert re.search(r'<dt>Failed</dt><dd><a [^>]*>1</a> <span class="flag">look at them</span>', html)
    # The preview was 233 Tab presses down: a link at the top goes there.
    assert '<a href="#preview">Preview and test send</a>' in html and 'id="preview"' in html


def test_the_edition_page_says_when_the_dispatcher_last_ran_for_it(editor_client, edition):
    """An editor watching a send sees whether the dispatcher is running for this
    edition (the dashboard says when it has stopped)."""
    import datetime as dt

    from newsletter.models import Edition

    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    assert "The dispatcher last ran" not in editor_client.get(url).content.decode()
    Edition.objects.filter(pk=edition.pk).update(dispatched_at=dt.datetime(2025, 12, 1, 8, 10, tzinfo=dt.UTC))
    assert "The dispatcher last ran for it 1 Dec, 08:10 UTC" in editor_client.get(url).content.decode()


def test_the_edition_page_marks_the_late_papers_of_the_edition_before(editor_client, topic):
    """A paper added to Friday's list after Friday's edition went out is in Monday's
    (newsletter/editions.py): its row says where it comes from, with the preview
    showing the reader's card saying the same."""
    from newsletter.editions import edition_freeze

    friday = DAY - dt.timedelta(days=3)
    PaperFactory(trending_date=friday, title="Early on Friday", upvotes=60)
    edition_freeze(edition=edition_assemble(date=friday))
    late = PaperFactory(trending_date=friday, title="Late on Friday", upvotes=40)
    PaperTopicFactory(paper=late, topic=topic, score=1.0)
    own = PaperFactory(trending_date=DAY, title="Of Monday", upvotes=20)
    PaperTopicFactory(paper=own, topic=topic, score=1.0)
    reader = SubscriberFactory()
    reader.topics.add(topic)

    monday = edition_assemble(date=DAY)
    html = editor_client.get(reverse("admin:newsletter_edition_change", args=[monday.pk]),
                             {"preview_as": reader.pk}).content.decode()

    rows = {t: row for row in re.findall(r"<tr[^>]*data-paper=.*?</tr>", html, re.DOTALL)
            for t in ("Late on Friday", "Of Monday") if t in row}
    assert "Late from Friday" in rows["Late on Friday"]
    assert "Late from" not in rows["Of Monday"]
    assert "added to Friday’s list after its edition went out" in unescape(unescape(html))  # the preview's srcdoc


def test_a_paper_hidden_after_its_edition_went_out_is_marked_hidden_in_its_row(editor_client):
    """A sent edition keeps the papers it went out with (frozen), so a paper hidden
    afterwards stays in its rows. The walkthrough of 5 December found it there with
    live Pin and Hide buttons and no sign of it, and "Show again" only in a folded
    list below. Its row now says "Hidden" and offers "Show again"; the folded list
    holds only the hidden papers the rows do not, and showing it again clears the mark."""
    from newsletter.editions import edition_freeze

    kept, hidden = (PaperFactory(trending_date=DAY, title=t, upvotes=v) for t, v in (("Kept", 50), ("Taken down", 40)))
    edition = edition_assemble(date=DAY)
    edition_freeze(edition=edition)
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    editor_client.post(reverse("admin:newsletter_edition_paper", args=[edition.pk, hidden.pk, "hide"]))

    html = editor_client.get(url).content.decode()
    rows = {p.title: re.search(rf'<tr[^>]*data-paper="{p.pk}".*?</tr>', html, re.DOTALL).group(0) for p in (kept, hidden)}
    assert '<span class="badge off"' in rows["Taken down"] and ">Hidden</span>" in rows["Taken down"]
    assert "Show again" in rows["Taken down"]
    assert ">Hide</button>" not in rows["Taken down"] and ">Pin</button>" not in rows["Taken down"]
    assert ">Hidden</span>" not in rows["Kept"] and ">Hide</button>" in rows["Kept"]
    assert "hidden paper of this date" not in html  # not listed twice

    editor_client.post(reverse("admin:newsletter_edition_paper", args=[edition.pk, hidden.pk, "unhide"]))
    hidden.refresh_from_db()
    assert not hidden.hidden
    row = re.search(rf'<tr[^>]*data-paper="{hidden.pk}".*?</tr>', editor_client.get(url).content.decode(), re.DOTALL)
    assert ">Hidden</span>" not in row.group(0) and ">Hide</button>" in row.group(0)


def test_a_withdrawn_paper_is_said_withdrawn_and_show_again_does_not_claim_to_bring_it_back(editor_client):
    """The import hides a paper its authors withdrew. The edition's page listed it
    with the hidden ones and a "Show again" button; pressed, the page said "Shown
    again: …" and the paper was on no list of the edition (still withdrawn, so still
    left out), and the papers list showed it with no mark at all."""
    kept = PaperFactory(trending_date=DAY, title="Kept", upvotes=50)
    gone = PaperFactory(trending_date=DAY, title="Withdrawn by its authors", upvotes=40,
                        withdrawn_at=dt.datetime(2025, 11, 24, 9, tzinfo=dt.UTC), hidden=True)
    edition = edition_assemble(date=DAY)
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])

    def withdrawn_list(html: str) -> str:
        return re.search(r'<details class="withdrawn-papers">.*?</details>', html, re.DOTALL).group(0)

    html = editor_client.get(url).content.decode()
    listed = withdrawn_list(html)
    assert "1 paper of this date withdrawn by its authors" in listed and gone.title in listed
    assert "Show again" not in listed and 'class="hidden-papers"' not in html

    stays = (f"“{gone.title}” stays off the site and out of every digest: its authors withdrew it on 24 Nov 2025. "
             "Clear “Withdrawn at” on its page if that was a mistake.")
    response = editor_client.post(reverse("admin:newsletter_edition_paper", args=[edition.pk, gone.pk, "unhide"]),
                                  follow=True)
    assert [str(m) for m in response.context["messages"]] == [stays]
    assert gone.title in withdrawn_list(response.content.decode())

    papers_url = reverse("admin:newsletter_paper_changelist")
    papers = editor_client.get(papers_url, {"trending_date": DAY.isoformat()})
    rows = {row.pk: row for row in papers.context["cl"].result_list}
    state = papers.context["cl"].model_admin.state
    assert ">Withdrawn</span>" in state(rows[gone.pk]) and "Withdrawn" not in state(rows[kept.pk])
    Paper.objects.filter(pk=gone.pk).update(hidden=True)
    response = editor_client.post(papers_url, {"action": "unhide", "_selected_action": [gone.pk, kept.pk]},
                                  follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Showed again 1 paper (1 was shown already).", stays]

    editor_client.post(papers_url, {"action": "hide", "_selected_action": [kept.pk]})
    page = editor_client.get(url).content.decode()
    assert "Every paper of this date is hidden or withdrawn by its authors: this edition has nothing to send" in page


def test_the_note_pin_and_release_buttons_change_the_edition(editor_client, edition):
    paper = edition.entries.order_by("-position").first().paper
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    editor_client.post(url, {"note": "Hello **readers**", "_continue": "1"})
    editor_client.post(reverse("admin:newsletter_edition_paper", args=[edition.pk, paper.pk, "pin"]))
    held = editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "hold"]), follow=True)
    # What a long hold costs is said (it only said "until you release it").
    assert any("a longer hold sends this one to nobody" in str(m) for m in held.context["messages"])
    edition.refresh_from_db()
    assert edition.note == "Hello **readers**"
    assert edition.on_hold
    assert edition.entries.get(position=1).paper == paper
    editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "release"]))
    edition.refresh_from_db()
    assert not edition.on_hold


def test_moving_a_paper_keeps_the_reader_previewed_and_moves_it_the_way_asked(editor_client, edition):
    """Up moves a paper up one place and down one place down, and the page comes back
    previewing the reader it previewed (it came back as a reader with no topics)."""
    reader = SubscriberFactory()

    def order():
        return [entry.paper.title for entry in edition.entries.order_by("position")]

    first, second, third = order()
    moved = editor_client.post(reverse("admin:newsletter_edition_paper", args=[
        edition.pk, edition.entries.get(position=3).paper_id, "up"]), {"preview_as": reader.pk})
    assert order() == [first, third, second]
    assert moved.url == reverse("admin:newsletter_edition_change", args=[edition.pk]) + f"?preview_as={reader.pk}"
    editor_client.post(reverse("admin:newsletter_edition_paper", args=[
        edition.pk, edition.entries.get(position=1).paper_id, "down"]))
    assert order() == [third, first, second]


def test_the_editions_list_says_which_is_on_hold_which_went_out_and_which_is_to_come(editor_client, edition):
    from newsletter.editions import edition_freeze

    held, sent = Edition.objects.create(date=DAY - dt.timedelta(days=1), on_hold=True), Edition.objects.create(
        date=DAY - dt.timedelta(days=2))
    edition_freeze(edition=sent)
    html = editor_client.get(reverse("admin:newsletter_edition_changelist")).content.decode()
    states = dict(re.findall(r'<a href="/admin/newsletter/edition/(\d+)/change/">.*?'
                             r'<span class="badge \w+">([^<]+)</span>', html, re.DOTALL))
    assert states == {str(edition.pk): "Not sent yet", str(held.pk): "On hold", str(sent.pk): "Sending / sent"}


def test_todays_edition_before_any_paper_says_to_fetch_a_day_first(editor_client, db):
    response = editor_client.get(reverse("admin:newsletter_edition_today"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:newsletter_edition_changelist")
    assert any(str(m).startswith("No papers yet: fetch a day of Daily Papers first") for m in response.context["messages"])


def test_send_now_with_nobody_left_to_reach_is_refused_on_the_page_and_logs_nothing(editor_client, edition):
    """Every receiving reader had it: the button says why it is off, and a press from a
    page left open sends to nobody and writes no "Sent now to 0 readers" in the
    edition's history."""
    from django.contrib.admin.models import LogEntry

    from newsletter.curation import SEND_NOW_NOBODY_LEFT

    page = editor_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode()
    assert f'<small class="muted" id="send-now-why">{SEND_NOW_NOBODY_LEFT}</small>' in unescape(page)
    editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "send-now"]))
    assert not LogEntry.objects.filter(object_id=str(edition.pk), change_message__startswith="Sent now").exists()


def test_due_counts_the_readers_the_edition_is_due_to_as_send_now_does(editor_client, edition):
    """In an editor's walkthrough the page said "Due 1, Sent 1" (the ledger's rows)
    while "Send now" asked to send it to 3 readers who had not had it: Due counts
    the readers it is due to, those who had it and those still to get it, with the
    dialog's own count (curation.edition_send_now_audience)."""
    had_it = SubscriberFactory()
    Delivery.objects.create(subscriber=had_it, edition=edition, status=Delivery.Status.SENT, sent_at=timezone.now())
    SubscriberFactory.create_batch(3)
    SubscriberFactory(status=Subscriber.Status.PAUSED)  # gets no digest now: not due

    page = unescape(editor_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode())

    figures = dict(re.findall(r"<dt>(\w+)</dt><dd>(\d+)</dd>", page))
    assert (figures["Due"], figures["Sent"], figures["Waiting"]) == ("4", "1", "0")
    assert "now to the 3 readers who have not had it" in page


def test_a_sent_editions_papers_show_the_pins_it_went_out_with_and_no_order_to_change(editor_client, edition):
    """In an editor's walkthrough a paper pinned after the send was marked "Pinned" at
    its old place (#3) under "pinned papers come first in every digest", and the
    "Order" column stood empty. A sent edition's list marks the picks it went out
    with (EditionPaper.pinned, as its archive page does), says which pin changed
    since, and has no "Order" column."""
    from newsletter.curation import papers_flag_set
    from newsletter.editions import edition_freeze

    first, _, third = [entry.paper for entry in edition.entries.order_by("position")]
    papers_flag_set(papers=[first], pinned=True)
    edition_assemble(date=DAY)
    edition_freeze(edition=edition)
    editor_client.post(reverse("admin:newsletter_edition_paper", args=[edition.pk, third.pk, "pin"]))
    editor_client.post(reverse("admin:newsletter_edition_paper", args=[edition.pk, first.pk, "unpin"]))

    html = editor_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode()

    def row(paper):
        return re.search(rf'<tr[^>]*data-paper="{paper.pk}".*?</tr>', html, re.DOTALL).group(0)

    assert 'class="pinned' in row(first) and '<span class="badge pin">Pinned</span>' in row(first)
    assert "Unpinned since it went out" in row(first)
    assert 'class="pinned' not in row(third) and '<span class="badge pin">Pinned</span>' not in row(third)
    assert "Pinned since it went out" in row(third)
    assert "<th>Order</th>" not in html and "pinned papers came first in every digest" in html


def test_a_paused_reader_can_be_previewed_from_the_list_of_readers(editor_client, edition):
    """A paused reader gets digests again when they resume: the editor can see theirs."""
    paused = SubscriberFactory(email="paused@example.com", status=Subscriber.Status.PAUSED)
    page = editor_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode()
    assert f'<option value="{paused.pk}"' in page


def test_a_note_whose_link_words_name_another_site_is_refused_and_nothing_is_lost(editor_client, edition):
    """An editor's note reaches every reader under the project's name: a link whose
    words show one address and lead to another ("arxiv.org/abs/…" to a look-alike
    login page, a mailbox shown for another's mailto) was saved and mailed as
    written (a compromised editor's account). It is refused with the link named,
    the note keeps what it had and the editor's text stays in the form; honest
    links (the address as words, plain words, a name like "Node.js") pass."""
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    editor_client.post(url, {"note": "Hello **readers**", "_continue": "1"})
    forged = "Big day: [arxiv.org/abs/2401.01234](https://arxiv-login.example/abs) and [ada@example.com](mailto:x@evil.example)"
    response = editor_client.post(url, {"note": forged, "_continue": "1"})
    page = unescape(response.content.decode())
    assert response.status_code == 200 and "errornote" in page
    assert "The link “arxiv.org/abs/2401.01234” leads to arxiv-login.example" in page
    assert "The link “ada@example.com” leads to x@evil.example" in page
    assert forged in page  # what the editor wrote is still in the box
    edition.refresh_from_db()
    assert edition.note == "Hello **readers**"
    honest = ("[arxiv.org/abs/2401.01234](https://arxiv.org/abs/2401.01234), [www.arxiv.org](https://arxiv.org/), "
              "[the paper](https://evil.example/), [Node.js](https://nodejs.org), <https://huggingface.co/papers>")
    editor_client.post(url, {"note": honest, "_continue": "1"})
    edition.refresh_from_db()
    assert edition.note == honest


def test_a_misleading_link_is_refused_by_the_service_too(edition):
    from newsletter.curation import CurationError, edition_note_set

    with pytest.raises(CurationError, match="leads to huggingface.co.evil.io"):
        edition_note_set(edition=edition, note="[https://huggingface.co/papers](https://huggingface.co.evil.io/p)")
    edition.refresh_from_db()
    assert edition.note == ""


def test_a_note_longer_than_the_cap_is_refused_in_the_admin_and_by_the_service(editor_client, edition):
    """The note is at the top of every digest of the edition: a pasted article took
    the digest past Gmail's clipping size (102 KB), which hid the unsubscribe link
    (tests/newsletter/test_digest_rendering.py's worst case). The form says how long
    it may be, and keeps what the editor wrote."""
    from newsletter.curation import CurationError, edition_note_set
    from newsletter.models import NOTE_MAX_CHARS

    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    page = editor_client.get(url).content.decode()
    assert f'maxlength="{NOTE_MAX_CHARS}"' in page
    too_long = "A long note." * (NOTE_MAX_CHARS // 12 + 1)
    response = editor_client.post(url, {"note": too_long, "_continue": "1"})
    page = unescape(response.content.decode())
    assert response.status_code == 200
    assert f"Ensure this value has at most {NOTE_MAX_CHARS} characters" in page
    with pytest.raises(CurationError, match=f"at most {NOTE_MAX_CHARS:,} characters"):
        edition_note_set(edition=edition, note=too_long)
    edition.refresh_from_db()
    assert edition.note == ""
    edition_note_set(edition=edition, note=too_long[:NOTE_MAX_CHARS])
    edition.refresh_from_db()
    assert len(edition.note) == NOTE_MAX_CHARS


@pytest.mark.parametrize("words", [
    "arxiv\u2024org/abs/2401.01234",  # ONE DOT LEADER: reads as arxiv.org
    "arxiv\ua4f8org",  # LISU LETTER TONE MYA TI, a dot to the eye
    "arxiv\uff0eorg",  # FULLWIDTH FULL STOP
    "huggingface\u3002co/papers",  # IDEOGRAPHIC FULL STOP, a dot to IDNA too
    "arxiv.org\u2215abs\u22152401.01234",  # DIVISION SLASH: "org∕abs∕…" was no address
    "\u202egro.vixra",  # RIGHT-TO-LEFT OVERRIDE: shows as arxiv.org
])
def test_a_link_whose_words_look_like_an_address_is_refused_too(edition, words):
    """Words dressed with a look-alike dot or slash, or turned around by a direction
    control, were not read as an address, so a compromised editor's account could show
    readers "arxiv.org" on a link to any site."""
    from newsletter.curation import CurationError, edition_note_set

    with pytest.raises(CurationError, match="evil.example|direction"):
        edition_note_set(edition=edition, note=f"[{words}](https://evil.example/login)")
    edition.refresh_from_db()
    assert edition.note == ""


def test_a_link_is_judged_by_where_a_browser_goes(edition):
    """A browser reads "\\" in an http(s) address as "/": "https://evil.example\\@arxiv.org/"
    goes to evil.example, while Python's urlsplit read arxiv.org (after the "@"), so
    words "arxiv.org" passed as honest on a link to evil.example."""
    from newsletter.curation import CurationError, edition_note_set

    with pytest.raises(CurationError, match="leads to evil.example"):
        edition_note_set(edition=edition, note="[arxiv.org/abs/2401.01234](https://evil.example\\@arxiv.org/abs/2401.01234)")
    honest = "[arxiv.org/abs/2401.01234](https://arxiv.org/abs/2401.01234)"
    edition_note_set(edition=edition, note=honest)
    edition.refresh_from_db()
    assert edition.note == honest


@pytest.mark.parametrize(("note", "leads_to"), [
    ("[Read it on arxiv.org](https://evil.example/login)", "evil.example"),
    ("[the paper (arxiv.org/abs/2401.01234)](https://evil.example/abs)", "evil.example"),
    ("[Questions? Write to ada@example.com](mailto:x@evil.example)", "x@evil.example"),
    ("[Write to ada@example.com](mailto:bob@example.com)", "bob@example.com"),  # the mailbox, not only its domain
    ("[Read it on arxiv.org, today](https://evil.example/login)", "evil.example"),  # a comma after it
])
def test_an_address_within_a_links_words_is_held_to_it_too(edition, note, leads_to):
    """Only words that were an address as a whole were compared with the link's
    target: "Read it on arxiv.org" shows readers arxiv.org as much, and led anywhere."""
    from newsletter.curation import CurationError, edition_note_set

    with pytest.raises(CurationError, match=f"leads to {leads_to}"):
        edition_note_set(edition=edition, note=note)
    honest = ("[Read it on arxiv.org](https://arxiv.org/abs/2401.01234), [Write to ada@example.com]"
              "(mailto:ada@example.com), [Qwen2.5-VL, e.g. on Node.js](https://example.org/), "
              "[the paper (arxiv.org/abs/2401.01234)](https://arxiv.org/abs/2401.01234)")
    edition_note_set(edition=edition, note=honest)
    edition.refresh_from_db()
    assert edition.note == honest


def test_a_link_to_the_site_its_words_name_passes_however_its_address_writes_the_host(edition):
    """The same site is the same site with or without "www." and in its ASCII (IDNA)
    form: an honest link is not refused."""
    from newsletter.curation import edition_note_set

    honest = ("[arxiv.org/abs/2401.01234](https://www.arxiv.org/abs/2401.01234), "
              "[bücher.de](https://xn--bcher-kva.de/)")
    edition_note_set(edition=edition, note=honest)
    edition.refresh_from_db()
    assert edition.note == honest


def test_send_a_test_to_me(editor_client, edition):
    response = editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "test-send"]))
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["editor@example.org"] and message.subject.startswith("[Test]")
    # A test carries no reader's links: its foot has "View in browser" alone, not
    # "View in browser ·" with nothing after (an editor's walkthrough, 7 December).
    html = message.alternatives[0][0]
    links = re.search(r'class="[^"]*footer-links[^"]*".*?</td>', html, re.DOTALL).group(0)
    assert re.sub(r"<[^>]+>|\s", "", unescape(links)).endswith("Viewinbrowser"), links


def test_a_test_send_to_an_address_that_bounced_is_refused_saying_why_and_how_to_lift_it(
    editor_client, edition, settings
):
    """In an editor's walkthrough, "Record a hard bounce" on a test in the local
    outbox said "editor@example.org gets no more email from us", and the next "Send a
    test to me" went out all the same: the test send did not look at the list the
    digests are checked against."""
    from newsletter.models import OutboxEmail

    settings.DEBUG = True  # the outbox's playback is local development's
    settings.EMAIL_BACKEND = "newsletter.outbox.OutboxEmailBackend"
    url = reverse("admin:newsletter_edition_op", args=[edition.pk, "test-send"])
    editor_client.post(url, follow=True)
    test = OutboxEmail.objects.get()
    editor_client.post(f"/outbox/{test.pk}/event/bounced/", follow=True)

    response = editor_client.post(url, follow=True)

    (shown,) = [str(m) for m in response.context["messages"]]
    assert shown.startswith("The test was not sent: editor@example.org is on the suppression list "
                            "(Hard bounce, "), shown
    assert "lifts it by deleting its row under Suppressions" in shown
    assert OutboxEmail.objects.count() == 1


@pytest.mark.parametrize("outage", ["503", "429 that lasts"])
def test_a_test_send_during_an_esp_outage_tells_the_editor_and_the_next_try_sends(
    editor_client, edition, postmark, monkeypatch, outage
):
    from mail import building, esp

    monkeypatch.setattr(building, "TRANSACTIONAL_THROTTLE_SECONDS", 0.3)
    monkeypatch.setattr(esp, "SLOW_DOWN_PAUSE_SECONDS", 0.1)
    if outage == "503":
        postmark.fail_next(("status", 503))
    else:
        postmark.storm(2)
    url = reverse("admin:newsletter_edition_op", args=[edition.pk, "test-send"])

    response = editor_client.post(url, follow=True)

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1 and shown[0].startswith("The test was not sent: the email provider")
    assert postmark.total_accepted() == 0
    postmark.reset()
    response = editor_client.post(url, follow=True)
    (shown,) = [str(m) for m in response.context["messages"]]
    assert shown.startswith("Test sent to editor@example.org")
    assert postmark.accepted["editor@example.org"] == 1


def test_edition_actions_refuse_get(editor_client, edition):
    response = editor_client.get(reverse("admin:newsletter_edition_op", args=[edition.pk, "hold"]))
    assert response.status_code == 405


def test_the_dashboard_draws_charts_as_svg(editor_client, edition, topic):
    reader = SubscriberFactory()
    reader.topics.add(topic)
    Delivery.objects.create(subscriber=reader, edition=edition, status="sent",
                            sent_at=dt.datetime.now(dt.UTC))
    html = editor_client.get(reverse("admin:newsletter_dashboard")).content.decode()
    assert html.count("<svg") >= 4
    assert "0.3 %" in html and "0.1 %" in html
    assert "Forgetting studies" in html


def test_editors_see_every_topic_a_paper_passes_for_and_which_are_its_chips(editor_client, db):
    """The papers list and the edition page show each topic a paper passes for (its
    readers can get it), the ones that are no chip of it set apart and saying why. A
    topic an editor put the paper under says so: it read "Agents 1.00" (an editor's
    walkthrough), a score no matching gave it, the value an editor's row is stored with."""
    paper = PaperFactory(title="Pruning large models in one shot", trending_date=DAY)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Model compression"), score=0.62)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Chat tuning"), score=0.31)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Agents"), score=1.0, source="editor")
    edition = edition_assemble(date=DAY)

    for url in (reverse("admin:newsletter_paper_changelist"),
                reverse("admin:newsletter_edition_change", args=[edition.pk])):
        html = unescape(editor_client.get(url).content.decode())
        # The score in sight, not only in a title (a pointer's hover).
        assert re.search(r'<span class="chip" title="score 0.62">Model compression '
                         r'<span class="chip__score">0.62</span></span>', html), url
        passing = re.search(r'<span class="chip chip--pass" title="score 0.31: passes for this topic, so its '
                            r'readers can get it; no chip[^"]*">Chat tuning <span class="chip__score">0.31</span>'
                            r'<span class="visually-hidden">: passes, no chip</span></span>', html)
        assert passing, url
        assert re.search(r'<span class="chip" title="added by an editor">Agents '
                         r'<span class="chip__score">by an editor</span></span>', html), url
        assert 'chip__score">1.00' not in html, url


def test_a_papers_topic_rows_are_labelled_in_words(editor_client, db):
    """The rows of a paper's topics were labelled "74 ~ 16: 0.54", and their matched
    terms shown as raw JSON."""
    paper = PaperFactory(title="Pruning large models in one shot", trending_date=DAY)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Model compression"), score=0.62,
                      matched_terms=["pruning", "sparsity"])
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Agents"), score=0, source="editor")
    html = unescape(editor_client.get(reverse("admin:newsletter_paper_change", args=[paper.pk])).content.decode())
    assert "Model compression: passes, score 0.62" in html and "Agents: taken off by an editor" in html
    assert "pruning, sparsity" in html and '["pruning"' not in html
    assert f"{paper.pk} ~ " not in html


def test_a_topics_page_says_how_many_papers_it_passes_for_carry_it_as_a_chip(editor_client, db):
    """An editor defining a topic sees where it overlaps: of the recent papers that
    pass for it, those mainly about another topic, named."""
    from django.utils import timezone

    today = timezone.localdate()
    chat, compression = TopicFactory(name="Chat tuning"), TopicFactory(name="Model compression")
    for title, scores in [("Only chat", {chat: 0.6}), ("Both alike", {chat: 0.6, compression: 0.62}),
                          ("Mainly compression", {chat: 0.31, compression: 0.62}),
                          ("Long ago", {chat: 0.3})]:
        paper = PaperFactory(title=title, trending_date=today if title != "Long ago" else today - dt.timedelta(days=90))
        for topic, score in scores.items():
            PaperTopicFactory(paper=paper, topic=topic, score=score)

    html = unescape(editor_client.get(reverse("admin:newsletter_topic_change", args=[chat.pk])).content.decode())

    assert ("2 of the 3 papers of the last 30 days that pass for this topic carry it as a chip. "
            "The others are mainly about: Model compression (1).") in html


def test_papers_are_found_by_author_and_filtered_by_code(editor_client, db):
    PaperFactory(title="Alpha paper", authors=["Grace Hopper"], github_repo="https://github.com/x/y")
    PaperFactory(title="Beta paper")
    url = reverse("admin:newsletter_paper_changelist")
    html = editor_client.get(url, {"q": "Hopper"}).content.decode()
    assert "Alpha paper" in html and "Beta paper" not in html
    html = editor_client.get(url, {"has_code": "yes"}).content.decode()
    assert "Alpha paper" in html and "Beta paper" not in html


def test_bulk_add_topic_asks_which_topic_then_assigns_it(editor_client, db):
    papers = [PaperFactory(), PaperFactory()]
    topic = TopicFactory(name="Robotics")
    url = reverse("admin:newsletter_paper_changelist")
    data = {"action": "topic_add", "_selected_action": [p.pk for p in papers]}
    page = editor_client.post(url, data)
    assert "Add a topic to papers" in page.content.decode()
    # The question, not an error: nothing was chosen yet.
    assert "This field is required" not in page.content.decode()
    editor_client.post(url, {**data, "apply": "1", "topic": topic.pk})
    rows = PaperTopic.objects.filter(topic=topic)
    assert rows.count() == 2 and {r.source for r in rows} == {"editor"}


def test_a_topic_added_to_every_paper_of_a_long_list_reaches_them_all(editor_client, db):
    """"Select all 210" in the papers' list, "Add a topic…", a topic, "Add topic":
    the question page posted back all 210 ids, one field each, past Django's 200
    (DATA_UPLOAD_MAX_NUMBER_FIELDS), and the editor got "Bad Request (400)" with no
    paper changed (an editor's walkthrough, 7 December). It posts the choice of
    "all" with the list's filters, as the list itself does."""
    from tests.forms import hidden_fields

    day = dt.date(2025, 11, 24)
    papers = [PaperFactory(trending_date=day) for _ in range(210)]
    PaperFactory(trending_date=day - dt.timedelta(days=1))  # not in the filtered list
    topic = TopicFactory(name="Robotics")
    url = reverse("admin:newsletter_paper_changelist") + f"?trending_date={day.isoformat()}"
    page = editor_client.post(url, {"action": "topic_add", "select_across": "1", "index": "0",
                                    "_selected_action": [p.pk for p in papers[:50]]})
    assert "210 papers" in page.content.decode()

    answer = editor_client.post(url, {**hidden_fields(page.content.decode()), "apply": "Add topic",
                                      "topic": topic.pk})
    assert answer.status_code == 302
    assert set(PaperTopic.objects.filter(topic=topic).values_list("paper_id", flat=True)) == {p.pk for p in papers}


def test_a_topic_action_and_the_topic_filter_say_which_topic_is_switched_off(editor_client, db):
    """"Add a topic to selected papers…" offered a switched-off topic like the
    others (an editor's walkthrough, 7 December): given to a paper, it reaches no
    reader. It stays on offer (a paper can be prepared for it, or taken off it), said
    as the readers' pages say it; the list's topic filter the same."""
    paper = PaperFactory()
    TopicFactory(name="Robotics")
    TopicFactory(name="Model compression", is_active=False)
    changelist = reverse("admin:newsletter_paper_changelist")
    page = unescape(editor_client.post(changelist, {"action": "topic_add", "_selected_action": [paper.pk]})
                    .content.decode())
    offered = re.findall(r"<option[^>]*>([^<]*)</option>", page)
    assert "Robotics" in offered
    assert "Model compression (switched off: in no digest)" in offered
    assert "Model compression" not in offered

    listed = unescape(editor_client.get(changelist).content.decode())
    assert "Model compression (switched off: in no digest)</a>" in listed
    assert "Robotics</a>" in listed


def test_deleting_every_paper_of_a_long_list_deletes_them_all(editor_client, db):
    """"Select all 210" in the papers' list, "Delete selected papers", "Yes, I'm
    sure": Django's confirmation page posted back all 210 ids, one field each, past
    DATA_UPLOAD_MAX_NUMBER_FIELDS (200), and the editor got "Bad Request (400)" with
    no paper deleted (an editor's walkthrough, 7 December). It posts the choice of
    "all" with the list's filters, as the question pages of the other actions do."""
    from tests.forms import hidden_fields

    papers = [PaperFactory(trending_date=DAY) for _ in range(210)]
    kept = PaperFactory(trending_date=DAY - dt.timedelta(days=1), title="Not in the filtered list")
    url = reverse("admin:newsletter_paper_changelist") + f"?trending_date={DAY.isoformat()}"
    page = editor_client.post(url, {"action": "delete_selected", "select_across": "1", "index": "0",
                                    "_selected_action": [p.pk for p in papers[:50]]})
    assert "Are you sure you want to delete the selected papers?" in unescape(page.content.decode())

    answer = editor_client.post(url, hidden_fields(page.content.decode()), follow=True)
    assert answer.status_code == 200
    assert "Successfully deleted 210 papers." in answer.content.decode()
    assert list(Paper.objects.values_list("title", flat=True)) == [kept.title]


def test_no_take_me_back_on_a_papers_delete_page_leads_back_to_the_paper(editor_client, db):
    """A paper's page, "Delete", then "No, take me back": Django's link was href="#",
    which went nowhere without its script; it leads to the paper's page, with the
    list's filters the editor came with."""
    paper = PaperFactory(trending_date=DAY, title="A paper the editor keeps")
    filters = urlencode({"_changelist_filters": f"trending_date={DAY.isoformat()}"})
    page = editor_client.get(reverse("admin:newsletter_paper_delete", args=[paper.pk]) + "?" + filters)
    html = page.content.decode()
    assert 'Are you sure you want to delete the paper "A paper the editor keeps"?' in unescape(html)
    back = re.search(r'<a href="([^"]*)" class="button cancel-link">No, take me back</a>', html)
    assert back, html[html.find("Yes, I"):][:400]
    assert unescape(back.group(1)) == reverse("admin:newsletter_paper_change", args=[paper.pk]) + "?" + filters
    assert editor_client.get(unescape(back.group(1))).status_code == 200
    assert Paper.objects.filter(pk=paper.pk).exists()


def test_pinning_papers_of_which_one_was_pinned_already_writes_only_the_others_history(editor_client, db):
    """A paper's history says who pinned it; pinning it again when it was pinned
    already changed nothing, and its history says nothing more."""
    from django.contrib.admin.models import LogEntry

    was, now = PaperFactory(pinned=True), PaperFactory()
    response = editor_client.post(reverse("admin:newsletter_paper_changelist"),
                                  {"action": "pin", "_selected_action": [was.pk, now.pk]}, follow=True)
    assert "Pinned 1 paper (1 was pinned already)." in response.content.decode()
    logged = LogEntry.objects.filter(change_message="Pinned.")
    assert [e.object_id for e in logged] == [str(now.pk)]


def test_use_as_an_example_of_a_topic_asks_which_topic_and_shows_the_examples(editor_client, db):
    papers = [PaperFactory(title="Radar nowcasting of rain", abstract="Rain maps forecast an hour ahead."),
              PaperFactory(title="Ten-day global weather forecasts", abstract="Wind and pressure ahead.")]
    topic = TopicFactory(name="Weather", keywords="")
    url = reverse("admin:newsletter_paper_changelist")
    data = {"action": "topic_example", "_selected_action": [p.pk for p in papers]}
    page = editor_client.post(url, data).content.decode()
    assert "Use papers as examples of a topic" in page and "close to the topic" in page

    editor_client.post(url, {**data, "apply": "1", "topic": topic.pk})

    assert set(topic.exemplars.all()) == set(papers)
    topic.refresh_from_db()
    assert topic.exemplar_embedding is not None
    change = editor_client.get(reverse("admin:newsletter_topic_change", args=[topic.pk])).content.decode()
    assert "Radar nowcasting of rain" in change and "Ten-day global weather forecasts" in change
    # An example is about its topic: each carries it (the editors' walkthrough of 5
    # December found an example without it), also one the editor had taken it off.
    rows = PaperTopic.objects.filter(topic=topic, paper__in=papers)
    assert sorted(rows.values_list("source", "score")) == [("editor", 1.0), ("editor", 1.0)]

    other = PaperFactory(title="A third forecast", abstract="Storms.")
    editor_client.post(url, {"action": "topic_remove", "_selected_action": [other.pk], "apply": "1",
                             "topic": topic.pk})
    assert PaperTopic.objects.get(topic=topic, paper=other).score == 0
    editor_client.post(url, {"action": "topic_example", "_selected_action": [other.pk], "apply": "1",
                             "topic": topic.pk})
    assert PaperTopic.objects.get(topic=topic, paper=other).score == 1.0


def test_an_example_of_a_topic_can_be_taken_off_again(editor_client, db):
    """"Use as an example of a topic…" had no undo: the topic page listed the
    examples read-only and no action removed one (an editor's walkthrough)."""
    kept, mistaken = (PaperFactory(title="Radar nowcasting of rain"),
                      PaperFactory(title="A protein folding model"))
    topic = TopicFactory(name="Weather", keywords="")
    url = reverse("admin:newsletter_paper_changelist")
    editor_client.post(url, {"action": "topic_example", "_selected_action": [kept.pk, mistaken.pk],
                             "apply": "1", "topic": topic.pk})
    change = reverse("admin:newsletter_topic_change", args=[topic.pk])
    assert "Stop using as an example of a topic…" in editor_client.get(change).content.decode()

    data = {"action": "topic_unexample", "_selected_action": [mistaken.pk]}
    page = editor_client.post(url, data).content.decode()
    assert "Stop using papers as examples of a topic" in page and "they keep their topics" in page
    done = editor_client.post(url, {**data, "apply": "1", "topic": topic.pk}, follow=True)
    assert "1 paper is no longer an example of Weather" in done.content.decode()
    assert list(topic.exemplars.all()) == [kept]
    assert "A protein folding model" not in editor_client.get(change).content.decode()


def test_the_topic_filter_leaves_out_papers_an_editor_took_off_the_topic(editor_client, topic):
    """An editor's "not this topic" (a row of score 0) was still in the papers list
    filtered by the topic, and in its count."""
    kept = PaperFactory(title="A paper of the topic")
    taken_off = PaperFactory(title="A paper taken off the topic")
    PaperTopic.objects.create(paper=kept, topic=topic, score=0.6)
    PaperTopic.objects.create(paper=taken_off, topic=topic, score=0, source=PaperTopic.Source.EDITOR)
    url = reverse("admin:newsletter_paper_changelist")
    html = editor_client.get(url, {"topic": topic.pk}).content.decode()
    assert "A paper of the topic" in html and "A paper taken off the topic" not in html
    counted = editor_client.get(url, {"_facets": "True"}).content.decode()
    assert re.search(rf"{re.escape(topic.name)}\s*\(1\)", unescape(counted))
    # The topics list counts the same papers, and its count leads to them.
    topics = editor_client.get(reverse("admin:newsletter_topic_changelist")).content.decode()
    assert f'<a href="{url}?topic={topic.pk}">1</a>' in topics


def test_bulk_pin_pins_and_reorders_the_edition(editor_client, edition):
    last = edition.entries.order_by("-position").first().paper
    response = editor_client.post(reverse("admin:newsletter_paper_changelist"),
                                  {"action": "pin", "_selected_action": [last.pk]}, follow=True)
    assert edition.entries.get(position=1).paper == last
    assert [str(m) for m in response.context["messages"]] == ["Pinned 1 paper."]


def test_hiding_a_paper_that_went_out_says_in_how_many_digests_and_who_got_it(editor_client, edition):
    """An editor hid a paper 400 of 401 digests had carried, and was told only
    "Hidden: Lumiere…"; the deliveries list could not be filtered by paper (an
    editor's walkthrough). Hiding also counted papers hidden already ("Hid 40
    papers" of 40 hidden before)."""
    from newsletter.editions import edition_freeze

    edition_freeze(edition=edition)  # at its first send
    first, second = (edition.entries.get(position=n).paper for n in (1, 2))
    got, other = SubscriberFactory(email="got@example.com"), SubscriberFactory(email="not.this@example.com")
    Delivery.objects.create(subscriber=got, edition=edition, status=Delivery.Status.SENT,
                            paper_ids=[second.pk, first.pk], sent_at=timezone.now())
    Delivery.objects.create(subscriber=other, edition=edition, status=Delivery.Status.SENT,
                            paper_ids=[second.pk], sent_at=timezone.now())
    hide = reverse("admin:newsletter_edition_paper", args=[edition.pk, first.pk, "hide"])
    said = [str(m) for m in editor_client.post(hide, follow=True).context["messages"]]
    deliveries = reverse("admin:newsletter_delivery_changelist")
    assert said[0] == f"Hidden: {first.title}"
    assert said[1].startswith(f"“{first.title}” already went out in 1 digest: those emails cannot be changed")
    assert f'<a href="{deliveries}?carried={first.pk}">Who got it</a>' in said[1]
    listed = editor_client.get(deliveries, {"carried": first.pk}).content.decode()
    assert "g…@example.com" in listed and "n…@example.com" not in listed  # masked for an editor
    assert f"“{first.title}”" in unescape(listed)  # the filter says which paper

    response = editor_client.post(reverse("admin:newsletter_paper_changelist"),
                                  {"action": "hide", "_selected_action": [first.pk, second.pk]}, follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert said[0] == "Hid 1 paper (1 was hidden already)."
    assert any(m.startswith(f"“{second.title}” already went out in 2 digests") for m in said)


def test_hiding_a_paper_counts_the_digests_sent_with_it_up_to_its_last_weekly_digest_not_those_that_failed(
        editor_client, edition):
    """Who got a paper: its day's digests, and a weekly digest (of a late listing)
    sent as late as one can carry it, 11 days after its date; not a digest that
    failed, which no reader got."""
    from newsletter.editions import LATE_WITHIN_DAYS, edition_freeze
    from newsletter.ranking import WEEKLY_WINDOW_DAYS

    edition_freeze(edition=edition)
    paper = edition.entries.get(position=1).paper
    weekly = Edition.objects.create(date=DAY + dt.timedelta(days=WEEKLY_WINDOW_DAYS + LATE_WITHIN_DAYS),
                                    frozen_at=timezone.now())
    for day, status in ((edition, "sent"), (weekly, "sent"), (edition, "failed")):
        Delivery.objects.create(subscriber=SubscriberFactory(), edition=day, status=status, paper_ids=[paper.pk],
                                sent_at=timezone.now() if status == "sent" else None, error="x" * (status == "failed"))
    hide = reverse("admin:newsletter_edition_paper", args=[edition.pk, paper.pk, "hide"])
    said = [str(m) for m in editor_client.post(hide, follow=True).context["messages"]]
    assert said[1].startswith(f"“{paper.title}” already went out in 2 digests"), said
    listed = editor_client.get(reverse("admin:newsletter_delivery_changelist"), {"carried": paper.pk})
    assert {d.status for d in listed.context["cl"].result_list} == {"sent"}
    assert len(listed.context["cl"].result_list) == 2


def test_an_edition_all_hidden_and_a_hold_after_the_send_say_what_is_so(editor_client, edition):
    """Every paper hidden, the page said "No papers for this date yet. They are
    fetched every morning", and most of them hidden, nothing; Hold on an edition gone
    out to everyone said "Release it within a day: readers whose hour passed…" (an
    editor's walkthrough)."""
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    papers = [entry.paper for entry in edition.entries.all()]
    editor_client.post(reverse("admin:newsletter_paper_changelist"),
                       {"action": "hide", "_selected_action": [p.pk for p in papers[:2]]})
    assert "2 of the 3 papers of this date are hidden: readers get the 1 left." in editor_client.get(url).content.decode()
    editor_client.post(reverse("admin:newsletter_paper_changelist"),
                       {"action": "hide", "_selected_action": [p.pk for p in papers]})
    page = editor_client.get(url).content.decode()
    assert "Every paper of this date is hidden: this edition has nothing to send" in page
    assert "No papers for this date yet" not in page and "are hidden: readers get" not in page

    editor_client.post(reverse("admin:newsletter_paper_changelist"),
                       {"action": "unhide", "_selected_action": [p.pk for p in papers]})
    from newsletter.editions import edition_freeze

    edition_freeze(edition=edition)
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.SENT,
                            sent_at=timezone.now())
    held = editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "hold"]), follow=True)
    said = [str(m) for m in held.context["messages"]]
    assert said[-1].startswith("On hold. This edition already went out to 1 reader;"), said
    # With a digest still to go, the hold is the one that stops it: said as such.
    editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "release"]))
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.PENDING)
    held = editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "hold"]), follow=True)
    said = [str(m) for m in held.context["messages"]]
    assert said[-1].startswith("On hold: no digest of this edition goes out until you release it."), said


def test_a_deliverys_page_reads_as_words_not_ids_and_has_no_save_button(editor_client, edition):
    """It was titled "2/402: sent", listed "DeliveryEvent object (1)", "Paper ids:
    [102, 105…]" and the why lines as a JSON list, under Save buttons (an editor's
    walkthrough)."""
    from newsletter.models import DeliveryEvent

    first, second = (edition.entries.get(position=n).paper for n in (1, 2))
    delivery = Delivery.objects.create(
        subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.SENT, sent_at=timezone.now(),
        paper_ids=[first.pk, second.pk], picked=1, reasons=["Forgetting studies · matched: forgetting"])
    DeliveryEvent.objects.create(delivery=delivery, event_id="e1", event_type="delivered", occurred_at=timezone.now())
    page = unescape(editor_client.get(reverse("admin:newsletter_delivery_change", args=[delivery.pk])).content.decode())
    assert f"Digest of 24 Nov 2025 to reader {delivery.subscriber_id}: sent" in page
    assert f">{first.title}</a> <small class=\"muted\">pick: Forgetting studies · matched: forgetting</small>" in page
    assert f">{second.title}</a> <small class=\"muted\">also trending</small>" in page
    assert "DeliveryEvent object" not in page and "[" + str(first.pk) not in page
    assert 'name="_save"' not in page and 'name="_continue"' not in page


def test_a_failed_deliverys_page_names_a_paper_deleted_since_as_deleted(editor_client, edition):
    """A paper can be deleted while no digest has gone out with it: the failed digest
    that would have carried it still lists it, by number, as deleted."""
    from newsletter import services

    gone = PaperFactory(trending_date=DAY, title="A paper deleted since")
    delivery = Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.FAILED,
                                       error="x", paper_ids=[gone.pk], picked=1, reasons=[""])
    services.papers_delete(papers=Paper.objects.filter(pk=gone.pk))
    page = unescape(editor_client.get(reverse("admin:newsletter_delivery_change", args=[delivery.pk])).content.decode())
    assert f">paper {gone.pk} (deleted)</a> <small class=\"muted\">pick</small>" in page


def test_the_papers_list_marks_a_hidden_paper_hidden_and_a_pinned_one_pinned(editor_client, db):
    hidden, pinned = PaperFactory(title="Hidden one", hidden=True), PaperFactory(title="Pinned one", pinned=True)
    html = editor_client.get(reverse("admin:newsletter_paper_changelist")).content.decode()
    rows = {title: re.findall(r'<span class="badge \w+">(\w+)</span>', row)
            for row in html.split("<tr")[1:] for title in (hidden.title, pinned.title) if title in row}
    assert rows == {"Hidden one": ["Hidden"], "Pinned one": ["Pinned"]}


def test_a_note_saved_on_a_sent_edition_says_who_sees_it_and_a_papers_labels_read_as_written(
    editor_client, edition
):
    """Saving a note on an edition that had gone out said only "changed
    successfully"; a paper's page read "Arxiv id" and "Ai summary" (an editor's
    walkthrough)."""
    from newsletter.editions import edition_freeze

    edition_freeze(edition=edition)
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    response = editor_client.post(url, {"note": "A late word.", "_continue": "1"}, follow=True)
    said = " ".join(str(m) for m in response.context["messages"])
    assert "This edition already went out: the emails sent, and each reader's copy of theirs in a browser, keep " \
           "the note they had" in said
    # Saved again with the same note: nothing changed for anyone, nothing to warn of.
    response = editor_client.post(url, {"note": "A late word.", "_continue": "1"}, follow=True)
    assert "already went out" not in " ".join(str(m) for m in response.context["messages"])
    paper = edition.entries.first().paper
    page = editor_client.get(reverse("admin:newsletter_paper_change", args=[paper.pk])).content.decode()
    assert ">arXiv id:</label>" in page and ">AI summary:</label>" in page and "Arxiv id" not in page


def test_a_paper_is_added_by_pasting_an_api_entry(editor_client, db):
    entry = {"paper": {"id": "2511.77777", "title": "Pasted Paper About Agents",
                       "summary": "An abstract.", "authors": [{"name": "Ada"}], "upvotes": 12}}
    response = editor_client.post(reverse("admin:newsletter_paper_add_json"),
                                  {"entry": json.dumps(entry), "trending_date": "2025-11-24"})
    paper = Paper.objects.get(arxiv_id="2511.77777")
    assert response.status_code == 302 and str(paper.pk) in response["Location"]
    assert paper.trending_date == DAY and paper.upvotes == 12


def test_a_re_paste_says_what_it_did_and_where_the_paper_is_listed(editor_client, db):
    """Pasting a paper again with another date moved it (or left it) without a word:
    the message said "Added or updated 1 paper(s)."; an entry with a title and
    nothing else was taken as a paper with no abstract."""
    url = reverse("admin:newsletter_paper_add_json")
    entry = {"paper": {"id": "2511.77777", "title": "Pasted Paper About Agents", "summary": "An abstract."}}

    def paste(date: str, item=entry) -> list[str]:
        response = editor_client.post(url, {"entry": json.dumps(item), "trending_date": date}, follow=True)
        return [str(m) for m in response.context["messages"]]

    assert paste("2025-11-24") == ["Added 1 paper."]
    assert paste("2025-11-24") == ["1 paper already as pasted."]
    later = paste("2025-11-26")
    assert later[1] == ("“Pasted Paper About Agents” stays on Monday 24 November 2025, the first day it trended, "
                        "not Wednesday 26 November 2025. Change its date on its page to move it.")
    earlier = paste("2025-11-20")
    assert earlier == ["Updated 1 paper.", ("“Pasted Paper About Agents” moved from Monday 24 November 2025 to "
                       "Thursday 20 November 2025: a paper is listed on the first day it trended.")]
    assert Paper.objects.get().trending_date == dt.date(2025, 11, 20)

    response = editor_client.post(url, {"entry": json.dumps({"paper": {"title": "Only a Title"}}),
                                        "trending_date": "2025-11-24"})
    assert ("item 1 (&quot;Only a Title&quot;): has no abstract (paper.summary): paste the whole entry"
            in response.content.decode())
    assert not Paper.objects.filter(title="Only a Title").exists()


def test_bad_json_is_explained_not_imported(editor_client, db):
    response = editor_client.post(reverse("admin:newsletter_paper_add_json"),
                                  {"entry": "{nope", "trending_date": "2025-11-24"})
    assert "Not valid JSON" in response.content.decode()
    # An empty list or object adds nothing, and says so (it was "Added or updated 0 paper(s)").
    for empty in ("[]", "{}"):
        response = editor_client.post(reverse("admin:newsletter_paper_add_json"),
                                      {"entry": empty, "trending_date": "2025-11-24"})
        assert "Nothing to add: paste an entry of the API, or a list of them." in response.content.decode()
    assert not Paper.objects.exists()


def _api_day(n: int, *, authors: int) -> list[dict]:
    """A day's response of the API: n entries, each with `authors` authors."""
    return [{"paper": {"id": f"2511.{70000 + i}", "title": f"A Long Paper Number {i}", "summary": "An abstract.",
                       "authors": [{"name": f"Author {a} of paper {i}"} for a in range(authors)], "upvotes": i}}
            for i in range(n)]


def test_a_list_too_long_to_paste_is_added_from_its_saved_file(editor_client, settings):
    """A day's response with large author lists is past what a paste may be
    (DATA_UPLOAD_MAX_MEMORY_SIZE: a bare 400, the text gone); saved as a file, it
    goes through the same importer. Files from Windows' editors (UTF-16 with a byte
    order mark) too."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    day = _api_day(12, authors=1500)
    body = json.dumps(day).encode("utf-16")
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = editor_client.post(
        reverse("admin:newsletter_paper_add_json"),
        {"file": SimpleUploadedFile("daily_papers.json", body, "application/json"), "trending_date": "2025-11-24"},
        follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Added 12 papers."]
    assert Paper.objects.filter(trending_date=DAY).count() == 12


@pytest.mark.parametrize(("fields", "said"), [
    ({}, "Paste an entry of the API, or choose a file of them."),
    ({"entry": "[]"}, "Nothing to add: paste an entry of the API, or a list of them."),
    ({"entry": '{"paper": {}}', "file": b"[]"}, "Paste an entry or choose a file, not both."),
    ({"file": b'[{"paper": '}, ("day.json: not valid JSON: Expecting value at line 1 column 12. Choose it again "
                                "once it is put right.")),
    ({"file": "[\"caf\u00e9\"]".encode("latin-1")}, "day.json: not Unicode text"),
    ({"file": b"x" * 33}, ("This file is 33\xa0bytes, over the 32\xa0bytes a file may be here: import it with "
                           "manage.py fetch_papers --file.")),
])
def test_the_paste_form_says_what_is_wrong_with_what_it_was_given(editor_client, monkeypatch, fields, said):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from newsletter import admin as newsletter_admin

    monkeypatch.setattr(newsletter_admin, "PAPERS_FILE_MAX_BYTES", 32)
    data = {"trending_date": "2025-11-24", **fields}
    if "file" in data:
        data["file"] = SimpleUploadedFile("day.json", data["file"], "application/json")
    response = editor_client.post(reverse("admin:newsletter_paper_add_json"), data)
    assert response.status_code == 200
    assert said in unescape(response.content.decode())
    assert not Paper.objects.exists()


def test_a_trending_date_still_to_come_is_refused_beside_the_date(editor_client, db):
    """The paste form's date is held to the importer's rule (ingest.trending_date_refusal):
    2099-01-01 put the pasted paper on the front page, alone, as the site's newest day.
    The error is beside the date field, and the entry stays in its box."""
    entry = json.dumps(_api_day(1, authors=2)[0])
    response = editor_client.post(reverse("admin:newsletter_paper_add_json"),
                                  {"entry": entry, "trending_date": "2099-01-01"})
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "trending_date": ["2099-01-01 is a date still to come: give the date the papers trended on."]}
    assert "A Long Paper Number 0" in response.content.decode()
    assert not Paper.objects.exists()


def test_a_files_papers_refused_are_told_beside_the_file_not_the_empty_paste_box(editor_client, db):
    """A saved file whose entry has no abstract is refused by the importer; the
    problem was put under the paste box, empty, not under the file chosen."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    day = _api_day(1, authors=1)
    del day[0]["paper"]["summary"]
    response = editor_client.post(reverse("admin:newsletter_paper_add_json"), {
        "file": SimpleUploadedFile("day.json", json.dumps(day).encode(), "application/json"),
        "trending_date": "2025-11-24"})
    errors = response.context["form"].errors
    assert list(errors) == ["file"] and "has no abstract" in errors["file"][0]
    assert not Paper.objects.exists()


@pytest.mark.parametrize(("entry", "said"), [
    ('{"paper": {"id": "2511.77777", "title": "T", "summary": "A.", "upvotes": ' + "9" * 5000 + "}}",
     "Not valid JSON: a number of over 4300 digits."),
    ("[" * 100_000 + "]" * 100_000, "Not valid JSON: nested too deeply."),
])
def test_json_that_python_cannot_read_is_explained_not_a_500(editor_client, db, entry, said):
    """Python's json refuses an integer of over 4,300 digits (a ValueError that is not
    a JSONDecodeError) and lists nested 100,000 deep (a RecursionError): each paste
    was a 500."""
    response = editor_client.post(reverse("admin:newsletter_paper_add_json"),
                                  {"entry": entry, "trending_date": "2025-11-24"})
    assert response.status_code == 200
    assert said in response.content.decode()
    assert not Paper.objects.exists()


def test_topic_preview_shows_matches_before_saving(editor_client, topic):
    today = dt.date.today()
    PaperFactory(trending_date=today, title="Overcoming catastrophic forgetting in agents")
    PaperFactory(trending_date=today, title="Web agents that browse")
    url = reverse("admin:newsletter_topic_preview") + f"?topic={topic.pk}"
    html = editor_client.post(url, {"keywords": "web agents"}).content.decode()
    assert "Web agents that browse" in html and "new match" in html
    topic.refresh_from_db()
    assert topic.keywords == "catastrophic forgetting"  # nothing saved


def test_the_topic_preview_counts_and_scores_an_editors_decisions_as_saving_leaves_them(editor_client, topic):
    """A paper an editor took the topic off stays off after a save (re-scoring never
    overwrites an editor's row): the preview read it "Now 0.00, After 0.61, kept
    (editor's choice)" and counted it, with the papers dropping out, among those
    that "would be in this topic" (an editor's walkthrough, 7 December)."""
    from newsletter.services import paper_topic_set

    today = dt.date.today()
    taken_off = PaperFactory(trending_date=today, title="Web agents that browse")
    paper_topic_set(paper=taken_off, topic=topic, assigned=False)
    PaperFactory(trending_date=today, title="Web agents that book flights")
    gone = PaperFactory(trending_date=today, title="Protein folding at scale")
    PaperTopicFactory(paper=gone, topic=topic, score=0.9)
    url = reverse("admin:newsletter_topic_preview") + f"?topic={topic.pk}"

    html = unescape(editor_client.post(url, {"keywords": "web agents"}).content.decode())

    assert re.search(r"<strong>1</strong> paper of the last 7 days with papers would be in this topic", html), html
    row = re.search(r"<td>Web agents that browse</td>.*?</tr>", html, re.DOTALL).group(0)
    assert "<td>0.00</td><td>0.00</td><td>kept out (editor's choice)</td>" in row, row


def test_the_topic_preview_reads_the_newest_days_with_papers_not_the_calendars(editor_client, topic):
    """The editors' walkthrough of 5 December previewed topics on `make run`'s sample
    day, a year old: "No paper of the last 7 days matches" whatever was typed. The
    preview now reads the newest 7 days that have papers."""
    long_ago = dt.date.today() - dt.timedelta(days=400)
    PaperFactory(trending_date=long_ago, title="Web agents that browse")
    url = reverse("admin:newsletter_topic_preview") + f"?topic={topic.pk}"
    html = editor_client.post(url, {"keywords": "web agents"}).content.decode()
    assert "Web agents that browse" in html and "of the last 7 days with papers" in html


def test_a_new_topic_previews_by_its_typed_name_and_description_before_any_keyword(
    editor_client, default_topics
):
    """An editor writes a topic as a definition (the Add page, no keyword yet), beside
    the default topics: the preview reads the typed name and description, embedded as
    saving would, and says why each paper would be in it. Nothing is saved."""
    today = dt.date.today()
    PaperFactory(trending_date=today, title="Robust Speech Recognition via Large-Scale Weak Supervision",
                 abstract="We train a speech recognition model on 680,000 hours of multilingual audio "
                          "transcripts from the internet. It transcribes and translates spoken language "
                          "in many languages, approaching human accuracy without fine-tuning.")
    PaperFactory(trending_date=today, title="Web agents that book flights",
                 abstract="A language-model agent browses websites, fills in forms and calls tools "
                          "to complete multi-step tasks for its user.")
    url = reverse("admin:newsletter_topic_preview")
    typed = {"name": "Speech & audio", "slug": "speech", "keywords": "",
             "description": "Models that hear and speak: speech recognition, text-to-speech, audio "
                            "generation and codecs, music, spoken dialogue."}

    html = unescape(editor_client.post(url, typed).content.decode())
    assert "Robust Speech Recognition" in html and "close to the topic's description" in html
    assert "Web agents that book flights" not in html

    html = unescape(editor_client.post(url, {**typed, "name": "", "description": ""}).content.decode())
    assert "Robust Speech Recognition" not in html and "Give the topic a name and a description" in html
    assert not Topic.objects.filter(slug="speech").exists()


def test_the_topic_preview_reads_broad_as_ticked_in_the_form(editor_client, db):
    """Ticking "broad" on an umbrella topic leaves to a narrower topic the papers it
    explains better: the preview shows that before the save, read from the box as
    typed, not from the topic as stored."""
    TopicFactory(name="Diffusion", keywords="diffusion model\ntext-to-image")  # something else
    TopicFactory(name="Continual learning", keywords="rehearsal\nlifelong learning\ncontinual learning")
    umbrella = TopicFactory(name="Machine learning", keywords="learning", is_broad=False)
    paper = PaperFactory(trending_date=dt.date.today(), title="Rehearsal for Lifelong Learning",
                         abstract="Rehearsal of old examples helps lifelong learning.")
    from newsletter.relevance import papers_score

    papers_score(papers=[paper])
    url = reverse("admin:newsletter_topic_preview") + f"?topic={umbrella.pk}"
    typed = {"name": umbrella.name, "slug": umbrella.slug, "keywords": umbrella.keywords, "description": ""}

    html = unescape(editor_client.post(url, typed).content.decode())
    row = re.search(r"<td>Rehearsal for Lifelong Learning</td>.*?</tr>", html).group(0)
    assert "drops out" not in row
    html = unescape(editor_client.post(url, {**typed, "is_broad": "on"}).content.decode())
    assert re.search(r"<td>Rehearsal for Lifelong Learning</td>.*?<td>drops out</td>", html), html


def test_saving_a_topic_rescores_papers(editor_client, topic):
    paper = PaperFactory(title="Web agents that browse")
    url = reverse("admin:newsletter_topic_change", args=[topic.pk])
    editor_client.post(url, {"name": topic.name, "slug": topic.slug, "description": "",
                             "keywords": "web agents", "is_active": "on", "position": 0})
    assert PaperTopic.objects.filter(paper=paper, topic=topic, score__gt=0).exists()


def test_saving_a_topics_definition_says_which_recent_papers_came_in_and_went_out(editor_client, topic):
    """An editor who rewrote a topic's keywords was told "changed successfully": what
    the new definition did to the papers its readers get, only by opening the
    preview before saving. The message after the save now says it, with titles."""
    today = timezone.localdate()
    web = [PaperFactory(title=f"Web agents that browse, part {n}", trending_date=today, upvotes=n,
                        abstract="Web agents browse websites to complete tasks.") for n in range(5)]
    old = PaperFactory(title="Catastrophic forgetting in continual learners", trending_date=today,
                       abstract="Catastrophic forgetting in continual learning.")
    from newsletter.relevance import topics_rescore

    topics_rescore(changed=topic)
    url = reverse("admin:newsletter_topic_change", args=[topic.pk])
    form = {"name": "Web agents", "slug": topic.slug, "description": "", "keywords": "web agents",
            "is_active": "on", "position": 0}

    said = [str(m) for m in editor_client.post(url, form, follow=True).context["messages"]]

    (rescored,) = [m for m in said if m.startswith("Re-scored")]
    assert rescored.startswith("Re-scored: it now passes for 5 papers of the last 30 days (was 1). 5 came in: "
                               f"“{web[4].title}”; “{web[3].title}”; “{web[2].title}” and 2 more. "
                               f"1 went out: “{old.title}”.")
    assert rescored.endswith("Its history keeps the previous definition.")
    # Saved again unchanged in its definition: no re-score, nothing said of one.
    form["position"] = 1
    said = [str(m) for m in editor_client.post(url, form, follow=True).context["messages"]]
    assert not [m for m in said if m.startswith("Re-scored")]
    # Back to the old words: more went out than came in, said as a warning, not a success.
    form.update(name=topic.name, keywords="catastrophic forgetting")
    said = list(editor_client.post(url, form, follow=True).context["messages"])
    (rescored,) = [m for m in said if str(m).startswith("Re-scored")]
    assert "5 went out" in str(rescored) and rescored.tags == "warning"


def test_a_not_line_that_would_do_nothing_or_cancel_a_keyword_is_explained_and_nothing_saved(editor_client, topic):
    url = reverse("admin:newsletter_topic_change", args=[topic.pk])
    form = {"name": topic.name, "slug": topic.slug, "description": "", "is_active": "on", "position": 0}
    html = editor_client.post(url, {**form, "keywords": "catastrophic forgetting\nnot:experience replay\n"
                                                        "not:catastrophic forgetting\ntitle:"}).content.decode()
    html = unescape(html)
    assert "“not:experience replay” contains none of this topic's keywords, so it would change nothing" in html
    assert "“not:catastrophic forgetting” is the keyword “catastrophic forgetting” itself" in html
    assert "“title:” has no word to match" in html
    topic.refresh_from_db()
    assert topic.keywords == "catastrophic forgetting"
    # A "not:" line that contains a keyword is what the grammar is for: saved.
    response = editor_client.post(url, {**form, "keywords": "forgetting\nnot:forgetting factor"})
    assert response.status_code == 302
    topic.refresh_from_db()
    assert topic.keyword_list == ["forgetting", "not:forgetting factor"]


def test_the_ledger_says_which_digests_bounced_or_were_marked_as_spam(editor_client, edition):
    """A digest the provider reported bounced read "Sent" in the deliveries' list like
    every other row: only the reader's page, or filtering by the event, said
    otherwise (an editor's walkthrough, 7 December). Each row's status has the
    provider's latest event ("Sent · bounced"), read in one query for the page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    rows = {}
    for name, events in (("bounced", ["delivered", "bounced"]), ("complained", ["complained"]),
                         ("delivered", ["delivered"]), ("silent", [])):
        rows[name] = Delivery.objects.create(subscriber=SubscriberFactory(email=f"{name}@example.com"),
                                             edition=edition, status="sent", sent_at=now)
        for minutes, event in enumerate(events):
            rows[name].events.create(event_id=f"{name}-{event}", event_type=event,
                                     occurred_at=now + dt.timedelta(minutes=minutes))

    with CaptureQueriesContext(connection) as queries:
        html = editor_client.get(reverse("admin:newsletter_delivery_changelist")).content.decode()
    for name, said in (("bounced", "Sent · bounced"), ("complained", "Sent · complained"),
                       ("delivered", "Sent · delivered"), ("silent", "Sent")):
        row = re.search(rf"<tr>(?:(?!</tr>).)*?{email_masked(name + '@example.com')}.*?</tr>", html, re.DOTALL).group(0)
        assert f'<td class="field-status_said">{said}</td>' in row, row
    assert sum('FROM "newsletter_deliveryevent"' in q["sql"] for q in queries) == 1


def test_the_ledger_names_a_soft_bounce_and_a_not_spam_report_in_words(editor_client, edition):
    """Two event types are stored under names of ours (newsletter/webhooks.py:
    soft_bounced, not_spam): the ledger's list read "Sent · soft_bounced" and the
    digest's page "soft_bounced", where every other type reads as a word ("Sent ·
    bounced")."""
    now = timezone.now()
    rows = {}
    for kind in ("soft_bounced", "not_spam"):
        rows[kind] = Delivery.objects.create(subscriber=SubscriberFactory(email=f"{kind}@example.com"),
                                             edition=edition, status="sent", sent_at=now)
        rows[kind].events.create(event_id=kind, event_type=kind, occurred_at=now, description="452 4.2.2 Mailbox full")

    html = editor_client.get(reverse("admin:newsletter_delivery_changelist")).content.decode()
    page = editor_client.get(reverse("admin:newsletter_delivery_change", args=[rows["soft_bounced"].pk]))

    for kind, said in (("soft_bounced", "Sent · soft bounced"), ("not_spam", "Sent · not spam")):
        row = re.search(rf"<tr>(?:(?!</tr>).)*?{email_masked(kind + '@example.com')}.*?</tr>", html, re.DOTALL).group(0)
        assert f'<td class="field-status_said">{said}</td>' in row, row
    text = " ".join(re.sub(r"<[^>]+>", " ", page.content.decode()).split())
    assert "soft bounced" in text and "soft_bounced" not in text


def test_retry_failed_action_sends_through_the_ledger(editor_client, edition, topic,
                                                      django_capture_on_commit_callbacks):
    reader = SubscriberFactory()
    reader.topics.add(topic)
    row = Delivery.objects.create(subscriber=reader, edition=edition, status="failed", error="x")
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(reverse("admin:newsletter_delivery_changelist"),
                           {"action": "retry_failed", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == "sent"
    assert [m.to[0] for m in mail.outbox] == [reader.email]

    # Again, now that it went: nothing is queued, and the editor is told why (it said
    # "Queued 0 failed deliveries again." in green: an editors' walkthrough, 5 December).
    response = editor_client.post(reverse("admin:newsletter_delivery_changelist"),
                                  {"action": "retry_failed", "_selected_action": [row.pk]}, follow=True)
    nothing = ("Nothing queued: none of the 1 selected had failed (only failed deliveries are sent again; "
               "filter by Status: Failed).")
    assert [(str(m), m.level_tag) for m in response.context["messages"]][-1] == (nothing, "warning")
    assert len(mail.outbox) == 1

    # A selection of a failed row and a sent one: the sent one is said to be left as it is.
    other = SubscriberFactory()
    other.topics.add(topic)
    failed = Delivery.objects.create(subscriber=other, edition=edition, status="failed", error="x")
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(reverse("admin:newsletter_delivery_changelist"),
                                      {"action": "retry_failed", "_selected_action": [row.pk, failed.pk]}, follow=True)
    assert str(list(response.context["messages"])[-1]) == (
        "Queued 1 failed delivery again. The other 1 selected had not failed: left as they are.")


@pytest.mark.parametrize("listed_up_to", [10_000, 2], ids=["a rare type, read from its events", "a common type"])
def test_deliveries_filter_by_provider_event(editor_client, edition, topic, monkeypatch, listed_up_to):
    """The same rows either way the filter reads them (ProviderEventFilter: a type
    with few events from its events, a common one by EXISTS on the list's order)."""
    from newsletter.admin import ProviderEventFilter

    monkeypatch.setattr(ProviderEventFilter, "listed_up_to", listed_up_to)
    now = dt.datetime.now(dt.UTC)
    a, b = SubscriberFactory(email="bounced@example.com"), SubscriberFactory(email="fine@example.com")
    c = SubscriberFactory(email="claire@example.com")
    da = Delivery.objects.create(subscriber=a, edition=edition, status="sent", attempts=2)
    db_ = Delivery.objects.create(subscriber=b, edition=edition, status="sent")
    dc = Delivery.objects.create(subscriber=c, edition=edition, status="sent")
    da.events.create(event_id="x1", event_type="bounced", occurred_at=now)
    dc.events.create(event_id="x2", event_type="bounced", occurred_at=now)
    dc.events.create(event_id="x3", event_type="bounced", occurred_at=now)  # a second report of it
    db_.events.create(event_id="x4", event_type="delivered", occurred_at=now)
    response = editor_client.get(reverse("admin:newsletter_delivery_changelist"), {"event": "bounced"})
    html = response.content.decode()
    assert "b…@example.com" in html and "c…@example.com" in html and "f…@example.com" not in html  # masked
    assert html.index("c…@example.com") < html.index("b…@example.com")  # the ledger's order: newest first
    assert response.context["cl"].result_count == 2
    # A column the editor sorts by still orders them (attempts, most first).
    html = editor_client.get(reverse("admin:newsletter_delivery_changelist"), {"event": "bounced", "o": "-4"}
                             ).content.decode()
    assert html.index("b…@example.com") < html.index("c…@example.com")
    response = editor_client.get(reverse("admin:newsletter_delivery_changelist"), {"event": "complained"})
    assert response.context["cl"].result_count == 0


@pytest.mark.postgresql
def test_the_ledger_filtered_by_a_rare_provider_event_reads_its_rows_by_key_not_the_order_index(
    editor_client, edition
):
    """Bounces are rare: the rows they were reported for are read by key and sorted,
    newest first. Walking the list order's index for them went back through every
    edition since the last burst (1.7 s four editions back at 8.4 million rows,
    docs/benchmarks.md, "The ledger filtered by a rare provider event")."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.plans import query_plan

    now = dt.datetime.now(dt.UTC)
    for n in range(3):
        delivery = Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status="sent")
        delivery.events.create(event_id=f"b{n}", event_type="bounced", occurred_at=now)
    with CaptureQueriesContext(connection) as queries:
        response = editor_client.get(reverse("admin:newsletter_delivery_changelist"), {"event": "bounced"})
    assert response.context["cl"].result_count == 3
    page = next(q["sql"] for q in queries if 'FROM "newsletter_delivery"' in q["sql"] and "ORDER BY" in q["sql"])
    plan = query_plan(page)
    assert "delivery_created_idx" not in plan and "Sort" in plan, plan


def test_schedules_are_in_the_admin_with_plain_names(admin_client, db):
    from newsletter.schedules import DEFAULT_SCHEDULES, schedules_ensure

    schedules_ensure()
    html = admin_client.get("/" + __import__("django.conf").conf.settings.ADMIN_URL
                            + "django_celery_beat/periodictask/").content.decode()
    for name in DEFAULT_SCHEDULES:
        assert name.replace("'", "&#x27;") in html


def _schedules_shown(html: str) -> dict[str, str]:
    """{schedule name: its Schedule column} of beat's list of schedules in the admin."""
    rows = re.findall(r'<th class="field-name">.*?>([^<]+)</a></th>.*?<td class="field-scheduler">([^<]*)</td>', html, re.DOTALL)
    return {unescape(name): unescape(when) for name, when in rows}


@pytest.mark.parametrize("made_by", ["this release", "the release before"])
def test_the_list_of_schedules_says_each_interval_in_words(admin_client, editor_client, made_by):
    """The list of beat's schedules said "every 86400 seconds" beside "Delete expired
    sign-ins (every day)" (and "every 300 seconds", "every 60 seconds"): the
    intervals were kept in seconds. They are kept in the largest of beat's own
    periods they are a whole number of, which django-celery-beat says in words; a
    database the release before made is moved to them (migration 0039)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from newsletter.schedules import DEFAULT_SCHEDULES, schedules_ensure

    schedules_ensure()
    if made_by == "the release before":
        for task in PeriodicTask.objects.exclude(interval=None).select_related("interval"):
            seconds = int(task.interval.schedule.run_every.total_seconds())
            task.interval = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)[0]
            task.save()
        IntervalSchedule.objects.exclude(period=IntervalSchedule.SECONDS).delete()
        importlib.import_module("newsletter.migrations.0039_intervals_in_words").forward(apps, None)
    base = "/" + __import__("django.conf").conf.settings.ADMIN_URL + "django_celery_beat/"

    for client in (admin_client, editor_client):
        shown = _schedules_shown(client.get(base + "periodictask/").content.decode())
        assert set(shown) == set(DEFAULT_SCHEDULES)
        assert shown["Delete expired sign-ins (every day)"] == "every day"
        assert shown["Forget personal data past its time (every day)"] == "every day"
        assert shown["Score papers left without a vector (every 5 minutes)"] == "every 5 minutes"
        assert shown["Settle deliveries of dead workers (every 20 seconds)"] == "every 20 seconds"
        assert shown["Send the emails owed since Redis was away (every minute)"] == "every minute"
        assert shown["Refresh public pages changed while Redis was away (every minute)"] == "every minute"
    # The same words where a superuser chooses an interval, and on an editor's page of one.
    sessions = PeriodicTask.objects.get(task="newsletter.tasks.sessions_clear")
    page = admin_client.get(f"{base}periodictask/{sessions.pk}/change/").content.decode()
    assert "selected>every day</option>" in page and "86400" not in page
    # Two daily schedules share one "every day": the superuser's choice lists it once.
    assert page.count(">every day</option>") == 1
    assert ">every day<" in editor_client.get(f"{base}periodictask/{sessions.pk}/change/").content.decode()
    assert "86400" not in admin_client.get(base + "intervalschedule/").content.decode()


def test_an_interval_is_kept_in_the_longest_period_it_is_a_whole_number_of():
    """A schedule of 90 seconds runs every 90 seconds and is said so, not "every
    minute"; one of two hours is "every 2 hours"."""
    from newsletter.schedules import interval_in_periods

    assert interval_in_periods(90) == (90, "seconds")
    assert interval_in_periods(2 * 3600) == (2, "hours")
    assert interval_in_periods(36 * 3600) == (36, "hours")


def test_the_list_of_schedules_says_each_crontab_in_words(admin_client, editor_client):
    """Beside "every day" for an interval, the list said a crontab raw: "30 5 * * *
    (m/h/dM/MY/d) UTC" for the morning fetch, "*/15 * * * * (m/h/dM/MY/d) UTC" for
    the dispatcher. The shapes the schedules take read as a person says them, in the
    crontab's zone; a shape not put in words keeps the raw form, never a wrong one."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from newsletter.schedules import schedules_ensure

    schedules_ensure()
    for name, fields in {
        "Paris Mondays": {"minute": "0", "hour": "6", "day_of_week": "1", "timezone": "Europe/Paris"},
        "Weekdays": {"minute": "5", "hour": "18", "day_of_week": "mon-fri"},
        "Two days": {"minute": "0", "hour": "9", "day_of_week": "4,1"},
        "Hourly": {"minute": "0", "hour": "*"},
        "Hourly in Kolkata": {"minute": "15", "hour": "*", "timezone": "Asia/Kolkata"},
        "Each minute": {"minute": "*", "hour": "*"},
        "First of the month": {"minute": "30", "hour": "5", "day_of_month": "1"},
        "Twice a day": {"minute": "0", "hour": "6,18"},
        "Weekends": {"minute": "0", "hour": "10", "day_of_week": "sun,sat"},
        "Hourly on weekdays": {"minute": "0", "hour": "*", "day_of_week": "1-5"},
        "Twice an hour, close together": {"minute": "0,15", "hour": "*"},
        "Every 25 minutes, or so": {"minute": "*/25", "hour": "*"},
    }.items():
        PeriodicTask.objects.create(name=name, task="newsletter.tasks.sessions_clear",
                                    crontab=CrontabSchedule.objects.create(**fields))
    base = "/" + __import__("django.conf").conf.settings.ADMIN_URL + "django_celery_beat/periodictask/"
    said = {
        "Fetch today's trending papers (every morning)": "every day at 05:30 UTC",
        "Send the digests due now (every 15 minutes)": "every 15 minutes",
        "Paris Mondays": "Mondays at 06:00 Europe/Paris",
        "Weekdays": "weekdays at 18:05 UTC",
        "Two days": "Mondays and Thursdays at 09:00 UTC",
        "Hourly": "every hour on the hour",
        "Hourly in Kolkata": "every hour at 15 past (Asia/Kolkata)",
        "Each minute": "every minute",
        "First of the month": "30 5 1 * * (m/h/dM/MY/d) UTC",
        "Twice a day": "0 6,18 * * * (m/h/dM/MY/d) UTC",
        "Weekends": "Saturdays and Sundays at 10:00 UTC",  # the week from Monday, as the house says it
        # Not "every hour on the hour": it leaves out the weekend.
        "Hourly on weekdays": "0 * * * 1-5 (m/h/dM/MY/d) UTC",
        # Not "every 15 minutes": twice an hour.
        "Twice an hour, close together": "0,15 * * * * (m/h/dM/MY/d) UTC",
        # Not "every 25 minutes": :00, :25, :50, then :00 again ten minutes later.
        "Every 25 minutes, or so": "*/25 * * * * (m/h/dM/MY/d) UTC",
        "Delete expired sign-ins (every day)": "every day",
    }

    for client in (admin_client, editor_client):
        shown = _schedules_shown(client.get(base).content.decode())
        assert {name: shown[name] for name in said} == said
    # The same words on an editor's page of the dispatcher.
    dispatch = PeriodicTask.objects.get(task="newsletter.tasks.digests_dispatch")
    assert ">every 15 minutes<" in editor_client.get(f"{base}{dispatch.pk}/change/").content.decode()


def test_an_editor_moves_the_morning_fetch_and_only_sees_the_other_schedules(editor_client, db):
    """Editors' group could only view beat's schedules, and the tasks had no
    description: nobody but a superuser could move the morning fetch. Now an editor
    moves it (or switches it off) and the readers' hours follow; the sending
    machinery stays view-only for them, with what each schedule does."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from newsletter.schedules import MORNING_FETCH_TASK, morning_fetch, schedules_ensure

    schedules_ensure()
    base = "/" + __import__("django.conf").conf.settings.ADMIN_URL + "django_celery_beat/periodictask/"
    listing = editor_client.get(base).content.decode()
    assert "Sends each reader the edition at their own local hour." in listing
    assert 'name="action"' not in listing  # no bulk enable/disable/run for editors

    fetch = PeriodicTask.objects.get(task=MORNING_FETCH_TASK)
    page = editor_client.get(f"{base}{fetch.pk}/change/").content.decode()
    assert "Fetches the day&#x27;s trending papers" in page and "Move it with “Every day at”" in page
    # The raw crontab page is no longer theirs to add to (migration 0027).
    editor = User.objects.get(username="editor")
    assert not editor.has_perm("django_celery_beat.add_crontabschedule")
    assert editor.has_perm("django_celery_beat.change_periodictask")
    # A time of day and a zone, not django-celery-beat's cron fields in a "+" popup.
    assert 'type="time" name="at" value="05:30"' in page and 'name="time_zone"' in page
    assert 'name="crontab"' not in page and "add_id_crontab" not in page
    assert 'name="task"' not in page and 'name="args"' not in page
    response = editor_client.post(f"{base}{fetch.pk}/change/", {"enabled": "on", "at": "06:00", "time_zone": "UTC"})
    assert response.status_code == 302
    fetch.refresh_from_db()
    assert (fetch.crontab.hour, fetch.crontab.minute, fetch.crontab.day_of_week) == ("6", "0", "*")
    assert fetch.task == MORNING_FETCH_TASK
    assert morning_fetch() == dt.time(6, 0)
    # The same time again reuses its schedule; a zone of its own is a schedule of its own.
    editor_client.post(f"{base}{fetch.pk}/change/", {"enabled": "on", "at": "06:00", "time_zone": "UTC"})
    assert CrontabSchedule.objects.filter(hour="6", minute="0").count() == 1
    editor_client.post(f"{base}{fetch.pk}/change/", {"enabled": "on", "at": "07:30", "time_zone": "Europe/Paris"})
    fetch.refresh_from_db()
    assert (fetch.crontab.hour, fetch.crontab.minute, str(fetch.crontab.timezone)) == ("7", "30", "Europe/Paris")
    assert 'value="07:30"' in editor_client.get(f"{base}{fetch.pk}/change/").content.decode()

    # No time, or no such time: refused, and the schedule stays.
    for bad in ("", "25:00"):
        response = editor_client.post(f"{base}{fetch.pk}/change/", {"enabled": "on", "at": bad, "time_zone": "UTC"})
        assert response.status_code == 200 and "errornote" in response.content.decode()
    fetch.refresh_from_db()
    assert fetch.crontab.hour == "7"

    dispatch = PeriodicTask.objects.get(task="newsletter.tasks.digests_dispatch")
    page = editor_client.get(f"{base}{dispatch.pk}/change/").content.decode()
    assert "Switched off, no digest goes out." in page and 'name="enabled"' not in page
    assert editor_client.post(f"{base}{dispatch.pk}/change/", {"enabled": ""}).status_code == 403
    assert PeriodicTask.objects.get(pk=dispatch.pk).enabled
    editor_client.post(base, {"action": "disable_tasks", "_selected_action": [dispatch.pk]})
    assert PeriodicTask.objects.get(pk=dispatch.pk).enabled


def _fetch_page(*, crontab=None):
    """The morning fetch (on `crontab` if given) and its page's URL in the admin."""
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import MORNING_FETCH_TASK, schedules_ensure

    schedules_ensure()
    fetch = PeriodicTask.objects.get(task=MORNING_FETCH_TASK)
    if crontab is not None:
        fetch.crontab = crontab
        fetch.save()
    base = "/" + __import__("django.conf").conf.settings.ADMIN_URL + "django_celery_beat/periodictask/"
    return fetch, f"{base}{fetch.pk}/change/"


def test_an_editor_moving_the_fetch_keeps_its_zone_and_every_day_of_the_week(editor_client, db):
    """The page of a fetch moved to Paris must show Paris: showing UTC, saving it again
    for another time moves it to UTC. A time said again must not take a superuser's
    schedule at that hour for Mondays only (the fetch would skip six days a week). A
    superuser's every-15-minutes schedule still opens the page, with no time set."""
    from django_celery_beat.models import CrontabSchedule

    fetch, url = _fetch_page()
    editor_client.post(url, {"enabled": "on", "at": "07:30", "time_zone": "Europe/Paris"})
    page = editor_client.get(url).content.decode()
    assert re.search(r'<option value="Europe/Paris"[^>]* selected', page), "Paris is not the zone shown"

    CrontabSchedule.objects.create(minute="0", hour="6", day_of_week="1", timezone="UTC")
    editor_client.post(url, {"enabled": "on", "at": "06:00", "time_zone": "UTC"})
    fetch.refresh_from_db()
    assert (fetch.crontab.hour, fetch.crontab.day_of_week, fetch.crontab.day_of_month) == ("6", "*", "*")

    _, url = _fetch_page(crontab=CrontabSchedule.objects.create(minute="*/15", hour="7"))
    page = editor_client.get(url).content.decode()
    assert 'name="at"' in page and 'name="at" value=' not in page


def test_an_editor_who_switches_the_fetch_off_is_told_so_and_its_page_says_it(editor_client, db):
    """Switched off, the fetch has no next run: the message and the page say it is off,
    not when it would run. Its page is headed by its name, never its raw crontab, and
    says a fetch that never ran has not run yet."""
    from django.contrib.messages import get_messages

    _, url = _fetch_page()
    page = editor_client.get(url).content.decode()
    assert "<h2>Fetch today&#x27;s trending papers (every morning)</h2>" in page and "m/h/dM/MY/d" not in page
    assert re.search(r'field-last_run.*?<div class="readonly">Not yet</div>', page, re.DOTALL)

    response = editor_client.post(url, {"at": "05:30", "time_zone": "UTC"}, follow=True)
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert "The morning fetch is off: no new papers or edition until it is on again." in said, said
    page = editor_client.get(url).content.decode()
    assert re.search(r'field-next_run.*?<div class="readonly">— \(switched off\)</div>', page, re.DOTALL)


def test_a_superuser_puts_the_morning_fetch_only_on_one_time_a_day_and_other_schedules_on_any(admin_client, db):
    """Readers' hours are counted from one fetch a day: a superuser's full form refuses
    to put the fetch on no schedule, every hour, or every 15 minutes of one hour. Any
    other schedule takes any crontab, and saving or adding one says nothing of the
    morning fetch and names it as it is named, not by its raw crontab."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.messages import get_messages
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    def form_data(url):
        form = admin_client.get(url).context["adminform"].form
        return {name: value for name, value in form.initial.items() if value is not None}

    def said(response):
        return [re.sub("<[^>]+>", "", unescape(str(m))) for m in get_messages(response.wsgi_request)]

    fetch, url = _fetch_page()
    data = form_data(url)
    # The start's date and time boxes share one label: each is named to a screen reader.
    page = admin_client.get(url).content.decode()
    assert 'aria-label="Start date"' in page and 'aria-label="Start time"' in page
    for crontab, why in ((None, "runs on a daily schedule"),
                         (CrontabSchedule.objects.create(minute="0", hour="*"), "(“every hour on the hour” is not)"),
                         (CrontabSchedule.objects.create(minute="*/15", hour="7"), "runs once a day")):
        response = admin_client.post(url, {**data, "crontab": crontab.pk if crontab else ""})
        assert response.status_code == 200 and why in str(response.context["adminform"].form.errors["crontab"])
    assert PeriodicTask.objects.get(pk=fetch.pk).crontab_id == data["crontab"]

    dispatch = PeriodicTask.objects.get(task="newsletter.tasks.digests_dispatch")
    url = url.replace(f"/{fetch.pk}/change/", f"/{dispatch.pk}/change/")
    response = admin_client.post(url, form_data(url), follow=True)  # every 15 minutes
    assert f"The periodic task “{dispatch.name}” was changed successfully." in said(response), said(response)
    assert not any("morning fetch" in m for m in said(response)), said(response)
    mondays = CrontabSchedule.objects.create(minute="0", hour="6", day_of_week="1")
    response = admin_client.post(url.replace(f"/{dispatch.pk}/change/", "/add/"), {
        **form_data(url), "name": "Clear sign-ins on Mondays", "task": "newsletter.tasks.sessions_clear",
        "crontab": mondays.pk}, follow=True)
    assert "The periodic task “Clear sign-ins on Mondays” was added successfully." in said(response), said(response)
    assert LogEntry.objects.latest("pk").object_repr == "Clear sign-ins on Mondays"


def test_beat_lists_no_schedule_of_its_own_among_the_editors(editor_client, db):
    """Beat added "celery.backend_cleanup" (04:00) at its first start, for results this
    project never keeps: the editors' list showed it with no description, unlike
    every other schedule. Beat adds none now, and bootstrap deletes the one an earlier
    beat made."""
    from celery.beat import Scheduler
    from django_celery_beat.models import PeriodicTask

    from config.celery import app
    from newsletter.schedules import schedules_ensure

    added = []

    class Recording(Scheduler):
        def update_from_dict(self, dict_):
            added.extend(dict_)

    # What beat's scheduler (django-celery-beat's, a Scheduler) adds as it starts.
    Recording(app=app, lazy=True).install_default_entries({})
    assert added == []

    schedules_ensure()
    PeriodicTask.objects.create(name="celery.backend_cleanup", task="celery.backend_cleanup",
                                crontab=PeriodicTask.objects.exclude(crontab=None).first().crontab)
    schedules_ensure()
    listing = editor_client.get("/" + __import__("django.conf").conf.settings.ADMIN_URL
                                + "django_celery_beat/periodictask/").content.decode()
    assert "celery.backend_cleanup" not in listing


def test_schedules_get_their_description_once(db):
    """A database made before the descriptions gets them at the next bootstrap; one an
    administrator wrote stays."""
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import DEFAULT_SCHEDULES, schedules_ensure

    # bootstrap prints each schedule it made ("Schedule created: ..."), once.
    assert schedules_ensure() == list(DEFAULT_SCHEDULES)
    PeriodicTask.objects.filter(task="newsletter.tasks.digests_dispatch").update(description="")
    PeriodicTask.objects.filter(task="newsletter.tasks.deliveries_settle").update(description="Ours.")
    assert schedules_ensure() == []
    assert PeriodicTask.objects.get(task="newsletter.tasks.digests_dispatch").description.startswith("Sends each")
    assert PeriodicTask.objects.get(task="newsletter.tasks.deliveries_settle").description == "Ours."


def test_a_schedule_renamed_and_switched_off_in_the_admin_stays_the_only_one_of_its_task(db):
    """An administrator renamed the morning fetch and switched it off; bootstrap (each
    `docker compose up`, so every upgrade) looked for the default's name only and made
    it again beside it, switched on: the fetch ran again and readers' hours followed
    the new one. A default schedule is found by its task."""
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import MORNING_FETCH_TASK, schedules_ensure

    schedules_ensure()
    PeriodicTask.objects.filter(task=MORNING_FETCH_TASK).update(name="Morning fetch (off for now)", enabled=False)
    assert schedules_ensure() == []
    assert list(PeriodicTask.objects.filter(task=MORNING_FETCH_TASK).values_list("name", "enabled")) == [
        ("Morning fetch (off for now)", False)]


def test_every_admin_page_opens_for_a_superuser(admin_client, edition, topic):
    reader = SubscriberFactory()
    for name in ["newsletter_paper", "newsletter_topic", "newsletter_edition", "newsletter_delivery",
                 "subscribers_subscriber", "subscribers_suppression", "subscribers_blockeddomain"]:
        assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    for url in [reverse("admin:newsletter_paper_change", args=[edition.entries.first().paper_id]),
                reverse("admin:newsletter_topic_change", args=[topic.pk]),
                reverse("admin:subscribers_subscriber_change", args=[reader.pk]),
                reverse("admin:newsletter_paper_add"), reverse("admin:newsletter_topic_add"),
                reverse("admin:subscribers_subscriber_import")]:
        assert admin_client.get(url).status_code == 200, url
    assert Topic.objects.exists()


def test_a_link_pasted_without_a_scheme_is_saved_as_https(rf, admin_user):
    """An editor pastes "github.com/org/repo": the paper's link is https://, as all of
    them are (Django 5.2 would assume http:// and warn that 6.0 changes it)."""
    from django.contrib.admin.sites import site

    request = rf.get("/admin/newsletter/paper/add/")
    request.user = admin_user
    form = site._registry[Paper].get_form(request)
    assert form.base_fields["github_repo"].clean("github.com/org/repo") == "https://github.com/org/repo"
    assert form.base_fields["project_page"].clean("example.org/p") == "https://example.org/p"


def _as_submitted(response) -> dict:
    """The data a browser would post back from an admin change page as rendered:
    the main form's and every inline's current values, management forms included."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            if value is None or value is False:
                continue
            key = form.add_prefix(name)
            if isinstance(value, list | tuple) and getattr(field.widget, "allow_multiple_selected", False):
                data[key] = [str(v) for v in value]
            elif value is True:
                data[key] = "on"
            else:
                data[key] = field.prepare_value(value) if hasattr(field, "prepare_value") else value
    return data


def test_an_editor_who_rewrites_a_papers_text_sees_its_topics_follow(editor_client):
    """The editors' walkthrough of 5 December retitled a paper into another field: it
    kept its old topics (list, edition page, public page) until someone ran
    "Re-score topics". Saving a change of its text now embeds and scores it again;
    a change of its votes only does not."""
    graphs = TopicFactory(name="Molecule graphs", keywords="graph neural network\nmolecular graphs")
    speed = TopicFactory(name="Serving speed", keywords="latency\ninference serving")
    paper = PaperFactory(title="Lower latency inference serving", abstract="We cut latency when serving models.")
    from newsletter import relevance
    relevance.papers_score(papers=[paper])
    def topics():
        return set(PaperTopic.objects.filter(paper=paper, score__gte=0.3).values_list("topic__name", flat=True))

    assert "Serving speed" in topics() and "Molecule graphs" not in topics()

    url = reverse("admin:newsletter_paper_change", args=[paper.pk])
    data = _as_submitted(editor_client.get(url))
    data.update(title="GraphMol: graph neural networks for molecular graphs",
                abstract="A graph neural network over molecular graphs predicts properties of molecules.")
    response = editor_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    assert "Molecule graphs" in topics() and "Serving speed" not in topics(), topics()
    assert speed.pk and graphs.pk


def test_a_papers_keywords_and_authors_are_edited_one_per_line(editor_client):
    """They were shown and taken as raw JSON ('["agents", "tool use"]')."""
    paper = PaperFactory(ai_keywords=["agents", "tool use"], authors=["Ada Lovelace", "Alan Turing"])
    url = reverse("admin:newsletter_paper_change", args=[paper.pk])
    response = editor_client.get(url)
    html = unescape(response.content.decode())
    assert "agents\ntool use</textarea>" in html and "Ada Lovelace\nAlan Turing</textarea>" in html
    assert '["agents"' not in html
    data = _as_submitted(response)
    data["ai_keywords"] = "agents\r\n  web browsing \r\n\r\n"
    assert editor_client.post(url, data).status_code == 302
    paper.refresh_from_db()
    assert paper.ai_keywords == ["agents", "web browsing"] and paper.authors == ["Ada Lovelace", "Alan Turing"]


def test_a_second_paper_without_an_arxiv_id_titled_like_another_is_refused_by_the_form(editor_client):
    """Was a 500 (IntegrityError on the title key, the import's key for papers with
    no arXiv id); now the form says which paper holds the title."""
    PaperFactory(title="Second", arxiv_id=None, trending_date=DAY)
    other = PaperFactory(title="Another one", arxiv_id=None, trending_date=DAY)
    url = reverse("admin:newsletter_paper_change", args=[other.pk])
    data = _as_submitted(editor_client.get(url))
    data["title"] = "SECOND!"
    response = editor_client.post(url, data)
    assert response.status_code == 200
    assert "Another paper without an arXiv id is already titled like this: “Second”" in response.content.decode()
    other.refresh_from_db()
    assert other.title == "Another one"

    # As the error says: with its arXiv id it is known by that, and the title may stay.
    data["arxiv_id"] = "2511.99999"
    assert editor_client.post(url, data).status_code == 302
    other.refresh_from_db()
    assert (other.title, other.arxiv_id) == ("SECOND!", "2511.99999")


def test_a_score_set_on_a_papers_topic_row_sticks_and_automatic_gives_the_keywords_back(editor_client):
    """On a paper's page, an editor who sets a topic row's score to 0 takes the paper
    off the topic for good (an editor's row, kept through re-scoring); setting the
    row back to Automatic lets the topic's keywords decide again."""
    from newsletter import relevance, services

    topic = TopicFactory(name="Forgetting studies", keywords="catastrophic forgetting")
    paper = PaperFactory(title="Catastrophic forgetting in continual learning",
                         abstract="We measure catastrophic forgetting when models learn tasks in sequence.")
    relevance.papers_score(papers=[paper])
    row = PaperTopic.objects.get(paper=paper, topic=topic)
    assert (row.source, row.score > 0) == ("auto", True)
    url = reverse("admin:newsletter_paper_change", args=[paper.pk])

    def post_row(**changes):
        data = _as_submitted(editor_client.get(url))
        [prefix] = [k[:-len("-id")] for k, v in data.items() if k.endswith("-id") and str(v) == str(row.pk)]
        data.update({f"{prefix}-{name}": value for name, value in changes.items()})
        response = editor_client.post(url, data)
        assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors

    post_row(score="0")
    services.papers_rescore(papers=[paper])
    assert PaperTopic.objects.filter(paper=paper, topic=topic).values_list("source", "score").get() == ("editor", 0)

    row = PaperTopic.objects.get(paper=paper, topic=topic)
    post_row(source="auto")
    source, score = PaperTopic.objects.filter(paper=paper, topic=topic).values_list("source", "score").get()
    assert source == "auto" and score > 0

    # Deleting the row takes the paper off the topic as well, not until the next re-score.
    row = PaperTopic.objects.get(paper=paper, topic=topic)
    post_row(DELETE="on")
    services.papers_rescore(papers=[paper])
    assert PaperTopic.objects.filter(paper=paper, topic=topic).values_list("source", "score").get() == ("editor", 0)



def test_a_paper_an_edition_went_out_with_cannot_be_deleted_and_a_deleted_papers_page_goes_at_once(
    editor_client, client, django_capture_on_commit_callbacks,
):
    """The editors' walkthrough of 5 December deleted a paper a sent edition held:
    it left the reader's web copy, and its "More like this" link in the sent email
    became "Link not valid". And a deleted paper's own page was still served (from
    the page cache, up to an hour). Now a sent paper stays (hide it instead), and a
    deleted one's page is gone at once."""
    from newsletter.editions import edition_freeze

    sent = PaperFactory(trending_date=DAY, title="Went out", arxiv_id="2511.00001")
    edition_freeze(edition=edition_assemble(date=DAY))
    spare = PaperFactory(trending_date=DAY, title="Never sent", arxiv_id="2511.00002")
    assert client.get("/papers/2511.00002/").status_code == 200  # stored in the page cache

    assert editor_client.get(reverse("admin:newsletter_paper_delete", args=[sent.pk])).status_code == 403
    changelist = reverse("admin:newsletter_paper_changelist")
    both = {"action": "delete_selected", "_selected_action": [sent.pk, spare.pk]}
    asked = editor_client.post(changelist, both).content.decode()
    assert "doesn't have permission to delete the following types of objects" in asked
    assert editor_client.post(changelist, {**both, "post": "yes"}).status_code == 403
    assert Paper.objects.count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(changelist, {"action": "delete_selected", "_selected_action": [spare.pk], "post": "yes"})
    assert list(Paper.objects.values_list("title", flat=True)) == ["Went out"]
    assert client.get("/papers/2511.00002/").status_code == 404
    assert client.get("/papers/2511.00001/").status_code == 200


def test_a_new_topic_goes_last_on_the_subscribe_form_unless_the_editor_places_it(editor_client, client,
                                                                                default_topics):
    """A topic added in the admin, its position left as the Add page had it, stood at
    0: first on the subscribe form and the preference centre, above the curated
    order (an editor's walkthrough, 7 December). It now goes after every other
    topic; one the editor places keeps its place, and one made in code
    (services.topic_create) goes last too."""
    from newsletter import services
    from tests.forms import hidden_fields

    add = reverse("admin:newsletter_topic_add")
    page = editor_client.get(add).content.decode()
    shown = re.search(r'<input[^>]*name="position"[^>]*>', page).group(0)
    position = re.search(r'value="(\d+)"', shown).group(1)
    editor_client.post(add, {**hidden_fields(page), "name": "Quantum machine learning", "slug": "quantum-ml",
                             "description": "Machine learning on quantum computers.", "keywords": "",
                             "is_active": "on", "position": position})
    editor_client.post(add, {**hidden_fields(editor_client.get(add).content.decode()), "name": "Brain-computer",
                             "slug": "brain-computer", "description": "Reading brain signals.", "keywords": "",
                             "is_active": "on", "position": 15})
    services.topic_create(topic=Topic(name="Protein design", slug="protein-design",
                                      description="Designing proteins with models."))

    form = unescape(client.get(reverse("subscribers:subscribe")).content.decode())
    curated = [t.name for t in sorted(default_topics.values(), key=lambda t: t.position) if t.is_active]
    names = curated + ["Brain-computer", "Quantum machine learning", "Protein design"]
    assert all(name in form for name in names)
    on_the_form = sorted(names, key=form.index)
    assert on_the_form[-2:] == ["Quantum machine learning", "Protein design"]
    assert on_the_form.index("Brain-computer") == 1  # the editor's 15: between the first two (10, 20)


def test_a_topic_named_like_another_but_for_case_or_spacing_is_refused(admin_client, topic):
    """The editors' walkthrough of 5 December saved "agents" beside "Agents": both
    showed on the subscribe form."""
    response = admin_client.post(reverse("admin:newsletter_topic_add"), {
        "name": "  " + topic.name.upper().replace(" ", "  ") + " ", "slug": "other-slug", "description": "A copy.",
        "keywords": "", "is_active": "on", "position": 0})
    assert f"There is already a topic named “{topic.name}”" in unescape(response.content.decode())
    assert Topic.objects.filter(name__iexact=topic.name).count() == 1


def test_switching_a_topic_off_says_what_its_readers_are_left_with(admin_client, topic):
    """Asked first (the box's confirm, naming how many follow it), then told what
    they are left with: a reader who left is not counted, and one whose other topic
    is switched off too has nothing else."""
    other, off = TopicFactory(name="Other field"), TopicFactory(name="Off field", is_active=False)
    alone, both, only_off = SubscriberFactory(), SubscriberFactory(), SubscriberFactory()
    alone.topics.add(topic)
    both.topics.add(topic, other)
    only_off.topics.add(topic, off)
    SubscriberFactory(status=Subscriber.Status.UNSUBSCRIBED).topics.add(topic)
    url = reverse("admin:newsletter_topic_change", args=[topic.pk])
    page = unescape(admin_client.get(url).content.decode())
    assert f'data-confirm-unchecked="3 readers follow “{topic.name}”: switching it off' in page
    response = admin_client.post(url, {"name": topic.name, "slug": topic.slug, "description": "",
                                       "keywords": topic.keywords, "position": 0}, follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert any(m.startswith(f"3 readers followed “{topic.name}”, now switched off") and
               "2 of them follow no other topic and get the day's trending papers" in m for m in said), said


def test_switching_a_topic_on_again_and_renaming_it_say_what_its_readers_see(admin_client, topic):
    """Both said only "changed successfully" (an editor's walkthrough)."""
    reader = SubscriberFactory()
    reader.topics.add(topic)
    Topic.objects.filter(pk=topic.pk).update(is_active=False)
    url = reverse("admin:newsletter_topic_change", args=[topic.pk])
    response = admin_client.post(url, {"name": "Studies of forgetting", "slug": topic.slug, "description": "",
                                       "keywords": topic.keywords, "position": 0, "is_active": "on"}, follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("“Studies of forgetting” is on again: 1 reader who follows it gets it") for m in said), said
    assert any(m.startswith(f"Renamed from “{topic.name}”: 1 reader sees “Studies of forgetting”") for m in said), said


def test_a_topics_history_keeps_its_definition_as_it_was_before_each_change(admin_client, topic):
    """History said "Changed Description and Keywords" with no old text: nothing to
    go back to (an editor's walkthrough)."""
    from django.contrib.admin.models import LogEntry

    url = reverse("admin:newsletter_topic_change", args=[topic.pk])
    admin_client.post(url, {"name": topic.name, "slug": topic.slug, "description": "New words.",
                            "keywords": "forgetting\nreplay", "position": topic.position, "is_active": "on"})
    entry = LogEntry.objects.filter(object_id=str(topic.pk)).latest("action_time")
    assert entry.get_change_message() == (
        f"Changed Description (was: “{topic.description}”), Keywords (was: “catastrophic forgetting”).")
    history = admin_client.get(reverse("admin:newsletter_topic_history", args=[topic.pk])).content.decode()
    assert "was: “catastrophic forgetting”" in unescape(history)


def _list_page(client, name: str) -> tuple[str, list[str]]:
    """The admin list of `name` ("topic", "edition"): its HTML and its queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse(f"admin:newsletter_{name}_changelist")).content.decode()
    return html, [q["sql"] for q in queries.captured_queries]


def _cell(html: str, row: str, column: str) -> str:
    """The text of one column's cell in the list row that mentions `row`."""
    line = next(tr for tr in html.split("<tr") if row in tr)
    cell = re.search(rf'<td class="field-{column}[^"]*">(.*?)</td>', line, re.DOTALL)[1]
    return re.sub(r"<[^>]+>", "", cell).strip()


def test_the_topics_and_editions_lists_count_per_row_in_queries_that_do_not_grow(editor_client, topic, edition):
    """The Topics list took 1.4-1.9 s with 6,400 readers, the Editions list 1.3 s
    with 8,800 deliveries (an editor's walkthrough): each counted over one big join
    of a topic's papers × its readers (an edition's papers × its deliveries),
    grouped, in the page's count queries too. Each count is now a subquery per row
    shown: no query of either page joins and groups the rows it lists, and the
    pages make as many queries with 10 times the readers and deliveries."""
    taken_off = PaperFactory(trending_date=DAY)
    PaperTopic.objects.create(paper=taken_off, topic=topic, score=0, source=PaperTopic.Source.EDITOR)
    other = TopicFactory(name="Other field")

    def readers_and_deliveries(n: int) -> None:
        for status in [Subscriber.Status.ACTIVE] * (2 * n) + [Subscriber.Status.PAUSED] * n:
            reader = SubscriberFactory(status=status)
            reader.topics.add(topic, other)  # both: a join would count them twice
        for status in ["sent"] * (3 * n) + ["failed"] * n + ["pending"] * n:
            Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=status)

    readers_and_deliveries(1)
    topics_html, topic_queries = _list_page(editor_client, "topic")
    editions_html, edition_queries = _list_page(editor_client, "edition")
    assert (_cell(topics_html, topic.name, "paper_count"), _cell(topics_html, topic.name, "reader_count")) == ("3", "2")
    assert _cell(topics_html, "Other field", "reader_count") == "2"
    assert [_cell(editions_html, "24 Nov 2025", c) for c in ("paper_total", "sent_total", "failed_total")] \
        == ["3", "3", "1"]
    for sql in topic_queries + edition_queries:
        assert "GROUP BY" not in sql and "LEFT OUTER JOIN" not in sql, sql

    readers_and_deliveries(9)
    topics_html, more_topic_queries = _list_page(editor_client, "topic")
    editions_html, more_edition_queries = _list_page(editor_client, "edition")
    assert _cell(topics_html, topic.name, "reader_count") == "20"
    assert [_cell(editions_html, "24 Nov 2025", c) for c in ("sent_total", "failed_total")] == ["30", "10"]
    assert (len(more_topic_queries), len(more_edition_queries)) == (len(topic_queries), len(edition_queries))


def test_what_an_editor_does_to_an_edition_and_its_papers_is_in_their_histories(
    editor_client, editor, edition, topic, django_capture_on_commit_callbacks
):
    """A hostile tester's pass, as a compromised editor: "Send now to everyone",
    hold, release, a test send as a reader, pinning or hiding papers, taking a
    topic off papers (or putting them under one), re-scoring them and retrying
    failed deliveries left no
    trace in any history (Django's admin logs only its own forms' saves), so after
    an edition went to every reader nobody could say who sent it. Each is now a
    line of the edition's or the paper's history, under the editor's name."""
    from django.contrib.admin.models import LogEntry

    reader = SubscriberFactory()
    reader.topics.add(topic)
    hidden, pinned = [entry.paper for entry in edition.entries.order_by("position")[:2]]

    def op(name, **data):
        return editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, name]), data)

    url = reverse("admin:newsletter_paper_changelist")
    editor_client.post(url, {"action": "topic_remove", "_selected_action": [hidden.pk], "apply": "1",
                             "topic": topic.pk})
    op("hold")
    op("release")
    op("test-send", preview_as=reader.pk)
    with django_capture_on_commit_callbacks(execute=True):
        op("send-now")
    editor_client.post(reverse("admin:newsletter_edition_paper", args=[edition.pk, hidden.pk, "hide"]))
    editor_client.post(reverse("admin:newsletter_paper_changelist"), {"action": "pin", "_selected_action": [pinned.pk]})
    editor_client.post(reverse("admin:newsletter_paper_changelist"),
                       {"action": "rescore", "_selected_action": [pinned.pk]})
    (failed,) = Delivery.objects.filter(edition=edition)
    Delivery.objects.filter(pk=failed.pk).update(status=Delivery.Status.FAILED)
    editor_client.post(reverse("admin:newsletter_delivery_changelist"),
                       {"action": "retry_failed", "_selected_action": [failed.pk]})

    def history(obj) -> list[str]:
        rows = LogEntry.objects.filter(object_id=str(obj.pk), content_type__model=obj._meta.model_name,
                                       user=editor).order_by("action_time", "pk")
        return [row.get_change_message() for row in rows]

    assert history(edition) == [
        "Held.", "Released.", f"Test sent to editor@example.org as reader {reader.pk} gets it.",
        "Sent now to 1 reader.",
    ]
    assert history(hidden) == [f"Taken off “{topic.name}”.", "Hidden."]
    assert history(pinned) == ["Pinned.", "Re-scored."]
    assert history(failed) == ["Sent again after it failed."]
    page = editor_client.get(reverse("admin:newsletter_edition_history", args=[edition.pk])).content.decode()
    assert "Sent now to 1 reader." in page and "editor" in page


TRACKER = "https://tracker.example/pixel.png?who=readers"
HF_THUMBNAIL = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2511.77777.png"


def test_a_papers_picture_comes_only_from_hugging_faces_thumbnails(editor_client, edition, topic, client):
    """A hostile tester's pass, as a compromised editor: a paper's thumbnail took any
    URL, and the reader's first pick shows it in the digest, as every card and paper
    page of the site do: a picture on the editor's host, fetched by every reader's
    mail client and every visitor's browser, told that host who opened which digest
    when, from where (the note's sanitiser keeps such pixels out; the thumbnail let
    them in). A thumbnail is now Hugging Face's (settings.THUMBNAIL_HOSTS), over
    https: another is refused in the form, dropped from a pasted entry, and one
    stored before is not shown."""
    from newsletter.curation import edition_preview

    paper = edition.entries.order_by("position").first().paper
    url = reverse("admin:newsletter_paper_change", args=[paper.pk])
    data = _as_submitted(editor_client.get(url))
    refused = editor_client.post(url, {**data, "thumbnail_url": TRACKER})
    assert refused.status_code == 200 and "thumbnail_url" in refused.context["adminform"].form.errors
    assert editor_client.post(url, {**data, "thumbnail_url": HF_THUMBNAIL}).status_code == 302
    paper.refresh_from_db()
    assert paper.thumbnail_url == HF_THUMBNAIL

    entry = {"paper": {"id": "2511.77778", "title": "Pasted Paper", "summary": "An abstract."},
             "thumbnail": TRACKER}
    editor_client.post(reverse("admin:newsletter_paper_add_json"),
                       {"entry": json.dumps(entry), "trending_date": DAY.isoformat()})
    assert Paper.objects.get(arxiv_id="2511.77778").thumbnail_url == ""

    reader = SubscriberFactory()
    reader.topics.add(topic)
    Paper.objects.filter(trending_date=DAY).update(thumbnail_url=HF_THUMBNAIL)  # whichever is their first pick
    preview = edition_preview(edition=edition, subscriber=reader).html
    # This site's copy of it (newsletter/pictures.py), which the reader's client asks for.
    assert re.search(r'<img [^>]*src="http://testserver/pictures/', preview) and HF_THUMBNAIL not in preview
    Paper.objects.filter(trending_date=DAY).update(thumbnail_url=TRACKER)  # stored before
    assert "tracker.example" not in edition_preview(edition=edition, subscriber=reader).html
    for page in ("/", paper.get_absolute_url()):
        assert "tracker.example" not in client.get(page).content.decode(), page


def test_a_reader_who_erases_their_data_leaves_their_address_in_no_admin_history(editor_client, edition, topic, client):
    """A data-protection reviewer's walkthrough: after a reader pressed "Delete my
    data", the admin's history (Recent actions, each object's History) still named
    them by their address: the suppression an editor made (its object_repr, the
    reader's str()) and the edition's "Test sent … as reader@… gets it". Erasure now
    rewrites those lines; who did what, and when, stays."""
    from django.contrib.admin.models import LogEntry
    from django.db.models import Q

    from subscribers import tokens

    reader = SubscriberFactory(email="Erased.Reader@Example.com")
    reader.topics.add(topic)
    editor_client.post(reverse("admin:subscribers_subscriber_changelist"),
                       {"action": "suppress", "_selected_action": [reader.pk], "apply": "1",
                        "reason": "Erased.Reader@Example.com asked by phone"})
    editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "test-send"]),
                       {"preview_as": reader.pk})
    mentions = Q(object_repr__icontains="erased.reader@") | Q(change_message__icontains="erased.reader@")
    assert LogEntry.objects.filter(mentions).count() == 1  # the edition's line names the reader by number
    LogEntry.objects.filter(change_message__endswith=f"as reader {reader.pk} gets it.").update(
        change_message="Test sent to editor@example.org as Erased.Reader@Example.com gets it.")  # as before 5 December

    reader.refresh_from_db()  # the suppression gave them a new secret: their current link
    manage = tokens.subscriber_manage_url(subscriber=reader).removeprefix("http://testserver")
    assert client.post(f"{manage}delete/").status_code == 200

    assert not LogEntry.objects.filter(mentions).exists()
    # Nor the suppression's note, the reason the editor typed (the row stays, by hash).
    from subscribers.models import Suppression

    assert Suppression.objects.get().note == "[erased reader] asked by phone"
    lines = {(e.object_repr, e.get_change_message()) for e in LogEntry.objects.select_related("content_type")}
    assert (f"Reader {reader.pk} (erased)", "Suppressed: [erased reader] asked by phone") in lines
    assert any(message.endswith("as [erased reader] gets it.") for _, message in lines), lines


@pytest.mark.postgresql
def test_the_ledgers_first_page_reads_its_newest_rows_by_an_index_not_a_sort_of_the_table(editor_client, edition):
    """Deliveries, newest first, read the newest 100 rows of an index: at 2 million
    rows the list sorted the whole table for them (1.1 s, docs/benchmarks.md)."""
    for _ in range(3):
        Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.SENT)
    plan = list_query_plan(editor_client, reverse("admin:newsletter_delivery_changelist"), "newsletter_delivery")
    assert "delivery_created_idx" in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.postgresql
def test_who_got_a_paper_of_weeks_ago_reads_the_rows_that_carry_it_not_the_whole_ledger(editor_client, edition):
    """"Who got it" after hiding a paper that went out seven weeks before took 2.3 to
    2.7 s at 8.4 million rows: the list walked the ledger's newest rows down to the
    paper's editions, or read every row for those that carry it. The rows that carry
    it come from delivery_paper_ids_gin (newsletter 0040), and only those are sorted.
    A ledger of 40 editions of 300 readers, the paper's edition the oldest, analysed as
    autovacuum leaves it; the plan of the list's page as the page asks for it. The
    page sorts them by an expression no index holds, as a rare provider event's
    rows: in the list's own order the planner could still walk the newest rows of
    the whole ledger, and at 2.09 million rows of 25 editions it did (3.3 to 4.2 s;
    0.5 to 0.6 s sorted, docs/benchmarks.md, 7 December 2026)."""
    paper = edition.entries.order_by("position").first().paper
    readers = SubscriberFactory.create_batch(300)
    editions = [edition, *(Edition.objects.create(date=edition.date + dt.timedelta(days=day)) for day in range(1, 40))]
    Delivery.objects.bulk_create(
        Delivery(subscriber=reader, edition=e, status=Delivery.Status.SENT,
                 paper_ids=[paper.pk] if e == edition and i % 2 == 0 else [paper.pk + 1000 + e.pk])
        for e in editions for i, reader in enumerate(readers))
    url = reverse("admin:newsletter_delivery_changelist") + f"?carried={paper.pk}"

    with CaptureQueriesContext(connection) as queries:
        response = editor_client.get(url)
    assert response.context["cl"].result_count == 150
    page = next(q["sql"] for q in queries if 'FROM "newsletter_delivery"' in q["sql"] and " ORDER BY " in q["sql"])
    assert " LIMIT 100" in page
    assert 'ORDER BY COALESCE("newsletter_delivery"."created_at", "newsletter_delivery"."updated_at") DESC' in page, page
    with connection.cursor() as cursor:
        # Every table the page reads, as autovacuum leaves them: with only the ledger
        # analysed, the editions' statistics were another test's (a clean-clone run,
        # 7 December 2026: its editions of other dates, committed, analysed, gone),
        # the planner counted one edition in the paper's weeks, and walked the
        # ledger by edition instead of by the paper. The ledger's indexes rebuilt:
        # the benchmarks' tests before this one (tests/bench) write and roll back
        # tens of thousands of rows, whose entries swell the GIN index on disk until
        # a vacuum, and the planner priced it by that size (it read every sent row
        # by delivery_sent_idx instead).
        cursor.execute("REINDEX TABLE newsletter_delivery")
        cursor.execute("ANALYZE newsletter_delivery, newsletter_edition, subscribers_subscriber")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + page.replace("%", "%%"))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "delivery_paper_ids_gin" in plan, plan
    assert "delivery_created_idx" not in plan, plan


@pytest.mark.postgresql
def test_an_editors_search_of_the_ledger_by_whole_address_or_message_id_reads_their_rows_by_index(
    editor_client, edition
):
    """An editor who sees addresses masked finds a reader's deliveries by their whole
    address, or one by its provider's message id: the rows come by index (the
    reader's, the message id's, or the list's order), not one OR across the join
    that read the whole ledger (1.4 s at 2 million rows, docs/benchmarks.md)."""
    reader = SubscriberFactory(email="ada@example.org")
    Delivery.objects.create(subscriber=reader, edition=edition, status=Delivery.Status.SENT)
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.SENT,
                            provider_message_id="msg-7")
    url = reverse("admin:newsletter_delivery_changelist")
    for term in ("ADA@example.org", "msg-7"):
        assert editor_client.get(url, {"q": term}).context["cl"].result_count == 1
    # Each row is kept or not by its own columns, not the reader's joined to it.
    plan = list_query_plan(editor_client, f"{url}?q=ada@example.org", "newsletter_delivery")
    assert "Join Filter" not in plan and "upper" not in plan, plan


@pytest.mark.postgresql
def test_a_superusers_search_of_the_ledger_by_part_of_an_address_reads_the_readers_first(admin_client, edition):
    """A superuser (who sees addresses) finds a reader's deliveries by any part of
    their address, and one by its provider's message id: the readers first, by the
    addresses' trigram index (subscriber_email_trgm_idx, migration subscribers 0014),
    then their rows by index. Django's search ran UPPER(email) LIKE '%…%' OR the
    message id's across the join for every row of the ledger (2 to 6 s at 2 million
    rows, docs/benchmarks.md, "The admin at scale, second pass")."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.plans import query_plan

    ada = SubscriberFactory(email="ada.lovelace@example.org")
    Delivery.objects.create(subscriber=ada, edition=edition, status=Delivery.Status.SENT)
    Delivery.objects.create(subscriber=SubscriberFactory(email="bob@example.net"), edition=edition,
                            status=Delivery.Status.SENT, provider_message_id="msg-7")
    url = reverse("admin:newsletter_delivery_changelist")
    for term, found in (("LOVELACE@example", 1), ("lovelace example.org", 1), ("msg-7", 1), ("example", 2),
                        ("nobody", 0)):
        assert admin_client.get(url, {"q": term}).context["cl"].result_count == found, term

    with CaptureQueriesContext(connection) as queries:
        admin_client.get(url, {"q": "lovelace@"})
    readers = next(q["sql"] for q in queries
                   if 'FROM "subscribers_subscriber" WHERE UPPER("subscribers_subscriber"."email"' in q["sql"])
    assert "subscriber_email_trgm_idx" in query_plan(readers, ordered=False)
    # The ledger's rows are kept or not by their own columns, not the reader's joined to them.
    plan = list_query_plan(admin_client, f"{url}?q=lovelace@", "newsletter_delivery")
    assert "Join Filter" not in plan and "upper" not in plan, plan


def test_a_filtered_ledger_neither_counts_nor_lists_the_editions_of_every_row(editor_client, edition):
    """Every page of the deliveries filtered or searched read the whole ledger twice
    more: the distinct editions of all its rows (the edition filter's choices) and
    the count of all its rows beside the page's own (60 to 125 ms and 55 to 110 ms
    at 2 million rows, docs/benchmarks.md). The filter lists the editions that went
    out (frozen), newest first; the page counts what it found."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from newsletter.editions import edition_freeze
    from newsletter.models import Edition

    edition_freeze(edition=edition)
    older = Edition.objects.create(date=edition.date - dt.timedelta(days=1), frozen_at=timezone.now())
    Edition.objects.create(date=edition.date + dt.timedelta(days=1))  # not gone out: no rows, not listed
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.FAILED)
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=older, status=Delivery.Status.SENT)
    url = reverse("admin:newsletter_delivery_changelist")

    with CaptureQueriesContext(connection) as queries:
        response = editor_client.get(url, {"status__exact": "failed"})
    assert response.context["cl"].result_count == 1
    sql = [q["sql"] for q in queries]
    assert not any("DISTINCT" in s and 'FROM "newsletter_delivery"' in s for s in sql), sql
    assert not any(s.startswith('SELECT COUNT(*)') and s.endswith('FROM "newsletter_delivery"') for s in sql), sql
    edition_filter = next(f for f in response.context["cl"].filter_specs if f.title == "edition")
    assert [label for _, label in edition_filter.lookup_choices] == ["24 Nov 2025", "23 Nov 2025"]


def test_the_ledgers_lists_count_their_rows_only_as_far_as_a_person_reads_and_say_so(
    editor_client, admin_client, edition, monkeypatch
):
    """The deliveries' lists count the rows they show up to 10,000 and say "More
    than 10,000" beyond: counting all the rows a filter keeps read every one of them
    (0.1 s for the whole ledger, 0.3 to 0.5 s for a common provider event or a
    paper's readers, at 2 million rows, docs/benchmarks.md). Below it, the count is
    exact. (Here the limit is 2.)"""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from newsletter.admin import LedgerPaginator

    monkeypatch.setattr(LedgerPaginator, "counted_up_to", 2)
    for _ in range(3):
        Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.SENT)
    failed = Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.FAILED)
    url = reverse("admin:newsletter_delivery_changelist")

    with CaptureQueriesContext(connection) as queries:
        response = editor_client.get(url)
    html = unescape(response.content.decode())
    assert re.search(r"More than 2\s+deliveries", html)
    assert "All of more than 2 selected" in html and "Select all of more than 2 deliveries" in html
    counts = [q["sql"] for q in queries if q["sql"].startswith("SELECT COUNT(*)")]
    assert counts and all("LIMIT 3" in sql for sql in counts), counts

    html = unescape(admin_client.get(url, {"q": "example", "status__exact": "sent"}).content.decode())
    assert "More than 2 results" in html
    response = editor_client.get(url, {"status__exact": "failed"})
    html = unescape(response.content.decode())
    assert response.context["cl"].result_count == 1 and re.search(r"\b1\s+delivery\b", html)
    assert "More than" not in html and str(failed.pk) in html
    # Exactly the limit is counted exactly.
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.FAILED)
    html = unescape(editor_client.get(url, {"status__exact": "failed"}).content.decode())
    assert re.search(r"\b2\s+deliveries\b", html) and "More than" not in html


def test_more_than_the_ledgers_count_is_written_as_the_selection_writes_it(editor_client, edition, monkeypatch):
    """"More than 10,000": the list's count, the search's and "Select all" said
    "More than 10000 deliveries" beside "All of more than 10,000 selected". (Here the
    limit is 1,000.)"""
    from newsletter.admin import LedgerPaginator

    monkeypatch.setattr(LedgerPaginator, "counted_up_to", 1000)
    readers = Subscriber.objects.bulk_create(SubscriberFactory.build(email=f"r{n}@example.com") for n in range(1001))
    Delivery.objects.bulk_create(Delivery(subscriber=r, edition=edition, status=Delivery.Status.SENT) for r in readers)

    html = unescape(editor_client.get(reverse("admin:newsletter_delivery_changelist"),
                                      {"status__exact": "sent"}).content.decode())

    assert re.search(r"More than 1,000\s+deliveries", html)
    assert "Select all of more than 1,000 deliveries" in html and "All of more than 1,000 selected" in html


@pytest.mark.postgresql
def test_the_ledger_filtered_by_a_carried_paper_reads_only_the_rows_a_page_needs(editor_client, edition):
    """?carried=<paper>: the digests sent with a paper are the list's own rows kept by
    the selector's conditions (JSON containment on the editions that can carry it),
    not `id IN (every such row)`, which read every row of those editions for each
    page and its count (0.2 to 0.4 s at 84,000 rows an edition, docs/benchmarks.md)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    paper = edition.entries.order_by("position").first().paper
    carried = Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition,
                                      status=Delivery.Status.SENT, paper_ids=[paper.pk])
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.SENT,
                            paper_ids=[paper.pk + 1000])
    url = reverse("admin:newsletter_delivery_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = editor_client.get(url, {"carried": paper.pk})
    assert [d.pk for d in response.context["cl"].result_list] == [carried.pk]
    reads = [q["sql"] for q in queries if '"paper_ids" @>' in q["sql"]]
    assert len(reads) == 2 and not any('"id" IN (SELECT' in sql for sql in reads), reads


def test_a_hidden_or_withdrawn_papers_row_and_page_show_no_broken_picture(editor_client, client):
    """The papers' list and a paper's page show its picture from this site, which
    serves the pictures of papers readers can see (newsletter/views.py,
    paper_picture): a paper the editor hid, or one withdrawn, showed a broken image."""
    shown = PaperFactory(trending_date=DAY, title="Shown paper", thumbnail_url=HF_THUMBNAIL)
    hidden = PaperFactory(trending_date=DAY, title="Hidden paper", hidden=True,
                          thumbnail_url=HF_THUMBNAIL.replace("77777", "77776"))
    withdrawn = PaperFactory(trending_date=DAY, title="Withdrawn paper", withdrawn_at=timezone.now(),
                             thumbnail_url=HF_THUMBNAIL.replace("77777", "77775"))
    assert client.get(hidden.picture_url).status_code == 404  # what the broken image asked

    listed = editor_client.get(reverse("admin:newsletter_paper_changelist")).content.decode()
    thumbs = re.findall(r'<img class="paper-thumb" src="([^"]+)"', listed)
    assert thumbs == [shown.picture_url]
    for paper in (hidden, withdrawn):
        page = editor_client.get(reverse("admin:newsletter_paper_change", args=[paper.pk])).content.decode()
        assert 'class="paper-picture"' not in page and "readers see no picture" in page, paper.title
    page = editor_client.get(reverse("admin:newsletter_paper_change", args=[shown.pk])).content.decode()
    assert f'<img class="paper-picture" src="{shown.picture_url}"' in page


def test_the_ledgers_new_search_and_counts_tell_an_editor_no_part_of_an_address(editor_client, edition):
    """Hostile tester, second round: the evening's ledger (the readers read first,
    the trigram index, LedgerPaginator's counts) as an editor who sees addresses
    masked. A part of an address, a LIKE wildcard, a lookup or a sort on the
    address in the address bar finds, narrows or orders nothing by it: only a whole
    address finds its reader, as before."""
    # Made in an order that is neither the addresses' nor its reverse.
    readers = [SubscriberFactory(email=email) for email in ("mia@example.org", "ada.lovelace@example.org",
                                                             "zed@example.org")]
    for reader in readers:
        Delivery.objects.create(subscriber=reader, edition=edition, status=Delivery.Status.SENT,
                                provider_message_id=f"msg-{reader.pk}")
    url = reverse("admin:newsletter_delivery_changelist")
    for term in ("ada", "ada.lovelace", "@example.org", "%", "_", "a%", "ada.lovelace@example.%", "msg-%"):
        response = editor_client.get(url, {"q": term})
        assert response.context["cl"].result_count == 0, term
        assert "ada.lovelace@example.org" not in response.content.decode(), term  # the box echoes the term
    assert editor_client.get(url, {"q": "ADA.LOVELACE@example.org"}).context["cl"].result_count == 1
    narrowed = editor_client.get(url, {"subscriber__email__startswith": "ada"})
    assert narrowed.status_code == 400 or narrowed.context["cl"].result_count == 3
    # The reader column cannot be sorted by its address: placing a reader between
    # others is a binary search of it.
    order = [reverse("admin:newsletter_delivery_change", args=[d.pk]) for d in Delivery.objects.order_by("-pk")]
    for column in range(1, 7):
        for sign in ("", "-"):
            html = editor_client.get(url, {"o": f"{sign}{column}"}).content.decode()
            placed = sorted(order, key=html.find)
            assert placed in (order, order[::-1])
            assert "lovelace" not in html and "mia@" not in html


def test_a_send_of_another_year_than_its_edition_says_its_year(admin_client, edition):
    """The edition of 24 November 2025, sent on 6 December 2026 (the sample day that
    bootstrap sends, or an edition an editor sent late), said "First digests went out
    6 Dec, 04:22 UTC", and the deliveries' list "6 Dec, 04:22 UTC" beside "24 Nov 2025"
    (screenshots, 6 December 2026): read as twelve days after, not a year. A send of
    the edition's own year keeps the short form."""
    later = dt.datetime(2026, 12, 6, 4, 22, tzinfo=dt.UTC)
    edition.frozen_at = later
    edition.save(update_fields=["frozen_at"])
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status="sent", sent_at=later)
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition_assemble(date=DAY + dt.timedelta(days=1)),
                            status="sent", sent_at=dt.datetime(2025, 11, 25, 7, 5, tzinfo=dt.UTC))

    page = unescape(admin_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode())
    assert "First digests went out 6 Dec 2026, 04:22 UTC;" in page
    ledger = admin_client.get(reverse("admin:newsletter_delivery_changelist")).content.decode()
    assert "6 Dec 2026, 04:22 UTC" in ledger and "25 Nov, 07:05 UTC" in ledger


def test_the_ledgers_edition_filter_writes_a_day_as_its_column_does(admin_client, edition):
    """The deliveries' filter "By edition" listed "Edition of Saturday 5 December 2026",
    two lines each in the sidebar, beside a column that writes "5 Dec 2026" (screenshots,
    6 December 2026)."""
    from newsletter.models import Edition

    edition.frozen_at = timezone.now()
    edition.save(update_fields=["frozen_at"])
    older = Edition.objects.create(date=dt.date(2025, 11, 21), frozen_at=timezone.now())
    for sent in (edition, older):
        Delivery.objects.create(subscriber=SubscriberFactory(), edition=sent, status="sent", sent_at=timezone.now())

    html = admin_client.get(reverse("admin:newsletter_delivery_changelist")).content.decode()

    assert f'edition__id__exact={edition.pk}">24 Nov 2025</a>' in html
    assert f'edition__id__exact={older.pk}">21 Nov 2025</a>' in html
    assert "Edition of Monday" not in html


def test_the_topic_preview_gives_a_paper_of_another_year_its_year(editor_client, topic):
    """The preview reads the newest days with papers, which may be a year old (make
    run's sample day beside a few new ones), and wrote each day "Mon 24 Nov": the
    sample day and a day of this November read alike (6 December 2026)."""
    from django.utils import formats

    today = timezone.localdate()
    long_ago = today - dt.timedelta(days=400)
    PaperFactory(trending_date=long_ago, title="Web agents that browse")
    PaperFactory(trending_date=today, title="Web agents that shop")
    url = reverse("admin:newsletter_topic_preview") + f"?topic={topic.pk}"
    html = editor_client.post(url, {"keywords": "web agents"}).content.decode()
    assert f'<td class="nowrap">{formats.date_format(long_ago, "SHORT_DATE_FORMAT")}</td>' in html
    assert f'<td class="nowrap">{formats.date_format(today, "MONTH_DAY_FORMAT")}</td>' in html


def test_moving_the_morning_fetch_in_utc_says_the_time_and_the_zone_once(editor_client, db):
    """Saving the fetch at 07:15 UTC said "The morning fetch runs every day at 07:15
    (UTC); next run Monday 7 December, 07:15 UTC" (6 December 2026): the time and the
    zone twice. In another zone the next run in UTC says something new, and stays."""
    from django.contrib.messages import get_messages
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import MORNING_FETCH_TASK, schedules_ensure

    schedules_ensure()
    fetch = PeriodicTask.objects.get(task=MORNING_FETCH_TASK)
    url = "/" + __import__("django.conf").conf.settings.ADMIN_URL + f"django_celery_beat/periodictask/{fetch.pk}/change/"

    said = [str(m) for m in get_messages(editor_client.post(
        url, {"enabled": "on", "at": "07:15", "time_zone": "UTC"}, follow=True).wsgi_request)]
    assert any(re.fullmatch(r"The morning fetch runs every day at 07:15 UTC, next on \w+day \d{1,2} \w+ \d{4}\. "
                            r"Readers' hours are counted from it\.", m) for m in said), said
    said = [str(m) for m in get_messages(editor_client.post(
        url, {"enabled": "on", "at": "07:15", "time_zone": "Europe/Paris"}, follow=True).wsgi_request)]
    assert any(re.match(r"The morning fetch runs every day at 07:15 \(Europe/Paris\); next run \d{1,2} \w{3} \d{4}, "
                        r"0[56]:15 UTC\.", m) for m in said), said
    # Django's own line and the history name the schedule, not its raw crontab.
    assert "The periodic task “Fetch today's trending papers (every morning)” was changed successfully." in [
        re.sub("<[^>]+>", "", __import__("html").unescape(m)) for m in said]
    from django.contrib.admin.models import LogEntry
    assert {e.object_repr for e in LogEntry.objects.all()} == {"Fetch today's trending papers (every morning)"}


def test_a_schedules_last_and_next_run_are_written_as_the_house_writes_a_moment(editor_client, admin_client):
    """The fetch's page said "Monday 7 December, 05:30 UTC" beside the deliveries'
    "7 Dec 2026, 05:30 UTC" for the same kind of moment, in a pattern of its own and
    with no year; and a superuser's page translated its crontab "At 05:30 AM UTC" (a
    12-hour clock) where the editor's list says "every day at 05:30 UTC". A shape the
    house does not put in words keeps cron_descriptor's, which beats the raw crontab."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from newsletter.schedules import MORNING_FETCH_TASK, schedules_ensure

    schedules_ensure()
    fetch = PeriodicTask.objects.get(task=MORNING_FETCH_TASK)
    PeriodicTask.objects.filter(pk=fetch.pk).update(last_run_at=dt.datetime(2025, 11, 24, 5, 30, 4, tzinfo=dt.UTC))
    base = "/" + __import__("django.conf").conf.settings.ADMIN_URL + "django_celery_beat/"
    page = editor_client.get(f"{base}periodictask/{fetch.pk}/change/").content.decode()
    assert "24 Nov 2025, 05:30 UTC" in page
    next_run = re.search(r'field-next_run.*?<div class="readonly">([^<]*)</div>', page, re.DOTALL).group(1)
    assert re.fullmatch(r"\d{1,2} \w{3} \d{4}, 05:30 UTC", next_run), next_run

    monthly = CrontabSchedule.objects.create(minute="30", hour="5", day_of_month="1")
    page = admin_client.get(f"{base}periodictask/{fetch.pk}/change/").content.decode()
    translations = json.loads(re.search(r'id="readable-crontabs"[^>]*>(.*?)</script>', page, re.DOTALL).group(1))
    assert translations[str(fetch.crontab_id)] == "every day at 05:30 UTC"
    assert translations[str(monthly.pk)].startswith("At 05:30 AM, on day 1 of the month")
    listed = admin_client.get(f"{base}crontabschedule/").content.decode()
    assert "every day at 05:30 UTC" in listed and "At 05:30 AM UTC" not in listed


def test_previewing_a_reader_who_gets_no_digests_says_so(editor_client, edition):
    """An editor's walkthrough: a reader found by address after their digest had
    bounced was previewed "for b…@example.com" as any reader, and the test send said
    "as reader 2 gets it": nothing said they get no digest at all."""
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    gone = SubscriberFactory(email="bob@example.com", status="suppressed")
    page = unescape(editor_client.get(url, {"preview_email": "bob@example.com"}).content.decode())
    assert "This reader gets no digests at present (Suppressed): below is what they would get." in page
    active = SubscriberFactory(email="ada@example.com")
    page = unescape(editor_client.get(url, {"preview_as": active.pk}).content.decode())
    assert "gets no digests" not in page and gone.email not in page


@pytest.mark.parametrize("typed", ["²", "9" * 5000, "99999999999999999999"])
def test_a_key_typed_into_an_editors_address_that_no_row_can_have_is_no_row(editor_client, edition, typed):
    """A paper, topic or reader key typed by hand into the address ("?carried=²", a
    superscript; 5,000 nines): str.isdigit() took them, then int() or the database
    refused them, and the editor got a server error. Now such a key names no row:
    the ledger lists every digest, the topic preview and the edition's preview open
    as without one."""
    ledger = editor_client.get(reverse("admin:newsletter_delivery_changelist"), {"carried": typed})
    assert ledger.status_code == 200
    topic_preview = editor_client.get(reverse("admin:newsletter_topic_preview"), {"topic": typed})
    assert topic_preview.status_code == 200
    edition_page = editor_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk]),
                                     {"preview_as": typed})
    assert edition_page.status_code == 200


@pytest.mark.parametrize("typed", ["2511.12345v2", " arXiv:2511.12345 ", "https://arxiv.org/abs/2511.12345v3",
                                   "https://arxiv.org/pdf/2511.12345v1.pdf", "https://huggingface.co/papers/2511.12345",
                                   "https://export.arxiv.org/abs/2511.12345v2/", "arxiv.org/html/2511.12345v1"])
def test_an_arxiv_id_typed_with_its_version_or_pasted_as_an_address_is_the_bare_id(editor_client, typed):
    """An editor pasting "2511.12345v2" (or arXiv's address of it) for a paper with no
    id: it was stored as typed, a second paper beside the 2511.12345 the morning's
    fetch brings (the unique id did not see them as one), shown twice. Now it is the
    bare id: refused while another paper holds it, naming the rule, and stored bare
    once that one is gone."""
    held = PaperFactory(arxiv_id="2511.12345", trending_date=DAY)
    other = PaperFactory(title="Pasted", arxiv_id=None, trending_date=DAY)
    url = reverse("admin:newsletter_paper_change", args=[other.pk])
    data = _as_submitted(editor_client.get(url))
    data["arxiv_id"] = typed

    response = editor_client.post(url, data)

    assert response.status_code == 200
    assert "A paper with this arXiv id is already here." in response.content.decode(), response.context["adminform"].form.errors
    other.refresh_from_db()
    assert other.arxiv_id is None

    held.delete()
    assert editor_client.post(url, data).status_code == 302
    other.refresh_from_db()
    assert other.arxiv_id == "2511.12345"


def test_a_paper_saved_with_no_arxiv_id_keeps_none(editor_client):
    """A paper of no arXiv id (an editor's own entry) is saved with the field left
    empty, as no id, not an empty one: a second such paper would clash with it on
    the unique id."""
    PaperFactory(title="First without", arxiv_id=None, trending_date=DAY)
    paper = PaperFactory(title="Second without", arxiv_id=None, trending_date=DAY)
    url = reverse("admin:newsletter_paper_change", args=[paper.pk])
    data = _as_submitted(editor_client.get(url))
    data["arxiv_id"] = ""

    response = editor_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    paper.refresh_from_db()
    assert paper.arxiv_id is None
