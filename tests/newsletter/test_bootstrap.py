"""manage.py bootstrap, the first thing `make run` does: the admin can get test
sends, and a demo reader's personalised digest of the sample day is in the outbox."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command

from newsletter.management.commands.bootstrap import SAMPLE_DATE, SAMPLE_FILE
from newsletter.models import Delivery, Edition
from subscribers.models import ConsentRecord, Subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def bootstrapped(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    settings.DEBUG = True  # make run's
    for name in ("ADMIN_EMAIL", "ADMIN_PASSWORD", "ADMIN_USERNAME", "DEMO_READER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    out = StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue()


def test_the_admin_gets_an_email_on_the_local_domain(bootstrapped):
    assert User.objects.get(username="admin").email == "admin@localhost"
    assert "(admin@localhost)" in bootstrapped


def test_an_admins_own_email_is_never_replaced(bootstrapped):
    User.objects.filter(username="admin").update(email="me@example.org")
    call_command("bootstrap", stdout=StringIO())
    assert User.objects.get(username="admin").email == "me@example.org"


def test_the_demo_reader_gets_a_personal_digest_of_the_sample_day_once(bootstrapped):
    reader = Subscriber.objects.get(email="reader@localhost")
    assert reader.status == Subscriber.Status.ACTIVE and reader.topics.count() == 2
    assert set(ConsentRecord.objects.filter(subscriber=reader).values_list("action", flat=True)) == {
        "subscribe", "confirm"}
    delivery = Delivery.objects.get(subscriber=reader)
    assert delivery.status == Delivery.Status.SENT and delivery.edition.date.isoformat() == "2025-11-24"
    [message] = mail.outbox
    assert message.to == ["reader@localhost"]
    topic_names = [t.name for t in reader.topics.all()]
    # Personal: the picks say which of the reader's topics they matched.
    assert any(f"{name} · matched:" in message.body for name in topic_names)
    assert "Edition of Monday 24 November 2025: 1 sent" in bootstrapped

    call_command("bootstrap", stdout=StringIO())
    assert len(mail.outbox) == 1 and Delivery.objects.count() == 1
    assert Subscriber.objects.count() == 1


def test_the_demo_readers_topics_are_those_with_the_most_papers_a_reader_sees_on_the_newest_day():
    """Counted: active topics, relevant papers (from the threshold up), visible, of the
    newest day; not an older day's papers, a hidden or withdrawn paper's, nor a retired topic."""
    import datetime as dt

    from newsletter.relevance import RELEVANCE_THRESHOLD
    from newsletter.selectors import topics_most_covered
    from tests.factories import PaperFactory, PaperTopicFactory, TopicFactory

    newest, older = dt.date(2025, 11, 24), dt.date(2025, 11, 21)
    covered = {"Most that day": (2, newest, {}), "Fewer": (1, newest, {}), "Older day's": (5, older, {}),
               "Hidden papers'": (3, newest, {"hidden": True}), "Retired": (4, newest, {}),
               "Withdrawn papers'": (3, newest, {"withdrawn_at": dt.datetime(2025, 11, 24, tzinfo=dt.UTC)})}
    for name, (n, day, paper_fields) in covered.items():
        topic = TopicFactory(name=name, is_active=name != "Retired")
        for _ in range(n):
            score = RELEVANCE_THRESHOLD if name == "Most that day" else 0.9
            PaperTopicFactory(paper=PaperFactory(trending_date=day, **paper_fields), topic=topic, score=score)
    assert [t.name for t in topics_most_covered(limit=2)] == ["Most that day", "Fewer"]


def test_production_bootstrap_loads_no_sample_papers_and_makes_no_demo_reader(settings, tmp_path):
    from newsletter.models import Paper

    settings.VAR_DIR = tmp_path
    call_command("bootstrap", "--no-sample", stdout=StringIO())
    assert not Paper.objects.exists() and not Edition.objects.exists()
    assert not Subscriber.objects.exists() and not mail.outbox


def test_the_demo_reader_is_the_address_make_run_was_given(settings, tmp_path, monkeypatch):
    settings.VAR_DIR, settings.DEBUG = tmp_path, True
    monkeypatch.setenv("DEMO_READER_EMAIL", "me@example.com")
    out = StringIO()
    call_command("bootstrap", stdout=out)
    assert [m.to for m in mail.outbox] == [["me@example.com"]]
    assert "Demo reader: me@example.com (" in out.getvalue()


def _admin_env(settings, tmp_path, monkeypatch, **env):
    """make run's settings (DEBUG on, var/ in tmp_path) with only the ADMIN_* given."""
    settings.VAR_DIR, settings.DEBUG = tmp_path, True
    for name in ("ADMIN_EMAIL", "ADMIN_PASSWORD", "ADMIN_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_a_generated_admin_password_is_kept_private_and_the_same_at_every_make_run(settings, tmp_path, monkeypatch):
    import stat

    _admin_env(settings, tmp_path, monkeypatch)
    first, again = StringIO(), StringIO()
    call_command("bootstrap", "--no-sample", stdout=first)
    call_command("bootstrap", "--no-sample", stdout=again)
    kept = tmp_path / "admin-password"
    password = kept.read_text().strip()
    for out in (first, again):
        assert f"Admin login: admin / {password} (admin@localhost)" in out.getvalue()
    assert User.objects.get(username="admin").check_password(password)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # only its owner reads it


def test_make_runs_admin_password_and_email_win_over_what_the_login_had(settings, tmp_path, monkeypatch):
    """In development ADMIN_PASSWORD and ADMIN_EMAIL are what the login is: a login
    of that name made by hand gets them, and admin rights, at the next make run."""
    User.objects.create_user("admin", email="old@example.com", password="Made-by-hand-2026!")
    _admin_env(settings, tmp_path, monkeypatch, ADMIN_PASSWORD="Make-run-pw-2026!", ADMIN_EMAIL="me@example.com")
    call_command("bootstrap", "--no-sample", stdout=StringIO())
    admin = User.objects.get(username="admin")
    assert admin.check_password("Make-run-pw-2026!") and admin.is_staff and admin.is_superuser
    assert admin.email == "me@example.com"

    # Only the address changed: it is saved all the same.
    monkeypatch.setenv("ADMIN_EMAIL", "desk@example.com")
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    assert User.objects.get(username="admin").email == "desk@example.com"
    assert "Admin login: admin / Make-run-pw-2026! (desk@example.com)" in out.getvalue()


def test_bootstrap_says_each_schedule_it_made_once(settings, tmp_path):
    from newsletter.schedules import DEFAULT_SCHEDULES

    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    made = [line.removeprefix("Schedule created: ") for line in out.getvalue().splitlines()
            if line.startswith("Schedule created: ")]
    assert made == list(DEFAULT_SCHEDULES)
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    assert "Schedule created" not in out.getvalue()


def test_a_new_sites_topics_get_their_vectors_before_it_serves(settings, tmp_path, default_topics):
    """A production install has no papers: the topics' vectors were made at the first
    fetch, or by an editor's first topic preview, which waited for all fifteen (6 s
    on one core)."""
    from newsletter import embeddings
    from newsletter.models import Topic

    settings.VAR_DIR = tmp_path
    Topic.objects.update(embedding=None, exemplar_embedding=None)
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    active = Topic.objects.filter(is_active=True)
    assert active.count() == len(default_topics)
    assert all(embeddings.vector_unpack(t.embedding) is not None for t in active)
    assert all(embeddings.vector_unpack(t.exemplar_embedding) is not None for t in active if t.builtin_examples)
    assert f"Relevance vectors made for {active.count()} topics." in out.getvalue()

    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)  # every start of the web container
    assert "Relevance vectors made" not in out.getvalue()

    Topic.objects.filter(pk=active.first().pk).update(embedding=None)
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    assert "Relevance vectors made for 1 topic." in out.getvalue()


def test_production_bootstrap_never_touches_an_existing_login_nor_prints_a_password(settings, tmp_path, monkeypatch):
    """The web container runs bootstrap at every start. With var/ not on a volume it
    made a new password for "admin", set it over the one the operator chose, printed
    it to the log, and made a demoted admin a superuser again (a hostile tester's pass)."""
    settings.VAR_DIR, settings.DEBUG = tmp_path, False
    for name in ("ADMIN_EMAIL", "ADMIN_PASSWORD", "ADMIN_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    assert not User.objects.exists() and "createsuperuser" in out.getvalue()

    # A password Django's validators refuse ("admin" for the admin) makes no login.
    monkeypatch.setenv("ADMIN_PASSWORD", "admin")
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    assert not User.objects.exists()
    assert "ADMIN_PASSWORD is refused" in out.getvalue() and "too similar" in out.getvalue()

    monkeypatch.setenv("ADMIN_PASSWORD", "Operator-chosen-Pw-2026!")
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("Operator-chosen-Pw-2026!")
    assert admin.email == "admin@localhost"  # where "Send a test to me" and its sign-in codes' link go
    assert "Operator-chosen" not in out.getvalue()

    admin.set_password("Changed-later-2026!")
    admin.is_superuser = False
    admin.save()
    monkeypatch.delenv("ADMIN_PASSWORD")
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    admin.refresh_from_db()
    assert admin.check_password("Changed-later-2026!") and not admin.is_superuser
    assert "left as it is" in out.getvalue() and not (tmp_path / "admin-password").exists()


def test_the_admins_today_links_open_the_newest_day_and_never_make_an_empty_edition(admin_client):
    response = admin_client.get("/admin/newsletter/edition/today/")
    assert response["Location"] == "/admin/newsletter/edition/"
    assert not Edition.objects.exists()
    assert admin_client.get("/admin/newsletter/paper/latest/")["Location"] == "/admin/newsletter/paper/"

    call_command("fetch_papers", file=str(SAMPLE_FILE), date=SAMPLE_DATE, stdout=StringIO())
    edition_url = admin_client.get("/admin/newsletter/edition/today/")["Location"]
    assert Edition.objects.get().date.isoformat() == "2025-11-24"
    assert edition_url == f"/admin/newsletter/edition/{Edition.objects.get().pk}/change/"
    assert admin_client.get("/admin/newsletter/paper/latest/")["Location"].endswith(
        "?trending_date=2025-11-24")


def test_after_an_upgrade_of_the_relevance_model_papers_are_re_scored_with_progress(settings, tmp_path, monkeypatch):
    """Migration 0013 cleared the vectors of the previous model: bootstrap (the
    first step of `make run` and of a deployment) gives the papers a digest can
    still pick today's vector and scores before the site serves, saying how far it
    is; older papers are left to the beat task, newest first, so a deployment with
    a year of papers does not wait half an hour for them."""
    import datetime as dt

    from django_celery_beat.models import PeriodicTask

    from newsletter import embeddings, tasks
    from newsletter.models import Paper, PaperTopic
    from tests.factories import PaperFactory

    settings.VAR_DIR = tmp_path
    day = dt.date(2026, 11, 30)
    recent = PaperFactory(title="Continual learning without catastrophic forgetting", trending_date=day,
                          abstract="Replay of old examples keeps what a model learned on earlier tasks.")
    old = PaperFactory(title="Experience replay against forgetting in continual learning",
                       trending_date=day - dt.timedelta(days=40),
                       abstract="A model trained on a sequence of tasks keeps the earlier ones by replaying examples.")
    oldest = PaperFactory(title="Elastic weight consolidation for lifelong learning",
                          trending_date=day - dt.timedelta(days=300),
                          abstract="Penalising changes to weights important for earlier tasks limits forgetting.")
    PaperTopic.objects.all().delete()
    Paper.objects.update(embedding=None)
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    assert "3 papers have no vector of the current relevance model" in out.getvalue()
    assert "1 of 1 papers re-scored" in out.getvalue()
    assert "The other 2 are re-scored in the background" in out.getvalue()
    recent.refresh_from_db()
    old.refresh_from_db()
    assert embeddings.vector_unpack(recent.embedding) is not None
    assert PaperTopic.objects.filter(paper=recent, topic__slug="continual-learning").exists()
    assert old.embedding is None and not PaperTopic.objects.filter(paper=old).exists()

    # The beat runs the rest (the schedule is among the defaults bootstrap creates),
    # a share a run, newest first.
    assert PeriodicTask.objects.filter(task="newsletter.tasks.papers_missing_rescore", enabled=True).exists()
    monkeypatch.setattr("newsletter.relevance.RESCORE_BACKGROUND_LIMIT", 1)
    assert tasks.papers_missing_rescore() == 1
    old.refresh_from_db()
    oldest.refresh_from_db()
    assert embeddings.vector_unpack(old.embedding) is not None and oldest.embedding is None
    assert PaperTopic.objects.filter(paper=old, topic__slug="continual-learning").exists()
    assert tasks.papers_missing_rescore() == 1
    oldest.refresh_from_db()
    assert embeddings.vector_unpack(oldest.embedding) is not None
    assert tasks.papers_missing_rescore() == 0  # nothing left: one cheap query a run

    # Only papers of the newest days without a vector: no word of a background share.
    Paper.objects.filter(pk=recent.pk).update(embedding=None)
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    assert "1 paper has no vector of the current relevance model" in out.getvalue()
    assert "1 of 1 papers re-scored" in out.getvalue()
    assert "in the background" not in out.getvalue()

    Paper.objects.filter(pk__in=[recent.pk, old.pk]).update(embedding=None)
    out = StringIO()
    call_command("bootstrap", "--no-sample", stdout=out)
    assert "The other 1 is re-scored in the background" in out.getvalue()


def test_expired_sign_ins_are_deleted_every_day_and_live_ones_kept(client, django_user_model):
    """Django keeps expired sessions until `clearsessions` runs, and nothing ran it:
    every editor's sign-in stayed a row for good (an operator's upgrade walkthrough).
    Bootstrap's schedules now run it daily."""
    import datetime as dt

    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import schedules_ensure
    from newsletter.tasks import sessions_clear

    schedules_ensure()
    task = PeriodicTask.objects.get(task="newsletter.tasks.sessions_clear")
    assert task.enabled and task.interval.schedule.run_every == dt.timedelta(days=1)

    client.force_login(django_user_model.objects.create_user("edith", password="pw", is_staff=True))
    live = Session.objects.get()
    Session.objects.create(session_key="x" * 32, session_data="", expire_date=timezone.now() - dt.timedelta(days=1))
    sessions_clear.delay().get(timeout=10)
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
    assert client.get("/admin/").status_code == 200  # still signed in


def test_personal_data_past_its_time_is_forgotten_every_day(db):
    """A data-protection reviewer's walkthrough: nothing was ever forgotten. An address
    anyone typed into the form, or an editor imported, that never confirmed stayed a
    reader "Pending confirmation" for good (its confirmation link dead after 7 days),
    and the ESP's events kept what they said of each reader (browser, system, country,
    links clicked) for good. Bootstrap's schedules now run, every day: readers who
    never confirmed within 30 days of their last confirmation email are deleted (not
    suppressed: they may subscribe later), and events' payloads are emptied after 30
    days (the events stay, for the figures)."""
    import datetime as dt

    from django.contrib.admin.models import ADDITION, LogEntry
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    from newsletter.models import DeliveryEvent
    from newsletter.schedules import schedules_ensure
    from newsletter.tasks import personal_data_forget
    from subscribers.models import Subscriber
    from subscribers.suppression import email_is_suppressed
    from tests.factories import SubscriberFactory

    schedules_ensure()
    task = PeriodicTask.objects.get(task="newsletter.tasks.personal_data_forget")
    assert task.enabled and task.interval.schedule.run_every == dt.timedelta(days=1)

    now = timezone.now()
    long_ago = now - dt.timedelta(days=31)
    typed = SubscriberFactory(email="typed.by.anyone@example.com", status="pending", confirmed_at=None)
    resent = SubscriberFactory(email="resent@example.com", status="pending", confirmed_at=None,
                               confirmation_sent_at=now - dt.timedelta(days=3))
    active = SubscriberFactory(email="active@example.com", status="active")
    left = SubscriberFactory(email="left@example.com", status="unsubscribed", confirmed_at=long_ago)
    Subscriber.objects.update(created_at=long_ago)
    Subscriber.objects.filter(pk=typed.pk).update(confirmation_sent_at=long_ago)
    LogEntry.objects.create(user=User.objects.create_user("edith"), action_flag=ADDITION,
                            content_type=ContentType.objects.get_for_model(Subscriber),
                            object_id=str(typed.pk), object_repr=str(typed))
    payload = {"UserAgent": "Firefox/133", "Geo": {"Country": "United Kingdom"}}
    old, recent = (DeliveryEvent.objects.create(event_id=f"e{n}", event_type="opened", payload=payload,
                                                occurred_at=now) for n in range(2))
    DeliveryEvent.objects.filter(pk=old.pk).update(created_at=long_ago)

    personal_data_forget.delay().get(timeout=10)

    assert set(Subscriber.objects.all()) == {resent, active, left}
    assert not email_is_suppressed("typed.by.anyone@example.com")  # they may subscribe later
    assert LogEntry.objects.get().object_repr == f"Reader {typed.pk} (erased)"
    assert {e.pk: e.payload for e in DeliveryEvent.objects.all()} == {old.pk: {}, recent.pk: payload}
