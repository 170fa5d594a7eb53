"""Documents of the shared medical record (DMP): deposit, find, retrieve, update, replace, delete.

Invariants:
- Every public function takes the actor first and goes through `access.gate`: `authorize` for
  reads, `visible` for lists (so lists, counts and paging never show a refused document), and a
  pre-checked grant recorded inside the write transaction for writes.
- Content is encrypted with the patient's data key and stored *before* the metadata row is
  committed; a crash in between leaves an unreferenced object, never metadata without content.
  A failed deposit removes the objects it wrote.
- Identity vigilance: the INS in the metadata, in a CDA header and the strict traits given must
  all match the space; otherwise nothing is stored. Opposed or closed spaces refuse deposits.
- Idempotency: re-sending the same unique id with the same content, or the same content for the
  same patient and type, returns the existing document and stores nothing new.
- The DMP never physically deletes: deletion is a status (`entered-in-error`); the holder's own
  uploads also lose their content when they delete them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Q, QuerySet
from django.utils.translation import gettext as _

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind
from carnet.access.policy import DocumentFacts, Target
from carnet.core import clock
from carnet.core.errors import CarnetError, Conflict, InvalidInput, NotFound
from carnet.core.text import folded
from carnet.documents import cda, classification
from carnet.documents.crypto import KeyRing, generate_data_key
from carnet.documents.models import (
    DepositorKind,
    DocumentEntry,
    DocumentVersion,
    PatientKey,
    Status,
    SubmissionSet,
)
from carnet.documents.storage import (
    ContentStore,
    content_store_from_settings,
    read_decrypted,
    write_encrypted,
)
from carnet.identity import ins as ins_rules
from carnet.identity.errors import IdentityMismatch
from carnet.identity.models import Holder, SpaceStatus

MASKED = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REPRESENTATIVES = "INVISIBLE_REPRESENTANTS_LEGAUX"
VISIBILITY_LABELS = frozenset({MASKED, INVISIBLE_PATIENT, INVISIBLE_REPRESENTATIVES})
CONFIDENTIALITY_LEVELS = frozenset({"N", "R", "V"})
CDA_MIME_TYPES = frozenset({"text/xml", "application/xml", "application/hl7-cda+xml"})
HOLDER_UPLOAD_TYPES = {
    "application/pdf": b"%PDF-",
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
}
MIME_SUFFICIENT_FORMAT = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
PATIENT_PRODUCER = "EXP_PATIENT"
_AAD_PREFIX = b"carnet-document-v1:"


class SpaceClosed(Conflict):
    """The space was opposed or closed: nothing may be deposited in it."""

    code = "space-closed"


class DuplicateUniqueId(Conflict):
    code = "duplicate-unique-id"


# --- What adapters hand to the service ----------------------------------------------------------


@dataclass(frozen=True)
class PatientIdentity:
    """The patient a deposit is for: INS and, when the sender gives them, the strict traits."""

    matricule: str
    oid: str
    birth_family_name: str | None = None
    first_given_name: str | None = None
    birth_date: dt.date | None = None
    sex: str | None = None
    birth_place_code: str | None = None


@dataclass(frozen=True)
class DocumentSubmission:
    """One document's metadata as submitted (FHIR DocumentReference, XDM, or a portal form)."""

    unique_id: str
    type_code: str
    title: str
    created_at_source: dt.datetime
    mime_type: str
    format_code: str | None = None
    type_system: str | None = None
    class_code: str | None = None
    service_start: dt.datetime | None = None
    service_stop: dt.datetime | None = None
    facility_type: str = ""
    practice_setting: str = ""
    language: str = "fr-FR"
    event_codes: Sequence[dict[str, str]] = ()
    author: dict[str, str] = field(default_factory=dict)
    legal_authenticator: dict[str, str] = field(default_factory=dict)
    confidentiality: str = "N"
    labels: frozenset[str] = frozenset()
    invisible_until: dt.datetime | None = None
    declared_size: int | None = None
    declared_sha1: str | None = None
    replaces: str | None = None  # logical id or unique id of the document this one replaces
    description: str = ""


@dataclass(frozen=True)
class SubmissionSetData:
    unique_id: str
    submitted_at: dt.datetime | None = None
    source_id: str = ""
    content_type_code: str = ""
    title: str = ""
    author: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DepositResult:
    document: DocumentEntry
    created: bool


@dataclass(frozen=True)
class Page:
    rows: list[DocumentEntry]
    total: int
    offset: int
    limit: int


Content = bytes | Iterable[bytes]


# --- Keys and storage ---------------------------------------------------------------------------


def _store() -> ContentStore:
    return content_store_from_settings()


def _keyring() -> KeyRing:
    return KeyRing.from_settings()


def data_key(patient_id: uuid.UUID) -> bytes:
    """The patient's data key, created on first use; refused once destroyed (closed space).

    Every encrypted content of a space uses it (documents, message attachments), so closing the
    space destroys them all at once."""
    ring = _keyring()
    row = PatientKey.objects.filter(patient_id=patient_id).first()
    if row is None:
        dek = generate_data_key()
        try:
            with transaction.atomic():
                PatientKey.objects.create(
                    patient_id=patient_id,
                    wrapped_key=ring.wrap(dek, patient_id=str(patient_id)),
                    kek_id=ring.current_id,
                    created_at=clock.now(),
                )
            return dek
        except IntegrityError:  # another deposit created it first: use theirs
            row = PatientKey.objects.get(patient_id=patient_id)
    if row.destroyed_at is not None or row.wrapped_key is None:
        raise SpaceClosed(_("L'espace santé a été clôturé : son contenu n'est plus lisible."))
    return ring.unwrap(bytes(row.wrapped_key), patient_id=str(patient_id))


def _aad(document_id: uuid.UUID) -> bytes:
    return _AAD_PREFIX + str(document_id).encode()


def _content_key(patient_id: uuid.UUID, document_id: uuid.UUID) -> str:
    return f"{patient_id}/{document_id}"


# --- Identity vigilance -------------------------------------------------------------------------


def _resolve_space(patient: PatientIdentity) -> Holder:
    ins = ins_rules.parse_ins(
        patient.matricule, patient.oid, accept_fictitious=ins_rules.accept_fictitious_ins()
    )
    holder = Holder.objects.filter(ins_matricule=ins.matricule, ins_oid=ins.oid).first()
    if holder is None:
        raise NotFound(
            _("Aucun espace santé ne correspond à l'INS %(ins)s.") % {"ins": ins.matricule},
            code="unknown-patient",
        )
    _check_traits(holder, patient)
    if holder.space_status in {SpaceStatus.OPPOSED, SpaceStatus.CLOSED}:
        raise SpaceClosed(
            _(
                "Le titulaire s'est opposé à la création de son espace santé ou l'a clôturé : "
                "aucun document ne peut y être déposé."
            )
        )
    return holder


def _check_traits(holder: Holder, patient: PatientIdentity) -> None:
    wrong: list[str] = []
    if patient.birth_family_name and _norm(patient.birth_family_name) != _norm(
        holder.birth_family_name
    ):
        wrong.append(_("nom de naissance"))
    first_given = holder.birth_given_names.split(" ")[0]
    if patient.first_given_name and _norm(patient.first_given_name) != _norm(first_given):
        wrong.append(_("premier prénom de naissance"))
    if patient.birth_date and patient.birth_date != holder.birth_date:
        wrong.append(_("date de naissance"))
    if patient.sex and patient.sex not in {holder.sex, "U"}:
        wrong.append(_("sexe"))
    if patient.birth_place_code and patient.birth_place_code != holder.birth_place_code:
        wrong.append(_("lieu de naissance"))
    if wrong:
        raise IdentityMismatch(
            _(
                "Identité du patient incohérente avec l'espace santé désigné par l'INS "
                "(%(fields)s) : document refusé."
            )
            % {"fields": ", ".join(wrong)},
            field="subject",
        )


def _norm(value: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper().strip()


# --- Deposits -----------------------------------------------------------------------------------


@dataclass
class _Prepared:
    submission: DocumentSubmission
    document_id: uuid.UUID
    content: Content
    cda_header: cda.CdaHeader | None = None
    existing: DocumentEntry | None = None


def deposit_documents(
    actor: Actor,
    *,
    patient: PatientIdentity,
    documents: Sequence[tuple[DocumentSubmission, Content]],
    submission_set: SubmissionSetData | None = None,
) -> list[DepositResult]:
    """Deposit one or more documents for one patient, all or nothing, results in request order.

    Raises InvalidInput (naming the faulty element), NotFound (no space for this INS),
    IdentityMismatch, SpaceClosed, DuplicateUniqueId, or the gate's refusal.
    """
    if not documents:
        raise InvalidInput(_("Aucun document à déposer."), field="DocumentReference")
    holder = _resolve_space(patient)
    patient_key = str(holder.pk)
    grant = gate.precheck(
        actor,
        Action.DOCUMENTS_DOCUMENT_CREATE,
        Target("DocumentReference", patient_id=patient_key),
    )
    prepared = [_prepare(holder, submission, content) for submission, content in documents]
    _check_batch(prepared)
    for item in prepared:  # some depositors (the insurer) may only deposit some kinds
        gate.precheck(
            actor,
            Action.DOCUMENTS_DOCUMENT_CREATE,
            # The same instant and relation as the batch's check: loaded once per deposit.
            replace(grant.target, document=_submitted_facts(item)),
        )
    stored: list[str] = []
    try:
        return _store_and_record(actor, grant, holder, prepared, submission_set, stored)
    except BaseException:
        _discard(stored)
        raise


def _prepare(holder: Holder, submission: DocumentSubmission, content: Content) -> _Prepared:
    _validate_submission(submission)
    item = _Prepared(submission=submission, document_id=uuid.uuid4(), content=content)
    if submission.mime_type in CDA_MIME_TYPES:
        data = content if isinstance(content, bytes) else b"".join(content)
        item.content = data
        item.cda_header = cda.read_cda_header(data)
        _check_cda(holder, submission, item.cda_header)
    item.existing = _existing_by_unique_id(holder, submission.unique_id)
    return item


def _submitted_facts(item: _Prepared) -> DocumentFacts:
    submission = item.submission
    known = classification.document_type(submission.type_code)
    return DocumentFacts(
        type_code=submission.type_code,
        class_code=(known.class_code if known else "") or "",
        masked=MASKED in submission.labels,
        invisible_to_patient=INVISIBLE_PATIENT in submission.labels,
        invisible_to_representatives=INVISIBLE_REPRESENTATIVES in submission.labels,
    )


def _validate_submission(submission: DocumentSubmission) -> None:
    if not submission.unique_id.strip():
        raise InvalidInput(
            _("L'identifiant unique du document est obligatoire."), field="masterIdentifier"
        )
    known = classification.document_type(submission.type_code)
    if known is None:
        raise InvalidInput(
            _("Type de document inconnu : %(code)s.") % {"code": submission.type_code}, field="type"
        )
    if submission.class_code and known.class_code and submission.class_code != known.class_code:
        raise InvalidInput(
            _(
                "La classe %(given)s ne correspond pas au type %(type)s (classe attendue : "
                "%(expected)s)."
            )
            % {
                "given": submission.class_code,
                "type": submission.type_code,
                "expected": known.class_code,
            },
            field="category",
        )
    if not submission.title.strip():
        raise InvalidInput(
            _("Le titre du document est obligatoire."), field="content.attachment.title"
        )
    if submission.created_at_source > clock.now() + dt.timedelta(minutes=5):
        raise InvalidInput(_("La date de création du document est dans le futur."), field="date")
    if not submission.mime_type:
        raise InvalidInput(
            _("Le type MIME du contenu est obligatoire."), field="content.attachment.contentType"
        )
    if submission.confidentiality not in CONFIDENTIALITY_LEVELS:
        raise InvalidInput(_("Niveau de confidentialité inconnu."), field="securityLabel")
    _check_labels(submission.labels)


def _check_labels(labels: frozenset[str]) -> None:
    unknown = labels - VISIBILITY_LABELS
    if unknown:
        raise InvalidInput(
            _("Code de visibilité inconnu : %(codes)s.") % {"codes": ", ".join(sorted(unknown))},
            field="securityLabel",
        )
    if {MASKED, INVISIBLE_PATIENT} <= labels:
        raise InvalidInput(
            _(
                "Un document ne peut pas être à la fois masqué aux professionnels et invisible "
                "au patient."
            ),
            field="securityLabel",
        )


def _check_cda(holder: Holder, submission: DocumentSubmission, header: cda.CdaHeader) -> None:
    patient = header.patient
    if patient.ins is None:
        raise IdentityMismatch(
            _("Le document CDA ne porte pas d'INS (identifiant national de santé)."),
            field="content",
        )
    ins_rules.parse_ins(
        patient.ins.extension or "",
        patient.ins.root,
        accept_fictitious=ins_rules.accept_fictitious_ins(),
    )
    if (patient.ins.extension, patient.ins.root) != (holder.ins_matricule, holder.ins_oid):
        raise IdentityMismatch(
            _("L'INS du document CDA ne correspond pas à celui du patient désigné."),
            field="content",
        )
    _check_traits(
        holder,
        PatientIdentity(
            matricule=holder.ins_matricule,
            oid=holder.ins_oid,
            birth_family_name=patient.birth_family_name,
            first_given_name=patient.first_birth_given_name,
            birth_date=patient.birth_date,
            sex=patient.gender,
            birth_place_code=patient.birth_place_code,
        ),
    )
    mismatches = cda.header_mismatches(
        header, unique_id=submission.unique_id, type_code=submission.type_code
    )
    if mismatches:
        raise InvalidInput(
            _("Les métadonnées ne correspondent pas à l'en-tête CDA : %(list)s.")
            % {"list": " ; ".join(m.message for m in mismatches)},
            field="content",
        )


def _check_batch(prepared: Sequence[_Prepared]) -> None:
    seen: set[str] = set()
    for item in prepared:
        if item.submission.unique_id in seen:
            raise InvalidInput(
                _("Le même identifiant unique apparaît deux fois dans la soumission : %(id)s.")
                % {"id": item.submission.unique_id},
                field="masterIdentifier",
            )
        seen.add(item.submission.unique_id)


def _existing_by_unique_id(holder: Holder, unique_id: str) -> DocumentEntry | None:
    return DocumentEntry.objects.filter(patient=holder, unique_id=unique_id).first()


def _store_and_record(
    actor: Actor,
    grant: gate.Grant,
    holder: Holder,
    prepared: Sequence[_Prepared],
    submission_set: SubmissionSetData | None,
    stored: list[str],
) -> list[DepositResult]:
    dek = data_key(holder.pk)
    store = _store()
    infos = []
    for item in prepared:
        key = _content_key(holder.pk, item.document_id)
        stream: Iterable[bytes] = (
            [item.content] if isinstance(item.content, bytes) else item.content
        )
        info = write_encrypted(
            store,
            key,
            stream,
            dek=dek,
            aad=_aad(item.document_id),
            max_size=settings.CARNET_MAX_DOCUMENT_BYTES,
        )
        stored.append(key)
        _check_declared(item.submission, info.size, info.sha1)
        if item.existing is not None and item.existing.sha256 != info.sha256:
            raise DuplicateUniqueId(
                _("L'identifiant unique %(id)s désigne déjà un autre document de ce patient.")
                % {"id": item.submission.unique_id}
            )
        infos.append(info)
    results: list[DepositResult] = []
    with transaction.atomic():
        locked = Holder.objects.select_for_update().get(pk=holder.pk)
        if locked.space_status in {SpaceStatus.OPPOSED, SpaceStatus.CLOSED}:
            raise SpaceClosed(_("L'espace santé a été clôturé pendant le dépôt."))
        set_row = _submission_set(actor, holder, submission_set, prepared)
        for item, info in zip(prepared, infos, strict=True):
            duplicate = item.existing or _duplicate_content(
                holder, info.sha256, item.submission.type_code
            )
            if duplicate is not None:
                _discard([_content_key(holder.pk, item.document_id)])
                results.append(DepositResult(duplicate, created=False))
                continue
            entry = _create_entry(actor, holder, item, info, set_row)
            results.append(DepositResult(entry, created=True))
        created = [r.document for r in results if r.created]
        if created:
            gate.commit_grant(
                replace(grant, resource_id=str(created[0].pk)),
                details={
                    "documents": [str(d.pk) for d in created],
                    "titles": [d.title for d in created],
                    "submission_set": str(set_row.pk) if set_row else "",
                },
            )
            _notify_new_documents(holder, created)
    return results


def _check_declared(submission: DocumentSubmission, size: int, sha1: str) -> None:
    if submission.declared_size is not None and submission.declared_size != size:
        raise InvalidInput(
            _(
                "Taille déclarée (%(declared)s octets) différente de la taille réelle (%(real)s "
                "octets)."
            )
            % {"declared": submission.declared_size, "real": size},
            field="content.attachment.size",
        )
    if submission.declared_sha1 is not None and submission.declared_sha1.lower() != sha1:
        raise InvalidInput(
            _("L'empreinte SHA-1 déclarée ne correspond pas au contenu."),
            field="content.attachment.hash",
        )


def _duplicate_content(holder: Holder, sha256: str, type_code: str) -> DocumentEntry | None:
    return (
        DocumentEntry.objects.filter(patient=holder, sha256=sha256, type_code=type_code)
        .exclude(status=Status.DELETED)
        .first()
    )


def _depositor(actor: Actor) -> tuple[str, str]:
    if actor.kind is ActorKind.HOLDER:
        return DepositorKind.HOLDER, actor.id
    if actor.kind is ActorKind.SYSTEM:
        return DepositorKind.INSURER, actor.id
    return DepositorKind.PROFESSIONAL, actor.id


def _submission_set(
    actor: Actor, holder: Holder, data: SubmissionSetData | None, prepared: Sequence[_Prepared]
) -> SubmissionSet | None:
    if data is None:
        return None
    existing = SubmissionSet.objects.filter(patient=holder, unique_id=data.unique_id).first()
    if existing is not None:
        return existing
    kind, depositor_id = _depositor(actor)
    return SubmissionSet.objects.create(
        patient=holder,
        unique_id=data.unique_id,
        source_id=data.source_id,
        submitted_at=data.submitted_at or clock.now(),
        content_type_code=data.content_type_code,
        title=data.title,
        author=data.author,
        depositor_kind=kind,
        depositor_id=depositor_id,
    )


def _create_entry(
    actor: Actor, holder: Holder, item: _Prepared, info: Any, set_row: SubmissionSet | None
) -> DocumentEntry:
    submission = item.submission
    known = classification.document_type(submission.type_code)
    assert known is not None  # noqa: S101 (validated in _validate_submission)
    kind, depositor_id = _depositor(actor)
    where = classification.classify(
        submission.type_code, deposited_by_holder=kind == DepositorKind.HOLDER
    )
    header = item.cda_header
    replaced = (
        _replaced_document(actor, holder, submission.replaces) if submission.replaces else None
    )
    now = clock.now()
    entry = DocumentEntry.objects.create(
        id=item.document_id,
        patient=holder,
        unique_id=submission.unique_id,
        replaces=replaced,
        submission_set=set_row,
        type_code=submission.type_code,
        type_system=submission.type_system or known.system,
        type_display=known.display,
        class_code=known.class_code or "",
        holder_category=where.holder_category.slug,
        dmp_space=where.dmp_space.slug,
        title=submission.title.strip()[:300],
        description=submission.description,
        created_at_source=submission.created_at_source,
        service_start=submission.service_start or (header.service_start if header else None),
        service_stop=submission.service_stop or (header.service_stop if header else None),
        format_code=submission.format_code
        or (header.format_code if header and header.format_code else MIME_SUFFICIENT_FORMAT),
        mime_type=submission.mime_type,
        size=info.size,
        sha1=info.sha1,
        sha256=info.sha256,
        language=submission.language,
        content_key=_content_key(holder.pk, item.document_id),
        cda_level=header.level if header else "",
        facility_type=submission.facility_type,
        practice_setting=submission.practice_setting,
        event_codes=list(submission.event_codes),
        author_professional_id=actor.id if actor.kind is ActorKind.PROFESSIONAL else None,
        author=dict(submission.author),
        author_organisation=submission.author.get("organisation", "") or actor.organisation,
        legal_authenticator=dict(submission.legal_authenticator),
        confidentiality=submission.confidentiality,
        masked=MASKED in submission.labels,
        invisible_to_patient=INVISIBLE_PATIENT in submission.labels,
        invisible_until=submission.invisible_until,
        invisible_to_representatives=INVISIBLE_REPRESENTATIVES in submission.labels,
        depositor_kind=kind,
        depositor_id=depositor_id,
        depositor_label=actor.label[:200],
        deposited_at=now,
        updated_at=now,
    )
    if replaced is not None:
        _new_version(replaced, status=Status.SUPERSEDED)
    return entry


def _replaced_document(actor: Actor, holder: Holder, reference: str) -> DocumentEntry:
    """The document a new version replaces; only its author (the policy says who) may do so."""
    query = Q(unique_id=reference)
    with contextlib.suppress(ValueError):
        query |= Q(pk=uuid.UUID(reference.rsplit("/", 1)[-1]))
    old = DocumentEntry.objects.filter(query, patient=holder).first()
    if old is None or old.status != Status.CURRENT:
        raise InvalidInput(
            _("Le document à remplacer est introuvable ou n'est plus à jour."),
            field="relatesTo.target",
        )
    gate.authorize(actor, Action.DOCUMENTS_DOCUMENT_UPDATE, _target(old))
    return old


def _notify_new_documents(holder: Holder, documents: Sequence[DocumentEntry]) -> None:
    notify = _notifier()
    if notify is None:
        return
    for document in documents:
        notify(holder.pk, "document_new", dedupe_key=f"document_new:{document.pk}", context={})


def _notifier() -> Any:
    """`notifications.services.notify` once that app provides it (built in parallel)."""
    try:
        module = importlib.import_module("carnet.notifications.services")
    except ImportError:
        return None
    return getattr(module, "notify", None)


def _discard(keys: Iterable[str]) -> None:
    store = _store()
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # noqa: S112 (best effort: an orphan object holds no metadata)
            continue


# --- Holder uploads and insurer deposits ----------------------------------------------------------


def deposit_holder_document(
    actor: Actor,
    *,
    patient_id: str,
    content: Content,
    mime_type: str,
    title: str,
    category: str | None = None,
    type_code: str | None = None,
) -> DepositResult:
    """A document uploaded by the holder (PDF, JPEG or PNG, 20 MB at most) in a category."""
    holder = _holder_or_not_found(patient_id)
    expected_magic = HOLDER_UPLOAD_TYPES.get(mime_type)
    if expected_magic is None:
        raise InvalidInput(
            _("Format non accepté : seuls les PDF, JPEG et PNG peuvent être déposés."), field="file"
        )
    chunks = _peek(content)
    first = next(chunks, b"")
    if not first.startswith(expected_magic):
        raise InvalidInput(
            _("Le contenu du fichier ne correspond pas à son format déclaré."), field="file"
        )
    if type_code is None:
        if category is None:
            raise InvalidInput(_("Choisissez une catégorie."), field="category")
        type_code = classification.type_for_holder_upload(category)
    submission = DocumentSubmission(
        unique_id=f"urn:uuid:{uuid.uuid4()}",
        type_code=type_code,
        title=title.strip() or _("Document sans titre"),
        created_at_source=clock.now(),
        mime_type=mime_type,
        format_code=MIME_SUFFICIENT_FORMAT,
        facility_type=PATIENT_PRODUCER,
        practice_setting=PATIENT_PRODUCER,
        author={"kind": "patient", "name": str(holder)},
    )

    def rejoined() -> Iterator[bytes]:
        yield first
        yield from chunks

    identity = PatientIdentity(matricule=holder.ins_matricule, oid=holder.ins_oid)
    return deposit_documents(actor, patient=identity, documents=[(submission, rejoined())])[0]


def _peek(content: Content) -> Iterator[bytes]:
    if isinstance(content, bytes):
        return iter([content])
    return (piece for piece in content if piece)


# --- Reading ------------------------------------------------------------------------------------


def _holder_or_not_found(patient_id: str) -> Holder:
    try:
        holder = Holder.objects.filter(pk=patient_id).first()
    except (ValueError, TypeError):
        holder = None
    if holder is None:
        raise NotFound(gate.NOT_FOUND_MESSAGE)
    return holder


def facts_of(entry: DocumentEntry) -> DocumentFacts:
    return DocumentFacts(
        type_code=entry.type_code,
        class_code=entry.class_code,
        masked=entry.masked,
        invisible_to_patient=entry.invisible_to_patient
        and (entry.invisible_until is None or entry.invisible_until > clock.now()),
        invisible_to_representatives=entry.invisible_to_representatives,
        author_professional_id=str(entry.author_professional_id or ""),
        author_organisation=entry.author_organisation,
        deposited_by_holder=entry.depositor_kind == DepositorKind.HOLDER,
    )


def _target(entry: DocumentEntry) -> Target:
    return Target(
        "DocumentReference",
        resource_id=str(entry.pk),
        patient_id=str(entry.patient_id),
        document=facts_of(entry),
    )


def _entry_or_none(document_id: str) -> DocumentEntry | None:
    try:
        key = uuid.UUID(str(document_id))
    except ValueError:
        return None
    return DocumentEntry.objects.filter(pk=key).exclude(status=Status.DELETED).first()


def get_document(actor: Actor, document_id: str) -> DocumentEntry:
    """One document's metadata, if the actor may read it. Raises NotFound otherwise."""
    entry = _entry_or_none(document_id)
    if entry is None:
        gate.refuse_missing(actor, Action.DOCUMENTS_DOCUMENT_READ, "DocumentReference", document_id)
    gate.authorize(actor, Action.DOCUMENTS_DOCUMENT_READ, _target(entry))
    return entry


def document_facts(actor: Actor, document_id: str) -> DocumentFacts:
    """The facts the policy reads about a document (for "Qui peut voir ce document ?")."""
    return facts_of(get_document(actor, document_id))


def find_document_by_unique_id(actor: Actor, patient_id: str, unique_id: str) -> DocumentEntry:
    entry = DocumentEntry.objects.filter(
        patient_id=_uuid_or_none(patient_id), unique_id=unique_id
    ).first()
    return get_document(actor, str(entry.pk) if entry else "missing")


def open_content(actor: Actor, document_id: str) -> tuple[DocumentEntry, Iterator[bytes]]:
    """Metadata and the decrypted content stream (ITI-68). Opening marks it read for the holder."""
    entry = get_document(actor, document_id)
    dek = data_key(entry.patient_id)
    stream = read_decrypted(_store(), entry.content_key, dek=dek, aad=_aad(entry.pk))
    if actor.kind is ActorKind.HOLDER and entry.opened_by_holder_at is None:
        DocumentEntry.objects.filter(pk=entry.pk, opened_by_holder_at__isnull=True).update(
            opened_by_holder_at=clock.now()
        )
    return entry, stream


def read_content(actor: Actor, document_id: str) -> tuple[DocumentEntry, bytes]:
    entry, stream = open_content(actor, document_id)
    return entry, b"".join(stream)


@dataclass(frozen=True)
class Rendition:
    """What the portal shows for a document: bytes with a content type, or safe HTML."""

    mime_type: str
    content: bytes = b""
    html: str = ""


def holder_rendition(actor: Actor, document_id: str) -> tuple[DocumentEntry, Rendition]:
    """N1 CDA → its PDF, N3 CDA → narrative rendered to safe HTML, other formats as they are."""
    from carnet.documents.narrative import render_narrative

    entry, data = read_content(actor, document_id)
    if entry.cda_level == "N1":
        media_type, body = cda.extract_nonxml_body(data)
        return entry, Rendition(mime_type=media_type, content=body)
    if entry.cda_level == "N3":
        return entry, Rendition(mime_type="text/html", html=render_narrative(data))
    return entry, Rendition(mime_type=entry.mime_type, content=data)


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class SearchFilters:
    """Search criteria shared by ITI-67 and the portal's document list."""

    statuses: tuple[str, ...] = (Status.CURRENT,)
    type_codes: tuple[str, ...] = ()
    class_codes: tuple[str, ...] = ()
    holder_category: str = ""
    dmp_space: str = ""
    author: str = ""  # ITI-67: part of the depositor's name, or the author organisation's IDNST
    depositor: str = ""  # the portal's choice: one depositor, exactly as listed by the facets
    text: str = ""
    unique_ids: tuple[str, ...] = ()
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    period_from: dt.datetime | None = None
    period_to: dt.datetime | None = None
    archived: bool | None = None
    sort: str = "-date"


SORTS = {
    "-date": ("-created_at_source", "-deposited_at"),
    "date": ("created_at_source", "deposited_at"),
    "-deposited": ("-deposited_at",),
    "title": ("title",),
}


def search_documents(
    actor: Actor, *, patient_id: str, filters: SearchFilters, offset: int = 0, limit: int = 20
) -> Page:
    """The documents of one space the actor may see, filtered, sorted and paged (ITI-67, portal)."""
    visible = _visible(actor, patient_id, {"filters": _describe(filters)})
    return _page(_filtered(visible, filters), filters, offset, limit)


@dataclass(frozen=True)
class Facets:
    """What the filters of a space's document list offer, counted over every visible document."""

    total: int
    categories: dict[str, int]  # holder category slug -> documents
    types: dict[str, str]  # type code -> display
    depositors: list[tuple[str, str, str]]  # (label, kind, id) of who deposited


def document_facets(actor: Actor, *, patient_id: str, filters: SearchFilters) -> Facets:
    """Counts per category, the types and the depositors of the documents the actor may see in
    one space (the portal's filter choices): aggregates, never the rows themselves."""
    visible = _visible(actor, patient_id, {"filters": _describe(filters), "kind": "facets"})
    return _facets(_filtered(visible, filters))


def document_list(
    actor: Actor, *, patient_id: str, filters: SearchFilters, offset: int = 0, limit: int = 20
) -> tuple[Page, Facets]:
    """The portal's list page in one search (one trace event): the filtered page, and the facets
    of every document of the space the actor may see."""
    visible = _visible(actor, patient_id, {"filters": _describe(filters), "kind": "list+facets"})
    return _page(_filtered(visible, filters), filters, offset, limit), _facets(visible)


def _visible(actor: Actor, patient_id: str, details: dict[str, Any]) -> QuerySet[DocumentEntry]:
    return gate.visible(
        actor,
        Action.DOCUMENTS_DOCUMENT_SEARCH,
        DocumentEntry.objects.filter(patient_id=_uuid_or_none(patient_id)),
        searched_patient_id=str(patient_id) if _holder_exists(patient_id) else None,
        details=details,
    )


def _page(rows: QuerySet[DocumentEntry], filters: SearchFilters, offset: int, limit: int) -> Page:
    ordering = SORTS.get(filters.sort)
    if ordering is None:
        raise InvalidInput(_("Tri inconnu : %(sort)s.") % {"sort": filters.sort}, field="_sort")
    limit = max(0, min(limit, 100))
    total = rows.count()
    page = list(rows.order_by(*ordering, "pk")[offset : offset + limit]) if limit else []
    return Page(rows=page, total=total, offset=offset, limit=limit)


def _facets(rows: QuerySet[DocumentEntry]) -> Facets:
    groups = list(
        rows.order_by()
        .values("holder_category", "type_code", "type_display", "depositor_label")
        .annotate(
            count=Count("pk"),
            depositor_kind=Min("depositor_kind"),
            depositor_id=Min("depositor_id"),
        )
    )
    categories: Counter[str] = Counter()
    types: dict[str, str] = {}
    depositors: dict[str, tuple[str, str, str]] = {}
    for group in groups:
        categories[group["holder_category"]] += group["count"]
        types.setdefault(group["type_code"], group["type_display"] or group["type_code"])
        label = group["depositor_label"]
        depositors.setdefault(label, (label, group["depositor_kind"], group["depositor_id"]))
    return Facets(
        total=sum(categories.values()),
        categories=dict(categories),
        types=types,
        depositors=list(depositors.values()),
    )


def _holder_exists(patient_id: str) -> bool:
    key = _uuid_or_none(patient_id)
    return key is not None and Holder.objects.filter(pk=key).exists()


def _filtered(rows: QuerySet[DocumentEntry], f: SearchFilters) -> QuerySet[DocumentEntry]:
    if f.statuses:
        rows = rows.filter(status__in=f.statuses)
    if f.type_codes:
        rows = rows.filter(type_code__in=f.type_codes)
    if f.class_codes:
        rows = rows.filter(class_code__in=f.class_codes)
    if f.holder_category:
        rows = rows.filter(holder_category=f.holder_category)
    if f.dmp_space:
        rows = rows.filter(dmp_space=f.dmp_space)
    if f.author:
        rows = rows.filter(Q(depositor_label__icontains=f.author) | Q(author_organisation=f.author))
    if f.depositor:
        rows = rows.filter(depositor_label=f.depositor)
    if f.text:
        rows = rows.filter(title_folded__contains=folded(f.text))
    if f.unique_ids:
        rows = rows.filter(unique_id__in=f.unique_ids)
    if f.created_from:
        rows = rows.filter(created_at_source__gte=f.created_from)
    if f.created_to:
        rows = rows.filter(created_at_source__lte=f.created_to)
    if f.period_from:
        rows = rows.filter(service_stop__gte=f.period_from)
    if f.period_to:
        rows = rows.filter(service_start__lte=f.period_to)
    if f.archived is not None:
        rows = rows.filter(archived=f.archived)
    return rows


def _describe(filters: SearchFilters) -> dict[str, str]:
    return {
        name: str(value)
        for name, value in vars(filters).items()
        if value not in (None, "", (), ()) and name != "sort"
    }


def list_submission_sets(
    actor: Actor, *, patient_id: str, offset: int = 0, limit: int = 20
) -> tuple[list[SubmissionSet], int]:
    """Submission sets of a space that hold at least one document the actor may see (ITI-66)."""
    docs = gate.visible(
        actor,
        Action.DOCUMENTS_DOCUMENT_SEARCH,
        DocumentEntry.objects.filter(
            patient_id=_uuid_or_none(patient_id), submission_set__isnull=False
        ),
        searched_patient_id=str(patient_id) if _holder_exists(patient_id) else None,
        details={"kind": "submission-sets"},
    )
    sets = SubmissionSet.objects.filter(pk__in=docs.values("submission_set_id")).order_by(
        "-submitted_at", "pk"
    )
    total = sets.count()
    return list(sets[offset : offset + max(0, min(limit, 100))]), total


def documents_of_set(actor: Actor, submission_set: SubmissionSet) -> list[DocumentEntry]:
    rows = gate.visible(
        actor,
        Action.DOCUMENTS_DOCUMENT_SEARCH,
        DocumentEntry.objects.filter(submission_set=submission_set),
        searched_patient_id=str(submission_set.patient_id),
        details={"kind": "submission-set-members"},
    )
    return list(rows.order_by("pk"))


# --- Metadata updates, deletion -----------------------------------------------------------------


def _snapshot(entry: DocumentEntry) -> dict[str, Any]:
    return {
        "version": entry.version,
        "status": entry.status,
        "archived": entry.archived,
        "masked": entry.masked,
        "invisible_to_patient": entry.invisible_to_patient,
        "invisible_until": entry.invisible_until.isoformat() if entry.invisible_until else None,
        "invisible_to_representatives": entry.invisible_to_representatives,
        "updated_at": entry.updated_at.isoformat(),
    }


def _new_version(entry: DocumentEntry, **changes: Any) -> DocumentEntry:
    DocumentVersion.objects.create(
        patient_id=entry.patient_id,
        document=entry,
        version=entry.version,
        snapshot=_snapshot(entry),
        changed_at=clock.now(),
    )
    for name, value in changes.items():
        setattr(entry, name, value)
    entry.version += 1
    entry.updated_at = clock.now()
    entry.save()
    return entry


@dataclass(frozen=True)
class MetadataChange:
    """The only metadata a PDSm PATCH may change: status, visibility labels, archived flag."""

    status: str | None = None
    labels: frozenset[str] | None = None
    invisible_until: dt.datetime | None = None
    archived: bool | None = None


def update_metadata(actor: Actor, document_id: str, change: MetadataChange) -> DocumentEntry:
    """Apply a metadata change as a new version. Raises InvalidInput, NotFound, AccessDenied."""
    entry = _entry_or_none(document_id)
    action = (
        Action.DOCUMENTS_DOCUMENT_DELETE
        if change.status == Status.DELETED
        else Action.DOCUMENTS_DOCUMENT_UPDATE
    )
    if entry is None:
        gate.refuse_missing(actor, action, "DocumentReference", document_id)
    grant = gate.precheck(actor, action, _target(entry))
    changes = _changes(entry, change)
    with transaction.atomic():
        locked = DocumentEntry.objects.select_for_update().get(pk=entry.pk)
        updated = _new_version(locked, **changes)
        gate.commit_grant(grant, details={"changes": sorted(changes), "version": updated.version})
        if actor.kind is not ActorKind.HOLDER:
            _notify_modified(updated)
    if change.status == Status.DELETED and entry.depositor_kind == DepositorKind.HOLDER:
        _discard([entry.content_key])
    return updated


def _changes(entry: DocumentEntry, change: MetadataChange) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if change.status is not None:
        if change.status not in {Status.CURRENT, Status.DELETED}:
            raise InvalidInput(
                _("Statut non modifiable : %(s)s.") % {"s": change.status}, field="status"
            )
        changes["status"] = change.status
    if change.labels is not None:
        _check_labels(change.labels)
        changes["masked"] = MASKED in change.labels
        changes["invisible_to_patient"] = INVISIBLE_PATIENT in change.labels
        changes["invisible_until"] = (
            change.invisible_until if INVISIBLE_PATIENT in change.labels else None
        )
        changes["invisible_to_representatives"] = INVISIBLE_REPRESENTATIVES in change.labels
    if change.archived is not None:
        changes["archived"] = change.archived
    if not changes:
        raise InvalidInput(_("Aucune modification demandée."), field="PATCH")
    return changes


def _notify_modified(entry: DocumentEntry) -> None:
    notify = _notifier()
    if notify is not None:
        notify(
            entry.patient_id,
            "document_modified",
            dedupe_key=f"document_modified:{entry.pk}:{entry.version}",
            context={},
        )


def labels_of(entry: DocumentEntry) -> frozenset[str]:
    labels = set()
    if entry.masked:
        labels.add(MASKED)
    if entry.invisible_to_patient:
        labels.add(INVISIBLE_PATIENT)
    if entry.invisible_to_representatives:
        labels.add(INVISIBLE_REPRESENTATIVES)
    return frozenset(labels)


def set_masked(actor: Actor, document_id: str, *, masked: bool) -> DocumentEntry:
    """The holder hides a document from professionals (MASQUE_PS), or shows it again."""
    entry = get_document(actor, document_id)
    labels = set(labels_of(entry)) - {MASKED}
    if masked:
        labels.add(MASKED)
    return update_metadata(
        actor,
        document_id,
        MetadataChange(labels=frozenset(labels), invisible_until=entry.invisible_until),
    )


def delete_document(actor: Actor, document_id: str) -> DocumentEntry:
    """Logical deletion; only the author (or the holder for their own uploads) may delete."""
    return update_metadata(actor, document_id, MetadataChange(status=Status.DELETED))


def close_space_content(patient_id: uuid.UUID) -> int:
    """Destroy the patient's data key and remove stored objects (space closure / deletion)."""
    with transaction.atomic():
        PatientKey.objects.filter(patient_id=patient_id).update(
            wrapped_key=None, destroyed_at=clock.now()
        )
    try:
        return _store().delete_prefix(f"{patient_id}/")
    except CarnetError:
        return 0
