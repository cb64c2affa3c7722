"""The recent-cycles chart: records per cycle by outcome (stacked bars) and cycle duration (a line), as SVG."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from robot.models import RobotCycle

WIDTH, HEIGHT, PAD = 640, 180, 28
# The progress bar's colours: the page's CSS uses the same ones for the legend.
OUTCOMES = (("done", "#2e7d32"), ("failed", "#c62828"), ("duplicates", "#9e9e9e"), ("cancelled", "#ef6c00"))
DURATION_COLOUR = "#1565c0"


def cycles_chart(cycles: list[RobotCycle]) -> SafeString:
    """Return an inline SVG of ``cycles`` (oldest first); an empty string when there is none."""
    if not cycles:
        return SafeString("")
    top = max(max(sum(getattr(c, name) for name, _ in OUTCOMES) for c in cycles), 1)
    slowest = max((c.duration or 0.0 for c in cycles), default=0.0) or 1.0
    step = (WIDTH - 2 * PAD) / len(cycles)
    plot = HEIGHT - 2 * PAD
    bars, points = [], []
    for index, cycle in enumerate(cycles):
        x, y = PAD + index * step, HEIGHT - PAD
        for name, colour in OUTCOMES:
            height = plot * getattr(cycle, name) / top
            if height:
                y -= height
                title = f"cycle {cycle.number}: {getattr(cycle, name)} {name}"
                bars.append((f"{x + step * 0.15:.1f}", f"{y:.1f}", f"{step * 0.7:.1f}", f"{height:.1f}", colour, title))
        if cycle.duration is not None:
            points.append(f"{x + step / 2:.1f},{HEIGHT - PAD - plot * cycle.duration / slowest:.1f}")
    rects = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>', bars)
    line = format_html(
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', " ".join(points), DURATION_COLOUR
    )
    return format_html(
        '<svg class="robot-chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        '<line x1="{p}" y1="{b}" x2="{r}" y2="{b}" stroke="#888"/>'
        '<text x="{p}" y="14" font-size="11">{top} records</text>'
        '<text x="{r}" y="14" font-size="11" text-anchor="end" fill="{dc}">{slowest} s</text>'
        '<text x="{p}" y="{t}" font-size="11">cycle {first}</text>'
        '<text x="{r}" y="{t}" font-size="11" text-anchor="end">cycle {last}</text>{rects}{line}</svg>',
        w=WIDTH,
        h=HEIGHT,
        p=PAD,
        r=WIDTH - PAD,
        b=HEIGHT - PAD,
        t=HEIGHT - 8,
        top=top,
        slowest=f"{slowest:.1f}",
        dc=DURATION_COLOUR,
        first=cycles[0].number,
        last=cycles[-1].number,
        label=f"Records per cycle by outcome and cycle duration, cycles {cycles[0].number} to {cycles[-1].number}",
        rects=rects,
        line=line,
    )
