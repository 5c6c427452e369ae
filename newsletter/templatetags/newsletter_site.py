from django import template

from newsletter.views import outbox_visible as _outbox_visible

register = template.Library()


@register.simple_tag(takes_context=True)
def outbox_visible(context) -> bool:
    """Whether to link the local outbox (templates/base.html); the rule lives in
    newsletter/views.py so the link and the page never disagree."""
    request = context.get("request")
    return request is not None and _outbox_visible(request)
