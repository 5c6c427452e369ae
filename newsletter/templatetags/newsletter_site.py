import re

from django import template

from newsletter.editions import day_beside, edition_send_time
from newsletter.page_cache import fragments_render
from newsletter.views import outbox_visible as _outbox_visible

register = template.Library()

# The opening of an email's <head>, where email_previewed puts its <base>.
_HEAD_OPEN = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)
# Every link of a previewed email opens in a new tab (email_previewed).
_PREVIEW_BASE = '<base target="_blank">'


@register.filter(is_safe=False)
def email_previewed(html: str) -> str:
    """An email's HTML as a preview frame shows it (the srcdoc of the outbox's and the
    edition page's sandboxed frames, whose sandbox allows popups): every link opens in
    a new tab, as a mail app opens links in the browser. Opened inside the frame, a
    link of this site met its X-Frame-Options: DENY and the frame became a broken-page
    icon. A link's own target (MJML's buttons: _blank) still wins."""
    html = str(html)
    head = _HEAD_OPEN.search(html)
    if head is None:
        return _PREVIEW_BASE + html
    return html[:head.end()] + _PREVIEW_BASE + html[head.end():]


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


@register.filter(name="day_beside")
def day_beside_filter(day, year) -> str:
    """`{{ next_date|day_beside:edition.date.year }}`: newsletter/editions.py,
    day_beside (the year only when it is not the page's)."""
    return day_beside(day, year=year)


@register.filter
def send_time(at, edition_date) -> str:
    """`{{ delivery.sent_at|send_time:edition.date }}`: newsletter/editions.py,
    edition_send_time (the year only when it is not the edition's)."""
    return edition_send_time(at, edition_date=edition_date)


@register.filter
def paired(items, others) -> list[tuple]:
    """`items` beside `others`, one pair each: `{% for paper, card in papers|paired:cards %}`
    (a card says nothing of the page it is on; the page adds what it knows)."""
    return list(zip(items, others, strict=True))


@register.simple_tag(takes_context=True)
def outbox_visible(context) -> bool:
    """Whether to link the local outbox (templates/base.html); the rule lives in
    newsletter/views.py so the link and the page never disagree."""
    request = context.get("request")
    return request is not None and _outbox_visible(request)


@register.simple_tag(takes_context=True)
def paper_cards(context, papers) -> list[str]:
    """The cards of `papers` (newsletter/_paper_card.html), each rendered once and
    then read from the fragment cache until what it shows changes
    (newsletter/page_cache.py, fragments_render):
    `{% paper_cards papers as cards %}{% for card in cards %}<li>{{ card }}</li>{% endfor %}`.
    The card sees `paper`, `excerpt_only` and `abstract_short_chars`, nothing else."""
    return fragments_render(
        template_name="newsletter/_paper_card.html", objects=papers, name="paper",
        context={"excerpt_only": bool(context.get("excerpt_only")),
                 "abstract_short_chars": context.get("abstract_short_chars")},
    )
