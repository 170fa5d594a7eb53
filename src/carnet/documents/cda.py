"""Hostile-safe reading of CDA R2 documents (CI-SIS header, `shared/spec/documents.md` §7).

Every CDA comes from outside, so it is parsed as hostile: a size cap before parsing, no DTD at all
(which rules out entity bombs and external entities), no network, libxml2's default limits on
depth and text size (no `huge_tree`). Anything that is not a well-formed HL7 v3 `ClinicalDocument`
with the mandatory header parts raises `InvalidCda` with a French message and a specific `code`.

The header is the source of the XDS/FHIR metadata; `header_mismatches` lists where submitted
metadata contradict it, so that a deposit whose metadata disagree with its document is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from lxml import etree

from carnet.core.errors import InvalidInput
from carnet.documents.classification import (
    cda_model_format_code,
    nonxml_format_code,
    nonxml_media_types,
)
from carnet.identity.ins import OID_KINDS

HL7_NS = "urn:hl7-org:v3"
_NS = {"h": HL7_NS}
CLINICAL_DOCUMENT_TAG = f"{{{HL7_NS}}}ClinicalDocument"

# A CDA N1 carries its PDF in base64 inside the XML; libxml2 refuses text nodes over 10 MB
# without `huge_tree`, which bounds the embedded file to about 7.5 MB whatever this cap says.
MAX_CDA_BYTES = 30 * 1024 * 1024
MAX_NONXML_BODY_BYTES = 20 * 1024 * 1024
# A DTD may only appear in the prolog; scanning its first bytes is enough to refuse it before
# libxml2 reads a single declaration (the parsed document is checked again after parsing).
_PROLOG_SCAN_BYTES = 64 * 1024
_DOCTYPE_MARKERS = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))

INS_ROOTS = frozenset(OID_KINDS)
# CDA timestamps without an offset are French local time (CI-SIS documents are produced in France).
LOCAL_TIME_ZONE = ZoneInfo("Europe/Paris")

# re.ASCII: \d must not accept other scripts' digits, which int() would then happily read.
_TS = re.compile(
    r"(?P<year>\d{4})(?P<month>\d{2})?(?P<day>\d{2})?(?P<hour>\d{2})?(?P<minute>\d{2})?"
    r"(?P<second>\d{2})?(?:\.(?P<fraction>\d{1,12}))?(?P<offset>[+-]\d{2}(?:\d{2})?)?",
    re.ASCII,
)
_BIRTH_DATE = re.compile(
    r"(?P<year>\d{4})(?P<month>\d{2})?(?P<day>\d{2})?(?:\d*(?:[.+-].*)?)", re.ASCII
)
_UNSIGNED = re.compile(r"[0-9]{1,9}")

_PDF_MAGIC = b"%PDF-"
_MAGIC = {
    "application/pdf": (_PDF_MAGIC,),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "text/rtf": (b"{\\rtf",),
}


class InvalidCda(InvalidInput):
    """The bytes are not an acceptable CDA R2 document; `code` says why, `message` is French."""

    code = "invalid-cda"


class CdaLevel(StrEnum):
    N1 = "N1"  # nonXMLBody: an embedded file (PDF…)
    N3 = "N3"  # structuredBody: coded sections and entries


@dataclass(frozen=True, slots=True)
class InstanceId:
    """An HL7 II: OID (or UUID) root plus optional extension."""

    root: str
    extension: str | None = None

    def __str__(self) -> str:
        # The XDS uniqueId form: "root^extension", or the root alone.
        return f"{self.root}^{self.extension}" if self.extension else self.root


@dataclass(frozen=True, slots=True)
class Coded:
    code: str
    system: str | None = None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class PersonName:
    family: str | None
    given: str | None

    def __str__(self) -> str:
        return " ".join(part for part in (self.given, self.family) if part)


@dataclass(frozen=True, slots=True)
class CdaOrganization:
    id: InstanceId | None
    name: str | None


@dataclass(frozen=True, slots=True)
class CdaPatient:
    """`recordTarget/patientRole`: identifiers (INS picked out) and the INS traits."""

    ids: tuple[InstanceId, ...]
    ins: InstanceId | None
    birth_family_name: str | None
    birth_given_names: str | None  # all birth first names, space separated, in order
    first_birth_given_name: str | None
    used_family_name: str | None
    used_given_name: str | None
    gender: str | None  # M, F or U (administrativeGenderCode)
    birth_date: date | None  # None when the CDA gives a partial date
    birth_place_code: str | None  # INSEE code of the birth commune (or 99xxx country)


@dataclass(frozen=True, slots=True)
class CdaAuthor:
    time: datetime | None
    id: InstanceId | None
    specialty: Coded | None  # assignedAuthor/code: G15_10/SM26, ALIM_AM, DISPOSITIF…
    function: Coded | None  # author/functionCode: PCP, ATTPHYS…
    person: PersonName | None
    device: str | None  # assignedAuthoringDevice/softwareName
    organization: CdaOrganization | None


@dataclass(frozen=True, slots=True)
class CdaLegalAuthenticator:
    time: datetime | None
    id: InstanceId | None
    person: PersonName | None
    organization: CdaOrganization | None


@dataclass(frozen=True, slots=True)
class CdaHeader:
    id: InstanceId
    set_id: InstanceId | None
    version_number: int | None
    replaces: InstanceId | None  # relatedDocument[@typeCode=RPLC]/parentDocument/id
    code: Coded  # the document type (typeCode)
    title: str
    effective_time: datetime  # creationTime
    confidentiality_code: str
    language_code: str | None
    template_ids: tuple[InstanceId, ...]
    patient: CdaPatient
    authors: tuple[CdaAuthor, ...]
    custodian: CdaOrganization
    legal_authenticator: CdaLegalAuthenticator | None
    service_start: datetime | None
    service_stop: datetime | None
    event_codes: tuple[Coded, ...]  # documentationOf/serviceEvent/code
    practice_setting: Coded | None  # standardIndustryClassCode of the service performer
    healthcare_facility_type: Coded | None  # componentOf/…/healthCareFacility/code
    order_ids: tuple[InstanceId, ...]  # inFulfillmentOf/order/id
    level: CdaLevel
    media_type: str | None  # N1 body media type
    format_code: str | None  # derived; None when no known model (N3) or media type (N1)

    @property
    def unique_id(self) -> str:
        return str(self.id)

    @property
    def type_code(self) -> str:
        return self.code.code


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A submitted metadata value (`expected`) that the CDA header contradicts (`found`)."""

    field: str
    expected: str | None
    found: str | None
    message: str


# --- parsing -------------------------------------------------------------------------------------


def _parser() -> etree.XMLParser:
    # A fresh parser per document: lxml parsers keep state and are not meant to be shared.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def _refuse_dtd() -> InvalidCda:
    return InvalidCda(
        "Le document contient une déclaration de type (DOCTYPE) : les DTD et entités XML ne "
        "sont pas acceptées dans un document CDA.",
        code="cda-dtd-forbidden",
    )


def _syntax_error(error: etree.XMLSyntaxError) -> InvalidCda:
    text = str(error)
    if "amplification" in text:
        return _refuse_dtd()
    if "depth" in text:
        return InvalidCda(
            "Le document CDA est imbriqué trop profondément pour être lu.", code="cda-too-deep"
        )
    if "too long" in text or "huge" in text.lower():
        return InvalidCda(
            "Un élément du document CDA est trop volumineux (plus de 10 Mo de texte).",
            code="cda-too-large",
        )
    line = f" (ligne {error.lineno})" if error.lineno else ""
    return InvalidCda(
        f"Le document n'est pas un XML bien formé{line} : il ne peut pas être lu comme un CDA.",
        code="cda-malformed",
    )


def parse_clinical_document(data: bytes) -> etree._Element:
    """Parse hostile bytes into the root `ClinicalDocument` element, or raise `InvalidCda`."""
    if len(data) > MAX_CDA_BYTES:
        raise InvalidCda(
            f"Le document CDA dépasse la taille maximale de {MAX_CDA_BYTES // (1024 * 1024)} Mo.",
            code="cda-too-large",
        )
    if not data.strip():
        raise InvalidCda("Le document CDA est vide.", code="cda-malformed")
    head = data[:_PROLOG_SCAN_BYTES]
    if any(marker in head for marker in _DOCTYPE_MARKERS):
        raise _refuse_dtd()
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error) from None
    except (ValueError, LookupError):
        # Unknown or inconsistent encoding declarations surface as these.
        raise InvalidCda(
            "L'encodage déclaré du document n'est pas pris en charge.", code="cda-malformed"
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _refuse_dtd()
    if root.tag != CLINICAL_DOCUMENT_TAG:
        raise InvalidCda(
            "Le document n'est pas un document CDA R2 : l'élément racine doit être "
            "« ClinicalDocument » dans l'espace de noms urn:hl7-org:v3.",
            code="cda-not-clinical-document",
        )
    return root


# --- small readers -------------------------------------------------------------------------------


def _find(element: etree._Element | None, path: str) -> etree._Element | None:
    return None if element is None else element.find(path, _NS)


def _findall(element: etree._Element | None, path: str) -> list[etree._Element]:
    return [] if element is None else element.findall(path, _NS)


def _attr(element: etree._Element | None, name: str) -> str | None:
    if element is None:
        return None
    value = " ".join((element.get(name) or "").split())
    return value or None


def element_text(element: etree._Element | None) -> str | None:
    """The text content of an element with whitespace collapsed; None when empty or absent."""
    if element is None:
        return None
    parts = (t if isinstance(t, str) else t.decode() for t in element.itertext())
    return " ".join("".join(parts).split()) or None


def _instance_id(element: etree._Element | None) -> InstanceId | None:
    root = _attr(element, "root")
    return InstanceId(root, _attr(element, "extension")) if root else None


def _coded(element: etree._Element | None) -> Coded | None:
    code = _attr(element, "code")
    if code is None:
        return None
    return Coded(code, _attr(element, "codeSystem"), _attr(element, "displayName"))


def _missing(field: str, what: str) -> InvalidCda:
    return InvalidCda(
        f"L'en-tête du document CDA ne contient pas {what} (élément « {field} »), obligatoire.",
        code="cda-missing-element",
        field=field,
    )


def _invalid_time(field: str, value: str) -> InvalidCda:
    return InvalidCda(
        f"La date « {value[:40]} » de l'élément « {field} » n'est pas une date CDA valide "
        "(AAAAMMJJhhmmss±hhmm attendu).",
        code="cda-invalid-time",
        field=field,
    )


def parse_cda_timestamp(value: str, *, field: str = "effectiveTime") -> datetime:
    """An aware datetime from an HL7 TS (YYYY[MM[DD[hh[mm[ss[.f]]]]]][±hh[mm]]).

    Missing parts default to the start of the period; without an offset the time is French local
    time. Raises `InvalidCda` naming `field` when the value is not a valid TS.
    """
    match = _TS.fullmatch(value.strip())
    if match is None:
        raise _invalid_time(field, value)
    parts = match.groupdict()
    order = ("month", "day", "hour", "minute", "second")
    present = [parts[name] is not None for name in order]
    if present != sorted(present, reverse=True) or (parts["fraction"] and not parts["second"]):
        raise _invalid_time(field, value)
    zone: tzinfo = LOCAL_TIME_ZONE
    if offset := parts["offset"]:
        hours, minutes = int(offset[1:3]), int(offset[3:5] or 0)
        if hours > 14 or minutes > 59:
            raise _invalid_time(field, value)
        delta = timedelta(hours=hours, minutes=minutes)
        zone = timezone(-delta if offset[0] == "-" else delta)
    fraction = (parts["fraction"] or "").ljust(6, "0")[:6]
    try:
        return datetime(
            int(parts["year"]),
            int(parts["month"] or 1),
            int(parts["day"] or 1),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction),
            tzinfo=zone,
        )
    except ValueError:
        raise _invalid_time(field, value) from None


def _time(element: etree._Element | None, field: str) -> datetime | None:
    value = _attr(element, "value")
    return None if value is None else parse_cda_timestamp(value, field=field)


def _name(element: etree._Element | None) -> PersonName | None:
    if element is None:
        return None
    family = " ".join(t for e in _findall(element, "h:family") if (t := element_text(e)))
    given = " ".join(t for e in _findall(element, "h:given") if (t := element_text(e)))
    if not family and not given:
        return None
    return PersonName(family or None, given or None)


def _organization(element: etree._Element | None) -> CdaOrganization | None:
    if element is None:
        return None
    return CdaOrganization(
        _instance_id(_find(element, "h:id")), element_text(_find(element, "h:name"))
    )


def _qualifiers(element: etree._Element) -> set[str]:
    return set((element.get("qualifier") or "").upper().split())


# --- header --------------------------------------------------------------------------------------


def _birth_date(element: etree._Element | None) -> date | None:
    value = _attr(element, "value")
    if value is None:
        return None
    match = _BIRTH_DATE.fullmatch(value)
    if match is None:
        raise _invalid_time("birthTime", value)
    if match["day"] is None or match["month"] is None:
        return None
    if match["day"] == "00" or match["month"] == "00":
        # RNIV convention for an unknown day or month: the trait stays partial.
        return None
    try:
        return date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        raise _invalid_time("birthTime", value) from None


def _given_names(givens: list[etree._Element]) -> tuple[str | None, str | None]:
    """(all birth first names, first birth first name) from the CI-SIS `given` convention.

    CI-SIS puts every birth first name in one unqualified `given` and the first one again with
    qualifier BR; some producers instead list the names one per `given`, only the first marked
    BR. When the unqualified names do not start with the BR one, the second form is assumed.
    """
    plain = [t for g in givens if not _qualifiers(g) and (t := element_text(g))]
    birth = [t for g in givens if "BR" in _qualifiers(g) and (t := element_text(g))]
    first = birth[0] if birth else None
    if plain:
        names = " ".join(plain)
        if first and names.split()[0].casefold() != first.split()[0].casefold():
            names = " ".join(
                t
                for g in givens
                if (not _qualifiers(g) or "BR" in _qualifiers(g)) and (t := element_text(g))
            )
    else:
        names = " ".join(birth)
    return names or None, first or (names.split()[0] if names else None)


def _patient(root: etree._Element) -> CdaPatient:
    role = _find(root, "h:recordTarget/h:patientRole")
    if role is None:
        raise _missing("recordTarget", "le patient")
    ids = tuple(ii for e in _findall(role, "h:id") if (ii := _instance_id(e)) is not None)
    if not ids:
        raise _missing("recordTarget/patientRole/id", "l'identifiant du patient")
    patient = _find(role, "h:patient")
    families = [e for name in _findall(patient, "h:name") for e in _findall(name, "h:family")]
    givens = [e for name in _findall(patient, "h:name") for e in _findall(name, "h:given")]

    def qualified(elements: list[etree._Element], qualifier: str) -> str | None:
        return next(
            (t for e in elements if qualifier in _qualifiers(e) and (t := element_text(e))), None
        )

    birth_given_names, first_birth_given_name = _given_names(givens)
    return CdaPatient(
        ids=ids,
        ins=next((i for i in ids if i.root in INS_ROOTS and i.extension), None),
        birth_family_name=qualified(families, "BR"),
        birth_given_names=birth_given_names,
        first_birth_given_name=first_birth_given_name,
        used_family_name=qualified(families, "CL"),
        used_given_name=qualified(givens, "CL"),
        gender=_attr(_find(patient, "h:administrativeGenderCode"), "code"),
        birth_date=_birth_date(_find(patient, "h:birthTime")),
        birth_place_code=element_text(_find(patient, "h:birthplace/h:place/h:addr/h:county")),
    )


def _author(element: etree._Element) -> CdaAuthor:
    assigned = _find(element, "h:assignedAuthor")
    return CdaAuthor(
        time=_time(_find(element, "h:time"), "author/time"),
        id=_instance_id(_find(assigned, "h:id")),
        specialty=_coded(_find(assigned, "h:code")),
        function=_coded(_find(element, "h:functionCode")),
        person=_name(_find(assigned, "h:assignedPerson/h:name")),
        device=element_text(_find(assigned, "h:assignedAuthoringDevice/h:softwareName")),
        organization=_organization(_find(assigned, "h:representedOrganization")),
    )


def _legal_authenticator(root: etree._Element) -> CdaLegalAuthenticator | None:
    element = _find(root, "h:legalAuthenticator")
    if element is None:
        return None
    entity = _find(element, "h:assignedEntity")
    return CdaLegalAuthenticator(
        time=_time(_find(element, "h:time"), "legalAuthenticator/time"),
        id=_instance_id(_find(entity, "h:id")),
        person=_name(_find(entity, "h:assignedPerson/h:name")),
        organization=_organization(_find(entity, "h:representedOrganization")),
    )


def _service_period(events: list[etree._Element]) -> tuple[datetime | None, datetime | None]:
    """The span of all documented acts: earliest `low` (or point value), latest `high`."""
    starts: list[datetime] = []
    stops: list[datetime] = []
    for event in events:
        period = _find(event, "h:effectiveTime")
        if (point := _time(period, "serviceEvent/effectiveTime")) is not None:
            starts.append(point)
            stops.append(point)
        if (low := _time(_find(period, "h:low"), "serviceEvent/effectiveTime/low")) is not None:
            starts.append(low)
        if (high := _time(_find(period, "h:high"), "serviceEvent/effectiveTime/high")) is not None:
            stops.append(high)
    return (min(starts) if starts else None, max(stops) if stops else None)


def _replaced(root: etree._Element) -> InstanceId | None:
    for related in _findall(root, "h:relatedDocument"):
        if (related.get("typeCode") or "").strip().upper() == "RPLC":
            return _instance_id(_find(related, "h:parentDocument/h:id"))
    return None


def _version_number(root: etree._Element) -> int | None:
    value = _attr(_find(root, "h:versionNumber"), "value")
    if value is None:
        return None
    if not _UNSIGNED.fullmatch(value):
        raise InvalidCda(
            f"Le numéro de version « {value[:20]} » n'est pas un entier positif.",
            code="cda-invalid-version",
            field="versionNumber",
        )
    return int(value)


def _body(root: etree._Element) -> tuple[CdaLevel, str | None]:
    if (nonxml := _find(root, "h:component/h:nonXMLBody")) is not None:
        media_type = _attr(_find(nonxml, "h:text"), "mediaType")
        return CdaLevel.N1, media_type.split(";")[0].strip().lower() if media_type else None
    if _find(root, "h:component/h:structuredBody") is not None:
        return CdaLevel.N3, None
    raise _missing("component", "de corps (structuredBody ou nonXMLBody)")


def _header(root: etree._Element) -> CdaHeader:
    document_id = _instance_id(_find(root, "h:id"))
    if document_id is None:
        raise _missing("id", "l'identifiant du document")
    code = _coded(_find(root, "h:code"))
    if code is None:
        raise _missing("code", "le type de document")
    title = element_text(_find(root, "h:title"))
    if title is None:
        raise _missing("title", "le titre du document")
    effective_value = _attr(_find(root, "h:effectiveTime"), "value")
    if effective_value is None:
        raise _missing("effectiveTime", "la date de création du document")
    confidentiality = _attr(_find(root, "h:confidentialityCode"), "code")
    if confidentiality is None:
        raise _missing("confidentialityCode", "le niveau de confidentialité")
    authors = tuple(_author(e) for e in _findall(root, "h:author"))
    if not authors:
        raise _missing("author", "d'auteur")
    custodian = _organization(
        _find(root, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization")
    )
    if custodian is None:
        raise _missing("custodian", "l'organisation responsable de la conservation")
    level, media_type = _body(root)
    template_ids = tuple(
        ii for e in _findall(root, "h:templateId") if (ii := _instance_id(e)) is not None
    )
    events = _findall(root, "h:documentationOf/h:serviceEvent")
    service_start, service_stop = _service_period(events)
    practice_setting = next(
        (
            coded
            for e in _findall(
                root,
                "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity"
                "/h:representedOrganization/h:standardIndustryClassCode",
            )
            if (coded := _coded(e)) is not None
        ),
        None,
    )
    if level is CdaLevel.N1:
        format_code = nonxml_format_code(media_type) if media_type else None
    else:
        format_code = cda_model_format_code(t.root for t in template_ids)
    return CdaHeader(
        id=document_id,
        set_id=_instance_id(_find(root, "h:setId")),
        version_number=_version_number(root),
        replaces=_replaced(root),
        code=code,
        title=title,
        effective_time=parse_cda_timestamp(effective_value, field="effectiveTime"),
        confidentiality_code=confidentiality,
        language_code=_attr(_find(root, "h:languageCode"), "code"),
        template_ids=template_ids,
        patient=_patient(root),
        authors=authors,
        custodian=custodian,
        legal_authenticator=_legal_authenticator(root),
        service_start=service_start,
        service_stop=service_stop,
        event_codes=tuple(c for e in events if (c := _coded(_find(e, "h:code"))) is not None),
        practice_setting=practice_setting,
        healthcare_facility_type=_coded(
            _find(
                root, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code"
            )
        ),
        order_ids=tuple(
            ii
            for e in _findall(root, "h:inFulfillmentOf/h:order/h:id")
            if (ii := _instance_id(e)) is not None
        ),
        level=level,
        media_type=media_type,
        format_code=format_code,
    )


def read_cda_header(data: bytes) -> CdaHeader:
    """Read the CI-SIS header of a CDA R2 document (N1 or N3) from untrusted bytes.

    Raises `InvalidCda` (French message, specific `code`, `field` for a missing or invalid
    element) for oversized, malformed, DTD-bearing or non-CDA input, or a header lacking id,
    code, title, effectiveTime, confidentialityCode, patient id, author, custodian or body.
    """
    return _header(parse_clinical_document(data))


# --- N1 body -------------------------------------------------------------------------------------


def extract_nonxml_body(data: bytes) -> tuple[str, bytes]:
    """(media type, decoded bytes) of an N1 document's embedded file.

    Only inline base64 bodies of the media types the DMP knows (ASS_A12: PDF, plain text, RTF,
    JPEG, TIFF) are accepted, and the decoded bytes must start with that format's signature, so
    what is shown to the holder is what the document claims to be.
    """
    root = parse_clinical_document(data)
    body = _find(root, "h:component/h:nonXMLBody")
    if body is None:
        raise InvalidCda(
            "Ce document CDA n'a pas de corps non structuré (niveau 1) : il n'y a pas de "
            "fichier intégré à extraire.",
            code="cda-not-unstructured",
        )
    text = _find(body, "h:text")
    if text is None:
        raise _missing("nonXMLBody/text", "le contenu du corps non structuré")
    raw_media_type = _attr(text, "mediaType") or "text/plain"
    media_type = raw_media_type.split(";")[0].strip().lower()
    if media_type not in nonxml_media_types():
        raise InvalidCda(
            f"Le type de contenu « {raw_media_type[:60]} » n'est pas accepté dans un document "
            "CDA non structuré (PDF, texte, RTF, JPEG ou TIFF attendu).",
            code="cda-unsupported-media-type",
            field="nonXMLBody/text/@mediaType",
        )
    if (_attr(text, "representation") or "TXT").upper() != "B64" or len(text):
        raise InvalidCda(
            'Le contenu du corps non structuré doit être intégré en base64 (representation="B64").',
            code="cda-body-not-base64",
            field="nonXMLBody/text/@representation",
        )
    if text.get("compression"):
        raise InvalidCda(
            "Le contenu compressé d'un corps non structuré n'est pas pris en charge.",
            code="cda-body-compressed",
            field="nonXMLBody/text/@compression",
        )
    encoded = "".join((text.text or "").split())
    if not encoded:
        raise _missing("nonXMLBody/text", "le contenu du corps non structuré")
    if len(encoded) > (MAX_NONXML_BODY_BYTES + 2) // 3 * 4:
        raise InvalidCda(
            f"Le fichier intégré dépasse la taille maximale de "
            f"{MAX_NONXML_BODY_BYTES // (1024 * 1024)} Mo.",
            code="cda-too-large",
        )
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidCda(
            "Le contenu du corps non structuré n'est pas un base64 valide.",
            code="cda-body-not-base64",
            field="nonXMLBody/text",
        ) from None
    signatures = _MAGIC.get(media_type)
    if signatures and not content.startswith(signatures):
        raise InvalidCda(
            f"Le fichier intégré n'est pas au format annoncé ({media_type}).",
            code="cda-body-format-mismatch",
            field="nonXMLBody/text",
        )
    return media_type, content


# --- metadata check ------------------------------------------------------------------------------

_LABELS = {
    "unique_id": "L'identifiant unique du document (uniqueId)",
    "type_code": "Le type de document (typeCode)",
    "patient_ins": "L'INS du patient",
    "title": "Le titre du document",
    "creation_time": "La date de création (creationTime)",
    "format_code": "Le format du document (formatCode)",
    "confidentiality_code": "La confidentialité (confidentialityCode)",
    "language_code": "La langue (languageCode)",
    "service_start": "La date de début de l'acte (serviceStartTime)",
    "service_stop": "La date de fin de l'acte (serviceStopTime)",
    "practice_setting_code": "Le cadre d'exercice (practiceSettingCode)",
    "healthcare_facility_type_code": "Le secteur d'activité (healthcareFacilityTypeCode)",
    "birth_family_name": "Le nom de naissance du patient",
    "first_birth_given_name": "Le premier prénom de naissance du patient",
    "birth_date": "La date de naissance du patient",
    "gender": "Le sexe du patient",
    "birth_place_code": "Le lieu de naissance du patient (code INSEE)",
}


def _mismatch(field: str, expected: str, found: str | None) -> Mismatch:
    in_document = f"« {found} »" if found is not None else "absent"
    return Mismatch(
        field=field,
        expected=expected,
        found=found,
        message=(
            f"{_LABELS[field]} ne correspond pas au document CDA : « {expected} » dans les "
            f"métadonnées, {in_document} dans l'en-tête du document."
        ),
    )


def _fold(value: str) -> str:
    """Names compared as INSi does in practice: case, accents and spacing do not count."""
    decomposed = unicodedata.normalize("NFKD", value)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.upper().split())


def _same_instant(submitted: datetime, found: datetime | None) -> bool:
    if found is None:
        return False
    # XDS DTM values are UTC; a naive submitted time is read that way.
    aware = submitted if submitted.tzinfo is not None else submitted.replace(tzinfo=UTC)
    return aware.replace(microsecond=0) == found.replace(microsecond=0)


def _strip_oid(value: str) -> str:
    return value.strip().removeprefix("urn:oid:")


def header_mismatches(
    header: CdaHeader,
    *,
    unique_id: str | None = None,
    type_code: str | None = None,
    patient_ins: str | None = None,
    title: str | None = None,
    creation_time: datetime | None = None,
    format_code: str | None = None,
    confidentiality_codes: Collection[str] | None = None,
    language_code: str | None = None,
    service_start: datetime | None = None,
    service_stop: datetime | None = None,
    practice_setting_code: str | None = None,
    healthcare_facility_type_code: str | None = None,
    birth_family_name: str | None = None,
    first_birth_given_name: str | None = None,
    birth_date: date | None = None,
    gender: str | None = None,
    birth_place_code: str | None = None,
) -> list[Mismatch]:
    """Every submitted metadata value that the CDA header contradicts; empty when consistent.

    A parameter left to None is not checked. `expected` is the submitted value and `found` the
    header's. `patient_ins` is a matricule or an XDS CX (`matricule^^^&oid&ISO^NH`, whose OID is
    then compared too); `confidentiality_codes` is the metadata list (N/R/V plus visibility codes)
    that must contain the header's code; the format code is compared only when the header's can
    be derived. The patient traits let identity vigilance reuse this check against a holder.
    """
    found: list[Mismatch] = []
    patient = header.patient

    def check(field: str, submitted: str | None, in_header: str | None, same: bool) -> None:
        if submitted is not None and not same:
            found.append(_mismatch(field, submitted, in_header))

    if unique_id is not None:
        check("unique_id", unique_id, header.unique_id, _strip_oid(unique_id) == header.unique_id)
    check("type_code", type_code, header.type_code, type_code == header.type_code)
    if patient_ins is not None:
        matricule, _, rest = patient_ins.strip().partition("^")
        oid = rest.split("&")[1] if rest.count("&") >= 2 else None
        ins = patient.ins
        same = (
            ins is not None
            and "".join(matricule.split()).upper() == (ins.extension or "").upper()
            and (oid is None or _strip_oid(oid) == ins.root)
        )
        in_header = f"{ins.extension} ({ins.root})" if ins is not None else None
        check("patient_ins", patient_ins, in_header, same)
    if title is not None:
        check("title", title, header.title, " ".join(title.split()) == header.title)
    if creation_time is not None:
        same = _same_instant(creation_time, header.effective_time)
        check("creation_time", creation_time.isoformat(), header.effective_time.isoformat(), same)
    if format_code is not None and header.format_code is not None:
        check("format_code", format_code, header.format_code, format_code == header.format_code)
    if confidentiality_codes is not None:
        codes = {c.strip().upper() for c in confidentiality_codes}
        check(
            "confidentiality_code",
            ", ".join(sorted(codes)),
            header.confidentiality_code,
            header.confidentiality_code.upper() in codes,
        )
    if language_code is not None:
        same = language_code.strip().lower() == (header.language_code or "").lower()
        check("language_code", language_code, header.language_code, same)
    for field, submitted_time, header_time in (
        ("service_start", service_start, header.service_start),
        ("service_stop", service_stop, header.service_stop),
    ):
        if submitted_time is not None:
            check(
                field,
                submitted_time.isoformat(),
                header_time.isoformat() if header_time else None,
                _same_instant(submitted_time, header_time),
            )
    setting = header.practice_setting.code if header.practice_setting else None
    check("practice_setting_code", practice_setting_code, setting, practice_setting_code == setting)
    facility = header.healthcare_facility_type.code if header.healthcare_facility_type else None
    check(
        "healthcare_facility_type_code",
        healthcare_facility_type_code,
        facility,
        healthcare_facility_type_code == facility,
    )
    for field, submitted_name, header_name in (
        ("birth_family_name", birth_family_name, patient.birth_family_name),
        ("first_birth_given_name", first_birth_given_name, patient.first_birth_given_name),
    ):
        if submitted_name is not None:
            same = header_name is not None and _fold(submitted_name) == _fold(header_name)
            check(field, submitted_name, header_name, same)
    if birth_date is not None:
        in_header = patient.birth_date.isoformat() if patient.birth_date else None
        check("birth_date", birth_date.isoformat(), in_header, birth_date == patient.birth_date)
    if gender is not None:
        same = gender.strip().upper() == (patient.gender or "").upper()
        check("gender", gender, patient.gender, same)
    check(
        "birth_place_code",
        birth_place_code,
        patient.birth_place_code,
        birth_place_code == patient.birth_place_code,
    )
    return found
