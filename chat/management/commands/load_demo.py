from __future__ import annotations

import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chat.models import Conversation, Message

DEMO_TITLE = "Welcome to Orion"
DEMO_EXCHANGE = [
    ("user", "What can you do?"),
    (
        "assistant",
        "I answer questions and **stream** my replies as I write them.\n\n"
        "- Start a new conversation from the sidebar\n"
        "- Press *Enter* to send, *Shift+Enter* for a new line\n"
        "- Failed answers keep their text and offer **Retry**",
    ),
]


class Command(BaseCommand):
    help = (
        "Local runs only: create the 'admin' account with a random password (printed and "
        "kept in .run/admin-credentials.txt) and a demo conversation. Safe to run again."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=8000,
            help="The port the local server listens on (`make run` passes its PORT), for the "
            "admin address printed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("load_demo is for local runs (DJANGO_DEBUG on) only.")
        credentials = Path(settings.BASE_DIR) / ".run" / "admin-credentials.txt"
        User = get_user_model()  # noqa: N806
        admin = User.objects.filter(username="admin").first()
        if admin is None or not credentials.exists():
            password = secrets.token_urlsafe(12)
            if admin is None:
                admin = User.objects.create_superuser("admin", "admin@localhost", password)
            else:
                admin.set_password(password)
                admin.save(update_fields=["password"])
            credentials.parent.mkdir(exist_ok=True)
            credentials.write_text(f"username: admin\npassword: {password}\n")
            credentials.chmod(0o600)
        if not Conversation.objects.filter(owner_user=admin, title=DEMO_TITLE).exists():
            conversation = Conversation.objects.create(owner_user=admin, title=DEMO_TITLE)
            for role, content in DEMO_EXCHANGE:
                Message.objects.create(conversation=conversation, role=role, content=content)
        self.stdout.write(
            f"Admin login for this machine: http://127.0.0.1:{options['port']}/admin/ "
            f"(credentials in {credentials.relative_to(settings.BASE_DIR)}):\n"
            + credentials.read_text()
        )
