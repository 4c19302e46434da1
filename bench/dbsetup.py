"""The database of the write-cost scripts (``write_cost.py``, ``record_cost.py``): the
URL given, or a temporary SQLite file; Django set up on it and the schema migrated."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def migrated_database(database_url: str, prefix: str) -> tempfile.TemporaryDirectory[str]:
    """Set Django up on ``database_url`` (a temporary SQLite file without one, in the
    directory returned: clean it up at the end) and migrate it. No Redis: the scripts
    time the database alone."""
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    os.environ.pop("REDIS_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["ORION_SQLITE_PATH"] = str(Path(tmp.name) / "db.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return tmp
