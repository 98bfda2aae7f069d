import json
import re

import pytest

from adlib.cli import main


def test_baselines_command_prints_a_table(capsys):
    assert main(["baselines", "--n-bandits", "2000", "--steps", "100", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0]: line.split() for line in out.splitlines()[2:]}
    assert set(rows) == {"optimistic greedy", "epsilon-greedy", "UCB1", "Thompson sampling", "random"}
    thompson_regret = float(rows["Thompson sampling"][-1])
    random_regret = float(rows["random"][-1])
    assert 30 < thompson_regret < 46 and 145 < random_regret < 163


@pytest.mark.parametrize("option,value,least", [("--arms", "1", 2), ("--steps", "0", 1), ("--n-bandits", "-5", 1)])
def test_bad_arguments_exit_with_a_message(option, value, least, capsys):
    with pytest.raises(SystemExit):
        main(["baselines", option, value])
    assert f"argument {option}: must be >= {least}, got {value}" in capsys.readouterr().err


def test_run_rejects_missing_notebook(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.ipynb"), "--output-dir", str(tmp_path)]) == 2
    assert "no such notebook" in capsys.readouterr().err


@pytest.mark.parametrize("room,coordinates,every,tasks", [("hard", False, 2, "held-out"), ("hard", False, 1, "validation"),
                                                          ("key-to-door", True, 1, "validation"), ("key-to-door", False, 2, "held-out")])
def test_trial_trains_a_variant_and_reports_its_results(room, coordinates, every, tasks, capsys, tmp_path):
    record = tmp_path / "trials.jsonl"
    argv = ["trial", room, "--scale", "small", "--steps", "4", "--context-len", "24", "--layers", "1", "--histories", "2",
            "--batch-size", "8", "--eval-seeds", "1", "--every-episode", str(every), "--tasks", tasks, "--record", str(record)]
    assert main(argv + ["--coordinates"] * coordinates) == 0
    out = capsys.readouterr().out
    # small scale: every 10th training goal (21 of the 209 left beside the validation and held-out goals) or 60 pairs, x 2
    n_histories = 42 if room == "hard" else 120
    embedded = "coordinates embedded, " if coordinates or room == "hard" else ""  # the chapter embeds them in hard
    kept = re.search(r"histories( \(1 episode in 2 kept, cut to (\d+) steps\))?,", out)
    assert (kept.group(1) is not None) == (every == 2)
    if every == 2:
        # Small-scale source runs are 400 (hard) or 300 steps; twice as long, with about every second step kept,
        # what is left is more than half of one run (a run not made longer keeps about half of its steps).
        run_steps = 400 if room == "hard" else 300
        assert run_steps / 2 < int(kept.group(2)) <= run_steps
    assert f"{room}: {n_histories} histories{kept.group(1) or ''}, context 24, 1 layers, {embedded}4 steps of 8 windows, " \
           f"training seed 0" in out
    assert f"6 {tasks} tasks, 6 episodes, sampled actions, 1 evaluation seed(s)" in out
    first, last = map(float, re.search(r"([0-9.]+) over the first 3 episodes, ([0-9.]+) over the last 3", out).groups())
    top = 1 if room == "hard" else 2
    assert 0 <= first <= top and 0 <= last <= top
    assert ("door after it" in out) == (room == "key-to-door")
    [line] = record.read_text().splitlines()
    saved = json.loads(line)
    assert saved["command"].startswith(f"adlib trial {room} --scale small") and saved["tasks"] == tasks
    assert (round(saved["first"], 3), round(saved["last"], 3)) == (first, last) and saved["histories"] == n_histories
    assert saved["final_loss"] > 0 and saved["training_seconds"] >= 0 and saved["code"] and saved["cpu"]
    assert ("door_after_key_last" in saved) == (room == "key-to-door")


def test_validation_tasks_are_apart_from_training_and_held_out_tasks():
    from adlib import envs

    train, test = envs.darkroom_split(17, n_test=40)
    kept, val = envs.validation_goals(17, n_test=40, n_val=40)
    assert len(val) == 40 and not set(val) & set(test) and not set(val) & set(kept) and set(kept) | set(val) == set(train)
    assert 8 * 17 + 8 not in val  # the start cell
    pairs_train, pairs_test = envs.key_door_split(9, n_train=2000, n_test=40)
    pairs_val = envs.validation_key_doors(9, n_train=2000, n_test=40, n_val=40)
    as_set = lambda a: set(map(tuple, a.tolist()))  # noqa: E731
    assert len(as_set(pairs_val)) == 40 and not as_set(pairs_val) & (as_set(pairs_train) | as_set(pairs_test))
    assert (pairs_val[:, 0] != pairs_val[:, 1]).all()
    with pytest.raises(ValueError, match="n_val"):
        envs.validation_goals(17, n_test=40, n_val=249)


@pytest.mark.parametrize("option,value", [("--steps", "0"), ("--context-len", "-1"), ("--histories", "0"), ("--eval-seeds", "0")])
def test_trial_names_a_non_positive_setting(option, value, capsys):
    with pytest.raises(SystemExit):
        main(["trial", "hard", option, value])
    assert f"argument {option}: must be >= 1, got {value}" in capsys.readouterr().err
