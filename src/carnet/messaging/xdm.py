"""Reading IHE_XDM.ZIP archives (IHE ITI-32 "Distribute Document Set on Media" in a ZIP).

An MSSanté message carries its clinical documents in `IHE_XDM.ZIP` (messaging.md §4):
`IHE_XDM/<SUBSET>/METADATA.XML` (an ebRIM SubmitObjectsRequest) describes a submission set and one
ExtrinsicObject per document, whose `URI` slot names the document's file. `read_xdm` returns every
document with its XDS metadata and its bytes, ready for the documents app.

Everything in the archive is hostile until proven otherwise:
* nothing is extracted to disk; names are only keys in a dictionary, yet absolute paths, `..`,
  drive letters, control characters, symbolic links, encrypted entries, duplicate names (also
  differing only by case, since XDM comes from case-insensitive media) and compression methods
  other than stored/deflated are refused;
* the entry count, each entry's and the total uncompressed size and the compression ratio are
  checked on the declared sizes first, then again on the bytes actually inflated (declared sizes
  can lie); only METADATA.XML and the files it references are ever inflated;
* METADATA.XML is parsed with expat, any DOCTYPE refused (so no entity, internal or external, can
  exist), with caps on size, element count and depth.

Decisions where the standards or the real samples disagree:
* Elements are matched on their *local* name and namespaces are not processed: the real DRIMbox
  METADATA.XML (shared/data/xdm) uses an undeclared `ns3:` prefix, so a namespace-aware parser
  rejects an archive that a national sender produces. Well-formedness is still fully enforced.
* `URI` is resolved relative to the subset folder (IHE) and, failing that, relative to `IHE_XDM/`
  (DRIMbox writes `SS000001/KOS_1_1.DCM`); an exact name wins over a case-insensitive match.
* The ExtrinsicObject `id` is reported as `entry_uuid` as is: XDM submissions may use symbolic ids.
* A declared hash or size that does not match the bytes is *reported* (`problems`), not refused:
  the receiver decides; a missing file, a malformed date or a duplicate uniqueId is refused.
"""

from __future__ import annotations

import hashlib
import io
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from xml.parsers import expat

from carnet.core.errors import InvalidInput
from carnet.identity.ins import OID_KINDS, Ins, parse_ins
from carnet.messaging.limits import DEFAULT_XDM_LIMITS, XdmLimits

# XDS metadata identifiers (IHE ITI TF-3 §4.2.5).
DOC_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DOC_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DOC_CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DOC_EVENT_CODE = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DOC_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DOC_FACILITY_TYPE_CODE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DOC_PRACTICE_SETTING_CODE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DOC_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DOC_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DOC_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SET_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SET_CONTENT_TYPE_CODE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SET_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SET_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SET_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"

# IHE Document Digital Signature (DSG): a detached signature is an XDS document of this class
# ("Digital Signature") and format (XML-DSig), as in the DRIMbox sample.
SIGNATURE_CLASS_CODE = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
SIGNATURE_FORMAT_CODE = "http://www.w3.org/2000/09/xmldsig#"
# TRE_A07 visibility flags carried as extra confidentiality codes (documents.md §3).
MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REPRESENTANTS_LEGAUX = "INVISIBLE_REPRESENTANTS_LEGAUX"

_ROOT_FOLDER = "ihe_xdm"
_METADATA_NAME = "metadata.xml"
_CHUNK = 64 * 1024


class XdmError(InvalidInput):
    """The archive cannot be read as an XDM; nothing from it is kept."""

    code = "invalid-xdm"


class XdmTooLargeError(XdmError):
    """Too many entries, too many bytes once inflated, or a compression ratio of a zip bomb."""

    code = "xdm-too-large"


class XdmUnsafeArchiveError(XdmError):
    """An entry that could escape or confuse a reader: traversal, link, encryption, duplicate."""

    code = "xdm-unsafe"


class XdmMetadataError(XdmError):
    """METADATA.XML is missing, not well-formed, refused (DTD) or lacks a required value."""

    code = "xdm-metadata"


class XdmMissingFileError(XdmError):
    """METADATA.XML references a file that the archive does not hold."""

    code = "xdm-missing-file"


class DocumentKind(StrEnum):
    CDA = "cda"
    SIGNATURE = "signature"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Code:
    """A coded XDS value: `nodeRepresentation`, `codingScheme` slot and `Name`."""

    code: str
    scheme: str
    display: str


@dataclass(frozen=True, slots=True)
class PatientId:
    """An HL7 v2 CX identifier such as `<INS>^^^&1.2.250.1.213.1.4.8&ISO^NH`."""

    value: str
    oid: str
    id_type: str
    raw: str

    @property
    def is_ins(self) -> bool:
        """Whether the assigning authority is an INS one (NIR, NIA, test or demo)."""
        return self.oid in OID_KINDS

    def to_ins(self, *, accept_fictitious: bool) -> Ins:
        """The validated INS (key checked); raises `InvalidIns` saying what is wrong."""
        return parse_ins(self.value, self.oid, accept_fictitious=accept_fictitious)


@dataclass(frozen=True, slots=True)
class Person:
    """An HL7 v2 XCN (authorPerson, legalAuthenticator): RPPS/ADELI id, names, authority."""

    id: str
    family: str
    given: str
    prefix: str
    oid: str
    id_type: str
    raw: str


@dataclass(frozen=True, slots=True)
class Organization:
    """An HL7 v2 XON (authorInstitution): name and FINESS/SIRET/… identifier."""

    name: str
    id: str
    oid: str
    id_type: str
    raw: str


@dataclass(frozen=True, slots=True)
class Author:
    person: Person | None
    institutions: tuple[Organization, ...]
    roles: tuple[Code, ...]
    specialties: tuple[Code, ...]
    telecoms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PatientName:
    family: str
    given: str
    name_type: str


@dataclass(frozen=True, slots=True)
class SourcePatientInfo:
    """The patient traits of sourcePatientInfo (PID-5 names, PID-7 birth, PID-8 sex, PID-11)."""

    names: tuple[PatientName, ...]
    birth_date: date | None
    gender: str
    birth_place_code: str
    raw: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Association:
    association_type: str
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class XdmDocument:
    """One ExtrinsicObject of METADATA.XML with the bytes of the file its URI names."""

    subset: str
    entry_uuid: str
    unique_id: str
    object_type: str
    mime_type: str
    title: str
    comments: str
    type_code: Code | None
    class_code: Code | None
    format_code: Code | None
    confidentiality_codes: tuple[Code, ...]
    healthcare_facility_type_code: Code | None
    practice_setting_code: Code | None
    event_codes: tuple[Code, ...]
    patient_id: PatientId | None
    source_patient_id: PatientId | None
    source_patient_info: SourcePatientInfo | None
    authors: tuple[Author, ...]
    legal_authenticator: Person | None
    creation_time: datetime | None
    service_start_time: datetime | None
    service_stop_time: datetime | None
    language_code: str
    reference_ids: tuple[str, ...]
    replaces: str | None
    declared_hash: str | None
    declared_size: int | None
    uri: str
    path: str
    content: bytes = field(repr=False)
    sha1: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def hash_matches(self) -> bool | None:
        """None when no hash was declared."""
        if self.declared_hash is None:
            return None
        return self.declared_hash.lower() == self.sha1

    @property
    def size_matches(self) -> bool | None:
        if self.declared_size is None:
            return None
        return self.declared_size == self.size

    @property
    def confidentiality_flags(self) -> frozenset[str]:
        return frozenset(code.code for code in self.confidentiality_codes)

    @property
    def masked_from_professionals(self) -> bool:
        return MASQUE_PS in self.confidentiality_flags

    @property
    def invisible_to_patient(self) -> bool:
        return INVISIBLE_PATIENT in self.confidentiality_flags

    @property
    def invisible_to_legal_representatives(self) -> bool:
        return INVISIBLE_REPRESENTANTS_LEGAUX in self.confidentiality_flags

    @property
    def kind(self) -> DocumentKind:
        if (self.class_code and self.class_code.code == SIGNATURE_CLASS_CODE) or (
            self.format_code and self.format_code.code == SIGNATURE_FORMAT_CODE
        ):
            return DocumentKind.SIGNATURE
        if xml_root_name(self.content) == "ClinicalDocument":
            return DocumentKind.CDA
        return DocumentKind.OTHER

    @property
    def problems(self) -> tuple[str, ...]:
        found = []
        if self.hash_matches is False:
            found.append(
                f"{self.path} : l'empreinte SHA-1 déclarée ({self.declared_hash}) ne correspond "
                f"pas au fichier ({self.sha1})."
            )
        if self.size_matches is False:
            found.append(
                f"{self.path} : la taille déclarée ({self.declared_size} octets) ne correspond "
                f"pas au fichier ({self.size} octets)."
            )
        return tuple(found)


@dataclass(frozen=True, slots=True)
class XdmSubmissionSet:
    """The RegistryPackage of one subset folder and the documents it describes."""

    subset: str
    entry_uuid: str
    unique_id: str
    source_id: str
    submission_time: datetime | None
    title: str
    comments: str
    authors: tuple[Author, ...]
    content_type_code: Code | None
    patient_id: PatientId | None
    intended_recipients: tuple[str, ...]
    associations: tuple[Association, ...]
    documents: tuple[XdmDocument, ...]


@dataclass(frozen=True, slots=True)
class XdmPackage:
    submission_sets: tuple[XdmSubmissionSet, ...]
    entry_names: tuple[str, ...]

    @property
    def documents(self) -> tuple[XdmDocument, ...]:
        return tuple(doc for sub in self.submission_sets for doc in sub.documents)

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(problem for doc in self.documents for problem in doc.problems)


def read_xdm(zip_bytes: bytes, *, limits: XdmLimits = DEFAULT_XDM_LIMITS) -> XdmPackage:
    """Read an IHE_XDM.ZIP held in memory: every subset's metadata and the files it references.

    Raises an `XdmError` subclass with a French message when the archive is unreadable, unsafe,
    too large once inflated, or when its metadata is malformed or references a missing file.
    """
    archive = _Archive(zip_bytes, limits)
    subsets = archive.subsets()
    if len(subsets) > limits.max_subsets:
        raise XdmTooLargeError(
            f"L'archive XDM contient {len(subsets)} lots de soumission "
            f"(maximum {limits.max_subsets})."
        )
    submission_sets = []
    for subset in subsets:
        metadata = archive.read(archive.metadata_name(subset), limits.max_metadata_bytes)
        root = _parse_xml(metadata, limits, where=f"{archive.root}/{subset}/METADATA.XML")
        submission_sets.append(_read_submission(root, subset, archive, limits))
    package = XdmPackage(tuple(submission_sets), tuple(archive.names))
    seen: set[str] = set()
    for doc in package.documents:
        if doc.unique_id in seen:
            raise XdmMetadataError(
                f"Deux documents de l'archive XDM portent le même identifiant unique "
                f"({doc.unique_id})."
            )
        seen.add(doc.unique_id)
    if len(seen) > limits.max_documents:
        raise XdmTooLargeError(
            f"L'archive XDM décrit {len(seen)} documents (maximum {limits.max_documents})."
        )
    return package


def xml_root_name(data: bytes, *, head: int = 64 * 1024) -> str | None:
    """The local name of the first element of an XML byte string, without parsing it.

    Skips a UTF-8 BOM, the XML declaration, processing instructions, comments and a DOCTYPE with a
    linear scan, so that a hostile head costs nothing. None when no element starts in `head` bytes.
    """
    text = data[:head]
    pos = 3 if text.startswith(b"\xef\xbb\xbf") else 0
    while True:
        pos = text.find(b"<", pos)
        if pos < 0:
            return None
        for opener, closer in ((b"<?", b"?>"), (b"<!--", b"-->"), (b"<!", b">")):
            if text.startswith(opener, pos):
                end = text.find(closer, pos + len(opener))
                if end < 0:
                    return None
                pos = end + len(closer)
                break
        else:
            match = _XML_NAME.match(text, pos + 1)
            if match is None:
                return None
            return match.group(0).decode("ascii").rpartition(":")[2]


_XML_NAME = re.compile(rb"[A-Za-z_][\w.:-]*")


# --- the archive --------------------------------------------------------------------------------


class _Archive:
    """The validated entries of the ZIP; reading one inflates it under the size budget."""

    def __init__(self, data: bytes, limits: XdmLimits) -> None:
        self.limits = limits
        if len(data) > limits.max_zip_bytes:
            raise XdmTooLargeError(
                f"L'archive XDM pèse {len(data)} octets (maximum {limits.max_zip_bytes})."
            )
        declared = _declared_entry_count(data)
        if declared is not None and declared > limits.max_entries:
            raise XdmTooLargeError(
                f"L'archive XDM annonce {declared} entrées (maximum {limits.max_entries})."
            )
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            NotImplementedError,
            ValueError,
            EOFError,
            OSError,
        ) as exc:
            raise XdmError(
                "La pièce jointe IHE_XDM.ZIP n'est pas une archive ZIP lisible."
            ) from exc
        if len(infos) > limits.max_entries:
            raise XdmTooLargeError(
                f"L'archive XDM contient {len(infos)} entrées (maximum {limits.max_entries})."
            )
        self.entries: dict[str, zipfile.ZipInfo] = {}
        self.folded: dict[str, str] = {}
        self.names: list[str] = []
        self.inflated = 0
        declared_total = 0
        for info in infos:
            name = _check_entry(info, limits)
            self.names.append(name)
            if name.endswith("/"):  # a folder, also when written with a backslash
                continue
            if name.casefold() in self.folded:
                raise XdmUnsafeArchiveError(
                    f"L'archive XDM contient deux fois l'entrée « {name} » : refusée."
                )
            self.entries[name] = info
            self.folded[name.casefold()] = name
            declared_total += info.file_size
            if declared_total > limits.max_total_bytes:
                raise XdmTooLargeError(
                    f"L'archive XDM décompressée dépasserait {_mb(limits.max_total_bytes)} Mo."
                )
        self.root = self._root_folder()

    def _root_folder(self) -> str:
        for name in self.entries:
            first = name.split("/", 1)[0]
            if first.casefold() == _ROOT_FOLDER and "/" in name:
                return first
        raise XdmError(
            "L'archive ne contient pas de dossier IHE_XDM : ce n'est pas une archive XDM."
        )

    def subsets(self) -> list[str]:
        found: set[str] = set()
        for name in self.entries:
            parts = name.split("/")
            if len(parts) >= 3 and parts[0] == self.root:
                found.add(parts[1])
        if not found:
            raise XdmMetadataError(
                f"Le dossier {self.root} ne contient aucun lot de soumission (SUBSET01…)."
            )
        return sorted(found)

    def metadata_name(self, subset: str) -> str:
        name = self.find(f"{self.root}/{subset}/METADATA.XML")
        if name is None:
            raise XdmMetadataError(
                f"Le lot {self.root}/{subset} ne contient pas de fichier METADATA.XML."
            )
        return name

    def find(self, name: str) -> str | None:
        """The entry name, exactly or else ignoring case (XDM media are case-insensitive)."""
        if name in self.entries:
            return name
        return self.folded.get(name.casefold())

    def read(self, name: str, cap: int) -> bytes:
        info = self.entries[name]
        limits = self.limits
        cap = min(cap, limits.max_entry_bytes)
        chunks = []
        size = 0
        try:
            with self.zip.open(info) as stream:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    self.inflated += len(chunk)
                    if size > cap:
                        raise XdmTooLargeError(
                            f"L'entrée « {name} » de l'archive XDM dépasse {_mb(cap)} Mo "
                            f"une fois décompressée."
                        )
                    if self.inflated > limits.max_total_bytes:
                        raise XdmTooLargeError(
                            f"L'archive XDM décompressée dépasse {_mb(limits.max_total_bytes)} Mo."
                        )
                    if size > limits.ratio_exempt_bytes and size > limits.max_ratio * max(
                        info.compress_size, 1
                    ):
                        raise XdmTooLargeError(_ratio_message(name, limits))
                    chunks.append(chunk)
        except (
            zipfile.BadZipFile,
            zlib.error,
            NotImplementedError,
            RuntimeError,
            ValueError,
            EOFError,
            OSError,
        ) as exc:
            raise XdmError(f"L'entrée « {name} » de l'archive XDM est corrompue.") from exc
        return b"".join(chunks)


def _check_entry(info: zipfile.ZipInfo, limits: XdmLimits) -> str:
    """Refuse an entry a careless reader could be tricked by; return its normalised name."""
    raw = info.filename
    name = raw.replace("\\", "/")
    shown = name.encode("unicode_escape").decode("ascii")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        raise XdmUnsafeArchiveError(
            f"Un nom d'entrée de l'archive XDM contient un caractère de contrôle ({shown})."
        )
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise XdmUnsafeArchiveError(
            f"L'archive XDM contient un chemin absolu (« {shown} ») : refusée."
        )
    parts = name.removesuffix("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise XdmUnsafeArchiveError(
            f"L'archive XDM contient un chemin qui sort de son dossier (« {shown} ») : refusée."
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise XdmUnsafeArchiveError(
            f"L'archive XDM contient un lien symbolique (« {shown} ») : refusée."
        )
    if info.flag_bits & 0x1:
        raise XdmUnsafeArchiveError(
            f"L'entrée « {shown} » de l'archive XDM est chiffrée : refusée."
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise XdmError(
            f"L'entrée « {shown} » utilise une méthode de compression non prise en charge "
            f"(seules « stored » et « deflate » le sont)."
        )
    if info.file_size > limits.max_entry_bytes:
        raise XdmTooLargeError(
            f"L'entrée « {shown} » de l'archive XDM dépasse {_mb(limits.max_entry_bytes)} Mo "
            f"une fois décompressée."
        )
    if info.file_size > limits.ratio_exempt_bytes and info.file_size > limits.max_ratio * max(
        info.compress_size, 1
    ):
        raise XdmTooLargeError(_ratio_message(shown, limits))
    return name


def _declared_entry_count(data: bytes) -> int | None:
    """Entry count of the end-of-central-directory record, read before zipfile builds its index."""
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if pos < 0 or pos + 22 > len(data):
        return None
    count = int.from_bytes(data[pos + 10 : pos + 12], "little")
    # 0xFFFF means ZIP64: zipfile reads the real count, checked right after.
    return None if count == 0xFFFF else count


def _ratio_message(name: str, limits: XdmLimits) -> str:
    return (
        f"L'entrée « {name} » de l'archive XDM a un taux de compression supérieur à "
        f"{limits.max_ratio}:1 (bombe de décompression probable) : refusée."
    )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


# --- METADATA.XML as a small tree ---------------------------------------------------------------


@dataclass(slots=True)
class _Element:
    name: str
    attrs: dict[str, str]
    children: list[_Element] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.chunks).strip()

    def all(self, name: str) -> Iterator[_Element]:
        return (child for child in self.children if child.name == name)

    def first(self, name: str) -> _Element | None:
        return next(self.all(name), None)

    def descendants(self) -> Iterator[_Element]:
        stack = [self]
        while stack:
            element = stack.pop()
            yield element
            stack.extend(reversed(element.children))


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def _parse_xml(data: bytes, limits: XdmLimits, *, where: str) -> _Element:
    """Parse with expat, without namespace processing, refusing any DOCTYPE (hence any entity)."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    stack: list[_Element] = []
    roots: list[_Element] = []
    count = 0

    def refuse_dtd(*_args: object) -> None:
        raise XdmMetadataError(
            f"{where} contient une DTD ou des entités XML : refusé (risque d'expansion "
            f"d'entités ou d'accès à des ressources externes)."
        )

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > limits.max_metadata_elements or len(stack) >= limits.max_metadata_depth:
            raise XdmTooLargeError(f"{where} est trop volumineux ou trop profond : refusé.")
        element = _Element(
            _local(name),
            {_local(k): v for k, v in attrs.items() if k != "xmlns" and not k.startswith("xmlns:")},
        )
        (stack[-1].children if stack else roots).append(element)
        stack.append(element)

    def end(_name: str) -> None:
        stack.pop()

    def characters(text: str) -> None:
        if stack:
            stack[-1].chunks.append(text)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.UnparsedEntityDeclHandler = refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise XdmMetadataError(
            f"{where} n'est pas un XML bien formé ({expat.ErrorString(exc.code)}, "
            f"ligne {exc.lineno})."
        ) from exc
    except (LookupError, ValueError) as exc:
        # An encoding that Python does not know or cannot decode (UnicodeError is a ValueError).
        raise XdmMetadataError(f"{where} : encodage de caractères illisible.") from exc
    return roots[0]


# --- ebRIM → XDS --------------------------------------------------------------------------------


def _read_submission(
    root: _Element, subset: str, archive: _Archive, limits: XdmLimits
) -> XdmSubmissionSet:
    where = f"{archive.root}/{subset}/METADATA.XML"
    request = next((e for e in root.descendants() if e.name == "SubmitObjectsRequest"), None)
    objects = request.first("RegistryObjectList") if request is not None else None
    if objects is None:
        raise XdmMetadataError(
            f"{where} ne contient pas de SubmitObjectsRequest/RegistryObjectList."
        )
    # ebRIM allows Classifications beside the objects they classify, not only inside them.
    loose: dict[str, list[_Element]] = {}
    for classification in objects.all("Classification"):
        loose.setdefault(classification.attrs.get("classifiedObject", ""), []).append(
            classification
        )
    associations = tuple(
        Association(
            a.attrs.get("associationType", "").rpartition(":")[2],
            a.attrs.get("sourceObject", ""),
            a.attrs.get("targetObject", ""),
        )
        for a in objects.all("Association")
    )
    package = _submission_package(objects, loose, where)
    package_id = package.attrs.get("id", "")
    classifications = _classifications(package, loose.get(package_id, []))
    identifiers = _identifiers(package)
    slots = _slots(package)
    unique_id = identifiers.get(SET_UNIQUE_ID, "")
    if not unique_id:
        raise XdmMetadataError(f"{where} : le lot de soumission n'a pas d'identifiant unique.")
    extrinsics = list(objects.all("ExtrinsicObject"))
    if len(extrinsics) > limits.max_documents:
        raise XdmTooLargeError(
            f"{where} décrit {len(extrinsics)} documents (maximum {limits.max_documents})."
        )
    documents = tuple(
        _read_document(e, loose, associations, subset, archive, where) for e in extrinsics
    )
    return XdmSubmissionSet(
        subset=subset,
        entry_uuid=package_id,
        unique_id=unique_id,
        source_id=identifiers.get(SET_SOURCE_ID, ""),
        submission_time=_time(slots, "submissionTime", where),
        title=_localized(package, "Name"),
        comments=_localized(package, "Description"),
        authors=tuple(_author(c) for c in classifications.get(SET_AUTHOR, [])),
        content_type_code=_first_code(classifications, SET_CONTENT_TYPE_CODE),
        patient_id=_cx_or_none(identifiers.get(SET_PATIENT_ID), where),
        intended_recipients=tuple(slots.get("intendedRecipient", [])),
        associations=associations,
        documents=documents,
    )


def _submission_package(
    objects: _Element, loose: dict[str, list[_Element]], where: str
) -> _Element:
    packages = list(objects.all("RegistryPackage"))
    for package in packages:
        nodes = [*package.all("Classification"), *loose.get(package.attrs.get("id", ""), [])]
        if any(c.attrs.get("classificationNode") == SET_NODE for c in nodes):
            return package
    if len(packages) == 1:
        return packages[0]
    raise XdmMetadataError(f"{where} ne désigne pas de lot de soumission (SubmissionSet).")


def _read_document(
    element: _Element,
    loose: dict[str, list[_Element]],
    associations: tuple[Association, ...],
    subset: str,
    archive: _Archive,
    where: str,
) -> XdmDocument:
    entry_uuid = element.attrs.get("id", "")
    slots = _slots(element)
    identifiers = _identifiers(element)
    classifications = _classifications(element, loose.get(entry_uuid, []))
    unique_id = identifiers.get(DOC_UNIQUE_ID, "")
    label = f"{where}, document « {entry_uuid} »"
    if not unique_id:
        raise XdmMetadataError(f"{label} : identifiant unique (uniqueId) absent.")
    uri = _uri(slots.get("URI", []))
    if not uri:
        raise XdmMetadataError(f"{label} : emplacement du fichier (URI) absent.")
    path = _resolve(uri, subset, archive, label)
    content = archive.read(path, archive.limits.max_entry_bytes)
    legal = slots.get("legalAuthenticator", [])
    info = slots.get("sourcePatientInfo", [])
    source_ids = slots.get("sourcePatientId", [])
    return XdmDocument(
        subset=subset,
        entry_uuid=entry_uuid,
        unique_id=unique_id,
        object_type=element.attrs.get("objectType", ""),
        mime_type=element.attrs.get("mimeType", ""),
        title=_localized(element, "Name"),
        comments=_localized(element, "Description"),
        type_code=_first_code(classifications, DOC_TYPE_CODE),
        class_code=_first_code(classifications, DOC_CLASS_CODE),
        format_code=_first_code(classifications, DOC_FORMAT_CODE),
        confidentiality_codes=tuple(
            _code(c) for c in classifications.get(DOC_CONFIDENTIALITY_CODE, [])
        ),
        healthcare_facility_type_code=_first_code(classifications, DOC_FACILITY_TYPE_CODE),
        practice_setting_code=_first_code(classifications, DOC_PRACTICE_SETTING_CODE),
        event_codes=tuple(_code(c) for c in classifications.get(DOC_EVENT_CODE, [])),
        patient_id=_cx_or_none(identifiers.get(DOC_PATIENT_ID), label),
        source_patient_id=_cx_or_none(source_ids[0] if source_ids else None, label),
        source_patient_info=_source_patient_info(info) if info else None,
        authors=tuple(_author(c) for c in classifications.get(DOC_AUTHOR, [])),
        legal_authenticator=parse_xcn(legal[0]) if legal else None,
        creation_time=_time(slots, "creationTime", label),
        service_start_time=_time(slots, "serviceStartTime", label),
        service_stop_time=_time(slots, "serviceStopTime", label),
        language_code=_first(slots, "languageCode"),
        reference_ids=tuple(slots.get("urn:ihe:iti:xds:2013:referenceIdList", [])),
        replaces=next(
            (
                a.target
                for a in associations
                if a.source == entry_uuid and a.association_type in ("RPLC", "RPLC_XFRM")
            ),
            None,
        ),
        declared_hash=_first(slots, "hash") or None,
        declared_size=_declared_size(slots, label),
        uri=uri,
        path=path,
        content=content,
        sha1=hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def _slots(element: _Element) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for slot in element.all("Slot"):
        values = slots.setdefault(slot.attrs.get("name", ""), [])
        for value_list in slot.all("ValueList"):
            values.extend(value.text for value in value_list.all("Value"))
    return slots


def _first(slots: dict[str, list[str]], name: str) -> str:
    values = slots.get(name, [])
    return values[0] if values else ""


def _identifiers(element: _Element) -> dict[str, str]:
    return {
        e.attrs.get("identificationScheme", ""): e.attrs.get("value", "").strip()
        for e in element.all("ExternalIdentifier")
    }


def _classifications(element: _Element, loose: Iterable[_Element]) -> dict[str, list[_Element]]:
    found: dict[str, list[_Element]] = {}
    for classification in [*element.all("Classification"), *loose]:
        scheme = classification.attrs.get("classificationScheme")
        if scheme:
            found.setdefault(scheme, []).append(classification)
    return found


def _localized(element: _Element, name: str) -> str:
    holder = element.first(name)
    string = holder.first("LocalizedString") if holder is not None else None
    return string.attrs.get("value", "").strip() if string is not None else ""


def _code(classification: _Element) -> Code:
    return Code(
        code=classification.attrs.get("nodeRepresentation", "").strip(),
        scheme=_first(_slots(classification), "codingScheme"),
        display=_localized(classification, "Name"),
    )


def _first_code(classifications: dict[str, list[_Element]], scheme: str) -> Code | None:
    found = classifications.get(scheme)
    return _code(found[0]) if found else None


def _author(classification: _Element) -> Author:
    slots = _slots(classification)
    person = slots.get("authorPerson", [])
    return Author(
        person=parse_xcn(person[0]) if person and person[0] else None,
        institutions=tuple(parse_xon(v) for v in slots.get("authorInstitution", []) if v),
        roles=tuple(_coded_value(v) for v in slots.get("authorRole", []) if v),
        specialties=tuple(_coded_value(v) for v in slots.get("authorSpecialty", []) if v),
        telecoms=tuple(v for v in slots.get("authorTelecommunication", []) if v),
    )


def _uri(values: list[str]) -> str:
    """The URI slot; ebRIM splits values over 256 characters into `1|…`, `2|…` parts."""
    parts = [_URI_PART.match(value) for value in values]
    if len(values) > 1 and all(parts):
        ordered = sorted((int(p.group(1)), p.group(2)) for p in parts if p is not None)
        return "".join(text for _, text in ordered).strip()
    return values[0].strip() if values else ""


_URI_PART = re.compile(r"^(\d+)\|(.*)$", re.DOTALL)


def _resolve(uri: str, subset: str, archive: _Archive, label: str) -> str:
    relative = uri.replace("\\", "/")
    parts = relative.split("/")
    if (
        re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", relative)
        or relative.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise XdmMetadataError(
            f"{label} : l'emplacement « {uri} » n'est pas un chemin relatif dans l'archive."
        )
    for candidate in (f"{archive.root}/{subset}/{relative}", f"{archive.root}/{relative}"):
        found = archive.find(candidate)
        if found is not None:
            return found
    raise XdmMissingFileError(
        f"{label} : le fichier « {uri} » annoncé dans METADATA.XML est absent de l'archive."
    )


def _declared_size(slots: dict[str, list[str]], label: str) -> int | None:
    value = _first(slots, "size")
    if not value:
        return None
    if not value.isascii() or not value.isdigit():
        raise XdmMetadataError(f"{label} : taille déclarée invalide ({value!r}).")
    return int(value)


_DTM = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?(?:([+-])(\d{2})(\d{2}))?$"
)


def parse_dtm(value: str) -> datetime:
    """An HL7 v2 DTM (`YYYY[MM[DD[HH[MM[SS]]]]][±ZZZZ]`, UTC when no offset) as an aware datetime.

    Missing parts take their first value (XDS allows a truncated precision). Raises ValueError.
    """
    match = _DTM.match(value.strip())
    if match is None:
        raise ValueError(value)
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    tz = UTC
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    return datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        tzinfo=tz,
    ).astimezone(UTC)


def _time(slots: dict[str, list[str]], name: str, label: str) -> datetime | None:
    value = _first(slots, name)
    if not value:
        return None
    try:
        return parse_dtm(value)
    except ValueError as exc:
        raise XdmMetadataError(f"{label} : date {name} invalide ({value!r}).") from exc


# --- HL7 v2 data types ---------------------------------------------------------------------------

_ESCAPES = {"F": "|", "S": "^", "T": "&", "R": "~", "E": "\\"}
_ESCAPE = re.compile(r"\\([FSTRE])\\")


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)], value).strip()


def _components(value: str, count: int) -> list[str]:
    parts = value.strip().split("^")
    return parts + [""] * (count - len(parts))


def _authority_oid(component: str) -> str:
    """The universal id (an OID) of an HD `namespace&universalId&ISO`."""
    sub = component.split("&")
    return _unescape(sub[1]) if len(sub) > 1 else ""


def parse_cx(value: str) -> PatientId:
    """`<id>^^^&<OID>&ISO^<type>` → PatientId; raises ValueError when the id is empty."""
    comps = _components(value, 5)
    identifier = _unescape(comps[0])
    if not identifier:
        raise ValueError(value)
    return PatientId(identifier, _authority_oid(comps[3]), _unescape(comps[4]), value.strip())


def parse_xcn(value: str) -> Person:
    """`<id>^<family>^<given>^^^<prefix>^^^&<OID>&ISO^<name type>^^^<id type>` → Person."""
    comps = _components(value, 13)
    return Person(
        id=_unescape(comps[0]),
        family=_unescape(comps[1]),
        given=_unescape(comps[2]),
        prefix=_unescape(comps[5]),
        oid=_authority_oid(comps[8]),
        id_type=_unescape(comps[12]),
        raw=value.strip(),
    )


def parse_xon(value: str) -> Organization:
    """`<name>^^^^^&<OID>&ISO^<id type>^^^<id>` → Organization (old style: id in XON.3)."""
    comps = _components(value, 10)
    return Organization(
        name=_unescape(comps[0]),
        id=_unescape(comps[9]) or _unescape(comps[2]),
        oid=_authority_oid(comps[5]),
        id_type=_unescape(comps[6]),
        raw=value.strip(),
    )


def _coded_value(value: str) -> Code:
    """authorRole / authorSpecialty: `code^display^scheme` (a bare code is accepted)."""
    comps = _components(value, 3)
    return Code(code=_unescape(comps[0]), scheme=_unescape(comps[2]), display=_unescape(comps[1]))


def _cx_or_none(value: str | None, label: str) -> PatientId | None:
    if not value:
        return None
    try:
        return parse_cx(value)
    except ValueError as exc:
        raise XdmMetadataError(f"{label} : identifiant patient invalide ({value!r}).") from exc


def _source_patient_info(values: list[str]) -> SourcePatientInfo:
    names = []
    birth_date = None
    gender = ""
    birth_place = ""
    for value in values:
        segment, _, content = value.partition("|")
        segment = segment.strip().upper()
        for repetition in content.split("~"):
            comps = _components(repetition, 9)
            if segment == "PID-5":
                names.append(
                    PatientName(_unescape(comps[0]), _unescape(comps[1]), _unescape(comps[6]))
                )
            elif segment == "PID-7":
                birth_date = _birth_date(comps[0].strip())
            elif segment == "PID-8":
                gender = _unescape(comps[0])
            elif segment == "PID-11" and (comps[6].strip() == "BDL" or not birth_place):
                birth_place = _unescape(comps[8])
    return SourcePatientInfo(tuple(names), birth_date, gender, birth_place, tuple(values))


def _birth_date(value: str) -> date | None:
    """PID-7 as a date when it is a complete one (RNIV dates may hide an unknown day or month)."""
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None
