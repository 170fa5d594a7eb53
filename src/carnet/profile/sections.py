"""The 12 sections of the medical profile ("Mon profil médical"), in the seed's order.

Pure module. Each section says which FHIR resources hold its items, whether professionals may
complete it through the API (the access policy reads that fact, it does not hard-code sections),
whether it is read-only for the holder (the insurer's care history), and how it counts towards
the completeness percentage:

- a *list* section (diseases, treatments, allergies…) is complete when it holds one item or the
  holder declared "nothing to report";
- a section of *elements* (lifestyle, entourage, measures, professionals) counts each expected
  element that is filled in;
- the care history (fed by the insurer) and administrative papers are not the holder's medical
  statements and do not count [decision, see `completeness`].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MALADIES: Final = "maladies"
TRAITEMENTS: Final = "traitements"
HOSPITALISATIONS: Final = "hospitalisations"
ANTECEDENTS_FAMILIAUX: Final = "antecedents-familiaux"
ALLERGIES: Final = "allergies"
HABITUDES: Final = "habitudes-de-vie"
MESURES: Final = "mesures"
PROFESSIONNELS: Final = "professionnels"
ENTOURAGE: Final = "entourage"
PIECES: Final = "pieces-administratives"
VACCINATIONS: Final = "vaccinations"
HISTORIQUE: Final = "historique-soins"
# Marks the "professionals" element as filled: a professional flagged as médecin traitant.
MEDECIN_TRAITANT: Final = "medecin-traitant"


@dataclass(frozen=True)
class Element:
    """One expected element of a section of elements: it is filled by an item of `kind` (or by
    the measure `measure` for the measures section, or by a médecin traitant)."""

    key: str
    label: str
    kind: str = ""
    measure: str = ""


@dataclass(frozen=True)
class SectionDefinition:
    slug: str
    label: str
    intro: str
    resource_types: tuple[str, ...]
    professional_write: bool = False
    read_only: bool = False
    # How completeness is measured: "list", "elements" or "none" (not counted).
    completeness: str = "list"
    elements: tuple[Element, ...] = ()

    @property
    def counted(self) -> bool:
        return self.completeness != "none"


SECTIONS: Final[tuple[SectionDefinition, ...]] = (
    SectionDefinition(
        MALADIES,
        "Maladies et sujets de santé",
        "Vos maladies actuelles ou passées et les sujets de santé qui vous concernent.",
        ("Condition",),
        professional_write=True,
    ),
    SectionDefinition(
        TRAITEMENTS,
        "Traitements",
        "Les médicaments que vous prenez ou avez pris, avec leur posologie.",
        ("MedicationStatement",),
        professional_write=True,
    ),
    SectionDefinition(
        HOSPITALISATIONS,
        "Hospitalisations et chirurgies",
        "Vos séjours à l'hôpital et vos opérations.",
        ("Procedure",),
        professional_write=True,
    ),
    SectionDefinition(
        ANTECEDENTS_FAMILIAUX,
        "Antécédents familiaux",
        "Les maladies de vos proches parents qui peuvent compter pour votre santé.",
        ("FamilyMemberHistory",),
        professional_write=True,
    ),
    SectionDefinition(
        ALLERGIES,
        "Allergies",
        "Vos allergies et intolérances (médicaments, aliments, environnement).",
        ("AllergyIntolerance",),
        professional_write=True,
    ),
    SectionDefinition(
        HABITUDES,
        "Habitudes de vie",
        "Tabac, alcool, activité physique, sommeil et alimentation.",
        ("Observation",),
        completeness="elements",
        elements=(
            Element("tabac", "Tabac", kind="tabac"),
            Element("alcool", "Alcool", kind="alcool"),
            Element("activite", "Activité physique", kind="activite-physique"),
            Element("sommeil", "Sommeil", kind="sommeil"),
            Element("alimentation", "Alimentation", kind="alimentation"),
        ),
    ),
    SectionDefinition(
        MESURES,
        "Mesures",
        "Poids, taille, tension, glycémie… et votre groupe sanguin.",
        ("Observation",),
        completeness="elements",
        elements=(
            Element("poids", "Poids", measure="body-weight"),
            Element("taille", "Taille", measure="body-height"),
            Element("groupe-sanguin", "Groupe sanguin", kind="groupe-sanguin"),
        ),
    ),
    SectionDefinition(
        PROFESSIONNELS,
        "Professionnels de santé",
        "Les professionnels qui vous suivent, votre médecin traitant en premier.",
        ("CareTeam",),
        completeness="elements",
        elements=(Element("medecin-traitant", "Médecin traitant", kind=MEDECIN_TRAITANT),),
    ),
    SectionDefinition(
        ENTOURAGE,
        "Entourage et volontés",
        "Personne de confiance, contact en cas d'urgence, directives anticipées, don d'organes.",
        ("RelatedPerson", "Consent"),
        completeness="elements",
        elements=(
            Element("contact-urgence", "Contact en cas d'urgence", kind="contact-urgence"),
            Element("personne-confiance", "Personne de confiance", kind="personne-confiance"),
            Element("directives", "Directives anticipées", kind="directives-anticipees"),
            Element("don-organes", "Don d'organes", kind="don-organes"),
        ),
    ),
    SectionDefinition(
        PIECES,
        "Pièces administratives",
        "Complémentaire santé, prise en charge ALD, carte européenne…",
        ("Coverage",),
        completeness="none",
    ),
    SectionDefinition(
        VACCINATIONS,
        "Vaccinations",
        "Vos vaccins, d'après la liste du calendrier vaccinal.",
        ("Immunization",),
        professional_write=True,
    ),
    SectionDefinition(
        HISTORIQUE,
        "Historique des soins",
        "Les soins remboursés par l'Assurance Maladie (consultations, pharmacie, hôpital…).",
        ("ExplanationOfBenefit",),
        read_only=True,
        completeness="none",
    ),
)

BY_SLUG: Final = {section.slug: section for section in SECTIONS}


def get_section(slug: str) -> SectionDefinition | None:
    return BY_SLUG.get(slug)
