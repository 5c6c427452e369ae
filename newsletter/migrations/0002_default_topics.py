from django.db import migrations


class Migration(migrations.Migration):
    """Placeholder: the default topics data migration is written here (helper B)."""

    dependencies = [("newsletter", "0001_initial")]
    operations = []
