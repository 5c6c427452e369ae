"""`{{ value|wrapped:3 }}`: text of a plain-text email part wrapped to its width
(mail/rendering.py, text_wrap), for a place 3 characters into its line."""

from django import template

from mail.rendering import text_wrap

register = template.Library()


@register.filter
def wrapped(value, indent: int = 0) -> str:
    return text_wrap(str(value), indent=int(indent))
