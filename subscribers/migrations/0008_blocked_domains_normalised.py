"""Blocked domains stored as editors typed them ("Spam-Domain.COM", "@junkmail.org")
never matched an address's domain: each is stored again in the form addresses have
(subscribers/addresses.py, domain_normalise); one that reads as another already
listed is dropped, and one that is no domain is left as it was."""

from django.core.exceptions import ValidationError
from django.db import migrations


def domains_normalise(apps, schema_editor):
    from subscribers.addresses import domain_normalise

    BlockedDomain = apps.get_model("subscribers", "BlockedDomain")
    seen = set(BlockedDomain.objects.values_list("domain", flat=True))
    for row in BlockedDomain.objects.order_by("created_at", "pk"):
        try:
            domain = domain_normalise(row.domain)
        except ValidationError:
            continue
        if domain == row.domain:
            continue
        if domain in seen:
            row.delete()
        else:
            seen.add(domain)
            row.domain = domain
            row.save(update_fields=["domain"])


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0007_owed_email")]
    operations = [migrations.RunPython(domains_normalise, migrations.RunPython.noop)]
