"""National identifiers of professionals and organisations: RPPS, ADELI, FINESS, SIREN, SIRET,
and the prefixed forms the CI-SIS uses in documents and tokens (IDNPS, IDNST).

Rules (sources: the ANS CI-SIS identifier rules for IDNPS and IDNST; the IDNST prefixes from the
FR Core profile `fr-core-organization-etablissement` (Interop'Santé/ANS); INSEE for SIREN and
SIRET):

* **RPPS**: 11 digits; the last is a Luhn check digit (the RPPS numbers of the ANS examples, e.g.
  10100997245 and the ANS test range 997…, all satisfy it).
* **ADELI**: 9 characters, digits except a Corsican department `2A`/`2B` in front. No public
  definition of an ADELI key was found, so only the shape is checked.
* **FINESS**: 9 characters, digits except `2A`/`2B` in front; the last digit is a Luhn check digit
  computed over the 9 characters (verified on published numbers: 010003820, 010003812, 750803447,
  920008059, 750058190). For Corsican numbers no public source says how `A`/`B` enter the key, so
  only their shape is checked: refusing a real Corsican establishment would be worse than letting a
  mistyped one through (the number still has to match the directory wherever it is looked up).
* **SIREN** (9 digits) and **SIRET** (14 digits) carry a Luhn key; La Poste's establishments
  (SIREN 356000000) use the INSEE exception: the digit sum of the SIRET is a multiple of 5.
* **IDNPS** (OID 1.2.250.1.71.4.2.1): `8` + RPPS or `0` + ADELI.
* **IDNST** (OID 1.2.250.1.71.4.2.2): `0` + ADELI rang (ADELI + 2 digits), `1` + FINESS,
  `2` + SIREN, `3` + SIRET, `4` + RPPS rang (RPPS + 2 digits). FR Core also allows `4` + an opaque
  "identifiant technique de structure" from the Annuaire santé; it has no published shape and is
  refused here until a real one is seen.

Every function returns the normalised value (spaces removed, letters upper-cased) or raises
`InvalidIdentifier` with a French message that says what is wrong: it reaches professionals'
software unchanged.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

from carnet.core.errors import InvalidInput

OID_IDNPS = "1.2.250.1.71.4.2.1"
OID_IDNST = "1.2.250.1.71.4.2.2"

# La Poste's SIREN: its establishments outnumber what a 4-digit NIC + Luhn key allows.
_LA_POSTE_SIREN = "356000000"
_CORSICA = ("2A", "2B")
_MAX_INPUT = 64  # longer input is refused before any work, and never echoed back


class InvalidIdentifier(InvalidInput):
    code = "invalid-identifier"


def luhn_check_digit(body: str) -> int:
    """The Luhn digit that completes `body` (a string of digits)."""
    total = 0
    # Doubling starts with the rightmost digit of the body, next to the future check digit.
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_luhn_valid(number: str) -> bool:
    """Whether a string of digits ends with its Luhn check digit."""
    return (
        len(number) >= 2
        and number.isascii()
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == int(number[-1])
    )


# Labels carry their article ("le numéro RPPS", "l'identifiant…") so messages read correctly.
def _sentence(label: str) -> str:
    return label[0].upper() + label[1:]


def _of(label: str) -> str:
    """French "de" + article: "du numéro RPPS", "de l'identifiant…"."""
    return "du " + label[3:] if label.startswith("le ") else "de " + label


def _clean(value: object, label: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{_sentence(label)} doit être une chaîne de caractères.")
    if len(value) > _MAX_INPUT:
        raise InvalidIdentifier(f"{_sentence(label)} est beaucoup trop long.")
    cleaned = re.sub(r"\s", "", value).upper()
    if not cleaned:
        raise InvalidIdentifier(f"{_sentence(label)} est vide.")
    return cleaned


def _require_length(number: str, length: int, label: str, unit: str = "chiffres") -> None:
    if len(number) != length:
        raise InvalidIdentifier(
            f"{_sentence(label)} doit comporter {length} {unit}, il en comporte {len(number)}."
        )


def _require_digits(number: str, label: str) -> None:
    if not (number.isascii() and number.isdigit()):
        raise InvalidIdentifier(f"{_sentence(label)} ne doit contenir que des chiffres.")


def _require_luhn(number: str, label: str) -> None:
    expected = luhn_check_digit(number[:-1])
    if int(number[-1]) != expected:
        raise InvalidIdentifier(
            f"La clé {_of(label)} est fausse : {number[-1]} au lieu de {expected}."
        )


def _require_department_shape(number: str, label: str) -> None:
    """Digits only, except `2A`/`2B` (Corsica) as the first two characters."""
    rest = number[2:] if number[:2] in _CORSICA else number
    if not (rest.isascii() and rest.isdigit()):
        raise InvalidIdentifier(
            f"{_sentence(label)} ne doit contenir que des chiffres "
            "(sauf 2A ou 2B en tête pour la Corse)."
        )


def validate_rpps(value: str) -> str:
    """Return the 11-digit RPPS number or raise `InvalidIdentifier` saying what is wrong."""
    label = "le numéro RPPS"
    number = _clean(value, label)
    _require_length(number, 11, label)
    _require_digits(number, label)
    _require_luhn(number, label)
    return number


def validate_adeli(value: str) -> str:
    """Return the 9-character ADELI number (shape only: no public key rule)."""
    label = "le numéro ADELI"
    number = _clean(value, label)
    _require_length(number, 9, label, "caractères")
    _require_department_shape(number, label)
    return number


def validate_finess(value: str) -> str:
    """Return the 9-character FINESS number (Luhn key checked, except for Corsica)."""
    label = "le numéro FINESS"
    number = _clean(value, label)
    _require_length(number, 9, label, "caractères")
    _require_department_shape(number, label)
    if number[:2] not in _CORSICA:
        _require_luhn(number, label)
    return number


def validate_siren(value: str) -> str:
    """Return the 9-digit SIREN number (Luhn key checked)."""
    label = "le numéro SIREN"
    number = _clean(value, label)
    _require_length(number, 9, label)
    _require_digits(number, label)
    _require_luhn(number, label)
    return number


def validate_siret(value: str) -> str:
    """Return the 14-digit SIRET number (Luhn key, or La Poste's digit-sum rule)."""
    label = "le numéro SIRET"
    number = _clean(value, label)
    _require_length(number, 14, label)
    _require_digits(number, label)
    if number[:9] == _LA_POSTE_SIREN:
        if sum(int(char) for char in number) % 5 != 0:
            raise InvalidIdentifier(
                "La clé du numéro SIRET est fausse : pour La Poste, la somme des chiffres "
                "doit être un multiple de 5."
            )
    else:
        _require_luhn(number, label)
    return number


class IdnpsKind(StrEnum):
    """Which national number an IDNPS wraps; the value is its one-character prefix."""

    ADELI = "0"
    RPPS = "8"


class Idnps(NamedTuple):
    """A parsed IDNPS: `(kind, number)`; `value` gives back the prefixed form."""

    kind: IdnpsKind
    number: str

    @property
    def value(self) -> str:
        return f"{self.kind.value}{self.number}"


def parse_idnps(value: str) -> Idnps:
    """Split an IDNPS (`8` + RPPS or `0` + ADELI) and validate the number it carries."""
    label = "l'identifiant national de professionnel (IDNPS)"
    idnps = _clean(value, label)
    prefix, number = idnps[0], idnps[1:]
    if prefix == IdnpsKind.RPPS:
        return Idnps(IdnpsKind.RPPS, validate_rpps(number))
    if prefix == IdnpsKind.ADELI:
        return Idnps(IdnpsKind.ADELI, validate_adeli(number))
    raise InvalidIdentifier(
        f"{_sentence(label)} doit commencer par 8 (suivi du RPPS) ou 0 (suivi du numéro ADELI)."
    )


def idnps_from_rpps(rpps: str) -> str:
    """The IDNPS of a professional known by RPPS: `8` + RPPS."""
    return IdnpsKind.RPPS.value + validate_rpps(rpps)


def idnps_from_adeli(adeli: str) -> str:
    """The IDNPS of a professional known only by ADELI: `0` + ADELI."""
    return IdnpsKind.ADELI.value + validate_adeli(adeli)


class IdnstKind(StrEnum):
    """Which national number an IDNST wraps; the value is its one-character prefix."""

    ADELI_RANG = "0"
    FINESS = "1"
    SIREN = "2"
    SIRET = "3"
    RPPS_RANG = "4"


class Idnst(NamedTuple):
    """A parsed IDNST: `(kind, number)`; `value` gives back the prefixed form."""

    kind: IdnstKind
    number: str

    @property
    def value(self) -> str:
        return f"{self.kind.value}{self.number}"


def _with_rang(number: str, base_length: int, label: str) -> tuple[str, str]:
    """Split `<number><2-digit rang>` after checking the total length and the rang."""
    if len(number) != base_length + 2:
        raise InvalidIdentifier(
            f"{_sentence(label)} doit comporter {base_length + 2} caractères "
            f"({base_length} pour le numéro et 2 pour le rang), il en comporte {len(number)}."
        )
    base, rang = number[:base_length], number[base_length:]
    if not (rang.isascii() and rang.isdigit()):
        raise InvalidIdentifier(f"Le rang {_of(label)} doit être fait de 2 chiffres.")
    return base, rang


def validate_rpps_rang(value: str) -> str:
    """Return an RPPS rang (RPPS + 2-digit rang, the identifier of a practice)."""
    label = "le RPPS rang"
    number = _clean(value, label)
    base, rang = _with_rang(number, 11, label)
    return validate_rpps(base) + rang


def validate_adeli_rang(value: str) -> str:
    """Return an ADELI rang (ADELI + 2-digit rang, the identifier of a practice)."""
    label = "l'ADELI rang"
    number = _clean(value, label)
    base, rang = _with_rang(number, 9, label)
    return validate_adeli(base) + rang


_IDNST_VALIDATORS = {
    IdnstKind.ADELI_RANG: validate_adeli_rang,
    IdnstKind.FINESS: validate_finess,
    IdnstKind.SIREN: validate_siren,
    IdnstKind.SIRET: validate_siret,
    IdnstKind.RPPS_RANG: validate_rpps_rang,
}


def parse_idnst(value: str) -> Idnst:
    """Split an IDNST (`1` + FINESS, `3` + SIRET…) and validate the number it carries."""
    label = "l'identifiant national de structure (IDNST)"
    idnst = _clean(value, label)
    try:
        kind = IdnstKind(idnst[0])
    except ValueError:
        raise InvalidIdentifier(
            f"{_sentence(label)} doit commencer par 0 (ADELI rang), 1 (FINESS), 2 (SIREN), "
            "3 (SIRET) ou 4 (RPPS rang)."
        ) from None
    return Idnst(kind, _IDNST_VALIDATORS[kind](idnst[1:]))


def idnst_from_finess(finess: str) -> str:
    """The IDNST of an establishment known by FINESS: `1` + FINESS."""
    return IdnstKind.FINESS.value + validate_finess(finess)


def idnst_from_siret(siret: str) -> str:
    """The IDNST of an organisation known by SIRET: `3` + SIRET."""
    return IdnstKind.SIRET.value + validate_siret(siret)
