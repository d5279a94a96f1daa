"""float32 end to end: no silent promotion to float64 anywhere in a training step."""

import numpy as np
import pytest

from nnlib import data, layers, losses, network, optim, train


@pytest.mark.parametrize("unit", ["sigmoid", "relu", "tanh", "leaky_relu", "hardtanh", "softsign"])
@pytest.mark.parametrize("dropout_p", [None, 0.8])
def test_mlp_step_keeps_float32(unit, dropout_p):
    model = network.MLP([6, 5, 4, 3], activation=unit, dtype=np.float32, dropout_p=dropout_p, seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(7, 6)), rng.integers(0, 3, size=7)  # float64 input is converted
    scores = model.forward(X, train=True)
    assert scores.dtype == np.float32
    loss, dscores = losses.softmax_cross_entropy(scores, y)
    assert dscores.dtype == np.float32
    dX = model.backward(dscores)
    assert dX.dtype == np.float32
    assert all(g.dtype == np.float32 for g in model.grads.values())
    assert all(c[0].dtype == np.float32 for c in model._caches)
    opt = optim.Adam(0.01)
    opt.step(model.params, model.grads)
    assert all(p.dtype == np.float32 for p in model.params.values())


def test_float32_gradients_match_float64():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(10, 4)), rng.integers(0, 3, size=10)
    grads = {}
    for dtype in (np.float32, np.float64):
        model = network.MLP([4, 8, 3], activation="tanh", dtype=dtype, seed=3)
        model.loss(X, y, lam=0.01)
        grads[dtype] = model.grads
    for name, g in grads[np.float64].items():
        np.testing.assert_allclose(grads[np.float32][name], g, rtol=2e-4, atol=1e-6)


def test_float32_training_run():
    X, y = data.moons(120, seed=0)
    model = network.MLP([2, 16, 2], activation="relu", dtype=np.float32, seed=0)
    history = train.train(model, (X, y), lambda m, X_, y_: m.loss(X_, y_, lam=1e-4), optim.Momentum(0.1),
                          epochs=15, batch_size=20, progress=False)
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert history.epoch_loss[-1] < 0.6 * history.epoch_loss[0]


def test_float32_layers():
    x = np.ones((2, 3), np.float32)
    out, cache = layers.affine_forward(x, np.ones((4, 3), np.float32), np.zeros(4, np.float32))
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layers.affine_backward(np.ones((2, 4), np.float32), cache))
    h, kept = layers.dropout_forward(out, 0.5, np.random.default_rng(0))
    assert h.dtype == np.float32 and kept.dtype == np.float32
    assert layers.dropout_backward(np.ones_like(h), kept).dtype == np.float32
    a, cache = layers.activation_forward(out, "sigmoid")
    assert layers.activation_backward(np.ones_like(a), cache).dtype == np.float32


@pytest.mark.parametrize("dropout_p", [None, 0.5])
def test_window_scorer_keeps_float32(dropout_p):
    model = network.WindowScorer(12, dtype=np.float32, dropout_p=dropout_p, seed=0)
    windows = np.array([[2, 3, 4, 5, 6], [7, 8, 9, 10, 11]])
    corrupt = windows.copy()
    corrupt[:, 2] = [11, 2]
    model.max_margin_loss(windows, corrupt, lam=0.1)
    assert model.forward(windows, train=True).dtype == np.float32
    assert {k: g.dtype for k, g in model.grads.items()} == dict.fromkeys(model.grads, np.float32)
    model.forward(windows)
    model.backward(np.ones(2))  # a float64 error signal does not promote the gradients
    assert all(g.dtype == np.float32 for g in model.grads.values())
