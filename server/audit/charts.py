"""Small charts drawn on the server as inline SVG: no chart library, no script, a few kilobytes.

Each chart is an image with a name (`role="img"`, `<title>` and `<desc>` joined by `aria-labelledby`), its
values written on it, and the page keeps the same numbers in a table for screen readers and for copying.
The drawing is 360 units wide and scales to its box, so it reads on a 360 px phone and on a desk.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 360
FONT = 11
BAR = "#c2410c"
LINE = "#0b57d0"
AXIS = "#767676"
INK = "#1a1a1a"


def _svg(chart_id: str, title: str, description: str, height: int, body: list[str]) -> Markup:
    return Markup(
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui, sans-serif" font-size="{FONT}">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
        + "".join(body) + "</svg>")


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(chart_id: str, title: str, description: str, bars: Sequence[tuple[str, float]],
              value_text: Callable[[float], str] = _n, empty_text: str = "—") -> Markup:
    """Horizontal bars, one per label, the value written at the end of each (labels stay legible on a phone)."""
    row, top, label_width = 22, 6, 120
    height = top * 2 + row * max(1, len(bars))
    peak = max((value for _, value in bars), default=0) or 1
    span = WIDTH - label_width - 60
    body = [f'<line x1="{label_width}" y1="{top - 2}" x2="{label_width}" y2="{height - top + 2}" '
            f'stroke="{AXIS}" stroke-width="1"/>']
    if not bars:
        body.append(f'<text x="{label_width + 6}" y="{top + 15}" fill="{INK}">{escape(empty_text)}</text>')
    for k, (label, value) in enumerate(bars):
        y = top + k * row
        length = 0 if value <= 0 else max(1.0, span * value / peak)
        short = label if len(label) <= 18 else label[:17] + "…"
        body.append(f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" fill="{INK}">'
                    f'{escape(short)}</text>')
        body.append(f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" fill="{BAR}">'
                    f'<title>{escape(label)}: {escape(value_text(value))}</title></rect>')
        body.append(f'<text x="{label_width + length + 4:.1f}" y="{y + 15}" fill="{INK}">'
                    f'{escape(value_text(value))}</text>')
    return _svg(chart_id, title, description, height, body)


def line_chart(chart_id: str, title: str, description: str, points: Sequence[tuple[str, float | None]],
               value_text: Callable[[float], str] = _n, empty_text: str = "—") -> Markup:
    """A line over the points in order (days); a missing value breaks the line. The first, middle and last
    labels go under the axis, the highest value beside it; every point carries its own <title> when there are
    few enough to point at."""
    height, left, right, top, bottom = 180, 44, 10, 12, 26
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for _, v in points if v is not None]
    peak = max(values, default=0) or 1
    body = [f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{AXIS}"/>',
            f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{AXIS}"/>',
            f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" fill="{INK}">{escape(value_text(peak))}</text>',
            f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" fill="{INK}">{escape(value_text(0))}</text>']
    if not values:
        body.append(f'<text x="{left + 8}" y="{top + plot_h / 2:.0f}" fill="{INK}">{escape(empty_text)}</text>')
        return _svg(chart_id, title, description, height, body)

    def x(k: int) -> float:
        return left + (plot_w * k / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / peak

    segments, current = [], []
    for k, (_, value) in enumerate(points):
        if value is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(f"{x(k):.1f},{y(value):.1f}")
    if current:
        segments.append(current)
    for segment in segments:
        if len(segment) == 1:
            cx, cy = segment[0].split(",")
            body.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{LINE}"/>')
        else:
            body.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
    if len(points) <= 62:
        for k, (label, value) in enumerate(points):
            if value is not None:
                body.append(f'<circle cx="{x(k):.1f}" cy="{y(value):.1f}" r="2.5" fill="{LINE}">'
                            f'<title>{escape(label)}: {escape(value_text(value))}</title></circle>')
    ticks = sorted({0, (len(points) - 1) // 2, len(points) - 1})
    for k in ticks:
        anchor = "start" if k == 0 and len(points) > 1 else "end" if k == len(points) - 1 and k else "middle"
        body.append(f'<text x="{x(k):.1f}" y="{height - 8}" text-anchor="{anchor}" fill="{INK}">'
                    f'{escape(points[k][0])}</text>')
    return _svg(chart_id, title, description, height, body)
