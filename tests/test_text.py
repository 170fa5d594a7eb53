"""Search text is folded: no accents, no case, ligatures spelt out."""

import pytest

from carnet.core.text import folded


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Échographie", "echographie"),
        ("CŒUR", "coeur"),
        ("Lætitia", "laetitia"),
        ("Bilan sanguin (J+3)", "bilan sanguin (j+3)"),
        ("ﬁbroscopie", "fibroscopie"),
    ],
)
def test_folded(text, expected):
    assert folded(text) == expected
