from django import template

from newsletter.views import outbox_visible as _outbox_visible

register = template.Library()


@register.filter(is_safe=False)
def excerpt(text: str, limit: int) -> str:
    """The start of `text`, at most `limit` characters, cut at a word and ending in
    "…". Plain slicing: a day's page runs it for every paper, and `truncatechars`
    normalises every character first (several times the cost)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(",;:.") + "…"


@register.simple_tag(takes_context=True)
def outbox_visible(context) -> bool:
    """Whether to link the local outbox (templates/base.html); the rule lives in
    newsletter/views.py so the link and the page never disagree."""
    request = context.get("request")
    return request is not None and _outbox_visible(request)
