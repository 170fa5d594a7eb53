"""FHIR R4 Observations and the guide's feeding Bundle ⇄ `MeasureValue`.

Pure module: it parses and builds JSON-ready dicts and never stores anything. Input is hostile:
it is validated by fhir.resources (R4B models, used for R4) first, then by the rules of the ANS
guide "Mesures de santé", then by `measures.validate_measure`. Every refusal is an
`InvalidMeasure` whose `field` is the FHIR path of the element at fault
(`Observation.valueQuantity.code`, `Bundle.entry[1].resource.component[0].valueQuantity.value`…)
and whose `code` is a FHIR IssueType, ready for an OperationOutcome.

Choices (the guide is silent or our product decides):
- the measure is identified by its LOINC code, not by `meta.profile`; a Mes profile that names
  another measure is refused, other profiles (FR Core, older ENS ones) are ignored;
- status final, amended or corrected (a correction is a kind of amendment in R4);
- units: every unit `measures` accepts (kg or g…) is converted to the guide's unit; the value sent
  is kept, and written back as `mesures-original-data`; an incoming `mesures-original-data` wins
  over ours since it is the device's own reading;
- extensions we do not model (number of days, diabetes type, supportingInfo…) are not kept, and the
  moment of measurement is read on glucose only, as the guide binds it there;
- in the feeding Bundle, `Observation.device` may point to the Device entry by its fullUrl (what
  the guide prescribes) or by `Device/<id>` (what the guide's own example does).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from carnet.profile.measures import (
    MES_STRUCTURE_DEFINITION,
    VALUE,
    InvalidMeasure,
    MeasureDefinition,
    MeasureValue,
    Quantity,
    get_measure,
    measure_for_loinc,
    validate_measure,
)

UCUM: Final = "http://unitsofmeasure.org"
LOINC: Final = "http://loinc.org"
TAASIP: Final = "https://mos.esante.gouv.fr/NOS/TRE_R308-TAASIP/FHIR/TRE-R308-TAASIP"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
VITAL_SIGNS: Final = "vital-signs"
EXT_REASON: Final = MES_STRUCTURE_DEFINITION + "mesures-reason-for-measurement"
EXT_MOMENT: Final = MES_STRUCTURE_DEFINITION + "mesures-moment-of-measurement"
EXT_ORIGINAL: Final = MES_STRUCTURE_DEFINITION + "mesures-original-data"
FEEDING_BUNDLE_PROFILE: Final = MES_STRUCTURE_DEFINITION + "mesures-bundle-flux-alimentation"

# The NOS publishes LOINC and its own "TA ASIP" codes under several URIs; the guide's examples use
# the NOS ones. The first URI of each set is the one we write.
CODE_SYSTEMS: Final[Mapping[str, tuple[str, ...]]] = {
    "2.16.840.1.113883.6.1": (
        LOINC,
        "https://mos.esante.gouv.fr/NOS/TRE_A04-Loinc/FHIR/TRE-A04-Loinc",
        "urn:oid:2.16.840.1.113883.6.1",
    ),
    "1.2.250.1.213.1.1.4.322": (TAASIP, "urn:oid:1.2.250.1.213.1.1.4.322"),
}
LOINC_SYSTEMS: Final = frozenset(CODE_SYSTEMS["2.16.840.1.113883.6.1"])
ACCEPTED_STATUSES: Final = ("final", "amended", "corrected")
_OTHER_VALUE_TYPES: Final = (
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)
_OTHER_EFFECTIVE_TYPES: Final = ("effectivePeriod", "effectiveTiming", "effectiveInstant")


@dataclasses.dataclass(frozen=True)
class FeedingDevice:
    """The connected object (PhdDevice) of a feeding Bundle."""

    full_url: str | None
    resource: Mapping[str, Any]
    name: str | None
    manufacturer: str | None
    model_number: str | None
    system_id: str | None


@dataclasses.dataclass(frozen=True)
class FeedingBundle:
    """A parsed `mesures-bundle-flux-alimentation` transaction."""

    observation: MeasureValue
    device: FeedingDevice | None
    observation_full_url: str | None


# --- FHIR → MeasureValue ---------------------------------------------------------------------


def observation_from_fhir(
    resource: Mapping[str, Any], *, now: dt.datetime | None = None
) -> MeasureValue:
    """Validate a FHIR R4 Observation of the guide and return its measure.

    Raises `InvalidMeasure` naming the FHIR path at fault when the resource is not valid FHIR,
    is not a vital-signs Observation with status final/amended/corrected, codes no measure of the
    guide (or the computed BMI), lacks a subject or a day-precise `effectiveDateTime`, carries its
    value elsewhere than in a UCUM `valueQuantity` (both components for blood pressure), has an
    unknown glucose moment, or breaks a rule of `validate_measure` (unit, plausibility, date).
    """
    return _parse_observation(resource, "Observation", now)


def _parse_observation(
    resource: object,
    root: str,
    now: dt.datetime | None,
    device_check: Callable[[Any], None] | None = None,
) -> MeasureValue:
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Observation":
        raise InvalidMeasure(
            "La ressource doit être une Observation FHIR.",
            field=f"{root}.resourceType",
            code="structure",
        )
    model = _validate(Observation, resource, root)
    _check_status(model, root)
    _check_category(model, root)
    definition = _measure_of(model, root)
    _check_profile(model, definition, root)
    _check_subject(model, root)
    at = _effective(model, root)
    if model.dataAbsentReason is not None:
        raise InvalidMeasure(
            "Une mesure sans valeur (dataAbsentReason) n'est pas enregistrée.",
            field=f"{root}.dataAbsentReason",
            code="not-supported",
        )
    values: Decimal | dict[str, Decimal]
    if definition.components:
        values, unit, paths = _components(model, definition, root)
    else:
        values, unit, paths = _value_quantity(model, root)
    moment, paths["moment"] = _moment(model, definition, root)
    reason, paths["reason"] = _reason(model, root)
    original = _original_data(model, root)
    if device_check is not None:
        device_check(model)
    paths.update({"key": f"{root}.code", "at": f"{root}.effectiveDateTime"})
    try:
        measure = validate_measure(
            definition.key, values, unit, at=at, moment=moment, reason=reason, now=now
        )
    except InvalidMeasure as error:
        raise InvalidMeasure(
            error.message, code=error.code, field=paths.get(error.field or "", root)
        ) from None
    if original is not None:
        measure = dataclasses.replace(measure, original=original)
    return measure


def _validate(model_class: Any, resource: Mapping[str, Any], root: str) -> Any:
    """Structural validation by fhir.resources; the first error becomes a French message.

    The pydantic error is not chained: it quotes the input, which may be health data.
    """
    try:
        return model_class.model_validate(resource)
    except ValidationError as error:
        first = error.errors()[0]
        path = _fhir_path(root, first["loc"])
        kind = str(first["type"])
        if kind in ("missing", "model_field_validation.missing"):
            message = f"Élément FHIR obligatoire absent : {path}."
        elif kind == "extra_forbidden":
            message = f"Élément inconnu en FHIR R4 : {path}."
        elif "Any of one field value" in str(first["msg"]):
            message = f"Un seul élément {path}.value[x] est permis."
        else:
            message = f"Élément FHIR mal formé : {path}."
        raise InvalidMeasure(message, field=path, code="structure") from None
    except (ValueError, TypeError, KeyError, AttributeError):
        raise InvalidMeasure(
            f"Ressource FHIR mal formée : {root}.", field=root, code="structure"
        ) from None


def _fhir_path(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = {"resource_type": "resourceType", "class_fhir": "class"}.get(part, part)
            path += f".{name}"
    return path


def _codings(concept: Any) -> list[Any]:
    return list(concept.coding or []) if concept is not None else []


def _check_status(model: Any, root: str) -> None:
    if model.status not in ACCEPTED_STATUSES:
        raise InvalidMeasure(
            f"Statut « {model.status} » non accepté : une mesure transmise est « final » "
            "(ou « amended », « corrected » pour une correction).",
            field=f"{root}.status",
            code="value",
        )


def _check_category(model: Any, root: str) -> None:
    for category in model.category or []:
        for coding in _codings(category):
            if coding.system == OBSERVATION_CATEGORY and coding.code == VITAL_SIGNS:
                return
    raise InvalidMeasure(
        f"L'Observation doit porter la catégorie « vital-signs » ({OBSERVATION_CATEGORY}).",
        field=f"{root}.category",
        code="required",
    )


def _measure_of(model: Any, root: str) -> MeasureDefinition:
    loinc_codes = [c.code for c in _codings(model.code) if c.system in LOINC_SYSTEMS and c.code]
    found = {m.key: m for m in map(measure_for_loinc, loinc_codes) if m is not None}
    if len(found) > 1:
        raise InvalidMeasure(
            "Le code de l'Observation désigne plusieurs mesures différentes.",
            field=f"{root}.code.coding",
            code="code-invalid",
        )
    if found:
        return next(iter(found.values()))
    if loinc_codes:
        message = (
            f"Code LOINC « {loinc_codes[0][:20]} » non pris en charge par les mesures de santé."
        )
    else:
        message = f"Le code de l'Observation doit contenir le code LOINC de la mesure ({LOINC})."
    raise InvalidMeasure(message, field=f"{root}.code.coding", code="code-invalid")


def _check_profile(model: Any, definition: MeasureDefinition, root: str) -> None:
    profiles = [str(p).split("|")[0] for p in (model.meta.profile or [])] if model.meta else []
    mes = [p for p in profiles if p.startswith(MES_STRUCTURE_DEFINITION)]
    if mes and not any(p in definition.accepted_profiles for p in mes):
        raise InvalidMeasure(
            f"Le profil {mes[0][len(MES_STRUCTURE_DEFINITION) :][:60]} ne correspond pas à la "
            f"mesure codée ({definition.label.lower()}) : attendu {definition.profile}.",
            field=f"{root}.meta.profile",
            code="invalid",
        )


def _check_subject(model: Any, root: str) -> None:
    subject = model.subject
    if subject is None or (not subject.reference and subject.identifier is None):
        raise InvalidMeasure(
            "L'Observation doit désigner le patient (subject).",
            field=f"{root}.subject",
            code="required",
        )


def _effective(model: Any, root: str) -> dt.date | dt.datetime:
    path = f"{root}.effectiveDateTime"
    value = model.effectiveDateTime
    if value is None:
        other = next((name for name in _OTHER_EFFECTIVE_TYPES if getattr(model, name)), None)
        message = "La date de la mesure (effectiveDateTime) est obligatoire."
        if other:
            message += f" {other} n'est pas accepté."
        raise InvalidMeasure(message, field=path, code="required")
    if isinstance(value, dt.date):
        return value
    raise InvalidMeasure(
        "La date de la mesure doit préciser au moins le jour.", field=path, code="value"
    )


def _quantity(quantity: Any, path: str) -> tuple[Decimal, str]:
    if quantity.comparator is not None:
        raise InvalidMeasure(
            "Une valeur approchée (comparator) n'est pas acceptée pour une mesure.",
            field=f"{path}.comparator",
            code="value",
        )
    if quantity.value is None:
        raise InvalidMeasure(
            "La valeur de la mesure est obligatoire.", field=f"{path}.value", code="required"
        )
    if quantity.system != UCUM:
        raise InvalidMeasure(
            f"L'unité doit être codée en UCUM (system = {UCUM}).",
            field=f"{path}.system",
            code="code-invalid",
        )
    if not quantity.code:
        raise InvalidMeasure(
            "Le code UCUM de l'unité est obligatoire.", field=f"{path}.code", code="required"
        )
    return Decimal(quantity.value), str(quantity.code)


def _value_quantity(model: Any, root: str) -> tuple[Decimal, str, dict[str, str]]:
    path = f"{root}.valueQuantity"
    if model.valueQuantity is None:
        if any(getattr(model, name) is not None for name in _OTHER_VALUE_TYPES):
            raise InvalidMeasure(
                "La valeur de la mesure doit être un valueQuantity.", field=path, code="structure"
            )
        raise InvalidMeasure(
            "La valeur de la mesure (valueQuantity) est obligatoire.", field=path, code="required"
        )
    value, unit = _quantity(model.valueQuantity, path)
    return value, unit, {VALUE: f"{path}.value", "unit": f"{path}.code"}


def _components(
    model: Any, definition: MeasureDefinition, root: str
) -> tuple[dict[str, Decimal], str, dict[str, str]]:
    if model.valueQuantity is not None:
        raise InvalidMeasure(
            f"{definition.label} : les valeurs se transmettent dans Observation.component, "
            "pas dans valueQuantity.",
            field=f"{root}.valueQuantity",
            code="structure",
        )
    found: dict[str, int] = {}
    for index, component in enumerate(model.component or []):
        codes = {c.code for c in _codings(component.code) if c.system in LOINC_SYSTEMS}
        for expected in definition.components:
            if expected.loinc in codes:
                if expected.key in found:
                    raise InvalidMeasure(
                        f"{definition.label} : la valeur {expected.label.lower()} est en double.",
                        field=f"{root}.component[{index}]",
                        code="structure",
                    )
                found[expected.key] = index
    values: dict[str, Decimal] = {}
    paths: dict[str, str] = {VALUE: f"{root}.component"}
    units: dict[str, str] = {}
    for expected in definition.components:
        if expected.key not in found:
            raise InvalidMeasure(
                f"{definition.label} : la valeur {expected.label.lower()} est absente "
                f"(composant LOINC {expected.loinc}).",
                field=f"{root}.component",
                code="required",
            )
        path = f"{root}.component[{found[expected.key]}].valueQuantity"
        component = model.component[found[expected.key]]
        if component.valueQuantity is None:
            raise InvalidMeasure(
                f"{definition.label} : la valeur {expected.label.lower()} doit être un "
                "valueQuantity.",
                field=path,
                code="required",
            )
        values[expected.key], units[expected.key] = _quantity(component.valueQuantity, path)
        paths[expected.key] = f"{path}.value"
        paths.setdefault("unit", f"{path}.code")
        if units[expected.key] != next(iter(units.values())):
            raise InvalidMeasure(
                f"{definition.label} : les composants doivent avoir la même unité.",
                field=f"{path}.code",
                code="code-invalid",
            )
    return values, next(iter(units.values())), paths


def _extensions(model: Any, url: str) -> list[tuple[int, Any]]:
    return [(i, ext) for i, ext in enumerate(model.extension or []) if ext.url == url]


def _moment(model: Any, definition: MeasureDefinition, root: str) -> tuple[str | None, str]:
    found = _extensions(model, EXT_MOMENT)
    if not definition.moments or not found:
        return None, f"{root}.extension"
    index, extension = found[0]
    path = f"{root}.extension[{index}].valueCodeableConcept"
    for coding in _codings(extension.valueCodeableConcept):
        moment = definition.moment(str(coding.code))
        if moment is not None and coding.system in CODE_SYSTEMS[moment.code_system_oid]:
            return moment.code, path
    raise InvalidMeasure(
        "Moment de la mesure inconnu : utilisez un code du jeu de valeurs JDV_J157.",
        field=path,
        code="code-invalid",
    )


def _reason(model: Any, root: str) -> tuple[str | None, str]:
    found = _extensions(model, EXT_REASON)
    if not found:
        return None, f"{root}.extension"
    index, extension = found[0]
    path = f"{root}.extension[{index}].valueString"
    if extension.valueString is None:
        raise InvalidMeasure(
            "Le motif de la mesure doit être un texte (valueString).", field=path, code="structure"
        )
    return str(extension.valueString), path


def _original_data(model: Any, root: str) -> Quantity | None:
    found = _extensions(model, EXT_ORIGINAL)
    if not found:
        return None
    index, extension = found[0]
    path = f"{root}.extension[{index}]"
    parts = {part.url: part for part in extension.extension or []}
    converted = parts.get("has-been-converted")
    if converted is None or converted.valueBoolean is not True:
        return None
    original = parts.get("original-value")
    if original is None or original.valueQuantity is None:
        raise InvalidMeasure(
            "mesures-original-data : la valeur d'origine (original-value) est obligatoire.",
            field=f"{path}.extension",
            code="required",
        )
    value, unit = _quantity(original.valueQuantity, f"{path}.extension.valueQuantity")
    return Quantity(value, unit)


# --- MeasureValue → FHIR ---------------------------------------------------------------------


def _number(value: Decimal) -> int | float:
    """A JSON number: FHIR decimals are numbers, never strings."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _ucum_quantity(value: Decimal, code: str, unit_text: str) -> dict[str, Any]:
    return {"value": _number(value), "unit": unit_text, "system": UCUM, "code": code}


def _loinc_coding(code: str, display: str) -> dict[str, str]:
    coding = {"system": LOINC, "code": code}
    if display:
        coding["display"] = display
    return coding


def observation_to_fhir(
    value: MeasureValue,
    *,
    id: str,
    patient_reference: str,
    performer_reference: str | None = None,
    device_reference: str | None = None,
) -> dict[str, Any]:
    """The measure as a FHIR R4 Observation of the guide's profile (JSON-ready dict).

    Values are written in the guide's UCUM unit; a converted value carries its original in the
    `mesures-original-data` extension. BMI (computed) is written like the others.
    """
    definition = get_measure(value.key)
    extensions: list[dict[str, Any]] = []
    if value.reason:
        extensions.append({"url": EXT_REASON, "valueString": value.reason})
    moment = definition.moment(value.moment) if value.moment else None
    if moment is not None:
        coding = {
            "system": CODE_SYSTEMS[moment.code_system_oid][0],
            "code": moment.code,
            "display": moment.display,
        }
        extensions.append({"url": EXT_MOMENT, "valueCodeableConcept": {"coding": [coding]}})
    if value.original is not None:
        original_unit = definition.unit(value.original.unit)
        extensions.append(
            {
                "url": EXT_ORIGINAL,
                "extension": [
                    {"url": "has-been-converted", "valueBoolean": True},
                    {
                        "url": "original-code",
                        "valueCodeableConcept": {
                            "coding": [_loinc_coding(definition.loinc, definition.loinc_display)]
                        },
                    },
                    {
                        "url": "original-value",
                        "valueQuantity": _ucum_quantity(
                            value.original.value,
                            value.original.unit,
                            original_unit.label if original_unit else value.original.unit,
                        ),
                    },
                ],
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": id,
        "meta": {"profile": [definition.profile]},
    }
    if extensions:
        resource["extension"] = extensions
    resource |= {
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": OBSERVATION_CATEGORY, "code": VITAL_SIGNS, "display": VITAL_SIGNS}
                ]
            }
        ],
        "code": {
            "coding": [_loinc_coding(definition.loinc, definition.loinc_display)]
            + [_loinc_coding(alias, "") for alias in definition.loinc_aliases],
            "text": definition.label,
        },
        "subject": {"reference": patient_reference},
        "effectiveDateTime": value.at.isoformat(),
    }
    if performer_reference:
        resource["performer"] = [{"reference": performer_reference}]
    if definition.components:
        resource["component"] = [
            {
                "code": {"coding": [_loinc_coding(c.loinc, c.loinc_display)], "text": c.label},
                "valueQuantity": _ucum_quantity(
                    value.values[c.key], definition.ucum, definition.ucum_display
                ),
            }
            for c in definition.components
        ]
    else:
        resource["valueQuantity"] = _ucum_quantity(
            value.value, definition.ucum, definition.ucum_display
        )
    if device_reference:
        resource["device"] = {"reference": device_reference}
    return resource


# --- Feeding Bundle --------------------------------------------------------------------------


def parse_feeding_bundle(
    bundle: Mapping[str, Any], *, now: dt.datetime | None = None
) -> FeedingBundle:
    """Validate a `mesures-bundle-flux-alimentation` transaction and return its measure.

    The Bundle is a transaction with exactly one `POST Observation` entry and at most one
    `POST Device` entry (a PhdDevice); when there is a Device, `Observation.device` must point to
    it. Raises `InvalidMeasure` naming the Bundle path at fault; errors inside the Observation are
    those of `observation_from_fhir`, under `Bundle.entry[i].resource`.
    """
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise InvalidMeasure(
            "La ressource doit être un Bundle FHIR.",
            field="Bundle.resourceType",
            code="structure",
        )
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        raise InvalidMeasure(
            "Le Bundle d'alimentation doit contenir une Observation.",
            field="Bundle.entry",
            code="required",
        )
    by_type: dict[str, list[int]] = {"Observation": [], "Device": []}
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        kind = resource.get("resourceType") if isinstance(resource, Mapping) else None
        if not isinstance(kind, str) or kind not in by_type:
            raise InvalidMeasure(
                "Le Bundle d'alimentation ne contient qu'une Observation et au plus un Device.",
                field=f"Bundle.entry[{index}].resource",
                code="structure",
            )
        by_type[str(kind)].append(index)
    model = _validate(Bundle, bundle, "Bundle")
    if model.type != "transaction":
        raise InvalidMeasure(
            "Le Bundle d'alimentation doit être de type « transaction ».",
            field="Bundle.type",
            code="value",
        )
    if len(by_type["Observation"]) != 1 or len(by_type["Device"]) > 1:
        raise InvalidMeasure(
            "Le Bundle d'alimentation contient exactement une Observation et au plus un Device.",
            field="Bundle.entry",
            code="structure",
        )
    for kind, indexes in by_type.items():
        for index in indexes:
            request = model.entry[index].request
            if request is None or request.method != "POST" or request.url != kind:
                raise InvalidMeasure(
                    f"L'entrée {kind} du Bundle doit être une création « POST {kind} ».",
                    field=f"Bundle.entry[{index}].request",
                    code="value",
                )
    device = _feeding_device(model, by_type["Device"])
    obs_index = by_type["Observation"][0]
    root = f"Bundle.entry[{obs_index}].resource"

    def check_device(observation: Any) -> None:
        _check_device_reference(observation, device, root)

    measure = _parse_observation(entries[obs_index]["resource"], root, now, check_device)
    return FeedingBundle(measure, device, model.entry[obs_index].fullUrl)


def _feeding_device(model: Any, indexes: list[int]) -> FeedingDevice | None:
    if not indexes:
        return None
    entry = model.entry[indexes[0]]
    resource = entry.resource
    system_id = None
    for identifier in resource.identifier or []:
        if any(coding.code == "SYSID" for coding in _codings(identifier.type)):
            system_id = identifier.value
    names = resource.deviceName or []
    return FeedingDevice(
        full_url=entry.fullUrl,
        resource=resource.model_dump(mode="json", exclude_none=True),
        name=names[0].name if names else None,
        manufacturer=resource.manufacturer,
        model_number=resource.modelNumber,
        system_id=system_id,
    )


def _check_device_reference(observation: Any, device: FeedingDevice | None, root: str) -> None:
    reference = observation.device.reference if observation.device is not None else None
    path = f"{root}.device.reference"
    if device is None:
        if reference:
            raise InvalidMeasure(
                "L'appareil désigné par Observation.device doit figurer dans le Bundle.",
                field=path,
                code="not-found",
            )
        return
    accepted = set()
    if device.full_url:
        accepted.add(device.full_url)
        if device.full_url.startswith("urn:uuid:"):
            accepted.add(f"Device/{device.full_url.removeprefix('urn:uuid:')}")
    if device.resource.get("id"):
        accepted.add(f"Device/{device.resource['id']}")
    if reference not in accepted:
        raise InvalidMeasure(
            "Observation.device doit désigner le Device du Bundle (par son fullUrl).",
            field=path,
            code="invalid",
        )
