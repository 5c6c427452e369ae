"""DeliveryEvent.email: the email an ESP's event is about, by the tag it was sent
with ("digest", a journey email's kind such as "confirm"), so the dashboard's digest
figures leave out the bounces and complaints of other emails (a confirmation to a
mistyped address counted as a digest's bounce) and show them apart. A column with a
database default (the release before still inserts events without it). Events
stored before it keep "", counted as before: their tags are only in each ESP's own
payload (emptied after 30 days, webhooks.EVENT_PAYLOAD_KEPT), and by then they have
left the dashboard's 30 days anyway."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0044_deliveryevent_of_test_send")]

    operations = [
        migrations.AddField(
            model_name="deliveryevent",
            name="email",
            field=models.CharField(blank=True, db_default="", default="", max_length=40),
        ),
    ]
