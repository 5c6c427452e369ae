"""The dead-link collector of tests/hrefs.py finds what it is there to find."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import hrefs


def test_empty_and_hash_hrefs_are_dead_script_buttons_are_not():
    html = (
        '<a href="">empty</a><a href=" # ">hash</a><link rel="icon" href="">'
        '<a role="button" href="#">Select all</a><a href="/papers/2511.12345/">ok</a><a name="x">anchor</a>'
    )
    assert hrefs.dead_links(html) == ['<a href="">', '<a href=" # ">', '<link rel="icon" href="">']


def test_a_text_link_line_without_address_is_dead():
    text = (
        "1. A paper\n   Read: \n   PDF: https://arxiv.org/pdf/1\n"
        "To unsubscribe:\n\nhttps://example.com/u/1\n"
    )
    assert hrefs.dead_text_links(text) == ["Read:"]


def test_a_page_with_a_dead_link_is_recorded_by_the_middleware(rf):
    from django.http import HttpResponse

    middleware = hrefs.HrefCheckMiddleware(lambda request: HttpResponse('<a href="">x</a>'))
    hrefs.take()
    middleware(rf.get("/somewhere/"))
    assert hrefs.take() == ['GET /somewhere/: <a href="">']


# Pieces of markup around href: names, quotes, character references that unescape
# to "#" or a space, comments and script content (not parsed as tags).
_PIECES = ["<a", "<link", "<area", "<A", "<p", " ", "\n", "/", "href", "HREF", "hreflang",
           "data-href", "=", '"', "'", "#", "&", "&#35;", "&#x20;", "&amp;", "&#x23", ";", ">",
           "/page/", "x", 'role="button"', "</a>", "<!--", "-->", "<script>", "</script>"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_the_quick_look_never_skips_a_page_the_parse_finds_dead_links_in(html):
    assert hrefs.dead_links(html) == hrefs.dead_links_parsed(html)


@pytest.mark.parametrize("html", [
    '<a href="&#35;">', "<a href='&#x20;#'>", "<a href=#>", "<a href=>", "<a href >x</a>",
    "<a\nhref\n=\n''>", '<link/href="" rel=icon>', "<A HREF=' '>",
])
def test_the_quick_look_lets_every_spelling_of_a_dead_link_through(html):
    assert hrefs.dead_links(html) == hrefs.dead_links_parsed(html) != []
