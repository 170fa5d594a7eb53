"""Reading IHE_XDM.ZIP archives: the real DRIMbox metadata, archives built from the ANS example
CDAs (reference data), and hostile archives that must each be refused with a clear error."""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.identity.ins import InsKind, InvalidIns
from carnet.messaging.limits import XdmLimits
from carnet.messaging.xdm import (
    DocumentKind,
    XdmError,
    XdmMetadataError,
    XdmMissingFileError,
    XdmTooLargeError,
    XdmUnsafeArchiveError,
    parse_dtm,
    read_xdm,
    xml_root_name,
)
from tests.messaging.builders import (
    PATIENT_INS,
    SAMPLE_CDAS,
    build_xdm_zip,
    document_entry,
    read_cda_header,
    sample_entries,
    xdm_entries,
    zip_bytes,
)
from tests.paths import XDM_DIR, needs_reference_data

DRIMBOX = XDM_DIR / "DRIM-M_KA202401" / "IHE_XDM" / "SS000001" / "METADATA.XML"
# A DICOM file starts with a 128-byte preamble and "DICM".
FAKE_KOS = b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" * 8
FAKE_SIGNATURE = b'<?xml version="1.0"?><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/>'


def _drimbox_zip(**extra: bytes) -> bytes:
    return zip_bytes(
        {
            "INDEX.HTM": b"<html></html>",
            "IHE_XDM/SS000001/METADATA.XML": DRIMBOX.read_bytes(),
            "IHE_XDM/SS000001/KOS_1_1.DCM": FAKE_KOS,
            "IHE_XDM/SS000001/SIGN_1.XML": FAKE_SIGNATURE,
            **extra,
        }
    )


def test_real_drimbox_metadata_gives_its_submission_set():
    # Given the DRIMbox METADATA.XML (undeclared ns3: prefix, symbolic ids) with stand-in files
    package = read_xdm(_drimbox_zip())

    (submission,) = package.submission_sets
    assert submission.subset == "SS000001"
    assert submission.entry_uuid == "SubmissionSet01"
    assert submission.unique_id == "1.2.250.1.999.1.1.8121.4.9618"
    assert submission.source_id == "1.2.250.1.999.1.1.8121"
    assert submission.submission_time == datetime(2024, 1, 16, 15, 11, 12, tzinfo=UTC)
    assert submission.title == "submissionset title"
    assert submission.comments == "submissionset comments"
    assert submission.content_type_code is not None
    assert submission.content_type_code.code == "04"
    assert submission.content_type_code.scheme == "1.2.250.1.213.2.2"
    assert submission.content_type_code.display == "Hospitalisation de jour"
    (author,) = submission.authors
    assert author.person is not None
    assert (author.person.id, author.person.family, author.person.given) == (
        "899700367909",
        "DOC0036790",
        "KIT",
    )
    assert (author.person.oid, author.person.id_type) == ("1.2.250.1.71.4.2.1", "IDNPS")
    (institution,) = author.institutions
    assert (institution.name, institution.id, institution.oid, institution.id_type) == (
        "BCOM",
        "499700367909006",
        "1.2.250.1.71.4.2.2",
        "IDNST",
    )
    assert submission.patient_id is not None
    assert submission.patient_id.value == "162018885045327"
    assert submission.patient_id.oid == "1.2.250.1.213.1.4.10"
    assert [(a.association_type, a.source, a.target) for a in submission.associations] == [
        ("HasMember", "SubmissionSet01", "DocumentKOS"),
        ("HasMember", "SubmissionSet01", "Signature01"),
        ("signs", "Signature01", "SubmissionSet01"),
    ]


def test_real_drimbox_metadata_gives_the_kos_document_and_its_bytes():
    package = read_xdm(_drimbox_zip())

    kos = package.documents[0]
    assert kos.entry_uuid == "DocumentKOS"
    assert kos.unique_id == "1.3.2.751468943.3.1234.99352.240116151112.1.1.1"
    assert kos.mime_type == "application/dicom"
    assert kos.title == "Reference d'Objets d'un Examen d'Imagerie"
    assert kos.comments == "KOS"
    assert kos.type_code is not None
    assert kos.class_code is not None
    assert (kos.type_code.code, kos.type_code.scheme) == ("IMG-KOS", "1.2.250.1.213.1.1.4.12")
    assert (kos.class_code.code, kos.class_code.display) == ("31", "Imagerie médicale")
    assert kos.format_code is not None
    assert kos.format_code.code == "1.2.840.10008.5.1.4.1.1.88.59"
    assert [c.code for c in kos.confidentiality_codes] == ["N"]
    assert kos.healthcare_facility_type_code is not None
    assert kos.healthcare_facility_type_code.code == "SA25"
    assert kos.practice_setting_code is not None
    assert kos.practice_setting_code.code == "AMBULATOIRE"
    assert [(c.code, c.scheme) for c in kos.event_codes] == [
        ("63337009", "1.2.250.1.213.2.5"),
        ("MR", "1.2.250.1.213.1.1.5.618"),
    ]
    assert kos.patient_id is not None
    assert kos.source_patient_id is not None
    assert (kos.patient_id.value, kos.patient_id.id_type) == ("162018885045327", "NH")
    assert kos.source_patient_id.id_type == "PI"
    info = kos.source_patient_info
    assert info is not None
    assert [(n.family, n.given, n.name_type) for n in info.names] == [("PAT-SIX", "Alain", "L")]
    assert (info.birth_date, info.gender) == (date(1996, 1, 24), "M")
    assert kos.legal_authenticator is not None
    assert kos.legal_authenticator.id == "899700367909"
    assert kos.creation_time == datetime(2024, 1, 16, 15, 11, 12, tzinfo=UTC)
    assert kos.service_start_time == datetime(2021, 1, 4, 9, 22, tzinfo=UTC)
    assert kos.service_stop_time == datetime(2021, 1, 4, 16, 5, tzinfo=UTC)
    assert kos.language_code == "fr-FR"
    assert len(kos.reference_ids) == 3
    assert kos.reference_ids[0].endswith("^urn:ihe:iti:xds:2013:accession")
    # DRIMbox writes the URI relative to IHE_XDM/, not to the subset folder.
    assert kos.uri == "SS000001/KOS_1_1.DCM"
    assert kos.path == "IHE_XDM/SS000001/KOS_1_1.DCM"
    assert kos.content == FAKE_KOS
    assert kos.kind is DocumentKind.OTHER


def test_real_drimbox_signature_is_hidden_from_professionals_and_patient():
    package = read_xdm(_drimbox_zip())

    signature = package.documents[1]
    assert signature.kind is DocumentKind.SIGNATURE
    assert signature.content == FAKE_SIGNATURE
    assert [c.code for c in signature.confidentiality_codes] == [
        "N",
        "MASQUE_PS",
        "INVISIBLE_PATIENT",
    ]
    assert signature.masked_from_professionals
    assert signature.invisible_to_patient
    assert not signature.invisible_to_legal_representatives
    assert signature.language_code == "art"


def test_declared_hash_and_size_mismatches_are_reported_not_refused():
    # The stand-in files are not the ones DRIMbox hashed.
    package = read_xdm(_drimbox_zip())

    kos = package.documents[0]
    assert kos.declared_hash == "5a4009cca445f28810fd34dc8e3526cbe9814664"
    assert kos.declared_size == 5164
    assert kos.hash_matches is False
    assert kos.size_matches is False
    assert kos.sha1 == hashlib.sha1(FAKE_KOS, usedforsecurity=False).hexdigest()
    assert len(package.problems) == 4
    assert any("KOS_1_1.DCM" in p and "SHA-1" in p for p in package.problems)


def test_patient_id_gives_the_ins_only_where_fictitious_ins_are_accepted():
    package = read_xdm(_drimbox_zip())
    patient_id = package.documents[0].patient_id
    assert patient_id is not None
    assert patient_id.is_ins

    ins = patient_id.to_ins(accept_fictitious=True)
    assert (ins.matricule, ins.kind) == ("162018885045327", InsKind.NIR_TEST)
    with pytest.raises(InvalidIns):
        patient_id.to_ins(accept_fictitious=False)


def test_built_archive_is_read_back_with_the_metadata_of_each_cda():
    headers = [read_cda_header(path) for path in SAMPLE_CDAS]

    package = read_xdm(build_xdm_zip(SAMPLE_CDAS, masked=[2]))

    (submission,) = package.submission_sets
    assert submission.subset == "SUBSET01"
    assert submission.unique_id == "1.2.250.1.999.1.1.7777.1"
    assert len(submission.documents) == 3
    assert package.problems == ()
    for path, header, doc in zip(SAMPLE_CDAS, headers, package.documents, strict=True):
        assert doc.content == path.read_bytes()
        assert doc.kind is DocumentKind.CDA
        assert doc.hash_matches is True
        assert doc.size_matches is True
        assert doc.unique_id == header.unique_id
        assert doc.title == header.title
        assert doc.type_code is not None
        assert doc.type_code.code == header.type_code[0]
        assert doc.patient_id is not None
        assert (doc.patient_id.value, doc.patient_id.oid) == (PATIENT_INS, "1.2.250.1.213.1.4.10")
        assert doc.authors[0].person is not None
        assert doc.authors[0].person.id == header.author_id
        assert doc.mime_type == "text/xml"
    n1, n3, vaccination = package.documents
    # Values read in the CDA files themselves (CDA header → XDS mapping, docs/standards/cda.md).
    assert n1.path == "IHE_XDM/SUBSET01/DOC0001.XML"
    assert n1.unique_id == "1.3.6.1.4.1.19376.1.2.20.12345.1.1"
    assert n1.creation_time == datetime(2021, 4, 1, 12, 47, 45, tzinfo=UTC)  # 13:47:45+0100
    assert n1.format_code is not None
    assert n1.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert n1.class_code is not None
    assert n1.class_code.code == "10"
    assert n1.healthcare_facility_type_code is not None
    assert n1.healthcare_facility_type_code.code == "SA07"
    assert n1.source_patient_info is not None
    assert n1.source_patient_info.birth_place_code == "51215"
    assert n1.source_patient_info.birth_date == date(1979, 3, 28)
    assert n3.format_code is not None
    assert n3.format_code.code == "urn:ihe:lab:xd-lab:2008"
    assert vaccination.type_code is not None
    assert vaccination.type_code.code == "87273-9"
    assert vaccination.class_code is not None
    assert vaccination.class_code.code == "52"
    assert [d.masked_from_professionals for d in package.documents] == [False, False, True]


def test_uri_is_found_whatever_its_case_and_under_any_subset_name():
    entries = sample_entries(SAMPLE_CDAS[:1])
    entries[0].uri = "doc0001.xml"

    package = read_xdm(zip_bytes(xdm_entries(entries, subset="SS000001")))

    assert package.documents[0].path == "IHE_XDM/SS000001/DOC0001.XML"
    assert package.documents[0].subset == "SS000001"


def test_archive_written_with_backslashes_is_read():
    # Some Windows tools write folder separators as backslashes, folders included.
    entries = xdm_entries(sample_entries(SAMPLE_CDAS[2:]))
    windows = [("IHE_XDM\\", b""), *((n.replace("/", "\\"), c) for n, c in entries.items())]

    package = read_xdm(zip_bytes(windows))

    assert package.documents[0].path == "IHE_XDM/SUBSET01/DOC0001.XML"
    assert package.documents[0].content == SAMPLE_CDAS[2].read_bytes()


def test_several_subsets_are_all_read():
    first = xdm_entries(sample_entries(SAMPLE_CDAS[:1]), subset="SUBSET01")
    second = xdm_entries(sample_entries(SAMPLE_CDAS[2:]), subset="SUBSET02")

    package = read_xdm(zip_bytes({**first, **second}))

    assert [s.subset for s in package.submission_sets] == ["SUBSET01", "SUBSET02"]
    assert [d.type_code.code for d in package.documents if d.type_code] == ["11502-2", "87273-9"]


# --- hostile archives ---------------------------------------------------------------------------


def _valid_entries() -> dict[str, bytes]:
    return xdm_entries(sample_entries(SAMPLE_CDAS[:2]))


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("../../etc/cron.d/evil", XdmUnsafeArchiveError, "sort de son dossier"),
        ("IHE_XDM/SUBSET01/../../../evil", XdmUnsafeArchiveError, "sort de son dossier"),
        ("IHE_XDM\\..\\..\\evil.bat", XdmUnsafeArchiveError, "sort de son dossier"),
        ("/etc/passwd", XdmUnsafeArchiveError, "chemin absolu"),
        ("C:/Windows/evil.dll", XdmUnsafeArchiveError, "chemin absolu"),
        ("IHE_XDM/SUBSET01/evil\x07.xml", XdmUnsafeArchiveError, "caractère de contrôle"),
    ],
)
def test_entry_names_that_escape_or_trick_are_refused(name, error, words):
    entries = {**_valid_entries(), name: b"owned"}

    with pytest.raises(error, match=words):
        read_xdm(zip_bytes(entries))


def test_symbolic_link_entry_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in _valid_entries().items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo("IHE_XDM/SUBSET01/LINK.XML")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")

    with pytest.raises(XdmUnsafeArchiveError, match="lien symbolique"):
        read_xdm(buffer.getvalue())


def _patch_central_directory(data: bytes, name: str, offset: int, value: bytes) -> bytes:
    """Overwrite a field of an entry's central-directory record (and its local header flags)."""
    patched = bytearray(data)
    position = patched.find(b"PK\x01\x02")
    while position >= 0:
        name_length = int.from_bytes(patched[position + 28 : position + 30], "little")
        if patched[position + 46 : position + 46 + name_length] == name.encode():
            patched[position + offset : position + offset + len(value)] = value
            if offset == 8:  # general-purpose flags: the local header has them at offset 6
                local = int.from_bytes(patched[position + 42 : position + 46], "little")
                patched[local + 6 : local + 6 + len(value)] = value
            return bytes(patched)
        position = patched.find(b"PK\x01\x02", position + 4)
    raise AssertionError(name)


def test_encrypted_entry_is_refused():
    data = _patch_central_directory(
        zip_bytes(_valid_entries()), "IHE_XDM/SUBSET01/DOC0001.XML", 8, b"\x01\x00"
    )

    with pytest.raises(XdmUnsafeArchiveError, match="chiffrée"):
        read_xdm(data)


def test_duplicate_entry_names_are_refused():
    entries = list(_valid_entries().items())
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = zip_bytes([*entries, ("IHE_XDM/SUBSET01/DOC0001.XML", b"<other/>")])

    with pytest.raises(XdmUnsafeArchiveError, match="deux fois"):
        read_xdm(data)


def test_entry_names_differing_only_by_case_are_refused():
    entries = {**_valid_entries(), "IHE_XDM/SUBSET01/doc0001.xml": b"<other/>"}

    with pytest.raises(XdmUnsafeArchiveError, match="deux fois"):
        read_xdm(zip_bytes(entries))


def test_zip_bomb_entry_larger_than_the_entry_cap_is_refused():
    # 30 MiB of zeros deflate to about 30 KB.
    entries = {**_valid_entries(), "IHE_XDM/SUBSET01/DOC0009.XML": bytes(30 * 1024 * 1024)}
    data = zip_bytes(entries)
    assert len(data) < 1024 * 1024

    with pytest.raises(XdmTooLargeError, match="20 Mo"):
        read_xdm(data)


def test_compression_ratio_of_a_zip_bomb_is_refused():
    entries = {**_valid_entries(), "IHE_XDM/SUBSET01/DOC0009.XML": bytes(5 * 1024 * 1024)}

    with pytest.raises(XdmTooLargeError, match="taux de compression"):
        read_xdm(zip_bytes(entries))


def test_total_inflated_size_is_capped():
    limits = XdmLimits(max_total_bytes=300_000)

    with pytest.raises(XdmTooLargeError, match="décompressée dépasser"):
        read_xdm(build_xdm_zip(SAMPLE_CDAS), limits=limits)


def test_declared_size_that_lies_is_caught_while_inflating():
    name = "IHE_XDM/SUBSET01/DOC0001.XML"
    data = zip_bytes(_valid_entries())
    # Uncompressed size field of the central directory (offset 24) claims 1000 bytes.
    lying = _patch_central_directory(data, name, 24, (1000).to_bytes(4, "little"))

    with pytest.raises(XdmError, match="corrompue"):
        read_xdm(lying)


def test_too_many_entries_are_refused_before_reading_them():
    entries = {**_valid_entries(), **{f"IHE_XDM/SUBSET01/F{i:04d}.TXT": b"x" for i in range(500)}}

    with pytest.raises(XdmTooLargeError, match="entrées"):
        read_xdm(zip_bytes(entries))


def test_unsupported_compression_is_refused():
    data = zip_bytes(_valid_entries(), compression=zipfile.ZIP_BZIP2)

    with pytest.raises(XdmError, match="compression non prise en charge"):
        read_xdm(data)


def test_missing_metadata_is_refused():
    entries = _valid_entries()
    del entries["IHE_XDM/SUBSET01/METADATA.XML"]

    with pytest.raises(XdmMetadataError, match=r"ne contient pas de fichier METADATA\.XML"):
        read_xdm(zip_bytes(entries))


def test_archive_without_ihe_xdm_folder_is_not_an_xdm():
    with pytest.raises(XdmError, match="pas de dossier IHE_XDM"):
        read_xdm(zip_bytes({"README.TXT": b"hello", "DOC0001.XML": b"<x/>"}))


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + bytes(40)])
def test_bytes_that_are_not_a_zip_are_refused(data):
    with pytest.raises(XdmError, match="archive ZIP lisible"):
        read_xdm(data)


def test_metadata_referencing_a_missing_file_is_refused():
    entries = _valid_entries()
    del entries["IHE_XDM/SUBSET01/DOC0002.XML"]

    with pytest.raises(XdmMissingFileError, match=r"« DOC0002\.XML » .* absent"):
        read_xdm(zip_bytes(entries))


@pytest.mark.parametrize("uri", ["../../README.TXT", "/etc/passwd", "file:///etc/passwd"])
def test_metadata_uri_outside_the_archive_is_refused(uri):
    entries = sample_entries(SAMPLE_CDAS[:1])
    entries[0].uri = uri

    with pytest.raises(XdmMetadataError, match="pas un chemin relatif"):
        read_xdm(zip_bytes(xdm_entries(entries)))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<SubmitObjectsRequest><RegistryObjectList>&lol9;</RegistryObjectList></SubmitObjectsRequest>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<SubmitObjectsRequest><RegistryObjectList>&xxe;</RegistryObjectList></SubmitObjectsRequest>
"""


@pytest.mark.parametrize("metadata", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entities_in_metadata_are_refused(metadata):
    entries = {**_valid_entries(), "IHE_XDM/SUBSET01/METADATA.XML": metadata}

    with pytest.raises(XdmMetadataError, match="DTD ou des entités"):
        read_xdm(zip_bytes(entries))


@pytest.mark.parametrize(
    "metadata",
    [
        b"<SubmitObjectsRequest><RegistryObjectList>",
        b"<a><b></a></b>",
        b"\xff\xfe garbage",
    ],
)
def test_metadata_that_is_not_well_formed_is_refused(metadata):
    entries = {**_valid_entries(), "IHE_XDM/SUBSET01/METADATA.XML": metadata}

    with pytest.raises(XdmMetadataError, match="bien formé"):
        read_xdm(zip_bytes(entries))


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252", "UTF-16"])
def test_metadata_in_another_declared_encoding_is_read(encoding):
    entries = xdm_entries(sample_entries(SAMPLE_CDAS[2:]))
    name = "IHE_XDM/SUBSET01/METADATA.XML"
    text = entries[name].decode("utf-8").replace("encoding='UTF-8'", f"encoding='{encoding}'")
    entries[name] = text.encode(encoding)

    package = read_xdm(zip_bytes(entries))

    assert package.submission_sets[0].title == "Envoi de documents par messagerie sécurisée"
    assert package.documents[0].class_code is not None
    assert package.documents[0].class_code.display == "Certificat, déclaration"


def test_metadata_in_an_unknown_encoding_is_refused():
    entries = {
        **_valid_entries(),
        "IHE_XDM/SUBSET01/METADATA.XML": b"<?xml version='1.0' encoding='x-martian'?><a/>",
    }

    with pytest.raises(XdmMetadataError, match="encodage de caractères illisible"):
        read_xdm(zip_bytes(entries))


def test_deeply_nested_metadata_is_refused():
    metadata = b"<a>" * 1000 + b"</a>" * 1000
    entries = {**_valid_entries(), "IHE_XDM/SUBSET01/METADATA.XML": metadata}

    with pytest.raises(XdmTooLargeError, match="trop profond"):
        read_xdm(zip_bytes(entries))


def test_metadata_without_submit_objects_request_is_refused():
    entries = {**_valid_entries(), "IHE_XDM/SUBSET01/METADATA.XML": b"<html><body/></html>"}

    with pytest.raises(XdmMetadataError, match="SubmitObjectsRequest"):
        read_xdm(zip_bytes(entries))


def test_same_document_twice_is_refused():
    twice = [
        document_entry(SAMPLE_CDAS[0], filename="DOC0001.XML"),
        document_entry(SAMPLE_CDAS[0], filename="DOC0002.XML"),
    ]
    twice[1].entry_uuid = "urn:uuid:00000000-0000-4000-8000-000000000002"

    with pytest.raises(XdmMetadataError, match="même identifiant unique"):
        read_xdm(zip_bytes(xdm_entries(twice)))


def test_malformed_creation_time_is_refused():
    entries = _valid_entries()
    name = "IHE_XDM/SUBSET01/METADATA.XML"
    entries[name] = entries[name].replace(b"<rim:Value>20210401124745", b"<rim:Value>2021-04-01", 1)

    with pytest.raises(XdmMetadataError, match="creationTime invalide"):
        read_xdm(zip_bytes(entries))


# --- small pieces -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20240116151112", datetime(2024, 1, 16, 15, 11, 12, tzinfo=UTC)),
        ("202401161511", datetime(2024, 1, 16, 15, 11, tzinfo=UTC)),
        ("20240116", datetime(2024, 1, 16, tzinfo=UTC)),
        ("2024", datetime(2024, 1, 1, tzinfo=UTC)),
        ("20210401134745+0100", datetime(2021, 4, 1, 12, 47, 45, tzinfo=UTC)),
        ("20210401134745.123-0230", datetime(2021, 4, 1, 16, 17, 45, tzinfo=UTC)),
    ],
)
def test_hl7_dates_are_read_as_utc(value, expected):
    assert parse_dtm(value) == expected


@pytest.mark.parametrize("value", ["", "2024-01-16", "20241316", "2024011", "abc"])
def test_malformed_hl7_dates_raise(value):
    with pytest.raises(ValueError):  # noqa: PT011 - the only error parse_dtm raises
        parse_dtm(value)


@given(
    st.datetimes(
        # hypothesis wants naive bounds and adds the time zones itself
        min_value=datetime(1900, 1, 1),  # noqa: DTZ001
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    )
)
def test_any_dated_instant_survives_the_hl7_format(moment):
    moment = moment.replace(microsecond=0)

    assert parse_dtm(moment.strftime("%Y%m%d%H%M%S%z")) == moment


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- <x> --><ClinicalDocument/>', "ClinicalDocument"),
        (
            b"<?xml-stylesheet href='a.xsl'?><hl7:ClinicalDocument xmlns:hl7='u'>",
            "ClinicalDocument",
        ),
        (b"<!DOCTYPE html><html>", "html"),
        (b"<!-- never closed", None),
        (b"plain text", None),
    ],
)
def test_xml_root_name(data, expected):
    assert xml_root_name(data) == expected


@needs_reference_data
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_archives_give_an_xdm_error_or_a_package(data):
    archive = bytearray(_small_xdm())
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(archive) - 1))
        archive[position] = data.draw(st.integers(0, 255))

    try:
        outcome: object = read_xdm(bytes(archive))
    except XdmError as error:
        outcome = error.message
    # Either a clear French message or a package: never another exception.
    assert outcome


@functools.cache
def _small_xdm() -> bytes:
    # Built on first use, not at import: the CDA comes from the reference data, maybe absent.
    return zip_bytes(xdm_entries(sample_entries(SAMPLE_CDAS[2:])), compression=zipfile.ZIP_STORED)
