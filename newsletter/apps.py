from django.apps import AppConfig


class NewsletterConfig(AppConfig):
    name = "newsletter"
    verbose_name = "Newsletter"

    def ready(self) -> None:
        from anymail.signals import tracking

        from .webhooks import tracking_received

        # The ESP's bounce/complaint/unsubscribe events (newsletter/webhooks.py).
        tracking.connect(tracking_received, dispatch_uid="newsletter.tracking_received")
