"""Background tasks (django-tasks, database backend): run by `manage.py db_worker`."""

from __future__ import annotations

from django_tasks import task

from carnet.notifications import delivery


@task()
def deliver(delivery_id: int) -> str:
    """Send one queued notification e-mail; see `delivery` for the claim and retry rules."""
    return delivery.deliver_one(delivery_id).value
