"""Figures of §2.1, gradient checks: secants, the ε sweep, and a kink."""

import numpy as np

from .common import new_figure


def difference_errors(f, f_prime, x0, eps):
    """|one-sided − f'(x0)| and |centered − f'(x0)| for each step in ``eps``.

    f, f_prime  a scalar function and its exact derivative
    eps         1-D array of positive steps
    Returns two arrays shaped like ``eps``: ``(one_sided, centered)``.
    """
    eps = np.asarray(eps, dtype=np.float64)
    if eps.ndim != 1 or not np.all(eps > 0):
        raise ValueError(f"eps: expected a 1-D array of positive steps, got {eps!r}")
    exact = f_prime(x0)
    one_sided = np.abs((f(x0 + eps) - f(x0)) / eps - exact)
    centered = np.abs((f(x0 + eps) - f(x0 - eps)) / (2 * eps) - exact)
    return one_sided, centered


def draw_secants(f, f_prime, x0, eps, label="f"):
    """The curve near x0 with its tangent, the one-sided secant and the centered secant."""
    fig, ax = new_figure(6, 3.5)
    xs = np.linspace(x0 - 2.2 * eps, x0 + 2.2 * eps, 200)
    ax.plot(xs, f(xs), color="k", lw=2, label=f"${label}(x)$")
    slopes = {
        "tangent (exact)": (f_prime(x0), "C2", "-"),
        "one-sided secant": ((f(x0 + eps) - f(x0)) / eps, "C3", "--"),
        "centered secant": ((f(x0 + eps) - f(x0 - eps)) / (2 * eps), "C0", "--"),
    }
    for name, (slope, color, style) in slopes.items():
        ax.plot(xs, f(x0) + slope * (xs - x0), color=color, ls=style, lw=1.4,
                label=f"{name}: slope {slope:.3f}")
    ax.plot([x0 - eps, x0, x0 + eps], f(np.array([x0 - eps, x0, x0 + eps])), "o", color="k", ms=4)
    ax.set_xticks([x0 - eps, x0, x0 + eps], [r"$x-\epsilon$", "$x$", r"$x+\epsilon$"])
    ax.set_xlabel("input")
    ax.set_ylabel("value")
    ax.set_title(rf"Secants with $\epsilon = {eps:g}$")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def draw_epsilon_sweep(f, f_prime, x0, eps):
    """Log-log error of both differences against the exact derivative, best ε marked.

    The right-hand side shows the truncation error (slope 1 one-sided, slope 2
    centered); the left-hand side the round-off floor, growing like 1/ε.
    """
    one_sided, centered = difference_errors(f, f_prime, x0, eps)
    fig, ax = new_figure(6, 3.5)
    for err, name, color in ((one_sided, "one-sided", "C3"), (centered, "centered", "C0")):
        # An exact 0 cannot be drawn on a log axis; it is below any visible floor anyway.
        shown = np.maximum(err, 1e-17)
        ax.loglog(eps, shown, "o-", ms=3, color=color, label=name)
        best = int(np.argmin(err))
        ax.loglog(eps[best], shown[best], "*", ms=14, color=color, markeredgecolor="k",
                  label=rf"best {name}: $\epsilon$ = {eps[best]:.0e}")
    right = eps > 1e-3
    for err, power, color in ((one_sided, 1, "C3"), (centered, 2, "C0")):
        # A guide of the predicted slope, drawn just above the curve's right end.
        ref = 4 * err[right][-1] * (eps[right] / eps[right][-1]) ** power
        ax.loglog(eps[right], ref, ":", color=color, lw=1.2)
        ax.annotate(rf"slope {power}: $O(\epsilon^{power})$", (eps[right][0], ref[0]),
                    fontsize=8, color=color, xytext=(-95, 4), textcoords="offset points")
    ax.set_xlabel(r"step $\epsilon$")
    ax.set_ylabel("|numerical − exact derivative|")
    ax.set_title("Finite-difference error against the step")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def draw_kink(h):
    """ReLU at its kink: the centered secant over [−h, h] has slope ½, not 0 or 1."""
    fig, ax = new_figure(6, 3.2)
    xs = np.linspace(-3 * h, 3 * h, 7)
    ax.plot(xs, np.maximum(xs, 0), color="k", lw=2, label="rect(z)")
    ax.plot([-h, h], [0, h], "o--", color="C0", label="centered secant: slope 0.5")
    ax.set_xlabel("pre-activation $z$")
    ax.set_ylabel("rect($z$)")
    ax.set_title(rf"A centered difference across the kink (h = {h:g})")
    ax.legend(fontsize=8, loc="upper left")
    return fig
