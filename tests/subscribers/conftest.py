import pytest
from django.core import mail
from django.test import Client

from tests.factories import TopicFactory


@pytest.fixture
def topics(db):
    return [
        TopicFactory(name="Language models", slug="llm-test"),
        TopicFactory(name="Computer vision", slug="vision-test"),
    ]


@pytest.fixture
def submit(client, topics, django_capture_on_commit_callbacks):
    """POST the subscribe form like a browser; the emails it queues after commit
    are sent (eagerly) before it returns."""

    def post(email="reader@example.com", *, client=client, ip="203.0.113.7", meta=None, **overrides):
        data = {
            "email": email,
            "topics": [topics[0].pk],
            "keywords": "",
            "exclude_keywords": "",
            "frequency": "daily",
            "weekday": "0",
            "delivery_hour": "7",
            "time_zone": "Europe/Berlin",
            "consent": "on",
            "website": "",
            **overrides,
        }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/subscribe/", data, REMOTE_ADDR=ip, HTTP_USER_AGENT="pytest-browser/1.0", **(meta or {})
            )

    return post


@pytest.fixture
def outbox():
    return mail.outbox


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)
