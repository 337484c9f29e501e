"""Server-rendered SVG bar charts for the Insights page (no JavaScript, no inline CSS).

Each chart is a horizontal bar chart in a ``viewBox`` 320 units wide, scaled to the column (the
stylesheet caps its width, so text stays 12-13 px from a 360 px phone to a desktop). Every label
sits on its own line above its bars, so long question texts never squeeze the bars. The chart is
``role="img"`` with a title; the page puts the same numbers in a table beside it (the accessible
version), and the SVG says so with ``aria-describedby``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 320
BAR = 9  # bar height
GAP = 3  # between the bars of one row
LABEL = 15  # the label line above a row's bars
ROW_GAP = 8
MAX_LABEL = 48  # characters; the table has the full text
#: Series colours (fill classes in admin-insights.css), distinguishable without colour by their order
#: and their legend; contrast >= 3:1 against white.
SERIES = ("s1", "s2", "s3")


@dataclass(frozen=True)
class Row:
    label: str
    values: Sequence[int | float]
    texts: Sequence[str] | None = None  # what to print at each bar's end (default: the value)


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def bar_chart(chart_id: str, title: str, series: Sequence[str], rows: Sequence[Row], table_id: str) -> Markup:
    """An SVG chart of ``rows`` (one bar per series each), described by the table ``table_id``."""
    top = 8 + (LABEL if len(series) > 1 else 0)
    per_row = LABEL + len(series) * (BAR + GAP) + ROW_GAP
    height = top + max(1, len(rows)) * per_row
    biggest = max((v for row in rows for v in row.values), default=0) or 1
    span = WIDTH - 48  # room for the number after the longest bar
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title" aria-describedby="{escape(table_id)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
    ]
    if len(series) > 1:  # the legend
        x = 0
        for i, name in enumerate(series):
            parts.append(f'<rect class="{SERIES[i % 3]}" x="{x}" y="2" width="10" height="10"/>')
            parts.append(f'<text class="legend" x="{x + 14}" y="11">{escape(name)}</text>')
            x += 20 + 7 * len(name)
    if not rows:
        parts.append(f'<text class="label" x="0" y="{top + 12}">Nothing in this period.</text>')
    y = top
    for row in rows:
        parts.append(f'<text class="label" x="0" y="{y + 11}">{escape(_short(row.label))}</text>')
        y += LABEL
        for i, value in enumerate(row.values):
            length = round(span * value / biggest, 1)
            text = row.texts[i] if row.texts is not None else f"{value:,}"
            parts.append(
                f'<rect class="{SERIES[i % 3]}" x="0" y="{y}" width="{max(length, 0.5)}" height="{BAR}"/>'
            )
            parts.append(f'<text class="value" x="{length + 4}" y="{y + BAR - 1}">{escape(text)}</text>')
            y += BAR + GAP
        y += ROW_GAP
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every label and number above is escaped)
