"""Figures of §2.6: how the weight initialization shapes activations and gradients by depth."""

from dataclasses import dataclass

import numpy as np

from .. import activations, init
from .common import new_figure

INIT_UNITS = ("sigmoid", "tanh")
SCHEME_COLORS = {"xavier": "#1f77b4", "small_normal": "#d62728"}
SCHEME_LABELS = {"xavier": "Xavier/Glorot uniform", "small_normal": "small normal (std 0.01)"}


@dataclass
class DepthProfile:
    """One forward and backward pass through a deep stack of identical layers.

    activations  [a⁽²⁾, ..., a⁽ᴸ⁾], each (n, width): the hidden activations, layer by layer
    deltas       [δ⁽²⁾, ..., δ⁽ᴸ⁾], each (n, width): the backpropagated errors
    """

    activations: list
    deltas: list

    def activation_variance(self):
        return np.array([a.var() for a in self.activations])

    def delta_variance(self):
        return np.array([d.var() for d in self.deltas])


def depth_profile(unit, depth, scheme="xavier", scale=1.0, width=100, n=500, seed=0):
    """Push n standard-normal inputs through ``depth`` hidden layers of ``width`` ``unit`` neurons.

    Weights are drawn by ``scheme`` ('xavier' or 'small_normal', see :mod:`nnlib.init`) and
    multiplied by ``scale``; biases are 0. The backward pass starts from unit-variance random
    errors at the top, so the returned δ's show only what the layers do to a gradient.
    """
    if unit not in INIT_UNITS:
        raise ValueError(f"unit: expected one of {', '.join(INIT_UNITS)}, got {unit!r}")
    if int(depth) != depth or depth < 1:
        raise ValueError(f"depth: expected a positive number of layers, got {depth!r}")
    f, f_prime = activations.get(unit)
    rng = np.random.default_rng(seed)
    weights = [scale * init.weights(scheme, width, width, rng) for _ in range(depth)]
    a = rng.standard_normal((n, width))
    zs, acts = [], []
    for W in weights:
        z = a @ W.T
        a = f(z)
        zs.append(z)
        acts.append(a)
    delta = f_prime(zs[-1]) * rng.standard_normal((n, width))
    deltas = [delta]
    for W, z in zip(weights[:0:-1], zs[-2::-1]):
        delta = f_prime(z) * (delta @ W)
        deltas.append(delta)
    return DepthProfile(acts, deltas[::-1])


def draw_variance_profiles(depth=12, width=100, n=500, seed=0):
    """Variance of activations (left) and of backpropagated δ (right) per layer, log scale:
    one row per unit, Xavier against small-normal initialization."""
    fig, axes = new_figure(7.5, 5.6, ncols=2, nrows=2)
    layers = np.arange(1, depth + 1)
    for row, unit in zip(axes, INIT_UNITS):
        for scheme in ("xavier", "small_normal"):
            profile = depth_profile(unit, depth, scheme, width=width, n=n, seed=seed)
            style = dict(color=SCHEME_COLORS[scheme], marker="o", markersize=3,
                         label=SCHEME_LABELS[scheme])
            row[0].semilogy(layers, profile.activation_variance(), **style)
            row[1].semilogy(layers, profile.delta_variance(), **style)
        row[0].set_title(f"{unit}: Var(activations)")
        row[1].set_title(f"{unit}: Var(backpropagated δ)")
        for ax in row:
            ax.set_xlabel("hidden layer")
            ax.set_ylabel("variance (log scale)")
            ax.grid(True, which="major", alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    return fig


def draw_init(scale, depth, unit, width=100, n=400, seed=0):
    """Small multiples: the histogram of every hidden layer's activations, for Xavier weights
    multiplied by ``scale``; the demo's drawing function."""
    import matplotlib.pyplot as plt

    profile = depth_profile(unit, depth, "xavier", scale=scale, width=width, n=n, seed=seed)
    ncols = min(depth, 5)
    nrows = -(-depth // ncols)
    # A fixed layout instead of the constrained one: with up to 15 panels, layout solving
    # would dominate the drawing time of every demo frame.
    fig = plt.figure(figsize=(7.0, 0.75 + 1.15 * nrows))
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False)
    fig.subplots_adjust(left=0.05, right=0.98, top=1 - 0.45 / (0.75 + 1.15 * nrows),
                        bottom=0.5 / (0.75 + 1.15 * nrows), hspace=0.55, wspace=0.12)
    low = 0.0 if unit == "sigmoid" else -1.0
    bins = np.linspace(low, 1.0, 41)
    ticks = [low, (low + 1) / 2, 1.0]
    for i, ax in enumerate(axes.ravel()):
        if i >= depth:
            ax.set_visible(False)
            continue
        a = profile.activations[i]
        counts, _ = np.histogram(a, bins=bins)
        ax.stairs(counts, bins, fill=True, color=SCHEME_COLORS["xavier"])
        ax.set_yticks([])
        ax.set_xticks(ticks)
        ax.set_title(f"layer {i + 1}: std {a.std():.2g}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("activation", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("count", fontsize=8)
    fig.suptitle(f"{unit}, {depth} layers, W ~ U[−r, r] × {scale:g} (r = Xavier bound)",
                 fontsize=10)
    return fig
