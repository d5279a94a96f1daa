"""Loss surfaces, optimizer trajectories and the demos of §2.7–2.9.

The toy surfaces are quadratic bowls J(θ) = ½ Σᵢ hᵢ θᵢ², whose curvatures hᵢ are
known exactly: gradient descent on them is stable for α < 2/L with L = maxᵢ hᵢ.
Optimizers are the ones of :mod:`nnlib.optim`, run on a single parameter "theta".
"""

from functools import cache

import numpy as np

from .. import network, optim, schedules, train
from .common import new_figure

ESCAPE = 1e10
"""Runs stop once |θ| exceeds this: the iterates have clearly diverged."""

OPTIMIZER_COLORS = {"SGD": "#1f77b4", "momentum": "#d62728", "AdaGrad": "#2ca02c",
                    "RMSProp": "#9467bd", "Adam": "#ff7f0e"}


class Quadratic:
    """The bowl J(θ) = ½ θᵀ H θ with minimum at 0 and curvatures h (d,), all positive.

    H = diag(h) when ``degrees`` is 0; for d = 2 a nonzero ``degrees`` turns the
    bowl's axes by that angle, so that its valley no longer lies along a coordinate axis.
    """

    def __init__(self, curvatures, degrees=0.0):
        h = np.asarray(curvatures, dtype=np.float64)
        if h.ndim != 1 or h.size == 0 or np.any(h <= 0):
            raise ValueError(f"curvatures: expected a 1-D array of positive numbers, got {curvatures!r}")
        if degrees and h.size != 2:
            raise ValueError(f"degrees: only a 2-D bowl can be rotated, this one has {h.size} dimensions")
        c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
        axes = np.array([[c, -s], [s, c]]) if h.size == 2 else np.eye(h.size)
        self.h = h
        self.H = axes @ np.diag(h) @ axes.T

    @property
    def L(self):
        """The largest curvature; plain gradient descent is stable for α < 2/L."""
        return float(self.h.max())

    def __call__(self, theta):
        """J for θ of shape (..., d)."""
        theta = np.asarray(theta, dtype=np.float64)
        return 0.5 * np.sum((theta @ self.H) * theta, axis=-1)

    def grad(self, theta):
        """∇J = H θ, the shape of θ."""
        return np.asarray(theta, dtype=np.float64) @ self.H


# The surfaces of the chapters: a round-ish bowl with 2/L ≈ 0.91 for the learning-rate
# explorer, and a ravine 50 times steeper across than along, turned by 30°, for momentum
# and the race.
BOWL = Quadratic([2.2, 0.5])
RAVINE = Quadratic([1.0, 0.02], degrees=30)
BOWL_START = np.array([1.5, 2.5])
RAVINE_START = np.array([-2.0, 8.0])


def run(optimizer, loss, theta0, steps):
    """Iterates of ``optimizer`` (anything with ``step(params, grads)``) on ``loss``.

    Returns the path (k+1, d) from θ₀; k = ``steps`` unless the iterates escape
    beyond ``ESCAPE``, in which case the path ends at the first escaped point.
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps: expected a positive whole number, got {steps!r}")
    theta = np.array(theta0, dtype=np.float64)
    path = [theta.copy()]
    for _ in range(int(steps)):
        optimizer.step({"theta": theta}, {"theta": loss.grad(theta)})
        path.append(theta.copy())
        if not np.all(np.abs(theta) < ESCAPE):
            break
    return np.array(path)


def contours(ax, loss, xlim, ylim, levels=9, resolution=120):
    """Draw the level sets of a 2-D ``loss`` over the box xlim × ylim, minimum marked."""
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    values = loss(grid)
    ax.contour(xs, ys, values, levels=np.geomspace(values.max() * 1e-3, values.max(), levels),
               colors="0.75", linewidths=0.7)
    ax.plot(0, 0, marker="*", color="k", markersize=9, linestyle="none")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")


def trajectory(ax, path, label=None, color=None, marker="o"):
    """Draw an optimizer path (k+1, 2) as connected dots from its start."""
    ax.plot(path[:, 0], path[:, 1], marker=marker, markersize=2.5, linewidth=1.0,
            color=color, label=label)


def diverged(losses):
    """True when a loss sequence ends non-finite or 1000 times above where it started."""
    losses = np.asarray(losses, dtype=np.float64)
    return bool(not np.isfinite(losses[-1]) or losses[-1] > 1e3 * losses[0])


def loss_curve(ax, losses, label=None, color=None, ylim=None):
    """Loss against step on a log scale, within ``ylim`` if given. A run that leaves the
    axes or becomes non-finite is cut there; a diverged run ends with a cross."""
    losses = np.asarray(losses, dtype=np.float64)
    top = ylim[1] if ylim else np.finfo(np.float64).max
    above = np.flatnonzero(~(losses <= top))
    cut = above[0] if above.size else len(losses) - 1
    shown = losses[:cut + 1] if ylim is None else np.clip(losses[:cut + 1], *ylim)
    if above.size and ylim is None:
        cut, shown = cut - 1, shown[:-1]
    ax.plot(np.arange(cut + 1), shown, color=color, label=label, linewidth=1.2)
    if above.size or diverged(losses):
        ax.plot(cut, shown[-1], marker="x", color=color or "k", markersize=8, clip_on=False)
    ax.set_yscale("log")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_xlabel("step $t$")
    ax.set_ylabel("loss $J$")


# --- §2.7: divergence and schedules ---------------------------------------------------

def draw_overshoot(curvature=1.0, alphas=(0.6, 2.2), w0=0.5, steps=6):
    """The notes' Figure 15: gradient descent on J(w) = ½ L w² with each α of ``alphas``.

    Each panel shows the parabola and the iterates w_{t+1} = (1 − αL) w_t joined in
    order: for α < 2/L they zig-zag inward, for α > 2/L outward.
    """
    bowl = Quadratic([curvature])
    fig, axes = new_figure(6.0, 3.0, ncols=len(alphas), sharey=True)
    for ax, alpha in zip(np.atleast_1d(axes), alphas):
        path = run(optim.SGD(alpha), bowl, [w0], steps)[:, 0]
        reach = max(1.2 * np.abs(path).max(), 1.0)
        ws = np.linspace(-reach, reach, 200)
        ax.plot(ws, bowl(ws[:, None]), color="0.6")
        ax.plot(path, bowl(path[:, None]), marker="o", markersize=4, color="#d62728", linewidth=1)
        ax.annotate("start", (path[0], bowl(path[:1, None])[0]), textcoords="offset points",
                    xytext=(4, 6), fontsize=8)
        verdict = "stable" if alpha < 2 / bowl.L else "diverges"
        ax.set_title(f"α = {alpha:g}, 2/L = {2 / bowl.L:g}: {verdict}", fontsize=10)
        ax.set_xlabel("$w$")
    np.atleast_1d(axes)[0].set_ylabel(r"$J(w) = \frac{1}{2} L w^2$")
    return fig


def draw_schedules(named, steps=200, title="Learning-rate schedules"):
    """α(t) of each schedule in ``named`` (label -> callable t -> α) over ``steps`` steps."""
    fig, ax = new_figure(6.0, 3.2)
    for label, schedule in named.items():
        ax.plot(np.arange(steps), [schedule(t) for t in range(steps)], label=label)
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"learning rate $\alpha(t)$")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def draw_loss_curves(named, title="Training loss", smooth=1):
    """Loss curves (label -> per-step losses), optionally a moving average of ``smooth`` steps."""
    fig, ax = new_figure(6.0, 3.2)
    for label, losses in named.items():
        losses = np.asarray(losses, dtype=np.float64)
        if smooth > 1:
            losses = np.convolve(losses, np.ones(smooth) / smooth, mode="valid")
        loss_curve(ax, losses, label=label)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


LR_SCHEDULES = ("constant", "step", "exponential", "1/t")


def demo_schedule(name, alpha):
    """The explorer's schedules, all starting at α: halve every 20 steps, e^(−0.03t), τ = 10."""
    makers = {
        "constant": lambda: schedules.Constant(alpha),
        "step": lambda: schedules.StepDecay(alpha, factor=0.5, every=20),
        "exponential": lambda: schedules.ExponentialDecay(alpha, k=0.03),
        "1/t": lambda: schedules.InverseTime(alpha, tau=10),
    }
    if name not in makers:
        raise ValueError(f"schedule: expected one of {LR_SCHEDULES}, got {name!r}")
    return makers[name]()


def regression_data(n=64, seed=0):
    """A noisy sine on [−2, 2]: X (n, 1), y (n, 1); the explorer's small network fits it."""
    rng = np.random.default_rng(seed)
    X = np.linspace(-2.0, 2.0, n)[:, None]
    return X, np.sin(1.5 * X) + 0.1 * rng.standard_normal(X.shape)


def mse_objective(model, X, y):
    """J = ½ mean (ŝ − y)² for an MLP with one linear output; gradients left in model.grads."""
    residual = model.forward(X) - y
    model.backward(residual / len(X))
    return 0.5 * float(np.mean(residual ** 2))


@cache
def network_losses(alpha, schedule, epochs=100):
    """Full-batch losses of a 1-16-1 tanh network on :func:`regression_data` (cached).

    A run that diverges ends with an infinite loss at the step where it happened.
    """
    X, y = regression_data()
    model = network.MLP([1, 16, 1], activation="tanh", seed=0)
    losses = []

    def objective(m, Xb, yb):
        losses.append(mse_objective(m, Xb, yb))
        return losses[-1]

    try:
        with np.errstate(over="ignore", invalid="ignore"):
            train.train(model, (X, y), objective, optim.SGD(demo_schedule(schedule, alpha)),
                        epochs=epochs, batch_size=len(X), progress=False)
    except train.DivergenceError:
        losses[-1] = np.inf
    return tuple(losses)


def draw_lr(alpha, schedule):
    """The learning-rate explorer: gradient descent with rate ``alpha`` under ``schedule``
    (one of ``LR_SCHEDULES``) on the bowl :data:`BOWL` (path and loss) and on a small
    network (loss). The bowl's stable limit 2/L is marked on its loss panel."""
    limit = 2 / BOWL.L
    sched = demo_schedule(schedule, alpha)
    path = run(optim.SGD(sched), BOWL, BOWL_START, 60)
    fig, axes = new_figure(6.6, 2.5, ncols=3)
    contours(axes[0], BOWL, (-3, 3), (-3, 3))
    trajectory(axes[0], path, color="#d62728")
    axes[0].set_title("path on the bowl", fontsize=10)
    loss_curve(axes[1], BOWL(path), color="#d62728", ylim=(1e-10, 1e10))
    axes[1].set_title("loss on the bowl", fontsize=10)
    axes[1].axhline(BOWL(BOWL_START), color="0.5", linestyle=":", linewidth=1)
    alphas = sched.values(60)
    crossing = np.flatnonzero(alphas < limit)
    if alpha >= limit and crossing.size:
        axes[1].axvline(crossing[0], color="0.3", linestyle="--", linewidth=1)
        axes[1].annotate("α(t) < 2/L", (crossing[0], 1e5), xytext=(3, 0), textcoords="offset points",
                         fontsize=7)
    losses = network_losses(alpha, schedule)
    loss_curve(axes[2], losses, color="#1f77b4", ylim=(1e-3, 1e4))
    status = "diverged" if diverged(losses) else f"final J = {losses[-1]:.3f}"
    axes[2].set_title(f"1-16-1 network: {status}", fontsize=10)
    side = "below" if alpha < limit else "above"
    fig.suptitle(f"α = {alpha:g} ({side} the bowl's limit 2/L = {limit:.3g}), {schedule} schedule",
                 fontsize=10)
    return fig


# --- §2.8–2.9: momentum and the optimizer race --------------------------------------

def race_paths(lr, mu=0.9, beta1=0.9, steps=80, loss=RAVINE, start=RAVINE_START,
               names=tuple(OPTIMIZER_COLORS)):
    """{name: path} for SGD, momentum (μ), AdaGrad, RMSProp and Adam (β₁) at one rate,
    or for the subset ``names`` of them."""
    makers = {
        "SGD": lambda: optim.SGD(lr),
        "momentum": lambda: optim.Momentum(lr, mu=mu),
        "AdaGrad": lambda: optim.AdaGrad(lr),
        "RMSProp": lambda: optim.RMSProp(lr),
        "Adam": lambda: optim.Adam(lr, beta1=beta1),
    }
    return {name: run(makers[name](), loss, start, steps) for name in names}


def draw_paths(paths, loss=RAVINE, title="", xlim=(-7, 5), ylim=(-3, 9)):
    """Trajectories (name -> path) over the contours of ``loss`` beside their loss curves."""
    fig, axes = new_figure(6.4, 2.6, ncols=2, width_ratios=[1, 1.2])
    contours(axes[0], loss, xlim, ylim)
    for name, path in paths.items():
        color = OPTIMIZER_COLORS.get(name)
        trajectory(axes[0], path, color=color)
        loss_curve(axes[1], loss(path), label=name, color=color, ylim=(1e-8, 1e3))
    axes[1].legend(fontsize=7, loc="lower left")
    axes[0].set_title("paths", fontsize=10)
    axes[1].set_title("loss", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def draw_race(lr, mu, beta1):
    """The optimizer race on :data:`RAVINE`: five optimizers at learning rate ``lr``,
    momentum ``mu`` and Adam's ``beta1`` (β₂ = 0.999, RMSProp decay 0.99)."""
    return draw_paths(race_paths(lr, mu, beta1),
                      title=f"optimizer race: α = {lr:g}, μ = {mu:g}, β₁ = {beta1:g}")


def draw_momentum(lr, mu):
    """Plain gradient descent and momentum ``mu`` on :data:`RAVINE` at rate ``lr``."""
    return draw_paths(race_paths(lr, mu=mu, names=("SGD", "momentum")),
                      title=f"ravine: α = {lr:g}, μ = {mu:g}")


def effective_rates(optimizer, grads):
    """|Δθ_t| / |g_t|: the rate ``optimizer`` applied to a single parameter at each step
    when fed the gradients ``grads`` (T,) in turn (steps with g_t = 0 give NaN)."""
    theta = np.zeros(1)
    rates = []
    for g in np.asarray(grads, dtype=np.float64):
        before = theta[0]
        optimizer.step({"theta": theta}, {"theta": np.array([g])})
        rates.append(abs(theta[0] - before) / abs(g) if g else np.nan)
    return np.array(rates)


def draw_effective_rates(named, grads, title="Per-parameter learning rate"):
    """The effective rate of each optimizer in ``named`` (label -> optimizer) over the
    gradient sequence ``grads`` (T,), drawn above the gradient magnitudes."""
    fig, (top, bottom) = new_figure(6.0, 3.8, nrows=2, sharex=True, height_ratios=[2, 1])
    for label, opt in named.items():
        top.plot(effective_rates(opt, grads), label=label)
    top.set_yscale("log")
    top.set_ylabel("effective rate")
    top.set_title(title)
    top.legend(fontsize=8)
    bottom.plot(np.abs(grads), color="0.3")
    bottom.set_yscale("log")
    bottom.set_xlabel("step $t$")
    bottom.set_ylabel("$|g_t|$")
    return fig
