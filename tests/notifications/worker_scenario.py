"""Run as a subprocess by `test_worker_restart`, against the database the workers use:

python -m tests.notifications.worker_scenario seed COUNT ADDRESS   # COUNT committed events
python -m tests.notifications.worker_scenario report               # the outbox, as JSON
"""

from __future__ import annotations

import json
import sys


def seed(count: int, address: str) -> None:
    from django.db import transaction

    from carnet.notifications import services
    from carnet.notifications.kinds import NotificationKind
    from tests.factories import make_holder

    holder = make_holder(email=address)
    for n in range(count):
        # one committed event each, as a depositing service would do
        with transaction.atomic():
            services.notify(holder.pk, NotificationKind.DOCUMENT_NEW, dedupe_key=f"doc-{n}")


def report() -> None:
    from carnet.notifications.delivery import message_id
    from carnet.notifications.models import Delivery

    rows = Delivery.objects.order_by("pk")
    print(
        json.dumps(
            [
                {
                    "message_id": message_id(row.idempotency_key),
                    "status": row.status,
                    "attempts": row.attempts,
                    "last_error": row.last_error,
                }
                for row in rows
            ]
        )
    )


def main(argv: list[str]) -> None:
    import django

    django.setup()
    if argv[0] == "seed":
        seed(int(argv[1]), argv[2])
    elif argv[0] == "report":
        report()
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
