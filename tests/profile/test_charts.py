"""Server-rendered SVG charts of measures and their table (`carnet.profile.charts`)."""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.profile.charts import (
    ChartPoint,
    chart_table,
    format_date_fr,
    points_from_measures,
    render_chart,
)
from carnet.profile.measures import NBSP, PARIS, validate_measure

SVG = "{http://www.w3.org/2000/svg}"
NOW = dt.datetime(2025, 3, 10, 11, 0, tzinfo=dt.UTC)


def _weights(count: int, start: dt.datetime, every: dt.timedelta) -> list[ChartPoint]:
    return [
        ChartPoint(start + every * i, (Decimal(70) + Decimal(i % 7) / 2,)) for i in range(count)
    ]


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - parsing our own output, which is the point
    assert root.tag == f"{SVG}svg"
    return root


def _child(root: ET.Element, tag: str) -> ET.Element:
    element = root.find(f"{SVG}{tag}")
    assert element is not None, tag
    return element


def _text_of(root: ET.Element, tag: str) -> str:
    return _child(root, tag).text or ""


def _attr(element: ET.Element, name: str) -> str:
    value = element.get(name)
    assert value is not None, name
    return value


def _markers(root: ET.Element) -> list[ET.Element]:
    return [element for element in root.iter() if element.get("class") == "point"]


def _texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def _assert_self_contained(svg: str, root: ET.Element) -> None:
    assert "<script" not in svg.lower()
    assert "href" not in svg
    assert "<style" not in svg
    assert "style=" not in svg
    assert "url(" not in svg
    assert root.get("role") == "img"
    assert re.fullmatch(r"0 0 \d+ \d+", _attr(root, "viewBox"))
    title_id, desc_id = _attr(root, "aria-labelledby").split()
    assert _child(root, "title").get("id") == title_id
    assert _child(root, "desc").get("id") == desc_id
    # Legible at 360 px: the viewBox is 360 wide and no text is under 12 user units.
    assert _attr(root, "viewBox").split()[2] == "360"
    assert int(_attr(root, "font-size")) >= 12
    assert all(int(e.get("font-size", 12)) >= 12 for e in root.iter(f"{SVG}text"))


def test_many_points_one_marker_each():
    points = _weights(40, dt.datetime(2024, 1, 1, 8, tzinfo=PARIS), dt.timedelta(days=9))
    svg = render_chart(points, title="Évolution du poids", unit="kg")
    root = _parse(svg)
    _assert_self_contained(svg, root)
    assert _text_of(root, "title") == "Évolution du poids"
    assert len(_markers(root)) == 40
    assert len(root.findall(f"{SVG}polyline")) == 1
    assert "kg" in _texts(root)


def test_summary_gives_the_last_value_and_the_range():
    points = _weights(3, dt.datetime(2024, 1, 1, 8, tzinfo=PARIS), dt.timedelta(days=1))
    desc = _text_of(_parse(render_chart(points, title="Poids", unit="kg")), "desc")
    assert desc == (
        "3 mesures du 1er janvier 2024 à 8h00 au 3 janvier 2024 à 8h00. "
        f"Dernière valeur : 71{NBSP}kg, le 3 janvier 2024 à 8h00. "
        f"Valeurs de 70 à 71{NBSP}kg."
    )


def test_no_point():
    svg = render_chart([], title="Fréquence cardiaque", unit="bpm")
    root = _parse(svg)
    _assert_self_contained(svg, root)
    assert _markers(root) == []
    assert _text_of(root, "desc") == "Aucune mesure enregistrée."
    assert "Aucune mesure à afficher" in _texts(root)


def test_one_point():
    point = ChartPoint(dt.date(2025, 3, 1), (Decimal("37.8"),))
    svg = render_chart([point], title="Température", unit="°C")
    root = _parse(svg)
    _assert_self_contained(svg, root)
    assert len(_markers(root)) == 1
    assert root.find(f"{SVG}polyline") is None
    assert _text_of(root, "desc") == f"1 mesure, le 1er mars 2025 : 37,8{NBSP}°C."
    assert "1er mars 2025" in _texts(root)


def test_blood_pressure_draws_two_series_with_a_legend():
    points = [
        ChartPoint(dt.date(2025, 1, 1) + dt.timedelta(days=3 * i), (Decimal(120 + i), Decimal(80)))
        for i in range(6)
    ]
    svg = render_chart(
        points,
        title="Pression artérielle",
        unit="mmHg",
        series_labels=("Systolique", "Diastolique"),
    )
    root = _parse(svg)
    _assert_self_contained(svg, root)
    markers = _markers(root)
    assert len(markers) == 12
    assert [m.get("data-series") for m in markers].count("1") == 6
    # Series differ by shape, not only by colour.
    assert {m.tag for m in markers} == {f"{SVG}circle", f"{SVG}rect"}
    assert len(root.findall(f"{SVG}polyline")) == 2
    assert {"Systolique", "Diastolique", "mmHg"} <= set(_texts(root))
    desc = _text_of(root, "desc")
    assert f"Systolique 125{NBSP}mmHg, Diastolique 80{NBSP}mmHg" in desc


def test_points_in_any_order_are_drawn_in_time_order():
    points = _weights(10, dt.datetime(2024, 5, 1, 8, tzinfo=PARIS), dt.timedelta(days=2))
    root = _parse(render_chart(list(reversed(points)), title="Poids", unit="kg"))
    xs = [float(pair.split(",")[0]) for pair in _attr(_child(root, "polyline"), "points").split()]
    assert xs == sorted(xs)
    assert len(set(xs)) == 10


@pytest.mark.parametrize(
    ("start", "every", "expected"),
    [
        (dt.datetime(2025, 3, 3, 7, 5, tzinfo=dt.UTC), dt.timedelta(hours=2), "03/03 8h05"),
        (dt.datetime(2025, 2, 1, 7, 0, tzinfo=dt.UTC), dt.timedelta(days=3), "1er févr."),
        (dt.datetime(2024, 1, 5, 7, 0, tzinfo=dt.UTC), dt.timedelta(days=30), "janv. 2024"),
        (dt.datetime(2015, 6, 1, 7, 0, tzinfo=dt.UTC), dt.timedelta(days=365), "2015"),
    ],
)
def test_date_ticks_are_french_and_in_paris_time(start, every, expected):
    points = _weights(6, start, every)
    texts = _texts(_parse(render_chart(points, title="Poids", unit="kg")))
    assert expected in texts


def test_y_ticks_are_round_french_numbers():
    points = [
        ChartPoint(dt.date(2025, 1, d), (Decimal(v),))
        for d, v in ((1, "36.6"), (2, "37.9"), (3, "37.2"))
    ]
    texts = _texts(_parse(render_chart(points, title="Température", unit="°C")))
    assert {"36,5", "37,0", "37,5", "38,0"} <= set(texts)
    # Days without a time of measurement get no invented time on the axis.
    assert not [text for text in texts if "h" in text]


def test_all_text_is_escaped():
    hostile = '<script>alert("x")</script> & <b>'
    points = _weights(2, dt.datetime(2025, 1, 1, tzinfo=PARIS), dt.timedelta(days=1))
    svg = render_chart(points, title=hostile, unit=hostile)
    root = _parse(svg)
    assert "<script" not in svg
    assert _text_of(root, "title") == hostile
    assert hostile in _texts(root)
    two = [ChartPoint(p.at, (p.values[0], p.values[0])) for p in points]
    svg = render_chart(two, title="t", unit="kg", series_labels=(hostile, "b"))
    assert hostile in _texts(_parse(svg))


def test_chart_id_must_be_a_plain_name_and_series_must_match():
    point = ChartPoint(dt.date(2025, 1, 1), (Decimal(1),))
    with pytest.raises(ValueError, match="chart_id"):
        render_chart([point], title="t", unit="kg", chart_id='x" onload="alert(1)')
    with pytest.raises(ValueError, match="series"):
        render_chart([point], title="t", unit="kg", series_labels=("a", "b"))
    svg = render_chart([point], title="t", unit="kg", chart_id="poids-2")
    assert _parse(svg).get("aria-labelledby") == "poids-2-title poids-2-desc"


@given(
    st.lists(
        st.tuples(
            st.datetimes(
                min_value=dt.datetime(1990, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
                max_value=dt.datetime(2030, 1, 1),  # noqa: DTZ001
                timezones=st.just(dt.UTC),
            ),
            st.decimals(min_value=-1000, max_value=100000, places=2),
        ),
        max_size=60,
    )
)
def test_any_series_gives_well_formed_svg_with_one_marker_per_point(samples):
    points = [ChartPoint(at, (value,)) for at, value in samples]
    svg = render_chart(points, title="Mesure", unit="u")
    root = _parse(svg)
    assert len(_markers(root)) == len(points)
    for element in root.iter():
        for name in ("x", "y", "cx", "cy"):
            if name in element.attrib:
                assert math.isfinite(float(element.attrib[name]))


# --- Accessible table ------------------------------------------------------------------------


def test_table_rows_newest_first_with_french_values():
    points = [
        ChartPoint(dt.datetime(2025, 3, 1, 7, 5, tzinfo=dt.UTC), (Decimal("72.50"),)),
        ChartPoint(dt.date(2025, 3, 4), (Decimal("1234.5"),)),
    ]
    rows = chart_table(points, unit="kg")
    assert [row.date_label for row in rows] == ["4 mars 2025", "1er mars 2025 à 8h05"]
    assert [row.values for row in rows] == [(f"1{NBSP}234,5{NBSP}kg",), (f"72,5{NBSP}kg",)]
    assert rows[0].datetime_attr == "2025-03-04"
    assert rows[1].datetime_attr == "2025-03-01T07:05:00+00:00"
    assert chart_table([], unit="kg") == []


def test_points_and_table_from_measures():
    measures = [
        validate_measure(
            "blood-pressure", {"systolic": s, "diastolic": d}, at=dt.date(2025, 2, day), now=NOW
        )
        for day, s, d in ((3, 122, 78), (1, 135, 88))
    ]
    points = points_from_measures(measures)
    assert [p.values for p in points] == [(Decimal(122), Decimal(78)), (Decimal(135), Decimal(88))]
    rows = chart_table(points, unit="mmHg")
    assert rows[0].values == (f"122{NBSP}mmHg", f"78{NBSP}mmHg")
    pain = validate_measure("pain", 3, at=dt.date(2025, 2, 1), now=NOW)
    assert chart_table(points_from_measures([pain]), unit="/10")[0].values == ("3/10",)


def test_format_date_fr_uses_paris_time():
    assert (
        format_date_fr(dt.datetime(2025, 7, 14, 22, 30, tzinfo=dt.UTC)) == "15 juillet 2025 à 0h30"
    )
    assert format_date_fr(dt.date(2025, 8, 1)) == "1er août 2025"
