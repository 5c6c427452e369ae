"""Which address a request comes from (subscribers/throttling.py, client_ip): the
socket's REMOTE_ADDR unless a proxy is configured, never a value a visitor wrote.
Through the subscribe form, where the address is rate limited and stored on the
consent record."""

import time

import pytest
from django.test import override_settings

from subscribers.models import ConsentRecord
from tests.compose import compose_app_setting

pytestmark = pytest.mark.django_db

# What the reverse proxy of docker-compose.yml (Caddy) looks like to the app.
PROXY = "172.18.0.5"
CLIENT = "203.0.113.9"


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=3, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100)
def test_by_default_rotating_x_forwarded_for_does_not_escape_the_limit(submit, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0  # the default: no proxy trusted
    statuses = [submit(f"p{n}@example.com", ip=CLIENT,
                       meta={"HTTP_X_FORWARDED_FOR": f"198.51.100.{n}"}).status_code
                for n in range(4)]
    assert statuses == [303, 303, 303, 429]
    assert set(ConsentRecord.objects.values_list("ip_address", flat=True)) == {CLIENT}


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=3, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100)
def test_a_flood_from_one_client_logs_its_ip_once_and_no_readers_address(submit, caplog):
    """README (Personal data) said logs carry "never addresses", and the limit's
    warning names the client's IP address: it says now which warnings carry one
    (a limit tripping, a failed admin sign-in) and that email addresses never appear."""
    import logging

    caplog.set_level(logging.DEBUG)
    statuses = [submit(f"ada.lovelace{n}@example.org", ip=CLIENT).status_code for n in range(6)]
    assert statuses == [303, 303, 303, 429, 429, 429]
    lines = [r.getMessage() for r in caplog.records]
    limit_line = (f"Rate limit subscribe:ip:{CLIENT}: over 3 in 600 s; refusing until the window ends "
                  "(further refusals are counted, not logged).")
    assert [line for line in lines if CLIENT in line] == [limit_line]
    assert not [line for line in lines if "ada.lovelace" in line or "@example.org" in line]


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=3, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100)
def test_naming_someone_elses_address_does_not_lock_them_out(submit):
    for n in range(5):
        submit(f"a{n}@example.com", ip="192.0.2.66", meta={"HTTP_X_FORWARDED_FOR": CLIENT})
    assert submit("victim@example.com", ip=CLIENT).status_code == 303


@pytest.mark.parametrize("proxies", [0, 1])
@pytest.mark.parametrize("forwarded", ["not-an-ip", "999.1.1.1", "example.com", "1.2.3.4:80", ""])
def test_a_forwarded_value_that_is_not_an_ip_falls_back_to_the_socket_address(
    submit, settings, proxies, forwarded,
):
    settings.TRUSTED_PROXY_COUNT = proxies
    response = submit(ip=PROXY, meta={"HTTP_X_FORWARDED_FOR": forwarded})
    assert response.status_code == 303
    assert ConsentRecord.objects.get().ip_address == PROXY


# Behind Caddy alone (docker-compose.yml), and behind a CDN in front of it: the CDN
# appends the client's address, Caddy the CDN edge's.
@pytest.mark.parametrize("appended", ["", ", 192.0.2.200"], ids=["one proxy", "two proxies"])
def test_behind_trusted_proxies_forged_entries_count_for_the_real_client(submit, settings, appended):
    """Each trusted proxy appends the address it received from; whatever the visitor
    put before them is ignored, so rotating it changes nothing. Behind two, the
    client is the second entry from the right, not the CDN edge (every reader behind
    one edge would share one limit and one stored address)."""
    settings.TRUSTED_PROXY_COUNT = 1 + appended.count(",")
    settings.SUBSCRIBE_RATE_LIMIT_PER_IP, settings.SUBSCRIBE_RATE_LIMIT_PER_ADDRESS = 3, 100
    statuses = [submit(f"p{n}@example.com", ip=PROXY,
                       meta={"HTTP_X_FORWARDED_FOR": f"10.0.0.{n}, {CLIENT}{appended}"}).status_code
                for n in range(4)]
    assert statuses == [303, 303, 303, 429]
    assert set(ConsentRecord.objects.values_list("ip_address", flat=True)) == {CLIENT}
    # Another client behind the same proxies is not affected.
    assert submit("other@example.com", ip=PROXY,
                  meta={"HTTP_X_FORWARDED_FOR": f"198.51.100.20{appended}"}).status_code == 303
    assert ConsentRecord.objects.filter(ip_address="198.51.100.20").exists()


@pytest.mark.parametrize("forged", ["198.51.100.{n}", "not-an-ip-{n}", "::1", ""])
def test_with_the_compose_configuration_no_forwarded_value_raises_the_limit(submit, settings, forged):
    """TRUSTED_PROXY_COUNT as docker-compose.yml sets it. Caddy replaces the header
    with the address it received from (then nothing the visitor wrote arrives); a
    proxy that appends keeps the visitor's values on the left, sent here."""
    settings.TRUSTED_PROXY_COUNT = int(compose_app_setting("TRUSTED_PROXY_COUNT"))
    settings.SUBSCRIBE_RATE_LIMIT_PER_IP, settings.SUBSCRIBE_RATE_LIMIT_PER_ADDRESS = 3, 100
    statuses = [submit(f"p{n}@example.com", ip=PROXY,
                       meta={"HTTP_X_FORWARDED_FOR": f"{forged.format(n=n)}, {CLIENT}"}).status_code
                for n in range(5)]
    assert statuses == [303, 303, 303, 429, 429]
    assert set(ConsentRecord.objects.values_list("ip_address", flat=True)) == {CLIENT}


def test_with_the_compose_configuration_not_an_ip_is_a_normal_answer(submit, settings):
    settings.TRUSTED_PROXY_COUNT = int(compose_app_setting("TRUSTED_PROXY_COUNT"))
    for forwarded in ["not-an-ip", f"{CLIENT}, not-an-ip", "not-an-ip, not-an-ip"]:
        assert submit(f"{len(forwarded)}@example.com", ip=PROXY,
                      meta={"HTTP_X_FORWARDED_FOR": forwarded}).status_code == 303
    assert set(ConsentRecord.objects.values_list("ip_address", flat=True)) == {PROXY}


def test_x_forwarded_proto_is_not_trusted_without_a_proxy(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/subscribe/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301 and response["Location"].startswith("https://")


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=3, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100)
def test_an_ipv6_client_cannot_escape_the_limit_by_walking_its_64_addresses(submit):
    """A provider gives an IPv6 client a whole /64: each request from a new address in
    it still counts for that client. A neighbour on another /64 is not affected."""
    statuses = [submit(f"v{n}@example.com", ip=f"2001:db8:aa:1::{n:x}").status_code for n in range(1, 5)]
    assert statuses == [303, 303, 303, 429]
    assert submit("next@example.com", ip="2001:db8:aa:2::1").status_code == 303
    # The consent record keeps the address the request came from, not the network.
    assert ConsentRecord.objects.filter(ip_address="2001:db8:aa:1::3").exists()


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=2, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100)
def test_an_ipv4_address_written_as_ipv6_is_the_same_client(submit):
    """A dual-stack socket reports an IPv4 client as ::ffff:203.0.113.9."""
    assert submit("a@example.com", ip=CLIENT).status_code == 303
    assert submit("b@example.com", ip=f"::ffff:{CLIENT}").status_code == 303
    assert submit("c@example.com", ip=f"::ffff:{CLIENT}").status_code == 429
    assert set(ConsentRecord.objects.values_list("ip_address", flat=True)) == {CLIENT}


@override_settings(
    SUBSCRIBE_RATE_LIMIT_PER_IP=1,
    SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100,
    SUBSCRIBE_RATE_WINDOW_SECONDS=1,
)
def test_a_client_stopped_at_the_limit_may_subscribe_again_once_the_window_has_passed(submit):
    """The 429 page says to try again in a while: the limit counts hits of one
    window, then the client starts afresh (here a window of one second)."""
    assert submit("a@example.com", ip=CLIENT).status_code == 303
    assert submit("b@example.com", ip=CLIENT).status_code == 429
    time.sleep(1.2)
    assert submit("c@example.com", ip=CLIENT).status_code == 303
