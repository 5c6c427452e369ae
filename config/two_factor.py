"""Editors sign in with a password and a one-time code: the admin's second factor.

An editor's account can mail every reader (send now, the note, the papers), so a
password alone does not open the admin when ADMIN_TWO_FACTOR is on (the default
outside DEBUG). django-otp does the one-time passwords: TOTP (RFC 6238) from an
authenticator app, with throttling after wrong codes and no code used twice, and ten
single-use backup codes. This module is the wiring around it:

- `DigestAdminSite`: the admin site (config/apps.py makes it the default one). A
  staff member signed in with their password but not with a code is sent to the
  code page instead of the admin (has_permission). Its autocomplete answers only
  for the fields an admin page offers it on (autocomplete_fields).
- The code page (`two_factor_view`, /admin/two-factor/): a first sign-in shows a QR
  code and the key to type, and asks for a code to confirm the app, then shows the
  backup codes once; later sign-ins ask for a code from the app or a backup code.
- `staff_verified`: the one test of "an editor, fully signed in" for pages outside
  the admin (the outbox, an edition's page before it goes out).

Setting up an app is open for SETUP_WINDOW after a superuser makes the account, or
resets its codes ("Reset sign-in codes…", config/admin.py): each makes the account a new,
unconfirmed device (`setup_device_open`), and the code page shows its key only while
that device is younger than the window. Someone who learns the password of an editor
who never set up their app cannot set up their own later and sign in with it. Within
the window the password is not enough either: the key is shown only in a session
that opened the link mailed to the account's address (`setup_link`, SETUP_LINK_MAX_AGE),
so setting up takes the password and the editor's mailbox.

Wrong codes: django-otp makes a device refuse every code for 1, 2, 4 … seconds after
each wrong one, without end; someone with the password could shut the editor out
for days. The count is capped (WRONG_CODES_CAP: at most one guess a device every
~17 minutes, the editor's own right code waits as long), and from ALERT_AFTER
wrong codes in a row the editor is mailed, at most once a day, that their password
was used: they are the one who can change it.

A lost phone: sign in with a backup code, or a superuser runs "Reset sign-in
codes…" on the editor in Users (config/admin.py) and the editor sets up the app
again at a sign-in within SETUP_WINDOW; `manage.py addstatictoken <username>` prints a new
backup code from a shell.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import logging
import math
import re
from collections.abc import Callable

import django_otp
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model, logout
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.decorators import method_decorator
from django.utils.encoding import force_bytes
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode, urlsafe_base64_encode
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key
from kombu.exceptions import OperationalError as KombuOperationalError
from redis import RedisError

from mail.rendering import absolute_url
from subscribers.addresses import email_masked
from subscribers.throttling import client_ip, rate_limit_exceeded, rate_limit_take_back

from .tasks import staff_email_send

logger = logging.getLogger(__name__)

# How many single-use backup codes an editor is given when they set up the app.
BACKUP_CODES = 10
APP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
# How long after a superuser makes an account, or resets its codes, its app can be
# set up with the password alone.
SETUP_WINDOW = dt.timedelta(days=3)
# How long a mailed setup link works (and at most until the window closes), as the
# page, the email and the shell's command say it.
SETUP_LINK_HOURS = 24
SETUP_LINK_MAX_AGE = dt.timedelta(hours=SETUP_LINK_HOURS)
_SETUP_LINK_SALT = "config.two_factor.setup-link"
# The session key naming the device (and key) whose setup link this session opened.
_SETUP_SESSION_KEY = "two_factor_setup_device"
# A setup link is mailed on its own once an hour at most, and again on the
# editor's asking once a minute at most.
SETUP_LINK_RESEND_SECONDS = 60
# How many times a day an account may ask for the link again: someone with the
# password pressing "Send the link again" once a minute mailed the editor 1,440
# times a day.
SETUP_LINK_ASKS_PER_DAY = 10
# Wrong codes in a row (django-otp's throttling_failure_count) at which a device's
# wait stops growing: 2 ** (11 - 1) s = 1,024 s with OTP_*_THROTTLE_FACTOR 1.
WRONG_CODES_CAP = 11
# Wrong codes in a row after which the editor is mailed that their password was used.
ALERT_AFTER = 3
# What a code from the app looks like (TOTPDevice.digits); anything else is tried as
# a backup code.
_APP_CODE = re.compile(r"^\d{6}$")


def two_factor_required() -> bool:
    return settings.ADMIN_TWO_FACTOR


def staff_verified(user) -> bool:
    """A staff member signed in in full: with their password, and with a code when
    the second factor is on (OTPMiddleware installs user.is_verified)."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return not two_factor_required() or user.is_verified()


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=16, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autofocus": True, "spellcheck": "false", "autocapitalize": "off"}),
    )

    def clean_code(self) -> str:
        return re.sub(r"[\s-]", "", self.cleaned_data["code"]).lower()


def setup_device_open(user) -> TOTPDevice:
    """Open setting up an app to `user` for SETUP_WINDOW from now: their unconfirmed
    device, with a new key (an older one, seen by anyone, is gone). Returns it."""
    unconfirmed = TOTPDevice.objects.filter(user=user, confirmed=False)
    if not unconfirmed.update(created_at=timezone.now(), key=default_key()):
        return TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return unconfirmed.latest("pk")


def app_devices(user) -> list[TOTPDevice]:
    """`user`'s authenticator-app devices (set up or not), oldest first: one query, or
    none where a list of users prefetched them (USERS_DEVICES, the users' list, which
    made two queries a user)."""
    return sorted(user.totpdevice_set.all(), key=lambda device: device.pk)


# What a list of users prefetches for app_device and setup_open_until.
USERS_DEVICES = "totpdevice_set"


def app_device(user) -> TOTPDevice | None:
    """The authenticator app `user` has set up, if any."""
    return next((device for device in app_devices(user) if device.confirmed), None)


def setup_open_until(user) -> dt.datetime | None:
    """When setting up an app stops being open to `user` (None: it is not open now)."""
    device = _setup_device(user)
    return device.created_at + SETUP_WINDOW if device is not None else None


def _setup_device(user) -> TOTPDevice | None:
    """The unconfirmed device `user` may set up now, None once the window has closed."""
    since = timezone.now() - SETUP_WINDOW
    return next((device for device in reversed(app_devices(user))
                 if not device.confirmed and device.created_at is not None and device.created_at > since), None)


def _key_digest(device: TOTPDevice) -> str:
    return hashlib.sha256(device.key.encode()).hexdigest()[:16]


def setup_link(device: TOTPDevice) -> str:
    """The link mailed to `device`'s owner that opens setting it up, in the session
    that follows it: signed, for this device and its key (a reset, which gives a new
    key, or the app set up makes it void), for SETUP_LINK_MAX_AGE."""
    token = signing.dumps({"u": device.user_id, "d": device.pk, "k": _key_digest(device)}, salt=_SETUP_LINK_SALT)
    return absolute_url(reverse("admin:two_factor_setup", args=[token]))


def _setup_session_value(device: TOTPDevice) -> str:
    """What a session that opened `device`'s setup link holds (a reset's new key
    asks for a new link)."""
    return f"{device.pk}:{_key_digest(device)}"


def _setup_link_device(token: str, user) -> TOTPDevice | None:
    """The device a setup link opens to `user`; None when the link is another
    account's, tampered with, too old, or for a device no longer open to set up."""
    try:
        data = signing.loads(token, salt=_SETUP_LINK_SALT, max_age=SETUP_LINK_MAX_AGE)
    except signing.BadSignature:
        return None
    device = _setup_device(user)
    if device is None or not isinstance(data, dict) or (data.get("u"), data.get("d"), data.get("k")) != (
            user.pk, device.pk, _key_digest(device)):
        return None
    return device


def setup_link_send(user, *, asked: bool = False) -> str:
    """Queue the setup link to `user`'s address: by itself once an hour at most, on
    the editor's asking once a minute at most, for each key (a new key, which voids
    the links mailed before, is mailed at once). Returns "sent", "recent" (one went
    within that time: none now) or "failed" (no open window or no address, or Redis
    or the broker away: the page must not say a link went), or "capped" (asked for
    SETUP_LINK_ASKS_PER_DAY times today already)."""
    device = _setup_device(user)
    if device is None or not user.email:
        return "failed"
    if asked:
        try:
            if rate_limit_exceeded(key=f"two-factor-setup-link-asks:{user.pk}", limit=SETUP_LINK_ASKS_PER_DAY,
                                   window_seconds=24 * 3600):
                return "capped"
        except RedisError as exc:
            logger.error("two-factor: the setup link for staff user %s not queued: %s", user.pk, exc)
            return "failed"
    return _queued_once(key=f"two-factor-setup-link:{'asked' if asked else 'auto'}:{device.pk}:{_key_digest(device)}",
                        window_seconds=SETUP_LINK_RESEND_SECONDS if asked else 3600,
                        queue=lambda: staff_email_send.delay(user.pk, "setup_link"),
                        what=f"the setup link for staff user {user.pk}")


def _queued_once(*, key: str, window_seconds: int, queue: Callable[[], object], what: str) -> str:
    """Call `queue` (a task's delay) once per `window_seconds` of `key` at most
    (subscribers/throttling.py): "sent", "recent" (already within the window), or
    "failed" (Redis or the broker away, logged; the window's hit is taken back, so
    the next try queues it, not a window later)."""
    try:
        if rate_limit_exceeded(key=key, limit=1, window_seconds=window_seconds):
            return "recent"
        try:
            queue()
        except (RedisError, KombuOperationalError):
            with contextlib.suppress(RedisError):
                rate_limit_take_back(key=key)
            raise
    except (RedisError, KombuOperationalError) as exc:
        logger.error("two-factor: %s not queued: %s", what, exc)
        return "failed"
    return "sent"


def staff_email(user_id: int, kind: str, context: dict) -> str | None:
    """Send a staff member one of their sign-in emails (config/tasks.py): "setup_link"
    (while setting up is open to them) or "wrong_codes" (`context`: count, at, ip).
    Returns the provider's message id, None when there is nothing to send."""
    from mail.building import email_send

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return None
    context = {**context, "username": user.get_username(), "staff": True}
    if kind == "setup_link":
        device = _setup_device(user)
        if device is None:
            return None
        context.update(link=setup_link(device), hours=SETUP_LINK_HOURS)
        template = "editor_setup_link"
    elif kind == "wrong_codes":
        context["password_url"] = password_link(user)
        template = "editor_wrong_codes"
    else:  # a task queued with a kind of no email: a bug, not an alarm to mail
        raise ValueError(f"No sign-in email is called {kind!r}.")
    return email_send(to=user.email, template=template, context=context, tags=[template])


def _wrong_codes_capped(device) -> None:
    """`device`'s run of wrong codes held at WRONG_CODES_CAP, so its wait stops
    growing (django-otp's has no end)."""
    if device.throttling_failure_count > WRONG_CODES_CAP:
        device.throttling_failure_count = WRONG_CODES_CAP
        type(device).objects.filter(pk=device.pk).update(throttling_failure_count=WRONG_CODES_CAP)


def _wrong_codes_in_a_row(user) -> int:
    """The longest run of wrong codes among `user`'s set-up devices."""
    return max((model.objects.filter(user=user, confirmed=True).aggregate(n=Max("throttling_failure_count"))["n"] or 0)
               for model in (TOTPDevice, StaticDevice))


def _wrong_codes_alert(request: HttpRequest, user, wrong: int) -> None:
    """Mail the editor, once a day at most, that their password was used with wrong codes."""
    context = {"count": wrong, "ip": client_ip(request) or "unknown",
               "at": formats.date_format(timezone.now(), "DATETIME_FORMAT")}
    _queued_once(key=f"two-factor-wrong-codes-alert:{user.pk}", window_seconds=24 * 3600,
                 queue=lambda: staff_email_send.delay(user.pk, "wrong_codes", context),
                 what=f"the wrong-codes alert for staff user {user.pk}")


def setup_open_on_user_created(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """post_save of the user model: a new account may set up its app for a while."""
    if created and not raw:
        setup_device_open(instance)


def setup_open_on_app_deleted(sender, instance, origin=None, **kwargs) -> None:
    """post_delete of TOTPDevice: a superuser deleting an editor's app (a lost phone,
    or a window that closed before they set it up) opens setting up a new one; not
    when the device goes with its user."""
    user_model = get_user_model()
    if not isinstance(origin, user_model) and getattr(origin, "model", None) is not user_model:
        setup_device_open(instance.user)


def _wait_seconds(device) -> int:
    """How long this device refuses every code after wrong ones (django-otp's
    throttling: 1, 2, 4 … seconds), 0 when it takes codes."""
    allowed, why = device.verify_is_allowed()
    if allowed or not (why or {}).get("locked_until"):
        return 0
    return max(1, math.ceil((why["locked_until"] - timezone.now()).total_seconds()))


def code_verified(user, code: str, devices) -> tuple[object | None, int]:
    """The device among `devices` that takes `code`, through django_otp.verify_token
    (one device, in a transaction, throttled after wrong codes, the wait capped:
    _wrong_codes_capped), or None and how many seconds to wait when every one of
    them refuses codes for now."""
    wait = []
    for device in devices:
        _wrong_codes_capped(device)
        if seconds := _wait_seconds(device):
            wait.append(seconds)
        elif (verified := django_otp.verify_token(user, device.persistent_id, code)) is not None:
            return verified, 0
    return None, min(wait) if len(wait) == len(devices) and wait else 0


def _signing_devices(user, code: str) -> list:
    """The devices a code is tried on: the app's for six digits, else the backup codes'."""
    model = TOTPDevice if _APP_CODE.match(code) else StaticDevice
    return list(model.objects.filter(user=user, confirmed=True))


def backup_codes_make(user) -> list[str]:
    """A new set of backup codes (an earlier set stops working)."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(user=user, name=BACKUP_DEVICE_NAME,
                                                       defaults={"confirmed": True})
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _qr_svg(url: str) -> str:
    """The app's setup address as an inline SVG QR code (no request leaves the page)."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=5, border=2, xmldecl=False, svgns=True,
                                    title="QR code to scan with an authenticator app")
    return out.getvalue().decode()


def _signed_in(request: HttpRequest, device) -> None:
    """The session is now fully signed in with `device`, under a new session key (a
    key seen before the code, by anyone, opens nothing after it)."""
    request.session.cycle_key()
    django_otp.login(request, device)


def _history(request: HttpRequest, site: admin.AdminSite, message: str) -> None:
    """A line of the user's own history in the admin, as any change of theirs is."""
    user = request.user
    site.get_model_admin(get_user_model()).log_change(request, user, message)


class _PasswordLinkTokens(PasswordResetTokenGenerator):
    """The wrong-codes alert's "Change my password" link: valid until the password
    changes (or PASSWORD_RESET_TIMEOUT), not, as Django's reset tokens, until the
    next sign-in: the one who has the password signs in at each try."""

    key_salt = "config.two_factor.wrong-codes-password"

    def _make_hash_value(self, user, timestamp: int) -> str:
        return f"{user.pk}{user.password}{timestamp}"


PASSWORD_LINK_TOKENS = _PasswordLinkTokens()


def password_link(user) -> str:
    """The link in the wrong-codes alert that sets a new password without signing in:
    the code step may be refusing the editor's own codes (the other's wrong ones keep
    it waiting), and a new password is what stops the other. It opens nothing else:
    signing in still takes a code."""
    path = reverse("admin:two_factor_password", args=[urlsafe_base64_encode(force_bytes(user.pk)),
                                                       PASSWORD_LINK_TOKENS.make_token(user)])
    return absolute_url(path)


class DigestAdminSite(admin.AdminSite):
    site_header = "Daily Papers Digest — editors"
    site_title = "Daily Papers Digest admin"
    index_title = "Curation"

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and staff_verified(request.user)

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        # Signed in with the password, not yet with a code: the code page, not the
        # password form again ("You are authenticated as … but are not authorized").
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff and not staff_verified(user):
            return _to_code_page(request, request.GET.get(REDIRECT_FIELD_NAME, ""))
        return super().login(request, extra_context)

    def autocomplete_view(self, request: HttpRequest) -> HttpResponse:
        # Django's answers for any relation to a model whose admin has a search box,
        # with each row's str() (`?app_label=newsletter&model_name=delivery&field_name=
        # subscriber` listed every reader's whole address to an editor who sees them
        # masked): only for a field an admin page offers it on.
        source = f"{request.GET.get('app_label')}.{request.GET.get('model_name')}"
        field = request.GET.get("field_name")
        if not any(owner.model._meta.label_lower == source and field in owner.autocomplete_fields
                   for model_admin in self._registry.values() for owner in (model_admin, *model_admin.inlines)):
            raise PermissionDenied
        return super().autocomplete_view(request)

    def get_urls(self):
        return [path("two-factor/", self.two_factor_view, name="two_factor"),
                path("two-factor/setup/<str:token>/", self.two_factor_setup_view, name="two_factor_setup"),
                path("two-factor/password/<uidb64>/<token>/", self.two_factor_password_view,
                     name="two_factor_password"),
                *super().get_urls()]

    def two_factor_password_view(self, request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
        """A new password from the wrong-codes alert's link (password_link): Django's
        reset view with this link's tokens; every session signed in with the old
        password ends (the session's auth hash)."""
        from django.contrib.auth.views import PasswordResetConfirmView

        view = PasswordResetConfirmView.as_view(
            token_generator=PASSWORD_LINK_TOKENS, template_name="admin/two_factor_password.html",
            success_url=reverse("admin:login", current_app=self.name),
            extra_context={**self.each_context(request), "title": "Change your password"})
        response = view(request, uidb64=uidb64, token=token)
        if request.method == "POST" and response.status_code == 302:
            messages.success(request, "Your password is changed, and every session signed in with the old one has "
                                      "ended. Sign in with the new one and a code.")
        return response

    @method_decorator(never_cache)
    def two_factor_setup_view(self, request: HttpRequest, token: str) -> HttpResponse:
        """The link mailed to set up the app (setup_link): in a session signed in with
        the account's password, it lets the code page show the key."""
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect(f"{reverse('admin:login', current_app=self.name)}?"
                            f"{urlencode({REDIRECT_FIELD_NAME: request.path})}")
        if staff_verified(user):
            return redirect("admin:index")
        device = _setup_link_device(token, user)
        if device is None and app_device(user) is not None:  # set up since: the code, as always
            return redirect("admin:two_factor")
        if device is None:
            return self._setup_link_page(request, bad_link=True)
        request.session[_SETUP_SESSION_KEY] = _setup_session_value(device)
        return redirect("admin:two_factor")

    def _setup_link_page(self, request: HttpRequest, *, bad_link: bool = False, next_url: str = "") -> HttpResponse:
        """"Check your email": the page of a password-only session while setting up
        is open, until it opens the mailed link; sends the link (again)."""
        user = request.user
        if _setup_device(user) is None:
            return TemplateResponse(request, "admin/two_factor.html", {
                **self.each_context(request), "title": "Set up sign-in codes", "setup_closed": True})
        asked = request.method == "POST" and bool(request.POST.get("send_link"))
        sent = setup_link_send(user, asked=asked) if (asked or not bad_link) else ""
        return TemplateResponse(request, "admin/two_factor.html", {
            **self.each_context(request), "title": "Check your email", "link_needed": True,
            "bad_link": bad_link, "asked": asked, "sent": sent, "next": next_url,
            "to": email_masked(user.email) if user.email else "",
            "hours": SETUP_LINK_HOURS})

    @method_decorator(never_cache)
    @method_decorator(csrf_protect)
    def two_factor_view(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        after = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(after, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            after = ""
        after = after or reverse("admin:index", current_app=self.name)
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect(f"{reverse('admin:login', current_app=self.name)}?{urlencode({REDIRECT_FIELD_NAME: after})}")
        if request.method == "POST" and request.POST.get("sign_out"):  # "Not you? Sign out"
            logout(request)
            return redirect("admin:login")
        if staff_verified(user):
            return HttpResponseRedirect(after)
        setting_up = app_device(user) is None
        form = CodeForm(request.POST or None)
        context = {**self.each_context(request), "form": form, "next": after, "setting_up": setting_up,
                   "title": "Set up sign-in codes" if setting_up else "Enter your sign-in code"}
        device = _setup_device(user) if setting_up else None
        if setting_up and device is None:  # the window has closed: a superuser reopens it
            return TemplateResponse(request, "admin/two_factor.html", {**context, "setup_closed": True})
        if setting_up and request.session.get(_SETUP_SESSION_KEY) != _setup_session_value(device):
            # The password alone does not show the key: the mailed link does.
            return self._setup_link_page(request, next_url=after)
        if setting_up:
            # segno's own SVG of our own address: markup, no user input in it.
            context.update(qr=mark_safe(_qr_svg(device.config_url)),
                           key=" ".join(re.findall(".{1,4}", _base32(device))))
        if request.method == "POST" and form.is_valid():
            code = form.cleaned_data["code"]
            devices = [device] if setting_up else _signing_devices(user, code)
            verified, wait = code_verified(user, code, devices)
            if verified is not None and setting_up:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                _signed_in(request, device)
                _history(request, self, "Two-factor sign-in set up (authenticator app; new backup codes).")
                return TemplateResponse(request, "admin/two_factor.html", {
                    **self.each_context(request), "title": "Your backup codes",
                    "codes": backup_codes_make(user), "next": after})
            if verified is not None:
                _signed_in(request, verified)
                if isinstance(verified, StaticDevice):
                    left = verified.token_set.count()
                    _history(request, self, f"Signed in with a backup code ({left} left).")
                    messages.warning(request, format_html(
                        "{}. With your phone at hand, <a href=\"{}\">make new backup codes</a>; if it is lost, "
                        "ask a superuser to reset your sign-in codes.",
                        f"You signed in with a backup code: it will not work again, and you have {left} left"
                        if left else "You signed in with your last backup code: you have none left",
                        reverse("admin:auth_user_backup_codes")))
                return HttpResponseRedirect(after)
            code_refuse(request, form, user, wait)
        return TemplateResponse(request, "admin/two_factor.html", context)


def code_refuse(request: HttpRequest, form: CodeForm, user, wait: int) -> None:
    """A code that took no device: logged, said on the form (with how long to wait
    when the devices refuse codes for now), and the editor mailed from ALERT_AFTER
    wrong codes in a row."""
    wrong = _wrong_codes_in_a_row(user)
    logger.warning("two-factor: a wrong code for staff user %s (%d in a row)", user.pk, wrong)
    if wrong >= ALERT_AFTER:
        _wrong_codes_alert(request, user, wrong)
    form.add_error("code", (
        f"Too many wrong codes: wait {_duration(wait)}, then type the code the app shows." if wait else
        "That code is not right, or it was used already. The app shows a new one every 30 "
        "seconds: type the one it shows now."))


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def _base32(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def _to_code_page(request: HttpRequest, after: str) -> HttpResponse:
    url = reverse("admin:two_factor")
    return redirect(f"{url}?{urlencode({REDIRECT_FIELD_NAME: after})}" if after else url)
