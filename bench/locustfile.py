"""The visitors of `make loadtest` (bench/loadtest.py runs one class per scenario).

FastHttpUser (geventhttpclient): the load generator shares the machine's two cores
with gunicorn, so it must cost little per request. Every visitor asks for gzip as a
browser does."""

from __future__ import annotations

import os
import re

from locust import FastHttpUser, between, constant_throughput, events, task

DAY = os.environ.get("LOADTEST_DAY", "2025-11-24")
BROWSER_HEADERS = {"Accept-Encoding": "gzip, deflate, br", "Accept": "text/html,*/*"}
# Requests per second each home-page visitor makes (HomeCrowd): 200 of them offer
# about 800 a second, a launch-day spike on one page.
HOME_RATE_PER_USER = float(os.environ.get("LOADTEST_HOME_RATE", "4"))


class Reader(FastHttpUser):
    """A reader browsing: the home page, a day page, the editions, one edition, the
    feed, and the health check a load balancer makes; about one page a second."""

    wait_time = between(0.5, 1.5)

    @task(4)
    def home(self):
        self.client.get("/", headers=BROWSER_HEADERS)

    @task(2)
    def day(self):
        self.client.get(f"/papers/{DAY}/", headers=BROWSER_HEADERS, name="/papers/[day]/")

    @task(1)
    def editions(self):
        self.client.get("/editions/", headers=BROWSER_HEADERS)

    @task(1)
    def edition(self):
        self.client.get(f"/editions/{DAY}/", headers=BROWSER_HEADERS, name="/editions/[day]/")

    @task(1)
    def feed(self):
        self.client.get("/feeds/papers.atom", headers=BROWSER_HEADERS)

    @task(1)
    def health(self):
        # 503 until beat has run once; what is measured here is its cost.
        with self.client.get("/health/", catch_response=True) as response:
            if response.status_code in (200, 503):
                response.success()


class HomeCrowd(FastHttpUser):
    """Everyone arriving on the home page at once."""

    wait_time = constant_throughput(HOME_RATE_PER_USER)

    @task
    def home(self):
        self.client.get("/", headers=BROWSER_HEADERS)


CSRF_COOKIE = re.compile(r"((?:__Host-)?csrftoken)=([^;]+)")  # __Host- over https settings
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOPIC_FIELD = re.compile(r'name="topics" value="(\d+)"')


# 429s this process was answered: bench/loadtest.py reads them from the file named by
# LOADTEST_REFUSED_FILE (gunicorn writes no access log to count them in).
refused = []


@events.quitting.add_listener
def refused_write(**kwargs):
    path = os.environ.get("LOADTEST_REFUSED_FILE")
    if path:
        with open(path, "a") as out:  # one line per locust process
            out.write(f"{len(refused)}\n")


class Subscriber(FastHttpUser):
    """People subscribing from one address (one IP): the form, then the POST. Past
    the per-IP limit the POST answers 429, which is the limit holding, not an error."""

    wait_time = constant_throughput(1)

    @task
    def subscribe(self):
        form = self.client.get("/subscribe/?email=someone%40example.org", headers=BROWSER_HEADERS,
                               name="/subscribe/ (form)")
        cookie = CSRF_COOKIE.search(form.headers.get("Set-Cookie", "") or "")
        token = CSRF_FIELD.search(form.text or "")
        topic = TOPIC_FIELD.search(form.text or "")
        if not (cookie and token and topic):
            form.failure("the form has no CSRF cookie, token or topic")
            return
        data = {
            "csrfmiddlewaretoken": token.group(1), "email": f"load-{id(self)}@example.org",
            "topics": topic.group(1), "frequency": "daily", "weekday": "0",
            "delivery_hour": "7", "time_zone": "UTC", "consent": "on",
        }
        # The production CSRF cookie is Secure; over loopback http it is sent by hand.
        headers = {**BROWSER_HEADERS, "Cookie": f"{cookie.group(1)}={cookie.group(2)}"}
        with self.client.post("/subscribe/", data=data, headers=headers, allow_redirects=False,
                              catch_response=True, name="/subscribe/ (POST)") as response:
            if response.status_code in (303, 429):
                response.success()
                if response.status_code == 429:
                    refused.append(1)
            else:
                response.failure(f"status {response.status_code}")
