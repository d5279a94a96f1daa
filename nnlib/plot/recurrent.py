"""Figures of the closing chapter: how far back a recurrent state remembers."""

import numpy as np

from .. import recurrent
from .common import new_figure


def random_recurrence(n_hidden=32, n_in=8, scale=1.0, seed=0):
    """W_xh (H, n_in), W_hh (H, H) and b (H,): W_hh is ``scale`` times a random orthogonal
    matrix, so that its largest singular value is exactly ``scale``."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n_hidden, n_hidden)))
    W_xh = rng.standard_normal((n_hidden, n_in)) / np.sqrt(n_in)
    return W_xh, scale * Q, np.zeros(n_hidden)


def memory_curve(scale, unit, steps=40, seed=0):
    """‖∂h_last/∂h_t‖ against the distance (last − t) for a random sequence."""
    W_xh, W_hh, b = random_recurrence(scale=scale, seed=seed)
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((1, steps, W_xh.shape[1]))
    h0 = np.zeros((1, W_hh.shape[0]))
    norms = recurrent.state_jacobian_norms(h0, X, W_xh, W_hh, b, activation=unit)
    distance = np.arange(steps)[::-1]
    return distance, norms


def draw_memory(scale=1.0, unit="tanh"):
    """Demo: gradient norm through time for one recurrent weight scale and unit."""
    fig, ax = new_figure(6.0, 3.4)
    distance, norms = memory_curve(scale, unit)
    ax.semilogy(distance, np.maximum(norms, 1e-30), marker="o", ms=3)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylim(1e-40, 1e20)
    ax.set_xlabel("distance back in time (words)")
    ax.set_ylabel(r"$\|\partial h_{last} / \partial h_t\|$")
    ax.set_title(f"{unit}, largest singular value of $W_{{hh}}$ = {scale:g}")
    return fig
