"""Every public page and every admin page an editor uses, in Chromium: each loads
with no console error and no Content-Security-Policy violation (no inline script
anywhere), and "Send now to everyone" asks first through the static confirm.js.
Screenshots of the home page, a paper's page and the dashboard."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from newsletter.archive import delivery_view_url
from newsletter.management.commands.bootstrap import SAMPLE_DATE, SAMPLE_FILE
from newsletter.models import Delivery, Edition, OutboxEmail, Paper, Topic
from subscribers.tokens import subscriber_links
from tests.browser.conftest import DESKTOP, admin_sign_in, axe_blocking, picture_width
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def site(settings, live_server, thumbnail):
    """The sample day, three papers with the API's full data on top of it, a reader
    who got their digest (kept in the outbox), and an admin."""
    settings.SITE_URL = live_server.url
    settings.EMAIL_BACKEND = "newsletter.outbox.OutboxEmailBackend"
    # Transactional tests start from an empty database: the topic is made here.
    language = TopicFactory(name="Language models", slug="language-models",
                            keywords="language model\nLLM\npre-training")
    call_command("fetch_papers", file=str(SAMPLE_FILE), date=SAMPLE_DATE, verbosity=0)
    rich = []
    for n, title in enumerate(["Scaling Test-Time Compute for Language Agents",
                               "A Vision-Language Model That Reads Charts",
                               "Diffusion Policies for Dexterous Manipulation"]):
        paper = PaperFactory(
            arxiv_id=f"2511.2000{n}", title=title, trending_date=SAMPLE_DATE, upvotes=120 - 20 * n,
            authors=["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"], author_count=6,
            organization="Example Lab", github_repo="https://github.com/example/agents",
            github_stars=2048, project_page="https://agents.example.org/",
            thumbnail_url=thumbnail(n), ai_summary="A one-paragraph summary of the paper.",
        )
        PaperTopicFactory(paper=paper, topic=language, score=0.9, matched_terms=["language model"])
        rich.append(paper)
    reader = SubscriberFactory(email="ada@example.com", time_zone="America/New_York")
    reader.topics.add(language)
    call_command("send_digests", latest=True, to=reader.email, verbosity=0)
    User.objects.create_superuser("admin", "admin@localhost", PASSWORD)
    return {"reader": reader, "rich": rich, "plain": Paper.objects.filter(arxiv_id=None).first()}


def _visit(page, url: str) -> None:
    response = page.goto(url)
    assert response.status == 200, f"{url}: {response.status}"
    page.wait_for_load_state("load")


def test_every_public_page_loads_without_console_error_or_csp_violation(
    live_server, page, site, screenshot, settings
):
    reader = site["reader"]
    delivery = Delivery.objects.get(subscriber=reader)
    manage_url, unsubscribe_url = subscriber_links(subscriber=reader)
    digest = OutboxEmail.objects.get(to=reader.email)
    feedback_url = re.search(r'href="([^"]*/feedback/[^"]+)"', digest.html_body).group(1)
    urls = [
        live_server.url + "/",
        live_server.url + f"/papers/{SAMPLE_DATE}/",
        live_server.url + site["rich"][0].get_absolute_url(),
        live_server.url + site["plain"].get_absolute_url(),
        live_server.url + "/editions/",
        live_server.url + "/feeds/",
        live_server.url + f"/editions/{SAMPLE_DATE}/",
        live_server.url + "/subscribe/",
        live_server.url + "/subscribe/check-your-inbox/",
        manage_url, unsubscribe_url, feedback_url.replace("&amp;", "&"),
        delivery_view_url(delivery=delivery),
    ]
    for url in urls:
        _visit(page, url)
    assert page.console_errors == [] and page.js_errors == []

    # A link cut short in a mail client: the one "not valid" page, and its way on.
    tampered = delivery_view_url(delivery=delivery)[:-6] + "/"
    assert page.goto(tampered).status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")
    screenshot(page, "link-not-valid")
    page.get_by_role("link", name="archive of past editions").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert page.url == live_server.url + "/editions/"
    # Chromium logs the 404 itself as a failed resource; nothing else may fail.
    assert [e for e in page.console_errors if "404" not in e] == [] and page.js_errors == []
    page.console_errors.clear()

    _visit(page, live_server.url + "/")
    expect(page.locator(".paper-card__thumb img").first).to_be_visible()
    assert picture_width(page.locator(".paper-card__thumb img").first) == 64  # thumbnail(0), loaded
    screenshot(page, "home")
    # The first screen as a visitor sees it (the full page is 76 papers long).
    page.screenshot(path=str(Path(settings.SCREENSHOT_DIR) / "home-top-desktop.png"))
    page.get_by_role("link", name=site["rich"][0].title).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(site["rich"][0].title)
    expect(page.get_by_role("link", name="Code on GitHub · ★ 2048")).to_be_visible()
    screenshot(page, "paper-page")
    _visit(page, live_server.url + site["plain"].get_absolute_url())
    expect(page.get_by_role("link", name="Find it on Hugging Face")).to_be_visible()
    screenshot(page, "paper-page-no-links")
    # The reader's own copy tells the time in their zone, with its year when the sample
    # day's edition went out in a later year (newsletter/editions.py, edition_send_time).
    _visit(page, delivery_view_url(delivery=delivery))
    expect(page.locator(".arch-lede")).to_contain_text(
        re.compile(r"sent \d{1,2} \w{3}( \d{4})?, \d\d:\d\d E[SD]T \(your time zone, America/New_York\)"))
    assert "UTC" not in page.locator(".arch-lede").inner_text()
    assert page.console_errors == [] and page.js_errors == []


def _log_in(page, live_server) -> None:
    admin_sign_in(page, live_server, "admin", PASSWORD)
    expect(page.get_by_role("link", name="Open today's edition")).to_be_visible()


def test_every_admin_page_an_editor_uses_loads_clean_and_send_now_asks_first(live_server, page, site, screenshot):
    _log_in(page, live_server)
    admin = live_server.url + "/admin/"
    paper, reader = site["rich"][0], site["reader"]
    delivery = Delivery.objects.get(subscriber=reader)
    topic = Topic.objects.first()
    email = OutboxEmail.objects.first()
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import MORNING_FETCH_TASK, schedules_ensure

    schedules_ensure()
    fetch = PeriodicTask.objects.get(task=MORNING_FETCH_TASK)
    found = {}
    for path in [
        "", "newsletter/edition/today/", "newsletter/edition/", "newsletter/edition/dashboard/",
        "newsletter/paper/latest/", "newsletter/paper/", f"newsletter/paper/{paper.pk}/change/",
        "newsletter/paper/add/", "newsletter/paper/add-json/", "newsletter/topic/",
        f"newsletter/topic/{topic.pk}/change/", "newsletter/topic/add/", "newsletter/delivery/",
        f"newsletter/delivery/{delivery.pk}/change/", "subscribers/subscriber/",
        f"subscribers/subscriber/{reader.pk}/change/", "subscribers/subscriber/import/",
        "subscribers/suppression/", "subscribers/blockeddomain/",
        f"django_celery_beat/periodictask/{fetch.pk}/change/",
    ]:
        _visit(page, admin + path)
        found[path] = axe_blocking(page)
    for path in ("/outbox/", f"/outbox/{email.pk}/", f"/outbox/{email.pk}/html/"):
        _visit(page, live_server.url + path)
        if not path.endswith("/html/"):  # sandboxed, no script runs there (axe neither): the email's own checks
            found[path] = axe_blocking(page)
    assert page.console_errors == [] and page.js_errors == []
    # axe-core: no serious or critical violation on any of them (an accessibility
    # tester found unlabelled inputs, unreadable breadcrumbs, an unscrollable text part).
    assert {path: v for path, v in found.items() if v} == {}

    # Each paper's picture beside its title in the list and on its page: this site's
    # copy (newsletter/pictures.py), loaded.
    _visit(page, admin + f"newsletter/paper/?q={paper.arxiv_id}")
    assert picture_width(page.locator("#result_list img.paper-thumb").first) > 0
    _visit(page, admin + f"newsletter/paper/{paper.pk}/change/")
    page.get_by_text("Authors and links").click()
    assert picture_width(page.locator("img.paper-picture")) > 0
    screenshot(page, "admin-paper-picture")

    # "Today's papers" and "Today's edition" open the sample day (not an empty today).
    _visit(page, admin)
    page.get_by_role("link", name="Today's papers").click()
    assert f"trending_date={SAMPLE_DATE}" in page.url
    expect(page.locator("p.paginator")).to_contain_text("76 papers")
    _visit(page, admin)
    page.get_by_role("link", name="Open today's edition").click()
    expect(page.locator("h1")).to_contain_text("Monday 24 November 2025")
    assert Edition.objects.count() == 1

    # Send now: the question comes from confirm.js; "Cancel" sends nothing.
    other = SubscriberFactory(email="grace@example.com")
    other.topics.add(topic)
    page.reload()  # the question counts the readers as the page was made
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, accept=False))
    page.get_by_role("button", name="Send now to everyone").click()
    page.wait_for_timeout(300)
    assert not Delivery.objects.filter(subscriber=other).exists()
    page.once("dialog", lambda d: answer(d, accept=True))
    page.get_by_role("button", name="Send now to everyone").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Sending now to 1 reader who has not had it.")
    assert questions == ["Send the edition of Monday 24 November 2025 now to the 1 reader who has not had it, whatever their hour?"] * 2
    assert Delivery.objects.filter(subscriber=other, status="sent").exists()
    # Every reader has it now: the button says so, where it asked to send it "to the 0
    # readers who have not had it" and answered "Sending now to 0 readers" (a
    # newcomer's walkthrough, 6 December 2026).
    page.reload()
    expect(page.get_by_role("button", name="Send now to everyone")).to_be_disabled()
    expect(page.locator("#send-now-why")).to_contain_text("Every reader who gets digests has had it")

    # The test send reaches the admin that bootstrap-like setup made (admin@localhost).
    page.get_by_role("button", name=re.compile("Send a test to me")).click()
    expect(page.locator("ul.messagelist")).to_contain_text("Test sent to admin@localhost")

    _visit(page, admin + "newsletter/edition/dashboard/")
    screenshot(page, "dashboard")
    # The charts' 11 px text is at least 10 px as shown, at 1280 and on a phone (the
    # 640-wide charts, scaled into their columns, had text of 7 and 6 px): a phone
    # shows the charts drawn for its width.
    for viewport, shown in ((DESKTOP, "wide"), ({"width": 375, "height": 812}, "narrow")):
        page.set_viewport_size(viewport)
        hidden = {"wide": "narrow", "narrow": "wide"}[shown]
        assert page.locator(f"svg.chart--{shown}").first.is_visible()
        assert not page.locator(f"svg.chart--{hidden}").first.is_visible()
        text_px = page.locator(f"svg.chart--{shown}").first.evaluate(
            "svg => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width * 11")
        assert text_px >= 10, (viewport, text_px)
    page.set_viewport_size(DESKTOP)
    # Under each chart, its figures as a table, folded.
    page.get_by_text("The figures").first.click()
    expect(page.locator(".chart-figures table").first).to_be_visible()
    assert page.console_errors == [] and page.js_errors == []

    # Beat goes on sending the dispatcher and no worker runs it: the dashboard says so.
    from django_celery_beat.models import PeriodicTask

    from newsletter.editions import edition_assemble
    from newsletter.schedules import schedules_ensure

    schedules_ensure()
    now = timezone.now()
    PeriodicTask.objects.filter(task="newsletter.tasks.digests_dispatch").update(last_run_at=now)
    PaperFactory(trending_date=now.date())
    Edition.objects.filter(pk=edition_assemble(date=now.date()).pk).update(
        dispatched_at=now - dt.timedelta(minutes=50))
    _visit(page, admin + "newsletter/edition/dashboard/")
    expect(page.get_by_role("alert")).to_contain_text("Digests may not be going out.")
    expect(page.get_by_role("alert")).to_contain_text("no worker is taking tasks")
    screenshot(page, "dashboard-no-worker")


def test_the_periodic_task_page_runs_its_script_under_the_policy(live_server, page, site):
    """django-celery-beat's page for a schedule (make run creates three) says what a
    crontab means in words; its own template did it with an inline script, blocked."""
    from django_celery_beat.models import PeriodicTask

    from newsletter.admin_beat import crontab_translation
    from newsletter.schedules import schedules_ensure

    schedules_ensure()
    task = PeriodicTask.objects.filter(crontab__isnull=False).first()
    _log_in(page, live_server)
    for path in ("add/", f"{task.pk}/change/"):
        _visit(page, f"{live_server.url}/admin/django_celery_beat/periodictask/{path}")
    expect(page.locator(".field-crontab_translation")).to_be_hidden()
    page.locator("#id_crontab").select_option(str(task.crontab_id))
    expect(page.locator(".field-crontab .help")).to_contain_text(f"Translation: {crontab_translation(task.crontab)}")
    assert page.console_errors == [] and page.js_errors == []


@pytest.mark.django_db(transaction=True)
def test_an_expired_admin_form_says_so_and_opens_the_form_again(live_server, page, screenshot):
    """An editor's sign-in form whose cookie is gone (a deploy renamed it, a browser
    cleared it): the site's "This form has expired" page, readable on a phone, whose
    button opens the same form again, not the readers' home."""
    from tests.browser.conftest import PHONE

    User.objects.create_user("edith", "edith@example.org", PASSWORD, is_staff=True)
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + "/admin/login/")
    page.context.clear_cookies()
    page.get_by_label("Username").fill("edith")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")
    assert axe_blocking(page) == []
    screenshot(page, "csrf-expired-admin-phone")
    page.get_by_role("link", name="Open the form again").click()
    expect(page.get_by_label("Username")).to_be_visible()
    assert page.url == live_server.url + "/admin/login/"
    assert [e for e in page.console_errors if "status of 403" not in e] == [] and page.js_errors == []
