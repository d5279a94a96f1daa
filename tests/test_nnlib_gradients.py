"""Every analytic gradient of nnlib against two independent references.

1. ``autograd``: the forward computation is written again here with
   ``autograd.numpy`` and differentiated by reverse-mode autodiff.
2. nnlib's own ``gradcheck.numerical_gradient`` (centered differences).

Both must agree with the analytic gradient to a relative error below 1e-7 in
float64. Inputs are kept away from kinks, where no derivative exists.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from nnlib import activations, layers, losses, network
from nnlib.gradcheck import numerical_gradient, relative_error

TOL = 1e-7
SEEDS = [0, 1, 2]

# The same units as nnlib.activations, written independently for autograd.
AUTOGRAD_UNITS = {
    "sigmoid": lambda z: 1 / (1 + anp.exp(-z)),
    "tanh": anp.tanh,
    "hardtanh": lambda z: anp.clip(z, -1, 1),
    "softsign": lambda z: z / (1 + anp.abs(z)),
    "relu": lambda z: anp.maximum(z, 0),
    "leaky_relu": lambda z: anp.where(z > 0, z, 0.01 * z),
    "identity": lambda z: z,
}


def random_shape(rng, ndim=2, low=1, high=6):
    return tuple(int(n) for n in rng.integers(low, high, size=ndim))


def away_from_kinks(z, unit, margin=0.05):
    """Shift every entry that lies within ``margin`` of a kink of ``unit`` by 2·margin."""
    z = z.copy()
    for kink in activations.lookup(unit).kinks:
        close = np.abs(z - kink) < margin
        z[close] += 2 * margin
    return z


def assert_close(analytic, reference, what):
    """Element-wise relative error: for autograd, which is exact up to rounding."""
    err = relative_error(analytic, reference)
    assert err < TOL, f"{what}: relative error {err:.2e} ≥ {TOL:g}"


def assert_close_numerically(analytic, numeric, what):
    """Relative error of the whole array, ‖a − n‖ / (‖a‖ + ‖n‖), for finite differences.

    A centered difference has an absolute error floor of about ε_machine·|J|/h
    (~1e-11 here), so an entry that happens to be ~1e-5 cannot reach 1e-7
    element-wise even when backprop is right; measured over the array it can.
    """
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    assert analytic.shape == numeric.shape, f"{what}: shape {analytic.shape} vs {numeric.shape}"
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    err = np.linalg.norm(analytic - numeric) / scale if scale else 0.0
    assert err < TOL, f"{what}: relative error {err:.2e} ≥ {TOL:g}"


def check_both(analytic, autograd_fn, numeric_fn, x):
    """``analytic`` against autograd's gradient of ``autograd_fn`` and the numerical one of ``numeric_fn``."""
    assert_close(analytic, grad(autograd_fn)(x), "vs autograd")
    assert_close_numerically(analytic, numerical_gradient(numeric_fn, x), "vs numerical_gradient")


# --- activations -----------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", activations.NAMES)
def test_activation_derivative(name, seed):
    rng = np.random.default_rng(seed)
    f, f_prime = activations.get(name)
    z = away_from_kinks(rng.uniform(-3, 3, size=random_shape(rng, ndim=int(rng.integers(1, 4)))), name)
    ag = AUTOGRAD_UNITS[name]
    check_both(f_prime(z), lambda t: anp.sum(ag(t)), lambda t: np.sum(f(t)), z)


@pytest.mark.parametrize("k", [0.05, 0.3])
def test_leaky_relu_derivative_with_slope(k):
    rng = np.random.default_rng(7)
    f, f_prime = activations.get("leaky_relu", k=k)
    z = away_from_kinks(rng.uniform(-2, 2, size=(4, 5)), "leaky_relu")
    check_both(f_prime(z), lambda t: anp.sum(anp.where(t > 0, t, k * t)), lambda t: np.sum(f(t)), z)


# --- layers ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_affine_backward(seed):
    rng = np.random.default_rng(seed)
    n, n_in, n_out = random_shape(rng, ndim=3)
    x, W, b = rng.normal(size=(n, n_in)), rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)
    G = rng.normal(size=(n, n_out))  # upstream gradient: J = Σ G ∘ out
    out, cache = layers.affine_forward(x, W, b)
    dx, dW, db = layers.affine_backward(G, cache)

    def J(x_, W_, b_):
        return anp.sum((anp.dot(x_, W_.T) + b_) * G)

    for analytic, arg, value in ((dx, 0, x), (dW, 1, W), (db, 2, b)):
        def along(t, arg=arg):
            args = [x, W, b]
            args[arg] = t
            return J(*args)

        check_both(analytic, along, along, value.copy())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", activations.NAMES)
def test_activation_backward(name, seed):
    rng = np.random.default_rng(seed)
    z = away_from_kinks(rng.uniform(-3, 3, size=random_shape(rng)), name)
    G = rng.normal(size=z.shape)
    a, cache = layers.activation_forward(z, name)
    dz = layers.activation_backward(G, cache)
    ag, f = AUTOGRAD_UNITS[name], activations.get(name)[0]
    check_both(dz, lambda t: anp.sum(ag(t) * G), lambda t: np.sum(f(t) * G), z)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("inverted", [True, False])
def test_dropout_backward_with_fixed_mask(seed, inverted):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=random_shape(rng, ndim=3))
    G = rng.normal(size=h.shape)
    out, kept = layers.dropout_forward(h, 0.6, rng, inverted=inverted)
    dh = layers.dropout_backward(G, kept)
    check_both(dh, lambda t: anp.sum(t * kept * G), lambda t: np.sum(t * kept * G), h)


# --- losses ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_max_margin(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    s, s_c, delta = rng.normal(size=n), rng.normal(size=n), 1.0
    # Keep every margin away from its kink at 0, with both active and inactive windows.
    margins = delta + s_c - s
    s_c[np.abs(margins) < 0.05] += 0.2
    _, ds, ds_c = losses.max_margin(s, s_c, delta)

    def J(a, b):
        return anp.mean(anp.maximum(delta + b - a, 0))

    check_both(ds, lambda t: J(t, s_c), lambda t: losses.max_margin(t, s_c, delta)[0], s.copy())
    check_both(ds_c, lambda t: J(s, t), lambda t: losses.max_margin(s, t, delta)[0], s_c.copy())


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_cross_entropy(seed):
    rng = np.random.default_rng(seed)
    n, c = random_shape(rng, low=2)
    scores, y = 3 * rng.normal(size=(n, c)), rng.integers(0, c, size=n)
    _, dscores = losses.softmax_cross_entropy(scores, y)

    def J(t):
        log_z = anp.log(anp.sum(anp.exp(t), axis=1))
        return anp.mean(log_z - t[np.arange(n), y])

    check_both(dscores, J, lambda t: losses.softmax_cross_entropy(t, y)[0], scores)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_is_the_mean_bit_for_bit(dtype):
    # The loss is summed and divided by N for speed; it must stay ndarray.mean of the rows' terms.
    rng = np.random.default_rng(3)
    for _ in range(50):
        n, c = random_shape(rng)
        scores, y = (3 * rng.normal(size=(n, c))).astype(dtype), rng.integers(0, c, size=n)
        shifted = scores - scores.max(axis=1, keepdims=True)
        rows = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(n), y]
        loss, _ = losses.softmax_cross_entropy(scores, y)
        assert loss.dtype == dtype and loss.tobytes() == rows.mean().tobytes()


@pytest.mark.parametrize("seed", SEEDS)
def test_l2_penalty_penalizes_weights_only(seed):
    rng = np.random.default_rng(seed)
    lam = 0.3
    params = {"W1": rng.normal(size=random_shape(rng)), "b1": rng.normal(size=4),
              "W2": rng.normal(size=random_shape(rng)), "b2": rng.normal(size=2)}
    penalty, grads = losses.l2_penalty(params, lam)
    assert set(grads) == {"W1", "W2"}
    assert penalty == pytest.approx(lam / 2 * sum(np.sum(params[k] ** 2) for k in ("W1", "W2")), rel=1e-12)
    for name in ("W1", "W2"):
        def J(t, name=name):
            return losses.l2_penalty({**params, name: t}, lam)[0]

        check_both(grads[name], lambda t: lam / 2 * anp.sum(t * t), J, params[name].copy())


# --- networks --------------------------------------------------------------------------

def autograd_mlp_loss(units, X, y):
    """Softmax cross-entropy of an MLP, as a function of a flat list [W1, b1, W2, b2, ...]."""
    def J(flat):
        a = X
        n_layers = len(flat) // 2
        for k in range(n_layers):
            z = anp.dot(a, flat[2 * k].T) + flat[2 * k + 1]
            a = z if k == n_layers - 1 else AUTOGRAD_UNITS[units[k]](z)
        log_z = anp.log(anp.sum(anp.exp(a), axis=1))
        return anp.mean(log_z - a[np.arange(len(y)), y])

    return J


MLP_CASES = [
    ([3, 2], []),
    ([4, 5, 3], ["sigmoid"]),
    ([3, 6, 4, 2], ["tanh", "softsign"]),
    ([5, 4, 4, 4, 3], ["relu", "leaky_relu", "sigmoid"]),
    ([2, 5, 5, 2], ["hardtanh", "identity"]),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("sizes", "units"), MLP_CASES)
def test_mlp_backward(sizes, units, seed):
    rng = np.random.default_rng(seed)
    model = network.MLP(sizes, activation=units, seed=seed)
    for name in model.params:  # non-zero biases, so their gradients matter too
        model.params[name] += 0.1 * rng.normal(size=model.params[name].shape)
    n = int(rng.integers(2, 7))
    X, y = rng.normal(size=(n, sizes[0])), rng.integers(0, sizes[-1], size=n)

    scores = model.forward(X)
    loss, dscores = losses.softmax_cross_entropy(scores, y)
    dX = model.backward(dscores)
    for unit, z in model.preactivations():
        for kink in unit.kinks:
            assert np.min(np.abs(z - kink)) > 1e-4, "a pre-activation sits on a kink: choose another seed"

    names = list(model.params)
    J = autograd_mlp_loss(units, X, y)
    reference = grad(J)([model.params[k] for k in names])
    for name, ref in zip(names, reference):
        assert_close(model.grads[name], ref, f"{name} vs autograd")
        numeric = numerical_gradient(lambda _: losses.softmax_cross_entropy(model.forward(X), y)[0],
                                     model.params[name])
        assert_close_numerically(model.grads[name], numeric, f"{name} vs numerical_gradient")

    flat = [model.params[k] for k in names]
    assert_close(dX, grad(lambda x: autograd_mlp_loss(units, x, y)(flat))(X), "dX vs autograd")
    assert_close_numerically(dX, numerical_gradient(
        lambda x: losses.softmax_cross_entropy(model.forward(x), y)[0], X), "dX vs numerical_gradient")


def autograd_window_scores(params, windows, unit):
    x = params["L"][windows].reshape(len(windows), -1)
    a = AUTOGRAD_UNITS[unit](anp.dot(x, params["W"].T) + params["b"])
    return anp.dot(a, params["U"])[:, 0]


def scorer_with_repeats(seed, unit):
    rng = np.random.default_rng(seed)
    model = network.WindowScorer(vocab_size=11, dim=3, window=5, hidden=4, activation=unit, seed=seed)
    model.params["b"] += 0.1 * rng.normal(size=4)
    # Word 2 occurs three times in the first window and once in the second.
    windows = np.array([[2, 5, 2, 7, 2], [3, 2, 8, 4, 6], [1, 1, 0, 5, 3]])
    return model, windows, rng


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("unit", ["sigmoid", "tanh"])
def test_window_scorer_backward(seed, unit):
    model, windows, rng = scorer_with_repeats(seed, unit)
    ds = rng.normal(size=len(windows))
    model.forward(windows)
    model.backward(ds)
    for name in model.params:
        def J(t, name=name):
            return anp.sum(autograd_window_scores({**model.params, name: t}, windows, unit) * ds)

        def J_np(_):
            return float(np.sum(model.forward(windows) * ds))

        check_both(model.grads[name], J, J_np, model.params[name])
    # The repeated word collects one share per occurrence; an unused word gets none.
    assert np.all(model.grads["L"][0] != 0) and np.all(model.grads["L"][2] != 0)
    unused = sorted(set(range(11)) - set(windows.ravel()))
    assert unused and np.all(model.grads["L"][unused] == 0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_window_scorer_max_margin_loss(seed, lam):
    model, windows, rng = scorer_with_repeats(seed, "sigmoid")
    corrupt = windows.copy()
    corrupt[:, 2] = [4, 6, 2]
    delta = 0.02  # with these seeds: some windows active, some already past the margin
    s, s_c = model.forward(windows), model.forward(corrupt)
    margins = delta + s_c - s
    assert np.min(np.abs(margins)) > 1e-4, "a margin sits on the kink of max(·, 0)"

    loss = model.max_margin_loss(windows, corrupt, delta=delta, lam=lam)
    grads = {k: g.copy() for k, g in model.grads.items()}

    def J(params):
        m = delta + autograd_window_scores(params, corrupt, "sigmoid") \
            - autograd_window_scores(params, windows, "sigmoid")
        return anp.mean(anp.maximum(m, 0)) + lam / 2 * (anp.sum(params["W"] ** 2) + anp.sum(params["U"] ** 2))

    assert loss == pytest.approx(J(model.params), rel=1e-12)
    reference = grad(J)(dict(model.params))
    for name in model.params:
        assert_close(grads[name], reference[name], f"{name} vs autograd")
        numeric = numerical_gradient(
            lambda _: model.max_margin_loss(windows, corrupt, delta=delta, lam=lam), model.params[name])
        assert_close_numerically(grads[name], numeric, f"{name} vs numerical_gradient")
    # L2 touches W and U only: with λ > 0 the bias gradient is the same as without it.
    if lam:
        model.max_margin_loss(windows, corrupt, delta=delta, lam=0.0)
        np.testing.assert_array_equal(grads["b"], model.grads["b"])
        assert not np.allclose(grads["W"], model.grads["W"])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("unit", ["sigmoid", "tanh", "softsign"])
@pytest.mark.parametrize("ds", [1.0, -1.0])
def test_elemental_backprop_matches_vectorized(seed, unit, ds):
    model = network.four_two_one(seed=seed, activation=unit)
    rng = np.random.default_rng(seed)
    model.params["b1"] += rng.normal(size=2)
    x = rng.normal(size=4)
    model.forward(x[None, :])
    model.backward(np.array([[ds]]))
    elemental = network.elemental_backprop(model.params, x, activation=unit, ds=ds)
    assert set(elemental) == set(model.params)
    for name, g in elemental.items():
        assert g.shape == model.params[name].shape
        np.testing.assert_allclose(g, model.grads[name], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_mlp_backward_through_dropout(seed):
    rng = np.random.default_rng(seed)
    model = network.MLP([4, 6, 5, 3], activation=["tanh", "sigmoid"], dropout_p=0.6, seed=seed)
    X, y = rng.normal(size=(5, 4)), rng.integers(0, 3, size=5)
    state = model.rng.bit_generator.state

    def J_np(x):
        model.rng.bit_generator.state = state  # the same dropout masks on every evaluation
        return losses.softmax_cross_entropy(model.forward(x, train=True), y)[0]

    model.rng.bit_generator.state = state
    scores = model.forward(X, train=True)
    masks = [cache[2] for cache in model._caches[:-1]]
    assert all(np.any(m == 0) for m in masks), "no unit was dropped: the test would prove nothing"
    dX = model.backward(losses.softmax_cross_entropy(scores, y)[1])

    def J_ag(x):
        a = x
        for k, (unit, mask) in enumerate(zip(("tanh", "sigmoid"), masks), start=1):
            a = AUTOGRAD_UNITS[unit](anp.dot(a, model.params[f"W{k}"].T) + model.params[f"b{k}"]) * mask
        s = anp.dot(a, model.params["W3"].T) + model.params["b3"]
        return anp.mean(anp.log(anp.sum(anp.exp(s), axis=1)) - s[np.arange(len(y)), y])

    check_both(dX, J_ag, J_np, X)


def test_mlp_backward_without_input_gradient_gives_the_same_parameter_gradients():
    rng = np.random.default_rng(0)
    model = network.MLP([6, 5, 4, 3], activation="relu", seed=0)
    X, y = rng.normal(size=(7, 6)), rng.integers(0, 3, size=7)
    _, dscores = losses.softmax_cross_entropy(model.forward(X), y)
    assert model.backward(dscores).shape == X.shape
    full = {k: g.copy() for k, g in model.grads.items()}
    assert model.backward(dscores, input_grad=False) is None
    for name, g in full.items():
        np.testing.assert_array_equal(model.grads[name], g)
    model.loss(X, y)  # the training path skips ∂J/∂X and leaves the same gradients
    for name, g in full.items():
        np.testing.assert_allclose(model.grads[name], g, rtol=1e-12)
