"""`python -m bench.form_timing`'s readers and visitor against the site on a live
server: each address is in the state the benchmark names it by, and each timed post
is the form's real answer (303 to "check your inbox"), not a CSRF refusal or a rate
limit's page that would time an error instead. No timing is asserted: the figures
are for docs/benchmarks.md."""

import pytest

from bench import form_timing
from subscribers.models import Subscriber
from subscribers.suppression import email_is_suppressed
from tests.factories import TopicFactory


@pytest.mark.django_db(transaction=True)
def test_the_form_timing_benchmark_posts_each_form_as_a_browser_for_every_state(live_server, settings, broker_own):
    settings.SUBSCRIBE_RATE_LIMIT_PER_IP = settings.SUBSCRIBE_RATE_LIMIT_PER_ADDRESS = 10**6
    TopicFactory()  # a transactional test before this one may have emptied the default topics
    addresses = form_timing.readers_create(run="t")

    assert list(addresses) == list(form_timing.STATES)
    readers = {s.email: s for s in Subscriber.objects.all()}
    assert addresses["unknown"] not in readers
    for state in ("active", "paused", "unsubscribed", "pending"):
        assert readers[addresses[state]].status_read == state, state
    assert readers[addresses["pending, mailed just now"]].confirmation_sent_at is not None
    assert email_is_suppressed(addresses["suppressed (complaint)"])

    browser = form_timing.Browser(int(live_server.url.rsplit(":", 1)[1]))
    for form, path in form_timing.FORMS.items():
        token = browser.form_token(path)
        topic = readers[addresses["active"]].topics.get().pk
        for state, email in addresses.items():
            _, status = browser.post(path, form_timing.form_fields(form, email, token, topic))
            assert status == 303, (form, state)
    # Without the cookie the form set, the same post is refused: the visitor's
    # cookies are what made the posts above count.
    browser.cookies.clear()
    assert browser.post("/subscription/", {"email": addresses["active"], "csrfmiddlewaretoken": token})[1] == 403
