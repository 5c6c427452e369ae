from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class SiteConfig(AppConfig):
    """The project's wiring as an app only so that its system checks are
    registered (config/checks.py), failed admin sign-ins logged and kept
    counted by the sign-in limit (config/middleware.py), and setting up an
    authenticator app opened when an account is made or its app deleted
    (config/two_factor.py); it has no models."""

    name = "config"
    label = "site_config"
    verbose_name = "Site configuration"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_login_failed
        from django.db.models.signals import post_delete, post_save
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from . import checks  # noqa: F401 - registers the checks
        from .middleware import login_failure_log
        from .two_factor import setup_open_on_app_deleted, setup_open_on_user_created

        user_login_failed.connect(login_failure_log, dispatch_uid="site_config.login_failure_log")
        post_save.connect(setup_open_on_user_created, sender=get_user_model(),
                          dispatch_uid="site_config.setup_open_on_user_created")
        post_delete.connect(setup_open_on_app_deleted, sender=TOTPDevice,
                            dispatch_uid="site_config.setup_open_on_app_deleted")


class DigestAdminConfig(AdminConfig):
    """django.contrib.admin, whose default site asks for a one-time code after the
    password (config/two_factor.py)."""

    default_site = "config.two_factor.DigestAdminSite"
