"""ATT&CK tactics and techniques move from ``triage`` to ``rules``, rows and ids intact.

Techniques describe rules (``[rule.threat]``), so with them here every foreign key between the
apps points one way (triage → rules). No row is copied: the tables are renamed
(``triage_tactic`` → ``rules_tactic``, ``triage_technique`` → ``rules_technique``) and the
foreign keys that point at them (technique links of rules and alerts, playbooks, a technique's
tactic and parent) follow the rename on PostgreSQL and SQLite alike. The models' state is
created here; triage's state drops them in ``triage/0008_techniques_moved_to_rules``.

Content types (and so permissions and admin log entries) of the two models move with them.
"""

import django.db.models.deletion
from django.db import migrations, models

# (old table, new table), in the order they are renamed forwards.
TABLES = (("triage_tactic", "rules_tactic"), ("triage_technique", "rules_technique"))
MODELS = ("tactic", "technique")


def _rename_tables(pairs):
    def rename(apps, schema_editor):
        # The schema editor's own rename, as AlterModelTable does it: quoting, and statements
        # still deferred in this migration are pointed at the new name.
        for old, new in pairs:
            schema_editor.alter_db_table(None, old, new)

    return rename


def _move_content_types(old_app, new_app):
    def move(apps, schema_editor):
        content_type = apps.get_model("contenttypes", "ContentType")
        db = schema_editor.connection.alias
        for model in MODELS:
            # A content type already made for the new home (a database migrated back and
            # forth) wins; the old one is then left alone rather than merged.
            if content_type.objects.using(db).filter(app_label=new_app, model=model).exists():
                continue
            content_type.objects.using(db).filter(app_label=old_app, model=model).update(
                app_label=new_app
            )

    return move


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("rules", "0007_event_host_id_time_index"),
        # Every triage migration that creates a foreign key to the old tables runs first.
        ("triage", "0007_alert_facts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Tactic",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("external_id", models.CharField(max_length=16, unique=True)),
                        ("name", models.CharField(max_length=100)),
                        ("description", models.TextField(blank=True)),
                        ("url", models.URLField(blank=True)),
                    ],
                ),
                migrations.CreateModel(
                    name="Technique",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("external_id", models.CharField(max_length=16, unique=True)),
                        ("name", models.CharField(max_length=200)),
                        ("description", models.TextField(blank=True)),
                        ("url", models.URLField(blank=True)),
                        (
                            "parent",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="subtechniques",
                                to="rules.technique",
                            ),
                        ),
                        (
                            "tactic",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="techniques",
                                to="rules.tactic",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["external_id"],
                    },
                ),
                # Same link table (rules_detectionrule_techniques) and column (technique_id);
                # only the model it names changes.
                migrations.AlterField(
                    model_name="detectionrule",
                    name="techniques",
                    field=models.ManyToManyField(
                        blank=True, related_name="rules", to="rules.technique"
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(
                    _rename_tables(TABLES),
                    _rename_tables([(new, old) for old, new in reversed(TABLES)]),
                ),
            ],
        ),
        migrations.RunPython(
            _move_content_types("triage", "rules"), _move_content_types("rules", "triage")
        ),
    ]
