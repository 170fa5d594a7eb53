"""Registering holders (INS and the five strict traits), their representatives, professionals
and organisations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.core import clock
from carnet.core.errors import Conflict, InvalidInput
from carnet.identity import ins as ins_rules
from carnet.identity.models import (
    Holder,
    LegalRepresentation,
    Organisation,
    Professional,
    Sex,
    SpaceStatus,
    User,
)


@dataclass(frozen=True)
class BirthTraits:
    """The five strict INS traits."""

    birth_family_name: str
    birth_given_names: str
    birth_date: dt.date
    sex: str
    birth_place_code: str


def register_holder(
    *,
    matricule: str,
    oid: str,
    traits: BirthTraits,
    contact_email: str = "",
    used_family_name: str = "",
    used_given_name: str = "",
    status: str = SpaceStatus.CREATED,
) -> Holder:
    """Create a holder's space from the insurer's register. Raises InvalidIns, InvalidInput."""
    ins = ins_rules.parse_ins(matricule, oid, accept_fictitious=ins_rules.accept_fictitious_ins())
    _check_traits(traits)
    if Holder.objects.filter(ins_matricule=ins.matricule, ins_oid=ins.oid).exists():
        raise Conflict(_("Un espace existe déjà pour cet INS."), code="duplicate-ins")
    return Holder.objects.create(
        ins_matricule=ins.matricule,
        ins_oid=ins.oid,
        birth_family_name=traits.birth_family_name.strip().upper(),
        birth_given_names=" ".join(traits.birth_given_names.split()),
        birth_date=traits.birth_date,
        sex=traits.sex,
        birth_place_code=traits.birth_place_code,
        contact_email=contact_email,
        used_family_name=used_family_name,
        used_given_name=used_given_name,
        space_status=status,
    )


def _check_traits(traits: BirthTraits) -> None:
    if not traits.birth_family_name.strip():
        raise InvalidInput(_("Le nom de naissance est obligatoire."), field="birth_family_name")
    if not traits.birth_given_names.strip():
        raise InvalidInput(
            _("Les prénoms de naissance sont obligatoires."), field="birth_given_names"
        )
    if traits.sex not in Sex.values:
        raise InvalidInput(_("Le sexe doit être M ou F."), field="sex")
    if traits.birth_date > clock.today():
        raise InvalidInput(_("La date de naissance est dans le futur."), field="birth_date")
    code = traits.birth_place_code
    if len(code) != 5 or not (code.isdigit() or (code[:2] in {"2A", "2B"} and code[2:].isdigit())):
        raise InvalidInput(
            _(
                "Le lieu de naissance doit être un code INSEE à 5 caractères "
                "(ex. 75056, 2A004, 99134)."
            ),
            field="birth_place_code",
        )


@transaction.atomic
def activate_space(holder: Holder, *, email: str, password: str) -> User:
    """Give the holder a login account and mark the space active."""
    if holder.space_status in {SpaceStatus.OPPOSED, SpaceStatus.CLOSED}:
        raise Conflict(_("Cet espace a été fermé ou refusé : il ne peut pas être activé."))
    user = User.objects.create_user(email, password, display_name=str(holder))
    holder.user = user
    holder.space_status = SpaceStatus.ACTIVE
    holder.save(update_fields=["user", "space_status"])
    return user


def add_legal_representative(
    *, minor: Holder, representative: User, kind: str = LegalRepresentation.Kind.PARENT
) -> LegalRepresentation:
    return LegalRepresentation.objects.create(
        patient=minor, representative=representative, kind=kind, since=clock.today()
    )


def register_professional(
    *,
    rpps: str,
    family_name: str,
    given_name: str,
    profession_code: str,
    specialty_code: str = "",
    pharmacist_section: str = "",
    organisation: Organisation | None = None,
    mssante_address: str = "",
) -> Professional:
    """Register a professional. Raises InvalidInput when the RPPS or the profession is wrong."""
    from carnet.identity.identifiers import validate_rpps
    from carnet.identity.professions import profession

    number = validate_rpps(rpps)
    if profession(profession_code) is None:
        raise InvalidInput(
            _("Code profession inconnu : %(code)s (table G15).") % {"code": profession_code},
            field="profession_code",
        )
    return Professional.objects.create(
        rpps=number,
        family_name=family_name,
        given_name=given_name,
        profession_code=profession_code,
        specialty_code=specialty_code,
        pharmacist_section=pharmacist_section,
        organisation=organisation,
        mssante_address=mssante_address,
    )


def register_organisation(*, finess: str, name: str, facility_type: str = "") -> Organisation:
    from carnet.identity.identifiers import validate_finess

    number = validate_finess(finess)
    return Organisation.objects.create(idnst="1" + number, name=name, facility_type=facility_type)


# --- Holder login -------------------------------------------------------------------------------
