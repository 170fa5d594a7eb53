"""The INS (Identifiant National de Santé): matricule (NIR or NIA) + OID of the assigning authority.

Rules from the ANS "Référentiel INS" and INSEE's NIR definition: 13 characters + a 2-digit key,
key = 97 − (N mod 97); for Corsica the department `2A` counts as `19` and `2B` as `18`. Messages
are in French and say what is wrong, because they reach the holder and professionals' software
unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from carnet.core.errors import InvalidInput

OID_NIR = "1.2.250.1.213.1.4.8"
OID_NIA = "1.2.250.1.213.1.4.9"
OID_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_NIR_DEMO = "1.2.250.1.213.1.4.11"


class InsKind(StrEnum):
    NIR = "INS-NIR"
    NIA = "INS-NIA"
    NIR_TEST = "INS-NIR-TEST"
    NIR_DEMO = "INS-NIR-DEMO"


OID_KINDS = {
    OID_NIR: InsKind.NIR,
    OID_NIA: InsKind.NIA,
    OID_NIR_TEST: InsKind.NIR_TEST,
    OID_NIR_DEMO: InsKind.NIR_DEMO,
}
FICTITIOUS_KINDS = {InsKind.NIR_TEST, InsKind.NIR_DEMO}

_SHAPE = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}$")


class InvalidIns(InvalidInput):
    code = "invalid-ins"


def nir_key(number: str) -> int:
    """The control key of a 13-character NIR/NIA body (Corsica rule applied)."""
    body = number.upper()
    if len(body) != 13:
        raise InvalidIns("Le numéro doit comporter 13 caractères avant la clé.")
    department = body[5:7]
    if department == "2A":
        body = body[:5] + "19" + body[7:]
    elif department == "2B":
        body = body[:5] + "18" + body[7:]
    if not body.isdigit():
        raise InvalidIns("Le numéro ne doit contenir que des chiffres (sauf 2A/2B pour la Corse).")
    return 97 - (int(body) % 97)


def validate_matricule(value: str) -> str:
    """Return the normalised 15-character matricule or raise `InvalidIns` saying what is wrong."""
    matricule = re.sub(r"[\s.-]", "", value or "").upper()
    if not matricule:
        raise InvalidIns("Le matricule INS est vide.")
    if len(matricule) != 15:
        raise InvalidIns(
            f"Le matricule INS doit comporter 15 caractères (13 + clé de 2 chiffres), "
            f"il en comporte {len(matricule)}."
        )
    if not _SHAPE.match(matricule):
        raise InvalidIns(
            "Le matricule INS contient des caractères invalides : seuls des chiffres sont "
            "admis, et 2A ou 2B en 6e–7e position pour la Corse."
        )
    if matricule[0] not in "1234578":
        raise InvalidIns("Le premier chiffre (sexe) du matricule INS doit être 1, 2, 3, 4, 7 ou 8.")
    expected = nir_key(matricule[:13])
    given = int(matricule[13:])
    if given != expected:
        raise InvalidIns(
            f"La clé du matricule INS est fausse : {matricule[13:]} au lieu de {expected:02d}."
        )
    return matricule


@dataclass(frozen=True, slots=True)
class Ins:
    """A validated INS: matricule + assigning-authority OID."""

    matricule: str
    oid: str

    @property
    def kind(self) -> InsKind:
        return OID_KINDS[self.oid]

    @property
    def is_fictitious(self) -> bool:
        return self.kind in FICTITIOUS_KINDS

    @property
    def system(self) -> str:
        return f"urn:oid:{self.oid}"

    def __str__(self) -> str:
        return self.matricule


def parse_ins(matricule: str, oid: str = OID_NIR, *, accept_fictitious: bool) -> Ins:
    """Validate matricule and OID; test/demo OIDs only when `accept_fictitious` (never in prod)."""
    oid = oid.removeprefix("urn:oid:")
    if oid not in OID_KINDS:
        raise InvalidIns(
            f"L'OID {oid!r} n'est pas celui d'un INS (attendu {OID_NIR} pour un NIR "
            f"ou {OID_NIA} pour un NIA)."
        )
    ins = Ins(validate_matricule(matricule), oid)
    if ins.is_fictitious and not accept_fictitious:
        raise InvalidIns(
            "Cet INS utilise un OID de test ou de démonstration, refusé en production."
        )
    return ins


def accept_fictitious_ins() -> bool:
    """Whether this deployment accepts the ANS test/demo INS OIDs (test, demo and dev modes)."""
    from django.conf import settings

    return bool(settings.CARNET_ACCEPT_TEST_INS)
