# "triage" named an app, a status and a model: the model (an alert's run of a playbook, with
# its answers and checklist) is now PlaybookRun. Tables and columns are renamed in place; the
# constraint names stay as they are in the database.
from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0008_techniques_moved_to_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel("Triage", "PlaybookRun"),
        migrations.RenameModel("TriageAnswer", "PlaybookAnswer"),
        migrations.RemoveConstraint(model_name="playbookanswer", name="triageanswer_unique"),
        migrations.RemoveConstraint(model_name="checklistentry", name="checklistentry_unique"),
        migrations.RenameField("playbookanswer", "triage", "run"),
        migrations.RenameField("checklistentry", "triage", "run"),
        migrations.AddConstraint(
            model_name="playbookanswer",
            constraint=models.UniqueConstraint(
                fields=("run", "question_id"), name="triageanswer_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="checklistentry",
            constraint=models.UniqueConstraint(
                fields=("run", "section", "item_id"), name="checklistentry_unique"
            ),
        ),
        migrations.AlterField(
            model_name="playbookrun",
            name="alert",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="playbook_run",
                to="triage.alert",
            ),
        ),
        migrations.AlterField(
            model_name="playbookrun",
            name="playbook_version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="runs",
                to="triage.playbookversion",
            ),
        ),
        migrations.AlterField(
            model_name="playbookrun",
            name="l1_analyst",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="l1_playbook_runs",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="playbookrun",
            name="t2_analyst",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="t2_playbook_runs",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
