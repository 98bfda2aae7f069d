"""How the book writes numbers into its pages: formatters, the table builder, and glue.

A chapter computes its numbers in code and writes its prose in Markdown cells; the numbers
(and any word that depends on them, such as a verdict) reach the prose through myst-nb's
glue: ``report.glue("ch1_ad_late", report.pm(ad_late))`` in code, then
``{glue:text}`ch1_ad_late``` in Markdown (``{glue:md}`` for text with Markdown in it).
"""

from __future__ import annotations

import math


def pm(ms, digits: int = 2, unit: str = "") -> str:
    """``(mean, std)`` (or a record's ``{"mean", "std"}``) as ``"mean ± std"`` (``unit`` after
    both), with one more digit when the spread would otherwise print as zero."""
    mean, std = (float(ms["mean"]), float(ms["std"])) if isinstance(ms, dict) else (float(ms[0]), float(ms[1]))
    if 0 < std < 0.5 * 10 ** -digits:
        digits += 1
    return f"{mean:.{digits}f}{unit} ± {std:.{digits}f}{unit}"


def pct(ms, decimals: int = 0) -> str:
    """A ``(mean, std)`` of fractions as percentages: ``(0.581, 0.083)`` -> ``"58% ± 8%"``."""
    return f"{float(ms[0]):.{decimals}%} ± {float(ms[1]):.{decimals}%}"


def steps(x: float | None) -> str:
    """Environment steps to a level, or "never" (stored as infinity or null)."""
    return "never" if x is None or not math.isfinite(x) else f"{x:,.0f} steps"


def format_flops(flops: float) -> str:
    """``3.0e14`` -> ``"300 TFLOP"``; below a TFLOP in GFLOP, so small runs do not read as 0."""
    flops = float(flops)
    return f"{flops / 1e12:,.0f} TFLOP" if flops >= 1e12 else f"{flops / 1e9:,.0f} GFLOP"


def format_seconds(seconds: float) -> str:
    """``754.2`` -> ``"754 s (12 min 34 s)"``."""
    seconds = float(seconds)
    minutes, secs = divmod(seconds, 60)
    return f"{seconds:,.0f} s" if minutes < 1 else f"{seconds:,.0f} s ({int(minutes)} min {secs:.0f} s)"


def markdown_table(header, rows) -> str:
    """A Markdown table: ``header`` cells, then one row per sequence of cells."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def glue(name: str, value, markdown: bool = False) -> None:
    """Hand ``value`` to the page's Markdown under ``name`` (myst-nb's glue, shown nowhere else).
    Returns nothing, so a cell that ends with it shows nothing. A NumPy scalar is glued as a
    plain number, so that a format such as ``{glue:text}`name:.1f``` applies to it. ``markdown=True`` glues a string as Markdown, for
    ``{glue:md}``. Without myst-nb, nothing is glued."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a NumPy scalar: glued as its plain number
        value = value.item()
    if markdown:
        from IPython.display import Markdown

        myst_glue(name, Markdown(str(value)), display=False)
    else:
        myst_glue(name, value, display=False)
