"""Time finishing a burst of replies: one prepared ``UPDATE`` for all against one per reply.

    .venv/bin/python bench/write_cost.py [--database-url postgres://...] [--rounds 10]

Without ``--database-url`` it uses a temporary SQLite file. It migrates the database,
makes 100 conversations with a pending reply each, then, alternately, finishes all 100
with ``chat.services.bulk.messages_update`` (what ``messages_finish`` does) and with an
``update()`` per reply, each in one transaction, and prints the medians. The database
named in the URL is written to: give it one of its own.
"""

from __future__ import annotations

import argparse
import statistics
import time

from dbsetup import migrated_database

REPLY = "word " * 200


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--replies", type=int, default=100)
    args = parser.parse_args()
    tmp = migrated_database(args.database_url, "orion-write-cost-")
    from django.db import transaction
    from django.utils import timezone

    from chat.models import Conversation, Message
    from chat.services.bulk import messages_update
    from chat.services.replies import FINISH_FIELDS

    replies = [
        Message.objects.create(
            conversation=Conversation.objects.create(owner_anon=f"bench-{n}"),
            role="assistant",
            status="pending",
        )
        for n in range(args.replies)
    ]

    def finished() -> tuple[object, ...]:  # FINISH_FIELDS' values for a finished reply
        now = timezone.now()
        return ("complete", REPLY, "", now, now, 10, 200, None, "sim", "orion-sim-1", "model",
                "chat.system v1")  # fmt: skip

    def one_statement() -> None:
        values = finished()
        with transaction.atomic():
            messages_update(FINISH_FIELDS, [(m.pk, values) for m in replies])

    def per_reply() -> None:
        fields = dict(zip(FINISH_FIELDS, finished(), strict=True))
        with transaction.atomic():
            for m in replies:
                Message.objects.filter(pk=m.pk).update(**fields)

    timings: dict[str, list[float]] = {"one statement": [], "update() per reply": []}
    for _ in range(args.rounds):
        for name, write in (("one statement", one_statement), ("update() per reply", per_reply)):
            started = time.perf_counter()
            write()
            timings[name].append((time.perf_counter() - started) * 1000)
    vendor = "postgresql" if args.database_url else "sqlite"
    for name, ms in timings.items():
        print(
            f"write-cost: {vendor} {name}: {statistics.median(ms):.1f} ms "
            f"({min(ms):.1f}-{max(ms):.1f}) for {args.replies} replies, {args.rounds} rounds"
        )
    Conversation.objects.filter(owner_anon__startswith="bench-").delete()
    tmp.cleanup()


if __name__ == "__main__":
    main()
