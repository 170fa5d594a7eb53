"""Form values for each kind of profile item: what a holder types to add it, then to correct it
(with the title the item then shows)."""

from __future__ import annotations

from typing import Any

# kind → (values to add, values to correct, title after the correction)
ITEMS: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    "maladie": (
        {"name": "Diabète de type 2", "status": "active", "onset": "2015", "cim10": "E11"},
        {"name": "Diabète de type 2 insulinotraité", "status": "active", "onset": "03/2015"},
        "Diabète de type 2 insulinotraité",
    ),
    "traitement": (
        {"name": "Metformine 500 mg", "dosage": "1 comprimé matin et soir", "status": "active"},
        {"name": "Metformine 1000 mg", "status": "active", "start": "01/2020"},
        "Metformine 1000 mg",
    ),
    "hospitalisation": (
        {"category": "387713003", "name": "Appendicectomie", "date": "12/06/1998"},
        {"category": "387713003", "name": "Appendicectomie par cœlioscopie", "date": "1998"},
        "Appendicectomie par cœlioscopie",
    ),
    "antecedent-familial": (
        {"relationship": "MTH", "condition": "Cancer du sein", "onset_age": "52"},
        {"relationship": "MTH", "condition": "Cancer du sein bilatéral", "onset_age": "52"},
        "Cancer du sein bilatéral",
    ),
    "allergie": (
        {"substance": "Pénicilline", "type": "allergy", "criticality": "high"},
        {"substance": "Amoxicilline", "type": "allergy", "reaction": "urticaire"},
        "Amoxicilline",
    ),
    "tabac": ({"status": "449868002"}, {"status": "8517006", "details": "arrêt en 2024"}, "Tabac"),
    "alcool": ({"status": "occasionnel"}, {"status": "jamais"}, "Alcool"),
    "activite-physique": ({"level": "faible"}, {"level": "reguliere"}, "Activité physique"),
    "sommeil": ({"hours": "7"}, {"hours": "6,5"}, "Sommeil"),
    "alimentation": ({"diet": "variée"}, {"diet": "végétarienne"}, "Alimentation"),
    "groupe-sanguin": ({"group": "O+"}, {"group": "A-"}, "Groupe sanguin"),
    "professionnel": (
        {
            "name": "Dr Véronique Traitant",
            "specialty": "médecin généraliste",
            "medecin_traitant": "on",
        },
        {
            "name": "Dr Véronique Traitant-Durand",
            "medecin_traitant": "on",
            "phone": "01 23 45 67 89",
        },
        "Dr Véronique Traitant-Durand",
    ),
    "contact-urgence": (
        {"name": "Soizic Leguellec", "relation": "fille", "phone": "06 83 05 48 98"},
        {"name": "Soizic Leguellec", "relation": "fille", "phone": "06 83 05 48 99"},
        "Soizic Leguellec",
    ),
    "personne-confiance": (
        {"name": "Jean Martin", "relation": "conjoint"},
        {"name": "Jeanne Martin", "relation": "sœur"},
        "Jeanne Martin",
    ),
    "directives-anticipees": (
        {"written": "2020", "content": "Pas d'acharnement thérapeutique."},
        {"written": "2021", "kept_at": "chez mon médecin traitant"},
        "Directives anticipées",
    ),
    "don-organes": ({"wish": "permit"}, {"wish": "deny"}, "Don d'organes et de tissus"),
    "piece-administrative": (
        {"type": "complementaire", "payor": "MGEN", "number": "123456"},
        {"type": "complementaire", "payor": "Harmonie Mutuelle", "end": "31/12/2030"},
        "Complémentaire santé (mutuelle)",
    ),
    "vaccination": (
        {"vaccine": "J07BB", "date": "15/10/2025", "dose": "rappel annuel"},
        {"vaccine": "J07BN", "date": "20/10/2025", "lot": "AB123"},
        "Covid-19",
    ),
}

# An invalid form per kind: the field at fault and the values typed.
INVALID: dict[str, tuple[str, dict[str, Any]]] = {
    "maladie": ("name", {"name": "", "status": "active", "onset": "1999"}),
    "traitement": ("end", {"name": "X", "status": "active", "start": "2020", "end": "2019"}),
    "hospitalisation": ("date", {"category": "32485007", "name": "X", "date": "31/02/2020"}),
    "antecedent-familial": (
        "onset_age",
        {"relationship": "FTH", "condition": "X", "onset_age": "200"},
    ),
    "allergie": ("category", {"substance": "Arachide", "category": "plastique"}),
    "tabac": ("status", {"status": ""}),
    "alcool": ("status", {"status": "beaucoup"}),
    "activite-physique": ("level", {}),
    "sommeil": ("hours", {"hours": "vingt"}),
    "alimentation": ("diet", {"diet": " "}),
    "groupe-sanguin": ("group", {"group": "Z+"}),
    "professionnel": ("phone", {"name": "Dr X", "phone": "pas un numéro"}),
    "contact-urgence": ("phone", {"name": "Soizic", "phone": ""}),
    "personne-confiance": ("email", {"name": "Jean", "email": "jean@"}),
    "directives-anticipees": ("content", {"written": "2020"}),
    "don-organes": ("wish", {"wish": "peut-être"}),
    "piece-administrative": ("payor", {"type": "ald", "payor": ""}),
    "vaccination": ("date", {"vaccine": "J07BB", "date": "2999"}),
}
