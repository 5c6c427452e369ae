"""config/tasks.py: the staff's sign-in emails (config/two_factor.py)."""

import logging

from anymail.exceptions import AnymailRecipientsRefused

from config import two_factor
from config.tasks import staff_email_send


def test_a_refused_sign_in_email_is_logged_without_the_address(monkeypatch, caplog):
    """Logs carry ids, never addresses (README): the journey emails' task masks what
    the ESP says of the recipient, and the staff's logged their address whole."""
    def refused(user_id, kind, context):
        raise AnymailRecipientsRefused("Inactive recipient: ada.lovelace@example.org")

    monkeypatch.setattr(two_factor, "staff_email", refused)
    with caplog.at_level(logging.ERROR, logger="mail.errors"):
        staff_email_send.apply(args=[7, "setup_link"])
    [line] = [r.getMessage() for r in caplog.records if r.name == "mail.errors"]
    assert "setup_link email to staff user 7" in line and "a…@example.org" in line
    assert "ada.lovelace" not in caplog.text
