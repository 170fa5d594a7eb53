"""Helpers shared by the profile's browser tests and screenshots: a logged-in browser session
and a filled-in profile."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.test import Client

from carnet.identity.services import actor_for_user
from carnet.portal import session
from carnet.profile import services
from tests.profile.samples import ITEMS


def log_in(page: Any, live_server: Any, holder: Any) -> None:
    """The holder's session, opened server side (the login itself is tested in test_login)."""
    client = Client()
    client.force_login(holder.user)
    django_session = client.session
    django_session[session.SPACES] = [(str(holder.pk), str(holder))]
    django_session[session.CURRENT_SPACE] = str(holder.pk)
    django_session.save()
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )


def fill_profile(holder: Any) -> None:
    """A profile like the seed's: several sections filled, a year of weights, blood pressure."""
    actor = actor_for_user(holder.user)
    pid = str(holder.pk)
    for kind in (
        "maladie",
        "traitement",
        "allergie",
        "vaccination",
        "tabac",
        "alcool",
        "groupe-sanguin",
        "professionnel",
        "contact-urgence",
        "personne-confiance",
        "don-organes",
    ):
        services.create_item(actor, patient_id=pid, kind=kind, data=ITEMS[kind][0])
    services.create_item(actor, patient_id=pid, kind="aucune-hospitalisation", data={})
    weights = ("74,2", "73,8", "73,1", "72,6", "72,9", "72,1", "71,4")
    for month, weight in enumerate(weights, start=3):
        day = dt.date(2025, month, 2)
        services.add_measure(actor, patient_id=pid, key="body-weight", value=weight, at=day)
    services.add_measure(
        actor, patient_id=pid, key="body-height", value="168", at=dt.date(2025, 3, 2)
    )
    for month, (systolic, diastolic) in enumerate(((132, 85), (128, 82), (124, 80)), start=7):
        services.add_measure(
            actor,
            patient_id=pid,
            key="blood-pressure",
            value={"systolic": systolic, "diastolic": diastolic},
            at=dt.date(2025, month, 15),
        )
