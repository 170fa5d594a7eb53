"""PDSm DocumentReference ⇄ the documents service (`documents.services`).

Reading (deposits, ITI-65 and ITI-105): every element the DMP needs (`shared/spec/documents.md`
§3) is checked and *every* problem is collected with its FHIRPath before refusing, so one answer
tells the sender all it must fix. The checks here are the FHIR profile's (cardinalities, code
systems and the DMP's value sets); the rules of the record itself (identity vigilance, CDA header,
duplicates, who may deposit) stay in the service, which runs after these checks pass.

Writing (reads and searches): a stored `DocumentEntry` becomes a PDSm comprehensive
DocumentReference whose `content.attachment.url` is the ITI-68 address `[base]/Binary/<id>`;
the result is validated with fhir.resources (R4B).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B.documentreference import DocumentReference

from carnet.core import clock
from carnet.core.errors import InvalidInput
from carnet.documents import cda, classification
from carnet.documents.services import (
    CDA_MIME_TYPES,
    CONFIDENTIALITY_LEVELS,
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTATIVES,
    MASKED,
    MIME_SUFFICIENT_FORMAT,
    VISIBILITY_LABELS,
    DocumentSubmission,
    labels_of,
)
from carnet.fhir import dates, emitted
from carnet.fhir.issues import Issues, check_structure
from carnet.fhir.participants import (
    Ins,
    Resolver,
    Traits,
    as_dict,
    as_list,
    contained_participant,
    merge_authors,
    participant,
    patient_traits,
    read_authors,
    strip_urn_oid,
    subject_ins,
    text,
)

if TYPE_CHECKING:
    from carnet.documents.models import DocumentEntry

PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/"
PROFILE_COMPREHENSIVE = PDSM + "pdsm-comprehensive-document-reference"
PROFILE_SIMPLIFIED = PDSM + "pdsm-simplified-publish"
IS_ARCHIVED = PDSM + "pdsm-ext-is-archived"
RFC3986 = "urn:ietf:rfc:3986"
NOS = "https://mos.esante.gouv.fr/NOS/"
CLASS_SYSTEM = NOS + "TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
VISIBILITY_SYSTEM = NOS + "TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
FACILITY_SYSTEM = NOS + "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
NON_PS_SYSTEM = NOS + "TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS"
PRACTICE_SYSTEM = NOS + "TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"
IHE_FORMAT_SYSTEM = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"

# Code systems accepted for each element: the NOS canonical URL or the OID (as CDA-born software
# sends them). The PDSm examples spell TRE_A07 "StatusVisibiliteDocument" and put N in it
# (`shared/spec/documents.md` §10): both are tolerated, the code decides its meaning.
_CLASS_SYSTEMS = {CLASS_SYSTEM, "urn:oid:1.2.250.1.213.1.1.4.1"}
_CONFIDENTIALITY_SYSTEMS = {CONFIDENTIALITY_SYSTEM, "urn:oid:2.16.840.1.113883.5.25"}
_VISIBILITY_SYSTEMS = {
    VISIBILITY_SYSTEM,
    NOS + "TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument",
    "urn:oid:1.2.250.1.213.1.1.4.13",
}
_FACILITY_SYSTEMS = {FACILITY_SYSTEM, "urn:oid:1.2.250.1.71.4.2.4"}
_NON_PS_SYSTEMS = {NON_PS_SYSTEM, "urn:oid:1.2.250.1.213.1.1.4.6"}
_PRACTICE_SYSTEMS = {PRACTICE_SYSTEM, "urn:oid:1.2.250.1.213.1.1.4.9"}
_NON_PS_PRODUCERS = frozenset({"EXP_PATIENT", "SNR"})
# JDV_J61 (healthcareFacilityTypeCode, DMP): every TRE_R02 sector SA01–SA69 (SA11 and SA62 do not
# exist), plus the non-professional producers; source shared/data/terminology/
# healthcare-facility-types.csv.
FACILITY_CODES = frozenset(f"SA{n:02d}" for n in range(1, 70) if n not in {11, 62})
# JDV_J04 (practiceSettingCode): TRE_A01-CadreExercice; source practice-settings.csv.
PRACTICE_CODES = frozenset(
    {
        "AMBULATOIRE",
        "AMO",
        "DEPISTAGE",
        "ESSMS",
        "ETABLISSEMENT",
        "HAD",
        "MAD",
        "PALLIATIF",
        "SAD",
        "SAMU_SMUR",
    }
)
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
UNIQUE_ID_MAX = 200


@dataclass(frozen=True)
class BinaryData:
    """A Binary of an ITI-65 Bundle, decoded."""

    content: bytes
    content_type: str
    path: str


@dataclass
class ReadDocument:
    """A DocumentReference read for a deposit; `submission` is None when issues were found."""

    path: str
    submission: DocumentSubmission | None = None
    ins: Ins | None = None
    traits: Traits | None = None
    content: bytes | None = None
    binary_url: str = ""
    replaces: str = ""  # the relatesTo target as sent (`DocumentReference/<id>`)
    full_url: str = ""
    warnings: list[str] = field(default_factory=list)


# --- Reading ------------------------------------------------------------------------------------


def unique_id_of(value: str) -> str:
    """The XDS uniqueId of a masterIdentifier value: an OID loses its `urn:oid:` prefix (so a
    document deposited through XDM or CDA and through FHIR has one identity); others stay."""
    return strip_urn_oid(value.strip())


def master_identifier(value: str) -> dict[str, str]:
    if _OID.match(value):
        return {"system": RFC3986, "value": f"urn:oid:{value}"}
    if value.startswith("urn:"):
        return {"system": RFC3986, "value": value}
    return {"value": value}


def _codings(concept: object) -> list[Mapping[str, Any]]:
    return [as_dict(c) for c in as_list(as_dict(concept).get("coding"))]


def _code_in(concept: object, systems: set[str], codes: frozenset[str] | None = None) -> str | None:
    for coding in _codings(concept):
        code = text(coding.get("code"))
        if text(coding.get("system")) in systems and code and (codes is None or code in codes):
            return code
    return None


def _check_structure(resource: Mapping[str, Any], path: str, issues: Issues) -> set[str]:
    """fhir.resources' structural errors; returns their expressions (to avoid repeating them)."""
    found = check_structure(DocumentReference, _without_inline_data(resource), path)
    issues.extend(found)
    return {issue.expression or "" for issue in found}


def _without_inline_data(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource with each inline document replaced by a stand-in: the structure check need
    not decode megabytes of base64 that `_decode` reads once, with its own message."""
    contents = as_list(resource.get("content"))
    if not any("data" in as_dict(as_dict(c).get("attachment")) for c in contents):
        return resource
    light = dict(resource)
    light["content"] = [
        {**c, "attachment": {**as_dict(c.get("attachment")), "data": "AA=="}}
        if isinstance(c, Mapping) and "data" in as_dict(c.get("attachment"))
        else c
        for c in contents
    ]
    return light


def read_document_reference(
    resource: Mapping[str, Any],
    *,
    path: str,
    simplified: bool,
    resolver: Resolver,
    issues: Issues,
    binaries: Mapping[str, BinaryData] | None = None,
) -> ReadDocument:
    """Check a DocumentReference for a deposit and map it; problems are added to `issues`."""
    read = ReadDocument(path=path)
    if resource.get("resourceType") != "DocumentReference":
        issues.error(
            f"{path}.resourceType",
            f"{path} : une ressource DocumentReference est attendue.",
        )
        return read
    mine = Issues()
    structural = _check_structure(resource, path, issues)
    read.content, mime_type = _content(resource, path, simplified, binaries, mine, read)
    header = _cda_header(read.content, mime_type, path, simplified, mine)
    unique_id = _master_identifier(resource, path, mine)
    _status(resource, path, mine)
    known = _type(resource, path, mine)
    if known is not None:
        _category(resource, known, path, simplified, mine)
    created = _date(resource, header, path, simplified, mine)
    authors = read_authors(resource.get("author"), resolver, f"{path}.author", mine)
    authenticator = _authenticator(resource, resolver, path, mine)
    confidentiality, labels = _security_labels(resource, path, simplified, mine)
    attachment = _attachment(resource, read.content, header, path, simplified, mine)
    format_code = _format(resource, header, path, simplified, mine)
    context = _context(resource, header, path, simplified, mine)
    read.ins = subject_ins(resource.get("subject"), resolver, f"{path}.subject", mine)
    read.traits = _source_patient(resource, resolver, read.ins, path, mine)
    read.replaces = _relates_to(resource, path, mine)
    # A structural error already names its element: do not repeat it in other words.
    issues.extend(
        issue
        for issue in mine.items
        if not any((issue.expression or "").startswith(prefix) for prefix in structural if prefix)
    )
    if mine or structural or known is None or created is None or unique_id is None:
        return read
    read.submission = DocumentSubmission(
        unique_id=unique_id,
        type_code=known.code,
        type_system=None,
        class_code=known.class_code,
        title=attachment["title"],
        created_at_source=created,
        mime_type=mime_type,
        format_code=format_code,
        service_start=context["start"],
        service_stop=context["stop"],
        facility_type=context["facility"],
        practice_setting=context["practice"],
        language=attachment["language"],
        event_codes=context["events"],
        author=merge_authors(authors),
        legal_authenticator=authenticator,
        confidentiality=confidentiality,
        labels=labels,
        declared_size=attachment["size"],
        declared_sha1=attachment["sha1"],
        replaces=_replaced_reference(read.replaces),
        description=text(resource.get("description")),
    )
    return read


def _master_identifier(resource: Mapping[str, Any], path: str, issues: Issues) -> str | None:
    here = f"{path}.masterIdentifier"
    identifier = as_dict(resource.get("masterIdentifier"))
    value = text(identifier.get("value"))
    if not value:
        issues.required(
            here, f"{here} : l'identifiant unique du document (uniqueId) est obligatoire."
        )
        return None
    system = text(identifier.get("system"))
    if system == RFC3986 or value.startswith("urn:"):
        if value.lower().startswith("urn:uuid:") and not _UUID.match(value[9:]):
            issues.error(here, f"{here} : « {value} » n'est pas un UUID valide.", code="value")
            return None
        if value.lower().startswith("urn:oid:") and not _OID.match(value[8:]):
            issues.error(here, f"{here} : « {value} » n'est pas un OID valide.", code="value")
            return None
        if system == RFC3986 and not value.startswith("urn:") and "://" not in value:
            issues.error(
                here,
                f"{here} : avec le système urn:ietf:rfc:3986, la valeur doit être une URI "
                "(urn:oid:… ou urn:uuid:…).",
                code="value",
            )
            return None
    unique_id = unique_id_of(value)
    if unique_id.lower().startswith("urn:uuid:"):
        unique_id = unique_id.lower()
    if len(unique_id) > UNIQUE_ID_MAX:
        issues.error(
            here,
            f"{here} : identifiant trop long ({UNIQUE_ID_MAX} caractères au plus).",
            code="value",
        )
        return None
    return unique_id


def _status(resource: Mapping[str, Any], path: str, issues: Issues) -> None:
    status = text(resource.get("status"))
    if not status:
        issues.required(f"{path}.status", f"{path}.status : le statut est obligatoire.")
    elif status != "current":
        issues.error(
            f"{path}.status",
            f"{path}.status : un document déposé a le statut « current » (reçu : « {status} »).",
            code="value",
        )


def _type(
    resource: Mapping[str, Any], path: str, issues: Issues
) -> classification.DocumentType | None:
    here = f"{path}.type"
    codings = [c for c in _codings(resource.get("type")) if text(c.get("code"))]
    if not codings:
        issues.required(here, f"{here} : le type de document (typeCode) est obligatoire.")
        return None
    for coding in codings:
        known = classification.document_type(text(coding.get("code")))
        if known is None:
            continue
        system = text(coding.get("system"))
        if system and system not in {known.system, f"urn:oid:{known.system_oid}"}:
            issues.error(
                here,
                f"{here} : le code {known.code} appartient au système {known.system}, "
                f"pas à « {system} ».",
                code="code-invalid",
            )
            return None
        if not known.in_dmp:
            issues.error(
                here,
                f"{here} : le type {known.code} ({known.display}) n'est pas accepté par le DMP "
                "(JDV_J66).",
                code="code-invalid",
            )
            return None
        return known
    codes = ", ".join(text(c.get("code")) for c in codings)
    issues.error(
        here,
        f"{here} : type de document inconnu ({codes}) : il ne figure pas dans la liste des "
        "types (JDV_J07/J66).",
        code="code-invalid",
    )
    return None


def _category(
    resource: Mapping[str, Any],
    known: classification.DocumentType,
    path: str,
    simplified: bool,
    issues: Issues,
) -> None:
    here = f"{path}.category"
    given = [
        (index, text(coding.get("code")))
        for index, concept in enumerate(as_list(resource.get("category")))
        for coding in _codings(concept)
        if text(coding.get("system")) in _CLASS_SYSTEMS and text(coding.get("code"))
    ]
    if not given:
        if known.class_code and not simplified:
            issues.required(
                here,
                f"{here} : la classe du document (classCode, TRE_A03) est obligatoire ; pour le "
                f"type {known.code} c'est {known.class_code} ({known.class_display}).",
            )
        return
    for index, code in given:
        if code != known.class_code:
            issues.error(
                f"{here}[{index}]",
                f"{here}[{index}] : la classe {code} ne correspond pas au type {known.code} "
                f"({known.display}) : la classe est déduite du type (ASS_X04) et vaut "
                f"{known.class_code or 'aucune'} ({known.class_display or '—'}).",
                code="business-rule",
            )


def _date(
    resource: Mapping[str, Any],
    header: cda.CdaHeader | None,
    path: str,
    simplified: bool,
    issues: Issues,
) -> dt.datetime | None:
    here = f"{path}.date"
    value = text(resource.get("date"))
    if not value:
        creation = text(as_dict(_first_content(resource).get("attachment")).get("creation"))
        if simplified and header is not None:
            return header.effective_time
        if simplified and creation:
            value = creation
        else:
            issues.required(
                here, f"{here} : la date de création du document (creationTime) est obligatoire."
            )
            return None
    try:
        created = dates.parse_instant(value)
    except dates.BadDate as error:
        issues.error(here, f"{here} : {error}", code="value")
        return None
    if created > clock.now() + dt.timedelta(minutes=5):
        issues.error(here, f"{here} : la date de création est dans le futur.", code="value")
    return created


def _authenticator(
    resource: Mapping[str, Any], resolver: Resolver, path: str, issues: Issues
) -> dict[str, str]:
    reference = resource.get("authenticator")
    if reference is None:
        return {}
    found = resolver.resolve(reference)
    if found is None:
        issues.error(
            f"{path}.authenticator",
            f"{path}.authenticator : le responsable du document doit être une ressource contenue "
            "(#id) ou une entrée du Bundle.",
            code="value",
        )
        return {}
    return participant(found, resolver)


def _security_labels(
    resource: Mapping[str, Any], path: str, simplified: bool, issues: Issues
) -> tuple[str, frozenset[str]]:
    here = f"{path}.securityLabel"
    concepts = as_list(resource.get("securityLabel"))
    if not concepts:
        if not simplified:
            issues.required(
                here,
                f"{here} : la confidentialité (N, R ou V, et les codes de visibilité) est "
                "obligatoire.",
            )
        return "N", frozenset()
    levels: set[str] = set()
    labels: set[str] = set()
    for index, concept in enumerate(concepts):
        for coding in _codings(concept):
            system, code = text(coding.get("system")), text(coding.get("code"))
            if code in CONFIDENTIALITY_LEVELS and system in (
                _CONFIDENTIALITY_SYSTEMS | _VISIBILITY_SYSTEMS
            ):
                levels.add(code)
            elif code in VISIBILITY_LABELS and system in _VISIBILITY_SYSTEMS:
                labels.add(code)
            else:
                issues.error(
                    f"{here}[{index}]",
                    f"{here}[{index}] : code « {code} » ({system or 'sans système'}) non accepté "
                    "par le DMP (JDV_J58 : N, R, V, MASQUE_PS, INVISIBLE_PATIENT, "
                    "INVISIBLE_REPRESENTANTS_LEGAUX).",
                    code="code-invalid",
                )
    if len(levels) > 1:
        issues.error(
            here,
            f"{here} : un seul niveau de confidentialité est permis (reçus : "
            f"{', '.join(sorted(levels))}).",
            code="value",
        )
    if {MASKED, INVISIBLE_PATIENT} <= labels:
        issues.error(
            here,
            f"{here} : un document ne peut pas être à la fois masqué aux professionnels "
            "(MASQUE_PS) et invisible au patient (INVISIBLE_PATIENT).",
            code="business-rule",
        )
    return (min(levels) if levels else "N"), frozenset(labels)


def _first_content(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    contents = as_list(resource.get("content"))
    return as_dict(contents[0]) if contents else {}


def _content(
    resource: Mapping[str, Any],
    path: str,
    simplified: bool,
    binaries: Mapping[str, BinaryData] | None,
    issues: Issues,
    read: ReadDocument,
) -> tuple[bytes | None, str]:
    """The document's bytes (inline or from the Bundle's Binary) and its declared MIME type."""
    contents = as_list(resource.get("content"))
    here = f"{path}.content"
    if not contents:
        issues.required(here, f"{here} : le contenu du document est obligatoire.")
        return None, ""
    if len(contents) > 1:
        issues.error(here, f"{here} : un seul contenu par DocumentReference.", code="value")
    attachment = as_dict(as_dict(contents[0]).get("attachment"))
    here = f"{path}.content[0].attachment"
    mime_type = text(attachment.get("contentType")).split(";")[0].strip().lower()
    if not mime_type:
        issues.required(
            f"{here}.contentType", f"{here}.contentType : le type MIME (mimeType) est obligatoire."
        )
    data, url = attachment.get("data"), text(attachment.get("url"))
    if simplified:
        if url:
            issues.error(
                f"{here}.url",
                f"{here}.url : interdit en publication simplifiée (ITI-105) : le document est "
                "transmis dans attachment.data.",
                code="value",
            )
        if data is None:
            issues.required(
                f"{here}.data",
                f"{here}.data : le document (base64) est obligatoire en publication simplifiée.",
            )
            return None, mime_type
    if data is not None:
        if url:
            issues.error(
                here, f"{here} : data et url ne peuvent pas être donnés ensemble.", code="value"
            )
        return _decode(data, f"{here}.data", issues), mime_type
    if not url:
        issues.required(
            f"{here}.url",
            f"{here}.url : la référence au Binary du Bundle (fullUrl urn:uuid:…) est obligatoire.",
        )
        return None, mime_type
    binary = (binaries or {}).get(url)
    if binary is None:
        issues.error(
            f"{here}.url",
            f"{here}.url : « {url} » ne désigne aucun Binary de ce Bundle.",
            code="not-found",
        )
        return None, mime_type
    read.binary_url = url
    declared = binary.content_type.split(";")[0].strip().lower()
    if mime_type and declared and declared != mime_type:
        issues.error(
            f"{here}.contentType",
            f"{here}.contentType : « {mime_type} » diffère du type du Binary ({declared}, "
            f"{binary.path}).",
            code="value",
        )
    return binary.content, mime_type


def _decode(data: object, here: str, issues: Issues) -> bytes | None:
    if not isinstance(data, str):
        issues.error(here, f"{here} : contenu base64 attendu.", code="value")
        return None
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        issues.error(here, f"{here} : contenu base64 invalide.", code="value")
        return None


def _cda_header(
    content: bytes | None, mime_type: str, path: str, simplified: bool, issues: Issues
) -> cda.CdaHeader | None:
    """The CDA header, read here only in simplified publish, where metadata may be derived from
    it (the service reads and checks it for every CDA deposit)."""
    if not simplified or content is None or mime_type not in CDA_MIME_TYPES:
        return None
    try:
        return cda.read_cda_header(content)
    except InvalidInput as error:
        here = f"{path}.content[0].attachment.data"
        issues.error(here, f"{here} : document CDA illisible : {error.message}", code="value")
        return None


def _attachment(
    resource: Mapping[str, Any],
    content: bytes | None,
    header: cda.CdaHeader | None,
    path: str,
    simplified: bool,
    issues: Issues,
) -> dict[str, Any]:
    attachment = as_dict(_first_content(resource).get("attachment"))
    here = f"{path}.content[0].attachment"
    title = text(attachment.get("title")) or (header.title if header else "")
    if not title:
        issues.required(f"{here}.title", f"{here}.title : le titre du document est obligatoire.")
    language = text(attachment.get("language")) or (header.language_code if header else "") or ""
    if not language:
        if simplified:
            language = "fr-FR"
        else:
            issues.required(
                f"{here}.language", f"{here}.language : la langue (languageCode) est obligatoire."
            )
    elif not _LANGUAGE.match(language) or len(language) > 10:
        issues.error(
            f"{here}.language", f"{here}.language : code de langue invalide.", code="value"
        )
    size, digest = attachment.get("size"), attachment.get("hash")
    if not simplified:
        if size is None:
            issues.required(f"{here}.size", f"{here}.size : la taille (octets) est obligatoire.")
        if digest is None:
            issues.required(
                f"{here}.hash", f"{here}.hash : l'empreinte SHA-1 (base64) est obligatoire."
            )
    if content is not None:
        _cross_check(content, size, digest, here, issues)
    declared_sha1 = None
    if isinstance(digest, str):
        try:
            declared_sha1 = base64.b64decode(digest, validate=True).hex()
        except (binascii.Error, ValueError):
            declared_sha1 = None
    return {
        "title": title,
        "language": language,
        "size": size if isinstance(size, int) and not isinstance(size, bool) else None,
        "sha1": declared_sha1,
    }


def _cross_check(content: bytes, size: object, digest: object, here: str, issues: Issues) -> None:
    if size is not None and (isinstance(size, bool) or size != len(content)):
        issues.error(
            f"{here}.size",
            f"{here}.size : {size} octets déclarés, le document en compte {len(content)}.",
            code="value",
        )
    if digest is None:
        return
    try:
        declared = base64.b64decode(str(digest), validate=True)
    except (binascii.Error, ValueError):
        declared = b""
    if len(declared) != hashlib.sha1().digest_size:  # noqa: S324 (XDS hash)
        issues.error(
            f"{here}.hash",
            f"{here}.hash : une empreinte SHA-1 encodée en base64 (20 octets) est attendue.",
            code="value",
        )
    elif declared != hashlib.sha1(content).digest():  # noqa: S324 (XDS hash)
        issues.error(
            f"{here}.hash",
            f"{here}.hash : l'empreinte SHA-1 déclarée ne correspond pas au contenu transmis.",
            code="value",
        )


def _format(
    resource: Mapping[str, Any],
    header: cda.CdaHeader | None,
    path: str,
    simplified: bool,
    issues: Issues,
) -> str | None:
    here = f"{path}.content[0].format"
    coding = as_dict(_first_content(resource).get("format"))
    code = text(coding.get("code"))
    if not code:
        if simplified:
            return header.format_code if header else None
        issues.required(here, f"{here} : le format du document (formatCode) est obligatoire.")
        return None
    if code != MIME_SUFFICIENT_FORMAT and classification.format_code(code) is None:
        issues.error(
            here,
            f"{here} : format inconnu « {code} » (JDV_J10 / JDV_J60).",
            code="code-invalid",
        )
        return None
    return code


def _context(
    resource: Mapping[str, Any],
    header: cda.CdaHeader | None,
    path: str,
    simplified: bool,
    issues: Issues,
) -> dict[str, Any]:
    context = as_dict(resource.get("context"))
    here = f"{path}.context"
    found: dict[str, Any] = {"start": None, "stop": None, "events": []}
    found["facility"] = _setting(
        context.get("facilityType"),
        f"{here}.facilityType",
        _FACILITY_SYSTEMS,
        FACILITY_CODES,
        header.healthcare_facility_type.code if header and header.healthcare_facility_type else "",
        "le secteur d'activité (healthcareFacilityTypeCode, TRE_R02 : SAxx, ou EXP_PATIENT / SNR)",
        issues,
    )
    found["practice"] = _setting(
        context.get("practiceSetting"),
        f"{here}.practiceSetting",
        _PRACTICE_SYSTEMS,
        PRACTICE_CODES,
        header.practice_setting.code if header and header.practice_setting else "",
        "le cadre d'exercice (practiceSettingCode, TRE_A01)",
        issues,
    )
    period = as_dict(context.get("period"))
    for key, name in (("start", "start"), ("stop", "end")):
        value = text(period.get(name))
        if not value:
            continue
        try:
            found[key] = dates.parse_datetime(value)
        except dates.BadDate as error:
            issues.error(f"{here}.period.{name}", f"{here}.period.{name} : {error}", code="value")
    if found["start"] is None and not text(period.get("start")):
        if header is not None and header.service_start is not None:
            found["start"], found["stop"] = header.service_start, header.service_stop
        else:
            issues.required(
                f"{here}.period.start",
                f"{here}.period.start : la date de début des actes (serviceStartTime) est "
                "obligatoire.",
            )
    if found["start"] and found["stop"] and found["stop"] < found["start"]:
        issues.error(f"{here}.period", f"{here}.period : la fin précède le début.", code="value")
    for concept in as_list(context.get("event")):
        for coding in _codings(concept):
            if text(coding.get("code")):
                event = {"code": text(coding.get("code"))}
                for key in ("system", "display"):
                    if text(coding.get(key)):
                        event[key] = text(coding.get(key))
                found["events"].append(event)
    return found


def _setting(
    concept: object,
    here: str,
    systems: set[str],
    codes: frozenset[str],
    derived: str,
    what: str,
    issues: Issues,
) -> str:
    if not _codings(concept):
        if derived:
            return derived
        issues.required(here, f"{here} : {what} est obligatoire.")
        return ""
    code = _code_in(concept, systems, codes) or _code_in(
        concept, _NON_PS_SYSTEMS, _NON_PS_PRODUCERS
    )
    if code is None:
        given = ", ".join(
            f"{text(c.get('system')) or 'sans système'}|{text(c.get('code'))}"
            for c in _codings(concept)
        )
        issues.error(
            here,
            f"{here} : code non accepté par le DMP ({given}) : attendu {what}.",
            code="code-invalid",
        )
        return ""
    return code


def _source_patient(
    resource: Mapping[str, Any], resolver: Resolver, ins: Ins | None, path: str, issues: Issues
) -> Traits | None:
    here = f"{path}.context.sourcePatientInfo"
    reference = as_dict(resource.get("context")).get("sourcePatientInfo")
    subject = resolver.resolve(resource.get("subject"))
    patient = resolver.resolve(reference) if reference is not None else None
    if reference is not None and patient is None:
        issues.error(
            here,
            f"{here} : le patient source doit être une ressource contenue (#id) ou une entrée du "
            "Bundle.",
            code="value",
        )
        return None
    source = patient if patient is not None else subject
    if source is None or source.get("resourceType") != "Patient":
        return None
    traits = patient_traits(source, here if patient is not None else f"{path}.subject", issues)
    if ins is not None and traits.ins is not None and traits.ins != ins:
        issues.error(
            here,
            f"{here} : l'INS du patient source ({traits.ins.matricule}) diffère de celui du "
            f"sujet ({ins.matricule}).",
            code="business-rule",
        )
    return traits


def _relates_to(resource: Mapping[str, Any], path: str, issues: Issues) -> str:
    replaces = ""
    for index, relation in enumerate(as_list(resource.get("relatesTo"))):
        here = f"{path}.relatesTo[{index}]"
        item = as_dict(relation)
        if text(item.get("code")) != "replaces":
            issues.error(
                f"{here}.code",
                f"{here}.code : seul le remplacement (replaces) est pris en charge.",
                code="not-supported",
            )
            continue
        target = as_dict(item.get("target"))
        reference = text(target.get("reference"))
        identifier = text(as_dict(target.get("identifier")).get("value"))
        if replaces:
            issues.error(here, f"{here} : un document ne remplace qu'un seul document.")
        elif reference.startswith("DocumentReference/") and len(reference) > 18:
            replaces = reference
        elif identifier:
            replaces = "identifier:" + unique_id_of(identifier)
        else:
            issues.error(
                f"{here}.target",
                f"{here}.target : le document remplacé est désigné par DocumentReference/<id> "
                "ou par son identifiant unique.",
                code="value",
            )
    return replaces


def _replaced_reference(replaces: str) -> str | None:
    if not replaces:
        return None
    if replaces.startswith("identifier:"):
        return replaces[len("identifier:") :]
    return replaces.rsplit("/", 1)[-1]


# --- Writing ------------------------------------------------------------------------------------


def binary_url(base_url: str, entry: DocumentEntry) -> str:
    return f"{base_url}/Binary/{entry.pk}"


def _coding(system: str, code: str, display: str = "") -> dict[str, Any]:
    coding = {"code": code}
    if system:
        coding["system"] = system
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _setting_coding(code: str, system: str) -> dict[str, Any]:
    return _coding(NON_PS_SYSTEM if code in _NON_PS_PRODUCERS else system, code)


def security_labels(entry: DocumentEntry) -> list[dict[str, Any]]:
    labels = [_coding(CONFIDENTIALITY_SYSTEM, entry.confidentiality)]
    labels += [
        _coding(VISIBILITY_SYSTEM, code)
        for code in (MASKED, INVISIBLE_PATIENT, INVISIBLE_REPRESENTATIVES)
        if code in labels_of(entry)
    ]
    return labels


def document_reference(entry: DocumentEntry, *, base_url: str) -> dict[str, Any]:
    """A stored document as a PDSm comprehensive DocumentReference (validated)."""
    known = classification.document_type(entry.type_code)
    format_known = classification.format_code(entry.format_code)
    contained, author = contained_participant(entry.author, "auteur")
    if author is None:
        contained, author = contained_participant(
            {"kind": "professional", "name": entry.depositor_label}, "auteur"
        )
    more, authenticator = contained_participant(entry.legal_authenticator, "responsable")
    contained += more
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": str(entry.pk),
        "meta": {
            "versionId": str(entry.version),
            "lastUpdated": dates.instant(entry.updated_at),
            "profile": [PROFILE_COMPREHENSIVE],
        },
        "extension": [{"url": IS_ARCHIVED, "valueBoolean": entry.archived}],
        "masterIdentifier": master_identifier(entry.unique_id),
        "identifier": [{"use": "official", "system": RFC3986, "value": f"urn:uuid:{entry.pk}"}],
        "status": entry.status,
        "type": _coding(
            entry.type_system or (known.system if known else ""),
            entry.type_code,
            entry.type_display,
        ),
        "subject": {"reference": f"Patient/{entry.patient_id}"},
        "date": dates.instant(entry.created_at_source),
        "securityLabel": security_labels(entry),
        "content": [
            {
                "attachment": {
                    "contentType": entry.mime_type,
                    "language": entry.language or "fr-FR",
                    "url": binary_url(base_url, entry),
                    "size": entry.size,
                    "hash": base64.b64encode(bytes.fromhex(entry.sha1)).decode("ascii"),
                    "title": entry.title,
                    "creation": dates.instant(entry.created_at_source),
                },
                "format": _coding(
                    format_known.system if format_known else IHE_FORMAT_SYSTEM,
                    entry.format_code,
                    format_known.display if format_known else "",
                )["coding"][0],
            }
        ],
        "context": _context_out(entry),
    }
    if contained:
        resource["contained"] = contained
    if author is not None:
        resource["author"] = [author]
    if authenticator is not None:
        resource["authenticator"] = authenticator
    if entry.class_code:
        resource["category"] = [
            _coding(CLASS_SYSTEM, entry.class_code, (known.class_display or "") if known else "")
        ]
    if entry.description:
        resource["description"] = entry.description
    if entry.replaces_id:
        resource["relatesTo"] = [
            {"code": "replaces", "target": {"reference": f"DocumentReference/{entry.replaces_id}"}}
        ]
    emitted.check(DocumentReference, resource)
    return resource


def _context_out(entry: DocumentEntry) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if entry.service_start or entry.service_stop:
        period = {}
        if entry.service_start:
            period["start"] = dates.instant(entry.service_start)
        if entry.service_stop:
            period["end"] = dates.instant(entry.service_stop)
        context["period"] = period
    if entry.facility_type:
        context["facilityType"] = _setting_coding(entry.facility_type, FACILITY_SYSTEM)
    if entry.practice_setting:
        context["practiceSetting"] = _setting_coding(entry.practice_setting, PRACTICE_SYSTEM)
    events = [
        {
            "coding": [
                {k: str(v) for k, v in event.items() if k in {"system", "code", "display"} and v}
            ]
        }
        for event in entry.event_codes or []
        if isinstance(event, Mapping) and event.get("code")
    ]
    if events:
        context["event"] = events
    return context
