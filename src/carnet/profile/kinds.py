"""The kinds of profile items: for each, its FHIR R4 resource, its French form and its codes.

Pure module; the machinery is in `items.py`. Codes come from public code systems where one fits
(SNOMED CT smoking status, LOINC questions, WHO ATC vaccines, CIM-10 ATIH diagnoses, HL7
condition/allergy/consent code systems, IPS "absent or unknown" codes for "nothing to report");
Carnet's own answer lists are under `urn:carnet:codesystem:` (see `items.CARNET_CODES`). Free
text is always accepted: the coded choice is optional wherever the holder may not know the code.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from carnet.profile import sections as s
from carnet.profile.items import (
    ATC,
    CARNET_CODES,
    CARNET_EXTENSION,
    CIM10,
    IPS_ABSENT,
    LOINC,
    LONG_TEXT_MAX,
    SNOMED,
    Choice,
    Field,
    ItemKind,
    as_list,
    concept_text,
    format_fhir_date,
    get_path,
)
from carnet.profile.measures import DATA_DIR

CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
ROLE_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONTACT_ROLE: Final = "http://terminology.hl7.org/CodeSystem/v2-0131"
PARTICIPATION_FUNCTION: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationFunction"
CONSENT_SCOPE: Final = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/consentcategorycodes"
TOBACCO_STATUS: Final = "72166-2"
ALCOHOL_USE: Final = "11331-6"
BLOOD_GROUP: Final = "882-1"
# Smoking statuses that make the summary card say "Fumeur" (SNOMED CT findings).
SMOKER_CODES: Final = frozenset({"449868002", "428041000124106"})
PCP: Final = "PCP"  # médecin traitant (JDV_J47 / v3-ParticipationFunction)
STORAGE_EXTENSION: Final = CARNET_EXTENSION + "lieu-de-conservation"
VACCINE_GROUPS: Final = {
    "nourrisson": "Nourrissons et enfants",
    "rappel": "Rappels",
    "adolescent": "Adolescents",
    "adulte": "Adultes et personnes âgées",
    "particulier": "Situations particulières et voyages",
}

NOTE = Field("note", "Précisions", "textarea", path="note[0].text", max_length=LONG_TEXT_MAX)


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def _has_code(path: str, system: str, code: str) -> Any:
    def matches(resource: Mapping[str, Any]) -> bool:
        concept = get_path(resource, path)
        concepts = concept if isinstance(concept, list) else [concept]
        return any(
            isinstance(c, Mapping)
            and any(
                isinstance(coding, Mapping)
                and coding.get("system") == system
                and coding.get("code") == code
                for coding in as_list(c.get("coding"))
            )
            for c in concepts
        )

    return matches


def _absent(path: str) -> Any:
    """Matches the IPS "absent or unknown" codes (the "nothing to report" items)."""

    def matches(resource: Mapping[str, Any]) -> bool:
        concept = get_path(resource, path)
        return isinstance(concept, Mapping) and any(
            isinstance(coding, Mapping) and coding.get("system") == IPS_ABSENT
            for coding in as_list(concept.get("coding"))
        )

    return matches


def _not(matcher: Any) -> Any:
    return lambda resource: not matcher(resource)


def _none_concept(code: str, display: str, text: str) -> dict[str, Any]:
    return {"coding": [_coding(IPS_ABSENT, code, display)], "text": text}


def _period_order(start: str, end: str, end_label: str) -> Any:
    def check(data: Mapping[str, Any]) -> dict[str, str]:
        first, last = str(data.get(start) or ""), str(data.get(end) or "")
        # FHIR partial dates compare as text once cut to the shorter precision.
        if first and last and last[: len(first)] < first[: len(last)]:
            return {end: f"{end_label} : la date doit suivre la date de début."}
        return {}

    return check


def _default_effective(resource: dict[str, Any], data: Mapping[str, Any]) -> None:
    resource.setdefault("effectiveDateTime", data["_today"].isoformat())


# --- Vaccines --------------------------------------------------------------------------------


@functools.cache
def vaccine_choices() -> tuple[Choice, ...]:
    """The national vaccine list (`data/vaccines.csv`, sources in `data/SOURCES.md`)."""
    with (DATA_DIR / "vaccines.csv").open(encoding="utf-8", newline="") as handle:
        return tuple(
            Choice(
                code=row["atc"],
                label=row["label_fr"],
                system=ATC,
                display=row["atc_display"],
                group=VACCINE_GROUPS[row["group"]],
            )
            for row in csv.DictReader(handle)
        )


def _vaccine_field() -> Field:
    return Field(
        "vaccine",
        "Vaccin",
        "select",
        choices=vaccine_choices(),
        hint="Choisissez dans la liste du calendrier vaccinal, ou indiquez le nom ci-dessous.",
    )


def _check_vaccine(data: Mapping[str, Any]) -> dict[str, str]:
    if not data.get("vaccine") and not data.get("vaccine_other"):
        return {"vaccine": "Vaccin : choisissez un vaccin dans la liste ou indiquez son nom."}
    return {}


def _build_vaccine(resource: dict[str, Any], data: Mapping[str, Any]) -> None:
    concept = resource.get("vaccineCode") or {}
    codings = [c for c in concept.get("coding") or [] if c.get("system") != ATC]
    choice = _vaccine_field().choice(data.get("vaccine") or "")
    if choice is not None:
        codings.insert(0, choice.coding(ATC))
    text = data.get("vaccine_other") or (choice.label if choice else concept_text(concept))
    resource["vaccineCode"] = {"coding": codings, "text": text}


def _read_vaccine(resource: Mapping[str, Any], data: dict[str, str]) -> None:
    concept = resource.get("vaccineCode") or {}
    field = _vaccine_field()
    choice = next(
        (
            field.choice(str(c.get("code")))
            for c in concept.get("coding") or []
            if c.get("system") == ATC and field.choice(str(c.get("code")))
        ),
        None,
    )
    data["vaccine"] = choice.code if choice else ""
    text = concept_text(concept)
    data["vaccine_other"] = "" if choice and text == choice.label else text


def _ensure_occurrence(resource: dict[str, Any], data: Mapping[str, Any]) -> None:
    resource.setdefault("occurrenceDateTime", data["_today"].isoformat())


# --- Contacts (RelatedPerson, CareTeam) ------------------------------------------------------


def _set_telecom(resource: dict[str, Any], data: Mapping[str, Any]) -> None:
    kept = [t for t in resource.get("telecom") or [] if t.get("system") not in {"phone", "email"}]
    if data.get("phone"):
        kept.insert(0, {"system": "phone", "value": data["phone"]})
    if data.get("email"):
        kept.append({"system": "email", "value": data["email"]})
    resource["telecom"] = kept


def _telecom(resource: Mapping[str, Any], system: str) -> str:
    for contact in resource.get("telecom") or []:
        if isinstance(contact, Mapping) and contact.get("system") == system:
            return str(contact.get("value", ""))
    return ""


def _build_related(role: dict[str, Any]) -> Any:
    def build(resource: dict[str, Any], data: Mapping[str, Any]) -> None:
        resource["name"] = [{"text": data["name"]}]
        relationship = [role]
        if data.get("relation"):
            relationship.append({"text": data["relation"]})
        resource["relationship"] = relationship
        _set_telecom(resource, data)

    return build


def _read_related(resource: Mapping[str, Any], data: dict[str, str]) -> None:
    names = resource.get("name") or [{}]
    first = names[0] if isinstance(names[0], Mapping) else {}
    data["name"] = str(
        first.get("text") or " ".join([*first.get("given", []), first.get("family", "")]).strip()
    )
    data["relation"] = next(
        (
            str(r.get("text", ""))
            for r in resource.get("relationship") or []
            if isinstance(r, Mapping) and not r.get("coding")
        ),
        "",
    )
    data["phone"] = _telecom(resource, "phone")
    data["email"] = _telecom(resource, "email")


def _related_fields(phone_required: bool) -> tuple[Field, ...]:
    return (
        Field("name", "Nom et prénom", required=True),
        Field("relation", "Lien avec vous", hint="Par exemple : fille, conjoint, ami."),
        Field("phone", "Téléphone", "tel", required=phone_required, max_length=25),
        Field("email", "Adresse e-mail", "email", max_length=254),
    )


def _describe_related(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    data: dict[str, str] = {}
    _read_related(resource, data)
    lines = [("Lien", data["relation"]), ("Téléphone", data["phone"]), ("E-mail", data["email"])]
    return [(label, value) for label, value in lines if value]


def _pcp_role() -> dict[str, Any]:
    return {"coding": [_coding(PARTICIPATION_FUNCTION, PCP, "Médecin traitant")]}


def is_pcp_role(role: Any) -> bool:
    return isinstance(role, Mapping) and any(
        isinstance(c, Mapping) and c.get("code") == PCP for c in role.get("coding") or []
    )


def _build_professional(resource: dict[str, Any], data: Mapping[str, Any]) -> None:
    participants = resource.get("participant") or [{}]
    first = dict(participants[0])
    member = dict(first.get("member") or {})
    member["display"] = data["name"]
    roles = [r for r in first.get("role") or [] if not is_pcp_role(r) and r.get("coding")]
    if data.get("specialty"):
        roles.insert(0, {"text": data["specialty"]})
    if data.get("medecin_traitant"):
        roles.insert(0, _pcp_role())
    first.update({"member": member, "role": roles})
    if data.get("place"):
        first["onBehalfOf"] = {"display": data["place"]}
    else:
        first.pop("onBehalfOf", None)
    resource["participant"] = [first, *participants[1:]]
    resource["name"] = data["name"]
    _set_telecom(resource, data)


def _read_professional(resource: Mapping[str, Any], data: dict[str, str]) -> None:
    participant = (resource.get("participant") or [{}])[0]
    roles = participant.get("role") or []
    data["name"] = str((participant.get("member") or {}).get("display") or resource.get("name", ""))
    data["specialty"] = next(
        (concept_text(r) for r in roles if not is_pcp_role(r) and concept_text(r)), ""
    )
    data["medecin_traitant"] = "on" if any(is_pcp_role(r) for r in roles) else ""
    data["place"] = str((participant.get("onBehalfOf") or {}).get("display", ""))
    data["phone"] = _telecom(resource, "phone")


def _describe_professional(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    data: dict[str, str] = {}
    _read_professional(resource, data)
    lines = [
        ("Médecin traitant", "oui" if data["medecin_traitant"] else ""),
        ("Profession ou spécialité", data["specialty"]),
        ("Cabinet ou établissement", data["place"]),
        ("Téléphone", data["phone"]),
    ]
    return [(label, value) for label, value in lines if value]


# --- Advance directives ----------------------------------------------------------------------


def _check_directives(data: Mapping[str, Any]) -> dict[str, str]:
    if not data.get("content") and not data.get("kept_at"):
        return {"content": "Vos directives : écrivez-les ou indiquez où elles sont conservées."}
    return {}


def _build_directives(resource: dict[str, Any], data: Mapping[str, Any]) -> None:
    attachment = resource.get("sourceAttachment")
    if isinstance(attachment, dict) and attachment.get("data"):
        attachment.update({"contentType": "text/plain; charset=utf-8", "title": "Directives"})
    extensions = [e for e in resource.get("extension") or [] if e.get("url") != STORAGE_EXTENSION]
    if data.get("kept_at"):
        extensions.append({"url": STORAGE_EXTENSION, "valueString": data["kept_at"]})
    resource["extension"] = extensions


def _read_directives(resource: Mapping[str, Any], data: dict[str, str]) -> None:
    data["kept_at"] = next(
        (
            str(e.get("valueString", ""))
            for e in resource.get("extension") or []
            if isinstance(e, Mapping) and e.get("url") == STORAGE_EXTENSION
        ),
        "",
    )


def _describe_directives(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    data: dict[str, str] = {}
    _read_directives(resource, data)
    lines = []
    if resource.get("dateTime"):
        lines.append(("Rédigées le", format_fhir_date(str(resource["dateTime"]))))
    if data["kept_at"]:
        lines.append(("Lieu de conservation", data["kept_at"]))
    if get_path(resource, "sourceAttachment.data"):
        lines.append(("Texte", "rédigé dans Carnet (voir la fiche)"))
    return lines


# --- Care history (the insurer's) ------------------------------------------------------------


def _describe_care(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    lines = []
    provider = get_path(resource, "provider.display")
    if provider:
        lines.append(("Professionnel ou établissement", str(provider)))
    kind = concept_text(resource.get("type"))
    if kind:
        lines.append(("Type", kind))
    amount = get_path(resource, "payment.amount.value")
    if amount is not None:
        shown = f"{Decimal(str(amount)):.2f}".replace(".", ",")
        lines.append(("Montant remboursé", f"{shown} €"))
    return lines


# --- The kinds -------------------------------------------------------------------------------


def _social(code: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [_coding(OBSERVATION_CATEGORY, "social-history", "Social History")]}
        ],
        "code": code,
    }


def _local(system: str, code: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": CARNET_CODES + system, "code": code}], "text": text}


def _details(hint: str) -> Field:
    return Field(
        "details", "Précisions", "textarea", path="note[0].text", hint=hint, max_length=2000
    )


_CONDITION_TEMPLATE = {
    "resourceType": "Condition",
    "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
    "category": [
        {"coding": [_coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")]}
    ],
}


def _build_condition(resource: dict[str, Any], data: Mapping[str, Any]) -> None:
    code = resource.setdefault("code", {})
    codings = [c for c in code.get("coding") or [] if c.get("system") != CIM10]
    if data.get("cim10"):
        codings.insert(0, {"system": CIM10, "code": str(data["cim10"]).upper()})
    code["coding"] = codings


def _read_condition(resource: Mapping[str, Any], data: dict[str, str]) -> None:
    data["cim10"] = next(
        (
            str(c.get("code", ""))
            for c in get_path(resource, "code.coding") or []
            if isinstance(c, Mapping) and c.get("system") == CIM10
        ),
        "",
    )


KINDS: Final[tuple[ItemKind, ...]] = (
    ItemKind(
        "maladie",
        s.MALADIES,
        "Maladie ou sujet de santé",
        "Ajouter une maladie ou un sujet de santé",
        "Condition",
        _CONDITION_TEMPLATE,
        fields=(
            Field("name", "Maladie ou sujet de santé", path="code.text", required=True),
            Field(
                "status",
                "Situation",
                "radio",
                path="clinicalStatus.coding[0]",
                target="coding",
                system=CONDITION_CLINICAL,
                required=True,
                choices=(
                    Choice("active", "En cours", display="Active"),
                    Choice("remission", "En rémission", display="Remission"),
                    Choice("resolved", "Guérie ou terminée", display="Resolved"),
                ),
            ),
            Field(
                "onset",
                "Depuis",
                "text",
                path="onsetDateTime",
                target="date",
                hint=(
                    "Date complète, mois et année, ou année seule (ex. 14/03/2015, 03/2015, 2015)."
                ),
            ),
            Field(
                "cim10",
                "Code CIM-10 (facultatif)",
                max_length=8,
                pattern=r"[A-Za-z]\d{2}(\.?[0-9A-Za-z]{1,4})?",
                pattern_message="un code CIM-10 s'écrit comme E11 ou J45.9.",
                hint="Si vous le connaissez (ex. E11 pour un diabète de type 2).",
            ),
            NOTE,
        ),
        title_field="name",
        date_path="onsetDateTime|recordedDate",
        matches=_not(_absent("code")),
        after_build=_build_condition,
        after_read=_read_condition,
    ),
    ItemKind(
        "aucune-maladie",
        s.MALADIES,
        "Aucune maladie connue",
        "Je n'ai aucune maladie ni sujet de santé à signaler",
        "Condition",
        {
            **_CONDITION_TEMPLATE,
            "code": _none_concept(
                "no-known-problems", "No known problems", "Aucune maladie connue"
            ),
        },
        title_path="code",
        none_of=True,
        single=True,
        matches=_absent("code"),
    ),
    ItemKind(
        "traitement",
        s.TRAITEMENTS,
        "Traitement",
        "Ajouter un traitement",
        "MedicationStatement",
        {"resourceType": "MedicationStatement", "status": "active"},
        fields=(
            Field("name", "Médicament", path="medicationCodeableConcept.text", required=True),
            Field(
                "dosage",
                "Posologie",
                path="dosage[0].text",
                hint="Par exemple : 1 comprimé matin et soir.",
            ),
            Field(
                "status",
                "Situation",
                "radio",
                path="status",
                target="code",
                required=True,
                choices=(
                    Choice("active", "En cours"),
                    Choice("completed", "Terminé"),
                    Choice("stopped", "Arrêté avant la fin prévue"),
                ),
            ),
            Field("start", "Date de début", path="effectivePeriod.start", target="date"),
            Field("end", "Date de fin", path="effectivePeriod.end", target="date", future=True),
            Field("reason", "Pour quelle raison", path="reasonCode[0].text"),
            NOTE,
        ),
        title_field="name",
        date_path="effectivePeriod.start|effectiveDateTime|dateAsserted",
        matches=_not(_absent("medicationCodeableConcept")),
        check=_period_order("start", "end", "Date de fin"),
    ),
    ItemKind(
        "aucun-traitement",
        s.TRAITEMENTS,
        "Aucun traitement",
        "Je ne prends aucun traitement",
        "MedicationStatement",
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": _none_concept(
                "no-known-medications", "No known medications", "Aucun traitement"
            ),
        },
        title_path="medicationCodeableConcept",
        none_of=True,
        single=True,
        matches=_absent("medicationCodeableConcept"),
    ),
    ItemKind(
        "hospitalisation",
        s.HOSPITALISATIONS,
        "Hospitalisation ou chirurgie",
        "Ajouter une hospitalisation ou une chirurgie",
        "Procedure",
        {"resourceType": "Procedure", "status": "completed"},
        fields=(
            Field(
                "category",
                "Type",
                "radio",
                path="category",
                target="concept",
                system=SNOMED,
                required=True,
                choices=(
                    Choice("32485007", "Hospitalisation", display="Hospital admission"),
                    Choice("387713003", "Chirurgie (opération)", display="Surgical procedure"),
                ),
            ),
            Field("name", "Motif ou intervention", path="code.text", required=True),
            Field(
                "date",
                "Date",
                path="performedDateTime",
                target="date",
                hint="Date complète, mois et année, ou année seule.",
            ),
            Field("place", "Établissement", path="location.display"),
            NOTE,
        ),
        title_field="name",
        date_path="performedDateTime|performedPeriod.start",
        matches=_not(_absent("code")),
    ),
    ItemKind(
        "aucune-hospitalisation",
        s.HOSPITALISATIONS,
        "Aucune hospitalisation ni chirurgie",
        "Je n'ai jamais été hospitalisé(e) ni opéré(e)",
        "Procedure",
        {
            "resourceType": "Procedure",
            "status": "not-done",
            "code": _none_concept(
                "no-known-procedures", "No known procedures", "Aucune hospitalisation ni chirurgie"
            ),
        },
        title_path="code",
        none_of=True,
        single=True,
        matches=_absent("code"),
    ),
    ItemKind(
        "antecedent-familial",
        s.ANTECEDENTS_FAMILIAUX,
        "Antécédent familial",
        "Ajouter un antécédent familial",
        "FamilyMemberHistory",
        {"resourceType": "FamilyMemberHistory", "status": "completed"},
        fields=(
            Field(
                "relationship",
                "Membre de la famille",
                "select",
                path="relationship",
                target="concept",
                system=ROLE_CODE,
                required=True,
                choices=(
                    Choice("MTH", "Mère", display="mother"),
                    Choice("FTH", "Père", display="father"),
                    Choice("SIB", "Frère ou sœur", display="sibling"),
                    Choice("GRPRN", "Grand-parent", display="grandparent"),
                    Choice("CHILD", "Enfant", display="child"),
                    Choice("EXT", "Autre membre de la famille", display="extended family member"),
                ),
            ),
            Field("condition", "Maladie", path="condition[0].code.text", required=True),
            Field(
                "onset_age",
                "Âge de survenue (en années)",
                "number",
                path="condition[0].onsetAge",
                target="quantity",
                unit="a",
                unit_label="ans",
                minimum=Decimal(0),
                maximum=Decimal(130),
            ),
            NOTE,
        ),
        title_field="condition",
        date_path="date",
        matches=_not(_absent("condition[0].code")),
    ),
    ItemKind(
        "aucun-antecedent-familial",
        s.ANTECEDENTS_FAMILIAUX,
        "Aucun antécédent familial connu",
        "Je n'ai aucun antécédent familial connu",
        "FamilyMemberHistory",
        {
            "resourceType": "FamilyMemberHistory",
            "status": "completed",
            "relationship": {
                "coding": [_coding(ROLE_CODE, "FAMMEMB", "family member")],
                "text": "Famille",
            },
            "condition": [
                {
                    "code": _none_concept(
                        "no-known-problems", "No known problems", "Aucun antécédent familial connu"
                    )
                }
            ],
        },
        title_path="condition[0].code",
        none_of=True,
        single=True,
        matches=_absent("condition[0].code"),
    ),
    ItemKind(
        "allergie",
        s.ALLERGIES,
        "Allergie ou intolérance",
        "Ajouter une allergie ou une intolérance",
        "AllergyIntolerance",
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
        },
        fields=(
            Field(
                "substance",
                "Substance",
                path="code.text",
                required=True,
                hint="Médicament, aliment, pollen…",
            ),
            Field(
                "type",
                "Type",
                "radio",
                path="type",
                target="code",
                choices=(Choice("allergy", "Allergie"), Choice("intolerance", "Intolérance")),
            ),
            Field(
                "category",
                "Catégorie",
                "select",
                path="category[0]",
                target="code",
                choices=(
                    Choice("medication", "Médicament"),
                    Choice("food", "Aliment"),
                    Choice("environment", "Environnement (pollens, acariens, animaux…)"),
                    Choice("biologic", "Produit biologique (sang, vaccin…)"),
                ),
            ),
            Field(
                "criticality",
                "Gravité",
                "radio",
                path="criticality",
                target="code",
                choices=(
                    Choice("low", "Faible"),
                    Choice("high", "Élevée"),
                    Choice("unable-to-assess", "Je ne sais pas"),
                ),
            ),
            Field(
                "reaction",
                "Réaction",
                path="reaction[0].manifestation[0].text",
                hint="Par exemple : urticaire, gonflement, gêne respiratoire.",
            ),
            NOTE,
        ),
        title_field="substance",
        date_path="onsetDateTime|recordedDate",
        matches=_not(_absent("code")),
    ),
    ItemKind(
        "aucune-allergie",
        s.ALLERGIES,
        "Aucune allergie connue",
        "Je n'ai aucune allergie connue",
        "AllergyIntolerance",
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
            "code": _none_concept(
                "no-known-allergies", "No known allergies", "Aucune allergie connue"
            ),
        },
        title_path="code",
        none_of=True,
        single=True,
        matches=_absent("code"),
    ),
    ItemKind(
        "tabac",
        s.HABITUDES,
        "Tabac",
        "Renseigner le tabac",
        "Observation",
        _social(
            {"coding": [_coding(LOINC, TOBACCO_STATUS, "Tobacco smoking status")], "text": "Tabac"}
        ),
        fields=(
            Field(
                "status",
                "Consommation de tabac",
                "radio",
                path="valueCodeableConcept",
                target="concept",
                system=SNOMED,
                required=True,
                choices=(
                    Choice("266919005", "Je n'ai jamais fumé", display="Never smoked tobacco"),
                    Choice("8517006", "J'ai arrêté de fumer", display="Ex-smoker"),
                    Choice(
                        "428041000124106",
                        "Je fume occasionnellement",
                        display="Occasional tobacco smoker",
                    ),
                    Choice("449868002", "Je fume tous les jours", display="Smokes tobacco daily"),
                ),
            ),
            _details("Par exemple : nombre de cigarettes par jour, date d'arrêt, vapotage."),
        ),
        title_path="code",
        date_path="effectiveDateTime",
        single=True,
        matches=_has_code("code", LOINC, TOBACCO_STATUS),
        after_build=_default_effective,
    ),
    ItemKind(
        "alcool",
        s.HABITUDES,
        "Alcool",
        "Renseigner l'alcool",
        "Observation",
        _social(
            {"coding": [_coding(LOINC, ALCOHOL_USE, "History of Alcohol use")], "text": "Alcool"}
        ),
        fields=(
            Field(
                "status",
                "Consommation d'alcool",
                "radio",
                path="valueCodeableConcept",
                target="concept",
                system=CARNET_CODES + "alcool",
                required=True,
                choices=(
                    Choice("jamais", "Je ne bois jamais d'alcool"),
                    Choice("occasionnel", "Occasionnellement (moins d'une fois par semaine)"),
                    Choice("hebdomadaire", "Chaque semaine"),
                    Choice("quotidien", "Tous les jours"),
                ),
            ),
            _details("Par exemple : nombre de verres par semaine."),
        ),
        title_path="code",
        date_path="effectiveDateTime",
        single=True,
        matches=_has_code("code", LOINC, ALCOHOL_USE),
        after_build=_default_effective,
    ),
    ItemKind(
        "activite-physique",
        s.HABITUDES,
        "Activité physique",
        "Renseigner l'activité physique",
        "Observation",
        _social(_local("habitudes", "activite-physique", "Activité physique")),
        fields=(
            Field(
                "level",
                "Activité physique",
                "radio",
                path="valueCodeableConcept",
                target="concept",
                system=CARNET_CODES + "activite-physique",
                required=True,
                choices=(
                    Choice("faible", "Peu ou pas d'activité physique"),
                    Choice("moderee", "Activité modérée (moins de 2 h 30 par semaine)"),
                    Choice("reguliere", "Activité régulière (2 h 30 par semaine ou plus)"),
                ),
            ),
            _details("Quelles activités, combien de temps par semaine."),
        ),
        title_path="code",
        date_path="effectiveDateTime",
        single=True,
        matches=_has_code("code", CARNET_CODES + "habitudes", "activite-physique"),
        after_build=_default_effective,
    ),
    ItemKind(
        "sommeil",
        s.HABITUDES,
        "Sommeil",
        "Renseigner le sommeil",
        "Observation",
        _social(_local("habitudes", "sommeil", "Sommeil")),
        fields=(
            Field(
                "hours",
                "Durée moyenne de sommeil par nuit (en heures)",
                "number",
                path="valueQuantity",
                target="quantity",
                unit="h",
                unit_label="heures",
                required=True,
                minimum=Decimal(0),
                maximum=Decimal(24),
            ),
            _details("Qualité du sommeil, réveils nocturnes, traitements…"),
        ),
        title_path="code",
        date_path="effectiveDateTime",
        single=True,
        matches=_has_code("code", CARNET_CODES + "habitudes", "sommeil"),
        after_build=_default_effective,
    ),
    ItemKind(
        "alimentation",
        s.HABITUDES,
        "Alimentation",
        "Renseigner l'alimentation",
        "Observation",
        _social(_local("habitudes", "alimentation", "Alimentation")),
        fields=(
            Field(
                "diet",
                "Régime ou habitudes alimentaires",
                path="valueString",
                required=True,
                hint="Par exemple : variée, végétarienne, sans sel, sans gluten.",
            ),
            _details("Allergies alimentaires à part : renseignez-les dans « Allergies »."),
        ),
        title_path="code",
        date_path="effectiveDateTime",
        single=True,
        matches=_has_code("code", CARNET_CODES + "habitudes", "alimentation"),
        after_build=_default_effective,
    ),
    ItemKind(
        "groupe-sanguin",
        s.MESURES,
        "Groupe sanguin",
        "Renseigner le groupe sanguin",
        "Observation",
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [_coding(OBSERVATION_CATEGORY, "laboratory", "Laboratory")]}],
            "code": {
                "coding": [_coding(LOINC, BLOOD_GROUP, "ABO and Rh group [Type] in Blood")],
                "text": "Groupe sanguin",
            },
        },
        fields=(
            Field(
                "group",
                "Groupe sanguin",
                "select",
                path="valueCodeableConcept",
                target="concept",
                system=CARNET_CODES + "groupe-sanguin",
                required=True,
                choices=tuple(
                    Choice(code, code.replace("-", "\u2212"))
                    for code in ("A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")
                ),
                hint="Tel qu'il figure sur votre carte de groupe sanguin.",
            ),
        ),
        title_path="code",
        date_path="effectiveDateTime",
        single=True,
        matches=_has_code("code", LOINC, BLOOD_GROUP),
        after_build=_default_effective,
    ),
    ItemKind(
        "professionnel",
        s.PROFESSIONNELS,
        "Professionnel de santé",
        "Ajouter un professionnel de santé",
        "CareTeam",
        {
            "resourceType": "CareTeam",
            "status": "active",
            "category": [{"text": "Professionnels de santé déclarés par le titulaire"}],
        },
        fields=(
            Field("name", "Nom", required=True, hint="Par exemple : Dr Véronique Martin."),
            Field(
                "specialty",
                "Profession ou spécialité",
                hint="Par exemple : médecin généraliste, cardiologue, kinésithérapeute.",
            ),
            Field("medecin_traitant", "C'est mon médecin traitant", "checkbox", target="bool"),
            Field("place", "Cabinet ou établissement"),
            Field("phone", "Téléphone", "tel", max_length=25),
            NOTE,
        ),
        title_field="name",
        after_build=_build_professional,
        after_read=_read_professional,
        describe=_describe_professional,
    ),
    ItemKind(
        "contact-urgence",
        s.ENTOURAGE,
        "Contact en cas d'urgence",
        "Ajouter un contact en cas d'urgence",
        "RelatedPerson",
        {"resourceType": "RelatedPerson", "active": True},
        fields=_related_fields(phone_required=True),
        title_field="name",
        matches=_has_code("relationship", CONTACT_ROLE, "C"),
        after_build=_build_related({"coding": [_coding(CONTACT_ROLE, "C", "Emergency Contact")]}),
        after_read=_read_related,
        describe=_describe_related,
    ),
    ItemKind(
        "personne-confiance",
        s.ENTOURAGE,
        "Personne de confiance",
        "Désigner ma personne de confiance",
        "RelatedPerson",
        {"resourceType": "RelatedPerson", "active": True},
        fields=_related_fields(phone_required=False),
        title_field="name",
        single=True,
        matches=_has_code("relationship", CARNET_CODES + "entourage", "personne-de-confiance"),
        after_build=_build_related(
            _local("entourage", "personne-de-confiance", "Personne de confiance")
        ),
        after_read=_read_related,
        describe=_describe_related,
    ),
    ItemKind(
        "directives-anticipees",
        s.ENTOURAGE,
        "Directives anticipées",
        "Renseigner mes directives anticipées",
        "Consent",
        {
            "resourceType": "Consent",
            "status": "active",
            "scope": {"coding": [_coding(CONSENT_SCOPE, "adr", "Advanced Care Directive")]},
            "category": [
                {
                    "coding": [_coding(CONSENT_CATEGORY, "acd", "Advance Directive")],
                    "text": "Directives anticipées",
                }
            ],
            "policyRule": {
                "text": "Code de la santé publique, article L1111-11 (directives anticipées)"
            },
        },
        fields=(
            Field("written", "Date de rédaction", path="dateTime", target="date"),
            Field(
                "content",
                "Vos directives",
                "textarea",
                path="sourceAttachment.data",
                target="attachment",
                max_length=8000,
                hint=(
                    "Vos volontés sur les soins en fin de vie. Vous pouvez aussi seulement "
                    "indiquer où l'original est conservé."
                ),
            ),
            Field(
                "kept_at",
                "Lieu de conservation de l'original",
                hint="Par exemple : chez mon médecin traitant, chez ma personne de confiance.",
            ),
        ),
        title_path="category[0]",
        date_path="dateTime",
        single=True,
        matches=_has_code("scope", CONSENT_SCOPE, "adr"),
        check=_check_directives,
        after_build=_build_directives,
        after_read=_read_directives,
        describe=_describe_directives,
    ),
    ItemKind(
        "don-organes",
        s.ENTOURAGE,
        "Don d'organes et de tissus",
        "Exprimer ma volonté sur le don d'organes",
        "Consent",
        {
            "resourceType": "Consent",
            "status": "active",
            "scope": {"coding": [_coding(CONSENT_SCOPE, "treatment", "Treatment")]},
            "category": [
                {
                    "coding": [
                        {"system": CARNET_CODES + "volontes", "code": "don-organes"},
                        _coding(LOINC, "59284-0", "Patient Consent"),
                    ],
                    "text": "Don d'organes et de tissus",
                }
            ],
            "policyRule": {
                "text": "Code de la santé publique, article L1232-1 (don d'organes et de tissus)"
            },
        },
        fields=(
            Field(
                "wish",
                "Votre volonté",
                "radio",
                path="provision.type",
                target="code",
                required=True,
                choices=(
                    Choice("permit", "Je suis favorable au don de mes organes et tissus"),
                    Choice("deny", "Je m'oppose au don de mes organes et tissus"),
                ),
                hint=(
                    "En France, chacun est présumé donneur. Pour vous opposer, inscrivez-vous "
                    "aussi au registre national des refus (registrenationaldesrefus.fr) : "
                    "Carnet ne le fait pas pour vous."
                ),
            ),
        ),
        title_path="category[0]",
        date_path="dateTime",
        single=True,
        matches=_has_code("category", CARNET_CODES + "volontes", "don-organes"),
        after_build=lambda resource, data: resource.setdefault(
            "dateTime", data["_today"].isoformat()
        ),
    ),
    ItemKind(
        "piece-administrative",
        s.PIECES,
        "Pièce administrative",
        "Ajouter une pièce administrative",
        "Coverage",
        {"resourceType": "Coverage", "status": "active"},
        fields=(
            Field(
                "type",
                "Type",
                "select",
                path="type",
                target="concept",
                system=CARNET_CODES + "piece-administrative",
                required=True,
                choices=(
                    Choice("complementaire", "Complémentaire santé (mutuelle)"),
                    Choice("c2s", "Complémentaire santé solidaire (C2S)"),
                    Choice("ald", "Prise en charge d'une affection de longue durée (ALD)"),
                    Choice("ame", "Aide médicale de l'État (AME)"),
                    Choice("ceam", "Carte européenne d'assurance maladie"),
                    Choice("autre", "Autre"),
                ),
            ),
            Field("payor", "Organisme", path="payor[0].display", required=True),
            Field("number", "Numéro d'adhérent ou de contrat", path="subscriberId"),
            Field("start", "Valable à partir du", path="period.start", target="date"),
            Field("end", "Valable jusqu'au", path="period.end", target="date", future=True),
        ),
        title_path="type",
        date_path="period.start",
        check=_period_order("start", "end", "Valable jusqu'au"),
    ),
    ItemKind(
        "soin",
        s.HISTORIQUE,
        "Soin remboursé",
        "",
        "ExplanationOfBenefit",
        {"resourceType": "ExplanationOfBenefit"},
        title_path="item[0].productOrService",
        date_path="billablePeriod.start|item[0].servicedDate|created",
        describe=_describe_care,
    ),
    ItemKind(
        "vaccination",
        s.VACCINATIONS,
        "Vaccination",
        "Ajouter une vaccination",
        "Immunization",
        {"resourceType": "Immunization", "status": "completed"},
        fields=(
            _vaccine_field(),
            Field(
                "vaccine_other",
                "Autre vaccin ou nom commercial",
                hint="Si le vaccin n'est pas dans la liste, ou pour préciser son nom.",
            ),
            Field(
                "date",
                "Date de la vaccination",
                path="occurrenceDateTime",
                target="date",
                required=True,
                hint="Date complète, mois et année, ou année seule.",
            ),
            Field(
                "dose",
                "Dose",
                path="protocolApplied[0].doseNumberString",
                hint="Par exemple : 1re dose, 2e dose, rappel.",
            ),
            Field("lot", "Numéro de lot", path="lotNumber"),
            Field("performer", "Vacciné(e) par", path="performer[0].actor.display"),
            NOTE,
        ),
        title_path="vaccineCode",
        date_path="occurrenceDateTime|recorded",
        matches=_not(_absent("vaccineCode")),
        check=_check_vaccine,
        after_build=_build_vaccine,
        after_read=_read_vaccine,
    ),
    ItemKind(
        "aucune-vaccination",
        s.VACCINATIONS,
        "Aucune vaccination connue",
        "Je ne connais aucune de mes vaccinations",
        "Immunization",
        {
            "resourceType": "Immunization",
            "status": "not-done",
            "vaccineCode": _none_concept(
                "no-known-immunizations", "No known immunizations", "Aucune vaccination connue"
            ),
        },
        title_path="vaccineCode",
        none_of=True,
        single=True,
        matches=_absent("vaccineCode"),
        after_build=_ensure_occurrence,
    ),
)

BY_KEY: Final = {kind.key: kind for kind in KINDS}


def get_kind(key: str) -> ItemKind | None:
    return BY_KEY.get(key)


def kinds_of(section: str) -> tuple[ItemKind, ...]:
    return tuple(kind for kind in KINDS if kind.section == section)


def kind_for_resource(resource: Mapping[str, Any]) -> ItemKind | None:
    """The kind of an incoming resource (first match among its type's kinds), or None when the
    profile has no kind for it (e.g. an Observation of vital signs: that is a measure)."""
    resource_type = resource.get("resourceType")
    for kind in KINDS:
        if kind.resource_type != resource_type:
            continue
        if kind.matches is None or kind.matches(resource):
            return kind
    return None


def summary_label(resource: Mapping[str, Any], kind: ItemKind) -> str:
    """The chosen answer of a one-question item (tabac, groupe sanguin): the label of its
    coded value, else its text."""
    value = resource.get("valueCodeableConcept")
    for spec in kind.fields:
        if spec.target == "concept" and isinstance(value, Mapping):
            for coding in value.get("coding") or []:
                choice = spec.choice(str(coding.get("code")))
                if choice is not None:
                    return choice.label
    return concept_text(value)
