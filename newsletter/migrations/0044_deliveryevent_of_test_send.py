"""DeliveryEvent.of_test_send: the ESP's events about an editor's test send of a
digest (curation.edition_test_send), kept out of the dashboard's bounces and
complaints. A column with a database default (the release before still inserts
events without it). Events stored before it are left unmarked: telling them apart
would read each ESP's own payload (emptied after 30 days, webhooks.EVENT_PAYLOAD_KEPT),
and by then they have left the dashboard's 30 days anyway."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0043_editionpaper_pinned")]

    operations = [
        migrations.AddField(
            model_name="deliveryevent",
            name="of_test_send",
            field=models.BooleanField(db_default=False, default=False),
        ),
    ]
