"""Create the role groups and make the alert history append-only in the database itself."""

from django.db import migrations

ROLES = ("l1", "t2", "manager")

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION triage_alertevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'triage_alertevent is append-only: %% is not allowed', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER triage_alertevent_append_only
    BEFORE UPDATE OR DELETE ON triage_alertevent
    FOR EACH ROW EXECUTE FUNCTION triage_alertevent_append_only();
"""

DROP_APPEND_ONLY_SQL = """
DROP TRIGGER IF EXISTS triage_alertevent_append_only ON triage_alertevent;
DROP FUNCTION IF EXISTS triage_alertevent_append_only();
"""


def create_groups(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    for name in ROLES:
        group_model.objects.get_or_create(name=name)


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL, params=())


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_APPEND_ONLY_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("triage", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_groups, migrations.RunPython.noop),
        migrations.RunPython(add_trigger, drop_trigger),
    ]
