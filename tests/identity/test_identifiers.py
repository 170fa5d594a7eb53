"""RPPS, ADELI, FINESS, SIREN/SIRET and the IDNPS/IDNST prefixed forms."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.core.errors import InvalidInput
from carnet.identity.identifiers import (
    OID_IDNPS,
    OID_IDNST,
    Idnps,
    IdnpsKind,
    Idnst,
    IdnstKind,
    InvalidIdentifier,
    idnps_from_adeli,
    idnps_from_rpps,
    idnst_from_finess,
    idnst_from_siret,
    is_luhn_valid,
    luhn_check_digit,
    parse_idnps,
    parse_idnst,
    validate_adeli,
    validate_adeli_rang,
    validate_finess,
    validate_rpps,
    validate_rpps_rang,
    validate_siren,
    validate_siret,
)
from tests.identity.jwt_factory import with_luhn

# Real numbers found in the ANS examples (CDA, FHIR reference data) and in public FINESS extracts.
REAL_RPPS = ["10100997245", "10000441302", "10101451689", "99700218896"]
REAL_FINESS = ["010003820", "010003812", "750803447", "920008059", "750058190"]

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def wrong_key(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def message_of(call, value: object) -> str:
    with pytest.raises(InvalidIdentifier) as caught:
        call(value)
    assert isinstance(caught.value, InvalidInput)
    return caught.value.message


def test_luhn_check_digit_matches_the_textbook_example():
    assert luhn_check_digit("7992739871") == 3
    assert is_luhn_valid("79927398713")
    assert not is_luhn_valid("79927398710")
    assert not is_luhn_valid("7")
    assert not is_luhn_valid("7992739871A")


def test_oids_are_those_of_the_ci_sis():
    assert OID_IDNPS == "1.2.250.1.71.4.2.1"
    assert OID_IDNST == "1.2.250.1.71.4.2.2"


# --- RPPS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rpps", REAL_RPPS)
def test_real_rpps_numbers_are_valid(rpps):
    assert validate_rpps(rpps) == rpps


def test_rpps_is_normalised_without_spaces():
    assert validate_rpps(" 101 0099 7245 ") == "10100997245"


@given(st.text(alphabet="0123456789", min_size=10, max_size=10), st.integers(0, 10), digits)
def test_any_single_digit_change_of_an_rpps_is_detected(body, position, replacement):
    # Given a valid RPPS computed from any 10-digit body
    rpps = with_luhn(body)
    assert validate_rpps(rpps) == rpps
    # When one digit is replaced by another, Then the key no longer matches
    changed = rpps[:position] + replacement + rpps[position + 1 :]
    if changed != rpps:
        assert "clé" in message_of(validate_rpps, changed)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "est vide"),
        ("   ", "est vide"),
        ("1010099724", "11 chiffres, il en comporte 10"),
        ("101009972451", "11 chiffres, il en comporte 12"),
        ("1010099724A", "que des chiffres"),
        ("１０１００９９７２４５", "que des chiffres"),  # full-width digits are not ASCII digits
        (wrong_key("10100997245"), "La clé du numéro RPPS est fausse : 6 au lieu de 5"),
        ("1" * 100, "trop long"),
        (10100997245, "chaîne de caractères"),
    ],
)
def test_invalid_rpps_says_what_is_wrong(value, expected):
    assert expected in message_of(validate_rpps, value)


# --- ADELI --------------------------------------------------------------------------------------


@pytest.mark.parametrize("adeli", ["751234567", "2A1234567", "2b1234567"])
def test_adeli_has_nine_characters(adeli):
    assert validate_adeli(adeli) == adeli.upper()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("75123456", "9 caractères"), ("7512345678", "9 caractères"), ("2C1234567", "2A ou 2B")],
)
def test_invalid_adeli_says_what_is_wrong(value, expected):
    assert expected in message_of(validate_adeli, value)


# --- FINESS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("finess", REAL_FINESS)
def test_real_finess_numbers_are_valid(finess):
    assert validate_finess(finess) == finess


def test_finess_key_is_luhn_over_nine_digits():
    assert validate_finess(with_luhn("97100001")) == with_luhn("97100001")  # overseas
    assert "clé" in message_of(validate_finess, wrong_key("750803447"))


def test_corsican_finess_is_checked_for_shape_only():
    # No public source gives the key rule for 2A/2B; see the module docstring.
    assert validate_finess("2a0000154") == "2A0000154"
    assert validate_finess("2B0000153") == "2B0000153"
    assert "2A ou 2B" in message_of(validate_finess, "2C0000154")
    assert "2A ou 2B" in message_of(validate_finess, "2A00001X4")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("75080344", "9 caractères, il en comporte 8"),
        ("7508034470", "9 caractères, il en comporte 10"),
        ("75O803447", "que des chiffres"),
        ("", "est vide"),
    ],
)
def test_invalid_finess_says_what_is_wrong(value, expected):
    assert expected in message_of(validate_finess, value)


# --- SIREN and SIRET ----------------------------------------------------------------------------


def test_siren_and_siret_carry_a_luhn_key():
    assert validate_siren("732829320") == "732829320"
    assert validate_siret("732 829 320 00074") == "73282932000074"
    assert "clé" in message_of(validate_siren, "732829321")
    assert "clé" in message_of(validate_siret, "73282932000075")
    assert "14 chiffres" in message_of(validate_siret, "7328293200007")


def test_la_poste_siret_uses_the_digit_sum_rule():
    # 3560000000001 + 0: digit sum 15, a multiple of 5, although the Luhn key would differ.
    la_poste = "35600000000010"
    assert not is_luhn_valid(la_poste)
    assert validate_siret(la_poste) == la_poste
    assert "multiple de 5" in message_of(validate_siret, "35600000000011")


# --- IDNPS --------------------------------------------------------------------------------------


def test_idnps_of_an_rpps_professional():
    parsed = parse_idnps("810100997245")
    assert parsed == Idnps(IdnpsKind.RPPS, "10100997245")
    assert parsed.value == "810100997245"
    kind, number = parsed
    assert (kind, number) == (IdnpsKind.RPPS, "10100997245")
    assert idnps_from_rpps("10100997245") == "810100997245"


def test_idnps_of_an_adeli_professional():
    assert parse_idnps("0751234567") == Idnps(IdnpsKind.ADELI, "751234567")
    assert idnps_from_adeli("751234567") == "0751234567"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10100997245", "doit commencer par 8"),  # an RPPS without its prefix
        ("8" + wrong_key("10100997245"), "La clé du numéro RPPS"),
        ("81010099724", "11 chiffres"),
        ("075123456", "9 caractères"),
        ("", "L'identifiant national de professionnel (IDNPS) est vide"),
    ],
)
def test_invalid_idnps_says_what_is_wrong(value, expected):
    assert expected in message_of(parse_idnps, value)


# --- IDNST --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1750803447", Idnst(IdnstKind.FINESS, "750803447")),
        ("1010003812", Idnst(IdnstKind.FINESS, "010003812")),
        ("373282932000074", Idnst(IdnstKind.SIRET, "73282932000074")),
        ("2732829320", Idnst(IdnstKind.SIREN, "732829320")),
        ("41010099724501", Idnst(IdnstKind.RPPS_RANG, "1010099724501")),
        ("075123456700", Idnst(IdnstKind.ADELI_RANG, "75123456700")),
    ],
)
def test_idnst_kinds(value, expected):
    parsed = parse_idnst(value)
    assert parsed == expected
    assert parsed.value == value


def test_idnst_builders():
    assert idnst_from_finess("750803447") == "1750803447"
    assert idnst_from_siret("73282932000074") == "373282932000074"
    assert validate_rpps_rang("1010099724501") == "1010099724501"
    assert validate_adeli_rang("75123456700") == "75123456700"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5123456789", "doit commencer par 0 (ADELI rang), 1 (FINESS)"),
        ("1" + wrong_key("750803447"), "La clé du numéro FINESS"),
        ("175080344", "9 caractères"),
        ("4" + "10100997245" + "1", "13 caractères (11 pour le numéro et 2 pour le rang)"),
        ("4" + wrong_key("10100997245") + "01", "La clé du numéro RPPS"),
        ("4" + "10100997245" + "0A", "Le rang du RPPS rang"),
        ("3" + "73282932000075", "La clé du numéro SIRET"),
    ],
)
def test_invalid_idnst_says_what_is_wrong(value, expected):
    assert expected in message_of(parse_idnst, value)


@given(st.text(max_size=30))
def test_parsers_raise_nothing_but_invalid_identifier(value):
    # Any other exception (IndexError, ValueError…) escapes and fails the test.
    for parse in (parse_idnps, parse_idnst, validate_rpps, validate_finess, validate_siret):
        with contextlib.suppress(InvalidIdentifier):
            parse(value)
