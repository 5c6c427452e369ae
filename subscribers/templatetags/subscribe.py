from django import template

from subscribers.forms import SubscribeForm

register = template.Library()


@register.inclusion_tag("subscribers/_subscribe_form_embed.html", takes_context=True)
def subscribe_form(context) -> dict:
    """The subscribe form anywhere: `{% load subscribe %}{% subscribe_form %}`.
    Brings its stylesheet, so a page needs nothing in its head."""
    return {"form": SubscribeForm(), "csrf_token": context.get("csrf_token")}
