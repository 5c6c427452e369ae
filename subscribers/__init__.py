"""The audience side: subscribers, consent records, tokens, preferences and the
suppression list.

Modules other apps may import (tests/architecture/test_imports.py holds them to
it); everything else is this app's own."""

PUBLIC_MODULES = ("models", "services", "tokens", "links", "suppression", "consent", "addresses")
