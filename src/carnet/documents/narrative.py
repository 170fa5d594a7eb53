"""The human-readable narrative of a structured (N3) CDA, rendered as safe HTML for the portal.

Two walls stand between a hostile document and the holder's browser. First, the converter only
emits the HTML it builds itself from the CDA narrative block elements (paragraph, list, table,
content, br, sub/sup, caption, linkHtml, footnote…), escaping all text and copying no attribute
but validated colspan/rowspan and http(s) link targets; unknown or foreign-namespace elements are
dropped with their content. Second, the result goes through nh3 with a strict allow-list (no
scripts, styles, event handlers, images or non-http(s) URLs), so a converter bug cannot open a hole.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import nh3
from lxml import etree

from carnet.documents.cda import HL7_NS, InvalidCda, parse_clinical_document

MULTIMEDIA_PLACEHOLDER = "[Contenu multimédia non affiché]"
_MAX_SPAN = 1000

_ALLOWED_TAGS = {
    "section", "h2", "h3", "h4", "h5", "h6", "p", "br", "ul", "ol", "li",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
    "strong", "em", "u", "sub", "sup", "span", "small", "a",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
_URL_SCHEMES = {"http", "https"}

# styleCode values (HL7 narrative) with an HTML meaning; the others are presentation only.
_STYLE_TAGS = {"bold": "strong", "italics": "em", "emphasis": "em", "underline": "u"}
_SIMPLE_TAGS = {"sub": "sub", "sup": "sup", "tbody": "tbody", "thead": "thead", "tfoot": "tfoot"}
_TABLE_ROW_PARENTS = {"table", "thead", "tbody", "tfoot"}
_NS = {"h": HL7_NS}
_WHITESPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"[0-9]{1,4}")


def _local(element: etree._Element) -> str | None:
    """The local name of an HL7 element; None for comments or any other namespace."""
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith(f"{{{HL7_NS}}}"):
        return None
    return tag[len(HL7_NS) + 2 :]


def _safe_href(value: str | None) -> str | None:
    if not value:
        return None
    # Browsers ignore embedded whitespace and control characters in schemes ("java\tscript:").
    cleaned = "".join(c for c in value.strip() if c.isprintable() and not c.isspace())
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    if parts.scheme.lower() not in _URL_SCHEMES or not parts.netloc:
        return None
    return cleaned


def _span(value: str | None) -> str | None:
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    number = int(value.strip())
    return str(number) if 1 <= number <= _MAX_SPAN else None


def _wrap_style(element: etree._Element, inner: str) -> str:
    for code in (element.get("styleCode") or "").split():
        tag = _STYLE_TAGS.get(code.lower())
        if tag:
            inner = f"<{tag}>{inner}</{tag}>"
    return inner


def _escape(text: str | None) -> str:
    # Runs of indentation collapse to one space, as a browser would show them anyway.
    return html.escape(_WHITESPACE.sub(" ", text)) if text else ""


def _children(element: etree._Element) -> str:
    """Rendered text and child elements of `element`, tails included."""
    out = [_escape(element.text)]
    for child in element:
        out.append(_render(child))
        out.append(_escape(child.tail))
    return "".join(out)


def _caption(element: etree._Element) -> str:
    caption = element.find("h:caption", _NS)
    return "" if caption is None else _children(caption)


def _lead(element: etree._Element) -> str:
    caption = _caption(element)
    return f"<strong>{caption}</strong> " if caption else ""


def _cell(element: etree._Element, tag: str) -> str:
    attributes = ""
    for name in ("colspan", "rowspan"):
        if (span := _span(element.get(name))) is not None:
            attributes += f' {name}="{span}"'
    return f"<{tag}{attributes}>{_wrap_style(element, _children(element))}</{tag}>"


def _list(element: etree._Element) -> str:
    tag = "ol" if (element.get("listType") or "").lower() == "ordered" else "ul"
    caption = _caption(element)
    items = "".join(
        f"<li>{_lead(item)}{_wrap_style(item, _children(item))}</li>"
        for item in element
        if _local(item) == "item"
    )
    heading = f"<p><strong>{caption}</strong></p>" if caption else ""
    return f"{heading}<{tag}>{items}</{tag}>"


def _table(element: etree._Element) -> str:
    caption = _caption(element)
    parts = [f"<caption>{caption}</caption>"] if caption else []
    parts.extend(_render(child) for child in element if _local(child) != "caption")
    return f"<table>{''.join(parts)}</table>"


def _render(element: etree._Element) -> str:
    """HTML for one narrative element (its tail is handled by the caller)."""
    name = _local(element)
    if name is None:
        return ""
    if name == "content":
        if (element.get("revised") or "").lower() == "delete":
            return ""
        return f"<span>{_wrap_style(element, _children(element))}</span>"
    if name == "paragraph":
        return f"<p>{_lead(element)}{_wrap_style(element, _children(element))}</p>"
    if name == "br":
        return "<br>"
    if name == "list":
        return _list(element)
    if name == "table":
        return _table(element)
    if name == "tr" and (parent := element.getparent()) is not None:
        if _local(parent) in _TABLE_ROW_PARENTS:
            return f"<tr>{''.join(_render(c) for c in element if _local(c) in {'th', 'td'})}</tr>"
        return ""
    if name in {"th", "td"}:
        return _cell(element, name)
    if name in _SIMPLE_TAGS:
        tag = _SIMPLE_TAGS[name]
        return f"<{tag}>{_children(element)}</{tag}>"
    if name == "linkHtml":
        label = _children(element)
        href = _safe_href(element.get("href"))
        if href is None:
            return label
        return f'<a href="{html.escape(href, quote=True)}">{label}</a>'
    if name == "renderMultiMedia":
        return f"<em>{html.escape(MULTIMEDIA_PLACEHOLDER)}</em>"
    if name == "footnote":
        return f"<small>({_children(element)})</small>"
    # caption is rendered by its parent; footnoteRef, col, colgroup and anything outside the
    # narrative schema (a smuggled <script>, say) are dropped with their content.
    return ""


def _title(element: etree._Element | None) -> str:
    # A section title is plain text (ST); markup smuggled inside it is dropped with its content.
    if element is None:
        return ""
    parts = [element.text or "", *(child.tail or "" for child in element)]
    return " ".join("".join(parts).split())


def _section(section: etree._Element, depth: int) -> str:
    level = min(2 + depth, 6)
    title = _title(section.find("h:title", _NS))
    parts = [f"<h{level}>{html.escape(title)}</h{level}>"] if title else []
    text = section.find("h:text", _NS)
    if text is not None:
        parts.append(_children(text))
    for child in section.findall("h:component/h:section", _NS):
        parts.append(_section(child, depth + 1))
    return f"<section>{''.join(parts)}</section>"


def _sanitize(markup: str) -> str:
    return nh3.clean(
        markup,
        tags=_ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def render_narrative(data: bytes) -> str:
    """Section titles and narrative blocks of an N3 CDA as sanitised HTML.

    Top-level sections get `<h2>`, nested ones `<h3>`… (capped at `<h6>`). Raises `InvalidCda` for
    bytes that are not a readable CDA, or for an N1 document (its content is the embedded file).
    """
    root = parse_clinical_document(data)
    body = root.find("h:component/h:structuredBody", _NS)
    if body is None:
        raise InvalidCda(
            "Ce document CDA n'est pas structuré (niveau 1) : son contenu est le fichier "
            "intégré, il n'a pas de texte à afficher.",
            code="cda-not-structured",
        )
    sections = body.findall("h:component/h:section", _NS)
    return _sanitize("".join(_section(section, 0) for section in sections))
