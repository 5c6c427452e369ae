"""config/tasks.py: the staff's sign-in emails (config/two_factor.py)."""

import logging

import pytest
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


@pytest.mark.django_db
def test_a_sign_in_email_of_another_kind_is_refused_not_mailed_as_the_wrong_codes_alert():
    """staff_email sent the wrong-codes alarm ("someone knows your password") for
    any kind it did not know, a typo's included."""
    from django.contrib.auth import get_user_model
    from django.core import mail

    editor = get_user_model().objects.create_user("ada", "ada@example.org", "pw", is_staff=True)
    with pytest.raises(ValueError, match="setup-link"):
        two_factor.staff_email(editor.pk, "setup-link", {})
    assert mail.outbox == []


@pytest.mark.django_db
def test_an_account_deactivated_before_its_sign_in_email_left_is_mailed_nothing():
    """A superuser deactivates an editor (they left) while a setup link for them is
    queued: the link, which would open nothing now, is not mailed to them."""
    from django.contrib.auth import get_user_model
    from django.core import mail

    editor = get_user_model().objects.create_user(
        "ada", "ada@example.org", "pw", is_staff=True, is_active=False
    )
    staff_email_send.apply(args=[editor.pk, "setup_link"])
    assert mail.outbox == []
