import dataclasses
import json

import pytest

from adlib import trials


def record(room="hard", last=0.5, steps=3000, histories=836, tasks="validation", scale="full", **extra):
    return {"command": f"adlib trial {room}", "room": room, "tasks": tasks, "scale": scale, "code": "abc", "cpu": "cpu",
            "model": {"context_len": 80, "n_layers": 2, "coordinate_embedding": False},
            "train": {"steps": steps, "batch_size": 64, "seed": 0}, "histories": histories, "training_seconds": 100.0,
            "final_loss": 0.7, "first": 0.1, "last": last, "eval_seeds": 2, "window_episodes": 10, **extra}


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_read_trials_keeps_order_and_skips_blank_lines(tmp_path):
    path = write(tmp_path / "t.jsonl", [record(last=0.1), record(last=0.2)])
    path.write_text(path.read_text() + "\n")
    assert [r["last"] for r in trials.read_trials(path)] == [0.1, 0.2]


def test_read_trials_names_file_and_line_of_a_bad_record(tmp_path):
    path = write(tmp_path / "t.jsonl", [record()])
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ValueError, match=r"t.jsonl, line 2: not JSON"):
        trials.read_trials(path)
    broken = record()
    del broken["last"]
    write(path, [record(), broken])
    with pytest.raises(ValueError, match=r"line 2: missing last"):
        trials.read_trials(path)
    with pytest.raises(FileNotFoundError, match="adlib trial ROOM --record"):
        trials.read_trials(tmp_path / "none.jsonl")


def test_choose_takes_the_cheapest_setting_close_to_the_best_and_ignores_held_out_scores():
    cheap_close = record(last=0.70, steps=3000)
    best = record(last=0.74, steps=12000)
    far_cheaper = record(last=0.60, steps=1500)
    held_out = record(last=0.99, steps=1000, tasks="held-out")
    small = record(last=0.99, steps=30, scale="small")
    other_room = record(room="key-to-door", last=1.9, steps=10)
    records = [far_cheaper, best, cheap_close, held_out, small, other_room]
    assert trials.choose(records, "hard") is cheap_close
    assert trials.choose(records, "hard", tolerance=0.01) is best
    assert trials.choose(records, "key-to-door") is other_room
    with pytest.raises(ValueError, match="no full-scale validation trials"):
        trials.choose([held_out], "hard")
    with pytest.raises(ValueError, match="room must be"):
        trials.select(records, "bandit")


def test_trial_table_bolds_the_chosen_row_and_shows_door_after_key():
    a, b = record(last=0.5), record(last=0.6, steps=6000)
    header, rows, shared = trials.trial_table([a, b, record(tasks="held-out")], "hard", chosen=b)
    assert header[0] == "optimiser steps" and len(rows) == 2  # the histories are the same in both: shared
    assert shared["training histories"] == "836" and shared["machine"] == "cpu"  # no core count: the CPU's name alone
    assert rows[0][header.index("last 10")] == "0.50" and rows[1][header.index("last 10")] == "**0.60**"
    header, rows, shared = trials.trial_table([record(room="key-to-door", door_after_key_last=0.64)], "key-to-door")
    assert shared == {} and "machine" in header  # one row: nothing is moved out
    assert rows[0][header.index("door after key")] == "64%"


def test_training_tokens():
    assert trials.training_tokens(record(steps=3000)) == 3000 * 64 * 80


def test_the_chapter_uses_the_dark_room_hard_setting_the_rule_picks_from_the_committed_trials():
    from adlib.experiments import harder_rooms_experiment

    x = harder_rooms_experiment("full")
    chosen = trials.choose(trials.read_trials(trials.TRIALS_DIR / "05_harder_dark_rooms.jsonl"), "hard")
    n_histories = len(x.hard_source.goals) * x.hard_source.histories_per_goal
    assert trials.matches(chosen, n_histories, x.hard_model, x.hard_budget)
    # and a setting that differs in any one way does not match
    assert not trials.matches(chosen, n_histories + 1, x.hard_model, x.hard_budget)
    assert not trials.matches(chosen, n_histories, dataclasses.replace(x.hard_model, n_layers=3), x.hard_budget)
    assert not trials.matches(chosen, n_histories, x.hard_model, dataclasses.replace(x.hard_budget, lr=1e-3))
    assert trials.matches(chosen, n_histories, x.hard_model, dataclasses.replace(x.hard_budget, seed=7))


def test_variant_finds_the_trial_that_differs_only_in_the_named_setting_and_histories_per_task():
    from adlib.artifacts import to_jsonable
    from adlib.model import ADConfig

    config = ADConfig(n_actions=5, n_observations=289, grid_size=17, context_len=80, n_layers=2)
    model = lambda **changes: to_jsonable(dataclasses.replace(config, **changes), for_hash=True)  # noqa: E731  as records store it
    on = record(last=0.54, model=model(coordinate_embedding=True))
    off = record(last=0.53, model=model())
    longer = record(last=0.58, steps=12000, model=model())
    assert "coordinate_embedding" not in off["model"]  # the records omit it when off
    assert trials.variant([on, off, longer], on, coordinate_embedding=False) is off
    assert trials.variant([on, longer], on, coordinate_embedding=False) is None
    header, rows, _ = trials.trial_table([on], "hard", n_tasks=209)
    assert header[0] == "histories per task" and rows[0][0] == "4"  # 836 histories on 209 goals
    header, rows, _ = trials.trial_table([on], "hard", n_tasks=200)
    assert header[0] == "training histories" and rows[0][0] == "836"


def test_the_chapter_uses_the_key_to_door_setting_the_rule_picks_from_the_committed_trials():
    from adlib.experiments import harder_rooms_experiment

    x = harder_rooms_experiment("full")
    chosen = trials.choose(trials.read_trials(trials.TRIALS_DIR / "05_harder_dark_rooms.jsonl"), "key-to-door")
    n_histories = len(x.key_door_source.pairs) * x.key_door_source.histories_per_pair
    assert trials.matches(chosen, n_histories, x.key_door_model, x.key_door_budget)


def test_room_report_renders_the_committed_trials_and_says_the_chapter_uses_the_pick():
    from adlib.experiments import harder_rooms_experiment

    x = harder_rooms_experiment("full")
    records = trials.read_trials(trials.TRIALS_DIR / "05_harder_dark_rooms.jsonl")
    table, pick, used = trials.room_report(records, "hard", 1, len(x.hard_validation_goals), len(x.hard_source.goals),
                                           x.hard_source.histories_per_goal, x.hard_model, x.hard_budget, x.eval_episodes)
    assert table.startswith("**Table 5.1.** Dark Room Hard variants scored on 40 validation goals")
    assert table.count("\n| ") == len(trials.select(records, "hard")) + 1 and table.count("**") >= 4  # header, rows, a bold pick
    assert used and "this chapter uses that setting at full scale" in pick
    _, pick, used = trials.room_report(records, "hard", 1, 40, len(x.hard_source.goals), x.hard_source.histories_per_goal + 1,
                                       x.hard_model, x.hard_budget, x.eval_episodes)
    assert not used and "does not use it yet" in pick


def test_earlier_variants_render_from_their_records_with_marks_and_the_settings_in_bold(tmp_path):
    committed = trials.TRIALS_DIR / "05_earlier_variants.jsonl"
    hard = trials.earlier_variants_table(committed, "hard").splitlines()
    assert hard[0].startswith("| histories per goal | optimiser steps |") and len(hard) == 2 + 13
    assert "| **4** | **3,000** |" in hard[8] and hard[8].endswith("| 229 s | 0.679 | 0.54 |")
    kd = trials.earlier_variants_table(committed, "key-to-door").splitlines()
    assert kd[0].endswith("| door after key |") and len(kd) == 2 + 16
    assert kd[-1].endswith("| 71 s†\\* | 0.779 | 0.46 | 11% |") and "| — |" in kd[2]  # a time never measured
    with pytest.raises(ValueError, match="no records for room 'watermaze'"):
        trials.earlier_variants_table(committed, "watermaze")
    with pytest.raises(FileNotFoundError, match="no earlier-variant records"):
        trials.earlier_variants_table(tmp_path / "none.jsonl", "hard")
