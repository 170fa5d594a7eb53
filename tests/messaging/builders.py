"""Builders of realistic MSSanté messages and IHE_XDM.ZIP archives from the ANS CDA examples.

The XDM builder reads each CDA header (docs/standards/cda.md) and writes the METADATA.XML a
professional's software would: ebRIM 3.0 with proper namespaces, one ExtrinsicObject per
document, the SHA-1 and size of the bytes, URIs relative to the subset folder. It is written
independently of `carnet.messaging.xdm` so that reading what it builds tests the reader.

Hostile archives start from `xdm_entries(...)` (a name → bytes dict), are altered, then zipped
with `zip_bytes(...)`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from lxml import etree

from tests.paths import CDA_DIR, TERMINOLOGY_DIR

HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

OID_IDNPS = "1.2.250.1.71.4.2.1"
OID_IDNST = "1.2.250.1.71.4.2.2"
OID_CLASS_CODES = "1.2.250.1.213.1.1.4.1"
OID_VISIBILITY = "1.2.250.1.213.1.1.4.13"
OID_CONFIDENTIALITY = "2.16.840.1.113883.5.25"

# Three CDAs of one test patient (INS-NIR test 279035121518989): an N1 (PDF) lab report,
# an N3 lab report and a vaccination note.
PATIENT_INS = "279035121518989"
SAMPLE_CDAS = (
    CDA_DIR / "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    CDA_DIR / "BIO-CR-BIO_2024.01_TSH_1.xml",
    CDA_DIR / "VAC-NOTE_2023.01.xml",
)
TRUSTED_DOMAINS = ("mssante.fr",)
PATIENT_DOMAIN = "mssante.fr"
SENDER = "marcel.camparini@labo-charmes.mssante.fr"

# Model templateId → formatCode (ASS_A11), for the models of the ANS examples.
FORMAT_BY_TEMPLATE = {
    "1.3.6.1.4.1.19376.1.2.20": "urn:ihe:iti:xds-sd:pdf:2008",
    "1.3.6.1.4.1.19376.1.3.3": "urn:ihe:lab:xd-lab:2008",
    "1.2.250.1.213.1.1.1.46": "urn:asip:ci-sis:vac-note:2021",
    "1.2.250.1.213.1.1.1.37": "urn:asip:ci-sis:vac:2019",
    "1.2.250.1.213.1.1.1.5.4": "urn:ans:ci-sis:cse-mde:2023",
    "1.2.250.1.213.1.1.1.29": "urn:asip:ci-sis:ldl-ses:2017",
    "1.2.250.1.213.1.1.1.13": "urn:asip:ci-sis:vsm:2012",
}

Coded = tuple[str, str, str]  # (code, scheme OID, display)


@dataclass(frozen=True)
class CdaHeader:
    """The XDS-relevant values of a CDA R2 header, as the document states them."""

    unique_id: str
    type_code: Coded
    title: str
    effective_time: str
    confidentiality: Coded
    language: str
    template_ids: tuple[str, ...]
    ins: str
    ins_oid: str
    birth_family: str
    birth_given: str
    gender: str
    birth_date: str
    birth_place: str
    author_id: str
    author_family: str
    author_given: str
    author_specialty: Coded
    organization_name: str
    organization_id: str
    legal_id: str
    legal_family: str
    legal_given: str
    service_start: str
    service_stop: str
    practice_setting: Coded
    facility_type: Coded

    @property
    def format_code(self) -> str:
        for template in self.template_ids:
            if template in FORMAT_BY_TEMPLATE:
                return FORMAT_BY_TEMPLATE[template]
        raise ValueError(f"No formatCode known for templates {self.template_ids}: add it")


def _cda_tree(source: Path | bytes) -> etree._Element:
    data = source.read_bytes() if isinstance(source, Path) else source
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data, parser)


def _text(root: etree._Element, path: str) -> str:
    found = root.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    if not found:
        return ""
    value = found[0]
    return str(value).strip() if not isinstance(value, etree._Element) else (value.text or "")


def _all(root: etree._Element, path: str) -> list[str]:
    found = root.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [str(value) for value in found]


def _coded(root: etree._Element, path: str) -> Coded:
    return (
        _text(root, f"{path}/@code"),
        _text(root, f"{path}/@codeSystem"),
        _text(root, f"{path}/@displayName"),
    )


def read_cda_header(source: Path | bytes) -> CdaHeader:
    root = _cda_tree(source)
    unique_root = _text(root, "h:id/@root")
    unique_ext = _text(root, "h:id/@extension")
    patient = "h:recordTarget/h:patientRole"
    ins_path = f"{patient}/h:id[starts-with(@root, '1.2.250.1.213.1.4.')]"
    author = "h:author[1]/h:assignedAuthor"
    legal = "h:legalAuthenticator/h:assignedEntity"
    event = "h:documentationOf[1]/h:serviceEvent"
    practice = (
        f"{event}/h:performer/h:assignedEntity/h:representedOrganization"
        "/h:standardIndustryClassCode"
    )
    if not root.xpath(practice, namespaces=NS):
        practice = f"{author}/h:representedOrganization/h:standardIndustryClassCode"
    return CdaHeader(
        unique_id=f"{unique_root}^{unique_ext}" if unique_ext else unique_root,
        type_code=_coded(root, "h:code"),
        title=" ".join(_text(root, "h:title").split()),
        effective_time=_text(root, "h:effectiveTime/@value"),
        confidentiality=_coded(root, "h:confidentialityCode"),
        language=_text(root, "h:languageCode/@code"),
        template_ids=tuple(_all(root, "h:templateId/@root")),
        ins=_text(root, f"{ins_path}/@extension"),
        ins_oid=_text(root, f"{ins_path}/@root"),
        birth_family=_text(root, f"{patient}/h:patient/h:name/h:family[@qualifier='BR']").strip(),
        birth_given=_text(root, f"{patient}/h:patient/h:name/h:given[not(@qualifier)]").strip(),
        gender=_text(root, f"{patient}/h:patient/h:administrativeGenderCode/@code"),
        birth_date=_text(root, f"{patient}/h:patient/h:birthTime/@value"),
        birth_place=_text(root, f"{patient}/h:patient/h:birthplace/h:place/h:addr/h:county"),
        author_id=_text(root, f"{author}/h:id/@extension"),
        author_family=_text(root, f"{author}/h:assignedPerson/h:name/h:family").strip(),
        author_given=_text(root, f"{author}/h:assignedPerson/h:name/h:given").strip(),
        author_specialty=_coded(root, f"{author}/h:code"),
        organization_name=_text(root, f"{author}/h:representedOrganization/h:name").strip(),
        organization_id=_text(root, f"{author}/h:representedOrganization/h:id/@extension"),
        legal_id=_text(root, f"{legal}/h:id/@extension"),
        legal_family=_text(root, f"{legal}/h:assignedPerson/h:name/h:family").strip(),
        legal_given=_text(root, f"{legal}/h:assignedPerson/h:name/h:given").strip(),
        service_start=_text(root, f"{event}/h:effectiveTime/h:low/@value"),
        service_stop=_text(root, f"{event}/h:effectiveTime/h:high/@value"),
        practice_setting=_coded(root, practice),
        facility_type=_coded(
            root, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code"
        ),
    )


def embedded_pdf(path: Path = CDA_DIR / "DOC_NON_STRUCTURE_CDA-R2-N1.xml") -> bytes:
    """The PDF/A carried base64 in the nonXMLBody of an N1 CDA: a real PDF for attachments."""
    root = _cda_tree(path)
    text = _text(root, "h:component/h:nonXMLBody/h:text")
    return base64.b64decode("".join(text.split()))


def xds_time(value: str) -> str:
    """A CDA TS (`YYYYMMDDHHMMSS+ZZZZ`) as an XDS DTM in UTC; a bare date stays as it is."""
    if not value or len(value) <= 8:
        return value
    digits, sign, offset = value, "", ""
    for mark in "+-":
        if mark in value:
            digits, offset = value.split(mark)
            sign = mark
    digits = digits.ljust(14, "0")[:14]
    parsed = datetime.strptime(digits + (sign + offset if sign else "+0000"), "%Y%m%d%H%M%S%z")
    return parsed.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def format_code_of(format_code: str) -> Coded:
    """The formatCode with its scheme and display, from the official format-codes table."""
    with (TERMINOLOGY_DIR / "format-codes.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["code"] == format_code:
                return (format_code, row["system_oid"], row["display"])
    raise ValueError(f"Unknown formatCode {format_code}")


def class_code_of(type_code: str) -> Coded:
    """The classCode of a typeCode (ASS_X04), from the official document-types table."""
    with (TERMINOLOGY_DIR / "document-types.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["code"] == type_code:
                return (row["class_code"], OID_CLASS_CODES, row["class_display"])
    raise ValueError(f"Unknown typeCode {type_code}")


@dataclass
class DocumentEntry:
    """What METADATA.XML says about one document; tests may alter it before writing."""

    header: CdaHeader
    filename: str
    content: bytes = field(repr=False)
    entry_uuid: str
    extra_confidentiality: tuple[Coded, ...] = ()
    declared_hash: str | None = None
    declared_size: int | None = None
    uri: str | None = None

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.content, usedforsecurity=False).hexdigest()


def document_entry(
    source: Path | bytes,
    *,
    filename: str,
    extra_confidentiality: Sequence[Coded] = (),
) -> DocumentEntry:
    content = source.read_bytes() if isinstance(source, Path) else source
    header = read_cda_header(content)
    return DocumentEntry(
        header=header,
        filename=filename,
        content=content,
        entry_uuid=f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, header.unique_id)}",
        extra_confidentiality=tuple(extra_confidentiality),
    )


def masked_from_professionals() -> Coded:
    return ("MASQUE_PS", OID_VISIBILITY, "Masqué aux professionnels de santé")


def _xcn(identifier: str, family: str, given: str) -> str:
    return f"{identifier}^{family}^{given}^^^^^^&{OID_IDNPS}&ISO^D^^^IDNPS"


def _xon(name: str, identifier: str) -> str:
    return f"{name}^^^^^&{OID_IDNST}&ISO^IDNST^^^{identifier}"


def _cx(ins: str, oid: str, kind: str = "NH") -> str:
    return f"{ins}^^^&{oid}&ISO^{kind}"


def _rim(tag: str) -> str:
    return f"{{{RIM}}}{tag}"


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = etree.SubElement(parent, _rim("Slot"), name=name)
    value_list = etree.SubElement(slot, _rim("ValueList"))
    for value in values:
        etree.SubElement(value_list, _rim("Value")).text = value


def _localized(parent: etree._Element, tag: str, value: str) -> None:
    holder = etree.SubElement(parent, _rim(tag))
    etree.SubElement(
        holder, _rim("LocalizedString"), attrib={"value": value, "charset": "UTF-8", XML_LANG: "FR"}
    )


def _classification(
    parent: etree._Element, scheme: str, object_id: str, coded: Coded, number: list[int]
) -> None:
    number[0] += 1
    element = etree.SubElement(
        parent,
        _rim("Classification"),
        id=f"cl{number[0]:02d}",
        classificationScheme=scheme,
        classifiedObject=object_id,
        nodeRepresentation=coded[0],
    )
    _slot(element, "codingScheme", coded[1])
    _localized(element, "Name", coded[2])


def _author(
    parent: etree._Element, scheme: str, object_id: str, header: CdaHeader, number: list[int]
) -> None:
    number[0] += 1
    element = etree.SubElement(
        parent,
        _rim("Classification"),
        id=f"cl{number[0]:02d}",
        classificationScheme=scheme,
        classifiedObject=object_id,
        nodeRepresentation="",
    )
    _slot(
        element, "authorPerson", _xcn(header.author_id, header.author_family, header.author_given)
    )
    _slot(element, "authorInstitution", _xon(header.organization_name, header.organization_id))
    code, oid, display = header.author_specialty
    _slot(element, "authorSpecialty", f"{code}^{display}^{oid}")


def _identifier(
    parent: etree._Element, scheme: str, object_id: str, value: str, label: str, number: list[int]
) -> None:
    number[0] += 1
    element = etree.SubElement(
        parent,
        _rim("ExternalIdentifier"),
        id=f"ei{number[0]:02d}",
        identificationScheme=scheme,
        registryObject=object_id,
        value=value,
    )
    _localized(element, "Name", label)


def metadata_xml(
    entries: Sequence[DocumentEntry],
    *,
    submission_unique_id: str = "1.2.250.1.999.1.1.7777.1",
    source_id: str = "1.2.250.1.999.1.1.7777",
    submission_time: str = "20240116151112",
) -> bytes:
    """An ebRIM 3.0 SubmitObjectsRequest describing `entries` as one submission set."""
    first = entries[0].header
    request = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = etree.SubElement(request, _rim("RegistryObjectList"))
    number = [0]
    set_id = "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_OID, submission_unique_id))
    package = etree.SubElement(objects, _rim("RegistryPackage"), id=set_id)
    _slot(package, "submissionTime", submission_time)
    _localized(package, "Name", "Envoi de documents par messagerie sécurisée")
    _author(package, "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d", set_id, first, number)
    _classification(
        package,
        "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500",
        set_id,
        first.facility_type,
        number,
    )
    _identifier(
        package,
        "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
        set_id,
        _cx(first.ins, first.ins_oid),
        "XDSSubmissionSet.patientId",
        number,
    )
    _identifier(
        package,
        "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
        set_id,
        source_id,
        "XDSSubmissionSet.sourceId",
        number,
    )
    _identifier(
        package,
        "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
        set_id,
        submission_unique_id,
        "XDSSubmissionSet.uniqueId",
        number,
    )
    etree.SubElement(
        objects,
        _rim("Classification"),
        id="cl-set",
        classifiedObject=set_id,
        classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd",
    )
    for entry in entries:
        _extrinsic(objects, entry, number)
    for index, entry in enumerate(entries, start=1):
        association = etree.SubElement(
            objects,
            _rim("Association"),
            id=f"as{index:02d}",
            associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
            sourceObject=set_id,
            targetObject=entry.entry_uuid,
        )
        _slot(association, "SubmissionSetStatus", "Original")
    return etree.tostring(request, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _extrinsic(objects: etree._Element, entry: DocumentEntry, number: list[int]) -> None:
    header = entry.header
    doc_id = entry.entry_uuid
    element = etree.SubElement(
        objects,
        _rim("ExtrinsicObject"),
        id=doc_id,
        mimeType="text/xml",
        objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1",
    )
    _slot(element, "creationTime", xds_time(header.effective_time))
    _slot(element, "hash", entry.declared_hash or entry.sha1)
    _slot(element, "languageCode", header.language)
    _slot(
        element,
        "legalAuthenticator",
        _xcn(header.legal_id, header.legal_family, header.legal_given),
    )
    if header.service_start:
        _slot(element, "serviceStartTime", xds_time(header.service_start))
    if header.service_stop:
        _slot(element, "serviceStopTime", xds_time(header.service_stop))
    _slot(
        element,
        "size",
        str(entry.declared_size if entry.declared_size is not None else len(entry.content)),
    )
    _slot(element, "sourcePatientId", _cx(header.ins, header.ins_oid))
    _slot(
        element,
        "sourcePatientInfo",
        f"PID-5|{header.birth_family}^{header.birth_given}^^^^^L",
        f"PID-7|{header.birth_date}",
        f"PID-8|{header.gender}",
        f"PID-11|^^^^^^BDL^^{header.birth_place}",
    )
    _slot(element, "URI", entry.uri if entry.uri is not None else entry.filename)
    _localized(element, "Name", header.title)
    _author(element, "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d", doc_id, header, number)
    _classification(
        element,
        "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
        doc_id,
        class_code_of(header.type_code[0]),
        number,
    )
    for coded in (header.confidentiality, *entry.extra_confidentiality):
        _classification(
            element, "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f", doc_id, coded, number
        )
    _classification(
        element,
        "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
        doc_id,
        format_code_of(header.format_code),
        number,
    )
    _classification(
        element,
        "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
        doc_id,
        header.facility_type,
        number,
    )
    _classification(
        element,
        "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
        doc_id,
        header.practice_setting,
        number,
    )
    _classification(
        element, "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983", doc_id, header.type_code, number
    )
    _identifier(
        element,
        "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
        doc_id,
        _cx(header.ins, header.ins_oid),
        "XDSDocumentEntry.patientId",
        number,
    )
    _identifier(
        element,
        "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
        doc_id,
        header.unique_id,
        "XDSDocumentEntry.uniqueId",
        number,
    )


def sample_entries(
    cda_files: Sequence[Path] = SAMPLE_CDAS, *, masked: Iterable[int] = ()
) -> list[DocumentEntry]:
    """One DocumentEntry per CDA, named DOC0001.XML…; indexes in `masked` get MASQUE_PS."""
    hidden = set(masked)
    return [
        document_entry(
            path,
            filename=f"DOC{index:04d}.XML",
            extra_confidentiality=[masked_from_professionals()] if index - 1 in hidden else [],
        )
        for index, path in enumerate(cda_files, start=1)
    ]


def xdm_entries(
    entries: Sequence[DocumentEntry] | None = None, *, subset: str = "SUBSET01"
) -> dict[str, bytes]:
    """The files of an IHE_XDM.ZIP (docs/standards/mssante-xdm.md): name → bytes, to alter."""
    documents = sample_entries() if entries is None else entries
    links = "".join(
        f'<li><a href="IHE_XDM/{subset}/{e.filename}">{e.header.title}</a></li>' for e in documents
    )
    files = {
        "INDEX.HTM": (
            f"<html><head><title>Documents</title></head><body><ul>{links}</ul></body></html>"
        ).encode(),
        "README.TXT": b"Archive IHE XDM produite par Carnet (jeu de test).\r\n",
        f"IHE_XDM/{subset}/METADATA.XML": metadata_xml(documents),
    }
    for entry in documents:
        files[f"IHE_XDM/{subset}/{entry.filename}"] = entry.content
    return files


def zip_bytes(
    entries: Mapping[str, bytes] | Iterable[tuple[str, bytes]],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A ZIP held in memory; entries are written in the given order, names as given."""
    items = entries.items() if isinstance(entries, Mapping) else entries
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in items:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 16, 15, 11, 12))
            info.compress_type = compression
            archive.writestr(info, content)
    return buffer.getvalue()


def build_xdm_zip(
    cda_files: Sequence[Path] = SAMPLE_CDAS, *, subset: str = "SUBSET01", masked: Iterable[int] = ()
) -> bytes:
    return zip_bytes(xdm_entries(sample_entries(cda_files, masked=masked), subset=subset))


def patient_address(ins: str = PATIENT_INS, domain: str = PATIENT_DOMAIN) -> str:
    return f"{ins}@patient.{domain}"


def build_mss_message(
    *,
    sender: str = SENDER,
    sender_name: str = "Dr Marcel CAMPARINI",
    to: str | None = None,
    subject: str = "XDM/1.0/DDM+Compte rendu d'examens biologiques",
    body: str = (
        "Madame,\n\nVous trouverez ci-joint vos résultats d'analyses.\n\n"
        "Bien cordialement,\nDr Marcel CAMPARINI\n"
    ),
    html_body: str | None = None,
    cda_files: Sequence[Path] = (),
    xdm: bytes | None = None,
    pdf: bytes | None = None,
    pdf_filename: str = "compte-rendu.pdf",
    attachments: Sequence[tuple[str, str, bytes]] = (),
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    date: datetime | None = None,
) -> bytes:
    """A message as an MSSanté operator delivers it, built with the stdlib `EmailMessage`.

    `cda_files` builds the IHE_XDM.ZIP and the X-MSS-CODECDA/X-MSS-INS headers from the CDAs;
    `xdm` attaches given archive bytes instead. `attachments` are (filename, content type, bytes).
    `headers` are extra header fields (EmailMessage refuses a second Subject or From: tests of
    repeated headers edit the returned bytes).
    """
    message = EmailMessage()
    message["From"] = f"{sender_name} <{sender}>" if sender_name else sender
    message["To"] = to if to is not None else patient_address()
    message["Subject"] = subject
    message["Date"] = format_datetime(date or datetime(2024, 1, 16, 15, 11, 12, tzinfo=UTC))
    message["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2])
    message["X-MSS-NIL"] = "CARNET-TESTS-1.0"
    if cda_files:
        headers_of = [read_cda_header(path) for path in cda_files]
        message["X-MSS-CODECDA"] = ",".join(dict.fromkeys(h.type_code[0] for h in headers_of))
        qualified = all(h.ins and h.ins_oid and h.birth_date for h in headers_of)
        message["X-MSS-INS"] = "O" if qualified else "N"
        if xdm is None:
            xdm = build_xdm_zip(cda_files)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html_body is not None:
        message.add_alternative(html_body, subtype="html")
    if pdf is not None:
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_filename)
    if xdm is not None:
        message.add_attachment(xdm, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    for filename, content_type, content in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()
