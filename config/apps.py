from django.apps import AppConfig


class SiteConfig(AppConfig):
    """The project's wiring as an app only so that its system checks are
    registered (config/checks.py); it has no models."""

    name = "config"
    label = "site_config"
    verbose_name = "Site configuration"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the checks
