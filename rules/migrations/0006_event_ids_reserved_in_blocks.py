"""Event ids are handed out in blocks: ingest reserves the ids of a whole batch with one
``nextval`` (which advances by the block) instead of one call per event. Ids stay unique and
increasing; single inserts simply skip the rest of their block. PostgreSQL only (SQLite, the
demo's database, has no sequences and inserts row by row)."""

from django.db import migrations

BLOCK = 1024


def _set_increment(by: int):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = apps.get_model("rules", "Event")._meta.db_table
        schema_editor.execute(
            f"ALTER TABLE {schema_editor.quote_name(table)} ALTER COLUMN id SET INCREMENT BY {by}"
        )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0005_event_source_without_db_constraint"),
    ]

    operations = [
        migrations.RunPython(_set_increment(BLOCK), _set_increment(1)),
    ]
