"""Editors sign in with a password and a one-time code (config/two_factor.py).

Before 5 December 2026 a password alone opened the admin, from which an editor's
account can mail every reader; these tests sign in through the real pages, with
codes computed from the key the page shows, as an authenticator app does."""

import base64
import datetime as dt
import re
from html import unescape

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core import mail, signing
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from newsletter.editions import edition_assemble
from tests.factories import PaperFactory, sign_in_code
from tests.tamper import signature_changed

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-123"


@pytest.fixture
def admin_url(settings):
    return f"/{settings.ADMIN_URL}"


def _editor(**extra):
    return get_user_model().objects.create_user("ada", "ada@example.org", PASSWORD, is_staff=True, **extra)


def _password(client: Client, admin_url: str, next_url: str = ""):
    url = f"{admin_url}login/" + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"username": "ada", "password": PASSWORD, "next": next_url or admin_url}, follow=True)


def _setup_link(to: str = "ada@example.org") -> str:
    """The path of the last setup link mailed to `to`."""
    sent = [m for m in mail.outbox if m.to == [to] and "sign-in codes" in m.subject]
    assert sent, [m.subject for m in mail.outbox]
    return re.search(r"http://testserver(/\S+/two-factor/setup/\S+/)", sent[-1].body).group(1)


def _setup(client: Client, admin_url: str, next_url: str = ""):
    """Password, then the link the page mailed: the page with the key to scan."""
    page = unescape(_password(client, admin_url, next_url).content.decode())
    assert "Check your email" in page and "two-factor-qr" not in page
    return client.get(_setup_link(), follow=True)


def _app_code(key_on_page: str, *, at: dt.datetime | None = None) -> str:
    """What an authenticator app shows for the key the page printed."""
    key = base64.b32decode(key_on_page.replace(" ", "") + "=" * (-len(key_on_page.replace(" ", "")) % 8))
    totp = TOTP(key)
    if at is not None:
        totp.time = at.timestamp()
    return f"{totp.token():06d}"


def _key_on(page: str) -> str:
    return re.search(r'<code class="two-factor-key"[^>]*>([A-Z2-7 ]+)</code>', page).group(1)


def test_a_password_alone_does_not_open_the_admin_or_what_staff_see_elsewhere(admin_url):
    """Signed in with the password only: the admin sends the editor to the code
    page, every admin page too, and the pages outside the admin that show staff
    more (an edition before it goes out) treat them as anyone."""
    _editor(is_superuser=True)
    PaperFactory(trending_date=dt.date(2026, 12, 4))
    edition_assemble(date=dt.date(2026, 12, 4))
    client = Client()
    response = _password(client, admin_url)
    page = unescape(response.content.decode())
    assert response.redirect_chain[-1][0].startswith(f"{admin_url}two-factor/")
    assert "Check your email" in page and "two-factor-qr" not in page and "not authorized" not in page
    for path in ("", "newsletter/paper/", "subscribers/subscriber/", "auth/user/"):
        answer = client.get(f"{admin_url}{path}")
        assert answer.status_code == 302 and "/login/" in answer["Location"], path
    assert client.get("/editions/2026-12-04/").status_code == 404


def test_an_editor_no_longer_staff_no_longer_sees_an_edition_before_it_goes_out(admin_url):
    """A superuser takes an editor's staff status away while they are signed in
    with their code: the pages outside the admin stop showing them what staff see."""
    editor = _editor()
    PaperFactory(trending_date=dt.date(2026, 12, 4))
    edition_assemble(date=dt.date(2026, 12, 4))
    client = Client()
    _password(client, admin_url)
    assert client.post(f"{admin_url}two-factor/", {"code": sign_in_code(editor)}).status_code == 302
    assert client.get("/editions/2026-12-04/").status_code == 200
    editor.is_staff = False
    editor.save()
    assert client.get("/editions/2026-12-04/").status_code == 404


def test_setting_up_the_app_signs_in_and_shows_backup_codes_once(admin_url):
    editor = _editor()
    client = Client()
    page = unescape(_setup(client, admin_url, next_url=f"{admin_url}newsletter/paper/").content.decode())
    key = _key_on(page)

    # The same key on the page again: reloading does not make a second app to scan.
    assert _key_on(unescape(client.get(f"{admin_url}two-factor/").content.decode())) == key

    before = client.cookies["sessionid"].value
    done = client.post(f"{admin_url}two-factor/", {"code": _app_code(key), "next": f"{admin_url}newsletter/paper/"})
    assert client.cookies["sessionid"].value != before  # the key seen before the code opens nothing
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())
    assert "Your backup codes" in done.content.decode() and len(codes) == 10 and len(set(codes)) == 10
    assert f'href="{admin_url}newsletter/paper/"' in done.content.decode()
    assert client.get(admin_url).status_code == 200
    assert LogEntry.objects.filter(object_id=str(editor.pk), change_message__startswith="Two-factor sign-in set up")
    # The codes are not shown again: the page now sends a signed-in editor on.
    assert client.get(f"{admin_url}two-factor/").status_code == 302


def test_later_sign_ins_take_the_apps_code_or_a_backup_code_each_once(admin_url):
    editor = _editor()
    first = Client()
    key = _key_on(unescape(_setup(first, admin_url).content.decode()))
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>",
                       first.post(f"{admin_url}two-factor/", {"code": _app_code(key)}).content.decode())

    second = Client()
    page = unescape(_password(second, admin_url).content.decode())
    assert "Enter your sign-in code" in page and "two-factor-qr" not in page
    next_code = _app_code(key, at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    assert second.post(f"{admin_url}two-factor/", {"code": next_code}).status_code == 302
    assert second.get(admin_url).status_code == 200
    # A code that signed in once does not sign in again (someone who saw it typed).
    again = Client()
    _password(again, admin_url)
    assert "That code is not right" in again.post(f"{admin_url}two-factor/", {"code": next_code}).content.decode()
    assert again.get(admin_url).status_code == 302
    TOTPDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)  # a while later

    third, fourth = Client(), Client()
    _password(third, admin_url)
    # Typed as people copy them: with a space or a dash, in capitals.
    typed = f"{codes[0][:4].upper()} {codes[0][4:].upper()}"
    assert third.post(f"{admin_url}two-factor/", {"code": typed}).status_code == 302
    assert third.get(admin_url).status_code == 200
    assert LogEntry.objects.filter(object_id=str(editor.pk), change_message="Signed in with a backup code (9 left).")
    _password(fourth, admin_url)
    assert "That code is not right" in fourth.post(f"{admin_url}two-factor/", {"code": codes[0]}).content.decode()
    assert fourth.get(admin_url).status_code == 302


def test_a_wrong_code_while_setting_up_says_so_and_opens_nothing(admin_url):
    _editor()
    client = Client()
    _setup(client, admin_url)
    wrong = client.post(f"{admin_url}two-factor/", {"code": "000000"})
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    assert "two-factor-qr" in wrong.content.decode()  # the QR code is still there to scan
    assert client.get(admin_url).status_code == 302
    assert not TOTPDevice.objects.filter(confirmed=True).exists()


def test_guessing_codes_is_slowed_down_and_the_editor_is_told_how_long(admin_url, settings):
    """A wrong code makes the app refuse every code for a while, the right one too
    (django-otp's throttling: here 60 s for the first), so six digits cannot be
    walked; the page says how long to wait instead of calling the right code wrong."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    user = _editor()
    client = Client()
    key = _key_on(unescape(_setup(client, admin_url).content.decode()))
    client.post(f"{admin_url}two-factor/", {"code": _app_code(key)})
    client.logout()
    _password(client, admin_url)
    wrong = client.post(f"{admin_url}two-factor/", {"code": "111111"}).content.decode()
    assert "That code is not right" in wrong
    right = _app_code(key, at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    refused = unescape(client.post(f"{admin_url}two-factor/", {"code": right}).content.decode())
    assert re.search(r"Too many wrong codes: wait (5\d|60) seconds, then type the code the app shows", refused)
    assert client.get(admin_url).status_code == 302
    assert TOTPDevice.objects.get(user=user).throttling_failure_count == 1


def test_after_the_code_only_this_sites_pages_are_gone_to(admin_url):
    _editor()
    client = Client()
    _password(client, admin_url, next_url="https://evil.example/admin/")
    answer = client.post(f"{admin_url}two-factor/", {"code": sign_in_code(get_user_model().objects.get()),
                                                       "next": "https://evil.example/admin/"})
    assert answer.status_code == 302 and answer["Location"] == admin_url


def test_over_https_the_code_does_not_send_the_editor_on_to_a_plain_http_page(admin_url):
    """A link with ?next=http://this-site/… (a downgrade, as Django's own sign-in
    refuses) leads, after the code, to the admin over https."""
    _editor()
    client = Client()
    _password(client, admin_url)
    code = sign_in_code(get_user_model().objects.get())
    answer = client.post(
        f"{admin_url}two-factor/",
        {"code": code, "next": f"http://testserver{admin_url}"},
        secure=True,
    )
    assert answer.status_code == 302 and answer["Location"] == admin_url


def test_someone_else_at_the_code_page_can_sign_out(admin_url):
    _editor()
    client = Client()
    _password(client, admin_url)
    answer = client.post(f"{admin_url}two-factor/", {"sign_out": "1"}, follow=True)
    assert answer.redirect_chain[-1][0] == f"{admin_url}login/"
    assert "_auth_user_id" not in client.session


def test_a_link_to_the_code_page_cannot_sign_the_editor_out(admin_url):
    """Only the page's "Not you? Sign out" button signs out: a link or an image
    elsewhere pointing at the code page with ?sign_out=1 leaves the editor at it."""
    _editor()
    client = Client()
    _password(client, admin_url)
    answer = client.get(f"{admin_url}two-factor/?sign_out=1")
    assert answer.status_code == 200 and "_auth_user_id" in client.session


def test_without_a_session_the_code_page_asks_for_the_password_first(admin_url):
    answer = Client().get(f"{admin_url}two-factor/")
    assert answer.status_code == 302 and answer["Location"].startswith(f"{admin_url}login/")


def test_off_a_password_opens_the_admin_and_check_deploy_says_so(admin_url, settings):
    settings.ADMIN_TWO_FACTOR = False
    _editor()
    client = Client()
    _password(client, admin_url)
    assert client.get(admin_url).status_code == 200

    from django.core.checks import run_checks

    warned = [m for m in run_checks(include_deployment_checks=True) if m.id == "digest.W001"]
    assert warned and "a stolen or guessed password alone opens the admin" in warned[0].msg
    settings.ADMIN_TWO_FACTOR = True
    assert [m for m in run_checks(include_deployment_checks=True) if m.id == "digest.W001"] == []


def test_a_lost_phone_is_a_new_backup_code_from_a_shell(admin_url, capsys):
    """README, "Editors' sign-in codes": django-otp's addstatictoken prints a code
    that signs the editor in once."""
    editor = _editor()
    TOTPDevice.objects.create(user=editor, name="Authenticator app", confirmed=True)
    call_command("addstatictoken", "ada")
    code = capsys.readouterr().out.strip()
    client = Client()
    _password(client, admin_url)
    assert client.post(f"{admin_url}two-factor/", {"code": code}).status_code == 302
    assert client.get(admin_url).status_code == 200


def test_only_a_new_or_reset_account_sets_up_an_app_and_only_for_a_while(admin_url, settings):
    """Someone who has only the password of an editor who has not set up their app
    must not set up their own: setting up is open for a while after a superuser
    makes the account (or resets its codes by deleting its devices), then closed."""
    editor = _editor()
    client = Client()
    # An account made long ago, its app never set up: the password alone shows no key.
    type(editor).objects.filter(pk=editor.pk).update(date_joined=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    TOTPDevice.objects.filter(user=editor).update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    page = unescape(_password(client, admin_url).content.decode())
    assert "two-factor-qr" not in page and "two-factor-key" not in page
    assert "Ask a superuser to reset your sign-in codes" in page
    stale = TOTPDevice.objects.get(user=editor)
    assert client.post(f"{admin_url}two-factor/", {"code": _app_code(base64.b32encode(stale.bin_key).decode())}
                       ).status_code == 200
    assert client.get(admin_url).status_code == 302
    assert not TOTPDevice.objects.filter(confirmed=True).exists()

    # A superuser resets them (Users, "Reset sign-in codes…"): open again, with a new key.
    boss = get_user_model().objects.create_superuser("boss", "boss@example.org", PASSWORD)
    admin = Client()
    admin.force_login(boss)
    assert "Not set up: reset to let them" in admin.get(f"{admin_url}auth/user/").content.decode()
    answer = admin.post(f"{admin_url}auth/user/", {"action": "sign_in_codes_reset",
                                                  "_selected_action": [stale.user_id]})
    assert answer.status_code == 302
    # The session that opened no link: the page mails one; its key is new.
    assert "Check your email" in unescape(client.get(f"{admin_url}two-factor/").content.decode())
    key = _key_on(unescape(client.get(_setup_link(), follow=True).content.decode()))
    assert base64.b32decode(key.replace(" ", "") + "=" * (-len(key.replace(" ", "")) % 8)) != stale.bin_key
    assert client.post(f"{admin_url}two-factor/", {"code": _app_code(key)}).status_code == 200
    assert client.get(admin_url).status_code == 200


def test_a_reset_opens_setting_up_for_an_account_without_any_device(admin_url):
    """An account with no device at all (made while the deploy was rolled back to a
    release without sign-in codes, or inactive at the upgrade, so migration 0029
    gave it none) is opened by the superuser's "Reset sign-in codes…" as any other:
    before, the reset deleted nothing, so nothing reopened the window, and the editor
    read "Ask a superuser to reset your sign-in codes" after every reset."""
    editor = _editor()
    # As the older release left it: no row (a queryset's delete would reopen it).
    TOTPDevice.objects.filter(user=editor)._raw_delete(TOTPDevice.objects.db)
    boss = get_user_model().objects.create_superuser("boss", "boss@example.org", PASSWORD)
    admin = Client()
    admin.force_login(boss)
    assert admin.post(f"{admin_url}auth/user/", {"action": "sign_in_codes_reset",
                                                "_selected_action": [editor.pk]}).status_code == 302
    client = Client()
    key = _key_on(unescape(_setup(client, admin_url).content.decode()))
    assert client.post(f"{admin_url}two-factor/", {"code": _app_code(key)}).status_code == 200
    assert client.get(admin_url).status_code == 200


def test_the_users_list_reads_everyones_sign_in_codes_in_the_same_queries_for_3_users_as_for_30(admin_url):
    """The list's "Sign-in codes" column (set up; open to set up until …; closed)
    read two queries per user: 30 editors made 60 more queries than 3."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import sign_in_device

    boss = get_user_model().objects.create_superuser("boss", "boss@example.org", PASSWORD)
    admin = Client()
    admin.force_login(boss)

    def users_list(editors: int) -> tuple[int, str]:
        for n in range(get_user_model().objects.count() - 1, editors):
            user = get_user_model().objects.create_user(f"editor{n}", is_staff=True)
            if n % 3 == 0:
                sign_in_device(user)
            elif n % 3 == 1:  # made long ago: setting up has closed
                TOTPDevice.objects.filter(user=user).update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        with CaptureQueriesContext(connection) as queries:
            page = admin.get(f"{admin_url}auth/user/").content.decode()
        return len(queries), page

    few, _ = users_list(3)
    many, page = users_list(30)
    assert many == few
    assert page.count(">Set up<") == 11  # the superuser and every third editor
    assert page.count("Not set up: reset to let them") == 10
    assert page.count("Not set up: they can until") == 10


def test_setting_up_takes_the_link_mailed_to_the_editor_not_the_password_alone(admin_url):
    """Within the setup window the password alone showed the key: someone who had an
    editor's password (and no phone of theirs) enrolled their own app. Now the key is
    shown only in a session that opened the link mailed to the account's address."""
    editor = _editor()
    thief = Client()
    page = unescape(_password(thief, admin_url).content.decode())
    assert "Check your email" in page and "We sent a link to <strong>a…@example.org</strong>" in page
    assert "two-factor-qr" not in page and "two-factor-key" not in page
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ada@example.org"]
    link = _setup_link()
    # A code typed from the key (read off the database here) confirms nothing.
    device = TOTPDevice.objects.get(user=editor)
    thief.post(f"{admin_url}two-factor/", {"code": _app_code(base64.b32encode(device.bin_key).decode())})
    assert thief.get(admin_url).status_code == 302 and not TOTPDevice.objects.filter(confirmed=True).exists()
    # Reloading sends nothing more; asking sends again, once a minute at most.
    thief.get(f"{admin_url}two-factor/")
    assert len(mail.outbox) == 1
    again = unescape(thief.post(f"{admin_url}two-factor/", {"send_link": "1"}).content.decode())
    assert "We sent the link again" in again and len(mail.outbox) == 2
    soon = unescape(thief.post(f"{admin_url}two-factor/", {"send_link": "1"}).content.decode())
    assert "less than a minute ago" in soon and len(mail.outbox) == 2

    # Someone else's session, and a tampered link, open nothing.
    get_user_model().objects.create_user("bob", "bob@example.org", PASSWORD, is_staff=True)
    other = Client()
    other.post(f"{admin_url}login/", {"username": "bob", "password": PASSWORD})
    refused = unescape(other.get(link, follow=True).content.decode())
    assert "This link does not open setting up" in refused and "two-factor-qr" not in refused
    tampered = unescape(thief.get(signature_changed(link, tail="/"), follow=True).content.decode())
    assert "This link does not open setting up" in tampered and "two-factor-key" not in tampered

    # The editor, from her mailbox: the link first, then the password, then the key.
    editor_client = Client()
    to_login = editor_client.get(link)
    assert to_login.status_code == 302 and "/login/" in to_login["Location"]
    signed = editor_client.post(f"{admin_url}login/", {"username": "ada", "password": PASSWORD, "next": link},
                                follow=True)
    key = _key_on(unescape(signed.content.decode()))
    assert editor_client.post(f"{admin_url}two-factor/", {"code": _app_code(key)}).status_code == 200
    assert editor_client.get(admin_url).status_code == 200
    # Once the app is set up, the link is spent.
    assert _setup_link_opens_nothing(link, admin_url)


def _setup_link_opens_nothing(link: str, admin_url: str) -> bool:
    client = Client()
    client.post(f"{admin_url}login/", {"username": "ada", "password": PASSWORD})
    return "two-factor-key" not in unescape(client.get(link, follow=True).content.decode())


def test_an_account_without_an_address_is_told_who_can_help_and_a_shell_prints_the_link(admin_url, capsys):
    editor = get_user_model().objects.create_user("ada", "", PASSWORD, is_staff=True)
    client = Client()
    page = unescape(_password(client, admin_url).content.decode())
    assert "Your account has no email address" in page and "two-factor-key" not in page
    assert mail.outbox == []
    call_command("sign_in_setup_link", "ada")
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://testserver/") and "/two-factor/setup/" in link
    key = _key_on(unescape(client.get(link.removeprefix("http://testserver"), follow=True).content.decode()))
    assert client.post(f"{admin_url}two-factor/", {"code": _app_code(key)}).status_code == 200
    assert TOTPDevice.objects.get(user=editor, confirmed=True)


def test_the_shell_command_opens_setting_up_to_staff_only_and_never_over_a_set_up_app(capsys):
    """`manage.py sign_in_setup_link` prints a link that shows a key: a reader's or
    another non-staff account gets none (their name is said back, nothing opened), and
    an editor who has an app keeps it: the command says how to replace it rather than
    opening a second one beside it."""
    from django.core.management import CommandError

    def devices():
        return list(TOTPDevice.objects.order_by("pk").values_list("user__username", "key", "confirmed", "created_at"))

    get_user_model().objects.create_user("bob", "bob@example.org", PASSWORD)
    editor = _editor()
    TOTPDevice.objects.create(user=editor, name="Authenticator app", confirmed=True)
    before = devices()
    for name in ("bob", "nobody"):
        with pytest.raises(CommandError, match=f"No staff account is named '{name}'"):
            call_command("sign_in_setup_link", name)
    with pytest.raises(CommandError, match="ada has an authenticator app set up: to replace it"):
        call_command("sign_in_setup_link", "ada")
    assert devices() == before  # no key made again, none opened
    assert capsys.readouterr().out == ""

    TOTPDevice.objects.all().delete()
    call_command("sign_in_setup_link", "ada")
    said = capsys.readouterr()
    assert "Setting up is open to ada until " in said.err and "(within 24 hours)" in said.err
    assert "/two-factor/setup/" in said.out


def test_wrong_codes_slow_the_next_try_by_17_minutes_at_most_and_mail_the_editor_once(admin_url):
    """django-otp doubles the wait after each wrong code without end: 20 wrong codes
    from someone with the password shut the editor out for six days. The wait now
    stops at 1,024 s, and from the third wrong code in a row the editor is mailed,
    once a day, that their password was used."""
    editor = _editor()
    device = TOTPDevice.objects.create(user=editor, name="Authenticator app", confirmed=True)
    client = Client()
    _password(client, admin_url)
    for n in range(1, 3):
        assert "That code is not right" in client.post(f"{admin_url}two-factor/", {"code": "111111"}).content.decode()
        TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert mail.outbox == []  # two typos are not an attack
    client.post(f"{admin_url}two-factor/", {"code": "111111"})
    alert = [m for m in mail.outbox if "wrong sign-in codes" in m.subject]
    assert len(alert) == 1 and alert[0].to == ["ada@example.org"]
    assert "typed 3 wrong sign-in codes in a row" in alert[0].body and "from the address 127.0.0.1" in alert[0].body
    assert f"http://testserver{admin_url}two-factor/password/" in alert[0].body
    # Once a day: the next alert may go a day after this one, not sooner, not later.
    key = cache.make_key(f"ratelimit:two-factor-wrong-codes-alert:{editor.pk}")
    assert 23 * 3600 < cache._cache.get_client().ttl(key) <= 24 * 3600

    # Twenty wrong codes in a row, the last 1,100 s ago: a try is let through.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=20,
        throttling_failure_timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1100))
    assert "That code is not right" in client.post(f"{admin_url}two-factor/", {"code": "111111"}).content.decode()
    waiting = unescape(client.post(f"{admin_url}two-factor/", {"code": "222222"}).content.decode())
    assert re.search(r"Too many wrong codes: wait 1[78] minutes", waiting), waiting
    assert len([m for m in mail.outbox if "wrong sign-in codes" in m.subject]) == 1  # once a day


def test_a_new_key_is_mailed_at_the_next_page_not_an_hour_later(admin_url):
    """Setting up opened again over an unconfirmed app (the shell's
    sign_in_setup_link, a deleted app) gives it a new key, which voids the link
    mailed before; the page said "We sent a link" and mailed none for an hour."""
    from config.two_factor import setup_device_open

    editor = _editor()
    client = Client()
    _password(client, admin_url)
    void = _setup_link()
    setup_device_open(editor)
    page = unescape(client.get(f"{admin_url}two-factor/").content.decode())
    assert "We sent a link to <strong>a…@example.org</strong>" in page and len(mail.outbox) == 2
    assert _setup_link() != void and "two-factor-key" not in unescape(client.get(void, follow=True).content.decode())
    assert _key_on(unescape(client.get(_setup_link(), follow=True).content.decode()))
    # Reloading still sends nothing more.
    client.get(f"{admin_url}two-factor/")
    assert len(mail.outbox) == 2


def test_the_page_says_so_when_the_link_could_not_be_sent(admin_url, monkeypatch):
    """The broker or Redis away: no link was queued, and the page said "We sent a
    link" (and, asked again, "A link went … less than a minute ago")."""
    from kombu.exceptions import OperationalError

    from config import tasks

    def away(*args, **kwargs):
        raise OperationalError("broker away")

    _editor()
    client = Client()
    monkeypatch.setattr(tasks.staff_email_send, "delay", away)
    page = unescape(_password(client, admin_url).content.decode())
    assert "We sent" not in page and "could not send the link" in page, page
    again = unescape(client.post(f"{admin_url}two-factor/", {"send_link": "1"}).content.decode())
    assert "less than a minute ago" not in again and "could not send the link" in again
    monkeypatch.undo()
    sent = unescape(client.post(f"{admin_url}two-factor/", {"send_link": "1"}).content.decode())
    assert "We sent the link again" in sent and len(mail.outbox) == 1


def test_a_wrong_codes_alert_the_broker_lost_is_sent_at_the_next_wrong_code(admin_url, monkeypatch):
    """The alert goes once a day: one that could not be queued (the broker away)
    used up the day all the same, and the editor heard of none."""
    from kombu.exceptions import OperationalError

    from config import tasks

    def away(*args, **kwargs):
        raise OperationalError("broker away")

    editor = _editor()
    device = TOTPDevice.objects.create(user=editor, name="Authenticator app", confirmed=True)
    client = Client()
    _password(client, admin_url)
    for n in range(3):
        TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
        if n == 2:
            monkeypatch.setattr(tasks.staff_email_send, "delay", away)
        client.post(f"{admin_url}two-factor/", {"code": "111111"})
    monkeypatch.undo()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    client.post(f"{admin_url}two-factor/", {"code": "111111"})
    alert = [m for m in mail.outbox if "wrong sign-in codes" in m.subject]
    assert len(alert) == 1 and "typed 4 wrong sign-in codes in a row" in alert[0].body


def test_asking_for_the_setup_link_again_is_capped_at_ten_a_day(admin_url):
    """A fresh-eyes review: someone with the password could press "Send the link
    again" once a minute, 1,440 emails a day to the editor."""
    from config.two_factor import SETUP_LINK_ASKS_PER_DAY

    _editor()
    client = Client()
    _password(client, admin_url)
    assert len(mail.outbox) == 1
    redis = cache._cache.get_client()
    for _ in range(SETUP_LINK_ASKS_PER_DAY):
        # A minute later each time: the per-minute window gone, not the day's count.
        for key in redis.scan_iter(match="*two-factor-setup-link:asked:*"):
            redis.delete(key)
        assert "We sent the link again" in unescape(
            client.post(f"{admin_url}two-factor/", {"send_link": "1"}).content.decode())
    assert len(mail.outbox) == 1 + SETUP_LINK_ASKS_PER_DAY
    for key in redis.scan_iter(match="*two-factor-setup-link:asked:*"):
        redis.delete(key)
    capped = unescape(client.post(f"{admin_url}two-factor/", {"send_link": "1"}).content.decode())
    assert "asked for too many times today" in capped and len(mail.outbox) == 1 + SETUP_LINK_ASKS_PER_DAY


def test_an_opened_setup_link_does_not_outlive_a_password_change_or_a_reset(admin_url):
    """Hostile tester, second round: a thief who had the password and opened the
    mailed link (say, from a forwarded email) is stopped by either remedy. A new
    password ends their session, flag and all, and the link then needs the new
    password; a reset gives a new key, and the session's flag names the old one."""
    editor = _editor()
    thief = Client()
    key = _key_on(unescape(_setup(thief, admin_url).content.decode()))
    link = _setup_link()
    # A superuser sets a new password (the admin, or changepassword from a shell).
    editor.set_password("a-new-password-nobody-else-has")
    editor.save()
    after = thief.get(f"{admin_url}two-factor/")
    assert after.status_code == 302 and "/login/" in after["Location"]
    assert thief.post(f"{admin_url}two-factor/", {"code": _app_code(key)}).status_code == 302
    assert "two-factor-key" not in unescape(thief.get(link, follow=True).content.decode())
    assert not TOTPDevice.objects.filter(confirmed=True).exists()

    # The old password again (say a superuser put it back): a reset voids the link
    # and the session that opened it.
    editor.set_password(PASSWORD)
    editor.save()
    again = Client()
    assert "two-factor-key" in unescape(_setup(again, admin_url).content.decode())
    boss = get_user_model().objects.create_superuser("boss", "boss@example.org", PASSWORD)
    admin = Client()
    admin.force_login(boss)
    admin.post(f"{admin_url}auth/user/", {"action": "sign_in_codes_reset", "_selected_action": [editor.pk]})
    page = unescape(again.get(f"{admin_url}two-factor/").content.decode())
    assert "Check your email" in page and "two-factor-key" not in page
    assert "This link does not open setting up" in unescape(again.get(link, follow=True).content.decode())
    assert again.post(f"{admin_url}two-factor/", {"code": _app_code(key)}).status_code == 200
    assert again.get(admin_url).status_code == 302
    assert not TOTPDevice.objects.filter(user=editor, confirmed=True).exists()


def test_the_two_factor_pages_name_no_account_and_mail_only_its_own_address(admin_url):
    """Hostile tester, second round: without the password the code page and a setup
    link (real, forged or another's) lead to the password form alike, mail nothing,
    and say nothing of which usernames exist; with it, mail goes only to the
    account's own address."""
    _editor()
    forged = f"{admin_url}two-factor/setup/eyJ1IjoxLCJkIjoxLCJrIjoiMCJ9:1abc:xyz/"
    answers = [Client().get(url) for url in (f"{admin_url}two-factor/", forged,
                                              f"{admin_url}two-factor/?next=/{admin_url}")]
    assert all(a.status_code == 302 and "/login/" in a["Location"] for a in answers)
    assert not mail.outbox
    thief = Client()
    _password(thief, admin_url)
    thief.post(f"{admin_url}two-factor/", {"send_link": "1", "email": "thief@evil.example",
                                           "to": "thief@evil.example"})
    assert mail.outbox and {tuple(m.to) for m in mail.outbox} == {("ada@example.org",)}


def test_the_wrong_codes_alert_changes_the_password_without_signing_in(admin_url):
    """A hostile tester's second round: someone with the password who types a wrong
    code each time the wait ends keeps the editor's own codes refused, and the
    alert's "Change my password" led to the admin's password page, behind the same
    code. The link now sets a new password by itself (signing in still takes a
    code), ends the other's session, and works once."""
    editor = _editor()
    TOTPDevice.objects.create(user=editor, name="Authenticator app", confirmed=True)
    thief = Client()
    _password(thief, admin_url)
    for _ in range(3):
        thief.post(f"{admin_url}two-factor/", {"code": "111111"})
        TOTPDevice.objects.update(throttling_failure_timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    [alert] = [m for m in mail.outbox if "wrong sign-in codes" in m.subject]
    link = re.search(r"http://testserver(\S+/two-factor/password/\S+/)", alert.body).group(1)

    owner = Client()  # her own browser, not signed in
    form = owner.get(link, follow=True)
    assert "Change your password" in form.content.decode() and form.status_code == 200
    done = owner.post(form.redirect_chain[-1][0] if form.redirect_chain else link,
                      {"new_password1": "a-brand-new-passphrase-9", "new_password2": "a-brand-new-passphrase-9"},
                      follow=True)
    assert "Your password is changed" in unescape(done.content.decode())
    editor.refresh_from_db()
    assert editor.check_password("a-brand-new-passphrase-9")
    # The other's session has ended (its next page asks for the password), and the
    # old password opens nothing.
    ended = thief.get(f"{admin_url}two-factor/")
    assert ended.status_code == 302 and "/login/" in ended["Location"]
    assert not Client().login(username="ada", password=PASSWORD)
    # Spent: the link does not change the password again; nor does it sign anyone in.
    again = unescape(owner.get(link, follow=True).content.decode())
    assert "no longer changes the password" in again
    assert owner.get(admin_url).status_code == 302


def test_setting_up_is_open_for_three_days_after_the_account_is_made_then_closes(admin_url):
    """Three days to set up the app, as the page and the users' list say: a new
    editor who signs in on day three gets the key; a day later nothing shows it."""
    editor = _editor()
    opened = TOTPDevice.objects.filter(user=editor)
    opened.update(created_at=timezone.now() - dt.timedelta(days=2, hours=23))
    client = Client()
    assert "two-factor-key" in unescape(_setup(client, admin_url).content.decode())
    opened.update(created_at=timezone.now() - dt.timedelta(days=3, hours=1))
    page = unescape(client.get(f"{admin_url}two-factor/").content.decode())
    assert "two-factor-key" not in page and "Ask a superuser to reset your sign-in codes" in page


def test_a_setup_link_mailed_more_than_a_day_ago_opens_nothing(admin_url, monkeypatch):
    """The email says the link works for 24 hours: one found later in a mailbox (or
    a forwarded copy) does not show the key, within the setup window or not."""
    from config.two_factor import setup_link

    editor = _editor()
    a_day_ago = timezone.now().timestamp() - dt.timedelta(hours=25).total_seconds()
    then = signing.b62_encode(int(a_day_ago))
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: then)
    old = setup_link(TOTPDevice.objects.get(user=editor)).removeprefix("http://testserver")
    monkeypatch.undo()
    client = Client()
    _password(client, admin_url)
    refused = unescape(client.get(old, follow=True).content.decode())
    assert "This link does not open setting up" in refused and "two-factor-key" not in refused


def test_wrong_backup_codes_in_a_row_mail_the_editor_as_wrong_app_codes_do(admin_url):
    """Someone with the password who guesses backup codes rather than the app's
    six digits is as much an attack: from the third wrong one in a row the editor
    is mailed that their password was used."""
    editor = _editor()
    sign_in_code(editor)  # the app and backup codes, set up
    client = Client()
    _password(client, admin_url)
    for _ in range(3):
        wrong = client.post(f"{admin_url}two-factor/", {"code": "abcd2345"})
        assert "That code is not right" in wrong.content.decode()
        StaticDevice.objects.update(throttling_failure_timestamp=None)  # each after the wait
    alert = [m for m in mail.outbox if "wrong sign-in codes" in m.subject]
    assert len(alert) == 1 and "typed 3 wrong sign-in codes in a row" in alert[0].body


def test_new_backup_codes_make_the_earlier_ones_stop_working(admin_url):
    """The page says "Your earlier backup codes no longer work": a list left on
    paper, or seen by someone, signs nobody in once new ones are made."""
    editor = _editor()
    earlier = sign_in_code(editor)
    client = Client()
    _password(client, admin_url)
    assert client.post(f"{admin_url}two-factor/", {"code": sign_in_code(editor)}).status_code == 302
    app = TOTPDevice.objects.get(user=editor, confirmed=True)
    code = _app_code(base64.b32encode(app.bin_key).decode())
    made = client.post(f"{admin_url}auth/user/backup-codes/", {"code": code})
    assert len(re.findall(r"<li><code>([a-z0-9]+)</code></li>", made.content.decode())) == 10
    assert LogEntry.objects.filter(object_id=str(editor.pk),
                                   change_message="New backup codes made (the earlier ones no longer work).")
    # The same code again (or a wrong one) makes none, and says so.
    again = client.post(f"{admin_url}auth/user/backup-codes/", {"code": code}).content.decode()
    assert "That code is not right, or it was used already" in again and "<li><code>" not in again
    other = Client()
    _password(other, admin_url)
    refused = other.post(f"{admin_url}two-factor/", {"code": earlier})
    assert "That code is not right" in refused.content.decode()
    assert other.get(admin_url).status_code == 302


def test_each_editor_is_alerted_of_wrong_codes_not_only_the_first_of_the_day(admin_url):
    """The once-a-day alert is counted per account: a guesser at one editor's
    account does not use up the alert another editor is owed."""
    for name in ("ada", "bob"):
        editor = get_user_model().objects.create_user(
            name, f"{name}@example.org", PASSWORD, is_staff=True
        )
        TOTPDevice.objects.create(user=editor, name="Authenticator app", confirmed=True)
        client = Client()
        client.post(f"{admin_url}login/", {"username": name, "password": PASSWORD})
        for _ in range(3):
            client.post(f"{admin_url}two-factor/", {"code": "111111"})
            TOTPDevice.objects.update(throttling_failure_timestamp=None)
    alerted = [m.to for m in mail.outbox if "wrong sign-in codes" in m.subject]
    assert alerted == [["ada@example.org"], ["bob@example.org"]]


def test_typos_while_setting_up_the_app_mail_no_alarm(admin_url):
    """The wrong-codes alert says someone has the password: an editor mistyping the
    first codes of an app they are setting up is not told so."""
    _editor()
    client = Client()
    _setup(client, admin_url)
    for _ in range(3):
        typo = client.post(f"{admin_url}two-factor/", {"code": "000000"})
        assert "That code is not right" in typo.content.decode()
        TOTPDevice.objects.update(throttling_failure_timestamp=None)
    assert not [m for m in mail.outbox if "wrong sign-in codes" in m.subject]


# --- Users in the admin (config/admin.py) ------------------------------------------


def test_a_superuser_reads_on_an_editors_page_how_their_sign_in_codes_stand(admin_url):
    from django_otp.plugins.otp_static.models import StaticToken

    editor = _editor()
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss", "boss@example.org", PASSWORD))

    def editors_page() -> str:
        return unescape(admin.get(f"{admin_url}auth/user/{editor.pk}/change/").content.decode())

    page = editors_page()
    assert "Not set up: they can set up the authenticator app at a sign-in until" in page
    assert "Someone who lost their phone and their backup codes: on the users' list" in page
    # The link makes the signed-in user's own codes: not on someone else's page.
    assert "Make new backup codes" not in page
    assert f'<a href="{admin_url}auth/user/">' in page  # the breadcrumbs' users' list
    # Groups as labelled checkboxes; the dates as text, not split date and time fields.
    assert re.search(r'<input type="checkbox" name="groups" value="\d+"', page)
    assert 'name="date_joined_0"' not in page and 'name="last_login_0"' not in page

    TOTPDevice.objects.filter(user=editor).update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert "Not set up, and setting up has closed" in editors_page()

    sign_in_code(editor)
    assert re.search(r"Authenticator app set up on [^(]+\(1 backup code left\)", editors_page())
    StaticToken.objects.filter(device__user=editor).delete()
    assert "(0 backup codes left)" in editors_page()
    assert admin.get(f"{admin_url}auth/user/add/").status_code == 200


def test_an_editor_sees_their_own_account_only_with_their_name_address_and_new_backup_codes(admin_url):
    editor = _editor()
    boss = get_user_model().objects.create_superuser("boss", "boss@example.org", PASSWORD)
    client = Client()
    client.force_login(editor)

    own = client.get(f"{admin_url}auth/user/{editor.pk}/change/")
    history = client.get(f"{admin_url}auth/user/{editor.pk}/history/")

    assert own.status_code == 200 and history.status_code == 200
    page = unescape(own.content.decode())
    assert "If you lose your phone and your backup codes, ask a superuser" in page
    assert f'href="{admin_url}auth/user/backup-codes/">Make new backup codes' in page
    assert "ada@example.org" in page and "Superuser status" not in page and "Groups" not in page
    # No way to the users' list, which is not theirs to open.
    for html in (page, history.content.decode()):
        assert f'href="{admin_url}auth/user/"' not in html
    assert client.get(f"{admin_url}auth/user/{boss.pk}/change/").status_code == 403


def test_without_an_app_the_backup_codes_page_says_they_come_with_it(admin_url, settings):
    settings.ADMIN_TWO_FACTOR = False
    _editor()
    client = Client()
    _password(client, admin_url)

    page = client.get(f"{admin_url}auth/user/backup-codes/", follow=True).content.decode()

    assert "Backup codes come with the authenticator app: set it up at your next sign-in." in page


def test_a_reset_stops_the_editors_app_and_backup_codes_and_says_so_on_the_page_and_in_the_history(admin_url):
    editor = _editor()
    backup = sign_in_code(editor)
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss", "boss@example.org", PASSWORD))

    answer = admin.post(f"{admin_url}auth/user/", {"action": "sign_in_codes_reset", "_selected_action": [editor.pk]},
                        follow=True)

    page = unescape(answer.content.decode())
    assert "Sign-in codes reset for ada: their app and backup codes no longer work." in page
    assert page.count("Not set up: they can until") == 1
    assert LogEntry.objects.filter(object_id=str(editor.pk), change_message__startswith="Sign-in codes reset: ").exists()
    client = Client()
    _password(client, admin_url)
    client.post(f"{admin_url}two-factor/", {"code": backup})
    assert client.get(admin_url).status_code == 302


def test_someone_who_may_only_view_users_cannot_reset_their_sign_in_codes(admin_url):
    from django.contrib.auth.models import Permission

    editor = _editor()
    backup = sign_in_code(editor)
    viewer = get_user_model().objects.create_user("viewer", "viewer@example.org", PASSWORD, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client = Client()
    client.force_login(viewer)

    listed = client.get(f"{admin_url}auth/user/").content.decode()
    client.post(f"{admin_url}auth/user/", {"action": "sign_in_codes_reset", "_selected_action": [editor.pk]})

    assert "sign_in_codes_reset" not in listed
    assert TOTPDevice.objects.filter(user=editor, confirmed=True).exists()
    assert StaticDevice.objects.get(user=editor).token_set.filter(token=backup).exists()


def test_the_admin_names_no_device_of_django_otps_own(admin_url):
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss", "boss@example.org", PASSWORD))

    index = admin.get(admin_url).content.decode()

    assert "TOTP devices" not in index and "Static devices" not in index
    assert admin.get(f"{admin_url}otp_totp/totpdevice/").status_code == 404
