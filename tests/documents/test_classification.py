"""Classification of document types into the holder's categories and the professional's spaces."""

import csv
import io
from importlib import resources

import pytest

from carnet.core.errors import InvalidInput
from carnet.documents.classification import (
    UnknownCategory,
    UnknownDocumentType,
    cda_model_format_code,
    class_for_type,
    classify,
    confidentiality_code,
    dmp_spaces,
    document_type,
    format_code,
    holder_categories,
    is_dmp_type,
    nonxml_format_code,
    type_for_holder_upload,
)
from tests.paths import TERMINOLOGY_DIR, needs_reference_data


def _packaged_rows(name):
    """The rows of Carnet's copy of an ANS value-set table; the copy is checked byte for byte
    against the official file below, so these tests also run without the reference data."""
    text = resources.files("carnet.documents").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


TYPES = _packaged_rows("document-types.csv")
TYPE_CODES = [row["code"] for row in TYPES]


@pytest.mark.parametrize(
    "name",
    ["document-types.csv", "class-codes.csv", "format-codes.csv", "confidentiality-codes.csv"],
)
@needs_reference_data
def test_copied_tables_are_identical_to_the_reference_originals(name):
    copy = resources.files("carnet.documents").joinpath("data", name).read_bytes()
    assert copy == (TERMINOLOGY_DIR / name).read_bytes()


def test_holder_categories_are_the_ten_of_the_product_in_display_order():
    assert [c.label for c in holder_categories()] == [
        "Ma santé en résumé",
        "Ordonnances et soins",
        "Radio, écho, scanner, IRM…",
        "Résultats de biologie",
        "Comptes rendus",
        "Prévention et dépistage",
        "Certificats médicaux",
        "Autres documents",
        "Pièces administratives",
        "Synthèse de mon profil médical",
    ]
    assert [c.position for c in holder_categories()] == list(range(1, 11))
    assert len({c.slug for c in holder_categories()}) == 10


def test_dmp_spaces_are_the_nine_of_the_product():
    assert [s.label for s in dmp_spaces()] == [
        "Synthèse",
        "Traitement",
        "Analyses",
        "Imagerie",
        "Comptes rendus",
        "Prévention",
        "Certificats",
        "Données de remboursement",
        "Espace personnel",
    ]
    assert len({s.slug for s in dmp_spaces()}) == 9


@pytest.mark.parametrize("code", TYPE_CODES)
def test_every_type_code_classifies_into_one_category_and_one_space(code):
    by_professional = classify(code, deposited_by_holder=False)
    by_holder = classify(code, deposited_by_holder=True)

    assert by_professional.holder_category in holder_categories()
    assert by_professional.dmp_space in dmp_spaces()
    assert by_holder.holder_category == by_professional.holder_category
    assert by_holder.dmp_space.slug == "espace-personnel"


@pytest.mark.parametrize("row", TYPES, ids=TYPE_CODES)
def test_class_derived_from_type_matches_the_terminology(row):
    found = document_type(row["code"])
    derived = class_for_type(row["code"])

    assert found is not None
    assert found.display == row["display"]
    assert found.in_dmp is (row["in_JDV_J66_TypeCode_DMP"] == "yes")
    assert classify(row["code"], deposited_by_holder=False).class_code == (
        row["class_code"] or None
    )
    if row["class_code"]:
        assert derived is not None
        assert (derived.code, derived.display) == (row["class_code"], row["class_display"])
    else:
        assert derived is None


@pytest.mark.parametrize(
    ("code", "category", "space", "class_code"),
    [
        ("SYNTH", "ma-sante-en-resume", "synthese", "11"),
        ("74207-2", "ma-sante-en-resume", "synthese", "11"),
        ("57833-6", "ordonnances-et-soins", "traitement", "42"),
        ("60593-1", "ordonnances-et-soins", "traitement", "43"),
        ("PROT_ALD", "ordonnances-et-soins", "traitement", "44"),
        ("80565-5", "ordonnances-et-soins", "traitement", "45"),
        ("18748-4", "imagerie", "imagerie", "31"),
        ("IMG-KOS", "imagerie", "imagerie", "31"),
        ("11502-2", "resultats-de-biologie", "analyses", "10"),
        ("60568-3", "resultats-de-biologie", "analyses", "10"),
        ("11488-4", "comptes-rendus", "comptes-rendus", "10"),
        ("11490-0", "comptes-rendus", "comptes-rendus", "10"),
        ("11369-6", "prevention-et-depistage", "prevention", "52"),
        ("87273-9", "prevention-et-depistage", "prevention", "52"),
        ("83869-8", "prevention-et-depistage", "prevention", "44"),
        ("89601-9", "certificats-medicaux", "certificats", "52"),
        ("CERT_DECL", "certificats-medicaux", "certificats", "52"),
        ("EXPPAT_3", "autres-documents", "espace-personnel", "90"),
        ("REMB", "pieces-administratives", "donnees-de-remboursement", "60"),
        ("ATTEST-DROITS-AM", "pieces-administratives", "certificats", "95"),
        ("DOCPAT08", "synthese-profil-medical", "espace-personnel", "11"),
        ("DOCPAT05", "resultats-de-biologie", "espace-personnel", "10"),
    ],
)
def test_sample_classifications(code, category, space, class_code):
    result = classify(code, deposited_by_holder=False)

    assert (result.holder_category.slug, result.dmp_space.slug) == (category, space)
    assert result.class_code == class_code


def test_every_category_and_space_is_reached_by_some_type():
    results = [classify(code, deposited_by_holder=False) for code in TYPE_CODES]

    assert {r.holder_category.slug for r in results} == {c.slug for c in holder_categories()}
    assert {r.dmp_space.slug for r in results} == {s.slug for s in dmp_spaces()}


@pytest.mark.parametrize("category", [c.slug for c in holder_categories()])
def test_a_holder_upload_lands_in_the_category_the_holder_chose(category):
    type_code = type_for_holder_upload(category)
    result = classify(type_code, deposited_by_holder=True)

    assert is_dmp_type(type_code)
    assert result.holder_category.slug == category
    assert result.dmp_space.slug == "espace-personnel"


def test_holder_upload_types_are_the_patient_document_codes():
    assert type_for_holder_upload("resultats-de-biologie") == "DOCPAT05"
    assert type_for_holder_upload("synthese-profil-medical") == "DOCPAT08"
    assert type_for_holder_upload("autres-documents") == "EXPPAT_2"


@pytest.mark.parametrize("code", ["99999-9", "", "docpat01", "11502-2 "])
def test_unknown_type_codes_are_refused_with_their_code(code):
    with pytest.raises(UnknownDocumentType) as refused:
        classify(code, deposited_by_holder=False)

    assert isinstance(refused.value, InvalidInput)
    assert f"« {code} »" in refused.value.message
    assert document_type(code) is None
    assert is_dmp_type(code) is False
    with pytest.raises(UnknownDocumentType):
        class_for_type(code)


def test_unknown_holder_category_is_refused():
    with pytest.raises(UnknownCategory) as refused:
        type_for_holder_upload("ordonnances")

    assert "ordonnances" in refused.value.message


def test_dmp_list_membership():
    assert is_dmp_type("11502-2")
    assert is_dmp_type("DOCPAT08")
    assert not is_dmp_type("PIECE-IDENTITE")
    assert not is_dmp_type("FEUILLE-DE-STYLE")


def test_format_and_confidentiality_code_lookups():
    pdf = format_code("urn:ihe:iti:xds-sd:pdf:2008")
    signature = format_code("urn:ihe:iti:dsg:enveloping:2014")
    masked = confidentiality_code("MASQUE_PS")

    assert pdf is not None
    assert pdf.in_dmp
    assert pdf.system_oid == "1.3.6.1.4.1.19376.1.2.3"
    assert signature is not None
    assert not signature.in_dmp
    assert format_code("urn:example:unknown") is None
    assert masked is not None
    assert masked.in_dmp
    assert masked.system_oid == "1.2.250.1.213.1.1.4.13"
    masked_for_third_parties = confidentiality_code("MASQUE_PT")
    assert masked_for_third_parties is not None
    assert not masked_for_third_parties.in_dmp


def test_cda_format_code_from_model_templates():
    # CR-BIO declares the IHE XD-LAB template and the CI-SIS one: both map to XD-LAB.
    assert (
        cda_model_format_code(["1.2.250.1.213.1.1.1.1", "1.3.6.1.4.1.19376.1.3.3"])
        == "urn:ihe:lab:xd-lab:2008"
    )
    assert cda_model_format_code(["1.2.250.1.213.1.1.1.13"]) == "urn:asip:ci-sis:vsm:2012"
    assert cda_model_format_code(["2.16.840.1.113883.2.8.2.1"]) is None
    assert nonxml_format_code("application/pdf") == "urn:ihe:iti:xds-sd:pdf:2008"
    assert nonxml_format_code("IMAGE/JPEG") == "urn:ihe:iti-fr:xds-sd:jpeg:2010"
    assert nonxml_format_code("text/html") is None
