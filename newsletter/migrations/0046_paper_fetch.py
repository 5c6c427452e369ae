"""PaperFetch: the morning fetch's last attempt per Daily Papers date (outcome,
counts, the problems of the list, when it is tried again), so editors see on the
edition page and the dashboard why a day has no papers. A new table: nothing to
backfill, and the release before never reads it."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('newsletter', '0045_deliveryevent_email'),
    ]

    operations = [
        migrations.CreateModel(
            name='PaperFetch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('date', models.DateField(unique=True)),
                ('attempted_at', models.DateTimeField(help_text='The last attempt.')),
                ('attempts', models.PositiveIntegerField(default=1)),
                ('outcome', models.CharField(choices=[('imported', 'Imported'), ('unavailable', 'Hugging Face unavailable'), ('refused', 'Refused'), ('empty', 'Nothing listed')], max_length=16)),
                ('created', models.PositiveIntegerField(default=0)),
                ('updated', models.PositiveIntegerField(default=0)),
                ('problems', models.JSONField(blank=True, default=list)),
                ('problems_count', models.PositiveIntegerField(default=0)),
                ('message', models.TextField(blank=True, help_text='What the fetch said: the error, or its summary.')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('tries_until', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=models.Q(('outcome__in', ['imported', 'unavailable', 'refused', 'empty'])), name='paper_fetch_outcome_valid')],
            },
        ),
    ]
