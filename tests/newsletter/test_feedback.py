"""Reader feedback through signed links (newsletter/feedback.py) and what the
preference centre shows of it."""

import datetime as dt
import re

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from newsletter.feedback import (
    feedback_click_record,
    feedback_record,
    feedback_summary,
    feedback_url,
)
from newsletter.models import Edition, EditionPaper, Feedback, Paper
from newsletter.preferences import CLICK_WEIGHT, MORE_STEP
from newsletter.ranking import digest_select, ranking_data_load
from newsletter.relevance import papers_score
from subscribers.models import Subscriber
from subscribers.tokens import subscriber_manage_url
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db


def test_the_link_shows_a_one_button_page_and_records_nothing(client):
    reader, paper = SubscriberFactory(), PaperFactory(title="Yet another benchmark")

    response = client.get(feedback_url(subscriber=reader, paper=paper, vote=-1))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Show me less like this" in html and "Yet another benchmark" in html
    assert not Feedback.objects.exists()  # a mail scanner's GET votes for no one


def test_posting_records_the_vote_and_voting_again_flips_it(client):
    reader, paper = SubscriberFactory(), PaperFactory()
    less = feedback_url(subscriber=reader, paper=paper, vote=-1)

    response = client.post(less)
    assert response.status_code == 303
    assert Feedback.objects.get().vote == -1
    noted = client.get(response["Location"]).content.decode()
    assert "Thanks, noted" in noted and "Actually, show me more like this" in noted

    client.post(less)  # a double click changes nothing
    client.post(feedback_url(subscriber=reader, paper=paper, vote=1))

    assert list(Feedback.objects.values_list("subscriber_id", "paper_id", "vote")) == [
        (reader.pk, paper.pk, 1)
    ]


@pytest.mark.parametrize(("status", "said"), [
    ("active", "Your next digests will show more papers like"),
    ("paused", "When your digests resume, they will show more papers like"),
    ("unsubscribed", "You are not getting the digest now (you unsubscribed). If you get it again, it will show"),
    # A reader whose address bounced was told "(you unsubscribed)", and offered the
    # link by email, which no email of ours reaches (a reader's walkthrough of 7 December).
    ("suppressed", ("You are not getting the digest now (we can't send to your address: it bounced or "
                    "reported our email as spam). If you get it again, it will show")),
])
def test_the_thanks_promises_digests_only_to_a_reader_who_gets_them(client, status, said):
    """A reader who had unsubscribed voted from an old email and read "Your next
    digests will show more papers like…" (a reader's walkthrough of several days)."""
    reader, paper = SubscriberFactory(status=status), PaperFactory()
    url = feedback_url(subscriber=reader, paper=paper, vote=1)
    noted = client.get(client.post(url)["Location"]).content.decode()
    assert said in noted
    assert ("Your next digests" in noted) is (status == "active")
    assert ("Get the link by email" in noted) is (status != "suppressed")
    assert Feedback.objects.get().vote == 1  # kept: it counts if they come back


def test_the_thanks_to_a_reader_whose_pause_has_ended_does_not_wait_for_a_resume(client):
    """The pause's day came a week ago and digests go out again (newsletter/due.py);
    a vote from the last digest was answered "When your digests resume, they will
    show…", as if they were still on hold."""
    reader = SubscriberFactory(status=Subscriber.Status.PAUSED, paused_until=dt.date.today() - dt.timedelta(days=7))
    url = feedback_url(subscriber=reader, paper=PaperFactory(), vote=1)
    noted = client.get(client.post(url)["Location"]).content.decode()
    assert "Your next digests will show more papers like" in noted and "resume" not in noted


def test_the_post_needs_no_csrf_cookie_the_signed_token_is_the_credential(client):
    client.handler.enforce_csrf_checks = True
    reader, paper = SubscriberFactory(), PaperFactory()

    assert client.post(feedback_url(subscriber=reader, paper=paper, vote=1)).status_code == 303
    assert Feedback.objects.count() == 1


def test_a_tampered_link_changes_nothing_and_says_so(client):
    reader, paper = SubscriberFactory(), PaperFactory()
    url = feedback_url(subscriber=reader, paper=paper, vote=-1)
    tampered = url[:-4] + ("A" if url[-4] != "A" else "B") + url[-3:]

    for method in (client.get, client.post):
        response = method(tampered)
        assert response.status_code == 404
        assert "This link is not valid" in response.content.decode()
    assert not Feedback.objects.exists()


def test_a_link_is_bound_to_its_reader_whose_new_token_revokes_it(client):
    reader, paper = SubscriberFactory(), PaperFactory()
    url = feedback_url(subscriber=reader, paper=paper, vote=-1)
    reader.token = "re-issued-secret"
    reader.save()

    assert client.post(url).status_code == 410
    assert not Feedback.objects.exists()


def test_a_link_to_a_paper_no_longer_held_says_so_and_records_nothing(client):
    """An old digest's link to a paper an editor has since deleted: the link's own
    page says it is gone (it was a server error on the POST)."""
    reader, paper = SubscriberFactory(), PaperFactory()
    url = feedback_url(subscriber=reader, paper=paper, vote=1)
    paper.delete()

    for method in (client.get, client.post):
        assert method(url).status_code == 410
    assert not Feedback.objects.exists()


def test_a_reader_cannot_turn_their_link_into_another_readers(client):
    """The link names the reader by id and proves it with their token's fingerprint:
    signing another reader's id with your fingerprint is impossible without the key,
    and a fingerprint made for one reader does not fit another."""
    from django.core import signing

    from newsletter.feedback import _FEEDBACK_SALT, subscriber_fingerprint

    mallory, victim, paper = SubscriberFactory(), SubscriberFactory(), PaperFactory()
    forged = signing.dumps(
        [victim.pk, subscriber_fingerprint(subscriber=mallory), paper.pk, -1], salt=_FEEDBACK_SALT
    )

    assert client.post(f"/feedback/{forged}/").status_code == 410
    assert not Feedback.objects.exists()


def _web_agents_day():
    """An Agents reader; yesterday's web-agent paper (not in today's edition), today's
    near twin of it and today's other, far agents paper; and the reader's next
    digest as {title: score}."""
    agents = TopicFactory(name="Agents", description="Language models that act: tools, web agents.",
                          keywords="agent\nweb agent\ntool use")
    reader = SubscriberFactory(papers_per_digest=10)
    reader.topics.set([agents])
    abstract = ("Language model agents browse real websites to book flights and buy products; the best "
                "agent completes a third of the tasks.")
    yesterday = PaperFactory(title="A benchmark of web agents that book flights and shop online",
                             abstract=abstract, trending_date=dt.date(2025, 11, 23))
    twin = PaperFactory(title="Web agents that shop and book travel on real websites",
                        abstract=abstract.replace("the best", "our strongest"), upvotes=10)
    other = PaperFactory(title="Agents that call calculator and search tools",
                         abstract="A language model agent learns when to call a calculator, a "
                                  "search engine and a calendar through tool use.", upvotes=10)
    papers_score(papers=[yesterday, twin, other])
    edition = Edition.objects.create(date=dt.date(2025, 11, 24), frozen_at=timezone.now())
    EditionPaper.objects.create(edition=edition, paper=twin, position=0)
    EditionPaper.objects.create(edition=edition, paper=other, position=1)

    def next_digest(*, why: bool = False) -> dict[str, float] | dict[str, str]:
        """{title: score}, or with `why` {title: the why line the reader reads}."""
        data = ranking_data_load(date=edition.date, subscriber_ids=[reader.pk])
        subscriber = Subscriber.objects.prefetch_related("topics").get(pk=reader.pk)
        selection = digest_select(subscriber=subscriber, date=edition.date, data=data)
        return {r.paper.title: r.reason if why else r.score for r in selection.papers}

    return reader, yesterday, twin, other, next_digest


def test_less_like_this_lowers_similar_papers_in_the_readers_next_digest(client):
    """The whole loop: a "less like this" click on yesterday's web-agent paper puts
    today's near twin of it later, and leaves today's other agents paper alone."""
    reader, disliked, twin, other, next_digest = _web_agents_day()

    before = next_digest()
    client.post(feedback_url(subscriber=reader, paper=disliked, vote=-1))
    after = next_digest()

    assert set(after) == set(before) == {twin.title, other.title}
    assert after[twin.title] < before[twin.title]
    assert after[other.title] == pytest.approx(before[other.title], abs=0.02)


def test_a_click_brings_close_papers_forward_less_than_a_more_vote_does(client):
    """Opening yesterday's web-agent paper from the digest (the ESP reported the
    click) raises today's near twin of it, by at most CLICK_WEIGHT of a "more"; an
    explicit "more" on the same paper raises it further; the far paper moves less."""
    reader, opened, twin, other, next_digest = _web_agents_day()

    before = next_digest()
    feedback_click_record(subscriber=reader, paper=opened)
    clicked = next_digest()
    feedback_record(subscriber=reader, paper=opened, vote=1)
    voted = next_digest()

    raised = clicked[twin.title] - before[twin.title]
    assert 0 < raised <= CLICK_WEIGHT * MORE_STEP + 1e-9
    assert voted[twin.title] - before[twin.title] > raised
    assert clicked[other.title] - before[other.title] < raised


def test_votes_on_close_papers_add_up_to_a_bound_and_two_clicks_weigh_one_vote(client):
    """Two clicks on two copies of yesterday's web-agent paper raise today's near twin
    as much as one "more" on it; a second "more" raises it further, to at most half a
    point however many follow, and two "less" hold it back further than one, by at
    most a fifth of a point: no number of votes floods or buries a topic."""
    reader, voted, twin, _, next_digest = _web_agents_day()
    copy = PaperFactory(title=voted.title, abstract=voted.abstract, trending_date=voted.trending_date)
    papers_score(papers=[copy])
    before = next_digest()[twin.title]

    feedback_click_record(subscriber=reader, paper=voted)
    feedback_click_record(subscriber=reader, paper=copy)
    two_clicks = next_digest()[twin.title]
    feedback_record(subscriber=reader, paper=voted, vote=1)
    Feedback.objects.filter(paper=copy).delete()
    one_more = next_digest()[twin.title]
    feedback_record(subscriber=reader, paper=copy, vote=1)
    two_more = next_digest()[twin.title]

    assert two_clicks == pytest.approx(one_more)
    assert before < one_more < two_more == pytest.approx(before + 0.5)

    feedback_record(subscriber=reader, paper=voted, vote=-1)
    Feedback.objects.filter(paper=copy).delete()
    one_less = next_digest()[twin.title]
    feedback_record(subscriber=reader, paper=copy, vote=-1)
    two_less = next_digest()[twin.title]
    assert before > one_less > two_less == pytest.approx(before - 0.2)


@pytest.mark.parametrize("taken_down", [{"hidden": True}, {"withdrawn_at": timezone.now()}],
                         ids=["hidden by an editor", "withdrawn by its authors"])
def test_a_vote_on_a_paper_taken_down_since_no_longer_names_it_or_moves_anything(taken_down):
    """A reader liked a web-agent paper; an editor hid it (or its authors withdrew it)
    since. The next digest still said of its near twin "close to “A benchmark of web
    agents…”, which you liked", a paper no page shows any more (its feedback link is
    gone, 8e82ca4), and the preference centre listed it as teaching. A paper taken
    down teaches nothing, and shown again, it teaches again."""
    reader, liked, twin, _, next_digest = _web_agents_day()
    # Today's paper that passes only for being close to the liked one (no agents term).
    near = PaperFactory(title="A benchmark of booking flights and shopping online", upvotes=10,
                        abstract="Systems browse real websites to book flights and buy products; the best "
                                 "completes a third of the tasks.")
    papers_score(papers=[near])
    EditionPaper.objects.create(edition=Edition.objects.get(), paper=near, position=2)
    before = next_digest()[twin.title]
    feedback_record(subscriber=reader, paper=liked, vote=1)
    assert next_digest()[twin.title] > before
    assert next_digest(why=True)[near.title] == f"close to “{liked.title}”, which you liked"
    assert liked.title in render_learned(reader)

    Paper.objects.filter(pk=liked.pk).update(**taken_down)
    assert next_digest()[twin.title] == pytest.approx(before)
    assert near.title not in next_digest()
    assert liked.title not in render_learned(reader) and "Nothing yet" in render_learned(reader)

    Paper.objects.filter(pk=liked.pk).update(hidden=False, withdrawn_at=None)
    assert next_digest()[twin.title] > before and liked.title in render_learned(reader)


def test_a_less_vote_stops_holding_papers_back_once_fifty_newer_votes_follow_it(client):
    """Only the newest 50 votes move the ranking: a "less like this" followed by 50
    votes on other papers no longer puts the near twin later."""
    reader, disliked, twin, _, next_digest = _web_agents_day()
    before = next_digest()
    feedback_record(subscriber=reader, paper=disliked, vote=-1)
    Feedback.objects.filter(paper=disliked).update(created_at=timezone.now() - dt.timedelta(days=1))
    assert next_digest()[twin.title] < before[twin.title]

    for n in range(50):
        feedback_record(subscriber=reader, paper=PaperFactory(title=f"Another paper {n}"), vote=1)

    assert next_digest()[twin.title] == pytest.approx(before[twin.title])


def test_the_why_line_names_the_paper_opened_or_liked_whole_up_to_sixty_characters():
    """A paper that passes only for being close to two the reader opened (two clicks
    weigh one vote) says "close to “…”, which you opened", not "liked", nor names a
    liked paper far from it; the opened paper's title is given whole at 60
    characters, and a longer one is cut with "…" right after a word, never after a
    space."""
    reader, opened, _, _, next_digest = _web_agents_day()
    also_opened = PaperFactory(title=opened.title, abstract=opened.abstract,
                               trending_date=opened.trending_date)
    near = PaperFactory(title="A benchmark of booking flights and shopping online", upvotes=10,
                        abstract="Systems browse real websites to book flights and buy products; the best "
                                 "completes a third of the tasks.")
    unrelated = PaperFactory(title="Protein structures predicted by diffusion", trending_date=opened.trending_date,
                             abstract="A diffusion model predicts the structures of proteins from their sequences.")
    papers_score(papers=[also_opened, near, unrelated])
    EditionPaper.objects.create(edition=Edition.objects.get(), paper=near, position=2)
    # Renamed once their vectors are stored: either may be the one named.
    sixty = "A benchmark of web agents that book flights and shop onlines"
    assert len(sixty) == 60
    Paper.objects.filter(pk__in=[opened.pk, also_opened.pk]).update(title=sixty)
    assert near.title not in next_digest()

    # Named is the paper it is closest to, not a paper liked before that is far from it.
    feedback_record(subscriber=reader, paper=unrelated, vote=1)
    feedback_click_record(subscriber=reader, paper=opened)
    feedback_click_record(subscriber=reader, paper=also_opened)
    assert next_digest(why=True)[near.title] == f"close to “{sixty}”, which you opened"

    Paper.objects.filter(pk__in=[opened.pk, also_opened.pk]).update(
        title="A benchmark of web agents that book flights and shop alone online"
    )
    assert next_digest(why=True)[near.title] == (
        "close to “A benchmark of web agents that book flights and shop alone…”, which you opened"
    )
    feedback_record(subscriber=reader, paper=opened, vote=1)
    feedback_record(subscriber=reader, paper=also_opened, vote=1)
    assert next_digest(why=True)[near.title].endswith("which you liked")


# --- The preference centre --------------------------------------------------------


def render_learned(subscriber, *, query: str = "") -> str:
    token = subscriber_manage_url(subscriber=subscriber).rstrip("/").rsplit("/", 1)[1]
    request = RequestFactory().get(f"/manage/{token}/{query}")
    return Template("{% load newsletter_feedback %}{% learned_preferences subscriber token %}").render(
        Context({"subscriber": subscriber, "token": token, "request": request})
    )


def test_the_preference_centre_shows_what_was_learned_and_resets_it(client):
    agents = TopicFactory(name="Agents")
    reader = SubscriberFactory()
    paper = PaperFactory(title="An agent benchmark")
    PaperTopicFactory(paper=paper, topic=agents, score=0.9, matched_terms=["agent"])
    client.post(feedback_url(subscriber=reader, paper=paper, vote=-1))

    summary = feedback_summary(subscriber=reader)
    assert summary["less_like"] == ["An agent benchmark"] and summary["votes"] == 1
    html = render_learned(reader)
    assert "Less like" in html and "An agent benchmark" in html
    # One vote read "From your 1 “more like this” / “less like this” click".
    assert "From your vote:" in html and " 1 " not in html
    assert "your topics themselves stay as you chose them" in html
    # What the vote does, said beside it; nothing about papers opened, which this
    # reader has not (the panel said it to everyone: a reader's walkthrough).
    assert "These never come back, and papers close to them come later" in html
    assert "opened" not in html and "come first" not in html

    # "Forget all of this" forgets the papers opened from the digest too.
    feedback_click_record(subscriber=reader, paper=PaperFactory(title="An agent paper opened"))
    feedback_click_record(subscriber=reader, paper=PaperFactory(title="Another agent paper opened"))
    assert "From your vote and the 2 papers you opened from your digest:" in render_learned(reader)
    reset_url = subscriber_manage_url(subscriber=reader).replace("http://testserver", "") + "learned/reset/"
    response = client.post(reset_url)

    assert response.status_code == 303 and "done=learned_reset" in response["Location"]
    assert not Feedback.objects.filter(subscriber=reader).exists()
    assert "Nothing yet" in render_learned(reader)
    assert "has forgotten your votes" in render_learned(reader, query="?done=learned_reset")


def test_a_reader_who_saved_their_settings_is_not_told_their_votes_were_forgotten_and_the_button_forgets_them(client):
    """The preference centre says "done" for each of its buttons (?done=saved, ...):
    only the reset's may say the votes are gone. "Forget all of this" posts to the
    reset, not to the settings form around it."""
    reader, paper = SubscriberFactory(), PaperFactory(title="An agent benchmark")
    client.post(feedback_url(subscriber=reader, paper=paper, vote=1))
    manage = subscriber_manage_url(subscriber=reader).replace("http://testserver", "")

    for query in ("", "?done=saved"):
        page = client.get(manage + query).content.decode()
        assert "An agent benchmark" in page and "has forgotten your votes" not in page
    [action] = re.findall(r'<form method="post" action="([^"]*)">\s*<button[^>]*>Forget all of this', page)
    client.post(action)

    assert not Feedback.objects.filter(subscriber=reader).exists()
    assert "has forgotten your votes" in client.get(manage + "?done=learned_reset").content.decode()


def test_resetting_with_a_bad_manage_token_changes_nothing(client):
    reader, paper = SubscriberFactory(), PaperFactory()
    Feedback.objects.create(subscriber=reader, paper=paper, vote=-1)

    response = client.post("/manage/not-a-token/learned/reset/")

    assert response.status_code == 404
    assert Feedback.objects.count() == 1
    # Opened as a link, the reset changes nothing and leads to the page with its button.
    manage = subscriber_manage_url(subscriber=reader).replace("http://testserver", "")
    opened = client.get(manage + "learned/reset/")
    assert (opened.status_code, opened["Location"]) == (303, manage)
    assert Feedback.objects.count() == 1


def test_editing_the_paper_or_vote_of_a_link_breaks_it(client):
    reader, paper, other = SubscriberFactory(), PaperFactory(), PaperFactory()
    url = feedback_url(subscriber=reader, paper=paper, vote=-1)
    value, signature = url.rstrip("/").rsplit("/", 1)[1].split(":")
    sid, fingerprint, _, _ = value.split(".")
    for edited in (f"{sid}.{fingerprint}.{other.pk}.-1", f"{sid}.{fingerprint}.{paper.pk}.1"):
        assert client.post(f"/feedback/{edited}:{signature}/").status_code == 404
    assert not Feedback.objects.exists()


def test_links_mailed_in_the_older_format_still_work(client):
    """Digests sent before the compact link format carry signing.dumps tokens."""
    from django.core import signing

    from newsletter.feedback import _FEEDBACK_SALT, subscriber_fingerprint

    reader, paper = SubscriberFactory(), PaperFactory()
    old = signing.dumps(
        [reader.pk, subscriber_fingerprint(subscriber=reader), paper.pk, -1], salt=_FEEDBACK_SALT
    )

    assert client.post(f"/feedback/{old}/").status_code == 303
    assert Feedback.objects.get().vote == -1


def test_the_preference_centre_says_which_opened_papers_it_learned_from():
    reader = SubscriberFactory()
    feedback_click_record(subscriber=reader, paper=PaperFactory(title="A paper opened from the digest"))

    html = render_learned(reader)

    assert "From the paper you opened from your digest:" in html
    assert "A little more like (you opened them)" in html and "A paper opened from the digest" in html
    # Under what a click does only, not under "More like" too.
    assert html.count("A paper opened from the digest") == 1

    # Fifty newer votes later, the click is still counted but no longer listed as teaching.
    from newsletter.preferences import FEEDBACK_VOTES_USED

    for n in range(FEEDBACK_VOTES_USED):
        Feedback.objects.create(subscriber=reader, paper=PaperFactory(title=f"Later {n}"), vote=1)
    html = render_learned(reader)
    assert f"From your {FEEDBACK_VOTES_USED} votes and the paper you opened from your digest:" in html
    assert "A paper opened from the digest" not in html


def test_the_preference_centre_names_each_paper_once_under_what_it_does():
    """The panel listed every voted paper twice (what it does, then "Papers you voted
    on or opened"); now once, newest first, five a group and a count of the rest,
    and it says when older votes no longer count."""
    from newsletter.preferences import FEEDBACK_VOTES_USED

    reader = SubscriberFactory()
    for n in range(7):
        Feedback.objects.create(subscriber=reader, paper=PaperFactory(title=f"Liked paper {n}"), vote=1)
    Feedback.objects.create(subscriber=reader, paper=PaperFactory(title="A paper held back"), vote=-1)

    html = render_learned(reader)

    assert html.count("A paper held back") == 1 and html.count("Liked paper 6") == 1
    assert [f"Liked paper {n}" in html for n in range(7)] == [False, False, True, True, True, True, True]
    assert "and 2 more" in html and "no longer move anything" not in html

    # Papers opened from the digest count among the newest as votes do.
    for n in range(FEEDBACK_VOTES_USED):
        Feedback.objects.create(subscriber=reader, paper=PaperFactory(title=f"Later {n}"), vote=1,
                                source=Feedback.Source.CLICK if n < 10 else Feedback.Source.VOTE)
    assert f"Only your newest {FEEDBACK_VOTES_USED} count: the 8 before them no longer move anything" in render_learned(reader)


def test_a_reader_who_changes_their_mind_on_an_old_vote_is_heard_as_now(client):
    """Weeks on, a reader turns an old "more like this" into "less like this" (the
    page after a vote offers it, and an old email's links still work). The vote kept
    the date of the first one, so with FEEDBACK_VOTES_USED votes since, the change
    fell outside the newest that count: the panel did not list it and the ranking
    did not hear it (a six-week walkthrough). A changed vote now counts from when it
    was made; a second click on the same vote changes nothing."""
    from newsletter.preferences import FEEDBACK_VOTES_USED, subscriber_learned_preferences

    reader, first = SubscriberFactory(), PaperFactory(title="A paper liked at first")
    feedback_record(subscriber=reader, paper=first, vote=1)
    Feedback.objects.filter(paper=first).update(created_at=timezone.now() - dt.timedelta(weeks=5))
    for n in range(FEEDBACK_VOTES_USED):
        feedback_record(subscriber=reader, paper=PaperFactory(title=f"Later {n}"), vote=1)
    assert "A paper liked at first" not in subscriber_learned_preferences(subscriber=reader)["more_like"]

    assert client.post(feedback_url(subscriber=reader, paper=first, vote=-1)).status_code == 303

    learned = subscriber_learned_preferences(subscriber=reader)
    assert learned["less_like"] == ["A paper liked at first"]
    voted_at = Feedback.objects.get(paper=first).created_at
    feedback_record(subscriber=reader, paper=first, vote=-1)  # the same vote again
    assert Feedback.objects.get(paper=first).created_at == voted_at


def test_the_other_link_of_a_paper_already_voted_on_asks_before_it_changes_the_vote(client):
    """A reader who asked for more of a paper opens its "less" link (or a mail scanner
    does): the page asks, it does not say "Thanks, noted" for a vote not made, and it
    stays out of search engines like every page behind a reader's link."""
    reader, paper = SubscriberFactory(), PaperFactory()
    client.post(feedback_url(subscriber=reader, paper=paper, vote=1))

    response = client.get(feedback_url(subscriber=reader, paper=paper, vote=-1))

    html = response.content.decode()
    assert "Less like this one?" in html and "Thanks, noted" not in html
    assert Feedback.objects.get().vote == 1
    assert response["X-Robots-Tag"] == "noindex, nofollow"


@pytest.mark.parametrize("taken_down", [{"hidden": True}, {"withdrawn_at": dt.datetime(2025, 11, 25, tzinfo=dt.UTC)}],
                         ids=["hidden by an editor", "withdrawn by its authors"])
def test_a_link_to_a_paper_taken_down_since_shows_nothing_of_it_records_nothing_and_leads_on(client, taken_down):
    """An old digest's "Less like this" beside a paper taken down since: the reader's
    "view in browser" copy of that digest left the paper out, but the link opened a
    page with its title and authors and took a vote (whose paper the preference
    centre then listed, and the next digests' why lines named). Now it is the page of
    a link whose paper is gone, as for a deleted paper; every link on it opens."""
    from django.core import mail

    from newsletter.delivery import deliveries_create, digest_send_batch
    from newsletter.editions import edition_assemble

    now = dt.datetime(2025, 11, 24, 7, 5, tzinfo=dt.UTC)
    topic = TopicFactory(name="Robotics")
    papers = [PaperFactory(trending_date=now.date(), upvotes=50 - n, title=title, authors=["Grace Hopper"])
              for n, title in enumerate(["Robots that grasp", "A result its authors took back"])]
    for paper in papers:
        PaperTopicFactory(paper=paper, topic=topic, score=0.9, matched_terms=["robot"])
    reader = SubscriberFactory()
    reader.topics.set([topic])
    digest_send_batch(delivery_ids=deliveries_create(edition=edition_assemble(date=now.date()),
                                                     subscriber_ids=[reader.id], now=now), now=now)
    [message] = mail.outbox
    less = message.body.split("A result its authors took back")[1].split("Less like this: ")[1].split()[0]
    copy = message.body.split("View in browser: ")[1].split()[0]
    Paper.objects.filter(pk=papers[1].pk).update(**taken_down)

    assert "A result its authors took back" not in client.get(copy).content.decode()
    for method in (client.get, client.post):
        response = method(less)
        html = response.content.decode()
        assert response.status_code == 410
        assert "A result its authors took back" not in html and "Grace Hopper" not in html
        assert "the paper was taken down" in html
    assert not Feedback.objects.exists()
    for href in set(re.findall(r'href="(/[^"]*)"', html)):
        assert client.get(href).status_code == 200, href


def test_the_more_link_of_a_paper_opened_from_the_digest_asks_and_casts_the_vote(client):
    """A reader opens a paper from their digest (the ESP reports the click: half a
    "more"), then presses its "More like this". The page said "Thanks, noted" with
    no button, and no vote was cast: the panel still listed the paper under "you
    opened them" and the ranking gave it half a vote's weight. The link asks, as
    for a paper not voted on, and its button makes the vote."""
    reader, paper = SubscriberFactory(), PaperFactory(title="A paper opened, then liked")
    feedback_click_record(subscriber=reader, paper=paper)
    more = feedback_url(subscriber=reader, paper=paper, vote=1)

    html = client.get(more).content.decode()
    assert "More papers like this one?" in html and "Thanks, noted" not in html
    assert "Show me more like this" in html

    noted = client.get(client.post(more)["Location"]).content.decode()
    assert "Thanks, noted" in noted
    assert list(Feedback.objects.values_list("vote", "source")) == [(1, Feedback.Source.VOTE)]
    assert "From your vote:" in render_learned(reader)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_less_pressed_while_the_papers_opening_is_being_recorded_is_kept():
    """The reader opens a paper from the digest, reads it and presses "Less like
    this" while the ESP's report of that click is still being recorded (its
    transaction not yet committed). The vote found no row to replace, waited for
    the click's row, then took that row as its own: the "less" was lost, the paper
    stayed a milder "more", and the page after the vote asked "Less like this
    one?" again. The vote replaces the click, whichever of the two comes first."""
    import threading

    from django.db import connection, connections, transaction
    from django.test import Client

    reader, paper = SubscriberFactory(), PaperFactory(title="A paper opened, then disliked")
    less = feedback_url(subscriber=reader, paper=paper, vote=-1)
    recorded, release, answers = threading.Event(), threading.Event(), []

    def esp_click_report():
        try:
            with transaction.atomic():
                feedback_click_record(subscriber=reader, paper=paper)
                recorded.set()
                release.wait(30)
        finally:
            connections.close_all()

    def vote():
        try:
            answers.append(Client().post(less))
        finally:
            connections.close_all()

    webhook, voter = threading.Thread(target=esp_click_report), threading.Thread(target=vote)
    webhook.start()
    try:
        assert recorded.wait(10)
        voter.start()
        # The vote waits on the click's row (the unique (reader, paper) index).
        for _ in range(200):
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND wait_event_type = 'Lock'")
                if cursor.fetchone()[0]:
                    break
            threading.Event().wait(0.05)
        else:
            pytest.fail("the vote never waited for the click's row")
    finally:
        release.set()
        webhook.join(10)
        voter.join(10)

    assert [a.status_code for a in answers] == [303]
    assert list(Feedback.objects.values_list("vote", "source")) == [(-1, Feedback.Source.VOTE)]
    noted = Client().get(answers[0]["Location"]).content.decode()
    assert "Thanks, noted" in noted and "Less like this one?" not in noted


def test_the_reset_page_reloaded_after_a_new_vote_does_not_say_the_votes_are_forgotten(client):
    """A reader presses "Forget all of this", then "Less like this" in their email,
    and reloads the preference centre's tab to see it: the page (still at
    ?done=learned_reset) said "your digest has forgotten your votes and ranks papers
    by your topics again" right above the vote it had just learned."""
    reader = SubscriberFactory()
    client.post(feedback_url(subscriber=reader, paper=PaperFactory(title="A paper liked first"), vote=1))
    manage = subscriber_manage_url(subscriber=reader).replace("http://testserver", "")
    after_reset = client.post(manage + "learned/reset/")["Location"]
    assert "has forgotten your votes" in client.get(after_reset).content.decode()

    client.post(feedback_url(subscriber=reader, paper=PaperFactory(title="A paper disliked since"), vote=-1))

    page = client.get(after_reset).content.decode()
    assert "A paper disliked since" in page and "From your vote:" in page
    assert "has forgotten your votes" not in page


def test_less_like_this_says_what_the_next_digest_does_close_papers_later_none_left_out(client):
    """The "less" link's page asked "Fewer papers like this one?" and thanked the
    reader with "Your next digests will show fewer papers like …", while the
    preference centre said "papers close to them come later (they are not left
    out)", which is what the ranking does: the next digest has the near twin still,
    further down. Both pages now say what happens."""
    reader, disliked, twin, _, next_digest = _web_agents_day()
    less = feedback_url(subscriber=reader, paper=disliked, vote=-1)
    before = next_digest()

    asked = client.get(less).content.decode()
    assert "Fewer" not in asked and "Less like this one?" in asked
    assert "Papers close to it come later in your next digests (none is left out)" in asked
    noted = client.get(client.post(less)["Location"]).content.decode()
    assert "fewer" not in noted
    assert "Your next digests will show papers close to this one later (none is left out), and never this one:" in noted

    after = next_digest()
    assert set(after) == set(before) and after[twin.title] < before[twin.title]
