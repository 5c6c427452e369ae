"""`python -m bench.admin_scale` at a tiny size on the test database: it loads its
readers, editions, ledger, events and history lines by SQL, opens every admin page
as an editor and as a superuser, and prints the table. No timing is asserted: the
figures are for docs/benchmarks.md, not for tests."""

import pytest

from bench import admin_scale
from newsletter.models import Delivery, DeliveryEvent, Edition
from subscribers.models import Subscriber


@pytest.mark.postgresql
@pytest.mark.django_db
def test_the_admin_benchmark_loads_its_data_and_times_every_page_for_both_users():
    lines: list[str] = []

    rows = admin_scale.run(readers=200, editions=3, load=True, repeat=1, write=lines.append)

    assert Subscriber.objects.count() == 200 and Edition.objects.count() == 3
    assert Delivery.objects.count() == 3 * round(200 * admin_scale.DELIVERY_SHARE)
    assert DeliveryEvent.objects.filter(event_type="delivered").exists()
    # Every page opened, by whom it is for, and none refused or failed.
    assert {row["status"] for row in rows} == {200}, [(r["page"], r["who"], r["status"]) for r in rows]
    pages = {row["page"] for row in rows}
    assert {"dashboard", "edition's page", "deliveries: event bounced", "deliveries: carried paper",
            "deliveries: search part of an address"} <= pages
    assert {("users", "superuser")} <= {(row["page"], row["who"]) for row in rows}
    assert not any(row["page"] == "users" and row["who"] == "editor" for row in rows)
    assert all(row["queries"] > 0 and row["ms"] > 0 for row in rows)
    assert any(line.startswith("  loaded deliveries: 501 rows") for line in lines), lines
    assert any(line.startswith("  dashboard (editor): ") for line in lines)

    table = admin_scale.report_table(rows)
    assert table.startswith("| page | editor ms | queries |")
    assert "| users | — | — | — | " in table


@pytest.mark.postgresql
@pytest.mark.django_db
def test_the_admin_benchmark_refuses_a_database_that_has_readers():
    Subscriber.objects.create(email="someone@example.org")
    with pytest.raises(SystemExit, match="has readers already"):
        admin_scale.run(readers=10, editions=1, load=True, repeat=1, write=lambda line: None)
