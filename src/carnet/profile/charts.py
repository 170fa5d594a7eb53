"""Server-rendered SVG charts of a measure over time, and their accessible table.

Pure module. `render_chart` returns a self-contained inline SVG: no script, no style element, no
external reference (presentation attributes only, so it passes a strict CSP), a `viewBox` so it
scales to its container, and text sized for a 360 px wide phone screen (12 px at that width).
`role="img"` with `<title>` and `<desc>` gives screen readers a summary (last value, range); the
full data is in the table `chart_table` returns, which the page shows next to the chart.
Markers differ by shape as well as colour, so two series stay apart without colour vision.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from html import escape
from typing import Final

from carnet.profile.measures import PARIS, MeasureValue, format_number, instant, with_unit

WIDTH: Final = 360
HEIGHT: Final = 230
LEGEND_HEIGHT: Final = 20
MARGIN_LEFT: Final = 52
MARGIN_RIGHT: Final = 18
MARGIN_TOP: Final = 30
MARGIN_BOTTOM: Final = 36
FONT_SIZE: Final = 12
# Blue France and red Marianne of the State's design system; both ≥ 4.5:1 on white.
COLOURS: Final = ("#000091", "#c9191e", "#18753c")
MONTHS: Final = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
MONTHS_SHORT: Final = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)
_MONTH_LABELS: Final = dt.timedelta(days=3 * 366)
_STEPS: Final = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
_ID_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class ChartPoint:
    """One measure: its date and one value per series (blood pressure: systolic, diastolic)."""

    at: dt.date | dt.datetime
    values: tuple[Decimal, ...]


@dataclass(frozen=True)
class ChartRow:
    """A row of the accessible table: texts ready to render, plus the ISO date for `<time>`."""

    at: dt.date | dt.datetime
    date_label: str
    datetime_attr: str
    values: tuple[str, ...]


def points_from_measures(measures: Iterable[MeasureValue]) -> list[ChartPoint]:
    """Chart points of measures of one kind, series in the catalogue's order."""
    points = []
    for measure in measures:
        keys = [series.key for series in measure.definition.series]
        points.append(ChartPoint(measure.at, tuple(measure.values[key] for key in keys)))
    return points


# --- French dates ----------------------------------------------------------------------------


def _local(at: dt.date | dt.datetime, tz: dt.tzinfo) -> dt.date | dt.datetime:
    return at.astimezone(tz) if isinstance(at, dt.datetime) else at


def _day(number: int) -> str:
    return "1er" if number == 1 else str(number)


def format_date_fr(at: dt.date | dt.datetime, tz: dt.tzinfo = PARIS) -> str:
    """`1er mars 2025`, or `3 mars 2025 à 14h05` when the time is known."""
    local = _local(at, tz)
    text = f"{_day(local.day)} {MONTHS[local.month - 1]} {local.year}"
    if isinstance(local, dt.datetime):
        text += f" à {local.hour}h{local.minute:02d}"
    return text


def _tick_label(at: dt.datetime, span: dt.timedelta, with_time: bool) -> str:
    """Short enough for three or four ticks across a phone screen; times only if measured."""
    if span.total_seconds() == 0:
        return f"{_day(at.day)} {MONTHS_SHORT[at.month - 1]} {at.year}"
    if span <= dt.timedelta(days=2) and with_time:
        return f"{at.day:02d}/{at.month:02d} {at.hour}h{at.minute:02d}"
    if span <= dt.timedelta(days=120):
        return f"{_day(at.day)} {MONTHS_SHORT[at.month - 1]}"
    if span <= _MONTH_LABELS:
        return f"{MONTHS_SHORT[at.month - 1]} {at.year}"
    return str(at.year)


# --- Scales ----------------------------------------------------------------------------------


def _nice_ticks(low: Decimal, high: Decimal, count: int = 5) -> tuple[list[Decimal], int]:
    """Round tick values (1, 2, 2.5 or 5 × 10ⁿ apart) covering [low, high], and the decimals
    their labels need."""
    if high == low:
        pad = abs(low) * Decimal("0.05") or Decimal(1)
        low, high = low - pad, high + pad
    raw_step = (high - low) / (count - 1)
    magnitude = Decimal(1).scaleb(raw_step.adjusted())
    step = next(m * magnitude for m in _STEPS if m * magnitude >= raw_step)
    start = (low / step).to_integral_value(ROUND_FLOOR) * step
    end = (high / step).to_integral_value(ROUND_CEILING) * step
    ticks = [start + i * step for i in range(int((end - start) / step) + 1)]
    exponent = step.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return ticks, decimals


def _fmt(x: float) -> str:
    return f"{x:.1f}"


# --- Rendering -------------------------------------------------------------------------------


def _marker(
    series: int, x: float, y: float, colour: str, tooltip: str | None, css_class: str = "point"
) -> str:
    """A data point (or a legend key): circle, square, then diamond, by series."""
    title = f"<title>{escape(tooltip)}</title>" if tooltip else ""
    common = f'class="{css_class}" data-series="{series}" fill="{colour}"'
    if series == 0:
        return f'<circle {common} cx="{_fmt(x)}" cy="{_fmt(y)}" r="4">{title}</circle>'
    if series == 1:
        return (
            f'<rect {common} x="{_fmt(x - 4)}" y="{_fmt(y - 4)}" width="8" height="8">'
            f"{title}</rect>"
        )
    diamond = " ".join(
        f"{_fmt(px)},{_fmt(py)}" for px, py in ((x, y - 5), (x + 5, y), (x, y + 5), (x - 5, y))
    )
    return f'<polygon {common} points="{diamond}">{title}</polygon>'


def _summary(points: Sequence[ChartPoint], unit: str, labels: Sequence[str], tz: dt.tzinfo) -> str:
    if not points:
        return "Aucune mesure enregistrée."
    last = points[-1]
    multi = len(labels) > 1

    def values_text(point: ChartPoint) -> str:
        if multi:
            return ", ".join(
                f"{label} {with_unit(format_number(v), unit)}"
                for label, v in zip(labels, point.values, strict=True)
            )
        return with_unit(format_number(point.values[0]), unit)

    if len(points) == 1:
        return f"1 mesure, le {format_date_fr(last.at, tz)} : {values_text(last)}."
    ranges = []
    for index, label in enumerate(labels if multi else [""]):
        series = [p.values[index] for p in points]
        span = f"de {format_number(min(series))} à {with_unit(format_number(max(series)), unit)}"
        ranges.append(f"{label} : {span}" if multi else f"Valeurs {span}")
    return (
        f"{len(points)} mesures du {format_date_fr(points[0].at, tz)} au "
        f"{format_date_fr(last.at, tz)}. Dernière valeur : {values_text(last)}, le "
        f"{format_date_fr(last.at, tz)}. {' ; '.join(ranges)}."
    )


def render_chart(
    points: Sequence[ChartPoint],
    *,
    title: str,
    unit: str,
    series_labels: Sequence[str] = (),
    chart_id: str = "graphique-mesure",
    tz: dt.tzinfo = PARIS,
) -> str:
    """An inline SVG line chart of `points` over time (any order; 0, 1 or many points).

    `unit` is the label shown on the y axis and in the summary (`kg`, `mmHg`); `series_labels`
    names the series when there are several (blood pressure: systolic, diastolic) and draws a
    legend. `chart_id` prefixes the ids of `<title>` and `<desc>`: give each chart of a page its
    own. All text is escaped.
    """
    if not _ID_RE.fullmatch(chart_id):
        raise ValueError("chart_id must be a short XML name")
    count = max([len(series_labels), 1, *(len(p.values) for p in points)])
    if any(len(p.values) != count for p in points) or len(series_labels) not in (0, count):
        raise ValueError("every point needs one value per series label")
    labels = list(series_labels) or [""]
    ordered = sorted(points, key=lambda p: instant(p.at))
    legend = LEGEND_HEIGHT if count > 1 else 0
    height = HEIGHT + legend
    top, bottom = MARGIN_TOP + legend, height - MARGIN_BOTTOM
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-family="Arial, Helvetica, sans-serif" font-size="{FONT_SIZE}" fill="#161616">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(_summary(ordered, unit, labels, tz))}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="8" y="{top - 12}">{escape(unit)}</text>',
    ]
    if count > 1:
        x = 110.0
        for index, label in enumerate(labels):
            colour = COLOURS[index % len(COLOURS)]
            out.append(_marker(index, x, 16, colour, None, css_class="key"))
            out.append(f'<text x="{_fmt(x + 9)}" y="20">{escape(label)}</text>')
            x += 125
    out.append(
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#666666"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#666666"/>'
    )
    if not ordered:
        middle = (top + bottom) / 2
        out.append(
            f'<text x="{_fmt((left + right) / 2)}" y="{_fmt(middle)}" text-anchor="middle">'
            "Aucune mesure à afficher</text></svg>"
        )
        return "".join(out)

    all_values = [v for p in ordered for v in p.values]
    ticks, decimals = _nice_ticks(min(all_values), max(all_values))
    low, high = float(ticks[0]), float(ticks[-1])

    def y_of(value: Decimal) -> float:
        return bottom - (float(value) - low) / (high - low) * (bottom - top)

    for tick in ticks:
        y = y_of(tick)
        label = format_number(tick, decimals)
        out.append(
            f'<line x1="{left}" y1="{_fmt(y)}" x2="{right}" y2="{_fmt(y)}" stroke="#dddddd"/>'
            f'<text x="{left - 6}" y="{_fmt(y + 4)}" text-anchor="end">{escape(label)}</text>'
        )

    with_time = any(isinstance(p.at, dt.datetime) for p in ordered)
    first_at, last_at = instant(ordered[0].at), instant(ordered[-1].at)
    span = last_at - first_at
    inner_left, inner_right = left + 10, right - 10

    def x_of(at: dt.date | dt.datetime) -> float:
        if span.total_seconds() == 0:
            return (inner_left + inner_right) / 2
        share = (instant(at) - first_at) / span
        return inner_left + share * (inner_right - inner_left)

    # Long labels ("janv. 2024", "03/01 8h00") get three ticks, short ones four: at 12 px a
    # label takes about 6.5 px per character, and the plot is 270 px wide.
    long_labels = (span <= dt.timedelta(days=2) and with_time) or (
        dt.timedelta(days=120) < span <= _MONTH_LABELS
    )
    tick_count = 1 if span.total_seconds() == 0 else 3 if long_labels else 4
    previous = ""
    for index in range(tick_count):
        at = first_at + span * (index / max(tick_count - 1, 1))
        text = _tick_label(at.astimezone(tz), span, with_time)
        if text == previous:
            continue
        previous = text
        x = x_of(at)
        anchor = "middle"
        if tick_count > 1 and index == 0:
            anchor = "start"
        elif tick_count > 1 and index == tick_count - 1:
            anchor = "end"
        out.append(
            f'<line x1="{_fmt(x)}" y1="{bottom}" x2="{_fmt(x)}" y2="{bottom + 4}" '
            f'stroke="#666666"/><text x="{_fmt(x)}" y="{bottom + 18}" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )

    for series in range(count):
        colour = COLOURS[series % len(COLOURS)]
        coords = [(x_of(p.at), y_of(p.values[series])) for p in ordered]
        if len(coords) > 1:
            line = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in coords)
            out.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>'
            )
        for point, (x, y) in zip(ordered, coords, strict=True):
            name = f"{labels[series]} " if count > 1 else ""
            value = with_unit(format_number(point.values[series]), unit)
            tooltip = f"{format_date_fr(point.at, tz)} : {name}{value}"
            out.append(_marker(series, x, y, colour, tooltip))
    out.append("</svg>")
    return "".join(out)


def chart_table(
    points: Sequence[ChartPoint], *, unit: str, tz: dt.tzinfo = PARIS
) -> list[ChartRow]:
    """The rows of the table that goes with the chart, newest first, values formatted."""
    ordered = sorted(points, key=lambda p: instant(p.at), reverse=True)
    return [
        ChartRow(
            at=point.at,
            date_label=format_date_fr(point.at, tz),
            datetime_attr=point.at.isoformat(),
            values=tuple(with_unit(format_number(v), unit) for v in point.values),
        )
        for point in ordered
    ]
