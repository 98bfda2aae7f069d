"""The grid rooms' recurring figures draw what they are given, and reject what they cannot draw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from adlib import room_figures  # noqa: E402


def test_fraction_of_optimal_draws_a_line_per_method_and_the_marks():
    fig, ax = plt.subplots()
    curves = {"AD": np.full((3, 12), 0.5), "random": np.full((2, 12), 0.1)}
    room_figures.plot_fraction_of_optimal(ax, curves, training_episodes=5, steps_per_episode=20, mark=0.8)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["AD", "random", "optimal", "80% of optimal", "longest training history (5 episodes)"]
    assert ax.get_ylim() == (0, 1.05)
    fig2, bx = plt.subplots()
    room_figures.plot_fraction_of_optimal(bx, curves, training_episodes=12)  # no run past the training histories: no line
    assert bx.get_legend_handles_labels()[1] == ["AD", "random", "optimal"]
    plt.close("all")


def test_path_grid_has_a_panel_per_task_and_episode():
    observations = np.tile(np.arange(40) % 81, (3, 1))  # 3 tasks, 2 episodes of 20 steps
    returns = np.array([[0, 3], [1, 0], [0, 0]])
    rows = {"first": (observations[0], returns[0], 10), "third": (observations[2], returns[2], 30)}
    fig = room_figures.path_grid(rows, [1, 2], 9, 20)
    assert len(fig.axes) == 4 and fig.axes[1].get_title() == "ep. 2: 3" and fig.axes[0].get_ylabel() == "first"
    plt.close("all")


def test_first_successes_mark_never_found_tasks_and_the_median():
    fig, ax = plt.subplots()
    first = np.array([[2.0, np.inf], [4.0, np.inf], [6.0, 3.0]])  # 3 runs, 2 tasks
    room_figures.plot_first_successes(ax, first, ["a", "b"], n_episodes=10)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert set(ax.get_legend_handles_labels()[1]) == {"first success of one run", "never found (the more runs, the larger)",
                                                      "median over runs"}
    fig2, bx = plt.subplots()
    room_figures.plot_task_levels(bx, np.array([2, 2, 5]), np.array([[0.5, 0.6, 0.2], [0.7, 0.6, 0.4]]), far=4)
    plt.close("all")


def test_step_frames_are_one_png_per_episode():
    returns = np.array([0, 5, 0, 7, 0, 0], dtype=float)
    pngs = room_figures.room_step_pngs(np.arange(120) % 81, returns, goal=40, optimal=18.0, episodes=[1, 4, 6], window=2, size=9,
                                       horizon=20, dpi=30)
    assert len(pngs) == 3 and all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    with pytest.raises(ValueError, match="episodes must be in"):
        room_figures.room_step_pngs(np.arange(120), returns, 40, 18.0, [7], 2, 9, 20)


def test_episode_strip_draws_the_chosen_episodes():
    paths = [np.array([40, 41]), np.array([40, 31, 22]), np.array([40])]
    fig = room_figures.episode_strip(paths, np.array([0, 1, 2]), [1, 3], goal=22, size=9, key=41)
    assert [ax.get_title() for ax in fig.axes] == ["ep. 1: 0", "ep. 3: 2"]
    plt.close("all")


def test_paths_step_pngs_one_png_per_frame():
    frames = [("the prompt", [(np.array([40, 41]), "made up", "#7f7f7f")]),
              ("episode 1", [(np.array([40, 31]), "AD", "#1f77b4"), (np.array([40, 49]), "copy", "#e377c2")])]
    pngs = room_figures.paths_step_pngs(frames, goal=22, size=9, key=41, dpi=30)
    assert len(pngs) == 2 and all(p[:4] == b"\x89PNG" for p in pngs)
