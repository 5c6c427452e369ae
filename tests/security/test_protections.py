"""The site's protections (signed links, webhook secrets, rate limits, body limits,
privacy of exports, deletion and logs, headers, health): each test fails if its
protection is removed."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from newsletter.delivery import deliveries_create, digest_send_batch
from newsletter.editions import edition_assemble
from newsletter.models import Delivery, DeliveryEvent
from subscribers import services
from subscribers.models import ConsentRecord, Subscriber, Suppression
from subscribers.suppression import email_hash, email_is_suppressed
from subscribers.tokens import _manage_token, confirm_token
from tests import webhooks
from tests.factories import (
    PaperFactory,
    PaperTopicFactory,
    SubscriberFactory,
    TopicFactory,
    export_data,
)

pytestmark = pytest.mark.django_db
WEBHOOK = webhooks.URL


def _bounce(email, event_id=77):
    return json.dumps({
        "RecordType": "Bounce", "ID": event_id, "Type": "HardBounce", "TypeCode": 1,
        "MessageID": "00000000-0000-0000-0000-000000000001", "Metadata": {}, "Email": email,
        "BouncedAt": "2025-11-24T07:03:54Z", "Description": "unknown user", "Details": "",
        "Inactive": True, "CanActivate": True, "Subject": "x", "ServerID": 1,
        "MessageStream": "broadcast", "Tag": "digest", "Name": "Hard bounce",
        "DumpAvailable": False, "Content": "", "From": "digest@example.com",
    })


# --- 3. Tokens ------------------------------------------------------------------


@pytest.mark.parametrize("page", ["manage", "unsubscribe"])
def test_tampered_and_foreign_tokens_are_refused_with_a_clear_page_and_no_change(client, page):
    reader, other = SubscriberFactory(email="ann@one.example"), SubscriberFactory(email="bob@two.example")
    token = _manage_token(subscriber=reader)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    confirm_for_reader = confirm_token(subscriber=reader)  # another purpose's token
    for bad in (tampered, confirm_for_reader, token + "x"):
        response = client.post(f"/{page}/{bad}/", {"frequency": "weekly"})
        assert response.status_code == 404
        assert "This link is not valid" in response.content.decode()
        assert "Nothing was changed" in response.content.decode()
    reader.refresh_from_db()
    other.refresh_from_db()
    assert reader.status == other.status == Subscriber.Status.ACTIVE
    # The other reader's token opens the other reader only (their address masked:
    # subscribers.addresses.email_masked).
    response = client.get(f"/manage/{_manage_token(subscriber=other)}/")
    assert "b…@two.example" in response.content.decode() and "one.example" not in response.content.decode()


@pytest.mark.parametrize("method,path", [
    ("get", "/confirm/{bad}/"), ("post", "/manage/{bad}/"), ("post", "/unsubscribe/{bad}/"),
    ("post", "/manage/{bad}/pause/"), ("post", "/manage/{bad}/resume/"), ("post", "/manage/{bad}/export/"),
    ("post", "/manage/{bad}/delete/"), ("post", "/unsubscribe/{bad}/resubscribe/"),
    ("get", "/digest/{bad}/"), ("post", "/feedback/{bad}/"), ("post", "/manage/{bad}/learned/reset/"),
])
def test_every_emails_tampered_link_gets_the_one_not_valid_page_with_both_ways_on(client, method, path):
    """Whichever email a link came from (confirmation, preference centre, digest):
    the same page, saying nothing changed, pointing to the archive and the subscribe
    form, and kept out of search engines."""
    response = getattr(client, method)(path.format(bad="eyJwIjoxfQ:1tampered:AAAA"))

    html = response.content.decode()
    assert response.status_code == 404
    assert "This link is not valid" in html and "Nothing was changed" in html
    assert 'href="/editions/"' in html and 'href="/subscribe/"' in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_expired_confirm_link_is_refused_and_changes_nothing(client, monkeypatch):
    reader = SubscriberFactory(status=Subscriber.Status.PENDING)
    token = confirm_token(subscriber=reader)
    later = timezone.now() + dt.timedelta(days=8)
    monkeypatch.setattr(signing.time, "time", lambda: later.timestamp())
    response = client.post(f"/confirm/{token}/")
    assert response.status_code == 410 and "This link has expired" in response.content.decode()
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.PENDING


def test_replayed_confirm_after_unsubscribe_does_not_resubscribe(client):
    reader = SubscriberFactory(status=Subscriber.Status.PENDING)
    token = confirm_token(subscriber=reader)
    client.post(f"/confirm/{token}/")
    client.post(f"/unsubscribe/{_manage_token(subscriber=reader)}/")
    client.post(f"/confirm/{token}/")  # replayed
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


# --- 3. Webhooks ----------------------------------------------------------------


def test_webhook_without_the_secret_is_refused_and_changes_nothing(webhook_secret):
    reader = SubscriberFactory(email="bounce@example.com")
    anonymous = Client(raise_request_exception=False)
    for headers in ({}, webhooks.auth("hook:wrong")):
        response = anonymous.post(WEBHOOK, _bounce(reader.email), content_type="application/json", **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Basic ")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not Suppression.objects.exists()


def test_replayed_webhook_event_changes_nothing(client, webhook_secret):
    reader = SubscriberFactory(email="bounce@example.com")
    for _ in range(3):
        assert client.post(WEBHOOK, _bounce(reader.email), content_type="application/json",
                           **webhooks.auth()).status_code == 200
    assert DeliveryEvent.objects.count() == 1 and Suppression.objects.count() == 1


def test_malformed_webhook_bodies_get_400_not_500(client, webhook_secret):
    for body in ("not json", "null", "[]", '{"RecordType": "Bounce", "ID": "\\u0000"}'):
        response = client.post(WEBHOOK, body, content_type="application/json", **webhooks.auth())
        assert response.status_code == 400, body


# --- 2/4. Limits and abuse -------------------------------------------------------


def _subscribe(client, email, ip):
    topic = TopicFactory(name="Agents")
    return client.post("/subscribe/", {
        "email": email, "topics": str(topic.pk), "frequency": "daily", "weekday": "0",
        "delivery_hour": "7", "time_zone": "UTC", "consent": "on",
    }, REMOTE_ADDR=ip)


def test_one_address_bombed_from_many_ips_gets_one_email_and_its_owner_is_not_locked_out(
    client, settings, django_capture_on_commit_callbacks
):
    """One email per address per window, whoever asks; the owner's own request,
    after a stranger's 29, gets the page everyone gets, not "That was a lot of
    tries" (counted per address alone, the stranger locked the owner out)."""
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [_subscribe(client, "target@example.com", f"203.0.113.{n}").status_code
                    for n in range(1, 30)]
        assert set(statuses) == {303}
        assert _subscribe(client, "target@example.com", "192.0.2.200").status_code == 303
        # One client asking for one address again and again is still stopped.
        repeated = [_subscribe(client, "target@example.com", "198.51.100.77")
                    for _ in range(settings.SUBSCRIBE_RATE_LIMIT_PER_ADDRESS + 1)]
    assert repeated[-1].status_code == 429 and "That was a lot of tries" in repeated[-1].content.decode()
    assert len(mail.outbox) == 1


def test_many_addresses_from_one_ip_stop_at_the_limit(client, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [_subscribe(client, f"victim{n}@example.com", "198.51.100.9").status_code
                    for n in range(40)]
    assert statuses.count(303) == settings.SUBSCRIBE_RATE_LIMIT_PER_IP
    assert len(mail.outbox) == settings.SUBSCRIBE_RATE_LIMIT_PER_IP


def test_oversized_bodies_and_fields_are_refused(client, settings, webhook_secret):
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    anonymous = Client(raise_request_exception=False)
    assert anonymous.post("/subscribe/", {"email": "a@example.com", "keywords": big}).status_code == 400
    response = _subscribe(client, "a" * 250 + "@example.com", "192.0.2.1")
    assert response.status_code == 400 and not Subscriber.objects.exists()
    assert anonymous.post(WEBHOOK, big, content_type="application/json", **webhooks.auth()).status_code == 400


def test_idna_address_is_stored_encoded(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert _subscribe(client, "Joerg@Bücher.example", "192.0.2.5").status_code == 303
    assert Subscriber.objects.get().email == "Joerg@xn--bcher-kva.example"
    assert mail.outbox[0].to == ["Joerg@xn--bcher-kva.example"]
    # A non-ASCII local part needs SMTPUTF8, which not every ESP relays: refused
    # with a form error that says why, not a crash.
    response = _subscribe(client, "jörg@example.com", "192.0.2.5")
    assert response.status_code == 400 and "We can only send to addresses with Latin letters" in response.content.decode()


def test_admin_login_is_rate_limited_with_a_readable_429(client, settings):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "right-password-123")
    url = f"/{settings.ADMIN_URL}login/"
    for _ in range(settings.ADMIN_LOGIN_RATE_LIMIT):
        assert client.post(url, {"username": "boss", "password": "wrong"}).status_code == 200
    response = client.post(url, {"username": "boss", "password": "right-password-123"})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    # The same name in look-alike letters, which Django signs in as "boss" (NFKC),
    # is the same count (a hostile tester got in with "ｂｏｓｓ" after the limit).
    assert client.post(url, {"username": "ｂｏｓｓ", "password": "right-password-123"}).status_code == 429
    assert response["Retry-After"]
    # The same username from another address still gets in: wrong guesses from one
    # place cannot lock the real admin out.
    other = Client().post(url, {"username": "boss", "password": "right-password-123"},
                          REMOTE_ADDR="10.9.9.9")
    assert other.status_code == 302
    get_user_model().objects.create_superuser("deputy", "d@example.com", "right-password-456")
    ok = Client().post(url, {"username": "deputy", "password": "right-password-456"}, REMOTE_ADDR="10.9.9.9")
    assert ok.status_code == 302


def test_admin_lives_at_the_configured_path(settings):
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from django.test import Client; c = Client();"
        "print(c.get('/backstage-7f3/login/').status_code, c.get('/admin/login/').status_code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
        env={**__import__("os").environ, "ADMIN_URL": "backstage-7f3/",
             "DJANGO_SETTINGS_MODULE": "config.settings_test"},
    )
    assert out.stdout.split() == ["200", "404"], out.stderr



@pytest.mark.parametrize("form", ["/subscribe/", "/subscription/"])
def test_a_public_forms_post_from_another_site_is_refused_and_queues_nothing(
        form, django_capture_on_commit_callbacks, monkeypatch):
    """Without the form's CSRF token (a page elsewhere posting it from a visitor's
    browser) nothing is asked for: otherwise any site could spend its visitors'
    limits, and their IP in the consent record, on addresses of its choosing. The
    token views (the signed link is the credential) are exempt on purpose; these
    forms are not."""
    queued = []
    monkeypatch.setattr(services, "_public_form_request_queue", lambda **kwargs: queued.append(kwargs))
    topic = TopicFactory()
    data = {"email": "victim@example.org", "topics": [topic.pk], "frequency": "daily", "weekday": "0",
            "delivery_hour": "7", "time_zone": "UTC", "consent": "on", "website": ""}
    with django_capture_on_commit_callbacks(execute=True):
        forged = Client(enforce_csrf_checks=True).post(form, data, HTTP_ORIGIN="https://elsewhere.example")
    assert forged.status_code == 403 and queued == [] and mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        assert Client().post(form, data).status_code == 303  # the form's own post is taken
    assert len(queued) == 1

# --- 5. Data ----------------------------------------------------------------------


def _reader_with_history():
    topic = TopicFactory(name="Agents")
    day = dt.date(2025, 11, 24)
    PaperTopicFactory(paper=PaperFactory(trending_date=day), topic=topic)
    services.subscriber_subscribe(email="held@example.com", topics=[topic], ip="192.0.2.7",
                                  user_agent="Firefox")
    reader = Subscriber.objects.get(email="held@example.com")
    services.subscriber_confirm(subscriber=reader, ip="192.0.2.7", user_agent="Firefox")
    edition = edition_assemble(date=day)
    ids = deliveries_create(edition=edition, subscriber_ids=[reader.pk], now=timezone.now())
    digest_send_batch(delivery_ids=ids)
    return reader


def test_export_holds_everything_about_the_reader_and_goes_only_to_their_address(client, settings):
    """A preference-centre link travels in every digest (forwarded, shared): whoever
    presses "Email me my data" gets nothing but a line saying it went to the
    reader's inbox; the file, with their IP addresses, is attached to that email."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    reader = _reader_with_history()
    mail.outbox.clear()
    url = f"/manage/{_manage_token(subscriber=reader)}/export/"
    assert client.get(url).status_code == 303 and not mail.outbox  # a link changes nothing

    response = client.post(url)
    assert response.status_code == 303 and response["Location"].endswith("?done=export-sent#your-data")
    page = client.get(response["Location"]).content.decode()
    assert 'On its way to <span class="address">h…@example.com:</span>' in page and "192.0.2.7" not in page
    (email,) = mail.outbox
    assert email.to == ["held@example.com"] and email.subject == "Your data from the Daily Papers Digest"
    ((name, content, mimetype),) = email.attachments
    assert (name, mimetype) == ("daily-papers-digest-my-data.zip", "application/zip")
    data = export_data(content)
    assert data["email"] == "held@example.com"
    assert [c["action"] for c in data["consent_records"]] == ["subscribe", "confirm"]
    assert data["consent_records"][0]["ip_address"] == "192.0.2.7"
    assert data["consent_records"][0]["user_agent"] == "Firefox"
    assert [d["status"] for d in data["deliveries"]] == ["sent"]
    assert data["preferences"]["topics"][0]["slug"] == "agents"

    # Pressed again at once (or by someone filling the reader's inbox): one email.
    again = client.post(url)
    assert again["Location"].endswith("?done=export-recent#your-data")
    assert "less than 10 minutes ago" in client.get(again["Location"]).content.decode()
    assert len(mail.outbox) == 1


def test_deletion_keeps_only_the_hash_and_anonymous_counts(client, django_capture_on_commit_callbacks):
    reader = _reader_with_history()
    client.post(f"/manage/{_manage_token(subscriber=reader)}/delete/")
    assert not Subscriber.objects.exists() and not ConsentRecord.objects.exists()
    assert not Delivery.objects.exists()
    suppression = Suppression.objects.get()
    assert suppression.email_hash == email_hash("held@example.com")
    assert "held" not in suppression.note and "held" not in str(suppression)
    # Nothing mails the address by accident: a digest batch, an import or an editor
    # skip it. Only the person's own new subscription gets an email, the
    # confirmation (double opt-in), and the hash stays until it is confirmed.
    mail.outbox.clear()
    assert email_is_suppressed("held@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        services.subscriber_subscribe(email="held@example.com", topics=[], ip=None, user_agent="")
    assert Subscriber.objects.get().status == "pending"
    assert [m.subject for m in mail.outbox] == [mail.outbox[0].subject] and "onfirm" in mail.outbox[0].subject
    assert Suppression.objects.filter(email_hash=email_hash("held@example.com")).exists()


def test_no_email_address_in_logs_at_info(caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO)
    with django_capture_on_commit_callbacks(execute=True):
        _reader_with_history()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "digest batch" in logged and "sent=1" in logged  # the structured batch line
    assert "held@example.com" not in logged and "@example.com" not in logged


# --- 6. Headers --------------------------------------------------------------------


def test_production_headers_and_cookies(client, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    response = client.get("/subscribe/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert script_src.strip() == "script-src 'self'"  # no inline script, no eval
    assert "frame-ancestors 'none'" in csp
    # The browser is told no page of the site may turn on the camera or the
    # microphone or ask where the visitor is (an injected script could otherwise ask).
    denied = {d.strip() for d in response["Permissions-Policy"].split(",")}
    assert {"camera=()", "microphone=()", "geolocation=()"} <= denied
    cookie = response.cookies["csrftoken"]
    assert cookie["secure"] and cookie["httponly"]
    assert settings.SESSION_COOKIE_HTTPONLY and settings.SESSION_COOKIE_SECURE


def test_only_pages_made_to_be_framed_by_the_site_may_be_framed_by_it(admin_client):
    framed = admin_client.get("/admin/newsletter/topic/preview/?keywords=agents")
    assert framed["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in framed["Content-Security-Policy"]
    page = admin_client.get("/admin/newsletter/topic/")
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_email_preview_keeps_its_own_sandbox_policy(client, settings):
    settings.DEBUG = True
    from newsletter.models import OutboxEmail

    email = OutboxEmail.objects.create(to="x", subject="s", html_body="<p>hi</p>", message_id="1")
    response = client.get(f"/outbox/{email.pk}/html/")
    assert response["Content-Security-Policy"].startswith("sandbox")


# --- 7. Health ------------------------------------------------------------------


def test_health_reports_each_check(client):
    from django.db.migrations.recorder import MigrationRecorder
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import schedules_ensure

    schedules_ensure()
    first_migration = MigrationRecorder.Migration.objects.filter(app="newsletter", name="0001_initial")
    # Installed an hour ago and beat never ran: beat is stopped.
    first_migration.update(applied=timezone.now() - dt.timedelta(hours=1))
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"].startswith(
        "fail: RuntimeError: beat stopped: the dispatcher has never run")
    assert response.json()["checks"]["database"] == "ok" and response.json()["checks"]["redis"] == "ok"
    PeriodicTask.objects.filter(task="newsletter.tasks.digests_dispatch").update(
        last_run_at=timezone.now() - dt.timedelta(hours=2))
    assert "minutes ago" in client.get("/health/").json()["checks"]["beat"]
    PeriodicTask.objects.filter(task="newsletter.tasks.digests_dispatch").update(last_run_at=timezone.now())
    response = client.get("/health/")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    # A proxy or a browser keeps no copy: each probe sees the server's answer of now.
    assert "no-store" in response["Cache-Control"]
    # Read-only: a form or a script posting to it is refused.
    assert client.post("/health/").status_code == 405


def test_a_flood_of_health_requests_costs_one_round_of_checks_an_interval(
        client, settings, monkeypatch, django_assert_num_queries):
    """/health/ is public and uncached by design (no-store: each probe sees the
    server's answer), and every request ran four queries and opened a connection to
    Redis: an easy load amplifier (a security review, 7 December 2026). Each process
    keeps its answer for HEALTH_ANSWER_SECONDS; once it is over, the checks run again
    and a change shows."""
    import time

    from django_celery_beat.models import PeriodicTask

    from newsletter import health
    from newsletter.schedules import schedules_ensure

    schedules_ensure()
    PeriodicTask.objects.filter(task="newsletter.tasks.digests_dispatch").update(last_run_at=timezone.now())
    settings.HEALTH_ANSWER_SECONDS = 60
    monkeypatch.setattr(health, "_answer", None, raising=False)
    first = client.get("/health/")
    assert first.status_code == 200 and first.json()["status"] == "ok"
    with django_assert_num_queries(0):
        for _ in range(50):
            response = client.get("/health/")
            assert response.json() == first.json() and "no-store" in response["Cache-Control"]

    PeriodicTask.objects.filter(task="newsletter.tasks.digests_dispatch").update(
        last_run_at=timezone.now() - dt.timedelta(hours=2))
    assert client.get("/health/").status_code == 200  # within the interval: the answer kept
    made, *answer = health._answer
    monkeypatch.setattr(health, "_answer", (made - 61, *answer))  # the interval is over
    assert client.get("/health/").status_code == 503
    assert time.monotonic() - health._answer[0] < 5


def test_health_says_starting_in_the_first_twenty_minutes_then_beat_stopped(client):
    from django.db.migrations.recorder import MigrationRecorder

    from newsletter.schedules import schedules_ensure

    schedules_ensure()
    first_migration = MigrationRecorder.Migration.objects.filter(app="newsletter", name="0001_initial")
    first_migration.update(applied=timezone.now() - dt.timedelta(minutes=5))
    response = client.get("/health/")
    assert response.status_code == 200 and response.json()["status"] == "starting"
    assert response.json()["checks"]["beat"].startswith("starting: first started 5 minutes ago")
    # Beat first runs the dispatcher up to 15 minutes after it starts: at 19 minutes
    # the page still says starting, not a 503 that pages the operator.
    first_migration.update(applied=timezone.now() - dt.timedelta(minutes=19))
    assert client.get("/health/").json()["status"] == "starting"
    first_migration.update(applied=timezone.now() - dt.timedelta(minutes=21))
    response = client.get("/health/")
    assert response.status_code == 503 and "beat stopped" in response.json()["checks"]["beat"]


def test_health_and_the_dashboard_say_so_when_beat_sends_the_dispatcher_but_no_worker_runs_it(
    client, admin_client
):
    """Every worker is gone (killed, out of memory, a deploy that did not start them)
    while beat goes on sending: beat's record is fresh, no digest goes out. /health/
    says 503, naming the workers, and the editors' dashboard says digests may not be
    going out; both clear once a worker runs the dispatcher. Before, both said all was
    well."""
    from django_celery_beat.models import PeriodicTask

    from newsletter.delivery import digests_dispatch
    from newsletter.editions import edition_assemble
    from newsletter.models import Edition
    from newsletter.schedules import schedules_ensure
    from tests.factories import PaperFactory

    schedules_ensure()
    now = timezone.now()
    PeriodicTask.objects.filter(task="newsletter.tasks.digests_dispatch").update(last_run_at=now)
    PaperFactory(trending_date=now.date())
    edition = edition_assemble(date=now.date())
    Edition.objects.filter(pk=edition.pk).update(dispatched_at=now - dt.timedelta(hours=2))

    response = client.get("/health/")
    assert response.status_code == 503 and response.json()["checks"]["beat"].startswith("ok")
    assert response.json()["checks"]["workers"] == (
        f"fail: RuntimeError: no dispatcher run has finished for 120 minutes (the edition of "
        f"{now.date().isoformat()} was last dispatched then): no worker is taking tasks, or the task "
        "fails (the worker's log says which)")
    page = admin_client.get("/admin/newsletter/edition/dashboard/").content.decode()
    assert "Digests may not be going out." in page and "workers: no dispatcher run has finished for 120 minutes" in page

    digests_dispatch()  # a worker takes the next run
    response = client.get("/health/")
    assert response.status_code == 200 and response.json()["checks"]["workers"].startswith(
        "ok (the dispatcher last ran")
    assert "Digests may not be going out" not in admin_client.get("/admin/newsletter/edition/dashboard/").content.decode()


def _health_with_beat_fresh():
    """The dispatcher scheduled and run just now: beat is well."""
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import schedules_ensure

    schedules_ensure()
    PeriodicTask.objects.filter(task="newsletter.tasks.digests_dispatch").update(last_run_at=timezone.now())


def test_health_fails_when_the_dispatcher_is_switched_off_or_gone(client):
    """An operator who switches the dispatcher off in the admin (or deletes it) stops
    every digest: /health/ says so, though beat's last record of it is fresh."""
    from django_celery_beat.models import PeriodicTask

    _health_with_beat_fresh()
    assert client.get("/health/").status_code == 200
    dispatcher = PeriodicTask.objects.filter(task="newsletter.tasks.digests_dispatch")
    dispatcher.update(enabled=False)
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == "fail: RuntimeError: the dispatcher is not scheduled"
    dispatcher.delete()
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == "fail: RuntimeError: the dispatcher is not scheduled"


def test_health_fails_when_the_database_does_not_answer_and_tells_no_host(client, monkeypatch, caplog):
    """The database is down while all else is well: 503 naming the database, the
    driver's message (host, port, role) in the log only."""
    from django.db import OperationalError

    from newsletter import health

    _health_with_beat_fresh()
    health._logged_at.clear()

    class DownCursor:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql):
            raise OperationalError("connection to server at 10.1.2.3, port 5432 failed")

    class DownConnection:
        def cursor(self):
            return DownCursor()

    monkeypatch.setattr(health, "connection", DownConnection())
    response = client.get("/health/")
    assert response.status_code == 503 and response.json()["status"] == "fail"
    assert response.json()["checks"]["database"] == "fail: OperationalError (the server's log has the details)"
    assert "10.1.2.3" not in response.content.decode() and "10.1.2.3" in caplog.text


def test_health_says_fail_not_starting_when_redis_is_down_in_the_first_minutes(client, settings):
    """Just installed (beat not yet due) and Redis down: 503, not "starting": nothing
    can be queued, and the load balancer must know."""
    from django.db.migrations.recorder import MigrationRecorder

    from newsletter import health
    from newsletter.schedules import schedules_ensure

    schedules_ensure()
    MigrationRecorder.Migration.objects.filter(app="newsletter", name="0001_initial").update(
        applied=timezone.now() - dt.timedelta(minutes=5))
    health._logged_at.clear()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health/")
    assert response.status_code == 503 and response.json()["status"] == "fail"
    assert response.json()["checks"]["beat"].startswith("starting")


def test_health_judges_the_workers_by_the_edition_readers_get_now(client):
    """The workers' check looks at the edition being sent: the newest of the last days
    with papers, unless an editor holds it. An old edition never sent, an older one
    long done, an empty one of a quiet day, one held by an editor: none is a 503; the
    edition made two hours ago and never dispatched is."""
    from newsletter.models import Edition

    _health_with_beat_fresh()
    now = timezone.now()
    today = now.date()

    def edition(days_ago, *, made_hours_ago, dispatched_hours_ago=None):
        date = today - dt.timedelta(days=days_ago)
        PaperFactory(trending_date=date)
        made = edition_assemble(date=date)
        dispatched = None if dispatched_hours_ago is None else now - dt.timedelta(hours=dispatched_hours_ago)
        Edition.objects.filter(pk=made.pk).update(
            created_at=now - dt.timedelta(hours=made_hours_ago), dispatched_at=dispatched)
        return Edition.objects.filter(pk=made.pk)

    def workers():
        response = client.get("/health/")
        return response.status_code, response.json()["checks"]["workers"]

    # An edition of a week ago, never sent: no longer anybody's edition.
    edition(7, made_hours_ago=7 * 24)
    assert workers() == (200, "ok (no edition to send)")
    # The day before yesterday's, long done; yesterday's dispatched a minute ago: well.
    edition(2, made_hours_ago=48, dispatched_hours_ago=40)
    current = edition(1, made_hours_ago=24, dispatched_hours_ago=1 / 60)
    status, said = workers()
    assert status == 200 and said.startswith("ok (the dispatcher last ran")
    # A quiet day: today's edition, made two hours ago, has no papers (nothing to send).
    Edition.objects.create(date=today)
    Edition.objects.filter(date=today).update(created_at=now - dt.timedelta(hours=2))
    assert workers()[0] == 200
    # An editor holds the edition: its dispatcher runs stop, on purpose.
    current.update(on_hold=True, dispatched_at=now - dt.timedelta(hours=2))
    assert workers() == (200, "ok (no edition to send)")
    # Released, made two hours ago and never dispatched: no worker runs the dispatcher.
    current.update(on_hold=False, dispatched_at=None, created_at=now - dt.timedelta(hours=2))
    status, said = workers()
    assert status == 503 and "made, never dispatched," in said and "120 minutes" in said


def test_health_logs_an_outage_again_a_minute_later(settings, caplog):
    """Once a minute per check, not once for good: a Redis outage that lasts is seen
    in the log as it goes on."""
    from newsletter import health

    health._logged_at.clear()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    start = timezone.now()
    for seconds in (0, 30, 61):
        health.health_check(now=start + dt.timedelta(seconds=seconds))
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.name == "newsletter.health"] == [
        "health check redis failed", "health check redis failed"]


def test_health_names_redis_when_it_is_down_and_tells_no_host_or_port(client, settings, caplog):
    """The page is public: a driver's message (hosts, ports, database roles) goes to
    the log, the page says which check failed and how."""
    from newsletter import health

    health._logged_at.clear()  # logged once a minute per check
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    body = client.get("/health/").json()
    assert body["status"] == "fail"
    assert body["checks"]["redis"] == "fail: ConnectionError (the server's log has the details)"
    assert "127.0.0.1" not in json.dumps(body)
    assert "127.0.0.1:1" in caplog.text


def test_an_outage_probed_every_few_seconds_is_a_line_a_minute_and_a_wrong_host_no_traceback(client, settings, caplog):
    """An operator's walkthrough: every 503 of /health/ was an ERROR line of Django's
    and a probe by IP (a host not allowed) a 13-line traceback."""
    import logging

    from newsletter import health

    health._logged_at.clear()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.ALLOWED_HOSTS = ["testserver"]
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            assert client.get("/health/").status_code == 503
        assert client.get("/", HTTP_HOST="10.0.0.5:8000").status_code == 400
    assert [r.name for r in caplog.records if r.name == "django.request"] == []
    assert len([r for r in caplog.records if r.name == "newsletter.health"]) == 1
    (host,) = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert "10.0.0.5:8000" in host.getMessage() and host.exc_info is None and not host.exc_text


def test_a_request_past_the_sites_limits_is_one_line_in_the_log_not_a_traceback(client, settings, caplog):
    """A hostile review of the public pages: a query of more fields than the site
    reads (DATA_UPLOAD_MAX_NUMBER_FIELDS), or a form post larger than it takes
    (DATA_UPLOAD_MAX_MEMORY_SIZE), is a 400, as it should be, and each was an ERROR
    with a traceback of some 40 lines: anyone could fill the operator's log by
    sending them; so was a form post of more files than it takes
    (DATA_UPLOAD_MAX_NUMBER_FILES). One line each now, naming what was refused."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    fields = "&".join(f"f{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    with caplog.at_level(logging.INFO):
        assert client.get(f"/editions/?{fields}").status_code == 400
        assert client.post("/subscribe/", {"email": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}).status_code == 400
        files = {f"f{n}": SimpleUploadedFile(f"{n}.txt", b"1") for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)}
        assert client.post("/subscribe/", files).status_code == 400
    refused = [r for r in caplog.records if r.name.startswith("django.security.")]
    assert sorted(r.name for r in refused) == ["django.security.RequestDataTooBig",
                                               "django.security.TooManyFieldsSent",
                                               "django.security.TooManyFilesSent"]
    assert all(r.exc_info is None and not r.exc_text for r in refused), [r.exc_info for r in refused]


def test_no_living_link_of_a_reader_in_the_logs_when_their_page_answers_4xx(client, caplog):
    """A data-protection reviewer's walkthrough: a reader's preference form sent back
    with an error (400) was logged by Django as "Bad Request: /manage/<signed
    token>/": a living link that acts as the reader (their data, "Delete my data",
    unsubscribe) in every log the server's lines go to. The path is logged, the
    token is not; nor that of a link no longer valid (410)."""
    from subscribers.tokens import subscriber_manage_url

    reader = SubscriberFactory()
    manage = subscriber_manage_url(subscriber=reader).removeprefix("http://testserver")
    token = manage.strip("/").split("/")[-1]
    with caplog.at_level(logging.INFO):
        assert client.post(manage, {"delivery_hour": "99"}).status_code == 400
        services.subscriber_delete(subscriber=reader)
        assert client.get(manage).status_code == 410
    logged = [r.getMessage() for r in caplog.records if r.name == "django.request"]
    assert logged == ["Bad Request: /manage/[signed link]/", "Gone: /manage/[signed link]/"], logged
    assert token not in caplog.text


@pytest.mark.postgresql
def test_erasing_a_reader_empties_their_events_payloads_by_index_not_by_reading_every_event():
    """Erasure (and the daily forgetting of unconfirmed readers) empties the payloads
    of the reader's events, found by their deliveries or their address's hash: each
    by an index. One OR across the join read every event: 1 to 1.5 s a reader at
    900,000 events (docs/benchmarks.md)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from newsletter.models import Edition

    edition = Edition.objects.create(date=dt.date(2026, 12, 1))
    reader = SubscriberFactory(email="ada@example.org")
    delivery = Delivery.objects.create(subscriber=reader, edition=edition, status=Delivery.Status.SENT)
    for n, (row, address_hash) in enumerate([(delivery, ""), (None, email_hash(reader.email))]):
        DeliveryEvent.objects.create(delivery=row, event_id=f"e{n}", event_type="opened", recipient_hash=address_hash,
                                     payload={"ip": "192.0.2.1"}, occurred_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        services.subscriber_delete(subscriber=reader)
    assert list(DeliveryEvent.objects.values_list("payload", flat=True)) == [{}, {}]
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "newsletter_deliveryevent"')]
    assert updates
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for update in updates:
            cursor.execute("EXPLAIN " + update.replace("%", "%%"))
            plan = "\n".join(row[0] for row in cursor.fetchall())
            # Each event is picked by an index's condition, not kept or dropped by a
            # filter over every event (joined to its delivery).
            assert "Seq Scan" not in plan and not any("Filter" in line and " OR " in line
                                                      for line in plan.splitlines()), plan
