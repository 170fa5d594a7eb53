"""Who a document is about and who wrote it, in FHIR: the patient (INS and strict traits) and the
author / legal authenticator (Practitioner, PractitionerRole, Organization, Device, Patient).

References are resolved inside the resource (`#contained`) or the Bundle (`urn:uuid:` fullUrls);
the patient is named by INS only (`Patient?identifier=urn:oid:…|<matricule>`, or a resolvable
Patient carrying an INS identifier), never by one of our ids, so a document lands in the space the
sender's own identity records designate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from carnet.core.errors import InvalidInput
from carnet.documents.services import PatientIdentity
from carnet.fhir.issues import Issues
from carnet.identity import ins as ins_rules

INS_OIDS = frozenset(
    {ins_rules.OID_NIR, ins_rules.OID_NIA, ins_rules.OID_NIR_TEST, ins_rules.OID_NIR_DEMO}
)
IDNPS = "1.2.250.1.71.4.2.1"  # "8" + RPPS, "0" + ADELI…
IDNST = "1.2.250.1.71.4.2.2"  # "1" + FINESS, "3" + SIRET…
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
SPECIALTY_SYSTEM = "urn:oid:1.2.250.1.213.1.1.4.5"  # TRE_A02 (authorSpecialty, JDV_J01)
FR_CORE_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
FR_CORE_INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
_GENDERS = {"male": "M", "female": "F", "other": "U", "unknown": "U"}
AUTHOR_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "Device", "Patient"})

Resource = Mapping[str, Any]


def as_dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def strip_urn_oid(value: str) -> str:
    return value[len("urn:oid:") :] if value.lower().startswith("urn:oid:") else value


@dataclass(frozen=True)
class Resolver:
    """Resolves references of one resource: `#id` to its contained resources, anything else to
    the Bundle entries by fullUrl (`urn:uuid:…`)."""

    contained: Mapping[str, Resource]
    bundle: Mapping[str, Resource]

    @classmethod
    def of(cls, resource: Resource, bundle: Mapping[str, Resource] | None = None) -> Resolver:
        contained = {
            text(item.get("id")): item
            for item in as_list(resource.get("contained"))
            if isinstance(item, Mapping) and text(item.get("id"))
        }
        return cls(contained=contained, bundle=bundle or {})

    def resolve(self, reference: object) -> Resource | None:
        target = text(as_dict(reference).get("reference"))
        if target.startswith("#"):
            return self.contained.get(target[1:])
        return self.bundle.get(target)


# --- The patient ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ins:
    matricule: str
    oid: str


def ins_from_token(token: str) -> Ins | None:
    """`urn:oid:<oid>|<matricule>` (a search token or a conditional reference); None if the
    system is not an INS one. Raises InvalidInput (the INS rules' French message) if malformed."""
    system, separator, value = unquote(token).partition("|")
    if not separator:
        return None
    oid = strip_urn_oid(system.strip())
    if oid not in INS_OIDS:
        return None
    parsed = ins_rules.parse_ins(
        value.strip(), oid, accept_fictitious=ins_rules.accept_fictitious_ins()
    )
    return Ins(parsed.matricule, parsed.oid)


def _ins_of_identifiers(identifiers: object) -> tuple[str, str] | None:
    for identifier in as_list(identifiers):
        item = as_dict(identifier)
        oid = strip_urn_oid(text(item.get("system")))
        if oid in INS_OIDS and text(item.get("value")):
            return text(item.get("value")), oid
    return None


def _checked_ins(raw: tuple[str, str], path: str, issues: Issues) -> Ins | None:
    try:
        parsed = ins_rules.parse_ins(
            raw[0], raw[1], accept_fictitious=ins_rules.accept_fictitious_ins()
        )
    except InvalidInput as error:
        issues.error(path, f"{path} : INS invalide. {error.message}", code="value")
        return None
    return Ins(parsed.matricule, parsed.oid)


def subject_ins(subject: object, resolver: Resolver, path: str, issues: Issues) -> Ins | None:
    """The INS a `subject` designates (conditional reference, logical identifier, or resolvable
    Patient), or None after recording why it cannot be used."""
    reference = as_dict(subject)
    if not reference:
        issues.required(path, f"{path} : le patient (INS) est obligatoire.")
        return None
    target = text(reference.get("reference"))
    if target.startswith("Patient?"):
        token = next(
            (
                part.partition("=")[2]
                for part in target[len("Patient?") :].split("&")
                if part.partition("=")[0] == "identifier"
            ),
            "",
        )
        system, _, value = unquote(token).partition("|")
        if strip_urn_oid(system) not in INS_OIDS or not value:
            issues.error(
                path,
                f"{path} : la référence conditionnelle doit désigner le patient par son INS "
                "(Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|<matricule>).",
                code="value",
            )
            return None
        return _checked_ins((value, strip_urn_oid(system)), path, issues)
    logical = _ins_of_identifiers([reference.get("identifier")])
    if logical is not None:
        return _checked_ins(logical, path + ".identifier", issues)
    patient = resolver.resolve(reference)
    if patient is not None and patient.get("resourceType") == "Patient":
        found = _ins_of_identifiers(patient.get("identifier"))
        if found is None:
            issues.error(
                path,
                f"{path} : le Patient désigné ne porte pas d'INS (identifiant OID "
                "1.2.250.1.213.1.4.8, .9, .10 ou .11).",
                code="value",
            )
            return None
        return _checked_ins(found, path, issues)
    issues.error(
        path,
        f"{path} : le patient doit être désigné par son INS : référence conditionnelle "
        "Patient?identifier=…, Patient contenu (#id) ou entrée Patient du Bundle "
        f"(« {target or 'référence vide'} » ne peut pas être résolue).",
        code="value",
    )
    return None


@dataclass(frozen=True)
class Traits:
    birth_family_name: str | None = None
    first_given_name: str | None = None
    birth_date: dt.date | None = None
    sex: str | None = None
    birth_place_code: str | None = None
    ins: Ins | None = None


def patient_traits(patient: Resource, path: str, issues: Issues) -> Traits:
    """The strict INS traits a FHIR Patient gives (FR Core: the official name is the birth name)."""
    names = [as_dict(n) for n in as_list(patient.get("name"))]
    official = next((n for n in names if n.get("use") == "official"), None)
    if official is None and len(names) == 1 and "use" not in names[0]:
        official = names[0]
    family = text(official.get("family")) if official else ""
    given = [text(g) for g in as_list(official.get("given"))] if official else []
    birth_date: dt.date | None = None
    if text(patient.get("birthDate")):
        try:
            birth_date = dt.date.fromisoformat(text(patient.get("birthDate")))
        except ValueError:
            issues.error(
                path + ".birthDate",
                f"{path}.birthDate : date de naissance invalide (AAAA-MM-JJ).",
                code="value",
            )
    place = None
    for extension in as_list(patient.get("extension")):
        if as_dict(extension).get("url") == FR_CORE_BIRTH_PLACE:
            address = as_dict(as_dict(extension).get("valueAddress"))
            for inner in as_list(address.get("extension")):
                if as_dict(inner).get("url") == FR_CORE_INSEE_CODE:
                    place = text(as_dict(as_dict(inner).get("valueCoding")).get("code")) or None
    raw = _ins_of_identifiers(patient.get("identifier"))
    return Traits(
        birth_family_name=family or None,
        first_given_name=(given[0].split(" ")[0] if given and given[0] else None),
        birth_date=birth_date,
        sex=_GENDERS.get(text(patient.get("gender"))),
        birth_place_code=place,
        ins=_checked_ins(raw, path + ".identifier", issues) if raw else None,
    )


def patient_identity(ins: Ins, traits: Traits | None) -> PatientIdentity:
    traits = traits or Traits()
    return PatientIdentity(
        matricule=ins.matricule,
        oid=ins.oid,
        birth_family_name=traits.birth_family_name,
        first_given_name=traits.first_given_name,
        birth_date=traits.birth_date,
        sex=traits.sex,
        birth_place_code=traits.birth_place_code,
    )


# --- Authors and authenticators -----------------------------------------------------------


def _identifier_value(identifiers: object, *systems: str) -> tuple[str, str] | None:
    for identifier in as_list(identifiers):
        item = as_dict(identifier)
        system = text(item.get("system"))
        if (system in systems or strip_urn_oid(system) in systems) and text(item.get("value")):
            return text(item.get("value")), strip_urn_oid(system)
    return None


def _first_coding_code(concepts: object) -> str:
    for concept in as_list(concepts) if isinstance(concepts, list) else [concepts]:
        for coding in as_list(as_dict(concept).get("coding")):
            if text(as_dict(coding).get("code")):
                return text(as_dict(coding).get("code"))
    return ""


def _name(resource: Resource) -> tuple[str, str]:
    names = [as_dict(n) for n in as_list(resource.get("name"))]
    if not names:
        return "", ""
    name = names[0]
    return text(name.get("family")), " ".join(text(g) for g in as_list(name.get("given")))


def _person(practitioner: Resource) -> dict[str, str]:
    found: dict[str, str] = {"kind": "professional"}
    idnps = _identifier_value(practitioner.get("identifier"), IDNPS)
    rpps = _identifier_value(practitioner.get("identifier"), RPPS_SYSTEM)
    if idnps:
        found["id"], found["id_system"] = idnps[0], IDNPS
        if idnps[0].startswith("8"):
            found["rpps"] = idnps[0][1:]
    if rpps:
        found["rpps"] = rpps[0]
        found.setdefault("id", "8" + rpps[0])
        found.setdefault("id_system", IDNPS)
    if "id" not in found:
        other = next(
            (
                as_dict(i)
                for i in as_list(practitioner.get("identifier"))
                if as_dict(i).get("value")
            ),
            None,
        )
        if other:
            found["id"], found["id_system"] = text(other.get("value")), text(other.get("system"))
    family, given = _name(practitioner)
    if family or given:
        found["family"], found["given"] = family, given
        found["name"] = " ".join(part for part in (given, family) if part)
    return found


def _organisation(organization: Resource) -> dict[str, str]:
    found: dict[str, str] = {}
    idnst = _identifier_value(organization.get("identifier"), IDNST)
    if idnst:
        found["organisation"] = idnst[0]
    if text(organization.get("name")):
        found["organisation_name"] = text(organization.get("name"))
    return found


def participant(resource: Resource, resolver: Resolver) -> dict[str, str]:
    """An author or authenticator resource as the flat dict the documents service stores."""
    kind = resource.get("resourceType")
    if kind == "Practitioner":
        return _person(resource)
    if kind == "PractitionerRole":
        person = resolver.resolve(resource.get("practitioner"))
        found = _person(person) if person and person.get("resourceType") == "Practitioner" else {}
        found["kind"] = "professional"
        role_person = _person(resource)
        for key, value in role_person.items():
            found.setdefault(key, value)
        if not found.get("name") and text(as_dict(resource.get("practitioner")).get("display")):
            found["name"] = text(as_dict(resource.get("practitioner")).get("display"))
        if specialty := _first_coding_code(resource.get("specialty")):
            found["specialty"] = specialty
        if role := _first_coding_code(resource.get("code")):
            found["role"] = role
        organization = resolver.resolve(resource.get("organization"))
        if organization and organization.get("resourceType") == "Organization":
            found.update(_organisation(organization))
        return found
    if kind == "Organization":
        found = {"kind": "organisation", **_organisation(resource)}
        found["name"] = found.get("organisation_name", "")
        return found
    if kind == "Device":
        names = [as_dict(n) for n in as_list(resource.get("deviceName"))]
        name = text(names[0].get("name")) if names else ""
        owner = resolver.resolve(resource.get("owner"))
        found = {"kind": "device", "name": name, "device": name}
        if owner and owner.get("resourceType") == "Organization":
            found.update(_organisation(owner))
        return found
    if kind == "Patient":
        family, given = _name(resource)
        return {"kind": "patient", "name": " ".join(p for p in (given, family) if p)}
    return {}


def read_authors(
    references: object, resolver: Resolver, path: str, issues: Issues
) -> list[dict[str, str]]:
    """Each author, resolved; records an issue for a missing list or an unresolvable one."""
    items = as_list(references)
    if not items:
        issues.required(path, f"{path} : au moins un auteur est obligatoire.")
        return []
    found: list[dict[str, str]] = []
    for index, reference in enumerate(items):
        here = f"{path}[{index}]"
        resource = resolver.resolve(reference)
        if resource is None or str(resource.get("resourceType")) not in AUTHOR_TYPES:
            issues.error(
                here,
                f"{here} : l'auteur doit être une ressource contenue (#id) ou une entrée du Bundle "
                "(Practitioner, PractitionerRole, Organization, Device ou Patient) ; « "
                f"{text(as_dict(reference).get('reference')) or 'référence vide'} » ne peut pas "
                "être résolue.",
                code="value",
            )
            continue
        author = participant(resource, resolver)
        if author.get("kind") == "professional" and not author.get("id"):
            issues.error(
                here,
                f"{here} : l'auteur professionnel doit porter son identifiant national (IDNPS "
                "urn:oid:1.2.250.1.71.4.2.1 ou RPPS).",
                code="value",
            )
            continue
        found.append(author)
    return found


def merge_authors(authors: Sequence[dict[str, str]]) -> dict[str, str]:
    """One author dict: the person (if any), completed by the institution of another author."""
    if not authors:
        return {}
    person = next((a for a in authors if a.get("kind") == "professional"), authors[0])
    merged = dict(person)
    for other in authors:
        for key in ("organisation", "organisation_name"):
            if other.get(key) and not merged.get(key):
                merged[key] = other[key]
    return merged


# --- Output: stored participants → contained resources -----------------------------------------


def contained_participant(
    who: Mapping[str, Any], prefix: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(contained resources, reference) for a stored author/authenticator dict."""
    kind = str(who.get("kind", ""))
    organisation: dict[str, Any] | None = None
    if who.get("organisation") or who.get("organisation_name"):
        organisation = {"resourceType": "Organization", "id": f"{prefix}-organisation"}
        if who.get("organisation"):
            organisation["identifier"] = [
                {"system": f"urn:oid:{IDNST}", "value": str(who["organisation"])}
            ]
        if who.get("organisation_name"):
            organisation["name"] = str(who["organisation_name"])
    if kind == "organisation":
        if organisation is None:
            return [], None
        organisation["id"] = prefix
        return [organisation], {"reference": f"#{prefix}"}
    if kind == "device":
        device: dict[str, Any] = {"resourceType": "Device", "id": prefix}
        if who.get("name"):
            device["deviceName"] = [{"name": str(who["name"]), "type": "user-friendly-name"}]
        resources = [device]
        if organisation is not None:
            device["owner"] = {"reference": f"#{organisation['id']}"}
            resources.append(organisation)
        return resources, {"reference": f"#{prefix}"}
    if kind in {"professional", ""} and (who.get("id") or who.get("name")):
        practitioner: dict[str, Any] = {"resourceType": "Practitioner", "id": f"{prefix}-personne"}
        if who.get("id"):
            system = str(who.get("id_system") or IDNPS)
            practitioner["identifier"] = [
                {
                    "system": system if ":" in system else f"urn:oid:{system}",
                    "value": str(who["id"]),
                }
            ]
        if who.get("family") or who.get("given"):
            name: dict[str, Any] = {}
            if who.get("family"):
                name["family"] = str(who["family"])
            if who.get("given"):
                name["given"] = str(who["given"]).split(" ")
            practitioner["name"] = [name]
        elif who.get("name"):
            practitioner["name"] = [{"text": str(who["name"])}]
        role: dict[str, Any] = {
            "resourceType": "PractitionerRole",
            "id": prefix,
            "practitioner": {"reference": f"#{practitioner['id']}"},
        }
        if who.get("specialty"):
            role["specialty"] = [
                {"coding": [{"system": SPECIALTY_SYSTEM, "code": str(who["specialty"])}]}
            ]
        if who.get("role"):
            role["code"] = [{"coding": [{"code": str(who["role"])}]}]
        resources = [role, practitioner]
        if organisation is not None:
            role["organization"] = {"reference": f"#{organisation['id']}"}
            resources.append(organisation)
        return resources, {"reference": f"#{prefix}"}
    return [], None
