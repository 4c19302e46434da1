"""Create the benchmark's visitors: one session and one empty conversation per chat.

Run by ``bench/run.py`` as ``python bench/seed.py N OUT.json [--titled K]`` with the app's
environment (the same database and cache settings as the server under test). Writes a JSON
list of ``{"session": <sessionid cookie value>, "conversation": <uuid>}``. With
``--titled K`` the first K conversations already have a title (``TITLE``), so their first
exchange makes no title (no model call of its own).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
TITLE = "Bench pool warm-up"


def seed(count: int, titled: int = 0) -> list[dict[str, str]]:
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
        for n in range(count):
            anon_id = "bench-" + secrets.token_urlsafe(18)
            session = SessionStore()
            session[ANON_SESSION_KEY] = anon_id
            session.save()
            conversation = Conversation.objects.create(
                owner_anon=anon_id, title=TITLE if n < titled else ""
            )
            chats.append(
                {"session": str(session.session_key), "conversation": str(conversation.pk)}
            )
    return chats


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/seed.py")
    parser.add_argument("count", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--titled", type=int, default=0, metavar="K")
    args = parser.parse_args()
    args.out.write_text(json.dumps(seed(args.count, args.titled)))


if __name__ == "__main__":
    main()
