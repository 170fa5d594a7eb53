"""Verification of the bearer tokens that professionals' software sends to the professional API.

The token is a signed JWT in the spirit of IHE IUA and of the DMP's VIHF assertion (ANS CI-SIS, DMP
integration guide, authentication assertion): it is issued by a software or an organisation
registered in Carnet with its public keys (a JWKS), and it carries who the practitioner is, for
which organisation and in which mode (normal or emergency) they act. Carnet never fetches keys from
the token (`jku`, `x5u` and `jwk` headers are ignored): only the registered JWKS counts.

Header: `alg` is RS256, PS256 or ES256 (never `none`, never HS*); `kid` names the key of the
issuer's JWKS and may be left out only when the issuer has registered a single key.

Claims ("yes" = required; NumericDate = seconds since the Unix epoch):

    iss                 yes  issuer id registered in Carnet
    sub                 yes  IDNPS of the practitioner: "8" + RPPS (must match `rpps`)
    aud                 yes  Carnet's API audience (a string, or a list that contains it)
    exp                 yes  expiry (NumericDate); `exp - iat` must not exceed Carnet's maximum
    iat                 yes  issue time (NumericDate); must not be in the future
    nbf                 no   not-before time (NumericDate)
    jti                 yes  unique token id (1-200 characters), kept in the access trace
    rpps                yes  RPPS number: 11 digits ending with a Luhn key
    profession          yes  profession code, table G15 ("10" médecin, "21" pharmacien,
                             "60" infirmier…)
    specialty           (1)  JDV_J01 code of that profession ("G15_10/SM26", "G15_60/SI05"…)
    pharmacist_section  (2)  section of the Ordre, table G05 ("A", "D", "G", "H"…)
    organisation        yes  IDNST: "1" + FINESS, "3" + SIRET, "4" + RPPS rang, "2" + SIREN
                             or "0" + ADELI rang
    organisation_name   no   its name (up to 200 characters)
    purpose_of_use      yes  TRE_R248 access mode: "normal", "bris_de_glace" (emergency
                             access) or "centre_15" (SAMU regulation)
    emergency_reason    (3)  why emergency access is needed (up to 500 characters)
    given_name          yes  the practitioner's given name (up to 100 characters)
    family_name         yes  the practitioner's family name (up to 100 characters); both
                             names are shown in the patient's access trace

    (1) required for médecins, with their qualification ("G15_10" alone is refused);
        optional for the other professions; always checked against `profession`.
    (2) required for pharmacists (profession 21), refused for the other professions.
    (3) required with "bris_de_glace", optional with "centre_15", refused with "normal".

Other claims are ignored. A refused token raises `TokenRejected` with a stable machine `reason`
(`malformed`, `unknown-issuer`, `unknown-key`, `algorithm-not-allowed`, `bad-signature`,
`expired`, `not-yet-valid`, `lifetime-too-long`, `wrong-audience`, `missing-claim:<name>`,
`invalid-claim:<name>`) and a French message saying what is wrong; the API answers 401 with a
FHIR OperationOutcome carrying both. Replay protection by `jti` is the caller's job (it holds the
state); this module is pure: no database, no settings, time comes in as `now`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from carnet.core.errors import CarnetError, InvalidInput
from carnet.identity.identifiers import IdnpsKind, Idnst, parse_idnps, parse_idnst, validate_rpps
from carnet.identity.professions import (
    PROFESSION_MEDECIN,
    PROFESSION_PHARMACIEN,
    is_known_profession,
    pharmacist_section,
    specialty_fits_profession,
)

ALLOWED_ALGORITHMS = frozenset({"RS256", "PS256", "ES256"})
MAX_TOKEN_LENGTH = 8192
MIN_RSA_KEY_BITS = 2048

_RSA_ALGORITHMS = frozenset({"RS256", "PS256"})
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_UNSUPPORTED_HEADERS = frozenset({"crit", "b64"})  # no JWS extension is understood here
_JWS = jwt.PyJWS(algorithms=sorted(ALLOWED_ALGORITHMS))


class PurposeOfUse(StrEnum):
    """Access mode, TRE_R248 (the VIHF `purposeofuse`)."""

    NORMAL = "normal"
    BRIS_DE_GLACE = "bris_de_glace"
    CENTRE_15 = "centre_15"

    @property
    def is_emergency(self) -> bool:
        return self is not PurposeOfUse.NORMAL


class TokenRejected(CarnetError):
    """The bearer token is refused; `reason` is stable for machines, `message_fr` is for people."""

    code = "token-rejected"

    def __init__(self, reason: str, message_fr: str) -> None:
        super().__init__(message_fr)
        self.reason = reason
        self.message_fr = message_fr


@dataclass(frozen=True, slots=True)
class _VerificationKey:
    kid: str | None
    declared_alg: str | None
    public_key: RSAPublicKey | EllipticCurvePublicKey

    def accepts(self, alg: str) -> bool:
        if self.declared_alg is not None and self.declared_alg != alg:
            return False
        if isinstance(self.public_key, RSAPublicKey):
            return alg in _RSA_ALGORITHMS
        return alg == "ES256"


@dataclass(frozen=True)
class IssuerKeys:
    """A registered issuer: its id, its public JWKS and the algorithms it may sign with.

    Construction checks the registration and raises `ValueError` when it is unusable or unsafe:
    an algorithm outside RS256/PS256/ES256, a symmetric key, private key material, an RSA key
    under 2048 bits, two keys with the same `kid`, or no signing key at all. Keys marked for
    encryption (`use` other than `sig`) and EC keys on other curves than P-256 are skipped.
    """

    issuer: str
    jwks: Mapping[str, Any]
    algorithms: frozenset[str] = ALLOWED_ALGORITHMS
    _keys: tuple[_VerificationKey, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ValueError("An issuer id is required.")
        algorithms = frozenset(self.algorithms)  # tolerate a list from configuration
        if not algorithms or not algorithms <= ALLOWED_ALGORITHMS:
            raise ValueError(
                f"Allowed algorithms must be a subset of {sorted(ALLOWED_ALGORITHMS)}."
            )
        object.__setattr__(self, "algorithms", algorithms)
        object.__setattr__(self, "_keys", _load_jwks(self.jwks))

    @property
    def key_ids(self) -> tuple[str | None, ...]:
        return tuple(key.kid for key in self._keys)


def _load_jwks(jwks: Mapping[str, Any]) -> tuple[_VerificationKey, ...]:
    members = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(members, list):
        raise ValueError('A JWKS is an object with a "keys" list.')
    keys: list[_VerificationKey] = []
    for jwk in members:
        if not isinstance(jwk, dict):
            raise ValueError("Each JWKS member must be an object.")
        key = _load_jwk(jwk)
        if key is not None:
            keys.append(key)
    kids = [key.kid for key in keys if key.kid is not None]
    if len(set(kids)) != len(kids):
        raise ValueError("Two keys of the JWKS share the same kid.")
    if not keys:
        raise ValueError("The JWKS holds no usable signing key (RSA ≥ 2048 bits or EC P-256).")
    return tuple(keys)


def _load_jwk(jwk: dict[str, Any]) -> _VerificationKey | None:
    if _PRIVATE_JWK_MEMBERS & jwk.keys():
        raise ValueError("The JWKS contains private or symmetric key material.")
    kty, kid, alg = jwk.get("kty"), jwk.get("kid"), jwk.get("alg")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("A kid must be a string.")
    if alg is not None and alg not in ALLOWED_ALGORITHMS:
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    try:
        if kty == "RSA":
            rsa_key = RSAAlgorithm.from_jwk(jwk)
            if not isinstance(rsa_key, RSAPublicKey):
                raise ValueError("Not an RSA public key.")
            if rsa_key.key_size < MIN_RSA_KEY_BITS:
                raise ValueError(f"RSA keys must have at least {MIN_RSA_KEY_BITS} bits.")
            return _VerificationKey(kid, alg, rsa_key)
        if kty == "EC":
            if jwk.get("crv") != "P-256":
                return None
            ec_key = ECAlgorithm.from_jwk(jwk)
            if not isinstance(ec_key, EllipticCurvePublicKey):
                raise ValueError("Not an EC public key.")
            return _VerificationKey(kid, alg, ec_key)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as error:
        # Malformed members (bad base64, a point off the curve…) make the registration unusable.
        raise ValueError(f"Unreadable JWK: {error}") from error
    raise ValueError(f"Unsupported key type {kty!r}: only RSA and EC public keys are accepted.")


@dataclass(frozen=True, slots=True)
class ProfessionalClaims:
    """What a verified token says about the practitioner and the request context."""

    issuer: str
    token_id: str
    subject: str
    audience: tuple[str, ...]
    issued_at: int
    expires_at: int
    not_before: int | None
    rpps: str
    profession: str
    specialty: str | None
    pharmacist_section: str | None
    organisation: Idnst
    organisation_name: str | None
    purpose_of_use: PurposeOfUse
    emergency_reason: str | None
    given_name: str
    family_name: str
    key_id: str | None
    algorithm: str

    @property
    def is_emergency(self) -> bool:
        return self.purpose_of_use.is_emergency


def verify_professional_token(
    token: str,
    *,
    resolve_issuer: Callable[[str], IssuerKeys | None],
    audience: str,
    now: int,
    max_lifetime: int,
    leeway: int,
) -> ProfessionalClaims:
    """Verify a professional's bearer token and return its claims, or raise `TokenRejected`.

    The unverified header and `iss` are read only to find the issuer and its key; the signature
    is then checked with that registered key, and only then are the claims read. `now` is in
    seconds since the epoch; `leeway` (seconds) absorbs clock skew on `exp`, `iat` and `nbf`;
    `max_lifetime` (seconds) bounds `exp - iat`, so long-lived tokens are refused.
    """
    if max_lifetime <= 0 or leeway < 0:
        raise ValueError("max_lifetime must be positive and leeway non-negative.")
    header, unverified = _read_unverified(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        _reject("malformed", "L'en-tête du jeton n'indique pas d'algorithme (alg).")
    issuer = _claim_str(unverified, "iss", max_length=200)
    if alg not in ALLOWED_ALGORITHMS:
        _reject(
            "algorithm-not-allowed",
            f"L'algorithme {_shown(alg)} n'est pas accepté : seuls RS256, PS256 et ES256 le sont.",
        )
    issuer_keys = resolve_issuer(issuer)
    if issuer_keys is None or issuer_keys.issuer != issuer:
        _reject("unknown-issuer", f"L'émetteur {_shown(issuer)} n'est pas enregistré dans Carnet.")
    if alg not in issuer_keys.algorithms:
        _reject(
            "algorithm-not-allowed",
            f"L'algorithme {_shown(alg)} n'est pas autorisé pour l'émetteur {_shown(issuer)}.",
        )
    key = _select_key(issuer_keys, header.get("kid"), alg)
    try:
        verified = _JWS.decode_complete(
            token,
            key=key.public_key,
            algorithms=[alg],
            options={"verify_signature": True, "enforce_minimum_key_length": True},
        )
    except jwt.PyJWTError:
        _reject(
            "bad-signature",
            "La signature du jeton est invalide : il n'a pas été signé par la clé enregistrée "
            "de l'émetteur, ou il a été modifié.",
        )
    claims = _parse_claims(verified["payload"])
    return _check_claims(
        claims,
        issuer=issuer,
        audience=audience,
        now=now,
        max_lifetime=max_lifetime,
        leeway=leeway,
        key_id=key.kid,
        algorithm=alg,
    )


def _reject(reason: str, message: str) -> NoReturn:
    raise TokenRejected(reason, message)


def _shown(value: object) -> str:
    """A short, quoted rendering of an untrusted value for a message."""
    text = str(value)
    if len(text) > 64:
        text = text[:61] + "…"
    return f"« {text} »"


def _read_unverified(token: object) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(token, str) or not token:
        _reject("malformed", "Le jeton est vide.")
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        _reject(
            "malformed", "Le jeton n'est pas un JWT compact (longueur ou caractères invalides)."
        )
    try:
        decoded = _JWS.decode_complete(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        _reject(
            "malformed",
            "Le jeton n'est pas un JWT lisible (trois parties base64url : en-tête, contenu, "
            "signature).",
        )
    header: dict[str, Any] = decoded["header"]
    unsupported = _UNSUPPORTED_HEADERS & header.keys()
    if unsupported:
        _reject(
            "malformed",
            f"L'en-tête du jeton utilise une extension non prise en charge : "
            f"{', '.join(sorted(unsupported))}.",
        )
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        _reject("malformed", "Le kid de l'en-tête du jeton doit être une chaîne.")
    return header, _parse_claims(decoded["payload"])


def _no_duplicate_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("duplicate member name")
    return dict(pairs)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _parse_claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(
            payload, object_pairs_hook=_no_duplicate_names, parse_constant=_no_constant
        )
    except (ValueError, RecursionError):
        _reject(
            "malformed",
            "Le contenu du jeton n'est pas un objet JSON valide (ou répète une revendication).",
        )
    if not isinstance(claims, dict):
        _reject("malformed", "Le contenu du jeton doit être un objet JSON.")
    return claims


def _select_key(issuer_keys: IssuerKeys, kid: str | None, alg: str) -> _VerificationKey:
    keys = issuer_keys._keys
    if kid is not None:
        matching = [key for key in keys if key.kid == kid]
        if not matching:
            _reject(
                "unknown-key",
                f"L'émetteur {_shown(issuer_keys.issuer)} n'a pas enregistré de clé "
                f"de kid {_shown(kid)}.",
            )
        key = matching[0]
    elif len(keys) == 1:
        key = keys[0]
    else:
        _reject(
            "unknown-key",
            "Le jeton n'indique pas de kid alors que l'émetteur a enregistré plusieurs clés.",
        )
    if not key.accepts(alg):
        _reject(
            "algorithm-not-allowed",
            f"La clé {_shown(key.kid or '(sans kid)')} ne peut pas servir à l'algorithme "
            f"{_shown(alg)}.",
        )
    return key


def _missing(name: str) -> NoReturn:
    _reject("missing-claim:" + name, f"La revendication « {name} » est absente du jeton.")


def _invalid(name: str, why: str) -> NoReturn:
    _reject("invalid-claim:" + name, f"La revendication « {name} » est invalide : {why}")


def _claim_str(
    claims: Mapping[str, Any], name: str, *, max_length: int, required: bool = True
) -> str:
    value = claims.get(name)
    if value is None:
        if required:
            _missing(name)
        return ""
    if not isinstance(value, str):
        _invalid(name, "une chaîne de caractères est attendue.")
    if not value.strip():
        _invalid(name, "elle est vide.")
    if len(value) > max_length:
        _invalid(name, f"elle dépasse {max_length} caractères.")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        _invalid(name, "elle contient des caractères de contrôle.")
    return value


def _optional_str(claims: Mapping[str, Any], name: str, *, max_length: int) -> str | None:
    return _claim_str(claims, name, max_length=max_length, required=False) or None


def _numeric_date(claims: Mapping[str, Any], name: str) -> int | None:
    """A NumericDate claim, or None when absent."""
    value: object = claims.get(name)
    if value is None:
        return None
    # bool is an int in Python but never a date in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _invalid(name, "une date en secondes depuis l'époque Unix (NumericDate) est attendue.")
    if not 0 <= value < 2**40:
        _invalid(name, "la date est hors limites.")
    return math.floor(value)


def _required_date(claims: Mapping[str, Any], name: str) -> int:
    value = _numeric_date(claims, name)
    if value is None:
        _missing(name)
    return value


def _audience(claims: Mapping[str, Any], expected: str) -> tuple[str, ...]:
    value = claims.get("aud")
    if value is None:
        _missing("aud")
    audiences = (value,) if isinstance(value, str) else value
    if (
        not isinstance(audiences, list | tuple)
        or not audiences
        or not all(isinstance(item, str) for item in audiences)
    ):
        _invalid("aud", "une chaîne ou une liste de chaînes est attendue.")
    if expected not in audiences:
        _reject(
            "wrong-audience",
            f"Le jeton n'est pas destiné à ce service : audience attendue {_shown(expected)}.",
        )
    return tuple(audiences)


def _check_times(
    claims: Mapping[str, Any], *, now: int, max_lifetime: int, leeway: int
) -> tuple[int, int, int | None]:
    expires_at = _required_date(claims, "exp")
    issued_at = _required_date(claims, "iat")
    not_before = _numeric_date(claims, "nbf")
    if now >= expires_at + leeway:
        _reject("expired", "Le jeton a expiré : demandez-en un nouveau à votre logiciel.")
    if issued_at > now + leeway:
        _reject(
            "not-yet-valid",
            "Le jeton est daté dans le futur (iat) : vérifiez l'horloge du logiciel émetteur.",
        )
    if not_before is not None and not_before > now + leeway:
        _reject("not-yet-valid", "Le jeton n'est pas encore valable (nbf).")
    if expires_at <= issued_at:
        _invalid("exp", "l'expiration doit suivre l'émission (iat).")
    if expires_at - issued_at > max_lifetime:
        _reject(
            "lifetime-too-long",
            f"La durée de validité du jeton ({expires_at - issued_at} s) dépasse le maximum "
            f"accepté ({max_lifetime} s).",
        )
    return issued_at, expires_at, not_before


def _check_practice(
    claims: Mapping[str, Any],
) -> tuple[str, str | None, str | None]:
    """Profession, specialty and pharmacist section, checked against each other."""
    profession = _claim_str(claims, "profession", max_length=4)
    if not is_known_profession(profession):
        _invalid("profession", f"{_shown(profession)} n'est pas un code de profession G15 connu.")
    section = _optional_str(claims, "pharmacist_section", max_length=4)
    if profession == PROFESSION_PHARMACIEN:
        if section is None:
            _missing("pharmacist_section")
        if pharmacist_section(section) is None:
            _invalid(
                "pharmacist_section",
                f"{_shown(section)} n'est pas une section de l'Ordre des pharmaciens (G05).",
            )
    elif section is not None:
        _invalid("pharmacist_section", "elle ne concerne que les pharmaciens (profession 21).")
    specialty = _optional_str(claims, "specialty", max_length=40)
    if specialty is None:
        if profession == PROFESSION_MEDECIN:
            _missing("specialty")
        return profession, None, section
    if not specialty_fits_profession(specialty, profession):
        _invalid(
            "specialty",
            f"{_shown(specialty)} n'est pas une spécialité (JDV_J01) de la profession "
            f"{_shown(profession)}.",
        )
    if profession == PROFESSION_MEDECIN and specialty == f"G15_{PROFESSION_MEDECIN}":
        _invalid("specialty", "la spécialité d'un médecin doit préciser sa qualification.")
    if section is not None and specialty not in {
        f"G15_{PROFESSION_PHARMACIEN}",
        f"G15_{PROFESSION_PHARMACIEN}/{section}",
    }:
        _invalid("specialty", f"elle ne correspond pas à la section {_shown(section)}.")
    return profession, specialty, section


def _check_purpose(claims: Mapping[str, Any]) -> tuple[PurposeOfUse, str | None]:
    raw = _claim_str(claims, "purpose_of_use", max_length=20)
    try:
        purpose = PurposeOfUse(raw)
    except ValueError:
        _invalid("purpose_of_use", "valeurs admises : normal, bris_de_glace, centre_15.")
    reason = _optional_str(claims, "emergency_reason", max_length=500)
    if purpose is PurposeOfUse.BRIS_DE_GLACE and reason is None:
        _missing("emergency_reason")
    if purpose is PurposeOfUse.NORMAL and reason is not None:
        _invalid("emergency_reason", "elle n'a de sens qu'en accès d'urgence.")
    return purpose, reason


def _check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    now: int,
    max_lifetime: int,
    leeway: int,
    key_id: str | None,
    algorithm: str,
) -> ProfessionalClaims:
    audiences = _audience(claims, audience)
    issued_at, expires_at, not_before = _check_times(
        claims, now=now, max_lifetime=max_lifetime, leeway=leeway
    )
    token_id = _claim_str(claims, "jti", max_length=200)

    raw_rpps = _claim_str(claims, "rpps", max_length=20)
    try:
        rpps = validate_rpps(raw_rpps)
    except InvalidInput as error:
        _invalid("rpps", error.message)
    subject = _claim_str(claims, "sub", max_length=20)
    try:
        idnps = parse_idnps(subject)
    except InvalidInput as error:
        _invalid("sub", error.message)
    if idnps.kind is not IdnpsKind.RPPS or idnps.number != rpps:
        _invalid("sub", "elle doit valoir 8 suivi du numéro RPPS du jeton.")

    profession, specialty, section = _check_practice(claims)

    raw_organisation = _claim_str(claims, "organisation", max_length=20)
    try:
        organisation = parse_idnst(raw_organisation)
    except InvalidInput as error:
        _invalid("organisation", error.message)

    purpose, emergency_reason = _check_purpose(claims)
    return ProfessionalClaims(
        issuer=issuer,
        token_id=token_id,
        subject=idnps.value,
        audience=audiences,
        issued_at=issued_at,
        expires_at=expires_at,
        not_before=not_before,
        rpps=rpps,
        profession=profession,
        specialty=specialty,
        pharmacist_section=section,
        organisation=organisation,
        organisation_name=_optional_str(claims, "organisation_name", max_length=200),
        purpose_of_use=purpose,
        emergency_reason=emergency_reason,
        given_name=_claim_str(claims, "given_name", max_length=100).strip(),
        family_name=_claim_str(claims, "family_name", max_length=100).strip(),
        key_id=key_id,
        algorithm=algorithm,
    )
