"""The list headers every email carries (mail/building.py), as the mailbox providers'
bulk-sender rules read them."""

from mail.building import list_headers


def test_the_unsubscribe_header_is_the_link_in_angle_brackets_and_the_list_is_named_by_the_site(settings):
    """RFC 2369 wants the link between < and >: without them Gmail and Yahoo show no
    "Unsubscribe" beside the sender, whatever List-Unsubscribe-Post says. The list is
    named digest.<the site's host> (RFC 2919), so a reader's filter on it keeps working."""
    settings.SITE_URL = "https://papers.example.org/"
    assert list_headers(unsubscribe_url="https://papers.example.org/u/abc/") == {
        "List-Id": "Daily Papers Digest <digest.papers.example.org>",
        "List-Unsubscribe": "<https://papers.example.org/u/abc/>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert list_headers(unsubscribe_url=None) == {"List-Id": "Daily Papers Digest <digest.papers.example.org>"}
