"""Chapter 6's machinery: scripted agents, the moving goal, prompts, hidden tokens and probes."""

import dataclasses

import numpy as np
import pytest
import torch

from adlib import agents, behaviour, critique, envs, grid_evaluation, interventions, probes, rollouts, sources, stats, verdicts
from adlib.model import ADConfig, ADTransformer

SIZE = 9
CENTRE = 40  # cell (4, 4)


def cell(row, col, size=SIZE):
    return row * size + col


def feed(agent, cells, rewards):
    """Live through a walk: at each step the agent stands on cells[t], moves, lands on cells[t+1]
    with rewards[t]. Returns the agent's target after each step."""
    agent.reset(1, np.random.default_rng(0))
    targets = []
    for t in range(len(cells) - 1):
        agent.act(np.array([cells[t]]))
        agent.observe(np.array([0]), np.array([rewards[t]]), next_obs=np.array([cells[t + 1]]))
        targets.append(int(agent.target()[0]))
    return targets


# --- geometry ---------------------------------------------------------------------------------


def test_useful_moves_and_step_toward_known_values():
    useful = sources.useful_moves(np.array([CENTRE, CENTRE, 0]), np.array([0, CENTRE, cell(0, 3)]), SIZE)
    assert useful.tolist() == [
        [False, True, False, False, True],  # to the top-left corner: up or left
        [False] * 5,  # already there
        [False, False, True, False, False],  # along the top row: right only
    ]
    rng = np.random.default_rng(0)
    steps = {int(sources.step_toward(np.array([CENTRE]), np.array([0]), SIZE, rng)[0]) for _ in range(50)}
    assert steps == {1, 4}
    assert sources.step_toward(np.array([7]), np.array([7]), SIZE, rng).tolist() == [0]


def test_cells_after_moves_clips_at_walls():
    obs = np.array([[0, 0, CENTRE]])
    actions = np.array([[1, 2, 3]])  # up into the wall, right, down
    assert envs.cells_after_moves(obs, actions, SIZE).tolist() == [[0, 1, cell(5, 4)]]


# --- the copy agent ---------------------------------------------------------------------------


def test_copy_agent_forgets_a_reward_at_the_window_edge():
    window = 5
    walk = [CENTRE, 41, 41, 41, 41, 41, 41, 41, 41]  # a reward on landing on 41 at step 0 only
    targets = feed(agents.CopyAgent(SIZE, window), walk, [1, 0, 0, 0, 0, 0, 0, 0])
    # The reward is remembered for exactly `window` steps (AD's window holds that many rewards), then forgotten.
    assert targets == [41] * window + [-1] * (len(walk) - 1 - window)
    unlimited = feed(agents.CopyAgent(SIZE, None), walk, [1, 0, 0, 0, 0, 0, 0, 0])
    assert unlimited == [41] * (len(walk) - 1)


def test_copy_agent_heads_for_the_most_recent_reward_and_never_doubts():
    walk = [CENTRE, 41, 42, 41]
    rewards = [1, 1, 0]  # paid on 41, then on 42, then nothing on 41
    assert feed(agents.CopyAgent(SIZE, 10), walk, rewards)[-1] == 42
    # Visiting the rewarded cell again without reward does not change the heuristic's mind...
    assert feed(agents.CopyAgent(SIZE, 10), [CENTRE, 41, 41], [1, 0])[-1] == 41
    # ...but search-then-return drops it.
    assert feed(agents.SearchThenReturn(SIZE), [CENTRE, 41, 41], [1, 0])[-1] == -1


def test_copy_agent_walks_a_shortest_path_back_and_stays():
    goal = np.array([[1, 2]])
    room = envs.DarkRoomEnv(goal, SIZE, horizon=20)
    prompt = interventions.scripted_episodes([cell(1, 2)], SIZE, 20, rewarded=True, seed=3)
    agent = agents.PromptedAgent(agents.CopyAgent(SIZE, 80), prompt, SIZE)
    traj = rollouts.rollout(room, agent, 20, seed=0)
    distance = abs(1 - 4) + abs(2 - 4)
    first = int(np.argmax(traj.rewards[0] > 0))
    assert first == distance - 1  # the reward comes on the move that lands on the goal
    assert traj.rewards[0, first:].all()  # and it stays there


def test_the_source_learns_from_a_prompt_as_from_its_own_first_episodes():
    prompt = tuple(np.concatenate([x, x], axis=1) for x in interventions.scripted_episodes([cell(1, 2)], SIZE, 20, rewarded=True, seed=3))
    learner = sources.QLearning(SIZE * SIZE, 5, learning_rate=0.5, discount=0.9, epsilon_start=1.0, epsilon_end=0.0, epsilon_decay_episodes=10)
    agents.PromptedAgent(learner, prompt, SIZE, horizon=20).reset(1, np.random.default_rng(0))
    assert learner.episodes.tolist() == [2] and learner.epsilon()[0] == pytest.approx(0.8)  # two episodes ended
    assert learner.q[0, cell(1, 2)].max() > 0  # the paid cell's value was learned
    with pytest.raises(ValueError, match="whole episodes"):
        agents.PromptedAgent(learner, prompt, SIZE, horizon=15)


def test_scripted_agents_stay_in_the_room_and_search_covers_it():
    for size in (5, 9):
        goals = np.full((4, 2), size - 1)  # far corner; nothing rewarded until found
        for agent in (agents.CopyAgent(size, 30, "random"), agents.CopyAgent(size, 30, "novel"), agents.SearchThenReturn(size)):
            traj = rollouts.rollout(envs.DarkRoomEnv(goals, size, horizon=size * 3), agent, size * size * 6, seed=1)
            assert traj.actions.min() >= 0 and traj.actions.max() < 5
            assert traj.observations.min() >= 0 and traj.observations.max() < size * size
    # Systematic search finds a corner goal of a 9x9 room within 10 episodes; a random walk rarely does.
    corner = envs.DarkRoomEnv(np.zeros((50, 2), dtype=int), SIZE, horizon=20)
    found = lambda agent: (rollouts.rollout(corner, agent, 200, seed=2).rewards.sum(axis=1) > 0).mean()  # noqa: E731
    assert found(agents.SearchThenReturn(SIZE)) == 1.0
    assert found(agents.CopyAgent(SIZE, 80, "random")) < 0.4


def test_scripted_agents_reject_bad_settings():
    with pytest.raises(ValueError, match="window"):
        agents.CopyAgent(SIZE, 0)
    with pytest.raises(ValueError, match="explore"):
        agents.CopyAgent(SIZE, 10, explore="greedy")
    with pytest.raises(ValueError, match="room size"):
        agents.CopyAgent(1, 10)
    with pytest.raises(ValueError, match="2 arms"):
        agents.WinStayLoseShift(1)
    agent = agents.CopyAgent(SIZE, 10)
    agent.reset(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="next_obs"):
        agent.observe(np.array([0]), np.array([0.0]))
    with pytest.raises(ValueError, match="rows"):
        agents.PromptedAgent(agents.CopyAgent(SIZE, 10), interventions.scripted_episodes([0, 1], SIZE, 5), SIZE).reset(3, np.random.default_rng(0))


def test_shadow_targets_equal_the_copy_agents_own_targets():
    goals = np.array([[1, 1], [7, 2], [3, 8]])
    room = envs.DarkRoomEnv(goals, SIZE, horizon=20)

    class Recording(agents.CopyAgent):
        def act(self, obs):
            actions = super().act(obs)
            self.seen_targets.append(self.target())
            return actions

    agent = Recording(SIZE, 30, "novel")
    agent.seen_targets = []
    traj = rollouts.rollout(room, agent, 200, seed=4)
    own = np.stack(agent.seen_targets, axis=1)
    assert (own >= 0).any()  # it did find goals
    shadow = agents.shadow_targets(traj.observations, traj.actions, traj.rewards, SIZE, 30)
    np.testing.assert_array_equal(shadow, own)


def test_win_stay_lose_shift():
    agent = agents.WinStayLoseShift(4)
    agent.reset(3, np.random.default_rng(0))
    first = agent.act(None)
    agent.observe(first, np.array([0.5, 0.0, -1.0]))
    second = agent.act(None)
    assert second[0] == first[0]  # won: stays
    assert second[1] != first[1] and second[2] != first[2]  # lost (a zero counts as a loss): moves to another arm


# --- the moving goal ----------------------------------------------------------------------------


def test_moving_goal_moves_after_k_episodes_and_resets():
    env = envs.MovingGoalDarkRoom(np.array([[4, 5]]), np.array([[3, 4]]), move_after=2, horizon=3)
    rewards = []
    for t in range(12):  # step right then stay, each 3-step episode
        rewards.append(int(env.step(np.array([2 if t % 3 == 0 else 0]))[1][0]))
    assert rewards == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    env.reset()
    assert env.goals.tolist() == [[4, 5]] and env.episodes == 0
    assert env.subset([0]).new_goals.tolist() == [[3, 4]]
    with pytest.raises(ValueError, match="move_after"):
        envs.MovingGoalDarkRoom(np.array([[4, 5]]), np.array([[3, 4]]), move_after=0)
    with pytest.raises(ValueError, match="match"):
        envs.MovingGoalDarkRoom(np.array([[4, 5]]), np.array([[3, 4], [1, 1]]), move_after=1)
    with pytest.raises(ValueError, match="whole"):
        envs.MovingGoalDarkRoom(np.array([[4, 5]]), np.array([[3, 4.5]]), move_after=1)


# --- prompts and contexts -------------------------------------------------------------------------


def test_mirror_cells_and_scripted_episodes():
    assert interventions.mirror_cells([0, cell(2, 7), CENTRE], SIZE).tolist() == [80, cell(6, 1), 0]
    cells = np.array([cell(1, 2), cell(8, 8)])
    obs, actions, rewards = interventions.scripted_episodes(cells, SIZE, 20, rewarded=True)
    assert (obs[:, 0] == CENTRE).all()
    optimal = envs.darkroom_optimal_return(np.stack(np.divmod(cells, SIZE), axis=1))
    np.testing.assert_array_equal(rewards.sum(axis=1), optimal)  # paid as the room pays when that cell is the goal
    _, same_actions, zero = interventions.scripted_episodes(cells, SIZE, 20, rewarded=False)
    assert zero.sum() == 0 and (same_actions == actions).all()


def test_contexts_align_tokens_and_episode_tokens_mark_the_next_steps():
    obs = np.arange(10)[None, :] + 100
    actions = np.arange(10)[None, :]
    rewards = (np.arange(10)[None, :] == 3).astype(float)
    o, a, r = interventions.contexts(obs, actions, rewards, np.array([4]), 4, start_action=9)
    assert o.tolist() == [[101, 102, 103, 104]]  # tokens 1..4
    assert a.tolist() == [[0, 1, 2, 3]]  # each token carries the previous action
    assert r.tolist() == [[0, 0, 0, 1]]  # and the previous reward: step 3's reward is in token 4
    o, a, r = interventions.contexts(obs, actions, rewards, np.array([3]), 4, start_action=9)
    assert a[0, 0] == 9 and r[0, 0] == 0  # the first step has the start action
    with pytest.raises(ValueError, match="decision steps"):
        interventions.contexts(obs, actions, rewards, np.array([2]), 4, start_action=9)
    # Episode 1 of horizon 3 is steps 3-5; its rewards ride on tokens 4-6 (never the decision's own token).
    mask = interventions.episode_tokens(np.array([7, 6]), 5, 3, np.array([1, 1]))
    assert mask.tolist() == [[False, True, True, True, False], [False, False, True, True, False]]


# --- hidden tokens and probes ---------------------------------------------------------------------


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    config = ADConfig(n_actions=5, n_observations=81, grid_size=9, context_len=12, d_model=32, n_layers=2, n_heads=2, d_ff=64,
                      dropout=0.0, attn_dropout=0.0)
    model = ADTransformer(config).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.3)  # far from initialisation, so attention matters
    return model


def test_hidden_keys_equal_a_forward_pass_without_those_tokens(tiny_model):
    N, T, k = 3, 10, 4
    g = torch.Generator().manual_seed(1)
    obs = torch.randint(0, 81, (N, T), generator=g)
    actions = torch.randint(0, 6, (N, T), generator=g)
    rewards = (torch.rand(N, T, generator=g) < 0.3).float()
    hidden = torch.zeros(N, T, dtype=torch.bool)
    hidden[:, :k] = True
    masked = tiny_model(obs, actions, rewards, hidden_keys=hidden)[:, k:]
    without = tiny_model(obs[:, k:], actions[:, k:], rewards[:, k:])  # RoPE is relative: the shift changes nothing
    torch.testing.assert_close(masked, without, atol=1e-5, rtol=1e-5)
    # A hidden token's content reaches no other token; a visible one's does.
    hidden = torch.zeros(N, T, dtype=torch.bool)
    hidden[:, 3] = True
    changed = rewards.clone()
    changed[:, 3] = 1 - changed[:, 3]
    a = tiny_model(obs, actions, rewards, hidden_keys=hidden)
    b = tiny_model(obs, actions, changed, hidden_keys=hidden)
    torch.testing.assert_close(a[:, 4:], b[:, 4:])
    assert not torch.allclose(tiny_model(obs, actions, rewards)[:, 4:], tiny_model(obs, actions, changed)[:, 4:])
    torch.testing.assert_close(tiny_model(obs, actions, rewards, hidden_keys=torch.zeros(N, T, dtype=torch.bool)),
                               tiny_model(obs, actions, rewards))
    with pytest.raises(ValueError, match="hidden_keys"):
        tiny_model(obs, actions, rewards, hidden_keys=torch.zeros(N, T - 1, dtype=torch.bool))


def test_residual_streams_feed_the_head(tiny_model):
    g = torch.Generator().manual_seed(2)
    obs, actions = torch.randint(0, 81, (4, 8), generator=g), torch.randint(0, 6, (4, 8), generator=g)
    rewards = torch.zeros(4, 8)
    streams = interventions.residual_streams(tiny_model, obs.numpy(), actions.numpy(), rewards.numpy())
    assert len(streams) == 3 and streams[0].shape == (4, 32)
    with torch.no_grad():
        logits = tiny_model.head(tiny_model.ln_f(torch.as_tensor(streams[-1])[:, None]))[:, 0]
        expected = tiny_model(obs, actions, rewards)[:, -1]
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    probs = interventions.action_probabilities(tiny_model, obs.numpy(), actions.numpy(), rewards.numpy())
    np.testing.assert_allclose(probs, torch.softmax(expected, -1).numpy(), atol=1e-6)


def test_ridge_probe_reads_a_linear_target_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 6))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 0.0, 3.0]) + 4
    assert interventions.ridge_probe(x[:300], y[:300], x[300:], y[300:], ridge=1e-6) > 0.999
    noise = rng.standard_normal(400)
    assert interventions.ridge_probe(x[:300], noise[:300], x[300:], noise[300:]) < 0.1
    with pytest.raises(ValueError, match="one target"):
        interventions.ridge_probe(x[:300], y[:299], x[300:], y[300:])


# --- metrics of the probes ------------------------------------------------------------------------


def test_cross_episode_novelty_known_values():
    # Horizon 2, window 2: episode 2 revisits both cells of episode 1; episode 3 visits one new, one old cell.
    obs = np.array([[1, 2, 2, 1, 3, 1]])
    assert behaviour.cross_episode_novelty(obs, 2, 2, np.array([np.inf]))[0] == pytest.approx(0.25)
    assert behaviour.cross_episode_novelty(obs, 2, 2, np.array([3.0]))[0] == 0.0  # only episode 2 precedes the first reward
    assert np.isnan(behaviour.cross_episode_novelty(obs, 2, 2, np.array([2.0]))[0])  # no episode between 1 and the first reward


def test_agreement_with_targets_counts_only_steps_off_the_target():
    obs = np.array([[CENTRE, CENTRE, 0, 5]])
    actions = np.array([[1, 2, 0, 3]])  # up (toward 0: yes), right (no), stay on the target (not counted), no target
    targets = np.array([[0, 0, 0, -1]])
    probs = np.zeros((1, 4, 5))
    probs[0, :, 1] = 1.0
    result = behaviour.agreement_with_targets(obs, actions, probs, targets, SIZE)
    assert result["steps"].tolist() == [2]
    assert result["agree"][0] == pytest.approx(0.5)
    assert result["mass"][0] == pytest.approx(1.0)
    assert result["chance"][0] == pytest.approx(2 / 5)


def test_place_between_and_supported():
    at = lambda value, h_copy, h_rl: verdicts.supported_interval(verdicts.place_interval([value], h_copy, h_rl))  # noqa: E731
    assert verdicts.place_between(5, 10, 0) == pytest.approx(0.5)
    assert at(9, 10, 0) == "H_copy" and at(1, 10, 0) == "H_RL" and at(5, 10, 0) == "neither"
    assert at(1, 2, 2) == "neither"  # the predictions coincide
    assert verdicts.supported_interval(verdicts.place_interval([9.0, np.nan], 10, 0)) == "unresolved"  # a seed that cannot be placed
    assert stats.mean_and_spread([1.0, 3.0, np.nan]) == (2.0, pytest.approx(np.sqrt(2)))


def test_mean_by_group_averages_within_groups_and_leaves_out_nans():
    values = np.array([[1.0, 2.0], [3.0, np.nan], [10.0, 20.0]])
    np.testing.assert_array_equal(stats.mean_by_group(values, np.array([0, 0, 1])), [[2.0, 2.0], [10.0, 20.0]])
    assert stats.mean_by_group(np.array([5.0, 7.0, 1.0]), np.array([2, 2, 0])).tolist() == [1.0, 6.0]  # groups in sorted order
    with pytest.raises(ValueError, match="group labels"):
        stats.mean_by_group(np.ones(3), np.zeros(2))


def critique_record(ad_first=30.0, ad_decoy=0.9, ad_slope=1.0, ad_loss=0.95, door=0.1, key=0.8, ad_shift=(60.0, 20.0, 20.0)):
    """A chapter 6 record with the scripted agents' numbers fixed and AD's given."""
    ms = lambda v: {"mean": v, "std": 0.0}  # noqa: E731
    bandit = {"AD (Thompson data)": ad_shift, "win-stay/lose-shift": (40.0, 15.0, 10.0), "UCB1": (70.0, 70.0, 70.0)}
    return {
        "agreement": {"agree": ms(0.8), "chance": ms(0.3)},
        "search": {"Dark Room Hard": {"AD": {"first_reward_episode": ms(ad_first), "novelty": ms(0.5)},
                                      "copy agent (random)": {"first_reward_episode": ms(30.0), "novelty": ms(0.4)},
                                      "search-then-return": {"first_reward_episode": ms(10.0), "novelty": ms(0.9)}}},
        "decoy": {"visits_episodes_2_3": {"AD": ms(ad_decoy), "copy agent (random)": ms(1.0), "search-then-return": ms(0.0)}},
        "goal_move_slopes": {"ad": ad_slope, "copy": 1.0}, "goal_move": {"search-then-return": {"skip_g1": ms(1.0)}},
        # Aim 1.0 intact, chance 0: the share of aim each agent loses is 1 minus its aim with the rewarded episode hidden.
        "masking": {"intact": {k: ms(1.0) for k in ("AD", "copy", "search")}, "chance": {"AD": ms(0.0)},
                    "rewarded episode hidden": {"AD": ms(1.0 - ad_loss), "copy": ms(0.0), "search": ms(0.5)}},
        "key_to_door": {"AD (trained on Dark Room)": {"last_10_return": ms(1.0), "last_10_key_rate": key, "last_10_door_rate": door}},
        "bandit_pct_best_arm_91_100": {f"{name}, {shift}": ms(v) for name, values in bandit.items() for shift, v in zip(("+0", "+2", "-2"), values)},
    }


def test_critique_rows_place_ad_between_the_scripted_agents():
    rows = {r["probe"].split(".")[0]: r["supports"] for r in verdicts.critique_rows(critique_record())}
    # AD searches like the copy agent, returns to the decoy, lets go as the window says, loses its aim when the reward is hidden,
    # finds the key but not the door, and collapses under shifted rewards as win-stay/lose-shift does.
    assert rows == {"1": "both", "2": "H_copy", "3": "H_copy", "4": "H_copy", "5": "H_copy", "6": "H_copy", "7": "H_copy"}
    learner = critique_record(ad_first=10.0, ad_decoy=0.0, ad_slope=0.0, ad_loss=0.5, door=0.6, ad_shift=(60.0, 60.0, 60.0))
    assert {r["supports"] for r in verdicts.critique_rows(learner)[1:]} == {"H_RL"}
    split = critique_record(ad_shift=(60.0, 60.0, 20.0))  # keeps its level at +2, collapses at -2: the directions disagree
    assert verdicts.critique_rows(split)[6]["supports"] == "neither"
    same = critique_record(ad_loss=0.9)
    same["masking"]["rewarded episode hidden"]["search"] = {"mean": 0.05, "std": 0.0}  # it loses 95%, the copy agent 100%: not separable
    assert verdicts.critique_rows(same)[4]["supports"] == "both"
    at = verdicts.critique_positions(critique_record())
    assert at["masking_loss"] == pytest.approx({"AD": 0.95, "copy": 1.0, "search": 0.5}) and at["separable"]
    assert at["search"]["mean"] == 0.0 and at["novelty"]["mean"] == pytest.approx(0.2) and at["decoy"]["mean"] == pytest.approx(0.1)
    assert at["decoy"]["low"] == at["decoy"]["high"] == pytest.approx(0.1)  # no per-seed values: the mean alone


def test_positions_carry_an_interval_over_training_seeds_and_a_straddling_one_is_unresolved():
    assert verdicts.place_interval([9.0, 5.0, 7.0], 10.0, 0.0) == pytest.approx({"mean": 0.3, "low": 0.1, "high": 0.5, "seeds": 3, "of": 3})
    assert verdicts.supported_interval({"mean": 0.2, "low": -0.3, "high": 0.33}) == "H_copy"
    assert verdicts.supported_interval({"mean": 0.9, "low": 0.7, "high": 1.4}) == "H_RL"
    assert verdicts.supported_interval({"mean": 0.5, "low": 0.4, "high": 0.6}) == "neither"
    assert verdicts.supported_interval({"mean": 0.2, "low": 0.1, "high": 0.5}) == "unresolved"  # the mean alone would say H_copy
    assert verdicts.supported_interval(dict(verdicts.NO_POSITION)) == "neither"
    assert verdicts.agreed(["H_RL", "H_RL"]) == "H_RL" and verdicts.agreed(["H_RL", "H_copy"]) == "unresolved"
    record = critique_record(ad_decoy=0.9)
    record["decoy"]["visits_episodes_2_3"]["AD"] = stats.as_dict(stats.mean_and_spread([1.0, 0.9, 0.5]), per_seed=True)
    row = verdicts.critique_rows(record)[2]
    assert row["position"] == pytest.approx({"mean": 0.2, "low": 0.0, "high": 0.5, "seeds": 3, "of": 3}) and row["supports"] == "unresolved"
    record["decoy"]["visits_episodes_2_3"]["source"] = {"mean": 0.25, "std": 0.1}
    assert verdicts.critique_rows(record)[2]["source"] == "25%"
    text, verdict = verdicts.copy_or_rl({"verdict": verdicts.critique_rows(record)})
    assert "unresolved (the training seeds disagree): 1;" in text and verdict == verdicts.CLOSER_TO_IT


def test_masking_loss_is_measured_from_each_agents_aim_with_no_reward_in_view():
    record = critique_record(ad_loss=0.5)
    record["masking"]["no reward in view"] = {k: {"mean": 0.5, "std": 0.0} for k in ("AD", "copy", "search")}
    at = verdicts.critique_positions(record)  # aim 1.0 intact, 0.5 hidden, 0.5 with no reward in view: all of it lost
    assert at["masking_baseline"] == "no reward in view" and at["masking_loss"]["AD"] == pytest.approx(1.0)
    assert at["masking_loss"]["copy"] == pytest.approx(2.0) and at["masking_loss"]["search"] == pytest.approx(1.0)  # copy: below its own floor
    assert at["separable"] and at["masking"]["mean"] == pytest.approx(1.0)


def test_goal_move_stats_counts_episodes_until_the_old_goal_is_left():
    from types import SimpleNamespace

    from adlib.probes import goal_move_stats

    # One goal (cell 0) in a 3x3 room, 2-step episodes; the goal moves after 2 episodes, then 3 more.
    # Run 0 stays on the old goal for two episodes after the move, then leaves; it was rewarded just before the move.
    observations = np.array([[4, 1, 0, 0, 0, 0, 0, 0, 1, 2]])
    actions = np.array([[1, 4, 0, 0, 0, 0, 0, 0, 2, 2]])  # the cell after each move: 1, 0, 0, 0, 0, 0, 0, 0, 2, 2
    rewards = np.array([[0, 1, 1, 1, 0, 0, 0, 0, 0, 0]], dtype=float)
    traj = SimpleNamespace(observations=observations, actions=actions, rewards=rewards)
    stats_ = goal_move_stats(traj, np.array([0]), size=3, horizon=2, move_after=2, after_move=3, n_groups=1)
    assert stats_["skip_g1"][0] == 3.0 and stats_["find_g2"][0] == 4.0 and stats_["held_g1"] == 1.0


def test_probe_figures_draw_what_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adlib import probes

    names = ["AD", "copy agent (random)", "search-then-return"]
    search = {room: {n: ((float(i + 2), 1.0), (0.5, 0.1)) for i, n in enumerate(names)} for room in ("Dark Room", "Dark Room Hard")}
    assert len(probes.plot_search(search, names).axes) == 4
    moves = {(n, w): {"skip_g1": (w + 1.0, 0.2), "find_g2": (w + 5.0, 0.5)} for n in ("AD", "copy agent (random)") for w in (1, 2, 4)}
    moves["search-then-return", None] = {"skip_g1": (2.0, 0.0), "find_g2": (3.0, 0.0)}
    left = probes.plot_goal_move(moves, (1, 2, 4)).axes[0]
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["search-then-return", "AD", "copy agent (random)"]
    masking = {c: {k: (0.5, 0.1) for k in ("AD", "copy", "search")} for c in probes.MASKING_CONDITIONS + ("chance",)}
    linear = {name: np.full((3, 3), 0.4) for name in ("goal row", "goal column", "reward in view")}
    top = probes.plot_masking(masking, linear, n_layers=2).axes[0]
    assert [t.get_text() for t in top.get_yticklabels()] == list(probes.MASKING_CONDITIONS)
    scores = {(m, t): (50.0, 2.0) for m in ("AD (Thompson data)", "UCB1") for t in ("+0", "+2", "negated")}
    ax = probes.plot_shifts(scores, ["AD (Thompson data)", "UCB1"], ["+0", "+2", "negated"]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["shift +0", "shift +2", "negated"]
    plt.close("all")


def test_window_slopes_give_the_mean_slope_and_one_per_shared_seed():
    from adlib import data, probes

    spread = lambda *v: {"skip_g1": stats.mean_and_spread(v)}  # noqa: E731  one value per training seed
    moves = {("AD", 1): spread(1.0, 2.0), ("AD", 2): spread(2.0, 2.0), ("AD", 4): spread(4.0, 2.0, 9.0)}
    mean_slope, per_seed = probes.window_slopes(moves, "AD", (1, 2, 4))
    assert per_seed == pytest.approx([1.0, 0.0])  # the third seed has no 1- or 2-episode model
    assert mean_slope == pytest.approx(np.polyfit((1, 2, 4), (1.5, 2.0, 5.0), 1)[0])
    config = data.DarkRoomDataConfig(goals=(0,), epsilon_start=1.0, epsilon_end=0.0, epsilon_decay_episodes=60)
    assert config.epsilon_after(1) == pytest.approx(59 / 60) and config.epsilon_after(60) == config.epsilon_after(100) == 0.0


def test_a_model_probed_without_the_window_ablation_or_the_bandit_gets_not_run_rows():
    record = critique_record()
    record["search"]["Dark Room"] = record["search"].pop("Dark Room Hard")  # a Dark Room model: probe 2 read in its own room
    for key in ("goal_move_slopes", "goal_move", "bandit_pct_best_arm_91_100"):
        del record[key]
    rows = verdicts.critique_rows(record, search_room="Dark Room")
    assert [r["supports"] for r in rows] == ["both", "H_copy", "H_copy", verdicts.NOT_RUN, "H_copy", "H_copy", verdicts.NOT_RUN]
    assert rows[1]["probe"].endswith("(Dark Room)") and rows[3]["position"] is None and rows[6]["position"] is None
    assert verdicts.critique_tally(rows)["H_copy"] == ["2", "3", "5", "6"]


# --- adlib.critique: one suite for any stacked Dark Room model (chapters 6 and 6b) -------------------


def test_held_out_runs_lay_out_runs_member_major_and_goal_minor():
    runs = critique.HeldOutRuns(np.array([10, 20, 30]), n_members=2, n_eval_seeds=2)
    assert runs.runs_per_goal == 4
    assert runs.goal_of_run.tolist() == [10, 20, 30] * 4
    assert runs.group.tolist() == [0] * 6 + [1] * 6  # member 0's runs first, both its evaluation seeds
    assert runs.room().goals.tolist() == [[1, 1], [2, 2], [3, 3]] * 4
    assert runs.optimal.shape == (3,) and (runs.optimal > 0).all()
    with pytest.raises(ValueError, match="at least one member"):
        critique.HeldOutRuns(np.array([10]), n_members=0, n_eval_seeds=1)


def test_stack_by_config_puts_each_architecture_in_one_model_and_keeps_the_members_in_order(tiny_model):
    other = ADTransformer(dataclasses.replace(tiny_model.config, d_ff=32)).eval()
    variants = {"a": [tiny_model, tiny_model], "b": [other], "c": [tiny_model]}
    stacks = critique.stack_by_config(variants)
    assert len(stacks) == 2
    (model, members, parts), (model_b, _, parts_b) = stacks
    assert model.n_members == 3 and {k: v.tolist() for k, v in parts.items()} == {"a": [0, 1], "c": [2]}
    assert model_b.n_members == 1 and parts_b["b"].tolist() == [0]
    x = torch.randint(0, 81, (1, 5))
    for e, single in enumerate(members):
        assert torch.allclose(model.member(e)(x, x % 5, x.float() * 0), single(x, x % 5, x.float() * 0))
    with pytest.raises(ValueError, match="no models"):
        critique.stack_by_config({"empty": []})


def test_a_variants_record_takes_its_own_members_values():
    spread = stats.mean_and_spread([0.1, 0.2, 0.6])
    assert critique.take(spread, None) is spread
    assert critique.take(spread, [0, 2]).values.tolist() == [0.1, 0.6] and critique.take(spread, [2])[0] == pytest.approx(0.6)
    returns = np.arange(3 * 2 * 4, dtype=float).reshape(3, 2, 4)
    ev = grid_evaluation.GridEvaluation(returns, np.ones(2), np.zeros((3, 2, 8)), np.array([0, 1, 2]))
    part = ev.for_groups([1, 2])
    assert part.returns.tolist() == returns[1:].tolist() and part.groups.tolist() == [1, 2]
    assert critique.last_10_units(part).tolist() == critique.last_10_units(ev)[1:].tolist()
    with pytest.raises(ValueError, match="no runs in groups"):
        ev.for_groups([7])


def test_verdict_changes_name_the_probes_that_move_and_skip_those_not_run():
    row = lambda n, s: {"probe": f"{n}. probe", "supports": s}  # noqa: E731
    rows = {"small": [row(1, "both"), row(2, "H_copy"), row(4, verdicts.NOT_RUN)],
            "large": [row(1, "both"), row(2, "neither"), row(4, verdicts.NOT_RUN)],
            "same": [row(1, "both"), row(2, "H_copy"), row(4, "H_RL")]}
    assert verdicts.verdict_changes(rows, ["small", "large"]) == {"2": {"small": "H_copy", "large": "neither"}}
    assert verdicts.verdict_changes(rows, ["small", "same"]) == {}  # probe 4 was not run on one of them
    assert verdicts.changes_words({}, "size").startswith("no probe's label changes with size")
    words = verdicts.changes_words(verdicts.verdict_changes(rows, ["small", "large"]), "size")
    assert words == "the label of 1 probe changes with size (probe 2: H_copy (small), neither (large))"


def test_the_summary_row_at_the_paper_size_reads_chapter_6bs_paper_model():
    rows = [{"probe": f"{n}. p", "supports": s} for n, s in
            zip(range(1, 8), ("both", "H_copy", "H_copy", verdicts.NOT_RUN, "both", "neither", verdicts.NOT_RUN))]
    record = {"by_size": {"paper": {"parameters": 1126725, "verdict": rows}}, "verdict_changes": {"size": {}}}
    text, lean = verdicts.copy_or_rl_at_paper_size(record)
    assert lean == verdicts.CLOSER_TO_IT and "1,126,725 parameters" in text and "5 probes run" in text
    assert "no probe's label changes with size" in text
    assert verdicts.claim("… and at the paper's model size").chapter == "06b_model_size"


def test_one_reward_decisions_can_cap_each_group_on_its_own():
    horizon, window = 2, 4  # two-step episodes, two episodes in view
    rewards = np.zeros((4, 12))
    rewards[:, [1, 5, 9]] = 1  # episodes 0, 2 and 4 rewarded: every later episode start has exactly one in view
    traj = rollouts.Trajectories(np.zeros((4, 12), dtype=np.int64), np.zeros((4, 12), dtype=np.int64), rewards)
    goal_of_run = np.full(4, 40)
    every = probes.one_reward_decisions(traj, goal_of_run, horizon, window, np.random.default_rng(0), limit=100)
    assert len(every) == 4 * 4  # episodes 2-5 of each run
    groups = np.array([0, 0, 1, 1])
    capped = probes.one_reward_decisions(traj, goal_of_run, horizon, window, np.random.default_rng(0), limit=3, groups=groups)
    assert np.bincount(groups[capped[:, 0]]).tolist() == [3, 3]
    assert len(probes.one_reward_decisions(traj, goal_of_run, horizon, window, np.random.default_rng(0), limit=3)) == 3


def test_a_variants_verdict_record_holds_its_own_members_numbers_only():
    runs = critique.HeldOutRuns(np.array([10, 70]), n_members=3, n_eval_seeds=1)
    three = lambda *v: stats.mean_and_spread(np.array(v))  # noqa: E731  one value per member
    visits = np.zeros((6, 4), dtype=bool)
    visits[4:, 1:3] = True  # member 2 (runs 4 and 5) returns to the decoy in episodes 2-3
    returns = np.zeros((3, 2, 10))
    returns[2] = 2.0  # member 2 opens every door
    p = critique.ModelProbes(
        runs=runs, traj=None, probs=None, targets=None, decisions=None, floor_decisions=None,
        agreement={k: three(0.1, 0.2, 0.3) for k in ("agree", "mass", "chance")}, search=(three(5.0, 6.0, 7.0), three(0.4, 0.5, 0.6)),
        last10=three(0.7, 0.8, 0.9), prompted={"decoy, rewarded": {"AD": {"decoy": visits}}},
        masking={c: {"AD": three(0.5, 0.6, 0.7), "copy": three(0.9, 0.9, 0.8)} for c in ("intact", "rewarded episode hidden", "chance")},
        key_door=grid_evaluation.GridEvaluation(returns, np.full(2, 2.0), np.zeros((3, 2, 8)), np.arange(3)))
    ref = {"copy agent (random)": (stats.mean_and_spread([30.0]), stats.mean_and_spread([0.3]))}
    r = critique.verdict_record(p, ref, {"copy agent (random)": stats.mean_and_spread([1.0])}, members=[1, 2])
    assert r["agreement"]["agree"]["per_seed"] == pytest.approx([0.2, 0.3])
    assert r["returns_last_10"]["AD"]["per_seed"] == pytest.approx([0.8, 0.9])
    assert r["search"]["Dark Room"]["AD"]["first_reward_episode"]["per_seed"] == pytest.approx([6.0, 7.0])
    assert r["search"]["Dark Room"]["copy agent (random)"]["first_reward_episode"]["mean"] == 30.0  # references as given
    assert r["decoy"]["visits_episodes_2_3"]["AD"]["per_seed"] == pytest.approx([0.0, 1.0])
    assert r["masking"]["intact"]["AD"]["per_seed"] == pytest.approx([0.6, 0.7]) and r["masking"]["chance"]["AD"]["mean"] == pytest.approx(0.65)
    kd = r["key_to_door"]["AD (trained on Dark Room)"]
    assert kd["last_10_door_rate_per_seed"] == [0.0, 1.0] and kd["last_10_return"]["mean"] == pytest.approx(1.0)
    whole = critique.verdict_record(p, ref, {}, members=None)
    assert whole["agreement"]["agree"]["per_seed"] == pytest.approx([0.1, 0.2, 0.3])
    p.masking["intact"]["AD"] = three(0.5, 0.6)  # a member without decisions: the split cannot be made
    with pytest.raises(ValueError, match="no probe-5 decision"):
        critique.verdict_record(p, ref, {}, members=[1, 2])


def test_positions_place_the_source_on_the_same_lines():
    record = critique_record()
    record["search"]["Dark Room Hard"]["source"] = {"first_reward_episode": {"mean": 20.0, "std": 0.0}, "novelty": {"mean": 0.5, "std": 0.0}}
    record["decoy"]["visits_episodes_2_3"]["source"] = {"mean": 0.75, "std": 0.0}
    at = verdicts.critique_positions(record)
    assert at["source"]["search"] == pytest.approx(0.5) and at["source"]["decoy"] == pytest.approx(0.25)
    assert np.isnan(at["source"]["masking"])  # the source did not run probe 5 in this record
    assert all(np.isnan(v) for v in verdicts.critique_positions(critique_record())["source"].values())


def test_size_claims_words_say_whether_any_claims_verdict_differs_between_sizes():
    same = {"small": {"a": "reproduced", "b": "not reproduced"}, "mid": {"a": "reproduced", "b": "not reproduced"},
            "large": {"a": "reproduced", "b": "not reproduced"}}
    assert verdicts.size_claims_words(same).startswith("**Size does not change which of this page's claims reproduce**")
    assert "at all three sizes" in verdicts.size_claims_words(same)
    same["large"]["b"] = "partly"
    assert verdicts.size_claims_words(same) == ("**Size changes the verdict on 1 of the 2 claims**: "
                                                "b: not reproduced (small), not reproduced (mid), partly (large).")
