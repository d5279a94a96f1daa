"""A vanilla recurrent layer, for the closing chapter (beyond fixed windows).

The window scorer sees a fixed number of words. A recurrent layer reads a whole
sequence and carries a state from one word to the next:

    z_t = x_t W_xhᵀ + h_{t−1} W_hhᵀ + b,     h_t = f(z_t)

Batches are rows as everywhere in nnlib: X (N, T, n_in), h0 (N, H),
W_xh (H, n_in), W_hh (H, H), b (H,) -> hidden states (N, T, H).
Backpropagation through time is the δ rule of §1.6 applied along time:
the error reaching h_t comes from the output at t and from z_{t+1} through W_hh.
"""

import numpy as np

from . import activations
from ._checks import as_float_array, check_shape


def rnn_forward(X, h0, W_xh, W_hh, b, activation="tanh"):
    """Hidden states H (N, T, H) and a cache for :func:`rnn_backward`."""
    X = as_float_array("X", X)
    W_xh = as_float_array("W_xh", W_xh)
    check_shape("W_xh", W_xh, (None, None))
    n_hidden, n_in = W_xh.shape
    check_shape("X", X, (None, None, n_in))
    check_shape("h0", h0, (X.shape[0], n_hidden))
    check_shape("W_hh", W_hh, (n_hidden, n_hidden))
    check_shape("b", b, (n_hidden,))
    unit = activations.lookup(activation)
    N, T, _ = X.shape
    H = np.empty((N, T, n_hidden), dtype=np.result_type(X, W_xh))
    Z = np.empty_like(H)
    h = h0
    for t in range(T):
        Z[:, t] = X[:, t] @ W_xh.T + h @ W_hh.T + b
        h = H[:, t] = unit.f(Z[:, t])
    return H, (X, h0, W_xh, W_hh, Z, H, unit)


def rnn_backward(dH, cache):
    """Gradients (dX, dh0, dW_xh, dW_hh, db) from dH = ∂J/∂H (N, T, H)."""
    X, h0, W_xh, W_hh, Z, H, unit = cache
    check_shape("dH", dH, H.shape)
    T = X.shape[1]
    dX = np.zeros_like(X)
    dW_xh, dW_hh, db = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(W_xh.shape[0])
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        delta = unit.f_prime(Z[:, t]) * (dH[:, t] + dh_next)
        h_prev = H[:, t - 1] if t > 0 else h0
        dW_xh += delta.T @ X[:, t]
        dW_hh += delta.T @ h_prev
        db += delta.sum(axis=0)
        dX[:, t] = delta @ W_xh
        dh_next = delta @ W_hh
    return dX, dh_next, dW_xh, dW_hh, db


def state_jacobian_norms(h0, X, W_xh, W_hh, b, activation="tanh"):
    """‖∂h_last/∂h_t‖₂ (spectral norm) for t = 0 .. T−1 of one sequence (N = 1).

    The product of T − t factors W_hhᵀ diag(f'(z)) shrinks or grows geometrically
    with the distance: the vanishing and exploding gradients of recurrent networks.
    """
    _, cache = rnn_forward(X, h0, W_xh, W_hh, b, activation)
    Z, unit = cache[4], cache[6]
    T = X.shape[1]
    J = np.eye(W_hh.shape[0])
    norms = np.empty(T)
    for t in reversed(range(T)):
        norms[t] = np.linalg.norm(J, 2)
        # ∂h_{t}/∂h_{t−1} = diag(f'(z_t)) W_hh
        J = J @ (unit.f_prime(Z[0, t])[:, None] * W_hh)
    return norms
