"""How the book writes numbers into its pages: formatters, the table builder, and glue.

A chapter computes its numbers in code and writes its prose in Markdown cells; the numbers
(and any word that depends on them, such as a verdict) reach the prose through myst-nb's
glue: ``report.glue("ch1_ad_late", report.pm(ad_late))`` in code, then
``{glue:text}`ch1_ad_late``` in Markdown (``{glue:md}`` for text with Markdown in it).
"""

from __future__ import annotations

import math

from .stats import as_tuple


def pm(ms, digits: int = 2, unit: str = "") -> str:
    """``(mean, std)`` (or a record's ``{"mean", "std"}``) as ``"mean ± std"`` (``unit`` after
    both), with one more digit when the spread would otherwise print as zero."""
    mean, std = as_tuple(ms)
    if 0 < std < 0.5 * 10 ** -digits:
        digits += 1
    return f"{mean:.{digits}f}{unit} ± {std:.{digits}f}{unit}"


def pct(ms, decimals: int = 0) -> str:
    """A ``(mean, std)`` of fractions (or a record's ``{"mean", "std"}``) as percentages: ``(0.581, 0.083)`` -> ``"58% ± 8%"``."""
    mean, std = as_tuple(ms)
    return f"{mean:.{decimals}%} ± {std:.{decimals}%}"


def steps(x: float | None) -> str:
    """Environment steps to a level, or "never" (stored as infinity or null)."""
    return "never" if x is None or not math.isfinite(x) else f"{x:,.0f} steps"


def step_counts(values) -> str:
    """Environment steps per seed or run, smallest first, "never" for a run that never got there
    (infinity or None): ``[1100, inf, 900]`` -> ``"900, 1,100 and never"``."""
    reached = lambda v: v is not None and math.isfinite(v)  # noqa: E731
    words = [f"{v:,.0f}" for v in sorted(v for v in values if reached(v))] + ["never" for v in values if not reached(v)]
    if not words:
        raise ValueError("step_counts needs at least one value")
    return _listed(words)


def joined(values, digits: int = 2) -> str:
    """Numbers as words in a sentence: ``[0.46, 1.14, 1.93]`` -> ``"0.46, 1.14 and 1.93"``."""
    return _listed([f"{float(v):.{digits}f}" for v in values])


def _listed(words: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``"0.45×"``, or "—" when either is missing or infinite (never reached)."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return "—"
    return f"{a / b:.2f}×"


def ranges(values) -> str:
    """Sorted integers as ranges: ``[1, 2, 3, 5, 10, 11]`` -> ``"1–3, 5, 10–11"``."""
    values = sorted(int(v) for v in values)
    if not values:
        return ""
    parts, start = [], values[0]
    for a, b in zip(values, values[1:] + [None]):
        if b != a + 1:
            parts.append(str(start) if start == a else f"{start}–{a}")
            start = b
    return ", ".join(parts)


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
