"""envs.distance_to_nearest: Manhattan distance from cells to the nearest target cell."""

import numpy as np
import pytest

from adlib.envs import darkroom_split, distance_to_nearest


def test_known_distances_to_one_target():
    # 3x3 grid, the centre (cell 4) as the only target.
    np.testing.assert_array_equal(distance_to_nearest(np.arange(9), [4], 3), [2, 1, 2, 1, 0, 1, 2, 1, 2])


def test_nearest_of_several_targets():
    # 5x5 grid, targets in two opposite corners (0 = (0, 0) and 24 = (4, 4)).
    cells = np.array([0, 24, 12, 4, 6, 18, 20])
    np.testing.assert_array_equal(distance_to_nearest(cells, [0, 24], 5), [0, 0, 4, 4, 2, 2, 4])


def test_shape_is_kept_and_duplicate_targets_change_nothing():
    cells = np.array([[0, 8], [2, 6]])
    out = distance_to_nearest(cells, [4, 4, 4], 3)
    assert out.shape == (2, 2) and out.dtype == np.int64
    np.testing.assert_array_equal(out, [[2, 2], [2, 2]])


def test_whole_floats_are_accepted_and_empty_cells_give_an_empty_answer():
    np.testing.assert_array_equal(distance_to_nearest(np.array([0.0, 8.0]), [8], 3), [4, 0])
    assert distance_to_nearest(np.array([], dtype=np.int64), [0], 3).shape == (0,)


def test_darkroom_split_training_goals_are_at_distance_zero_and_held_out_goals_are_not():
    train, test = darkroom_split(9, n_test=16)
    assert (distance_to_nearest(train, train, 9) == 0).all()
    assert (distance_to_nearest(test, train, 9) >= 1).all()


@pytest.mark.parametrize("cells", [[9], [-1], [[0, 3], [4, 12]]])
def test_cells_outside_the_grid_are_rejected(cells):
    with pytest.raises(ValueError, match="cells must be cell indices in \\[0, 9\\)"):
        distance_to_nearest(cells, [4], 3)


def test_targets_outside_the_grid_are_rejected():
    with pytest.raises(ValueError, match="targets must be cell indices"):
        distance_to_nearest([0], [100], 9)


def test_fractional_cells_are_rejected():
    with pytest.raises(ValueError, match="cells must be whole cell indices"):
        distance_to_nearest([1.5], [0], 3)
    with pytest.raises(ValueError, match="cells must be whole cell indices"):
        distance_to_nearest([np.nan], [0], 3)
    with pytest.raises(ValueError, match="cells must be whole cell indices"):
        distance_to_nearest(np.array([True, False]), [0], 3)


def test_no_targets_is_rejected():
    with pytest.raises(ValueError, match="at least one cell"):
        distance_to_nearest([0], [], 3)


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "9"])
def test_bad_grid_size_is_rejected(size):
    with pytest.raises(ValueError, match="grid size"):
        distance_to_nearest([0], [0], size)
