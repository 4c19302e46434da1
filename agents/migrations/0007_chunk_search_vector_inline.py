"""PostgreSQL keeps each chunk's ``search_vector`` in the row (compressed), not in the
TOAST table: ranking reads it for every match, and fetching it from TOAST took about twice
as long (``bench/retrieval.py``). Rows written before keep their storage until re-ingested.
"""

from django.db import migrations


def _storage(kind):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE agents_chunk ALTER COLUMN search_vector SET STORAGE {kind}"
            )

    return run


class Migration(migrations.Migration):
    dependencies = [("agents", "0006_knowledge_audience_tools")]

    operations = [migrations.RunPython(_storage("MAIN"), _storage("EXTENDED"))]
