"""ATT&CK tactics and techniques now live in ``rules`` (see ``rules/0008_attack_techniques``,
which renamed their tables): alerts and playbooks point at ``rules.Technique`` and the old
models leave triage's state. Nothing changes in the database: the link table
``triage_alert_techniques`` and the column ``triage_playbook.technique_id`` stay as they are,
their foreign keys already following the renamed table.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0008_attack_techniques"),
        ("triage", "0007_alert_facts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="alert",
                    name="techniques",
                    field=models.ManyToManyField(
                        blank=True, related_name="alerts", to="rules.technique"
                    ),
                ),
                migrations.AlterField(
                    model_name="playbook",
                    name="technique",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="playbook",
                        to="rules.technique",
                    ),
                ),
                migrations.DeleteModel(name="Technique"),
                migrations.DeleteModel(name="Tactic"),
            ],
        ),
    ]
