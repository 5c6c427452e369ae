"""Outgoing email, for both apps: rendering (templates -> MJML -> inlined HTML),
building a message with its list headers, telling a provider's transient
errors from permanent ones, and calling the provider within its limits (esp).

Neutral on purpose: it imports neither `newsletter` nor `subscribers`, so both
apps build their messages here without importing each other's internals. Who may
be mailed (suppression, consent) is decided by the callers, through
subscribers/suppression.py."""

# Modules the apps import (tests/architecture/test_imports.py holds them to it).
PUBLIC_MODULES = ("building", "rendering", "errors", "esp")
