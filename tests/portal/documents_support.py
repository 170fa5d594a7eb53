"""Building blocks for the portal documents tests: the ANS test patient's space, deposits made
through the documents service by the holder, a professional or the insurer, small real files."""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from typing import Any

from carnet.access.actors import Actor, ActorKind
from carnet.documents import services
from carnet.documents.cda import read_cda_header
from carnet.identity.services import actor_for_professional, actor_for_user
from tests.documents.helpers import PDF, ans_test_patient, cda_bytes, identity_of, pdf_submission

__all__ = ["PDF", "ans_test_patient"]

N1_CDA = "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
N3_CDA = "BIO-CR-BIO_2024.01_TSH_1.xml"
INSURER = Actor(kind=ActorKind.SYSTEM, id="issuer:cnam", label="Assurance Maladie", channel="api")


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real, decodable PNG (grey pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def holder_actor(holder: Any) -> Actor:
    return actor_for_user(holder.user)


def upload(
    holder: Any,
    *,
    title: str = "Mon ordonnance",
    category: str = "ordonnances-et-soins",
    content: bytes = PDF,
    mime_type: str = "application/pdf",
) -> Any:
    """A file the holder adds themselves (through the service, as the portal does)."""
    return services.deposit_holder_document(
        holder_actor(holder),
        patient_id=str(holder.pk),
        content=content,
        mime_type=mime_type,
        title=title,
        category=category,
    ).document


def upload_for(user: Any, holder: Any, *, title: str, content: bytes = PDF) -> Any:
    """A file a legal representative adds to the space of the person they represent."""
    return services.deposit_holder_document(
        actor_for_user(user),
        patient_id=str(holder.pk),
        content=content,
        mime_type="application/pdf",
        title=title,
        category="prevention-et-depistage",
    ).document


def deposit_cda(holder: Any, professional: Any, name: str) -> Any:
    """One of the ANS example CDA documents, deposited by a professional with its header data."""
    data = cda_bytes(name)
    header = read_cda_header(data)
    submission = pdf_submission(
        header.unique_id,
        type_code=header.type_code,
        mime_type="text/xml",
        format_code=None,
        title=header.title,
        created_at_source=header.effective_time,
        author=_author_of(header),
    )
    actor = actor_for_professional(professional, channel="api")
    return services.deposit_documents(
        actor, patient=identity_of(holder), documents=[(submission, data)]
    )[0].document


def _author_of(header: Any) -> dict[str, str]:
    """The author metadata a professional's software sends beside the CDA (as in its header)."""
    author = header.authors[0]
    values = {
        "name": str(author.person or ""),
        "specialty_display": (author.specialty.display or "") if author.specialty else "",
        "organisation_name": (author.organization.name or "") if author.organization else "",
    }
    return {key: value for key, value in values.items() if value}


def deposit_pdf(holder: Any, actor: Actor, number: int, **overrides: Any) -> Any:
    """A PDF deposited by a professional or the insurer, distinct content for each number."""
    values: dict[str, Any] = {
        "title": f"Compte rendu {number:02d}",
        "created_at_source": dt.datetime(2024, 1, 1, 9, tzinfo=dt.UTC) + dt.timedelta(days=number),
    }
    values.update(overrides)
    submission = pdf_submission(f"1.2.250.1.999.77.{number}", **values)
    return services.deposit_documents(
        actor,
        patient=identity_of(holder),
        documents=[(submission, PDF + f"% {number}\n".encode())],
    )[0].document
