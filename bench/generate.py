"""Generate the benchmark data set: N holders, M documents, one professional software.

Runs inside Django (DATABASE_URL, CARNET_* from the environment). Bulk inserts go straight to the
tables: this is a load generator, not a patient-data path. Writes to OUT:
  patients.txt (one patient id per line), documents.txt (document ids), key.pem (the software's
  private key), session.txt (a holder session cookie), holder.txt (the holder's space id).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carnet.settings")

import django  # noqa: E402

django.setup()

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from jwt.algorithms import RSAAlgorithm  # noqa: E402

from carnet.core import clock  # noqa: E402
from carnet.documents.models import DocumentEntry  # noqa: E402
from carnet.identity import services as identity  # noqa: E402
from carnet.identity.identifiers import luhn_check_digit  # noqa: E402
from carnet.identity.ins import OID_NIR_TEST  # noqa: E402
from carnet.identity.models import Holder, Organisation, Professional, RegisteredIssuer  # noqa: E402
from carnet.portal import session as portal_session  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from identities import holder_traits  # noqa: E402

ISSUER = "urn:carnet:bench:lps"
BATCH = 5000


def _holders(count: int) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for start in range(0, count, BATCH):
        rows = []
        for i in range(start, min(count, start + BATCH)):
            traits = holder_traits(i)
            rows.append(
                Holder(
                    id=uuid.uuid4(),
                    ins_matricule=traits["matricule"],
                    ins_oid=OID_NIR_TEST,
                    birth_family_name=traits["family"],
                    birth_given_names=traits["given"],
                    birth_date=dt.date.fromisoformat(traits["birth_date"]),
                    sex="M",
                    birth_place_code="75056",
                )
            )
        Holder.objects.bulk_create(rows)
        ids.extend(row.id for row in rows)
    return ids


def _documents(patients: list[uuid.UUID], count: int, author: Professional) -> list[uuid.UUID]:
    now = clock.now()
    ids: list[uuid.UUID] = []
    types = [("11488-4", "10", "comptes-rendus", "comptes-rendus"), ("11502-2", "10", "resultats-de-biologie", "analyses"),
             ("18748-4", "31", "imagerie", "imagerie"), ("57833-6", "42", "ordonnances-et-soins", "traitement")]
    for start in range(0, count, BATCH):
        rows = []
        for i in range(start, min(count, start + BATCH)):
            type_code, class_code, category, space = types[i % len(types)]
            document_id = uuid.uuid4()
            created = now - dt.timedelta(days=i % 3650, minutes=i % 1440)
            rows.append(
                DocumentEntry(
                    id=document_id, patient_id=patients[i % len(patients)], unique_id=f"urn:uuid:{document_id}",
                    type_code=type_code, type_system="http://loinc.org", type_display="Compte rendu",
                    class_code=class_code, holder_category=category, dmp_space=space,
                    title=f"Document de test {i}", title_folded=f"document de test {i}",
                    created_at_source=created, service_start=created,
                    format_code="urn:ihe:iti:xds-sd:pdf:2008", mime_type="application/pdf", size=10240,
                    sha1="0" * 40, sha256="0" * 64, content_key=f"{patients[i % len(patients)]}/{document_id}",
                    facility_type="SA07", practice_setting="AMBULATOIRE", author_professional=author,
                    author={"rpps": author.rpps, "family": author.family_name}, author_organisation="",
                    depositor_kind="professional", depositor_id=str(author.pk), depositor_label=str(author),
                    deposited_at=created, updated_at=created,
                )
            )
        DocumentEntry.objects.bulk_create(rows)
        ids.extend(row.id for row in rows)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, required=True)
    parser.add_argument("--documents", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    finess_body = "75000009"
    organisation = Organisation.objects.create(
        idnst="1" + finess_body + str(luhn_check_digit(finess_body)), name="Centre de bench"
    )
    rpps_body = "1000000099"
    author = Professional.objects.create(
        rpps=rpps_body + str(luhn_check_digit(rpps_body)), family_name="BENCH", given_name="Dr",
        profession_code="10", specialty_code="G15_10/SM54", organisation=organisation,
    )
    patients = _holders(args.patients)
    # the patient of the ANS example CDAs: CDA deposits must match its INS and traits
    ans = identity.register_holder(
        matricule="279035121518989", oid=OID_NIR_TEST,
        traits=identity.BirthTraits("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", dt.date(1979, 3, 28), "F", "51215"),
    )
    documents = _documents(patients, args.documents, author)
    # the holder whose portal list is measured, with a login session
    holder = Holder.objects.get(pk=patients[0])
    user = identity.activate_space(holder, email="bench@exemple.test", password="bench password 2026!")
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    store["_auth_user_hash"] = user.get_session_auth_hash()
    store[portal_session.SPACES] = [(str(holder.pk), str(holder))]
    store[portal_session.CURRENT_SPACE] = str(holder.pk)
    store.create()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "bench-1", "use": "sig", "alg": "RS256"})
    issuer = RegisteredIssuer.objects.create(issuer=ISSUER, name="LPS de bench", jwks={"keys": [jwk]})
    issuer.organisations.add(organisation)
    (out / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (out / "patients.txt").write_text("\n".join(str(p) for p in patients) + "\n")
    (out / "documents.txt").write_text("\n".join(str(d) for d in documents[:200_000]) + "\n")
    (out / "session.txt").write_text(store.session_key or "")
    (out / "holder.txt").write_text(str(holder.pk))
    (out / "ans_patient.txt").write_text(str(ans.pk))
    (out / "author.json").write_text(json.dumps({"rpps": author.rpps, "organisation": organisation.idnst}))
    print(f"generated {len(patients)} patients and {len(documents)} documents in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
