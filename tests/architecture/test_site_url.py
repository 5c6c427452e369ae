"""One place makes this site's absolute links (mail.rendering.absolute_url): a link
built by hand elsewhere drifts from it (a second slash, another route's path written
out, a SITE_URL read before the settings strip it), and every email carries them."""

import ast
from pathlib import Path

from django.test import override_settings

from mail.rendering import absolute_url

ROOT = Path(__file__).resolve().parents[2]
# Who may read settings.SITE_URL: the one builder, the emails' base context (the
# templates' "{{ site_url }}/"), the Message-ID's host and the deploy check.
READERS = {"mail/rendering.py", "mail/building.py", "config/checks.py"}


def _site_url_readers() -> set[str]:
    found = set()
    for package in ("config", "newsletter", "subscribers", "mail", "bench"):
        for path in (ROOT / package).rglob("*.py"):
            name = str(path.relative_to(ROOT))
            if name.startswith("config/settings"):
                continue
            tree = ast.parse(path.read_text(), filename=name)
            if any(isinstance(node, ast.Attribute) and node.attr == "SITE_URL"
                   and isinstance(node.value, ast.Name) and node.value.id == "settings"
                   for node in ast.walk(tree)):
                found.add(name)
    return found


def test_only_the_one_builder_makes_absolute_links_of_this_site():
    assert _site_url_readers() <= READERS


@override_settings(SITE_URL="https://digest.example.org")
def test_the_builder_puts_the_sites_address_before_a_path():
    assert absolute_url("/papers/2501.00001/") == "https://digest.example.org/papers/2501.00001/"
