"""The summary's verdicts and the reproducibility page's record reading (adlib.results),
the quiet switch and the records' provenance (adlib.runtime), and the kernel-free stepper."""

import json
import math
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from adlib import plotting, report, results, runtime, verdicts
from adlib.experiments import bandit_experiment, darkroom_experiment, harder_rooms_experiment
from adlib.artifacts import to_jsonable


def record(notebook, **fields):
    return {"notebook": notebook, "scale": "full", "runtime_seconds": 1.0, "seeds": {"base": 0}, "versions": {},
            "finished_at": "2026-11-22T00:00:00+00:00", **fields}


def darkroom_record(last=(0.95, 0.01), first=0.05, ad_steps=(300.0, 900.0), source_steps=(900.0, 1100.0), ablation=None):
    return record("02_darkroom",
                  ad_held_out={"first_episode": first, "last_10": {"mean": last[0], "std": last[1]}},
                  steps_to_fraction_of_optimal={
                      "0.5": {"AD": ad_steps[0], "source": source_steps[0], "source, every 4th episode": 200.0},
                      "0.8": {"AD": ad_steps[1], "source": source_steps[1], "source, every 4th episode": 250.0}},
                  context_ablation_last_10=ablation or {"1": {"mean": 0.25, "std": 0.02}, "4": {"mean": 0.9, "std": 0.02}})


def verdict(rows, claim_start):
    (row,) = [r for r in rows if r.claim.startswith(claim_start)]
    return row


def test_read_records_keeps_chapter_records_and_says_why_it_skips_others(tmp_path):
    (tmp_path / "01_bandit.json").write_text(json.dumps(record("01_bandit")))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "partial.json").write_text(json.dumps({"notebook": "x"}))
    (tmp_path / "list.json").write_text("[1, 2]")
    records, skipped = results.read_records(tmp_path)
    assert list(records) == ["01_bandit"]
    reasons = dict(skipped)
    assert "not readable as JSON" in reasons["broken.json"]
    assert "missing scale" in reasons["partial.json"] and "runtime_seconds" in reasons["partial.json"]
    assert reasons["list.json"].startswith("missing notebook")
    assert results.read_records(tmp_path / "nowhere") == ({}, [])


def test_claims_cover_every_chapter_and_say_when_a_chapter_is_missing():
    rows = verdicts.claims({})
    assert {r.verdict for r in rows} == {verdicts.NOT_IN_BUILD}  # every claim has a chapter now (chapter 7: the pixels)
    assert {r.who for r in rows} == {"paper", "1a3orn", "critique"}
    assert {r.chapter for r in rows} >= {"01_bandit", "02_darkroom", "03_expert_distillation", "04_out_of_distribution",
                                         "05_harder_dark_rooms", "07_pixels"}
    assert all(r.verdict in verdicts.VERDICTS and r.rule for r in rows)


def pixel_record(ad, ad_first, ed, greedy=None):
    ms = lambda m, s: {"mean": m, "std": s}  # noqa: E731
    r = {"ad": {"last_10": ms(*ad), "first_episode": ms(*ad_first)}, "ed": {"last_10": ms(*ed)},
         "source": {"last_10": ms(0.8, 0.03)}, "random": {"last_10": ms(0.02, 0.01)}}
    if greedy is not None:
        r["ad_greedy"] = {"last_10": ms(*greedy)}
    return r


def test_pixel_verdict_follows_the_issues_bar():
    claim = "Watermaze (3-D pixels): AD learns in context"
    score = lambda r: verdict(verdicts.claims({"07_pixels": r}), claim)  # noqa: E731
    assert score(pixel_record((0.8, 0.02), (0.1, 0.05), (0.3, 0.05))).verdict == verdicts.REPRODUCED
    partly = pixel_record((0.6, 0.02), (0.1, 0.05), (0.3, 0.05))
    assert score(partly).verdict == verdicts.PARTLY and verdicts.pixels_rule(partly) == ("partly reproduced at this budget", ["below the 0.7 bar"])
    said, missed = verdicts.pixels_rule(pixel_record((0.8, 0.02), (0.1, 0.05), (0.75, 0.1)))  # ED level with AD
    assert said == "not reproduced at this budget" and missed == ["ED not below AD by more than 2 std"]
    assert score(pixel_record((0.04, 0.01), (0.04, 0.04), (0.7, 0.18))).verdict == verdicts.NOT_REPRODUCED
    words = verdicts.pixels_in_short(pixel_record((0.04, 0.01), (0.04, 0.04), (0.7, 0.18), greedy=(0.43, 0.05)))
    assert words.startswith("AD does not reproduce") and "0.04 ± 0.01" in words and "0.43 ± 0.05" in words
    assert "above AD (the paper found ED below AD)" in words
    flat = pixel_record((0.04, 0.01), (0.04, 0.04), (0.7, 0.18), greedy=(0.43, 0.05))
    flat["ad_greedy"]["first_episode"] = {"mean": 0.4, "std": 0.05}
    assert "(level with its first episode's 0.40 ± 0.05)" in verdicts.pixels_in_short(flat)
    flat["ad_greedy"]["first_episode"] = {"mean": 0.1, "std": 0.05}
    assert "(above its first episode's 0.10 ± 0.05)" in verdicts.pixels_in_short(flat)


def test_darkroom_verdicts_follow_their_rules():
    rows = verdicts.claims({"02_darkroom": darkroom_record()})
    row = verdict(rows, "AD learns in context on held-out Dark Room")
    assert row.verdict == verdicts.REPRODUCED and "0.95 ± 0.01" in row.number and "0.05" in row.number
    assert verdict(rows, "AD is more data-efficient").verdict == verdicts.REPRODUCED
    assert verdict(rows, "… even than the source subsampled").verdict == verdicts.NOT_REPRODUCED  # 300 > 200, 900 > 250
    assert verdict(rows, "In-context RL needs a context").verdict == verdicts.REPRODUCED
    # Rising but short of 0.9: partly.  Not rising beyond 2 std: not reproduced.
    assert verdict(verdicts.claims({"02_darkroom": darkroom_record(last=(0.6, 0.05))}), "AD learns").verdict == verdicts.PARTLY
    assert verdict(verdicts.claims({"02_darkroom": darkroom_record(last=(0.1, 0.05))}), "AD learns").verdict == verdicts.NOT_REPRODUCED
    # Faster to 50% only: partly; never reaching 80% counts as slower.
    slow = darkroom_record(ad_steps=(300.0, math.inf))
    row = verdict(verdicts.claims({"02_darkroom": slow}), "AD is more data-efficient")
    assert row.verdict == verdicts.PARTLY and "never" in row.number
    flat = darkroom_record(ablation={"1": {"mean": 0.85, "std": 0.05}, "4": {"mean": 0.9, "std": 0.05}})
    assert verdict(verdicts.claims({"02_darkroom": flat}), "In-context RL needs").verdict == verdicts.NOT_REPRODUCED


def test_harder_room_rows_apply_chapter_fives_rule_to_its_numbers():
    ms = lambda v: {"mean": v[0], "std": v[1]}  # noqa: E731

    def harder(hard_ad=(0.32, 0.07), kd_ad=(0.46, 0.09)):
        return record("05_harder_dark_rooms",
                      hard={"ad": {"last_10_success": ms(hard_ad), "first_10_success": ms((0.08, 0.02))},
                            "ed": {"last_10_success": ms((0.09, 0.04))}, "random": {"last_10_success": ms((0.06, 0.01))}},
                      key_to_door={"ad": {"last_10_return": ms(kd_ad), "first_10_return": ms((0.4, 0.1))},
                                   "ed": {"last_10_return": ms((0.53, 0.13))}, "random": {"last_10_return": ms((0.27, 0.02))}})
    rows = verdicts.claims({"05_harder_dark_rooms": harder()})
    hard, kd = verdict(rows, "Dark Room Hard"), verdict(rows, "Dark Key-to-Door")
    # Hard: rises and beats ED and random, but misses the 0.7 bar: partly. Key-to-Door: no rise beyond 2 std: not.
    assert hard.verdict == verdicts.PARTLY and "0.08" in hard.number and "0.32 ± 0.07" in hard.number and "0.09 ± 0.04" in hard.number
    assert kd.verdict == verdicts.NOT_REPRODUCED and "0.46 ± 0.09" in kd.number
    assert verdicts.harder_room_rule(harder(), "hard") == ("partly reproduced at this budget", ["below the bar"])
    word, missed = verdicts.harder_room_rule(harder(), "key_to_door")
    assert word == "not reproduced at this budget" and "no rise over its first episodes by more than 2 std" in missed
    rows = verdicts.claims({"05_harder_dark_rooms": harder(hard_ad=(0.75, 0.05), kd_ad=(1.5, 0.1))})
    assert verdict(rows, "Dark Room Hard").verdict == verdict(rows, "Dark Key-to-Door").verdict == verdicts.REPRODUCED


def test_critique_row_counts_the_probes_verdicts():
    def critique(*supports):
        return {"06_critique": record("06_critique", verdict=[{"probe": f"{i + 1}.", "supports": s} for i, s in enumerate(supports)])}

    row = verdict(verdicts.claims(critique("both", "H_copy", "H_copy", "neither", "H_RL", "H_copy", "unresolved")), "AD's Dark Room behaviour")
    assert row.verdict == verdicts.CLOSER_TO_IT and row.number.startswith("of 7 probes, those supporting the heuristic: 3; a general learner: 1")
    assert "unresolved (the training seeds disagree): 1;" in row.number and row.number.endswith("AD is closer to the critique's heuristic than to a general learner")
    row = verdict(verdicts.claims(critique("H_copy", "H_RL", "H_RL", "both", "unresolved", "unresolved", "neither")), "AD's Dark Room behaviour")
    assert row.verdict == verdicts.CLOSER_TO_RL  # the chapter's words, not "not reproduced"
    row = verdict(verdicts.claims(critique("H_copy", "H_RL", "both", "both", "both", "both", "both")), "AD's Dark Room behaviour")
    assert row.verdict == verdicts.SPLIT


def test_checkpoint_claim_reads_the_sweep():
    sweep = [{"step": s, "loss": {"mean": 1.0, "std": 0.1}, "pct_best_arm_steps_11_100": {"mean": p, "std": 1.0}, "vs_source": v}
             for s, p, v in ((75, 20.0, "level with"), (150, 30.0, "above"))]
    base = dict(ad_optimistic_vs_random_steps_11_100={"ad_late": [11.0, 1.0], "random": [10.0, 0.5], "verdict_late": "level with"},
                ad_optimistic_late={"pct_best_arm_step_100": {"mean": 11.0, "std": 0.3}, "pct_best_arm_step_200": {"mean": 14.0, "std": 0.3}},
                ad_optimistic_checkpoint_sweep=sweep, ad_optimistic_sweep_source_pct_best_arm_steps_11_100=22.0)
    rows = verdicts.claims({"01_bandit": record("01_bandit", **base)})
    row = verdict(rows, "Early checkpoints")
    assert row.verdict == verdicts.REPRODUCED and "step 150" in row.number and "22.0%" in row.number
    row = verdict(rows, "AD distilled from optimistic greedy")
    assert row.verdict == verdicts.NOT_REPRODUCED and "11.0 ± 1.0" in row.number  # the chapter's verdict: level with random
    row = verdict(rows, "AD keeps improving to step 200")
    assert row.verdict == verdicts.REPRODUCED and "11.0 ± 0.3 → step 200 14.0 ± 0.3" in row.number
    sweep[1]["vs_source"] = "level with"
    assert verdict(verdicts.claims({"01_bandit": record("01_bandit", **base)}), "Early checkpoints").verdict == verdicts.NOT_REPRODUCED


def test_deviations_read_the_recorded_settings():
    settings = {"01_bandit": to_jsonable(bandit_experiment("full")), "02_darkroom": to_jsonable(darkroom_experiment("full"))}
    rows = results.deviations({n: record(n, settings=s) for n, s in settings.items()})
    by_aspect = {r["aspect"]: r for r in rows}
    assert "1.1M" in by_aspect["model"]["paper"]
    bandit, dark_room = by_aspect["model"]["this book"].split("; ")
    assert bandit.startswith("bandit: 2 layers, width 64") and bandit.endswith("context 100 steps, reward embedded per action, dropout off")
    assert dark_room.startswith("Dark Room: 2 layers, width 64") and "per action" not in dark_room
    assert dark_room.endswith("the cell embedded as row + column embeddings, dropout off")
    assert "every 4th episode" in by_aspect["subsampling"]["this book"]
    assert "520 histories of 100 episodes" in by_aspect["learning histories"]["this book"]  # 65 goals x 8
    assert results.deviations({})[0]["this book"] == "—"
    H = harder_rooms_experiment("full")
    harder = {r["aspect"]: r for r in results.deviations({"05_harder_dark_rooms": record("05_harder_dark_rooms", settings=to_jsonable(H))})}
    assert harder["training"]["this book"] == (f"Dark Room Hard: {H.hard_budget.steps:,} steps of batch 64, peak 0.003; "
                                               f"Key-to-Door: {H.key_door_budget.steps:,} steps of batch 64, peak 0.003")
    hard_histories = len(H.hard_source.goals) * H.hard_source.histories_per_goal
    assert f"Dark Room Hard: {hard_histories:,} histories of 150 episodes" in harder["learning histories"]["this book"]
    hard_model = next(m for m in harder["model"]["this book"].split("; ") if m.startswith("Dark Room Hard"))
    assert hard_model.endswith("the cell embedded as row + column embeddings, the cell's row and column also embedded as numbers, "
                               "dropout off")
    assert "also embedded" not in dark_room  # chapter 2's model does not embed them


def test_flatten_and_format_seconds():
    rows = dict(results.flatten({"a": {"b": 1, "c": [1, 2]}, "long": list(range(30)), "pairs": [[1, 2]]}))
    assert rows == {"a.b": "1", "a.c": "1, 2", "long": "30 items: 0, 1, 2, 3, 4, 5, 6, 7, …", "pairs": "[1, 2]"}
    assert report.format_seconds(42.4) == "42 s" and report.format_seconds(754.2) == "754 s (12 min 34 s)"
    assert report.format_seconds(1619.4) == "1,619 s (26 min 59 s)"
    assert report.format_flops(3.007e14) == "301 TFLOP" and report.format_flops(4.2e10) == "42 GFLOP"


def test_quiet_switch_silences_logs(monkeypatch, capsys):
    monkeypatch.setenv("ADLIB_QUIET", "1")
    assert runtime.quiet()
    runtime.log("hidden")
    monkeypatch.setenv("ADLIB_QUIET", "0")
    assert not runtime.quiet()
    runtime.log("shown", 3)
    assert capsys.readouterr().out == "shown 3\n"


def test_run_record_carries_code_version_cpu_and_datasets():
    started = runtime.start_chapter()
    runtime.note_dataset("bandit, thompson: 4 histories x 10 steps", "abc123")
    runtime.note_dataset("bandit, thompson: 4 histories x 10 steps", "abc123")  # the same data twice is listed once
    runtime.note_dataset("bandit, oracle: 4 histories x 10 steps", "def456")
    rec = runtime.run_record("x", "small", {"base": 0}, started)
    assert rec["datasets"] == [{"dataset": "bandit, thompson: 4 histories x 10 steps", "fingerprint": "abc123"},
                               {"dataset": "bandit, oracle: 4 histories x 10 steps", "fingerprint": "def456"}]
    assert re.fullmatch(r"[0-9a-f]{12}(\+changes)?|unknown", rec["versions"]["code"])
    assert "cores" in rec["versions"]["cpu"]
    assert runtime.start_chapter() and runtime.run_record("y", "small", {}, started)["datasets"] == []


def test_loading_a_dataset_books_its_fingerprint():
    from adlib import data
    config = bandit_experiment("small").thompson_data
    runtime.start_chapter()
    histories = data.bandit_histories(config)
    (entry,) = runtime.run_record("x", "small", {}, 0.0)["datasets"]
    assert entry["fingerprint"] == histories.fingerprint and entry["dataset"].startswith("bandit, thompson, gaussian: 400 histories")


def frames(n):
    out = []
    for i in range(n):
        fig = Figure(figsize=(2, 1.5))
        fig.subplots().plot([0, i])
        out.append(plotting.figure_png(fig, dpi=40))
    return out


def test_step_through_embeds_every_frame_and_switches_in_the_browser():
    pngs = frames(3)
    page = plotting.step_through_html(pngs, ["step 1", "step <2>", "step 3"], alt="a test picture", start=1)
    assert page.count("data:image/png;base64,") == 4  # the shown frame, then all three in the script
    assert 'alt="a test picture"' in page and "step &lt;2&gt;" in page  # the label is escaped in HTML
    assert 'max="2"' in page and 'value="1"' in page and "<script>" in page
    other = plotting.step_through_html(pngs[:2], ["a", "b"], alt="x")
    ids = re.findall(r'id="(stepper-[0-9a-f]+)"', page + other)
    assert len(ids) == 2 and ids[0] != ids[1]
    assert plotting.step_through_html(pngs, ["step 1", "step <2>", "step 3"], alt="a test picture", start=1) == page  # stable


def test_step_through_rejects_bad_input():
    with pytest.raises(ValueError, match="one label per frame"):
        plotting.step_through_html(frames(2), ["only one"], alt="x")
    with pytest.raises(ValueError, match="one label per frame"):
        plotting.step_through_html([], [], alt="x")
    with pytest.raises(ValueError, match="start must index a frame"):
        plotting.step_through_html(frames(2), ["a", "b"], alt="x", start=2)


def test_bandit_step_frames_are_pngs_and_fewer_colours_make_them_smaller():
    rng = np.random.default_rng(0)
    means, actions = rng.normal(size=10), rng.integers(0, 10, size=30)
    rewards, probs = rng.normal(size=30), rng.dirichlet(np.ones(10), size=30)
    reduced = plotting.bandit_step_pngs(means, actions, rewards, probs, [12], dpi=40)[0]
    full = plotting.bandit_step_pngs(means, actions, rewards, probs, [12], dpi=40, colors=None)[0]
    assert reduced[:8] == full[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(reduced) < len(full)
    with pytest.raises(ValueError, match="every step must be in"):
        plotting.bandit_step_pngs(means, actions, rewards, probs, [3, 31])
    with pytest.raises(ValueError, match="at least one step"):
        plotting.bandit_step_pngs(means, actions, rewards, probs, [])


def test_bandit_step_frames_leave_nothing_of_earlier_steps_behind():
    """The frames share one figure: a frame is pixel for pixel the same whichever frames were drawn
    before it, and every frame differs from the others."""
    rng = np.random.default_rng(1)
    means, actions = rng.normal(size=10), rng.integers(0, 10, size=30)
    rewards, probs = rng.normal(size=30), rng.dirichlet(np.ones(10), size=30)
    kwargs = dict(dpi=40, colors=None, window=8)  # steps past 9 add the hatched span and its legend
    steps = [1, 20, 5, 30]
    frames = dict(zip(steps, plotting.bandit_step_pngs(means, actions, rewards, probs, steps, **kwargs)))
    for order in ([30, 5, 20, 1], [5, 1, 30, 20]):
        assert dict(zip(order, plotting.bandit_step_pngs(means, actions, rewards, probs, order, **kwargs))) == frames
    assert len(set(frames.values())) == 4


def test_markdown_table_has_a_header_rule_and_a_row_per_item():
    assert report.markdown_table(("a", "b"), [(1, "x"), (2, "y")]) == "| a | b |\n|---|---|\n| 1 | x |\n| 2 | y |"
    assert report.markdown_table(("only",), []) == "| only |\n|---|"


def test_rollout_cache_sentence_counts_loaded_and_run_steps():
    from adlib.results import rollout_cache_sentence

    records = {"01_bandit": {"time_split": {"in_context_steps": 2.0e6, "in_context_steps_from_cache": 15.4e6}},
               "02_darkroom": {"time_split": {"in_context_steps": 0.5e6}}, "98_summary": {}}
    assert rollout_cache_sentence(records) == (" This build loaded 15.4 million of AD's in-context steps from the rollout cache "
                                               "and ran 2.5 million; the throughput is over the steps it ran.")
    assert rollout_cache_sentence({"02_darkroom": {"time_split": {"in_context_steps": 0.5e6}}}) == ""


def test_training_compute_counts_each_run_where_it_is_first_used():
    records = {
        "02_darkroom": {"training_runs": {"a": 1e12, "b": 2e12}},
        "03_expert_distillation": {"training_runs": {"a": 1e12, "c": 5e11}},
        "04_out_of_distribution": {},  # a record from before the run list was kept
        "06_critique": {"training_runs": {"b": 2e12, "c": 5e11}},
    }
    rows = results.training_compute(records)
    assert rows == {
        "02_darkroom": {"runs": 2, "first_used": 2, "flops": 3e12},
        "03_expert_distillation": {"runs": 2, "first_used": 1, "flops": 5e11},
        "06_critique": {"runs": 2, "first_used": 0, "flops": 0.0},
    }


def test_ed_fails_reads_the_paired_per_seed_change():
    held = {"AD": {"last_10": {"mean": 0.92, "std": 0.02}}, "ED": {"first_episode": 0.10, "last_10": {"mean": 0.19, "std": 0.05}}}
    rising = {"darkroom_held_out": held, "ed_in_context_gain": {"ED": {"mean": 0.09, "std": 0.04}}}
    flat = {"darkroom_held_out": held, "ed_in_context_gain": {"ED": {"mean": 0.09, "std": 0.05}}}
    assert verdicts.ed_fails(rising)[1] == verdicts.PARTLY  # below AD, but each seed rises: 0.09 > 2 x 0.04
    assert verdicts.ed_fails(flat)[1] == verdicts.REPRODUCED


def test_pixel_loss_reading_names_what_limits_the_models():
    tol = verdicts.LOSS_TOLERANCE
    read = lambda learning, later, ed: verdicts.pixel_loss_reading(learning, later, ed, episodes=4)  # noqa: E731
    assert "distilled the source's choices" in read(tol, tol / 2, 0.3)  # on its floor throughout
    searching = read(0.16, 0.01, tol / 2)  # on its floor once the source has learned, above it while it searches
    assert "not in the first 4 episodes, while it searches" in searching and "frames alone" not in searching
    assert "frames alone are not what stops AD" in read(0.28, 0.28, tol / 2)
    assert "Both models stay above" in read(0.2, 0.2, 0.2)
