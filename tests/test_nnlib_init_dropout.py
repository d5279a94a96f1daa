"""Initialization (§2.6) and dropout (§2.3), checked statistically with seeded samples.

Tolerances are five standard errors of the estimate, computed from the sample size.
"""

import numpy as np
import pytest

from nnlib import init, layers, network


@pytest.mark.parametrize(("n_out", "n_in"), [(200, 300), (50, 20), (784, 256)])
def test_xavier_bounds_and_variance(n_out, n_in):
    W = init.xavier_uniform(n_out, n_in, np.random.default_rng(0))
    r = np.sqrt(6 / (n_in + n_out))
    assert W.shape == (n_out, n_in)
    assert np.abs(W).max() <= r
    assert np.abs(W).max() > 0.99 * r  # the whole interval is used
    n = W.size
    target = 2 / (n_in + n_out)  # = r²/3
    # For U[−r, r]: Var(w²) = E[w⁴] − E[w²]² = r⁴/5 − r⁴/9 = 4r⁴/45
    se_var = np.sqrt(4 * r ** 4 / 45 / n)
    assert abs(W.var() - target) < 5 * se_var
    assert abs(W.mean()) < 5 * np.sqrt(target / n)


def test_xavier_bound_formula_and_dtype():
    assert init.xavier_bound(10, 14) == pytest.approx(0.5)
    assert init.xavier_uniform(3, 4, np.random.default_rng(0), dtype=np.float32).dtype == np.float32


def test_zeros_biases():
    b = init.zeros(5)
    np.testing.assert_array_equal(b, np.zeros(5))
    assert init.zeros(3, dtype=np.float32).dtype == np.float32
    model = network.MLP([4, 6, 3], seed=1)
    assert not model.params["b1"].any() and not model.params["b2"].any()


@pytest.mark.parametrize("std", [0.01, 0.5])
def test_small_normal_std(std):
    W = init.small_normal(300, 200, np.random.default_rng(2), std=std)
    n = W.size
    assert abs(W.std() - std) < 5 * std / np.sqrt(2 * n)
    assert abs(W.mean()) < 5 * std / np.sqrt(n)


def test_init_is_deterministic_for_a_seed():
    a = init.weights("xavier", 5, 4, np.random.default_rng(9))
    b = init.weights("xavier", 5, 4, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    c = init.weights(lambda n_out, n_in, rng: np.full((n_out, n_in), 2), 2, 3, None, np.float32)
    assert c.dtype == np.float32 and np.all(c == 2)


@pytest.mark.parametrize(("bad", "message"), [((0, 3), "n_out"), ((3, 2.5), "n_in")])
def test_init_size_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        init.xavier_uniform(*bad, np.random.default_rng(0))


def test_unknown_init_scheme():
    with pytest.raises(ValueError, match="unknown init 'he'.*xavier"):
        init.weights("he", 2, 2, np.random.default_rng(0))


# --- dropout by Monte Carlo ------------------------------------------------------------

N_DRAWS = 20_000
H = np.linspace(-2.0, 3.0, 12)


def many_draws(p, inverted, seed=0):
    """Each row is one dropout draw over the same activation vector H."""
    h = np.tile(H, (N_DRAWS, 1))
    return layers.dropout_forward(h, p, np.random.default_rng(seed), inverted=inverted)


@pytest.mark.parametrize("p", [0.5, 0.8])
def test_inverted_dropout_keeps_the_expected_activation(p):
    out, kept = many_draws(p, inverted=True)
    se = np.abs(H) * np.sqrt((1 - p) / p) / np.sqrt(N_DRAWS)
    assert np.all(np.abs(out.mean(axis=0) - H) <= 5 * se + 1e-12)
    # kept units are scaled by 1/p, dropped ones are 0
    assert set(np.unique(kept)) == {0.0, 1 / p}
    test_out, cache = layers.dropout_forward(H, p, np.random.default_rng(0), train=False)
    np.testing.assert_array_equal(test_out, H)
    assert cache is None


@pytest.mark.parametrize("p", [0.5, 0.8])
def test_plain_dropout_scales_by_p_at_test_time(p):
    out, kept = many_draws(p, inverted=False)
    se = np.abs(H) * np.sqrt(p * (1 - p)) / np.sqrt(N_DRAWS)
    assert np.all(np.abs(out.mean(axis=0) - p * H) <= 5 * se + 1e-12)
    assert set(np.unique(kept)) == {0.0, 1.0}
    test_out, _ = layers.dropout_forward(H, p, np.random.default_rng(0), train=False, inverted=False)
    np.testing.assert_allclose(test_out, p * H, rtol=1e-15)


@pytest.mark.parametrize("p", [0.3, 0.5, 0.9])
def test_kept_fraction_is_p(p):
    _, kept = many_draws(p, inverted=True, seed=3)
    n = kept.size
    assert abs((kept != 0).mean() - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_keep_probability_one_is_the_identity():
    h = np.arange(6.0)
    out, _ = layers.dropout_forward(h, 1.0, np.random.default_rng(0))
    np.testing.assert_array_equal(out, h)


def test_dropout_backward_needs_a_training_forward():
    _, cache = layers.dropout_forward(H, 0.5, np.random.default_rng(0), train=False)
    with pytest.raises(ValueError, match="train=False"):
        layers.dropout_backward(H, cache)


def test_mlp_dropout_only_while_training():
    model = network.MLP([5, 40, 2], activation="relu", dropout_p=0.5, seed=0)
    X = np.random.default_rng(1).normal(size=(8, 5))
    np.testing.assert_array_equal(model.forward(X), model.forward(X))  # evaluation: deterministic
    a, b = model.forward(X, train=True), model.forward(X, train=True)
    assert not np.allclose(a, b)
    masks = [cache[2] for cache in model._caches[:-1]]
    assert set(np.unique(masks[0])) == {0.0, 2.0}


def test_he_normal_variance_fan_in_and_dtype():
    W = init.he_normal(400, 50, np.random.default_rng(3))
    assert W.shape == (400, 50)
    assert abs(W.mean()) < 6 * np.sqrt(2 / 50 / W.size)
    assert W.var() == pytest.approx(2 / 50, rel=6 * np.sqrt(2 / W.size))  # the fan-in, not the fan-out
    assert np.mean(np.abs(W) > 2 * np.sqrt(2 / 50)) == pytest.approx(0.0455, abs=0.005)  # normal tails
    assert init.he_normal(3, 4, np.random.default_rng(0), dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(init.he_normal(5, 4, np.random.default_rng(9)),
                                  init.he_normal(5, 4, np.random.default_rng(9)))
    net = network.MLP([4, 6, 2], activation="relu", init=init.he_normal, seed=0)
    assert net.params["W1"].shape == (6, 4)
    with pytest.raises(ValueError, match="n_in"):
        init.he_normal(2, 0, np.random.default_rng(0))
