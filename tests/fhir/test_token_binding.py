"""A token's `organisation` and `profession` are believed only as far as someone trusted vouches
for them (issue: a registered software signing for an unknown RPPS and claiming the FINESS of a
masked document's author used to read it and mark it entered-in-error)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from carnet.core import clock
from carnet.documents.models import DocumentEntry
from carnet.identity.models import Organisation, Professional
from tests.documents.helpers import ans_test_patient
from tests.factories import make_professional, register_issuer
from tests.fhir import mhd_support as m
from tests.identity import jwt_factory as jf

pytestmark = pytest.mark.django_db

AUTHOR_ORGANISATION = "1" + jf.FINESS
OTHER_ORGANISATION = "1" + jf.with_luhn("75000009")
INTRUDER_ISSUER = "urn:carnet:test:logiciel-intrus"
UNKNOWN_RPPS = jf.with_luhn("1000000099")


@pytest.fixture
def masked_document(client, settings):
    """A masked document deposited by a directory professional of AUTHOR_ORGANISATION."""
    m.fast_passwords(settings)
    holder = ans_test_patient()
    m.register_software(settings)
    organisation = Organisation.objects.get(idnst=AUTHOR_ORGANISATION)
    make_professional("10", rpps=jf.RPPS, organisation=organisation)
    bundle = m.provide_bundle([(m.docref("1.2.250.1.999.7.1", labels=("MASQUE_PS",)), m.PDF)])
    response = m.professional(client).provide(bundle)
    assert response.status_code == 200, response.content
    entry = DocumentEntry.objects.get()
    assert (entry.masked, entry.author_organisation) == (True, AUTHOR_ORGANISATION)
    return str(entry.pk), holder


def _declare_consent(software, holder):
    """Any professional may declare the holder's consent, and then has an access right: only
    masking (and who vouches for the organisation) stands between them and a masked document."""
    today = clock.today()
    body = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {
            "identifier": {"system": f"urn:oid:{holder.ins_oid}", "value": holder.ins_matricule}
        },
        "provision": {
            "type": "permit",
            "period": {
                "start": today.isoformat(),
                "end": (today + dt.timedelta(days=30)).isoformat(),
            },
        },
    }
    response = software.post("/Consent", body)
    assert response.status_code == 201, response.content


def _software(client, key_name="rsa-1", issuer=jf.ISSUER, **claims):
    now = int(time.time())
    values = {"iss": issuer, "iat": now, "exp": now + 300, **claims}
    values.setdefault("rpps", UNKNOWN_RPPS)
    values["sub"] = "8" + values["rpps"]
    return m.Software(client, jf.mint_token(jf.rsa_key(key_name), jf.professional_claims(**values)))


def _entered_in_error(software, document_id):
    return software.patch(
        f"/DocumentReference/{document_id}",
        [{"op": "replace", "path": "/status", "value": "entered-in-error"}],
    )


@pytest.mark.parametrize("issuer_vouches", [False, True], ids=["intruder", "trusted-software"])
def test_an_unknown_rpps_claiming_the_authors_organisation_gets_nothing(
    client, masked_document, issuer_vouches
):
    document_id, holder = masked_document
    if issuer_vouches:
        software = _software(client, organisation=AUTHOR_ORGANISATION)
    else:
        register_issuer(
            issuer=INTRUDER_ISSUER,
            name="Intrus",
            jwks=jf.jwks(jf.rsa_key("intrus")),
            vouches_for=(),
        )
        software = _software(client, "intrus", INTRUDER_ISSUER, organisation=AUTHOR_ORGANISATION)
    _declare_consent(software, holder)
    assert software.get(f"/DocumentReference/{document_id}").status_code == 404
    assert software.get(f"/Binary/{document_id}").status_code == 404
    assert _entered_in_error(software, document_id).status_code in {403, 404}
    assert DocumentEntry.objects.get().status == "current"
    # the RPPS the directory did not know is recorded as such, with no organisation
    created = Professional.objects.get(rpps=UNKNOWN_RPPS)
    assert (created.from_token, created.organisation) == (True, None)


def test_the_authors_colleague_vouched_for_by_the_directory_reads_it(client, masked_document):
    organisation = Organisation.objects.get(idnst=AUTHOR_ORGANISATION)
    colleague = make_professional("10", organisation=organisation)
    software = _software(client, rpps=colleague.rpps, organisation=AUTHOR_ORGANISATION)
    document_id, holder = masked_document
    assert software.get(f"/DocumentReference/{document_id}").status_code == 404
    _declare_consent(software, holder)
    assert software.get(f"/DocumentReference/{document_id}").status_code == 200


def test_an_organisation_nobody_vouches_for_is_refused(client, masked_document):
    other = Organisation.objects.create(idnst=OTHER_ORGANISATION, name="Autre")
    known = make_professional("10", organisation=other)
    register_issuer(
        issuer=INTRUDER_ISSUER, name="Intrus", jwks=jf.jwks(jf.rsa_key("intrus")), vouches_for=()
    )
    software = _software(
        client, "intrus", INTRUDER_ISSUER, rpps=known.rpps, organisation=AUTHOR_ORGANISATION
    )
    document_id, holder = masked_document
    response = software.get(f"/DocumentReference/{document_id}")
    assert response.status_code == 401
    assert "organisation-not-vouched" in response.content.decode()
    # the same professional acting for their own organisation (the directory's) is accepted,
    # and, with a right, is still kept out of the masked document
    own = _software(client, "intrus", INTRUDER_ISSUER, rpps=known.rpps, organisation=other.idnst)
    _declare_consent(own, holder)
    assert own.get(f"/DocumentReference/{document_id}").status_code == 404


def test_an_issuer_registered_for_the_organisation_vouches_for_it(client, masked_document):
    # jf.ISSUER is registered for AUTHOR_ORGANISATION (register_issuer's default)
    other = Organisation.objects.create(idnst=OTHER_ORGANISATION, name="Autre")
    visiting = make_professional("10", organisation=other)
    software = _software(client, rpps=visiting.rpps, organisation=AUTHOR_ORGANISATION)
    document_id, holder = masked_document
    _declare_consent(software, holder)
    assert software.get(f"/DocumentReference/{document_id}").status_code == 200


def test_the_directory_profession_wins_and_a_mismatch_is_refused(client, masked_document):
    organisation = Organisation.objects.get(idnst=AUTHOR_ORGANISATION)
    nurse = make_professional("60", organisation=organisation)
    software = _software(client, rpps=nurse.rpps, profession="10", organisation=AUTHOR_ORGANISATION)
    document_id, _holder = masked_document
    response = software.get(f"/DocumentReference/{document_id}")
    assert response.status_code == 401
    assert "profession-mismatch" in response.content.decode()
