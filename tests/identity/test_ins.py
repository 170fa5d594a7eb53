import pytest

from carnet.identity.ins import (
    OID_NIA,
    OID_NIR,
    OID_NIR_DEMO,
    OID_NIR_TEST,
    InsKind,
    InvalidIns,
    nir_key,
    parse_ins,
    validate_matricule,
)


@pytest.mark.parametrize(
    ("body", "key"),
    [("2790351215189", 89), ("1620188850453", 27)],
)
def test_key_matches_the_published_examples(body, key):
    assert nir_key(body) == key


def test_valid_nir_is_accepted_and_normalised():
    assert validate_matricule(" 2 79 03 51 215 189 89 ") == "279035121518989"


def test_wrong_key_is_refused_with_the_expected_key():
    with pytest.raises(InvalidIns, match="clé du matricule INS est fausse : 88 au lieu de 89"):
        validate_matricule("279035121518988")


@pytest.mark.parametrize("value", ["123456789012345", "222127505611201"])
def test_sample_values_with_wrong_keys_from_the_guides_are_refused(value):
    with pytest.raises(InvalidIns, match="clé"):
        validate_matricule(value)


def test_length_is_checked():
    with pytest.raises(InvalidIns, match=r"15 caractères .* il en comporte 14"):
        validate_matricule("27903512151898")


def test_letters_outside_corsica_are_refused():
    with pytest.raises(InvalidIns, match="caractères invalides"):
        validate_matricule("2790351X1518989")


def test_sex_digit_is_checked():
    body = "6790351215189"
    with pytest.raises(InvalidIns, match="premier chiffre"):
        validate_matricule(body + f"{nir_key(body):02d}")


@pytest.mark.parametrize(("department", "substitute"), [("2A", "19"), ("2B", "18")])
def test_corsica_departments_use_the_substitution_rule(department, substitute):
    body = f"18501{department}004123"
    numeric = body[:5] + substitute + body[7:]
    key = 97 - int(numeric) % 97
    assert nir_key(body) == key
    assert validate_matricule(f"{body}{key:02d}") == f"{body}{key:02d}"
    wrong = (key % 97) + 1
    with pytest.raises(InvalidIns, match="clé"):
        validate_matricule(f"{body}{wrong:02d}")


def test_nia_is_an_ins_with_its_own_oid():
    ins = parse_ins("279035121518989", OID_NIA, accept_fictitious=False)
    assert ins.kind is InsKind.NIA
    assert ins.system == "urn:oid:1.2.250.1.213.1.4.9"


def test_nir_oid_accepts_urn_prefix():
    assert (
        parse_ins("279035121518989", f"urn:oid:{OID_NIR}", accept_fictitious=False).kind
        is InsKind.NIR
    )


@pytest.mark.parametrize("oid", [OID_NIR_TEST, OID_NIR_DEMO])
def test_test_and_demo_oids_only_when_allowed(oid):
    assert parse_ins("279035121518989", oid, accept_fictitious=True).is_fictitious
    with pytest.raises(InvalidIns, match="refusé en production"):
        parse_ins("279035121518989", oid, accept_fictitious=False)


def test_unknown_oid_is_refused():
    with pytest.raises(InvalidIns, match="n'est pas celui d'un INS"):
        parse_ins("279035121518989", "1.2.250.1.213.1.4.2", accept_fictitious=True)
