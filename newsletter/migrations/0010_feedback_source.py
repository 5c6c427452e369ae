from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('newsletter', '0009_delivery_lease'),
    ]

    operations = [
        migrations.AddField(
            model_name='feedback',
            name='source',
            field=models.CharField(choices=[('vote', 'Voted'), ('click', 'Opened from the digest')], default='vote', max_length=5),
        ),
        migrations.AddConstraint(
            model_name='feedback',
            constraint=models.CheckConstraint(condition=models.Q(('source', 'vote'), ('vote', 1), _connector='OR'), name='feedback_click_is_more'),
        ),
    ]
