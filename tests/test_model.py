import dataclasses

import numpy as np
import pytest
import torch

from adlib.envs import sample_gaussian_bandits
from adlib.in_context import InContextPolicy
from adlib.rollouts import rollout
from adlib.model import ADConfig, ADTransformer, describe

SMALL = ADConfig(n_actions=5, n_observations=3, context_len=8, d_model=16, n_layers=3, n_heads=2, d_ff=24, dropout=0.0, attn_dropout=0.0)


FRAMES = ADConfig(n_actions=3, context_len=6, d_model=16, n_layers=2, n_heads=2, d_ff=24, dropout=0.0, attn_dropout=0.0, frame_size=16)


def random_inputs(config, B, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    if config.frame_size:
        obs = torch.rand(B, T, 3, config.frame_size, config.frame_size, generator=g)
    else:
        obs = torch.randint(0, config.n_observations, (B, T), generator=g)
    prev_a = torch.randint(0, config.n_actions + 1, (B, T), generator=g)
    prev_r = torch.randn(B, T, generator=g)
    return obs, prev_a, prev_r


def test_config_builds_the_architecture_it_says():
    c = ADConfig(n_actions=7, n_observations=4, context_len=12, d_model=48, n_layers=3, n_heads=6, d_ff=80)
    m = ADTransformer(c)
    assert len(m.blocks) == 3
    assert m.n_members == 1
    assert m.obs_embedding.weight.shape == (1, 4, 48)  # member, entries, width
    assert m.action_embedding.weight.shape == (1, 8, 48)  # + start token
    assert m.head.weight.shape == (1, 48, 7)  # member, in, out
    for block in m.blocks:
        assert block.attn.qkv.weight.shape == (1, 48, 3 * 48)
        assert block.mlp[0].weight.shape == (1, 48, 80)
        assert block.attn.config.n_heads == 6
    cache = m.new_cache(batch_size=5)
    assert cache.k.shape == (3, 5, 6, 12, 8)  # layers, batch, heads, context, head width
    obs, a, r = random_inputs(c, 2, 20)
    assert m(obs, a, r).shape == (2, 20, 7)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(ADConfig) if f.name not in ("n_actions",)])
def test_every_config_field_changes_the_model(field):
    """A flag that silently does not reach the model is a known failure of public AD code."""
    changed = {
        "n_observations": 4, "context_len": 5, "d_model": 24, "n_layers": 2, "n_heads": 4, "d_ff": 40,
        "dropout": 0.5, "attn_dropout": 0.5, "rope_base": 7.0, "grid_size": 2,
        "reward_by_action": True, "coordinate_embedding": True, "frame_size": 16,
    }[field]
    base = dataclasses.replace(SMALL, dropout=0.0, attn_dropout=0.0)
    if field == "grid_size":  # a 2 x 2 grid has 4 observations
        base = dataclasses.replace(base, n_observations=4)
    if field == "coordinate_embedding":  # needs a grid
        base = dataclasses.replace(base, n_observations=4, grid_size=2)
    other = dataclasses.replace(base, **{field: changed})
    obs, a, r = random_inputs(base, 2, 16)
    torch.manual_seed(0)
    m1 = ADTransformer(base)
    torch.manual_seed(0)
    m2 = ADTransformer(other)
    shapes1 = [p.shape for p in m1.parameters()]
    shapes2 = [p.shape for p in m2.parameters()]
    if shapes1 != shapes2:
        return
    if field in ("dropout", "attn_dropout"):
        m1.train(), m2.train()
    torch.manual_seed(1)
    y1 = m1(obs, a, r)
    torch.manual_seed(1)
    y2 = m2(obs, a, r)
    assert not torch.allclose(y1, y2), f"changing {field} changed nothing"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(d_model=30, n_heads=4), "divisible by n_heads"),
        (dict(d_model=12, n_heads=4), "even"),
        (dict(n_actions=1), "n_actions"),
        (dict(n_layers=0), "n_layers"),
        (dict(dropout=1.0), "dropout"),
        (dict(context_len=2.5), "context_len"),
        (dict(rope_base=1.0), "rope_base"),
        (dict(grid_size=2), "needs n_observations = 4"),
        (dict(reward_by_action=1), "reward_by_action"),
        (dict(coordinate_embedding=1), "coordinate_embedding must be True or False"),
        (dict(coordinate_embedding=True), "needs a grid"),
        (dict(frame_size=20), "frame_size must be 0 .* or one of"),
        (dict(frame_size=64), "at most 32"),
        (dict(n_observations=4, grid_size=2, frame_size=16), "exclude each other"),
    ],
)
def test_invalid_configs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(SMALL, **kwargs)


def test_causal_future_does_not_change_past():
    m = ADTransformer(SMALL).eval()
    obs, a, r = random_inputs(SMALL, 2, 20)
    y = m(obs, a, r)
    r2 = r.clone()
    r2[:, 15:] += 10
    y2 = m(obs, a, r2)
    torch.testing.assert_close(y[:, :15], y2[:, :15])
    assert not torch.allclose(y[:, 15:], y2[:, 15:])


def test_sliding_window_limits_what_a_position_sees():
    c = dataclasses.replace(SMALL, n_layers=1)
    m = ADTransformer(c).eval()
    obs, a, r = random_inputs(c, 1, 20)
    y = m(obs, a, r)
    r2 = r.clone()
    r2[:, 2] += 10  # with one layer, step 2 is outside the window of steps >= 2 + context_len
    y2 = m(obs, a, r2)
    torch.testing.assert_close(y[:, 2 + c.context_len:], y2[:, 2 + c.context_len:])
    assert not torch.allclose(y[:, 2:2 + c.context_len], y2[:, 2:2 + c.context_len])


GRID = dataclasses.replace(SMALL, n_observations=9, grid_size=3)


@pytest.mark.parametrize("config", [
    SMALL, dataclasses.replace(SMALL, reward_by_action=True), GRID, dataclasses.replace(GRID, coordinate_embedding=True), FRAMES,
], ids=["plain", "reward_by_action", "grid", "coordinate_embedding", "frames"])
def test_kv_cache_equals_full_rerun_including_when_window_slides(config):
    m = ADTransformer(config).eval()
    T = 3 * config.context_len + 5  # the window slides many times
    obs, a, r = random_inputs(config, 4, T)
    with torch.no_grad():
        full = torch.softmax(m(obs, a, r), -1)
        cache = m.new_cache(4)
        cached = torch.stack([torch.softmax(m.step(cache, obs[:, t], a[:, t], r[:, t]), -1) for t in range(T)], 1)
    torch.testing.assert_close(cached, full, atol=1e-6, rtol=1e-5)
    assert torch.equal(cached.argmax(-1), full.argmax(-1))


@pytest.mark.parametrize("greedy", [True, False])
def test_cached_and_uncached_rollouts_take_identical_actions(greedy):
    c = ADConfig(n_actions=4, context_len=6, d_model=16, n_layers=2, n_heads=2, d_ff=16, dropout=0.0, attn_dropout=0.0)
    m = ADTransformer(c)
    tasks = sample_gaussian_bandits(16, 4, np.random.default_rng(0))
    env = tasks.env(20, seed=3)
    fast = rollout(env, InContextPolicy(m, greedy=greedy, use_kv_cache=True), 20, seed=9)
    slow = rollout(env, InContextPolicy(m, greedy=greedy, use_kv_cache=False), 20, seed=9)
    np.testing.assert_array_equal(fast.actions, slow.actions)
    np.testing.assert_array_equal(fast.rewards, slow.rewards)


def test_reward_by_action_adds_the_reward_times_its_actions_vector():
    """Known values: with every other embedding zeroed, a token is exactly r * e[a_prev]."""
    c = dataclasses.replace(SMALL, reward_by_action=True)
    m = ADTransformer(c).eval()
    with torch.no_grad():
        for table in (m.obs_embedding, m.action_embedding, m.reward_embedding):
            table.weight.zero_()
        e = torch.arange(1.0, 7.0)[None, :, None] * torch.ones(1, 6, c.d_model)  # e[a] = a + 1 in every dimension
        m.reward_by_action_embedding.weight.copy_(e)
        tokens = m.embed(torch.zeros(1, 3, dtype=torch.long), torch.tensor([[5, 0, 3]]), torch.tensor([[0.0, 2.0, -1.5]]))
    expected = torch.tensor([6 * 0.0, 1 * 2.0, 4 * -1.5])[None, :, None].expand(1, 3, c.d_model)
    torch.testing.assert_close(tokens, expected)
    assert ADTransformer(c).n_parameters() == ADTransformer(SMALL).n_parameters() + 6 * c.d_model


def test_coordinate_embedding_adds_row_and_column_scaled_to_minus_one_one():
    """Known values on a 3 x 3 grid: with every other embedding zeroed, a token is (row', col') @ W + b,
    where row' and col' are -1, 0, 1 for rows and columns 0, 1, 2."""
    c = dataclasses.replace(GRID, coordinate_embedding=True)
    m = ADTransformer(c).eval()
    with torch.no_grad():
        for table in (m.row_embedding, m.col_embedding, m.action_embedding, m.reward_embedding):
            table.weight.zero_()
        w_row, w_col = torch.arange(c.d_model, dtype=torch.float32), torch.ones(c.d_model)
        m.coordinate_embedding.weight.copy_(torch.stack([w_row, w_col])[None])
        m.coordinate_embedding.bias.fill_(0.5)
        cells = torch.tensor([[0, 5, 7]])  # (row, col) = (0, 0), (1, 2), (2, 1)
        tokens = m.embed(cells, torch.zeros_like(cells), torch.zeros(1, 3))
    expected = torch.stack([-w_row - w_col, 0 * w_row + w_col, w_row + 0 * w_col]) + 0.5
    torch.testing.assert_close(tokens[0], expected)
    assert ADTransformer(c).n_parameters() == ADTransformer(GRID).n_parameters() + 3 * c.d_model  # [2, d] weight + [d] bias


def test_bad_input_shapes_and_values_raise():
    m = ADTransformer(SMALL)
    obs, a, r = random_inputs(SMALL, 2, 5)
    with pytest.raises(ValueError, match="share one shape"):
        m(obs, a[:, :4], r)
    with pytest.raises(ValueError, match="batch, time"):
        m(obs[0], a[0], r[0])
    with pytest.raises(ValueError, match="observations must lie"):
        m(obs + SMALL.n_observations, a, r)
    with pytest.raises(ValueError, match="previous actions"):
        m(obs, a + 10, r)
    cache = m.new_cache(3)
    with pytest.raises(ValueError, match="one per cached rollout"):
        m.step(cache, obs[:, 0], a[:, 0], r[:, 0])


def test_a_frame_model_takes_frames_only_and_an_index_model_indices_only():
    frames, a, r = random_inputs(FRAMES, 2, 5)
    with pytest.raises(ValueError, match="frames need a model with ADConfig.frame_size"):
        ADTransformer(SMALL)(frames, a, r)
    m = ADTransformer(FRAMES)
    with pytest.raises(ValueError, match="takes float frames"):
        m(torch.zeros(2, 5, 3, 16, 16, dtype=torch.long), a, r)
    with pytest.raises(ValueError, match="batch, time"):
        m(torch.zeros(2, 5, dtype=torch.long), a, r)
    with pytest.raises(ValueError, match=r"must end in \(3, 16, 16\)"):
        m(torch.rand(2, 5, 3, 24, 24), a, r)
    with pytest.raises(ValueError, match="needs a camera"):
        InContextPolicy(m)
    # The encoder reads the pixels: a changed frame changes the output at that step and after, not before.
    other = frames.clone()
    other[:, 3] = 1 - other[:, 3]
    with torch.no_grad():
        y1, y2 = m.eval()(frames, a, r), m(other, a, r)
    torch.testing.assert_close(y1[:, :3], y2[:, :3])
    assert not torch.allclose(y1[:, 3:], y2[:, 3:])


def members_and_singles(config, n=3):
    singles = []
    for seed in range(n):
        torch.manual_seed(seed)
        singles.append(ADTransformer(config).eval())
    return singles, ADTransformer.stack(singles).eval()


def test_members_compute_exactly_what_each_model_computes_alone():
    for config in (SMALL, GRID, dataclasses.replace(GRID, coordinate_embedding=True), FRAMES):
        singles, ensemble = members_and_singles(config)
        assert ensemble.n_members == 3 and ensemble.n_parameters() == singles[0].n_parameters()
        obs, a, r = random_inputs(config, 3 * 4, 2 * config.context_len + 3)  # the window slides too
        with torch.no_grad():
            together = ensemble(obs, a, r)
            alone = torch.cat([m(obs[4 * e:4 * (e + 1)], a[4 * e:4 * (e + 1)], r[4 * e:4 * (e + 1)]) for e, m in enumerate(singles)])
        torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
        # Different seeds give different members: the ensemble is not one model three times.
        assert not torch.allclose(together[:4], together[4:8])


@pytest.mark.parametrize("reward_by_action", [False, True])
def test_members_step_with_one_kv_cache_like_separate_models(reward_by_action):
    config = dataclasses.replace(SMALL, reward_by_action=reward_by_action)
    singles, ensemble = members_and_singles(config, n=2)
    obs, a, r = random_inputs(config, 2 * 3, 2 * config.context_len)
    with torch.no_grad():
        cache = ensemble.new_cache(6)
        together = torch.stack([ensemble.step(cache, obs[:, t], a[:, t], r[:, t]) for t in range(obs.shape[1])], 1)
        alone = torch.cat([m(obs[3 * e:3 * (e + 1)], a[3 * e:3 * (e + 1)], r[3 * e:3 * (e + 1)]) for e, m in enumerate(singles)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_member_takes_out_the_model_that_was_stacked():
    singles, ensemble = members_and_singles(SMALL)
    for e, single in enumerate(singles):
        out = ensemble.member(e)
        assert out.n_members == 1
        for p, q in zip(single.parameters(), out.parameters()):
            assert torch.equal(p, q)
    with pytest.raises(IndexError, match="member 3"):
        ensemble.member(3)


def test_bad_member_layouts_raise():
    singles, ensemble = members_and_singles(SMALL)
    obs, a, r = random_inputs(SMALL, 4, 5)
    with pytest.raises(ValueError, match="split evenly among 3 members"):
        ensemble(obs, a, r)
    with pytest.raises(ValueError, match="one ADConfig"):
        ADTransformer.stack([singles[0], ADTransformer(dataclasses.replace(SMALL, d_ff=8))])
    with pytest.raises(ValueError, match="n_members"):
        ADTransformer(SMALL, n_members=0)


@pytest.mark.parametrize("config", [
    SMALL,
    ADConfig(n_actions=10, context_len=12, d_model=32, n_layers=2, n_heads=4, d_ff=48, reward_by_action=True),
    ADConfig(n_actions=5, n_observations=81, grid_size=9, coordinate_embedding=True, context_len=10, d_model=16, n_heads=2, d_ff=40),
    dataclasses.replace(FRAMES, frame_size=32),
], ids=["plain", "reward-by-action", "grid-with-coordinates", "frames"])
def test_training_step_flops_equal_torchs_count_of_a_step(config):
    """The formula matches torch's own FLOP counter over one forward and backward pass, with
    attention computed by the plain kernel (whose products torch can see)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from adlib.model import training_step_flops

    model, B = ADTransformer(config), 3
    obs, prev_a, prev_r = random_inputs(config, B, config.context_len)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(obs, prev_a, prev_r).sum().backward()
    assert training_step_flops(config, B) == counter.get_total_flops()
    assert training_step_flops(config, 2 * B) == 2 * training_step_flops(config, B)  # linear in the batch
    with pytest.raises(ValueError, match="batch_size"):
        training_step_flops(config, 0)


def test_config_changes_names_every_field_that_differs():
    from adlib.model import config_changes

    old = ADConfig(n_actions=10, reward_by_action=True)
    new = dataclasses.replace(old, n_actions=5, n_observations=81, grid_size=9, reward_by_action=False)
    assert config_changes(old, new) == ["actions 10 → 5", "observations 1 → 81", "reward embedded per previous action on → off",
                                        "grid size of the (x, y) embedding (0: none) 0 → 9"]
    assert config_changes(new, new) == []


def test_describe_names_the_size_and_dropout():
    config = ADConfig(n_actions=5, n_observations=81, context_len=80, d_model=64, n_layers=4, n_heads=4, d_ff=2048, dropout=0.1, attn_dropout=0.5)
    assert describe(config) == "4 layers, width 64, 4 heads, feed-forward 2048, dropout 0.1, attention dropout 0.5"
    assert describe(dataclasses.replace(config, dropout=0.0, attn_dropout=0.0)).endswith("no dropout")
