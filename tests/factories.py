"""All factories in one place (STYLE.md §12)."""

import datetime as dt

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
