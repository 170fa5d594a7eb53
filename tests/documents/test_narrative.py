"""Rendering the narrative of structured CDA documents to safe HTML."""

from html.parser import HTMLParser

import pytest
from lxml import etree

from carnet.documents.cda import InvalidCda
from carnet.documents.narrative import MULTIMEDIA_PLACEHOLDER, render_narrative
from tests.paths import CDA_DIR

HL7 = {"h": "urn:hl7-org:v3"}
N3_FILES = [
    "BIO-CR-BIO_2024.01_TSH_1.xml",
    "CNAM-HR_2021.01.xml",
    "CSE-MDE_2023.01.xml",
    "IMG_CR_IMG_2024.01.xml",
    "LDL-EES_2022.01.xml",
    "LDL-SES_2022.01.xml",
    "VAC-NOTE_2023.01.xml",
    "VAC_2023.01.xml",
    "VSM_1.4_2022.01.xml",
    "eDISP-MED_2024.01.xml",
    "eP-MED-DM_2024.01_PosoStruct.xml",
]


class _Html(HTMLParser):
    """Collects what a browser would see: elements, attributes, headings and text."""

    def __init__(self):
        super().__init__()
        self.tags = []
        self.attributes = []
        self.headings = []
        self.text = []
        self._heading = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend((tag, name, value) for name, value in attrs)
        if tag in {"h2", "h3", "h4", "h5", "h6"}:
            self._heading = (tag, [])

    def handle_endtag(self, tag):
        if self._heading is not None and tag == self._heading[0]:
            self.headings.append((tag, "".join(self._heading[1])))
            self._heading = None

    def handle_data(self, data):
        self.text.append(data)
        if self._heading is not None:
            self._heading[1].append(data)


def _parse(markup):
    parser = _Html()
    parser.feed(markup)
    parser.close()
    return parser


def _titles(name, depth):
    """Section titles at a nesting depth, read from the file with XPath (independently)."""
    tree = etree.ElementTree(etree.fromstring((CDA_DIR / name).read_bytes()))
    path = "h:component/h:structuredBody" + "/h:component/h:section" * (depth + 1) + "/h:title"
    return [
        " ".join("".join(t.itertext()).split()) for t in tree.getroot().xpath(path, namespaces=HL7)
    ]


@pytest.mark.parametrize("name", N3_FILES)
def test_real_documents_render_their_section_titles_as_nested_headings(name):
    rendered = _parse(render_narrative((CDA_DIR / name).read_bytes()))

    for depth, tag in enumerate(["h2", "h3", "h4"]):
        expected = [title for title in _titles(name, depth) if title]
        assert [text for level, text in rendered.headings if level == tag] == expected
    assert expected == [] or name == "VSM_1.4_2022.01.xml"  # only the VSM nests 3 levels
    assert "script" not in rendered.tags
    assert all(not attribute.startswith("on") for _, attribute, _ in rendered.attributes)


def test_top_level_titles_of_the_imaging_report():
    rendered = _parse(render_narrative((CDA_DIR / "IMG_CR_IMG_2024.01.xml").read_bytes()))

    assert [text for level, text in rendered.headings if level == "h2"][:4] == [
        "Addendum",
        "Informations cliniques",
        "Technique d’imagerie",
        "Technique d’imagerie",
    ]


def test_tables_keep_their_structure_and_spans():
    html = render_narrative((CDA_DIR / "CSE-MDE_2023.01.xml").read_bytes())

    assert '<th colspan="2">Mesures</th>' in html
    assert "<tr><td>Poids</td><td><span>3900 g</span></td></tr>" in html


def test_multimedia_is_replaced_by_a_placeholder():
    html = render_narrative((CDA_DIR / "eP-MED-DM_2024.01_PosoStruct.xml").read_bytes())

    assert html.startswith(
        f"<section><h2>Code 2D de la prescription</h2> <em>{MULTIMEDIA_PLACEHOLDER}</em>"
    )


def test_http_links_are_kept_with_noopener_noreferrer():
    rendered = _parse(render_narrative((CDA_DIR / "IMG_CR_IMG_2024.01.xml").read_bytes()))

    links = [(name, value) for tag, name, value in rendered.attributes if tag == "a"]
    hrefs = [value for name, value in links if name == "href"]
    assert len(hrefs) == 3
    assert all(href.startswith("http://www.example.org/wado?requestType=WADO") for href in hrefs)
    assert links.count(("rel", "noopener noreferrer")) == 3


@pytest.mark.parametrize(
    "name", ["DOC_NON_STRUCTURE_CDA-R2-N1.xml", "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"]
)
def test_unstructured_documents_have_no_narrative(name):
    with pytest.raises(InvalidCda) as refused:
        render_narrative((CDA_DIR / name).read_bytes())

    assert refused.value.code == "cda-not-structured"


def _document_with_section(section_xml):
    """A real header (VAC-NOTE) with its body replaced by the given section(s)."""
    text = (CDA_DIR / "VAC-NOTE_2023.01.xml").read_text(encoding="utf-8")
    start = text.index("<structuredBody>") + len("<structuredBody>")
    end = text.index("</structuredBody>")
    body = f"<component>{section_xml}</component>"
    return (text[:start] + body + text[end:]).encode("utf-8")


HOSTILE_SECTION = """
<section xmlns:x="http://www.w3.org/1999/xhtml">
  <title>Résultats <script>alert('title')</script></title>
  <text>
    <paragraph onclick="alert('p')" style="background:url(javascript:alert(1))">Texte
      <content styleCode="Bold" onmouseover="alert('c')">important</content>
      <script>alert('cda-namespace')</script>
      <x:script>alert('xhtml')</x:script>
      <x:img src="http://evil.example/pixel.png" onerror="alert('img')"/>
      <x:a href="javascript:alert('xa')">xhtml link</x:a>
    </paragraph>
    <paragraph><![CDATA[<script>alert('cdata')</script><img src=x onerror=alert(1)>]]></paragraph>
    <paragraph>
      <linkHtml href="javascript:alert('link')">lien piégé</linkHtml>
      <linkHtml href=" JaVaScRiPt:alert('case')">lien piégé 2</linkHtml>
      <linkHtml href="java&#x09;script:alert('tab')">lien piégé 3</linkHtml>
      <linkHtml href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">données</linkHtml>
      <linkHtml href="#ref1" onclick="alert('ref')">ancre</linkHtml>
      <linkHtml href="https://www.ameli.fr/" target="_blank">ameli</linkHtml>
    </paragraph>
    <table border="1" style="x" onclick="alert('t')">
      <tbody><tr><td colspan="2&quot; onclick=&quot;x" rowspan="999999">cellule</td></tr></tbody>
    </table>
    <renderMultiMedia referencedObject="img1"/>
    <content revised="delete">texte supprimé</content>
  </text>
</section>
"""


def test_hostile_narrative_never_reaches_the_output():
    html = render_narrative(_document_with_section(HOSTILE_SECTION))
    rendered = _parse(html)
    lowered = html.lower()

    assert "<script" not in lowered
    assert "javascript:" not in lowered
    assert "onclick" not in lowered
    assert "onmouseover" not in lowered
    assert "<img" not in lowered
    assert "style" not in lowered
    assert "evil.example" not in lowered
    assert "data:" not in lowered
    assert set(rendered.tags) <= {
        "section", "h2", "p", "span", "strong", "em", "table", "tbody", "tr", "td", "a",
    }  # fmt: skip
    assert [(n, v) for tag, n, v in rendered.attributes if tag == "a"] == [
        ("href", "https://www.ameli.fr/"),
        ("rel", "noopener noreferrer"),
    ]
    assert [a for a in rendered.attributes if a[0] == "td"] == []
    assert all(not attribute.startswith("on") for _, attribute, _ in rendered.attributes)
    text = "".join(rendered.text)
    # The CDATA is text for the author, so the holder sees it as text, never as markup.
    assert "<script>alert('cdata')</script>" in text
    assert "lien piégé 3" in text
    assert "important" in text
    assert "texte supprimé" not in text
    assert MULTIMEDIA_PLACEHOLDER in text
    assert rendered.headings == [("h2", "Résultats")]


def test_narrative_elements_map_to_plain_html():
    section = """
    <section>
      <title>Section</title>
      <text>
        <paragraph><caption>Légende</caption>Un <content styleCode="Italics Underline">mot</content>
          H<sub>2</sub>O m<sup>2</sup><br/>ligne 2<footnote>note</footnote></paragraph>
        <list listType="ordered"><caption>Étapes</caption><item>un</item><item>deux</item></list>
        <list><item>puce</item></list>
        <table><caption>Tableau</caption><thead><tr><th>A</th></tr></thead>
          <tbody><tr><td rowspan="2">1</td></tr></tbody></table>
      </text>
      <component><section><title>Sous-section</title><text>détail</text>
        <component><section><title>Niveau 3</title></section></component>
      </section></component>
    </section>
    """

    html = render_narrative(_document_with_section(section))

    assert html == (
        "<section><h2>Section</h2> "
        "<p><strong>Légende</strong> Un <span><u><em>mot</em></u></span> "
        "H<sub>2</sub>O m<sup>2</sup><br>ligne 2<small>(note)</small></p> "
        "<p><strong>Étapes</strong></p><ol><li>un</li><li>deux</li></ol> "
        "<ul><li>puce</li></ul> "
        "<table><caption>Tableau</caption><thead><tr><th>A</th></tr></thead>"
        '<tbody><tr><td rowspan="2">1</td></tr></tbody></table> '
        "<section><h3>Sous-section</h3>détail"
        "<section><h4>Niveau 3</h4></section></section></section>"
    )


def test_hostile_bytes_are_refused_like_any_cda():
    with pytest.raises(InvalidCda) as refused:
        render_narrative(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')

    assert refused.value.code == "cda-dtd-forbidden"
