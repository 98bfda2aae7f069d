"""The book's number formatters and glue."""

import math

from adlib import report


def test_pm_adds_a_digit_only_when_the_spread_would_print_as_zero():
    assert report.pm((0.5812, 0.083)) == "0.58 ± 0.08"
    assert report.pm((11.899, 0.0164), 1) == "11.90 ± 0.02"
    assert report.pm((11.899, 0.0), 1) == "11.9 ± 0.0"
    assert report.pm((45.0, 1.25), 1, unit="%") == "45.0% ± 1.2%"


def test_pct_and_steps():
    assert report.pct((0.581, 0.083)) == "58% ± 8%"
    assert report.pct((0.5, 0.01), 1) == "50.0% ± 1.0%"
    assert report.steps(980.0) == "980 steps"
    assert report.steps(math.inf) == "never" and report.steps(None) == "never"


def test_glue_returns_nothing_so_a_cell_ending_with_it_shows_nothing():
    assert report.glue("test_value", 3.5) is None
    assert report.glue("test_text", "**above**", markdown=True) is None


def test_pm_reads_a_record_dict_too():
    assert report.pm({"mean": 0.5812, "std": 0.083}) == report.pm((0.5812, 0.083))


def test_glue_hands_numpy_scalars_over_as_plain_numbers(monkeypatch):
    import sys
    import types

    import numpy as np

    seen = {}
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=True: seen.update({name: value})
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    report.glue("x", np.float64(45.5))
    assert type(seen["x"]) is float and repr(seen["x"]) == "45.5"  # its text/plain, which {glue:text}`x:.1f` formats
    report.glue("n", np.int64(3))
    assert type(seen["n"]) is int


def test_step_counts_ratio_and_ranges():
    assert report.step_counts([1100.0, math.inf, 900.0]) == "900, 1,100 and never"
    assert report.step_counts([None]) == "never" and report.step_counts([20.0]) == "20"
    assert report.ratio(500.0, 1000.0) == "0.50×"
    assert report.ratio(math.inf, 1000.0) == "—" and report.ratio(500.0, None) == "—"
    assert report.ranges([11, 10, 1, 2, 3, 5]) == "1–3, 5, 10–11" and report.ranges([]) == ""


def test_pm_and_pct_read_every_form_of_a_mean_and_spread():
    assert report.pct({"mean": 0.581, "std": 0.083}) == "58% ± 8%"
    assert report.pm(0.5) == "0.50 ± 0.00" and report.pm([0.5, 0.1]) == "0.50 ± 0.10"


def test_joined():
    assert report.joined([0.456, 1.14, 1.93]) == "0.46, 1.14 and 1.93" and report.joined([2], 1) == "2.0"
