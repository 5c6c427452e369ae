"""What a rendered page's form posts back, for tests that answer it as a browser does."""

import re
from html import unescape


def hidden_fields(html: str) -> dict[str, list[str]]:
    """The hidden inputs of `html`, {name: [values]} as Django's test client posts a
    list: an action's question page carries the selection this way, and a test that
    posted its own ids missed what the page itself sends."""
    fields: dict[str, list[str]] = {}
    for tag in re.findall(r"<input\b[^>]*>", html):
        if 'type="hidden"' not in tag:
            continue
        name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
        if name:
            fields.setdefault(unescape(name.group(1)), []).append(unescape(value.group(1)) if value else "")
    return fields
