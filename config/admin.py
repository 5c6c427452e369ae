"""Users in the admin, with each one's sign-in codes (config/two_factor.py) in words.

A superuser sees on the users' list and on a user's page whether the editor has set
up the authenticator app, and resets it for one who lost their phone ("Reset
sign-in codes…": their app and backup codes stop working, and they set the app up
again within three days). django-otp's own pages for the devices ("OTP_TOTP →
TOTP devices", "OTP_STATIC → Static devices") are left out of the admin: they
named the same thing in its models' words."""

from __future__ import annotations

import django_otp
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.two_factor import (
    USERS_DEVICES,
    CodeForm,
    app_device,
    backup_codes_make,
    code_refuse,
    code_verified,
    setup_device_open,
    setup_open_until,
)

User = get_user_model()

for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
admin.site.unregister(User)
admin.site.unregister(Group)


def sign_in_codes_status(user) -> str:
    """The user's second factor in an editor-in-chief's words."""
    app = app_device(user)
    if app is None:
        until = setup_open_until(user)
        return (f"Not set up: they can set up the authenticator app at a sign-in until "
                f"{date_format(localtime(until), 'DATETIME_FORMAT')}." if until else
                "Not set up, and setting up has closed (it is open three days after the account is made or "
                "its codes are reset): reset their sign-in codes to let them.")
    left = StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
    return (f"Authenticator app set up on {date_format(localtime(app.created_at), 'SHORT_DATE_FORMAT')}"
            f" ({left} backup code{'' if left == 1 else 's'} left).") if app.created_at else (
        f"Authenticator app set up ({left} backup code{'' if left == 1 else 's'} left).")


class CheckboxesAdmin(admin.ModelAdmin):
    """Groups and permissions as labelled checkboxes (axe: Django's two-list filter
    has aria-prohibited-attr); "Editor" is ticked, as README says."""

    filter_horizontal = ()

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Group)
class DigestGroupAdmin(CheckboxesAdmin, GroupAdmin):
    pass


@admin.register(User)
class DigestUserAdmin(CheckboxesAdmin, UserAdmin):
    list_display = (*UserAdmin.list_display, "sign_in_codes")
    actions = ("sign_in_codes_reset",)

    def get_queryset(self, request):
        # The list's "Sign-in codes" column reads each user's devices.
        return super().get_queryset(request).prefetch_related(USERS_DEVICES)

    def has_view_permission(self, request, obj=None) -> bool:
        # Everyone sees their own account (the home page's "Recent actions" lists the
        # lines of it their sign-ins write, and links to it): its sign-in codes.
        return super().has_view_permission(request, obj) or (obj is not None and obj.pk == request.user.pk)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            fieldsets, lost = super().get_fieldsets(request, obj), (
                "Someone who lost their phone and their backup codes: on the users' list, tick them and "
                "choose “Reset sign-in codes…”.")
        else:  # their own account, seen by an editor (the username is its heading)
            fieldsets, lost = ((None, {"fields": ("first_name", "last_name", "email")}),), (
                "If you lose your phone and your backup codes, ask a superuser to reset your sign-in codes.")
        description = format_html(
            "A password alone does not open the admin: each sign-in also takes a code from an authenticator "
            "app, or one of ten backup codes. {}", lost)
        if obj.pk == request.user.pk:
            description = format_html('{} <a href="{}">Make new backup codes</a>', description,
                                      reverse("admin:auth_user_backup_codes"))
        return (*fieldsets, ("Sign-in codes", {"fields": ("sign_in_codes_setup",), "description": description}))

    def get_urls(self):
        return [path("backup-codes/", self.admin_site.admin_view(self.backup_codes_view),
                     name="auth_user_backup_codes"), *super().get_urls()]

    def backup_codes_view(self, request):
        """New backup codes for the signed-in user, shown once, for a code from their
        app (a signed-in session alone does not make codes that sign in later)."""
        user, own_page = request.user, reverse("admin:auth_user_change", args=[request.user.pk])
        app = app_device(user)
        if app is None:
            self.message_user(request, "Backup codes come with the authenticator app: set it up at your next "
                                       "sign-in.", messages.WARNING)
            return redirect(own_page)
        form = CodeForm(request.POST or None)
        context = {**self.admin_site.each_context(request), "form": form, "title": "New backup codes",
                   "own_page": own_page, "opts": self.opts}
        if request.method == "POST" and form.is_valid():
            verified, wait = code_verified(user, form.cleaned_data["code"], [app])
            if verified is None:
                code_refuse(request, form, user, wait)
            else:
                context["codes"] = backup_codes_make(user)
                self.log_change(request, user, "New backup codes made (the earlier ones no longer work).")
        return TemplateResponse(request, "admin/auth/user/backup_codes.html", context)

    def render_change_form(self, request, context, *args, **kwargs):
        # The users' list in the breadcrumbs only for those who may open it.
        context["users_list_shown"] = self.has_view_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)

    def history_view(self, request, object_id, extra_context=None):
        return super().history_view(request, object_id, {
            **(extra_context or {}), "users_list_shown": self.has_view_permission(request)})

    def get_readonly_fields(self, request, obj=None):
        # The dates as text (axe: the split date and time fields have no labels).
        return (*super().get_readonly_fields(request, obj), "last_login", "date_joined", "sign_in_codes_setup")

    @admin.display(description="Sign-in codes")
    def sign_in_codes_setup(self, obj) -> str:
        return sign_in_codes_status(obj)

    @admin.display(description="Sign-in codes")
    def sign_in_codes(self, obj) -> str:
        if app_device(obj) is not None:
            return "Set up"
        # Setting up is open only for a while (two_factor.SETUP_WINDOW): whether the
        # editor can still do it, or needs a reset first.
        until = setup_open_until(obj)
        return (f"Not set up: they can until {date_format(localtime(until), 'SHORT_DATETIME_FORMAT')}" if until
                else "Not set up: reset to let them")

    @admin.action(description="Reset sign-in codes… (a lost phone: they set up the app again within three days)",
                  permissions=("change",))
    def sign_in_codes_reset(self, request, queryset) -> None:
        names = []
        for user in queryset:
            devices = list(django_otp.devices_for_user(user, confirmed=None))
            for device in devices:
                device.delete()
            # Open setting up whatever was deleted: deleting an app opens it too
            # (post_delete), but an account with no device at all (made by a release
            # before sign-in codes, or inactive at migration newsletter 0029) has none to
            # delete; this gives both a fresh key. Not read from `user`'s devices, which
            # the list prefetched before the deletes.
            setup_device_open(user)
            self.log_change(request, user, "Sign-in codes reset: the authenticator app and backup codes "
                                           "no longer work; the app is set up again at a sign-in within three days.")
            names.append(user.get_username())
        self.message_user(request, (
            f"Sign-in codes reset for {', '.join(names)}: their app and backup codes no longer work. At a "
            "sign-in within three days, after the password, they scan a new QR code and get new backup codes."),
            messages.SUCCESS)
