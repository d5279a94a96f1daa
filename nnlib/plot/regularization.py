"""Figures of §2.2–2.3: L2 strength, dropout, and the regularization explorer.

Every boundary here comes from one small network, [2, 64, 64, 2] with ReLU,
trained full-batch with Adam on 40 noisy "moons" points (a big network on few
points: it overfits when nothing stops it). Trainings are cached by (λ, p), so
a figure or a demo frame that needs the same setting twice trains once.
"""

from functools import lru_cache

import numpy as np

from .. import data, layers, network, optim, train
from .common import decision_boundary, new_figure

SIZES = (2, 64, 64, 2)
STEPS = 600
LEARNING_RATE = 0.03

_MODELS = {}


@lru_cache(maxsize=1)
def moons_split():
    """(X_train (40, 2), y_train, X_val (360, 2), y_val): few noisy points to train on."""
    X, y = data.moons(400, noise=0.35, seed=3)
    return data.split(X, y, fraction=0.1, seed=3)


def trained_mlp(lam, p=1.0):
    """The explorer's network trained with L2 strength ``lam`` and keep probability ``p``.

    p = 1 means no dropout. The result is cached by (lam, p): do not train it further.
    """
    key = (float(lam), float(p))
    if key not in _MODELS:
        if lam < 0:
            raise ValueError(f"lam: expected λ ≥ 0, got {lam!r}")
        X, y, _, _ = moons_split()
        model = network.MLP(SIZES, activation="relu", seed=0, dropout_p=None if p == 1 else p)
        train.train(model, (X, y), lambda m, xb, yb: m.loss(xb, yb, lam=lam),
                    optim.Adam(LEARNING_RATE), epochs=STEPS, batch_size=len(X), progress=False)
        _MODELS[key] = model
    return _MODELS[key]


def accuracies(lam, p=1.0):
    """(train accuracy, validation accuracy) of :func:`trained_mlp`."""
    model = trained_mlp(lam, p)
    X, y, X_val, y_val = moons_split()
    return train.accuracy(model.predict(X), y), train.accuracy(model.predict(X_val), y_val)


def _boundary(ax, lam, p, resolution):
    model = trained_mlp(lam, p)
    X, y, _, _ = moons_split()
    acc_train, acc_val = accuracies(lam, p)
    decision_boundary(ax, model.predict, X, y, resolution=resolution, margin=0.6)
    ax.set_title(f"λ={lam:g}, p={p:g}\ntrain {acc_train:.0%}, val {acc_val:.0%}", fontsize=8)


def draw_boundary_grid(lams, p=1.0, ncols=3):
    """Decision boundaries for each λ in ``lams`` (one panel each), training points on top."""
    nrows = -(-len(lams) // ncols)
    fig, axes = new_figure(7, 2.4 * nrows, ncols=ncols, nrows=nrows, sharex=True, sharey=True)
    axes = np.atleast_1d(axes).ravel()
    for ax, lam in zip(axes, lams):
        _boundary(ax, lam, p, resolution=120)
        ax.label_outer()
    for ax in axes[len(lams):]:
        ax.set_visible(False)
    fig.suptitle("From overfitting to underfitting as λ grows")
    return fig


def draw_accuracy_vs_lambda(lams, p=1.0):
    """Train and validation accuracy against λ (λ = 0 drawn at the left edge)."""
    accs = np.array([accuracies(lam, p) for lam in lams])
    positive = [lam for lam in lams if lam > 0]
    zero_at = min(positive) / 3
    xs = [lam if lam > 0 else zero_at for lam in lams]
    fig, ax = new_figure(6, 3.2)
    ax.semilogx(xs, accs[:, 0], "o-", label="training")
    ax.semilogx(xs, accs[:, 1], "s-", label="validation")
    best = int(np.argmax(accs[:, 1]))
    ax.axvline(xs[best], color="gray", ls=":", lw=1)
    ax.set_xticks(xs, ["0" if lam == 0 else f"{lam:g}" for lam in lams])
    ax.minorticks_off()
    ax.set_xlabel("regularization strength λ")
    ax.set_ylabel("accuracy")
    ax.set_title("Overfitting (left) to underfitting (right)")
    ax.legend(fontsize=8)
    return fig


def draw_regularization(lam, p):
    """Demo frame: the boundary of the explorer's network for one (λ, p)."""
    fig, ax = new_figure(4.2, 3.6)
    _boundary(ax, lam, p, resolution=100)
    return fig


def draw_masks(h, p, n_masks=10, seed=0):
    """One hidden layer ``h`` (n,) and ``n_masks`` thinned copies under inverted dropout."""
    rng = np.random.default_rng(seed)
    rows = [h] + [layers.dropout_forward(h, p, rng)[0] for _ in range(n_masks)]
    fig, ax = new_figure(6, 3.4)
    image = ax.imshow(np.array(rows), cmap="viridis", aspect="auto")
    ax.axhline(0.5, color="w", lw=3)
    ax.set_yticks(range(n_masks + 1), ["full h"] + [f"mask {k}" for k in range(1, n_masks + 1)], fontsize=7)
    ax.set_xlabel("hidden unit $j$")
    ax.set_ylabel("sampled mask")
    ax.set_title(f"Thinned copies of one layer (keep p = {p:g}, kept units scaled by 1/p)", fontsize=10)
    fig.colorbar(image, ax=ax, label="activation")
    return fig


def dropout_samples(p, n_masks=4000, n_units=10, seed=0):
    """Monte Carlo of z = w · dropout(h) for a fixed layer h (n_units,) and weights w.

    Returns ``(plain, inverted, z_full)``: z under ``n_masks`` masks without scaling and
    with inverted scaling (the same masks for both), and z = w · h with no dropout.
    """
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.2, 1.0, n_units)
    w = rng.uniform(0.5, 1.5, n_units)
    H = np.broadcast_to(h, (n_masks, n_units))
    inverted, _ = layers.dropout_forward(H, p, np.random.default_rng(seed + 1))
    plain, _ = layers.dropout_forward(H, p, np.random.default_rng(seed + 1), inverted=False)
    return plain @ w, inverted @ w, float(h @ w)


def draw_dropout_demo(p):
    """Demo frame: training-time histograms of z for keep probability p, both variants."""
    return draw_dropout_expectation(*dropout_samples(p), p)


def draw_dropout_expectation(plain, inverted, z_full, p):
    """Histograms of a downstream sum z over many dropout masks, one panel per variant.

    plain, inverted  1-D samples of z at training time (no scaling, and scaled by 1/p)
    z_full           z of the full network with no dropout and no scaling
    """
    fig, axes = new_figure(7, 3.0, ncols=2, sharey=True)
    panels = (
        (axes[0], plain, "plain dropout", [(p * z_full, "C2", f"test: p·z = {p * z_full:.2f}"),
                                          (z_full, "C3", f"unscaled z = {z_full:.2f}")]),
        (axes[1], inverted, "inverted dropout", [(z_full, "C2", f"test: z = {z_full:.2f}")]),
    )
    for ax, samples, name, lines in panels:
        ax.hist(samples, bins=40, color="C0", alpha=0.6)
        ax.axvline(samples.mean(), color="k", lw=2, label=f"training mean {samples.mean():.2f}")
        for value, color, label in lines:
            ax.axvline(value, color=color, ls="--", lw=1.5, label=label)
        ax.set_title(f"{name}, p = {p:g}", fontsize=9)
        ax.set_xlabel("downstream sum $z$")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("count of masks")
    return fig


def draw_ensemble_convergence(ks, score_gap, label_agreement):
    """Ensemble of K thinned networks against the single scaled network, as K grows.

    score_gap        mean |averaged scores − scaled-network scores| for each K
    label_agreement  fraction of points where the ensemble and the scaled network agree
    """
    ks = np.asarray(ks)
    fig, axes = new_figure(7, 3.0, ncols=2)
    axes[0].loglog(ks, score_gap, "o-", label="measured")
    axes[0].loglog(ks, score_gap[0] * np.sqrt(ks[0] / ks), ":", color="gray", label=r"$\propto 1/\sqrt{K}$")
    axes[0].set_xlabel("number of sampled networks $K$")
    axes[0].set_ylabel("mean |score gap|")
    axes[0].set_title("Averaged scores approach the scaled net", fontsize=9)
    axes[0].legend(fontsize=8)
    axes[1].semilogx(ks, label_agreement, "o-", color="C2")
    axes[1].set_ylim(min(label_agreement) - 0.02, 1.005)
    axes[1].set_xlabel("number of sampled networks $K$")
    axes[1].set_ylabel("same predicted class")
    axes[1].set_title("Predictions agree", fontsize=9)
    return fig
