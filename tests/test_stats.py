"""The book's one comparison rule and its statistics over seeds."""

import itertools

import numpy as np
import pytest

from adlib.stats import PERCENT_POINT, compare, mean_and_spread, mean_by_group, why_level

MIRROR = {"above": "below", "below": "above", "level with": "level with"}


def test_compare_counts_a_gap_beyond_twice_the_larger_std():
    assert compare((50.0, 1.0), (45.0, 0.0)) == "above"
    assert compare((50.0, 3.0), (45.0, 0.0)) == "level with"  # gap inside 2 std of a
    assert compare((50.0, 0.0), (45.0, 3.0)) == "level with"  # ... or of b
    assert compare((40.0, 0.1), (45.0, 0.0)) == "below"
    assert compare((45.5, 0.01), (45.0, 0.0)) == "above"
    assert compare((45.5, 0.01), (45.0, 0.0), min_margin=PERCENT_POINT) == "level with"  # below the 1-point floor


def test_compare_is_symmetric_where_the_one_sided_rule_was_not():
    # Two cases the one-sided rule (2 std of the first estimate only) decided by argument order.
    assert compare((63.3, 3.2), (68.7, 0.6)) == compare((68.7, 0.6), (63.3, 3.2)) == "level with"
    assert compare((11.1, 0.4), (9.8, 0.9)) == compare((9.8, 0.9), (11.1, 0.4)) == "level with"
    rng = np.random.default_rng(0)
    for _ in range(500):
        a, b = (tuple(x) for x in rng.uniform([0, 0], [10, 2], size=(2, 2)))
        for margin in (0.0, 1.0):
            assert compare(b, a, margin) == MIRROR[compare(a, b, margin)]


def test_compare_calls_an_estimate_with_nan_level():
    for a, b in itertools.product([(np.nan, 1.0), (1.0, np.nan)], [(5.0, 0.0)]):
        assert compare(a, b) == compare(b, a) == "level with"


def test_why_level_says_whether_noise_or_the_margin_hides_a_gap():
    assert why_level((11.85, 0.03), (12.18, 0.01), n_seeds=3, min_margin=PERCENT_POINT) == (
        "a gap of -0.33, beyond 2 std but within the 1-point margin the book treats as level")
    assert why_level((11.0, 1.0), (12.0, 0.5), n_seeds=3) == "not distinguishable with 3 seeds"
    assert why_level((12.0, 0.1), (11.0, 1.0), n_seeds=3) == "not distinguishable with 3 seeds"  # b's spread hides it
    assert why_level((15.0, 0.5), (12.0, 0.5), n_seeds=3) == ""  # compare() separates them


def test_mean_and_spread_and_group_means():
    assert mean_and_spread([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    assert mean_and_spread([4.0, np.nan]) == (4.0, 0.0)
    assert all(np.isnan(mean_and_spread([np.nan])))
    np.testing.assert_allclose(mean_by_group([1.0, 3.0, 10.0, np.nan], [0, 0, 1, 1]), [2.0, 10.0])
    with pytest.raises(ValueError, match="group labels"):
        mean_by_group([1.0, 2.0], [0])


def test_compare_percent_is_compare_with_the_one_point_floor():
    from adlib.stats import compare_percent
    assert compare_percent((45.5, 0.01), (45.0, 0.0)) == "level with"
    assert compare_percent((46.5, 0.01), (45.0, 0.0)) == "above"
    assert compare_percent((46.5, 1.0), (45.0, 0.0)) == "level with"


def test_as_dict_and_as_tuple_round_trip():
    from adlib.stats import as_dict, as_tuple

    assert as_dict((np.float32(0.5), 0.25)) == {"mean": 0.5, "std": 0.25}
    assert as_tuple(as_dict((0.5, 0.25))) == (0.5, 0.25)
    assert as_tuple([1.0]) == (1.0, 0.0) and as_tuple(2) == (2.0, 0.0) and as_tuple({"mean": 3}) == (3.0, 0.0)
