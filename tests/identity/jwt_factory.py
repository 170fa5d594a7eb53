"""Test helper: signing keys, a JWKS and professional API tokens with overridable claims.

Minting lives here, never in production code: Carnet only verifies tokens. Keys are real
(RSA 2048, EC P-256), generated once per kid (and size) and cached for the test session, because
RSA generation is the slowest step of the token tests: `rsa_key("a")` is always the same pair.

    key = rsa_key("cabinet-1")
    keys = issuer_keys(ISSUER, key)
    token = mint_token(key, professional_claims(purpose_of_use="centre_15"))
    token = mint_token(key, professional_claims(without=("aud",)))
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from carnet.identity.identifiers import luhn_check_digit
from carnet.identity.tokens import IssuerKeys

ISSUER = "urn:carnet:test:logiciel-cabinet"
AUDIENCE = "https://carnet.test/api"
NOW = 1_800_000_000  # 2027-01-15T08:00:00Z: a fixed clock, tests never read the real one
LIFETIME = 300
MAX_LIFETIME = 3600
LEEWAY = 60


def with_luhn(body: str) -> str:
    """`body` followed by its Luhn check digit (RPPS, FINESS, SIREN, SIRET)."""
    return body + str(luhn_check_digit(body))


RPPS = with_luhn("1000000001")
FINESS = with_luhn("75000001")


@dataclass(frozen=True)
class SigningKey:
    """A private key and the public JWK an issuer would register for it."""

    kid: str | None
    algorithm: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def public_jwk(self, *, with_alg: bool = False) -> dict[str, Any]:
        public = self.private_key.public_key()
        jwk: dict[str, Any] = (
            RSAAlgorithm.to_jwk(public, as_dict=True)
            if isinstance(public, rsa.RSAPublicKey)
            else ECAlgorithm.to_jwk(public, as_dict=True)
        )
        jwk["use"] = "sig"
        if self.kid is not None:
            jwk["kid"] = self.kid
        if with_alg:
            jwk["alg"] = self.algorithm
        return jwk

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def rsa_key(kid: str | None = "rsa-1", algorithm: str = "RS256", bits: int = 2048) -> SigningKey:
    """The RSA key named `kid` (the same key pair on every call with the same kid and size)."""
    return SigningKey(kid, algorithm, _rsa_private_key(kid, bits))


def ec_key(kid: str | None = "ec-1") -> SigningKey:
    """The EC P-256 key named `kid` (the same key pair on every call with the same kid)."""
    return SigningKey(kid, "ES256", _ec_private_key(kid))


# Cached on positional arguments only, so rsa_key() and rsa_key(kid="rsa-1") share one key.
@cache
def _rsa_private_key(kid: str | None, bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def _ec_private_key(kid: str | None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwks(*keys: SigningKey, with_alg: bool = False) -> dict[str, Any]:
    return {"keys": [key.public_jwk(with_alg=with_alg) for key in keys]}


def issuer_keys(
    issuer: str, *keys: SigningKey, algorithms: Iterable[str] | None = None
) -> IssuerKeys:
    if algorithms is None:
        return IssuerKeys(issuer=issuer, jwks=jwks(*keys))
    return IssuerKeys(issuer=issuer, jwks=jwks(*keys), algorithms=frozenset(algorithms))


def resolver(*registered: IssuerKeys) -> Callable[[str], IssuerKeys | None]:
    """The `resolve_issuer` callable for a fixed set of registered issuers."""
    by_id = {keys.issuer: keys for keys in registered}
    return by_id.get


def professional_claims(*, without: Iterable[str] = (), **overrides: Any) -> dict[str, Any]:
    """A valid claim set (a GP in a FINESS establishment, normal access), then the overrides;
    `without` removes claims."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "8" + RPPS,
        "aud": AUDIENCE,
        "iat": NOW,
        "exp": NOW + LIFETIME,
        "jti": str(uuid.uuid4()),
        "rpps": RPPS,
        "profession": "10",
        "specialty": "G15_10/SM26",
        "organisation": "1" + FINESS,
        "organisation_name": "Maison de santé des Tilleuls",
        "purpose_of_use": "normal",
        "given_name": "Camille",
        "family_name": "Médecin-Test",
    }
    claims.update(overrides)
    for name in without:
        claims.pop(name, None)
    return claims


def mint_token(
    key: SigningKey,
    claims: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign `claims` (default: a valid claim set) with `key`; `kid` is set from the key."""
    header: dict[str, Any] = {} if key.kid is None else {"kid": key.kid}
    header.update(headers or {})
    payload = dict(professional_claims() if claims is None else claims)
    return jwt.encode(payload, key.private_key, algorithm=key.algorithm, headers=header)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def assemble(
    header: Mapping[str, Any],
    payload: Mapping[str, Any] | bytes,
    sign: Callable[[bytes], bytes] | None = None,
) -> str:
    """Build a compact JWS by hand (for tokens no library would sign: `none`, HS256 with a
    public key, duplicate claims…). Without `sign` the signature part is empty."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(body)}"
    signature = sign(signing_input.encode("ascii")) if sign is not None else b""
    return f"{signing_input}.{b64url(signature)}"
