"""Named personas with distinct access levels (in the spirit of healthchecks' alice/bob/charlie).

- `patient`: Dominique, an adult holder with an activated space.
- `other_patient`: another holder (must never see Dominique's data).
- `parent` / `minor`: a parent account representing a minor's space.
- `doctor`: a médecin, Dominique's médecin traitant; `unrelated_pro`: a nurse with no link;
  `emergency_doctor`: an emergency physician (SAMU / urgences) with no link either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from carnet.access import services as access
from carnet.identity import services
from carnet.identity.models import Holder, Professional, User
from tests.factories import make_holder, make_professional


@dataclass
class Personas:
    patient: Holder
    other_patient: Holder
    parent: User
    minor: Holder
    doctor: Professional
    unrelated_pro: Professional
    emergency_doctor: Professional


def build() -> Personas:
    patient = make_holder(email="dominique@exemple.test", family="PAT-TROIS", given="DOMINIQUE")
    other = make_holder(email="autre@exemple.test", family="AUTRE", given="PAUL", sex="M")
    parent_space = make_holder(email="parent@exemple.test", family="PARENT", given="JEAN", sex="M")
    minor = make_holder(email="", family="PARENT", given="LOU", birth_date=dt.date(2015, 6, 1))
    assert parent_space.user is not None
    services.add_legal_representative(minor=minor, representative=parent_space.user)
    doctor = make_professional("10", specialty_code="G15_10/SM54")
    assert patient.user is not None
    access.authorise_professional(
        services.actor_for_user(patient.user),
        patient_id=str(patient.pk),
        professional_id=str(doctor.pk),
        medecin_traitant=True,
    )
    return Personas(
        patient=patient,
        other_patient=other,
        parent=parent_space.user,
        minor=minor,
        doctor=doctor,
        unrelated_pro=make_professional("60"),
        emergency_doctor=make_professional("10", family_name="URGENTISTE"),
    )
