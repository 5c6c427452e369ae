"""The home page in Chromium, at desktop and phone widths."""

import base64
import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from newsletter.models import Edition, EditionPaper
from tests.browser.conftest import PHONE, page_width, picture_width, png
from tests.factories import PaperFactory, PaperTopicFactory, TopicFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TODAY = dt.date(2025, 11, 24)
LONG_ABSTRACT = (
    "Large language models are increasingly used as agents that plan, call tools and "
    "revise their own work. We introduce a benchmark of long-horizon research tasks and "
    "show that a simple self-critique loop improves success rates by a wide margin, "
    "while cutting the number of tool calls in half. We release code and data."
)

# A thumbnail that needs no network: a PNG as a data URL, which the site serves as
# its own copy (newsletter/pictures.py; an SVG it refuses: it could carry a script).
THUMBNAIL = "data:image/png;base64," + base64.b64encode(png(64, 36, (49, 46, 129))).decode()


@pytest.fixture
def papers():
    agents = TopicFactory(name="Agents")
    vision = TopicFactory(name="Computer Vision")
    pick = PaperFactory(
        title="Self-Critique Makes Research Agents Better",
        abstract=LONG_ABSTRACT,
        upvotes=128,
        pinned=True,
        github_repo="https://github.com/example/critique",
        github_stars=512,
    )
    PaperTopicFactory(paper=pick, topic=agents, score=0.9)
    second = PaperFactory(
        title="Seeing in the Dark: Diffusion Priors for Low-Light Video",
        authors=[], author_count=0, organization="Example AI Lab", upvotes=77,
        thumbnail_url=THUMBNAIL,
    )
    PaperTopicFactory(paper=second, topic=vision, score=0.7)
    PaperFactory(title="A Short Note on Tokenizers", abstract="Tokenizers matter.", upvotes=9)
    PaperFactory(title="Yesterday's Paper", trending_date=TODAY - dt.timedelta(days=3))
    return pick


def test_home_shows_the_days_papers_at_desktop_and_phone_width(live_server, page, screenshot, papers):
    page.goto(live_server.url + "/")

    expect(page.get_by_role("heading", level=1)).to_contain_text("Monday 24 November 2025")
    cards = page.locator("article.paper-card")
    expect(cards).to_have_count(3)
    expect(cards.first).to_contain_text("Self-Critique Makes Research Agents Better")
    # What a screen reader reads: the count with its word, not a label it ignores.
    expect(cards.first.get_by_text("128 upvotes", exact=True)).to_be_visible()
    expect(cards.first.locator(".chip", has_text="Agents")).to_be_visible()
    expect(cards.nth(1)).to_contain_text("Example AI Lab")
    expect(cards.nth(1).locator(".paper-card__thumb img")).to_be_visible()
    assert picture_width(cards.nth(1).locator(".paper-card__thumb img")) == 64  # loaded
    expect(page.get_by_text("Yesterday's Paper")).to_have_count(0)
    expect(page.get_by_role("link", name="Code ★ 512")).to_be_visible()

    cta = page.get_by_role("link", name="Subscribe", exact=True).and_(page.locator(".cta__button"))
    expect(page.get_by_text("Get trending papers in your email inbox!")).to_be_visible()
    expect(cta).to_be_visible()

    assert _gap_above_subscribe_form(page) >= 24
    screenshot(page, "home")
    page.set_viewport_size(PHONE)
    expect(cta).to_be_visible()
    expect(cards.first.locator(".paper-card__title")).to_be_visible()
    assert _gap_above_subscribe_form(page) >= 24
    # Nothing sticks out sideways on a phone.
    assert page_width(page) <= PHONE["width"]

    cta.click()
    page.wait_for_url("**/subscribe/")
    assert page.js_errors == []


def _gap_above_subscribe_form(page) -> float:
    """Pixels between the last paper card and the subscribe form's heading under it:
    with none, the heading read as part of the last card."""
    return page.evaluate("""() =>
        document.querySelector('#home-subscribe-title').getBoundingClientRect().top
        - document.querySelector('.paper-list').getBoundingClientRect().bottom""")


def test_an_editions_abstract_opens_to_its_full_length_without_javascript(
    live_server, browser, papers
):
    # A day's list carries a line of each abstract; an edition (a handful of papers) the whole.
    edition = Edition.objects.create(date=TODAY, frozen_at=timezone.now())
    EditionPaper.objects.create(edition=edition, paper=papers, position=1)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/editions/{TODAY}/")
    abstract = page.locator(".abstract--folded").first
    clamped = abstract.bounding_box()["height"]
    # The toggle is named by itself, not by the whole abstract it held before (a
    # screen reader read the abstract out as the name of a control).
    toggle = abstract.locator("summary")
    assert page.evaluate("e => e.textContent", toggle.element_handle()).startswith("more of the abstract")
    assert abstract.locator("summary .abstract__text").count() == 0

    toggle.click()

    expect(abstract.locator("details")).to_have_attribute("open", "")
    assert abstract.bounding_box()["height"] > clamped
    expect(abstract.locator(".abstract__less")).to_have_text("less of the abstract")
    expect(abstract.locator(".abstract__less")).to_be_visible()
    expect(abstract.locator(".abstract__more")).to_be_hidden()
    context.close()


def test_previous_dates_are_one_click_away(live_server, page, papers):
    page.goto(live_server.url + "/")

    page.get_by_role("link", name="Previous").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Friday 21 November 2025")
    expect(page.get_by_text("Yesterday's Paper")).to_be_visible()
    assert page.js_errors == []


def test_empty_home_page_says_so(live_server, page, screenshot):
    page.goto(live_server.url + "/")

    expect(page.get_by_role("heading", name="No papers yet")).to_be_visible()
    expect(page.locator(".cta__button")).to_be_visible()
    screenshot(page, "home-empty")
    assert page.js_errors == []
