"""The recurrent layer of the closing chapter against autograd and numerical gradients."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from nnlib import gradcheck, recurrent


def _random_case(seed, N, T, n, H):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, T, n)), rng.standard_normal((N, H)),
            rng.standard_normal((H, n)), 0.7 * rng.standard_normal((H, H)),
            rng.standard_normal(H), rng.standard_normal((N, T, H)))


def _autograd_loss(X, h0, W_xh, W_hh, b, G):
    h, total = h0, 0.0
    for t in range(X.shape[1]):
        h = anp.tanh(anp.dot(X[:, t], W_xh.T) + anp.dot(h, W_hh.T) + b)
        total = total + anp.sum(h * G[:, t])
    return total


@pytest.mark.parametrize("seed,shape", [(0, (2, 4, 3, 5)), (1, (1, 7, 2, 3)), (2, (3, 1, 4, 2))])
def test_rnn_backward_matches_autograd_and_numerical(seed, shape):
    X, h0, W_xh, W_hh, b, G = _random_case(seed, *shape)
    H, cache = recurrent.rnn_forward(X, h0, W_xh, W_hh, b)
    ours = dict(zip(("X", "h0", "W_xh", "W_hh", "b"), recurrent.rnn_backward(G, cache)))
    inputs = {"X": X, "h0": h0, "W_xh": W_xh, "W_hh": W_hh, "b": b}
    for i, name in enumerate(inputs):
        want = grad(_autograd_loss, i)(X, h0, W_xh, W_hh, b, G)
        assert gradcheck.relative_error(ours[name], want) < 1e-7, name
        numerical = gradcheck.numerical_gradient(
            lambda _: float((recurrent.rnn_forward(X, h0, W_xh, W_hh, b)[0] * G).sum()), inputs[name])
        assert np.allclose(ours[name], numerical, rtol=1e-5, atol=1e-7), name


def test_forward_matches_the_recurrence_by_hand():
    X = np.array([[[1.0], [0.0]]])
    H, _ = recurrent.rnn_forward(X, np.zeros((1, 1)), np.array([[2.0]]), np.array([[0.5]]), np.zeros(1))
    assert np.allclose(H[0, :, 0], [np.tanh(2.0), np.tanh(0.5 * np.tanh(2.0))])


def test_state_jacobian_norms_agree_with_finite_differences():
    X, h0, W_xh, W_hh, b, _ = _random_case(3, 1, 6, 3, 4)
    norms = recurrent.state_jacobian_norms(h0, X, W_xh, W_hh, b)
    assert norms[-1] == pytest.approx(1.0)
    # ∂h_last/∂h_1 by perturbing the state after step 1 and rerunning the remaining steps.
    H, _ = recurrent.rnn_forward(X, h0, W_xh, W_hh, b)
    jac = np.empty((4, 4))
    eps = 1e-6
    for j in range(4):
        bumped = H[:, 1].copy()
        bumped[0, j] += eps
        H_rest, _ = recurrent.rnn_forward(X[:, 2:], bumped, W_xh, W_hh, b)
        jac[:, j] = (H_rest[0, -1] - H[0, -1]) / eps
    assert np.linalg.norm(jac, 2) == pytest.approx(norms[1], rel=1e-4)


def test_shape_errors_name_expected_and_received():
    X, h0, W_xh, W_hh, b, _ = _random_case(0, 2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"W_hh: expected shape \(5, 5\), got \(5, 4\)"):
        recurrent.rnn_forward(X, h0, W_xh, W_hh[:, :4], b)
    with pytest.raises(ValueError, match=r"X: expected shape \(N, \*, 4\), got \(2, 3, 3\)"):
        recurrent.rnn_forward(X[:, :, :3], h0, W_xh, W_hh, b)
