"""Charts as SVG drawn on the server: no script, no external service, readable on a 360 px phone.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by its ``<desc>``
(which says the numbers in words, for a screen reader); the page puts the same numbers in a table
beside it. Shapes carry presentation attributes only (the app's CSP allows no inline style).
Every text that comes from data is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 320
"""The viewBox width: the chart scales to its box, so its text stays readable on a phone."""
BLUE, RED, GREEN, GREY = "#0b4f8a", "#a00000", "#2c7a3b", "#6b6b6b"


@dataclass(frozen=True, slots=True)
class Series:
    """One measure drawn in a chart: its name (in the legend) and colour."""

    name: str
    colour: str


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _frame(key: str, title: str, description: str, height: float, body: list[str]) -> Markup:
    ids = f"grafik-{escape(key)}"
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="grafik" viewBox="0 0 {WIDTH} {_number(height)}" '
            f'role="img" aria-labelledby="{ids}-judul {ids}-uraian" font-family="system-ui, sans-serif" '
            f'font-size="13"><title id="{ids}-judul">{escape(title)}</title>'
            f'<desc id="{ids}-uraian">{escape(description)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def _legend(series: Sequence[Series], y: float) -> list[str]:
    parts, x = [], 0.0
    for s in series:
        parts.append(f'<rect x="{_number(x)}" y="{_number(y - 10)}" width="12" height="12" fill="{s.colour}"/>'
                     f'<text x="{_number(x + 16)}" y="{_number(y)}" fill="#1b1b1b">{escape(s.name)}</text>')
        x += 24 + 7.5 * len(s.name)
    return parts


def bars(key: str, title: str, description: str, labels: Sequence[str], values: Sequence[Sequence[float]],
         series: Sequence[Series], *, texts: Sequence[Sequence[str]] | None = None,
         stacked_inside: bool = False) -> Markup:
    """Horizontal bars, one group per label (its name above it), one bar per series.

    ``stacked_inside``: the second series is part of the first (overdue among open) and is drawn
    over the start of the first bar instead of below it. The numbers are written at the end of the
    bars, or, with ``texts``, as each group's lines of text under them.
    """
    top = 22.0
    per_bar, gap = 14.0, 10.0
    bars_per_group = 1 if stacked_inside else len(series)
    lines = max((len(t) for t in texts), default=0) if texts is not None else 0
    group_height = 16 + bars_per_group * per_bar + 15 * lines + gap
    height = top + 8 + group_height * len(labels)
    most = max([v for row in values for v in row] + [1.0])
    room = WIDTH - 60
    body = _legend(series, 14)
    for index, (label, row) in enumerate(zip(labels, values)):
        y = top + 8 + index * group_height
        body.append(f'<text x="0" y="{_number(y + 12)}" fill="#1b1b1b">{escape(label)}</text>')
        for bar, value in enumerate(row):
            offset = y + 16 + (0 if stacked_inside else bar * per_bar)
            body.append(f'<rect x="0" y="{_number(offset)}" width="{_number(room * value / most)}" '
                        f'height="{_number(per_bar - 2)}" fill="{series[bar].colour}"/>')
        if texts is not None:
            for line, said in enumerate(texts[index]):
                below = y + 16 + bars_per_group * per_bar + 11 + 15 * line
                body.append(f'<text x="0" y="{_number(below)}" fill="{GREY}">{escape(said)}</text>')
        else:
            end = room * (max(row) if row else 0) / most
            said = " / ".join(_number(v) for v in row)
            body.append(f'<text x="{_number(end + 6)}" y="{_number(y + 27)}" fill="#1b1b1b">{escape(said)}</text>')
    return _frame(key, title, description, height, body)


def columns(key: str, title: str, description: str, labels: Sequence[str], values: Sequence[Sequence[float]],
            series: Sequence[Series], *, every: int | None = None) -> Markup:
    """Vertical bars side by side per label (a week), with a scale; ``every``-th label written below."""
    top, bottom, left = 26.0, 34.0, 34.0
    plot = 170.0
    height = top + plot + bottom
    most = max([v for row in values for v in row] + [1.0])
    step = (WIDTH - left) / max(1, len(labels))
    width = max(1.0, (step - 3) / max(1, len(series)))
    shown = every or max(1, -(-len(labels) // 4))
    body = _legend(series, 14)
    for tick in (0.0, most / 2, most):
        y = top + plot - plot * tick / most
        body.append(f'<line x1="{_number(left)}" x2="{WIDTH}" y1="{_number(y)}" y2="{_number(y)}" stroke="#cccccc"/>'
                    f'<text x="{_number(left - 4)}" y="{_number(y + 4)}" text-anchor="end" font-size="11" fill="{GREY}">'
                    f'{_number(tick)}</text>')
    for index, (label, row) in enumerate(zip(labels, values)):
        x = left + index * step + 1
        for bar, value in enumerate(row):
            h = plot * value / most
            body.append(f'<rect x="{_number(x + bar * width)}" y="{_number(top + plot - h)}" width="{_number(width)}" '
                        f'height="{_number(h)}" fill="{series[bar].colour}"/>')
        if index % shown == 0:
            body.append(f'<text x="{_number(x)}" y="{_number(top + plot + 16)}" font-size="11" fill="{GREY}">'
                        f'{escape(label)}</text>')
    return _frame(key, title, description, height, body)
