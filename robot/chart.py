"""The recent-cycles chart: records per cycle by outcome (stacked bars) and cycle duration (a line), as SVG."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from robot.models import RobotCycle

WIDTH, HEIGHT, PAD = 640, 180, 28
SLOTS = 20  # bars keep their width however few cycles there are yet
# The progress bar's colours: the page's CSS uses the same ones for the legend.
OUTCOMES = (("done", "#2e7d32"), ("failed", "#c62828"), ("duplicates", "#9e9e9e"), ("cancelled", "#ef6c00"))
DURATION_COLOUR = "#1565c0"


def cycles_chart(cycles: list[RobotCycle]) -> SafeString:
    """Return an inline SVG of ``cycles`` (oldest first); an empty string when there is none."""
    if not cycles:
        return SafeString("")
    top = max(max(sum(getattr(c, name) for name, _ in OUTCOMES) for c in cycles), 1)
    slowest = max((c.duration or 0.0 for c in cycles), default=0.0) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(cycles), SLOTS)
    bars, dots = _bars(cycles, step, top), _dots(cycles, step, slowest)
    return format_html(
        '<svg class="robot-chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        '<line x1="{p}" y1="{b}" x2="{r}" y2="{b}" stroke="#888"/>'
        '<text x="{p}" y="14" font-size="11">{top} record{plural}</text>'
        '<text x="{r}" y="14" font-size="11" text-anchor="end" fill="{dc}">{slowest} s</text>'
        "{bars}{numbers}{line}{dots}</svg>",
        w=WIDTH,
        h=HEIGHT,
        p=PAD,
        r=WIDTH - PAD,
        b=HEIGHT - PAD,
        top=top,
        plural="" if top == 1 else "s",
        slowest=f"{slowest:.1f}",
        dc=DURATION_COLOUR,
        label=f"Records per cycle by outcome and cycle duration, cycles {cycles[0].number} to {cycles[-1].number}",
        bars=format_html_join(
            "", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>', bars
        ),
        numbers=format_html_join(
            "",
            '<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>',
            ((f"{PAD + (i + 0.5) * step:.1f}", HEIGHT - 10, c.number) for i, c in enumerate(cycles)),
        ),
        line=format_html(
            '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>',
            " ".join(f"{x},{y}" for x, y, _ in dots),
            DURATION_COLOUR,
        ),
        dots=format_html_join(
            "", '<circle cx="{}" cy="{}" r="3" fill="' + DURATION_COLOUR + '"><title>{}</title></circle>', dots
        ),
    )


def _bars(cycles: list[RobotCycle], step: float, top: int) -> list[tuple[str, ...]]:
    """Return one stacked rectangle (x, y, width, height, colour, title) per non-zero outcome of each cycle."""
    plot = HEIGHT - 2 * PAD
    bars: list[tuple[str, ...]] = []
    for index, cycle in enumerate(cycles):
        y = HEIGHT - PAD
        for name, colour in OUTCOMES:
            count = getattr(cycle, name)
            if count:
                height = plot * count / top
                y -= height
                x, width = PAD + (index + 0.15) * step, step * 0.7
                bars.append(
                    (
                        f"{x:.1f}",
                        f"{y:.1f}",
                        f"{width:.1f}",
                        f"{height:.1f}",
                        colour,
                        f"cycle {cycle.number}: {count} {name}",
                    )
                )
    return bars


def _dots(cycles: list[RobotCycle], step: float, slowest: float) -> list[tuple[str, str, str]]:
    """Return the duration point (x, y, title) of each finished cycle."""
    plot = HEIGHT - 2 * PAD
    return [
        (
            f"{PAD + (i + 0.5) * step:.1f}",
            f"{HEIGHT - PAD - plot * c.duration / slowest:.1f}",
            f"cycle {c.number}: {c.duration:.1f} s",
        )
        for i, c in enumerate(cycles)
        if c.duration is not None
    ]
