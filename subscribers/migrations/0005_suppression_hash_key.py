"""The suppression list moves from SECRET_KEY to its own key, SUPPRESSION_HASH_KEY
(config/settings.py), so that rotating SECRET_KEY no longer empties it.

Until now every hash was keyed with SECRET_KEY. When the two keys are the same (an
existing deployment that set SUPPRESSION_HASH_KEY to its SECRET_KEY, as the
settings' error message says), every row is valid as it is and nothing changes.
Otherwise each row is re-keyed from the address it was made from, found among the
subscribers (the hash of their address under SECRET_KEY, in today's and the
earlier compared form: plain lower-case, before domains were IDNA-encoded); the
tracking events' recipient hashes likewise. A row whose address nobody holds any
more (an erased subscriber) cannot be re-keyed: the migration then stops and
changes nothing, rather than leave an address mailable again."""

import hashlib

from django.conf import settings
from django.db import migrations

from subscribers.suppression import email_hash_with_key


def _legacy_hashes(email: str, key: str) -> set[str]:
    plain = email.strip().lower()
    old = hashlib.blake2b(plain.encode(), key=key.encode()[:64], digest_size=32).hexdigest()
    return {old, email_hash_with_key(email, key=key)}


def rekey(apps, schema_editor):
    old_key, new_key = settings.SECRET_KEY, settings.SUPPRESSION_HASH_KEY
    if old_key == new_key:
        return
    Subscriber = apps.get_model("subscribers", "Subscriber")
    Suppression = apps.get_model("subscribers", "Suppression")
    DeliveryEvent = apps.get_model("newsletter", "DeliveryEvent")
    suppressed = set(Suppression.objects.values_list("email_hash", flat=True))
    events = set(
        DeliveryEvent.objects.exclude(recipient_hash="").values_list("recipient_hash", flat=True)
    )
    if not suppressed and not events:
        return
    new_of: dict[str, str] = {}
    for email in Subscriber.objects.values_list("email", flat=True).iterator():
        new = email_hash_with_key(email, key=new_key)
        for old in _legacy_hashes(email, old_key):
            if old in suppressed or old in events:
                new_of[old] = new
    # Rows already under the new key (a list built after SUPPRESSION_HASH_KEY was
    # set, then migrated again) are left alone.
    unknown = suppressed - set(new_of) - {
        email_hash_with_key(e, key=new_key)
        for e in Subscriber.objects.values_list("email", flat=True).iterator()
    }
    if unknown:
        raise RuntimeError(
            f"{len(unknown)} suppressed address(es) belong to no subscriber any more (erased), "
            "so their hashes cannot be re-keyed from SECRET_KEY to SUPPRESSION_HASH_KEY. "
            "Nothing was changed. Set SUPPRESSION_HASH_KEY to the SECRET_KEY this list was "
            "built with (it keeps every row valid) and migrate again."
        )
    for old, new in new_of.items():
        if old in suppressed:
            # One address may have rows in both legacy forms: keep one (unique hash).
            if Suppression.objects.filter(email_hash=new).exists():
                Suppression.objects.filter(email_hash=old).delete()
            else:
                Suppression.objects.filter(email_hash=old).update(email_hash=new)
        if old in events:
            DeliveryEvent.objects.filter(recipient_hash=old).update(recipient_hash=new)


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ("subscribers", "0004_consent_source_esp"),
        ("newsletter", "0006_delivery_provider_message_id_index"),
    ]

    operations = [migrations.RunPython(rekey, migrations.RunPython.noop)]
