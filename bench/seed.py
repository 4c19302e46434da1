"""Create the benchmark's visitors: one session and one empty conversation per chat.

Run by ``bench/run.py`` as ``python bench/seed.py N OUT.json`` with the app's environment
(the same database and cache settings as the server under test). Writes a JSON list of
``{"session": <sessionid cookie value>, "conversation": <uuid>}``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def seed(count: int) -> list[dict[str, str]]:
    import django

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()

    from django.contrib.sessions.backends.cached_db import SessionStore
    from django.db import transaction

    from chat.models import Conversation
    from chat.owners import ANON_SESSION_KEY

    chats = []
    with transaction.atomic():
        for _ in range(count):
            anon_id = "bench-" + secrets.token_urlsafe(18)
            session = SessionStore()
            session[ANON_SESSION_KEY] = anon_id
            session.save()
            conversation = Conversation.objects.create(owner_anon=anon_id)
            chats.append(
                {"session": str(session.session_key), "conversation": str(conversation.pk)}
            )
    return chats


def main() -> None:
    count, out = int(sys.argv[1]), Path(sys.argv[2])
    out.write_text(json.dumps(seed(count)))


if __name__ == "__main__":
    main()
