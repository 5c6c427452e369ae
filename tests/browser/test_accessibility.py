"""Every page a reader can reach, checked by axe-core in Chromium in the light and the
dark colour scheme: no serious or critical violation. And the things axe cannot judge
alone: a failed form takes the reader to what went wrong, pages reflow at 320 px."""

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from newsletter.editions import edition_assemble, edition_freeze
from newsletter.feedback import feedback_url
from subscribers import tokens
from tests.browser.conftest import axe_blocking, page_overflow
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAY = dt.date(2025, 11, 24)
NARROWEST = {"width": 320, "height": 640}


@pytest.fixture
def site(settings, live_server):
    """A day of papers, an edition, and a confirmed reader with their signed links."""
    settings.SITE_URL = live_server.url
    agents = TopicFactory(name="Agents", description="Tool use, planning and memory.")
    TopicFactory(name="Vision", description="Images and video.")
    papers = [
        PaperFactory(trending_date=DAY, title=f"Agents that plan, part {n}", upvotes=90 - n,
                     github_repo="https://github.com/example/a" if n % 2 else "", pinned=n == 0)
        for n in range(4)
    ]
    for paper in papers:
        PaperTopicFactory(paper=paper, topic=agents, score=0.9, matched_terms=["plan"])
    edition_freeze(edition=edition_assemble(date=DAY))  # sent: public in the archive
    reader = SubscriberFactory(email="ada@example.com")
    reader.topics.add(agents)
    manage = tokens.subscriber_manage_url(subscriber=reader)
    return {
        "home": "/",
        "day": f"/papers/{DAY.isoformat()}/",
        "paper": papers[1].get_absolute_url(),
        "archive": "/editions/",
        "feeds": "/feeds/",
        "edition": f"/editions/{DAY.isoformat()}/",
        "subscribe": "/subscribe/",
        "check-inbox": "/subscribe/check-your-inbox/",
        "confirm": tokens.confirm_url(subscriber=SubscriberFactory(status="pending")),
        "manage": manage,
        "delete": manage + "delete/",
        "unsubscribe": tokens.subscriber_unsubscribe_url(subscriber=reader),
        "resubscribe": tokens.subscriber_resubscribe_url(subscriber=SubscriberFactory(status="unsubscribed")),
        "links-request": "/subscription/",
        "links-sent": "/subscription/sent/",
        "links-sent-by-link": "/subscription/sent/?by=link",  # after the used confirm link's button
        "feedback": feedback_url(subscriber=reader, paper=papers[1], vote=1),
        "link-invalid": "/manage/not-a-valid-token/",
        "not-found": "/papers/no-such-page/",
    }


def _visit(page, live_server, url: str) -> None:
    response = page.goto(url if url.startswith("http") else live_server.url + url)
    # The page itself, not an error page standing in for it (a bad link's page is a 4xx).
    assert response.status == (404 if "not-a-valid-token" in url or "no-such" in url else 200), (url, response.status)


def _save(page, name: str) -> None:
    out = Path(django_settings.SCREENSHOT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_public_page_passes_axe(page, live_server, site, scheme):
    page.emulate_media(color_scheme=scheme)
    found = {}
    for name, url in site.items():
        _visit(page, live_server, url)
        found[name] = axe_blocking(page)
        if name in ("home", "paper", "subscribe", "manage", "resubscribe", "links-request"):
            _save(page, f"a11y-{name}-{scheme}")
    assert {name: v for name, v in found.items() if v} == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_failed_subscribe_moves_focus_to_an_error_summary(page, live_server, site, scheme):
    page.emulate_media(color_scheme=scheme)
    _visit(page, live_server, "/subscribe/")
    page.get_by_label("Email address").fill("not an address")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_load_state()

    summary = page.locator(".sf-error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.classList.contains('sf-error-summary')")
    # Each problem links to its field; the topics error is tied to its group.
    links = summary.get_by_role("link")
    assert links.count() >= 3  # email, topics, consent
    topics = page.locator("fieldset#topics")
    described = topics.get_attribute("aria-describedby") or ""
    assert described and page.locator(f"#{described.split()[0]}").inner_text().strip()
    links.filter(has_text="topic").first.click()
    assert page.evaluate("document.activeElement.closest('fieldset')?.id") == "topics"
    # The group's legend and its error are in view, not under the sticky header.
    header_bottom = page.locator(".site-header").bounding_box()
    header_bottom = header_bottom["y"] + header_bottom["height"]
    assert page.locator("fieldset#topics legend").bounding_box()["y"] >= header_bottom
    assert axe_blocking(page) == []
    _save(page, f"a11y-subscribe-errors-{scheme}")


def test_pages_reflow_at_320_px(page, live_server, site):
    page.set_viewport_size(NARROWEST)
    for name in ("home", "paper", "subscribe", "manage", "edition"):
        _visit(page, live_server, site[name])
        overflow = page_overflow(page)
        assert overflow <= 0, f"{name}: {overflow}px wider than 320px"
        # The header's last link: Subscribe, or "Papers" on a reader's own page.
        cta = page.locator(".site-nav a:visible").last.bounding_box()
        assert cta["x"] + cta["width"] <= NARROWEST["width"], name
        # Brand and that link still share the header's one line.
        brand = page.locator(".brand").bounding_box()
        assert abs(brand["y"] + brand["height"] / 2 - (cta["y"] + cta["height"] / 2)) < 4, name
        _save(page, f"a11y-{name}-320")


# WCAG 1.4.12 (text spacing): a reader's own style sheet may set these, and nothing
# may be cut off or push the page sideways.
TEXT_SPACING = """* { line-height: 1.5 !important; letter-spacing: 0.12em !important;
  word-spacing: 0.16em !important; } p { margin-bottom: 2em !important; }"""


def test_pages_reflow_at_320_px_with_wcag_text_spacing_and_the_outbox_link(page, live_server, site, settings):
    """400 % zoom is 320 px. The footer's links did not wrap: the page was 339 px wide
    in local development (its Outbox link), 394 px with a reader's text spacing."""
    settings.DEBUG = True  # the footer's longest form: local development links the outbox
    page.set_viewport_size(NARROWEST)
    for name in ("home", "day", "paper", "subscribe", "manage", "edition", "archive", "unsubscribe"):
        _visit(page, live_server, site[name])
        page.add_style_tag(content=TEXT_SPACING)
        overflow = page_overflow(page)
        assert overflow <= 0, f"{name}: {overflow}px wider than 320px with text spacing"


def test_after_each_button_the_title_and_the_focus_say_what_happened(page, live_server, site):
    """The page reloads after every button; a screen reader reads the title and the
    focused element first. The "Saved" line was in the page already, so nothing
    announced it, and the titles stayed "Your digest", "Unsubscribe", "More like
    this" whatever had happened."""
    _visit(page, live_server, site["manage"])
    page.get_by_role("button", name="Save preferences").press("Enter")
    page.wait_for_url("**?done=saved")
    assert page.title().startswith("Saved · Your digest")
    assert page.evaluate("document.activeElement.textContent").startswith("Saved.")

    page.get_by_role("button", name="Pause 1 week").press("Enter")
    page.wait_for_url("**?done=paused")
    assert page.title().startswith("Paused · ")
    assert page.evaluate("document.activeElement.getAttribute('role')") == "status"

    _visit(page, live_server, site["feedback"])
    assert page.title().startswith("More like this")
    page.get_by_role("button", name="Show me more like this").press("Enter")
    page.wait_for_load_state()
    assert page.title().startswith("Thanks, noted: more like this")

    _visit(page, live_server, site["unsubscribe"])
    assert page.title().startswith("Unsubscribe")
    page.get_by_role("button", name="Unsubscribe").press("Enter")
    page.wait_for_load_state()
    assert page.title().startswith("You're unsubscribed")

    _visit(page, live_server, "/subscribe/")
    page.get_by_role("button", name="Subscribe").press("Enter")
    page.wait_for_load_state()
    assert page.title().startswith("Error: Subscribe")


def test_a_step_with_nowhere_to_go_is_read_as_an_unavailable_link(page, live_server, site):
    """"Next →" on the newest day was a span with aria-disabled, which means nothing
    on a span: a screen reader read plain text where the other step is a link."""
    _visit(page, live_server, site["day"])
    assert page.get_by_role("link", name="Next →", disabled=True).count() == 1
    _visit(page, live_server, site["edition"])
    assert page.get_by_role("link", name="Newer →", disabled=True).count() == 1
