"""The pages a visitor gets when something is wrong, as the production site serves
them (DEBUG off, as in every test): the site's own, with a way back, never Django's
bare "Not Found" or "Forbidden (403)"."""

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_an_unknown_address_gets_the_sites_page_not_found_with_ways_back(client):
    response = client.get("/papers/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in html
    assert 'href="/editions/"' in html and 'class="site-header"' in html
    assert 'name="robots" content="noindex, nofollow"' in html


def test_a_form_sent_without_its_csrf_cookie_says_nothing_was_sent_and_what_to_do():
    """A subscribe form left open for days, or a browser that keeps no cookies."""
    response = Client(enforce_csrf_checks=True).post("/subscribe/", {"email": "ada@example.com"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "This form has expired" in html and "Nothing was sent or changed" in html
    assert "reload the page" in html


def test_an_editors_expired_admin_form_leads_back_to_that_form_not_the_readers_home(settings):
    """An admin form left open across a deploy (the cookies' names changed) or a
    sign-out answered "This form has expired" with only "Go to today's papers", the
    readers' home (a newcomer's walkthrough)."""
    response = Client(enforce_csrf_checks=True).post(f"/{settings.ADMIN_URL}login/", {"username": "edith"})
    html = response.content.decode()
    assert response.status_code == 403 and "This form has expired" in html
    assert f'href="/{settings.ADMIN_URL}login/">Open the form again</a>' in html
    assert "Go to today's papers" not in html
    reader = Client(enforce_csrf_checks=True).post("/subscribe/", {"email": "ada@example.com"}).content.decode()
    assert "Go to today's papers" in reader and "Open the form again" not in reader


def test_a_server_error_page_needs_neither_a_request_context_nor_the_database():
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html and 'href="/"' in html
    assert '<html lang="en">' in html


def test_a_form_larger_than_the_site_takes_gets_the_sites_page_saying_why_and_nothing_saved(admin_client, settings):
    """A paste past DATA_UPLOAD_MAX_MEMORY_SIZE is refused before any view sees it
    (Django's RequestDataTooBig while the CSRF check reads the form): the editor got
    a bare "Bad Request (400)". The page now says what most likely happened, that
    nothing was saved, and that a long text goes in as a file."""
    from newsletter.models import Paper

    text = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = admin_client.post(f"/{settings.ADMIN_URL}newsletter/paper/add-json/",
                                 {"entry": text, "trending_date": "2025-11-24"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "<h1>The request could not be read</h1>" in html and "Nothing was saved" in html
    assert "a long text goes in as a file" in html and '<html lang="en">' in html
    assert not Paper.objects.exists()
