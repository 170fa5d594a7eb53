"""CDA R2 header reading, N1 body extraction and the metadata check, on the ANS example documents.

Every expected value below was read by hand from the ANS example CDAs (reference data, see
`tests/paths.py`); the tests that need them are skipped when they are absent.
"""

import base64
import contextlib
import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.core.errors import InvalidInput
from carnet.documents.cda import (
    MAX_CDA_BYTES,
    CdaLevel,
    Coded,
    InstanceId,
    InvalidCda,
    PersonName,
    extract_nonxml_body,
    header_mismatches,
    parse_cda_timestamp,
    read_cda_header,
)
from carnet.documents.classification import classify, format_code, is_dmp_type
from carnet.identity.ins import OID_NIR, OID_NIR_TEST, InvalidIns, parse_ins
from tests.paths import CDA_DIR, needs_reference_data

PLUS_ONE = timezone(timedelta(hours=1))
RPPS = "1.2.250.1.71.4.2.1"
FINESS = "1.2.250.1.71.4.2.2"
SPECIALTY = "1.2.250.1.213.1.1.4.5"
TEST_INS = InstanceId(OID_NIR_TEST, "279035121518989")
IPP = InstanceId("1.2.3.4.567.8.9.10", "1234567890121")


def _bytes(name):
    return (CDA_DIR / name).read_bytes()


def _read(name):
    return read_cda_header(_bytes(name))


def _assert_dominique(patient, *, ids=(TEST_INS, IPP)):
    """The ANS test patient used by most examples (INS-NIR de test 279035121518989)."""
    assert patient.ids == ids
    assert patient.ins == TEST_INS
    assert patient.birth_family_name == "PAT-TROIS"
    assert patient.birth_given_names == "DOMINIQUE MARIE-LOUISE"
    assert patient.first_birth_given_name == "DOMINIQUE"
    assert patient.used_family_name == "PAT-TROIS"
    assert patient.used_given_name == "DOMINIQUE"
    assert patient.gender == "F"
    assert patient.birth_date == date(1979, 3, 28)
    assert patient.birth_place_code == "51215"


def _assert_common(header):
    assert header.confidentiality_code == "N"
    assert header.language_code == "fr-FR"
    assert InstanceId("2.16.840.1.113883.2.8.2.1") in header.template_ids
    assert InstanceId("1.2.250.1.213.1.1.1.1") in header.template_ids


COVERED = {
    "BIO-CR-BIO_2024.01_TSH_1.xml",
    "CNAM-HR_2021.01.xml",
    "CSE-MDE_2023.01.xml",
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    "IMG_CR_IMG_2024.01.xml",
    "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml",
    "LDL-EES_2022.01.xml",
    "LDL-SES_2022.01.xml",
    "VAC-NOTE_2023.01.xml",
    "VAC_2023.01.xml",
    "VSM_1.4_2022.01.xml",
    "eDISP-MED_2024.01.xml",
    "eP-MED-DM_2024.01_PosoStruct.xml",
}


@needs_reference_data
def test_every_example_cda_has_its_own_test():
    assert {path.name for path in CDA_DIR.glob("*.xml")} == COVERED


@pytest.mark.parametrize("name", sorted(COVERED))
def test_every_example_is_classified_and_has_a_known_format(name):
    header = _read(name)

    assert is_dmp_type(header.type_code)
    assert header.format_code is not None
    known = format_code(header.format_code)
    assert known is not None
    assert known.in_dmp
    assert classify(header.type_code, deposited_by_holder=False).class_code is not None


def test_the_reader_extracts_the_ins_without_judging_it():
    # Validation belongs to the deposit (production vs test OIDs, key): the reader reports
    # what the document says, including the wrong key of the CSE-MDE sample INS.
    ins = _read("CSE-MDE_2023.01.xml").patient.ins
    test_ins = _read("VSM_1.4_2022.01.xml").patient.ins

    assert ins == InstanceId(OID_NIR, "222127505611201")
    with pytest.raises(InvalidIns):
        parse_ins(ins.extension or "", ins.root, accept_fictitious=True)
    assert test_ins is not None
    assert str(parse_ins(test_ins.extension or "", test_ins.root, accept_fictitious=True)) == (
        "279035121518989"
    )


def test_n1_biology_report():
    header = _read("DOC_NON_STRUCTURE_CDA-R2-N1.xml")

    _assert_common(header)
    assert header.unique_id == "1.3.6.1.4.1.19376.1.2.20.12345.1.1"
    assert header.set_id == InstanceId("1.3.6.1.4.1.19376.1.2.20.12345.1")
    assert header.version_number == 1
    assert header.replaces is None
    assert header.code == Coded("11502-2", "2.16.840.1.113883.6.1", "CR d'examens biologiques")
    assert header.title == "Compte rendu d'examens biologiques"
    assert header.effective_time == datetime(2021, 4, 1, 13, 47, 45, tzinfo=PLUS_ONE)
    assert header.template_ids[2] == InstanceId("1.3.6.1.4.1.19376.1.2.20")
    _assert_dominique(header.patient)
    (author,) = header.authors
    assert author.time == datetime(2021, 1, 4, 16, 5, 27, tzinfo=PLUS_ONE)
    assert author.id == InstanceId(RPPS, "801234534765")
    assert author.specialty == Coded("G15_10/SM03", SPECIALTY, "Médecin - Biologie médicale (SM)")
    assert author.function is None
    assert author.person == PersonName("CAMPARINI", "Marcel")
    assert author.organization is not None
    assert author.organization.id == InstanceId(FINESS, "1120459876")
    assert author.organization.name == "Laboratoire des charmes"
    assert header.custodian.name == "Laboratoire des charmes"
    legal = header.legal_authenticator
    assert legal is not None
    assert legal.time == datetime(2020, 7, 1, 13, 47, 45, tzinfo=PLUS_ONE)
    assert legal.id == InstanceId(RPPS, "807505123456")
    assert legal.person == PersonName("Camparini", "Marcel")
    assert header.service_start == datetime(2021, 1, 4, 13, 47, tzinfo=PLUS_ONE)
    assert header.service_stop == datetime(2021, 1, 4, 13, 55, tzinfo=PLUS_ONE)
    assert [c.code for c in header.event_codes] == ["18723-7"]
    assert header.practice_setting is not None
    assert header.practice_setting.code == "AMBULATOIRE"
    assert header.healthcare_facility_type == Coded(
        "SA07", "1.2.250.1.71.4.2.4", "Cabinet individuel"
    )
    assert header.level is CdaLevel.N1
    assert header.media_type == "application/pdf"
    assert header.format_code == "urn:ihe:iti:xds-sd:pdf:2008"


def test_n1_imaging_report_replacing_a_previous_version():
    header = _read("IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.45.2024.2.1"
    assert header.set_id == InstanceId("1.2.250.1.213.1.1.1.45.2024.2")
    assert header.version_number == 2
    assert header.replaces == InstanceId("90E1C8EC-F951-4B26-A305-A34848818DD6")
    assert header.type_code == "18748-4"
    assert header.title == "CR d’imagerie médicale - Scanner Tête + Cou + Thorax avec injection"
    assert header.effective_time == datetime(2021, 1, 8, 11, 17, tzinfo=PLUS_ONE)
    _assert_dominique(header.patient)
    (author,) = header.authors
    assert author.id == InstanceId(RPPS, "801234560801")
    assert author.specialty is not None
    assert author.specialty.code == "G15_10/SM44"
    assert author.function is not None
    assert author.function.code == "ATTPHYS"
    assert author.person == PersonName("BIDEAULT", "Jacques")
    assert author.organization is not None
    assert author.organization.id == InstanceId(FINESS, "1750803447")
    assert [c.code for c in header.event_codes] == ["24727-0", "36235-0", "24978-9", "Z13.9"]
    assert header.service_start == datetime(2021, 1, 8, 10, 25, tzinfo=PLUS_ONE)
    assert header.service_stop == datetime(2021, 1, 8, 11, 17, tzinfo=PLUS_ONE)
    assert header.order_ids == (InstanceId("1.2.250.1.748.12345678.12", "984375862"),)
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA08"
    assert header.level is CdaLevel.N1
    assert header.format_code == "urn:ihe:iti:xds-sd:pdf:2008"


def test_n3_biology_report():
    header = _read("BIO-CR-BIO_2024.01_TSH_1.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.55.2024.9.1"
    assert header.version_number == 1
    assert header.type_code == "11502-2"
    assert header.title == "Compte rendu d'examens biologiques"
    assert header.effective_time == datetime(2021, 4, 1, 17, 10, tzinfo=PLUS_ONE)
    assert [t.root for t in header.template_ids[2:]] == [
        "1.3.6.1.4.1.19376.1.3.3",
        "1.2.250.1.213.1.1.1.55",
    ]
    _assert_dominique(header.patient)
    (author,) = header.authors
    assert author.specialty is not None
    assert author.specialty.code == "G15_10/SM03"
    assert author.person == PersonName("CAMPARINI", "Marcel")
    assert header.legal_authenticator is not None
    assert header.legal_authenticator.organization is not None
    assert header.legal_authenticator.organization.name == "Laboratoire des charmes"
    assert header.service_start == datetime(2021, 1, 4, 9, 22, tzinfo=PLUS_ONE)
    assert header.service_stop == datetime(2021, 1, 4, 16, 5, tzinfo=PLUS_ONE)
    assert [c.code for c in header.event_codes] == ["18719-5", "18727-8", "18718-7"]
    assert header.practice_setting is not None
    assert header.practice_setting.code == "AMBULATOIRE"
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA25"
    assert header.order_ids == (InstanceId("1.2.250.1.213.1.1.9", "2014123456789"),)
    assert header.level is CdaLevel.N3
    assert header.media_type is None
    assert header.format_code == "urn:ihe:lab:xd-lab:2008"


def test_n3_reimbursement_data_from_the_insurer():
    header = _read("CNAM-HR_2021.01.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.36.2021.1.1"
    assert header.code == Coded("REMB", "1.2.250.1.213.1.1.4.12", "Données de remboursement")
    assert header.title == "Données de remboursement"
    assert header.effective_time == datetime(2019, 7, 1, 16, 49, tzinfo=PLUS_ONE)
    _assert_dominique(header.patient)
    (author,) = header.authors
    # A timestamp without seconds: 201907011649+0100.
    assert author.time == datetime(2019, 7, 1, 16, 49, tzinfo=PLUS_ONE)
    assert author.id == InstanceId(RPPS, "518003502400041/1.2.250.1.215.1.2")
    assert author.specialty is not None
    assert author.specialty.code == "ALIM_AM"
    assert author.person is None
    assert author.device == "Assurance Maladie"
    assert author.organization is not None
    assert author.organization.id == InstanceId(FINESS, "318003502400041")
    assert header.custodian.name == "Assurance Maladie"
    assert header.service_start == datetime(2019, 1, 1, 15, 45, tzinfo=PLUS_ONE)
    assert header.service_stop == datetime(2019, 7, 1, 15, 45, tzinfo=PLUS_ONE)
    assert header.event_codes == ()
    assert header.practice_setting is not None
    assert header.practice_setting.code == "AMO"
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA24"
    assert header.level is CdaLevel.N3
    assert header.format_code == "urn:asip:ci-sis:hr:2019"


def test_n3_child_vital_signs_with_a_production_oid_sample_ins():
    header = _read("CSE-MDE_2023.01.xml")

    assert header.template_ids[1] == InstanceId("1.3.6.1.4.1.19376.1.5.3.1.1.1")
    assert header.unique_id == "1.2.250.1.213.1.1.1.5.2023.1.1"
    assert header.set_id == InstanceId("1.2.250.1.213.1.1.1.5.4.2023.1")
    assert header.version_number == 4
    assert header.type_code == "29274-8"
    assert header.title == "Carnet de santé de l'enfant - Mesures de l'enfant"
    assert header.effective_time == datetime(2023, 1, 6, 11, 36, 23, tzinfo=PLUS_ONE)
    patient = header.patient
    assert patient.ins == InstanceId(OID_NIR, "222127505611201")
    assert patient.ids[1] == InstanceId("1.2.3.4.5.6.7.8.9.10", "1234567890121")
    assert patient.birth_family_name == "DECOURCY"
    assert patient.birth_given_names == "Ruth Isabelle"
    assert patient.first_birth_given_name == "Ruth"
    assert patient.gender == "F"
    assert patient.birth_date == date(2022, 12, 25)
    assert patient.birth_place_code == "75056"
    (author,) = header.authors
    assert author.specialty is not None
    assert author.specialty.code == "G15_10/SM40"
    # "Charles " in the file: names are whitespace-normalised.
    assert author.person == PersonName("MULLER", "Charles")
    assert author.organization is not None
    assert author.organization.name == "Centre de santé du Belvédère"
    assert header.service_start == datetime(2023, 1, 6, 11, 36, 23, tzinfo=PLUS_ONE)
    assert header.service_stop is None
    assert header.event_codes == (Coded("11429006", "2.16.840.1.113883.6.96", "consultation"),)
    assert header.practice_setting is not None
    assert header.practice_setting.code == "ETABLISSEMENT"
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA05"
    assert header.format_code == "urn:ans:ci-sis:cse-mde:2023"


def test_n3_imaging_report():
    header = _read("IMG_CR_IMG_2024.01.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.45.2024.1.1"
    assert header.version_number == 2
    assert header.replaces == InstanceId("90E1C8EC-F951-4B26-A305-A34848818DD6")
    assert header.code.display == "CR d’imagerie médicale"
    assert header.type_code == "18748-4"
    assert header.effective_time == datetime(2021, 1, 8, 11, 17, tzinfo=PLUS_ONE)
    _assert_dominique(header.patient)
    (author,) = header.authors
    assert author.organization is not None
    assert author.organization.id == InstanceId(FINESS, "1920008059")
    assert author.organization.name == "Centre de radiologie Ambroise"
    assert header.custodian.id == InstanceId(FINESS, "1920008059")
    assert header.order_ids == (
        InstanceId("1.2.250.1.748.12345678.12", "984375862"),
        InstanceId("1.2.250.1.748.12345678.12", "984375863"),
    )
    assert header.service_start == datetime(2021, 1, 8, 10, 25, tzinfo=PLUS_ONE)
    assert header.service_stop == datetime(2021, 1, 8, 11, 17, tzinfo=PLUS_ONE)
    assert header.level is CdaLevel.N3
    assert header.format_code == "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013"


def test_n3_admission_liaison_letter():
    header = _read("LDL-EES_2022.01.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.21.2022.1.1"
    assert header.type_code == "18761-7"
    assert header.title == "Lettre de liaison à l'entrée en établissement de santé"
    assert header.effective_time == datetime(2019, 10, 29, 11, 17, tzinfo=PLUS_ONE)
    _assert_dominique(header.patient)
    (author,) = header.authors
    assert author.person == PersonName("BOILEAU", "Charles")
    assert author.specialty is not None
    assert author.specialty.code == "G15_10/SM26"
    assert header.custodian.id == InstanceId(FINESS, "1120456789")
    assert header.service_start == datetime(2019, 10, 29, 11, 17, tzinfo=PLUS_ONE)
    assert header.service_stop is None
    assert [c.code for c in header.event_codes] == ["IMP"]
    assert header.practice_setting is not None
    assert header.practice_setting.code == "ETABLISSEMENT"
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA01"
    assert header.format_code == "urn:asip:ci-sis:ldl-ees:2017"


def test_n3_discharge_liaison_letter():
    header = _read("LDL-SES_2022.01.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.29.2022.1.1"
    assert header.type_code == "11490-0"
    assert header.title == "Lettre de liaison à la sortie de l'établissement de santé"
    assert header.effective_time == datetime(2019, 12, 3, 13, 30, tzinfo=PLUS_ONE)
    _assert_dominique(header.patient)
    (author,) = header.authors
    assert author.person == PersonName("DAVID", "Charles")
    assert author.specialty is not None
    assert author.specialty.code == "G15_10/SM27"
    assert author.organization is not None
    assert author.organization.name == "Hôpital Européen Georges Pompidou"
    assert header.legal_authenticator is not None
    assert header.legal_authenticator.person == PersonName("AUGUIN", "Léon")
    assert header.service_start == datetime(2019, 10, 29, 11, 17, tzinfo=PLUS_ONE)
    assert header.service_stop == datetime(2019, 12, 3, 13, 30, tzinfo=PLUS_ONE)
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA01"
    assert header.format_code == "urn:asip:ci-sis:ldl-ses:2017"


def test_n3_vaccination_note():
    header = _read("VAC-NOTE_2023.01.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.46.2023.1.1"
    assert header.type_code == "87273-9"
    assert header.title == "NOTE DE VACCINATION"
    assert header.effective_time == datetime(2021, 4, 9, 15, 35, tzinfo=PLUS_ONE)
    _assert_dominique(header.patient)
    (author,) = header.authors
    assert author.time == datetime(2010, 6, 3, 9, 49, 14, tzinfo=PLUS_ONE)
    assert author.person == PersonName("MULLER", "Charles")
    assert author.organization is not None
    assert author.organization.name == "Cabinet Médical du Dr MULLER"
    assert header.legal_authenticator is not None
    assert header.legal_authenticator.time == datetime(2019, 7, 29, 9, 51, tzinfo=PLUS_ONE)
    assert header.service_start == datetime(2021, 4, 9, 15, 35, tzinfo=PLUS_ONE)
    assert header.practice_setting is not None
    assert header.practice_setting.code == "AMBULATOIRE"
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA07"
    assert header.format_code == "urn:asip:ci-sis:vac-note:2021"


def test_n3_vaccination_history():
    header = _read("VAC_2023.01.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.37.2023.1.1"
    assert header.type_code == "11369-6"
    assert header.title == "Historique de vaccinations"
    assert header.effective_time == datetime(2021, 4, 9, 17, 0, tzinfo=PLUS_ONE)
    # This example carries the INS only, no local IPP.
    _assert_dominique(header.patient, ids=(TEST_INS,))
    assert header.custodian.name == "Assurance Maladie"
    legal = header.legal_authenticator
    assert legal is not None
    assert legal.id == InstanceId(OID_NIR, "276059205062865")
    assert legal.person == PersonName("DECOURCY", "Marie")
    assert header.practice_setting is not None
    assert header.practice_setting.code == "AMO"
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA24"
    assert header.format_code == "urn:asip:ci-sis:vac:2019"


def test_n3_medical_summary():
    header = _read("VSM_1.4_2022.01.xml")

    _assert_common(header)
    assert header.template_ids[2] == InstanceId("1.2.250.1.213.1.1.1.13", "201310")
    assert header.unique_id == "1.2.250.1.213.1.1.1.13.2022.1.1"
    assert header.code == Coded("SYNTH", "1.2.250.1.213.1.1.4.12", "Synthèse")
    assert header.title == "Synthèse Médicale"
    assert header.effective_time == datetime(2020, 3, 12, 11, 17, tzinfo=PLUS_ONE)
    _assert_dominique(header.patient)
    (author,) = header.authors
    assert author.function == Coded("PCP", "2.16.840.1.113883.5.88", "Médecin traitant")
    assert author.person == PersonName("MEDIONI", "Stéphane")
    assert author.organization is not None
    assert author.organization.id == InstanceId(FINESS, "2801234567")
    assert header.custodian.id == InstanceId(FINESS, "1120456789")
    assert [c.code for c in header.event_codes] == ["34117-2"]
    assert header.practice_setting is not None
    assert header.practice_setting.code == "ETABLISSEMENT"
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA04"
    assert header.format_code == "urn:asip:ci-sis:vsm:2012"


def test_n3_dispensation_with_two_authors_and_given_names_listed_separately():
    header = _read("eDISP-MED_2024.01.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.54.2024.1.1"
    assert header.type_code == "60593-1"
    assert header.title == "Dispensation médicamenteuse"
    assert header.effective_time == datetime(2024, 12, 25, 9, 30, tzinfo=PLUS_ONE)
    patient = header.patient
    assert patient.ins == InstanceId(OID_NIR, "277076322082910")
    assert patient.birth_family_name == "NESSI"
    # <given qualifier="BR">RUTH</given><given>ISABELLE</given>: one name per element.
    assert patient.birth_given_names == "RUTH ISABELLE"
    assert patient.first_birth_given_name == "RUTH"
    assert patient.used_family_name == "DECOURCY"
    assert patient.used_given_name is None
    assert patient.birth_date == date(1977, 7, 14)
    assert patient.birth_place_code == "51215"
    device, pharmacist = header.authors
    assert device.specialty is not None
    assert device.specialty.code == "DISPOSITIF"
    assert device.device == "Dossier Pharmaceutique"
    assert device.id == InstanceId(RPPS, "578435954900010/1.2.250.1.176.1")
    assert pharmacist.specialty == Coded("G15_21", SPECIALTY, "Pharmacien")
    assert pharmacist.person == PersonName("DELIVE", "Pierre")
    assert pharmacist.organization is not None
    assert pharmacist.organization.name == "Pharmacie du village"
    assert header.custodian.name == "CONSEIL NATIONAL ORDRE DES PHARMACIENS"
    assert header.service_start == datetime(2024, 12, 25, 9, 0, tzinfo=PLUS_ONE)
    assert header.order_ids == (InstanceId("1.2.250.1.213.1.1.1.39.1.1"),)
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA33"
    assert header.format_code == "urn:ihe:pharm:dis:2010"


def test_n3_prescription():
    header = _read("eP-MED-DM_2024.01_PosoStruct.xml")

    _assert_common(header)
    assert header.unique_id == "1.2.250.1.213.1.1.1.39.2024.2.1"
    assert header.type_code == "57833-6"
    # The file's title ends with a space.
    assert header.title == "Prescription de médicaments et/ou de dispositifs médicaux"
    assert header.effective_time == datetime(2023, 12, 1, 9, 30, tzinfo=PLUS_ONE)
    _assert_dominique(header.patient)
    (author,) = header.authors
    assert author.person == PersonName("PIOU", "Romain")
    assert author.specialty is not None
    assert author.specialty.code == "G15_10/SM26"
    assert author.organization is not None
    assert author.organization.name == "Cabinet du DR Pierre JOLI"
    assert header.service_start == datetime(2023, 12, 1, 9, 10, tzinfo=PLUS_ONE)
    assert header.service_stop == datetime(2024, 7, 30, 9, 10, tzinfo=PLUS_ONE)
    assert [c.code for c in header.event_codes] == [
        "57833-6",
        "MED-1096",
        "MED-1097",
        "MED-1098",
        "MED-1132",
        "MED-1094",
        "MED-1095",
        "MED-1159",
    ]
    assert header.healthcare_facility_type is not None
    assert header.healthcare_facility_type.code == "SA07"
    assert header.format_code == "urn:ihe:pharm:pre:2010"


# --- timestamps ----------------------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20210401134745+0100", datetime(2021, 4, 1, 13, 47, 45, tzinfo=PLUS_ONE)),
        ("202101040735+0100", datetime(2021, 1, 4, 7, 35, tzinfo=PLUS_ONE)),
        ("20200701134745", datetime(2020, 7, 1, 13, 47, 45, tzinfo=PARIS)),
        ("20201231", datetime(2020, 12, 31, tzinfo=PARIS)),
        ("2020", datetime(2020, 1, 1, tzinfo=PARIS)),
        ("20210104160527.123+0100", datetime(2021, 1, 4, 16, 5, 27, 123000, tzinfo=PLUS_ONE)),
        (
            "20210104160527-0530",
            datetime(2021, 1, 4, 16, 5, 27, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        ("20210104160527+00", datetime(2021, 1, 4, 16, 5, 27, tzinfo=UTC)),
    ],
)
def test_cda_timestamps_become_aware_datetimes(value, expected):
    parsed = parse_cda_timestamp(value)

    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "value",
    ["", "2021-04-01", "20211301", "20210230", "202104011", "20210401256000", "2021.5",
     "20210401134745+2500", "20210401T1347", "１２３４"],
)  # fmt: skip
def test_invalid_cda_timestamps_are_refused(value):
    with pytest.raises(InvalidCda) as refused:
        parse_cda_timestamp(value, field="author/time")

    assert refused.value.code == "cda-invalid-time"
    assert refused.value.field == "author/time"


# --- hostile and invalid input ------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol9;</title></ClinicalDocument>"""


def _with_doctype(doctype):
    """A real CDA with a DOCTYPE inserted after the XML declaration and its title replaced."""
    text = _bytes("VAC-NOTE_2023.01.xml").decode("utf-8")
    declaration_end = text.index("?>") + 2
    text = text[:declaration_end] + doctype + text[declaration_end:]
    return re.sub(r"<title>.*?</title>", "<title>&xxe;</title>", text, count=1).encode("utf-8")


@pytest.mark.parametrize(
    "make",
    [
        lambda: BILLION_LAUGHS,
        lambda: _with_doctype(
            '<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        ),
        lambda: _with_doctype(
            '<!DOCTYPE ClinicalDocument [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd">'
            '%remote;<!ENTITY xxe "x">]>'
        ),
        lambda: _with_doctype('<!DOCTYPE ClinicalDocument SYSTEM "http://127.0.0.1:9/cda.dtd">'),
        lambda: BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', "").encode("utf-16"),
    ],
    ids=["billion-laughs", "external-entity", "parameter-entity", "external-dtd", "utf-16"],
)
def test_dtds_and_entities_are_refused_without_expansion_or_fetching(make):
    # Built when the test runs: the real CDA comes from the reference data, which may be absent.
    with pytest.raises(InvalidCda) as refused:
        read_cda_header(make())

    assert refused.value.code == "cda-dtd-forbidden"
    assert "DOCTYPE" in refused.value.message
    assert "root:" not in refused.value.message


def test_a_doctype_hidden_after_a_long_prolog_is_still_refused():
    data = _with_doctype(
        "<!--" + "x" * 70_000 + "-->"
        '<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    )

    with pytest.raises(InvalidCda) as refused:
        read_cda_header(data)

    assert refused.value.code == "cda-dtd-forbidden"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"%PDF-1.5 not xml at all",
        b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>unclosed",
        b"<ClinicalDocument xmlns='urn:hl7-org:v3'>&undefined;</ClinicalDocument>",
        b"\xff\xfe\x00garbage",
        b'<?xml version="1.0" encoding="klingon"?><a/>',
    ],
)
def test_what_is_not_xml_is_refused(data):
    with pytest.raises(InvalidCda) as refused:
        read_cda_header(data)

    assert refused.value.code == "cda-malformed"
    assert isinstance(refused.value, InvalidInput)


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body>Compte rendu</body></html>",
        b"<ClinicalDocument><title>no namespace</title></ClinicalDocument>",
        b'<Bundle xmlns="http://hl7.org/fhir"><type value="document"/></Bundle>',
        b'<section xmlns="urn:hl7-org:v3"><title>a fragment</title></section>',
    ],
)
def test_a_wrong_root_element_is_refused(data):
    with pytest.raises(InvalidCda) as refused:
        read_cda_header(data)

    assert refused.value.code == "cda-not-clinical-document"
    assert "ClinicalDocument" in refused.value.message


def test_excessive_nesting_is_refused():
    data = b'<ClinicalDocument xmlns="urn:hl7-org:v3">' + b"<a>" * 5000 + b"</a>" * 5000
    data += b"</ClinicalDocument>"

    with pytest.raises(InvalidCda) as refused:
        read_cda_header(data)

    assert refused.value.code == "cda-too-deep"


def test_oversized_documents_are_refused_before_parsing():
    with pytest.raises(InvalidCda) as refused:
        read_cda_header(b" " * (MAX_CDA_BYTES + 1))

    assert refused.value.code == "cda-too-large"
    assert "Mo" in refused.value.message


def _without(pattern, name="LDL-EES_2022.01.xml"):
    text = _bytes(name).decode("utf-8")
    stripped, count = re.subn(pattern, "", text, flags=re.S)
    assert count >= 1
    return stripped.encode("utf-8")


@pytest.mark.parametrize(
    ("pattern", "field"),
    [
        (r'<id root="1\.2\.250\.1\.213\.1\.1\.1\.21\.2022\.1\.1"/>', "id"),
        (r'<code code="18761-7"[^>]*/>', "code"),
        (r"<title>.*?</title>", "title"),
        (r'<effectiveTime value="20191029111700\+0100"/>', "effectiveTime"),
        (r"<confidentialityCode[^>]*/>", "confidentialityCode"),
        (r"<recordTarget>.*</recordTarget>", "recordTarget"),
        (r"<patientRole>\s*(?:<!--.*?-->\s*)*(?:<id [^>]*/>\s*(?:<!--.*?-->\s*)*)+", None),
        (r"<author>.*</author>", "author"),
        (r"<custodian[ >].*</custodian>", "custodian"),
        (r"<component>\s*<structuredBody>.*</structuredBody>\s*</component>", "component"),
    ],
)
def test_missing_mandatory_header_parts_are_named(pattern, field):
    data = _without(pattern)
    if field is None:
        # Removing the patient ids leaves <patientRole> without an id.
        data = data.replace(b"<recordTarget>", b"<recordTarget><patientRole>", 1)
        field = "recordTarget/patientRole/id"

    with pytest.raises(InvalidCda) as refused:
        read_cda_header(data)

    assert refused.value.code == "cda-missing-element"
    assert refused.value.field == field
    assert "obligatoire" in refused.value.message


def test_a_malformed_creation_time_is_refused():
    data = _bytes("VSM_1.4_2022.01.xml").replace(
        b'<effectiveTime value="20200312111700+0100"/>',
        b'<effectiveTime value="2020-03-12T11:17:00"/>',
        1,
    )

    with pytest.raises(InvalidCda) as refused:
        read_cda_header(data)

    assert refused.value.code == "cda-invalid-time"
    assert refused.value.field == "effectiveTime"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_invalid_cda(data):
    with contextlib.suppress(InvalidCda):
        read_cda_header(data)


@needs_reference_data
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_real_documents_are_read_or_refused_cleanly(data):
    original = bytearray(_bytes("VAC-NOTE_2023.01.xml"))
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        position = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
        original[position] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        header = read_cda_header(bytes(original))
    except InvalidCda:
        return
    assert header.unique_id


# --- N1 body -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["DOC_NON_STRUCTURE_CDA-R2-N1.xml", "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"]
)
def test_n1_pdf_extraction(name):
    media_type, content = extract_nonxml_body(_bytes(name))

    assert media_type == "application/pdf"
    assert content.startswith(b"%PDF-")
    assert b"%%EOF" in content[-64:]


def test_n3_documents_have_no_body_to_extract():
    with pytest.raises(InvalidCda) as refused:
        extract_nonxml_body(_bytes("BIO-CR-BIO_2024.01_TSH_1.xml"))

    assert refused.value.code == "cda-not-unstructured"


def _n1_with_text(attributes, payload):
    text = _bytes("DOC_NON_STRUCTURE_CDA-R2-N1.xml").decode("utf-8")
    start = text.index("<text ", text.index("<nonXMLBody>"))
    end = text.index("</text>", start) + len("</text>")
    return (text[:start] + f"<text {attributes}>{payload}</text>" + text[end:]).encode("utf-8")


@pytest.mark.parametrize(
    ("attributes", "payload", "code"),
    [
        ('mediaType="application/pdf"', "JVBERi0xLjUK", "cda-body-not-base64"),
        ('mediaType="application/pdf" representation="TXT"', "%PDF-1.5", "cda-body-not-base64"),
        ('mediaType="application/pdf" representation="B64"', "JVBE*bad*", "cda-body-not-base64"),
        ('mediaType="application/pdf" representation="B64"', "", "cda-missing-element"),
        (
            'mediaType="application/pdf" representation="B64"',
            base64.b64encode(b"<html><script>alert(1)</script></html>").decode(),
            "cda-body-format-mismatch",
        ),
        (
            'mediaType="text/html" representation="B64"',
            base64.b64encode(b"<script>alert(1)</script>").decode(),
            "cda-unsupported-media-type",
        ),
        (
            'mediaType="application/pdf" representation="B64" compression="DF"',
            "JVBERi0xLjUK",
            "cda-body-compressed",
        ),
        ('mediaType="application/pdf" representation="B64"', '<reference value="http://x/y"/>',
         "cda-body-not-base64"),
    ],
)  # fmt: skip
def test_unacceptable_n1_bodies_are_refused(attributes, payload, code):
    with pytest.raises(InvalidCda) as refused:
        extract_nonxml_body(_n1_with_text(attributes, payload))

    assert refused.value.code == code


def test_an_acceptable_n1_body_in_another_format():
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 32
    data = _n1_with_text(
        'mediaType="image/jpeg" representation="B64"', base64.encodebytes(jpeg).decode()
    )

    assert extract_nonxml_body(data) == ("image/jpeg", jpeg)
    assert read_cda_header(data).format_code == "urn:ihe:iti-fr:xds-sd:jpeg:2010"


# --- metadata check ------------------------------------------------------------------------------


def test_metadata_matching_the_header_give_no_mismatch():
    header = _read("DOC_NON_STRUCTURE_CDA-R2-N1.xml")

    assert (
        header_mismatches(
            header,
            unique_id="urn:oid:1.3.6.1.4.1.19376.1.2.20.12345.1.1",
            type_code="11502-2",
            patient_ins="279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH",
            title="Compte rendu d'examens biologiques",
            creation_time=datetime(2021, 4, 1, 12, 47, 45),  # noqa: DTZ001 (naive XDS time is UTC)
            format_code="urn:ihe:iti:xds-sd:pdf:2008",
            confidentiality_codes=["N", "MASQUE_PS"],
            language_code="fr-FR",
            service_start=datetime(2021, 1, 4, 12, 47, tzinfo=UTC),
            service_stop=datetime(2021, 1, 4, 13, 55, tzinfo=PLUS_ONE),
            practice_setting_code="AMBULATOIRE",
            healthcare_facility_type_code="SA07",
            birth_family_name="Pat-Trois",
            first_birth_given_name="Dominique",
            birth_date=date(1979, 3, 28),
            gender="F",
            birth_place_code="51215",
        )
        == []
    )


def test_each_contradicted_metadata_value_is_reported():
    header = _read("BIO-CR-BIO_2024.01_TSH_1.xml")

    mismatches = header_mismatches(
        header,
        unique_id="1.2.250.1.213.1.1.1.55.2024.9.2",
        type_code="11488-4",
        patient_ins="279035121518989^^^&1.2.250.1.213.1.4.8&ISO^NH",
        title="Compte rendu d'examens biologiques",
        creation_time=datetime(2021, 4, 1, 17, 10, tzinfo=UTC),
        format_code="urn:ihe:iti:xds-sd:pdf:2008",
        confidentiality_codes=["R"],
        birth_family_name="PAT-DEUX",
        gender="M",
    )

    by_field = {m.field: m for m in mismatches}
    assert set(by_field) == {
        "unique_id",
        "type_code",
        "patient_ins",
        "creation_time",
        "format_code",
        "confidentiality_code",
        "birth_family_name",
        "gender",
    }
    type_mismatch = by_field["type_code"]
    assert (type_mismatch.expected, type_mismatch.found) == ("11488-4", "11502-2")
    assert type_mismatch.message == (
        "Le type de document (typeCode) ne correspond pas au document CDA : « 11488-4 » dans "
        "les métadonnées, « 11502-2 » dans l'en-tête du document."
    )
    assert by_field["patient_ins"].found == "279035121518989 (1.2.250.1.213.1.4.10)"
    assert by_field["format_code"].found == "urn:ihe:lab:xd-lab:2008"


def test_a_missing_header_value_is_reported_as_absent():
    header = _read("LDL-EES_2022.01.xml")

    (mismatch,) = header_mismatches(header, service_stop=datetime(2019, 10, 29, 12, 0, tzinfo=UTC))

    assert mismatch.field == "service_stop"
    assert mismatch.found is None
    assert "absent dans l'en-tête" in mismatch.message
