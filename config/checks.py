"""System checks for settings that are each valid alone but unsafe together, run by
`manage.py check --deploy` (CI runs it with production settings). README's
production section says what to set instead."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=True)
def site_url_is_https(app_configs, **kwargs) -> list[Error]:
    """Every link in every email starts with SITE_URL. An http one makes the
    List-Unsubscribe URL http: behind SECURE_SSL_REDIRECT a mail client's one-click
    POST meets a redirect and the reader stays subscribed."""
    if settings.DEBUG or urlsplit(settings.SITE_URL).scheme == "https":
        return []
    return [Error(
        f"SITE_URL is {settings.SITE_URL!r}: with DEBUG off it must start with https://.",
        hint="Set SITE_URL to the public https address of the site.",
        id="digest.E001",
    )]


@register(Tags.security, deploy=True)
def proxy_settings_agree(app_configs, **kwargs) -> list[Error]:
    """TRUSTED_PROXY_COUNT and BEHIND_TLS_PROXY describe the same reverse proxy."""
    count, tls_proxy = settings.TRUSTED_PROXY_COUNT, settings.BEHIND_TLS_PROXY
    errors = []
    if count < 0:
        errors.append(Error(
            f"TRUSTED_PROXY_COUNT is {count}; it counts proxies, so 0 or more.",
            id="digest.E002",
        ))
    if tls_proxy and count <= 0:
        errors.append(Error(
            "BEHIND_TLS_PROXY is on but TRUSTED_PROXY_COUNT is 0: X-Forwarded-Proto would be "
            "trusted from a visitor, since no proxy is said to be in front.",
            hint="Behind a proxy set TRUSTED_PROXY_COUNT to the number of proxies; "
                 "without one, leave BEHIND_TLS_PROXY unset.",
            id="digest.E003",
        ))
    if count > 0 and not tls_proxy and settings.SECURE_SSL_REDIRECT:
        errors.append(Error(
            "TRUSTED_PROXY_COUNT says a proxy is in front, but BEHIND_TLS_PROXY is off while "
            "SECURE_SSL_REDIRECT is on: every request the proxy forwards over http would be "
            "redirected to https again, forever.",
            hint="Unset BEHIND_TLS_PROXY (it follows TRUSTED_PROXY_COUNT) when the proxy "
                 "terminates TLS.",
            id="digest.E004",
        ))
    return errors


# ESPs whose anymail webhook, without its signing key, verifies signatures with the
# sending API key instead (anymail/webhooks/mailgun.py: an older Mailgun account's one
# key). A Mailgun account has a webhook signing key of its own (Sending → Webhooks):
# with MAILGUN_API_KEY alone check --deploy passed and every event was refused.
SIGNING_KEY_FALLS_BACK = frozenset({"mailgun"})


@register(Tags.security, deploy=True)
def tracking_webhook_configured(app_configs, **kwargs) -> list[Error]:
    """The ESP's tracking webhook (newsletter/webhook_views.py) can take events:
    without it bounces and complaints never suppress anyone."""
    esp = settings.WEBHOOK_ESP
    if not esp:
        return []
    from anymail.utils import get_anymail_setting

    from newsletter.webhook_views import tracking_urlpatterns

    routes = tracking_urlpatterns(esp=esp)
    if not routes:
        return [Error(f"WEBHOOK_ESP is {esp!r}, for which anymail has no tracking webhook.",
                      hint="Use the name in anymail's backend path, e.g. postmark or amazon_ses.",
                      id="digest.E005")]
    if not get_anymail_setting("webhook_secret", default=None):
        return [Error("WEBHOOK_SECRET is not set: the tracking webhook refuses every event.",
                      hint='Set WEBHOOK_SECRET to "user:password" and give the ESP the same.',
                      id="digest.E006")]
    try:
        routes[0].default_args["view_class"]()
    except (ImproperlyConfigured, ImportError) as exc:
        return [Error(f"The {esp} tracking webhook is not configured: {exc}", id="digest.E007")]
    if esp in SIGNING_KEY_FALLS_BACK and get_anymail_setting("webhook_signing_key", esp_name=esp, default=None) is None:
        return [Error(
            f"{esp.upper()}_WEBHOOK_SIGNING_KEY is not in ANYMAIL: anymail checks the {esp} webhook's "
            f"signatures with {esp.upper()}_API_KEY instead, which signs none of the ESP's events "
            "(each gets 401), so bounces and complaints suppress no one.",
            hint="Add the ESP's webhook signing key to ANYMAIL (README, \"Email provider\").",
            id="digest.E007")]
    return []


@register(Tags.security, deploy=True)
def tracking_webhook_is_the_sending_esps(app_configs, **kwargs) -> list[Error]:
    """Only WEBHOOK_ESP's webhook URL exists: set to another ESP than the one
    EMAIL_BACKEND sends through (a WEBHOOK_ESP=postmark line kept in .env from the
    .env.example of 3 December, applied since compose passes the whole .env), the
    sending ESP's bounces and complaints get 404 and suppress no one. A backend that
    is not anymail's (SMTP to an ESP's relay) may go with any ESP's webhook."""
    sending, webhook = settings.EMAIL_BACKEND_ESP, settings.WEBHOOK_ESP
    if not sending or not webhook or webhook == sending:
        return []
    return [Error(
        f"WEBHOOK_ESP is {webhook!r} but EMAIL_BACKEND sends through {sending!r}: "
        f"/anymail/{sending}/tracking/ answers 404, so its bounces and complaints suppress no one.",
        hint=f"Remove WEBHOOK_ESP (it follows EMAIL_BACKEND) or set it to {sending}.",
        id="digest.E008",
    )]


@register(deploy=True)
def email_backend_can_send(app_configs, **kwargs) -> list[Error]:
    """The ESP of an anymail EMAIL_BACKEND has what it needs to send: its API key in
    ANYMAIL (POSTMARK_SERVER_TOKEN, MAILGUN_API_KEY, BREVO_API_KEY...) and its
    library (boto3 for Amazon SES). anymail reads both only when the first email
    goes, so a deploy switched to Brevo without BREVO_API_KEY passed this check and
    failed every send of the morning."""
    if not settings.EMAIL_BACKEND_ESP:
        return []
    from django.core.mail import get_connection

    try:
        get_connection(settings.EMAIL_BACKEND)
    except (ImproperlyConfigured, ImportError) as exc:
        return [Error(f"EMAIL_BACKEND {settings.EMAIL_BACKEND} cannot send: {exc}",
                      hint="Set the ESP's settings in ANYMAIL (README, \"Email provider\").",
                      id="digest.E010")]
    return []


@register(deploy=True)
def embedding_files_are_the_measured_ones(app_configs, **kwargs) -> list[Error]:
    """The embedding models' files are the ones relevance was measured with
    (newsletter/weights.py): checked before a deploy rather than at the first paper
    a worker embeds."""
    from newsletter.weights import WeightsChanged, file_verified, pinned_files

    errors = []
    for path, sha256 in pinned_files():
        try:
            file_verified(path, sha256)
        except (WeightsChanged, OSError) as exc:
            errors.append(Error(str(exc), id="digest.E009"))
    return errors


@register(Tags.security, deploy=True)
def editors_sign_in_with_a_code(app_configs, **kwargs) -> list[Warning]:
    """An editor's account mails every reader: outside DEBUG a password alone should
    not open the admin (config/two_factor.py)."""
    if settings.DEBUG or settings.ADMIN_TWO_FACTOR:
        return []
    return [Warning(
        "ADMIN_TWO_FACTOR is off: a stolen or guessed password alone opens the admin, from which "
        "an editor's account can mail every reader.",
        hint="Unset ADMIN_TWO_FACTOR (it is on by default outside DEBUG); editors set up an "
             "authenticator app at their next sign-in.",
        id="digest.W001",
    )]


@register()
def ledger_kept_long_enough(app_configs, **kwargs) -> list[Error]:
    """LEDGER_KEPT_DAYS keeps what the code reads (docs/data-retention.md): fewer days
    and the ranking would send a reader a paper they had already had, the dashboard
    would lose sends, and soft bounces would go uncounted."""
    from newsletter.retention import ledger_kept_min_days

    days, least = settings.LEDGER_KEPT_DAYS, ledger_kept_min_days()
    if days == 0 or days >= least:
        return []
    return [Error(f"LEDGER_KEPT_DAYS is {days}: the ledger must be kept at least {least} days (or 0, for ever).",
                  hint="docs/data-retention.md says what reads it.", id="digest.E011")]


@register()
def readers_who_left_kept_days_valid(app_configs, **kwargs) -> list[Error]:
    """UNSUBSCRIBED_KEPT_DAYS below 0 passed every check and erased every reader who
    had left, that very minute's included (the cutoff fell in the future): their
    goodbye email's Resubscribe link was dead before the email arrived."""
    days = settings.UNSUBSCRIBED_KEPT_DAYS
    if days >= 0:
        return []
    return [Error(f"UNSUBSCRIBED_KEPT_DAYS is {days}: the days a reader who left is kept must be 0 (for ever) or more.",
                  hint="docs/data-retention.md: 30 by default.", id="digest.E012")]
