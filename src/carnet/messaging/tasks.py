"""Background tasks (django-tasks, database backend): run by `manage.py db_worker`."""

from __future__ import annotations

from django_tasks import task

from carnet.messaging import outbound


@task()
def send_message(outbox_id: int) -> str:
    """Send one queued holder message; see `outbound` for the claim and retry rules."""
    return outbound.send_one(outbox_id)
