"""Text as people search it: without accents or case ("echo" finds "Échographie")."""

from __future__ import annotations

import unicodedata


def folded(text: str) -> str:
    """Lower case, accents and other combining marks removed, œ/æ spelt out."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return bare.casefold().replace("œ", "oe").replace("æ", "ae")
