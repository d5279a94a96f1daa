"""nnlib's models own their plain-data round trip: ``config()`` and ``from_config(cfg)``."""

import numpy as np
import pytest

from nnlib import activations, data, network


def test_mlp_round_trip_keeps_behaviour_arrays_and_generator():
    model = network.MLP([4, 6, 5, 3], activation=["tanh", "relu"], seed=3, dropout_p=0.8)
    model.params["b1"][:] = 0.1
    cfg = model.config()
    assert cfg["sizes"] == [4, 6, 5, 3] and cfg["activation"] == ["tanh", "relu"]
    assert cfg["dtype"] == "float64" and cfg["dropout_p"] == 0.8
    back = network.MLP.from_config(cfg)
    assert all(back.params[k] is model.params[k] for k in model.params), "the config's own arrays"
    assert back.rng is model.rng
    X = np.random.default_rng(0).normal(size=(7, 4))
    np.testing.assert_array_equal(back.forward(X), model.forward(X))
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    back.dropout_p = model.dropout_p = None  # they share one Generator: compare without drawing masks
    back.loss(X, y)
    model.loss(X, y)
    for k in model.params:
        np.testing.assert_array_equal(back.grads[k], model.grads[k])


def test_mlp_float32_round_trip():
    model = network.MLP([2, 3], dtype=np.float32)
    back = network.MLP.from_config(model.config())
    assert back.dtype == np.float32 and back.params["W1"].dtype == np.float32


def test_window_scorer_round_trip():
    model = network.WindowScorer(12, dim=3, window=3, hidden=5, activation="tanh", seed=4)
    back = network.WindowScorer.from_config(model.config())
    windows = np.array([[0, 1, 2], [3, 4, 5], [11, 10, 9]])
    np.testing.assert_array_equal(back.forward(windows), model.forward(windows))
    assert back.vocab_size == 12 and back.unit is model.unit and back.params["L"] is model.params["L"]


def test_ner_windows_round_trip():
    windows = data.NERWindows(np.zeros((2, 5), int), np.array([0, 1]), {"<pad>": 0, "<unk>": 1}, [["x"]])
    back = data.NERWindows.from_config(windows.config())
    assert back.vocab == windows.vocab and back.windows is windows.windows
    with pytest.raises(ValueError, match="keys"):
        data.NERWindows.from_config({"windows": windows.windows})


@pytest.mark.parametrize("change, match", [
    (lambda c: c["params"].pop("b1"), "params"),
    (lambda c: c["params"].__setitem__("W1", np.zeros((2, 2))), "W1"),
    (lambda c: c.__setitem__("sizes", [3, -1]), "positive"),
    (lambda c: c.__setitem__("dtype", "int8"), "dtype"),
    (lambda c: c.__setitem__("rng", 7), "Generator"),
    (lambda c: c.pop("activation"), "keys"),
])
def test_mlp_config_is_checked_before_anything_is_built(change, match):
    cfg = network.MLP([3, 4, 2], seed=0).config()
    change(cfg)
    with pytest.raises(ValueError, match=match):
        network.MLP.from_config(cfg)


def test_a_unit_with_bound_parameters_has_no_plain_config():
    model = network.MLP([2, 3, 1], activation=[activations.lookup("leaky_relu", k=0.2)])
    with pytest.raises(TypeError, match="leaky_relu"):
        model.config()
