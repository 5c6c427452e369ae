from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class SiteConfig(AppConfig):
    """The project's wiring as an app only so that its system checks are
    registered (config/checks.py) and failed admin sign-ins logged and kept
    counted by the sign-in limit (config/middleware.py); it has no models."""

    name = "config"
    label = "site_config"
    verbose_name = "Site configuration"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from . import checks  # noqa: F401 - registers the checks
        from .middleware import login_failure_log

        user_login_failed.connect(login_failure_log, dispatch_uid="site_config.login_failure_log")


class DigestAdminConfig(AdminConfig):
    """django.contrib.admin, whose default site asks for a one-time code after the
    password (config/two_factor.py)."""

    default_site = "config.two_factor.DigestAdminSite"
