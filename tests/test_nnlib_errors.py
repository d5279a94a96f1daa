"""Every public function rejects bad input with a ValueError that says what was
expected and what was received, so that a transposed matrix is found without a debugger."""

import numpy as np
import pytest

from nnlib import activations, gradcheck, layers, losses, network, optim, preprocessing, schedules
from nnlib import data as nndata

RNG = np.random.default_rng(0)


def _mlp_after_forward():
    model = network.MLP([20, 4, 3], seed=0)
    model.forward(np.ones((5, 20)))
    return model


def _scorer_after_forward():
    model = network.WindowScorer(10, dim=4, window=5, hidden=8)
    model.forward(np.zeros((3, 5), dtype=int))
    return model


def _affine_cache():
    return layers.affine_forward(np.ones((3, 20)), np.ones((4, 20)), np.ones(4))[1]


# (call, substrings that must all appear in the message)
SHAPE_ERRORS = {
    "affine_forward x": (lambda: layers.affine_forward(np.ones((3, 21)), np.ones((4, 20)), np.ones(4)),
                         ["x:", "(N, 20)", "(3, 21)"]),
    "affine_forward b": (lambda: layers.affine_forward(np.ones((3, 20)), np.ones((4, 20)), np.ones(5)),
                         ["b:", "(4,)", "(5,)"]),
    "affine_forward W": (lambda: layers.affine_forward(np.ones((3, 20)), np.ones(20), np.ones(4)),
                         ["W:", "(N, *)", "(20,)"]),
    "affine_backward": (lambda: layers.affine_backward(np.ones((3, 5)), _affine_cache()),
                        ["dout:", "(3, 4)", "(3, 5)"]),
    "activation_backward": (lambda: layers.activation_backward(
        np.ones((2, 3)), layers.activation_forward(np.ones((3, 2)))[1]), ["da:", "(3, 2)", "(2, 3)"]),
    "dropout_backward": (lambda: layers.dropout_backward(
        np.ones((4,)), layers.dropout_forward(np.ones((2, 2)), 0.5, RNG)[1]), ["dout:", "(2, 2)", "(4,)"]),
    "max_margin": (lambda: losses.max_margin(np.ones(3), np.ones(4)), ["s_c:", "(3,)", "(4,)"]),
    "max_margin 2-D": (lambda: losses.max_margin(np.ones((3, 1)), np.ones((3, 1))), ["s:", "(3, 1)"]),
    "softmax_cross_entropy y": (lambda: losses.softmax_cross_entropy(np.ones((3, 4)), np.zeros(2, int)),
                                ["y:", "(3,)", "(2,)"]),
    "softmax_cross_entropy scores": (lambda: losses.softmax_cross_entropy(np.ones(4), np.zeros(4, int)),
                                     ["scores:", "(N, *)", "(4,)"]),
    "MLP.forward": (lambda: network.MLP([20, 4, 3]).forward(np.ones((3, 21))), ["X:", "(N, 20)", "(3, 21)"]),
    "MLP.backward": (lambda: _mlp_after_forward().backward(np.ones((5, 4))), ["dout:", "(5, 3)", "(5, 4)"]),
    "WindowScorer.forward": (lambda: network.WindowScorer(10).forward(np.zeros((2, 4), int)),
                             ["windows:", "(N, 5)", "(2, 4)"]),
    "WindowScorer.backward": (lambda: _scorer_after_forward().backward(np.ones(4)), ["ds:", "(3,)", "(4,)"]),
    "elemental_backprop x": (lambda: network.elemental_backprop(network.four_two_one().params, np.ones(3)),
                             ["x:", "(4,)", "(3,)"]),
    "elemental_backprop W2": (lambda: network.elemental_backprop(
        {"W1": np.ones((2, 4)), "b1": np.ones(2), "W2": np.ones((2, 1)), "b2": np.ones(1)}, np.ones(4)),
        ["W2:", "(1, 2)", "(2, 1)"]),
    "relative_error": (lambda: gradcheck.relative_error(np.ones((2, 3)), np.ones((3, 2))),
                       ["(2, 3)", "(3, 2)"]),
    "check_gradients": (lambda: gradcheck.check_gradients(lambda: 0.0, {"W": np.ones((2, 3))},
                                                          {"W": np.ones((3, 2))}), ["(2, 3)", "(3, 2)"]),
    "optimizer step": (lambda: optim.SGD(0.1).step({"W": np.ones((2, 3))}, {"W": np.ones((3, 2))}),
                       ["grads['W']", "(2, 3)", "(3, 2)"]),
    "preprocessing": (lambda: preprocessing.Standardization().fit(np.ones((4, 20)) * np.arange(4)[:, None])
                      .transform(np.ones((3, 21))), ["X:", "(N, 20)", "(3, 21)"]),
    "fan_in_scaled": (lambda: schedules.fan_in_scaled(0.1, np.ones(3)), ["(n_out, n_in)", "(3,)"]),
    "corrupt_windows": (lambda: nndata.corrupt_windows(np.zeros((3, 4), int), 10, RNG),
                        ["(N, odd window)", "(3, 4)"]),
}


@pytest.mark.parametrize("case", sorted(SHAPE_ERRORS))
def test_wrong_shape_names_expected_and_received(case):
    call, fragments = SHAPE_ERRORS[case]
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from {message!r}"


OTHER_ERRORS = {
    # bad dtypes
    "complex x": (lambda: layers.affine_forward(np.ones((2, 3), complex), np.ones((1, 3)), np.ones(1)),
                  "x: expected a float32 or float64 array, got dtype complex128"),
    "string z": (lambda: layers.activation_forward(np.array(["a"])), "z: expected a float32 or float64"),
    "float labels": (lambda: losses.softmax_cross_entropy(np.ones((2, 3)), np.array([0.0, 1.0])),
                     "y: expected integer class labels, got dtype float64"),
    "labels out of range": (lambda: losses.softmax_cross_entropy(np.ones((2, 3)), np.array([0, 3])),
                            r"y: labels must lie in \[0, 3\), got range \[0, 3\]"),
    "float windows": (lambda: network.WindowScorer(10).forward(np.zeros((2, 5))),
                      "windows: expected integer word indices, got dtype float64"),
    "word index": (lambda: network.WindowScorer(10).forward(np.full((1, 5), 10)), r"\[0, 10\)"),
    "MLP dtype": (lambda: network.MLP([2, 2], dtype=np.int32),
                  "dtype: expected float32 or float64, got int32"),
    "integer gradcheck input": (lambda: gradcheck.numerical_gradient(np.sum, np.arange(3)), "dtype int64"),
    # bad probabilities
    "dropout p=0": (lambda: layers.dropout_forward(np.ones(3), 0.0, RNG),
                    r"p: expected a probability in \(0, 1\]"),
    "dropout p>1": (lambda: layers.dropout_forward(np.ones(3), 1.5, RNG), "got 1.5"),
    "MLP dropout_p": (lambda: network.MLP([2, 3, 2], dropout_p=0), "dropout_p: expected a probability"),
    "scorer dropout_p": (lambda: network.WindowScorer(5, dropout_p=-0.1), "dropout_p"),
    "leaky slope": (lambda: activations.get("leaky_relu", k=1.5), "0 < k < 1, got 1.5"),
    "leaky slope call": (lambda: activations.leaky_relu(np.ones(2), k=0), "0 < k < 1"),
    # unknown activation names and parameters
    "unknown activation": (lambda: activations.get("swish"),
                           "unknown activation 'swish'; expected one of sigmoid"),
    "MLP activation": (lambda: network.MLP([2, 3, 2], activation="gelu"), "unknown activation 'gelu'"),
    "layer activation": (lambda: layers.activation_forward(np.ones(2), "Relu"), "unknown activation 'Relu'"),
    "scorer activation": (lambda: network.WindowScorer(5, activation="elu"), "unknown activation 'elu'"),
    "elemental activation": (lambda: network.elemental_backprop(network.four_two_one().params, np.ones(4),
                                                                activation="step"), "unknown activation"),
    "parameters of a plain unit": (lambda: activations.get("relu", k=0.1), "takes no parameters"),
    "one unit per hidden layer": (lambda: network.MLP([2, 3, 3, 2], activation=["relu"]),
                                  r"one unit per hidden layer \(2\), got 1"),
    "MLP sizes": (lambda: network.MLP([3]), "sizes: expected at least"),
    "backward before forward": (lambda: network.MLP([2, 2]).backward(np.ones((1, 2))), "before forward"),
    "scorer backward before forward": (lambda: network.WindowScorer(5).backward(np.ones(1)),
                                       "before forward"),
    # other bad numbers
    "negative lr": (lambda: optim.SGD(-0.1), "lr: expected a positive number, got -0.1"),
    "momentum mu": (lambda: optim.Momentum(0.1, mu=1.0), "mu"),
    "rmsprop decay": (lambda: optim.RMSProp(0.1, decay=1.2), "decay"),
    "adam beta": (lambda: optim.Adam(0.1, beta2=1.0), "beta2"),
    "missing gradient": (lambda: optim.SGD(0.1).step({"W": np.ones(2)}, {}), "no gradient for parameter 'W'"),
    "negative lambda": (lambda: losses.l2_penalty({"W": np.ones(2)}, -1.0), "lam"),
    "negative delta": (lambda: losses.max_margin(np.ones(2), np.ones(2), delta=0), "delta"),
    "unsquared norm at zero": (lambda: losses.l2_penalty_as_in_notes({"W": np.zeros(2)}, 0.1), "W = 0"),
}


@pytest.mark.parametrize("case", sorted(OTHER_ERRORS))
def test_bad_input_is_named(case):
    call, pattern = OTHER_ERRORS[case]
    with pytest.raises(ValueError, match=pattern):
        call()
