"""`{% learned_preferences subscriber token %}`: what feedback taught a reader's
digest, with a reset button, for the preference centre (templates/subscribers/
manage.html, which has both `subscriber` and the manage `token`)."""

from django import template
from django.urls import reverse

from newsletter.feedback import feedback_summary

register = template.Library()


@register.inclusion_tag("newsletter/_learned_preferences.html", takes_context=True)
def learned_preferences(context, subscriber, token: str) -> dict:
    request = context.get("request")
    learned = feedback_summary(subscriber=subscriber)
    return {
        "learned": learned,
        "reset_url": reverse("newsletter_public:feedback_reset", args=[token]),
        # Not once it has learned again: the page after the reset, reloaded after a
        # vote, said the votes were forgotten above the vote it had just learned.
        "just_reset": request is not None and request.GET.get("done") == "learned_reset"
        and not (learned["votes"] or learned["clicks"]),
    }
