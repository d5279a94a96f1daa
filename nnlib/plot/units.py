"""Figures of §2.4: each neuron unit with its derivative, saturation shaded."""

import numpy as np

from .. import activations
from .common import new_figure

#: The six units of §2.4 in the notes' order, with the notes' figure numbers.
UNITS = ("sigmoid", "tanh", "hardtanh", "softsign", "relu", "leaky_relu")
FIGURE_NUMBERS = dict(zip(UNITS, range(9, 15)))
LABELS = {
    "sigmoid": r"$\sigma(z)$",
    "tanh": r"$\tanh(z)$",
    "hardtanh": r"$\mathrm{hardtanh}(z)$",
    "softsign": r"$\mathrm{softsign}(z)$",
    "relu": r"$\mathrm{rect}(z)$",
    "leaky_relu": r"$\mathrm{leaky}(z)$",
}
#: Output ranges as intervals (closed where the unit reaches its bound).
RANGES = {
    "sigmoid": "(0, 1)",
    "tanh": "(−1, 1)",
    "hardtanh": "[−1, 1]",
    "softsign": "(−1, 1)",
    "relu": "[0, ∞)",
    "leaky_relu": "(−∞, ∞)",
}
SATURATION = 0.05
F_COLOR, DF_COLOR, SHADE_COLOR = "#1f77b4", "#d62728", "#bbbbbb"


def unit_functions(unit, k=0.01):
    """(f, f') of one of :data:`UNITS`; ``k`` is used by the leaky ReLU only."""
    if unit not in UNITS:
        raise ValueError(f"unit: expected one of {', '.join(UNITS)}, got {unit!r}")
    return activations.get(unit, k=k) if unit == "leaky_relu" else activations.get(unit)


def saturated(f_prime_values, threshold=SATURATION):
    """Boolean mask of the inputs where |f'(z)| < ``threshold``: the unit barely passes gradient."""
    return np.abs(f_prime_values) < threshold


def plot_activation(ax, unit, k=0.01, zmax=5.0, threshold=SATURATION, legend=True):
    """Draw f and f' of ``unit`` on [−zmax, zmax] into ``ax``, shading where |f'| < threshold."""
    if not zmax > 0:
        raise ValueError(f"zmax: expected a positive half-width of the input range, got {zmax!r}")
    f, f_prime = unit_functions(unit, k)
    # An odd number of points puts z = 0 on the grid, so the kinks are drawn where they are.
    z = np.linspace(-zmax, zmax, 801)
    fz, dfz = f(z), f_prime(z)
    ax.fill_between(z, 0, 1, where=saturated(dfz, threshold), color=SHADE_COLOR, alpha=0.45,
                    transform=ax.get_xaxis_transform(), linewidth=0,
                    label=f"saturated: $|f'| < {threshold:g}$")
    ax.axhline(0, color="k", linewidth=0.6)
    ax.axvline(0, color="k", linewidth=0.6)
    ax.plot(z, fz, color=F_COLOR, linewidth=2, label=f"$f$ = {LABELS[unit]}")
    ax.plot(z, dfz, color=DF_COLOR, linewidth=2, linestyle="--", label="$f'(z)$")
    ax.set_xlim(-zmax, zmax)
    low = min(-1.1, float(fz.min()) - 0.1)
    high = max(1.1, float(fz.max()) + 0.1)
    ax.set_ylim(low, high)
    ax.set_xlabel("$z$")
    ax.set_ylabel("value")
    name = unit.replace("_", " ") + (f" (k = {k:g})" if unit == "leaky_relu" else "")
    ax.set_title(f"Fig. {FIGURE_NUMBERS[unit]}: {name}")
    if legend:
        ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return ax


def draw_activation(unit, k=0.01, zmax=5.0):
    """A new figure with f and f' of ``unit`` on [−zmax, zmax]; the demo's drawing function.

    Every unit other than the leaky ReLU is drawn beside a dotted leaky ReLU of slope k, so
    the k control changes every picture: it shows how each unit treats negative inputs
    compared with a line of that slope.
    """
    fig, ax = new_figure(5.5, 3.2)
    if unit != "leaky_relu":
        f, _ = unit_functions("leaky_relu", k)
        z = np.linspace(-zmax, zmax, 801)
        ax.plot(z, f(z), color="0.55", linewidth=1.2, linestyle=":", label=f"leaky ReLU, $k = {k:g}$")
    plot_activation(ax, unit, k=k, zmax=zmax)
    return fig


def draw_all_units(k=0.01, zmax=4.0):
    """The notes' Figures 9–14 as one grid: one panel per unit, f and f' with saturation shaded."""
    fig, axes = new_figure(7.5, 8.5, ncols=2, nrows=3)
    for ax, unit in zip(axes.ravel(), UNITS):
        plot_activation(ax, unit, k=k, zmax=zmax, legend=unit == UNITS[0])
    return fig
