"""An editor's first and later sign-ins in Chromium: the password, then setting up
an authenticator app from the page's QR code or key, the backup codes shown once,
and a backup code at the next sign-in (config/two_factor.py)."""

import base64
import re

from django.contrib.auth.models import User
from django.core import mail
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, axe_blocking, page_width

PASSWORD = "a-long-editor-password-7"


def _password(page, live_server) -> None:
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_an_editor_sets_up_the_app_then_signs_in_with_a_backup_code(live_server, page, screenshot):
    User.objects.create_user("ada", "ada@example.org", PASSWORD, is_staff=True)
    _password(page, live_server)
    # The password alone does not show the key: the link mailed to her does.
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("We sent a link to a…@example.org")
    expect(page.locator(".two-factor-qr")).to_have_count(0)
    assert axe_blocking(page) == []
    screenshot(page, "admin-two-factor-check-email")
    link = re.search(r"http://testserver(\S+/two-factor/setup/\S+/)", mail.outbox[-1].body).group(1)
    page.goto(live_server.url + link)
    expect(page.get_by_role("heading", name="Set up sign-in codes")).to_be_visible()
    qr = page.locator(".two-factor-qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box["width"] >= 150 and box["height"] >= 150  # big enough for a phone's camera
    page.get_by_text("Can’t scan it? Type this key instead").click()
    key = page.get_by_label("Setup key").inner_text()
    assert axe_blocking(page) == []
    screenshot(page, "admin-two-factor-setup")

    raw = key.replace(" ", "")
    code = f"{TOTP(base64.b32decode(raw + '=' * (-len(raw) % 8))).token():06d}"
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
    codes = page.get_by_role("list", name="Backup codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    page.set_viewport_size(PHONE)
    width = page_width(page)
    assert width <= PHONE["width"], f"the codes page is {width} px wide on a phone"
    screenshot(page, "admin-two-factor-codes")
    page.get_by_role("link", name="I have saved them: continue").click()
    expect(page.get_by_role("heading", name="Curation")).to_be_visible()

    page.context.clear_cookies()
    _password(page, live_server)
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    expect(page.locator(".two-factor-qr")).to_have_count(0)
    page.get_by_label("Code").fill("12345")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    screenshot(page, "admin-two-factor-code")
    StaticDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)  # a while later
    page.get_by_label("Code").fill(codes[3])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Curation")).to_be_visible()
    # She is told the code is spent and how many she has left.
    expect(page.locator(".messagelist")).to_contain_text("You signed in with a backup code: it will not work "
                                                         "again, and you have 9 left. With your phone at hand, "
                                                         "make new backup codes")
    expect(page.locator(".messagelist").get_by_role("link", name="make new backup codes")).to_be_visible()
    assert axe_blocking(page) == []
    screenshot(page, "admin-two-factor-backup-code-used")
    assert page.js_errors == [] and page.console_errors == []


def test_a_superuser_sees_who_set_up_codes_and_resets_them_for_a_lost_phone(live_server, page, screenshot):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.browser.conftest import admin_sign_in
    from tests.factories import sign_in_device
    from tests.newsletter.test_admin import editor_group

    User.objects.create_superuser("chief", "chief@example.org", PASSWORD)
    editor_group()
    ada = User.objects.create_user("ada", "ada@example.org", PASSWORD, is_staff=True)
    User.objects.create_user("bo", "bo@example.org", PASSWORD, is_staff=True)
    sign_in_device(ada)
    admin_sign_in(page, live_server, "chief", PASSWORD)
    # The devices are the users' sign-in codes, not pages of their own in models' words.
    expect(page.get_by_role("heading", name="Curation")).to_be_visible()
    for words in ("TOTP devices", "Static devices", "OTP_TOTP", "OTP_STATIC"):
        expect(page.get_by_text(words, exact=True)).to_have_count(0)

    page.get_by_role("link", name="Users").first.click()
    rows = page.locator("#result_list tbody tr")
    expect(rows.filter(has_text="ada")).to_contain_text("Set up")
    expect(rows.filter(has_text="bo@example.org")).to_contain_text("Not set up")
    page.get_by_role("link", name="ada", exact=True).click()
    expect(page.get_by_text("Authenticator app set up on")).to_be_visible()
    assert axe_blocking(page) == []
    # Each permission reads on one line, in columns: with Django's 160 px labels each
    # took three lines and the page was 8,000 px tall.
    first = page.locator("label[for=id_user_permissions_0]").bounding_box()
    line = page.eval_on_selector("label[for=id_user_permissions_0]",
                                 "e => parseFloat(getComputedStyle(e).lineHeight) || 20")
    assert first["height"] < 1.5 * line, first
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 3500, f"a user's page is {height} px tall"
    page.set_viewport_size(PHONE)
    width = page_width(page)
    assert width <= PHONE["width"], f"a user's page is {width} px wide on a phone"
    screenshot(page, "admin-user-sign-in-codes")

    page.goto(live_server.url + "/admin/auth/group/")
    page.get_by_role("link", name="Editor", exact=True).click()
    expect(page.get_by_role("checkbox", name="Subscribers | subscriber | Can view subscriber addresses")).to_be_visible()
    assert axe_blocking(page) == []

    page.goto(live_server.url + "/admin/auth/user/")
    rows.filter(has_text="ada@example.org").get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option(label=(
        "Reset sign-in codes… (a lost phone: they set up the app again within three days)"))
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("Sign-in codes reset for ada")
    expect(rows.filter(has_text="ada@example.org")).to_contain_text("Not set up: they can until")
    assert not TOTPDevice.objects.filter(user=ada, confirmed=True).exists()
    screenshot(page, "admin-users-sign-in-codes-reset")

    page.context.clear_cookies()
    _password(page, live_server)
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("We sent a link to a…@example.org")
    assert page.js_errors == [] and page.console_errors == []


def test_an_editor_opens_her_own_account_from_recent_actions_and_sees_her_backup_codes_left(
        live_server, page, screenshot):
    from tests.browser.conftest import admin_sign_in
    from tests.newsletter.test_admin import editor_group

    ada = User.objects.create_user("ada", "ada@example.org", PASSWORD, is_staff=True)
    ada.groups.add(editor_group())
    admin_sign_in(page, live_server, "ada", PASSWORD)
    # Her sign-in with a backup code is a line of her history, the first thing on her home page.
    page.locator("#recent-actions-module").get_by_role("link", name="ada").click()
    expect(page.get_by_role("heading", name="ada")).to_be_visible()
    expect(page.get_by_text("Authenticator app set up")).to_contain_text("backup codes left")
    expect(page.get_by_text("ask a superuser to reset your sign-in codes")).to_be_visible()
    expect(page.get_by_text("Superuser status")).to_have_count(0)
    expect(page.get_by_text("Required. 150 characters or fewer")).to_have_count(0)  # not a form she fills in
    assert axe_blocking(page) == []
    page.set_viewport_size(PHONE)
    width = page_width(page)
    assert width <= PHONE["width"], f"her account's page is {width} px wide on a phone"
    screenshot(page, "admin-own-account")
    # Every link on it and on its history opens: no "Users" list she may not see.
    links = page.locator("#content a, .breadcrumbs a")
    hrefs = links.evaluate_all("els => els.map(a => a.href)")
    page.get_by_role("link", name="History").click()
    expect(page.locator("#content")).to_contain_text("Signed in with a backup code")
    for href in hrefs + links.evaluate_all("els => els.map(a => a.href)"):
        assert page.request.get(href).status == 200, href
    assert page.request.get(live_server.url + "/admin/auth/user/").status == 403

    # A day without her phone used her backup codes up: new ones, for a code from the app.
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page.set_viewport_size(DESKTOP)
    page.get_by_role("link", name="My account").click()
    page.get_by_role("link", name="Make new backup codes").click()
    expect(page.get_by_role("heading", name="New backup codes")).to_be_visible()
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Make new backup codes").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    assert axe_blocking(page) == []
    TOTPDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)  # a while later
    app = TOTPDevice.objects.get(user=ada, confirmed=True)
    page.get_by_label("Code").fill(f"{TOTP(app.bin_key).token():06d}")
    page.get_by_role("button", name="Make new backup codes").click()
    expect(page.get_by_role("list", name="Backup codes").locator("code")).to_have_count(10)
    assert StaticDevice.objects.get(user=ada).token_set.count() == 10  # the earlier ones are gone
    page.set_viewport_size(PHONE)
    width = page_width(page)
    assert width <= PHONE["width"], f"the new codes page is {width} px wide on a phone"
    screenshot(page, "admin-own-backup-codes")
    page.get_by_role("link", name="I have saved them: back to my account").click()
    expect(page.get_by_text("Authenticator app set up")).to_contain_text("10 backup codes left")
    # Not console_errors: axe-core fetches forms.css's @import('widgets.css') against the
    # page's address (/admin/auth/user/1/change/widgets.css), a 403 of its own making.
    assert page.js_errors == []


def test_the_editors_sign_in_emails_read_well_on_a_phone_in_light_and_dark(page, live_server, settings):
    """The setup link and the wrong-codes alert (config/two_factor.py, staff_email):
    one heading, the button to press, the link spelled out, axe clean."""
    from config.two_factor import setup_link_send, staff_email
    from tests.browser.test_digest_email import _shoot

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    ada = User.objects.create_user("ada", "ada@example.org", PASSWORD, is_staff=True)
    assert setup_link_send(ada)
    staff_email(ada.pk, "wrong_codes", {"count": 3, "at": "5 Dec 2026, 18:40 UTC", "ip": "203.0.113.7"})
    for message, button in zip(mail.outbox, ("Set up my sign-in codes", "Change my password"), strict=True):
        html = message.alternatives[0][0]
        for scheme in ("light", "dark"):
            _shoot(page, html, f"email-{message.tags[0]}-{scheme}", 375, scheme=scheme)
            assert axe_blocking(page) == [], (message.subject, scheme)
            assert page.get_by_role("heading", level=1).count() == 1
            expect(page.get_by_role("link", name=button)).to_be_visible()
            assert page_width(page) <= 375
        assert "/two-factor/setup/" in message.body or "/two-factor/password/" in message.body


def test_the_alerts_password_link_changes_the_password_in_the_browser(live_server, page, screenshot):
    """The wrong-codes alert's "Change my password" (config/two_factor.py,
    password_link): a page of its own, reached without signing in."""
    from config.two_factor import password_link

    ada = User.objects.create_user("ada", "ada@example.org", PASSWORD, is_staff=True)
    page.goto(password_link(ada).replace("http://testserver", live_server.url))
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    assert axe_blocking(page) == []
    screenshot(page, "admin-two-factor-password")
    page.get_by_label("New password", exact=False).first.fill("a-brand-new-passphrase-9")
    page.get_by_label("New password confirmation").fill("a-brand-new-passphrase-9")
    page.get_by_role("button", name="Change my password").click()
    expect(page.locator(".messagelist")).to_contain_text("Your password is changed")
    expect(page.get_by_label("Username")).to_be_visible()
    ada.refresh_from_db()
    assert ada.check_password("a-brand-new-passphrase-9")
    assert page.js_errors == [] and page.console_errors == []
