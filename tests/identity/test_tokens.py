"""Professional bearer tokens: accepted shapes, and one refusal per reason, with real keys."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from carnet.identity.identifiers import IdnstKind
from carnet.identity.tokens import (
    IssuerKeys,
    ProfessionalClaims,
    PurposeOfUse,
    TokenRejected,
    verify_professional_token,
)
from tests.identity.jwt_factory import (
    AUDIENCE,
    FINESS,
    ISSUER,
    LEEWAY,
    LIFETIME,
    MAX_LIFETIME,
    NOW,
    RPPS,
    SigningKey,
    assemble,
    b64url,
    ec_key,
    issuer_keys,
    jwks,
    mint_token,
    professional_claims,
    resolver,
    rsa_key,
    with_luhn,
)

OTHER_ISSUER = "urn:carnet:test:logiciel-hopital"


def verify(
    token: str,
    *registered: IssuerKeys,
    now: int = NOW,
    audience: str = AUDIENCE,
) -> ProfessionalClaims:
    return verify_professional_token(
        token,
        resolve_issuer=resolver(*(registered or (issuer_keys(ISSUER, rsa_key()),))),
        audience=audience,
        now=now,
        max_lifetime=MAX_LIFETIME,
        leeway=LEEWAY,
    )


def rejection(token: str, *registered: IssuerKeys, now: int = NOW) -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        verify(token, *registered, now=now)
    assert caught.value.message_fr == caught.value.message
    return caught.value


# --- Accepted tokens --------------------------------------------------------------------------


def test_rs256_token_is_accepted_with_every_claim_typed():
    claims = professional_claims(nbf=NOW - 5)
    result = verify(mint_token(rsa_key(), claims))

    assert result.issuer == ISSUER
    assert result.subject == "8" + RPPS
    assert result.rpps == RPPS
    assert result.audience == (AUDIENCE,)
    assert (result.issued_at, result.expires_at, result.not_before) == (
        NOW,
        NOW + LIFETIME,
        NOW - 5,
    )
    assert result.token_id == claims["jti"]
    assert result.profession == "10"
    assert result.specialty == "G15_10/SM26"
    assert result.pharmacist_section is None
    assert result.organisation.kind is IdnstKind.FINESS
    assert result.organisation.number == FINESS
    assert result.organisation.value == "1" + FINESS
    assert result.organisation_name == "Maison de santé des Tilleuls"
    assert result.purpose_of_use is PurposeOfUse.NORMAL
    assert not result.is_emergency
    assert result.emergency_reason is None
    assert (result.given_name, result.family_name) == ("Camille", "Médecin-Test")
    assert (result.key_id, result.algorithm) == ("rsa-1", "RS256")


def test_es256_token_is_accepted():
    key = ec_key()
    result = verify(mint_token(key), issuer_keys(ISSUER, key))
    assert (result.key_id, result.algorithm) == ("ec-1", "ES256")


def test_ps256_token_is_accepted_with_an_rsa_key():
    key = SigningKey("pss-1", "PS256", rsa_key("pss-source").private_key)
    result = verify(mint_token(key), issuer_keys(ISSUER, key))
    assert result.algorithm == "PS256"


def test_audience_may_be_a_list_that_contains_carnet():
    token = mint_token(rsa_key(), professional_claims(aud=["https://other.test", AUDIENCE]))
    assert verify(token).audience == ("https://other.test", AUDIENCE)


def test_pharmacist_token_carries_the_section_of_the_ordre():
    claims = professional_claims(
        profession="21", specialty="G15_21/G", pharmacist_section="G", family_name="Biologiste"
    )
    result = verify(mint_token(rsa_key(), claims))
    assert (result.profession, result.pharmacist_section, result.specialty) == (
        "21",
        "G",
        "G15_21/G",
    )


def test_nurse_token_needs_no_specialty():
    claims = professional_claims(profession="60", without=("specialty",))
    assert verify(mint_token(rsa_key(), claims)).specialty is None


def test_break_glass_token_carries_its_reason():
    claims = professional_claims(
        purpose_of_use="bris_de_glace", emergency_reason="Patient inconscient aux urgences"
    )
    result = verify(mint_token(rsa_key(), claims))
    assert result.purpose_of_use is PurposeOfUse.BRIS_DE_GLACE
    assert result.is_emergency
    assert result.emergency_reason == "Patient inconscient aux urgences"


def test_centre_15_token_is_an_emergency_without_mandatory_reason():
    result = verify(mint_token(rsa_key(), professional_claims(purpose_of_use="centre_15")))
    assert result.purpose_of_use is PurposeOfUse.CENTRE_15
    assert result.is_emergency


@pytest.mark.parametrize(
    "organisation",
    [
        "3" + with_luhn("7328293200007"),  # SIRET
        "4" + RPPS + "01",  # RPPS rang (a private practice)
        "2" + with_luhn("73282932"),  # SIREN
    ],
)
def test_organisation_may_be_any_idnst(organisation):
    result = verify(mint_token(rsa_key(), professional_claims(organisation=organisation)))
    assert result.organisation.value == organisation


# --- Issuer, key and algorithm ----------------------------------------------------------------


def test_unknown_issuer_is_refused():
    token = mint_token(rsa_key(), professional_claims(iss="urn:inconnu"))
    error = rejection(token)
    assert error.reason == "unknown-issuer"
    assert "urn:inconnu" in error.message_fr


def test_resolver_answer_for_another_issuer_counts_as_unknown():
    # Given a resolver that only knows OTHER_ISSUER, or one that answers with OTHER_ISSUER's keys
    token = mint_token(rsa_key())
    assert rejection(token, issuer_keys(OTHER_ISSUER, rsa_key())).reason == "unknown-issuer"

    def confused(_issuer: str) -> IssuerKeys:
        return issuer_keys(OTHER_ISSUER, rsa_key())

    with pytest.raises(TokenRejected) as caught:
        verify_professional_token(
            token,
            resolve_issuer=confused,
            audience=AUDIENCE,
            now=NOW,
            max_lifetime=MAX_LIFETIME,
            leeway=LEEWAY,
        )
    assert caught.value.reason == "unknown-issuer"


def test_signature_by_an_unregistered_key_with_the_registered_kid_is_refused():
    impostor = SigningKey("rsa-1", "RS256", rsa_key("impostor").private_key)
    error = rejection(mint_token(impostor))
    assert error.reason == "bad-signature"


def test_token_signed_with_another_registered_issuers_key_is_refused():
    # Given two registered issuers, each with its own key
    mine, theirs = rsa_key("cabinet-1"), rsa_key("hopital-1")
    registered = (issuer_keys(ISSUER, mine), issuer_keys(OTHER_ISSUER, theirs))

    # When the other issuer's key signs a token that claims to come from ISSUER
    with_their_kid = mint_token(theirs)
    with_my_kid = mint_token(SigningKey("cabinet-1", "RS256", theirs.private_key))

    # Then the kid is unknown for ISSUER, or the signature does not match ISSUER's key
    assert rejection(with_their_kid, *registered).reason == "unknown-key"
    assert rejection(with_my_kid, *registered).reason == "bad-signature"
    # And each issuer's own token still passes
    assert verify(mint_token(theirs, professional_claims(iss=OTHER_ISSUER)), *registered)


def test_kid_selects_the_key_among_several():
    first, second = rsa_key("k1"), ec_key("k2")
    registered = issuer_keys(ISSUER, first, second)
    assert verify(mint_token(second), registered).key_id == "k2"
    assert verify(mint_token(first), registered).key_id == "k1"


def test_unknown_kid_is_refused():
    stray = SigningKey("k9", "RS256", rsa_key().private_key)
    error = rejection(mint_token(stray))
    assert error.reason == "unknown-key"
    assert "k9" in error.message_fr


def test_token_without_kid_uses_the_single_registered_key():
    key = rsa_key(kid=None)
    assert verify(mint_token(key), issuer_keys(ISSUER, key)).key_id is None


def test_token_without_kid_is_refused_when_the_issuer_has_several_keys():
    anonymous = SigningKey(None, "RS256", rsa_key("k1").private_key)
    error = rejection(mint_token(anonymous), issuer_keys(ISSUER, rsa_key("k1"), ec_key("k2")))
    assert error.reason == "unknown-key"


def test_algorithm_outside_the_issuers_list_is_refused():
    key = ec_key()
    registered = issuer_keys(ISSUER, key, rsa_key(), algorithms=["RS256"])
    error = rejection(mint_token(key), registered)
    assert error.reason == "algorithm-not-allowed"
    assert "ES256" in error.message_fr


def test_key_cannot_be_used_with_another_algorithm_family():
    # An RSA key named in a token that claims ES256 (signed with some EC key).
    token = mint_token(SigningKey("rsa-1", "ES256", ec_key().private_key))
    assert rejection(token).reason == "algorithm-not-allowed"


def test_key_registered_for_one_algorithm_refuses_another():
    key = rsa_key()
    registered = IssuerKeys(issuer=ISSUER, jwks=jwks(key, with_alg=True))  # alg RS256
    pss = SigningKey("rsa-1", "PS256", key.private_key)
    assert rejection(mint_token(pss), registered).reason == "algorithm-not-allowed"


def test_alg_confusion_hs256_signed_with_the_public_key_is_refused():
    key = rsa_key()
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    pem = key.public_pem()

    def sign(data: bytes) -> bytes:
        return hmac.new(pem, data, hashlib.sha256).digest()

    token = assemble(header, professional_claims(), sign)
    error = rejection(token)
    assert error.reason == "algorithm-not-allowed"


def test_alg_none_is_refused():
    token = assemble({"alg": "none", "typ": "JWT"}, professional_claims())
    assert rejection(token).reason == "algorithm-not-allowed"


def test_embedded_jwk_header_is_never_trusted():
    # The attacker signs with their own key and ships its public part in the header.
    attacker = SigningKey("rsa-1", "RS256", rsa_key("attacker").private_key)
    token = mint_token(
        attacker, headers={"jwk": attacker.public_jwk(), "jku": "https://evil.test/jwks"}
    )
    assert rejection(token).reason == "bad-signature"


def test_tampered_payload_is_refused():
    token = mint_token(rsa_key())
    header, _payload, signature = token.split(".")
    forged = professional_claims(purpose_of_use="bris_de_glace", emergency_reason="forgé")
    tampered = f"{header}.{b64url(json.dumps(forged).encode())}.{signature}"
    assert rejection(tampered).reason == "bad-signature"


def test_tampered_signature_is_refused():
    token = mint_token(ec_key())
    head, body, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    error = rejection(f"{head}.{body}.{flipped}", issuer_keys(ISSUER, ec_key()))
    assert error.reason == "bad-signature"


def test_hand_made_rs256_signature_over_the_exact_bytes_is_accepted():
    # Guards `assemble`: the refusals above come from the checks, not from a broken builder.
    private_key = rsa_key().private_key
    assert isinstance(private_key, rsa.RSAPrivateKey)

    def sign(data: bytes) -> bytes:
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    token = assemble({"alg": "RS256", "kid": "rsa-1"}, professional_claims(), sign)
    assert verify(token).rpps == RPPS


# --- Time ---------------------------------------------------------------------------------------


def test_expired_token_is_refused():
    error = rejection(mint_token(rsa_key()), now=NOW + LIFETIME + LEEWAY)
    assert error.reason == "expired"


def test_expiry_within_leeway_is_accepted():
    assert verify(mint_token(rsa_key()), now=NOW + LIFETIME + LEEWAY - 1)


def test_token_issued_in_the_future_within_leeway_is_accepted():
    claims = professional_claims(iat=NOW + LEEWAY, exp=NOW + LEEWAY + LIFETIME)
    assert verify(mint_token(rsa_key(), claims)).issued_at == NOW + LEEWAY


def test_token_issued_in_the_future_beyond_leeway_is_refused():
    claims = professional_claims(iat=NOW + LEEWAY + 1, exp=NOW + LEEWAY + 1 + LIFETIME)
    error = rejection(mint_token(rsa_key(), claims))
    assert error.reason == "not-yet-valid"
    assert "iat" in error.message_fr


def test_not_before_in_the_future_is_refused():
    claims = professional_claims(nbf=NOW + LEEWAY + 1)
    error = rejection(mint_token(rsa_key(), claims))
    assert error.reason == "not-yet-valid"
    assert "nbf" in error.message_fr


def test_long_lived_token_is_refused():
    claims = professional_claims(exp=NOW + MAX_LIFETIME + 1)
    error = rejection(mint_token(rsa_key(), claims))
    assert error.reason == "lifetime-too-long"
    assert str(MAX_LIFETIME) in error.message_fr


def test_lifetime_equal_to_the_maximum_is_accepted():
    assert verify(mint_token(rsa_key(), professional_claims(exp=NOW + MAX_LIFETIME)))


def test_expiry_before_issue_is_refused():
    claims = professional_claims(iat=NOW, exp=NOW)
    assert rejection(mint_token(rsa_key(), claims), now=NOW - 10).reason == "invalid-claim:exp"


# --- Audience and claims ------------------------------------------------------------------------


def test_wrong_audience_is_refused():
    error = rejection(mint_token(rsa_key(), professional_claims(aud="https://autre.test")))
    assert error.reason == "wrong-audience"
    assert AUDIENCE in error.message_fr


@pytest.mark.parametrize(
    "name",
    [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "rpps",
        "profession",
        "organisation",
        "purpose_of_use",
        "given_name",
        "family_name",
    ],
)
def test_missing_required_claim_is_named(name):
    error = rejection(mint_token(rsa_key(), professional_claims(without=(name,))))
    assert error.reason == f"missing-claim:{name}"
    assert f"« {name} »" in error.message_fr


def test_medecin_without_specialty_is_refused():
    error = rejection(mint_token(rsa_key(), professional_claims(without=("specialty",))))
    assert error.reason == "missing-claim:specialty"


def test_pharmacist_without_section_is_refused():
    claims = professional_claims(profession="21", without=("specialty",))
    assert rejection(mint_token(rsa_key(), claims)).reason == "missing-claim:pharmacist_section"


def test_break_glass_without_reason_is_refused():
    claims = professional_claims(purpose_of_use="bris_de_glace")
    assert rejection(mint_token(rsa_key(), claims)).reason == "missing-claim:emergency_reason"


def _bad(**overrides: Any) -> dict[str, Any]:
    return professional_claims(**overrides)


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        (_bad(rpps=RPPS[:-1] + str((int(RPPS[-1]) + 1) % 10)), "rpps"),
        (_bad(rpps=12345678901), "rpps"),
        (_bad(sub="8" + with_luhn("1000000002")), "sub"),
        (_bad(sub="0751234567"), "sub"),
        (_bad(profession="99"), "profession"),
        (_bad(specialty="G15_40/SCD01"), "specialty"),
        (_bad(specialty="G15_10"), "specialty"),
        (_bad(specialty="G15_10/SM999"), "specialty"),
        (_bad(profession="60", specialty="G15_60", pharmacist_section="A"), "pharmacist_section"),
        (_bad(profession="21", specialty="G15_21", pharmacist_section="Z"), "pharmacist_section"),
        (_bad(profession="21", specialty="G15_21/A", pharmacist_section="G"), "specialty"),
        (_bad(organisation="1" + FINESS[:-1] + str((int(FINESS[-1]) + 1) % 10)), "organisation"),
        (_bad(organisation="9123"), "organisation"),
        (_bad(purpose_of_use="emergency"), "purpose_of_use"),
        (_bad(emergency_reason="sans objet"), "emergency_reason"),
        (_bad(exp="demain"), "exp"),
        (_bad(iat=True), "iat"),
        (_bad(aud=[AUDIENCE, 3]), "aud"),
        (_bad(jti=""), "jti"),
        (_bad(given_name="   "), "given_name"),
        (_bad(family_name="Nom\u0000caché"), "family_name"),
        (_bad(family_name="x" * 101), "family_name"),
    ],
)
def test_invalid_claim_is_named(claims, name):
    error = rejection(mint_token(rsa_key(), claims))
    assert error.reason == f"invalid-claim:{name}"
    assert f"« {name} »" in error.message_fr


def test_invalid_rpps_message_says_what_is_wrong():
    claims = professional_claims(rpps="1000000001")
    error = rejection(mint_token(rsa_key(), claims))
    assert "11 chiffres" in error.message_fr


# --- Malformed tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "pas-un-jeton",
        "a.b",
        "a.b.c.d",
        "é.é.é",
        "x" * 10_000,
        assemble({"alg": "RS256"}, b"not json"),
        assemble({"alg": "RS256"}, b"[1, 2]"),
        assemble({"alg": "RS256"}, b'{"iss": "a", "iss": "b"}'),
        assemble({"alg": "RS256"}, b'{"iss": "a", "exp": NaN}'),
        assemble({"alg": "RS256", "crit": ["exp"]}, professional_claims()),
        assemble({"alg": "RS256", "kid": 7}, professional_claims()),
        assemble({"typ": "JWT"}, professional_claims()),
    ],
)
def test_malformed_token_is_refused(token):
    assert rejection(token).reason == "malformed"


# --- Registration of an issuer's keys -------------------------------------------------------------


def test_issuer_keys_refuse_symmetric_and_none_algorithms():
    for algorithms in (["HS256"], ["none"], ["RS256", "HS512"], []):
        with pytest.raises(ValueError, match="subset"):
            issuer_keys(ISSUER, rsa_key(), algorithms=algorithms)


def test_issuer_keys_refuse_a_symmetric_key():
    with pytest.raises(ValueError, match="private or symmetric"):
        IssuerKeys(issuer=ISSUER, jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]})


def test_issuer_keys_refuse_private_key_material():
    private_jwk = jwks(rsa_key())["keys"][0] | {"d": "AQAB"}
    with pytest.raises(ValueError, match="private"):
        IssuerKeys(issuer=ISSUER, jwks={"keys": [private_jwk]})


def test_issuer_keys_refuse_short_rsa_keys():
    with pytest.raises(ValueError, match="2048"):
        issuer_keys(ISSUER, rsa_key("short", bits=1024))


def test_issuer_keys_refuse_duplicate_kids_and_empty_sets():
    with pytest.raises(ValueError, match="same kid"):
        issuer_keys(ISSUER, rsa_key("k1"), ec_key("k1"))
    with pytest.raises(ValueError, match="no usable"):
        IssuerKeys(issuer=ISSUER, jwks={"keys": []})
    with pytest.raises(ValueError, match="keys"):
        IssuerKeys(issuer=ISSUER, jwks={"cles": []})


def test_issuer_keys_refuse_unreadable_keys():
    broken_ec = ec_key().public_jwk() | {"y": ec_key().public_jwk()["x"]}  # off the curve
    for jwk in (broken_ec, {"kty": "RSA", "kid": "r"}, {"kty": "OKP", "crv": "Ed25519"}):
        with pytest.raises(ValueError, match=r"JWK|key type"):
            IssuerKeys(issuer=ISSUER, jwks={"keys": [jwk]})


def test_issuer_keys_accept_a_list_of_algorithms():
    registered = IssuerKeys(issuer=ISSUER, jwks=jwks(rsa_key()), algorithms=["RS256"])  # type: ignore[arg-type]
    assert registered.algorithms == frozenset({"RS256"})


def test_issuer_keys_skip_encryption_keys():
    signing, encryption = rsa_key("sig"), rsa_key("enc")
    jwk_set = {"keys": [signing.public_jwk(), encryption.public_jwk() | {"use": "enc"}]}
    registered = IssuerKeys(issuer=ISSUER, jwks=jwk_set)
    assert registered.key_ids == ("sig",)
    assert rejection(mint_token(encryption), registered).reason == "unknown-key"


def test_verifier_refuses_nonsensical_limits():
    with pytest.raises(ValueError, match="leeway"):
        verify_professional_token(
            mint_token(rsa_key()),
            resolve_issuer=resolver(),
            audience=AUDIENCE,
            now=NOW,
            max_lifetime=0,
            leeway=LEEWAY,
        )
