"""All factories in one place (STYLE.md §12)."""

import datetime as dt
import io
import json
import zipfile

import factory
from django.utils.text import slugify

from newsletter.models import Feedback, Paper, PaperTopic, Topic
from subscribers.models import Subscriber


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Topic {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    description = factory.LazyAttribute(lambda o: f"Papers about {o.name.lower()}.")
    keywords = ""


class PaperFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Paper

    arxiv_id = factory.Sequence(lambda n: f"2511.{n:05d}")
    title = factory.Sequence(lambda n: f"A Study of Things, Part {n}")
    title_key = factory.LazyAttribute(lambda o: o.title.lower())
    abstract = "We study things and find that they work."
    authors = factory.LazyFunction(lambda: ["Ada Lovelace", "Alan Turing"])
    author_count = 2
    trending_date = dt.date(2025, 11, 24)
    published_on = dt.date(2025, 11, 20)
    upvotes = 10


class PaperTopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaperTopic

    paper = factory.SubFactory(PaperFactory)
    topic = factory.SubFactory(TopicFactory)
    score = 1.0


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@example.com")
    status = Subscriber.Status.ACTIVE


class FeedbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feedback

    subscriber = factory.SubFactory(SubscriberFactory)
    paper = factory.SubFactory(PaperFactory)
    vote = Feedback.Vote.MORE


def sign_in_device(user):
    """The authenticator app a staff member signs in with (config/two_factor.py),
    set up already."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, confirmed=True, defaults={"name": "Authenticator app"})
    return device


def sign_in_code(user) -> str:
    """A code that signs this staff member in once, with their app set up: a backup
    code made for the purpose (an app's code may not be used twice within its 30
    seconds, and a test may sign in twice)."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    sign_in_device(user)
    device, _ = StaticDevice.objects.get_or_create(user=user, name="Backup codes", defaults={"confirmed": True})
    return device.token_set.create(token=StaticToken.random_token()).token


def export_data(content: bytes) -> dict:
    """A reader's data from the file "Email me my data" attaches: a zip holding the
    JSON (subscribers/services.py, subscriber_export_archive)."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        [inner] = archive.namelist()
        return json.loads(archive.read(inner))
